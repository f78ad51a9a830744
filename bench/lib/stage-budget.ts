// Per-stage CPU budget of a request: Vigil runs under `node --cpu-prof` for one load interval
// (the headline request @64, driven by wrk), its profiles are read after it exits, and the
// main thread's samples in that interval are charged to stages (bench/lib/stage-map.ts).
// Profiling slows the server, so the profile gives shares, not times: µs per request per
// stage = share × the main thread's CPU µs/request measured WITHOUT the profiler (the
// headline group's Vigil arm). The profiled run's own CPU per request is kept to show the
// profiler's overhead.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArmSpec } from '../groups.js';
import { preflight } from './autocannon-run.js';
import { driveLoad } from './arm.js';
import { attribute, readCpuProfile, type Attribution } from './cpu-profile.js';
import { cpuBetween, cpuSnapshot, perRequest, waitForQuiet } from './proc-cpu.js';
import type { ServerRun, StageBudget, ThreadBudget } from './results.js';
import { ServerPool } from './server-pool.js';
import { vigil, type ServerContext } from './servers.js';
import { runWrk } from './wrk.js';

/** Sampling interval of the profiler, µs (V8's default is 1000). */
const PROFILE_INTERVAL_US = 500;

/** keepEmpty: list stages with no samples too (the main thread's budget names every stage). */
function threadBudget(a: Attribution, keepEmpty: boolean): ThreadBudget {
  return {
    samples: a.samples,
    idleSamples: a.idleSamples,
    rows: a.stages
      .filter((s) => keepEmpty || s.samples > 0)
      .map((s) => ({ stage: s.stage, samples: s.samples, share: s.samples / a.samples, usPerRequest: null, top: s.top })),
  };
}

/** Scales the main thread's shares to an unprofiled CPU µs/request. */
export function scaleBudget(budget: StageBudget, mainUsPerRequest: number, source: string): StageBudget {
  if (!Number.isFinite(mainUsPerRequest)) return budget;
  return {
    ...budget,
    scaledTo: { mainUsPerRequest, source },
    main: { ...budget.main, rows: budget.main.rows.map((r) => ({ ...r, usPerRequest: r.share * mainUsPerRequest })) },
  };
}

/** `CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile`; thread id 0 is the main thread. */
export function profileThreadId(file: string, pid: number): number | null {
  const m = new RegExp(`^CPU\\.\\d+\\.\\d+\\.${pid}\\.(\\d+)\\.\\d+\\.cpuprofile$`).exec(file);
  return m ? Number(m[1]) : null;
}

export interface StageBudgetRun {
  budget: StageBudget | null;
  server: ServerRun | null;
  notes: string[];
}

interface ProfiledLoad {
  pid: number;
  window: { fromUs: number; toUs: number };
  requests: number;
  cpu: { processUsPerRequest: number; mainUsPerRequest: number };
}

/** Starts the profiled server, warms it, measures one interval; a string says why not. */
async function loadUnderProfiler(pool: ServerPool, arm: ArmSpec, o: { warmupS: number; durationS: number }): Promise<ProfiledLoad | string> {
  const id = 'vigil-profiled';
  const got = await pool.acquire(id);
  if (!got.ok) return got.reason;
  const server = got.server;
  const check = await preflight(server.url, arm.request);
  if (!check.ok) return `preflight ${check.detail}`;
  await driveLoad(arm, server.url, pool.warmupFor(server, id, o.warmupS));
  await waitForQuiet(server.pid);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const before = cpuSnapshot(server.pid);
  const load = await runWrk({ url: server.url, request: arm.request, connections: arm.connections, durationS: o.durationS });
  const after = cpuSnapshot(server.pid);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  if (!before || !after) return 'the profiled server vanished during the interval';
  return { pid: server.pid, window: { fromUs, toUs }, requests: load.requests, cpu: perRequest(cpuBetween(before, after), load.requests) };
}

export async function measureStageBudget(
  ctx: ServerContext,
  arm: ArmSpec,
  o: { warmupS: number; durationS: number; log: (line: string) => void },
): Promise<StageBudgetRun> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-profile-'));
  const spec = vigil(ctx, 'vigil-profiled', `Vigil under node --cpu-prof (sampling every ${PROFILE_INTERVAL_US} µs), for the stage budget`, [], undefined, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-interval=${PROFILE_INTERVAL_US}`,
  ]);
  const pool = new ServerPool(new Map([[spec.id, spec]]), o.log);
  const done = (budget: StageBudget | null, note?: string): StageBudgetRun => ({
    budget,
    server: pool.runs[0] ?? null,
    notes: [...pool.notes, ...(note ? [`stage budget not measured: ${note}`] : [])],
  });
  try {
    let load: ProfiledLoad | string;
    try {
      load = await loadUnderProfiler(pool, arm, o);
    } finally {
      await pool.releaseAll(); // the profiles are written when the process exits
    }
    if (typeof load === 'string') return done(null, load);
    const files = readdirSync(dir)
      .map((f) => ({ f, tid: profileThreadId(f, load.pid) }))
      .filter((x): x is { f: string; tid: number } => x.tid !== null);
    const main = files.filter((x) => x.tid === 0).map((x) => readCpuProfile(join(dir, x.f)));
    const workers = files.filter((x) => x.tid !== 0).map((x) => readCpuProfile(join(dir, x.f)));
    if (!main.length) return done(null, 'no main-thread profile was written (did the server exit cleanly on SIGTERM?)');
    const budget: StageBudget = {
      request: arm.label,
      connections: arm.connections,
      durationS: o.durationS,
      samplingIntervalUs: PROFILE_INTERVAL_US,
      requests: load.requests,
      profiled: load.cpu,
      scaledTo: null,
      main: threadBudget(attribute(main, 'main', load.window), true),
      workers: workers.length ? threadBudget(attribute(workers, 'worker', load.window), false) : null,
    };
    o.log(
      `stage budget: ${load.requests} requests profiled, ${budget.main.samples} main-thread samples (${budget.main.idleSamples} idle), ` +
        `profiled main thread ${load.cpu.mainUsPerRequest.toFixed(1)} µs/request`,
    );
    return done(budget);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
