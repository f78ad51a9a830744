// A full queue refuses a request before its body is parsed: with diabetes holding partial
// batches (up to 4 rows per batch, at most 2 rows queued), one queued 2-row request fills the
// queue, and requests whose bodies are not even valid JSON are then answered 503 (queue full),
// not 400 (malformed JSON), on both protocols: their bodies were never parsed. With the queue
// empty again, the same bodies answer 400.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type InProcessGateway } from '../helpers/gateway.js';
import { metricValue } from '../helpers/metrics.js';
import { holdPartialBatches, tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { BUNDLED_MODELS, postJson } from '../helpers/server.js';

const rows = (JSON.parse(readFileSync(join(BUNDLED_MODELS, 'diabetes', '1', 'heldout.json'), 'utf8')) as { rows: number[][] }).rows;
const models = tempModels(BUNDLED_MODELS, ['diabetes'], { diabetes: holdPartialBatches(4, 2) });
let server: InProcessGateway;

beforeAll(async () => {
  server = await startGateway(['--models', models.dir]);
});

afterAll(async () => {
  await server?.stop();
  models.cleanup();
});

/** Bodies that route (the model is named up front) but that no JSON parser accepts. */
const BROKEN_PREDICT = `{"model": "diabetes", "features": [${rows[0]!.join(',')},,]}`;
const BROKEN_V2 = `{"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP32", "data": [NaN]}]}`;

describe('a full queue', () => {
  it('answers 503 to bodies it never parses, on both protocols; with room they answer 400', async () => {
    // Held until its deadline: a partial batch that fills the queue (2 of 2 rows).
    const queued = postJson(`${server.url}/predict`, { model: 'diabetes', instances: rows.slice(0, 2) }, { 'X-Timeout-Ms': '5000' });
    await pollUntil('2 rows queued for diabetes/1', () => (server.gateway.scheduler.queuedRows('diabetes/1') === 2 ? true : undefined), 30_000, 5);

    const refused = [
      await postJson(`${server.url}/predict`, BROKEN_PREDICT),
      await postJson(`${server.url}/v2/models/diabetes/infer`, BROKEN_V2),
    ];
    for (const answer of refused) {
      expect(answer.status, answer.text).toBe(503);
      expect(answer.json.error).toBe('queue for diabetes/1 (live) is full (2 rows); retry later');
    }
    const text = await server.gateway.metrics.exposition();
    expect(metricValue(text, 'model_prediction_errors_total', { model: 'diabetes', error_type: 'queue_full' })).toBe(2);

    expect((await queued).status).toBe(504); // its deadline passed, still short of a full batch
    for (const [path, body] of [['/predict', BROKEN_PREDICT], ['/v2/models/diabetes/infer', BROKEN_V2]]) {
      const answer = await postJson(`${server.url}${path}`, body!);
      expect(answer.status, answer.text).toBe(400);
      expect(answer.json.error).toMatch(/^malformed JSON/);
    }
  });
});
