// Runs one interleaved group: every server of the group up at once, one preflight request per
// arm (must answer 2xx), a warm-up per arm (in reverse order, so the arm measured first has
// just been warmed), then rounds of short measurements alternating between the arms
// (bench/lib/interleave.ts), each with the server's CPU time around it (bench/lib/arm.ts).
import type { ArmSpec, Group } from '../groups.js';
import { preflight } from './autocannon-run.js';
import { driveLoad, measureArm } from './arm.js';
import { interleave, median } from './interleave.js';
import type { ArmResult, ArmRound, ArmSummary, GroupResult } from './results.js';
import type { ServerPool } from './server-pool.js';
import type { ServerId } from './servers.js';
import type { RunningServer } from './spawn-server.js';

export interface GroupOptions {
  warmupS: number;
  rounds: number;
  /** Measured seconds per arm and round. */
  roundS: number;
  log: (line: string) => void;
}

const k = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));

function summarize(rounds: ArmRound[]): ArmSummary {
  const m = (f: (r: ArmRound) => number): number => median(rounds.map(f));
  const admitted = rounds.filter((r) => r.admittedLatencyMs);
  return {
    goodput: m((r) => r.goodput),
    requestsPerSecond: m((r) => r.requestsPerSecond),
    processUsPerRequest: m((r) => r.cpu.processUsPerRequest),
    mainUsPerRequest: m((r) => r.cpu.mainUsPerRequest),
    p50Ms: m((r) => r.latencyMs.p50),
    p99Ms: m((r) => r.latencyMs.p99),
    p999Ms: m((r) => r.latencyMs.p999),
    admittedP50Ms: admitted.length ? median(admitted.map((r) => r.admittedLatencyMs!.p50)) : null,
    admittedP99Ms: admitted.length ? median(admitted.map((r) => r.admittedLatencyMs!.p99)) : null,
  };
}

function armResult(arm: ArmSpec, rounds: ArmRound[]): ArmResult {
  const statuses: Record<string, number> = {};
  for (const r of rounds) for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  return {
    id: arm.id,
    label: arm.label,
    server: arm.server,
    model: arm.model,
    tool: arm.tool,
    connections: arm.connections,
    rounds,
    median: summarize(rounds),
    statuses,
    socketErrors: rounds.reduce((n, r) => n + r.socketErrors, 0),
  };
}

type Prepared = { servers: Map<ServerId, RunningServer> } | { status: GroupResult['status']; reason: string };

/** Every server up, every arm preflighted and warmed, or why not. */
async function prepare(group: Group, pool: ServerPool, o: GroupOptions): Promise<Prepared> {
  // Started side by side: server start-up (model loading, worker pools) dominates a quick run.
  const ids = [...new Set(group.arms.map((a) => a.server))];
  const acquired = await Promise.all(ids.map((id) => pool.acquire(id)));
  const servers = new Map<ServerId, RunningServer>();
  for (const [i, got] of acquired.entries()) {
    if (!got.ok) return { status: got.status, reason: `${ids[i]}: ${got.reason}` };
    servers.set(ids[i]!, got.server);
  }
  for (const arm of group.arms) {
    const check = await preflight(servers.get(arm.server)!.url, arm.request);
    if (check.ok) continue;
    if (arm.optionalFeature) return { status: 'unsupported', reason: `${arm.optionalFeature} (preflight ${arm.label}: ${check.detail})` };
    return { status: 'failed', reason: `preflight ${arm.label}: ${check.detail}` };
  }
  for (const arm of [...group.arms].reverse()) {
    const server = servers.get(arm.server)!;
    await driveLoad(arm, server.url, pool.warmupFor(server, arm.server, o.warmupS));
  }
  return { servers };
}

/** A mid-group exit makes the group meaningless: fail it (the pool restarts the server later). */
function assertAlive(servers: Iterable<RunningServer>): void {
  for (const s of servers) {
    if (s.exit) throw new Error(`${s.name} (pid ${s.pid}) exited during the group (code ${s.exit.code}, signal ${s.exit.signal})`);
  }
}

export async function measureGroup(group: Group, pool: ServerPool, run: GroupOptions, label: string): Promise<GroupResult> {
  const o = { ...run, roundS: Math.max(1, Math.round(run.roundS * (group.roundScale ?? 1))) };
  const base = { key: group.key, title: group.title, rounds: o.rounds, roundS: o.roundS, arms: [] as ArmResult[] };
  let servers: Map<ServerId, RunningServer>;
  try {
    const prepared = await prepare(group, pool, o);
    if (!('servers' in prepared)) {
      o.log(`${label}: ${prepared.status.toUpperCase()} ${prepared.reason}`);
      return { ...base, status: prepared.status, reason: prepared.reason };
    }
    servers = prepared.servers;
  } catch (err) {
    o.log(`${label}: FAILED ${(err as Error).message}`);
    return { ...base, status: 'failed', reason: (err as Error).message };
  }
  try {
    const rounds = await interleave(
      group.arms.map((arm) => ({
        measure: async (durationS: number) => {
          const r = await measureArm(arm, servers.get(arm.server)!, durationS);
          assertAlive(servers.values());
          if (r.quietBeforeMs === null) o.log(`  (${arm.server} was still busy 5 s after the previous load when ${arm.id} started)`);
          return r;
        },
      })),
      o.rounds,
      o.roundS,
      (r, results) => {
        o.log(
          `  round ${r + 1}/${o.rounds}: ` +
            results.map((x, i) => `${group.arms[i]!.id} ${k(x.goodput)}/s ${x.cpu.processUsPerRequest.toFixed(0)} µs`).join(', '),
        );
      },
    );
    const arms = group.arms.map((arm, i) => armResult(arm, rounds[i]!));
    o.log(`${label}: ` + arms.map((a) => `${a.id} ${k(a.median.goodput)} 2xx/s, ${a.median.processUsPerRequest.toFixed(1)} µs/req`).join('; '));
    return { ...base, status: 'ok', arms };
  } catch (err) {
    o.log(`${label}: FAILED ${(err as Error).message}`);
    return { ...base, status: 'failed', reason: (err as Error).message };
  }
}
