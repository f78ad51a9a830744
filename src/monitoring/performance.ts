/**
 * Online model performance against ground truth, for one model version × role: labelled rows
 * go into a ring of time slices (the drift window's scheme) and the metrics are computed at
 * read time, each as scikit-learn 1.2 computes it by default:
 *
 * - accuracy = correct / labelled (accuracy_score);
 * - precision, recall, F1 (precision_recall_fscore_support): binary models score the positive
 *   class index 1 (average='binary'); multiclass models average over the classes present in the
 *   labels or the predictions (average='macro'). A 0/0 ratio counts as 0 (zero_division='warn'),
 *   and F1 = 2PR / (P + R), 0 when P + R = 0;
 * - log loss (log_loss on float64 probabilities): each probability clipped to [ε, 1 − ε] with
 *   ε = float64 machine epsilon, the row renormalised, −ln p(true class), averaged;
 * - ROC AUC (roc_auc_score, binary only) from a bounded histogram of P(class 1): pairs in
 *   different bins rank exactly, pairs sharing a bin count ½ (as ties do), so the result is
 *   within `error_bound` = ½ · Σ_bins pos·neg / (P·N) of scikit-learn's;
 * - MAE and RMSE for regressors (mean_absolute_error, mean_squared_error(squared=False)).
 *
 * Storage is fixed at construction (per-class counts, not a C × C matrix, so many classes stay
 * cheap), a label costs O(classes) at most, and reads sum the slices in O(slices × classes).
 * Lifetime counters (never expired, for Prometheus counters that add across replicas) are kept
 * beside the window: labels, correct, the confusion counts by (actual, predicted) and the sums
 * of absolute and squared errors.
 */
import { type Clock, systemClock } from './clock.js';
import { SliceRing } from './time-slices.js';

export type PerformanceTask = 'binary-classification' | 'multiclass-classification' | 'regression';

export interface PerformanceOptions {
  slices: number;
  sliceSeconds: number;
}

/** ε that log_loss uses for float64 probabilities (np.finfo(np.float64).eps). */
export const LOG_LOSS_EPSILON = Number.EPSILON;

/**
 * AUC score histogram: P(class 1) binned uniformly in logit over [−16, 16] (float32
 * probabilities resolve 1 − p only down to 6e-8, logit ≈ 16.6), 0 and 1 in the end bins.
 * Uniform in logit keeps resolution where confident classifiers put most of their scores.
 */
export const AUC_BINS = 1024;
export const AUC_LOGIT_RANGE = 16;

/** Classes a multiclass window accepts (storage is 3 × classes per slice). */
export const MAX_CLASSES = 65_536;

export interface MetricValue {
  /** null when undefined for the labels at hand (no labels; AUC with one class only) */
  value: number | null;
  /** labelled rows the metric is computed from */
  labels: number;
}

export interface AucValue extends MetricValue {
  /** |value − exact AUC| ≤ error_bound (pairs sharing a histogram bin); null with no value */
  error_bound: number | null;
}

// Type aliases (not interfaces) so both read as Record<string, MetricValue> where a metric is looked up by name.
export type ClassificationMetrics = {
  accuracy: MetricValue;
  precision: MetricValue;
  recall: MetricValue;
  f1: MetricValue;
  log_loss: MetricValue;
  auc?: AucValue;
};

export type RegressionMetrics = {
  mae: MetricValue;
  rmse: MetricValue;
};

export interface PerformanceSnapshot {
  /** labelled rows in the window */
  labels: number;
  metrics: ClassificationMetrics | RegressionMetrics;
}

export interface PerformanceTotals {
  labels: number;
  /** classifiers: rows whose predicted class was the true class */
  correct: number;
  /** classifiers: non-zero confusion counts since start */
  confusion: { actual: number; predicted: number; count: number }[];
  /** regressors: Σ |predicted − actual| and Σ (predicted − actual)² since start */
  absError: number;
  squaredError: number;
}

/** Bin of a P(class 1) score in the AUC histogram; monotone in the score. */
export function aucBin(score: number): number {
  if (!(score > 0)) return 0;
  if (score >= 1) return AUC_BINS - 1;
  const z = Math.log(score / (1 - score));
  const bin = Math.floor(((z + AUC_LOGIT_RANGE) / (2 * AUC_LOGIT_RANGE)) * AUC_BINS);
  return bin < 0 ? 0 : bin >= AUC_BINS ? AUC_BINS - 1 : bin;
}

export class PerformanceWindow {
  readonly task: PerformanceTask;
  /** number of classes (classifiers), 0 for regressors */
  readonly classes: number;
  private readonly ring: SliceRing;
  // Per slice (flat, slot-major). Classifiers: per class true positives, predicted and true
  // counts; log-loss sum and rows; binary: AUC histogram, negatives then positives.
  private readonly truePositives: Float64Array;
  private readonly predicted: Float64Array;
  private readonly actual: Float64Array;
  private readonly logLossSum: Float64Array;
  private readonly logLossRows: Float64Array;
  private readonly scores: Uint32Array;
  // Per slice, regressors: rows, Σ|e|, Σe².
  private readonly regressionRows: Float64Array;
  private readonly absSum: Float64Array;
  private readonly squaredSum: Float64Array;
  // Since start.
  private readonly lifetime = { labels: 0, correct: 0, absError: 0, squaredError: 0 };
  /** actual * classes + predicted → count */
  private readonly confusion = new Map<number, number>();
  private readonly expire = (slot: number) => this.clearSlot(slot);

  constructor(task: PerformanceTask, classes: number, options: PerformanceOptions, clock: Clock = systemClock) {
    this.task = task;
    if (task === 'regression') {
      this.classes = 0;
    } else {
      const max = task === 'binary-classification' ? 2 : MAX_CLASSES;
      if (!Number.isInteger(classes) || classes < 2 || classes > max) {
        throw new Error(`performance: ${task} needs ${max === 2 ? 2 : `2..${max}`} classes, got ${classes}`);
      }
      this.classes = classes;
    }
    this.ring = SliceRing.ofSeconds(options.slices, options.sliceSeconds, clock, 'performance');
    const perClass = this.ring.slices * this.classes;
    const classifier = task !== 'regression';
    this.truePositives = new Float64Array(perClass);
    this.predicted = new Float64Array(perClass);
    this.actual = new Float64Array(perClass);
    this.logLossSum = new Float64Array(classifier ? this.ring.slices : 0);
    this.logLossRows = new Float64Array(classifier ? this.ring.slices : 0);
    this.scores = new Uint32Array(task === 'binary-classification' ? this.ring.slices * 2 * AUC_BINS : 0);
    this.regressionRows = new Float64Array(classifier ? 0 : this.ring.slices);
    this.absSum = new Float64Array(classifier ? 0 : this.ring.slices);
    this.squaredSum = new Float64Array(classifier ? 0 : this.ring.slices);
  }

  /**
   * One labelled row of a classifier: the true class, the predicted class, and the predicted
   * probabilities (`classes` values from `offset`), or null when the model gives none. A row
   * whose probabilities are not all finite scores accuracy, precision, recall and F1 only
   * (log_loss and roc_auc_score refuse NaN), so log loss and AUC count their own labels.
   */
  recordClass(actual: number, predicted: number, probabilities: ArrayLike<number> | null = null, offset = 0): void {
    if (this.task === 'regression') throw new Error('performance: recordClass on a regressor');
    const c = this.classes;
    if (!isClass(actual, c)) throw new RangeError(`performance: actual class ${actual} outside 0..${c - 1}`);
    if (!isClass(predicted, c)) throw new RangeError(`performance: predicted class ${predicted} outside 0..${c - 1}`);
    if (probabilities && probabilities.length < offset + c) {
      throw new RangeError(`performance: ${c} probabilities needed from offset ${offset}, got ${probabilities.length}`);
    }
    const slot = this.ring.advance(this.expire);
    const base = slot * c;
    this.predicted[base + predicted]!++;
    this.actual[base + actual]!++;
    if (actual === predicted) {
      this.truePositives[base + actual]!++;
      this.lifetime.correct++;
    }
    this.lifetime.labels++;
    const key = actual * c + predicted;
    this.confusion.set(key, (this.confusion.get(key) ?? 0) + 1);
    if (!probabilities || !allFinite(probabilities, offset, c)) return;
    this.logLossSum[slot]! += logLoss(probabilities, offset, c, actual);
    this.logLossRows[slot]!++;
    if (this.task === 'binary-classification') {
      this.scores[(slot * 2 + actual) * AUC_BINS + aucBin(probabilities[offset + 1]!)]!++;
    }
  }

  /** One labelled row of a regressor. */
  recordValue(actual: number, predicted: number): void {
    if (this.task !== 'regression') throw new Error('performance: recordValue on a classifier');
    if (!Number.isFinite(actual)) throw new RangeError(`performance: actual value ${actual} is not finite`);
    if (!Number.isFinite(predicted)) throw new RangeError(`performance: predicted value ${predicted} is not finite`);
    const slot = this.ring.advance(this.expire);
    const error = predicted - actual;
    this.regressionRows[slot]!++;
    this.absSum[slot]! += Math.abs(error);
    this.squaredSum[slot]! += error * error;
    this.lifetime.labels++;
    this.lifetime.absError += Math.abs(error);
    this.lifetime.squaredError += error * error;
  }

  /** The window's metrics. */
  snapshot(): PerformanceSnapshot {
    this.ring.advance(this.expire);
    return this.task === 'regression' ? this.regressionSnapshot() : this.classificationSnapshot();
  }

  /** Empties the window (a fresh start, e.g. for a canary a guardrail rolled back); lifetime counters stay. */
  clear(): void {
    for (let slot = 0; slot < this.ring.slices; slot++) this.clearSlot(slot);
  }

  /** Counters since start (labels that left the window included). */
  totals(): PerformanceTotals {
    const c = this.classes;
    const confusion = [...this.confusion]
      .map(([key, count]) => ({ actual: Math.floor(key / c), predicted: key % c, count }))
      .sort((a, b) => a.actual - b.actual || a.predicted - b.predicted);
    return { ...this.lifetime, confusion };
  }

  // -- internals ------------------------------------------------------------------------------

  private clearSlot(slot: number): void {
    const c = this.classes;
    this.truePositives.fill(0, slot * c, (slot + 1) * c);
    this.predicted.fill(0, slot * c, (slot + 1) * c);
    this.actual.fill(0, slot * c, (slot + 1) * c);
    if (this.logLossSum.length) {
      this.logLossSum[slot] = 0;
      this.logLossRows[slot] = 0;
    }
    if (this.scores.length) this.scores.fill(0, slot * 2 * AUC_BINS, (slot + 1) * 2 * AUC_BINS);
    if (this.regressionRows.length) {
      this.regressionRows[slot] = 0;
      this.absSum[slot] = 0;
      this.squaredSum[slot] = 0;
    }
  }

  /** Σ over slots of a per-slot array of `width` cells. */
  private sumSlots(array: Float64Array | Uint32Array, width: number): Float64Array {
    const out = new Float64Array(width);
    for (let s = 0; s < this.ring.slices; s++) {
      for (let i = 0; i < width; i++) out[i]! += array[s * width + i]!;
    }
    return out;
  }

  private classificationSnapshot(): PerformanceSnapshot {
    const c = this.classes;
    const tp = this.sumSlots(this.truePositives, c);
    const predicted = this.sumSlots(this.predicted, c);
    const actual = this.sumSlots(this.actual, c);
    let n = 0;
    let correct = 0;
    for (let k = 0; k < c; k++) {
      n += actual[k]!;
      correct += tp[k]!;
    }
    const value = (v: number | null, labels = n): MetricValue => ({ value: labels > 0 ? v : null, labels });
    let precision: number;
    let recall: number;
    let f1: number;
    if (this.task === 'binary-classification') {
      ({ precision, recall, f1 } = classScores(tp[1]!, predicted[1]!, actual[1]!));
    } else {
      // Macro: the classes present in the labels or the predictions, as unique_labels finds them.
      let present = 0;
      precision = recall = f1 = 0;
      for (let k = 0; k < c; k++) {
        if (actual[k] === 0 && predicted[k] === 0) continue;
        const s = classScores(tp[k]!, predicted[k]!, actual[k]!);
        precision += s.precision;
        recall += s.recall;
        f1 += s.f1;
        present++;
      }
      if (present > 0) {
        precision /= present;
        recall /= present;
        f1 /= present;
      }
    }
    const lossRows = sum(this.logLossRows);
    const metrics: ClassificationMetrics = {
      accuracy: value(correct / n),
      precision: value(precision),
      recall: value(recall),
      f1: value(f1),
      log_loss: value(sum(this.logLossSum) / lossRows, lossRows),
    };
    if (this.task === 'binary-classification') metrics.auc = this.auc();
    return { labels: n, metrics };
  }

  /** Mann–Whitney over the histogram: P(score_pos > score_neg) + ½ P(same bin). */
  private auc(): AucValue {
    const hist = this.sumSlots(this.scores, 2 * AUC_BINS);
    let negatives = 0;
    let positives = 0;
    for (let b = 0; b < AUC_BINS; b++) {
      negatives += hist[b]!;
      positives += hist[AUC_BINS + b]!;
    }
    const labels = negatives + positives;
    if (negatives === 0 || positives === 0) return { value: null, labels, error_bound: null };
    let below = 0;
    let wins = 0;
    let shared = 0;
    for (let b = 0; b < AUC_BINS; b++) {
      const neg = hist[b]!;
      const pos = hist[AUC_BINS + b]!;
      wins += pos * (below + neg / 2);
      shared += pos * neg;
      below += neg;
    }
    const pairs = positives * negatives;
    return { value: wins / pairs, labels, error_bound: shared / 2 / pairs };
  }

  private regressionSnapshot(): PerformanceSnapshot {
    const n = sum(this.regressionRows);
    const value = (v: number): MetricValue => ({ value: n > 0 ? v : null, labels: n });
    return {
      labels: n,
      metrics: { mae: value(sum(this.absSum) / n), rmse: value(Math.sqrt(sum(this.squaredSum) / n)) },
    };
  }
}

function isClass(k: number, classes: number): boolean {
  return Number.isInteger(k) && k >= 0 && k < classes;
}

function allFinite(values: ArrayLike<number>, offset: number, length: number): boolean {
  for (let k = 0; k < length; k++) if (!Number.isFinite(values[offset + k]!)) return false;
  return true;
}

function sum(array: Float64Array): number {
  let s = 0;
  for (let i = 0; i < array.length; i++) s += array[i]!;
  return s;
}

/** precision_recall_fscore_support for one class, zero divisions counted as 0. */
function classScores(tp: number, predicted: number, actual: number): { precision: number; recall: number; f1: number } {
  const precision = predicted > 0 ? tp / predicted : 0;
  const recall = actual > 0 ? tp / actual : 0;
  const denominator = precision + recall;
  return { precision, recall, f1: denominator > 0 ? (2 * precision * recall) / denominator : 0 };
}

/** log_loss of one row: clip to [ε, 1 − ε], renormalise, −ln p(actual). */
function logLoss(probabilities: ArrayLike<number>, offset: number, classes: number, actual: number): number {
  const lo = LOG_LOSS_EPSILON;
  const hi = 1 - LOG_LOSS_EPSILON;
  let total = 0;
  let mine = 0;
  for (let k = 0; k < classes; k++) {
    const raw = probabilities[offset + k]!;
    const p = raw < lo ? lo : raw > hi ? hi : raw;
    total += p;
    if (k === actual) mine = p;
  }
  return -Math.log(mine / total);
}
