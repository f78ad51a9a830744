import { describe, expect, it } from 'vitest';
import {
  DriftWindow,
  batchKs,
  batchPsi,
  type ReferenceColumn,
} from '../../src/monitoring/drift.js';
import { parseReference } from '../../src/config/reference.js';
import { binOf } from '../../src/config/reference-bins.js';
import { mulberry32 } from '../helpers/random.js';

/** Random column: 0..12 distinct edges (2-decimal grid so values hit edges exactly), some zero proportions. */
function randomColumn(r: () => number, name: string): ReferenceColumn {
  const k = Math.floor(r() * 13);
  const set = new Set<number>();
  while (set.size < k) set.add(Math.round((r() * 6 - 3) * 100) / 100);
  const edges = [...set].sort((a, b) => a - b);
  const raw = Array.from({ length: edges.length + 1 }, () => (r() < 0.15 ? 0 : r()));
  if (!raw.some((x) => x > 0)) raw[0] = 1;
  const sum = raw.reduce((a, b) => a + b, 0);
  return { name, edges, proportions: raw.map((x) => x / sum) };
}

/** Values: mostly a skewed bell, some exact edge values, occasional non-finite. */
function randomValue(r: () => number, col: ReferenceColumn): number {
  const u = r();
  if (u < 0.02) return [NaN, Infinity, -Infinity][Math.floor(r() * 3)]!;
  if (u < 0.2 && col.edges.length > 0) return col.edges[Math.floor(r() * col.edges.length)]!;
  return (r() + r() + r() - 1.5) * 2.5 + 0.4;
}

/** Independent bin counts straight from docs/drift.md's wording: number of edges strictly less than x. */
function bincount(edges: number[], values: number[]): number[] {
  const c = new Array<number>(edges.length + 1).fill(0);
  for (const x of values) if (Number.isFinite(x)) c[edges.filter((e) => e < x).length]!++;
  return c;
}

const validReference = () => ({
  format: 'vigil-reference/1',
  rows: 100,
  features: [
    { name: 'age', edges: [0, 1, 2], proportions: [0.25, 0.25, 0.25, 0.25] },
    { name: 'bmi', edges: [], proportions: [1] },
  ],
  outputs: [{ name: 'value', edges: [10], proportions: [0.4, 0.6] }],
});

describe('parseReference', () => {
  it('accepts a valid reference and copies it', () => {
    const ref = parseReference(validReference());
    expect(ref.features.map((f) => f.name)).toEqual(['age', 'bmi']);
    expect(ref.outputs[0]).toEqual({ name: 'value', edges: [10], proportions: [0.4, 0.6] });
    expect(ref.rows).toBe(100);
  });

  const cases: Array<[string, (j: any) => void, RegExp]> = [
    ['non-object', (j) => Object.keys(j).forEach((k) => delete j[k]), /^format: /],
    ['wrong format', (j) => (j.format = 'vigil-reference/2'), /^format: .*vigil-reference\/1/],
    ['bad rows', (j) => (j.rows = -1), /^rows: /],
    ['features not array', (j) => (j.features = {}), /^features: expected an array/],
    ['outputs missing', (j) => delete j.outputs, /^outputs: expected an array/],
    ['missing name', (j) => delete j.features[1].name, /^features\[1\]\.name: /],
    ['duplicate name', (j) => (j.features[1].name = 'age'), /^features\[1\]\.name: duplicate/],
    ['edges not ascending', (j) => (j.features[0].edges = [0, 2, 2]), /^features\[0\] \(age\)\.edges\[2\]: .*ascending/],
    ['edges descending', (j) => (j.outputs[0].edges = [10, 5]), /^outputs\[0\] \(value\)\.edges\[1\]: /],
    ['non-finite edge', (j) => (j.features[0].edges[1] = NaN), /^features\[0\] \(age\)\.edges\[1\]: expected a finite/],
    ['string edge', (j) => (j.features[0].edges[0] = '0'), /^features\[0\] \(age\)\.edges\[0\]: /],
    ['edges missing', (j) => delete j.features[0].edges, /^features\[0\] \(age\)\.edges: expected an array/],
    ['proportions length', (j) => j.features[0].proportions.pop(), /^features\[0\] \(age\)\.proportions: expected 4 entries/],
    ['negative proportion', (j) => (j.outputs[0].proportions = [1.1, -0.1]), /^outputs\[0\] \(value\)\.proportions\[1\]: .*≥ 0/],
    ['infinite proportion', (j) => (j.features[1].proportions = [Infinity]), /^features\[1\] \(bmi\)\.proportions\[0\]: /],
    ['proportions sum', (j) => (j.features[1].proportions = [0.5]), /^features\[1\] \(bmi\)\.proportions: must sum to 1/],
  ];
  for (const [label, mutate, pattern] of cases) {
    it(`names the field: ${label}`, () => {
      const j = validReference();
      mutate(j);
      expect(() => parseReference(j)).toThrow(pattern);
    });
  }

  it('rejects non-objects', () => {
    expect(() => parseReference(null)).toThrow(/^reference: /);
    expect(() => parseReference([1])).toThrow(/^reference: /);
  });
});

describe('batch reference implementation', () => {
  // Expected values computed independently with numpy (searchsorted 'left', floor 1e-4).
  const edges = [-1, 0, 0.5, 2];
  const ref = [0.1, 0.2, 0.3, 0.4, 0];
  const values = [-3, -1, -1, 0, 0.2, 0.5, 0.5, 1, 1.5, 2, 2, 3, 7, 0.49, -0.5, 10, 11, 12, -2, 0];

  it('PSI matches numpy', () => {
    expect(batchPsi(edges, ref, values)).toBeCloseTo(2.2181038667143764, 12);
  });

  it('KS matches numpy', () => {
    expect(batchKs(edges, ref, values)).toBeCloseTo(0.25, 12);
  });

  it('PSI is 0 when the window matches the reference, and non-finite values are ignored', () => {
    expect(batchPsi([0], [0.5, 0.5], [-1, 1, NaN, Infinity])).toBe(0);
    expect(batchKs([0], [0.5, 0.5], [-1, 1, NaN])).toBe(0);
    expect(batchPsi([0], [0.5, 0.5], [NaN])).toBeNaN();
  });
});

describe('DriftWindow streaming vs batch', () => {
  const SLICES = 5;
  const SLICE_MS = 10_000;

  it('equals batch PSI/KS over exactly the rows inside the window, through expiry and jumps', () => {
    const r = mulberry32(12345);
    const features = Array.from({ length: 7 }, (_, i) => randomColumn(r, `f${i}`));
    const outputs = Array.from({ length: 3 }, (_, i) => randomColumn(r, `o${i}`));
    const all = [...features, ...outputs];
    let now = 1_700_000_123_456;
    const w = new DriftWindow(features, outputs, { slices: SLICES, sliceSeconds: SLICE_MS / 1000, minSamples: 1 }, () => now);
    const log: Array<{ epoch: number; col: number; v: number }> = [];
    let checks = 0;
    let nonEmptyChecks = 0;

    const feedRows = (rows: number) => {
      const F = features.length;
      const stride = F + 2; // padding elements after each row must be ignored
      const data = new Float64Array(rows * stride).fill(12345.678);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < F; j++) {
          const v = randomValue(r, features[j]!);
          data[i * stride + j] = v;
          log.push({ epoch: Math.floor(now / SLICE_MS), col: j, v });
        }
      }
      w.observeRows(data, rows, stride, 0, F);
      // outputs through a plain array with stride = column count
      const O = outputs.length;
      const out: number[] = [];
      for (let i = 0; i < rows; i++) {
        for (let k = 0; k < O; k++) {
          const v = randomValue(r, outputs[k]!);
          out.push(v);
          log.push({ epoch: Math.floor(now / SLICE_MS), col: w.outputOffset + k, v });
        }
      }
      w.observeRows(out, rows, O, w.outputOffset, O);
    };
    const feedSingles = (count: number) => {
      for (let i = 0; i < count; i++) {
        const col = Math.floor(r() * all.length);
        const v = randomValue(r, all[col]!);
        w.observe(col, v);
        log.push({ epoch: Math.floor(now / SLICE_MS), col, v });
      }
    };
    const check = () => {
      const epoch = Math.floor(now / SLICE_MS);
      for (let c = 0; c < all.length; c++) {
        const { edges, proportions } = all[c]!;
        const values = log.filter((e) => e.col === c && e.epoch > epoch - SLICES).map((e) => e.v);
        const finite = values.filter(Number.isFinite);
        expect(w.count(c)).toBe(finite.length);
        expect(w.binCounts(c)).toEqual(bincount(edges, values));
        if (finite.length === 0) {
          expect(w.psi(c)).toBeNull();
          expect(w.ks(c)).toBeNull();
        } else {
          nonEmptyChecks++;
          expect(Math.abs(w.psi(c)! - batchPsi(edges, proportions, values))).toBeLessThan(1e-9);
          expect(Math.abs(w.ks(c)! - batchKs(edges, proportions, values))).toBeLessThan(1e-9);
        }
      }
      const snap = w.snapshot();
      expect(snap.map((s) => s.name)).toEqual(all.map((c) => c.name));
      expect(snap.map((s) => s.kind)).toEqual([...features.map(() => 'feature'), ...outputs.map(() => 'output')]);
      for (let c = 0; c < all.length; c++) {
        expect(snap[c]!.psi).toBe(w.psi(c));
        expect(snap[c]!.ks).toBe(w.ks(c));
        expect(snap[c]!.n).toBe(w.count(c));
      }
      checks++;
    };

    // Steady traffic with irregular steps: slices expire one or two at a time (partial expiry).
    for (let step = 0; step < 30; step++) {
      feedRows(1 + Math.floor(r() * 40));
      feedSingles(Math.floor(r() * 30));
      check();
      now += Math.floor(r() * 1.6 * SLICE_MS);
      check();
    }
    // Jump of several slices, still inside the window: only the newest slices survive.
    now += (SLICES - 2) * SLICE_MS;
    check();
    feedRows(25);
    check();
    // Jump of exactly the window length: everything expires.
    now += SLICES * SLICE_MS;
    check();
    for (let c = 0; c < all.length; c++) expect(w.count(c)).toBe(0);
    feedRows(30);
    check();
    // Jump much longer than the window, then refill.
    now += 1000 * SLICE_MS + 1234;
    check();
    for (let c = 0; c < all.length; c++) expect(w.psi(c)).toBeNull();
    for (let step = 0; step < 10; step++) {
      feedRows(20);
      now += Math.floor(r() * SLICE_MS);
      check();
    }
    // A clock stepping backwards keeps filling the current slice rather than corrupting state.
    const before = now;
    now -= 3 * SLICE_MS;
    feedRows(5);
    for (const e of log.slice(-5 * all.length)) e.epoch = Math.floor(before / SLICE_MS);
    now = before;
    check();

    expect(checks).toBeGreaterThan(70);
    expect(nonEmptyChecks).toBeGreaterThan(500);
  });

  it('bins values equal to an edge into the lower bin (searchsorted left)', () => {
    const w = new DriftWindow([{ name: 'x', edges: [0, 1], proportions: [0.2, 0.3, 0.5] }], [], { minSamples: 1 }, () => 0);
    for (const v of [-5, 0, 0.5, 1, 1.0000001, 7]) w.observe(0, v);
    expect(w.binCounts(0)).toEqual([2, 2, 2]);
  });

  it('ignores and counts non-finite values', () => {
    const w = new DriftWindow([{ name: 'x', edges: [0], proportions: [0.5, 0.5] }], [], { minSamples: 1 }, () => 0);
    w.observe(0, NaN);
    w.observeRows([Infinity, -Infinity, 1, NaN], 4, 1, 0, 1);
    expect(w.count(0)).toBe(1);
    expect(w.nonFiniteCount(0)).toBe(4);
  });

  it('rejects out-of-range columns and short buffers', () => {
    const w = new DriftWindow([{ name: 'x', edges: [0], proportions: [0.5, 0.5] }], [], {}, () => 0);
    expect(() => w.observe(1, 0)).toThrow(RangeError);
    expect(() => w.observeRows([1, 2], 2, 1, 0, 2)).toThrow(RangeError);
    expect(() => w.observeRows([1, 2, 3], 2, 2, 0, 1)).not.toThrow();
    expect(() => w.observeRows([1, 2], 3, 1, 0, 1)).toThrow(/data has 2 elements/);
  });

  it('columnIndex finds features and outputs by name', () => {
    const col = { name: 'a', edges: [0], proportions: [0.5, 0.5] };
    const w = new DriftWindow([col, { ...col, name: 'b' }], [col], {}, () => 0);
    expect(w.columnIndex('b')).toBe(1);
    expect(w.columnIndex('a', 'output')).toBe(2);
    expect(w.columnIndex('zzz')).toBe(-1);
  });
});

describe('DriftWindow minSamples', () => {
  it('reports null below minSamples and a number from minSamples on', () => {
    const w = new DriftWindow([{ name: 'x', edges: [0], proportions: [0.5, 0.5] }], [], { minSamples: 50 }, () => 0);
    for (let i = 0; i < 49; i++) w.observe(0, i % 5 ? 1 : -1); // 10 of 49 below the edge
    w.observe(0, NaN); // non-finite values do not count towards n
    expect(w.count(0)).toBe(49);
    expect(w.psi(0)).toBeNull();
    expect(w.ks(0)).toBeNull();
    expect(w.snapshot()[0]).toMatchObject({ n: 49, psi: null, ks: null });
    w.observe(0, 1);
    expect(w.psi(0)).toBeTypeOf('number');
    expect(w.ks(0)).toBeCloseTo(0.5 - 10 / 50, 12);
    expect(w.psi(0)).toBeCloseTo(batchPsi([0], [0.5, 0.5], [...new Array(10).fill(-1), ...new Array(40).fill(1)]), 12);
  });
});

describe('DriftWindow memory', () => {
  it('keeps a fixed footprint regardless of traffic', () => {
    const r = mulberry32(7);
    const cols = Array.from({ length: 4 }, (_, i) => randomColumn(r, `c${i}`));
    let now = 0;
    const w = new DriftWindow(cols, [], { slices: 12, sliceSeconds: 300, minSamples: 1 }, () => now);
    const bins = cols.reduce((a, c) => a + c.proportions.length, 0);
    const initial = w.footprint;
    expect(initial).toBe(12 * bins + 12 * cols.length + 2 * bins + cols.length);
    const row = new Float64Array(4);
    const epochs: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      for (let j = 0; j < 4; j++) row[j] = r() * 6 - 3;
      w.observeRows(row, 1, 4, 0, 4);
      epochs.push(Math.floor(now / 300_000));
      now += 50; // 5000 s in total: the ring wraps many times
    }
    expect(w.footprint).toBe(initial);
    const current = Math.floor(now / 300_000);
    expect(w.count(0)).toBe(epochs.filter((e) => e > current - 12).length);
    expect(w.count(0)).toBeLessThan(100_000);
  });
});

describe('DriftWindow options', () => {
  it('validates options and columns', () => {
    const col = { name: 'x', edges: [0], proportions: [0.5, 0.5] };
    expect(() => new DriftWindow([col], [], { slices: 0 })).toThrow(/slices/);
    expect(() => new DriftWindow([col], [], { sliceSeconds: -1 })).toThrow(/sliceSeconds/);
    expect(() => new DriftWindow([{ name: 'x', edges: [0], proportions: [1] }], [])).toThrow(/features\[0\] \(x\)\.proportions/);
  });
});

describe('DriftWindow lifetime bin counts (the fleet counters)', () => {
  it('count every finite value since creation in its reference bin, through slice expiry, jumps and clear()', () => {
    const r = mulberry32(2024);
    const features = Array.from({ length: 3 }, (_, i) => randomColumn(r, `f${i}`));
    const outputs = [randomColumn(r, 'o0')];
    let now = 5_000_000;
    const w = new DriftWindow(features, outputs, { slices: 4, sliceSeconds: 10, minSamples: 1 }, () => now);
    const seen: number[][] = [[], [], [], []];
    const lifetime = (c: number) => Array.from(w.lifetimeBinCounts(c));
    for (let c = 0; c < 4; c++) expect(lifetime(c)).toEqual(new Array(w.referenceProportions(c).length).fill(0));
    for (let step = 0; step < 400; step++) {
      const row = new Float64Array(3);
      for (let j = 0; j < 3; j++) seen[j]!.push((row[j] = randomValue(r, features[j]!)));
      w.observeRows(row, 1, 3, 0, 3);
      const out = randomValue(r, outputs[0]!);
      seen[3]!.push(out);
      w.observe(3, out);
      now += step % 50 === 0 ? 120_000 : 700; // slices expire, and the window jumps past its span
      if (step === 200) w.clear();
    }
    const all = [...features, ...outputs];
    for (let c = 0; c < 4; c++) {
      expect(lifetime(c), all[c]!.name).toEqual(bincount(all[c]!.edges, seen[c]!));
      expect(Array.from(w.referenceProportions(c))).toEqual(all[c]!.proportions);
    }
    // The window itself holds far fewer rows than the lifetime counts.
    expect(w.count(0)).toBeLessThan(seen[0]!.filter(Number.isFinite).length);
  });
});

describe('binOf', () => {
  it('counts the edges strictly below x, for short edge lists (linear scan) and long ones (binary search)', () => {
    const r = mulberry32(31337);
    for (const size of [0, 1, 9, 16, 17, 40, 257]) {
      const edges = [...new Set(Array.from({ length: size * 2 }, () => Math.round((r() * 20 - 10) * 10) / 10))].sort((a, b) => a - b).slice(0, size);
      const flat = Float64Array.from([99, ...edges, -99]); // neighbours outside [lo, hi) must not count
      for (let i = 0; i < 300; i++) {
        const x = r() < 0.3 && edges.length ? edges[Math.floor(r() * edges.length)]! : Math.round((r() * 24 - 12) * 10) / 10;
        expect(binOf(flat, 1, 1 + edges.length, x), `x = ${x}, ${edges.length} edges`).toBe(bincount(edges, [x]).indexOf(1));
      }
    }
  });
});
