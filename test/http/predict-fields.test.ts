// The /predict routing fields read without parsing must be those JSON.parse finds, on every
// body that is valid JSON (random key order, duplicates, whitespace, escapes, nesting); and on
// bodies broken inside their rows the skim still reports the fields, which is what lets a full
// queue refuse a request before its body is parsed.
import { describe, expect, it } from 'vitest';
import { skimPredictFields } from '../../src/http/predict-fields.js';
import { mulberry32 as rng } from '../helpers/random.js';

const r = rng(4242);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const space = () => pick(['', '', ' ', '\n  ', '\t', '\r\n']);

function value(depth: number): unknown {
  const u = r();
  if (depth > 2 || u < 0.3) return pick<unknown>([1.5, -0, 1e21, 'x', 'q"uote', 'back\\slash', 'é ✓', '}]{[', null, true, false, 12]);
  if (u < 0.65) return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [pick(['a', 'model', '"k', `k${i}`]), value(depth + 1)]));
}

/** JSON text with random whitespace between tokens (JSON.stringify, re-spaced). */
function spaced(x: unknown): string {
  if (Array.isArray(x)) return `[${space()}${x.map((v) => spaced(v)).join(`${space()},${space()}`)}${space()}]`;
  if (x !== null && typeof x === 'object') {
    return `{${space()}${Object.entries(x).map(([k, v]) => `${JSON.stringify(k)}${space()}:${space()}${spaced(v)}`).join(`${space()},${space()}`)}${space()}}`;
  }
  return JSON.stringify(x);
}

function body(): string {
  const entries: [string, unknown][] = [];
  const count = Math.floor(r() * 6);
  for (let i = 0; i < count; i++) {
    const key = pick(['model', 'version', 'id', 'features', 'instances', 'model', 'extra']);
    const routing = key === 'model' || key === 'version' || key === 'id';
    entries.push([key, routing && r() < 0.8 ? pick<unknown>(['breast-cancer', 'digits', '2', 2, 7.5, 'a\\"b', 'tab\there', null, {}, [1]]) : value(0)]);
  }
  const text = `${space()}{${space()}${entries.map(([k, v]) => `${JSON.stringify(k)}${space()}:${space()}${spaced(v)}`).join(`${space()},${space()}`)}${space()}}${space()}`;
  return text;
}

describe('skimPredictFields', () => {
  it('finds what JSON.parse finds in valid bodies, or gives up', () => {
    let skimmed = 0;
    for (let n = 0; n < 5000; n++) {
      const text = body();
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const fields = skimPredictFields(text);
      if (fields === null) continue;
      skimmed++;
      expect(fields).toEqual({ model: parsed.model, version: parsed.version, id: parsed.id });
    }
    expect(skimmed).toBeGreaterThan(1000);
  });

  it('gives up on bodies it cannot be sure of, and reads past malformed rows', () => {
    expect(skimPredictFields('[{"model": "m"}]')).toBeNull();
    expect(skimPredictFields('{"model": "m", "other": 1}')).toBeNull(); // not a /predict field
    expect(skimPredictFields('{"model": "m"} x')).toBeNull();
    expect(skimPredictFields('{"model": "m",}')).toBeNull();
    expect(skimPredictFields('{"model": "m\\u0041"}')).toBeNull();
    expect(skimPredictFields('{"model": true}')).toBeNull();
    expect(skimPredictFields('{"model": 01}')).toBeNull();
    expect(skimPredictFields('')).toBeNull();
    // The rows are not read: a full queue can refuse these before any parse.
    expect(skimPredictFields('{"model": "m", "features": [1, 2,')).toEqual({ model: 'm', version: undefined, id: undefined });
    expect(skimPredictFields('{"model":"m","version":"2","features":{"a": 1,, "b": NaN}}')).toEqual({ model: 'm', version: '2', id: undefined });
    expect(skimPredictFields('{"id": 42, "instances": [[1, 2], [3, 4]]}')).toEqual({ model: undefined, version: undefined, id: 42 });
    // A routing key could follow the rows: parse instead.
    expect(skimPredictFields('{"instances": [[1, 2]], "model": "m"}')).toBeNull();
    expect(skimPredictFields('{"model": "m", "instances": [["\\u0069d"]]}')).toBeNull();
  });
});
