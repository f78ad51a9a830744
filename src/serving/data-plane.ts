// The request's one-way trip after the protocol edge: choose the version, observe the inputs,
// queue the rows for a batch, observe outputs and latency, and (after the live answer is on
// its way) mirror the rows to the shadow version. Knows nothing about HTTP or JSON.
import type { Logger } from 'pino';
import { notFound, notReady, VigilError } from '../errors.js';
import type { BatchScheduler } from '../inference/batcher.js';
import type { PredictionColumns } from '../inference/predictions.js';
import type { TensorData, WireTensor } from '../inference/tensors.js';
import type { Metrics } from '../monitoring/metrics.js';
import type { PredictionLog } from '../monitoring/prediction-log.js';
import type { Role } from '../monitoring/version-monitor.js';
import type { ServedModel, ServedVersion } from './registry.js';

export interface InferenceCall {
  version: ServedVersion;
  /** One tensor per model input, in the model's order. */
  inputs: WireTensor[];
  rows: number;
  /** The feature matrix among the inputs (for drift), with its row width; null when none. */
  features: { data: ArrayLike<number>; width: number } | null;
  timeoutMs: number;
  /** performance.now() when the request was admitted. */
  startedAt: number;
  requestId: string;
  /** Lazily gives the request's features as the client sent them, for the prediction log. */
  logFeatures?: () => unknown;
}

/** Everything a mirrored request needs once the live answer is gone. */
interface ShadowJob {
  live: ServedVersion;
  shadow: ServedVersion;
  /** A copy of the live inputs (the originals may have been moved to a worker). */
  inputs: WireTensor[];
  rows: number;
  liveColumns: PredictionColumns;
  features: { data: ArrayLike<number>; width: number } | null;
  requestId: string;
  timeoutMs: number;
}

export interface InferenceResult {
  outputs: WireTensor[];
  columns: PredictionColumns;
}

export class DataPlane {
  private lastDisagreementLog = 0;

  constructor(
    private readonly scheduler: BatchScheduler,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly monitoring: boolean,
    private readonly predictionLog: PredictionLog | null,
  ) {}

  /** The version that answers: the pinned one, else the traffic split (sticky with a key). */
  route(model: ServedModel, pinned: string | undefined, routingKey: string | undefined): ServedVersion {
    if (pinned !== undefined) {
      const version = model.versions.get(pinned);
      if (!version || version.draining) {
        throw notFound(`model '${model.name}' has no loaded version '${pinned}' (loaded: ${model.loadedVersions().join(', ') || 'none'})`);
      }
      return version;
    }
    if (!model.ready || !model.traffic) throw notReady(`model '${model.name}'`);
    const chosen = model.traffic.splitter.pick(routingKey);
    const version = model.versions.get(chosen);
    if (!version || version.draining) throw notReady(`version ${chosen} of model '${model.name}'`);
    return version;
  }

  async infer(call: InferenceCall): Promise<InferenceResult> {
    const { version, rows } = call;
    const model = version.model;
    const monitor = version.monitor;
    const shadow = this.shadowFor(model, version, rows);
    const shadowInputs = shadow ? call.inputs.map(cloneTensor) : null;
    if (this.monitoring && call.features) monitor.observeInputs('live', call.features.data, call.features.width, rows);
    let outputs: WireTensor[];
    try {
      outputs = await this.scheduler.submit(version.target, {
        inputs: call.inputs, rows, deadline: call.startedAt + call.timeoutMs, timeoutMs: call.timeoutMs,
      });
    } catch (error) {
      this.recordFailure(version, 'live', error);
      throw error;
    }
    const columns = version.reader.columns(outputs, rows);
    // Whole microseconds, once: the HDR window, the Prometheus histogram, the guardrails and the
    // prediction log's latency_ms (= micros / 1000) all carry the same value.
    const micros = Math.round((performance.now() - call.startedAt) * 1000);
    if (this.monitoring) monitor.recordSuccess('live', rows, columns, micros);
    model.guard?.record(version.version, { ok: true, latencyMicros: micros });
    if (this.predictionLog?.sample()) {
      this.predictionLog.write({
        request_id: call.requestId, model: model.name, version: version.version, role: 'live',
        features: call.logFeatures?.(), outputs: version.reader.predictions(outputs, rows, columns), latency_ms: micros / 1000,
      });
    }
    if (shadow && shadowInputs) {
      // The shadow's copy of the feature matrix, for its own drift window.
      const index = call.features ? call.inputs.findIndex((t) => t.data === call.features!.data) : -1;
      const features = index >= 0 ? { data: shadowInputs[index]!.data as Float32Array, width: call.features!.width } : null;
      const job: ShadowJob = { live: version, shadow, inputs: shadowInputs, rows, liveColumns: columns, features,
        requestId: call.requestId, timeoutMs: call.timeoutMs };
      // After the live answer has been written: the shadow never delays it.
      setImmediate(() => void this.runShadow(job));
    }
    return { outputs, columns };
  }

  /** Counts a failure against the version (validation errors included) for /stats and metrics. */
  recordFailure(version: ServedVersion, role: Role, error: unknown): void {
    const type = error instanceof VigilError ? error.type : 'internal';
    if (this.monitoring) version.monitor.recordError(role, type);
    // Guardrails judge the version, not its clients: bad requests and full queues do not count.
    const versionsFault = !(error instanceof VigilError) || (error.status >= 500 && error.type !== 'queue_full');
    if (role === 'live' && versionsFault) version.model.guard?.record(version.version, { ok: false, latencyMicros: 0 });
  }

  private shadowFor(model: ServedModel, live: ServedVersion, rows: number): ServedVersion | null {
    const sampler = model.shadow();
    if (!sampler || !sampler.shouldMirror()) return null;
    const target = model.versions.get(model.traffic!.get().shadow!.version);
    if (!target || target === live || target.draining) return null;
    // Drop (counted) before copying anything when the shadow queue is full: under overload the
    // live path must not pay for mirrors that would be thrown away.
    if (!this.scheduler.hasRoom(target.target, rows, 'shadow')) {
      this.metrics.shadowDropped.labels(model.name, target.version, 'queue_full').inc();
      return null;
    }
    return target;
  }

  private async runShadow(job: ShadowJob): Promise<void> {
    const { live, shadow, inputs, rows } = job;
    const model = live.model;
    const startedAt = performance.now();
    if (this.monitoring && job.features) shadow.monitor.observeInputs('shadow', job.features.data, job.features.width, rows);
    let outputs: WireTensor[];
    try {
      outputs = await this.scheduler.submit(shadow.target, {
        inputs, rows, deadline: startedAt + job.timeoutMs, timeoutMs: job.timeoutMs,
      }, 'shadow');
    } catch (error) {
      const reason = error instanceof VigilError ? error.type : 'internal';
      this.metrics.shadowDropped.labels(model.name, shadow.version, reason).inc();
      this.recordFailure(shadow, 'shadow', error);
      if (reason !== 'queue_full') this.logger.warn({ model: model.name, version: shadow.version, err: (error as Error).message }, 'shadow inference failed');
      return;
    }
    const columns = shadow.reader.columns(outputs, rows);
    if (this.monitoring) shadow.monitor.recordSuccess('shadow', rows, columns, Math.round((performance.now() - startedAt) * 1000));
    this.compare(live, shadow, job.liveColumns, columns, rows, job.requestId);
  }

  private compare(live: ServedVersion, shadow: ServedVersion, a: PredictionColumns, b: PredictionColumns, rows: number, requestId: string): void {
    const model = live.model;
    const tracker = model.agreement(live.version, shadow.version);
    const before = tracker.disagreements;
    for (let r = 0; r < rows; r++) {
      let agreed: boolean;
      if (a.label && b.label) agreed = tracker.recordClassification(a.label[r]!, b.label[r]!, requestId);
      else if (a.value && b.value) agreed = tracker.recordRegression(a.value[r]!, b.value[r]!, model.agreementTolerance, requestId);
      else return; // raw models: nothing comparable
      model.guard?.recordAgreement(shadow.version, agreed);
    }
    // A sample of disagreements, at most one line a second, so a bad canary cannot flood the log.
    const now = Date.now();
    if (tracker.disagreements > before && now - this.lastDisagreementLog > 1000) {
      this.lastDisagreementLog = now;
      this.logger.info({ model: model.name, live: live.version, shadow: shadow.version, request_id: requestId,
        agreement: tracker.snapshot() }, 'shadow disagreed with live');
    }
  }
}

function cloneTensor(tensor: WireTensor): WireTensor {
  return { ...tensor, dims: [...tensor.dims], data: tensor.data.slice() as TensorData };
}
