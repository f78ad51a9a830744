// One measurement with wrk (C, epoll, one thread): the primary load generator, since one
// autocannon thread saturates before the fastest servers here do. bench/wrk-load.lua sends
// complete raw HTTP requests built here (real held-out rows, cycled), counts every answer by
// status (goodput = 2xx/s), and optionally tags each request with an X-Request-Id so the
// latency of admitted (2xx) answers is measured apart from fast rejections. Its done() prints
// one JSON line, parsed by parseWrkReport().
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LatencyMs, LoadRequest } from './autocannon-run.js';
import { WRK_SCRIPT } from './paths.js';

const run = promisify(execFile);

/** Replaced per request by the script when tagging (see bench/wrk-load.lua). */
export const TAG_MARKER = '@@VB@@';
const REPORT_PREFIX = '@@vigil-bench-wrk ';

export interface WrkMeasurement {
  durationS: number;
  /** Every completed response, whatever its status. */
  requests: number;
  /** Completed responses by HTTP status. */
  statuses: Record<string, number>;
  /** 2xx responses. */
  ok: number;
  /** All responses per second. */
  requestsPerSecond: number;
  /** 2xx responses per second. */
  goodput: number;
  /** wrk's own latency histogram: every response, whatever its status. */
  latencyMs: LatencyMs;
  /** 2xx responses only (tagged runs); null when not tagged or nothing was admitted. */
  admittedLatencyMs: LatencyMs | null;
  /** Tagged runs: answers whose X-Request-Id did not match a request sent (server did not echo it). */
  unmatched: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

export interface WrkOptions {
  url: string;
  request: LoadRequest;
  connections: number;
  /** Whole seconds (wrk takes no fractions). */
  durationS: number;
  /** Per-request timeout (wrk's default is 2 s, far below an overloaded server's tail). */
  timeoutS?: number;
  /** Tag requests with X-Request-Id and measure the latency of 2xx answers apart. */
  trackAdmitted?: boolean;
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

/** A complete HTTP/1.1 request, as wrk will write it to the socket. */
export function rawRequest(url: string, req: LoadRequest, body: string | Uint8Array, tag: boolean): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${new URL(url).host}`];
  for (const [name, value] of Object.entries(req.headers)) lines.push(`${name}: ${value}`);
  if (req.method === 'POST') lines.push(`Content-Length: ${bytes.length}`);
  if (tag) lines.push(`X-Request-Id: ${TAG_MARKER}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), bytes]);
}

interface RawReport {
  durationUs: number;
  requests: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: Record<'p50' | 'p90' | 'p99' | 'p999' | 'mean' | 'max', number>;
  statuses: Record<string, number>;
  unmatched: number;
  admittedUs: Record<'count' | 'p50' | 'p90' | 'p99' | 'p999' | 'mean' | 'max', number>;
}

function toMs(us: RawReport['latencyUs']): LatencyMs {
  return { p50: us.p50 / 1000, p90: us.p90 / 1000, p99: us.p99 / 1000, p999: us.p999 / 1000, mean: us.mean / 1000, max: us.max / 1000 };
}

/** Reads the line bench/wrk-load.lua's done() prints. */
export function parseWrkReport(stdout: string): WrkMeasurement {
  const line = stdout.split('\n').find((l) => l.startsWith(REPORT_PREFIX));
  if (!line) throw new Error(`wrk printed no report line (${REPORT_PREFIX.trim()}):\n${stdout.slice(-800)}`);
  const r = JSON.parse(line.slice(REPORT_PREFIX.length)) as RawReport;
  const durationS = r.durationUs / 1e6;
  if (!(durationS > 0)) throw new Error(`wrk report has no duration: ${line}`);
  const ok = Object.entries(r.statuses).reduce((n, [code, count]) => (code.startsWith('2') ? n + count : n), 0);
  return {
    durationS,
    requests: r.requests,
    statuses: r.statuses,
    ok,
    requestsPerSecond: r.requests / durationS,
    goodput: ok / durationS,
    latencyMs: toMs(r.latencyUs),
    admittedLatencyMs: r.admittedUs.count > 0 ? toMs(r.admittedUs) : null,
    unmatched: r.unmatched,
    socketErrors: { connect: r.errors.connect, read: r.errors.read, write: r.errors.write, timeout: r.errors.timeout },
  };
}

export async function runWrk(o: WrkOptions): Promise<WrkMeasurement> {
  const tag = o.trackAdmitted ?? false;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-wrk-'));
  try {
    const requests = o.request.bodies.length ? o.request.bodies : [''];
    const raw = requests.map((body) => rawRequest(o.url, o.request, body, tag));
    const file = join(dir, 'requests.bin');
    writeFileSync(file, Buffer.concat(raw));
    const seconds = Math.max(1, Math.round(o.durationS)); // wrk reads whole seconds only
    const args = [
      '-t', '1', '-c', String(o.connections), '-d', `${seconds}s`, '--timeout', `${o.timeoutS ?? 10}s`,
      '-s', WRK_SCRIPT, o.url + o.request.path, '--', file, raw.map((r) => r.length).join(','), tag ? '1' : '0',
    ];
    const { stdout } = await run('wrk', args, { timeout: (seconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 });
    return parseWrkReport(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
