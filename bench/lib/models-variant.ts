// A throw-away copy of a models directory with one model's config.json changed, in the OS
// temp directory (the bundled models/ is never touched): the tests' tempModels over every model.
import { readdirSync, rmSync } from 'node:fs';
import { tempModels, type ConfigEdit } from '../../test/helpers/models.js';

export type { ConfigEdit };

export function makeModelsVariant(modelsDir: string, label: string, model: string, edit: ConfigEdit): string {
  const models = readdirSync(modelsDir, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  return tempModels(modelsDir, models, { [model]: edit }, `vigil-bench-${label}-`).dir;
}

export function removeModelsVariant(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** breast-cancer's canary split with version 2 shadowing every request. */
export const SHADOW_ON: ConfigEdit = (config) => {
  config['traffic'] = { weights: { '1': 90, '2': 10 }, shadow: { version: '2', percent: 100 } };
};
