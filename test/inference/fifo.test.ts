// The batcher's queue: the same answers as a plain array used as a queue, across many
// compactions of its dead prefix, and memory that follows the live queue, not the traffic.
import { describe, expect, it } from 'vitest';
import { Fifo } from '../../src/inference/fifo.js';
import { mulberry32 } from '../helpers/random.js';

/** The backing array's length: what compaction exists to bound. */
function slots(fifo: Fifo<unknown>): number {
  return (fifo as unknown as { items: unknown[] }).items.length;
}

describe('Fifo', () => {
  it('answers like an array queue through random pushes, shifts and removals (seeded)', () => {
    const random = mulberry32(20261127);
    const fifo = new Fifo<number>();
    const model: number[] = [];
    let next = 0;
    // Compared by hand and reported once: an expect() per step would dominate the run time.
    const mismatch = (step: number, what: string, got: unknown, want: unknown) =>
      new Error(`step ${step}: ${what} gave ${String(got)}, the array queue ${String(want)}`);
    for (let step = 0; step < 200_000; step++) {
      const draw = random();
      // Bursts: a long stretch of pushes then of shifts, so the queue grows past the compaction
      // threshold and drains again many times.
      const pushing = Math.floor(step / 5_000) % 2 === 0 ? draw < 0.6 : draw < 0.4;
      if (pushing) {
        fifo.push(next);
        model.push(next++);
      } else if (draw > 0.999) {
        const odd = (n: number) => n % 3 === 0;
        fifo.removeWhere(odd);
        model.splice(0, model.length, ...model.filter((n) => !odd(n)));
      } else {
        const got = fifo.shift();
        const want = model.shift();
        if (got !== want) throw mismatch(step, 'shift()', got, want);
      }
      if (fifo.length !== model.length) throw mismatch(step, 'length', fifo.length, model.length);
      if (fifo.peek() !== model[0]) throw mismatch(step, 'peek()', fifo.peek(), model[0]);
    }
    while (model.length) expect(fifo.shift()).toBe(model.shift());
    expect(fifo.shift()).toBeUndefined();
    expect(fifo.length).toBe(0);
    expect(next).toBeGreaterThan(100_000);
  });

  it('keeps its backing array near the live length under steady traffic', () => {
    const fifo = new Fifo<number>();
    for (let i = 0; i < 8; i++) fifo.push(i);
    let maxSlots = 0;
    for (let i = 8; i < 100_000; i++) {
      fifo.push(i);
      if (fifo.shift() !== i - 8) throw new Error(`item ${i - 8} came out of order`);
      maxSlots = Math.max(maxSlots, slots(fifo));
    }
    // Compaction starts once over 1024 dead slots dominate: never far above that.
    expect(maxSlots).toBeLessThanOrEqual(1024 + 1 + 8 + 1);
    expect(fifo.length).toBe(8);
    expect(fifo.peek()).toBe(100_000 - 8);
  });

  it('shifting an empty queue gives undefined and leaves it usable', () => {
    const fifo = new Fifo<string>();
    expect(fifo.shift()).toBeUndefined();
    expect(fifo.peek()).toBeUndefined();
    fifo.push('a');
    expect(fifo.length).toBe(1);
    expect(fifo.shift()).toBe('a');
    expect(fifo.shift()).toBeUndefined();
  });
});
