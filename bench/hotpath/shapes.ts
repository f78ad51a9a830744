// The request shapes the probe sends: real held-out rows of the bundled models.
import { DEFAULT_MODELS } from '../lib/paths.js';
import { findVersion, readHeldout } from '../../native-bench/lib/model-repo.js';
import { binaryInferRequest } from '../lib/binary-tensor.js';
import type { Shape } from './load.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

function heldout(model: string, version: string) {
  return readHeldout(findVersion(DEFAULT_MODELS, model, version)!.heldoutPath!);
}

function rows(model: string, version: string, count: number): number[][] {
  const h = heldout(model, version);
  return Array.from({ length: count }, (_, i) => h.rows[i % h.rows.length]!);
}

function named(model: string, version: string, count: number): Record<string, number>[] {
  const names = heldout(model, version).featureNames;
  return rows(model, version, count).map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]!])));
}

const json = (path: string, body: unknown): Shape => ({ method: 'POST', path, headers: JSON_HEADERS, body: Buffer.from(JSON.stringify(body)) });

function v2Json(model: string, version: string, count: number): Shape {
  const r = rows(model, version, count);
  return json(`/v2/models/${model}/versions/${version}/infer`, {
    inputs: [{ name: 'input', shape: [count, r[0]!.length], datatype: 'FP32', data: r.flat() }],
  });
}

/** The same request in the binary tensor data extension, outputs in binary too. */
function v2Binary(model: string, version: string, count: number): Shape {
  const r = rows(model, version, count);
  const { body, headerLength } = binaryInferRequest([{ name: 'input', shape: [count, r[0]!.length], datatype: 'FP32', data: r.flat() }], { binaryOutputs: true });
  return {
    method: 'POST', path: `/v2/models/${model}/versions/${version}/infer`, body,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) },
  };
}

export const SHAPES: Record<string, Shape> = {
  /** breast-cancer v2 (the MLP) pinned, one row by feature name: the reference request. */
  bc: json('/predict', { model: 'breast-cancer', version: '2', features: named('breast-cancer', '2', 1)[0] }),
  /** breast-cancer through the 90/10 split. */
  'bc-split': json('/predict', { model: 'breast-cancer', features: named('breast-cancer', '2', 1)[0] }),
  'bc-v2': v2Json('breast-cancer', '2', 1),
  /** 64 named rows: the overload request. */
  bc64: json('/predict', { model: 'breast-cancer', version: '2', instances: named('breast-cancer', '2', 64) }),
  digits: json('/predict', { model: 'digits', features: rows('digits', '1', 1)[0] }),
  digits64: json('/predict', { model: 'digits', instances: rows('digits', '1', 64) }),
  'digits-v2-64': v2Json('digits', '1', 64),
  'digits-v2bin-64': v2Binary('digits', '1', 64),
};
