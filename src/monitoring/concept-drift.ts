/**
 * Concept drift: a model getting worse against ground truth, judged per metric against the
 * held-out performance reference.json records. A metric alerts once its window value is worse
 * than the reference by more than `margin` (relative: accuracy 0.98 with margin 0.05 alerts
 * below 0.931; RMSE 53.8 with margin 0.2 above 64.6) with at least `min_labels` labels, and
 * recovers once it is back within half the margin (hysteresis, so a value on the line does not
 * flap). With too few labels a metric keeps its state: no evidence either way.
 */
import type { MetricName, PerformanceConfig } from '../config/model-config.js';
import type { MetricValue } from './performance.js';

/** Metrics where lower is better; the others are scores where higher is better. */
const ERRORS: ReadonlySet<string> = new Set(['log_loss', 'mae', 'rmse']);

export const DEFAULT_PERFORMANCE_CONFIG = {
  classifier: { min_labels: 200, margin: 0.05, metrics: ['accuracy'] },
  regressor: { min_labels: 200, margin: 0.2, metrics: ['rmse'] },
} as const satisfies Record<string, PerformanceConfig>;

export interface ConceptDriftTransition {
  metric: MetricName;
  value: number;
  reference: number;
  /** the value at which the alert fires */
  threshold: number;
  labels: number;
  state: 'raised' | 'recovered';
}

export interface ConceptDriftState {
  metric: MetricName;
  reference: number;
  threshold: number;
  alert: boolean;
}

/** Value past which `metric` is worse than `reference` by more than `margin` (relative). */
export function alertThreshold(metric: string, reference: number, margin: number): number {
  return ERRORS.has(metric) ? reference * (1 + margin) : reference * (1 - margin);
}

function worse(metric: string, value: number, than: number): boolean {
  return ERRORS.has(metric) ? value > than : value < than;
}

export class ConceptDriftPolicy {
  /** watched metrics that have a reference value */
  private readonly watched: { metric: MetricName; reference: number; threshold: number; recovery: number }[];
  private readonly alerting = new Set<MetricName>();

  constructor(reference: Readonly<Record<string, number>>, readonly config: Readonly<PerformanceConfig>) {
    this.watched = config.metrics
      .filter((metric) => reference[metric] !== undefined)
      .map((metric) => ({
        metric,
        reference: reference[metric]!,
        threshold: alertThreshold(metric, reference[metric]!, config.margin),
        recovery: alertThreshold(metric, reference[metric]!, config.margin / 2),
      }));
  }

  /** Judges the window's metrics; returns the alert transitions. */
  evaluate(metrics: Readonly<Record<string, MetricValue | undefined>>): ConceptDriftTransition[] {
    const transitions: ConceptDriftTransition[] = [];
    for (const { metric, reference, threshold, recovery } of this.watched) {
      const m = metrics[metric];
      if (!m || m.value === null || m.labels < this.config.min_labels) continue;
      const base = { metric, value: m.value, reference, threshold, labels: m.labels };
      if (!this.alerting.has(metric) && worse(metric, m.value, threshold)) {
        this.alerting.add(metric);
        transitions.push({ ...base, state: 'raised' });
      } else if (this.alerting.has(metric) && !worse(metric, m.value, recovery)) {
        this.alerting.delete(metric);
        transitions.push({ ...base, state: 'recovered' });
      }
    }
    return transitions;
  }

  states(): ConceptDriftState[] {
    return this.watched.map(({ metric, reference, threshold }) => ({ metric, reference, threshold, alert: this.alerting.has(metric) }));
  }
}
