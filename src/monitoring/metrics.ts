// The Prometheus registry (prom-client) with the metric names of docs/metrics.md. Counters and the latency
// histogram are updated on the request path through cached label children; everything costly
// (percentiles, PSI, agreement, queue depth) is read from the monitors at scrape time.
import client from 'prom-client';
import type { ReceiverStats } from './alert-webhook.js';
import type { ConceptDriftState } from './concept-drift.js';
import type { ColumnQuality } from './data-quality.js';
import { FastCounter, FastHistogram, type CounterSeries } from './fast-metrics.js';
import type { PerformanceSnapshot, PerformanceTotals } from './performance.js';
import type { PredictionStoreStats } from './prediction-store.js';

type ScrapedVersion = ReturnType<ScrapeSource['versions']> extends Iterable<infer V> ? V : never;

/** What the registry reads at scrape time; the gateway provides it. */
export interface ScrapeSource {
  versions(): Iterable<{
    model: string;
    version: string;
    queuedRows: number;
    latency: Iterable<{ role: string; p50: number; p90: number; p99: number; p999: number; count: number; mean: number }>;
    drift: Iterable<{ role: string; column: string; kind: 'feature' | 'output'; psi: number | null; ks: number | null; alert: boolean }>;
    /** Per drift column and role, rows counted in each reference bin since the version loaded. */
    binCounts: Iterable<{ role: string; column: string; counts: ArrayLike<number> }>;
    /** The reference the bins belong to (null without reference.json). */
    reference: { rows: number; columns: readonly { name: string; proportions: readonly number[] }[] } | null;
    /** Per role of a scored version: window metrics, counters since start, concept-drift state. */
    performance: Iterable<{ role: string; snapshot: PerformanceSnapshot; totals: PerformanceTotals; concept: readonly ConceptDriftState[] }>;
    /** Live data quality: window rates and alerts, counts since start (null without named features). */
    quality: { columns: readonly ColumnQuality[]; totals: readonly { column: string; below: number; above: number; missing: number }[] } | null;
  }>;
  /** The feedback join store (null when off). */
  feedbackStore(): PredictionStoreStats | null;
  /** Alert webhook delivery counts per receiver. */
  webhooks(): Iterable<ReceiverStats>;
  agreements(): Iterable<{ model: string; version: string; shadowVersion: string; ratio: number | null; meanAbsDiff: number | null }>;
  /** Every version a model knows, loaded or not, with its life-cycle state. */
  states(): Iterable<{ model: string; version: string; state: string }>;
}

const VERSION_STATES = ['loading', 'ready', 'draining', 'unavailable'];
const LATENCY_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/** How often the event-loop delay metrics (nodejs_eventloop_lag_*) take a sample. */
const EVENT_LOOP_SAMPLE_MS = 100;
/** "0".."63": bin labels without a string conversion per bin per scrape. */
const BIN_LABELS = Array.from({ length: 64 }, (_, i) => String(i));

export class Metrics {
  readonly registry = new client.Registry();
  // Updated per request or per batch: plain-number series, rendered at scrape.
  readonly predictions: FastCounter;
  readonly errors: FastCounter;
  readonly latency: FastHistogram;
  readonly batchSize: FastHistogram;
  readonly httpRequests: FastCounter;
  readonly shadowDropped: FastCounter;
  readonly feedback: FastCounter;
  readonly rejections: FastCounter;
  // Rare events: prom-client's own types.
  readonly guardrailRollbacks: client.Counter<'model' | 'version' | 'reason'>;
  readonly driftAlerts: client.Counter<'model' | 'version' | 'role' | 'column'>;
  readonly performanceAlerts: client.Counter<'model' | 'version' | 'role' | 'metric'>;
  readonly dataQualityAlerts: client.Counter<'model' | 'version' | 'column' | 'kind'>;
  private source: ScrapeSource | null = null;
  private snapshot: ScrapedVersion[] | null = null;
  /** http_requests_total's series by route and status, found without building a label key per request. */
  private readonly httpSeries = new Map<string, Map<number, CounterSeries>>();

  constructor(processMetrics = true) {
    const registers = [this.registry];
    if (processMetrics) {
      // The event-loop delay histogram samples every 100 ms instead of prom-client's 10: its
      // timer would otherwise wake an idle server a hundred times a second.
      client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
      // prom-client names these gauges *_total, which promtool rejects for non-counters.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
    }
    const registry = this.registry;
    this.predictions = new FastCounter({
      name: 'model_predictions_total', help: 'Rows predicted, by model version and role (live or shadow).',
      labelNames: ['model', 'version', 'role'], registry,
    });
    this.errors = new FastCounter({
      name: 'model_prediction_errors_total', help: 'Failed prediction requests by model version and error type.',
      labelNames: ['model', 'version', 'error_type'], registry,
    });
    this.latency = new FastHistogram({
      name: 'model_prediction_latency_seconds', help: 'End-to-end prediction latency (request admitted to outputs decoded).',
      labelNames: ['model', 'version', 'role'], buckets: LATENCY_BUCKETS, registry,
    });
    this.batchSize = new FastHistogram({
      name: 'inference_batch_size', help: 'Rows per ORT batch sent to the worker pool.',
      labelNames: ['model', 'version'], buckets: BATCH_BUCKETS, registry,
    });
    this.httpRequests = new FastCounter({
      name: 'http_requests_total', help: 'HTTP requests answered, by route pattern and status.',
      labelNames: ['route', 'status'], registry,
    });
    this.shadowDropped = new FastCounter({
      name: 'shadow_requests_dropped_total', help: 'Mirrored requests dropped rather than delay live traffic.',
      labelNames: ['model', 'version', 'reason'], registry,
    });
    this.feedback = new FastCounter({
      name: 'model_feedback_total', help: 'Ground-truth labels received by POST /feedback, by outcome (matched, unknown, duplicate, invalid).',
      labelNames: ['model', 'outcome'], registry,
    });
    this.rejections = new FastCounter({
      name: 'request_rejections_total', help: 'Prediction requests refused as invalid, by feature (declared names, else other) and reason.',
      labelNames: ['model', 'field', 'reason'], registry,
    });
    this.guardrailRollbacks = new client.Counter({
      name: 'guardrail_rollbacks_total', help: 'Canary versions whose weight a guardrail set to 0.',
      labelNames: ['model', 'version', 'reason'], registers,
    });
    this.driftAlerts = new client.Counter({
      name: 'drift_alerts_total', help: 'Drift alerts raised (PSI over psi_alert and significant) per column.',
      labelNames: ['model', 'version', 'role', 'column'], registers,
    });
    this.performanceAlerts = new client.Counter({
      name: 'performance_alerts_total', help: 'Concept-drift alerts raised: a metric worse than its reference by more than the margin.',
      labelNames: ['model', 'version', 'role', 'metric'], registers,
    });
    this.dataQualityAlerts = new client.Counter({
      name: 'data_quality_alerts_total', help: 'Data quality alerts raised: out-of-range or missing rate over its threshold.',
      labelNames: ['model', 'version', 'column', 'kind'], registers,
    });
    this.defineScrapeGauges(registers);
  }

  setSource(source: ScrapeSource): void {
    this.source = source;
  }

  countHttp(route: string, status: number): void {
    let byStatus = this.httpSeries.get(route);
    if (!byStatus) {
      byStatus = new Map();
      this.httpSeries.set(route, byStatus);
    }
    let series = byStatus.get(status);
    if (!series) {
      series = this.httpRequests.labels(route, String(status));
      byStatus.set(status, series);
    }
    series.inc();
  }

  async exposition(): Promise<string> {
    // Every scraped metric reads the versions: take their snapshot (percentiles, drift tests,
    // performance) once per scrape, not once per metric.
    this.snapshot = this.source ? [...this.source.versions()].map((v) => ({ ...v, binCounts: [...v.binCounts] })) : null;
    try {
      return await this.registry.metrics();
    } finally {
      this.snapshot = null;
    }
  }

  /** The versions as this scrape sees them (read fresh outside a scrape). */
  private scrapedVersions(): Iterable<ScrapedVersion> {
    return this.snapshot ?? this.source?.versions() ?? [];
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private defineScrapeGauges(registers: client.Registry[]): void {
    const metrics = this;
    // Percentiles come from the HDR windows, not from prom-client: exposed as a summary (the
    // type Prometheus expects for a `quantile` label), with the window's count and sum.
    const percentileSummary = {
      name: 'model_latency_percentile_seconds',
      help: 'Latency percentiles over the recent HDR window (default 60 s).',
      type: 'summary',
      aggregator: 'omit',
      get() {
        const values: { labels: Record<string, string>; value: number; metricName?: string }[] = [];
        for (const v of metrics.scrapedVersions()) {
          for (const l of v.latency) {
            if (!l.count) continue;
            const labels = { model: v.model, version: v.version, role: l.role };
            const quantiles: [string, number][] = [['0.5', l.p50], ['0.9', l.p90], ['0.99', l.p99], ['0.999', l.p999]];
            for (const [quantile, micros] of quantiles) values.push({ labels: { ...labels, quantile }, value: micros / 1e6 });
            values.push({ metricName: 'model_latency_percentile_seconds_sum', labels, value: (l.mean * l.count) / 1e6 });
            values.push({ metricName: 'model_latency_percentile_seconds_count', labels, value: l.count });
          }
        }
        return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
      },
    };
    this.registry.registerMetric(percentileSummary as never);
    const driftGauge = (name: string, help: string, kind: 'feature' | 'output', label: 'feature' | 'output', field: 'psi' | 'ks') =>
      new client.Gauge({
        name, help, labelNames: ['model', 'version', label, 'role'], registers,
        collect() {
          this.reset();
          for (const v of metrics.scrapedVersions()) {
            for (const d of v.drift) {
              const value = d[field];
              if (d.kind === kind && value !== null) this.labels(v.model, v.version, d.column, d.role).set(value);
            }
          }
        },
      });
    // Fleet drift: per-bin counters Prometheus can add across replicas, and the reference they
    // are compared with (deploy/prometheus/rules.yml computes the fleet PSI from these).
    const binCounter = {
      name: 'feature_bin_count_total',
      help: 'Rows counted in each reference bin of each drift column (feature or output) since the version loaded.',
      type: 'counter',
      aggregator: 'sum',
      get() {
        const values: { labels: Record<string, string>; value: number }[] = [];
        for (const v of metrics.scrapedVersions()) {
          for (const { role, column, counts } of v.binCounts) {
            for (let bin = 0; bin < counts.length; bin++) {
              values.push({ labels: { model: v.model, version: v.version, role, column, bin: BIN_LABELS[bin] ?? String(bin) }, value: counts[bin]! });
            }
          }
        }
        return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
      },
    };
    this.registry.registerMetric(binCounter as never);
    new client.Gauge({
      name: 'feature_reference_proportion', help: 'Training proportion of each reference bin of each drift column (reference.json).',
      labelNames: ['model', 'version', 'column', 'bin'], registers,
      collect() {
        this.reset();
        for (const v of metrics.scrapedVersions()) {
          for (const column of v.reference?.columns ?? []) {
            column.proportions.forEach((p, bin) => this.labels(v.model, v.version, column.name, BIN_LABELS[bin] ?? String(bin)).set(p));
          }
        }
      },
    });
    new client.Gauge({
      name: 'feature_reference_rows', help: 'Rows the reference distribution of a version was computed from (reference.json rows).',
      labelNames: ['model', 'version'], registers,
      collect() {
        this.reset();
        for (const v of metrics.scrapedVersions()) if (v.reference) this.labels(v.model, v.version).set(v.reference.rows);
      },
    });
    driftGauge('feature_drift_psi', 'Population stability index of each input feature over the drift window.', 'feature', 'feature', 'psi');
    driftGauge('feature_drift_ks', 'Approximate Kolmogorov-Smirnov statistic of each input feature (over reference bin edges).', 'feature', 'feature', 'ks');
    driftGauge('prediction_drift_psi', 'Population stability index of each model output over the drift window.', 'output', 'output', 'psi');
    new client.Gauge({
      name: 'drift_alert', help: '1 while a column\'s drift alert is raised (PSI over psi_alert and significant; docs/drift.md).',
      labelNames: ['model', 'version', 'role', 'column'], registers,
      collect() {
        this.reset();
        for (const v of metrics.scrapedVersions()) {
          for (const d of v.drift) if (d.psi !== null) this.labels(v.model, v.version, d.role, d.column).set(d.alert ? 1 : 0);
        }
      },
    });
    new client.Gauge({
      name: 'shadow_agreement_ratio', help: 'Share of mirrored rows where the shadow version agreed with the live answer.',
      labelNames: ['model', 'version', 'shadow_version'], registers,
      collect() {
        this.reset();
        for (const a of metrics.source?.agreements() ?? []) {
          if (a.ratio !== null) this.labels(a.model, a.version, a.shadowVersion).set(a.ratio);
        }
      },
    });
    new client.Gauge({
      name: 'inference_queue_rows', help: 'Rows waiting in the batcher queue of a model version.',
      labelNames: ['model', 'version'], registers,
      collect() {
        this.reset();
        for (const v of metrics.scrapedVersions()) this.labels(v.model, v.version).set(v.queuedRows);
      },
    });
    new client.Gauge({
      name: 'model_ready', help: '1 when a model version is loaded and serving; 0 while loading, draining or unavailable.',
      labelNames: ['model', 'version'], registers,
      collect() {
        this.reset();
        for (const v of metrics.source?.states() ?? []) this.labels(v.model, v.version).set(v.state === 'ready' ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'model_version_state', help: 'Life-cycle state of each model version: 1 for its current state (loading, ready, draining, unavailable).',
      labelNames: ['model', 'version', 'state'], registers,
      collect() {
        this.reset();
        for (const v of metrics.source?.states() ?? []) {
          for (const state of VERSION_STATES) this.labels(v.model, v.version, state).set(v.state === state ? 1 : 0);
        }
      },
    });
    this.defineGroundTruthMetrics();
  }

  /** Performance, feedback, data quality and alert delivery, read from the monitors at scrape. */
  private defineGroundTruthMetrics(): void {
    const source = () => this.source;
    const versions = () => this.scrapedVersions();
    const scraped = (name: string, help: string, type: 'counter' | 'gauge', labelNames: readonly string[],
      read: (push: (labels: readonly string[], value: number) => void) => void) => {
      this.registry.registerMetric({
        name, help, type, aggregator: 'sum',
        get() {
          const values: { labels: Record<string, string>; value: number }[] = [];
          read((labels, value) => values.push({ labels: Object.fromEntries(labelNames.map((l, i) => [l, labels[i]!])), value }));
          return { name, help, type, values, aggregator: 'sum' };
        },
      } as never);
    };
    const scored = function* () {
      for (const v of versions()) for (const p of v.performance) yield { v, p };
    };
    scraped('model_performance', 'Online performance over the window against ground truth (accuracy, precision, recall, f1, log_loss, auc; mae, rmse), as scikit-learn computes it.',
      'gauge', ['model', 'version', 'role', 'metric'], (push) => {
        for (const { v, p } of scored()) {
          for (const [metric, m] of Object.entries(p.snapshot.metrics)) if (m.value !== null) push([v.model, v.version, p.role, metric], m.value);
        }
      });
    scraped('model_performance_labels', 'Labels behind each model_performance value (the window).', 'gauge', ['model', 'version', 'role', 'metric'], (push) => {
      for (const { v, p } of scored()) for (const [metric, m] of Object.entries(p.snapshot.metrics)) push([v.model, v.version, p.role, metric], m.labels);
    });
    scraped('performance_alert', '1 while a concept-drift alert is raised for the metric (worse than its reference by more than the margin).',
      'gauge', ['model', 'version', 'role', 'metric'], (push) => {
        for (const { v, p } of scored()) for (const c of p.concept) push([v.model, v.version, p.role, c.metric], c.alert ? 1 : 0);
      });
    scraped('model_feedback_labels_total', 'Labels scored since the version loaded (add across replicas).', 'counter', ['model', 'version', 'role'], (push) => {
      for (const { v, p } of scored()) push([v.model, v.version, p.role], p.totals.labels);
    });
    scraped('model_feedback_correct_total', 'Classifier labels whose predicted class was right, since the version loaded.', 'counter', ['model', 'version', 'role'], (push) => {
      for (const { v, p } of scored()) if ('accuracy' in p.snapshot.metrics) push([v.model, v.version, p.role], p.totals.correct);
    });
    scraped('model_confusion_total', 'Classifier labels by predicted and actual class index, since the version loaded.', 'counter',
      ['model', 'version', 'role', 'predicted', 'actual'], (push) => {
        for (const { v, p } of scored()) for (const c of p.totals.confusion) push([v.model, v.version, p.role, String(c.predicted), String(c.actual)], c.count);
      });
    scraped('model_feedback_abs_error_total', 'Regressor labels: sum of |predicted - actual| since the version loaded.', 'counter', ['model', 'version', 'role'], (push) => {
      for (const { v, p } of scored()) if ('mae' in p.snapshot.metrics) push([v.model, v.version, p.role], p.totals.absError);
    });
    scraped('model_feedback_squared_error_total', 'Regressor labels: sum of (predicted - actual)^2 since the version loaded.', 'counter', ['model', 'version', 'role'], (push) => {
      for (const { v, p } of scored()) if ('mae' in p.snapshot.metrics) push([v.model, v.version, p.role], p.totals.squaredError);
    });
    scraped('feature_out_of_range_total', 'Live feature values below or above the training range (reference.json min and max).', 'counter',
      ['model', 'version', 'column', 'side'], (push) => {
        for (const v of versions()) {
          for (const t of v.quality?.totals ?? []) {
            push([v.model, v.version, t.column, 'below'], t.below);
            push([v.model, v.version, t.column, 'above'], t.above);
          }
        }
      });
    scraped('feature_missing_total', 'Live feature values absent or null, filled by the feature\'s missing policy.', 'counter', ['model', 'version', 'column'], (push) => {
      for (const v of versions()) for (const t of v.quality?.totals ?? []) push([v.model, v.version, t.column], t.missing);
    });
    scraped('data_quality_alert', '1 while a feature\'s out-of-range or missing rate over the window is over its threshold.', 'gauge',
      ['model', 'version', 'column', 'kind'], (push) => {
        for (const v of versions()) {
          for (const c of v.quality?.columns ?? []) {
            for (const kind of ['out_of_range', 'missing'] as const) push([v.model, v.version, c.column, kind], c.alerts.includes(kind) ? 1 : 0);
          }
        }
      });
    scraped('feedback_store_rows', 'Prediction rows waiting in the feedback join store.', 'gauge', [], (push) => {
      const store = source()?.feedbackStore();
      if (store) push([], store.rows);
    });
    scraped('feedback_store_evictions_total', 'Predictions dropped from the feedback join store before a label came: capacity (oldest first) or ttl.', 'counter',
      ['reason'], (push) => {
        const store = source()?.feedbackStore();
        if (store) {
          push(['capacity'], store.evicted);
          push(['ttl'], store.expired);
        }
      });
    scraped('alert_webhook_notifications_total', 'Alert notifications per webhook receiver: delivered, failed (attempts exhausted or refused) or dropped (queue full).',
      'counter', ['receiver', 'outcome'], (push) => {
        for (const r of source()?.webhooks() ?? []) {
          push([r.receiver, 'delivered'], r.delivered);
          push([r.receiver, 'failed'], r.failed);
          push([r.receiver, 'dropped'], r.dropped);
        }
      });
    scraped('alert_webhook_failed_attempts_total', 'Failed delivery attempts per webhook receiver (each retried with backoff until max attempts).', 'counter',
      ['receiver'], (push) => {
        for (const r of source()?.webhooks() ?? []) push([r.receiver], r.failedAttempts);
      });
  }
}