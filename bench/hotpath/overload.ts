// Overload: 64-row /predict requests (breast-cancer v2, rows by name) from a closed loop of
// connections that retry at once, at 16 connections (under capacity) and at 256 (far over it).
// hey records every request's status and latency (-o csv), so the report can give goodput
// (2xx per second), the p99 of admitted (2xx) requests only, and how much CPU the server spent
// per request it refused.
//
//   node dist/bench/hotpath/overload.js [--duration 10] [--server vigil|vigil@DIR] [--vigil-args "…"]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_MODELS, VIGIL_MAIN } from '../lib/paths.js';
import { startServer } from '../lib/spawn-server.js';
import { readCpu } from './cpu.js';
import { SHAPES } from './shapes.js';

const run = promisify(execFile);
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const duration = Number(arg('duration', '10'));
const serverArg = arg('server', 'vigil');
const main = serverArg.startsWith('vigil@') ? join(serverArg.slice(6), 'dist', 'src', 'main.js') : VIGIL_MAIN;
const vigilArgs = arg('vigil-args', '').split(' ').filter(Boolean);

const server = await startServer('vigil', {
  command: process.execPath,
  args: [main, '--port', '0', '--models', DEFAULT_MODELS, '--log-level', 'info', ...vigilArgs],
  startTimeoutMs: 60_000,
});
const dir = mkdtempSync(join(tmpdir(), 'vigil-overload-'));
const bodyFile = join(dir, 'body.json');
writeFileSync(bodyFile, SHAPES.bc64!.body);

interface Result { connections: number; ok: number; refused: number; other: number; goodput: number; p50: number; p99: number; cpuPerRequestUs: number }

async function measure(connections: number, seconds: number): Promise<Result> {
  const before = readCpu(server.pid);
  const { stdout } = await run('hey', ['-c', String(connections), '-z', `${seconds}s`, '-t', '60', '-m', 'POST', '-T', 'application/json',
    '-D', bodyFile, '-o', 'csv', `${server.url}/predict`], { maxBuffer: 1 << 30, timeout: (seconds + 90) * 1000 });
  const after = readCpu(server.pid);
  const okLatencies: number[] = [];
  let refused = 0;
  let other = 0;
  for (const line of stdout.split('\n').slice(1)) {
    const fields = line.split(',');
    if (fields.length < 8) continue;
    const status = Number(fields[6]);
    if (status >= 200 && status < 300) okLatencies.push(Number(fields[0]) * 1000);
    else if (status === 503) refused++;
    else other++;
  }
  okLatencies.sort((a, b) => a - b);
  const at = (q: number) => okLatencies[Math.min(okLatencies.length - 1, Math.floor(q * okLatencies.length))] ?? NaN;
  const total = okLatencies.length + refused + other;
  return {
    connections, ok: okLatencies.length, refused, other, goodput: okLatencies.length / seconds,
    p50: at(0.5), p99: at(0.99), cpuPerRequestUs: (after.totalUs - before.totalUs) / Math.max(1, total),
  };
}

try {
  await measure(16, 3); // warm up
  const results: Result[] = [];
  for (const connections of [16, 256, 16, 256]) {
    const r = await measure(connections, duration);
    results.push(r);
    console.error(`@${connections}: ${r.goodput.toFixed(0)} 2xx/s, ${(r.refused / duration).toFixed(0)} 503/s, other ${r.other}, admitted p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms, CPU ${r.cpuPerRequestUs.toFixed(0)} µs/request`);
  }
  const pick = (c: number) => results.filter((r) => r.connections === c);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [low, high] = [pick(16), pick(256)];
  console.log(`goodput @256 / @16: ${(mean(high.map((r) => r.goodput)) / mean(low.map((r) => r.goodput))).toFixed(2)} (target ≥ 0.80)`);
  console.log(`admitted p99 @256 / @16: ${(mean(high.map((r) => r.p99)) / mean(low.map((r) => r.p99))).toFixed(2)} (target ≤ 4)`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
