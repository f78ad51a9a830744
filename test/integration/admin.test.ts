// The admin API (/admin, bearer token from VIGIL_ADMIN_TOKEN) through a real server on a temp
// copy of the bundled breast-cancer model (traffic 90/10, no shadow).
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, logLine, readResponse, startServer, type RunningServer } from '../helpers/server.js';
import { tempModels } from '../helpers/models.js';

const MODEL = 'breast-cancer';
const TOKEN = 'admin-test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const INITIAL = { weights: { '1': 90, '2': 10 }, shadow: null };

let models: ReturnType<typeof tempModels>;
let server: RunningServer;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return readResponse(response);
}
const getTraffic = () => call('GET', `/admin/models/${MODEL}/traffic`);
const putTraffic = (body: unknown) => call('PUT', `/admin/models/${MODEL}/traffic`, body);

beforeAll(() => {
  models = tempModels(BUNDLED_MODELS, [MODEL]);
});

afterAll(() => {
  models?.cleanup();
});

describe('admin API without VIGIL_ADMIN_TOKEN', () => {
  let off: RunningServer;
  beforeAll(async () => {
    off = await startServer({ args: ['--models', models.dir], env: { VIGIL_ADMIN_TOKEN: undefined } });
  });
  afterAll(async () => {
    await off?.kill();
  });

  it('answers 404 on every admin route, with or without a token, and changes nothing', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', `/admin/models/${MODEL}/traffic`],
      ['PUT', `/admin/models/${MODEL}/traffic`, { weights: { '2': 100 } }],
      ['POST', `/admin/models/${MODEL}/versions/2/unload`],
      ['POST', `/admin/models/${MODEL}/versions/3/load`],
      ['POST', `/admin/models/${MODEL}/promote`, { version: '2' }],
      ['POST', `/admin/models/${MODEL}/rollback`],
    ];
    for (const [method, path, body] of routes) {
      for (const headers of [{}, AUTH]) {
        const response = await fetch(`${off.url}${path}`, {
          method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
        });
        const { status, json } = await readResponse(response);
        expect(status, `${method} ${path}`).toBe(404);
        expect(typeof json?.error).toBe('string');
      }
    }
    // Still 90/10: the PUT/promote above did nothing.
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${off.url}/predict`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, features: Array(30).fill(1) }),
      });
      await r.arrayBuffer();
      counts[r.headers.get('x-model-version')!] = (counts[r.headers.get('x-model-version')!] ?? 0) + 1;
    }
    expect(counts['1']).toBeGreaterThan(150);
  });
});

describe('admin API with VIGIL_ADMIN_TOKEN', () => {
  beforeAll(async () => {
    server = await startServer({ args: ['--models', models.dir, '--log-level', 'info'], env: { VIGIL_ADMIN_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('answers 401 without a token, with a wrong token or another scheme', async () => {
    const bad: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      { authorization: TOKEN },
    ];
    for (const headers of bad) {
      const r = await call('GET', `/admin/models/${MODEL}/traffic`, undefined, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(typeof r.json?.error).toBe('string');
      const put = await call('PUT', `/admin/models/${MODEL}/traffic`, { weights: { '2': 100 } }, headers);
      expect(put.status).toBe(401);
      expect((await call('POST', `/admin/models/${MODEL}/versions/1/unload`, undefined, headers)).status).toBe(401);
    }
    expect((await getTraffic()).json).toEqual(INITIAL);
  });

  it('reads the traffic; 404 for an unknown model', async () => {
    const r = await getTraffic();
    expect(r.status).toBe(200);
    expect(r.json).toEqual(INITIAL);
    expect((await call('GET', '/admin/models/nope/traffic')).status).toBe(404);
  });

  it('rejects bad traffic bodies with 400 naming the field, and keeps the traffic', async () => {
    const cases: [unknown, RegExp][] = [
      [{ weights: { '1': -5, '2': 10 } }, /weights\/1/],
      [{ weights: { '1': 90, '7': 10 } }, /weights\/7/],
      [{ weights: { '1': 90, '2': 'ten' } }, /weights\/2/],
      [{ weights: { '1': 0, '2': 0 } }, /weights/],
      [{ weights: { '1': 100 }, shadow: { version: '2', percent: 150 } }, /shadow\/percent/],
      [{ weights: { '1': 100 }, shadow: { version: '2', percent: -1 } }, /shadow\/percent/],
      [{ weights: { '1': 100 }, shadow: { version: '7', percent: 10 } }, /shadow\/version/],
      [{ weights: { '1': 100 }, shadow: { version: '2' } }, /shadow\/percent/],
      [{ weights: { '1': 100 }, colour: 'blue' }, /colour/],
      [{ weights: { '../1': 100 } }, /weights/],
      [{ shadow: null }, /weights/],
      [{ weights: [90, 10] }, /weights/],
    ];
    for (const [body, field] of cases) {
      const r = await putTraffic(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json?.error, JSON.stringify(body)).toMatch(field);
    }
    const malformed = await putTraffic('{"weights": {"1": 90,');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error).toMatch(/JSON/);
    expect((await getTraffic()).json).toEqual(INITIAL);
  });

  it('sets weights and shadow, logging who changed what', async () => {
    const r = await putTraffic({ weights: { '1': 80, '2': 20 }, shadow: { version: '2', percent: 25 } });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toEqual({ weights: { '1': 80, '2': 20 }, shadow: { version: '2', percent: 25 } });
    expect((await getTraffic()).json).toEqual(r.json);
    const audit = await logLine(server, 'the "admin change"',
      (l) => l.msg === 'admin change' && l.action === 'set traffic' && isDeepStrictEqual(l.new, r.json));
    expect(audit).toMatchObject({ model: MODEL, old: INITIAL, new: r.json });
    expect(typeof audit!.admin).toBe('string');
    expect(JSON.stringify(server.logs())).not.toContain(TOKEN);
    const back = await putTraffic(INITIAL);
    expect(back.status).toBe(200);
  });

  it('refuses with 409 to unload a live version or the shadow target', async () => {
    for (const v of ['1', '2']) {
      const r = await call('POST', `/admin/models/${MODEL}/versions/${v}/unload`);
      expect(r.status, r.text).toBe(409);
      expect(r.json.error).toMatch(/live traffic/);
    }
    expect((await putTraffic({ weights: { '1': 100 }, shadow: { version: '2', percent: 50 } })).status).toBe(200);
    const shadow = await call('POST', `/admin/models/${MODEL}/versions/2/unload`);
    expect(shadow.status, shadow.text).toBe(409);
    expect(shadow.json.error).toMatch(/shadow/);
    // Both versions still serve.
    for (const version of ['1', '2']) {
      const p = await call('POST', '/predict', { model: MODEL, version, features: Array(30).fill(1) }, {});
      expect(p.status).toBe(200);
    }
    expect((await putTraffic(INITIAL)).status).toBe(200);
  });

  it('promotes a version to 100 % and rolls back to the previous weights', async () => {
    expect((await putTraffic({ weights: { '1': 70, '2': 30 } })).status).toBe(200);
    const promoted = await call('POST', `/admin/models/${MODEL}/promote`, { version: '2' });
    expect(promoted.status, promoted.text).toBe(200);
    expect(promoted.json).toEqual({ weights: { '2': 100 }, shadow: null });
    for (let i = 0; i < 30; i++) {
      const p = await call('POST', '/predict', { model: MODEL, features: Array(30).fill(1) }, {});
      expect(p.json.version).toBe('2');
    }
    const rolledBack = await call('POST', `/admin/models/${MODEL}/rollback`);
    expect(rolledBack.status, rolledBack.text).toBe(200);
    expect(rolledBack.json).toEqual({ weights: { '1': 70, '2': 30 }, shadow: null });
    expect((await getTraffic()).json).toEqual({ weights: { '1': 70, '2': 30 }, shadow: null });
    // Promote of a version that is not loaded, or without a version: 400.
    expect((await call('POST', `/admin/models/${MODEL}/promote`, { version: '7' })).status).toBe(400);
    expect((await call('POST', `/admin/models/${MODEL}/promote`, {})).status).toBe(400);
    expect((await putTraffic(INITIAL)).status).toBe(200);
  });

  it('loading a missing version folder is 404; traversal-looking version names are refused', async () => {
    const missing = await call('POST', `/admin/models/${MODEL}/versions/9/load`);
    expect(missing.status, missing.text).toBe(404);
    expect(missing.json.error).toMatch(/9/);
    for (const name of ['..%2F..', '..%2F..%2Fdiabetes', '..', '%2E%2E', '2%2F..%2F1', '0', '01', 'abc', '-1', '1.5']) {
      for (const action of ['load', 'unload']) {
        const r = await call('POST', `/admin/models/${MODEL}/versions/${name}/${action}`);
        expect([400, 404], `${action} ${name}: ${r.status} ${r.text}`).toContain(r.status);
        expect(typeof r.json?.error).toBe('string');
      }
    }
    const model = await call('POST', `/admin/models/..%2F${MODEL}/versions/1/load`);
    expect([400, 404]).toContain(model.status);
    // Nothing was loaded or unloaded.
    const stats = await call('GET', '/stats', undefined, {});
    expect(Object.keys(stats.json.models[MODEL].versions).sort()).toEqual(['1', '2']);
    expect((await getTraffic()).json).toEqual(INITIAL);
  });

  it('unloads a version without traffic and loads it back; 404 unloading it twice', async () => {
    expect((await putTraffic({ weights: { '1': 100 } })).status).toBe(200);
    const unload = await call('POST', `/admin/models/${MODEL}/versions/2/unload`);
    expect(unload.status, unload.text).toBe(200);
    expect(unload.json.versions).toEqual(['1']);
    expect((await call('POST', `/admin/models/${MODEL}/versions/2/unload`)).status).toBe(404);
    const pinned = await call('POST', '/predict', { model: MODEL, version: '2', features: Array(30).fill(1) }, {});
    expect(pinned.status).toBe(404);
    // Weights for an unloaded version are refused.
    const put = await putTraffic({ weights: { '1': 90, '2': 10 } });
    expect(put.status).toBe(400);
    expect(put.json.error).toMatch(/weights\/2/);
    const load = await call('POST', `/admin/models/${MODEL}/versions/2/load`);
    expect(load.status, load.text).toBe(200);
    expect(load.json.versions).toEqual(['1', '2']);
    // Loaded but not routed until the weights say so.
    expect((await getTraffic()).json).toEqual({ weights: { '1': 100 }, shadow: null });
    expect((await putTraffic(INITIAL)).status).toBe(200);
    const again = await call('POST', '/predict', { model: MODEL, version: '2', features: Array(30).fill(1) }, {});
    expect(again.status).toBe(200);
  });
});
