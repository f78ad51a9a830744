import { afterEach, describe, expect, it } from 'vitest';
import { fingerprint, webhookMessage, ZERO_TIME, type AlertEvent } from '../../src/monitoring/alert-payload.js';
import { AlertWebhook, type WebhookTimers } from '../../src/monitoring/alert-webhook.js';
import { freePort } from '../helpers/net.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const drift = (status: 'firing' | 'resolved', column = 'mean_radius'): AlertEvent => ({
  name: 'VigilDataDrift',
  status,
  labels: { model: 'breast-cancer', version: '1', role: 'live', column, severity: 'warning' },
  annotations: { summary: `${column} drifted`, psi: '0.83' },
  startsAt: Date.UTC(2024, 5, 12, 10, 0, 0),
  endsAt: status === 'resolved' ? Date.UTC(2024, 5, 12, 10, 30, 0) : undefined,
});

/** Timers the test fires by hand: records each delay asked for. */
function manualTimers(): WebhookTimers & { delays: number[]; fire(): void; pending(): number } {
  const queue: { callback: () => void; cancelled: boolean }[] = [];
  const delays: number[] = [];
  return {
    delays,
    setTimeout(callback, ms) {
      const entry = { callback, cancelled: false };
      queue.push(entry);
      delays.push(ms);
      return entry;
    },
    clearTimeout(handle) {
      (handle as { cancelled: boolean }).cancelled = true;
    },
    fire() {
      const entry = queue.shift();
      if (entry && !entry.cancelled) entry.callback();
    },
    pending: () => queue.filter((e) => !e.cancelled).length,
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('Alertmanager webhook payload', () => {
  it('has the version 4 shape: status, alerts with labels/annotations/startsAt/endsAt, group and common labels', () => {
    const firing = webhookMessage(drift('firing'), 'http://vigil.example:8080');
    expect(firing).toEqual({
      version: '4',
      groupKey: '{}:{alertname="VigilDataDrift", model="breast-cancer"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'vigil',
      groupLabels: { alertname: 'VigilDataDrift', model: 'breast-cancer' },
      commonLabels: { alertname: 'VigilDataDrift', column: 'mean_radius', model: 'breast-cancer', role: 'live', severity: 'warning', version: '1' },
      commonAnnotations: { psi: '0.83', summary: 'mean_radius drifted' },
      externalURL: 'http://vigil.example:8080',
      alerts: [{
        status: 'firing',
        labels: { alertname: 'VigilDataDrift', column: 'mean_radius', model: 'breast-cancer', role: 'live', severity: 'warning', version: '1' },
        annotations: { psi: '0.83', summary: 'mean_radius drifted' },
        startsAt: '2024-06-12T10:00:00.000Z',
        endsAt: ZERO_TIME,
        generatorURL: 'http://vigil.example:8080/dashboard',
        fingerprint: fingerprint(firing.commonLabels),
      }],
    });
    const resolved = webhookMessage(drift('resolved'), 'http://vigil.example:8080/');
    expect(resolved.status).toBe('resolved');
    expect(resolved.alerts[0]).toMatchObject({ status: 'resolved', endsAt: '2024-06-12T10:30:00.000Z', generatorURL: 'http://vigil.example:8080/dashboard' });
    expect(resolved.alerts[0]!.fingerprint).toBe(firing.alerts[0]!.fingerprint); // same alert, same identity
  });

  it('fingerprints label sets as Alertmanager does (FNV-1a 64, sorted names, 0xff separators)', () => {
    // Empty label set: the FNV-64 offset basis (prometheus/common emptyLabelSignature).
    expect(fingerprint({})).toBe('cbf29ce484222325');
    expect(fingerprint({ a: 'b' })).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint({ a: 'b', c: 'd' })).toBe(fingerprint({ c: 'd', a: 'b' }));
    expect(fingerprint({ a: 'bc' })).not.toBe(fingerprint({ ab: 'c' }));
  });
});

describe('AlertWebhook delivery to a real HTTP receiver', () => {
  const receivers: WebhookReceiver[] = [];
  const receiver = async (answer?: (n: number) => number | 'hold') => {
    const r = await startWebhookReceiver(answer);
    receivers.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it('delivers firing then resolved to every URL, in order, as JSON', async () => {
    const a = await receiver();
    const b = await receiver();
    const webhook = new AlertWebhook([a.url, b.url]);
    webhook.send(webhookMessage(drift('firing'), 'http://vigil'));
    webhook.send(webhookMessage(drift('resolved'), 'http://vigil'));
    expect(a.received.length + b.received.length).toBe(0); // send() only queued
    await webhook.idle();
    for (const r of [a, b]) {
      expect(r.received.map((x) => [x.path, x.body.version, x.body.status, x.body.alerts[0].labels.column])).toEqual([
        ['/hook', '4', 'firing', 'mean_radius'],
        ['/hook', '4', 'resolved', 'mean_radius'],
      ]);
    }
    expect(webhook.stats()).toEqual([a, b].map((r) => ({
      receiver: r.url, queued: 0, delivered: 2, failed: 0, dropped: 0, failedAttempts: 0,
    })));
  });

  it('retries after the receiver answers 500, with exponential backoff, keeping order', async () => {
    // The first two attempts get 500, everything after 200.
    const r = await receiver((n) => (n < 2 ? 500 : 200));
    const timers = manualTimers();
    const webhook = new AlertWebhook([r.url], { initialBackoffMs: 100, maxBackoffMs: 1000 }, timers);
    webhook.send({ n: 1 });
    webhook.send({ n: 2 });
    await until(() => r.received.length === 1 && timers.pending() === 1, 'the first attempt and its retry timer');
    timers.fire();
    await until(() => r.received.length === 2 && timers.pending() === 1, 'the second attempt');
    expect(webhook.stats()[0]).toMatchObject({ delivered: 0, failedAttempts: 2, queued: 2 });
    timers.fire();
    await webhook.idle();
    expect(r.received.map((x) => [x.body.n, x.status])).toEqual([[1, 500], [1, 500], [1, 200], [2, 200]]);
    expect(timers.delays).toEqual([100, 200]);
    expect(webhook.stats()[0]).toMatchObject({ delivered: 2, failed: 0, failedAttempts: 2, queued: 0 });
  });

  it('gives up after maxAttempts (backoff capped), and at once on a 4xx other than 429', async () => {
    const down = await receiver(() => 503);
    const timers = manualTimers();
    const webhook = new AlertWebhook([down.url], { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 300 }, timers);
    webhook.send({ n: 1 });
    for (let attempt = 1; attempt < 5; attempt++) {
      await until(() => down.received.length === attempt && timers.pending() === 1, `attempt ${attempt}`);
      timers.fire();
    }
    await webhook.idle();
    expect(down.received).toHaveLength(5);
    expect(timers.delays).toEqual([100, 200, 300, 300]);
    expect(webhook.stats()[0]).toMatchObject({ delivered: 0, failed: 1, failedAttempts: 5 });

    const refusing = await receiver((n) => (n === 0 ? 400 : 429));
    const other = new AlertWebhook([refusing.url], { maxAttempts: 2, initialBackoffMs: 0 });
    other.send({ n: 1 }); // 400: final
    other.send({ n: 2 }); // 429, then 429 again: retried, then given up
    await other.idle();
    expect(refusing.received.map((x) => [x.body.n, x.status])).toEqual([[1, 400], [2, 429], [2, 429]]);
    expect(other.stats()[0]).toMatchObject({ delivered: 0, failed: 2, failedAttempts: 3 });
  });

  it('counts a receiver nobody listens on as failed, without disturbing the other receivers', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/hook`;
    const alive = await receiver();
    const webhook = new AlertWebhook([dead, alive.url], { maxAttempts: 3, initialBackoffMs: 1 });
    for (let i = 0; i < 3; i++) webhook.send({ i });
    await webhook.idle();
    expect(alive.received.map((x) => x.body.i)).toEqual([0, 1, 2]);
    const [deadStats, aliveStats] = webhook.stats();
    expect(deadStats).toMatchObject({ receiver: dead, delivered: 0, failed: 3, failedAttempts: 9 });
    expect(aliveStats).toMatchObject({ delivered: 3, failed: 0 });
  });

  it('keeps a bounded queue behind a stalled receiver (dropping the oldest waiting) and never blocks send()', async () => {
    const stalled = await receiver(() => 'hold');
    const webhook = new AlertWebhook([stalled.url], { queueSize: 3 });
    for (let i = 0; i < 50; i++) webhook.send({ i });
    await stalled.waitFor((received) => received.length === 1);
    // #0 is in flight; of #1..#49 only the newest ones fit behind it.
    expect(webhook.stats()[0]).toMatchObject({ queued: 3, dropped: 47, delivered: 0 });
    stalled.release();
    await webhook.idle();
    expect(stalled.received.map((x) => x.body.i)).toEqual([0, 48, 49]);
    expect(webhook.stats()[0]).toMatchObject({ queued: 0, delivered: 3, dropped: 47 });
  });

  it('close() waits for deliveries up to a grace period, then counts the rest as dropped', async () => {
    const stalled = await receiver(() => 'hold');
    const webhook = new AlertWebhook([stalled.url], { timeoutMs: 60_000 });
    webhook.send({ i: 0 });
    webhook.send({ i: 1 });
    await stalled.waitFor((received) => received.length === 1);
    await webhook.close(50);
    expect(webhook.stats()[0]).toMatchObject({ dropped: 1 });
    webhook.send({ i: 2 }); // after close: dropped, not sent
    expect(webhook.stats()[0]).toMatchObject({ dropped: 2 });
  });

  it('rejects URLs that are not http(s), naming them without credentials', () => {
    expect(() => new AlertWebhook(['not a url'])).toThrow(/'not a url' is not a URL/);
    expect(() => new AlertWebhook(['ftp://user:secret@host/x'])).toThrow(/'ftp:\/\/host\/x' must be http or https/);
    expect(() => new AlertWebhook([], { queueSize: 0 })).toThrow(/queueSize must be a number ≥ 1/);
    const webhook = new AlertWebhook(['http://user:pw@127.0.0.1:1/hook?token=abc']);
    expect(webhook.stats()[0]!.receiver).toBe('http://127.0.0.1:1/hook');
  });
});
