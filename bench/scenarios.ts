// Which loads a run measures, against which server. Each scenario is one autocannon
// measurement (after its warm-up) of one request shape at one connection count.
import { listModelVersions } from '../native-bench/lib/model-repo.js';
import type { LoadRequest } from './lib/autocannon-run.js';
import { predictRequest, v2InferRequest } from './lib/bodies.js';
import type { ServerId } from './lib/servers.js';

export type Mode = 'quick' | 'full';

/** Roles the targets and comparisons look scenarios up by. */
export type ScenarioKey =
  | 'ceiling' // uws-echo, the same /predict body as vigil-bc
  | 'vigil-predict' // Vigil /predict, model's own traffic split
  | 'vigil-v2' // Vigil v2 infer
  | 'vigil-bc-v2' // Vigil /predict pinned to breast-cancer v2: the peers' model
  | 'peer-fastify'
  | 'peer-fastapi'
  | 'batching-off'
  | 'monitoring-off'
  | 'shadow-on';

export interface Scenario {
  /** Display name without the connection count, e.g. "vigil /predict digits". */
  name: string;
  key: ScenarioKey;
  server: ServerId;
  model: string;
  connections: number;
  request: LoadRequest;
}

export const FULL_CONNECTIONS = [1, 16, 64, 256];
export const COMPARE_CONNECTIONS = 64;
export const BASE_MODEL = 'breast-cancer';

export interface ScenarioPlan {
  scenarios: Scenario[];
  /** Scenarios that could not even be described (no held-out rows), with the reason. */
  skipped: string[];
}

export function scenarioLabel(s: Pick<Scenario, 'name' | 'connections'>): string {
  return `${s.name} @${s.connections}`;
}

export function planScenarios(mode: Mode, modelsDir: string, only?: string): ScenarioPlan {
  const scenarios: Scenario[] = [];
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
    add('vigil-v2', 'vigil', `vigil v2 infer ${model}`, model, v2InferRequest(modelsDir, model), grid);
  }
  const pinnedV2 = predictRequest(modelsDir, BASE_MODEL, { version: '2' });
  const c = [COMPARE_CONNECTIONS];
  add('vigil-bc-v2', 'vigil', `vigil /predict ${BASE_MODEL} v2 (pinned)`, BASE_MODEL, pinnedV2, c);
  if (models.includes('digits')) {
    add('batching-off', 'vigil-batching-off', 'vigil /predict digits --batching off', 'digits', predictRequest(modelsDir, 'digits'), c);
  }
  add('monitoring-off', 'vigil-no-monitoring', `vigil /predict ${BASE_MODEL} --no-monitoring`, BASE_MODEL, basePredict, c);
  add('shadow-on', 'vigil-shadow-on', `vigil /predict ${BASE_MODEL} shadow v2 100 %`, BASE_MODEL, basePredict, c);
  add('peer-fastify', 'fastify-ort', `fastify-ort /predict ${BASE_MODEL} v2`, BASE_MODEL, pinnedV2, c);
  add('peer-fastapi', 'fastapi-sklearn', `fastapi-sklearn /predict ${BASE_MODEL} v2`, BASE_MODEL, pinnedV2, c);

  const selected = only
    ? scenarios.filter((s) => scenarioLabel(s).includes(only) || s.server.includes(only))
    : scenarios;
  return { scenarios: selected, skipped };
}

/** Scenarios grouped by server, in first-appearance order: one server start per group. */
export function groupByServer(scenarios: Scenario[]): Map<ServerId, Scenario[]> {
  const groups = new Map<ServerId, Scenario[]>();
  for (const s of scenarios) {
    const list = groups.get(s.server) ?? [];
    list.push(s);
    groups.set(s.server, list);
  }
  return groups;
}
