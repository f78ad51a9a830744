// A throw-away copy of a models directory with one model's config.json changed, in the OS
// temp directory (the bundled models/ is never touched). The bundled models are small
// (< 1 MB in all), so a plain copy is simplest.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ConfigEdit = (config: Record<string, unknown>) => void;

export function makeModelsVariant(modelsDir: string, label: string, model: string, edit: ConfigEdit): string {
  const dir = mkdtempSync(join(tmpdir(), `vigil-bench-${label}-`));
  cpSync(modelsDir, dir, { recursive: true });
  const configPath = join(dir, model, 'config.json');
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch {
    // no config.json: start from an empty one
  }
  edit(config);
  writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n');
  return dir;
}

export function removeModelsVariant(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** breast-cancer's canary split with version 2 shadowing every request. */
export const SHADOW_ON: ConfigEdit = (config) => {
  config['traffic'] = { weights: { '1': 90, '2': 10 }, shadow: { version: '2', percent: 100 } };
};
