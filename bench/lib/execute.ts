// Runs a plan: first the scenarios table (grouped by server: for each scenario a preflight
// request, a warm-up and one measurement), then the interleaved pairs (bench/lib/paired.ts)
// and, when asked, the wrk cross-check. Servers come from a ServerPool: each is started on
// first use and stopped (SIGTERM, peak RSS, Vigil's /stats) after its last use, so both
// servers of a pair run at the same time.
import { COMPARE_CONNECTIONS, groupByServer, pairLabel, scenarioLabel, type Pair, type Scenario } from '../scenarios.js';
import { preflight, runLoad, type Measurement } from './autocannon-run.js';
import { measurePair, measureWrkCheck } from './paired.js';
import type { PairResult, ScenarioResult, ServerRun, WrkComparison } from './results.js';
import { ServerPool } from './server-pool.js';
import type { ServerId, ServerSpec } from './servers.js';
import { wrkAvailable } from './wrk.js';

export interface ExecuteOptions {
  warmupS: number;
  /** Seconds of each scenarios-table measurement. */
  durationS: number;
  /** Pairs: measured rounds, seconds per side and round. */
  rounds: number;
  roundS: number;
  log: (line: string) => void;
}

export interface ExecuteOutput {
  scenarios: ScenarioResult[];
  pairs: PairResult[];
  servers: ServerRun[];
  wrk: WrkComparison[];
  notes: string[];
}

const int = (x: number): string => Math.round(x).toLocaleString('en-US');

/** The pair the wrk cross-check repeats with both tools: Vigil's headline vs the ceiling. */
export function wrkCheckPair(pairs: Pair[]): Pair | undefined {
  return pairs.find((p) => p.key === 'ceiling' && p.connections === COMPARE_CONNECTIONS);
}

type Step =
  | { kind: 'scenarios'; server: ServerId; scenarios: Scenario[] }
  | { kind: 'pair'; pair: Pair }
  | { kind: 'wrk'; pair: Pair };

function serversOf(step: Step): ServerId[] {
  return step.kind === 'scenarios' ? [step.server] : [step.pair.a.server, step.pair.b.server];
}

export async function executePlan(
  /** wrkPair: cross-check this pair with wrk too (run right after it, or alone). */
  plan: { scenarios: Scenario[]; pairs: Pair[]; wrkPair?: Pair },
  specs: Map<ServerId, ServerSpec>,
  o: ExecuteOptions,
): Promise<ExecuteOutput> {
  const out: ExecuteOutput = { scenarios: [], pairs: [], servers: [], wrk: [], notes: [] };
  const steps: Step[] = [...groupByServer(plan.scenarios)].map(([server, scenarios]) => ({ kind: 'scenarios' as const, server, scenarios }));
  for (const pair of plan.pairs) {
    steps.push({ kind: 'pair', pair });
  }
  const wrkPair = plan.wrkPair;
  if (wrkPair) {
    if (!(await wrkAvailable())) out.notes.push('wrk cross-check skipped: wrk is not installed (Debian package wrk)');
    else steps.splice(steps.findIndex((s) => s.kind === 'pair' && s.pair === wrkPair) + 1 || steps.length, 0, { kind: 'wrk', pair: wrkPair });
  }
  // Each server stops right after the last step that uses it.
  const lastUse = new Map<ServerId, number>();
  steps.forEach((step, i) => serversOf(step).forEach((id) => lastUse.set(id, i)));

  const pool = new ServerPool(specs, o.log);
  const total = plan.scenarios.length + plan.pairs.length;
  let index = 0;
  try {
    for (const [i, step] of steps.entries()) {
      if (step.kind === 'scenarios') {
        for (const s of step.scenarios) {
          out.scenarios.push(await runScenario(s, pool, o, `[${++index}/${total}] ${scenarioLabel(s)}`));
        }
      } else if (step.kind === 'pair') {
        const label = `[${++index}/${total}] pair ${step.pair.name}`;
        o.log(`${label}: ${pairLabel(step.pair)}, ${o.rounds} rounds × ${o.roundS} s per side, interleaved`);
        out.pairs.push(await measurePair(step.pair, pool, o, label));
      } else {
        o.log(`wrk cross-check: ${pairLabel(step.pair)}, autocannon and wrk interleaved, one body`);
        const w = await measureWrkCheck(step.pair, pool, o);
        out.wrk.push(...w.comparisons);
        if (w.note) {
          o.log(w.note);
          out.notes.push(w.note);
        }
      }
      for (const id of new Set(serversOf(step))) if (lastUse.get(id) === i) await pool.release(id);
    }
  } finally {
    await pool.releaseAll();
  }
  out.servers = pool.runs;
  out.notes.push(...pool.notes);
  return out;
}

async function runScenario(s: Scenario, pool: ServerPool, o: ExecuteOptions, label: string): Promise<ScenarioResult> {
  const got = await pool.acquire(s.server);
  if (!got.ok) return { ...pick(s), status: got.status, reason: got.reason };
  const server = got.server;
  const check = await preflight(server.url, s.request);
  if (!check.ok) {
    o.log(`${label}: FAILED preflight: ${check.detail}`);
    return { ...pick(s), status: 'failed', reason: `preflight: ${check.detail}` };
  }
  try {
    const warmupS = pool.warmupFor(server, s.server, o.warmupS);
    await runLoad({ url: server.url, request: s.request, connections: s.connections, durationS: warmupS });
    const m = await runLoad({ url: server.url, request: s.request, connections: s.connections, durationS: o.durationS });
    o.log(
      `${label}: ${int(m.requestsPerSecond)} req/s, p50 ${m.latencyMs.p50.toFixed(2)} ms, ` +
        `p99 ${m.latencyMs.p99.toFixed(2)} ms, errors ${m.errors.total}` +
        (m.errors.total ? ` (${describeErrors(m)})` : ''),
    );
    return { ...pick(s), status: 'ok', measurement: m };
  } catch (err) {
    o.log(`${label}: FAILED ${(err as Error).message}`);
    return { ...pick(s), status: 'failed', reason: (err as Error).message };
  }
}

function describeErrors(m: Measurement): string {
  const codes = Object.entries(m.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, n]) => `${n} × ${code}`);
  if (m.errors.socket) codes.push(`${m.errors.socket} socket errors (${m.errors.timeouts} timeouts)`);
  return codes.join(', ');
}

function pick(s: Scenario): Omit<ScenarioResult, 'status'> {
  return { name: s.name, key: s.key, server: s.server, model: s.model, connections: s.connections };
}
