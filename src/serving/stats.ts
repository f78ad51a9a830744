// One read of everything the monitors hold, shaped twice: as JSON for /stats and the
// dashboard, and as the scrape-time source of the Prometheus gauges.
import type { BatchScheduler } from '../inference/batcher.js';
import type { AlertNotifier } from '../monitoring/alert-notifier.js';
import type { AlertWebhook } from '../monitoring/alert-webhook.js';
import type { ModelRegistry } from './registry.js';
import type { ScrapeSource } from '../monitoring/metrics.js';
import type { PredictionStore } from '../monitoring/prediction-store.js';
import { ROLES } from '../monitoring/role.js';
import type { FeedbackService } from './feedback.js';

/** The ground-truth and alerting parts /stats reports beside the models. */
export interface StatsExtras {
  store: PredictionStore | null;
  feedback: FeedbackService;
  webhook: AlertWebhook;
  notifier: AlertNotifier;
}

export class StatsReporter implements ScrapeSource {
  private readonly startedAt = Date.now();

  constructor(private readonly registry: ModelRegistry, private readonly scheduler: BatchScheduler, private readonly extras: StatsExtras) {}

  *versions(): ReturnType<ScrapeSource['versions']> {
    for (const model of this.registry.models.values()) {
      for (const version of model.versions.values()) {
        const monitor = version.monitor;
        yield {
          model: model.name,
          version: version.version,
          queuedRows: this.scheduler.queuedRows(version.key, 'live'),
          latency: ROLES.map((role) => ({ role, ...monitor.roles[role].latency.percentiles('window') })),
          drift: ROLES.flatMap((role) => monitor.driftColumns(role).map((d) => ({ role, ...d }))),
          binCounts: monitor.binCounts(),
          reference: monitor.reference && { rows: monitor.reference.rows, columns: [...monitor.reference.features, ...monitor.reference.outputs] },
          performance: ROLES.flatMap((role) => {
            const window = monitor.roles[role].performance;
            const performance = monitor.performance(role);
            return window && performance ? [{ role, snapshot: performance, totals: window.totals(), concept: performance.concept }] : [];
          }),
          quality: monitor.quality && { columns: monitor.quality.snapshot().columns, totals: monitor.quality.totals() },
        };
      }
    }
  }

  feedbackStore(): ReturnType<ScrapeSource['feedbackStore']> {
    return this.extras.store?.stats() ?? null;
  }

  webhooks(): ReturnType<ScrapeSource['webhooks']> {
    return this.extras.webhook.stats();
  }

  *states(): ReturnType<ScrapeSource['states']> {
    for (const model of this.registry.models.values()) {
      for (const { version, state } of model.statuses()) yield { model: model.name, version, state };
    }
  }

  *agreements(): ReturnType<ScrapeSource['agreements']> {
    for (const model of this.registry.models.values()) {
      for (const tracker of model.agreements.values()) {
        const snapshot = tracker.snapshot();
        yield { model: model.name, version: tracker.liveVersion, shadowVersion: tracker.shadowVersion, ratio: snapshot.ratio, meanAbsDiff: snapshot.meanAbsDiff };
      }
    }
  }

  /** The /stats document. */
  snapshot(): Record<string, unknown> {
    const queues = this.scheduler.stats();
    const models: Record<string, unknown> = {};
    for (const model of this.registry.models.values()) {
      const versions: Record<string, unknown> = {};
      for (const version of model.versions.values()) {
        const roles: Record<string, unknown> = {};
        for (const role of ROLES) {
          const stats = version.monitor.stats(role);
          if (role === 'shadow' && stats.requests === 0 && !Object.keys(stats.errors).length) continue;
          const queue = queues.find((q) => q.key === version.key && q.role === role);
          roles[role] = {
            ...stats,
            batching: queue
              ? { queued_rows: queue.queuedRows, queued_requests: queue.queuedRequests, inflight_batches: queue.inflightBatches,
                  batches: queue.batches, mean_batch_rows: queue.meanBatchRows }
              : null,
          };
        }
        versions[version.version] = {
          state: version.state,
          batchable: version.target.batchable,
          max_batch_size: version.target.maxBatchSize,
          roles,
          data_quality: version.monitor.quality?.snapshot() ?? null,
          guardrail: model.guard?.stats(version.version) ?? null,
        };
      }
      models[model.name] = {
        ready: model.ready,
        task: model.task,
        traffic: model.traffic?.get() ?? null,
        errors: model.errors,
        states: Object.fromEntries(model.statuses().map(({ version, state, reason }) => [version, { state, reason }])),
        versions,
        feedback: this.extras.feedback.counts(model.name),
        shadow_agreement: [...model.agreements.values()].map((t) => ({
          live_version: t.liveVersion, shadow_version: t.shadowVersion, ...t.snapshot(),
          recent_disagreements: t.recentDisagreements().slice(-5),
        })),
      };
    }
    return {
      uptime_seconds: (Date.now() - this.startedAt) / 1000,
      models,
      alerts: this.extras.notifier.active().map((a) => ({ name: a.name, labels: a.labels, starts_at: new Date(a.startsAt).toISOString() })),
      feedback_store: this.extras.store ? { ...this.extras.store.stats(), max_rows: this.extras.store.options.maxRows, ttl_seconds: this.extras.store.options.ttlSeconds } : null,
      alert_webhooks: this.extras.webhook.stats(),
    };
  }
}
