// Every error path of the HTTP edge, against a real server: each answers the right status with
// an {"error": ...} body that names the cause, and none of them takes the server down.
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, getJson, postJson, readResponse, startServer, type RunningServer } from '../helpers/server.js';

const MAX_BODY = 2048;
const MAX_INSTANCES = 4;

const bc = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '1', 'heldout.json'), 'utf8')) as { feature_names: string[]; rows: number[][] };
const names = bc.feature_names;
const row = bc.rows[0]!;
const features = () => Object.fromEntries(names.map((n, i) => [n, row[i]])) as Record<string, unknown>;
const diabetesRow = [0.03, -0.04, 0.06, 0.02, -0.04, -0.03, -0.01, -0.002, 0.02, 0.003];

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({
    args: ['--models', BUNDLED_MODELS, '--workers', '1', '--max-body', String(MAX_BODY), '--max-instances', String(MAX_INSTANCES)],
  });
});

afterAll(async () => {
  await server?.kill();
});

const predict = (body: unknown, headers: Record<string, string> = {}) => postJson(`${server.url}/predict`, body, headers);
const infer = (model: string, body: unknown, headers: Record<string, string> = {}) =>
  postJson(`${server.url}/v2/models/${model}/infer`, body, headers);

/** Asserts status, a JSON {"error"} body matching every pattern, and the request-id header. */
function expectError(answer: Awaited<ReturnType<typeof postJson>>, status: number, ...patterns: (string | RegExp)[]): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/application\/json/);
  expect(typeof answer.json?.error, answer.text).toBe('string');
  for (const pattern of patterns) {
    if (typeof pattern === 'string') expect(answer.json.error).toContain(pattern);
    else expect(answer.json.error).toMatch(pattern);
  }
  expect(answer.headers.get('x-request-id')).toBeTruthy();
}

/** Raw request through node:http (chunked when no content-length is given). */
function rawRequest(options: { method: string; path: string; headers?: Record<string, string>; chunks?: string[] }) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any; text: string }>((resolve, reject) => {
    const url = new URL(options.path, server.url);
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: options.method, headers: options.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: any;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, json, text });
      });
      res.on('error', reject);
    });
    // The server may answer (and close) before the whole body is written: that is the point.
    req.on('error', (error) => (req.writableEnded ? undefined : reject(error)));
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end();
  });
}

describe('malformed bodies', () => {
  it('malformed JSON → 400 saying so', async () => {
    expectError(await predict('{"model": "diabetes", "features": [1, 2,'), 400, 'malformed JSON');
  });

  it('a bare NaN token is not JSON → 400', async () => {
    const body = `{"model":"diabetes","features":[NaN,${diabetesRow.slice(1).join(',')}]}`;
    expectError(await predict(body), 400, 'malformed JSON');
    expectError(await infer('diabetes', `{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":[NaN,${diabetesRow.slice(1).join(',')}]}]}`), 400, 'malformed JSON');
  });

  it.each([['an array', '[1, 2, 3]'], ['a string', '"features"'], ['null', 'null'], ['a number', '42']])(
    'a body that is %s → 400 asking for an object', async (_, body) => {
      expectError(await predict(body), 400, 'must be a JSON object');
      expectError(await infer('diabetes', body), 400, 'must be a JSON object');
    });

  it('an empty body → 400', async () => {
    expectError(await predict(''), 400, /empty/);
  });

  it('content-type text/plain → 415 naming it', async () => {
    const response = await fetch(`${server.url}/predict`, {
      method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ model: 'diabetes', features: diabetesRow }),
    });
    const answer = await readResponse(response);
    expectError(answer, 415, 'text/plain', 'application/json');
    const v2 = await fetch(`${server.url}/v2/models/diabetes/infer`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
    expectError(await readResponse(v2), 415, 'text/plain');
  });

  it(`a body over --max-body ${MAX_BODY} (with content-length) → 413 naming the limit`, async () => {
    const padding = 'x'.repeat(4096);
    const answer = await rawRequest({
      method: 'POST', path: '/predict',
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(`{"model":"${padding}"}`)) },
      chunks: [`{"model":"${padding}"}`],
    });
    expect(answer.status, answer.text).toBe(413);
    expect(answer.json.error).toContain(String(MAX_BODY));
    // The same through fetch.
    const viaFetch = await readResponse(await fetch(`${server.url}/v2/models/diabetes/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"id":"${padding}"}`,
    }));
    expectError(viaFetch, 413, String(MAX_BODY));
  });

  it('a chunked body (no content-length) that grows over the limit → 413', async () => {
    const answer = await rawRequest({
      method: 'POST', path: '/predict',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: ['{"model":"', 'y'.repeat(1024), 'y'.repeat(1024), 'y'.repeat(1024), 'y'.repeat(1024), '"}'],
    });
    expect(answer.status, answer.text).toBe(413);
    expect(answer.json.error).toContain(String(MAX_BODY));
  });

  it('a chunked body under the limit is read whole', async () => {
    const body = JSON.stringify({ model: 'diabetes', features: diabetesRow });
    const answer = await rawRequest({
      method: 'POST', path: '/predict',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: [body.slice(0, 20), body.slice(20, 60), body.slice(60)],
    });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json.predictions).toHaveLength(1);
  });
});

describe('routing errors', () => {
  it('unknown model → 404 naming it (both protocols)', async () => {
    expectError(await predict({ model: 'no-such-model', features: diabetesRow }), 404, "'no-such-model'");
    expectError(await infer('no-such-model', { inputs: [] }), 404, "'no-such-model'");
    expectError(await getJson(`${server.url}/v2/models/no-such-model`), 404, "'no-such-model'");
    expectError(await getJson(`${server.url}/v2/models/no-such-model/ready`), 404, "'no-such-model'");
  });

  it('unknown version → 404 naming it (both protocols)', async () => {
    expectError(await predict({ model: 'diabetes', version: '9', features: diabetesRow }), 404, "'9'");
    expectError(await postJson(`${server.url}/v2/models/diabetes/versions/9/infer`,
      { inputs: [{ name: 'input', shape: [1, 10], datatype: 'FP32', data: diabetesRow }] }), 404, "'9'");
    expectError(await getJson(`${server.url}/v2/models/diabetes/versions/9`), 404, "'9'");
    expectError(await getJson(`${server.url}/v2/models/diabetes/versions/9/ready`), 404, "'9'");
  });

  it.each([
    '/v2/models/%/ready', '/v2/models/%zz', '/v2/models/diabetes/versions/%E0%A4%A/ready',
    '/v2/models/%/infer', '/admin/models/%/traffic',
  ])('a malformed percent-escape in %s → 400, and the process lives', async (path) => {
    const method = path.endsWith('/infer') ? 'POST' : 'GET';
    const answer = await readResponse(await fetch(`${server.url}${path}`, {
      method, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
    }));
    expectError(answer, 400, 'percent-escape');
    expect(server.child.exitCode).toBeNull();
    expect((await getJson(`${server.url}/v2/health/live`)).status).toBe(200);
  });

  it('unknown route → 404 naming the path', async () => {
    expectError(await getJson(`${server.url}/no/such/route`), 404, '/no/such/route');
    expectError(await postJson(`${server.url}/v2/models/diabetes/explain`, {}), 404, '/v2/models/diabetes/explain');
  });

  it.each([
    ['GET', '/predict', 'POST'],
    ['PUT', '/predict', 'POST'],
    ['DELETE', '/v2/health/live', 'GET'],
    ['POST', '/v2/models/diabetes', 'GET'],
    ['GET', '/v2/models/diabetes/infer', 'POST'],
  ])('%s %s → 405 with Allow: %s', async (method, path, allow) => {
    const answer = await readResponse(await fetch(`${server.url}${path}`, {
      method, ...(method === 'GET' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }),
    }));
    expectError(answer, 405, method, allow);
    expect(answer.headers.get('allow')).toBe(allow);
  });
});

describe('/predict schema violations', () => {
  it('a string where a number belongs → 400 features/mean_radius must be number', async () => {
    expectError(await predict({ model: 'breast-cancer', version: '1', features: { ...features(), mean_radius: '14.1' } }),
      400, 'features/mean_radius must be number');
  });

  it('a string in an array row → 400 naming index and feature', async () => {
    const values: unknown[] = [...row];
    values[2] = 'big';
    expectError(await predict({ model: 'breast-cancer', version: '1', features: values }), 400, 'features/2', 'mean_perimeter');
    expectError(await predict({ model: 'breast-cancer', version: '1', instances: [row, values] }), 400, 'instances/1/2', 'mean_perimeter');
  });

  it('a missing feature → 400 naming it', async () => {
    const body = features();
    delete body.mean_texture;
    expectError(await predict({ model: 'breast-cancer', version: '1', features: body }), 400, 'features/mean_texture', 'required');
  });

  it('an unknown feature → 400 naming it', async () => {
    expectError(await predict({ model: 'breast-cancer', version: '1', features: { ...features(), colour: 3 } }),
      400, 'features/colour', 'not a feature');
  });

  it('an array row of the wrong length → 400 saying how many', async () => {
    expectError(await predict({ model: 'breast-cancer', version: '1', features: row.slice(0, 29) }), 400, 'features', '29', '30');
    expectError(await predict({ model: 'diabetes', instances: [diabetesRow, [...diabetesRow, 1]] }), 400, 'instances/1', '11', '10');
  });

  it('NaN-like values: the strings "NaN" and "Infinity" → 400', async () => {
    expectError(await predict({ model: 'breast-cancer', version: '1', features: { ...features(), mean_area: 'NaN' } }),
      400, 'features/mean_area must be number');
    expectError(await predict({ model: 'diabetes', features: ['Infinity', ...diabetesRow.slice(1)] }), 400, 'features/0', 'age');
  });

  it('numbers JSON turns into Infinity (1e999) or float32 cannot hold (1e39) → 400', async () => {
    const overflow = `{"model":"diabetes","features":{"age":1e999,"sex":0,"bmi":0,"bp":0,"s1":0,"s2":0,"s3":0,"s4":0,"s5":0,"s6":0}}`;
    expectError(await predict(overflow), 400, 'features/age');
    expectError(await predict({ model: 'diabetes', features: [0, 0, 1e39, 0, 0, 0, 0, 0, 0, 0] }), 400, 'features/2', 'bmi');
  });

  it(`instances over --max-instances ${MAX_INSTANCES} → 400 naming the limit`, async () => {
    const instances = Array.from({ length: MAX_INSTANCES + 1 }, () => diabetesRow);
    expectError(await predict({ model: 'diabetes', instances }), 400, `${MAX_INSTANCES + 1} rows`, `limit is ${MAX_INSTANCES}`);
    // At the limit it serves.
    const ok = await predict({ model: 'diabetes', instances: instances.slice(0, MAX_INSTANCES) });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.predictions).toHaveLength(MAX_INSTANCES);
  });

  it('other envelope mistakes → 400 naming the field', async () => {
    expectError(await predict({ features: diabetesRow }), 400, 'model');
    expectError(await predict({ model: 'diabetes' }), 400, 'features', 'instances');
    expectError(await predict({ model: 'diabetes', features: diabetesRow, instances: [diabetesRow] }), 400, 'features', 'instances');
    expectError(await predict({ model: 'diabetes', featurez: diabetesRow }), 400, 'featurez');
    expectError(await predict({ model: 'diabetes', instances: [] }), 400, 'instances');
    expectError(await predict({ model: 'diabetes', features: 'all of them' }), 400, 'features');
  });
});

describe('v2 infer violations', () => {
  const input = (extra: Record<string, unknown> = {}) => ({ name: 'input', shape: [1, 10], datatype: 'FP32', data: diabetesRow, ...extra });

  it('shape and data length disagree → 400 with both counts', async () => {
    expectError(await infer('diabetes', { inputs: [input({ data: diabetesRow.slice(0, 9) })] }), 400, 'inputs/0/data', '9', '10');
    expectError(await infer('diabetes', { inputs: [input({ shape: [2, 10] })] }), 400, 'inputs/0/data', '10', '20');
    expectError(await infer('diabetes', { inputs: [input({ data: [...diabetesRow, 1] })] }), 400, 'inputs/0/data', '11');
  });

  it('a shape the graph does not take → 400', async () => {
    expectError(await infer('diabetes', { inputs: [input({ shape: [2, 5] })] }), 400, 'inputs/0/shape', '[-1, 10]');
  });

  it('wrong datatype → 400 naming both', async () => {
    expectError(await infer('diabetes', { inputs: [input({ datatype: 'FP64' })] }), 400, 'inputs/0/datatype', 'FP32', 'FP64');
    expectError(await infer('diabetes', { inputs: [input({ datatype: 'FLOAT' })] }), 400, 'inputs/0/datatype');
  });

  it('unknown input name → 400 naming it and the real inputs', async () => {
    expectError(await infer('diabetes', { inputs: [input({ name: 'features' })] }), 400, "'features'", 'input');
  });

  it('unknown output name → 400 naming it and the real outputs', async () => {
    expectError(await infer('diabetes', { inputs: [input()], outputs: [{ name: 'proba' }] }), 400, "'proba'", 'value');
  });

  it('missing inputs, or a string or non-finite number in FP32 data → 400', async () => {
    expectError(await infer('diabetes', { id: 'x' }), 400, 'inputs');
    expectError(await infer('diabetes', { inputs: [input({ data: ['NaN', ...diabetesRow.slice(1)] })] }), 400, 'inputs/0/data/0');
    const infinite = `{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":[1e999,${diabetesRow.slice(1).join(',')}]}]}`;
    expectError(await infer('diabetes', infinite), 400, 'inputs/0/data/0');
    expectError(await infer('diabetes', { inputs: [input({ data: [3e38 * 10, ...diabetesRow.slice(1)] })] }), 400, 'inputs/0/data/0');
  });
});

describe('X-Timeout-Ms', () => {
  it.each(['abc', '-5', '0', 'Infinity'])('an invalid value %j → 400 naming the header', async (value) => {
    const body = { model: 'diabetes', features: diabetesRow };
    expectError(await predict(body, { 'X-Timeout-Ms': value }), 400, 'X-Timeout-Ms', value);
    expectError(await infer('diabetes', { inputs: [input1()] }, { 'X-Timeout-Ms': value }), 400, 'X-Timeout-Ms');
  });

  it('a valid value serves', async () => {
    const answer = await predict({ model: 'diabetes', features: diabetesRow }, { 'X-Timeout-Ms': '5000' });
    expect(answer.status, answer.text).toBe(200);
  });
});

function input1() {
  return { name: 'input', shape: [1, 10], datatype: 'FP32', data: diabetesRow };
}

describe('after every error', () => {
  it('the process is alive and serves 200', async () => {
    expect(server.child.exitCode).toBeNull();
    const live = await getJson(`${server.url}/v2/health/live`);
    expect(live.status).toBe(200);
    const ready = await getJson(`${server.url}/v2/health/ready`);
    expect(ready.status).toBe(200);
    const answer = await predict({ model: 'breast-cancer', version: '2', features: features() });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json.predictions[0].label).toBe(0);
    const v2 = await infer('diabetes', { inputs: [input1()] });
    expect(v2.status, v2.text).toBe(200);
    // Errors were answered, not logged as crashes.
    expect(server.logs().filter((l) => l.msg === 'unhandled rejection')).toEqual([]);
  });
});
