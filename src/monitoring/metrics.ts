// The Prometheus registry (prom-client) with the metric names of docs/metrics.md. Counters and the latency
// histogram are updated on the request path through cached label children; everything costly
// (percentiles, PSI, agreement, queue depth) is read from the monitors at scrape time.
import client from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.js';

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
  }>;
  agreements(): Iterable<{ model: string; version: string; shadowVersion: string; ratio: number | null; meanAbsDiff: number | null }>;
  /** Every version a model knows, loaded or not, with its life-cycle state. */
  states(): Iterable<{ model: string; version: string; state: string }>;
}

const VERSION_STATES = ['loading', 'ready', 'draining', 'unavailable'];
const LATENCY_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
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
  // Rare events: prom-client's own types.
  readonly guardrailRollbacks: client.Counter<'model' | 'version' | 'reason'>;
  readonly driftAlerts: client.Counter<'model' | 'version' | 'role' | 'column'>;
  private source: ScrapeSource | null = null;

  constructor(processMetrics = true) {
    const registers = [this.registry];
    if (processMetrics) {
      client.collectDefaultMetrics({ register: this.registry });
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
    this.guardrailRollbacks = new client.Counter({
      name: 'guardrail_rollbacks_total', help: 'Canary versions whose weight a guardrail set to 0.',
      labelNames: ['model', 'version', 'reason'], registers,
    });
    this.driftAlerts = new client.Counter({
      name: 'drift_alerts_total', help: 'PSI alert crossings (raised) per column.',
      labelNames: ['model', 'version', 'role', 'column'], registers,
    });
    this.defineScrapeGauges(registers);
  }

  setSource(source: ScrapeSource): void {
    this.source = source;
  }

  countHttp(route: string, status: number): void {
    this.httpRequests.labels(route, String(status)).inc();
  }

  async exposition(): Promise<string> {
    return this.registry.metrics();
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
        for (const v of metrics.source?.versions() ?? []) {
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
          for (const v of metrics.source?.versions() ?? []) {
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
        for (const v of metrics.source?.versions() ?? []) {
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
        for (const v of metrics.source?.versions() ?? []) {
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
        for (const v of metrics.source?.versions() ?? []) if (v.reference) this.labels(v.model, v.version).set(v.reference.rows);
      },
    });
    driftGauge('feature_drift_psi', 'Population stability index of each input feature over the drift window.', 'feature', 'feature', 'psi');
    driftGauge('feature_drift_ks', 'Approximate Kolmogorov-Smirnov statistic of each input feature (over reference bin edges).', 'feature', 'feature', 'ks');
    driftGauge('prediction_drift_psi', 'Population stability index of each model output over the drift window.', 'output', 'output', 'psi');
    new client.Gauge({
      name: 'drift_alert', help: '1 while a column\'s PSI is over its psi_alert threshold (with hysteresis).',
      labelNames: ['model', 'version', 'role', 'column'], registers,
      collect() {
        this.reset();
        for (const v of metrics.source?.versions() ?? []) {
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
        for (const v of metrics.source?.versions() ?? []) this.labels(v.model, v.version).set(v.queuedRows);
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
  }
}
