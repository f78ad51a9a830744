// The /proc CPU accounting behind the bench's CPU µs per request.
import { describe, expect, it } from 'vitest';
import { cpuBetween, cpuSnapshot, parseStatTicks, perRequest } from '../../bench/lib/proc-cpu.js';

// A real stat line's layout (fields 1-17), with a command name holding spaces and parentheses.
const stat = (comm: string, utime: number, stime: number): string =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 1234 0 0 0 ${utime} ${stime} 0 0 20 0 13 0 100 1000000 5000`;

describe('parseStatTicks', () => {
  it('adds utime and stime', () => {
    expect(parseStatTicks(stat('node', 150, 25))).toBe(175);
  });

  it('counts fields after the last parenthesis, whatever the command name holds', () => {
    expect(parseStatTicks(stat('we(ird) name) x', 7, 3))).toBe(10);
  });

  it('says what is wrong with a line that is not a stat line', () => {
    expect(() => parseStatTicks('no parenthesis here')).toThrow(/not a \/proc stat line/);
    expect(() => parseStatTicks('1 (node) S 1')).toThrow(/no utime\/stime/);
  });
});

describe('cpuBetween', () => {
  it('sums every thread, counts a thread born in the interval in full, and reads the main thread by tid == pid', () => {
    const before = { pid: 10, tasks: new Map([[10, 100], [11, 50]]) };
    const after = { pid: 10, tasks: new Map([[10, 130], [11, 60], [12, 5]]) };
    expect(cpuBetween(before, after, 100)).toEqual({ processUs: 450_000, mainUs: 300_000 });
  });

  it('divides by the requests completed, and gives NaN (not Infinity) for none', () => {
    expect(perRequest({ processUs: 1000, mainUs: 600 }, 10)).toEqual({ processUsPerRequest: 100, mainUsPerRequest: 60 });
    expect(perRequest({ processUs: 1000, mainUs: 600 }, 0).processUsPerRequest).toBeNaN();
  });
});

describe('cpuSnapshot', () => {
  it('reads this process: its main thread is the task whose tid is the pid', () => {
    const snap = cpuSnapshot(process.pid);
    expect(snap).not.toBeNull();
    expect(snap!.tasks.has(process.pid)).toBe(true);
    for (const ticks of snap!.tasks.values()) expect(ticks).toBeGreaterThanOrEqual(0);
  });

  it('answers null for a process that does not exist', () => {
    expect(cpuSnapshot(2 ** 22 + 12345)).toBeNull();
  });
});
