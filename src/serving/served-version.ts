// One loaded model version and everything built for serving it: the batch target, the decoders
// of both protocols, the output reader and the monitor. Its state says whether routing may
// choose it (ready) or it is finishing its last batches before an unload (draining).
import { badRequest, VigilError } from '../errors.js';
import type { BatchTarget } from '../inference/batcher.js';
import type { FeatureBinning } from '../inference/protocol.js';
import { PredictionReader } from '../inference/predictions.js';
import type { VersionMonitor } from '../monitoring/version-monitor.js';
import type { VersionArtifact } from '../repository/repository.js';
import { buildRowSchema, type RowSchema } from '../validation/predict-rows.js';
import { V2Decoder } from '../validation/v2-tensors.js';
import type { ModelConfig, Task } from '../config/model-config.js';

export interface ServingDefaults {
  batching: boolean;
  maxBatchSize: number;
  maxQueueDelayUs: number;
  maxQueueRows: number;
  maxInstances: number;
  /** Drift and latency monitoring; off, workers count no feature bins either. */
  monitoring: boolean;
  maxTensorElements: number;
}

/** What a version needs to know of its model (the model holds its versions, not the reverse). */
export interface ModelSettings {
  name: string;
  config: ModelConfig | null;
  task: Task;
}

export class ServedVersion {
  readonly key: string;
  readonly modelName: string;
  readonly version: string;
  readonly target: BatchTarget;
  readonly rows: RowSchema | null;
  /** Why /predict cannot serve this version (v2 still can), when rows is null. */
  readonly rowsError: string | null;
  readonly v2: V2Decoder;
  readonly reader: PredictionReader;
  /**
   * What the workers need to count the feature bins drift watches, or null: no drift on inputs,
   * or a version that fills missing values, whose bins the main thread counts (a worker cannot
   * tell a filled value from a sent one, and a missing value is never binned).
   */
  readonly binning: FeatureBinning | null;
  readonly monitor: VersionMonitor;
  /** Routing chooses only ready versions; a draining one finishes its queued batches, then unloads. */
  state: 'ready' | 'draining' = 'ready';

  /** `watch` builds the version's monitor once its outputs and features are known. */
  constructor(
    model: ModelSettings,
    readonly artifact: VersionArtifact,
    defaults: ServingDefaults,
    watch: (reader: PredictionReader, featureNames: readonly string[] | null) => VersionMonitor,
  ) {
    const config = model.config;
    this.key = artifact.key;
    this.modelName = model.name;
    this.version = artifact.version;
    const { inputs, outputs } = artifact.signature;
    const batching = config?.batching ?? {};
    this.target = {
      key: artifact.key,
      path: artifact.path,
      inputs,
      batchable: defaults.batching && artifact.batchable,
      maxBatchSize: defaults.batching ? batching.max_batch_size ?? defaults.maxBatchSize : 1,
      maxQueueDelayUs: batching.max_queue_delay_us ?? defaults.maxQueueDelayUs,
      maxQueueRows: batching.max_queue_rows ?? defaults.maxQueueRows,
    };
    // A request larger than the queue could ever hold is refused up front, whatever the protocol.
    const maxRows = Math.min(config?.max_instances ?? defaults.maxInstances, this.target.maxQueueRows);
    let rows: RowSchema | null = null;
    let rowsError: string | null = null;
    try {
      rows = buildRowSchema(model.name, inputs, {
        inputName: config?.input, features: config?.features, maxInstances: maxRows,
      });
    } catch (error) {
      if (config?.features) throw error; // a config that names features must fit the graph
      rowsError = (error as Error).message;
    }
    this.rows = rows;
    this.rowsError = rowsError;
    checkReferenceColumns(artifact, rows);
    const featureInput = rows?.featureInput() ?? null;
    this.v2 = new V2Decoder(inputs, outputs, this.target.batchable, featureInput,
      { maxTensorElements: defaults.maxTensorElements, maxRows });
    this.reader = new PredictionReader(model.task, outputs, config);
    const monitor = watch(this.reader, rows?.featureNames ?? null);
    this.monitor = monitor;
    this.binning = defaults.monitoring && artifact.reference && featureInput && rows?.fillsAnyMissing === false
      ? { input: featureInput.name, edges: artifact.reference.features.map((f) => f.edges) }
      : null;
    if (this.binning) this.target.onFeatureBins = (role, bins) => monitor.observeInputBins(role, bins);
  }

  /** The /predict row schema, or a 400 saying why this version only speaks v2. */
  rowSchema(): RowSchema {
    if (!this.rows) throw badRequest(`model '${this.modelName}' cannot take /predict rows: ${this.rowsError}`);
    return this.rows;
  }
}

/** Drift reads rows column by column: reference.json must describe the same columns, in order. */
function checkReferenceColumns(artifact: VersionArtifact, rows: RowSchema | null): void {
  const reference = artifact.reference;
  if (!reference || !rows) return;
  const names = reference.features.map((f) => f.name);
  const file = `${artifact.key}/reference.json`;
  if (rows.featureNames && names.join('\u0000') !== rows.featureNames.join('\u0000')) {
    throw new VigilError(400, 'invalid_file', `${file} features (${names.join(', ')}) are not config.json's features in the same order`, { field: 'features' });
  }
  if (names.length !== rows.width) {
    throw new VigilError(400, 'invalid_file', `${file} has ${names.length} features; rows of ${artifact.model} have ${rows.width}`, { field: 'features' });
  }
}
