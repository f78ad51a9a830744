// /predict answers are written as JSON text straight from the outputs; the text must be exactly
// JSON.stringify of the prediction objects, for every task and label form, including the
// values JSON cannot hold (non-finite probabilities become null in both).
import { describe, expect, it } from 'vitest';
import { PredictionReader } from '../../src/inference/predictions.js';
import type { TensorSpec, WireTensor } from '../../src/inference/tensors.js';
import { mulberry32 as rng } from '../helpers/random.js';

const r = rng(77);
const ROWS = 25;

function probabilities(rows: number, classes: number): Float32Array {
  const data = new Float32Array(rows * classes);
  for (let i = 0; i < data.length; i++) data[i] = r() < 0.03 ? [NaN, Infinity, -0][Math.floor(r() * 3)]! : r() ** 8;
  return data;
}

const labels = (rows: number, classes: number) => BigInt64Array.from({ length: rows }, () => BigInt(Math.floor(r() * classes)));

const spec = (name: string, type: TensorSpec['type'], shape: TensorSpec['shape']): TensorSpec => ({ name, type, shape });

describe('PredictionReader.json', () => {
  const cases: { label: string; reader: PredictionReader; outputs: WireTensor[] }[] = [
    {
      label: 'binary classifier, label and probabilities',
      reader: new PredictionReader('binary-classification', [spec('label', 'int64', [null]), spec('probabilities', 'float32', [null, 2])], null),
      outputs: [
        { name: 'label', type: 'int64', dims: [ROWS], data: labels(ROWS, 2) },
        { name: 'probabilities', type: 'float32', dims: [ROWS, 2], data: probabilities(ROWS, 2) },
      ],
    },
    {
      label: 'multiclass classifier with class names (strings and numbers), probabilities only',
      reader: new PredictionReader('multiclass-classification', [spec('probabilities', 'float32', [null, 4])],
        { task: 'multiclass-classification', classes: ['setosa', 'versi"color', 7, 'é'] } as never),
      outputs: [{ name: 'probabilities', type: 'float32', dims: [ROWS, 4], data: probabilities(ROWS, 4) }],
    },
    {
      label: 'classifier with string labels',
      reader: new PredictionReader('binary-classification', [spec('label', 'string', [null]), spec('probabilities', 'float32', [null, 2])], null),
      outputs: [
        { name: 'label', type: 'string', dims: [ROWS], data: Array.from({ length: ROWS }, (_, i) => (i % 2 ? 'yes' : 'n\\o "quoted"')) },
        { name: 'probabilities', type: 'float32', dims: [ROWS, 2], data: probabilities(ROWS, 2) },
      ],
    },
    {
      label: 'regressor',
      reader: new PredictionReader('regression', [spec('variable', 'float32', [null, 1])], null),
      outputs: [{ name: 'variable', type: 'float32', dims: [ROWS, 1], data: Float32Array.from({ length: ROWS }, (_, i) => (i === 3 ? NaN : (r() - 0.5) * 1e6)) }],
    },
    {
      label: 'raw model',
      reader: new PredictionReader('raw', [spec('y', 'float16', [null, 2]), spec('flag', 'bool', [null])], null),
      outputs: [
        { name: 'y', type: 'float16', dims: [ROWS, 2], data: Uint16Array.from({ length: ROWS * 2 }, () => Math.floor(r() * 0x7c00)) },
        { name: 'flag', type: 'bool', dims: [ROWS], data: Uint8Array.from({ length: ROWS }, () => (r() < 0.5 ? 1 : 0)) },
      ],
    },
  ];
  it.each(cases)('writes exactly JSON.stringify(predictions()): $label', ({ reader, outputs }) => {
    for (const rows of [1, ROWS]) {
      const view = outputs.map((o) => ({ ...o, dims: [rows, ...o.dims.slice(1)], data: o.data.slice(0, (o.data.length / ROWS) * rows) as never }));
      const columns = reader.columns(view, rows);
      expect(reader.json(view, rows, columns)).toBe(JSON.stringify(reader.predictions(view, rows, columns)));
    }
  });
});
