// One read of everything the monitors hold, shaped twice: as JSON for /stats and the
// dashboard, and as the scrape-time source of the Prometheus gauges.
import type { BatchScheduler } from '../inference/batcher.js';
import type { ModelRegistry } from './registry.js';
import type { ScrapeSource } from '../monitoring/metrics.js';
import { ROLES } from '../monitoring/version-monitor.js';

export class StatsReporter implements ScrapeSource {
  private readonly startedAt = Date.now();

  constructor(private readonly registry: ModelRegistry, private readonly scheduler: BatchScheduler) {}

  *versions(): ReturnType<ScrapeSource['versions']> {
    for (const model of this.registry.models.values()) {
      for (const version of model.versions.values()) {
        const monitor = version.monitor;
        yield {
          model: model.name,
          version: version.version,
          queuedRows: this.scheduler.queuedRows(version.key, 'live'),
          latency: ROLES.map((role) => ({ role, ...monitor.roles[role].latency.percentiles('window') })),
          drift: ROLES.flatMap((role) =>
            (monitor.roles[role].drift?.snapshot() ?? []).map((d) => ({ role, column: d.name, kind: d.kind, psi: d.psi, ks: d.ks, alert: d.alert }))),
          binCounts: monitor.binCounts(),
          reference: monitor.reference && { rows: monitor.reference.rows, columns: [...monitor.reference.features, ...monitor.reference.outputs] },
        };
      }
    }
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
        shadow_agreement: [...model.agreements.values()].map((t) => ({
          live_version: t.liveVersion, shadow_version: t.shadowVersion, ...t.snapshot(),
          recent_disagreements: t.recentDisagreements().slice(-5),
        })),
      };
    }
    return { uptime_seconds: (Date.now() - this.startedAt) / 1000, models };
  }
}
