// A throwaway model repository for a test: copies of bundled models, optionally with edited
// config.json, in a temp directory the test removes afterwards.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Copies the given models of `source` into a fresh temp directory, passing each config.json
 * through `edit` (models without an edit are copied untouched). Returns the dir and a cleanup.
 */
export function tempModels(source: string, models: string[], edit: Record<string, (config: any) => any> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-models-'));
  for (const model of models) {
    cpSync(join(source, model), join(dir, model), { recursive: true });
    const change = edit[model];
    if (change) {
      const file = join(dir, model, 'config.json');
      const config = JSON.parse(readFileSync(file, 'utf8'));
      writeFileSync(file, `${JSON.stringify(change(config) ?? config, null, 2)}\n`);
    }
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
