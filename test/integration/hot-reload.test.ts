// Traffic changes under continuous load: a loop of 32 concurrent clients keeps sending
// /predict while the admin API changes weights, loads version 3 (created at run time by copying
// version 2's folder), routes traffic to it, moves the weights off version 2 and unloads it.
// Not one request may fail, and requests pinned to version 3 succeed.
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, readResponse, startServer, type RunningServer } from '../helpers/server.js';
import { tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';

const MODEL = 'breast-cancer';
const TOKEN = 'hot-reload-test-token';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '2', 'heldout.json'), 'utf8')) as { rows: number[][]; expected: { label: number }[] };

let models: ReturnType<typeof tempModels>;
let server: RunningServer;

async function admin(method: string, path: string, body?: unknown) {
  const response = await fetch(`${server.url}/admin/models/${MODEL}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return readResponse(response);
}

interface Sample { status: number; version: string | null; pinned: boolean; startedAt: number; label?: number; row: number; error?: string }

beforeAll(async () => {
  models = tempModels(BUNDLED_MODELS, [MODEL]);
  server = await startServer({ args: ['--models', models.dir, '--log-level', 'info'], env: { VIGIL_ADMIN_TOKEN: TOKEN } });
});

afterAll(async () => {
  await server?.kill();
  models?.cleanup();
});

describe('hot load/unload under load', () => {
  it('changes weights, loads v3, routes to it, unloads v2 with zero failed requests', async () => {
    const samples: Sample[] = [];
    let running = true;
    let pinTo3 = false;
    let n = 0;
    const client = async (id: number) => {
      while (running) {
        const row = n++ % heldout.rows.length;
        // Once v3 is loaded, every 4th client pins its requests to it.
        const pinned = pinTo3 && id % 4 === 0;
        const startedAt = performance.now();
        try {
          const response = await fetch(`${server.url}/predict`, {
            method: 'POST', headers: { 'content-type': 'application/json' },
            body: JSON.stringify(pinned ? { model: MODEL, version: '3', features: heldout.rows[row] } : { model: MODEL, features: heldout.rows[row] }),
          });
          const { status, json, text } = await readResponse(response);
          samples.push({ status, version: response.headers.get('x-model-version'), pinned, startedAt, row,
            label: json?.predictions?.[0]?.label, error: status === 200 ? undefined : text });
        } catch (error) {
          samples.push({ status: 0, version: null, pinned, startedAt, row, error: (error as Error).message });
        }
      }
    };
    const clients = Array.from({ length: 32 }, (_, id) => client(id));
    // Between two changes, let the clients complete a round of requests under the new state.
    const moreTraffic = async () => {
      const target = samples.length + 64;
      await pollUntil('64 more answered requests', () => (samples.length >= target ? true : undefined), 60_000, 10);
    };
    const step = async (what: string, action: () => Promise<{ status: number; text: string }>) => {
      const r = await action();
      expect(r.status, `${what}: ${r.text}`).toBe(200);
      await moreTraffic();
      return r;
    };
    let unloadedAt = Infinity;
    try {
      await moreTraffic();
      await step('weights 50/50', () => admin('PUT', '/traffic', { weights: { '1': 50, '2': 50 } }));
      await step('weights 20/80', () => admin('PUT', '/traffic', { weights: { '1': 20, '2': 80 } }));
      cpSync(join(models.dir, MODEL, '2'), join(models.dir, MODEL, '3'), { recursive: true });
      const load = await step('load 3', () => admin('POST', '/versions/3/load'));
      expect((load as { json?: { versions?: string[] } }).json?.versions).toEqual(['1', '2', '3']);
      pinTo3 = true;
      await step('weights 40/30/30', () => admin('PUT', '/traffic', { weights: { '1': 40, '2': 30, '3': 30 } }));
      await step('weights 50/0/50', () => admin('PUT', '/traffic', { weights: { '1': 50, '2': 0, '3': 50 } }));
      const unload = await admin('POST', '/versions/2/unload');
      expect(unload.status, unload.text).toBe(200);
      unloadedAt = performance.now();
      expect(unload.json.versions).toEqual(['1', '3']);
      await moreTraffic();
      await step('promote 3', () => admin('POST', '/promote', { version: '3' }));
    } finally {
      running = false;
      await Promise.all(clients);
    }

    const failed = samples.filter((s) => s.status !== 200);
    const byVersion: Record<string, number> = {};
    for (const s of samples) if (s.status === 200) byVersion[s.version!] = (byVersion[s.version!] ?? 0) + 1;
    const pinned = samples.filter((s) => s.pinned);
    console.log(`[hot-reload] ${samples.length} requests under 32-way load across 5 traffic changes, load v3, unload v2: ` +
      `${failed.length} failed; served by version ${JSON.stringify(byVersion)}; pinned to v3: ${pinned.length}`);
    expect(failed.slice(0, 5), `${failed.length} failed requests`).toEqual([]);
    expect(samples.length).toBeGreaterThan(200);
    expect(pinned.length).toBeGreaterThan(20);
    expect(pinned.every((s) => s.status === 200 && s.version === '3')).toBe(true);
    expect(byVersion['3']).toBeGreaterThan(pinned.length);
    // Version 3 is a copy of version 2: it gives version 2's labels.
    for (const s of samples.filter((x) => x.version === '3')) expect(s.label).toBe(heldout.expected[s.row]!.label);
    // No request that started after the unload was answered by version 2.
    expect(samples.filter((s) => s.startedAt > unloadedAt && s.version === '2')).toEqual([]);
    expect((await admin('GET', '/traffic')).json).toEqual({ weights: { '3': 100 }, shadow: null });
    const gone = await fetch(`${server.url}/predict`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, version: '2', features: heldout.rows[0] }),
    });
    expect(gone.status).toBe(404);
  }, 120_000);
});
