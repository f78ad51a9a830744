// One measurement with wrk (C, epoll), to check autocannon's own numbers: a lua script sets
// the POST body, --latency prints the percentiles we parse.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LoadRequest } from './autocannon-run.js';

const run = promisify(execFile);

export interface WrkMeasurement {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
  raw: string;
}

export async function wrkAvailable(): Promise<boolean> {
  try {
    await run('wrk', ['--version']);
    return true;
  } catch (err) {
    // wrk --version prints its banner and exits 1; only a missing binary is fatal.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** A Lua long-bracket string literal ([=[...]=]); at least one '=' so a trailing ']' is safe. */
function luaString(s: string): string {
  let eq = '=';
  while (s.includes(`]${eq}]`)) eq += '=';
  return `[${eq}[${s}]${eq}]`;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  switch (unit) {
    case 'us':
      return v / 1000;
    case 'ms':
      return v;
    case 's':
      return v * 1000;
    case 'm':
      return v * 60_000;
    default:
      return NaN;
  }
}

export function parseWrk(out: string): WrkMeasurement {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rps) throw new Error(`cannot read wrk output:\n${out}`);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSecond: Number(rps[1]),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    raw: out,
  };
}

/**
 * Measures with wrk. wrk counts every response in Requests/sec; non-2xx are reported apart
 * (the harness checks they are zero before comparing).
 */
export async function runWrk(
  url: string,
  req: LoadRequest,
  connections: number,
  durationS: number,
  threads = 1,
): Promise<WrkMeasurement> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-wrk-'));
  const script = join(dir, 'post.lua');
  const headers = Object.entries(req.headers)
    .map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`)
    .join('\n');
  writeFileSync(
    script,
    [`wrk.method = ${luaString(req.method)}`, `wrk.body = ${luaString(req.bodies[0] ?? '')}`, headers, ''].join('\n'),
  );
  try {
    const { stdout } = await run(
      'wrk',
      ['-t', String(threads), '-c', String(connections), '-d', `${durationS}s`, '--latency', '-s', script, url + req.path],
      { timeout: (durationS + 30) * 1000 },
    );
    return parseWrk(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
