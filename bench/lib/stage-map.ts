// The one table that says which stage of a request a CPU-profile frame belongs to. A sample
// is charged to the first frame, walking from the leaf (self time) towards the root, that a
// rule matches; a sample no frame matches is "other". Rules match by path pattern (directory
// names, not file names, so the src/ restructure moves nothing out of its stage) or by
// function name where a V8 builtin hides in its caller: JSON.parse and JSON.stringify are not
// frames of their own in V8's CPU profiles, their time is the calling function's self time.
//
// Main thread: decode, route, observe, hand-off, encode, HTTP, GC, other. Worker threads:
// inference (ONNX Runtime and the worker's own code), hand-off (piscina, message ports).

export const STAGES = ['decode', 'route', 'observe', 'hand-off', 'inference', 'encode', 'HTTP', 'GC', 'other'] as const;
export type Stage = (typeof STAGES)[number];

export interface Frame {
  functionName: string;
  url: string;
}

export type Thread = 'main' | 'worker';

export interface StageRule {
  stage: Stage;
  /** Only on this kind of thread (default: both). */
  thread?: Thread;
  /** Matches the frame's script URL (file:///…/dist/src/…, node:internal/…, '' for natives). */
  url?: RegExp;
  /** Matches the frame's function name. */
  fn?: RegExp;
  why: string;
}

export const STAGE_RULES: readonly StageRule[] = [
  { stage: 'GC', fn: /^\(garbage collector\)$/, why: "V8's own GC pauses on this thread" },
  {
    stage: 'HTTP',
    thread: 'main',
    fn: /^\(program\)$/,
    why: 'native code with no JavaScript on the stack: the uWS event loop (socket reads and writes, HTTP parsing) and libuv',
  },
  { stage: 'other', thread: 'worker', fn: /^\(program\)$/, why: 'native code with no JavaScript on the stack: message-port wake-ups, libuv, V8' },
  { stage: 'hand-off', url: /^$/, fn: /^(postMessage|structuredClone|receiveMessageOnPort)$/, why: 'structured clone and message ports (native)' },
  { stage: 'decode', fn: /^(read|parse)Json\w*$/, why: 'JSON.parse of the body (a builtin: charged to its caller)' },
  { stage: 'observe', url: /\/src\/config\/reference-bins/, why: 'drift bins (counted per batch in the worker, merged on the main thread)' },
  { stage: 'decode', url: /\/src\/(validation|config)\/|\/node_modules\/ajv\/|\/src\/.*decod/i, why: 'schema decoding and ajv validation' },
  { stage: 'decode', url: /^$/, fn: /^validate\d*$/, why: "ajv's compiled validators (created with new Function: no URL)" },
  { stage: 'encode', fn: /^sendJson$/, why: 'JSON.stringify of the answer (a builtin: charged to its caller)' },
  { stage: 'encode', url: /\/src\/inference\/predictions|\/src\/.*encod/i, why: 'building predictions from output tensors; response encoders' },
  { stage: 'route', url: /\/src\/http\/predict-fields/, why: 'reading the routing fields of a /predict body without parsing it' },
  { stage: 'route', url: /\/src\/routing\//, why: 'traffic split, sticky keys, shadow, guardrails' },
  { stage: 'observe', url: /\/src\/monitoring\/|\/node_modules\/(hdr-histogram-js|prom-client)\//, why: 'drift, latency histograms, metrics' },
  { stage: 'inference', url: /\/node_modules\/onnxruntime-(node|common)\/|\/src\/inference\/(worker|ort-session)/, why: 'ONNX Runtime and the worker around it' },
  {
    stage: 'hand-off',
    url: /\/src\/inference\/|\/node_modules\/piscina\/|^node:internal\/(worker|per_context\/messageport)/,
    why: 'batcher, pool, tensors, piscina, message ports',
  },
  { stage: 'HTTP', url: /\/src\/http\/|\/node_modules\/uWebSockets\.js\//, why: 'the HTTP layer: exchange, router, handlers, uWS calls' },
];

/**
 * Frames in which a thread is blocked, not running: a worker waiting in Atomics.wait for its
 * next batch (the builtin is charged to its caller). Counted as idle, as V8's "(idle)" is.
 */
export function isBlocked(frame: Frame): boolean {
  return frame.functionName === 'waitFor' && /\/src\/inference\/slab/.test(frame.url);
}

export function ruleFor(frame: Frame, thread: Thread, rules: readonly StageRule[] = STAGE_RULES): StageRule | undefined {
  return rules.find(
    (r) => (!r.thread || r.thread === thread) && (!r.url || r.url.test(frame.url)) && (!r.fn || r.fn.test(frame.functionName)),
  );
}

/** Where a frame's code lives: `piscina/dist/…` for packages, `src/…` for Vigil's build. */
function shortPath(url: string): string {
  const pkg = url.lastIndexOf('/node_modules/');
  if (pkg >= 0) return url.slice(pkg + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + '/dist/'.length) : url.replace(/^file:\/\//, '');
}

/** `function file:line`, the path shortened. */
export function frameLabel(frame: Frame & { lineNumber?: number }): string {
  const file = shortPath(frame.url);
  const line = frame.lineNumber !== undefined && frame.lineNumber >= 0 ? `:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'}${file ? ` ${file}${line}` : ''}`;
}
