// Which interleaved groups a run measures (issue 9's targets). A group is a set of arms (a
// request shape against a server, at a connection count, driven by wrk or autocannon) measured
// in alternating rounds (bench/lib/interleave.ts); every target ratio divides two arms of one
// group, so machine drift between them cancels out.
import type { LoadRequest } from './lib/autocannon-run.js';
import { predictRequest, v2BinaryInferRequest, v2InferRequest } from './lib/bodies.js';
import type { ServerId } from './lib/servers.js';

export type Mode = 'quick' | 'targets' | 'full';
export type Tool = 'wrk' | 'autocannon';

export type GroupKey =
  | 'headline' // @64: Vigil /predict vs the JSON echo, the bare echo and the peers
  | 'single' // @1: latency of one request at a time
  | 'overload' // 64-row requests at 16 and 256 connections
  | 'features' // monitoring off and shadow on, against the default server
  | 'batching' // digits, dynamic batching on vs off
  | 'binary' // digits v2 infer, binary tensor extension vs JSON
  | 'protocols'; // v2 infer vs /predict (full runs)

export interface ArmSpec {
  /** Unique within its group; targets name arms by it. */
  id: string;
  /** Display name, e.g. "vigil /predict breast-cancer v2 (pinned)". */
  label: string;
  server: ServerId;
  model: string;
  request: LoadRequest;
  connections: number;
  tool: Tool;
  /** wrk tags requests so 2xx latency is measured apart from rejections (overload). */
  trackAdmitted?: boolean;
  /**
   * A feature this build may lack: when its preflight answers non-2xx, the group is marked
   * "not supported by this build" with this text, instead of failed.
   */
  optionalFeature?: string;
}

export interface Group {
  key: GroupKey;
  title: string;
  arms: ArmSpec[];
  /** Round length relative to the run's (whole seconds, at least 1): @1 percentiles settle sooner. */
  roundScale?: number;
}

export const BASE_MODEL = 'breast-cancer';
export const HEADLINE_CONNECTIONS = 64;
export const OVERLOAD_CONNECTIONS = [16, 256] as const;
export const OVERLOAD_ROWS = 64;
export const BINARY_ROWS = 64;
/** Below the 4,096 queued rows per version at which Vigil answers 503 (64 × 64 would touch it). */
export const BINARY_CONNECTIONS = 16;

export interface GroupPlan {
  groups: Group[];
  /** Groups that could not even be described (no held-out rows), with the reason. */
  skipped: string[];
}

export function planGroups(mode: Mode, modelsDir: string, only?: string): GroupPlan {
  const groups: Group[] = [];
  const skipped: string[] = [];
  const add = (key: GroupKey, title: string, arms: (ArmSpec | string)[], roundScale?: number): void => {
    const missing = arms.find((a): a is string => typeof a === 'string');
    if (missing) skipped.push(`${title}: ${missing}`);
    else groups.push({ key, title, arms: arms as ArmSpec[], ...(roundScale ? { roundScale } : {}) });
  };
  const arm = (
    id: string,
    label: string,
    server: ServerId,
    model: string,
    request: LoadRequest | null,
    connections: number,
    extra: Partial<Pick<ArmSpec, 'tool' | 'trackAdmitted' | 'optionalFeature'>> = {},
  ): ArmSpec | string =>
    request
      ? { id, label, server, model, request, connections, tool: extra.tool ?? 'wrk', ...extra }
      : `no held-out rows for ${model} under ${modelsDir}`;

  const c = HEADLINE_CONNECTIONS;
  const pinned = predictRequest(modelsDir, BASE_MODEL, { version: '2' });
  const pinnedLabel = `/predict ${BASE_MODEL} v2 (pinned), 1 row`;
  add('headline', `@${c} connections: ${pinnedLabel}`, [
    arm('vigil', `vigil ${pinnedLabel}`, 'vigil', BASE_MODEL, pinned, c),
    arm('json-echo', 'uWS JSON echo', 'json-echo', BASE_MODEL, pinned, c),
    arm('bare-echo', 'uWS bare echo', 'bare-echo', BASE_MODEL, pinned, c),
    arm('floor', 'gateway floor (uWS + JSON.parse + Vigil\'s worker pool)', 'gateway-floor', BASE_MODEL, pinned, c),
    arm('fastify', 'Fastify + ORT inline', 'fastify-ort', BASE_MODEL, pinned, c),
    arm('vigil-autocannon', `vigil ${pinnedLabel}`, 'vigil', BASE_MODEL, pinned, c, { tool: 'autocannon' }),
    arm('json-echo-autocannon', 'uWS JSON echo', 'json-echo', BASE_MODEL, pinned, c, { tool: 'autocannon' }),
    ...(mode === 'full' ? [arm('fastapi', 'FastAPI + scikit-learn', 'fastapi-sklearn', BASE_MODEL, pinned, c)] : []),
  ]);
  add('single', `@1 connection: ${pinnedLabel}`, [
    arm('vigil', `vigil ${pinnedLabel}`, 'vigil', BASE_MODEL, pinned, 1),
    arm('fastify', 'Fastify + ORT inline', 'fastify-ort', BASE_MODEL, pinned, 1),
    arm('json-echo', 'uWS JSON echo', 'json-echo', BASE_MODEL, pinned, 1),
  ], 0.5);

  const digits = predictRequest(modelsDir, 'digits');
  add('batching', `@${c}: /predict digits, 1 row, dynamic batching on / off`, [
    arm('on', 'vigil /predict digits', 'vigil', 'digits', digits, c),
    arm('off', 'vigil /predict digits --batching off', 'vigil-batching-off', 'digits', digits, c),
  ]);
  add('binary', `@${BINARY_CONNECTIONS}: v2 infer digits, ${BINARY_ROWS} rows per request, binary tensor extension / JSON`, [
    arm('binary', `vigil v2 infer digits [${BINARY_ROWS}, 64] FP32 binary`, 'vigil', 'digits', v2BinaryInferRequest(modelsDir, 'digits', { rowsPerRequest: BINARY_ROWS }), BINARY_CONNECTIONS, {
      optionalFeature: 'the binary tensor data extension is not supported by this build',
    }),
    arm('json', `vigil v2 infer digits [${BINARY_ROWS}, 64] FP32 JSON`, 'vigil', 'digits', v2InferRequest(modelsDir, 'digits', { rowsPerRequest: BINARY_ROWS }), BINARY_CONNECTIONS),
  ]);
  if (mode === 'full') {
    add('protocols', `@${c}: ${BASE_MODEL}, 1 row, traffic split: v2 infer / /predict`, [
      arm('v2', `vigil v2 infer ${BASE_MODEL}`, 'vigil', BASE_MODEL, v2InferRequest(modelsDir, BASE_MODEL), c),
      arm('predict', `vigil /predict ${BASE_MODEL}`, 'vigil', BASE_MODEL, predictRequest(modelsDir, BASE_MODEL), c),
    ]);
  }
  // Last on 'vigil': the queues and heap an overload leaves behind reach no other figure.
  const overload = predictRequest(modelsDir, BASE_MODEL, { version: '2', rowsPerRequest: OVERLOAD_ROWS });
  add('overload', `overload: /predict ${BASE_MODEL} v2, ${OVERLOAD_ROWS} rows per request`, OVERLOAD_CONNECTIONS.map((n) =>
    arm(`c${n}`, `vigil /predict ${OVERLOAD_ROWS} rows @${n}`, 'vigil', BASE_MODEL, overload, n, { trackAdmitted: true }),
  ));

  // The default split (90 % v1, 10 % v2) so that the shadow (v2 mirrors every request) has work.
  const split = predictRequest(modelsDir, BASE_MODEL);
  add('features', `@${c}: /predict ${BASE_MODEL}, 1 row, traffic split: monitoring off, shadow on`, [
    arm('default', `vigil /predict ${BASE_MODEL}`, 'vigil-baseline', BASE_MODEL, split, c),
    arm('no-monitoring', `vigil /predict ${BASE_MODEL} --no-monitoring`, 'vigil-no-monitoring', BASE_MODEL, split, c),
    arm('shadow', `vigil /predict ${BASE_MODEL} shadow v2 100 %`, 'vigil-shadow-on', BASE_MODEL, split, c),
  ]);

  if (!only) return { groups, skipped };
  const matches = (g: Group): boolean =>
    [g.key, g.title, ...g.arms.flatMap((a) => [a.server, a.label])].some((text) => text.includes(only));
  return { groups: groups.filter(matches), skipped };
}
