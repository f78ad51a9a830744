// The /predict fast path: a decoder compiled from one version's row schema for the bodies
// clients send almost always (rows by name or in feature order, every value a finite number
// within its bounds, into a float32 or float64 input). It writes the rows straight into the
// tensor the batcher will send, or gives up by returning null; it never makes an error. The
// schema path (predict-rows.ts, ajv) then decodes the same body and says exactly what is wrong,
// so both agree on every accepted body and every message comes from one place
// (test/validation/fast-rows.test.ts checks it on random bodies).
import type { FeatureConfig } from '../config/model-config.js';
import type { OrtType } from '../inference/tensors.js';

/** Writes one row at data[offset..]; false when the row is not the common valid shape. */
type RowWriter = (row: unknown, data: Float32Array | Float64Array, offset: number) => boolean;

export interface FastRowDecoder {
  /** The rows of a /predict body and their tensor data, or null: let the schema path decide. */
  decode(body: { features?: unknown; instances?: unknown }): { data: Float32Array | Float64Array; rows: number } | null;
}

/** Null when the input type has no fast path (integer tensors go through the schema path). */
export function compileFastRows(
  type: OrtType,
  width: number,
  /** The named features in column order, or null when rows come as arrays only. */
  features: readonly FeatureConfig[] | null,
  maxInstances: number,
): FastRowDecoder | null {
  if (type !== 'float32' && type !== 'float64') return null;
  const Data = type === 'float32' ? Float32Array : Float64Array;
  const writeArray = compileArrayRow(width, features);
  const writeObject = features ? compileObjectRow(features) : null;
  const writeRow: RowWriter = (row, data, offset) =>
    Array.isArray(row) ? writeArray(row, data, offset) : writeObject !== null && writeObject(row, data, offset);
  return {
    decode(body) {
      const { features: one, instances } = body;
      if (one !== undefined) {
        if (instances !== undefined) return null;
        const data = new Data(width);
        return writeRow(one, data, 0) ? { data, rows: 1 } : null;
      }
      if (!Array.isArray(instances) || instances.length === 0 || instances.length > maxInstances) return null;
      const data = new Data(width * instances.length);
      for (let i = 0; i < instances.length; i++) if (!writeRow(instances[i], data, i * width)) return null;
      return { data, rows: instances.length };
    },
  };
}

/**
 * The check of one value, as JavaScript source: what ajv's schema for the feature accepts
 * (a number, finite under ajv's strictNumbers, an integer where the type says so, within the
 * inclusive bounds), and finite again once stored (a float64 beyond the float32 range is not).
 */
function valueCheck(feature: FeatureConfig | undefined, value: string, stored: string): string {
  const checks = [`typeof ${value} !== 'number'`, `${value} - ${value} !== 0`];
  if (feature?.type === 'integer') checks.push(`!Number.isInteger(${value})`);
  if (feature?.minimum !== undefined) checks.push(`!(${value} >= ${feature.minimum})`);
  if (feature?.maximum !== undefined) checks.push(`!(${value} <= ${feature.maximum})`);
  return `if (${checks.join(' || ')}) return false;\n${stored} = ${value};\nif (${stored} - ${stored} !== 0) return false;`;
}

function compileArrayRow(width: number, features: readonly FeatureConfig[] | null): RowWriter {
  const body = [`if (row.length !== ${width}) return false;`, 'let v;'];
  for (let i = 0; i < width; i++) body.push(`v = row[${i}];`, valueCheck(features?.[i], 'v', `data[offset + ${i}]`));
  body.push('return true;');
  return new Function('row', 'data', 'offset', body.join('\n')) as RowWriter;
}

function compileObjectRow(features: readonly FeatureConfig[]): RowWriter {
  // Every feature present and nothing else: as many own keys as features, each one found.
  const body = [
    `if (row === null || typeof row !== 'object') return false;`,
    `let keys = 0; for (const key in row) keys++;`,
    `if (keys !== ${features.length}) return false;`,
    'let v;',
  ];
  features.forEach((feature, i) => {
    body.push(`v = row[${JSON.stringify(feature.name)}];`, valueCheck(feature, 'v', `data[offset + ${i}]`));
  });
  body.push('return true;');
  return new Function('row', 'data', 'offset', body.join('\n')) as RowWriter;
}
