// One measurement of one arm: wait until the server has drained the previous load, snapshot
// its CPU time, drive the load (wrk or autocannon), snapshot again. Gives req/s, goodput,
// statuses, latency and CPU µs per request (whole process and main thread) for that interval.
import type { ArmSpec } from '../groups.js';
import { runLoad } from './autocannon-run.js';
import { cpuBetween, cpuSnapshot, perRequest, waitForQuiet } from './proc-cpu.js';
import type { ArmRound } from './results.js';
import type { RunningServer } from './spawn-server.js';
import { runWrk } from './wrk.js';

/** Drives the arm's load once, without CPU accounting (warm-up). */
export async function driveLoad(arm: ArmSpec, url: string, durationS: number): Promise<void> {
  await runLoadOnce(arm, url, durationS);
}

export async function measureArm(arm: ArmSpec, server: RunningServer, durationS: number): Promise<ArmRound> {
  const quiet = await waitForQuiet(server.pid);
  const before = cpuSnapshot(server.pid);
  const load = await runLoadOnce(arm, server.url, durationS);
  const after = cpuSnapshot(server.pid);
  if (!before || !after) throw new Error(`${server.name} (pid ${server.pid}) is gone: no CPU reading`);
  const cpu = cpuBetween(before, after);
  return { ...load, cpu: { ...cpu, ...perRequest(cpu, load.requests) }, quietBeforeMs: quiet.quiet ? quiet.waitedMs : null };
}

async function runLoadOnce(arm: ArmSpec, url: string, durationS: number): Promise<Omit<ArmRound, 'cpu' | 'quietBeforeMs'>> {
  if (arm.tool === 'wrk') {
    const w = await runWrk({ url, request: arm.request, connections: arm.connections, durationS, trackAdmitted: arm.trackAdmitted });
    const s = w.socketErrors;
    return {
      durationS: w.durationS,
      requests: w.requests,
      ok: w.ok,
      requestsPerSecond: w.requestsPerSecond,
      goodput: w.goodput,
      statuses: w.statuses,
      socketErrors: s.connect + s.read + s.write + s.timeout,
      latencyMs: w.latencyMs,
      admittedLatencyMs: w.admittedLatencyMs,
      unmatched: w.unmatched,
    };
  }
  const m = await runLoad({ url, request: arm.request, connections: arm.connections, durationS });
  const requests = m.ok + m.errors.non2xx;
  return {
    durationS: m.durationS,
    requests,
    ok: m.ok,
    requestsPerSecond: requests / m.durationS,
    goodput: m.requestsPerSecond,
    statuses: m.statusCodes,
    socketErrors: m.errors.socket,
    // autocannon's latencies are recorded for 2xx answers only (autocannon-run.ts).
    latencyMs: m.latencyMs,
    admittedLatencyMs: m.latencyMs,
    unmatched: 0,
  };
}
