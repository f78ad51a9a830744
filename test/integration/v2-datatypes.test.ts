// Open Inference Protocol v2 against the fixture repository (test/fixtures/models, built by
// test/fixtures/build_fixtures.py, no config.json anywhere): every datatype round-trips through
// an Identity graph, multi-input/multi-output graphs, model metadata, a fixed-shape graph, a
// corrupt model that must not stop the others, and a graph whose session.run fails on 13.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_MODELS, getJson, logLine, postJson, startServer, type RunningServer } from '../helpers/server.js';

type Row3 = [unknown, unknown, unknown];

/** Two rows of three values per datatype: the extremes JSON can carry exactly. */
const CASES: { datatype: string; model: string; rows: [Row3, Row3]; expected?: [Row3, Row3] }[] = [
  { datatype: 'BOOL', model: 'identity-bool', rows: [[true, false, true], [false, false, true]] },
  { datatype: 'UINT8', model: 'identity-uint8', rows: [[0, 255, 7], [128, 1, 254]] },
  { datatype: 'UINT16', model: 'identity-uint16', rows: [[0, 65535, 7], [32768, 1, 65534]] },
  { datatype: 'UINT32', model: 'identity-uint32', rows: [[0, 4294967295, 7], [2147483648, 1, 4294967294]] },
  { datatype: 'UINT64', model: 'identity-uint64', rows: [[0, Number.MAX_SAFE_INTEGER, 7], [4294967296, 1, 2 ** 52]] },
  { datatype: 'INT8', model: 'identity-int8', rows: [[-128, 127, 0], [-1, 1, 42]] },
  { datatype: 'INT16', model: 'identity-int16', rows: [[-32768, 32767, 0], [-1, 1, 4242]] },
  { datatype: 'INT32', model: 'identity-int32', rows: [[-2147483648, 2147483647, 0], [-1, 1, 123456789]] },
  { datatype: 'INT64', model: 'identity-int64', rows: [[Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0], [-4294967296, 1, -(2 ** 40)]] },
  // Values exactly representable in IEEE half precision: ±max, min normal, min subnormal.
  { datatype: 'FP16', model: 'identity-float16', rows: [[65504, -65504, 6.103515625e-5], [5.960464477539063e-8, 0.5, -1.25]] },
  // float32: JSON numbers are rounded to float32; expect exactly Math.fround of each.
  { datatype: 'FP32', model: 'identity-float32', rows: [[1.5, -0.25, 3.4028234663852886e38], [0.1, -1e-30, 16777216]],
    expected: [[1.5, -0.25, 3.4028234663852886e38], [Math.fround(0.1), Math.fround(-1e-30), 16777216]] },
  { datatype: 'FP64', model: 'identity-float64', rows: [[0.1, -1.7976931348623157e308, 5e-324], [1e-300, Math.PI, -2.5]] },
  { datatype: 'BYTES', model: 'identity-string', rows: [['hello', '', 'héllo wörld'], ['日本語テキスト', '🙂 emoji "quoted" \\ back', 'tab\tnewline\n']] },
];

let server: RunningServer;

beforeAll(async () => {
  // A 20 ms batching window so concurrent requests really share batches (failing-model test).
  server = await startServer({ args: ['--models', FIXTURE_MODELS, '--workers', '1', '--max-queue-delay-us', '20000'] });
});

afterAll(async () => {
  await server?.kill();
});

const infer = (model: string, body: unknown, headers: Record<string, string> = {}) =>
  postJson(`${server.url}/v2/models/${model}/infer`, body, headers);

describe('every datatype round-trips through Identity', () => {
  describe.each(CASES)('$datatype', ({ datatype, model, rows, expected }) => {
    const want = (expected ?? rows).flat();

    it('flat data', async () => {
      const { status, json, headers } = await infer(model, {
        id: `flat-${datatype}`,
        inputs: [{ name: 'x', shape: [2, 3], datatype, data: rows.flat() }],
      });
      expect(status, JSON.stringify(json)).toBe(200);
      expect(json.model_name).toBe(model);
      expect(json.model_version).toBe('1');
      expect(headers.get('x-model-version')).toBe('1');
      expect(json.id).toBe(`flat-${datatype}`);
      expect(json.outputs).toHaveLength(1);
      const [y] = json.outputs;
      expect(y.name).toBe('y');
      expect(y.datatype).toBe(datatype);
      expect(y.shape).toEqual([2, 3]);
      expect(y.data).toEqual(want);
    });

    it('nested data', async () => {
      const { status, json } = await infer(model, { inputs: [{ name: 'x', shape: [2, 3], datatype, data: rows }] });
      expect(status, JSON.stringify(json)).toBe(200);
      expect(json.outputs[0].datatype).toBe(datatype);
      expect(json.outputs[0].shape).toEqual([2, 3]);
      expect(json.outputs[0].data).toEqual(want);
    });

    it('one row, and the /versions/1 route', async () => {
      const { status, json } = await postJson(`${server.url}/v2/models/${model}/versions/1/infer`,
        { inputs: [{ name: 'x', shape: [1, 3], datatype, data: [rows[1]] }] });
      expect(status, JSON.stringify(json)).toBe(200);
      expect(json.model_version).toBe('1');
      expect(json.outputs[0].shape).toEqual([1, 3]);
      expect(json.outputs[0].data).toEqual((expected ?? rows)[1]);
    });

    it('metadata names x and y with this datatype and shape [-1, 3]', async () => {
      for (const path of [`/v2/models/${model}`, `/v2/models/${model}/versions/1`]) {
        const { status, json } = await getJson(`${server.url}${path}`);
        expect(status, path).toBe(200);
        expect(json.name).toBe(model);
        expect(json.versions).toEqual(['1']);
        expect(json.inputs).toEqual([{ name: 'x', datatype, shape: [-1, 3] }]);
        expect(json.outputs).toEqual([{ name: 'y', datatype, shape: [-1, 3] }]);
      }
    });
  });

  it('the datatype must match the graph: INT32 data sent as INT64 is refused', async () => {
    const { status, json } = await infer('identity-int32', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] }] });
    expect(status).toBe(400);
    expect(json.error).toMatch(/INT32/);
    expect(json.error).toMatch(/INT64/);
  });

  it.each([
    ['identity-uint8', 'UINT8', 256],
    ['identity-int8', 'INT8', -129],
    ['identity-uint32', 'UINT32', -1],
    ['identity-int16', 'INT16', 1.5],
  ])('%s refuses %s value %s', async (model, datatype, bad) => {
    const { status, json } = await infer(model, { inputs: [{ name: 'x', shape: [1, 3], datatype, data: [1, bad, 3] }] });
    expect(status).toBe(400);
    expect(json.error).toContain('inputs/0/data/1');
  });

  it('FP16 and FP32 refuse values their range turns into Infinity', async () => {
    const fp16 = await infer('identity-float16', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP16', data: [1, 65520, 3] }] });
    expect(fp16.status, fp16.text).toBe(400);
    expect(fp16.json.error).toContain('inputs/0/data/1');
    const fp32 = await infer('identity-float32', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, -1e39] }] });
    expect(fp32.status, fp32.text).toBe(400);
    expect(fp32.json.error).toContain('inputs/0/data/2');
    const infinite = await infer('identity-float64', '{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP64","data":[1,1e999,3]}]}');
    expect(infinite.status, infinite.text).toBe(400);
    expect(infinite.json.error).toContain('inputs/0/data/1');
  });

  it('a large BYTES request (many body chunks, multi-byte UTF-8 across chunk edges) round-trips', async () => {
    // ~600 kB (under the 1 MiB default limit) of 3- and 4-byte characters behind ASCII
    // prefixes of varying length, so chunk boundaries land inside characters.
    const rows = Array.from({ length: 3 }, (_, r) => Array.from({ length: 3 }, (_, c) => 'x'.repeat(r * 3 + c) + '日本語🙂'.repeat(5_000 + r * 7 + c)));
    const { status, json } = await infer('identity-string', { inputs: [{ name: 'x', shape: [3, 3], datatype: 'BYTES', data: rows }] });
    expect(status).toBe(200);
    expect(json.outputs[0].shape).toEqual([3, 3]);
    expect(json.outputs[0].data).toEqual(rows.flat());
  });

  it('BYTES refuses a number and BOOL refuses 1', async () => {
    const bytes = await infer('identity-string', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'BYTES', data: ['a', 2, 'c'] }] });
    expect(bytes.status).toBe(400);
    expect(bytes.json.error).toMatch(/inputs\/0\/data\/1 must be a string/);
    const bool = await infer('identity-bool', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'BOOL', data: [true, 1, false] }] });
    expect(bool.status).toBe(400);
    expect(bool.json.error).toMatch(/inputs\/0\/data\/1 must be true or false/);
  });
});

describe('multi-io: two inputs, three outputs', () => {
  const a = [[1.5, -2], [0.25, 10]];
  const b = [[3, -4], [1000, 2 ** 40]];
  const body = (extra: Record<string, unknown> = {}) => ({
    inputs: [
      { name: 'b', shape: [2, 2], datatype: 'INT64', data: b.flat() },
      { name: 'a', shape: [2, 2], datatype: 'FP32', data: a },
    ],
    ...extra,
  });

  it('computes sum = a + b, a_copy = a, b_double = 2b (inputs in any order)', async () => {
    const { status, json } = await infer('multi-io', body({ id: 'mio-1' }));
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.id).toBe('mio-1');
    const byName = Object.fromEntries(json.outputs.map((o: { name: string }) => [o.name, o]));
    expect(Object.keys(byName).sort()).toEqual(['a_copy', 'b_double', 'sum']);
    expect(byName.sum).toEqual({ name: 'sum', datatype: 'FP32', shape: [2, 2], data: [4.5, -6, 1000.25, Math.fround(10 + 2 ** 40)] });
    expect(byName.a_copy).toEqual({ name: 'a_copy', datatype: 'FP32', shape: [2, 2], data: a.flat() });
    expect(byName.b_double).toEqual({ name: 'b_double', datatype: 'INT64', shape: [2, 2], data: b.flat().map((v) => v * 2) });
  });

  it('`outputs` selects which outputs come back', async () => {
    const { status, json } = await infer('multi-io', body({ outputs: [{ name: 'b_double' }] }));
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.outputs).toHaveLength(1);
    expect(json.outputs[0].name).toBe('b_double');
    expect(json.outputs[0].data).toEqual([6, -8, 2000, 2 ** 41]);

    const two = await infer('multi-io', body({ outputs: [{ name: 'sum' }, { name: 'a_copy' }] }));
    expect(two.status).toBe(200);
    expect(two.json.outputs.map((o: { name: string }) => o.name).sort()).toEqual(['a_copy', 'sum']);
  });

  it('an unknown output name is a 400 naming it', async () => {
    const { status, json } = await infer('multi-io', body({ outputs: [{ name: 'nope' }] }));
    expect(status).toBe(400);
    expect(json.error).toContain("'nope'");
  });

  it('a missing input is a 400 naming it', async () => {
    const { status, json } = await infer('multi-io', { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] });
    expect(status).toBe(400);
    expect(json.error).toContain("'b'");
  });

  it('inputs with different row counts are a 400', async () => {
    const { status, json } = await infer('multi-io', {
      inputs: [
        { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
        { name: 'b', shape: [2, 2], datatype: 'INT64', data: [1, 2, 3, 4] },
      ],
    });
    expect(status).toBe(400);
    expect(json.error).toMatch(/rows/);
  });

  it('metadata lists both inputs and all three outputs with datatypes and shapes', async () => {
    const { status, json } = await getJson(`${server.url}/v2/models/multi-io`);
    expect(status).toBe(200);
    expect(json.inputs).toEqual([
      { name: 'a', datatype: 'FP32', shape: [-1, 2] },
      { name: 'b', datatype: 'INT64', shape: [-1, 2] },
    ]);
    expect(json.outputs).toEqual([
      { name: 'sum', datatype: 'FP32', shape: [-1, 2] },
      { name: 'a_copy', datatype: 'FP32', shape: [-1, 2] },
      { name: 'b_double', datatype: 'INT64', shape: [-1, 2] },
    ]);
  });
});

describe('fixed-shape [2,2] graph', () => {
  it('computes y = 2x for a [2,2] input (flat and nested)', async () => {
    for (const data of [[1, 2, 3, 4.5], [[1, 2], [3, 4.5]]]) {
      const { status, json } = await infer('fixed-shape', { inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data }] });
      expect(status, JSON.stringify(json)).toBe(200);
      expect(json.outputs[0]).toEqual({ name: 'y', datatype: 'FP32', shape: [2, 2], data: [2, 4, 6, 9] });
    }
  });

  it.each([[[1, 4]], [[4]], [[3, 2]]])('refuses shape %j with a 400 naming the expected shape', async (shape) => {
    const count = shape.reduce((n, d) => n * d, 1);
    const { status, json } = await infer('fixed-shape', {
      inputs: [{ name: 'x', shape, datatype: 'FP32', data: Array.from({ length: count }, (_, i) => i) }],
    });
    expect(status).toBe(400);
    expect(json.error).toContain('inputs/0/shape');
    expect(json.error).toContain('[2, 2]');
  });

  it('metadata reports shape [2, 2]', async () => {
    const { json } = await getJson(`${server.url}/v2/models/fixed-shape`);
    expect(json.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [2, 2] }]);
    expect(json.outputs).toEqual([{ name: 'y', datatype: 'FP32', shape: [2, 2] }]);
  });
});

describe('a corrupt model (broken) does not stop the others', () => {
  it('was reported at startup and the startup line marks it not ready', () => {
    const models = server.startup.models as Record<string, { ready: boolean; versions: string[] }>;
    expect(models.broken?.ready).toBe(false);
    expect(models['identity-float32']?.ready).toBe(true);
    const report = server.logs().find((l) => l.msg === 'model not ready' && l.model === 'broken');
    expect(report, server.stdout.join('\n')).toBeDefined();
    expect(String(report!.err)).toMatch(/broken/);
  });

  it('/v2/models/broken/ready is not 200, with a reason', async () => {
    for (const path of ['/v2/models/broken/ready', '/v2/models/broken/versions/1/ready']) {
      const { status, json } = await getJson(`${server.url}${path}`);
      expect(status, path).not.toBe(200);
      expect(json.ready).toBe(false);
      expect(typeof json.error).toBe('string');
      expect(json.error.length).toBeGreaterThan(0);
    }
  });

  it('inference on broken is refused, not crashed', async () => {
    const { status, json } = await infer('broken', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).not.toBe(500);
    expect(json.error).toMatch(/broken/);
  });

  it('its version, named, is 503 with the state and reason on both protocols (404 is for versions that do not exist)', async () => {
    const v2 = await postJson(`${server.url}/v2/models/broken/versions/1/infer`, { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    const predict = await postJson(`${server.url}/predict`, { model: 'broken', version: '1', instances: [[1, 2, 3]] });
    for (const answer of [v2, predict]) {
      expect(answer.status, answer.text).toBe(503);
      expect(answer.json.error).toMatch(/version 1 of model 'broken' \(unavailable: .+\) is not ready/);
    }
    for (const path of ['/v2/models/broken/versions/9/infer', '/predict']) {
      const missing = await postJson(`${server.url}${path}`, path === '/predict' ? { model: 'broken', version: '9', instances: [[1, 2, 3]] } : { inputs: [] });
      expect(missing.status, `${path}: ${missing.text}`).toBe(404);
    }
  });

  it('the other models are ready and serve', async () => {
    for (const model of ['identity-float32', 'multi-io', 'failing', 'fixed-shape']) {
      const { status, json } = await getJson(`${server.url}/v2/models/${model}/ready`);
      expect(status, model).toBe(200);
      expect(json.ready).toBe(true);
    }
    const live = await getJson(`${server.url}/v2/health/live`);
    expect(live.status).toBe(200);
    const { status } = await infer('identity-float32', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    expect(status).toBe(200);
  });
});

describe('failing: session.run throws when x contains 13', () => {
  const one = (values: number[], extra: Record<string, unknown> = {}) => ({
    inputs: [{ name: 'x', shape: [values.length, 1], datatype: 'FP32', data: values }], ...extra,
  });

  it('answers 500 naming the request id, then keeps serving', async () => {
    const { status, json, headers } = await infer('failing', one([1, 13, 2]), { 'X-Request-ID': 'boom-13' });
    expect(status).toBe(500);
    expect(headers.get('x-request-id')).toBe('boom-13');
    expect(json.request_id).toBe('boom-13');
    expect(json.error).toMatch(/inference failed/);
    expect(json.error).toMatch(/failing/);

    const generated = await infer('failing', one([13]));
    expect(generated.status).toBe(500);
    expect(generated.json.request_id).toBe(generated.headers.get('x-request-id'));
    expect(generated.json.request_id).toBeTruthy();

    const after = await infer('failing', one([1, 12, 14]));
    expect(after.status, JSON.stringify(after.json)).toBe(200);
    expect(after.json.outputs[0].data).toEqual([1, 12, 14]);
    const other = await infer('identity-int8', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT8', data: [1, 2, 3] }] });
    expect(other.status).toBe(200);
  });

  it('concurrent requests: only the one holding 13 fails; its batch-mates are retried alone', async () => {
    const values = Array.from({ length: 24 }, (_, i) => (i === 11 ? [13, 5] : [i * 2 + 0.5, i * 2 + 1.5]));
    const answers = await Promise.all(values.map((v, i) => infer('failing', one(v), { 'X-Request-ID': `mate-${i}` })));
    answers.forEach(({ status, json }, i) => {
      if (i === 11) {
        expect(status).toBe(500);
        expect(json.request_id).toBe('mate-11');
      } else {
        expect(status, `request ${i}: ${JSON.stringify(json)}`).toBe(200);
        expect(json.outputs[0].data).toEqual(values[i]);
      }
    });
    // The batching window put the 13 in a batch with others (the log says how many it held).
    await logLine(server, 'an "inference batch failed" (shared batch)', (l) => l.msg === 'inference batch failed' && Number(l.requests) > 1);
  });
});
