// --watch loads a version folder only when it is complete (files unchanged for
// --watch-settle-ms, or a READY file), so a model.onnx copied before its reference.json gets
// drift monitoring; and it remembers versions the admin API unloaded instead of loading them
// straight back.
import { copyFileSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, getJson, startServer, type RunningServer } from '../helpers/server.js';
import { tempModels } from '../helpers/models.js';

const MODEL = 'breast-cancer';
const TOKEN = 'watch-token';
let dir: string;
let server: RunningServer;

beforeAll(async () => {
  ({ dir } = tempModels(BUNDLED_MODELS, [MODEL]));
  rmSync(join(dir, MODEL, '2'), { recursive: true });
  // Settling takes two scans 1.5 s apart: long enough that a test step in between is never late.
  server = await startServer({ args: ['--models', dir, '--watch', '--watch-settle-ms', '3000', '--workers', '1'], env: { VIGIL_ADMIN_TOKEN: TOKEN } });
});

afterAll(async () => {
  await server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function versionState(version: string): Promise<string | undefined> {
  const stats = await getJson(`${server.url}/stats`);
  return stats.json.models[MODEL].states[version]?.state;
}

async function until(condition: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('--watch loads complete folders only', () => {
  it('model.onnx first, reference.json later: loaded once complete, with drift monitoring', async () => {
    const target = join(dir, MODEL, '2');
    mkdirSync(target);
    copyFileSync(join(BUNDLED_MODELS, MODEL, '2', 'model.onnx'), join(target, 'model.onnx'));
    // The watcher has seen the folder: either waiting (complete folders only) or loaded at once.
    await until(async () => (await versionState('2')) !== undefined, 'the watcher did not see version 2');
    copyFileSync(join(BUNDLED_MODELS, MODEL, '2', 'reference.json'), join(target, 'reference.json'));
    await until(async () => (await versionState('2')) === 'ready', 'version 2 was not loaded');
    const stats = await getJson(`${server.url}/stats`);
    const drift = stats.json.models[MODEL].versions['2'].roles.live.drift;
    expect(drift, 'version 2 must be monitored for drift (its reference.json read)').not.toBeNull();
    expect(drift.length).toBeGreaterThan(0);
  });

  it('a READY file loads a folder at once; a version the admin API unloaded is not loaded back', async () => {
    const unload = await fetch(`${server.url}/admin/models/${MODEL}/versions/2/unload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(unload.status, await unload.text()).toBe(200);
    // Version 3 with a READY marker: its loading proves the watcher scanned after the unload.
    cpSync(join(BUNDLED_MODELS, MODEL, '2'), join(dir, MODEL, '3'), { recursive: true });
    writeFileSync(join(dir, MODEL, '3', 'READY'), '');
    await until(async () => (await versionState('3')) === 'ready', 'version 3 was not loaded');
    // Two more scans, to be sure version 2 is skipped rather than merely not reached yet.
    const scans = server.logs().length;
    cpSync(join(BUNDLED_MODELS, MODEL, '2'), join(dir, MODEL, '4'), { recursive: true });
    writeFileSync(join(dir, MODEL, '4', 'READY'), '');
    await until(async () => (await versionState('4')) === 'ready', 'version 4 was not loaded');
    // The server's log lines reach this process through a pipe, after /stats may already say ready.
    await until(async () => server.logs().length > scans, 'the server logged nothing after version 3');
    expect(await versionState('2')).toBeUndefined();
    // The admin API can load it again.
    const load = await fetch(`${server.url}/admin/models/${MODEL}/versions/2/load`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(load.status, await load.text()).toBe(200);
    expect(await versionState('2')).toBe('ready');
  });
});
