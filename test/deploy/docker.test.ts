// The Dockerfile, tested without a Docker engine: every file it copies from the build context
// exists, the runtime stage runs as a non-root user with a HEALTHCHECK, and its ENTRYPOINT — run
// here as written, under Debian's tini — drains on SIGTERM: every request in flight is answered
// with 200 and the process exits 0. The health check script answers 0 only while Vigil is ready.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, FIXTURE_MODELS, postJson, ROOT, startServer, type RunningServer } from '../helpers/server.js';
import { tempModels } from '../helpers/models.js';

interface Instruction { name: string; args: string; stage: number }

/** Dockerfile instructions (continuation lines joined, comments dropped), with their stage index. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!match || line.trimStart().startsWith('#')) continue;
    if (match[1] === 'FROM') stage++;
    out.push({ name: match[1]!, args: match[2]!.trim(), stage });
  }
  return out;
}

const dockerfile = instructions(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const runtime = dockerfile.filter((i) => i.stage === finalStage);
const jsonArgs = (name: string) => {
  const found = runtime.filter((i) => i.name === name);
  expect(found, name).toHaveLength(1);
  return found[0]!.args;
};
const WORKDIR = runtime.find((i) => i.name === 'WORKDIR')!.args;
const ENTRYPOINT = JSON.parse(jsonArgs('ENTRYPOINT')) as string[];
const HEALTHCHECK = JSON.parse(jsonArgs('HEALTHCHECK').replace(/^.*?CMD\s+/, '')) as string[];

/** An image path under WORKDIR, as a path in this checkout (the build stage's dist/ is ours). */
const local = (path: string) => join(ROOT, path.startsWith('/') ? path.slice(WORKDIR.length + 1) : path);
/** The image's command line with its node and files mapped onto this machine. */
const localCommand = (command: string[]) => command.map((part) =>
  part === 'node' ? process.execPath : /\.js$/.test(part) ? local(part) : part);

const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.kill()));
});

describe('Dockerfile', () => {
  it('copies only files that exist in the build context', () => {
    const copies = dockerfile.filter((i) => i.name === 'COPY' && !i.args.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(3);
    for (const copy of copies) {
      const parts = copy.args.split(/\s+/);
      for (const source of parts.slice(0, -1)) expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true);
    }
  });

  it('runs as a non-root user, under tini, with a HEALTHCHECK on readiness', () => {
    expect(jsonArgs('USER')).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime.some((i) => i.name === 'RUN' && /apt-get install .*\btini\b/.test(i.args))).toBe(true);
    expect(ENTRYPOINT.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(existsSync(local(ENTRYPOINT.at(-1)!)), ENTRYPOINT.at(-1)).toBe(true);
    expect(jsonArgs('HEALTHCHECK')).toMatch(/--start-period=\d+s/);
    expect(existsSync(local(HEALTHCHECK.at(-1)!)), HEALTHCHECK.at(-1)).toBe(true);
  });

  it('its ENTRYPOINT under Debian\'s tini answers every in-flight request after SIGTERM and exits 0', async () => {
    expect(existsSync(ENTRYPOINT[0]!), 'Debian package tini').toBe(true);
    const server = await startServer({
      command: localCommand(ENTRYPOINT),
      // The image's ENV, except a loopback address and a free port for the test.
      env: { NODE_ENV: 'production', VIGIL_HOST: '127.0.0.1', VIGIL_PORT: '0', VIGIL_MODELS: BUNDLED_MODELS, VIGIL_WORKERS: '1' },
      port: false,
    });
    servers.push(server);
    const digits = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'digits', '1', 'heldout.json'), 'utf8')) as { rows: number[][] };
    const instances = Array.from({ length: 80 }, (_, i) => digits.rows[i % digits.rows.length]!);
    let settled = 0;
    let firstDone!: () => void;
    const oneDone = new Promise<void>((resolve) => { firstDone = resolve; });
    const requests = Array.from({ length: 40 }, (_, i) =>
      postJson(`${server.url}/predict`, { model: 'digits', instances }, { 'X-Request-ID': `tini-${i}` })
        .finally(() => { settled++; firstDone(); }));
    // Every connection is open once the first answer is back: signal tini (PID of the child).
    await oneDone;
    const pendingAtSignal = 40 - settled;
    server.signal('SIGTERM');
    const answers = await Promise.all(requests);
    answers.forEach(({ status, json }, i) => expect(status, `request ${i}: ${JSON.stringify(json)}`).toBe(200));
    expect(await server.exited, 'tini passes on Vigil\'s exit code').toBe(0);
    const messages = server.logs().map((l) => l.msg);
    expect(messages).toContain('stopping: finishing in-flight requests');
    expect(messages.at(-1)).toBe('stopped');
    expect(pendingAtSignal, 'requests pending when the signal landed').toBeGreaterThanOrEqual(10);
  });

  it('its HEALTHCHECK exits 0 while Vigil is ready and 1 when a model is not ready or nothing listens', async () => {
    const run = (port: number) => spawnSync(localCommand(HEALTHCHECK)[0]!, localCommand(HEALTHCHECK).slice(1), {
      env: { ...process.env, VIGIL_HOST: '0.0.0.0', VIGIL_PORT: String(port) }, encoding: 'utf8', timeout: 15_000,
    });
    const ready = await startServer({ args: ['--models', BUNDLED_MODELS, '--workers', '1'] });
    servers.push(ready);
    expect(run(ready.port).status).toBe(0);
    const models = tempModels(FIXTURE_MODELS, ['broken', 'identity-float32']);
    try {
      const unready = await startServer({ args: ['--models', models.dir, '--workers', '1'] });
      servers.push(unready);
      const result = run(unready.port);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/503 .*not ready: broken/);
      await unready.stop();
    } finally {
      models.cleanup();
    }
    expect(await ready.stop()).toBe(0);
    const refused = run(ready.port);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('/v2/health/ready');
  });
});
