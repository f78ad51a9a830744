// What --no-monitoring and --batching off change, each beside a gateway with the default on, so
// the difference shows in the same test: predictions are the same either way, only the
// watching (monitoring) or the stacking of requests (batching) goes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway, type InProcessGateway } from '../helpers/gateway.js';
import { metricValue } from '../helpers/metrics.js';
import { holdPartialBatches, tempModels } from '../helpers/models.js';
import { BUNDLED_MODELS, getJson, postJson } from '../helpers/server.js';

interface Heldout { rows: number[][]; expected: ({ label: number } | { value: number })[] }
const cancer = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '1', 'heldout.json'), 'utf8')) as Heldout;
const diabetes = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'diabetes', '1', 'heldout.json'), 'utf8')) as Heldout;

const running: InProcessGateway[] = [];
async function start(args: string[]): Promise<InProcessGateway> {
  const server = await startGateway(args);
  running.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
});

describe('--no-monitoring', () => {
  const N = 20;

  async function serve(server: InProcessGateway) {
    const answers = await Promise.all(cancer.rows.slice(0, N).map((row) =>
      postJson(`${server.url}/predict`, { model: 'breast-cancer', version: '1', features: row })));
    answers.forEach((answer, i) => {
      expect(answer.status, answer.text).toBe(200);
      expect(answer.json.predictions[0].label).toBe((cancer.expected[i] as { label: number }).label);
    });
    const text = await server.gateway.metrics.exposition();
    const version = { model: 'breast-cancer', version: '1' };
    const live = (await getJson(`${server.url}/stats`)).json.models['breast-cancer'].versions['1'].roles.live;
    return {
      predictions: metricValue(text, 'model_predictions_total', { ...version, role: 'live' }),
      latencies: metricValue(text, 'model_prediction_latency_seconds_count', { ...version, role: 'live' }),
      batchRows: metricValue(text, 'inference_batch_size_sum', version),
      httpOk: metricValue(text, 'http_requests_total', { route: '/predict', status: '200' }),
      statsRows: live.rows as number,
      latencyCount: live.latency_us.total.count as number,
      driftRows: Math.max(...(live.drift as { n: number }[]).map((d) => d.n)),
      batches: live.batching.batches as number,
    };
  }

  it('serves the same predictions without counting, timing or drift, while the default watches them', async () => {
    const on = await serve(await start(['--models', BUNDLED_MODELS]));
    const off = await serve(await start(['--models', BUNDLED_MODELS, '--no-monitoring']));
    expect(on).toMatchObject({ predictions: N, latencies: N, batchRows: N, httpOk: N, statsRows: N, latencyCount: N, driftRows: N });
    expect(off).toMatchObject({ predictions: 0, latencies: 0, batchRows: 0, httpOk: N, statsRows: 0, latencyCount: 0, driftRows: 0 });
    expect(off.batches, 'the batcher still ran every row').toBeGreaterThan(0);
  });
});

describe('--batching off', () => {
  // diabetes configured to hold partial batches until 4 rows: with batching on a lone row waits
  // for three more; with batching off every request leaves alone, at once.
  const models = tempModels(BUNDLED_MODELS, ['diabetes'], { diabetes: holdPartialBatches(4, 4096) });
  afterAll(() => models.cleanup());

  async function version(server: InProcessGateway) {
    return (await getJson(`${server.url}/stats`)).json.models.diabetes.versions['1'];
  }

  it('runs every request as its own ORT run, never held for a fuller batch', async () => {
    const off = await start(['--models', models.dir, '--batching', 'off']);
    const N = 12;
    const answers = await Promise.all(diabetes.rows.slice(0, N).map((row) =>
      postJson(`${off.url}/predict`, { model: 'diabetes', features: row }, { 'X-Timeout-Ms': '20000' })));
    answers.forEach((answer, i) => {
      expect(answer.status, answer.text).toBe(200);
      expect(answer.json.predictions[0].value).toBeCloseTo((diabetes.expected[i] as { value: number }).value, 3);
    });
    const several = await postJson(`${off.url}/predict`, { model: 'diabetes', instances: diabetes.rows.slice(0, 3) });
    expect(several.status, several.text).toBe(200);
    expect(several.json.predictions).toHaveLength(3);
    const stats = await version(off);
    expect(stats).toMatchObject({ batchable: false, max_batch_size: 1 });
    expect(stats.roles.live.batching).toMatchObject({ batches: N + 1, queued_rows: 0 });
    expect(stats.roles.live.batching.mean_batch_rows).toBeCloseTo((N + 3) / (N + 1), 12);
  });

  it('with batching on (the default) the same configuration stacks rows: four requests, one run', async () => {
    const on = await start(['--models', models.dir]);
    const answers = await Promise.all(diabetes.rows.slice(0, 4).map((row) =>
      postJson(`${on.url}/predict`, { model: 'diabetes', features: row })));
    for (const answer of answers) expect(answer.status, answer.text).toBe(200);
    const stats = await version(on);
    expect(stats).toMatchObject({ batchable: true, max_batch_size: 4 });
    expect(stats.roles.live.batching).toMatchObject({ batches: 1, mean_batch_rows: 4 });
  });
});
