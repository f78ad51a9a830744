// The request's one-way trip after the protocol edge, in one call: choose the version, refuse
// early when its queue is full, decode with the protocol's decoder, observe the inputs' data
// quality, queue the rows for a batch (the worker that runs it counts the inputs' drift bins),
// observe outputs and latency, keep the answer for the ground truth that may follow (feedback),
// and (after the live answer is on its way) mirror the rows to the shadow version. Knows nothing
// about HTTP or JSON.
import type { Logger } from 'pino';
import { notFound, notReady, VigilError } from '../errors.js';
import type { BatchScheduler } from '../inference/batcher.js';
import { columnRows, type PredictionColumns } from '../inference/predictions.js';
import { sameRowLayout, stackRows, type WireTensor } from '../inference/tensors.js';
import type { CounterSeries } from '../monitoring/fast-metrics.js';
import type { Metrics } from '../monitoring/metrics.js';
import type { PredictionLog } from '../monitoring/prediction-log.js';
import type { PredictionStore } from '../monitoring/prediction-store.js';
import type { Role } from '../monitoring/role.js';
import { driftRowsOf } from '../monitoring/version-monitor.js';
import { ShadowComparator } from '../routing/shadow.js';
import type { DecodedInputs } from '../validation/decoded.js';
import type { ServedModel } from './served-model.js';
import type { ServedVersion } from './served-version.js';

export interface PredictRequest<D extends DecodedInputs> {
  model: ServedModel;
  /** A version the client named; otherwise the traffic split chooses (sticky with a key). */
  pinned: string | undefined;
  routingKey: string | undefined;
  timeoutMs: number;
  /** performance.now() when the request was admitted. */
  startedAt: number;
  requestId: string;
  /**
   * The protocol's decoder, run against the chosen version unless its queue is full (a full
   * queue refuses the request before the body is parsed); throws a 4xx VigilError. The
   * decoded rows must then fit the queue too.
   */
  decode(version: ServedVersion): D;
  /** Lazily gives the request's features as the client sent them, for the prediction log. */
  logFeatures?: () => unknown;
  /**
   * Called once nothing here holds the decoded inputs any more (their batch has settled and
   * no shadow mirror took them), so memory they view can serve another request. Not called
   * when that moment is not known (a decode that failed, a mirrored request): such memory is
   * left to the garbage collector.
   */
  releaseInputs?: () => void;
}

export interface Prediction<D extends DecodedInputs> {
  version: ServedVersion;
  decoded: D;
  outputs: WireTensor[];
  columns: PredictionColumns;
}

/** Everything a mirrored request needs once the live answer is gone. */
interface ShadowJob {
  model: ServedModel;
  live: ServedVersion;
  shadow: ServedVersion;
  /** The live inputs (workers get copies of them, so they are intact after the live batch). */
  inputs: WireTensor[];
  rows: number;
  liveColumns: PredictionColumns;
  /** The live rows as drift counts them (driftRowsOf), when the shadow's drift counts them here. */
  driftRows: ArrayLike<number> | null;
  width: number;
  requestId: string;
  timeoutMs: number;
}

export class DataPlane {
  private readonly comparator: ShadowComparator;
  /** Mirrors waiting for the end of the event-loop turn their live answers were written in. */
  private readonly shadowJobs: ShadowJob[] = [];
  /** Per shadow version, its queue_full drop counter: under overload it counts per request. */
  private readonly queueFullDrops = new WeakMap<ServedVersion, CounterSeries>();

  constructor(
    private readonly scheduler: BatchScheduler,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly monitoring: boolean,
    private readonly predictionLog: PredictionLog | null,
    /** recent answers kept for POST /feedback (null when off) */
    private readonly store: PredictionStore | null,
  ) {
    this.comparator = new ShadowComparator((fields) => this.logger.info(fields, 'shadow disagreed with live'));
  }

  /**
   * True while some version's queue is at least half full: /predict then reads the routing
   * fields first and parses the body only once admitted, so refusals stay cheap (v2 parses
   * inside decode, after admission, always).
   */
  get crowded(): boolean {
    return this.scheduler.crowded;
  }

  /**
   * Called as an inference request arrives, before its body is read: an idle inference worker
   * starts waking now, while this thread reads and decodes (the wake-up is most of the hop at
   * low load).
   */
  wakeIdleWorker(): void {
    this.scheduler.wakeIdleWorker();
  }

  /** One request, end to end: the answer to encode, or a VigilError saying why not. */
  async predict<D extends DecodedInputs>(request: PredictRequest<D>): Promise<Prediction<D>> {
    const version = this.route(request.model, request.pinned, request.routingKey);
    let decoded: D;
    try {
      this.scheduler.admit(version.target);
      decoded = request.decode(version);
    } catch (error) {
      this.recordFailure(request.model, version, 'live', error);
      this.countRejection(request.model, version, error);
      throw error;
    }
    const { outputs, columns } = await this.infer(version, decoded, request);
    return { version, decoded, outputs, columns };
  }

  /** The version that answers: the pinned one, else the traffic split (sticky with a key). */
  private route(model: ServedModel, pinned: string | undefined, routingKey: string | undefined): ServedVersion {
    if (pinned !== undefined) {
      const version = model.versions.get(pinned);
      if (version?.state === 'ready') return version;
      // A version the model knows but cannot serve now (loading, unavailable, draining): 503 with
      // the reason, as the v2 readiness routes say; 404 only for versions it does not know.
      const status = model.status(pinned);
      if (status) throw notReady(`version ${pinned} of model '${model.name}' (${status.state}: ${status.reason})`);
      throw notFound(`model '${model.name}' has no loaded version '${pinned}' (loaded: ${model.loadedVersions().join(', ') || 'none'})`);
    }
    if (!model.ready || !model.traffic) throw notReady(`model '${model.name}'`);
    const chosen = model.traffic.splitter.pick(routingKey);
    const version = model.versions.get(chosen);
    if (!version || version.state !== 'ready') throw notReady(`version ${chosen} of model '${model.name}'`);
    return version;
  }

  private async infer(version: ServedVersion, decoded: DecodedInputs, request: PredictRequest<DecodedInputs>): Promise<{ outputs: WireTensor[]; columns: PredictionColumns }> {
    const { rows, features } = decoded;
    const missing = decoded.missing ?? null;
    const model = request.model;
    const monitor = version.monitor;
    const shadow = this.shadowFor(model, version, rows);
    // Rows the main thread bins for drift (versions whose workers do not count bins): one copy
    // with the missing values masked serves the live version and its shadow.
    const driftRows = this.monitoring && features && (!version.binning || (shadow && !shadow.binning))
      ? driftRowsOf(features.data, missing) : null;
    if (this.monitoring && features) {
      monitor.observeQuality(features.data, features.width, rows, missing);
      if (!version.binning) monitor.observeInputs('live', driftRows!, features.width, rows);
    }
    let outputs: WireTensor[];
    try {
      outputs = await this.scheduler.submit(version.target, {
        inputs: decoded.inputs, rows, deadline: request.startedAt + request.timeoutMs, timeoutMs: request.timeoutMs,
      });
    } catch (error) {
      this.recordFailure(model, version, 'live', error);
      throw error;
    } finally {
      // The batch has settled: unless a shadow mirror takes them below, nothing reads the inputs again.
      if (!shadow) request.releaseInputs?.();
    }
    const columns = version.reader.columns(outputs, rows);
    // Whole microseconds, once: the HDR window, the Prometheus histogram, the guardrails and the
    // prediction log's latency_ms (= micros / 1000) all carry the same value.
    const micros = Math.round((performance.now() - request.startedAt) * 1000);
    if (this.monitoring) monitor.recordSuccess('live', rows, columns, micros);
    this.keep(model, version, 'live', request.requestId, rows, columns, version.reader.probabilities(outputs), shadow !== null);
    model.guard?.record(version.version, { ok: true, latencyMicros: micros });
    if (this.predictionLog?.sample()) {
      this.predictionLog.write({
        request_id: request.requestId, model: model.name, version: version.version, role: 'live',
        features: request.logFeatures?.(), outputs: version.reader.predictions(outputs, rows, columns), latency_ms: micros / 1000,
      });
    }
    if (shadow) {
      const job: ShadowJob = { model, live: version, shadow, inputs: decoded.inputs, rows, liveColumns: columns,
        driftRows: shadow.binning ? null : driftRows, width: features?.width ?? 0, requestId: request.requestId, timeoutMs: request.timeoutMs };
      // After the live answer has been written: the shadow never delays it. One immediate per
      // event-loop turn mirrors every request answered in that turn.
      if (this.shadowJobs.push(job) === 1) setImmediate(() => this.runShadows());
    }
    return { outputs, columns };
  }

  /** Counts a failure against the version (validation errors included) for /stats and metrics. */
  private recordFailure(model: ServedModel, version: ServedVersion, role: Role, error: unknown): void {
    const type = error instanceof VigilError ? error.type : 'internal';
    if (this.monitoring) version.monitor.recordError(role, type);
    // Guardrails judge the version, not its clients: bad requests and full queues do not count.
    const versionsFault = !(error instanceof VigilError) || (error.status >= 500 && error.type !== 'queue_full');
    if (role === 'live' && versionsFault) model.guard?.record(version.version, { ok: false, latencyMicros: 0 });
  }

  /**
   * A request refused as invalid, by the feature it names (declared names only, so clients
   * cannot create series) and the reason.
   */
  private countRejection(model: ServedModel, version: ServedVersion, error: unknown): void {
    if (!this.monitoring || !(error instanceof VigilError) || error.status !== 400) return;
    const name = error.field?.split('/').pop();
    const field = name !== undefined && version.rows?.featureNames?.includes(name) ? name : 'other';
    this.metrics.rejections.labels(model.name, field, error.reason ?? 'invalid').inc();
  }

  /**
   * Keeps a scored model's answer for the labels POST /feedback may bring later (`mirrored`:
   * with room for the shadow's answer, which follows).
   */
  private keep(model: ServedModel, version: ServedVersion, role: Role, requestId: string, rows: number,
    columns: PredictionColumns, probabilities: Float32Array | Float64Array | null, mirrored = false): void {
    if (!this.store || !version.monitor.settings.scoring) return;
    this.store.put(model.name, requestId, {
      version: version.version, role, rows,
      labels: columns.label, values: columns.value, probabilities: probabilities ?? undefined,
    }, mirrored);
  }

  private shadowFor(model: ServedModel, live: ServedVersion, rows: number): ServedVersion | null {
    const sampler = model.shadow();
    if (!sampler || !sampler.shouldMirror()) return null;
    const target = model.versions.get(model.traffic!.get().shadow!.version);
    if (!target || target === live || target.state !== 'ready') return null;
    // Drop (counted) before copying anything when the shadow queue is full: under overload the
    // live path must not pay for mirrors that would be thrown away.
    if (!this.scheduler.hasRoom(target.target, rows, 'shadow')) {
      this.droppedForFullQueue(model, target, 1);
      return null;
    }
    return target;
  }

  private runShadows(): void {
    for (const group of mirrorGroups(this.shadowJobs.splice(0))) {
      const fitting = this.fittingShadowQueue(group);
      if (fitting.length) void this.runShadow(fitting);
    }
  }

  /**
   * The group's first mirrors, as many as the shadow queue has room for now; the others are
   * dropped and counted as queue_full, as shadowFor drops a mirror. The queue may have filled
   * since the mirrors were taken (under overload it does), and one refusal per mirror would cost
   * the live path more than the mirrors are worth.
   */
  private fittingShadowQueue(group: ShadowJob[]): ShadowJob[] {
    const { model, shadow } = group[0]!;
    let rows = 0;
    let fit = 0;
    while (fit < group.length && this.scheduler.hasRoom(shadow.target, rows + group[fit]!.rows, 'shadow')) rows += group[fit++]!.rows;
    if (fit === group.length) return group;
    this.droppedForFullQueue(model, shadow, group.length - fit);
    return group.slice(0, fit);
  }

  private droppedForFullQueue(model: ServedModel, shadow: ServedVersion, mirrors: number): void {
    let series = this.queueFullDrops.get(shadow);
    if (!series) {
      series = this.metrics.shadowDropped.labels(model.name, shadow.version, 'queue_full');
      this.queueFullDrops.set(shadow, series);
    }
    series.inc(mirrors);
  }

  /**
   * Runs a group of mirrors to one shadow version as one queued request (their rows stacked),
   * then settles each mirror from its rows of the answer; the group's deadline is its shortest.
   * A group that fails for another reason than its deadline or a full queue is retried mirror
   * by mirror, so one bad request fails only its own. (A full shadow queue would refuse each
   * retry as well: under overload, mirror by mirror, at a refusal's cost each.)
   */
  private async runShadow(group: readonly ShadowJob[]): Promise<void> {
    const { model, shadow } = group[0]!;
    const startedAt = performance.now();
    let rows = 0;
    let timeoutMs = Infinity;
    for (const job of group) {
      if (job.driftRows) shadow.monitor.observeInputs('shadow', job.driftRows, job.width, job.rows);
      rows += job.rows;
      timeoutMs = Math.min(timeoutMs, job.timeoutMs);
    }
    const inputs = group.length === 1 ? group[0]!.inputs : stackRows(group, rows);
    let outputs: WireTensor[];
    try {
      outputs = await this.scheduler.submit(shadow.target, {
        inputs, rows, deadline: startedAt + timeoutMs, timeoutMs,
      }, 'shadow');
    } catch (error) {
      const reason = error instanceof VigilError ? error.type : 'internal';
      if (group.length > 1 && reason !== 'deadline_exceeded' && reason !== 'queue_full') {
        for (const job of group) void this.runShadow([{ ...job, driftRows: null }]); // drift has seen them
        return;
      }
      this.metrics.shadowDropped.labels(model.name, shadow.version, reason).inc(group.length);
      for (let i = 0; i < group.length; i++) this.recordFailure(model, shadow, 'shadow', error);
      if (reason !== 'queue_full') this.logger.warn({ model: model.name, version: shadow.version, err: (error as Error).message }, 'shadow inference failed');
      return;
    }
    const columns = shadow.reader.columns(outputs, rows);
    const probabilities = shadow.reader.probabilities(outputs);
    const classes = probabilities ? probabilities.length / rows : 0;
    const micros = Math.round((performance.now() - startedAt) * 1000);
    let at = 0;
    for (const job of group) {
      const own = group.length === 1 ? columns : columnRows(columns, at, job.rows);
      if (this.monitoring) shadow.monitor.recordSuccess('shadow', job.rows, own, micros);
      this.keep(model, shadow, 'shadow', job.requestId, job.rows, own,
        probabilities?.subarray(at * classes, (at + job.rows) * classes) ?? null);
      this.comparator.compare(model.agreement(job.live.version, shadow.version), job.liveColumns, own, job.rows,
        model.agreementTolerance, job.requestId, (agreed) => model.guard?.recordAgreement(shadow.version, agreed));
      at += job.rows;
    }
  }
}

/**
 * The mirrors of one event-loop turn, grouped by shadow version in arrival order: a mirror joins
 * its version's latest group when the version batches, its tensors have the group's layout and
 * the rows still fit one batch; otherwise it starts the next group.
 */
function mirrorGroups(jobs: readonly ShadowJob[]): ShadowJob[][] {
  const groups: ShadowJob[][] = [];
  const open = new Map<ServedVersion, { jobs: ShadowJob[]; rows: number }>();
  for (const job of jobs) {
    const target = job.shadow.target;
    const group = open.get(job.shadow);
    if (group && target.batchable && group.rows + job.rows <= target.maxBatchSize && sameRowLayout(group.jobs[0]!.inputs, job.inputs)) {
      group.jobs.push(job);
      group.rows += job.rows;
      continue;
    }
    const fresh = { jobs: [job], rows: job.rows };
    groups.push(fresh.jobs);
    open.set(job.shadow, fresh);
  }
  return groups;
}
