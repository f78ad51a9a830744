// Runs planned scenarios: one server start per server, then for each scenario a preflight
// request, a warm-up and the measurement; optionally the wrk cross-check; then SIGTERM and
// the server's peak RSS.
import { BASE_MODEL, COMPARE_CONNECTIONS, groupByServer, scenarioLabel, type Scenario } from '../scenarios.js';
import { preflight, runLoad, type LoadRequest, type Measurement } from './autocannon-run.js';
import type { ScenarioResult, ServerRun, WrkComparison } from './results.js';
import type { ServerId, ServerSpec } from './servers.js';
import { ServerSkipped, startServer, type RunningServer } from './spawn-server.js';
import { runWrk, wrkAvailable } from './wrk.js';

export interface ExecuteOptions {
  warmupS: number;
  durationS: number;
  /** Cross-check the ceiling and Vigil's headline scenario with wrk. */
  wrk: boolean;
  log: (line: string) => void;
}

export interface ExecuteOutput {
  scenarios: ScenarioResult[];
  servers: ServerRun[];
  wrk: WrkComparison[];
  notes: string[];
}

const int = (x: number): string => Math.round(x).toLocaleString('en-US');

/** The scenarios the wrk cross-check repeats: the ceiling and Vigil's headline, @64. */
export function isWrkCheckScenario(s: Scenario): boolean {
  return (
    s.connections === COMPARE_CONNECTIONS &&
    (s.key === 'ceiling' || (s.key === 'vigil-predict' && s.model === BASE_MODEL))
  );
}

async function wrkCompare(url: string, s: Scenario, o: ExecuteOptions): Promise<WrkComparison> {
  // Both tools get the same single body (wrk's script sends one), one thread each.
  const single: LoadRequest = { ...s.request, bodies: s.request.bodies.slice(0, 1) };
  const ac = await runLoad({ url, request: single, connections: s.connections, durationS: o.durationS });
  const base: WrkComparison = {
    target: s.name,
    connections: s.connections,
    durationS: o.durationS,
    autocannon: {
      requestsPerSecond: ac.requestsPerSecond,
      p50Ms: ac.latencyMs.p50,
      p99Ms: ac.latencyMs.p99,
      errors: ac.errors.total,
    },
    wrk: null,
    ratio: null,
  };
  try {
    const w = await runWrk(url, single, s.connections, o.durationS);
    const errors = w.non2xx + w.socketErrors;
    return {
      ...base,
      wrk: { requestsPerSecond: w.requestsPerSecond, p50Ms: w.p50Ms, p99Ms: w.p99Ms, errors },
      ratio: w.requestsPerSecond > 0 ? ac.requestsPerSecond / w.requestsPerSecond : null,
      note: errors ? `wrk saw ${errors} errors (non-2xx/socket); its req/s counts them` : undefined,
    };
  } catch (err) {
    return { ...base, note: `wrk failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

async function fetchStats(url: string): Promise<unknown> {
  try {
    const res = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? await res.json() : { status: res.status };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export async function executeScenarios(
  scenarios: Scenario[],
  specs: Map<ServerId, ServerSpec>,
  o: ExecuteOptions,
): Promise<ExecuteOutput> {
  const out: ExecuteOutput = { scenarios: [], servers: [], wrk: [], notes: [] };
  const total = scenarios.length;
  let index = 0;
  let wrkOk = o.wrk && (await wrkAvailable());
  if (o.wrk && !wrkOk) out.notes.push('wrk cross-check skipped: wrk is not installed (Debian package wrk)');

  for (const [serverId, group] of groupByServer(scenarios)) {
    const spec = specs.get(serverId)!;
    const skipAll = (status: 'skipped' | 'failed', reason: string): void => {
      for (const s of group) {
        index++;
        out.scenarios.push({ ...pick(s), status, reason });
      }
      out.servers.push({ id: serverId, description: spec.description, status, reason });
    };

    const unavailable = spec.unavailable();
    if (unavailable) {
      o.log(`SKIP ${serverId}: ${unavailable}`);
      skipAll('skipped', unavailable);
      continue;
    }
    let server: RunningServer;
    try {
      server = await startServer(serverId, spec.prepare());
    } catch (err) {
      const skipped = err instanceof ServerSkipped;
      const reason = (err as Error).message;
      o.log(`${skipped ? 'SKIP' : 'FAILED'} ${serverId}: ${reason}`);
      skipAll(skipped ? 'skipped' : 'failed', skipped ? reason : reason.split('\n')[0]!);
      spec.cleanup();
      continue;
    }
    o.log(`started ${serverId} (pid ${server.pid}) at ${server.url}`);
    let restarts = 0;
    let earlierPeakRssKb = 0;

    for (const s of group) {
      index++;
      const label = `[${index}/${total}] ${scenarioLabel(s)}`;
      if (server.exit) {
        // A crash (or a signal from outside the harness) must show, but need not cost the
        // rest of the run: note it with the server's last lines, restart it (at most twice).
        const exit = `${serverId} (pid ${server.pid}) exited during the run (code ${server.exit.code}, signal ${server.exit.signal})`;
        o.log(`${exit}; last lines:\n${server.logTail()}`);
        out.notes.push(`${exit}; see the progress log for its last lines`);
        earlierPeakRssKb = Math.max(earlierPeakRssKb, server.rss.peakKb);
        let restarted: RunningServer | null = null;
        if (restarts < 2) {
          restarts++;
          restarted = await startServer(serverId, spec.prepare()).catch((err: unknown) => {
            o.log(`restart of ${serverId} failed: ${(err as Error).message}`);
            return null;
          });
        }
        if (!restarted) {
          out.scenarios.push({ ...pick(s), status: 'failed', reason: exit });
          o.log(`${label}: FAILED, ${exit}`);
          continue;
        }
        server = restarted;
        o.log(`restarted ${serverId} (pid ${server.pid}) at ${server.url}`);
      }
      const check = await preflight(server.url, s.request);
      if (!check.ok) {
        out.scenarios.push({ ...pick(s), status: 'failed', reason: `preflight: ${check.detail}` });
        o.log(`${label}: FAILED preflight: ${check.detail}`);
        continue;
      }
      try {
        await runLoad({ url: server.url, request: s.request, connections: s.connections, durationS: o.warmupS });
        const m = await runLoad({ url: server.url, request: s.request, connections: s.connections, durationS: o.durationS });
        out.scenarios.push({ ...pick(s), status: 'ok', measurement: m });
        o.log(
          `${label}: ${int(m.requestsPerSecond)} req/s, p50 ${m.latencyMs.p50.toFixed(2)} ms, ` +
            `p99 ${m.latencyMs.p99.toFixed(2)} ms, errors ${m.errors.total}` +
            (m.errors.total ? ` (${describeErrors(m)})` : ''),
        );
      } catch (err) {
        out.scenarios.push({ ...pick(s), status: 'failed', reason: (err as Error).message });
        o.log(`${label}: FAILED ${(err as Error).message}`);
        continue;
      }
      if (wrkOk && isWrkCheckScenario(s)) {
        o.log(`${label}: wrk cross-check (${o.durationS} s autocannon + ${o.durationS} s wrk)`);
        const w = await wrkCompare(server.url, s, o);
        if (w.wrk === null && w.note?.startsWith('wrk failed')) wrkOk = false;
        out.wrk.push(w);
        o.log(
          `  autocannon ${int(w.autocannon.requestsPerSecond)} req/s, wrk ${w.wrk ? int(w.wrk.requestsPerSecond) : '—'} req/s` +
            (w.ratio ? ` (autocannon / wrk = ${w.ratio.toFixed(2)})` : '') +
            (w.note ? `; ${w.note}` : ''),
        );
      }
    }

    const stats = spec.kind === 'vigil' && !server.exit ? await fetchStats(server.url) : undefined;
    const stop = await server.stop();
    spec.cleanup();
    const peakRssMb = Math.max(stop.peakRssKb, earlierPeakRssKb) / 1024;
    out.servers.push({
      id: serverId,
      description: spec.description,
      status: 'ran',
      peakRssMb,
      exitCode: stop.exitCode,
      signal: stop.signal,
      stats,
    });
    const clean = stop.exitCode === 0 && !stop.killed;
    o.log(
      `stopped ${serverId}: peak RSS ${peakRssMb.toFixed(1)} MB, ` +
        (clean ? 'exit 0' : `exit ${stop.exitCode ?? stop.signal}${stop.killed ? ' (killed after SIGTERM grace)' : ''}`),
    );
    if (!clean) out.notes.push(`${serverId} did not exit cleanly on SIGTERM (exit ${stop.exitCode ?? stop.signal}${stop.killed ? ', killed' : ''})`);
  }
  return out;
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
