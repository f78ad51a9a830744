/**
 * The ring of time slices behind every windowed monitor: `slices` slices of `sliceSeconds`
 * each, read from an injectable clock. The window is the slice being filled plus the previous
 * slices − 1, so it spans between (slices − 1) and slices × sliceSeconds of history. Drift,
 * latency, data quality and performance windows all rotate with it. The ring only tracks time;
 * the owner keeps its storage per slot and zeroes a slot when told it expired.
 */
import type { Clock } from './clock.js';

export class SliceRing {
  readonly slices: number;
  readonly sliceMs: number;
  private readonly clock: Clock;
  /** slice epoch (floor(time / sliceMs)) being filled, and its slot in the ring */
  private epoch: number;
  private current: number;

  /** A ring of `sliceSeconds`-long slices; `what` names the owner's options in errors, e.g. `performance`. */
  static ofSeconds(slices: number, sliceSeconds: number, clock: Clock, what: string): SliceRing {
    if (!Number.isInteger(slices) || slices < 1) throw new Error(`${what}.slices: expected an integer ≥ 1, got ${slices}`);
    if (!Number.isFinite(sliceSeconds) || sliceSeconds <= 0) {
      throw new Error(`${what}.sliceSeconds: expected a number > 0, got ${sliceSeconds}`);
    }
    return new SliceRing(slices, sliceSeconds * 1000, clock, what);
  }

  /** `sliceMs` as the owner computes it (its boundaries are floor(time / sliceMs)). */
  constructor(slices: number, sliceMs: number, clock: Clock, what: string) {
    if (!Number.isInteger(slices) || slices < 1) throw new Error(`${what}.slices: expected an integer ≥ 1, got ${slices}`);
    if (!Number.isFinite(sliceMs) || sliceMs <= 0) throw new Error(`${what}: a slice must last a number of ms > 0, got ${sliceMs}`);
    this.slices = slices;
    this.sliceMs = sliceMs;
    this.clock = clock;
    this.epoch = Math.floor(clock() / this.sliceMs);
    if (!Number.isFinite(this.epoch)) throw new Error(`${what}: clock returned ${clock()}`);
    this.current = this.slotOf(this.epoch);
  }

  /** The slot being filled, as of the last advance. */
  get slot(): number {
    return this.current;
  }

  /**
   * Moves the ring to the current time and returns the slot to fill. `expire(slot)` is called
   * once for every slot that left the window (each slot at most once per call, so a jump
   * longer than the window clears everything). A clock that steps back or returns NaN keeps
   * the current slot rather than corrupting the ring.
   */
  advance(expire: (slot: number) => void): number {
    const e = Math.floor(this.clock() / this.sliceMs);
    if (!(e > this.epoch)) return this.current;
    const steps = Math.min(e - this.epoch, this.slices);
    for (let k = 1; k <= steps; k++) expire((this.current + k) % this.slices);
    this.epoch = e;
    this.current = this.slotOf(e);
    return this.current;
  }

  private slotOf(epoch: number): number {
    return ((epoch % this.slices) + this.slices) % this.slices;
  }
}
