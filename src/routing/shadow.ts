/**
 * Shadow mirroring: which live requests are mirrored, and how the shadow's outputs compare with
 * the live ones. Pure accounting; running the shadow (low priority, bounded queue) is the
 * caller's job.
 */
import type { PredictionColumns } from '../inference/predictions.js';

/** Decides per live request whether to mirror it to the shadow version. */
export class ShadowSampler {
  private readonly fraction: number;

  constructor(
    readonly percent: number,
    private readonly random: () => number = Math.random,
  ) {
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`shadow percent must be in [0, 100], got ${percent}`);
    }
    this.fraction = percent / 100;
  }

  shouldMirror(): boolean {
    if (this.fraction >= 1) return true;
    if (this.fraction <= 0) return false;
    return this.random() < this.fraction;
  }
}

export type Label = string | number | boolean;

export interface Disagreement {
  /** Live output (label or value). */
  readonly live: Label;
  readonly shadow: Label;
  /** |live - shadow| for regressions; null for classifications. */
  readonly absDiff: number | null;
  /** Caller's context, e.g. the request id. */
  readonly context: string | undefined;
  /** Sequence number of the comparison (1-based) among all comparisons of this tracker. */
  readonly seq: number;
}

export interface AgreementSnapshot {
  /** Rows compared. */
  readonly compared: number;
  /** Rows where the shadow agreed with live. */
  readonly agreed: number;
  /** agreed / compared; null when nothing was compared yet. */
  readonly ratio: number | null;
  /** Mean |live - shadow| over regression rows with finite values; null when there were none. */
  readonly meanAbsDiff: number | null;
}

/**
 * Agreement between one live version and one shadow version of a model, since creation or the
 * last reset(). Classifiers agree on an equal label; regressors when |Δ| <= tolerance (a
 * non-finite value on either side is a disagreement and is left out of the mean |Δ|). Keeps
 * the last `sampleSize` disagreements in a ring for logging. O(1) per row; allocates only for
 * a disagreement.
 */
export class AgreementTracker {
  private compared = 0;
  private agreed = 0;
  private absDiffSum = 0;
  private absDiffComp = 0; // Neumaier compensation, so long runs stay exact enough
  private absDiffCount = 0;
  private readonly ring: (Disagreement | undefined)[];
  private ringNext = 0;
  private ringSize = 0;
  private disagreementsTotal = 0;

  constructor(
    readonly model: string,
    readonly liveVersion: string,
    readonly shadowVersion: string,
    readonly sampleSize = 20,
  ) {
    if (!Number.isInteger(sampleSize) || sampleSize < 0) throw new RangeError(`sampleSize must be an integer >= 0`);
    this.ring = new Array<Disagreement | undefined>(sampleSize);
  }

  /** Returns whether they agreed. */
  recordClassification(liveLabel: Label, shadowLabel: Label, context?: string): boolean {
    this.compared++;
    if (liveLabel === shadowLabel) {
      this.agreed++;
      return true;
    }
    this.remember(liveLabel, shadowLabel, null, context);
    return false;
  }

  /** Returns whether they agreed (|live - shadow| <= tolerance). */
  recordRegression(liveValue: number, shadowValue: number, tolerance: number, context?: string): boolean {
    this.compared++;
    const d = Math.abs(liveValue - shadowValue);
    if (!Number.isFinite(d)) {
      this.remember(liveValue, shadowValue, null, context);
      return false;
    }
    this.addAbsDiff(d);
    if (d <= tolerance) {
      this.agreed++;
      return true;
    }
    this.remember(liveValue, shadowValue, d, context);
    return false;
  }

  snapshot(): AgreementSnapshot {
    return {
      compared: this.compared,
      agreed: this.agreed,
      ratio: this.compared === 0 ? null : this.agreed / this.compared,
      meanAbsDiff: this.absDiffCount === 0 ? null : (this.absDiffSum + this.absDiffComp) / this.absDiffCount,
    };
  }

  /** Number of disagreements ever recorded (the ring keeps only the last `sampleSize`). */
  get disagreements(): number {
    return this.disagreementsTotal;
  }

  /** The retained disagreements, oldest first. */
  recentDisagreements(): Disagreement[] {
    const out: Disagreement[] = [];
    const n = this.sampleSize;
    for (let i = 0; i < this.ringSize; i++) {
      const d = this.ring[(this.ringNext - this.ringSize + i + n) % n];
      if (d !== undefined) out.push(d);
    }
    return out;
  }

  reset(): void {
    this.compared = 0;
    this.agreed = 0;
    this.absDiffSum = 0;
    this.absDiffComp = 0;
    this.absDiffCount = 0;
    this.ring.fill(undefined);
    this.ringNext = 0;
    this.ringSize = 0;
    this.disagreementsTotal = 0;
  }

  private addAbsDiff(d: number): void {
    const t = this.absDiffSum + d;
    if (Math.abs(this.absDiffSum) >= d) this.absDiffComp += this.absDiffSum - t + d;
    else this.absDiffComp += d - t + this.absDiffSum;
    this.absDiffSum = t;
    this.absDiffCount++;
  }

  private remember(live: Label, shadow: Label, absDiff: number | null, context: string | undefined): void {
    this.disagreementsTotal++;
    const n = this.sampleSize;
    if (n === 0) return;
    this.ring[this.ringNext] = { live, shadow, absDiff, context, seq: this.compared };
    this.ringNext = (this.ringNext + 1) % n;
    if (this.ringSize < n) this.ringSize++;
  }
}

/**
 * Compares a shadow version's answers with the live ones row by row, feeding the agreement
 * tracker and (per row) the caller's guard; a sample of disagreements goes to the log at most
 * once per interval, so a bad canary cannot flood it.
 */
export class ShadowComparator {
  private lastLogAt = -Infinity;

  constructor(
    private readonly log: (fields: Record<string, unknown>) => void,
    private readonly minLogIntervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  compare(
    tracker: AgreementTracker,
    live: PredictionColumns,
    shadow: PredictionColumns,
    rows: number,
    tolerance: number,
    requestId: string,
    onRow?: (agreed: boolean) => void,
  ): void {
    const before = tracker.disagreements;
    for (let r = 0; r < rows; r++) {
      let agreed: boolean;
      if (live.label && shadow.label) agreed = tracker.recordClassification(live.label[r]!, shadow.label[r]!, requestId);
      else if (live.value && shadow.value) agreed = tracker.recordRegression(live.value[r]!, shadow.value[r]!, tolerance, requestId);
      else return; // raw models: nothing comparable
      onRow?.(agreed);
    }
    const now = this.now();
    if (tracker.disagreements > before && now - this.lastLogAt > this.minLogIntervalMs) {
      this.lastLogAt = now;
      this.log({ model: tracker.model, live: tracker.liveVersion, shadow: tracker.shadowVersion, request_id: requestId,
        agreement: tracker.snapshot() });
    }
  }
}
