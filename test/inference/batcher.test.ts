// The batcher against the real worker pool and real ONNX graphs (no mocks): rows of many
// concurrent requests are packed into one ORT batch and must come back to their own request.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchScheduler, queueLimit, type BatchExecutor, type BatchTarget } from '../../src/inference/batcher.js';
import type { WireTensor } from '../../src/inference/tensors.js';
import { VigilError } from '../../src/errors.js';
import { pollUntil } from '../helpers/poll.js';
import { mulberry32 } from '../helpers/random.js';
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

/** Counts the batches the real pool runs, and the most running at once per key (a decorator, not a stand-in). */
class CountingExecutor implements BatchExecutor {
  runs = 0;
  private readonly running = new Map<string, number>();
  readonly maxRunning = new Map<string, number>();
  constructor(private readonly pool: InferencePool) {}
  async run(key: string, path: string, inputs: WireTensor[], options: Parameters<BatchExecutor['run']>[3]) {
    this.runs++;
    const now = (this.running.get(key) ?? 0) + 1;
    this.running.set(key, now);
    this.maxRunning.set(key, Math.max(this.maxRunning.get(key) ?? 0, now));
    try {
      return await this.pool.run(key, path, inputs, options);
    } finally {
      this.running.set(key, this.running.get(key)! - 1);
    }
  }
}

const inTime = () => ({ deadline: performance.now() + 30_000, timeoutMs: 30_000 });

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
    const random = mulberry32(400);
    let nextValue = 0;
    const jobs = Array.from({ length: 400 }, () => {
      const rows = 1 + Math.floor(random() * 4);
      const values = Array.from({ length: rows * 3 }, () => nextValue++);
      // Half the requests arrive a little later (0-3 ms), the rest at once.
      return { rows, values, arrivesAfterMs: random() < 0.5 ? random() * 3 : 0 };
    });
    const results = await Promise.all(jobs.map(async (job) => {
      if (job.arrivesAfterMs) await new Promise((resolve) => setTimeout(resolve, job.arrivesAfterMs));
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

  it('bounds a shadow queue at 8 batches (64 rows at least), a live one at max_queue_rows', async () => {
    const wide = target('identity-float32', { maxBatchSize: 64, maxQueueRows: 4096 });
    expect(queueLimit(wide, 'live')).toBe(4096);
    expect(queueLimit(wide, 'shadow')).toBe(512);
    expect(queueLimit(target('identity-float32', { maxBatchSize: 1, maxQueueRows: 4096 }), 'shadow')).toBe(64);
    expect(queueLimit(target('identity-float32', { maxBatchSize: 64, maxQueueRows: 100 }), 'shadow')).toBe(100);

    // The real pool behind a gate: the first shadow batch holds the only slot until the gate
    // opens, so the rest of the shadow jobs stay queued and meet the bound.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => { open = resolve; });
    const gated: BatchExecutor = { run: async (key, path, inputs, options) => { await gate; return pool.run(key, path, inputs, options); } };
    const scheduler = new BatchScheduler(gated, 1);
    const job = (i: number) => ({ inputs: [rowsTensor([i, i, i], 3)], rows: 1, deadline: performance.now() + 30_000, timeoutMs: 30_000 });
    const shadows = Array.from({ length: 700 }, (_, i) => scheduler.submit(wide, job(i), 'shadow'));
    expect(scheduler.hasRoom(wide, 1, 'shadow')).toBe(false);
    expect(scheduler.hasRoom(wide, 1, 'live')).toBe(true);
    open();
    const settled = await Promise.allSettled(shadows);
    const refused = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason as VigilError);
    // 512 queued, plus what the first batch took before the queue filled (at most 64).
    expect(refused.length).toBeGreaterThanOrEqual(700 - 512 - 64);
    expect(refused.length).toBeLessThanOrEqual(700 - 512);
    for (const error of refused) expect(error).toMatchObject({ status: 503, type: 'queue_full' });
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') expect(Array.from(s.value[0]!.data as Float32Array)).toEqual([i, i, i]);
    });
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
    const lateDeadline = performance.now() + 1;
    // The big batch can run within 1 ms here, so the only slot is held until the queued
    // request's deadline has passed: then it must expire in the queue, not run late.
    const deadlinePassed = async () => {
      while (performance.now() <= lateDeadline) await new Promise((resolve) => setTimeout(resolve, 1));
    };
    const executor = new (class extends CountingExecutor {
      override async run(...args: Parameters<BatchExecutor['run']>) {
        const outputs = await super.run(...args);
        if (this.runs === 1) await deadlinePassed();
        return outputs;
      }
    })(pool);
    const scheduler = new BatchScheduler(executor, 1);
    const identity = target('identity-float32', { maxQueueRows: 1_000_000 });
    // Occupy the only slot with a big batch, then queue a request with a 1 ms deadline behind it.
    const big = Array.from({ length: 3 * 200_000 }, (_, i) => i % 97);
    const busy = scheduler.submit(identity, { inputs: [rowsTensor(big, 3)], rows: 200_000, deadline: performance.now() + 30_000, timeoutMs: 30_000 });
    const late = scheduler.submit(identity, { inputs: [rowsTensor([7, 8, 9], 3)], rows: 1, deadline: lateDeadline, timeoutMs: 1 });
    await expect(late).rejects.toMatchObject({ status: 504 });
    await busy;
    expect(executor.runs).toBe(1);
    scheduler.close();
  });

  it('sweeps deadlines only while something is queued, and again once something is', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => { release = resolve; });
    // The executor holds the first batch until released: the slot stays busy meanwhile.
    const executor = new (class extends CountingExecutor {
      override async run(...args: Parameters<BatchExecutor['run']>) {
        const outputs = await super.run(...args);
        if (this.runs === 1) await held;
        return outputs;
      }
    })(pool);
    const scheduler = new BatchScheduler(executor, 1);
    const identity = target('identity-float32');
    expect(scheduler.sweeping).toBe(false);
    const first = scheduler.submit(identity, { inputs: [rowsTensor([1, 2, 3], 3)], rows: 1, ...inTime() });
    expect(scheduler.sweeping).toBe(true);
    await pollUntil('the first batch to leave the queue and the sweep to stop', () => (scheduler.sweeping ? undefined : true), 5000, 10);
    // Queued behind the held batch with a short deadline: the sweep starts again and answers it.
    const late = scheduler.submit(identity, { inputs: [rowsTensor([4, 5, 6], 3)], rows: 1, deadline: performance.now() + 5, timeoutMs: 5 });
    expect(scheduler.sweeping).toBe(true);
    await expect(late).rejects.toMatchObject({ status: 504 });
    release();
    await first;
    await pollUntil('the sweep to stop once the queue is empty', () => (scheduler.sweeping ? undefined : true), 5000, 10);
    expect(executor.runs).toBe(1);
    scheduler.close();
  });

  it('never lets shadow batches take every slot, so a live batch always finds one free', async () => {
    const executor = new CountingExecutor(pool);
    const slots = 2;
    const scheduler = new BatchScheduler(executor, slots);
    const live = target('identity-float32', { maxBatchSize: 1 });
    const shadow = target('identity-float32', { key: 'identity-float32/shadow', maxBatchSize: 1 });
    const submit = (t: BatchTarget, value: number, role: 'live' | 'shadow') =>
      scheduler.submit(t, { inputs: [rowsTensor([value, value, value], 3)], rows: 1, ...inTime() }, role);
    // One row per batch and no live work: the shadow queue alone could fill every slot, and the
    // first dispatch round (one event-loop turn) decides how many it gets.
    const shadows = Array.from({ length: 12 }, (_, i) => submit(shadow, i, 'shadow'));
    await new Promise((resolve) => setImmediate(resolve));
    const lives = Array.from({ length: 4 }, (_, i) => submit(live, 100 + i, 'live'));
    const answers = await Promise.all([...shadows, ...lives]);
    answers.forEach((outputs, i) => {
      const value = i < 12 ? i : 100 + i - 12;
      expect(Array.from(outputs[0]!.data as Float32Array)).toEqual([value, value, value]);
    });
    expect(executor.maxRunning.get(shadow.key), 'shadow batches running at once').toBe(slots - 1);
    scheduler.close();
  });

  it('still runs shadow work when there is a single slot', async () => {
    const scheduler = new BatchScheduler(pool, 1);
    const shadow = target('identity-float32', { key: 'identity-float32/shadow' });
    const outputs = await scheduler.submit(shadow, { inputs: [rowsTensor([1, 2, 3], 3)], rows: 1, ...inTime() }, 'shadow');
    expect(Array.from(outputs[0]!.data as Float32Array)).toEqual([1, 2, 3]);
    scheduler.close();
  });

  it('fails a stacked batch whose output is not batched by rows, then stops stacking for that graph', async () => {
    const failures: number[] = [];
    const scheduler = new BatchScheduler(pool, 1, { onBatchFailure: (_t, _r, _e, requests) => failures.push(requests) });
    // first-row declares a free first dimension but always answers one row.
    const firstRow = target('first-row');
    const request = (v: number) =>
      scheduler.submit(firstRow, { inputs: [rowsTensor([v, v + 1, v + 2], 3)], rows: 1, ...inTime() });
    // Submitted in one turn, the four requests leave as one stacked batch of four rows.
    const stacked = await Promise.allSettled([1, 10, 20, 30].map(request));
    for (const result of stacked) {
      expect(result.status, JSON.stringify(result)).toBe('rejected');
      const error = (result as PromiseRejectedResult).reason as VigilError;
      expect(error.status).toBe(500);
      expect(error.message).toBe("inference failed on first-row/1: output 'y' is not batched along its first dimension");
    }
    expect(firstRow.batchable).toBe(false);
    // From now on each request runs alone, and gets its own row back.
    const alone = await Promise.all([40, 50, 60].map(request));
    expect(alone.map((outputs) => Array.from(outputs[0]!.data as Float32Array))).toEqual([[40, 41, 42], [50, 51, 52], [60, 61, 62]]);
    expect(alone.map((outputs) => outputs[0]!.dims)).toEqual([[1, 3], [1, 3], [1, 3]]);
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
