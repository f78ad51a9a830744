// Guardrail rollback of a canary built to fail. Fixture repository
// test/fixtures/traffic/models/ (built by test/fixtures/traffic/build_traffic_fixtures.py):
// breast-cancer v1 = the bundled logistic regression, v2 = the same graph that throws at run time
// whenever a row has mean_radius > 20; traffic 50/50; guardrails {enabled, window_seconds 30,
// min_samples 20, max_error_rate 0.2}. Traffic rich in mean_radius > 20 rows makes v2 fail; the
// guardrail (evaluated every second) sets its weight to 0, logs why and counts it, while v1
// keeps answering 200.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../helpers/metrics.js';
import { pause } from '../helpers/poll.js';
import { BUNDLED_MODELS, getJson, logLine, ROOT, startServer, type RunningServer } from '../helpers/server.js';

const FIXTURE = join(ROOT, 'test/fixtures/traffic/models');
const MODEL = 'breast-cancer';
const TOKEN = 'guardrail-test-token';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as { rows: number[][]; expected: { label: number }[] };
const big = heldout.rows.filter((r) => r[0]! > 20);
const small = heldout.rows.filter((r) => r[0]! <= 20);

interface Outcome { status: number; version: string | null; error?: string }

let server: RunningServer;

async function predict(features: number[], version?: string): Promise<Outcome> {
  const response = await fetch(`${server.url}/predict`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(version ? { model: MODEL, version, features } : { model: MODEL, features }),
  });
  const json = (await response.json()) as { version?: string; error?: string };
  return { status: response.status, version: response.headers.get('x-model-version') ?? json.version ?? null, error: json.error };
}

async function traffic(): Promise<{ weights: Record<string, number>; shadow: unknown }> {
  const r = await getJson(`${server.url}/admin/models/${MODEL}/traffic`, { authorization: `Bearer ${TOKEN}` });
  expect(r.status).toBe(200);
  return r.json;
}

beforeAll(async () => {
  expect(big.length).toBeGreaterThanOrEqual(5);
  server = await startServer({ args: ['--models', FIXTURE, '--log-level', 'info'], env: { VIGIL_ADMIN_TOKEN: TOKEN } });
});

afterAll(async () => {
  await server?.kill();
});

describe('guardrails', () => {
  it('the fixture canary fails exactly on mean_radius > 20 (pinned requests)', async () => {
    expect((await predict(small[0]!, '2')).status).toBe(200);
    const failed = await predict(big[0]!, '2');
    expect(failed.status).toBe(500);
    expect(failed.error).toMatch(/breast-cancer\/2/);
    expect((await predict(big[0]!, '1')).status).toBe(200);
  });

  it('trips on the canary error rate, sets its weight to 0, logs and counts it; v1 answers 200 throughout', async () => {
    expect(await traffic()).toEqual({ weights: { '1': 50, '2': 50 }, shadow: null });
    const outcomes: Outcome[] = [];
    let tripped = false;
    let i = 0;
    const deadline = Date.now() + 45_000;
    // 8 clients, 3 of every 4 rows with mean_radius > 20, until the admin API shows weight 0.
    const watcher = (async () => {
      while (!tripped && Date.now() < deadline) {
        await pause(250);
        if ((await traffic()).weights['2'] === 0) tripped = true;
      }
    })();
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (!tripped && Date.now() < deadline) {
        const n = i++;
        outcomes.push(await predict(n % 4 === 0 ? small[n % small.length]! : big[n % big.length]!));
      }
    }));
    await watcher;
    expect(tripped, 'the guardrail set version 2 to weight 0 within 45 s').toBe(true);

    const failures = outcomes.filter((o) => o.status !== 200);
    const v2Ok = outcomes.filter((o) => o.status === 200 && o.version === '2').length;
    const v1Ok = outcomes.filter((o) => o.status === 200 && o.version === '1').length;
    console.log(`[guardrails] before the trip: ${outcomes.length} requests, v1 200s ${v1Ok}, v2 200s ${v2Ok}, v2 failures ${failures.length}`);
    expect(failures.length).toBeGreaterThan(0);
    // Every failure came from the canary: a 500 naming breast-cancer/2 — never version 1.
    for (const f of failures) {
      expect(f.status).toBe(500);
      expect(f.error).toMatch(/breast-cancer\/2/);
    }
    expect(v1Ok).toBeGreaterThan(0);

    const t = await traffic();
    expect(t.weights).toEqual({ '1': 50, '2': 0 });
    const trip = await logLine(server, 'a "guardrail tripped"', (l) => typeof l.msg === 'string' && l.msg.startsWith('guardrail tripped'));
    expect(trip).toMatchObject({ model: MODEL, version: '2', reason: 'error_rate', threshold: 0.2 });
    expect(trip!.value as number).toBeGreaterThan(0.2);
    expect(trip!.samples as number).toBeGreaterThanOrEqual(20);
    expect(trip!.level).toBe(40);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(metricValue(text, 'guardrail_rollbacks_total', { model: MODEL, version: '2' })).toBeGreaterThan(0);
    expect(metricValue(text, 'guardrail_rollbacks_total', { model: MODEL, version: '1' })).toBe(0);

    // After the trip every request is answered 200 by version 1, including the failing rows.
    const after: Outcome[] = [];
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      for (let k = 0; k < 25; k++) after.push(await predict(big[(w + k) % big.length]!));
    }));
    expect(after.filter((o) => o.status !== 200)).toEqual([]);
    expect(new Set(after.map((o) => o.version))).toEqual(new Set(['1']));
    expect(server.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('guardrail tripped'))).toHaveLength(1);

    // The guardrail's change is in the traffic history: an admin rollback restores 50/50.
    const rollback = await fetch(`${server.url}/admin/models/${MODEL}/rollback`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(rollback.status, await rollback.text()).toBe(200);
    expect((await traffic()).weights).toEqual({ '1': 50, '2': 50 });
  }, 90_000);
});
