// Runs a plan: first the scenarios table (grouped by server: for each scenario a preflight
// request, a warm-up and one autocannon measurement), then the interleaved groups
// (bench/lib/group-run.ts). Servers come from a ServerPool: each is started on first use and
// stopped (SIGTERM, peak RSS, Vigil's /stats) after its last use, so every server of a group
// runs at the same time.
import type { Group } from '../groups.js';
import { groupByServer, scenarioLabel, type Scenario } from '../scenarios.js';
import { preflight, runLoad, type Measurement } from './autocannon-run.js';
import { measureGroup } from './group-run.js';
import type { GroupResult, ScenarioResult, ServerRun } from './results.js';
import { ServerPool } from './server-pool.js';
import type { ServerId, ServerSpec } from './servers.js';

export interface ExecuteOptions {
  warmupS: number;
  /** Seconds of each scenarios-table measurement. */
  durationS: number;
  /** Groups: measured rounds, seconds per arm and round. */
  rounds: number;
  roundS: number;
  log: (line: string) => void;
}

export interface ExecuteOutput {
  scenarios: ScenarioResult[];
  groups: GroupResult[];
  servers: ServerRun[];
  notes: string[];
}

const int = (x: number): string => Math.round(x).toLocaleString('en-US');

type Step = { kind: 'scenarios'; server: ServerId; scenarios: Scenario[] } | { kind: 'group'; group: Group };

function serversOf(step: Step): ServerId[] {
  return step.kind === 'scenarios' ? [step.server] : [...new Set(step.group.arms.map((a) => a.server))];
}

export async function executePlan(
  plan: { scenarios: Scenario[]; groups: Group[] },
  specs: Map<ServerId, ServerSpec>,
  o: ExecuteOptions,
): Promise<ExecuteOutput> {
  const out: ExecuteOutput = { scenarios: [], groups: [], servers: [], notes: [] };
  const steps: Step[] = [
    ...[...groupByServer(plan.scenarios)].map(([server, scenarios]) => ({ kind: 'scenarios' as const, server, scenarios })),
    ...plan.groups.map((group) => ({ kind: 'group' as const, group })),
  ];
  // Each server stops right after the last step that uses it.
  const lastUse = new Map<ServerId, number>();
  steps.forEach((step, i) => serversOf(step).forEach((id) => lastUse.set(id, i)));

  const pool = new ServerPool(specs, o.log);
  const total = plan.scenarios.length + plan.groups.length;
  let index = 0;
  try {
    for (const [i, step] of steps.entries()) {
      if (step.kind === 'scenarios') {
        for (const s of step.scenarios) {
          out.scenarios.push(await runScenario(s, pool, o, `[${++index}/${total}] ${scenarioLabel(s)}`));
        }
      } else {
        const g = step.group;
        const label = `[${++index}/${total}] ${g.key}`;
        o.log(`${label}: ${g.title}; ${g.arms.length} arms, ${o.rounds} interleaved rounds`);
        out.groups.push(await measureGroup(g, pool, o, label));
      }
      for (const id of serversOf(step)) if (lastUse.get(id) === i) await pool.release(id);
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
