// Periodic policy over the served models, run by the gateway's timers: canary guardrails that
// set a tripped canary's weight to 0, and the drift-alert sweep that raises and recovers PSI
// alerts. Both act on what the monitors and guards have recorded on the request path.
import type { Logger } from 'pino';
import type { Metrics } from '../monitoring/metrics.js';
import { rolesOf } from '../routing/traffic.js';
import type { ModelRegistry } from './registry.js';

/** Sets the weight of every canary whose guardrail tripped to 0, logging and counting it. */
export function enforceGuardrails(registry: ModelRegistry, metrics: Metrics, logger: Logger): void {
  for (const model of registry.models.values()) {
    const guard = model.guard;
    const traffic = model.traffic;
    if (!guard || !traffic) continue;
    const { primary, canaries } = rolesOf(traffic.get());
    for (const trip of guard.evaluate(primary, canaries)) {
      if (!traffic.isLive(trip.version)) continue;
      traffic.setWeight(trip.version, 0);
      guard.reset(trip.version);
      metrics.guardrailRollbacks.labels(model.name, trip.version, trip.reason).inc();
      logger.warn({ model: model.name, version: trip.version, reason: trip.reason, value: trip.value,
        threshold: trip.threshold, samples: trip.samples, traffic: traffic.get() }, 'guardrail tripped: canary weight set to 0');
    }
  }
}

/** Raises and recovers drift alerts (with hysteresis), logging each transition once. */
export function sweepDriftAlerts(registry: ModelRegistry, metrics: Metrics, logger: Logger): void {
  for (const model of registry.models.values()) {
    for (const version of model.versions.values()) {
      for (const { role, alert } of version.monitor.checkAlerts()) {
        const fields = { model: model.name, version: version.version, role, [alert.kind]: alert.column, psi: alert.psi };
        if (alert.state === 'raised') {
          metrics.driftAlerts.labels(model.name, version.version, role, alert.column).inc();
          logger.warn(fields, 'drift alert raised');
        } else {
          logger.info(fields, 'drift alert recovered');
        }
      }
    }
  }
}
