// The live set of served models and versions: what the repository scan found, turned into
// serving parts (schemas, batch target, output reader, monitors, traffic policy), and the
// load/unload life cycle that keeps every worker in step before traffic is routed.
import type { Logger } from 'pino';
import { VigilError } from '../errors.js';
import type { BatchScheduler, BatchTarget } from '../inference/batcher.js';
import type { InferencePool } from '../inference/pool.js';
import { PredictionReader } from '../inference/predictions.js';
import type { Clock } from '../monitoring/clock.js';
import type { DriftOptions } from '../monitoring/drift.js';
import type { Metrics } from '../monitoring/metrics.js';
import { VersionMonitor } from '../monitoring/version-monitor.js';
import { CanaryGuard, GUARDRAIL_DEFAULTS, validateGuardrailConfig } from '../routing/guardrails.js';
import { AgreementTracker, ShadowSampler } from '../routing/shadow.js';
import { byVersion, defaultPolicy, TrafficState, validateTrafficPolicy, type TrafficPolicy } from '../routing/traffic.js';
import { buildRowSchema, type RowSchema } from '../validation/predict-rows.js';
import { V2Decoder } from '../validation/v2-tensors.js';
import type { ModelConfig, Task } from '../config/model-config.js';
import { listVersions, loadVersionArtifact, scanModel, type ModelArtifact, type VersionArtifact } from '../repository/repository.js';

export interface ServingDefaults {
  batching: boolean;
  maxBatchSize: number;
  maxQueueDelayUs: number;
  maxQueueRows: number;
  maxInstances: number;
}

export class ServedVersion {
  readonly key: string;
  readonly version: string;
  readonly target: BatchTarget;
  readonly rows: RowSchema | null;
  /** Why /predict cannot serve this version (v2 still can), when rows is null. */
  readonly rowsError: string | null;
  readonly v2: V2Decoder;
  readonly reader: PredictionReader;
  /** Batches still running or queued when an unload started; routing skips a draining version. */
  draining = false;

  constructor(
    readonly model: ServedModel,
    readonly artifact: VersionArtifact,
    defaults: ServingDefaults,
    readonly monitor: VersionMonitor,
  ) {
    const config = model.config;
    this.key = artifact.key;
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
    let rows: RowSchema | null = null;
    let rowsError: string | null = null;
    try {
      rows = buildRowSchema(model.name, inputs, {
        inputName: config?.input, features: config?.features,
        maxInstances: config?.max_instances ?? defaults.maxInstances,
      });
    } catch (error) {
      if (config?.features) throw error; // a config that names features must fit the graph
      rowsError = (error as Error).message;
    }
    this.rows = rows;
    this.rowsError = rowsError;
    checkReferenceColumns(artifact, rows);
    this.v2 = new V2Decoder(inputs, outputs, this.target.batchable);
    this.reader = new PredictionReader(model.task, outputs, config);
  }
}

export class ServedModel {
  readonly versions = new Map<string, ServedVersion>();
  /** Versions (or the whole model, version undefined) that failed to load, with the reason. */
  readonly errors: { version?: string; message: string }[];
  readonly task: Task;
  traffic: TrafficState | null = null;
  readonly guard: CanaryGuard | null;
  readonly agreements = new Map<string, AgreementTracker>();
  private shadowSampler: { revision: number; sampler: ShadowSampler | null } = { revision: -1, sampler: null };

  constructor(readonly name: string, readonly dir: string, readonly config: ModelConfig | null, errors: ModelArtifact['errors'], clock: Clock) {
    this.errors = [...errors];
    this.task = config?.task ?? 'raw';
    const guardrails = config?.guardrails ? validateGuardrailConfig(config.guardrails) : { ...GUARDRAIL_DEFAULTS };
    this.guard = guardrails.enabled ? new CanaryGuard(guardrails, clock) : null;
  }

  /** Serving when its config is sound and at least one version is loaded. */
  get ready(): boolean {
    return this.traffic !== null && this.errors.every((e) => e.version !== undefined) && this.versions.size > 0;
  }

  get agreementTolerance(): number {
    return this.config?.traffic?.agreement_tolerance ?? 0;
  }

  shadow(): ShadowSampler | null {
    const traffic = this.traffic;
    if (!traffic) return null;
    if (this.shadowSampler.revision !== traffic.revision) {
      const shadow = traffic.get().shadow;
      this.shadowSampler = { revision: traffic.revision, sampler: shadow ? new ShadowSampler(shadow.percent) : null };
    }
    return this.shadowSampler.sampler;
  }

  agreement(live: string, shadow: string): AgreementTracker {
    const id = `${live}\u0000${shadow}`;
    let tracker = this.agreements.get(id);
    if (!tracker) {
      tracker = new AgreementTracker(this.name, live, shadow);
      this.agreements.set(id, tracker);
    }
    return tracker;
  }

  loadedVersions(): string[] {
    return [...this.versions.keys()].sort(byVersion);
  }
}

export class ModelRegistry {
  readonly models = new Map<string, ServedModel>();

  constructor(
    private readonly root: string,
    private readonly pool: InferencePool,
    private readonly scheduler: BatchScheduler,
    private readonly metrics: Metrics,
    private readonly defaults: ServingDefaults,
    private readonly driftDefaults: DriftOptions,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  get(name: string): ServedModel | undefined {
    return this.models.get(name);
  }

  /** Builds the serving state for one scanned model and loads its versions into every worker. */
  async addModel(artifact: ModelArtifact): Promise<ServedModel> {
    let model: ServedModel;
    try {
      model = new ServedModel(artifact.name, artifact.dir, artifact.config, artifact.errors, this.clock);
    } catch (error) {
      model = new ServedModel(artifact.name, artifact.dir, null, [{ message: (error as Error).message }], this.clock);
      this.models.set(artifact.name, model);
      return model;
    }
    this.models.set(artifact.name, model);
    for (const version of artifact.versions) {
      await this.loadArtifact(model, version).catch((error: Error) => {
        model.errors.push({ version: version.version, message: error.message });
      });
    }
    if (model.versions.size) model.traffic = new TrafficState(this.initialPolicy(model));
    return model;
  }

  /** Loads a version folder at runtime (admin API, --watch); not routed until weights say so. */
  async loadVersion(model: ServedModel, version: string): Promise<ServedVersion> {
    const existing = model.versions.get(version);
    if (existing && !existing.draining) return existing;
    const artifact = await loadVersionArtifact(this.root, model.name, version);
    const served = await this.loadArtifact(model, artifact);
    const index = model.errors.findIndex((e) => e.version === version);
    if (index >= 0) model.errors.splice(index, 1);
    model.traffic ??= new TrafficState(defaultPolicy([version]));
    return served;
  }

  /** Stops routing to a version, lets its queued and running batches finish, then frees it. */
  async unloadVersion(model: ServedModel, version: ServedVersion): Promise<void> {
    version.draining = true;
    await this.scheduler.drain(version.key);
    model.versions.delete(version.version);
    this.scheduler.forget(version.key);
    await this.pool.unloadEverywhere(version.key);
  }

  /**
   * Re-scans a model folder for version folders that are not loaded yet (--watch). A folder
   * that fails to load (often one still being copied) is reported and tried again next scan.
   */
  async discoverVersions(name: string): Promise<{ added: string[]; failed: { version?: string; message: string }[] }> {
    const model = this.models.get(name);
    if (!model) {
      const artifact = await scanModel(this.root, name);
      if (!artifact.versions.length) return { added: [], failed: artifact.errors };
      const added = await this.addModel(artifact);
      return { added: added.loadedVersions(), failed: added.errors };
    }
    // Only folders not loaded yet are opened: a scan every few seconds must stay cheap.
    const added: string[] = [];
    const failed: { version?: string; message: string }[] = [];
    for (const version of await listVersions(model.dir)) {
      if (model.versions.has(version)) continue;
      try {
        await this.loadArtifact(model, await loadVersionArtifact(this.root, name, version));
        added.push(version);
        const index = model.errors.findIndex((e) => e.version === version);
        if (index >= 0) model.errors.splice(index, 1);
      } catch (error) {
        failed.push({ version, message: (error as Error).message });
      }
    }
    return { added, failed };
  }

  private async loadArtifact(model: ServedModel, artifact: VersionArtifact): Promise<ServedVersion> {
    const drift = { ...this.driftDefaults, ...driftOptions(model.config) };
    const monitor = new VersionMonitor(model.name, artifact.version, artifact.reference, drift, this.metrics, this.clock);
    const served = new ServedVersion(model, artifact, this.defaults, monitor);
    await this.pool.loadEverywhere(artifact.key, artifact.path);
    model.versions.set(artifact.version, served);
    return served;
  }

  private initialPolicy(model: ServedModel): TrafficPolicy {
    const traffic = model.config?.traffic;
    if (!traffic?.weights) return defaultPolicy(model.loadedVersions());
    try {
      return validateTrafficPolicy({ weights: traffic.weights, shadow: traffic.shadow ?? null }, model.loadedVersions());
    } catch (error) {
      this.logger.error({ model: model.name, err: (error as Error).message },
        'config.json traffic does not fit the loaded versions; the highest version takes all traffic');
      return defaultPolicy(model.loadedVersions());
    }
  }
}

/** Drift reads rows column by column: reference.json must describe the same columns, in order. */
function checkReferenceColumns(artifact: VersionArtifact, rows: RowSchema | null): void {
  const reference = artifact.reference;
  if (!reference || !rows) return;
  const names = reference.features.map((f) => f.name);
  if (rows.featureNames && names.join('\u0000') !== rows.featureNames.join('\u0000')) {
    throw new VigilError(400, 'invalid_file', `${artifact.key}/reference.json features (${names.join(', ')}) are not config.json's features in the same order`, { field: 'features' });
  }
  if (names.length !== rows.width) {
    throw new VigilError(400, 'invalid_file', `${artifact.key}/reference.json has ${names.length} features; rows of ${artifact.model} have ${rows.width}`, { field: 'features' });
  }
}

function driftOptions(config: ModelConfig | null): Partial<DriftOptions> {
  const drift = config?.drift;
  if (!drift) return {};
  const options: Partial<DriftOptions> = {};
  if (drift.slices !== undefined) options.slices = drift.slices;
  if (drift.slice_seconds !== undefined) options.sliceSeconds = drift.slice_seconds;
  if (drift.psi_alert !== undefined) options.psiAlert = drift.psi_alert;
  if (drift.min_samples !== undefined) options.minSamples = drift.min_samples;
  return options;
}
