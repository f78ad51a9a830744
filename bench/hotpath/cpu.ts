// CPU time of a process, read from /proc/<pid>/task/*/stat: the whole process, and the main
// thread alone (the task whose tid equals the pid). Clock ticks, converted to microseconds.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_US = 10_000; // USER_HZ = 100 on Linux

export interface CpuSample {
  totalUs: number;
  mainUs: number;
}

function taskTicks(pid: number, tid: string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0; // the thread ended between listing and reading
  }
}

export function readCpu(pid: number): CpuSample {
  let total = 0;
  let main = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const ticks = taskTicks(pid, tid);
    total += ticks;
    if (tid === String(pid)) main = ticks;
  }
  return { totalUs: total * TICK_US, mainUs: main * TICK_US };
}
