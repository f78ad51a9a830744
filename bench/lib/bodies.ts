// Request bodies built from the bundled models' held-out rows, so every scenario sends real,
// valid rows (cycled), exactly as an application would.
import { findVersion, latestVersion, readHeldout, type Heldout } from '../../native-bench/lib/model-repo.js';
import type { LoadRequest } from './autocannon-run.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
/** Distinct rows cycled per connection. */
export const ROWS_PER_SCENARIO = 16;

function heldoutFor(modelsDir: string, model: string, version?: string): Heldout | null {
  const files = version ? findVersion(modelsDir, model, version) : latestVersion(modelsDir, model);
  return files?.heldoutPath ? readHeldout(files.heldoutPath) : null;
}

export interface PredictBodyOptions {
  /** Pin a version (`"version": "2"`); omitted = the model's traffic split decides. */
  version?: string;
  /** Named features (the application-facing form) or an array in feature order. */
  form?: 'object' | 'array';
  rows?: number;
}

/** `POST /predict` with one row per request; null when the model has no held-out rows on disk. */
export function predictRequest(modelsDir: string, model: string, opts: PredictBodyOptions = {}): LoadRequest | null {
  const heldout = heldoutFor(modelsDir, model, opts.version);
  if (!heldout) return null;
  const rows = heldout.rows.slice(0, opts.rows ?? ROWS_PER_SCENARIO);
  const bodies = rows.map((row) => {
    const features =
      opts.form === 'array' ? row : Object.fromEntries(heldout.featureNames.map((name, i) => [name, row[i]]));
    return JSON.stringify(opts.version ? { model, version: opts.version, features } : { model, features });
  });
  return { method: 'POST', path: '/predict', headers: JSON_HEADERS, bodies };
}

/** Open Inference Protocol v2 `POST /v2/models/<model>/infer`, one row `[1, F]` FP32 per request. */
export function v2InferRequest(modelsDir: string, model: string, opts: { rows?: number } = {}): LoadRequest | null {
  const heldout = heldoutFor(modelsDir, model);
  if (!heldout) return null;
  const rows = heldout.rows.slice(0, opts.rows ?? ROWS_PER_SCENARIO);
  const bodies = rows.map((row) =>
    JSON.stringify({ inputs: [{ name: 'input', shape: [1, row.length], datatype: 'FP32', data: row }] }),
  );
  return { method: 'POST', path: `/v2/models/${encodeURIComponent(model)}/infer`, headers: JSON_HEADERS, bodies };
}
