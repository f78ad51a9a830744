// Finds the bundled model versions on disk and their held-out rows. Shared by the ceilings
// (native-bench) and the load scenarios (bench), which both need real rows to send.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ModelVersionFiles {
  model: string;
  version: string;
  dir: string;
  onnxPath: string;
  heldoutPath: string | null;
}

export interface Heldout {
  featureNames: string[];
  rows: number[][];
  expected: unknown[];
}

/** Every `<model>/<version>/model.onnx` under `modelsDir`, versions in numeric order. */
export function listModelVersions(modelsDir: string): ModelVersionFiles[] {
  if (!existsSync(modelsDir)) return [];
  const found: ModelVersionFiles[] = [];
  for (const model of readdirSync(modelsDir, { withFileTypes: true })) {
    if (!model.isDirectory()) continue;
    const modelDir = join(modelsDir, model.name);
    const versions = readdirSync(modelDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && /^[1-9][0-9]*$/.test(d.name))
      .map((d) => d.name)
      .sort((a, b) => Number(a) - Number(b));
    for (const version of versions) {
      const dir = join(modelDir, version);
      const onnxPath = join(dir, 'model.onnx');
      if (!existsSync(onnxPath)) continue;
      const heldoutPath = join(dir, 'heldout.json');
      found.push({ model: model.name, version, dir, onnxPath, heldoutPath: existsSync(heldoutPath) ? heldoutPath : null });
    }
  }
  return found.sort((a, b) => a.model.localeCompare(b.model) || Number(a.version) - Number(b.version));
}

/** The highest version of `model`, or null when the model is not on disk. */
export function latestVersion(modelsDir: string, model: string): ModelVersionFiles | null {
  const versions = listModelVersions(modelsDir).filter((v) => v.model === model);
  return versions.at(-1) ?? null;
}

export function findVersion(modelsDir: string, model: string, version: string): ModelVersionFiles | null {
  return listModelVersions(modelsDir).find((v) => v.model === model && v.version === version) ?? null;
}

export function readHeldout(path: string): Heldout {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as {
    feature_names?: unknown;
    rows?: unknown;
    expected?: unknown;
  };
  if (!Array.isArray(raw.feature_names) || !Array.isArray(raw.rows) || raw.rows.length === 0) {
    throw new Error(`${path}: expected {"feature_names": [...], "rows": [[...], ...]}`);
  }
  const featureNames = raw.feature_names.map(String);
  const rows = raw.rows.map((row, i) => {
    if (!Array.isArray(row) || row.length !== featureNames.length) {
      throw new Error(`${path}: rows[${i}] does not have ${featureNames.length} values`);
    }
    return row.map(Number);
  });
  return { featureNames, rows, expected: Array.isArray(raw.expected) ? raw.expected : [] };
}
