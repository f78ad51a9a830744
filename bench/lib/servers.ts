// The servers a bench run can start: the two uWS baselines (bare echo, JSON echo), Vigil in
// its configurations, and the peers. Each knows whether it can run on this machine and how to
// start it on port 0.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findVersion } from '../../native-bench/lib/model-repo.js';
import { makeModelsVariant, removeModelsVariant, SHADOW_ON } from './models-variant.js';
import { FASTAPI_PEER, FASTIFY_PEER, GATEWAY_FLOOR, SYSTEM_PYTHON, UWS_ECHO, VIGIL_MAIN } from './paths.js';
import type { ServerCommand } from './spawn-server.js';

export type ServerId =
  | 'bare-echo'
  | 'json-echo'
  | 'gateway-floor'
  | 'vigil'
  | 'vigil-profiled'
  | 'vigil-baseline'
  | 'vigil-batching-off'
  | 'vigil-no-monitoring'
  | 'vigil-shadow-on'
  | 'fastify-ort'
  | 'fastapi-sklearn';

export interface ServerSpec {
  id: ServerId;
  kind: 'baseline' | 'vigil' | 'peer';
  description: string;
  /** Why it cannot run here, or null. */
  unavailable(): string | null;
  /** The command line (may create a temporary models directory). */
  prepare(): ServerCommand;
  /** Removes whatever prepare() created. */
  cleanup(): void;
}

export interface ServerContext {
  modelsDir: string;
  /** Extra flags for every Vigil server (e.g. --workers 2). */
  vigilArgs: string[];
}

const node = process.execPath;

function missing(path: string, hint: string): string | null {
  return existsSync(path) ? null : `${path} is missing (${hint})`;
}

export function vigil(
  ctx: ServerContext,
  id: ServerId,
  description: string,
  flags: string[],
  variant?: { label: string; model: string; edit: (c: Record<string, unknown>) => void },
  /** Flags for node itself, before the script (e.g. --cpu-prof). */
  nodeFlags: string[] = [],
): ServerSpec {
  let tempDir: string | null = null;
  return {
    id,
    kind: 'vigil',
    description,
    unavailable: () =>
      missing(VIGIL_MAIN, 'the Vigil server is not built yet: npm run build') ??
      (existsSync(ctx.modelsDir) ? null : `models directory ${ctx.modelsDir} does not exist`),
    prepare: () => {
      if (tempDir) removeModelsVariant(tempDir); // a restart gets a fresh copy
      const modelsDir = variant
        ? (tempDir = makeModelsVariant(ctx.modelsDir, variant.label, variant.model, variant.edit))
        : ctx.modelsDir;
      return {
        command: node,
        args: [...nodeFlags, VIGIL_MAIN, '--port', '0', '--models', modelsDir, '--log-level', 'info', ...flags, ...ctx.vigilArgs],
        startTimeoutMs: 60_000,
      };
    },
    cleanup: () => {
      if (tempDir) removeModelsVariant(tempDir);
      tempDir = null;
    },
  };
}

/** A Node server of breast-cancer v2 alone that takes --port and --models (native-bench/lib/peer-options.ts). */
function oneModelServer(ctx: ServerContext, id: ServerId, kind: ServerSpec['kind'], script: string, description: string): ServerSpec {
  return {
    id,
    kind,
    description,
    unavailable: () =>
      missing(script, 'npm run build') ??
      (findVersion(ctx.modelsDir, 'breast-cancer', '2') ? null : 'models/breast-cancer/2/model.onnx is missing'),
    prepare: () => ({ command: node, args: [script, '--port', '0', '--models', ctx.modelsDir], startTimeoutMs: 60_000 }),
    cleanup: () => {},
  };
}

/** The bundled breast-cancer config's shadow setting (null when none). */
export function bundledShadow(modelsDir: string): unknown {
  try {
    const config = JSON.parse(readFileSync(join(modelsDir, 'breast-cancer', 'config.json'), 'utf8')) as {
      traffic?: { shadow?: unknown };
    };
    return config.traffic?.shadow ?? null;
  } catch {
    return null;
  }
}

export function serverSpecs(ctx: ServerContext): Map<ServerId, ServerSpec> {
  const specs: ServerSpec[] = [
    {
      id: 'bare-echo',
      kind: 'baseline',
      description: 'bare uWebSockets.js: reads the POST body without parsing it, answers a fixed JSON (native-bench/uws-echo.ts)',
      unavailable: () => missing(UWS_ECHO, 'npm run build'),
      prepare: () => ({ command: node, args: [UWS_ECHO, '--port', '0'] }),
      cleanup: () => {},
    },
    {
      id: 'json-echo',
      kind: 'baseline',
      description: 'uWebSockets.js JSON echo: reads the POST body, JSON.parses it, answers a fixed JSON (native-bench/uws-echo.ts --parse json)',
      unavailable: () => missing(UWS_ECHO, 'npm run build'),
      prepare: () => ({ command: node, args: [UWS_ECHO, '--port', '0', '--parse', 'json'] }),
      cleanup: () => {},
    },
    oneModelServer(ctx, 'gateway-floor', 'baseline', GATEWAY_FLOOR,
      'the gateway floor: uWebSockets.js, JSON.parse, rows by name, one batch per event-loop turn through Vigil\'s worker pool, breast-cancer v2; none of Vigil\'s features (native-bench/gateway-floor.ts)'),
    vigil(ctx, 'vigil', 'Vigil, bundled models, default settings', []),
    // A second default server for the monitoring and shadow comparisons: the server that ran
    // other models has seen more code paths (polymorphic call sites) than a fresh server that
    // only ever sees breast-cancer, which would bias such a comparison against it.
    vigil(ctx, 'vigil-baseline', 'Vigil, default settings, serving only the monitoring/shadow group (same traffic history as the other arms)', []),
    vigil(ctx, 'vigil-batching-off', 'Vigil with --batching off (one request per inference task)', ['--batching', 'off']),
    vigil(ctx, 'vigil-no-monitoring', 'Vigil with --no-monitoring (no drift, latency or metrics updates)', [
      '--no-monitoring',
    ]),
    vigil(
      ctx,
      'vigil-shadow-on',
      'Vigil, breast-cancer traffic 90/10 with version 2 shadowing 100 % of requests',
      [],
      { label: 'shadow-on', model: 'breast-cancer', edit: SHADOW_ON },
    ),
    oneModelServer(ctx, 'fastify-ort', 'peer', FASTIFY_PEER,
      'Fastify + onnxruntime-node inline in the handler, breast-cancer v2 (bench/peers/fastify-ort.ts)'),
    {
      id: 'fastapi-sklearn',
      kind: 'peer',
      description:
        'FastAPI + uvicorn (1 worker) + the scikit-learn MLP of breast-cancer v2 (bench/peers/fastapi_sklearn.py)',
      unavailable: () => missing(SYSTEM_PYTHON, "Debian's python3 with python3-fastapi, -uvicorn, -sklearn"),
      // Training the MLP at first start takes a few seconds; later starts load a cached pickle.
      prepare: () => ({ command: SYSTEM_PYTHON, args: [FASTAPI_PEER, '--port', '0'], startTimeoutMs: 120_000 }),
      cleanup: () => {},
    },
  ];
  return new Map(specs.map((s) => [s.id, s]));
}
