// Weighted split and sticky routing keys, end to end on the bundled breast-cancer model
// (config.json traffic: 90 % version 1, 10 % version 2) through a real server.
//
// Numbers: with 10,000 unkeyed requests the version-2 share has a standard deviation of
// sqrt(0.1 * 0.9 / 10000) = 0.3 points, so the ±1.5-point band is five sigmas. With 1,000 keys
// the 90/10 → 70/30 move (expected 20 % of keys, sd 1.3 points) must land in 15–25 %.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, readResponse, startServer, type RunningServer } from '../helpers/server.js';
import { tempModels } from '../helpers/models.js';

const TOKEN = 'traffic-test-token';
const MODEL = 'breast-cancer';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as { rows: number[][] };
const bodies = heldout.rows.map((row) => JSON.stringify({ model: MODEL, features: row }));

/** Runs `total` tasks with at most `concurrency` in flight. */
async function runPool(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

let server: RunningServer;
let dir: string;

async function predict(body: string, headers: Record<string, string> = {}): Promise<{ status: number; version: string | null; bodyVersion: string | undefined }> {
  const response = await fetch(`${server.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const { status, json } = await readResponse(response);
  return { status, version: response.headers.get('x-model-version'), bodyVersion: json?.version };
}

async function setTraffic(weights: Record<string, number>, shadow: unknown = null) {
  const response = await fetch(`${server.url}/admin/models/${MODEL}/traffic`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ weights, shadow }),
  });
  const result = await readResponse(response);
  expect(result.status, result.text).toBe(200);
  return result.json;
}

beforeAll(async () => {
  ({ dir } = tempModels(BUNDLED_MODELS, [MODEL]));
  server = await startServer({ args: ['--models', dir, '--log-level', 'info'], env: { VIGIL_ADMIN_TOKEN: TOKEN } });
});

afterAll(async () => {
  await server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('weighted split (unkeyed)', () => {
  it('serves about 10 % of 10,000 unkeyed requests from version 2 at 90/10', async () => {
    const startup = server.startup.models as Record<string, { traffic: unknown }>;
    expect(startup[MODEL]!.traffic).toEqual({ weights: { '1': 90, '2': 10 }, shadow: null });
    const N = 10_000;
    const counts: Record<string, number> = {};
    const failures: string[] = [];
    await runPool(N, 32, async (i) => {
      const r = await predict(bodies[i % bodies.length]!);
      if (r.status !== 200) {
        failures.push(`${r.status}`);
        return;
      }
      expect(r.bodyVersion).toBe(r.version);
      counts[r.version!] = (counts[r.version!] ?? 0) + 1;
    });
    expect(failures).toEqual([]);
    expect(Object.keys(counts).sort()).toEqual(['1', '2']);
    const share = (counts['2'] ?? 0) / N;
    console.log(`[traffic] unkeyed 90/10 split over ${N} requests: v1 ${counts['1']}, v2 ${counts['2']} -> v2 share ${(share * 100).toFixed(2)} %`);
    expect(share).toBeGreaterThanOrEqual(0.085);
    expect(share).toBeLessThanOrEqual(0.115);
  }, 180_000);

  it('a pinned version bypasses the split', async () => {
    for (const version of ['1', '2']) {
      for (let i = 0; i < 20; i++) {
        const r = await predict(JSON.stringify({ model: MODEL, version, features: heldout.rows[i] }));
        expect(r.status).toBe(200);
        expect(r.version).toBe(version);
      }
    }
  });
});

describe('sticky routing keys', () => {
  const KEYS = 1000;
  const REPEATS = 20;
  const keyOf = (k: number) => `customer-${k}`;
  /** Keys below 500 travel in X-Routing-Key, the rest as body `id`. */
  const keyedRequest = (k: number, i: number) => {
    const row = heldout.rows[(k * 7 + i) % heldout.rows.length];
    return k < KEYS / 2
      ? predict(JSON.stringify({ model: MODEL, features: row }), { 'x-routing-key': keyOf(k) })
      : predict(JSON.stringify({ model: MODEL, features: row, id: keyOf(k) }));
  };

  /** Sends every key `repeats` times; returns each key's set of versions seen. */
  async function observe(repeats: number): Promise<Set<string>[]> {
    const seen = Array.from({ length: KEYS }, () => new Set<string>());
    const failures: number[] = [];
    await runPool(KEYS * repeats, 32, async (n) => {
      const k = n % KEYS;
      const r = await keyedRequest(k, Math.floor(n / KEYS));
      if (r.status !== 200) failures.push(r.status);
      else seen[k]!.add(r.version!);
    });
    expect(failures).toEqual([]);
    return seen;
  }

  it('keeps each of 1,000 keys on one version, and 90/10 → 70/30 moves only v1 keys onto v2 (~20 %)', async () => {
    await setTraffic({ '1': 90, '2': 10 });
    const before = await observe(REPEATS);
    const unstable = before.map((s, k) => (s.size === 1 ? null : `${keyOf(k)}: ${[...s].join(',')}`)).filter((x) => x !== null);
    expect(unstable, 'keys that saw more than one version').toEqual([]);
    const versionBefore = before.map((s) => [...s][0]!);
    const onV2Before = versionBefore.filter((v) => v === '2').length;

    // The same key in the header and as body id lands on the same version (header wins if they differ).
    for (let k = 0; k < 50; k++) {
      const viaHeader = await predict(JSON.stringify({ model: MODEL, features: heldout.rows[0] }), { 'x-routing-key': keyOf(k + 500) });
      expect(viaHeader.version).toBe(versionBefore[k + 500]);
      const both = await predict(JSON.stringify({ model: MODEL, features: heldout.rows[0], id: keyOf(k + 500) }), { 'x-routing-key': keyOf(k) });
      expect(both.version).toBe(versionBefore[k]);
    }

    await setTraffic({ '1': 70, '2': 30 });
    const after = await observe(3);
    const unstableAfter = after.filter((s) => s.size !== 1).length;
    expect(unstableAfter, 'keys that saw more than one version after the change').toBe(0);
    const versionAfter = after.map((s) => [...s][0]!);
    let moved = 0;
    const wrongMoves: string[] = [];
    versionBefore.forEach((v, k) => {
      if (v === versionAfter[k]) return;
      moved++;
      if (!(v === '1' && versionAfter[k] === '2')) wrongMoves.push(`${keyOf(k)}: ${v} -> ${versionAfter[k]}`);
    });
    const onV2After = versionAfter.filter((v) => v === '2').length;
    console.log(`[traffic] sticky keys: ${KEYS} keys x ${REPEATS} requests, ${KEYS - unstable.length}/${KEYS} kept one version; ` +
      `on v2 at 90/10: ${onV2Before} (${(onV2Before / 10).toFixed(1)} %); at 70/30: ${onV2After}; moved ${moved} ` +
      `(${(moved / 10).toFixed(1)} %), all v1 -> v2: ${wrongMoves.length === 0}`);
    expect(wrongMoves, 'only v1 -> v2 moves are allowed when the canary weight rises').toEqual([]);
    expect(moved / KEYS).toBeGreaterThanOrEqual(0.15);
    expect(moved / KEYS).toBeLessThanOrEqual(0.25);
    // At 90/10 about 10 % of keys sit on v2 (sd ~1 point).
    expect(onV2Before / KEYS).toBeGreaterThan(0.06);
    expect(onV2Before / KEYS).toBeLessThan(0.14);
  }, 180_000);
});
