// Option parsing: every kind of flag (string, whole number, number, on/off), each flag's VIGIL_*
// environment twin, flags over environment, --no-<flag>, --flag=value, and errors that name the
// flag (or variable) at fault.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaults, OptionsError, parseOptions, usage, type Options } from '../src/options.js';

/** Every flag with a value that is not its default, what it sets, and its variable. */
const FLAGS: [flag: string, env: string, raw: string, key: keyof Options, parsed: unknown][] = [
  ['--models', 'VIGIL_MODELS', 'some/models', 'models', resolve('some/models')],
  ['--model-name', 'VIGIL_MODEL_NAME', 'cancer-screen', 'modelName', 'cancer-screen'],
  ['--port', 'VIGIL_PORT', '9001', 'port', 9001],
  ['--host', 'VIGIL_HOST', '0.0.0.0', 'host', '0.0.0.0'],
  ['--workers', 'VIGIL_WORKERS', '3', 'workers', 3],
  ['--log-level', 'VIGIL_LOG_LEVEL', 'warn', 'logLevel', 'warn'],
  ['--prediction-log', 'VIGIL_PREDICTION_LOG', '/tmp/predictions.jsonl', 'predictionLog', '/tmp/predictions.jsonl'],
  ['--prediction-log-sample', 'VIGIL_PREDICTION_LOG_SAMPLE', '0.25', 'predictionLogSample', 0.25],
  ['--max-body', 'VIGIL_MAX_BODY', '4096', 'maxBodyBytes', 4096],
  ['--max-instances', 'VIGIL_MAX_INSTANCES', '7', 'maxInstances', 7],
  ['--timeout-ms', 'VIGIL_TIMEOUT_MS', '1500', 'timeoutMs', 1500],
  ['--batching', 'VIGIL_BATCHING', 'off', 'batching', false],
  ['--max-batch-size', 'VIGIL_MAX_BATCH_SIZE', '16', 'maxBatchSize', 16],
  ['--max-queue-delay-us', 'VIGIL_MAX_QUEUE_DELAY_US', '250', 'maxQueueDelayUs', 250],
  ['--max-queue-rows', 'VIGIL_MAX_QUEUE_ROWS', '99', 'maxQueueRows', 99],
  ['--pipeline-depth', 'VIGIL_PIPELINE_DEPTH', '4', 'pipelineDepth', 4],
  ['--shed-after-ms', 'VIGIL_SHED_AFTER_MS', '0', 'shedAfterMs', 0],
  ['--shed-hold-ms', 'VIGIL_SHED_HOLD_MS', '1000', 'shedHoldMs', 1000],
  ['--monitoring', 'VIGIL_MONITORING', 'off', 'monitoring', false],
  ['--watch', 'VIGIL_WATCH', 'on', 'watch', true],
  ['--alert-webhook', 'VIGIL_ALERT_WEBHOOK', 'https://hooks.example.com/Vigil', 'alertWebhooks', ['https://hooks.example.com/Vigil']],
  ['--feedback-store-rows', 'VIGIL_FEEDBACK_STORE_ROWS', '5000', 'feedbackStoreRows', 5000],
  ['--feedback-ttl-seconds', 'VIGIL_FEEDBACK_TTL_SECONDS', '90', 'feedbackTtlSeconds', 90],
  ['--allow-uws-fallback', 'VIGIL_ALLOW_UWS_FALLBACK', 'yes', 'allowUwsFallback', true],
  ['--max-json-depth', 'VIGIL_MAX_JSON_DEPTH', '16', 'maxJsonDepth', 16],
  ['--max-tensor-elements', 'VIGIL_MAX_TENSOR_ELEMENTS', '1000', 'maxTensorElements', 1000],
  ['--body-timeout-ms', 'VIGIL_BODY_TIMEOUT_MS', '2000', 'bodyTimeoutMs', 2000],
  ['--receive-budget', 'VIGIL_RECEIVE_BUDGET', '1048576', 'receiveBudgetBytes', 1048576],
  ['--allowed-hosts', 'VIGIL_ALLOWED_HOSTS', 'vigil.example,localhost', 'allowedHosts', ['vigil.example', 'localhost']],
  ['--metrics-auth', 'VIGIL_METRICS_AUTH', 'on', 'metricsAuth', true],
  ['--admin-host', 'VIGIL_ADMIN_HOST', '127.0.0.2', 'adminHost', '127.0.0.2'],
  ['--admin-port', 'VIGIL_ADMIN_PORT', '9100', 'adminPort', 9100],
  ['--prediction-log-max-bytes', 'VIGIL_PREDICTION_LOG_MAX_BYTES', '8192', 'predictionLogMaxBytes', 8192],
  ['--prediction-log-keep', 'VIGIL_PREDICTION_LOG_KEEP', '2', 'predictionLogKeep', 2],
  ['--watch-settle-ms', 'VIGIL_WATCH_SETTLE_MS', '100', 'watchSettleMs', 100],
];

/** Flags that only make sense with another (--admin-host needs --admin-port). */
const COMPANIONS: Partial<Record<string, string[]>> = { '--admin-host': ['--admin-port', '9100'] };

const parse = (argv: string[], env: Record<string, string> = {}) => parseOptions(argv, env);

function errorOf(argv: string[], env: Record<string, string> = {}): string {
  try {
    parse(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(OptionsError);
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(argv)} ${JSON.stringify(env)} was accepted`);
}

describe('parseOptions', () => {
  it('without flags or environment gives the defaults (models resolved to a path; loopback Host names allowed)', () => {
    expect(parse([])).toEqual({ ...defaults(), models: resolve('./models'), allowedHosts: ['localhost', '127.0.0.1', '::1', '[::1]'] });
  });

  it.each(FLAGS)('%s VALUE and %s set the same option', (flag, env, raw, key, parsed) => {
    expect(parsed).not.toEqual(defaults()[key]); // a value that shows the flag took effect
    const companion = COMPANIONS[flag] ?? [];
    expect(parse([flag, raw, ...companion])[key]).toEqual(parsed);
    expect(parse([`${flag}=${raw}`, ...companion])[key]).toEqual(parsed);
    expect(parse(companion, { [env]: raw })[key]).toEqual(parsed);
  });

  it('--alert-webhook repeats (VIGIL_ALERT_WEBHOOK: comma-separated), keeps the URL as written, and takes only http(s)', () => {
    const urls = ['http://127.0.0.1:9911/Vigil', 'https://ml.example.com/hooks/Retrain?Token=aB'];
    expect(parse(['--alert-webhook', urls[0]!, '--alert-webhook', urls[1]!]).alertWebhooks).toEqual(urls);
    expect(parse([], { VIGIL_ALERT_WEBHOOK: urls.join(' , ') }).alertWebhooks).toEqual(urls);
    expect(errorOf(['--alert-webhook', 'ftp://x/y'])).toBe("--alert-webhook 'ftp://x/y' is not an http(s) URL");
    expect(errorOf(['--feedback-store-rows', '-1'])).toBe('--feedback-store-rows must not be negative');
    expect(errorOf(['--feedback-ttl-seconds', '0'])).toBe('--feedback-ttl-seconds must be a number of seconds > 0');
  });

  it('every flag usage() lists is covered here, with its variable', () => {
    const listed = [...usage().matchAll(/^ {2}(--[a-z-]+) .*?(?:\[(VIGIL_[A-Z_]+)\])?$/gm)]
      .map((m) => [m[1], m[2]]).filter(([flag]) => flag !== '--help');
    expect(listed).toEqual(FLAGS.map(([flag, env]) => [flag, env]));
  });

  it('a flag wins over its environment variable', () => {
    expect(parse(['--port', '9002'], { VIGIL_PORT: '9001' }).port).toBe(9002);
    expect(parse(['--monitoring', 'on'], { VIGIL_MONITORING: 'off' }).monitoring).toBe(true);
    expect(parse(['--no-watch'], { VIGIL_WATCH: 'on' }).watch).toBe(false);
  });

  it('an empty environment variable counts as unset', () => {
    expect(parse([], { VIGIL_PORT: '', VIGIL_BATCHING: '' })).toMatchObject({ port: 8080, batching: true });
  });

  it('a later flag wins over an earlier one', () => {
    expect(parse(['--workers', '2', '--workers', '5']).workers).toBe(5);
    expect(parse(['--no-monitoring', '--monitoring']).monitoring).toBe(true);
  });

  describe('on/off flags', () => {
    it('alone mean on; --no-<flag> means off', () => {
      expect(parse(['--watch']).watch).toBe(true);
      expect(parse(['--no-monitoring']).monitoring).toBe(false);
      expect(parse(['--no-batching']).batching).toBe(false);
      expect(parse(['--no-allow-uws-fallback'], { VIGIL_ALLOW_UWS_FALLBACK: 'on' }).allowUwsFallback).toBe(false);
    });

    it.each([['on', true], ['true', true], ['1', true], ['YES', true], ['off', false], ['false', false], ['0', false], ['No', false]] as const)(
      'take %s as the next argument or after =', (word, value) => {
        expect(parse(['--monitoring', word]).monitoring).toBe(value);
        expect(parse([`--monitoring=${word}`]).monitoring).toBe(value);
        expect(parse([], { VIGIL_MONITORING: word }).monitoring).toBe(value);
      });

    it('do not swallow a following flag as their value', () => {
      expect(parse(['--watch', '--port', '9003'])).toMatchObject({ watch: true, port: 9003 });
    });

    it('--no- on a flag that takes a value is unknown', () => {
      expect(errorOf(['--no-port'])).toBe("unknown option '--no-port' (see --help)");
    });
  });

  it('the admin token comes only from VIGIL_ADMIN_TOKEN (unset or empty: off)', () => {
    expect(parse([], { VIGIL_ADMIN_TOKEN: 's3cret' }).adminToken).toBe('s3cret');
    expect(parse([], { VIGIL_ADMIN_TOKEN: '' }).adminToken).toBeNull();
    expect(parse([]).adminToken).toBeNull();
    expect(errorOf(['--admin-token', 'x'])).toMatch(/unknown option '--admin-token'/);
  });

  describe('errors name the flag or variable at fault', () => {
    it.each([
      [['--bogus'], {}, "unknown option '--bogus' (see --help)"],
      [['--port'], {}, '--port needs a value'],
      [['--port', 'eighty'], {}, "--port must be a whole number, got 'eighty'"],
      [['--port=1.5'], {}, "--port must be a whole number, got '1.5'"],
      [[], { VIGIL_PORT: 'abc' }, "VIGIL_PORT must be a whole number, got 'abc'"],
      [['--prediction-log-sample', 'half'], {}, "--prediction-log-sample must be a number, got 'half'"],
      [[], { VIGIL_PREDICTION_LOG_SAMPLE: 'NaN' }, "VIGIL_PREDICTION_LOG_SAMPLE must be a number, got 'NaN'"],
      [['--batching=maybe'], {}, "--batching must be on or off, got 'maybe'"],
      [[], { VIGIL_MONITORING: 'sometimes' }, "VIGIL_MONITORING must be on or off, got 'sometimes'"],
      [['--port', '70000'], {}, '--port must be 0..65535, got 70000'],
      [['--workers', '0'], {}, '--workers must be 1..64, got 0'],
      [['--workers', '65'], {}, '--workers must be 1..64, got 65'],
      [['--log-level', 'loud'], {}, "--log-level 'loud' is not a pino level"],
      [['--prediction-log-sample', '1.5'], {}, '--prediction-log-sample must be within 0..1, got 1.5'],
      [['--max-body', '1000'], {}, '--max-body must be at least 1024 bytes'],
      [['--max-instances', '0'], {}, '--max-instances must be at least 1'],
      [['--timeout-ms', '0'], {}, '--timeout-ms must be at least 1'],
      [['--max-batch-size', '0'], {}, '--max-batch-size must be at least 1'],
      [['--max-queue-delay-us', '-1'], {}, '--max-queue-delay-us must not be negative'],
      [['--max-queue-rows', '0'], {}, '--max-queue-rows must be at least 1'],
      [['--pipeline-depth', '17'], {}, '--pipeline-depth must be 1..16'],
      [['--shed-after-ms', '-1'], {}, '--shed-after-ms must not be negative'],
      [['--shed-hold-ms', '10001'], {}, '--shed-hold-ms must be 0..10000'],
    ] as [string[], Record<string, string>, string][])('%j %j: %s', (argv, env, message) => {
      expect(errorOf(argv, env)).toBe(message);
    });
  });
});
