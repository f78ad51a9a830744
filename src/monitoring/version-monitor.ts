// Everything Vigil watches about one model version while it serves: per role (live, shadow)
// the drift window over inputs and outputs with its significance-gated alerts, the HDR latency
// window, the online performance against ground truth with its concept-drift alerts, and the
// counters behind /stats and /metrics; for live traffic, data quality per feature. Feature bins
// mostly arrive counted per batch by the worker; the rest is O(1) per row per column on the
// request path; reads happen at scrape and sweep time.
import type { DataQualityConfig, PerformanceConfig } from '../config/model-config.js';
import type { CounterSeries, HistogramSeries } from './fast-metrics.js';
import type { PredictionColumns } from '../inference/predictions.js';
import type { FeatureBins } from '../inference/slab.js';
import type { Clock } from './clock.js';
import { ConceptDriftPolicy, type ConceptDriftState, type ConceptDriftTransition } from './concept-drift.js';
import { DataQualityWindow, type QualityColumn, type QualityTransition } from './data-quality.js';
import { DriftAlertPolicy, type ColumnDrift, type DriftAlertOptions, type DriftAlertTransition } from './drift-alerts.js';
import { DriftWindow, type DriftOptions, type Reference } from './drift.js';
import { LatencyWindow, type LatencyPercentiles } from './latency.js';
import type { Metrics } from './metrics.js';
import { ROLES, type Role } from './role.js';
import { PerformanceWindow, type PerformanceSnapshot, type PerformanceTask } from './performance.js';

/** How a version is watched: its drift window and alerts, how it is scored, its data quality. */
export interface MonitorSettings {
  drift: DriftOptions;
  driftAlerts: DriftAlertOptions;
  /** null for models whose outputs cannot be scored against labels (raw) */
  scoring: { task: PerformanceTask; classes: number; concept: PerformanceConfig } | null;
  /** the feature columns (with reference ranges) and thresholds; null without named features */
  quality: { columns: QualityColumn[]; config: DataQualityConfig } | null;
}

/**
 * Feature rows as drift counts them: a missing value is counted as missing, never binned, so
 * drift sees NaN (skipped) where the policy filled one in. `missing`: flat indices of the
 * filled values. Without any, the rows themselves.
 */
export function driftRowsOf(features: ArrayLike<number>, missing: readonly number[] | null): ArrayLike<number> {
  if (!missing) return features;
  const copy = ArrayBuffer.isView(features) ? (features as Float32Array).slice() : Array.from(features);
  for (const i of missing) copy[i] = NaN;
  return copy;
}

class RoleMonitor {
  requests = 0;
  rows = 0;
  readonly errors = new Map<string, number>();
  readonly latency: LatencyWindow;
  readonly drift: DriftWindow | null;
  readonly driftAlerts: DriftAlertPolicy | null;
  readonly performance: PerformanceWindow | null;
  readonly concept: ConceptDriftPolicy | null;
  private readonly predictions: CounterSeries;
  private readonly latencySeconds: HistogramSeries;
  /** Output columns of the reference, by the names PredictionColumns uses. */
  private readonly outputColumns: { index: number; key: keyof PredictionColumns }[];

  constructor(model: string, version: string, role: Role, reference: Reference | null,
    settings: MonitorSettings, metrics: Metrics, clock: Clock) {
    this.latency = new LatencyWindow({ windowSeconds: 60, slices: 6 }, clock);
    this.drift = reference ? new DriftWindow(reference.features, reference.outputs, settings.drift, clock) : null;
    this.driftAlerts = this.drift && reference ? new DriftAlertPolicy(this.drift, reference, settings.driftAlerts) : null;
    const scoring = settings.scoring;
    this.performance = scoring
      ? new PerformanceWindow(scoring.task, scoring.classes, { slices: settings.drift.slices, sliceSeconds: settings.drift.sliceSeconds }, clock)
      : null;
    this.concept = scoring && reference?.performance ? new ConceptDriftPolicy(reference.performance.metrics, scoring.concept) : null;
    this.predictions = metrics.predictions.labels(model, version, role);
    this.latencySeconds = metrics.latency.labels(model, version, role);
    this.outputColumns = (reference?.outputs ?? [])
      .map((o, i) => ({ index: (this.drift?.outputOffset ?? 0) + i, key: o.name as keyof PredictionColumns }))
      .filter((c) => c.key === 'label' || c.key === 'probability' || c.key === 'value');
  }

  observeInputBins(bins: FeatureBins): void {
    this.drift?.addBinCounts(0, this.drift.outputOffset, bins.counts, bins.nonFinite);
  }

  observeInputs(driftRows: ArrayLike<number>, width: number, rows: number): void {
    const drift = this.drift;
    if (!drift || drift.outputOffset !== width) return;
    drift.observeRows(driftRows, rows, width, 0, width);
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

export interface RolePerformance extends PerformanceSnapshot {
  /** concept-drift state per watched metric (reference value, alert threshold, alert) */
  concept: ConceptDriftState[];
}

export interface VersionStats {
  requests: number;
  rows: number;
  errors: Record<string, number>;
  latency_us: { window: LatencyPercentiles; total: LatencyPercentiles };
  drift: (Omit<ColumnDrift, 'column'> & { column: string; ks: number | null })[] | null;
  performance: RolePerformance | null;
}

export class VersionMonitor {
  readonly roles: Record<Role, RoleMonitor>;
  /** live inputs only: shadow mirrors are the same rows */
  readonly quality: DataQualityWindow | null;
  private readonly errorChildren = new Map<string, CounterSeries>();

  constructor(
    readonly model: string,
    readonly version: string,
    readonly reference: Reference | null,
    readonly settings: MonitorSettings,
    private readonly metrics: Metrics,
    clock: Clock,
  ) {
    this.roles = {
      live: new RoleMonitor(model, version, 'live', reference, settings, metrics, clock),
      shadow: new RoleMonitor(model, version, 'shadow', reference, settings, metrics, clock),
    };
    this.quality = settings.quality
      ? new DataQualityWindow(settings.quality.columns, { slices: settings.drift.slices, sliceSeconds: settings.drift.sliceSeconds },
        settings.quality.config, clock)
      : null;
  }

  /** The bins of a batch's feature rows, counted by the worker that ran it. */
  observeInputBins(role: Role, bins: FeatureBins): void {
    this.roles[role].observeInputBins(bins);
  }

  /**
   * Input rows binned on the main thread, for versions whose workers do not count them (those
   * that fill missing values): row-major, `width` per row, as driftRowsOf gives them.
   */
  observeInputs(role: Role, driftRows: ArrayLike<number>, width: number, rows: number): void {
    this.roles[role].observeInputs(driftRows, width, rows);
  }

  /** Data quality of live input rows as admitted (out of range, missing), before they leave for a worker. */
  observeQuality(features: ArrayLike<number>, width: number, rows: number, missing: readonly number[] | null = null): void {
    if (this.quality && this.quality.columns.length === width) this.quality.observe(features, rows, missing);
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

  /** Drift alert transitions of this sweep (one decision per time slice), per role. */
  checkDriftAlerts(): { role: Role; alert: DriftAlertTransition }[] {
    const transitions: { role: Role; alert: DriftAlertTransition }[] = [];
    for (const role of ROLES) {
      for (const alert of this.roles[role].driftAlerts?.evaluate() ?? []) transitions.push({ role, alert });
    }
    return transitions;
  }

  /** Concept-drift transitions: each role's window metrics against the reference performance. */
  checkConceptDrift(): { role: Role; alert: ConceptDriftTransition }[] {
    const transitions: { role: Role; alert: ConceptDriftTransition }[] = [];
    for (const role of ROLES) {
      const r = this.roles[role];
      if (!r.performance || !r.concept) continue;
      for (const alert of r.concept.evaluate(r.performance.snapshot().metrics)) transitions.push({ role, alert });
    }
    return transitions;
  }

  checkDataQuality(): QualityTransition[] {
    return this.quality?.evaluate() ?? [];
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

  /** Each role's drift columns with noise, significance and alert state. */
  driftColumns(role: Role): (ColumnDrift & { ks: number | null })[] {
    const r = this.roles[role];
    if (!r.drift || !r.driftAlerts) return [];
    const ks = r.drift.snapshot();
    return r.driftAlerts.assess().map((d, c) => ({ ...d, ks: ks[c]!.ks }));
  }

  performance(role: Role): RolePerformance | null {
    const r = this.roles[role];
    if (!r.performance) return null;
    return { ...r.performance.snapshot(), concept: r.concept?.states() ?? [] };
  }

  stats(role: Role): VersionStats {
    const r = this.roles[role];
    return {
      requests: r.requests,
      rows: r.rows,
      errors: Object.fromEntries(r.errors),
      latency_us: { window: r.latency.percentiles('window'), total: r.latency.percentiles('total') },
      drift: r.drift ? this.driftColumns(role) : null,
      performance: this.performance(role),
    };
  }
}
