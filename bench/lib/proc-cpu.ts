// CPU time of a server process, per thread, from /proc/<pid>/task/<tid>/stat (Linux): the
// kernel's own accounting (utime + stime, in clock ticks), independent of how busy the machine
// is. A snapshot before and after a measured interval, divided by the requests completed in
// it, gives CPU µs per request for the whole process and for its main thread (tid == pid).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on). */
const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * utime + stime (ticks) from one stat line. The command name (field 2) is in parentheses and
 * may itself hold spaces or parentheses, so fields are counted after the last ')'.
 */
export function parseStatTicks(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc stat line: ${JSON.stringify(stat.slice(0, 80))}`);
  // After ')': state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8) flags(9) minflt(10)
  // cminflt(11) majflt(12) cmajflt(13) utime(14) stime(15)
  const fields = stat.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`no utime/stime in stat line: ${JSON.stringify(stat.slice(0, 120))}`);
  return utime + stime;
}

/** CPU ticks of every thread of a process, by thread id. */
export interface CpuSnapshot {
  pid: number;
  tasks: Map<number, number>;
}

/** Reads every thread's ticks; null once the process is gone. */
export function cpuSnapshot(pid: number): CpuSnapshot | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const tasks = new Map<number, number>();
  for (const tid of tids) {
    try {
      tasks.set(Number(tid), parseStatTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
    } catch {
      // the thread ended between readdir and read: its time is lost either way
    }
  }
  return { pid, tasks };
}

export interface CpuUsage {
  /** Every thread (a thread that started in the interval counts in full). */
  processUs: number;
  /** The main thread (tid == pid): JavaScript, the event loop, uWS. */
  mainUs: number;
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot, ticksPerSecond = CLK_TCK): CpuUsage {
  const usPerTick = 1e6 / ticksPerSecond;
  let processTicks = 0;
  for (const [tid, ticks] of after.tasks) processTicks += ticks - (before.tasks.get(tid) ?? 0);
  const mainTicks = (after.tasks.get(after.pid) ?? 0) - (before.tasks.get(before.pid) ?? 0);
  return { processUs: processTicks * usPerTick, mainUs: mainTicks * usPerTick };
}

export interface CpuPerRequest {
  processUsPerRequest: number;
  mainUsPerRequest: number;
}

export function perRequest(usage: CpuUsage, requests: number): CpuPerRequest {
  return requests > 0
    ? { processUsPerRequest: usage.processUs / requests, mainUsPerRequest: usage.mainUs / requests }
    : { processUsPerRequest: NaN, mainUsPerRequest: NaN };
}

/**
 * Waits until the process uses at most `maxShare` of one core over a `windowMs` window (the
 * previous load's queued work drained), polling; gives up after `timeoutMs` and says so.
 */
export async function waitForQuiet(
  pid: number,
  opts: { windowMs?: number; maxShare?: number; timeoutMs?: number } = {},
): Promise<{ quiet: boolean; waitedMs: number }> {
  const windowMs = opts.windowMs ?? 100;
  const maxShare = opts.maxShare ?? 0.2; // at most 2 ticks of 10 ms in 100 ms: timers, not a queue
  const timeoutMs = opts.timeoutMs ?? 5000;
  const started = Date.now();
  let before = cpuSnapshot(pid);
  while (before) {
    await new Promise((r) => setTimeout(r, windowMs));
    const after = cpuSnapshot(pid);
    if (!after) break;
    const used = cpuBetween(before, after).processUs / 1000;
    const waitedMs = Date.now() - started;
    if (used <= maxShare * windowMs) return { quiet: true, waitedMs };
    if (waitedMs >= timeoutMs) return { quiet: false, waitedMs };
    before = after;
  }
  return { quiet: false, waitedMs: Date.now() - started };
}
