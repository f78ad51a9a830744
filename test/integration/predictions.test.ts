// Every bundled model version, end to end through a real server (uWS + ajv + piscina + ORT):
// the predictions equal the outputs scikit-learn gave the held-out rows (heldout.json).
//
// Tolerances: labels must be equal; class probabilities within 1e-5 absolute; regression
// values within 1e-5 relative. The graphs compute in float32 (ORT's outputs are float32), while
// scikit-learn's expected values are float64, so bit equality is not expected.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, getJson, postJson, startServer, type RunningServer } from '../helpers/server.js';

interface Expected {
  label?: number;
  probabilities?: number[];
  value?: number;
}
interface Heldout {
  feature_names: string[];
  rows: number[][];
  expected: Expected[];
}

const VERSIONS = [
  { model: 'breast-cancer', version: '1', task: 'binary-classification' },
  { model: 'breast-cancer', version: '2', task: 'binary-classification' },
  { model: 'diabetes', version: '1', task: 'regression' },
  { model: 'digits', version: '1', task: 'multiclass-classification' },
] as const;

const heldout = new Map<string, Heldout>(VERSIONS.map(({ model, version }) => [
  `${model}/${version}`,
  JSON.parse(readFileSync(join(BUNDLED_MODELS, model, version, 'heldout.json'), 'utf8')) as Heldout,
]));
const heldoutOf = (model: string, version: string) => heldout.get(`${model}/${version}`)!;

const asObject = (names: string[], row: number[]) => Object.fromEntries(names.map((n, i) => [n, row[i]]));

/** Checks one /predict prediction against scikit-learn's output for the same row. */
function expectPrediction(actual: Record<string, unknown>, expected: Expected, where: string): void {
  if (expected.value !== undefined) {
    expect(typeof actual.value, `${where}: value`).toBe('number');
    const value = actual.value as number;
    expect(Math.abs(value - expected.value) / Math.max(Math.abs(expected.value), 1e-12), `${where}: relative error of ${value} vs ${expected.value}`).toBeLessThanOrEqual(1e-5);
    return;
  }
  expect(actual.label, `${where}: label`).toBe(expected.label);
  const probabilities = actual.probabilities as number[];
  expect(probabilities, `${where}: probabilities`).toHaveLength(expected.probabilities!.length);
  probabilities.forEach((p, i) => {
    expect(Math.abs(p - expected.probabilities![i]!), `${where}: probabilities[${i}] ${p} vs ${expected.probabilities![i]}`).toBeLessThanOrEqual(1e-5);
  });
  // `probability` is the probability of the predicted label.
  expect(Math.abs((actual.probability as number) - expected.probabilities![expected.label!]!), `${where}: probability`).toBeLessThanOrEqual(1e-5);
}

/** Checks v2 infer outputs (label INT64 [N], probabilities FP32 [N,C] or value FP32 [N,1]). */
function expectV2Outputs(outputs: { name: string; datatype: string; shape: number[]; data: number[] }[], expected: Expected[], where: string): void {
  const n = expected.length;
  const byName = new Map(outputs.map((o) => [o.name, o]));
  if (expected[0]!.value !== undefined) {
    const value = byName.get('value');
    expect(value, `${where}: output 'value'`).toBeDefined();
    expect(value!.datatype).toBe('FP32');
    expect(value!.shape).toEqual([n, 1]);
    value!.data.forEach((v, r) => {
      const want = expected[r]!.value!;
      expect(Math.abs(v - want) / Math.max(Math.abs(want), 1e-12), `${where}: row ${r} value ${v} vs ${want}`).toBeLessThanOrEqual(1e-5);
    });
    return;
  }
  const label = byName.get('label');
  const probabilities = byName.get('probabilities');
  expect(label, `${where}: output 'label'`).toBeDefined();
  expect(probabilities, `${where}: output 'probabilities'`).toBeDefined();
  const classes = expected[0]!.probabilities!.length;
  expect(label!.datatype).toBe('INT64');
  expect(label!.shape).toEqual([n]);
  expect(probabilities!.datatype).toBe('FP32');
  expect(probabilities!.shape).toEqual([n, classes]);
  expect(label!.data).toEqual(expected.map((e) => e.label));
  expected.forEach((e, r) => {
    for (let c = 0; c < classes; c++) {
      const got = probabilities!.data[r * classes + c]!;
      expect(Math.abs(got - e.probabilities![c]!), `${where}: row ${r} class ${c} ${got} vs ${e.probabilities![c]}`).toBeLessThanOrEqual(1e-5);
    }
  });
}

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ args: ['--models', BUNDLED_MODELS, '--workers', '1', '--log-level', 'info'] });
});

afterAll(async () => {
  await server?.kill();
});

describe.each(VERSIONS)('$model version $version ($task)', ({ model, version }) => {
  const data = heldoutOf(model, version);

  it('has held-out rows to check', () => {
    expect(data.rows.length).toBeGreaterThan(50);
    expect(data.rows.length).toBe(data.expected.length);
  });

  it('/predict instances as objects by feature name equal scikit-learn', async () => {
    const instances = data.rows.map((row) => asObject(data.feature_names, row));
    const { status, json, headers } = await postJson(`${server.url}/predict`, { model, version, instances });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.model).toBe(model);
    expect(json.version).toBe(version);
    expect(headers.get('x-model-version')).toBe(version);
    expect(json.predictions).toHaveLength(data.rows.length);
    json.predictions.forEach((p: Record<string, unknown>, i: number) => expectPrediction(p, data.expected[i]!, `row ${i}`));
  });

  it('/predict instances as arrays in feature order equal scikit-learn', async () => {
    const { status, json, headers } = await postJson(`${server.url}/predict`, { model, version, instances: data.rows });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(headers.get('x-model-version')).toBe(version);
    expect(json.predictions).toHaveLength(data.rows.length);
    json.predictions.forEach((p: Record<string, unknown>, i: number) => expectPrediction(p, data.expected[i]!, `row ${i}`));
  });

  it('/predict one row per request (features as object and as array) equals scikit-learn', async () => {
    // Concurrent single-row requests also exercise the dynamic batcher: each answer must be
    // its own row's, not a batch-mate's.
    const answers = await Promise.all(data.rows.map((row, i) => postJson(`${server.url}/predict`, {
      model, version, features: i % 2 === 0 ? asObject(data.feature_names, row) : row,
    })));
    answers.forEach(({ status, json, headers }, i) => {
      expect(status, JSON.stringify(json)).toBe(200);
      expect(headers.get('x-model-version')).toBe(version);
      expect(json.version).toBe(version);
      expect(json.predictions).toHaveLength(1);
      expectPrediction(json.predictions[0], data.expected[i]!, `row ${i}`);
    });
  });

  it('v2 infer with /versions/{v} equals scikit-learn', async () => {
    const width = data.feature_names.length;
    const { status, json, headers } = await postJson(`${server.url}/v2/models/${model}/versions/${version}/infer`, {
      id: `heldout-${model}-${version}`,
      inputs: [{ name: 'input', shape: [data.rows.length, width], datatype: 'FP32', data: data.rows.flat() }],
    });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.model_name).toBe(model);
    expect(json.model_version).toBe(version);
    expect(json.id).toBe(`heldout-${model}-${version}`);
    expect(headers.get('x-model-version')).toBe(version);
    expectV2Outputs(json.outputs, data.expected, `${model}/${version}`);
  });

  it('v2 infer with nested data, one request per row, equals scikit-learn', async () => {
    const width = data.feature_names.length;
    const rows = data.rows.slice(0, 20);
    const answers = await Promise.all(rows.map((row) => postJson(`${server.url}/v2/models/${model}/versions/${version}/infer`, {
      inputs: [{ name: 'input', shape: [1, width], datatype: 'FP32', data: [row] }],
    })));
    answers.forEach(({ status, json }, i) => {
      expect(status, JSON.stringify(json)).toBe(200);
      expectV2Outputs(json.outputs, [data.expected[i]!], `${model}/${version} row ${i}`);
    });
  });
});

describe('v2 infer without a version', () => {
  it.each(['diabetes', 'digits'])('%s (one version) answers with version 1 and scikit-learn outputs', async (model) => {
    const data = heldoutOf(model, '1');
    const { status, json, headers } = await postJson(`${server.url}/v2/models/${model}/infer`, {
      inputs: [{ name: 'input', shape: [data.rows.length, data.feature_names.length], datatype: 'FP32', data: data.rows }],
    });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.model_version).toBe('1');
    expect(headers.get('x-model-version')).toBe('1');
    expectV2Outputs(json.outputs, data.expected, model);
  });

  it('breast-cancer (split 90/10) answers from a version of the split, with that version\'s outputs', async () => {
    const seen = new Set<string>();
    const answers = await Promise.all(Array.from({ length: 40 }, (_, k) => {
      const data = heldoutOf('breast-cancer', '1');
      const rows = data.rows.slice(k % 10, (k % 10) + 5);
      return postJson(`${server.url}/v2/models/breast-cancer/infer`, {
        inputs: [{ name: 'input', shape: [rows.length, 30], datatype: 'FP32', data: rows.flat() }],
      }).then((answer) => ({ answer, first: k % 10 }));
    }));
    for (const { answer: { status, json, headers }, first } of answers) {
      expect(status, JSON.stringify(json)).toBe(200);
      expect(['1', '2']).toContain(json.model_version);
      expect(headers.get('x-model-version')).toBe(json.model_version);
      seen.add(json.model_version);
      expectV2Outputs(json.outputs, heldoutOf('breast-cancer', json.model_version).expected.slice(first, first + 5), `breast-cancer/${json.model_version}`);
    }
    expect(seen.has('1')).toBe(true);
  });
});

describe('/predict routing, headers and request ids', () => {
  const data = heldoutOf('breast-cancer', '1');
  const names = data.feature_names;

  it('unpinned requests are served by a version of the split; X-Model-Version and body agree', async () => {
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      postJson(`${server.url}/predict`, { model: 'breast-cancer', features: asObject(names, data.rows[i % data.rows.length]!) })));
    const versions = new Map<string, number>();
    answers.forEach(({ status, json, headers }, i) => {
      expect(status, JSON.stringify(json)).toBe(200);
      const version = json.version as string;
      expect(['1', '2']).toContain(version);
      expect(headers.get('x-model-version')).toBe(version);
      versions.set(version, (versions.get(version) ?? 0) + 1);
      // The answer is the served version's own scikit-learn output for the row.
      expectPrediction(json.predictions[0], heldoutOf('breast-cancer', version).expected[i % data.rows.length]!, `request ${i} (v${version})`);
    });
    // 90 % v1: 60 requests cannot plausibly all go to v2.
    expect(versions.get('1') ?? 0).toBeGreaterThan(30);
  });

  it('a pinned version is always the one that answers (numeric version too)', async () => {
    for (const version of ['2', 2, '1', 1]) {
      const { status, json, headers } = await postJson(`${server.url}/predict`, { model: 'breast-cancer', version, features: data.rows[0] });
      expect(status, JSON.stringify(json)).toBe(200);
      expect(json.version).toBe(String(version));
      expect(headers.get('x-model-version')).toBe(String(version));
    }
  });

  it('the same routing key (id) sticks to one version', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () =>
      postJson(`${server.url}/predict`, { model: 'breast-cancer', id: 'customer-42', features: data.rows[3] })));
    const versions = new Set(answers.map((a) => a.json.version));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(versions.size).toBe(1);
  });

  it('echoes X-Request-ID in the header and the body', async () => {
    const { status, json, headers } = await postJson(`${server.url}/predict`,
      { model: 'diabetes', features: heldoutOf('diabetes', '1').rows[0] }, { 'X-Request-ID': 'trace-abc-123' });
    expect(status).toBe(200);
    expect(headers.get('x-request-id')).toBe('trace-abc-123');
    expect(json.request_id).toBe('trace-abc-123');
  });

  it('generates a distinct request id when none is sent', async () => {
    const row = heldoutOf('diabetes', '1').rows[0];
    const [a, b] = await Promise.all([
      postJson(`${server.url}/predict`, { model: 'diabetes', features: row }),
      postJson(`${server.url}/predict`, { model: 'diabetes', features: row }),
    ]);
    for (const answer of [a, b]) {
      expect(answer.status).toBe(200);
      const id = answer.headers.get('x-request-id');
      expect(id).toMatch(/^[0-9a-f-]{16,}$/i);
      expect(answer.json.request_id).toBe(id);
    }
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });

  it('v2 infer echoes X-Request-ID too', async () => {
    const row = heldoutOf('diabetes', '1').rows[0]!;
    const answer = await postJson(`${server.url}/v2/models/diabetes/infer`,
      { inputs: [{ name: 'input', shape: [1, 10], datatype: 'FP32', data: row }] }, { 'X-Request-ID': 'v2-trace-7' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-request-id')).toBe('v2-trace-7');
  });

  it('model metadata lists the named features and the tensors', async () => {
    const { status, json } = await getJson(`${server.url}/v2/models/breast-cancer/versions/2`);
    expect(status).toBe(200);
    expect(json.name).toBe('breast-cancer');
    expect(json.version).toBe('2');
    expect(json.versions).toEqual(['1', '2']);
    expect(json.features).toEqual(names);
    expect(json.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 30] }]);
    expect(json.outputs.map((o: { name: string }) => o.name).sort()).toEqual(['label', 'probabilities']);
  });
});
