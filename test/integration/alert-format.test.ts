// Vigil's webhook notifications next to the ones a real Alertmanager sends for the same alert:
// the same receiver must be able to serve both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookMessage, type AlertEvent } from '../../src/monitoring/alert-payload.js';
import { startAlertmanager, type RunningAlertmanager } from '../helpers/alertmanager.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/** Every key path of a JSON value (array items by position), to compare shapes. */
function shape(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => shape(v, `${prefix}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [`${prefix}.${k}`, ...shape(v, `${prefix}.${k}`)]);
  }
  return [];
}

describe('webhook payload against a real Alertmanager', () => {
  let receiver: WebhookReceiver;
  let alertmanager: RunningAlertmanager;
  const startsAt = new Date(Date.now() - 60_000);
  const event: AlertEvent = {
    name: 'VigilConceptDrift',
    status: 'firing',
    labels: { model: 'breast-cancer', version: '1', role: 'live', metric: 'accuracy', severity: 'warning' },
    annotations: { summary: 'accuracy fell below its reference', value: '0.41' },
    startsAt: startsAt.getTime(),
  };

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    alertmanager = await startAlertmanager(receiver.url, ['alertname', 'model']);
  });
  afterAll(async () => {
    await alertmanager?.stop();
    await receiver?.close();
  });

  it('has the same fields, fingerprint, group key and labels, firing and resolved', async () => {
    const labels = { alertname: event.name, ...event.labels };
    await alertmanager.post([{ labels, annotations: event.annotations, startsAt: startsAt.toISOString(), generatorURL: `${alertmanager.url}/dashboard` }]);
    await receiver.waitFor((r) => r.some((x) => x.body.status === 'firing'), 30_000);
    const fromAlertmanager = receiver.received.find((x) => x.body.status === 'firing')!.body;
    const fromVigil = webhookMessage(event, alertmanager.url, 'test');
    expect(shape(fromVigil).sort()).toEqual(shape(fromAlertmanager).sort());
    const { alerts: [amAlert], ...amRest } = fromAlertmanager;
    const { alerts: [vigilAlert], ...vigilRest } = fromVigil;
    expect(vigilRest).toEqual(amRest);
    expect(vigilAlert!.fingerprint).toBe(amAlert.fingerprint);
    expect({ ...vigilAlert, startsAt: Date.parse(vigilAlert!.startsAt) }).toEqual({ ...amAlert, startsAt: Date.parse(amAlert.startsAt) });

    const endsAt = new Date(Date.now() - 1000);
    await alertmanager.post([{ labels, annotations: event.annotations, startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString(), generatorURL: `${alertmanager.url}/dashboard` }]);
    await receiver.waitFor((r) => r.some((x) => x.body.status === 'resolved'), 30_000);
    const resolvedAm = receiver.received.find((x) => x.body.status === 'resolved')!.body;
    const resolvedVigil = webhookMessage({ ...event, status: 'resolved', endsAt: endsAt.getTime() }, alertmanager.url, 'test');
    expect(shape(resolvedVigil).sort()).toEqual(shape(resolvedAm).sort());
    expect(resolvedVigil.alerts[0]!.fingerprint).toBe(resolvedAm.alerts[0].fingerprint);
    expect(Date.parse(resolvedVigil.alerts[0]!.endsAt)).toBe(Date.parse(resolvedAm.alerts[0].endsAt));
    expect(resolvedVigil.groupKey).toBe(resolvedAm.groupKey);
  });
});
