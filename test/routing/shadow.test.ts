import { describe, expect, it } from 'vitest';
import { AgreementTracker, ShadowSampler } from '../../src/routing/shadow.js';
import { mulberry32 } from '../helpers/random.js';

describe('ShadowSampler', () => {
  it('mirrors everything at 100 and nothing at 0 without drawing', () => {
    const never = () => {
      throw new Error('random must not be called');
    };
    const all = new ShadowSampler(100, never);
    const none = new ShadowSampler(0, never);
    for (let i = 0; i < 100; i++) {
      expect(all.shouldMirror()).toBe(true);
      expect(none.shouldMirror()).toBe(false);
    }
  });

  it('mirrors when the draw falls below percent/100', () => {
    let next = 0;
    const s = new ShadowSampler(25, () => next);
    next = 0.2499;
    expect(s.shouldMirror()).toBe(true);
    next = 0.25;
    expect(s.shouldMirror()).toBe(false);
    next = 0.9;
    expect(s.shouldMirror()).toBe(false);
  });

  it('samples about percent of requests over a uniform draw (seeded)', () => {
    const s = new ShadowSampler(30, mulberry32(30));
    let n = 0;
    for (let i = 0; i < 50_000; i++) if (s.shouldMirror()) n++;
    expect(Math.abs(n / 500 - 30)).toBeLessThan(1.5); // sd ≈ 0.2 points
  });

  it('rejects percent outside [0, 100]', () => {
    expect(() => new ShadowSampler(101)).toThrow(RangeError);
    expect(() => new ShadowSampler(-1)).toThrow(RangeError);
    expect(() => new ShadowSampler(Number.NaN)).toThrow(RangeError);
  });
});

describe('AgreementTracker', () => {
  it('is empty at first', () => {
    const t = new AgreementTracker('m', '1', '2');
    expect(t.snapshot()).toEqual({ compared: 0, agreed: 0, ratio: null, meanAbsDiff: null });
    expect(t.recentDisagreements()).toEqual([]);
  });

  it('classification: ratio is exact on known labels', () => {
    const t = new AgreementTracker('breast-cancer', '1', '2');
    const live = [0, 1, 1, 0, 1, 0, 0, 1];
    const shadow = [0, 1, 0, 0, 1, 1, 0, 1];
    live.forEach((l, i) => t.recordClassification(l, shadow[i]!, `req-${i}`));
    expect(t.snapshot()).toEqual({ compared: 8, agreed: 6, ratio: 0.75, meanAbsDiff: null });
    expect(t.disagreements).toBe(2);
    expect(t.recentDisagreements()).toEqual([
      { live: 1, shadow: 0, absDiff: null, context: 'req-2', seq: 3 },
      { live: 0, shadow: 1, absDiff: null, context: 'req-5', seq: 6 },
    ]);
    expect(t.recordClassification('cat', 'cat')).toBe(true);
    expect(t.recordClassification('1', 1)).toBe(false); // no silent coercion
  });

  it('regression: agreement within tolerance and exact mean absolute difference', () => {
    const t = new AgreementTracker('diabetes', '1', '2');
    // |Δ| = 0.5, 2, 0, 1.5, 4 -> mean 1.6; tolerance 1.5 -> agreed: 0.5, 0, 1.5 (inclusive)
    const pairs: [number, number][] = [
      [100, 100.5],
      [50, 48],
      [10, 10],
      [7, 8.5],
      [-2, 2],
    ];
    for (const [a, b] of pairs) t.recordRegression(a, b, 1.5);
    const s = t.snapshot();
    expect(s.compared).toBe(5);
    expect(s.agreed).toBe(3);
    expect(s.ratio).toBe(0.6);
    expect(s.meanAbsDiff).toBe(1.6);
    expect(t.recentDisagreements().map((d) => d.absDiff)).toEqual([2, 4]);
  });

  it('non-finite regression outputs disagree and stay out of the mean', () => {
    const t = new AgreementTracker('diabetes', '1', '2');
    t.recordRegression(1, 2, 10);
    expect(t.recordRegression(1, Number.NaN, 10)).toBe(false);
    expect(t.recordRegression(Number.POSITIVE_INFINITY, 1, 10)).toBe(false);
    expect(t.snapshot()).toEqual({ compared: 3, agreed: 1, ratio: 1 / 3, meanAbsDiff: 1 });
  });

  it('mean absolute difference stays accurate over many rows (compensated sum)', () => {
    const t = new AgreementTracker('m', '1', '2');
    t.recordRegression(0, 1e8, 0);
    for (let i = 0; i < 100_000; i++) t.recordRegression(0, 0.1, 1);
    // exact: (1e8 + 1e4) / 100001
    expect(t.snapshot().meanAbsDiff).toBeCloseTo((1e8 + 1e4) / 100_001, 9);
  });

  it('keeps only the last N disagreements, oldest first; reset clears', () => {
    const t = new AgreementTracker('m', '1', '2', 20);
    for (let i = 0; i < 45; i++) t.recordClassification(`a${i}`, `b${i}`);
    const recent = t.recentDisagreements();
    expect(recent).toHaveLength(20);
    expect(recent[0]!.live).toBe('a25');
    expect(recent[19]!.live).toBe('a44');
    expect(t.disagreements).toBe(45);
    t.reset();
    expect(t.snapshot().compared).toBe(0);
    expect(t.recentDisagreements()).toEqual([]);
    const none = new AgreementTracker('m', '1', '2', 0);
    none.recordClassification(1, 2);
    expect(none.recentDisagreements()).toEqual([]);
    expect(none.disagreements).toBe(1);
  });
});
