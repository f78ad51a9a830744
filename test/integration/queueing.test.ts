// Deadlines, full queues and clients that leave, over real HTTP with the gateway in process.
// diabetes here holds partial batches until 4 rows are queued (and admits at most 4 rows), so
// where a request is (queued, or run) is up to the test, not to timing: a 1-row request stays
// queued until the test sends the rows that fill its batch, or its deadline passes.
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type InProcessGateway } from '../helpers/gateway.js';
import { metricValue } from '../helpers/metrics.js';
import { holdPartialBatches, tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { BUNDLED_MODELS, getJson, postJson } from '../helpers/server.js';

const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'diabetes', '1', 'heldout.json'), 'utf8')) as {
  rows: number[][]; expected: { value: number }[];
};
const rows = heldout.rows;
const models = tempModels(BUNDLED_MODELS, ['diabetes'], { diabetes: holdPartialBatches(4) });
let server: InProcessGateway;

beforeAll(async () => {
  server = await startGateway(['--models', models.dir]);
});

afterAll(async () => {
  await server?.stop();
  models.cleanup();
});

const predict = (body: unknown, headers: Record<string, string> = {}) => postJson(`${server.url}/predict`, body, headers);
const infer = (data: number[][], headers: Record<string, string> = {}) =>
  postJson(`${server.url}/v2/models/diabetes/infer`, { inputs: [{ name: 'input', shape: [data.length, 10], datatype: 'FP32', data }] }, headers);
const metrics = () => server.gateway.metrics.exposition();
const queuedRows = () => server.gateway.scheduler.queuedRows('diabetes/1');
const untilQueued = (n: number) => pollUntil(`${n} rows queued for diabetes/1`, () => (queuedRows() === n ? true : undefined), 30_000, 5);

async function liveStats() {
  return (await getJson(`${server.url}/stats`)).json.models.diabetes.versions['1'].roles.live;
}

describe('X-Timeout-Ms', () => {
  it('a request still queued at its deadline is answered 504 naming the deadline, on both protocols, and never runs', async () => {
    const batchesBefore = (await liveStats()).batching?.batches ?? 0;
    const errorsBefore = metricValue(await metrics(), 'model_prediction_errors_total', { model: 'diabetes', error_type: 'deadline_exceeded' });
    const [viaPredict, viaV2] = await Promise.all([
      predict({ model: 'diabetes', features: rows[0] }, { 'X-Timeout-Ms': '150' }),
      infer([rows[1]!], { 'X-Timeout-Ms': '150' }),
    ]);
    for (const answer of [viaPredict, viaV2]) {
      expect(answer.status, answer.text).toBe(504);
      expect(answer.json.error).toBe('deadline of 150 ms passed before diabetes/1 could run the request');
      expect(answer.json.request_id).toBe(answer.headers.get('x-request-id'));
    }
    expect(queuedRows()).toBe(0);
    expect((await liveStats()).batching.batches, 'batches run').toBe(batchesBefore);
    const text = await metrics();
    expect(metricValue(text, 'model_prediction_errors_total', { model: 'diabetes', error_type: 'deadline_exceeded' })).toBe(errorsBefore + 2);
    expect(metricValue(text, 'http_requests_total', { route: '/predict', status: '504' })).toBe(1);
  });
});

describe('a full version queue', () => {
  it('answers 503 with Retry-After on both protocols and counts it; the queued request is served once its batch fills', async () => {
    const queued = predict({ model: 'diabetes', instances: rows.slice(0, 3) });
    await untilQueued(3);
    const errorsBefore = metricValue(await metrics(), 'model_prediction_errors_total', { model: 'diabetes', error_type: 'queue_full' });
    // (A short deadline, so that were they admitted the test would say so instead of hanging.)
    const full = await predict({ model: 'diabetes', instances: rows.slice(3, 5) }, { 'X-Timeout-Ms': '2000' });
    const fullV2 = await infer(rows.slice(3, 5), { 'X-Timeout-Ms': '2000' });
    for (const answer of [full, fullV2]) {
      expect(answer.status, answer.text).toBe(503);
      expect(answer.headers.get('retry-after')).toBe('1');
      expect(answer.json.error).toBe('queue for diabetes/1 (live) is full (4 rows); retry later');
    }
    expect(metricValue(await metrics(), 'model_prediction_errors_total', { model: 'diabetes', error_type: 'queue_full' })).toBe(errorsBefore + 2);
    expect(queuedRows()).toBe(3);
    // One more row fits and fills the batch: both requests are answered from one ORT run.
    const filler = await predict({ model: 'diabetes', features: rows[3] });
    expect(filler.status, filler.text).toBe(200);
    const answer = await queued;
    expect(answer.status, answer.text).toBe(200);
    answer.json.predictions.forEach((p: { value: number }, i: number) => expect(p.value).toBeCloseTo(heldout.expected[i]!.value, 3));
    expect(filler.json.predictions[0].value).toBeCloseTo(heldout.expected[3]!.value, 3);
    expect(queuedRows()).toBe(0);
  });
});

describe('a client that leaves mid-request', () => {
  it('is counted (499), is never written to, and the server keeps serving', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const before = await liveStats();
      const logsBefore = server.logs.length;
      const body = JSON.stringify({ model: 'diabetes', features: rows[0] });
      const abandoned = request({
        host: '127.0.0.1', port: server.port, path: '/predict', method: 'POST', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      const clientError = new Promise((resolve) => abandoned.once('error', resolve));
      abandoned.end(body);
      await untilQueued(1); // read, decoded and queued: its answer will come
      abandoned.destroy();
      await clientError;
      await pollUntil('the abort to be counted', async () =>
        (metricValue(await metrics(), 'http_requests_total', { route: '/predict', status: '499' }) === 1 ? true : undefined), 30_000, 5);

      // Three more rows fill the batch: the abandoned request runs with them, and its answer
      // finds the client gone.
      const filler = await predict({ model: 'diabetes', instances: rows.slice(1, 4) });
      expect(filler.status, filler.text).toBe(200);
      const after = await liveStats();
      expect(after.batching.batches - before.batching.batches).toBe(1);
      expect(after.rows - before.rows, 'rows predicted, the abandoned one included').toBe(4);

      const errors = server.logs.slice(logsBefore).filter((line) => (line.level ?? 0) >= 50).map((line) => `${line.msg}: ${String(line.err)}`);
      expect(errors, 'error log lines').toEqual([]);
      expect(unhandled).toEqual([]);
      const text = await metrics();
      expect(metricValue(text, 'http_requests_total', { route: '/predict', status: '499' })).toBe(1);
      expect((await getJson(`${server.url}/v2/health/ready`)).status).toBe(200);
      const again = await predict({ model: 'diabetes', instances: rows.slice(0, 4) });
      expect(again.status, again.text).toBe(200);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
