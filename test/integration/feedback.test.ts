// Ground truth end to end on a real server with the bundled models: held-out rows predicted,
// their true labels fed back through POST /feedback, and the online metrics in /stats and
// /metrics compared with scikit-learn's on the very predictions the server returned (1e-9;
// AUC within the histogram's error bound). breast-cancer serves version 1 live with version 2
// mirrored as a shadow, so both are scored on the same labelled rows. Then every outcome:
// unknown, duplicate, invalid, self-contained feedback, and ids evicted or expired from the
// bounded join store — counted, never errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { BUNDLED_MODELS, getJson, postJson, startServer, type RunningServer } from '../helpers/server.js';
import { mulberry32 } from '../helpers/random.js';
import { sklearnMetrics, type ScoreCase } from '../helpers/sklearn.js';

interface Heldout { feature_names: string[]; rows: number[][]; targets: number[] }
const heldout = (model: string, version = '1') =>
  JSON.parse(readFileSync(join(BUNDLED_MODELS, model, version, 'heldout.json'), 'utf8')) as Heldout;
const CLASSES = ['malignant', 'benign'];

interface Answer { label?: string | number; probability?: number; probabilities?: number[]; value?: number }

/**
 * Predicts `rows` in requests of `chunk` rows with request ids `${prefix}-${i}`, one after the
 * other or (`together`) all at once; returns each row's answer and id.
 */
async function predictAll(url: string, model: string, rows: number[][], prefix: string, extra: Record<string, unknown> = {}, chunk = 40, together = false) {
  const predict = async (start: number, i: number) => {
    const requestId = `${prefix}-${i}`;
    const response = await postJson(`${url}/predict`, { model, instances: rows.slice(start, start + chunk), ...extra }, { 'x-request-id': requestId });
    expect(response.status, response.text).toBe(200);
    expect(response.json.request_id).toBe(requestId);
    return (response.json.predictions as Answer[]).map((answer, instance) => ({ requestId, instance, answer, version: response.json.version as string }));
  };
  const starts = Array.from({ length: Math.ceil(rows.length / chunk) }, (_, i) => i * chunk);
  const parts: Awaited<ReturnType<typeof predict>>[] = [];
  if (together) parts.push(...await Promise.all(starts.map(predict)));
  else for (const [i, start] of starts.entries()) parts.push(await predict(start, i));
  return parts.flat();
}

async function feedback(url: string, body: unknown) {
  const response = await postJson(`${url}/feedback`, body);
  return response;
}

function expectMatches(got: Record<string, { value: number | null; labels: number; error_bound?: number | null }>, want: Record<string, number | null>, labels: number, what: string) {
  for (const [metric, expected] of Object.entries(want)) {
    const m = got[metric]!;
    expect(m.labels, `${what} ${metric} labels`).toBe(labels);
    if (metric === 'auc') {
      expect(Math.abs(m.value! - expected!), `${what} auc ${m.value} vs ${expected} (bound ${m.error_bound})`).toBeLessThanOrEqual(m.error_bound! + 1e-12);
    } else {
      expect(Math.abs(m.value! - expected!), `${what} ${metric} ${m.value} vs scikit-learn ${expected}`).toBeLessThanOrEqual(1e-9);
    }
  }
}

describe('POST /feedback: online performance equals scikit-learn on the same predictions', () => {
  let server: RunningServer;
  const models = tempModels(BUNDLED_MODELS, ['breast-cancer', 'digits', 'diabetes'], {
    'breast-cancer': (config) => ({ ...config, classes: CLASSES, traffic: { weights: { 1: 100, 2: 0 }, shadow: { version: '2', percent: 100 } } }),
  });

  beforeAll(async () => {
    server = await startServer({ args: ['--models', models.dir] });
  });
  afterAll(async () => {
    await server?.kill();
    models.cleanup();
  });

  const stats = async () => (await getJson(`${server.url}/stats`)).json;

  it('breast-cancer: v1 live and v2 shadow, scored on the same 114 labelled rows (labels by class name)', async () => {
    const data = heldout('breast-cancer');
    // 15 requests of 8 rows at once: mirrors answered in one turn reach the shadow stacked, and
    // each must still be stored with its own live answer.
    const live = await predictAll(server.url, 'breast-cancer', data.rows, 'bc', {}, 8, true);
    expect(new Set(live.map((a) => a.version))).toEqual(new Set(['1']));
    // The mirrors answer after the live responses: wait until all 15 are stored with them.
    await pollUntil('the shadow answers', async () => ((await stats()).models['breast-cancer'].versions['2'].roles.shadow?.requests === 15 ? true : undefined), 20_000, 100);

    const items = live.map((a, i) => ({ request_id: a.requestId, instance: a.instance, label: CLASSES[data.targets[i]!] }));
    const response = await feedback(server.url, { model: 'breast-cancer', feedback: items });
    expect(response.status, response.text).toBe(200);
    expect(response.json).toEqual({ model: 'breast-cancer', matched: 114, unknown: 0, duplicate: 0, invalid: 0, errors: [] });

    // scikit-learn on the predictions Vigil returned (labels as indices, probabilities as JSON gave them)
    const oracle = (answers: Answer[]): ScoreCase => ({
      task: 'binary-classification', classes: 2, actual: data.targets,
      predicted: answers.map((a) => CLASSES.indexOf(a.label as string)), probabilities: answers.map((a) => a.probabilities!),
    });
    const v1 = sklearnMetrics(oracle(live.map((a) => a.answer)));
    // the shadow's answers: the same rows pinned to version 2 (the graph is deterministic)
    const v2answers = (await predictAll(server.url, 'breast-cancer', data.rows, 'bc-v2', { version: '2' })).map((a) => a.answer);
    const v2 = sklearnMetrics(oracle(v2answers));

    const s = await stats();
    const v1live = s.models['breast-cancer'].versions['1'].roles.live.performance;
    const v2shadow = s.models['breast-cancer'].versions['2'].roles.shadow.performance;
    expect(v1live.labels).toBe(114);
    expectMatches(v1live.metrics, v1, 114, 'v1 live');
    expectMatches(v2shadow.metrics, v2, 114, 'v2 shadow');
    const reference = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '1', 'reference.json'), 'utf8')).performance.metrics;
    console.log(`breast-cancer v1 on the 114 held-out rows: Vigil accuracy ${v1live.metrics.accuracy.value}, scikit-learn on Vigil's predictions ` +
      `${v1.accuracy}, scikit-learn on its own predictions (reference.json) ${reference.accuracy}; f1 ${v1live.metrics.f1.value} vs ${v1.f1}; ` +
      `AUC ${v1live.metrics.auc.value} vs ${v1.auc} (bound ${v1live.metrics.auc.error_bound}); v2 shadow accuracy ${v2shadow.metrics.accuracy.value} vs ${v2.accuracy}`);
    expect(v1live.metrics.accuracy.value).toBe(reference.accuracy); // ORT gives scikit-learn's labels
    expect(v1live.concept).toEqual([expect.objectContaining({ metric: 'accuracy', reference: reference.accuracy, alert: false })]);

    // /metrics: the gauges and the counters Prometheus adds across replicas
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const sample = (line: RegExp) => Number(metrics.split('\n').find((l) => line.test(l))?.split(' ').pop());
    expect(sample(/^model_performance\{model="breast-cancer",version="1",role="live",metric="accuracy"\}/)).toBe(v1.accuracy);
    expect(sample(/^model_feedback_labels_total\{model="breast-cancer",version="1",role="live"\}/)).toBe(114);
    expect(sample(/^model_feedback_correct_total\{model="breast-cancer",version="1",role="live"\}/)).toBe(Math.round(v1.accuracy! * 114));
    expect(sample(/^model_feedback_labels_total\{model="breast-cancer",version="2",role="shadow"\}/)).toBe(114);
    const confusion = metrics.split('\n').filter((l) => l.startsWith('model_confusion_total{model="breast-cancer",version="1",role="live"'));
    expect(confusion.reduce((s, l) => s + Number(l.split(' ').pop()), 0)).toBe(114);
    expect(sample(/^model_feedback_total\{model="breast-cancer",outcome="matched"\}/)).toBe(114);
    expect(sample(/^performance_alert\{model="breast-cancer",version="1",role="live",metric="accuracy"\}/)).toBe(0);
  });

  it('digits: macro precision, recall and F1 over ten classes (labels by index)', async () => {
    const data = heldout('digits');
    const answers = await predictAll(server.url, 'digits', data.rows, 'digits');
    const response = await feedback(server.url, { model: 'digits', feedback: answers.map((a, i) => ({ request_id: a.requestId, instance: a.instance, label: data.targets[i] })) });
    expect(response.json).toMatchObject({ matched: 100, unknown: 0, duplicate: 0, invalid: 0 });
    const want = sklearnMetrics({
      task: 'multiclass-classification', classes: 10, actual: data.targets,
      predicted: answers.map((a) => a.answer.label as number), probabilities: answers.map((a) => a.answer.probabilities!),
    });
    const got = (await stats()).models.digits.versions['1'].roles.live.performance;
    expectMatches(got.metrics, want, 100, 'digits');
    expect(got.metrics.auc).toBeUndefined();
    console.log(`digits: Vigil accuracy ${got.metrics.accuracy.value} / macro F1 ${got.metrics.f1.value}, scikit-learn ${want.accuracy} / ${want.f1}`);
  });

  it('diabetes: MAE and RMSE (values)', async () => {
    const data = heldout('diabetes');
    const answers = await predictAll(server.url, 'diabetes', data.rows, 'diabetes');
    const response = await feedback(server.url, { model: 'diabetes', feedback: answers.map((a, i) => ({ request_id: a.requestId, instance: a.instance, value: data.targets[i] })) });
    expect(response.json).toMatchObject({ matched: 89, invalid: 0 });
    const want = sklearnMetrics({ task: 'regression', classes: 0, actual: data.targets, predicted: answers.map((a) => a.answer.value!) });
    const got = (await stats()).models.diabetes.versions['1'].roles.live.performance;
    expectMatches(got.metrics, want, 89, 'diabetes');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const sum = (name: string) => Number(metrics.split('\n').find((l) => l.startsWith(`${name}{model="diabetes",version="1",role="live"}`))!.split(' ').pop());
    expect(sum('model_feedback_abs_error_total') / 89).toBeCloseTo(want.mae!, 9);
    expect(Math.sqrt(sum('model_feedback_squared_error_total') / 89)).toBeCloseTo(want.rmse!, 9);
  });

  it('unknown, duplicate and invalid feedback are counted outcomes, not errors', async () => {
    const [first] = await predictAll(server.url, 'diabetes', [heldout('diabetes').rows[0]!], 'outcomes');
    const single = (item: Record<string, unknown>) => feedback(server.url, { model: 'diabetes', ...item });
    expect((await single({ request_id: 'never-seen', value: 1 })).json).toEqual({ model: 'diabetes', outcome: 'unknown' });
    expect((await single({ request_id: first!.requestId, value: 100 })).json).toEqual({ model: 'diabetes', outcome: 'matched' });
    expect((await single({ request_id: first!.requestId, value: 100 })).json).toEqual({ model: 'diabetes', outcome: 'duplicate' });
    const invalid = await single({ request_id: first!.requestId, instance: 5, value: 1 });
    expect(invalid.status).toBe(400);
    expect(invalid.json.error).toMatch(/^instance: instance 5 outside 0..0/);
    expect((await single({ request_id: 'x', label: 1 })).json.error).toMatch(/^label: 'diabetes' is a regressor; send value/);
    expect((await single({ request_id: 'x', value: 'high' })).json.error).toMatch(/^value must be a finite number/);
    expect((await single({ value: 3 })).json.error).toMatch(/^request_id is required/);

    const batch = await feedback(server.url, { model: 'breast-cancer', feedback: [
      { request_id: 'nope', label: 1 },
      { request_id: 'bc-0', instance: 0, label: 1 }, // labelled in the first test: duplicate
      { request_id: 'bc-0', instance: 1, label: 'cancerous' },
      { request_id: 'bc-0', instance: 1, label: 2 },
      'not an object',
    ] });
    expect(batch.status).toBe(200);
    expect(batch.json).toMatchObject({ matched: 0, unknown: 1, duplicate: 1, invalid: 3 });
    expect(batch.json.errors.map((e: { index: number }) => e.index)).toEqual([2, 3, 4]);
    expect(batch.json.errors[0].error).toMatch(/^feedback\/2\/label: "cancerous" is not a class index 0..1 or a class name \("malignant", "benign"\)/);

    expect((await feedback(server.url, { model: 'nope', request_id: 'x', label: 1 })).status).toBe(404);
    expect((await feedback(server.url, { model: 'diabetes', feedback: {} })).status).toBe(400);
    const counts = (await stats()).models.diabetes.feedback;
    expect(counts).toEqual({ matched: 90, unknown: 1, duplicate: 1, invalid: 4 });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('model_feedback_total{model="diabetes",outcome="invalid"} 4');
    expect(metrics).toContain('model_feedback_total{model="breast-cancer",outcome="duplicate"} 1');
  });

  it('self-contained feedback (version and prediction, no join) is scored like a matched one', async () => {
    const before = (await stats()).models['breast-cancer'].versions['1'].roles.live.performance.labels;
    const [answer] = await predictAll(server.url, 'breast-cancer', [heldout('breast-cancer').rows[0]!], 'elsewhere');
    const response = await feedback(server.url, { model: 'breast-cancer', version: '1', prediction: answer!.answer, label: 'benign' });
    expect(response.json).toEqual({ model: 'breast-cancer', outcome: 'matched' });
    const bad = await feedback(server.url, { model: 'breast-cancer', version: '7', prediction: answer!.answer, label: 'benign' });
    expect(bad.json.error).toMatch(/^version: 'breast-cancer' has no loaded version '7'/);
    const after = (await stats()).models['breast-cancer'].versions['1'].roles.live.performance;
    expect(after.labels).toBe(before + 1);
    expect(after.metrics.log_loss.labels).toBe(before + 1);
  });
});

describe('POST /feedback under hostile input (seeded fuzz)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ args: ['--models', BUNDLED_MODELS] });
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('answers every random body with 200, 400 or 404 naming the cause, and keeps serving', async () => {
    const random = mulberry32(1217);
    const pick = <T,>(values: T[]) => values[Math.floor(random() * values.length)]!;
    const scalar = (): unknown => pick<unknown>([null, true, -1, 0, 1, 2, 1.5, 1e308, -0, 'benign', '', 'x'.repeat(300), [], {}, [1, 2], { label: 1 }]);
    const item = (): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (const key of ['request_id', 'instance', 'label', 'value', 'version', 'prediction', 'role', 'extra']) {
        if (random() < 0.5) out[key] = key === 'prediction' && random() < 0.5 ? { label: scalar(), probabilities: [scalar(), scalar()], probability: scalar(), value: scalar() } : scalar();
      }
      return out;
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 600; i++) {
      const model = pick(['breast-cancer', 'diabetes', 'digits', 'nope', 7]);
      const body = random() < 0.3 ? { model, feedback: random() < 0.8 ? Array.from({ length: Math.floor(random() * 5) }, item) : scalar() } : { model, ...item() };
      const response = await postJson(`${server.url}/feedback`, body);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect([200, 400, 404], `${JSON.stringify(body)} → ${response.status} ${response.text}`).toContain(response.status);
      if (response.status !== 200) expect(response.json.error, response.text).toMatch(/\S/);
    }
    console.log('feedback fuzz, 600 bodies:', Object.fromEntries(statuses));
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
    const alive = await postJson(`${server.url}/predict`, { model: 'diabetes', features: heldout('diabetes').rows[0] });
    expect(alive.status).toBe(200);
  });
});

describe('the feedback join store is bounded: evicted and expired ids are unknown', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ args: ['--models', BUNDLED_MODELS, '--feedback-store-rows', '10', '--feedback-ttl-seconds', '1'] });
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('keeps the newest 10 rows; an id older than the TTL is gone', async () => {
    const rows = heldout('diabetes').rows.slice(0, 20);
    const answers = await predictAll(server.url, 'diabetes', rows, 'small', {}, 1);
    const first = await feedback(server.url, { model: 'diabetes', request_id: answers[0]!.requestId, value: 1 });
    const last = await feedback(server.url, { model: 'diabetes', request_id: answers[19]!.requestId, value: 1 });
    // the last one may already have expired on a slow machine: matched or unknown, never an error
    expect(first.json.outcome).toBe('unknown');
    expect(['matched', 'unknown']).toContain(last.json.outcome);
    const store = (await getJson(`${server.url}/stats`)).json.feedback_store;
    expect(store.max_rows).toBe(10);
    expect(store.rows).toBeLessThanOrEqual(10);
    // every row beyond the newest 10 left: evicted for room (or, on a slow machine, expired first)
    expect(store.evicted + store.expired).toBeGreaterThanOrEqual(10);
    // The TTL sweep empties the store; a label for an expired id is unknown.
    await pollUntil('the store to expire every row', async () =>
      ((await getJson(`${server.url}/stats`)).json.feedback_store.rows === 0 ? true : undefined), 20_000, 200);
    expect((await feedback(server.url, { model: 'diabetes', request_id: answers[18]!.requestId, value: 1 })).json.outcome).toBe('unknown');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const evictions = (reason: string) => Number(metrics.match(new RegExp(`feedback_store_evictions_total\\{reason="${reason}"\\} (\\d+)`))![1]);
    expect(evictions('capacity') + evictions('ttl')).toBe(20);
    expect(evictions('ttl')).toBeGreaterThan(0);
    expect(metrics).toContain('feedback_store_rows 0');
  });
});
