/**
 * Drift alerts that sampling noise alone does not raise. PSI of a window against a reference
 * is never 0 by chance: for k bins, n window rows and n_ref reference rows its expected value
 * is about (k − 1)(1/n + 1/n_ref) (≈ 0.065 for 200 rows against 455), with a tail that a
 * fixed threshold crosses routinely across many columns and sweeps. A column alerts only when
 * its drift is both
 *
 * - large: PSI ≥ psiAlert, and
 * - significant: the two-sample chi-square test of the window's bin counts against the
 *   reference's (proportions × reference rows) gives p < alpha / (m × L), m = the columns
 *   evaluated together and L = the evaluations per window span (one per time slice, so L =
 *   slices): by the union bound, the chance that an undrifted version raises any alert during
 *   one window span is ≤ alpha,
 *
 * and only after that has held for `consecutive` evaluations in a row; it recovers once PSI
 * has fallen under psiAlert × RECOVERY_FACTOR or lost significance for as many evaluations.
 *
 * One evaluation per time slice: the gateway sweeps every few seconds, but a window that
 * changes a row at a time gives nearly the same verdict on every sweep, and counting each
 * sweep as a new look would make the correction meaningless. Sweeps in between only refresh
 * the numbers /stats shows. The correction for L looks matters: on simulated undrifted
 * breast-cancer streams (~250 rows per 12 × 300 s window) one evaluation per slice corrected
 * for columns alone raised 0.022 false alerts per window span; corrected for the looks too,
 * under alpha (test/monitoring/drift-alerts.test.ts).
 * With a reference that does not say how many rows it came from (rows = 0) there is no test,
 * and PSI alone decides.
 */
import { twoSampleChiSquare } from './chi-square.js';
import type { ColumnKind, DriftColumnSnapshot, DriftWindow, ReferenceColumn } from './drift.js';

export interface DriftAlertOptions {
  /** PSI at or above which drift counts as large */
  psiAlert: number;
  /** family-wise significance level per evaluation of a window */
  alpha: number;
  /** evaluations (one per time slice) in a row a condition must hold before the alert state changes */
  consecutive: number;
}

/**
 * Hysteresis: an alert raised at PSI ≥ psiAlert recovers only once PSI < psiAlert × 0.8 (or the
 * drift is no longer significant), so a PSI hovering around the threshold does not flap.
 */
export const RECOVERY_FACTOR = 0.8;

export const DEFAULT_DRIFT_ALERT_OPTIONS: Readonly<DriftAlertOptions> = { psiAlert: 0.2, alpha: 0.01, consecutive: 2 };

export interface ColumnDrift {
  column: string;
  kind: ColumnKind;
  /** window observations */
  n: number;
  psi: number | null;
  /** PSI that sampling noise alone gives on average: (k − 1)(1/n + 1/n_ref), k = bins with reference mass */
  psi_noise: number | null;
  /** two-sample chi-square p-value (null below min_samples or without reference rows) */
  p_value: number | null;
  /** p < alpha / (columns evaluated × slices) */
  significant: boolean;
  alert: boolean;
}

export interface DriftAlertTransition {
  column: string;
  kind: ColumnKind;
  psi: number;
  psi_noise: number;
  p_value: number | null;
  state: 'raised' | 'recovered';
}

/** Expected PSI of an undrifted window: (k − 1)(1/n + 1/n_ref); 1/n_ref drops out when n_ref is unknown (0). */
export function expectedPsiNoise(bins: number, n: number, referenceRows: number): number {
  return Math.max(bins - 1, 0) * (1 / n + (referenceRows > 0 ? 1 / referenceRows : 0));
}

export class DriftAlertPolicy {
  readonly options: Readonly<DriftAlertOptions>;
  private readonly referenceRows: number;
  private readonly proportions: readonly (readonly number[])[];
  /** bins with reference mass, per column */
  private readonly referenceBins: Int32Array;
  private readonly alerting: Uint8Array;
  private readonly raiseStreak: Int32Array;
  private readonly clearStreak: Int32Array;
  /** the window's slicesExpired at the last evaluation (-1: none yet) */
  private evaluatedSlice = -1;

  constructor(
    private readonly window: DriftWindow,
    reference: { rows: number; features: readonly ReferenceColumn[]; outputs: readonly ReferenceColumn[] },
    options: Partial<DriftAlertOptions> = {},
  ) {
    const opts = { ...DEFAULT_DRIFT_ALERT_OPTIONS, ...options };
    if (!Number.isFinite(opts.psiAlert) || opts.psiAlert <= 0) throw new Error(`drift.psi_alert: expected a number > 0, got ${opts.psiAlert}`);
    if (!(opts.alpha > 0 && opts.alpha < 1)) throw new Error(`drift.alpha: expected a number between 0 and 1, got ${opts.alpha}`);
    if (!Number.isInteger(opts.consecutive) || opts.consecutive < 1) {
      throw new Error(`drift.consecutive: expected an integer ≥ 1, got ${opts.consecutive}`);
    }
    this.options = Object.freeze(opts);
    const columns = [...reference.features, ...reference.outputs];
    if (columns.length !== window.columnCount || columns.some((c, i) => c.name !== window.names[i])) {
      throw new Error('drift alerts: the reference columns differ from the drift window\'s');
    }
    this.referenceRows = reference.rows;
    this.proportions = columns.map((c) => c.proportions);
    this.referenceBins = Int32Array.from(columns, (c) => c.proportions.filter((p) => p > 0).length);
    const count = window.columnCount;
    this.alerting = new Uint8Array(count);
    this.raiseStreak = new Int32Array(count);
    this.clearStreak = new Int32Array(count);
  }

  /** Every column's drift, significance and alert state; changes nothing. */
  assess(): ColumnDrift[] {
    const columns = this.window.snapshot();
    const threshold = this.threshold(columns);
    return columns.map((column, c) => this.column(c, column, threshold));
  }

  /**
   * The slice's evaluation: updates the alert states and returns the transitions. Further calls
   * within the same time slice (or after the clock stepped back) return no transitions.
   */
  evaluate(): DriftAlertTransition[] {
    // The slice is the window's, read with the columns: the two cannot disagree.
    const columns = this.window.snapshot();
    const slice = this.window.slicesExpired;
    if (!(slice > this.evaluatedSlice)) return [];
    this.evaluatedSlice = slice;
    const threshold = this.threshold(columns);
    const transitions: DriftAlertTransition[] = [];
    const { psiAlert, consecutive } = this.options;
    for (let c = 0; c < columns.length; c++) {
      const psi = columns[c]!.psi;
      if (psi === null) {
        // Too few rows: no evidence either way; a streak must start again.
        this.raiseStreak[c] = 0;
        this.clearStreak[c] = 0;
        continue;
      }
      const d = this.column(c, columns[c]!, threshold);
      let state: DriftAlertTransition['state'] | null = null;
      if (this.alerting[c] === 0) {
        this.raiseStreak[c] = psi >= psiAlert && d.significant ? this.raiseStreak[c]! + 1 : 0;
        if (this.raiseStreak[c]! >= consecutive) state = 'raised';
      } else {
        const stillDrifted = psi >= psiAlert * RECOVERY_FACTOR && d.significant;
        this.clearStreak[c] = stillDrifted ? 0 : this.clearStreak[c]! + 1;
        if (this.clearStreak[c]! >= consecutive) state = 'recovered';
      }
      if (!state) continue;
      this.alerting[c] = state === 'raised' ? 1 : 0;
      this.raiseStreak[c] = 0;
      this.clearStreak[c] = 0;
      transitions.push({ column: d.column, kind: d.kind, psi, psi_noise: d.psi_noise!, p_value: d.p_value, state });
    }
    return transitions;
  }

  isAlerting(column: number): boolean {
    return this.alerting[column] === 1;
  }

  /** Bonferroni: alpha shared by the columns with enough rows, over the looks per window span. */
  private threshold(columns: readonly DriftColumnSnapshot[]): number {
    return this.options.alpha / (Math.max(columns.filter((column) => column.psi !== null).length, 1) * this.window.options.slices);
  }

  private column(c: number, { name, kind, n, psi, counts }: DriftColumnSnapshot, threshold: number): ColumnDrift {
    const base = { column: name, kind, n, alert: this.alerting[c] === 1 };
    if (psi === null) return { ...base, psi, psi_noise: null, p_value: null, significant: false };
    const p = this.referenceRows > 0 ? twoSampleChiSquare(counts, this.proportions[c]!, this.referenceRows).pValue : null;
    return {
      ...base, psi,
      psi_noise: expectedPsiNoise(this.referenceBins[c]!, n, this.referenceRows),
      p_value: p,
      significant: p === null || p < threshold,
    };
  }
}
