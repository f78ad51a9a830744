import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AUC_BINS,
  PerformanceWindow,
  aucBin,
  type AucValue,
  type ClassificationMetrics,
  type PerformanceTask,
  type RegressionMetrics,
} from '../../src/monitoring/performance.js';

interface OracleCase {
  name: string;
  task: PerformanceTask;
  classes: number;
  split: number;
  actual: number[];
  predicted: number[];
  probabilities?: number[][];
  all: Record<string, number | null>;
  from_split: Record<string, number | null>;
}

// scikit-learn's answers, written by test/fixtures/oracles/build_oracles.py.
const oracle = JSON.parse(
  readFileSync(join(__dirname, '..', 'fixtures', 'oracles', 'performance.json'), 'utf8'),
) as { cases: OracleCase[] };

const SLICE_SECONDS = 10;
const SLICES = 4;

function record(window: PerformanceWindow, c: OracleCase, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if (c.task === 'regression') window.recordValue(c.actual[i]!, c.predicted[i]!);
    else window.recordClass(c.actual[i]!, c.predicted[i]!, c.probabilities![i]!);
  }
}

function expectMetrics(got: ClassificationMetrics | RegressionMetrics, want: Record<string, number | null>, labels: number, what: string): void {
  const values = got as unknown as Record<string, { value: number | null; labels: number }>;
  expect(Object.keys(values).sort(), what).toEqual(Object.keys(want).sort());
  for (const [metric, expected] of Object.entries(want)) {
    const m = values[metric]!;
    expect(m.labels, `${what} ${metric} labels`).toBe(labels);
    if (expected === null) {
      expect(m.value, `${what} ${metric}`).toBeNull();
    } else if (metric === 'auc') {
      const auc = m as AucValue;
      expect(Math.abs(auc.value! - expected), `${what} auc ${auc.value} vs ${expected}, bound ${auc.error_bound}`)
        .toBeLessThanOrEqual(auc.error_bound! + 1e-12);
    } else {
      expect(Math.abs(m.value! - expected), `${what} ${metric} ${m.value} vs ${expected}`).toBeLessThanOrEqual(1e-9);
    }
  }
}

describe('PerformanceWindow against scikit-learn', () => {
  for (const c of oracle.cases) {
    it(`${c.name}: window metrics equal scikit-learn's, before and after the first slice expires`, () => {
      let now = 0;
      const window = new PerformanceWindow(c.task, c.classes || 0, { slices: SLICES, sliceSeconds: SLICE_SECONDS }, () => now);
      // Rows before the split land in slice 0; the rest across slices 1..3.
      record(window, c, 0, c.split);
      const rest = c.actual.length - c.split;
      for (let s = 1; s < SLICES; s++) {
        now = s * SLICE_SECONDS * 1000 + 1;
        record(window, c, c.split + Math.floor(((s - 1) * rest) / (SLICES - 1)), c.split + Math.floor((s * rest) / (SLICES - 1)));
      }
      const all = window.snapshot();
      expect(all.labels).toBe(c.actual.length);
      expectMetrics(all.metrics, c.all, c.actual.length, `${c.name} all`);

      now = SLICES * SLICE_SECONDS * 1000; // slice 0 leaves the window
      const recent = window.snapshot();
      expect(recent.labels).toBe(rest);
      expectMetrics(recent.metrics, c.from_split, rest, `${c.name} from ${c.split}`);

      // Lifetime counters keep every label.
      const totals = window.totals();
      expect(totals.labels).toBe(c.actual.length);
      if (c.task === 'regression') {
        const abs = c.actual.reduce((s, a, i) => s + Math.abs(c.predicted[i]! - a), 0);
        const sq = c.actual.reduce((s, a, i) => s + (c.predicted[i]! - a) ** 2, 0);
        expect(totals.absError).toBeCloseTo(abs, 6);
        expect(totals.squaredError).toBeCloseTo(sq, 3);
        expect(totals.confusion).toEqual([]);
      } else {
        const cells = new Map<string, number>();
        c.actual.forEach((a, i) => cells.set(`${a},${c.predicted[i]}`, (cells.get(`${a},${c.predicted[i]}`) ?? 0) + 1));
        expect(totals.confusion.map((x) => [`${x.actual},${x.predicted}`, x.count]).sort()).toEqual([...cells].sort());
        expect(totals.correct).toBe(c.actual.filter((a, i) => a === c.predicted[i]).length);
      }
    });
  }

  it('resolves AUC finely on untied scores (error bound under 0.2 %)', () => {
    const c = oracle.cases.find((x) => x.name === 'binary')!;
    const window = new PerformanceWindow('binary-classification', 2, { slices: 1, sliceSeconds: 60 }, () => 0);
    record(window, c, 0, c.actual.length);
    const auc = (window.snapshot().metrics as ClassificationMetrics).auc!;
    console.log(`AUC ${auc.value} vs scikit-learn ${c.all.auc}, error bound ${auc.error_bound}`);
    expect(auc.error_bound).toBeLessThan(0.002);
  });
});

describe('PerformanceWindow', () => {
  const options = { slices: 3, sliceSeconds: 1 };

  it('reports null metrics with no labels, and counts each metric\'s own labels', () => {
    const window = new PerformanceWindow('binary-classification', 2, options, () => 0);
    const empty = window.snapshot().metrics as ClassificationMetrics;
    for (const m of Object.values(empty)) expect(m).toMatchObject({ value: null, labels: 0 });
    // A row without probabilities (or with NaN ones) scores accuracy but not log loss or AUC.
    window.recordClass(1, 1, null);
    window.recordClass(0, 1, [NaN, NaN]);
    window.recordClass(0, 0, [0.9, 0.1]);
    window.recordClass(1, 1, [0.2, 0.8]);
    const m = window.snapshot().metrics as ClassificationMetrics;
    expect(m.accuracy).toEqual({ value: 0.75, labels: 4 });
    expect(m.log_loss.labels).toBe(2);
    expect(m.log_loss.value).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8)) / 2, 12);
    expect(m.auc).toEqual({ value: 1, labels: 2, error_bound: 0 });
  });

  it('expires labels with the ring and survives clocks that jump or step back', () => {
    let now = 10_000;
    const window = new PerformanceWindow('regression', 0, options, () => now);
    window.recordValue(1, 3); // slice 10
    now = 11_000;
    window.recordValue(1, 2); // slice 11
    expect(window.snapshot().metrics).toMatchObject({ mae: { value: 1.5, labels: 2 } });
    now = 10_500; // backwards: keeps filling slice 11
    window.recordValue(0, 0);
    expect(window.snapshot().labels).toBe(3);
    now = 13_000; // slice 13: slice 10 expired
    expect(window.snapshot().metrics).toMatchObject({ mae: { value: 0.5, labels: 2 } });
    now = 1_000_000; // far beyond the window
    expect(window.snapshot()).toMatchObject({ labels: 0, metrics: { mae: { value: null }, rmse: { value: null } } });
    expect(window.totals()).toMatchObject({ labels: 3, absError: 3, squaredError: 5 });
    window.recordValue(0, 1);
    window.clear(); // the window empties, the lifetime counters stay
    expect(window.snapshot().labels).toBe(0);
    expect(window.totals()).toMatchObject({ labels: 4, absError: 4, squaredError: 6 });
  });

  it('rejects bad classes, bad values and the wrong kind of label', () => {
    const classifier = new PerformanceWindow('multiclass-classification', 3, options, () => 0);
    expect(() => classifier.recordClass(3, 0)).toThrow(/actual class 3 outside 0..2/);
    expect(() => classifier.recordClass(0, -1)).toThrow(/predicted class -1/);
    expect(() => classifier.recordClass(0.5, 0)).toThrow(/actual class 0.5/);
    expect(() => classifier.recordClass(0, 0, [0.5, 0.5])).toThrow(/3 probabilities/);
    expect(() => classifier.recordValue(1, 1)).toThrow(/classifier/);
    const regressor = new PerformanceWindow('regression', 0, options, () => 0);
    expect(() => regressor.recordValue(NaN, 1)).toThrow(/actual value NaN/);
    expect(() => regressor.recordClass(0, 0)).toThrow(/regressor/);
    expect(() => new PerformanceWindow('binary-classification', 3, options)).toThrow(/needs 2 classes/);
    expect(() => new PerformanceWindow('multiclass-classification', 1, options)).toThrow(/2\.\.65536 classes/);
    expect(() => new PerformanceWindow('regression', 0, { slices: 0, sliceSeconds: 1 })).toThrow(/performance.slices/);
    expect(classifier.totals().labels).toBe(0);
  });

  it('bins AUC scores monotonically, extremes in the end bins', () => {
    expect(aucBin(0)).toBe(0);
    expect(aucBin(-1)).toBe(0);
    expect(aucBin(NaN)).toBe(0);
    expect(aucBin(1)).toBe(AUC_BINS - 1);
    expect(aucBin(0.5)).toBe(AUC_BINS / 2);
    let last = 0;
    let descents = 0;
    for (let i = 1; i < 100_000; i++) {
      const b = aucBin(Math.fround(i / 100_000));
      if (b < last) descents++;
      last = b;
    }
    expect(descents).toBe(0);
    expect(last).toBeGreaterThan(AUC_BINS / 2);
  });
});
