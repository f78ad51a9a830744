// Where things are, independent of the current directory and of whether this module runs
// compiled (dist/bench/lib/) or from source (bench/lib/, under vitest): the repository root is
// the nearest directory above that holds package.json.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const REPO_ROOT = repositoryRoot(dirname(fileURLToPath(import.meta.url)));
export const DIST = join(REPO_ROOT, 'dist');
export const VIGIL_MAIN = join(DIST, 'src', 'main.js');
export const UWS_ECHO = join(DIST, 'native-bench', 'uws-echo.js');
export const GATEWAY_FLOOR = join(DIST, 'native-bench', 'gateway-floor.js');
export const ORT_THROUGHPUT = join(DIST, 'native-bench', 'ort-throughput.js');
export const FASTIFY_PEER = join(DIST, 'bench', 'peers', 'fastify-ort.js');
export const FASTAPI_PEER = join(REPO_ROOT, 'bench', 'peers', 'fastapi_sklearn.py');
export const WRK_SCRIPT = join(REPO_ROOT, 'bench', 'wrk-load.lua');
export const DEFAULT_MODELS = join(REPO_ROOT, 'models');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
/** Debian's python3 (has python3-fastapi/-uvicorn/-sklearn); the python3 on PATH may not. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
