// Where things are, independent of the current directory: this file compiles to
// dist/bench/lib/paths.js, three levels below the repository root.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DIST = join(REPO_ROOT, 'dist');
export const VIGIL_MAIN = join(DIST, 'src', 'main.js');
export const UWS_ECHO = join(DIST, 'native-bench', 'uws-echo.js');
export const ORT_THROUGHPUT = join(DIST, 'native-bench', 'ort-throughput.js');
export const FASTIFY_PEER = join(DIST, 'bench', 'peers', 'fastify-ort.js');
export const FASTAPI_PEER = join(REPO_ROOT, 'bench', 'peers', 'fastapi_sklearn.py');
export const DEFAULT_MODELS = join(REPO_ROOT, 'models');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
/** Debian's python3 (has python3-fastapi/-uvicorn/-sklearn); the python3 on PATH may not. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
