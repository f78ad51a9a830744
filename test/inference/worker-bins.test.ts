// Drift counted in the worker equals drift counted on the main thread: batches of random rows
// run through the real pool with bin counting on, the worker's counts are merged into one
// drift window, the same rows are observed row by row into another, and both windows must
// agree exactly (bins, non-finite counts, PSI, KS). The float64 case is also checked against
// an independent count straight from docs/drift.md's wording.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReferenceColumn } from '../../src/config/reference.js';
import { DriftWindow } from '../../src/monitoring/drift.js';
import { mulberry32 as rng } from '../helpers/random.js';
// The pool runs compiled workers, so it comes from dist (built by `npm test`'s pretest).
import { InferencePool } from '../../dist/src/inference/pool.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'models');
const WIDTH = 3;

function column(r: () => number, name: string): ReferenceColumn {
  const edges = [...new Set(Array.from({ length: 9 }, () => Math.round((r() * 6 - 3) * 100) / 100))].sort((a, b) => a - b);
  return { name, edges, proportions: Array.from({ length: edges.length + 1 }, () => 1 / (edges.length + 1)) };
}

/** Mostly a bell, some exact edges, some a float32 ulp above an edge, a few non-finite. */
function value(r: () => number, col: ReferenceColumn): number {
  const u = r();
  const edge = col.edges[Math.floor(r() * col.edges.length)]!;
  if (u < 0.03) return [NaN, Infinity, -Infinity][Math.floor(r() * 3)]!;
  if (u < 0.2) return edge;
  if (u < 0.3) return edge + Math.abs(edge) * 2 ** -23;
  return (r() + r() + r() - 1.5) * 2.5;
}

/** docs/drift.md literally: bin = number of edges strictly less than x; non-finite values skipped. */
function bincount(edges: number[], values: number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const x of values) if (Number.isFinite(x)) counts[edges.filter((e) => e < x).length]!++;
  return counts;
}

let pool: InferencePool;

beforeAll(async () => {
  pool = new InferencePool(2);
  await pool.ready();
});

afterAll(async () => {
  await pool.close();
});

describe.each([
  ['float32', Float32Array],
  ['float64', Float64Array],
] as const)('feature bins counted by the worker (%s input)', (type, ArrayType) => {
  it('merge into a drift window exactly as observing the same rows on the main thread', async () => {
    const r = rng(type === 'float32' ? 9001 : 9002);
    const features = Array.from({ length: WIDTH }, (_, i) => column(r, `f${i}`));
    const key = `identity-${type}/1`;
    const path = join(FIXTURES, `identity-${type}`, '1', 'model.onnx');
    await pool.loadEverywhere(key, path, { input: 'x', edges: features.map((f) => f.edges) });
    const options = { slices: 4, sliceSeconds: 60, minSamples: 1, psiAlert: 0.2 };
    const fromWorker = new DriftWindow(features, [], options, () => 0);
    const onMain = new DriftWindow(features, [], options, () => 0);
    const sent: number[][] = features.map(() => []);
    let merged = 0;

    const batches = await Promise.all(Array.from({ length: 40 }, () => {
      const rows = 1 + Math.floor(r() * 20);
      const data = new ArrayType(rows * WIDTH);
      for (let i = 0; i < data.length; i++) data[i] = value(r, features[i % WIDTH]!);
      for (let i = 0; i < data.length; i++) sent[i % WIDTH]!.push(data[i]!);
      onMain.observeRows(data, rows, WIDTH, 0, WIDTH);
      // The counts are views over the batch's slot, valid during the call: merged there.
      return pool.run(key, path, [{ name: 'x', type, dims: [rows, WIDTH], data }], {
        onBins: (bins) => {
          fromWorker.addBinCounts(0, WIDTH, bins.counts, bins.nonFinite);
          merged++;
        },
      });
    }));
    expect(merged).toBe(batches.length);

    for (let c = 0; c < WIDTH; c++) {
      expect(fromWorker.binCounts(c)).toEqual(onMain.binCounts(c));
      expect(fromWorker.nonFiniteCount(c)).toBe(onMain.nonFiniteCount(c));
      expect(fromWorker.psi(c)).toBe(onMain.psi(c));
      expect(fromWorker.ks(c)).toBe(onMain.ks(c));
      expect(fromWorker.nonFiniteCount(c)).toBeGreaterThan(0);
      // float64 rows reach the worker unrounded: the counts are docs/drift.md's, computed independently.
      if (type === 'float64') expect(fromWorker.binCounts(c)).toEqual(bincount(features[c]!.edges, sent[c]!));
    }
    await pool.unloadEverywhere(key);
  });
});

it('hands bins over once per batch that asks, and none when the version has no binning', async () => {
  const path = join(FIXTURES, 'identity-float32', '1', 'model.onnx');
  const input = () => [{ name: 'x', type: 'float32' as const, dims: [1, WIDTH], data: new Float32Array([1, 2, 3]) }];
  await pool.loadEverywhere('identity-float32/1', path, { input: 'x', edges: [[0], [0], [0]] });
  const handed: unknown[] = [];
  await pool.run('identity-float32/1', path, input(), { onBins: (bins) => handed.push(bins) });
  expect(handed).toHaveLength(1);
  await pool.unloadEverywhere('identity-float32/1');
  await pool.run('identity-float32/1', path, input(), { onBins: (bins) => handed.push(bins) });
  expect(handed).toHaveLength(1);
});

it('a bins consumer that throws fails only its own batch; the slot and the pool keep serving', async () => {
  const path = join(FIXTURES, 'identity-float32', '1', 'model.onnx');
  const input = () => [{ name: 'x', type: 'float32' as const, dims: [1, WIDTH], data: new Float32Array([1, 2, 3]) }];
  await pool.loadEverywhere('identity-float32/1', path, { input: 'x', edges: [[0], [0], [0]] });
  await expect(pool.run('identity-float32/1', path, input(), { onBins: () => { throw new Error('consumer bug'); } }))
    .rejects.toThrow(/reading the batch's answer failed: consumer bug/);
  // More batches than the pool has slots: a slot lost to the failure would leave one hanging.
  const outputs = await Promise.all(Array.from({ length: 16 }, () => pool.run('identity-float32/1', path, input(), { onBins: () => {} })));
  expect(outputs.every((o) => Array.from(o[0]!.data as Float32Array).join() === '1,2,3')).toBe(true);
  await pool.unloadEverywhere('identity-float32/1');
});
