import { describe, expect, it } from 'vitest';
import { alertThreshold, ConceptDriftPolicy } from '../../src/monitoring/concept-drift.js';
import { DataQualityWindow } from '../../src/monitoring/data-quality.js';
import { mulberry32 } from '../helpers/random.js';

describe('DataQualityWindow', () => {
  const columns = [{ name: 'a', min: 0, max: 10 }, { name: 'b', min: 5 }, { name: 'c' }];

  it('counts values below / above the training range and missing values, never both for one value', () => {
    let now = 0;
    const w = new DataQualityWindow(columns, { slices: 3, sliceSeconds: 1 }, { max_out_of_range_rate: 0.3, max_missing_rate: 0.3, min_rows: 4 }, () => now);
    // rows: [-1, 4, 1e9], [11, 6, 0], [5, -100, NaN]; missing: row 1 column a (index 3), row 2 column c (index 8)
    w.observe([-1, 4, 1e9, -50, 6, 0, 5, -100, NaN], 3, [3, 8]);
    expect(w.snapshot()).toEqual({
      rows: 3,
      columns: [
        { column: 'a', below: 1, above: 0, missing: 1, out_of_range_rate: 1 / 3, missing_rate: 1 / 3, alerts: [] },
        { column: 'b', below: 2, above: 0, missing: 0, out_of_range_rate: 2 / 3, missing_rate: 0, alerts: [] },
        { column: 'c', below: 0, above: 0, missing: 1, out_of_range_rate: 0, missing_rate: 1 / 3, alerts: [] },
      ],
    });
    expect(w.evaluate()).toEqual([]); // 3 rows < min_rows 4: not judged
    w.observe([1, 6, 0], 1, null);
    const raised = w.evaluate();
    expect(raised.map((t) => [t.column, t.kind, t.state, t.rate])).toEqual([
      ['b', 'out_of_range', 'raised', 0.5],
    ]);
    expect(w.snapshot().columns[1]!.alerts).toEqual(['out_of_range']);
    now = 5000; // the window empties: too few rows, the alert stays
    expect(w.evaluate()).toEqual([]);
    for (let i = 0; i < 4; i++) w.observe([1, 6, 0], 1, null);
    expect(w.evaluate().map((t) => [t.column, t.kind, t.state])).toEqual([['b', 'out_of_range', 'recovered']]);
    expect(w.totals()).toEqual([
      { column: 'a', below: 1, above: 0, missing: 1 },
      { column: 'b', below: 2, above: 0, missing: 0 },
      { column: 'c', below: 0, above: 0, missing: 1 },
    ]);
    expect(() => w.observe([1, 2], 1, null)).toThrow(/2 values for 1 rows of 3/);
  });

  it('counts as a plain per-value reference does, on seeded random rows with missing values anywhere', () => {
    const random = mulberry32(7);
    const cols = Array.from({ length: 7 }, (_, c) => ({ name: `f${c}`, ...(c % 3 !== 2 ? { min: -1 } : {}), ...(c % 2 === 0 ? { max: 1 } : {}) }));
    const w = new DataQualityWindow(cols, { slices: 2, sliceSeconds: 3600 });
    const expected = cols.map((c) => ({ column: c.name, below: 0, above: 0, missing: 0 }));
    for (let batch = 0; batch < 50; batch++) {
      const rows = 1 + Math.floor(random() * 9);
      const data = Array.from({ length: rows * cols.length }, () => (random() < 0.05 ? NaN : (random() - 0.5) * 3));
      const missing = data.flatMap((_, i) => (random() < 0.1 ? [i] : []));
      w.observe(data, rows, missing.length ? missing : null);
      data.forEach((x, i) => {
        const c = i % cols.length;
        const column = cols[c]!;
        if (missing.includes(i)) expected[c]!.missing++;
        else if (column.min !== undefined && x < column.min) expected[c]!.below++;
        else if (column.max !== undefined && x > column.max) expected[c]!.above++;
      });
    }
    expect(expected.some((c) => c.below > 0 && c.missing > 0)).toBe(true);
    expect(w.totals()).toEqual(expected);
  });
});

describe('ConceptDriftPolicy', () => {
  const labels = (value: number | null, n: number) => ({ value, labels: n });

  it('alerts when a score falls below reference × (1 − margin) with enough labels, and recovers within half the margin', () => {
    const policy = new ConceptDriftPolicy({ accuracy: 0.98, f1: 0.9 }, { min_labels: 100, margin: 0.05, metrics: ['accuracy', 'rmse' as never] });
    expect(alertThreshold('accuracy', 0.98, 0.05)).toBeCloseTo(0.931, 12);
    expect(policy.evaluate({ accuracy: labels(0.5, 99) })).toEqual([]); // too few labels
    expect(policy.evaluate({ accuracy: labels(0.932, 500) })).toEqual([]);
    const [raised] = policy.evaluate({ accuracy: labels(0.93, 500) });
    expect(raised).toMatchObject({ metric: 'accuracy', state: 'raised', value: 0.93, reference: 0.98, labels: 500 });
    expect(policy.evaluate({ accuracy: labels(0.94, 500) })).toEqual([]); // 0.94 < 0.98 × 0.975: still worse
    expect(policy.evaluate({ accuracy: labels(0.96, 500) })).toMatchObject([{ metric: 'accuracy', state: 'recovered' }]);
    // rmse has no reference value: never judged; f1 is not watched
    expect(policy.states()).toEqual([{ metric: 'accuracy', reference: 0.98, threshold: alertThreshold('accuracy', 0.98, 0.05), alert: false }]);
  });

  it('alerts when an error metric rises above reference × (1 + margin)', () => {
    const policy = new ConceptDriftPolicy({ rmse: 50 }, { min_labels: 10, margin: 0.2, metrics: ['rmse'] });
    expect(policy.evaluate({ rmse: labels(59.9, 10) })).toEqual([]);
    expect(policy.evaluate({ rmse: labels(61, 10) })).toMatchObject([{ state: 'raised', threshold: 60 }]);
    expect(policy.evaluate({ rmse: labels(null, 0) })).toEqual([]);
    expect(policy.evaluate({ rmse: labels(54, 10) })).toMatchObject([{ state: 'recovered' }]);
  });
});
