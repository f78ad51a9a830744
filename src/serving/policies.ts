// Periodic policy over the served models, run by the gateway's timers: canary guardrails that
// set a tripped canary's weight to 0, and the alert sweep (data drift, concept drift, data
// quality). Every alert is logged once per transition, counted, and sent firing and resolved
// to the alert webhooks. All of it acts on what the monitors and guards recorded on the
// request path.
import type { Logger } from 'pino';
import type { AlertName, AlertNotifier } from '../monitoring/alert-notifier.js';
import type { Metrics } from '../monitoring/metrics.js';
import { rolesOf } from '../routing/traffic.js';
import type { ModelRegistry } from './registry.js';
import type { ServedModel } from './served-model.js';

const fixed = (x: number | null, digits = 4) => (x === null ? 'n/a' : x.toFixed(digits));

/** A monitor's alert changing state, as the sweep reports it. */
interface AlertTransition {
  raised: boolean;
  /** the log message's subject: "<what> raised" / "<what> recovered" */
  what: string;
  alert: AlertName;
  /** counts the alert in its metric (only when raised) */
  count: () => void;
  /** the log line's fields */
  fields: Record<string, unknown>;
  /** the webhook alert's labels (model and severity are added) */
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export class Policies {
  /** canaries a guardrail set to weight 0, until they serve again (then the alert resolves) */
  private readonly rolledBack = new Map<string, { model: string; version: string; reason: string }>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly notifier: AlertNotifier,
  ) {}

  /**
   * Sets the weight of every canary whose guardrail tripped to 0, logging, counting and
   * alerting it; resolves the alert of a rolled-back canary once it has weight again (or is gone).
   */
  enforceGuardrails(): void {
    for (const model of this.registry.models.values()) {
      const guard = model.guard;
      const traffic = model.traffic;
      if (!guard || !traffic) continue;
      const { primary, canaries } = rolesOf(traffic.get());
      const accuracyOf = (version: string) => {
        const performance = model.versions.get(version)?.monitor.performance('live');
        return performance && 'accuracy' in performance.metrics ? performance.metrics.accuracy : null;
      };
      for (const trip of guard.evaluate(primary, canaries, accuracyOf)) {
        if (!traffic.isLive(trip.version)) continue;
        traffic.setWeight(trip.version, 0);
        guard.reset(trip.version);
        // A fresh start if it is enabled again: the labels that condemned it do not count twice.
        if (trip.reason === 'accuracy') model.versions.get(trip.version)?.monitor.roles.live.performance?.clear();
        this.metrics.guardrailRollbacks.labels(model.name, trip.version, trip.reason).inc();
        this.logger.warn({ model: model.name, version: trip.version, reason: trip.reason, value: trip.value,
          threshold: trip.threshold, samples: trip.samples, traffic: traffic.get() }, 'guardrail tripped: canary weight set to 0');
        this.rolledBack.set(`${model.name}\u0000${trip.version}`, { model: model.name, version: trip.version, reason: trip.reason });
        this.notify(model, 'VigilGuardrailRollback', 'firing', { version: trip.version, reason: trip.reason }, {
          summary: `${model.name} v${trip.version}: guardrail ${trip.reason} tripped, canary weight set to 0`,
          value: String(trip.value), threshold: String(trip.threshold), samples: String(trip.samples),
        });
      }
    }
    for (const [key, { model: name, version, reason }] of this.rolledBack) {
      const model = this.registry.get(name);
      const weight = model?.traffic?.get().weights[version];
      if (model && model.versions.has(version) && !(weight! > 0)) continue;
      this.rolledBack.delete(key);
      if (model) {
        this.notify(model, 'VigilGuardrailRollback', 'resolved', { version, reason }, {
          summary: `${name} v${version} ${model.versions.has(version) ? 'serves again' : 'is unloaded'}`,
        });
      }
    }
  }

  /** One sweep of every alert: data drift, concept drift, data quality. */
  sweepAlerts(): void {
    for (const model of this.registry.models.values()) {
      for (const version of model.versions.values()) {
        const monitor = version.monitor;
        const v = version.version;
        for (const { role, alert } of monitor.checkDriftAlerts()) {
          this.report(model, {
            raised: alert.state === 'raised', what: 'drift alert', alert: 'VigilDataDrift',
            count: () => this.metrics.driftAlerts.labels(model.name, v, role, alert.column).inc(),
            fields: { model: model.name, version: v, role, [alert.kind]: alert.column, psi: alert.psi, psi_noise: alert.psi_noise, p_value: alert.p_value },
            labels: { version: v, role, column: alert.column, kind: alert.kind },
            annotations: {
              summary: `${model.name} v${v} (${role}) ${alert.kind} ${alert.column}: PSI ${fixed(alert.psi)} (noise ${fixed(alert.psi_noise)}), p ${alert.p_value === null ? 'n/a' : alert.p_value.toExponential(2)}`,
              psi: String(alert.psi), psi_noise: String(alert.psi_noise), p_value: String(alert.p_value),
            },
          });
        }
        for (const { role, alert } of monitor.checkConceptDrift()) {
          this.report(model, {
            raised: alert.state === 'raised', what: 'concept drift alert', alert: 'VigilConceptDrift',
            count: () => this.metrics.performanceAlerts.labels(model.name, v, role, alert.metric).inc(),
            fields: { model: model.name, version: v, role, metric: alert.metric, value: alert.value, reference: alert.reference,
              threshold: alert.threshold, labels: alert.labels },
            labels: { version: v, role, metric: alert.metric },
            annotations: {
              summary: `${model.name} v${v} (${role}) ${alert.metric} ${fixed(alert.value)} on ${alert.labels} labels; reference ${fixed(alert.reference)}, alert past ${fixed(alert.threshold)}`,
              value: String(alert.value), reference: String(alert.reference), threshold: String(alert.threshold), labels: String(alert.labels),
            },
          });
        }
        for (const alert of monitor.checkDataQuality()) {
          this.report(model, {
            raised: alert.state === 'raised', what: 'data quality alert', alert: 'VigilDataQuality',
            count: () => this.metrics.dataQualityAlerts.labels(model.name, v, alert.column, alert.kind).inc(),
            fields: { model: model.name, version: v, column: alert.column, kind: alert.kind, rate: alert.rate, threshold: alert.threshold, rows: alert.rows },
            labels: { version: v, column: alert.column, kind: alert.kind },
            annotations: {
              summary: `${model.name} v${v} ${alert.column}: ${alert.kind.replace(/_/g, ' ')} rate ${fixed(alert.rate)} over ${alert.rows} rows (threshold ${alert.threshold})`,
              rate: String(alert.rate), threshold: String(alert.threshold), rows: String(alert.rows),
            },
          });
        }
      }
    }
  }

  /** One alert transition: counted when raised, logged (warn raised, info recovered), sent to the webhooks. */
  private report(model: ServedModel, transition: AlertTransition): void {
    const { raised, what, fields } = transition;
    if (raised) {
      transition.count();
      this.logger.warn(fields, `${what} raised`);
    } else {
      this.logger.info(fields, `${what} recovered`);
    }
    this.notify(model, transition.alert, raised ? 'firing' : 'resolved', transition.labels, transition.annotations);
  }

  private notify(model: ServedModel, name: AlertName, status: 'firing' | 'resolved', labels: Record<string, string>, annotations: Record<string, string>): void {
    this.notifier.notify(name, status, { model: model.name, ...labels, severity: name === 'VigilGuardrailRollback' ? 'critical' : 'warning' },
      annotations, model.config?.alerts?.webhooks ?? []);
  }
}
