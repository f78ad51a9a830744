// wrk runs with a body read from a file (so binary bodies work), and the server's CPU time
// over the run: one measured run of one request shape against one server.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cpuBetween, cpuSnapshot } from '../lib/proc-cpu.js';

const run = promisify(execFile);

export interface Shape {
  method: 'POST' | 'GET';
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RunResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
  p50Ms: number;
  p99Ms: number;
  cpuTotalUs: number;
  cpuMainUs: number;
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 6e4 };

function parse(out: string) {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  if (!total) throw new Error(`cannot read wrk output:\n${out}`);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  };
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const seconds = (Number(total[2]) * UNIT_MS[total[3]!]!) / 1000;
  return { requests: Number(total[1]), seconds, p50Ms: pct('50'), p99Ms: pct('99'), non2xx: non2xx ? Number(non2xx[1]) : 0 };
}

export async function measure(url: string, pid: number, shape: Shape, connections: number, durationS: number): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-hotpath-'));
  const bodyFile = join(dir, 'body');
  writeFileSync(bodyFile, shape.body);
  const lua = [
    `wrk.method = "${shape.method}"`,
    `local f = io.open("${bodyFile}", "rb"); wrk.body = f:read("*a"); f:close()`,
    ...Object.entries(shape.headers).map(([k, v]) => `wrk.headers["${k}"] = "${v}"`),
  ].join('\n');
  writeFileSync(join(dir, 'script.lua'), lua);
  try {
    const before = cpuSnapshot(pid)!;
    const { stdout } = await run('wrk', ['-t1', `-c${connections}`, `-d${durationS}s`, '--latency', '-s', join(dir, 'script.lua'), url + shape.path],
      { timeout: (durationS + 30) * 1000 });
    const cpu = cpuBetween(before, cpuSnapshot(pid)!);
    const r = parse(stdout);
    return { ...r, rps: r.requests / r.seconds, cpuTotalUs: cpu.processUs, cpuMainUs: cpu.mainUs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
