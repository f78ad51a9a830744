// A mirror that would overflow the shadow's queue is dropped and counted, and the live answer
// does not notice. The fixture model mixed-batching (test/fixtures/models) has a version 1 that
// is never batched and a batchable version 2; configured here with version 1 live, version 2
// shadowing every request, and batches held until 4 rows (at most 4 queued), the live requests
// run at once while their mirrors wait in version 2's shadow queue until 4 rows fill a batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type InProcessGateway } from '../helpers/gateway.js';
import { metricValue } from '../helpers/metrics.js';
import { holdPartialBatches, tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { FIXTURE_MODELS, getJson, postJson } from '../helpers/server.js';

const MODEL = 'mixed-batching';
const models = tempModels(FIXTURE_MODELS, [MODEL], {
  [MODEL]: (config) => ({
    ...holdPartialBatches(4)(config),
    task: 'raw',
    traffic: { weights: { '1': 100 }, shadow: { version: '2', percent: 100 } },
  }),
});
let server: InProcessGateway;

beforeAll(async () => {
  server = await startGateway(['--models', models.dir]);
});

afterAll(async () => {
  await server?.stop();
  models.cleanup();
});

const rowsOf = (n: number, first: number) => Array.from({ length: n }, (_, i) => [first + i, first + i, first + i]);
const shadowQueued = () => server.gateway.scheduler.queuedRows(`${MODEL}/2`, 'shadow');
const metric = async (name: string, labels: Record<string, string>) => metricValue(await server.gateway.metrics.exposition(), name, labels);

async function live(instances: number[][]) {
  const answer = await postJson(`${server.url}/predict`, { model: MODEL, instances });
  expect(answer.status, answer.text).toBe(200);
  expect(answer.headers.get('x-model-version')).toBe('1');
  expect(answer.json.predictions.map((p: { y: number[] }) => p.y)).toEqual(instances);
}

describe('a full shadow queue', () => {
  it('drops the mirror (counted as queue_full) and still answers live; the queued mirrors run once their batch fills', async () => {
    await live(rowsOf(3, 1));
    await pollUntil('3 mirrored rows queued', () => (shadowQueued() === 3 ? true : undefined), 30_000, 5);

    await live(rowsOf(2, 10)); // 3 + 2 > 4: no room for its mirror
    expect(await metric('shadow_requests_dropped_total', { model: MODEL, version: '2', reason: 'queue_full' })).toBe(1);
    expect(shadowQueued()).toBe(3);

    await live(rowsOf(1, 20)); // 3 + 1 = 4: mirrored, and the shadow batch leaves
    await pollUntil('the shadow batch to run', async () =>
      ((await metric('model_predictions_total', { model: MODEL, version: '2', role: 'shadow' })) === 4 ? true : undefined), 30_000, 10);
    expect(shadowQueued()).toBe(0);
    expect(await metric('model_predictions_total', { model: MODEL, version: '1', role: 'live' })).toBe(6);
    expect(await metric('shadow_requests_dropped_total', { model: MODEL })).toBe(1);
    const shadow = (await getJson(`${server.url}/stats`)).json.models[MODEL].versions['2'].roles.shadow;
    // Dropped before any copy or queueing: not a failure of the shadow version.
    expect(shadow).toMatchObject({ requests: 2, rows: 4 });
    expect(shadow.errors).toEqual({});
    expect(shadow.batching).toMatchObject({ batches: 1, mean_batch_rows: 4 });
  });
});
