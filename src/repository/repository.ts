// The model repository on disk: models/<model>/[config.json] and numbered version folders,
// each with model.onnx and (for drift) reference.json — or one model's folder (layout.ts).
// Scanning never throws for one bad model: its error is recorded and the rest load.
import { realpathSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { invalidFile, notFound } from '../errors.js';
import { parseReference, type Reference } from '../config/reference.js';
import { parseModelConfig, type ModelConfig } from '../config/model-config.js';
import { isBatchable, readGraphSignature, type GraphSignature } from './onnx-metadata.js';
import type { RepositoryLayout } from './layout.js';


export interface VersionArtifact {
  model: string;
  version: string;
  /** "model/version", the key workers and queues know it by. */
  key: string;
  dir: string;
  path: string;
  signature: GraphSignature;
  batchable: boolean;
  reference: Reference | null;
}

export interface ModelArtifact {
  name: string;
  dir: string;
  config: ModelConfig | null;
  /** Why the whole model cannot be served (its config.json), or null. */
  error: string | null;
  versions: VersionArtifact[];
  /** Version folders that could not be read, with the reason. */
  failures: { version: string; message: string }[];
}

export async function scanRepository(layout: RepositoryLayout): Promise<ModelArtifact[]> {
  return Promise.all((await layout.modelNames()).map((name) => scanModel(layout, name)));
}

export async function scanModel(layout: RepositoryLayout, name: string): Promise<ModelArtifact> {
  const dir = layout.modelDir(name);
  const model: ModelArtifact = { name, dir, config: null, error: null, versions: [], failures: [] };
  try {
    model.config = await readConfig(layout.root, dir);
  } catch (error) {
    model.error = (error as Error).message;
    return model;
  }
  for (const version of await layout.versionNames(name)) {
    try {
      model.versions.push(await loadVersionArtifact(layout, name, version));
    } catch (error) {
      model.failures.push({ version, message: (error as Error).message });
    }
  }
  return model;
}

export async function loadVersionArtifact(layout: RepositoryLayout, model: string, version: string): Promise<VersionArtifact> {
  const root = layout.root;
  const dir = layout.versionDir(model, version);
  const path = join(dir, 'model.onnx');
  await stat(path).catch(() => {
    throw notFound(`${shown(root, path)} is missing`);
  });
  await checkInside(root, path);
  let signature: GraphSignature;
  try {
    signature = await readGraphSignature(path);
  } catch (error) {
    // ORT's message repeats the absolute path; show the repository-relative one instead.
    const cause = (error as Error).message.split(path).join(shown(root, path));
    throw invalidFile(shown(root, path), `cannot be loaded by ONNX Runtime: ${cause}`);
  }
  return {
    model, version, key: `${model}/${version}`, dir, path, signature,
    batchable: isBatchable(signature),
    reference: await readReference(root, join(dir, 'reference.json')),
  };
}

async function readConfig(root: string, dir: string): Promise<ModelConfig | null> {
  const file = join(dir, 'config.json');
  const json = await readJsonFile(root, file);
  return json === null ? null : parseModelConfig(json, shown(root, file));
}

async function readReference(root: string, file: string): Promise<Reference | null> {
  const json = await readJsonFile(root, file);
  if (json === null) return null;
  try {
    return parseReference(json);
  } catch (error) {
    throw invalidFile(shown(root, file), (error as Error).message);
  }
}

/**
 * Refuses a file that resolves (through a symlinked folder or file) outside the repository: a
 * load request must not make Vigil open, or quote in an error, anything else on the machine.
 * Symlinks that stay inside the repository are fine.
 */
async function checkInside(root: string, file: string): Promise<void> {
  const [realRoot, realFile] = await Promise.all([realpath(root), realpath(file)]);
  if (!realFile.startsWith(realRoot + sep)) {
    throw invalidFile(shown(root, file), 'resolves (through a symbolic link) to a file outside the model repository; refused');
  }
}

/**
 * A message with the repository's absolute path (as given and as resolved) replaced by paths
 * relative to it: what the server's layout looks like is none of a client's business.
 */
export function hideRepositoryPaths(root: string, message: string): string {
  let real = root;
  try {
    real = realpathSync(root);
  } catch {
    // The repository is gone: the path as given is all there is to hide.
  }
  let hidden = message;
  for (const prefix of new Set([root, real])) hidden = hidden.split(prefix + sep).join('').split(prefix).join('.');
  return hidden;
}

/** A JSON file of the repository, or null when it does not exist. */
async function readJsonFile(root: string, file: string): Promise<unknown> {
  const exists = await stat(file).then(() => true, () => false);
  if (exists) await checkInside(root, file);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    // fs messages carry the absolute path; the error code says enough.
    throw invalidFile(shown(root, file), `cannot be read (${error.code ?? 'error'})`);
  });
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalidFile(shown(root, file), `is not valid JSON: ${(error as Error).message}`);
  }
}

/** Paths in messages are relative to the repository: clients never learn the server's layout. */
function shown(root: string, path: string): string {
  return relative(root, path) || '.';
}
