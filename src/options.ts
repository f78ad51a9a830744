// Command-line flags and their VIGIL_* environment equivalents, validated up front so a
// typo stops the process with a message instead of surfacing as odd behaviour later.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { httpUrl } from './config/urls.js';

export interface Options {
  models: string;
  /** Serve `models` as the folder of this one model (KServe's /mnt/models layout). */
  modelName: string | null;
  port: number;
  host: string;
  workers: number;
  logLevel: string;
  predictionLog: string | null;
  predictionLogSample: number;
  maxBodyBytes: number;
  maxInstances: number;
  timeoutMs: number;
  batching: boolean;
  maxBatchSize: number;
  maxQueueDelayUs: number;
  maxQueueRows: number;
  /** Batches in flight across the pool (per worker). */
  pipelineDepth: number;
  /** Refuse data-plane requests once the event-loop turn is this old (0 = never). */
  shedAfterMs: number;
  /** Hold a refused request this long before answering its 503. */
  shedHoldMs: number;
  monitoring: boolean;
  watch: boolean;
  allowUwsFallback: boolean;
  adminToken: string | null;
  /** Bearer keys for the data plane (VIGIL_API_KEYS); empty = open. */
  apiKeys: string[];
  /** /metrics and /v2/health/* need an API key too. */
  metricsAuth: boolean;
  /** The admin API on its own listener; null = on the main port. */
  adminHost: string | null;
  adminPort: number | null;
  /** Host header names accepted (lower case, no port); null = any. */
  allowedHosts: string[] | null;
  maxJsonDepth: number;
  maxTensorElements: number;
  bodyTimeoutMs: number;
  receiveBudgetBytes: number;
  predictionLogMaxBytes: number;
  predictionLogKeep: number;
  watchSettleMs: number;
  /** Alertmanager-format webhooks that receive every alert (repeatable flag). */
  alertWebhooks: string[];
  /** Predictions kept for POST /feedback to join labels to (0: no store). */
  feedbackStoreRows: number;
  feedbackTtlSeconds: number;
}

interface FlagSpec {
  env?: string;
  /** list: comma-separated names, lower-cased; urls: repeatable, case kept (the env var comma-separated) */
  kind: 'string' | 'int' | 'number' | 'bool' | 'list' | 'urls';
  key: keyof Options;
  help: string;
}

const FLAGS: Record<string, FlagSpec> = {
  '--models': { env: 'VIGIL_MODELS', kind: 'string', key: 'models', help: 'model repository folder (default ./models)' },
  '--model-name': { env: 'VIGIL_MODEL_NAME', kind: 'string', key: 'modelName', help: "serve --models as the folder of this one model: model.onnx inside it (version 1) or numbered version folders (KServe's /mnt/models)" },
  '--port': { env: 'VIGIL_PORT', kind: 'int', key: 'port', help: 'HTTP port; 0 picks a free one (default 8080)' },
  '--host': { env: 'VIGIL_HOST', kind: 'string', key: 'host', help: 'address to listen on (default 127.0.0.1)' },
  '--workers': { env: 'VIGIL_WORKERS', kind: 'int', key: 'workers', help: 'inference worker threads (default: cores - 1, at least 1)' },
  '--log-level': { env: 'VIGIL_LOG_LEVEL', kind: 'string', key: 'logLevel', help: 'pino level: fatal, error, warn, info, debug, trace, silent (default info)' },
  '--prediction-log': { env: 'VIGIL_PREDICTION_LOG', kind: 'string', key: 'predictionLog', help: 'write sampled predictions as JSON lines to FILE' },
  '--prediction-log-sample': { env: 'VIGIL_PREDICTION_LOG_SAMPLE', kind: 'number', key: 'predictionLogSample', help: 'fraction of requests to log, 0..1 (default 1)' },
  '--max-body': { env: 'VIGIL_MAX_BODY', kind: 'int', key: 'maxBodyBytes', help: 'request body limit in bytes (default 1048576)' },
  '--max-instances': { env: 'VIGIL_MAX_INSTANCES', kind: 'int', key: 'maxInstances', help: 'rows per /predict request (default 1024)' },
  '--timeout-ms': { env: 'VIGIL_TIMEOUT_MS', kind: 'int', key: 'timeoutMs', help: 'default request deadline; X-Timeout-Ms may lower it (default 30000)' },
  '--batching': { env: 'VIGIL_BATCHING', kind: 'bool', key: 'batching', help: 'dynamic batching on|off (default on)' },
  '--max-batch-size': { env: 'VIGIL_MAX_BATCH_SIZE', kind: 'int', key: 'maxBatchSize', help: 'rows per batch unless config.json says (default 64)' },
  '--max-queue-delay-us': { env: 'VIGIL_MAX_QUEUE_DELAY_US', kind: 'int', key: 'maxQueueDelayUs', help: 'hold partial batches this long (default 0: never)' },
  '--max-queue-rows': { env: 'VIGIL_MAX_QUEUE_ROWS', kind: 'int', key: 'maxQueueRows', help: 'queued rows per version before 503 (default 4096)' },
  '--pipeline-depth': { env: 'VIGIL_PIPELINE_DEPTH', kind: 'int', key: 'pipelineDepth', help: 'batches in flight per worker (default 2)' },
  '--shed-after-ms': { env: 'VIGIL_SHED_AFTER_MS', kind: 'int', key: 'shedAfterMs', help: 'refuse requests (503) still unread when the event-loop turn is this old; 0 = never (default 20)' },
  '--shed-hold-ms': { env: 'VIGIL_SHED_HOLD_MS', kind: 'int', key: 'shedHoldMs', help: 'answer such a refusal after this long, so clients cannot retry at once (default 250)' },
  '--monitoring': { env: 'VIGIL_MONITORING', kind: 'bool', key: 'monitoring', help: 'drift, percentiles and metrics on|off (default on)' },
  '--watch': { env: 'VIGIL_WATCH', kind: 'bool', key: 'watch', help: 'load new version folders as they appear (default off)' },
  '--alert-webhook': { env: 'VIGIL_ALERT_WEBHOOK', kind: 'urls', key: 'alertWebhooks', help: 'POST every alert, firing and resolved, as Alertmanager webhook JSON to URL (repeatable)' },
  '--feedback-store-rows': { env: 'VIGIL_FEEDBACK_STORE_ROWS', kind: 'int', key: 'feedbackStoreRows', help: 'prediction rows kept for POST /feedback to join labels to; 0 turns the store off (default 100000)' },
  '--feedback-ttl-seconds': { env: 'VIGIL_FEEDBACK_TTL_SECONDS', kind: 'number', key: 'feedbackTtlSeconds', help: 'how long a prediction waits for its label (default 3600)' },
  '--allow-uws-fallback': { env: 'VIGIL_ALLOW_UWS_FALLBACK', kind: 'bool', key: 'allowUwsFallback', help: "run on uWebSockets.js's slow pure-JS fallback if the native binary fails (default off)" },
  '--max-json-depth': { env: 'VIGIL_MAX_JSON_DEPTH', kind: 'int', key: 'maxJsonDepth', help: 'nesting depth of a JSON body, 400 above (default 64)' },
  '--max-tensor-elements': { env: 'VIGIL_MAX_TENSOR_ELEMENTS', kind: 'int', key: 'maxTensorElements', help: 'elements of one input tensor, 400 above (default 16777216)' },
  '--body-timeout-ms': { env: 'VIGIL_BODY_TIMEOUT_MS', kind: 'int', key: 'bodyTimeoutMs', help: 'a request body must arrive within this, 408 after (default 8000, at most 9000)' },
  '--receive-budget': { env: 'VIGIL_RECEIVE_BUDGET', kind: 'int', key: 'receiveBudgetBytes', help: 'bytes of request bodies being received at once, 503 beyond (default 67108864)' },
  '--allowed-hosts': { env: 'VIGIL_ALLOWED_HOSTS', kind: 'list', key: 'allowedHosts', help: "Host header names accepted, comma-separated, or '*' for any (default: localhost names when bound to loopback, else any)" },
  '--metrics-auth': { env: 'VIGIL_METRICS_AUTH', kind: 'bool', key: 'metricsAuth', help: '/metrics and /v2/health/* need an API key too (default off)' },
  '--admin-host': { env: 'VIGIL_ADMIN_HOST', kind: 'string', key: 'adminHost', help: 'serve the admin API on its own listener at this address (default: on the main port; 127.0.0.1 with --admin-port)' },
  '--admin-port': { env: 'VIGIL_ADMIN_PORT', kind: 'int', key: 'adminPort', help: 'serve the admin API on its own listener at this port (0 picks one)' },
  '--prediction-log-max-bytes': { env: 'VIGIL_PREDICTION_LOG_MAX_BYTES', kind: 'int', key: 'predictionLogMaxBytes', help: 'rotate the prediction log at this size (default 104857600)' },
  '--prediction-log-keep': { env: 'VIGIL_PREDICTION_LOG_KEEP', kind: 'int', key: 'predictionLogKeep', help: 'rotated prediction logs kept (FILE.1 … FILE.N; default 5)' },
  '--watch-settle-ms': { env: 'VIGIL_WATCH_SETTLE_MS', kind: 'int', key: 'watchSettleMs', help: "--watch loads a version folder once its files are unchanged this long, or at once with a READY file (default 5000)" },
};

export class OptionsError extends Error {}

export function defaults(): Options {
  return {
    models: './models', modelName: null, port: 8080, host: '127.0.0.1',
    workers: Math.max(1, availableParallelism() - 1),
    logLevel: 'info', predictionLog: null, predictionLogSample: 1,
    maxBodyBytes: 1024 * 1024, maxInstances: 1024, timeoutMs: 30_000,
    batching: true, maxBatchSize: 64, maxQueueDelayUs: 0, maxQueueRows: 4096, pipelineDepth: 2, shedAfterMs: 20, shedHoldMs: 250,
    monitoring: true, watch: false, allowUwsFallback: false, adminToken: null,
    apiKeys: [], metricsAuth: false, adminHost: null, adminPort: null, allowedHosts: null,
    maxJsonDepth: 64, maxTensorElements: 16_777_216, bodyTimeoutMs: 8000, receiveBudgetBytes: 64 * 1024 * 1024,
    predictionLogMaxBytes: 100 * 1024 * 1024, predictionLogKeep: 5, watchSettleMs: 5000,
    alertWebhooks: [], feedbackStoreRows: 100_000, feedbackTtlSeconds: 3600,
  };
}

export function usage(): string {
  const lines = Object.entries(FLAGS).map(([flag, spec]) =>
    `  ${(flag + (spec.kind === 'bool' ? '' : ' VALUE')).padEnd(28)} ${spec.help}${spec.env ? ` [${spec.env}]` : ''}`);
  return [
    'Usage: vigil [options]',
    '',
    ...lines,
    '  --no-<flag>                  turns a boolean flag off (e.g. --no-monitoring)',
    '  --help                       this text',
    '',
    'Admin API: set VIGIL_ADMIN_TOKEN (off without it).',
    'Data-plane keys: VIGIL_API_KEYS=key1,key2 (Authorization: Bearer KEY; open without it).',
  ].join('\n');
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Options {
  const options = defaults();
  const set = (spec: FlagSpec, raw: string, source: string) => {
    const record = options as unknown as Record<string, unknown>;
    if (spec.kind === 'urls') record[spec.key] = [...(record[spec.key] as string[]), raw];
    else record[spec.key] = convert(spec.kind, raw, source);
  };
  for (const spec of Object.values(FLAGS)) {
    const raw = spec.env ? env[spec.env] : undefined;
    if (raw === undefined || raw === '') continue;
    if (spec.kind === 'urls') for (const part of raw.split(',').map((x) => x.trim()).filter(Boolean)) set(spec, part, spec.env!);
    else set(spec, raw, spec.env!);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const negated = flag.startsWith('--no-') ? FLAGS[`--${flag.slice(5)}`] : undefined;
    if (negated?.kind === 'bool') {
      set(negated, 'false', flag);
      continue;
    }
    const spec = FLAGS[flag];
    if (!spec) throw new OptionsError(`unknown option '${arg}' (see --help)`);
    if (spec.kind === 'bool') {
      const next = argv[i + 1];
      const value = inline ?? (next !== undefined && /^(on|off|true|false|1|0|yes|no)$/i.test(next) ? (i++, next) : 'true');
      set(spec, value, flag);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new OptionsError(`${flag} needs a value`);
    set(spec, value, flag);
  }
  options.adminToken = env.VIGIL_ADMIN_TOKEN ? env.VIGIL_ADMIN_TOKEN : null;
  options.apiKeys = (env.VIGIL_API_KEYS ?? '').split(',').map((k) => k.trim()).filter(Boolean);
  options.models = resolve(options.models);
  options.allowedHosts = allowedHosts(options.allowedHosts, options.host);
  if (options.adminHost !== null && options.adminPort === null) throw new OptionsError('--admin-host needs --admin-port');
  if (options.adminPort !== null) options.adminHost ??= '127.0.0.1';
  check(options);
  return options;
}

/** Loopback names, the ones a DNS-rebinding page cannot make a browser send. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]'];

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The Host names to accept: the flag's list ('*' = any); by default the loopback names when
 * bound to loopback (so a DNS-rebinding page cannot read the API), and any otherwise.
 */
function allowedHosts(names: string[] | null, bindHost: string): string[] | null {
  if (names === null) return isLoopback(bindHost) ? [...new Set([...LOOPBACK_NAMES, bindHost])] : null;
  if (names.includes('*')) return null;
  if (!names.length) throw new OptionsError("--allowed-hosts needs at least one name, or '*' for any");
  return names;
}

/** One flag's value (urls are collected by parseOptions, never converted). */
function convert(kind: Exclude<FlagSpec['kind'], 'urls'>, raw: string, source: string): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'list':
      return raw.split(',').map((item) => item.trim().toLowerCase()).filter(Boolean);
    case 'bool':
      if (/^(on|true|1|yes)$/i.test(raw)) return true;
      if (/^(off|false|0|no)$/i.test(raw)) return false;
      throw new OptionsError(`${source} must be on or off, got '${raw}'`);
    case 'int': {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new OptionsError(`${source} must be a whole number, got '${raw}'`);
      return n;
    }
    case 'number': {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new OptionsError(`${source} must be a number, got '${raw}'`);
      return n;
    }
  }
}

function check(o: Options): void {
  const fail = (message: string) => { throw new OptionsError(message); };
  if (o.port < 0 || o.port > 65535) fail(`--port must be 0..65535, got ${o.port}`);
  if (o.workers < 1 || o.workers > 64) fail(`--workers must be 1..64, got ${o.workers}`);
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(o.logLevel)) fail(`--log-level '${o.logLevel}' is not a pino level`);
  if (o.predictionLogSample < 0 || o.predictionLogSample > 1) fail(`--prediction-log-sample must be within 0..1, got ${o.predictionLogSample}`);
  if (o.maxBodyBytes < 1024) fail(`--max-body must be at least 1024 bytes`);
  if (o.maxInstances < 1) fail(`--max-instances must be at least 1`);
  if (o.timeoutMs < 1) fail(`--timeout-ms must be at least 1`);
  if (o.maxBatchSize < 1) fail(`--max-batch-size must be at least 1`);
  if (o.maxQueueDelayUs < 0) fail(`--max-queue-delay-us must not be negative`);
  if (o.maxQueueRows < 1) fail(`--max-queue-rows must be at least 1`);
  if (o.pipelineDepth < 1 || o.pipelineDepth > 16) fail(`--pipeline-depth must be 1..16`);
  if (o.shedAfterMs < 0) fail(`--shed-after-ms must not be negative`);
  if (o.shedHoldMs < 0 || o.shedHoldMs > 10_000) fail(`--shed-hold-ms must be 0..10000`);
  if (o.maxJsonDepth < 2 || o.maxJsonDepth > 1000) fail(`--max-json-depth must be 2..1000`);
  if (o.maxTensorElements < 1 || o.maxTensorElements > 2 ** 31 - 1) fail(`--max-tensor-elements must be 1..${2 ** 31 - 1}`);
  // uWebSockets.js cuts a body still arriving after its fixed 10 s idle timeout: answer first.
  if (o.bodyTimeoutMs < 100 || o.bodyTimeoutMs > 9000) fail(`--body-timeout-ms must be 100..9000 (uWebSockets.js closes a connection whose body is still arriving after 10 s)`);
  if (o.receiveBudgetBytes < o.maxBodyBytes) fail(`--receive-budget must be at least --max-body (${o.maxBodyBytes})`);
  if (o.adminPort !== null && (o.adminPort < 0 || o.adminPort > 65535)) fail(`--admin-port must be 0..65535, got ${o.adminPort}`);
  if (o.adminPort !== null && o.adminPort !== 0 && o.adminPort === o.port && o.adminHost === o.host) fail('--admin-port must differ from --port');
  if (o.predictionLogMaxBytes < 4096) fail('--prediction-log-max-bytes must be at least 4096');
  if (o.predictionLogKeep < 1 || o.predictionLogKeep > 1000) fail('--prediction-log-keep must be 1..1000');
  if (o.watchSettleMs < 0) fail('--watch-settle-ms must not be negative');
  if (o.feedbackStoreRows < 0) fail(`--feedback-store-rows must not be negative`);
  if (!(o.feedbackTtlSeconds > 0)) fail(`--feedback-ttl-seconds must be a number of seconds > 0`);
  for (const url of o.alertWebhooks) if (!httpUrl(url)) fail(`--alert-webhook '${url}' is not an http(s) URL`);
}
