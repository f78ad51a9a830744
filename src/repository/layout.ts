// Where a model repository keeps each model and version. Two layouts:
// - the repository: one folder per model under the root, numbered version folders inside
//   (<root>/<model>/<version>/model.onnx);
// - one model's folder, served under a name given on the command line (--model-name; KServe
//   mounts a single model at /mnt/models): model.onnx directly in the folder, served as
//   version 1 with config.json and reference.json beside it, or numbered version folders.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from '../config/names.js';

export interface RepositoryLayout {
  /** The folder given on the command line; error messages show paths relative to it. */
  readonly root: string;
  modelNames(): Promise<string[]>;
  modelDir(model: string): string;
  /** Version names of a model, ascending. */
  versionNames(model: string): Promise<string[]>;
  versionDir(model: string, version: string): string;
}

/** Numbered version folders of `dir`, ascending. */
async function numberedFolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && VERSION_PATTERN.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => Number(a) - Number(b));
}

/** <root>/<model>/<version>/ for every model folder under root. */
export function repositoryLayout(root: string): RepositoryLayout {
  return {
    root,
    async modelNames() {
      let entries;
      try {
        entries = await readdir(root, { withFileTypes: true });
      } catch (error) {
        throw new Error(`cannot read model repository '${root}': ${(error as Error).message}`);
      }
      return entries.filter((e) => e.isDirectory() && MODEL_NAME_PATTERN.test(e.name)).map((e) => e.name).sort();
    },
    modelDir: (model) => join(root, model),
    versionNames: (model) => numberedFolders(join(root, model)),
    versionDir: (model, version) => join(root, model, version),
  };
}

/**
 * `dir` is the folder of the one model `name`. With model.onnx directly inside it (checked
 * once, at start) that file is version 1; otherwise its numbered folders are the versions.
 */
export function singleModelLayout(dir: string, name: string): RepositoryLayout {
  const flat = existsSync(join(dir, 'model.onnx'));
  const ownModel = (model: string) => {
    if (model !== name) throw new Error(`this server serves only model '${name}' (--model-name), not '${model}'`);
  };
  return {
    root: dir,
    async modelNames() {
      if (!existsSync(dir)) throw new Error(`cannot read model folder '${dir}' (--models)`);
      return [name];
    },
    modelDir: (model) => (ownModel(model), dir),
    versionNames: async (model) => (ownModel(model), flat ? ['1'] : numberedFolders(dir)),
    versionDir: (model, version) => (ownModel(model), flat && version === '1' ? dir : join(dir, version)),
  };
}
