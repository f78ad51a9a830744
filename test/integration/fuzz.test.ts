// Seeded fuzzing of everything a client controls: /predict and v2 infer bodies (JSON and the
// binary tensor extension), admin calls, path parameters, headers and raw HTTP framing
// (12,000 requests). Every answer must be a
// well-formed HTTP response whose status is 200 or a client error with a JSON {"error"} body
// (never a 500; 503 only for a capacity limit), or, where uWebSockets.js refuses the framing
// itself, a prompt close. Afterwards the process is alive, its RSS is back within 10 % of the
// warm baseline, and reference predictions (JSON, and binary in and out, whose bodies' memory
// the server reuses) are unchanged. A failure prints the seed and case.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHttp, rawRequest, rssOf } from '../helpers/raw-http.js';
import { mulberry32 } from '../helpers/random.js';
import { BUNDLED_MODELS, postJson, readResponse, startServer, type RunningServer } from '../helpers/server.js';

const SEED = Number(process.env.VIGIL_FUZZ_SEED ?? 20261127);
const TOKEN = 'fuzz-token';
const CLIENT_ERRORS = new Set([400, 401, 403, 404, 405, 408, 409, 413, 415]);
const bc = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '1', 'heldout.json'), 'utf8')) as { feature_names: string[]; rows: number[][] };
const diabetesRow = [0.03, -0.04, 0.06, 0.02, -0.04, -0.03, -0.01, -0.002, 0.02, 0.003];

let server: RunningServer;
const random = mulberry32(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const chance = (p: number) => random() < p;

beforeAll(async () => {
  server = await startServer({
    args: ['--models', BUNDLED_MODELS, '--workers', '1', '--max-body', '65536', '--max-instances', '64',
      '--body-timeout-ms', '2000', '--receive-budget', String(1024 * 1024), '--max-queue-rows', '256'],
    env: { VIGIL_ADMIN_TOKEN: TOKEN },
  });
});

afterAll(async () => {
  await server?.kill();
});

// ---- value generators ----------------------------------------------------------------------

const STRINGS = ['', 'a', 'NaN', 'Infinity', '-1', '1e999', '\u0000', 'é', '🙂', '"', '\\', '{"a":1}', '%', '../../etc/passwd', 'x'.repeat(300)];
const NUMBERS = [0, -0, 1, -1, 0.5, 1e-300, 1e300, 1.7976931348623157e308, -1e39, 2 ** 53, 2 ** 63, 255, 256, -129, 13, 777];

function scalar(): unknown {
  switch (int(7)) {
    case 0: return pick(NUMBERS);
    case 1: return (random() - 0.5) * 10 ** int(12);
    case 2: return pick(STRINGS);
    case 3: return null;
    case 4: return chance(0.5);
    case 5: return {};
    default: return int(20);
  }
}

function value(depth = 0): unknown {
  if (depth > 4 || chance(0.6)) return scalar();
  if (chance(0.5)) return Array.from({ length: int(6) }, () => value(depth + 1));
  return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['a', 'features', 'x', 'shape', '']), value(depth + 1)]));
}

function nestedArray(depth: number, leaf: unknown): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function row(width: number): unknown[] {
  const values = Array.from({ length: width }, () => (chance(0.9) ? random() : scalar()));
  if (chance(0.2)) values.splice(int(values.length + 1), chance(0.5) ? 1 : 0, scalar());
  return values;
}

/** A JSON text, sometimes damaged: truncated, a byte flipped, or wrapped in garbage. */
function damage(text: string): string {
  switch (int(8)) {
    case 0: return text.slice(0, int(text.length));
    case 1: {
      const at = int(text.length);
      return text.slice(0, at) + pick(['{', '}', '[', ']', '"', ',', ':', '\\', '\u0000', 'x']) + text.slice(at + 1);
    }
    case 2: return `${text}${pick(['}', ']', ',', ' garbage'])}`;
    default: return text;
  }
}

// ---- request generators --------------------------------------------------------------------

type Case = { kind: string; method: string; path: string; body?: string | Buffer; headers: Record<string, string> };

function predictCase(): Case {
  const model = pick(['breast-cancer', 'diabetes', 'digits', 'nope', '', 'diabetes\u0000']);
  const width = model === 'breast-cancer' ? 30 : model === 'digits' ? 64 : 10;
  const body: Record<string, unknown> = { model };
  switch (int(6)) {
    case 0: body.features = row(width); break;
    case 1: body.instances = Array.from({ length: chance(0.1) ? 65 + int(100) : int(8) }, () => row(width)); break;
    case 2: body.features = Object.fromEntries(bc.feature_names.slice(0, int(31)).map((n) => [chance(0.05) ? `${n}_x` : n, chance(0.9) ? random() * 20 : scalar()])); break;
    case 3: body.features = nestedArray(int(80), random()); break;
    case 4: body.features = value(); body.instances = chance(0.5) ? value() : undefined; break;
    default: body.instances = value();
  }
  if (chance(0.2)) body.version = pick(['1', '2', '0', '-1', 1, 2.5, 'latest', null, '99999999999']);
  if (chance(0.1)) body.id = pick([value(), 'k', 42]);
  if (chance(0.05)) body[pick(['extra', 'Model', ''])] = value();
  return { kind: 'predict', method: 'POST', path: '/predict', body: damage(JSON.stringify(body)), headers: { 'content-type': 'application/json' } };
}

function v2Case(): Case {
  const model = pick(['breast-cancer', 'diabetes', 'digits', 'nope']);
  const version = chance(0.3) ? `/versions/${pick(['1', '2', '3', '0', 'x', '%41'])}` : '';
  const width = model === 'breast-cancer' ? 30 : model === 'digits' ? 64 : 10;
  const rows = chance(0.8) ? 1 + int(4) : pick([0, 65, 17_000, 50_000_000, 2 ** 60, -1, 1.5]);
  const shape = chance(0.8) ? [rows, width] : Array.from({ length: int(40) }, () => pick([0, 1, 3, -1, 1e15, 2.5, 30]));
  let data: unknown;
  switch (int(5)) {
    case 0: data = Array.from({ length: Math.min(Number(rows) || 1, 8) * width }, () => (chance(0.95) ? random() : scalar())); break;
    case 1: data = Array.from({ length: Math.min(Number(rows) || 1, 8) }, () => row(width)); break;
    case 2: data = nestedArray(int(100), random()); break;
    case 3: data = [[1, 2, 3, 4], [5, 6]]; break;
    default: data = value();
  }
  const input: Record<string, unknown> = { name: pick(['input', 'input', 'x', '']), shape, datatype: pick(['FP32', 'FP32', 'FP64', 'INT64', 'BYTES', 'BOOL', 'FP16', 'float']), data };
  if (chance(0.1)) input.parameters = chance(0.5) ? value() : nestedArray(int(200), {});
  const body: Record<string, unknown> = { inputs: chance(0.95) ? [input] : value() };
  if (chance(0.2)) body.outputs = [{ name: pick(['value', 'label', 'probabilities', 'nope']) }];
  if (chance(0.1)) body.id = pick(['req', 7, '']);
  return { kind: 'v2', method: 'POST', path: `/v2/models/${model}${version}/infer`, body: damage(JSON.stringify(body)), headers: { 'content-type': 'application/json' } };
}

const BINARY_SIZES: Record<string, number> = { FP32: 4, FP64: 8, FP16: 2, INT64: 8, UINT8: 1, BOOL: 1 };

/** A v2 infer request in the binary tensor data extension, often damaged: header, sizes, bytes, framing. */
function binaryCase(): Case {
  const model = pick(['digits', 'digits', 'breast-cancer', 'diabetes', 'nope']);
  const width = model === 'breast-cancer' ? 30 : model === 'digits' ? 64 : 10;
  const rows = chance(0.85) ? 1 + int(8) : pick([0, 65, 2 ** 31, -1, 1.5]);
  const datatype = pick(['FP32', 'FP32', 'FP32', 'FP64', 'FP16', 'INT64', 'UINT8', 'BOOL', 'BYTES', 'fp32']);
  const elements = Math.min(Math.max(0, Math.floor(Number(rows))) * width, 64 * 64);
  let data = Buffer.from(Array.from({ length: elements * (BINARY_SIZES[datatype] ?? 4) }, () => int(256)));
  if (chance(0.1)) data = data.subarray(0, int(data.length + 1));
  if (chance(0.05)) data = Buffer.concat([data, Buffer.alloc(1 + int(9))]);
  const size = chance(0.85) ? data.length : pick([0, data.length + 1, data.length - 3, -1, 'x', 1e12, null]);
  const input: Record<string, unknown> = {
    name: pick(['input', 'input', 'x']), datatype, parameters: { binary_data_size: size },
    shape: chance(0.85) ? [rows, width] : Array.from({ length: int(5) }, () => pick([0, 1, 3, -1, 64, 1e15])),
  };
  if (chance(0.05)) input.data = [1, 2, 3];
  const header: Record<string, unknown> = { inputs: chance(0.95) ? [input] : value() };
  if (chance(0.3)) header.parameters = { binary_data_output: pick([true, true, false, 'yes', 1]) };
  if (chance(0.2)) header.outputs = [{ name: pick(['probabilities', 'label', 'nope']), parameters: { binary_data: pick([true, false, 2]) } }];
  const json = Buffer.from(damage(JSON.stringify(header)), 'utf8');
  let body = Buffer.concat([json, data]);
  if (chance(0.05)) body = body.subarray(0, int(body.length));
  const headers: Record<string, string> = {
    'inference-header-content-length': chance(0.85) ? String(json.length) : pick(['0', String(json.length + 1 + int(50)), String(body.length + 1), '-1', 'abc', '1e3', String(2 ** 53 + 1)]),
  };
  const contentType = pick([undefined, undefined, 'application/octet-stream', 'application/json', 'text/plain', 'application/octet-stream; x=1']);
  if (contentType) headers['content-type'] = contentType;
  return { kind: 'binary', method: 'POST', path: `/v2/models/${model}/infer`, body, headers };
}

function adminCase(): Case {
  const auth = chance(0.8) ? `Bearer ${TOKEN}` : pick(['', 'Bearer', `Bearer ${TOKEN}x`, 'Basic abc', `bearer ${TOKEN}`]);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth) headers.authorization = auth;
  const model = pick(['diabetes', 'digits', 'nope', '%zz', '..']);
  switch (int(5)) {
    case 0: return { kind: 'admin', method: 'GET', path: `/admin/models/${model}/traffic`, headers };
    case 1: return { kind: 'admin', method: 'PUT', path: `/admin/models/${model}/traffic`, headers,
      body: damage(JSON.stringify(chance(0.5) ? { weights: { [pick(['1', '2', 'x'])]: pick([100, 0, -5, 1e9, 'a']) }, shadow: chance(0.5) ? null : value() } : value())) };
    case 2: return { kind: 'admin', method: 'POST', path: `/admin/models/${model}/versions/${pick(['1', '2', '3', '0', '01', '%2e%2e', 'x'.repeat(20)])}/${pick(['load', 'unload'])}`, headers };
    case 3: return { kind: 'admin', method: 'POST', path: `/admin/models/${model}/promote`, headers, body: damage(JSON.stringify({ version: pick(['1', '2', 1, null, value()]) })) };
    default: return { kind: 'admin', method: 'POST', path: `/admin/models/${model}/rollback`, headers };
  }
}

function pathCase(): Case {
  const segment = () => pick(['%', '%z', '%E0%A4%A', '%00', '%2F', '..', '.', 'diabetes', 'x'.repeat(int(2000)), '🙂', '%F0%9F%99%82', "'", '%25', '?a=1', '#']);
  const template = pick(['/v2/models/S', '/v2/models/S/ready', '/v2/models/S/versions/S', '/v2/models/S/versions/S/ready', '/v2/models/S/infer', '/admin/models/S/traffic', '/S', '/v2/S/S/S']);
  const path = template.replace(/S/g, () => segment());
  const method = pick(['GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
  return { kind: 'path', method, path, headers: method === 'GET' ? {} : { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' };
}

function headerCase(): Case {
  const base = chance(0.5) ? predictCase() : v2Case();
  const headers: Record<string, string> = {};
  if (chance(0.7)) headers['content-type'] = pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/vnd.api+json', '*/*', 'application/jsonx', 'APPLICATION/JSON']);
  if (chance(0.3)) headers['x-timeout-ms'] = pick(['0', '-1', 'abc', '1e309', '0.001', '5000', '99999999999999999999', ' 10 ']);
  if (chance(0.3)) headers['x-request-id'] = pick(['ok-1', 'x'.repeat(int(300)), 'a b', 'é', '\t', '']);
  if (chance(0.3)) headers['x-routing-key'] = pick(['k', 'x'.repeat(int(5000)), '']);
  if (chance(0.2)) headers.authorization = pick(['Bearer x', 'garbage', 'Bearer ' + 'y'.repeat(3000)]);
  if (chance(0.2)) headers.host = pick(['evil.example', 'localhost', '127.0.0.1:1', '[::1]', 'LOCALHOST.', '']);
  return { ...base, kind: 'header', headers };
}

/** Raw framing the HTTP layer parses or refuses promptly (see docs/security.md for the rest). */
function rawCase(): string {
  const body = JSON.stringify({ model: 'diabetes', features: diabetesRow });
  const host: [string, string] = ['Host', 'localhost'];
  const ct: [string, string] = ['Content-Type', 'application/json'];
  switch (int(9)) {
    case 0: return rawRequest('POST', '/predict', [host, ct, ['Content-Length', String(body.length + int(3) - 1)]], body);
    case 1: return rawRequest('POST', '/predict', [host, ct, ['Content-Length', String(body.length)], ['Content-Length', String(int(200))]], body);
    case 2: return rawRequest('POST', '/predict', [host, ct, ['Content-Length', pick(['-1', 'abc', '1e3', '0x10', ' '])]], body);
    case 3: return rawRequest('POST', '/predict', [host, ct, ['Transfer-Encoding', pick(['chunked', 'gzip', 'chunked, gzip', 'identity'])]],
      `${pick([body.length.toString(16), 'zz', '-1', 'ffffffffffff'])}\r\n${body}\r\n0\r\n\r\n`);
    case 4: return rawRequest('POST', '/predict', [host, ct, ['Content-Length', String(body.length)], ['Transfer-Encoding', 'chunked']], body);
    case 5: return rawRequest(pick(['GET', 'POST', 'BREW', 'get']), pick(['/predict', '/v2', '/metrics', '/%']), [host, ['Content-Length', '0']]);
    case 6: return rawRequest('POST', '/predict', [host, ct, ['Content-Length', String(body.length)], ['Expect', '100-continue']], body);
    case 7: return rawRequest('GET', '/v2/health/live', [host, ['X-Long', 'v'.repeat(int(3000))]]);
    default: return rawRequest('POST', '/v2/models/diabetes/infer', [host, ct, ['Content-Length', '10']], '{"inputs":');
  }
}

// ---- the run -------------------------------------------------------------------------------

interface Failure { seed: number; index: number; kind: string; request: string; answer: string }

function judge(status: number, contentType: string | null, json: any, clientDeadline = false): string | null {
  if (status === 200) return null;
  const capacity = status === 503 && /queue|receiving|retry/i.test(String(json?.error));
  // A deadline the client set itself (X-Timeout-Ms) may pass before the rows run: 504 is its answer.
  const ownDeadline = status === 504 && clientDeadline && /deadline/.test(String(json?.error));
  if (!CLIENT_ERRORS.has(status) && !capacity && !ownDeadline) return `status ${status}`;
  if (!/application\/json/.test(contentType ?? '')) return `content-type ${contentType}`;
  if (typeof json?.error !== 'string' || json.error === '') return 'no {"error"} body';
  return null;
}

function hasHeader(headers: Record<string, string> | undefined, name: string): boolean {
  return Object.keys(headers ?? {}).some((key) => key.toLowerCase() === name);
}

async function runAll<T>(items: T[], concurrency: number, each: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const index = next++;
      await each(items[index]!, index);
    }
  }));
}

async function reference() {
  const answer = await postJson(`${server.url}/predict`, { model: 'breast-cancer', version: '1', instances: bc.rows.slice(0, 5) });
  expect(answer.status, answer.text).toBe(200);
  // The same rows' digits-shaped cousin in binary, answered in binary: its body comes from the
  // pool the binary cases above have been taking from and giving back to.
  const pixels = Buffer.alloc(4 * 64 * 3);
  for (let i = 0; i < 64 * 3; i++) pixels.writeFloatLE(i % 17, i * 4);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [3, 64], datatype: 'FP32', parameters: { binary_data_size: pixels.length } }], parameters: { binary_data_output: true } }));
  const binary = await fetch(`${server.url}/v2/models/digits/infer`, { method: 'POST', body: Buffer.concat([header, pixels]), headers: { 'inference-header-content-length': String(header.length) } });
  expect(binary.status).toBe(200);
  return { predictions: answer.json.predictions, binary: Buffer.from(await binary.arrayBuffer()).toString('base64') };
}

describe(`seeded fuzz (seed ${SEED})`, () => {
  it('12,000 hostile requests: every answer is 200 or a JSON client error, the process lives, memory and predictions are unchanged', async () => {
    // Warm up with valid traffic on every model and both protocols, at the largest row counts
    // the fuzz can send (ORT sizes its arenas per model and batch), then take the baseline.
    const widths = { 'breast-cancer': 30, diabetes: 10, digits: 64 } as const;
    const warmups = Object.entries(widths).flatMap(([model, width]) => Array.from({ length: 100 }, (_, i) => ({ model, width, rows: 1 + (i % 64) })));
    await runAll(warmups, 16, async ({ model, width, rows }) => {
      const instances = Array.from({ length: rows }, () => Array.from({ length: width }, () => 0.5));
      expect((await postJson(`${server.url}/predict`, { model, instances })).status).toBe(200);
      const v2 = await postJson(`${server.url}/v2/models/${model}/infer`, { inputs: [{ name: 'input', shape: [rows, width], datatype: 'FP32', data: instances.flat() }] });
      expect(v2.status, v2.text).toBe(200);
    });
    // A first round of the same hostile mix, as large and unjudged: a fresh process's memory
    // grows to a working size under this load (V8's young generation goes from 8 to 16 MiB
    // semi-spaces, worker and ORT buffers reach their sizes; about +20 MiB here), which is
    // capacity, not a leak. The warm baseline is taken after it; growth across the 10,800 judged
    // requests that follow would be memory kept per request.
    const warmCases: Case[] = [
      ...Array.from({ length: 3000 }, predictCase), ...Array.from({ length: 3000 }, v2Case), ...Array.from({ length: 1200 }, binaryCase),
      ...Array.from({ length: 1200 }, adminCase), ...Array.from({ length: 1200 }, pathCase), ...Array.from({ length: 1200 }, headerCase),
    ];
    await runAll(warmCases, 24, async (c) => {
      await fetch(`${server.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body }).then((r) => r.arrayBuffer(), () => undefined);
    });
    await runAll(Array.from({ length: 1200 }, rawCase), 16, async (raw) => {
      await rawHttp(server.port, { pieces: [raw], expectResponses: 1, waitMs: 8000 });
    });
    const before = await reference();
    const baseline = await rssOf(server.child.pid!);

    const cases: Case[] = [
      ...Array.from({ length: 3000 }, predictCase), ...Array.from({ length: 3000 }, v2Case), ...Array.from({ length: 1200 }, binaryCase),
      ...Array.from({ length: 1200 }, adminCase), ...Array.from({ length: 1200 }, pathCase), ...Array.from({ length: 1200 }, headerCase),
    ];
    const raws = Array.from({ length: 1200 }, rawCase);
    const failures: Failure[] = [];
    const statuses = new Map<number | string, number>();
    const count = (key: number | string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);

    await runAll(cases, 24, async (c, index) => {
      let problem: string | null;
      let answer = '';
      try {
        const response = await fetch(`${server.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body });
        const read = await readResponse(response);
        count(read.status);
        answer = `${read.status} ${read.text.slice(0, 300)}`;
        problem = judge(read.status, read.headers.get('content-type'), read.json, hasHeader(c.headers, 'x-timeout-ms'));
      } catch (error) {
        problem = `no HTTP answer: ${(error as Error).message} ${String((error as { cause?: Error }).cause?.message ?? '')}`;
        count('no answer');
      }
      if (problem) failures.push({ seed: SEED, index, kind: c.kind, request: `${c.method} ${c.path.slice(0, 200)} ${JSON.stringify(c.headers).slice(0, 200)} ${(typeof c.body === 'string' ? c.body : c.body?.toString('latin1') ?? '').slice(0, 300)}`, answer: `${problem}: ${answer}` });
    });

    await runAll(raws, 16, async (raw, index) => {
      const result = await rawHttp(server.port, { pieces: [raw], expectResponses: 1, waitMs: 8000 });
      const first = result.responses.find((r) => r.status !== 100);
      let problem: string | null = null;
      if (first) {
        count(first.status);
        problem = judge(first.status, first.headers['content-type'] ?? null, first.json);
      } else if (!result.closed) {
        problem = 'silence: neither an answer nor a close within 8 s';
      } else {
        count('closed');
      }
      if (problem) failures.push({ seed: SEED, index, kind: 'raw', request: JSON.stringify(raw.slice(0, 300)), answer: problem });
    });

    const total = cases.length + raws.length;
    process.stdout.write(`fuzz seed ${SEED}: ${total} requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}; failures ${failures.length}\n`);
    expect(total).toBeGreaterThanOrEqual(12_000);
    const byProblem = new Map<string, Failure>();
    for (const failure of failures) byProblem.set(`${failure.kind} ${failure.answer.slice(0, 60)}`, failure);
    expect([...byProblem.values()].slice(0, 10)).toEqual([]);

    expect(server.child.exitCode).toBeNull();
    expect(await reference()).toEqual(before);
    expect(server.logs().filter((l) => /uncaught|unhandled|request failed/.test(String(l.msg)))).toEqual([]);
    // Memory goes back: RSS within 10 % of the warm baseline (polled: freed memory returns to
    // the system when the collector next runs).
    const deadline = Date.now() + 30_000;
    let rss = await rssOf(server.child.pid!);
    while (rss > baseline * 1.1 && Date.now() < deadline) {
      await postJson(`${server.url}/predict`, { model: 'diabetes', features: diabetesRow });
      await new Promise((resolve) => setTimeout(resolve, 200));
      rss = await rssOf(server.child.pid!);
    }
    process.stdout.write(`fuzz RSS: warm baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, after ${(rss / 2 ** 20).toFixed(1)} MiB\n`);
    expect(rss).toBeLessThanOrEqual(baseline * 1.1);
  }, 300_000);
});
