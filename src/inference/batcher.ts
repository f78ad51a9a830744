// Work-conserving dynamic batcher. One bounded queue per model version and role; a single
// scheduler feeds the worker pool. While a worker slot is free, queued work goes out at once
// (no added latency at low load); while every slot is busy, requests pile up and the next free
// slot takes up to max_batch_size rows from one queue as a single ORT batch. A full batch (it
// cannot grow) goes out as soon as it is complete, into one of a few extra slots, so the
// workers stay fed while the main thread is saturated. Rows of many requests are packed into
// one typed array per input and the outputs are split back. A queue takes a request whose rows
// fit under max_queue_rows; a full queue (max_queue_rows rows queued) refuses every request
// before its rows are even known, so it can refuse before the body is parsed.
import { deadlineExceeded, inferenceFailed, queueFull, VigilError } from '../errors.js';
import { Fifo } from './fifo.js';
import type { FeatureBins } from './slab.js';
import { stackRows, type TensorData, type TensorSpec, type WireTensor } from './tensors.js';

export interface BatchExecutor {
  /**
   * Resolves to the batch's outputs. `onBins`: the worker counts the feature rows' bins, handed
   * over (views, valid during the call) before the run settles. `alone`: this batch is all the
   * work the batcher has (nothing queued, nothing else running).
   */
  run(key: string, path: string, inputs: WireTensor[], options: { onBins?: (bins: FeatureBins) => void; alone: boolean }): Promise<WireTensor[]>;
  /** Settles the batches that have finished, now (optional; otherwise they settle when the executor notices). */
  reap?(): void;
  /** A batch is on the way: an idle executor may start waking up for it (optional). */
  wakeIdleWorker?(): void;
}

/** A model version as the batcher sees it. */
export interface BatchTarget {
  key: string;
  path: string;
  inputs: readonly TensorSpec[];
  /** Every input and output has a free first dimension, so requests can be stacked. */
  batchable: boolean;
  maxBatchSize: number;
  /** Triton's knob: hold a partial batch this long hoping to fill it (0 = never wait). */
  maxQueueDelayUs: number;
  maxQueueRows: number;
  /**
   * Drift: when set, the worker counts each batch's feature bins and they come here, as views
   * valid only during the call.
   */
  onFeatureBins?: (role: Role, bins: FeatureBins) => void;
}

export type Role = 'live' | 'shadow';

export interface InferenceJob {
  /** One tensor per model input, in the model's input order; first dimension = rows. */
  inputs: WireTensor[];
  rows: number;
  /** performance.now() time after which the job is not worth running. */
  deadline: number;
  timeoutMs: number;
}

interface PendingJob extends InferenceJob {
  enqueuedAt: number;
  resolve: (outputs: WireTensor[]) => void;
  reject: (error: Error) => void;
}

export interface BatchObserver {
  onBatch?(target: BatchTarget, role: Role, rows: number, requests: number): void;
  onDeadlineDrop?(target: BatchTarget, role: Role): void;
  onQueueFull?(target: BatchTarget, role: Role): void;
  onBatchFailure?(target: BatchTarget, role: Role, error: Error, requests: number): void;
}

class VersionQueue {
  readonly jobs = new Fifo<PendingJob>();
  rows = 0;
  inflight = 0;
  batches = 0;
  batchedRows = 0;
  private idleWaiters: (() => void)[] = [];
  /** Hands a batch's bin counts to the target with this queue's role (made once, not per batch). */
  readonly onBins = (bins: FeatureBins) => this.target.onFeatureBins?.(this.role, bins);

  constructor(readonly target: BatchTarget, readonly role: Role) {}

  get idle(): boolean {
    return this.jobs.length === 0 && this.inflight === 0;
  }

  whenIdle(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  notifyIfIdle(): void {
    if (!this.idle) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}

export interface QueueStats {
  key: string;
  role: Role;
  queuedRows: number;
  queuedRequests: number;
  inflightBatches: number;
  batches: number;
  meanBatchRows: number;
}

/**
 * In-flight batches allowed, as a multiple of maxInflight, when the batch is full. A small
 * pipeline makes waiting rows coalesce; full batches gain nothing from waiting, and while the
 * main thread spends a long event-loop turn parsing, they are what keeps the workers busy.
 */
export const FULL_BATCH_SLOTS = 4;

/** How often queued requests are checked for a passed deadline: how late a 504 can be. */
const SWEEP_MS = 50;

/**
 * A shadow queue holds at most this many full batches, or SHADOW_BACKLOG_MIN_ROWS when that is
 * more (a version that does not batch), and never more than the version's max_queue_rows.
 * Shadow work runs only while no live work waits, so under load its backlog is full and every
 * queued mirror holds its inputs and the live answer it is compared with until it runs: at 64
 * connections with 100 % mirrored, the full 4,096-row backlog kept ~1 MB alive across every
 * young-generation collection (scavenges ≈ 3 ms instead of 1, ~800 KB promoted by each: node
 * --trace-gc-nvp). 8 batches: ≈ 1.4 ms and ~40 KB, for five points fewer requests mirrored
 * under saturation (0.66 against 0.71 of live requests, one run each).
 */
export const SHADOW_BACKLOG_BATCHES = 8;
const SHADOW_BACKLOG_MIN_ROWS = 64;

/** Rows a version's queue for `role` may hold. */
export function queueLimit(target: BatchTarget, role: Role): number {
  if (role === 'live') return target.maxQueueRows;
  return Math.min(target.maxQueueRows, Math.max(SHADOW_BACKLOG_BATCHES * target.maxBatchSize, SHADOW_BACKLOG_MIN_ROWS));
}

export class BatchScheduler {
  private readonly queues = new Map<string, VersionQueue>();
  /** Each target's live and shadow queue, found without building the key string per request. */
  private readonly byTarget = new WeakMap<BatchTarget, Partial<Record<Role, VersionQueue>>>();
  private readonly live: VersionQueue[] = [];
  private readonly shadow: VersionQueue[] = [];
  private cursor = 0;
  private inflight = 0;
  private shadowInflight = 0;
  private pumpScheduled = false;
  /** Requests in the live batch dispatched last (wakeIdleWorker). */
  private lastLiveBatchRequests = 0;
  private delayTimer: NodeJS.Timeout | undefined;
  /** Answers queued requests whose deadline passed; runs only while something is queued. */
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly executor: BatchExecutor,
    /** Batches in flight at once: about one per worker plus a little pipelining. */
    private readonly maxInflight: number,
    private readonly observer: BatchObserver = {},
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether `rows` more rows would be admitted to the version's queue right now. */
  hasRoom(target: BatchTarget, rows: number, role: Role = 'live'): boolean {
    const queue = this.queueFor(target, role);
    return queue.rows === 0 || queue.rows + rows <= queueLimit(target, role);
  }

  /** Whether some live queue is at least half full: time to refuse requests as cheaply as possible. */
  get crowded(): boolean {
    for (const queue of this.live) if (queue.rows * 2 >= queue.target.maxQueueRows) return true;
    return false;
  }

  /**
   * Throws the 503 a full queue answers, before the caller spends anything on the request:
   * with `rows` unknown (the body not parsed yet), only when no request at all would fit.
   */
  admit(target: BatchTarget, rows?: number, role: Role = 'live'): void {
    const room = rows === undefined ? this.queueFor(target, role).rows < queueLimit(target, role) : this.hasRoom(target, rows, role);
    if (room) return;
    this.observer.onQueueFull?.(target, role);
    throw queueFull(`${target.key} (${role})`, queueLimit(target, role));
  }

  submit(target: BatchTarget, job: InferenceJob, role: Role = 'live'): Promise<WireTensor[]> {
    const queue = this.queueFor(target, role);
    try {
      this.admit(target, job.rows, role);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      queue.jobs.push({
        inputs: job.inputs, rows: job.rows, deadline: job.deadline, timeoutMs: job.timeoutMs,
        enqueuedAt: this.now(), resolve, reject,
      });
      queue.rows += job.rows;
      if (this.sweeper === null) this.startSweeper();
      if (target.batchable && queue.rows >= target.maxBatchSize) {
        // A full batch: send it now. If every slot looks busy, settle the batches that have
        // finished first; their slots free up before the next request arrives.
        if (this.inflight >= this.maxInflight * FULL_BATCH_SLOTS) this.executor.reap?.();
        this.pump();
      } else {
        this.schedulePump();
      }
    });
  }

  /**
   * A request has arrived and will likely become a batch: lets an idle executor get ready for
   * it, while requests come one at a time (the last live batch held one). Under load a turn
   * reads many requests before its batch goes out, longer than a rung worker polls: the ring
   * would only wake it twice (measured at 64 connections: one batch in nine was rung).
   */
  wakeIdleWorker(): void {
    if (this.lastLiveBatchRequests <= 1) this.executor.wakeIdleWorker?.();
  }

  /** Resolves once the version has no queued or running work (used before unloading it). */
  async drain(key: string): Promise<void> {
    await Promise.all(
      [...this.queues.values()].filter((q) => q.target.key === key).map((q) => q.whenIdle()),
    );
  }

  /** Resolves once nothing is queued or running anywhere (graceful shutdown). */
  async drainAll(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.whenIdle()));
  }

  forget(key: string): void {
    for (const [id, queue] of this.queues) {
      if (queue.target.key !== key) continue;
      this.queues.delete(id);
      this.byTarget.delete(queue.target); // a new queue takes the key's place
      const list = queue.role === 'live' ? this.live : this.shadow;
      list.splice(list.indexOf(queue), 1);
    }
  }

  stats(): QueueStats[] {
    return [...this.queues.values()].map((q) => ({
      key: q.target.key,
      role: q.role,
      queuedRows: q.rows,
      queuedRequests: q.jobs.length,
      inflightBatches: q.inflight,
      batches: q.batches,
      meanBatchRows: q.batches ? q.batchedRows / q.batches : 0,
    }));
  }

  queuedRows(key: string, role: Role = 'live'): number {
    return this.queues.get(`${key}\u0000${role}`)?.rows ?? 0;
  }

  close(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    clearTimeout(this.delayTimer);
  }

  private queueFor(target: BatchTarget, role: Role): VersionQueue {
    const cached = this.byTarget.get(target)?.[role];
    if (cached) return cached;
    const id = `${target.key}\u0000${role}`;
    let queue = this.queues.get(id);
    if (!queue || queue.target !== target) {
      if (queue) this.forget(target.key);
      queue = new VersionQueue(target, role);
      this.queues.set(id, queue);
      (role === 'live' ? this.live : this.shadow).push(queue);
    }
    const queues = this.byTarget.get(target) ?? {};
    queues[role] = queue;
    this.byTarget.set(target, queues);
    return queue;
  }

  // Dispatch runs after the current I/O phase, so requests that arrived together in one
  // event-loop turn can share a batch without any timer-based waiting.
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inflight < this.maxInflight) {
      const queue = this.nextReadyQueue();
      if (!queue) return;
      this.dispatch(queue);
    }
    // Every regular slot is busy: full batches still go out, up to the extra slots.
    while (this.inflight < this.maxInflight * FULL_BATCH_SLOTS) {
      const queue = this.live.find((q) => q.target.batchable && q.rows >= q.target.maxBatchSize);
      if (!queue) return;
      this.dispatch(queue);
    }
  }

  /**
   * Live queues round-robin; shadow work only when no live work is waiting, and never in every
   * slot at once, so a live batch arriving next always finds one free.
   */
  private nextReadyQueue(): VersionQueue | undefined {
    let earliestWait = Infinity;
    const shadowAllowed = this.shadowInflight < Math.max(1, this.maxInflight - 1);
    for (const list of shadowAllowed ? [this.live, this.shadow] : [this.live]) {
      for (let i = 0; i < list.length; i++) {
        const queue = list[(this.cursor + i) % list.length]!;
        if (queue.jobs.length === 0) continue;
        const wait = this.remainingDelay(queue);
        if (wait > 0) {
          earliestWait = Math.min(earliestWait, wait);
          continue;
        }
        this.cursor = (this.cursor + i + 1) % Math.max(list.length, 1);
        return queue;
      }
    }
    if (earliestWait < Infinity && !this.delayTimer) {
      this.delayTimer = setTimeout(() => {
        this.delayTimer = undefined;
        this.pump();
      }, Math.max(1, Math.ceil(earliestWait)));
    }
    return undefined;
  }

  /** Milliseconds the queue still wants to wait for a fuller batch. */
  private remainingDelay(queue: VersionQueue): number {
    const { maxQueueDelayUs, maxBatchSize, batchable } = queue.target;
    if (maxQueueDelayUs <= 0 || !batchable || queue.rows >= maxBatchSize) return 0;
    const oldest = queue.jobs.peek()!;
    return oldest.enqueuedAt + maxQueueDelayUs / 1000 - this.now();
  }

  private dispatch(queue: VersionQueue): void {
    const { target } = queue;
    const jobs: PendingJob[] = [];
    let rows = 0;
    const now = this.now();
    while (queue.jobs.length) {
      const job = queue.jobs.peek()!;
      if (job.deadline < now) {
        queue.jobs.shift();
        queue.rows -= job.rows;
        this.expire(queue, job);
        continue;
      }
      if (jobs.length && (!target.batchable || rows + job.rows > target.maxBatchSize)) break;
      queue.jobs.shift();
      queue.rows -= job.rows;
      jobs.push(job);
      rows += job.rows;
    }
    if (!jobs.length) {
      queue.notifyIfIdle();
      return;
    }
    queue.batches++;
    queue.batchedRows += rows;
    if (queue.role === 'live') this.lastLiveBatchRequests = jobs.length;
    this.observer.onBatch?.(target, queue.role, rows, jobs.length);
    const inputs = jobs.length === 1 ? jobs[0]!.inputs : stackRows(jobs, rows);
    // One request and nothing else to do: low load, where the pool may wait for the answer.
    const alone = jobs.length === 1 && this.inflight === 0 && !this.anyQueued();
    this.execute(queue, inputs, alone).then(
      (outputs) => splitOutputs(target, jobs, rows, outputs),
      (error: Error) => this.failBatch(queue, jobs, error),
    );
  }

  private async execute(queue: VersionQueue, inputs: WireTensor[], alone = false): Promise<WireTensor[]> {
    const { target, role } = queue;
    const shadow = role === 'shadow';
    this.inflight++;
    if (shadow) this.shadowInflight++;
    queue.inflight++;
    try {
      return await this.executor.run(target.key, target.path, inputs, {
        onBins: target.onFeatureBins ? queue.onBins : undefined, alone,
      });
    } finally {
      this.inflight--;
      if (shadow) this.shadowInflight--;
      queue.inflight--;
      queue.notifyIfIdle();
      this.schedulePump();
    }
  }

  private anyQueued(): boolean {
    for (const queue of this.live) if (queue.jobs.length) return true;
    for (const queue of this.shadow) if (queue.jobs.length) return true;
    return false;
  }

  // One bad request must not fail the requests it happened to share a batch with: rerun
  // each of them alone, from their own inputs.
  private failBatch(queue: VersionQueue, jobs: PendingJob[], error: Error): void {
    this.observer.onBatchFailure?.(queue.target, queue.role, error, jobs.length);
    if (jobs.length === 1) {
      jobs[0]!.reject(error instanceof VigilError ? error : inferenceFailed(queue.target.key, error.message));
      return;
    }
    for (const job of jobs) {
      this.execute(queue, job.inputs).then(
        (outputs) => splitOutputs(queue.target, [job], job.rows, outputs),
        (soloError: Error) => job.reject(inferenceFailed(queue.target.key, soloError.message)),
      );
    }
  }

  private expire(queue: VersionQueue, job: PendingJob): void {
    this.observer.onDeadlineDrop?.(queue.target, queue.role);
    job.reject(deadlineExceeded(queue.target.key, job.timeoutMs));
  }

  /**
   * Queued requests whose deadline passes are answered 504 even if no worker frees up: a sweep
   * every SWEEP_MS while anything is queued. A sweep that finds every queue empty stops the
   * timer (the next queued request starts it), so an idle server is not woken for it.
   */
  private startSweeper(): void {
    this.sweeper = setInterval(() => this.dropExpired(), SWEEP_MS);
    this.sweeper.unref();
  }

  private dropExpired(): void {
    const now = this.now();
    let queued = false;
    for (const queue of this.queues.values()) {
      if (!queue.jobs.length) continue;
      queue.jobs.removeWhere((job) => {
        if (job.deadline >= now) return false;
        queue.rows -= job.rows;
        this.expire(queue, job);
        return true;
      });
      queue.notifyIfIdle();
      if (queue.jobs.length) queued = true;
    }
    if (!queued && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** Whether the deadline sweep's timer is running (tests read it). */
  get sweeping(): boolean {
    return this.sweeper !== null;
  }
}

/** Hands each job the rows of every output that belong to it (views, not copies). */
function splitOutputs(target: BatchTarget, jobs: PendingJob[], rows: number, outputs: WireTensor[]): void {
  if (jobs.length === 1) {
    jobs[0]!.resolve(outputs);
    return;
  }
  for (const output of outputs) {
    if (output.dims[0] !== rows) {
      // The graph does not keep rows apart after all: stop stacking requests for it.
      target.batchable = false;
      const error = inferenceFailed(target.key, `output '${output.name}' is not batched along its first dimension`);
      for (const job of jobs) job.reject(error);
      return;
    }
  }
  let rowOffset = 0;
  for (const job of jobs) {
    const sliced = outputs.map((output) => {
      const rowSize = output.data.length / rows;
      const start = rowOffset * rowSize;
      const end = start + job.rows * rowSize;
      const data: TensorData = Array.isArray(output.data)
        ? output.data.slice(start, end)
        : (output.data as Float32Array).subarray(start, end);
      return { name: output.name, type: output.type, dims: [job.rows, ...output.dims.slice(1)], data };
    });
    rowOffset += job.rows;
    job.resolve(sliced);
  }
}
