// The native uWebSockets.js binary is checked at startup: the npm repackaging silently falls
// back to a slow pure-JS server when the binary cannot load (forced here with its own
// UWS_USE_FALLBACK switch), and Vigil must refuse that unless told otherwise.
import { afterAll, describe, expect, it } from 'vitest';
import { postJson, spawnVigil, startServer, type RunningServer } from '../helpers/server.js';

const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.kill()));
});

describe('uWebSockets.js native binary check', () => {
  it('reports the native binary in the startup line', async () => {
    const server = await startServer();
    servers.push(server);
    expect(server.startup.uws).toMatch(/^uws_linux_x64_\d+\.node$/);
  });

  it('refuses to start on the pure-JS fallback, naming the flag that allows it', async () => {
    const { exited, stdout } = spawnVigil(['--port', '0'], { UWS_USE_FALLBACK: 'true' });
    expect(await exited).toBe(1);
    const fatal = stdout.map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((l) => l?.level === 60);
    expect(fatal?.err).toMatch(/native binary did not load.*--allow-uws-fallback/);
  });

  it('serves on the fallback with --allow-uws-fallback, warning loudly', async () => {
    const server = await startServer({ args: ['--allow-uws-fallback'], env: { UWS_USE_FALLBACK: 'true' } });
    servers.push(server);
    expect(server.startup.uws).toBe('pure-JS fallback');
    expect(server.logs().some((l) => l.level === 40 && /pure-JS fallback/.test(String(l.msg)))).toBe(true);
    const answer = await postJson(`${server.url}/predict`, { model: 'diabetes', features: [0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018] });
    expect(answer.status).toBe(200);
  });
});
