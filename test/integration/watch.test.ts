// --watch: a complete version folder that appears in the repository is loaded into every worker at the
// next scan and can be pinned, but takes no routed traffic until the weights say so. The gateway
// runs in process on manual time, so the scan happens exactly when the test advances the clock.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualTime, startGateway, type InProcessGateway } from '../helpers/gateway.js';
import { tempModels } from '../helpers/models.js';
import { BUNDLED_MODELS, postJson } from '../helpers/server.js';

const MODEL = 'breast-cancer';
/** --watch scans the repository every 2 s (of the gateway's clock). */
const SCAN_PERIOD_MS = 2000;
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '2', 'heldout.json'), 'utf8')) as { rows: number[][]; expected: { label: number }[] };

const time = new ManualTime();
const models = tempModels(BUNDLED_MODELS, [MODEL]);
let server: InProcessGateway;

beforeAll(async () => {
  rmSync(join(models.dir, MODEL, '2'), { recursive: true });
  server = await startGateway(['--models', models.dir, '--watch'], { time });
});

afterAll(async () => {
  await server?.stop();
  models.cleanup();
});

const pinnedTo2 = () => postJson(`${server.url}/predict`, { model: MODEL, version: '2', features: heldout.rows[0] });

describe('--watch', () => {
  it('loads a new version folder at the next scan without routing traffic to it', async () => {
    await time.advance(SCAN_PERIOD_MS); // a scan with nothing new
    expect((await pinnedTo2()).status).toBe(404);
    cpSync(join(BUNDLED_MODELS, MODEL, '2'), join(models.dir, MODEL, '2'), { recursive: true });
    // The READY marker says the copy is complete (without it the watcher waits for the files to
    // settle on the wall clock: watch-settle.test covers that path).
    writeFileSync(join(models.dir, MODEL, '2', 'READY'), '');
    expect((await pinnedTo2()).status, 'before the next scan').toBe(404);

    await time.advance(SCAN_PERIOD_MS);
    expect(server.logs.filter((l) => l.msg?.startsWith('loaded new version folders'))).toMatchObject([{ model: MODEL, versions: ['2'] }]);
    const pinned = await pinnedTo2();
    expect(pinned.status, pinned.text).toBe(200);
    expect(pinned.json.predictions[0].label).toBe(heldout.expected[0]!.label);
    // The config's weights name version 2, but routing was fixed at startup from what was loaded.
    const routed = await Promise.all(heldout.rows.slice(0, 50).map((row) => postJson(`${server.url}/predict`, { model: MODEL, features: row })));
    expect(routed.every((r) => r.status === 200 && r.headers.get('x-model-version') === '1')).toBe(true);
  });
});
