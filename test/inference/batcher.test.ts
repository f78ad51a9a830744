// The batcher against the real worker pool and real ONNX graphs (no mocks): rows of many
// concurrent requests are packed into one ORT batch and must come back to their own request.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchScheduler, type BatchExecutor, type BatchTarget } from '../../src/inference/batcher.js';
import type { WireTensor } from '../../src/inference/tensors.js';
import { VigilError } from '../../src/errors.js';
// The pool runs compiled workers, so it comes from dist (built by `npm test`'s pretest).
import { InferencePool } from '../../dist/src/inference/pool.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'models');

function target(name: string, overrides: Partial<BatchTarget> = {}): BatchTarget {
  return {
    key: `${name}/1`,
    path: join(FIXTURES, name, '1', 'model.onnx'),
    inputs: [{ name: 'x', type: 'float32', shape: [null, name === 'failing' ? 1 : 3] }],
    batchable: true,
    maxBatchSize: 64,
    maxQueueDelayUs: 0,
    maxQueueRows: 100_000,
    ...overrides,
  };
}

function rowsTensor(values: number[], width: number): WireTensor {
  return { name: 'x', type: 'float32', dims: [values.length / width, width], data: Float32Array.from(values) };
}

/** Counts the batches the real pool actually runs (a decorator, not a stand-in). */
class CountingExecutor implements BatchExecutor {
  runs = 0;
  constructor(private readonly pool: InferencePool) {}
  run(key: string, path: string, inputs: WireTensor[]) {
    this.runs++;
    return this.pool.run(key, path, inputs);
  }
}

let pool: InferencePool;

beforeAll(async () => {
  pool = new InferencePool(2);
  await pool.ready();
});

afterAll(async () => {
  await pool.close();
});

describe('BatchScheduler', () => {
  it('returns every request its own rows under random arrival, coalescing while workers are busy', async () => {
    const batches: number[] = [];
    const scheduler = new BatchScheduler(pool, 2, { onBatch: (_t, _r, _rows, requests) => batches.push(requests) });
    const identity = target('identity-float32', { maxBatchSize: 32 });
    let nextValue = 0;
    const jobs = Array.from({ length: 400 }, () => {
      const rows = 1 + Math.floor(Math.random() * 4);
      const values = Array.from({ length: rows * 3 }, () => nextValue++);
      return { rows, values };
    });
    const results = await Promise.all(jobs.map(async (job) => {
      if (Math.random() < 0.5) await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      const outputs = await scheduler.submit(identity, {
        inputs: [rowsTensor(job.values, 3)], rows: job.rows, deadline: performance.now() + 30_000, timeoutMs: 30_000,
      });
      return { job, outputs };
    }));
    for (const { job, outputs } of results) {
      expect(outputs).toHaveLength(1);
      expect(outputs[0]!.dims).toEqual([job.rows, 3]);
      expect(Array.from(outputs[0]!.data as Float32Array)).toEqual(job.values);
    }
    expect(Math.max(...batches)).toBeGreaterThan(1); // requests really shared batches
    expect(batches.reduce((a, b) => a + b, 0)).toBe(jobs.length);
    scheduler.close();
  });

  it('fails only the request that breaks a shared batch', async () => {
    const failures: number[] = [];
    // One slot: the first job runs alone while the other 19 pile up into one batch.
    const scheduler = new BatchScheduler(pool, 1, { onBatchFailure: (_t, _r, _e, requests) => failures.push(requests) });
    const failing = target('failing');
    const values = Array.from({ length: 20 }, (_, i) => (i === 11 ? 13 : i + 100));
    const settled = await Promise.allSettled(values.map((v) =>
      scheduler.submit(failing, { inputs: [rowsTensor([v], 1)], rows: 1, deadline: performance.now() + 30_000, timeoutMs: 30_000 })));
    settled.forEach((result, i) => {
      if (i === 11) {
        expect(result.status).toBe('rejected');
        const error = (result as PromiseRejectedResult).reason as VigilError;
        expect(error.status).toBe(500);
        expect(error.message).toMatch(/failing\/1/);
      } else {
        expect(result.status).toBe('fulfilled');
        const outputs = (result as PromiseFulfilledResult<WireTensor[]>).value;
        expect((outputs[0]!.data as Float32Array)[0]).toBe(values[i]);
      }
    });
    expect(Math.max(...failures)).toBeGreaterThan(1); // the failure hit a shared batch, and was split
    scheduler.close();
  });

  it('answers 503 with Retry-After once a version queue is full', async () => {
    const scheduler = new BatchScheduler(pool, 1);
    const small = target('identity-float32', { maxQueueRows: 10 });
    const submits = Array.from({ length: 40 }, (_, i) =>
      scheduler.submit(small, { inputs: [rowsTensor([i, i, i], 3)], rows: 1, deadline: performance.now() + 30_000, timeoutMs: 30_000 }));
    const settled = await Promise.allSettled(submits);
    const rejected = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason as VigilError);
    expect(rejected.length).toBeGreaterThanOrEqual(40 - 10 - 1);
    for (const error of rejected) {
      expect(error.status).toBe(503);
      expect(error.headers['Retry-After']).toBe('1');
      expect(error.message).toMatch(/queue .* is full/);
    }
    const served = settled.filter((s) => s.status === 'fulfilled');
    expect(served.length).toBeGreaterThanOrEqual(10);
    scheduler.close();
  });

  it('drops requests past their deadline with 504 before running inference', async () => {
    const executor = new CountingExecutor(pool);
    const scheduler = new BatchScheduler(executor, 1);
    const identity = target('identity-float32');
    const expired = scheduler.submit(identity, {
      inputs: [rowsTensor([1, 2, 3], 3)], rows: 1, deadline: performance.now() - 1, timeoutMs: 5,
    });
    await expect(expired).rejects.toMatchObject({ status: 504, type: 'deadline_exceeded' });
    expect(executor.runs).toBe(0);
    // A request that is still in time runs normally afterwards.
    const fresh = await scheduler.submit(identity, {
      inputs: [rowsTensor([4, 5, 6], 3)], rows: 1, deadline: performance.now() + 30_000, timeoutMs: 30_000,
    });
    expect(Array.from(fresh[0]!.data as Float32Array)).toEqual([4, 5, 6]);
    expect(executor.runs).toBe(1);
    scheduler.close();
  });

  it('expires requests that wait in the queue while every worker is busy', async () => {
    const executor = new CountingExecutor(pool);
    const scheduler = new BatchScheduler(executor, 1);
    const identity = target('identity-float32', { maxQueueRows: 1_000_000 });
    // Occupy the only slot with a big batch, then queue a request with a 1 ms deadline behind it.
    const big = Array.from({ length: 3 * 200_000 }, (_, i) => i % 97);
    const busy = scheduler.submit(identity, { inputs: [rowsTensor(big, 3)], rows: 200_000, deadline: performance.now() + 30_000, timeoutMs: 30_000 });
    const late = scheduler.submit(identity, { inputs: [rowsTensor([7, 8, 9], 3)], rows: 1, deadline: performance.now() + 1, timeoutMs: 1 });
    await expect(late).rejects.toMatchObject({ status: 504 });
    await busy;
    expect(executor.runs).toBe(1);
    scheduler.close();
  });

  it('waits up to max_queue_delay_us to fill a batch when asked to', async () => {
    const sizes: number[] = [];
    const scheduler = new BatchScheduler(pool, 4, { onBatch: (_t, _r, rows) => sizes.push(rows) });
    const delayed = target('identity-float32', { maxQueueDelayUs: 20_000, maxBatchSize: 8 });
    const submits = Array.from({ length: 8 }, (_, i) => {
      return new Promise<WireTensor[]>((resolve, reject) => setTimeout(() => {
        scheduler.submit(delayed, { inputs: [rowsTensor([i, i, i], 3)], rows: 1, deadline: performance.now() + 30_000, timeoutMs: 30_000 })
          .then(resolve, reject);
      }, i));
    });
    await Promise.all(submits);
    // With free workers a work-conserving batcher would send 8 batches of 1; the delay fills one.
    expect(sizes.length).toBeLessThan(8);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    scheduler.close();
  });
});
