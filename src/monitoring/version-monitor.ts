// Everything Vigil watches about one model version while it serves: per role (live, shadow)
// the drift window over inputs and outputs, the HDR latency window, and the counters behind
// /stats and /metrics. O(1) per row per column on the request path; reads happen at scrape.
import type { CounterSeries, HistogramSeries } from './fast-metrics.js';
import type { PredictionColumns } from '../inference/predictions.js';
import type { Clock } from './clock.js';
import { DriftWindow, type DriftAlert, type DriftOptions, type Reference } from './drift.js';
import { LatencyWindow, type LatencyPercentiles } from './latency.js';
import type { Metrics } from './metrics.js';

export type Role = 'live' | 'shadow';
export const ROLES: readonly Role[] = ['live', 'shadow'];

class RoleMonitor {
  requests = 0;
  rows = 0;
  readonly errors = new Map<string, number>();
  readonly latency: LatencyWindow;
  readonly drift: DriftWindow | null;
  private readonly predictions: CounterSeries;
  private readonly latencySeconds: HistogramSeries;
  /** Output columns of the reference, by the names PredictionColumns uses. */
  private readonly outputColumns: { index: number; key: keyof PredictionColumns }[];

  constructor(model: string, version: string, readonly role: Role, reference: Reference | null,
    drift: DriftOptions, metrics: Metrics, clock: Clock) {
    this.latency = new LatencyWindow({ windowSeconds: 60, slices: 6 }, clock);
    this.drift = reference ? new DriftWindow(reference.features, reference.outputs, drift, clock) : null;
    this.predictions = metrics.predictions.labels(model, version, role);
    this.latencySeconds = metrics.latency.labels(model, version, role);
    this.outputColumns = (reference?.outputs ?? [])
      .map((o, i) => ({ index: (this.drift?.outputOffset ?? 0) + i, key: o.name as keyof PredictionColumns }))
      .filter((c) => c.key === 'label' || c.key === 'probability' || c.key === 'value');
  }

  observeInputs(features: ArrayLike<number>, width: number, rows: number): void {
    const drift = this.drift;
    if (drift && drift.outputOffset === width) drift.observeRows(features, rows, width, 0, width);
  }

  record(rows: number, outputs: PredictionColumns, micros: number): void {
    this.requests++;
    this.rows += rows;
    this.predictions.inc(rows);
    this.latency.record(micros);
    this.latencySeconds.observe(micros / 1e6);
    const drift = this.drift;
    if (!drift) return;
    for (const column of this.outputColumns) {
      const values = outputs[column.key];
      if (values) drift.observeRows(values, rows, 1, column.index, 1);
    }
  }
}

export interface VersionStats {
  requests: number;
  rows: number;
  errors: Record<string, number>;
  latency_us: { window: LatencyPercentiles; total: LatencyPercentiles };
  drift: { column: string; kind: string; n: number; psi: number | null; ks: number | null; alert: boolean }[] | null;
}

export class VersionMonitor {
  readonly roles: Record<Role, RoleMonitor>;
  private readonly errorChildren = new Map<string, CounterSeries>();

  constructor(
    readonly model: string,
    readonly version: string,
    readonly reference: Reference | null,
    drift: DriftOptions,
    private readonly metrics: Metrics,
    clock: Clock,
  ) {
    this.roles = {
      live: new RoleMonitor(model, version, 'live', reference, drift, metrics, clock),
      shadow: new RoleMonitor(model, version, 'shadow', reference, drift, metrics, clock),
    };
  }

  /** Input rows as admitted (row-major, `width` per row), before they leave for a worker. */
  observeInputs(role: Role, features: ArrayLike<number>, width: number, rows: number): void {
    this.roles[role].observeInputs(features, width, rows);
  }

  /** A request answered: its decoded outputs and end-to-end latency. */
  recordSuccess(role: Role, rows: number, outputs: PredictionColumns, micros: number): void {
    this.roles[role].record(rows, outputs, micros);
  }

  recordError(role: Role, errorType: string): void {
    const errors = this.roles[role].errors;
    errors.set(errorType, (errors.get(errorType) ?? 0) + 1);
    let child = this.errorChildren.get(errorType);
    if (!child) {
      child = this.metrics.errors.labels(this.model, this.version, errorType);
      this.errorChildren.set(errorType, child);
    }
    child.inc();
  }

  /** Alert transitions since the last call, per role. */
  checkAlerts(): { role: Role; alert: DriftAlert }[] {
    const transitions: { role: Role; alert: DriftAlert }[] = [];
    for (const role of ROLES) {
      for (const alert of this.roles[role].drift?.checkAlerts() ?? []) transitions.push({ role, alert });
    }
    return transitions;
  }

  /**
   * Every drift column's bin counts since this version loaded, per role (views, for the
   * scrape): what Prometheus adds across replicas for the fleet PSI.
   */
  *binCounts(): Generator<{ role: Role; column: string; counts: Float64Array }> {
    for (const role of ROLES) {
      const drift = this.roles[role].drift;
      if (!drift) continue;
      for (let c = 0; c < drift.columnCount; c++) yield { role, column: drift.names[c]!, counts: drift.lifetimeBinCounts(c) };
    }
  }

  stats(role: Role): VersionStats {
    const r = this.roles[role];
    return {
      requests: r.requests,
      rows: r.rows,
      errors: Object.fromEntries(r.errors),
      latency_us: { window: r.latency.percentiles('window'), total: r.latency.percentiles('total') },
      drift: r.drift
        ? r.drift.snapshot().map((d) => ({ column: d.name, kind: d.kind, n: d.n, psi: d.psi, ks: d.ks, alert: d.alert }))
        : null,
    };
  }
}
