// Guardrails judge the version, not its clients: requests the canary rejects as malformed
// (4xx) do not count as its errors, while its own failures (5xx) do. The traffic fixture
// (test/fixtures/traffic/models: breast-cancer v2 fails on rows with mean_radius > 20; traffic
// 50/50; guardrails min_samples 20, max_error_rate 0.2) served in process with manual time, so
// each guardrail evaluation happens exactly when the test advances the clock.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualTime, startGateway, type InProcessGateway } from '../helpers/gateway.js';
import { metricValue } from '../helpers/metrics.js';
import { BUNDLED_MODELS, getJson, postJson, ROOT } from '../helpers/server.js';

const FIXTURE = join(ROOT, 'test/fixtures/traffic/models');
const MODEL = 'breast-cancer';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as { feature_names: string[]; rows: number[][] };
const small = heldout.rows.filter((r) => r[0]! <= 20);
const big = heldout.rows.filter((r) => r[0]! > 20);
/** Guardrails are enforced every second of (manual) time. */
const GUARDRAIL_PERIOD_MS = 1000;

const time = new ManualTime();
let server: InProcessGateway;

beforeAll(async () => {
  server = await startGateway(['--models', FIXTURE], { time });
});

afterAll(async () => {
  await server?.stop();
});

/** Pinned to the canary, so every request reaches it whatever the split would say. */
const toCanary = (body: Record<string, unknown>) => postJson(`${server.url}/predict`, { model: MODEL, version: '2', ...body });

async function modelStats() {
  return (await getJson(`${server.url}/stats`)).json.models[MODEL];
}

describe('guardrails and client errors', () => {
  it('4xx answers from the canary never trip it; its own 5xx failures do', async () => {
    for (const row of small.slice(0, 25)) expect((await toCanary({ features: row })).status).toBe(200);

    const named = Object.fromEntries(heldout.feature_names.map((name, i) => [name, small[0]![i]]));
    const { mean_texture: _missing, ...withoutTexture } = named;
    const malformed: Record<string, unknown>[] = [
      { features: { ...named, mean_radius: 'big' } }, // a string where a number belongs
      { features: withoutTexture }, // a missing feature
      { features: small[0]!.slice(0, 29) }, // a row one value short
      { instances: [small[0], [...small[0]!, 1]] }, // one row too long
    ];
    for (let i = 0; i < 40; i++) {
      const answer = await toCanary(malformed[i % malformed.length]!);
      expect(answer.status, answer.text).toBe(400);
    }
    await time.advance(GUARDRAIL_PERIOD_MS);
    let stats = await modelStats();
    expect(stats.traffic.weights, 'weights after 40 client errors').toEqual({ '1': 50, '2': 50 });
    expect(stats.versions['2'].guardrail).toMatchObject({ requests: 25, errors: 0, errorRate: 0 });
    expect(stats.versions['2'].roles.live.errors.bad_request, 'the 400s are still counted as the version\'s request errors').toBe(40);
    expect(server.logs.filter((l) => l.msg === 'guardrail tripped: canary weight set to 0')).toEqual([]);

    // The canary's own failures: 10 of 35 requests (0.29 > 0.2) trip it at the next evaluation.
    for (const row of big.slice(0, 10)) expect((await toCanary({ features: row })).status).toBe(500);
    await time.advance(GUARDRAIL_PERIOD_MS);
    stats = await modelStats();
    expect(stats.traffic.weights).toEqual({ '1': 50, '2': 0 });
    const trips = server.logs.filter((l) => l.msg === 'guardrail tripped: canary weight set to 0');
    expect(trips).toHaveLength(1);
    expect(trips[0]).toMatchObject({ model: MODEL, version: '2', reason: 'error_rate', samples: 35, threshold: 0.2 });
    expect(trips[0]!.value).toBeCloseTo(10 / 35, 12);
    expect(metricValue(await server.gateway.metrics.exposition(), 'guardrail_rollbacks_total', { model: MODEL, version: '2' })).toBe(1);
  });
});
