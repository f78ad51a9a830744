/**
 * Turns Vigil's alert transitions into Alertmanager-format notifications: remembers when each
 * alert started firing (so its resolved notification carries the same startsAt and identity),
 * and hands each notification to the webhook queues of --alert-webhook plus the model's own
 * config.json webhooks. Never blocks: delivery happens in AlertWebhook.
 */
import { webhookMessage, type AlertStatus } from './alert-payload.js';
import type { AlertWebhook } from './alert-webhook.js';
import { type Clock, systemClock } from './clock.js';

export type AlertName = 'VigilDataDrift' | 'VigilConceptDrift' | 'VigilDataQuality' | 'VigilGuardrailRollback';

export interface FiringAlert {
  name: AlertName;
  labels: Record<string, string>;
  startsAt: number;
}

export class AlertNotifier {
  private readonly firing = new Map<string, FiringAlert>();
  /** where the dashboard lives (generatorURL, externalURL); set once the server listens */
  externalURL = 'http://127.0.0.1';

  constructor(
    private readonly webhook: AlertWebhook | null,
    private readonly globalUrls: readonly string[],
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * One transition: `firing` starts an alert (a repeat while it fires is ignored), `resolved`
   * ends it (ignored unless it fires). `urls` are the model's own webhooks.
   */
  notify(name: AlertName, status: AlertStatus, labels: Record<string, string>, annotations: Record<string, string>, urls: readonly string[] = []): void {
    const key = `${name}\u0000${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
    const now = this.clock();
    const known = this.firing.get(key);
    if (status === 'firing') {
      if (known) return;
      this.firing.set(key, { name, labels: { ...labels }, startsAt: now });
    } else {
      if (!known) return;
      this.firing.delete(key);
    }
    if (!this.webhook || (this.globalUrls.length === 0 && urls.length === 0)) return;
    const message = webhookMessage({ name, status, labels, annotations, startsAt: known?.startsAt ?? now, endsAt: status === 'resolved' ? now : undefined },
      this.externalURL);
    // A URL both global and the model's own is still posted once: send() skips repeats.
    this.webhook.send(message, [...this.globalUrls, ...urls]);
  }

  /** Alerts firing now, oldest first. */
  active(): FiringAlert[] {
    return [...this.firing.values()];
  }
}
