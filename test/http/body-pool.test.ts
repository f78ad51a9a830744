// The pool of binary body memory: a taker gets a buffer no one else holds until it is given
// back; sizes round up to powers of two; large bodies and a full pool go to the collector.
import { describe, expect, it } from 'vitest';
import { BodyPool } from '../../src/http/body-pool.js';

describe('BodyPool', () => {
  it('hands out distinct buffers, and a given-back buffer to the next taker of its size', () => {
    const pool = new BodyPool();
    const a = pool.take(5000);
    const b = pool.take(5000);
    expect(a.length).toBe(8192);
    expect(a.buffer).not.toBe(b.buffer);
    pool.give(a);
    expect(pool.idleByteCount).toBe(8192);
    const c = pool.take(7000);
    expect(c).toBe(a);
    expect(pool.take(7000)).not.toBe(a); // taken, so not handed out twice
    expect(pool.idleByteCount).toBe(0);
  });

  it('does not keep bodies over 1 MiB, foreign views, or more than its idle budget', () => {
    const pool = new BodyPool(16384);
    const big = pool.take((1 << 20) + 1);
    expect(big.length).toBe((1 << 20) + 1);
    pool.give(big);
    pool.give(Buffer.alloc(8192 * 2).subarray(8192)); // a view into a larger buffer
    expect(pool.idleByteCount).toBe(0);
    for (let i = 0; i < 3; i++) pool.give(Buffer.allocUnsafeSlow(8192)); // the third is over the budget
    expect(pool.idleByteCount).toBe(16384);
  });
});
