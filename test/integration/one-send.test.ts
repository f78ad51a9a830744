// Every answer leaves in one send(): uWS writes a response's status line, headers and body as
// one buffer only while its socket is corked, and it corks one socket at a time (src/http/cork.ts).
// Answers that settled while another socket's body was arriving used to go out a piece at a
// time, about 30 sends each. Counted here with strace on the real server's threads, under
// concurrent 64-row v2 requests, whose bodies arrive in several reads.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ args: ['--models', BUNDLED_MODELS] });
});

afterAll(async () => {
  await server?.kill();
});

const CONNECTIONS = 32;
const REQUESTS_PER_CONNECTION = 15;

/** A 64-row digits request in v2 JSON (about 9 KB): the held-out rows, in order. */
function digitsBody(): string {
  const { rows } = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'digits/1/heldout.json'), 'utf8')) as { rows: number[][] };
  const data = Array.from({ length: 64 }, (_, i) => rows[i % rows.length]!).flat();
  return JSON.stringify({ inputs: [{ name: 'input', shape: [64, 64], datatype: 'FP32', data }] });
}

/** Attaches strace to every thread of `pid`, tracing sendto into a file; resolves once attached. */
async function traceSends(pid: number): Promise<{ stop: () => Promise<string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-sends-'));
  const file = join(dir, 'trace');
  const strace = spawn('strace', ['-f', '-e', 'trace=sendto', '-o', file, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => strace.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    strace.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/attached/.test(stderr)) resolve();
    });
    strace.once('error', reject);
    strace.once('close', (code) => reject(new Error(`strace exited (${code}) before attaching: ${stderr}`)));
  });
  return {
    stop: async () => {
      strace.kill('SIGINT');
      await exited;
      const trace = readFileSync(file, 'utf8');
      rmSync(dir, { recursive: true, force: true });
      return trace;
    },
  };
}

describe('answers under concurrent multi-read bodies', () => {
  it('each leave in a single send', async () => {
    const body = digitsBody();
    const url = `${server.url}/v2/models/digits/versions/1/infer`;
    const tracer = await traceSends(server.child.pid!);
    let answered = 0;
    const load = Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      for (let i = 0; i < REQUESTS_PER_CONNECTION; i++) {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        expect(res.status).toBe(200);
        const answer = (await res.json()) as { outputs: { name: string; shape: number[] }[] };
        expect(answer.outputs.find((o) => o.name === 'label')?.shape).toEqual([64]);
        answered++;
      }
    }));
    const loaded = await load.then(() => null, (error: unknown) => error);
    const trace = await tracer.stop();
    if (loaded) throw loaded;
    const sends = trace.split('\n').filter((line) => /sendto\(\d+,.*\) = \d+$/.test(line));
    expect(answered).toBe(CONNECTIONS * REQUESTS_PER_CONNECTION);
    // One per answer: a partial send (the client's socket buffer full) would add one, and cannot
    // happen with ~1.5 KB answers to a client that waits for each.
    expect(sends.length).toBe(answered);
  });
});
