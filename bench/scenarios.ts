// The scenarios table of a full run: every model's /predict and v2 infer, and both uWS
// baselines, at 1/16/64/256 connections, one autocannon measurement each, in sequence. It
// shows absolute req/s and latency per model; no target reads it (its rows are measured
// minutes apart: the targets come from the interleaved groups in bench/groups.ts).
import { listModelVersions } from '../native-bench/lib/model-repo.js';
import { BASE_MODEL } from './groups.js';
import type { LoadRequest } from './lib/autocannon-run.js';
import { predictRequest, v2InferRequest } from './lib/bodies.js';
import type { ServerId } from './lib/servers.js';

/** Roles of the scenarios table's rows. */
export type ScenarioKey =
  | 'json-echo' // the uWS JSON echo, the same /predict body as Vigil's breast-cancer /predict
  | 'bare-echo' // the bare uWS echo, same body
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

const SCENARIO_CONNECTIONS = [1, 16, 64, 256];

export function scenarioLabel(s: Pick<Scenario, 'name' | 'connections'>): string {
  return `${s.name} @${s.connections}`;
}

export function planScenarios(modelsDir: string, only?: string): { scenarios: Scenario[]; skipped: string[] } {
  const scenarios: Scenario[] = [];
  const skipped: string[] = [];
  const models = [...new Set(listModelVersions(modelsDir).map((v) => v.model))];
  const add = (key: ScenarioKey, server: ServerId, name: string, model: string, request: LoadRequest | null): void => {
    if (!request) {
      skipped.push(`${name}: no held-out rows for ${model} under ${modelsDir}`);
      return;
    }
    for (const c of SCENARIO_CONNECTIONS) scenarios.push({ name, key, server, model, connections: c, request });
  };
  // The baselines answer the very body Vigil's breast-cancer scenario sends.
  const basePredict = predictRequest(modelsDir, BASE_MODEL);
  add('json-echo', 'json-echo', 'uWS JSON echo /predict', BASE_MODEL, basePredict);
  add('bare-echo', 'bare-echo', 'uWS bare echo /predict', BASE_MODEL, basePredict);
  for (const model of models) {
    add('vigil-predict', 'vigil', `vigil /predict ${model}`, model, predictRequest(modelsDir, model));
    add('vigil-v2', 'vigil', `vigil v2 infer ${model}`, model, v2InferRequest(modelsDir, model));
  }
  if (!only) return { scenarios, skipped };
  return { scenarios: scenarios.filter((s) => scenarioLabel(s).includes(only) || s.server.includes(only)), skipped };
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
