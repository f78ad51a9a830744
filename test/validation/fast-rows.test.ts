// The compiled /predict fast path against the schema path it shortcuts: on thousands of seeded
// random bodies, valid and broken in every way the schema knows, decode() (fast path first)
// must accept exactly what the schema path accepts, with the same tensor, and reject exactly
// what it rejects, with the same message; and the fast path must take most valid bodies.
import { describe, expect, it } from 'vitest';
import type { FeatureConfig } from '../../src/config/model-config.js';
import { compileFastRows } from '../../src/validation/fast-rows.js';
import { RowSchema } from '../../src/validation/predict-rows.js';
import { mulberry32 as rng } from '../helpers/random.js';

const NAMED: FeatureConfig[] = [
  { name: 'age', type: 'integer', minimum: 0, maximum: 120 },
  { name: 'bmi', type: 'number', minimum: 10.5 },
  { name: 'bp', type: 'number', maximum: 250 },
  { name: 'score', type: 'number' },
  { name: 'toString', type: 'number' },
];
const MAX_INSTANCES = 6;

function schemaFor(type: 'float32' | 'float64', named: boolean): RowSchema {
  const width = named ? NAMED.length : 4;
  const input = { name: 'input', type, shape: [null, width] };
  return named
    ? new RowSchema('m', input, NAMED.map((f) => f.name), NAMED, width, MAX_INSTANCES)
    : new RowSchema('m', input, null, null, width, MAX_INSTANCES);
}

/** A body generator: mostly valid rows, each body broken in at most a couple of ways. */
function bodies(seed: number, named: boolean, count: number): unknown[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const width = named ? NAMED.length : 4;
  const goodValue = (i: number): number => {
    const f = named ? NAMED[i]! : undefined;
    if (f?.type === 'integer') return Math.floor(r() * 121);
    const lo = f?.minimum ?? -1e3;
    const hi = f?.maximum ?? 1e3;
    return r() < 0.1 ? (r() < 0.5 ? lo : hi) : lo + r() * (hi - lo);
  };
  const badValue = () => pick<unknown>([NaN, Infinity, -Infinity, 1e39, -1e39, '1', null, true, [], {}, 1.5, -1, 121, 10.4, 251, undefined]);
  const row = (): unknown => {
    const values: unknown[] = Array.from({ length: width }, (_, i) => goodValue(i));
    if (r() < 0.15) values[Math.floor(r() * width)] = badValue();
    const asObject = named && r() < 0.6;
    if (!asObject) {
      if (r() < 0.05) values.push(1);
      if (r() < 0.05) values.pop();
      return values;
    }
    const object: Record<string, unknown> = {};
    NAMED.forEach((f, i) => { if (values[i] !== undefined) object[f.name] = values[i]; });
    if (r() < 0.05) delete object[pick(NAMED).name];
    if (r() < 0.05) object[pick(['extra', 'Age', '__proto__', 'bmi '])] = 1;
    return object;
  };
  const out: unknown[] = [];
  for (let n = 0; n < count; n++) {
    const u = r();
    if (u < 0.45) out.push({ features: row() });
    else if (u < 0.9) out.push({ instances: Array.from({ length: 1 + Math.floor(r() * (MAX_INSTANCES + 1)) }, row) });
    else out.push(pick<Record<string, unknown>>([
      {}, { features: row(), instances: [row()] }, { instances: [] }, { instances: row() }, { instances: 'rows' },
      { features: null }, { features: 'x' }, { instances: [null] }, { instances: [row(), 7] }, { features: [row()] },
    ]));
  }
  return out;
}

type Outcome = { ok: true; data: number[]; rows: number } | { ok: false; message: string };

function outcome(decode: () => { data: ArrayLike<number>; rows: number }): Outcome {
  try {
    const { data, rows } = decode();
    return { ok: true, data: Array.from(data), rows };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

describe.each([
  ['float32', true], ['float64', true], ['float32', false], ['float64', false],
] as const)('fast /predict decoder, %s input, named features %s', (type, named) => {
  it('agrees with the schema path on accepted and rejected bodies, and on every message', () => {
    const schema = schemaFor(type, named);
    const fast = compileFastRows(type, schema.width, named ? NAMED : null, MAX_INSTANCES)!;
    let fastAccepted = 0;
    let accepted = 0;
    let rejected = 0;
    for (const body of bodies(type === 'float32' ? (named ? 1 : 2) : (named ? 3 : 4), named, 4000) as Record<string, unknown>[]) {
      const reference = outcome(() => schema.decodeRows(body));
      const actual = outcome(() => {
        const decoded = schema.decode(body);
        return { data: decoded.inputs[0]!.data as Float32Array, rows: decoded.rows };
      });
      expect(actual).toEqual(reference);
      const shortcut = fast.decode(body);
      if (shortcut) {
        fastAccepted++;
        expect(reference).toEqual({ ok: true, data: Array.from(shortcut.data), rows: shortcut.rows });
      }
      if (reference.ok) accepted++;
      else rejected++;
    }
    // Both kinds of body are well represented, and the fast path takes nearly every valid one.
    expect(accepted).toBeGreaterThan(800);
    expect(rejected).toBeGreaterThan(800);
    expect(fastAccepted / accepted).toBeGreaterThan(0.95);
  });
});

it('has no fast path for integer inputs (the schema path decodes them)', () => {
  expect(compileFastRows('int64', 3, null, 10)).toBeNull();
  expect(compileFastRows('int32', 3, null, 10)).toBeNull();
});
