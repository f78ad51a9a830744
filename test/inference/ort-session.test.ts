// The worker's sessions (ort-session.ts) call onnxruntime-node's native session directly; the
// answers must be exactly what the public API gives, for every bundled model, one row and many.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { openSession } from '../../src/inference/ort-session.js';

const MODELS = join(import.meta.dirname, '..', '..', 'models');
const OPTIONS = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 } as const;

describe.each([
  ['breast-cancer', '1'],
  ['breast-cancer', '2'],
  ['diabetes', '1'],
  ['digits', '1'],
])('%s v%s', (model, version) => {
  const dir = join(MODELS, model, version);
  const rows = (JSON.parse(readFileSync(join(dir, 'heldout.json'), 'utf8')) as { rows: number[][] }).rows;

  it('answers exactly as the public InferenceSession does, on the direct path', async () => {
    const session = await openSession(join(dir, 'model.onnx'), OPTIONS);
    const reference = await ort.InferenceSession.create(join(dir, 'model.onnx'), OPTIONS);
    // The pinned onnxruntime-node has the native session this relies on: the fast path is taken.
    expect(session.direct).toBe(true);
    const input = reference.inputNames[0]!;
    for (const count of [1, rows.length]) {
      const data = Float32Array.from(rows.slice(0, count).flat());
      const feeds = () => ({ [input]: new ort.Tensor('float32', data, [count, rows[0]!.length]) });
      const got = await session.run(feeds());
      const want = await reference.run(feeds());
      expect(Object.keys(got)).toEqual(reference.outputNames);
      for (const name of reference.outputNames) {
        expect(got[name]!.type).toBe(want[name]!.type);
        expect(got[name]!.dims).toEqual(want[name]!.dims);
        expect(got[name]!.data).toEqual(want[name]!.data);
      }
    }
    await session.release();
    await reference.release();
  });
});

it('refuses a file that is not a model with ORT\'s own message', async () => {
  await expect(openSession(join(MODELS, 'digits', '1', 'heldout.json'), OPTIONS)).rejects.toThrow(/protobuf|parse|load/i);
});
