// The low-load hand-off (worker.ts serve(), settle-wait.ts): a worker that ran a batch lately
// blocks in Atomics.wait for the next one, and must still take loads and unloads; the main
// thread polls for an answer only when a batch is all the work there is.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchScheduler, type BatchExecutor, type BatchTarget } from '../../src/inference/batcher.js';
import type { WireTensor } from '../../src/inference/tensors.js';
// The pool runs compiled workers, so it comes from dist (built by `npm test`'s pretest).
import { InferencePool } from '../../dist/src/inference/pool.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'models');
const path = (name: string) => join(FIXTURES, name, '1', 'model.onnx');
/** One row of the identity fixtures' width (3) per value. */
const rows = (values: number[]): WireTensor[] => [{ name: 'x', type: 'float32', dims: [values.length, 3], data: Float32Array.from(values.flatMap((v) => [v, v, v])) }];
/** A timer lets the event loop sit idle, as it does between one client's requests. */
const idle = () => new Promise((resolve) => setTimeout(resolve, 2));

let pool: InferencePool;

beforeAll(async () => {
  pool = new InferencePool(2);
  await pool.ready();
  await pool.loadEverywhere('a/1', path('identity-float32'));
});

afterAll(async () => {
  await pool.close();
});

describe('workers waiting synchronously for the next batch', () => {
  it('still load and unload a version when asked right after serving batches', async () => {
    // Both workers just ran a batch, so both block on their submit counters now.
    await Promise.all([pool.run('a/1', path('identity-float32'), rows([1])), pool.run('a/1', path('identity-float32'), rows([2]))]);
    await pool.loadEverywhere('b/1', path('identity-float64'));
    const b: WireTensor[] = [{ name: 'x', type: 'float64', dims: [1, 3], data: Float64Array.from([7, 7, 7]) }];
    expect(Array.from((await pool.run('b/1', path('identity-float64'), b))[0]!.data as Float64Array)).toEqual([7, 7, 7]);
    await pool.run('a/1', path('identity-float32'), rows([3]));
    await pool.unloadEverywhere('b/1');
    // Loading again proves the unload went through: the key is free and the workers still listen.
    await pool.loadEverywhere('b/1', path('identity-float64'));
    await pool.unloadEverywhere('b/1');
  });
});

describe('workers running batches back to back', () => {
  it('take a load while the batches keep coming (the event loop turns between them)', async () => {
    const a = path('identity-float32');
    let loaded = false;
    let batches = 0;
    let batchesAfterLoad = 0;
    // Eight clients keep both workers' slots full until the load has gone through and 200 more
    // batches ran, or until 2,000 batches. (Measured here: the load goes through after 50–110
    // batches; with no turn between batches, only when the stream happens to stall for a
    // whole slice: after 850–3,200.)
    const client = async () => {
      while (batchesAfterLoad < 200 && batches < 2_000) {
        await pool.run('a/1', a, rows([batches++]));
        if (loaded) batchesAfterLoad++;
      }
    };
    const clients = Promise.all(Array.from({ length: 8 }, client));
    await pool.run('a/1', a, rows([0])); // the stream is flowing
    await pool.loadEverywhere('c/1', path('identity-float64'));
    loaded = true;
    await clients;
    // Had the load waited for the stream to stop, no batch would have run after it.
    expect(batches).toBeLessThan(2_000);
    expect(batchesAfterLoad).toBeGreaterThanOrEqual(200);
    await pool.unloadEverywhere('c/1');
  });
});

describe.skipIf(availableParallelism() < 2)('the main thread polling for an answer', () => {
  it('polls for a lone batch after the event loop sat idle, and never with another batch in flight', async () => {
    const a = path('identity-float32');
    // Polls once the version's last batch came back within the cap (a cold first batch may not).
    const start = pool.settleWait.waits;
    for (let i = 0; i < 50 && pool.settleWait.waits === start; i++) {
      await idle();
      expect(Array.from((await pool.run('a/1', a, rows([2]), { alone: true }))[0]!.data as Float32Array)).toEqual([2, 2, 2]);
    }
    expect(pool.settleWait.waits).toBe(start + 1);
    const before = pool.settleWait.waits;

    // Whatever the version's latency and the event loop's idle time: never with another batch in flight.
    const budget = pool.settleWait.budget;
    pool.settleWait.budget = () => 0.3;
    try {
      // The first batch is big (≈ 2 M rows, milliseconds of copying and running), so that it is
      // still in flight when the second is submitted, even on a busy machine; a one-row batch
      // could finish, and be reaped, between the two calls, and the second would then be alone.
      const first = pool.run('a/1', a, [{ name: 'x', type: 'float32', dims: [2_000_000, 3], data: new Float32Array(6_000_000) }]);
      const second = pool.run('a/1', a, rows([4]), { alone: true });
      await Promise.all([first, second]);
      expect(pool.settleWait.waits).toBe(before);
      // The override does poll for a batch that is alone, so the check above is not vacuous.
      await pool.run('a/1', a, rows([5]), { alone: true });
      expect(pool.settleWait.waits).toBe(before + 1);
    } finally {
      pool.settleWait.budget = budget;
    }
  });

  it('does not poll when the caller holds other work', async () => {
    await idle();
    const before = pool.settleWait.waits;
    await pool.run('a/1', path('identity-float32'), rows([5]), { alone: false });
    expect(pool.settleWait.waits).toBe(before);
  });
});

describe('the batcher marks a batch alone only when it is all the work', () => {
  class Recorder implements BatchExecutor {
    readonly alone: boolean[] = [];
    run(key: string, p: string, inputs: WireTensor[], options: Parameters<BatchExecutor['run']>[3]) {
      this.alone.push(options.alone);
      return pool.run(key, p, inputs, options);
    }
  }
  const target: BatchTarget = {
    key: 'a/1', path: path('identity-float32'), inputs: [{ name: 'x', type: 'float32', shape: [null, 3] }],
    batchable: true, maxBatchSize: 64, maxQueueDelayUs: 0, maxQueueRows: 1000,
  };
  const job = (value: number) => ({ inputs: rows([value]), rows: 1, deadline: performance.now() + 30_000, timeoutMs: 30_000 });

  it('one request alone: yes; requests that arrive together, or while another batch runs: no', async () => {
    const recorder = new Recorder();
    const scheduler = new BatchScheduler(recorder, 1);
    try {
      await scheduler.submit(target, job(1));
      expect(recorder.alone).toEqual([true]);
      // Two requests in one turn share a batch: not one request alone.
      await Promise.all([scheduler.submit(target, job(2)), scheduler.submit(target, job(3))]);
      expect(recorder.alone).toEqual([true, false]);

      const wide = new BatchScheduler(recorder, 2);
      try {
        // Two versions' requests in one turn: two batches, neither alone (the first sees the second queued).
        const other = { ...target, key: 'a/other' };
        await Promise.all([wide.submit(target, job(4)), wide.submit(other, job(5))]);
        expect(recorder.alone.slice(2)).toEqual([false, false]);
      } finally {
        wide.close();
      }
    } finally {
      scheduler.close();
    }
  });

  it('passes a ring on while requests come one at a time, not after a batch of several', async () => {
    let rings = 0;
    class Ringer extends Recorder {
      wakeIdleWorker() {
        rings++;
      }
    }
    const scheduler = new BatchScheduler(new Ringer(), 1);
    try {
      scheduler.wakeIdleWorker(); // no batch yet
      expect(rings).toBe(1);
      await scheduler.submit(target, job(1));
      scheduler.wakeIdleWorker();
      expect(rings).toBe(2);
      // The last batch held two requests: a loaded turn, whose batch goes out after a ring's poll ends.
      await Promise.all([scheduler.submit(target, job(2)), scheduler.submit(target, job(3))]);
      scheduler.wakeIdleWorker();
      expect(rings).toBe(2);
      await scheduler.submit(target, job(4));
      scheduler.wakeIdleWorker();
      expect(rings).toBe(3);
    } finally {
      scheduler.close();
    }
  });
});

describe.skipIf(availableParallelism() < 2)('ringing an idle worker ahead of its batch', () => {
  const a = path('identity-float32');

  it('rings only when every worker is idle, and not again until a batch followed the ring', async () => {
    await pool.run('a/1', a, rows([1]));
    await idle();
    const before = pool.wakeRings;
    pool.wakeIdleWorker();
    pool.wakeIdleWorker(); // no batch followed the first ring (a refused request, say): no second ring
    expect(pool.wakeRings).toBe(before + 1);
    expect(Array.from((await pool.run('a/1', a, rows([2])))[0]!.data as Float32Array)).toEqual([2, 2, 2]);
    await idle();
    pool.wakeIdleWorker(); // a batch followed: the next request rings again
    expect(pool.wakeRings).toBe(before + 2);
    await pool.run('a/1', a, rows([3]));
    await idle();

    // A batch in flight: a worker is awake, nothing rings. (Big, so it is still running.)
    const busy = pool.run('a/1', a, [{ name: 'x', type: 'float32', dims: [2_000_000, 3], data: new Float32Array(6_000_000) }]);
    pool.wakeIdleWorker();
    expect(pool.wakeRings).toBe(before + 2);
    await busy;
  });

  it('loses no batch: a ring right before each submission, a ring with none, a ring to a worker gone cold', async () => {
    for (let i = 0; i < 200; i++) {
      pool.wakeIdleWorker();
      if (i % 3 === 0) await idle(); // sometimes the ring's poll runs out before the batch comes
      expect(Array.from((await pool.run('a/1', a, rows([i])))[0]!.data as Float32Array)).toEqual([i, i, i]);
    }
    // Idle past HOT_MS (50 ms), a worker waits asynchronously; a ring reaches it there too.
    await new Promise((resolve) => setTimeout(resolve, 80));
    pool.wakeIdleWorker();
    expect(Array.from((await pool.run('a/1', a, rows([7])))[0]!.data as Float32Array)).toEqual([7, 7, 7]);
  });

  it('a rung worker that gets no batch goes back to sleep', async () => {
    await pool.run('a/1', a, rows([1]));
    await idle();
    const before = pool.wakeRings;
    pool.wakeIdleWorker();
    expect(pool.wakeRings).toBe(before + 1);
    // Over 300 ms a worker polling for good would spend about 300 ms of CPU; sleeping, next to none.
    const start = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const spent = process.cpuUsage(start);
    expect((spent.user + spent.system) / 1000).toBeLessThan(150);
  });
});

describe.skipIf(availableParallelism() < 2)('a worker lingering for the next batch', () => {
  const a = path('identity-float32');

  /**
   * A fresh one-worker pool (its worker has not lingered yet) runs `count` batches, `gap`
   * between them; `alone`: batches the main thread polls for, so it asks the worker to linger.
   */
  async function lone(count: number, gap: () => Promise<unknown>, alone = true): Promise<{ lingers: number; catches: number }> {
    const fresh = new InferencePool(1);
    try {
      await fresh.ready();
      await fresh.loadEverywhere('a/1', a);
      fresh.settleWait.budget = () => 0.3;
      for (let i = 0; i < count; i++) {
        expect(Array.from((await fresh.run('a/1', a, rows([i]), { alone }))[0]!.data as Float32Array)).toEqual([i, i, i]);
        await gap();
      }
      return fresh.lingerCounts();
    } finally {
      await fresh.close();
    }
  }

  it('catches the next batch of a client that follows its answers closely', async () => {
    // Cold, the first batches come slower than a linger and the worker rests for LINGER_REST
    // batches before it tries again; 1,500 batches leave room for that. (Measured: 11 lingers
    // and no catch, then a catch for nearly every batch from about the 270th; with two CPU hogs
    // on the two cores, 5 and 55 catches. A worker that never lingers catches none.)
    const { catches } = await lone(1_500, async () => {});
    expect(catches).toBeGreaterThan(0);
  });

  it('does not linger unless the main thread asked', async () => {
    expect(await lone(50, async () => {}, false)).toEqual({ lingers: 0, catches: 0 });
  });

  it('stops lingering for a client slower than a linger, after a few misses', async () => {
    // 2 ms between batches: every linger (0.25 ms) misses, and the policy rests after 11 in a
    // row (linger.test.ts), so 40 batches see 11 lingers, not 40. (A linger preempted until
    // the next batch came counts as a catch and prolongs the trial: 2 catches with CPU hogs.)
    const { lingers } = await lone(40, idle);
    expect(lingers).toBeGreaterThan(0);
    expect(lingers).toBeLessThanOrEqual(20);
  });
});
