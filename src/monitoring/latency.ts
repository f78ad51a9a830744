/**
 * Latency percentiles per (model, version, role) with HDR histograms, in microseconds.
 *
 * A ring of `slices` HDR histograms covers the recent window (the current slice plus the
 * previous slices − 1, i.e. between (slices − 1)/slices × windowSeconds and windowSeconds of
 * history). A slice leaving the window is folded into the since-start histogram, so a request
 * is recorded once, into its slice (a second record per request cost ≈ 150 ns, measured); both
 * views are merged at read time (scrape), never per request.
 *
 * Uses the pure-JS histograms of hdr-histogram-js: the wasm build needs asynchronous
 * initialisation and cannot be mixed with JS histograms in add().
 */
import * as hdr from 'hdr-histogram-js';
import { type Clock, systemClock } from './clock.js';
import { SliceRing } from './time-slices.js';

/** Recorded range: 1 µs resolution up to 60 s; values outside are clamped. */
export const LATENCY_MAX_MICROS = 60_000_000;

export interface LatencyWindowOptions {
  /** span of the recent window in seconds (default 60) */
  windowSeconds?: number;
  /** number of slices in the ring (default 6) */
  slices?: number;
}

export interface LatencyPercentiles {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Histogram parameters shared by every histogram here (add() needs identical layouts). */
export function buildLatencyHistogram(bitBucketSize: 32 | 64 = 32): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: LATENCY_MAX_MICROS,
    numberOfSignificantValueDigits: 3,
    // 32-bit counts (~70 KB) suffice for a slice or a window; the since-start histogram uses
    // 64-bit (float) counts so it cannot overflow on a long-running server.
    bitBucketSize,
    // We clamp to the range ourselves; a resize would change layouts and break cheap merges.
    autoResize: false,
    useWebAssembly: false,
  });
}

export class LatencyWindow {
  readonly windowSeconds: number;
  readonly slices: number;
  private readonly time: SliceRing;
  private readonly ring: hdr.Histogram[];
  /** the slices that have left the window */
  private readonly past: hdr.Histogram;
  /** reused merge target for reads (avoids allocating a histogram per scrape) */
  private readonly merged: hdr.Histogram;
  private slot: number;
  /** folds one ring slot into the past and empties it (bound once: advance runs on every record) */
  private readonly expireSlot = (s: number) => {
    const slice = this.ring[s]!;
    if (slice.totalCount === 0) return;
    this.past.add(slice);
    slice.reset();
  };

  constructor(options: LatencyWindowOptions = {}, clock: Clock = systemClock) {
    const windowSeconds = options.windowSeconds ?? 60;
    const slices = options.slices ?? 6;
    if (!Number.isFinite(windowSeconds) || windowSeconds <= 0) {
      throw new Error(`latency.windowSeconds: expected a number > 0, got ${windowSeconds}`);
    }
    this.time = new SliceRing(slices, (windowSeconds * 1000) / slices, clock, 'latency');
    this.windowSeconds = windowSeconds;
    this.slices = slices;
    this.ring = Array.from({ length: slices }, () => buildLatencyHistogram(32));
    this.past = buildLatencyHistogram(64);
    this.merged = buildLatencyHistogram(64);
    this.slot = this.time.slot;
  }

  /** Records one latency in microseconds: rounded, clamped to [0, 60 s]; NaN is ignored. */
  record(micros: number): void {
    if (Number.isNaN(micros)) return;
    this.advance();
    const v = micros <= 0 ? 0 : micros >= LATENCY_MAX_MICROS ? LATENCY_MAX_MICROS : Math.round(micros);
    this.ring[this.slot]!.recordValue(v);
  }

  /**
   * Percentiles in microseconds over the recent window or since start. An empty histogram
   * reports all zeros (count 0). HDR reports a percentile as the upper bound of its bucket
   * (within 0.1 %), which can exceed the largest value recorded (one request: p50 139007 with
   * max 138956), so each is clamped to the recorded min and max, which HDR keeps exactly.
   */
  percentiles(which: 'window' | 'total'): LatencyPercentiles {
    this.advance();
    const h = this.merged;
    h.reset();
    if (which === 'total') h.add(this.past);
    for (const slice of this.ring) if (slice.totalCount > 0) h.add(slice);
    if (h.totalCount === 0) return { count: 0, min: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    // Percentile 0 is the lowest value of the first occupied bucket: 0 exactly when a 0 was recorded.
    const min = h.getValueAtPercentile(0) === 0 ? 0 : h.minNonZeroValue;
    const max = h.maxValue;
    const at = (percentile: number) => Math.min(Math.max(h.getValueAtPercentile(percentile), min), max);
    return { count: h.totalCount, min, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max, mean: h.mean };
  }

  /** Rotates the ring to the current time, resetting slices that left the window. */
  private advance(): void {
    this.slot = this.time.advance(this.expireSlot);
  }
}
