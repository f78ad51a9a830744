// Issue 8's defects that a single request triggers, each as a class: allocation sizes trusted
// before allocating, recursion over client JSON, integer inputs, header edges, limits v2
// ignored, ragged data, paths shown to clients, a POST without a content type, 413s a client
// cannot read, and the prediction log growing without bound. Real server, real models.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, cpSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHttp, rawRequest, rssOf } from '../helpers/raw-http.js';
import { BUNDLED_MODELS, FIXTURE_MODELS, getJson, postJson, readResponse, startServer, type RunningServer } from '../helpers/server.js';

const MAX_BODY = 64 * 1024;
const MAX_INSTANCES = 64;
const MAX_DEPTH = 32;
const MAX_ELEMENTS = 200_000;
const TOKEN = 'hardening-token';
const diabetesRow = [0.03, -0.04, 0.06, 0.02, -0.04, -0.03, -0.01, -0.002, 0.02, 0.003];

let server: RunningServer;
let repo: string;
let outside: string;
let logDir: string;

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'vigil-hardening-'));
  outside = mkdtempSync(join(tmpdir(), 'vigil-outside-'));
  logDir = mkdtempSync(join(tmpdir(), 'vigil-predlog-'));
  cpSync(join(BUNDLED_MODELS, 'diabetes'), join(repo, 'diabetes'), { recursive: true });
  for (const fixture of ['identity-string', 'identity-int64', 'identity-uint8', 'identity-float32', 'broken']) {
    cpSync(join(FIXTURE_MODELS, fixture), join(repo, fixture), { recursive: true });
  }
  // A version folder elsewhere on the machine, linked into the repository.
  cpSync(join(BUNDLED_MODELS, 'diabetes', '1'), join(outside, '7'), { recursive: true });
  symlinkSync(join(outside, '7'), join(repo, 'diabetes', '7'));
  server = await startServer({
    args: ['--models', repo, '--workers', '1', '--max-body', String(MAX_BODY), '--max-instances', String(MAX_INSTANCES),
      '--max-json-depth', String(MAX_DEPTH), '--max-tensor-elements', String(MAX_ELEMENTS),
      '--prediction-log', join(logDir, 'predictions.jsonl'), '--prediction-log-max-bytes', '16384', '--prediction-log-keep', '2'],
    env: { VIGIL_ADMIN_TOKEN: TOKEN },
  });
});

afterAll(async () => {
  await server?.kill();
  for (const dir of [repo, outside, logDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const infer = (model: string, body: unknown, headers: Record<string, string> = {}) =>
  postJson(`${server.url}/v2/models/${model}/infer`, body, headers);
const predict = (body: unknown, headers: Record<string, string> = {}) => postJson(`${server.url}/predict`, body, headers);

function expectClientError(answer: { status: number; json: any; text: string }, status: number, ...patterns: (string | RegExp)[]) {
  expect(answer.status, answer.text).toBe(status);
  expect(typeof answer.json?.error, answer.text).toBe('string');
  for (const pattern of patterns) expect(answer.json.error).toMatch(pattern);
}

async function expectAlive() {
  expect(server.child.exitCode).toBeNull();
  const answer = await predict({ model: 'diabetes', features: diabetesRow });
  expect(answer.status, answer.text).toBe(200);
}

describe('sizes are checked against the data and the limits before anything is allocated', () => {
  it('a ~100-byte BYTES request with shape [50000000, 3] is refused at once, without the allocation', async () => {
    const before = await rssOf(server.child.pid!);
    const bombs = [
      infer('identity-string', { inputs: [{ name: 'x', shape: [50_000_000, 3], datatype: 'BYTES', data: ['a', 'b', 'c'] }] }),
      infer('identity-float32', { inputs: [{ name: 'x', shape: [1_000_000_000_000_000, 3], datatype: 'FP32', data: [1, 2, 3] }] }),
      infer('identity-float32', { inputs: [{ name: 'x', shape: [2 ** 60, 3], datatype: 'FP32', data: [1, 2, 3] }] }),
      // Within the element limit, nested, but the rows are not there: refused before allocating.
      infer('identity-string', { inputs: [{ name: 'x', shape: [60, 3], datatype: 'BYTES', data: [['a', 'b', 'c']] }] }),
    ];
    // A valid request sent meanwhile is answered.
    const [ok, ...answers] = await Promise.all([predict({ model: 'diabetes', features: diabetesRow }), ...bombs]);
    expect(ok.status, ok.text).toBe(200);
    expectClientError(answers[0]!, 400, /inputs\/0\/shape/, /--max-tensor-elements/);
    expectClientError(answers[1]!, 400, /inputs\/0\/shape/);
    expectClientError(answers[2]!, 400, /inputs\/0\/shape/);
    expectClientError(answers[3]!, 400, /inputs\/0\/data holds 1 values but dimension 0/);
    const after = await rssOf(server.child.pid!);
    expect(after - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('shape and flat data that disagree are refused before allocation (BYTES and numbers)', async () => {
    expectClientError(await infer('identity-string', { inputs: [{ name: 'x', shape: [100_000, 2], datatype: 'BYTES', data: ['a', 'b'] }] }), 400, /inputs\/0/);
    expectClientError(await infer('identity-float32', { inputs: [{ name: 'x', shape: [4, 3], datatype: 'FP32', data: [1, 2, 3] }] }), 400,
      /inputs\/0\/data holds 3 values but shape \[4, 3\] needs 12/);
  });

  it('a shape with absurd rank is refused', async () => {
    expectClientError(await infer('identity-float32', { inputs: [{ name: 'x', shape: Array(40).fill(1), datatype: 'FP32', data: [1] }] }), 400, /inputs\/0\/shape/);
  });

  it('ragged nested data is refused (it holds the right number of values, in the wrong places)', async () => {
    expectClientError(await infer('identity-float32', { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [[1, 2, 3, 4], [5, 6]] }] }), 400,
      /inputs\/0\/data\/0 holds 4 values but dimension 1/, /ragged/);
    expectClientError(await infer('identity-float32', { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [[1, 2, 3], 4, 5, 6] }] }), 400,
      /inputs\/0\/data/);
    // Well-formed nesting still serves.
    const ok = await infer('identity-float32', { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [[1, 2, 3], [4, 5, 6]] }] });
    expect(ok.status, ok.text).toBe(200);
  });

  it('v2 honours --max-instances (and the queue-row limit): a 17,000-row request is refused, not run', async () => {
    const rows = 17_000;
    expectClientError(await infer('diabetes', { inputs: [{ name: 'input', shape: [rows, 10], datatype: 'FP32', data: new Array(rows * 10).fill(0) }] }),
      // 17,000 × 10 zeros is 340 KB: over --max-body too, so a smaller one shows the row limit.
      413);
    const over = MAX_INSTANCES + 1;
    expectClientError(await infer('diabetes', { inputs: [{ name: 'input', shape: [over, 10], datatype: 'FP32', data: new Array(over * 10).fill(0) }] }),
      400, new RegExp(`${over} rows; the limit is ${MAX_INSTANCES}`));
    const at = await infer('diabetes', { inputs: [{ name: 'input', shape: [MAX_INSTANCES, 10], datatype: 'FP32', data: new Array(MAX_INSTANCES * 10).fill(0) }] });
    expect(at.status, at.text).toBe(200);
  });
});

describe('JSON nesting depth is limited before parsing (nothing recurses over client JSON unbounded)', () => {
  const nested = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);

  it('v2 data nested 10,000 deep → 400 naming the limit, not a stack overflow 500', async () => {
    const body = `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":${nested(10_000)}}]}`;
    expectClientError(await infer('identity-float32', body), 400, new RegExp(`deeper than ${MAX_DEPTH}.*--max-json-depth`));
  });

  it('parameters nested 10,000 deep with the prediction log on → 400 before the model runs', async () => {
    const params = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const body = `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3],"parameters":${params}}]}`;
    expectClientError(await infer('identity-float32', body), 400, /--max-json-depth/);
  });

  it('/predict, admin and every JSON body share the limit; brackets inside strings do not count', async () => {
    expectClientError(await predict(`{"model":"diabetes","features":${nested(5000)}}`), 400, /--max-json-depth/);
    const admin = await readResponse(await fetch(`${server.url}/admin/models/diabetes/traffic`, {
      method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: `{"weights":${nested(500, '{}')}}`,
    }));
    expectClientError(admin, 400, /--max-json-depth/);
    const strings = await infer('identity-string', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'BYTES', data: ['['.repeat(500), ']'.repeat(500), '{"'.repeat(100)] }] });
    expect(strings.status, strings.text).toBe(200);
    // Just inside the limit serves (the envelope takes 3 levels: body, inputs, one input).
    const rank = MAX_DEPTH - 3;
    const deepOk = await infer('identity-float32', `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3],"parameters":${'{"a":'.repeat(rank - 1)}1${'}'.repeat(rank - 1)}}]}`);
    expect(deepOk.status, deepOk.text).toBe(200);
  });
});

describe('integer inputs are never silently mangled', () => {
  it('/predict into INT64: fractions, values past 2^53 and 1e19 → 400; exact integers serve', async () => {
    expectClientError(await predict({ model: 'identity-int64', features: [1.9, -2.7, 3] }), 400, /features\/0 must be a whole number.*INT64/);
    expectClientError(await predict({ model: 'identity-int64', features: [1e19, 0, 0] }), 400, /features\/0.*INT64/);
    expectClientError(await predict({ model: 'identity-int64', features: [2 ** 53 + 2, 0, 0] }), 400, /features\/0.*2\^53/);
    const ok = await predict({ model: 'identity-int64', features: [-(2 ** 53 - 1), 0, 2 ** 53 - 1] });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.predictions[0].y).toEqual([-(2 ** 53 - 1), 0, 2 ** 53 - 1]);
  });

  it('/predict into UINT8: out of range or negative → 400 instead of wrapping', async () => {
    expectClientError(await predict({ model: 'identity-uint8', features: [256, 0, 0] }), 400, /features\/0 is 256, outside the UINT8 range 0..255/);
    expectClientError(await predict({ model: 'identity-uint8', instances: [[1, 2, 3], [0, -1, 0]] }), 400, /instances\/1\/1/);
  });

  it('v2 INT64 past 2^53 → 400 (a JSON number cannot hold it exactly)', async () => {
    expectClientError(await infer('identity-int64', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT64', data: [2 ** 60, 0, 0] }] }), 400, /2\^53/);
  });
});

describe('header edges', () => {
  it('a POST without a content type is refused (415): a cross-site form cannot send JSON', async () => {
    const answer = await rawHttp(server.port, {
      pieces: [rawRequest('POST', '/predict', [['Host', 'localhost'], ['Content-Length', '2']], '{}')], expectResponses: 1,
    });
    expect(answer.responses[0]?.status).toBe(415);
    expect(answer.responses[0]?.json.error).toMatch(/\(none\).*application\/json/);
  });

  it('an X-Request-ID that is too long or holds control bytes → 400 (it would be echoed everywhere)', async () => {
    expectClientError(await predict({ model: 'diabetes', features: diabetesRow }, { 'X-Request-ID': 'x'.repeat(200) }), 400, /X-Request-ID/);
    const ok = await predict({ model: 'diabetes', features: diabetesRow }, { 'X-Request-ID': 'trace-42' });
    expect(ok.headers.get('x-request-id')).toBe('trace-42');
  });

  it('an X-Request-ID with JSON\'s special characters comes back intact in the answer body', async () => {
    const id = 'a"b\\c{}';
    const answer = await predict({ model: 'diabetes', features: diabetesRow }, { 'X-Request-ID': id });
    expect(answer.status).toBe(200);
    expect((answer.json as { request_id: string }).request_id).toBe(id);
  });
});

describe('a 413 is read by the client, not a connection reset', () => {
  it('20 clients each still sending a 2× --max-body body all read 413', async () => {
    const body = Buffer.alloc(MAX_BODY * 2, 'x');
    const one = () => new Promise<number | string>((resolve) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: '/predict', method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      // Written in pieces, as a client on a real network would.
      let offset = 0;
      const writeNext = () => {
        if (offset >= body.length) return void req.end();
        const piece = body.subarray(offset, offset + 16 * 1024);
        offset += piece.length;
        if (req.write(piece)) setImmediate(writeNext);
        else req.once('drain', writeNext);
      };
      writeNext();
    });
    const statuses = await Promise.all(Array.from({ length: 20 }, one));
    expect(statuses).toEqual(new Array(20).fill(413));
  });
});

describe('paths shown to clients are relative to the repository', () => {
  it('readiness, /stats and admin errors never show the server\'s absolute paths', async () => {
    const ready = await getJson(`${server.url}/v2/models/broken/ready`);
    expect(ready.status).toBe(503);
    const stats = await getJson(`${server.url}/stats`);
    const load = await readResponse(await fetch(`${server.url}/admin/models/broken/versions/1/load`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}` },
    }));
    expect(load.status).toBe(400);
    for (const text of [ready.text, stats.text, load.text]) {
      expect(text).not.toContain(repo);
      expect(text).not.toContain(tmpdir());
    }
    expect(ready.json.error).toMatch(/broken\/1\/model\.onnx/);
  });

  it('admin load refuses a version folder that is a symlink leaving the repository', async () => {
    const load = await readResponse(await fetch(`${server.url}/admin/models/diabetes/versions/7/load`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}` },
    }));
    expectClientError(load, 400, /outside the model repository/);
    expect(load.text).not.toContain(outside);
    const status = await getJson(`${server.url}/v2/models/diabetes/versions/7/ready`);
    expect(status.status).toBe(503);
  });
});

describe('the prediction log rotates by size and keeps a bounded number of files', () => {
  it('never more than --prediction-log-keep rotated files, each near the size limit, no line split', async () => {
    const file = join(logDir, 'predictions.jsonl');
    for (let round = 0; round < 12; round++) {
      const batch = Array.from({ length: 10 }, () => predict({ model: 'diabetes', instances: Array(8).fill(diabetesRow) }));
      for (const answer of await Promise.all(batch)) expect(answer.status).toBe(200);
    }
    // The log is written and reopened asynchronously: poll until the rotated and the new file appear.
    const deadline = Date.now() + 20_000;
    const rotatedAndReopened = () => ['predictions.jsonl', 'predictions.jsonl.2'].every((f) => readdirSync(logDir).includes(f));
    while (!rotatedAndReopened() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const files = readdirSync(logDir).sort();
    expect(files).toEqual(['predictions.jsonl', 'predictions.jsonl.1', 'predictions.jsonl.2']);
    for (const name of files.slice(1)) {
      const size = statSync(join(logDir, name)).size;
      // Rotation is decided per line; lines already in the 4 KiB write buffer land in the old file.
      expect(size).toBeLessThanOrEqual(16384 + 8192);
      expect(size).toBeGreaterThan(8192);
      for (const line of readFileSync(join(logDir, name), 'utf8').trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    }
    expect(statSync(file).size).toBeLessThanOrEqual(16384 + 4096);
  });
});

describe('after everything above', () => {
  it('the process is alive, serves, and logged no crash', async () => {
    await expectAlive();
    expect(server.logs().filter((l) => /uncaught|unhandled/.test(String(l.msg)))).toEqual([]);
  });
});

