// --watch: a version folder that appears in the repository is loaded into every worker and can
// be pinned, but takes no routed traffic until the weights say so.
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, postJson, startServer, type RunningServer } from '../helpers/server.js';
import { tempModels } from '../helpers/models.js';

const MODEL = 'breast-cancer';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '2', 'heldout.json'), 'utf8')) as { rows: number[][]; expected: { label: number }[] };

let dir: string;
let server: RunningServer;

beforeAll(async () => {
  ({ dir } = tempModels(BUNDLED_MODELS, [MODEL]));
  rmSync(join(dir, MODEL, '2'), { recursive: true });
  server = await startServer({ args: ['--models', dir, '--watch'] });
});

afterAll(async () => {
  await server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('--watch', () => {
  it('loads a new version folder without routing traffic to it', async () => {
    expect((await postJson(`${server.url}/predict`, { model: MODEL, version: '2', features: heldout.rows[0] })).status).toBe(404);
    cpSync(join(BUNDLED_MODELS, MODEL, '2'), join(dir, MODEL, '2'), { recursive: true });
    const deadline = Date.now() + 20_000;
    while (!server.logs().some((l) => l.msg?.startsWith('loaded new version folders'))) {
      if (Date.now() > deadline) throw new Error('version 2 was not picked up within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const pinned = await postJson(`${server.url}/predict`, { model: MODEL, version: '2', features: heldout.rows[0] });
    expect(pinned.status).toBe(200);
    expect(pinned.json.predictions[0].label).toBe(heldout.expected[0]!.label);
    // The config's weights name version 2, but routing was fixed at startup from what was loaded.
    const routed = await Promise.all(heldout.rows.slice(0, 50).map((row) => postJson(`${server.url}/predict`, { model: MODEL, features: row })));
    expect(routed.every((r) => r.status === 200 && r.headers.get('x-model-version') === '1')).toBe(true);
  });
});
