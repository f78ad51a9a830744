// Shadow mirrors under a full shadow queue, in-process with the real pool, batcher, registry and
// data plane: the mirrors of one event-loop turn go to the shadow as one group, and a group the
// queue can no longer hold whole is trimmed to what fits; the rest are dropped and counted
// (queue_full), as a mirror dropped at request time is, and are not errors of the shadow version.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BatchScheduler, type BatchExecutor } from '../../src/inference/batcher.js';
import type { WireTensor } from '../../src/inference/tensors.js';
import { systemClock } from '../../src/monitoring/clock.js';
import { DEFAULT_DRIFT_OPTIONS } from '../../src/monitoring/drift.js';
import { Metrics } from '../../src/monitoring/metrics.js';
import { repositoryLayout } from '../../src/repository/layout.js';
import { scanRepository } from '../../src/repository/repository.js';
import { DataPlane } from '../../src/serving/data-plane.js';
import { ModelRegistry } from '../../src/serving/registry.js';
import { metricValue } from '../helpers/metrics.js';
import { pollUntil } from '../helpers/poll.js';
import { FIXTURE_MODELS } from '../helpers/server.js';
// The pool runs compiled workers, so it comes from dist (built by `npm test`'s pretest).
import { InferencePool } from '../../dist/src/inference/pool.js';

const MODEL = 'twin';
let dir: string;
let pool: InferencePool;

/** The real pool, except that version 2's (the shadow's) batches wait until released. */
class HoldingShadow implements BatchExecutor {
  private held: (() => void)[] = [];
  shadowRuns = 0;
  async run(key: string, path: string, inputs: WireTensor[], options: Parameters<BatchExecutor['run']>[3]) {
    if (key === `${MODEL}/2`) {
      this.shadowRuns++;
      await new Promise<void>((resolve) => this.held.push(resolve));
    }
    return pool.run(key, path, inputs, options);
  }
  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

beforeAll(async () => {
  // Two versions of one identity model: 1 live, 2 shadowing every request; queues hold 2 rows.
  dir = mkdtempSync(join(tmpdir(), 'vigil-shadow-groups-'));
  for (const version of ['1', '2']) cpSync(join(FIXTURE_MODELS, 'identity-float32', '1'), join(dir, MODEL, version), { recursive: true });
  writeFileSync(join(dir, MODEL, 'config.json'), JSON.stringify({
    task: 'raw',
    batching: { max_batch_size: 4, max_queue_delay_us: 0, max_queue_rows: 2 },
    traffic: { weights: { '1': 100 }, shadow: { version: '2', percent: 100 } },
  }));
  pool = new InferencePool(1);
  await pool.ready();
});

afterAll(async () => {
  await pool?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('trims a group of mirrors to what the shadow queue holds, and counts the rest as dropped, not as errors', async () => {
  const executor = new HoldingShadow();
  // Two slots: a shadow batch may hold one (never both), so one held shadow batch keeps the
  // next shadow rows queued.
  const scheduler = new BatchScheduler(executor, 2);
  const metrics = new Metrics(false);
  const logger = pino({ level: 'silent' });
  const layout = repositoryLayout(dir);
  const registry = new ModelRegistry(layout, pool, scheduler, metrics, {
    batching: true, maxBatchSize: 64, maxQueueDelayUs: 0, maxQueueRows: 1000, maxInstances: 64, monitoring: true, maxTensorElements: 1 << 20,
  }, { ...DEFAULT_DRIFT_OPTIONS }, logger, systemClock);
  for (const artifact of await scanRepository(layout)) await registry.addModel(artifact);
  const plane = new DataPlane(scheduler, metrics, logger, true, null, null);
  const model = registry.get(MODEL)!;
  const shadow = model.versions.get('2')!;
  const predict = (value: number) => plane.predict({
    model, pinned: undefined, routingKey: undefined, timeoutMs: 30_000, startedAt: performance.now(), requestId: `r${value}`,
    decode: (version) => version.rowSchema().decode({ instances: [[value, value, value]] }),
  });
  const queued = () => scheduler.queuedRows(`${MODEL}/2`, 'shadow');
  const dropped = async () => metricValue(await metrics.exposition(), 'shadow_requests_dropped_total', { model: MODEL, version: '2', reason: 'queue_full' });
  try {
    // 1: its mirror's batch runs and is held; 2: its mirror waits in the queue (1 of 2 rows).
    await predict(1);
    await pollUntil('the first mirror to be running', () => (executor.shadowRuns === 1 ? true : undefined), 10_000, 5);
    await predict(2);
    await pollUntil('the second mirror to be queued', () => (queued() === 1 ? true : undefined), 10_000, 5);

    // Two requests in one turn: one live batch, answered together, so their mirrors form one
    // group of 2 rows. Each had room when it arrived (1 + 1 ≤ 2); the group does not (1 + 2).
    const answers = await Promise.all([predict(3), predict(4)]);
    expect(answers.map((a) => Array.from(a.outputs[0]!.data as Float32Array))).toEqual([[3, 3, 3], [4, 4, 4]]);
    await pollUntil('the group to reach the shadow queue', () => (queued() === 2 ? true : undefined), 10_000, 5);
    expect(await dropped()).toBe(1);

    executor.release();
    await pollUntil('the kept mirrors to be answered', () => {
      executor.release(); // batches that started after the first release
      return shadow.monitor.stats('shadow').requests === 3 ? true : undefined;
    }, 10_000, 5);
    expect(shadow.monitor.stats('shadow').errors).toEqual({});
    expect(await dropped()).toBe(1);
  } finally {
    executor.release();
    scheduler.close();
  }
});
