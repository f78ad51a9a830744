// Interleaved measurement of two loads, the basis of every ratio the bench reports.
//
// The machine's throughput drifts by tens of percent from one minute to the next (other VMs
// on the host), so "A measured now ÷ B measured three minutes later" mostly measures the
// drift. Instead both servers of a pair run at the same time (each idles while the other is
// measured), both are warmed up, and then short measurements alternate in rounds:
// A B | B A | A B | ... (the order flips every round, so a steady trend over the rounds does
// not favour the side that always goes first). Each side's req/s is the median of its rounds,
// its latency percentiles come from all its rounds' 2xx latencies pooled into one histogram,
// and the ratio is median(A) ÷ median(B); the per-round ratios A_i ÷ B_i (measured seconds
// apart) are kept so their spread shows how steady the figure was.
import type { Pair, PairSide } from '../scenarios.js';
import {
  createLatencyHistogram,
  latencySummary,
  preflight,
  runLoad,
  type LatencyHistogram,
  type LoadRequest,
  type Measurement,
} from './autocannon-run.js';
import type { PairResult, PairSideResult, WrkComparison, WrkToolResult } from './results.js';
import type { ServerPool } from './server-pool.js';
import type { RunningServer } from './spawn-server.js';
import { runWrk } from './wrk.js';

export interface PairOptions {
  warmupS: number;
  rounds: number;
  /** Measured seconds per side and round. */
  roundS: number;
  log: (line: string) => void;
}

/** One thing measured in each round (a server with a request shape, and a load tool). */
export interface Arm<T> {
  measure(durationS: number): Promise<T>;
}

/**
 * Measures every arm once per round, in arm order in even rounds and in reverse order in odd
 * ones; returns each arm's results in round order. onRound sees each round's results (arm order).
 */
export async function interleave<T>(
  arms: Arm<T>[],
  rounds: number,
  roundS: number,
  onRound?: (round: number, results: T[]) => void,
): Promise<T[][]> {
  const out: T[][] = arms.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const order = arms.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    const results: T[] = new Array<T>(arms.length);
    for (const i of order) results[i] = await arms[i]!.measure(roundS);
    results.forEach((x, i) => out[i]!.push(x));
    onRound?.(r, results);
  }
  return out;
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const div = (a: number, b: number): number | null => (b > 0 ? a / b : null);

function sideResult(side: PairSide, rounds: Measurement[], pooled: LatencyHistogram): PairSideResult {
  const rps = rounds.map((m) => m.requestsPerSecond);
  return {
    name: side.name,
    server: side.server,
    model: side.model,
    roundRequestsPerSecond: rps,
    medianRequestsPerSecond: median(rps),
    latencyMs: latencySummary(pooled),
    ok: rounds.reduce((n, m) => n + m.ok, 0),
    errors: rounds.reduce((n, m) => n + m.errors.total, 0),
    rounds,
  };
}

/** Both servers of the pair up, preflighted and warmed, or why not. */
async function prepareSides(
  sides: { server: PairSide['server']; request: LoadRequest; name: string }[],
  connections: number,
  pool: ServerPool,
  o: Pick<PairOptions, 'warmupS'>,
): Promise<RunningServer[] | { status: 'skipped' | 'failed'; reason: string }> {
  const servers: RunningServer[] = [];
  for (const side of sides) {
    const got = await pool.acquire(side.server);
    if (!got.ok) return { status: got.status, reason: `${side.server}: ${got.reason}` };
    servers.push(got.server);
  }
  for (const [i, side] of sides.entries()) {
    const check = await preflight(servers[i]!.url, side.request);
    if (!check.ok) return { status: 'failed', reason: `preflight ${side.name}: ${check.detail}` };
  }
  // Warm up in reverse, so the side measured first in round 1 has just been warmed.
  for (const [i, side] of [...sides.entries()].reverse()) {
    const server = servers[i]!;
    const durationS = pool.warmupFor(server, side.server, o.warmupS);
    await runLoad({ url: server.url, request: side.request, connections, durationS });
  }
  return servers;
}

/** A mid-pair exit makes the pair meaningless: fail it (the pool restarts the server later). */
function assertAlive(servers: RunningServer[]): void {
  for (const s of servers) {
    if (s.exit) throw new Error(`${s.name} (pid ${s.pid}) exited during the pair (code ${s.exit.code}, signal ${s.exit.signal})`);
  }
}

export async function measurePair(pair: Pair, pool: ServerPool, o: PairOptions, label: string): Promise<PairResult> {
  const base = { key: pair.key, name: pair.name, connections: pair.connections, rounds: o.rounds, roundS: o.roundS };
  const sides = [pair.a, pair.b];
  let servers: RunningServer[];
  try {
    const prepared = await prepareSides(sides, pair.connections, pool, o);
    if (!Array.isArray(prepared)) {
      o.log(`${label}: ${prepared.status.toUpperCase()} ${prepared.reason}`);
      return { ...base, ...prepared };
    }
    servers = prepared;
  } catch (err) {
    o.log(`${label}: FAILED ${(err as Error).message}`);
    return { ...base, status: 'failed', reason: (err as Error).message };
  }

  const pooled = sides.map(() => createLatencyHistogram());
  try {
    const arms: Arm<Measurement>[] = sides.map((side, i) => ({
      measure: async (durationS) => {
        const m = await runLoad({ url: servers[i]!.url, request: side.request, connections: pair.connections, durationS, pool: pooled[i] });
        assertAlive(servers);
        return m;
      },
    }));
    const [a, b] = await interleave(arms, o.rounds, o.roundS, (r, [ma, mb]) => {
      const ratio = div(ma!.requestsPerSecond, mb!.requestsPerSecond);
      const errors = ma!.errors.total + mb!.errors.total;
      o.log(
        `  round ${r + 1}/${o.rounds} (${r % 2 ? 'B then A' : 'A then B'}): A ${int(ma!.requestsPerSecond)} req/s, ` +
          `B ${int(mb!.requestsPerSecond)} req/s, A/B ${ratio === null ? '—' : ratio.toFixed(3)}` +
          (errors ? `, errors A ${ma!.errors.total} B ${mb!.errors.total}` : ''),
      );
    });
    const ra = sideResult(pair.a, a!, pooled[0]!);
    const rb = sideResult(pair.b, b!, pooled[1]!);
    const roundRatios = a!.map((m, i) => div(m.requestsPerSecond, b![i]!.requestsPerSecond)).filter((x): x is number => x !== null);
    const roundP99Ratios = a!.map((m, i) => div(m.latencyMs.p99, b![i]!.latencyMs.p99)).filter((x): x is number => x !== null);
    const result: PairResult = {
      ...base,
      status: 'ok',
      a: ra,
      b: rb,
      ratio: div(ra.medianRequestsPerSecond, rb.medianRequestsPerSecond),
      roundRatios,
      p99Ratio: div(ra.latencyMs.p99, rb.latencyMs.p99),
      roundP99Ratios,
    };
    o.log(
      `${label}: A ${int(ra.medianRequestsPerSecond)} req/s (p99 ${ra.latencyMs.p99.toFixed(2)} ms), ` +
        `B ${int(rb.medianRequestsPerSecond)} req/s (p99 ${rb.latencyMs.p99.toFixed(2)} ms), ` +
        `A/B ${result.ratio?.toFixed(3) ?? '—'} (rounds ${spread(roundRatios)})`,
    );
    return result;
  } catch (err) {
    o.log(`${label}: FAILED ${(err as Error).message}`);
    return { ...base, status: 'failed', reason: (err as Error).message };
  } finally {
    for (const h of pooled) h.destroy();
  }
}

/** "min–max" of per-round ratios. */
export function spread(xs: number[], digits = 2): string {
  if (!xs.length) return '—';
  return `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
}

interface ToolRound {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/**
 * The autocannon vs wrk cross-check on the ceiling pair's two servers: four arms interleaved
 * (autocannon and wrk on Vigil, autocannon and wrk on the ceiling), the same single body for
 * both tools (wrk's script sends one). Gives autocannon ÷ wrk per server and the headline
 * ratio as wrk sees it, each from rounds measured seconds apart.
 */
export async function measureWrkCheck(
  pair: Pair,
  pool: ServerPool,
  o: PairOptions,
): Promise<{ comparisons: WrkComparison[]; note?: string }> {
  const sides = [pair.a, pair.b].map((s) => ({ ...s, request: { ...s.request, bodies: s.request.bodies.slice(0, 1) } }));
  const c = pair.connections;
  const prepared = await prepareSides(sides, c, pool, o).catch((err: unknown) => ({
    status: 'failed' as const,
    reason: (err as Error).message,
  }));
  if (!Array.isArray(prepared)) return { comparisons: [], note: `wrk cross-check not run: ${prepared.reason}` };
  const servers = prepared;

  const arms: Arm<ToolRound>[] = sides.flatMap((side, i) => [
    {
      measure: async (durationS: number): Promise<ToolRound> => {
        const m = await runLoad({ url: servers[i]!.url, request: side.request, connections: c, durationS });
        assertAlive(servers);
        return { requestsPerSecond: m.requestsPerSecond, p50Ms: m.latencyMs.p50, p99Ms: m.latencyMs.p99, errors: m.errors.total };
      },
    },
    {
      measure: async (durationS: number): Promise<ToolRound> => {
        const w = await runWrk(servers[i]!.url, side.request, c, durationS);
        assertAlive(servers);
        return { requestsPerSecond: w.requestsPerSecond, p50Ms: w.p50Ms, p99Ms: w.p99Ms, errors: w.non2xx + w.socketErrors };
      },
    },
  ]);
  const rounds = Math.min(3, o.rounds);
  let results: ToolRound[][];
  try {
    results = await interleave(arms, rounds, o.roundS, (r, xs) => {
      o.log(
        `  wrk check round ${r + 1}/${rounds}: ` +
          sides.map((s, i) => `${s.server} autocannon ${int(xs[2 * i]!.requestsPerSecond)} / wrk ${int(xs[2 * i + 1]!.requestsPerSecond)} req/s`).join(', '),
      );
    });
  } catch (err) {
    return { comparisons: [], note: `wrk cross-check failed: ${(err as Error).message.split('\n')[0]}` };
  }
  const tool = (xs: ToolRound[]): WrkToolResult => ({
    requestsPerSecond: median(xs.map((x) => x.requestsPerSecond)),
    p50Ms: median(xs.map((x) => x.p50Ms)),
    p99Ms: median(xs.map((x) => x.p99Ms)),
    errors: xs.reduce((n, x) => n + x.errors, 0),
    rounds: xs.map((x) => x.requestsPerSecond),
  });
  const comparisons = sides.map((side, i): WrkComparison => {
    const ac = tool(results[2 * i]!);
    const wrk = tool(results[2 * i + 1]!);
    return {
      target: side.name,
      connections: c,
      durationS: o.roundS,
      autocannon: ac,
      wrk,
      ratio: div(ac.requestsPerSecond, wrk.requestsPerSecond),
      note: wrk.errors ? `wrk saw ${wrk.errors} errors (non-2xx/socket); its req/s counts them` : undefined,
    };
  });
  for (const w of comparisons) {
    o.log(`  ${w.target}: autocannon ${int(w.autocannon.requestsPerSecond)} req/s, wrk ${int(w.wrk!.requestsPerSecond)} req/s (autocannon / wrk = ${w.ratio?.toFixed(2) ?? '—'})`);
  }
  return { comparisons };
}
