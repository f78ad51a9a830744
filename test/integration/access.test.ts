// Access and life cycle: data-plane API keys (several, constant time) that never stand in the
// way of probes and scrapes unless --metrics-auth, the Host allow-list against DNS rebinding
// (on by default for loopback binds), the admin API on its own listener, the exclusive port,
// and a drain that finishes a request whose body is still arriving at SIGTERM.
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { rawHttp, rawRequest } from '../helpers/raw-http.js';
import { BUNDLED_MODELS, getJson, postJson, spawnVigil, startServer, type RunningServer } from '../helpers/server.js';

const row = [0.03, -0.04, 0.06, 0.02, -0.04, -0.03, -0.01, -0.002, 0.02, 0.003];
const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.kill()));
});

async function start(args: string[], env: Record<string, string> = {}) {
  const server = await startServer({ args: ['--models', BUNDLED_MODELS, '--workers', '1', ...args], env });
  servers.push(server);
  return server;
}

/** A GET with a chosen Host header (fetch will not send one of its own choosing). */
async function getWithHost(server: RunningServer, path: string, host: string, extra: [string, string][] = []) {
  const result = await rawHttp(server.port, { pieces: [rawRequest('GET', path, [['Host', host], ...extra])], expectResponses: 1 });
  return result.responses[0]!;
}

describe('API keys (VIGIL_API_KEYS)', () => {
  it('the data plane needs one of the keys; probes and scrapes stay open', async () => {
    const server = await start([], { VIGIL_API_KEYS: 'key-one, key-two' });
    const body = { model: 'diabetes', features: row };
    const none = await postJson(`${server.url}/predict`, body);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await postJson(`${server.url}/predict`, body, { authorization: 'Bearer key-wrong' })).status).toBe(401);
    expect((await postJson(`${server.url}/predict`, body, { authorization: 'Bearer key-one' })).status).toBe(200);
    expect((await postJson(`${server.url}/predict`, body, { authorization: 'bearer key-two' })).status).toBe(200);
    const v2 = { inputs: [{ name: 'input', shape: [1, 10], datatype: 'FP32', data: row }] };
    expect((await postJson(`${server.url}/v2/models/diabetes/infer`, v2)).status).toBe(401);
    expect((await postJson(`${server.url}/v2/models/diabetes/infer`, v2, { authorization: 'Bearer key-two' })).status).toBe(200);
    expect((await getJson(`${server.url}/stats`)).status).toBe(401);
    for (const open of ['/metrics', '/v2/health/live', '/v2/health/ready', '/dashboard']) {
      expect((await getJson(`${server.url}${open}`)).status, open).toBe(200);
    }
  });

  it('--metrics-auth puts /metrics and the health probes behind the keys too', async () => {
    const server = await start(['--metrics-auth'], { VIGIL_API_KEYS: 'scrape-key' });
    for (const path of ['/metrics', '/v2/health/ready']) {
      expect((await getJson(`${server.url}${path}`)).status, path).toBe(401);
      expect((await getJson(`${server.url}${path}`, { authorization: 'Bearer scrape-key' })).status, path).toBe(200);
    }
  });
});

describe('Host allow-list', () => {
  it('bound to loopback, a foreign Host (a DNS-rebinding page) cannot read /stats or predict; probes and scrapes still answer', async () => {
    const server = await start([]);
    const stats = await getWithHost(server, '/stats', 'evil.example:8080');
    expect(stats.status).toBe(403);
    expect(stats.json.error).toMatch(/evil\.example.*--allowed-hosts/);
    expect((await getWithHost(server, '/stats', `localhost:${server.port}`)).status).toBe(200);
    expect((await getWithHost(server, '/stats', `127.0.0.1:${server.port}`)).status).toBe(200);
    expect((await getWithHost(server, '/stats', `[::1]:${server.port}`)).status).toBe(200);
    for (const probe of ['/metrics', '/v2/health/live', '/v2/health/ready']) {
      expect((await getWithHost(server, probe, 'evil.example:8080')).status, probe).toBe(200);
    }
    const body = JSON.stringify({ model: 'diabetes', features: row });
    const predict = await rawHttp(server.port, {
      pieces: [rawRequest('POST', '/predict', [['Host', 'evil.example'], ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], body)],
      expectResponses: 1,
    });
    expect(predict.responses[0]?.status).toBe(403);
  });

  it("--allowed-hosts names the accepted hosts; '*' turns the check off", async () => {
    const named = await start(['--allowed-hosts', 'vigil.internal']);
    expect((await getWithHost(named, '/stats', 'vigil.internal:80')).status).toBe(200);
    expect((await getWithHost(named, '/stats', 'localhost')).status).toBe(403);
    const any = await start(['--allowed-hosts', '*']);
    expect((await getWithHost(any, '/stats', 'anything.example')).status).toBe(200);
  });
});

describe('admin API on its own listener', () => {
  it('--admin-port serves /admin there and not on the main port', async () => {
    const server = await start(['--admin-port', '0'], { VIGIL_ADMIN_TOKEN: 'adm' });
    const adminUrl = String(server.startup.admin_url);
    expect(adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const auth = { authorization: 'Bearer adm' };
    expect((await getJson(`${server.url}/admin/models/diabetes/traffic`, auth)).status).toBe(404);
    const there = await getJson(`${adminUrl}/admin/models/diabetes/traffic`, auth);
    expect(there.status, there.text).toBe(200);
    expect((await getJson(`${adminUrl}/predict`)).status).toBe(404);
    expect((await postJson(`${server.url}/predict`, { model: 'diabetes', features: row })).status).toBe(200);
  });
});

describe('life cycle', () => {
  it('a second Vigil on a port in use refuses to start, naming the port; the first keeps all traffic', async () => {
    // An explicit port, as in production (the kernel never shares a port it picked for port 0).
    const first = await start(['--port', String(await freePort())]);
    const second = spawnVigil(['--models', BUNDLED_MODELS, '--workers', '1', '--port', String(first.port)]);
    expect(await second.exited).toBe(1);
    const fatal = second.stdout.map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((l) => l?.level === 60);
    expect(fatal?.err).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: the port is in use`));
    expect((await getJson(`${first.url}/v2/health/live`)).status).toBe(200);
  });

  it('SIGTERM while an admitted request is still sending its body: the request is answered, then the process exits 0', async () => {
    const server = await startServer({ args: ['--models', BUNDLED_MODELS, '--workers', '1'] });
    const body = JSON.stringify({ model: 'diabetes', features: row });
    const pieces = [rawRequest('POST', '/predict', [['Host', 'localhost'], ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], ''),
      body.slice(0, 10), body.slice(10, 40), body.slice(40)];
    const answer = rawHttp(server.port, { pieces, gapMs: 300, expectResponses: 1, afterPiece: (i) => { if (i === 1) server.signal('SIGTERM'); } });
    const result = await answer;
    expect(result.responses[0]?.status, JSON.stringify(result)).toBe(200);
    expect(await server.exited).toBe(0);
  });

  it('SIGTERM while a body never completes: the body deadline answers 408 and the drain still ends', async () => {
    const server = await startServer({ args: ['--models', BUNDLED_MODELS, '--workers', '1', '--body-timeout-ms', '1000'] });
    const pieces = [rawRequest('POST', '/predict', [['Host', 'localhost'], ['Content-Type', 'application/json'], ['Content-Length', '500']], '{"model":'), '"diab'];
    const answer = rawHttp(server.port, { pieces, gapMs: 300, expectResponses: 1, afterPiece: (i) => { if (i === 1) server.signal('SIGTERM'); } });
    expect((await answer).responses[0]?.status).toBe(408);
    expect(await server.exited).toBe(0);
  });
});

