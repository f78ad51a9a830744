// Which loads a run measures, against which server. A scenario (the scenarios table) is one
// autocannon measurement, after its warm-up, of one request shape at one connection count. A
// pair is two such loads measured interleaved (bench/lib/paired.ts): every target and
// comparison ratio comes from a pair, so machine drift between the two sides cancels out.
import { listModelVersions } from '../native-bench/lib/model-repo.js';
import type { LoadRequest } from './lib/autocannon-run.js';
import { predictRequest, v2InferRequest } from './lib/bodies.js';
import type { ServerId } from './lib/servers.js';

export type Mode = 'quick' | 'full';

/** Roles of the scenarios table's rows (one sequential measurement each). */
export type ScenarioKey =
  | 'ceiling' // uws-echo, the same /predict body as Vigil's breast-cancer /predict
  | 'vigil-predict' // Vigil /predict, model's own traffic split
  | 'vigil-v2'; // Vigil v2 infer

export interface Scenario {
  /** Display name without the connection count, e.g. "vigil /predict digits". */
  name: string;
  key: ScenarioKey;
  server: ServerId;
  model: string;
  connections: number;
  request: LoadRequest;
}

/** The interleaved comparisons; the targets and comparisons look them up by key. */
export type PairKey =
  | 'ceiling' // Vigil /predict breast-cancer vs the uWS ceiling (req/s and p99 targets)
  | 'peer-fastify' // Vigil pinned v2 vs Fastify + ORT
  | 'peer-fastapi' // Vigil pinned v2 vs FastAPI + scikit-learn
  | 'batching' // digits, batching on vs off
  | 'monitoring' // breast-cancer, monitoring on vs off
  | 'shadow' // breast-cancer, shadow v2 100 % vs the bundled config
  | 'v2-infer'; // breast-cancer, v2 infer vs /predict (same server)

/** One side of a pair: a request shape against a server. */
export interface PairSide {
  name: string;
  server: ServerId;
  model: string;
  request: LoadRequest;
}

/**
 * Two loads measured interleaved (see bench/lib/paired.ts): both servers run at once and
 * short measurements alternate A, B, B, A, A, B, ... The ratio is median(A) / median(B).
 */
export interface Pair {
  key: PairKey;
  /** What A / B means, e.g. "vigil / uWS ceiling". */
  name: string;
  connections: number;
  a: PairSide;
  b: PairSide;
}

export const FULL_CONNECTIONS = [1, 16, 64, 256];
export const COMPARE_CONNECTIONS = 64;
export const BASE_MODEL = 'breast-cancer';

export interface ScenarioPlan {
  /** The scenarios table: every model at every connection count of the mode, one measurement each. */
  scenarios: Scenario[];
  /** The interleaved pairs behind every target and comparison ratio. */
  pairs: Pair[];
  /** Scenarios or pairs that could not even be described (no held-out rows), with the reason. */
  skipped: string[];
}

export function scenarioLabel(s: Pick<Scenario, 'name' | 'connections'>): string {
  return `${s.name} @${s.connections}`;
}

export function pairLabel(p: Pair): string {
  return `${p.a.name} vs ${p.b.name} @${p.connections}`;
}

export function planScenarios(mode: Mode, modelsDir: string, only?: string): ScenarioPlan {
  const scenarios: Scenario[] = [];
  const pairs: Pair[] = [];
  const skipped: string[] = [];
  const grid = mode === 'full' ? FULL_CONNECTIONS : [COMPARE_CONNECTIONS];
  const models = [...new Set(listModelVersions(modelsDir).map((v) => v.model))];
  if (!models.includes(BASE_MODEL)) skipped.push(`${BASE_MODEL}: not found under ${modelsDir}; ceiling and peers need its rows`);

  const add = (
    key: ScenarioKey,
    server: ServerId,
    name: string,
    model: string,
    request: LoadRequest | null,
    connections: number[],
  ): void => {
    if (!request) {
      skipped.push(`${name}: no held-out rows for ${model} under ${modelsDir}`);
      return;
    }
    for (const c of connections) scenarios.push({ name, key, server, model, connections: c, request });
  };

  // The ceiling answers the very body Vigil's headline scenario sends.
  const basePredict = predictRequest(modelsDir, BASE_MODEL);
  add('ceiling', 'ceiling', 'uws-echo /predict (ceiling)', BASE_MODEL, basePredict, grid);
  for (const model of models) {
    add('vigil-predict', 'vigil', `vigil /predict ${model}`, model, predictRequest(modelsDir, model), grid);
    // Quick mode keeps under two minutes: v2 infer is measured in full runs only.
    if (mode === 'full') add('vigil-v2', 'vigil', `vigil v2 infer ${model}`, model, v2InferRequest(modelsDir, model), grid);
  }

  const side = (name: string, server: ServerId, model: string, request: LoadRequest | null): PairSide | string =>
    request ? { name, server, model, request } : `${name}: no held-out rows for ${model} under ${modelsDir}`;
  const pair = (key: PairKey, name: string, a: PairSide | string, b: PairSide | string): void => {
    if (typeof a === 'string' || typeof b === 'string') {
      skipped.push(`pair ${name}: ${typeof a === 'string' ? a : b}`);
      return;
    }
    pairs.push({ key, name, connections: COMPARE_CONNECTIONS, a, b });
  };
  const vigilBase = side(`vigil /predict ${BASE_MODEL}`, 'vigil', BASE_MODEL, basePredict);
  const pinnedV2 = predictRequest(modelsDir, BASE_MODEL, { version: '2' });
  const vigilPinned = side(`vigil /predict ${BASE_MODEL} v2 (pinned)`, 'vigil', BASE_MODEL, pinnedV2);
  // Pairs sharing a server are adjacent, so each extra server lives for one pair only.
  pair('ceiling', 'vigil / uWS ceiling', vigilBase, side('uws-echo /predict (ceiling)', 'ceiling', BASE_MODEL, basePredict));
  if (mode === 'full') pair('v2-infer', 'v2 infer / /predict', side(`vigil v2 infer ${BASE_MODEL}`, 'vigil', BASE_MODEL, v2InferRequest(modelsDir, BASE_MODEL)), vigilBase);
  const baseline = side(`vigil /predict ${BASE_MODEL}`, 'vigil-baseline', BASE_MODEL, basePredict);
  pair('monitoring', 'monitoring on / off', baseline, side(`vigil /predict ${BASE_MODEL} --no-monitoring`, 'vigil-no-monitoring', BASE_MODEL, basePredict));
  pair('shadow', 'shadow on / off', side(`vigil /predict ${BASE_MODEL} shadow v2 100 %`, 'vigil-shadow-on', BASE_MODEL, basePredict), baseline);
  if (models.includes('digits')) {
    const digits = predictRequest(modelsDir, 'digits');
    pair('batching', 'digits batching on / off', side('vigil /predict digits', 'vigil', 'digits', digits), side('vigil /predict digits --batching off', 'vigil-batching-off', 'digits', digits));
  }
  pair('peer-fastify', 'vigil / fastify-ort', vigilPinned, side(`fastify-ort /predict ${BASE_MODEL} v2`, 'fastify-ort', BASE_MODEL, pinnedV2));
  pair('peer-fastapi', 'vigil / fastapi-sklearn', vigilPinned, side(`fastapi-sklearn /predict ${BASE_MODEL} v2`, 'fastapi-sklearn', BASE_MODEL, pinnedV2));

  if (!only) return { scenarios, pairs, skipped };
  return {
    scenarios: scenarios.filter((s) => scenarioLabel(s).includes(only) || s.server.includes(only)),
    pairs: pairs.filter((p) =>
      [pairLabel(p), p.name, p.a.server, p.b.server].some((text) => text.includes(only)),
    ),
    skipped,
  };
}

/** Scenarios grouped by server, in first-appearance order: each group runs back to back. */
export function groupByServer(scenarios: Scenario[]): Map<ServerId, Scenario[]> {
  const groups = new Map<ServerId, Scenario[]>();
  for (const s of scenarios) {
    const list = groups.get(s.server) ?? [];
    list.push(s);
    groups.set(s.server, list);
  }
  return groups;
}
