import { describe, expect, it } from 'vitest';
import { LINGER_REST, LingerPolicy } from '../../src/inference/linger.js';

describe('LingerPolicy', () => {
  it('lingers only when asked', () => {
    const policy = new LingerPolicy();
    expect(policy.afterBatch(true)).toBe(true);
    expect(policy.afterBatch(false)).toBe(false);
  });

  it('keeps lingering while most lingers catch the next batch', () => {
    const policy = new LingerPolicy();
    // One linger in ten misses, in a run of 10,000: never a rest.
    for (let i = 0; i < 10_000; i++) {
      expect(policy.afterBatch(true)).toBe(true);
      policy.record(i % 10 !== 0);
    }
  });

  it('rests for LINGER_REST batches once lingers stop paying, then tries again', () => {
    const policy = new LingerPolicy();
    let misses = 0;
    while (policy.afterBatch(true)) {
      policy.record(false);
      misses++;
      expect(misses).toBeLessThan(100);
    }
    expect(misses).toBe(11); // (15/16)^11 < 1/2: the moving average falls under half
    for (let i = 1; i < LINGER_REST; i++) expect(policy.afterBatch(true)).toBe(false);
    expect(policy.afterBatch(true)).toBe(true);
  });
});
