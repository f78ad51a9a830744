import * as hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { LATENCY_MAX_MICROS, LatencyWindow, type LatencyPercentiles } from '../../src/monitoring/latency.js';
import { mulberry32 } from '../helpers/random.js';

/** Log-normal-ish latencies from ~50 µs to ~1 s, integer microseconds. */
function latency(r: () => number): number {
  return Math.round(Math.exp(4 + r() * 10));
}

/**
 * Independent reference: a default-layout hdr histogram (32-bit counts) fed the same values,
 * its percentiles clamped to the min and max of the values themselves.
 */
function reference(values: number[]): LatencyPercentiles {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  for (const v of values) h.recordValue(v);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const at = (p: number) => Math.min(Math.max(h.getValueAtPercentile(p), min), max);
  const out = { count: h.totalCount, min, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max, mean: h.mean };
  h.destroy();
  return values.length ? out : { count: 0, min: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
}

describe('LatencyWindow', () => {
  it('total percentiles equal a histogram fed the same values', () => {
    const r = mulberry32(1);
    let now = 0;
    const w = new LatencyWindow({}, () => now);
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const v = latency(r);
      values.push(v);
      w.record(v);
      now += 17; // 340 s: the window rotates many times, the total keeps everything
    }
    const total = w.percentiles('total');
    expect(total).toEqual(reference(values));
    expect(total.count).toBe(20_000);
    expect(total.p50).toBeGreaterThan(0);
    expect(total.p999).toBeGreaterThanOrEqual(total.p99);
  });

  it('window percentiles count only values in live slices, through rotation and jumps', () => {
    const r = mulberry32(2);
    const windowSeconds = 60;
    const slices = 6;
    const sliceMs = (windowSeconds * 1000) / slices;
    let now = 1_700_000_000_000;
    const w = new LatencyWindow({ windowSeconds, slices }, () => now);
    const log: Array<{ epoch: number; v: number }> = [];
    const check = () => {
      const epoch = Math.floor(now / sliceMs);
      const live = log.filter((e) => e.epoch > epoch - slices).map((e) => e.v);
      expect(w.percentiles('window')).toEqual(reference(live));
      expect(w.percentiles('total')).toEqual(reference(log.map((e) => e.v)));
      return live.length;
    };
    let nonEmpty = 0;
    for (let step = 0; step < 40; step++) {
      const n = Math.floor(r() * 300);
      for (let i = 0; i < n; i++) {
        const v = latency(r);
        w.record(v);
        log.push({ epoch: Math.floor(now / sliceMs), v });
        now += Math.floor(r() * 20);
      }
      if (check() > 0) nonEmpty++;
      now += Math.floor(r() * 2.5 * sliceMs);
      if (check() > 0) nonEmpty++;
    }
    expect(nonEmpty).toBeGreaterThan(40);
    // A jump longer than the window empties it (including the slice being filled just before
    // the jump); the total is unaffected.
    w.record(777);
    log.push({ epoch: Math.floor(now / sliceMs), v: 777 });
    now += 10 * windowSeconds * 1000 + 2 * sliceMs;
    expect(check()).toBe(0);
    expect(w.percentiles('window')).toMatchObject({ count: 0, p50: 0, p99: 0, max: 0, mean: 0 });
    expect(w.percentiles('total').count).toBe(log.length);
    w.record(1234);
    log.push({ epoch: Math.floor(now / sliceMs), v: 1234 });
    expect(check()).toBe(1);
  });

  it('clamps out-of-range values, rounds fractions, ignores NaN', () => {
    const w = new LatencyWindow({}, () => 0);
    w.record(-5);
    w.record(1e12);
    w.record(Infinity);
    w.record(NaN);
    w.record(2.6);
    expect(w.percentiles('total')).toEqual(reference([0, LATENCY_MAX_MICROS, LATENCY_MAX_MICROS, 3]));
    expect(w.percentiles('window').count).toBe(4);
  });

  it('reports zeros when empty and validates options', () => {
    const w = new LatencyWindow({}, () => 0);
    expect(w.percentiles('window')).toEqual({ count: 0, min: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 });
    expect(w.percentiles('total').count).toBe(0);
    expect(() => new LatencyWindow({ slices: 0 })).toThrow(/slices/);
    expect(() => new LatencyWindow({ windowSeconds: 0 })).toThrow(/windowSeconds/);
  });

  it('never reports a percentile outside the recorded min and max', () => {
    // One request of 138956 µs: HDR's bucket bound is 139007, above the only value recorded.
    const one = new LatencyWindow({}, () => 0);
    one.record(138_956);
    const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    h.recordValue(138_956);
    expect(h.getValueAtPercentile(50)).toBe(139_007); // the unclamped figure the issue reported
    h.destroy();
    for (const which of ['window', 'total'] as const) {
      expect(one.percentiles(which)).toMatchObject({ count: 1, min: 138_956, p50: 138_956, p999: 138_956, max: 138_956 });
    }
    // Many values: every percentile within [min, max], ordered, and max is the exact largest.
    const r = mulberry32(3);
    const w = new LatencyWindow({}, () => 0);
    let lo = Infinity;
    let hi = 0;
    for (let i = 0; i < 5000; i++) {
      const v = latency(r);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      w.record(v);
    }
    const p = w.percentiles('total');
    expect(p.min).toBe(lo);
    expect(p.max).toBe(hi);
    const ordered = [p.min, p.p50, p.p90, p.p99, p.p999, p.max];
    expect([...ordered].sort((a, b) => a - b)).toEqual(ordered);
  });
});
