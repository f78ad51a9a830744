// Request bodies built from the bundled models' held-out rows, so every scenario sends real,
// valid rows (cycled), exactly as an application would.
import { findVersion, latestVersion, readHeldout, type Heldout } from '../../native-bench/lib/model-repo.js';
import type { LoadRequest } from './autocannon-run.js';
import { binaryInferRequest } from './binary-tensor.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
/** Distinct bodies cycled per connection. */
const BODIES_PER_SCENARIO = 16;

function heldoutFor(modelsDir: string, model: string, version?: string): Heldout | null {
  const files = version ? findVersion(modelsDir, model, version) : latestVersion(modelsDir, model);
  return files?.heldoutPath ? readHeldout(files.heldoutPath) : null;
}

/**
 * BODIES_PER_SCENARIO groups of `rowsPerRequest` held-out rows; group k starts at row
 * k × rowsPerRequest and wraps around the held-out set.
 */
function rowGroups(heldout: Heldout, rowsPerRequest: number): number[][][] {
  const n = heldout.rows.length;
  return Array.from({ length: BODIES_PER_SCENARIO }, (_, k) =>
    Array.from({ length: rowsPerRequest }, (_, i) => heldout.rows[(k * rowsPerRequest + i) % n]!),
  );
}

export interface PredictBodyOptions {
  /** Pin a version (`"version": "2"`); omitted = the model's traffic split decides. */
  version?: string;
  /** Named features (the application-facing form) or an array in feature order. */
  form?: 'object' | 'array';
  /** Rows per request: 1 sends `features`, more send `instances`. */
  rowsPerRequest?: number;
}

/** `POST /predict`; null when the model has no held-out rows on disk. */
export function predictRequest(modelsDir: string, model: string, opts: PredictBodyOptions = {}): LoadRequest | null {
  const heldout = heldoutFor(modelsDir, model, opts.version);
  if (!heldout) return null;
  const perRequest = opts.rowsPerRequest ?? 1;
  const toFeatures = (row: number[]): unknown =>
    opts.form === 'array' ? row : Object.fromEntries(heldout.featureNames.map((name, i) => [name, row[i]]));
  const bodies = rowGroups(heldout, perRequest).map((rows) => {
    const payload = perRequest === 1 ? { features: toFeatures(rows[0]!) } : { instances: rows.map(toFeatures) };
    return JSON.stringify(opts.version ? { model, version: opts.version, ...payload } : { model, ...payload });
  });
  return { method: 'POST', path: '/predict', headers: JSON_HEADERS, bodies };
}

/** Open Inference Protocol v2 `POST /v2/models/<model>/infer`, an `[R, F]` FP32 tensor in JSON. */
export function v2InferRequest(modelsDir: string, model: string, opts: { rowsPerRequest?: number } = {}): LoadRequest | null {
  const heldout = heldoutFor(modelsDir, model);
  if (!heldout) return null;
  const bodies = rowGroups(heldout, opts.rowsPerRequest ?? 1).map((rows) =>
    JSON.stringify({ inputs: [{ name: 'input', shape: [rows.length, rows[0]!.length], datatype: 'FP32', data: rows.flat() }] }),
  );
  return { method: 'POST', path: `/v2/models/${encodeURIComponent(model)}/infer`, headers: JSON_HEADERS, bodies };
}

/**
 * The same v2 infer request in the Binary Tensor Data extension (bench/lib/binary-tensor.ts):
 * the `[R, F]` FP32 tensor as raw bytes after the JSON header, outputs asked for in binary,
 * `Content-Type: application/octet-stream` as most clients send (Triton's Python client sends
 * none).
 */
export function v2BinaryInferRequest(modelsDir: string, model: string, opts: { rowsPerRequest?: number } = {}): LoadRequest | null {
  const heldout = heldoutFor(modelsDir, model);
  if (!heldout) return null;
  const built = rowGroups(heldout, opts.rowsPerRequest ?? 1).map((rows) =>
    binaryInferRequest([{ name: 'input', shape: [rows.length, rows[0]!.length], datatype: 'FP32', data: rows.flat() }], { binaryOutputs: true }),
  );
  // Every body has the same shape, hence the same JSON header and header length.
  const headerLength = built[0]!.headerLength;
  if (built.some((b) => b.headerLength !== headerLength)) throw new Error('binary bodies differ in header length');
  return {
    method: 'POST',
    path: `/v2/models/${encodeURIComponent(model)}/infer`,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) },
    bodies: built.map((b) => b.body),
  };
}
