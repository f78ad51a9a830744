// The worker pool: piscina threads that own the ORT sessions. The main thread never runs a
// model. Piscina starts the threads and runs one long task in each, which serves batches
// through shared slots (slab.ts): writing a batch into a slot and bumping a counter replaces a
// postMessage per batch (≈ 22 µs of main-thread CPU per round trip to an idle worker here,
// measured, against ≈ 6 µs), and a worker still busy with one batch finds the next without
// being woken. At low load the main thread polls briefly for a lone batch's answer instead of
// sleeping until the worker wakes it (settle-wait.ts), and asks the worker to poll for the
// next batch the same way once it has answered (linger.ts). A worker that dies (mid-batch or
// idle) fails only the batch it had started; the ones it had not started go back to the queue,
// and piscina starts a replacement, which asks for and loads every version before it serves,
// and a load or unload in progress stops waiting for the dead thread.
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { CONTROL_CHANNEL, type ControlMessage, type ControlReply, type FeatureBinning, type HeldVersion } from './protocol.js';
import { COMPLETED, createChannel, readAnswer, Rings, STARTED, SUBMITTED, writeRequest, type BatchAnswer, type BatchRequest, type Channel, type FeatureBins } from './slab.js';
import { SettleWait } from './settle-wait.js';
import type { WireTensor } from './tensors.js';

const WORKER_FILE = new URL('./worker.js', import.meta.url).href;
const CONTROL_TIMEOUT_MS = 60_000;
let poolCounter = 0;

export interface RunOptions {
  /**
   * Bin counts of the batch's feature rows (when the version has a binning), handed over
   * before the run settles, as views valid only during the call.
   */
  onBins?: (bins: FeatureBins) => void;
  /**
   * The caller holds no other work, so if this batch is the only one in flight the main
   * thread may poll briefly for its answer (settle-wait.ts).
   */
  alone?: boolean;
}

export interface PoolOptions {
  /** Batches a worker holds at once (one running, the next ones ready); default 2. */
  slotsPerWorker?: number;
  /** A worker thread died; its batches fail, a replacement starts. */
  onWorkerExit?(threadId: number, error: string): void;
  onWorkerError?(error: unknown): void;
}

interface Task {
  request: BatchRequest;
  onBins: RunOptions['onBins'];
  /** performance.now() at submission. */
  submittedAt: number;
  resolve: (outputs: WireTensor[]) => void;
  reject: (error: Error) => void;
}

interface PendingBroadcast {
  acks: Set<number>;
  /** Threads that must answer; null = any `size` distinct threads (the start-up ping). */
  expected: Set<number> | null;
  errors: string[];
  done: (errors: string[]) => void;
}

/** The main thread's side of one worker: its slots, which are free, and what runs in the others. */
class WorkerLink {
  readonly rings: Rings;
  readonly free: number[] = [];
  readonly running = new Map<number, Task>();
  /** Completions already read. */
  seen = 0;
  /** Rung (wakeIdleWorker) and no batch submitted since: a ring with nothing after it is not repeated. */
  ringUnanswered = false;

  constructor(readonly channel: Channel) {
    this.rings = new Rings(channel);
    this.reset();
  }

  /** As a new worker finds it: every slot free, none running, empty rings. */
  reset(): void {
    this.running.clear();
    this.free.length = 0;
    // Highest first, so that pop() hands out slot 0 first.
    for (let slot = this.channel.slots.length - 1; slot >= 0; slot--) this.free.push(slot);
    this.rings.reset();
    this.seen = 0;
  }
}

export class InferencePool {
  readonly size: number;
  private readonly piscina: Piscina;
  private readonly control: BroadcastChannel;
  private readonly links: WorkerLink[] = [];
  /** Batches waiting for a free slot in any worker. */
  private readonly waiting: Task[] = [];
  private closed = false;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingBroadcast>();
  /** Threads alive now (piscina's workerCreate / workerDestroy). */
  private readonly live = new Set<number>();
  /** Versions every worker holds (or is loading): what a replacement worker loads first. */
  private readonly versions = new Map<string, HeldVersion>();
  /** Batches in the workers' slots, all links together. */
  private running = 0;
  readonly settleWait = new SettleWait();
  /** How many times an idle worker was rung ahead of a batch (wakeIdleWorker; tests read it). */
  wakeRings = 0;

  constructor(workers: number, private readonly options: PoolOptions = {}) {
    this.size = workers;
    // A channel per pool, so two gateways in one process never count each other's workers.
    const channel = `${CONTROL_CHANNEL}:${process.pid}:${poolCounter++}`;
    this.control = new BroadcastChannel(channel);
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      workerData: { channel },
      minThreads: workers,
      maxThreads: workers,
      // One serving task per worker, for the pool's whole life.
      concurrentTasksPerWorker: 1,
      // Piscina's own task hand-off; the serving task waits on its slots itself (worker.ts),
      // turning the worker's event loop often enough for the control channel (loads, unloads).
      atomics: 'async',
      idleTimeout: Infinity,
    });
    // Piscina's worker handle names the thread's threadId `id`.
    this.piscina.on('workerCreate', (worker: { id: number }) => this.live.add(worker.id));
    this.piscina.on('workerDestroy', (worker: { id: number }) => this.workerGone(worker.id));
    // Without a listener an 'error' event (a worker failing outside a task) would end the process.
    this.piscina.on('error', (error: unknown) => this.options.onWorkerError?.(error));
    this.control.onmessage = (event: unknown) => {
      try {
        this.onControl((event as { data: ControlReply | ControlMessage }).data);
      } catch (error) {
        this.options.onWorkerError?.(error);
      }
    };
    (this.control as unknown as { unref?: () => void }).unref?.();
    for (let i = 0; i < workers; i++) {
      const link = new WorkerLink(createChannel(Math.max(1, options.slotsPerWorker ?? 2)));
      this.links.push(link);
      this.serve(link);
      void this.watch(link);
    }
  }

  /** Lingers of all workers after answering, and those that caught the next batch (worker.ts; tests read it). */
  lingerCounts(): { lingers: number; catches: number } {
    let lingers = 0;
    let catches = 0;
    for (const link of this.links) {
      const counts = link.rings.lingerCounts();
      lingers += counts.lingers;
      catches += counts.catches;
    }
    return { lingers, catches };
  }

  /** Runs one batch on the worker with the fewest batches, or queues it until a slot frees; resolves to its outputs. */
  run(key: string, path: string, inputs: WireTensor[], options: RunOptions = {}): Promise<WireTensor[]> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error('the inference pool is closed'));
        return;
      }
      const task: Task = {
        request: { key, path, inputs, countBins: options.onBins !== undefined }, onBins: options.onBins, submittedAt: 0, resolve, reject,
      };
      this.reap();
      let best: WorkerLink | undefined;
      for (const link of this.links) if (link.free.length && (!best || link.running.size < best.running.size)) best = link;
      if (!best) {
        this.waiting.push(task);
        return;
      }
      // Decided before submitting: the budget compares the event loop's idle time with the last submission's.
      const ms = options.alone && this.running === 0 && this.waiting.length === 0 ? this.settleWait.budget(key) : 0;
      this.settleWait.submitted();
      // A batch worth polling for is one client's, waited on: its next request will follow the
      // answer closely, and the worker lingers for it.
      this.submit(best, task, ms > 0);
      if (ms > 0) this.waitAlone(best, ms);
    });
  }

  /**
   * A request has arrived and its batch is on the way: with every worker idle, wakes the one it
   * will go to, so that the worker's wake-up overlaps the main thread's reading and decoding
   * instead of following the submission (at one connection, most of the hop; worker.ts polls
   * briefly once rung). Only at low load, when the event loop sat idle since the last batch
   * (under load a worker woken early would poll while the batch fills, on a core the rest of
   * the machine needs). A ring that no batch followed (a refused request) is not repeated
   * before the next submission, so invalid traffic cannot keep a worker polling.
   */
  wakeIdleWorker(): void {
    if (this.running !== 0 || this.waiting.length !== 0) return;
    const link = this.links[0]!; // where run() sends a batch when all are idle
    if (link.ringUnanswered || !this.settleWait.idleSinceLastBatch()) return;
    link.ringUnanswered = true;
    this.wakeRings++;
    link.rings.ring();
  }

  /** Polls for the answer of the one batch in flight, for at most `ms`; settles it if it came. */
  private waitAlone(link: WorkerLink, ms: number): void {
    if (link.running.size !== 1) return; // the submission failed
    this.settleWait.waits++;
    if (!link.rings.spinFor(COMPLETED, link.seen, ms)) return; // the watcher settles it later
    this.reapLink(link);
    this.feed(link);
  }

  /**
   * Settles every batch a worker has finished and frees its slot, now. The watchers do it when
   * the event loop gets to them; calling it also while the main thread is busy for a long
   * event-loop turn keeps the workers fed without waiting for the turn to end.
   */
  reap(): void {
    for (const link of this.links) {
      this.reapLink(link);
      this.feed(link);
    }
  }

  /** Loads a model version into every worker; resolves once all of them hold a session. */
  async loadEverywhere(key: string, path: string, binning?: FeatureBinning): Promise<void> {
    await this.ready();
    const version: HeldVersion = { key, path, binning };
    this.versions.set(key, version);
    const errors = await this.broadcast({ op: 'load', ...version, requestId: this.nextRequestId++ }, new Set(this.live));
    if (errors.length) {
      this.versions.delete(key);
      throw new Error(errors[0]);
    }
  }

  async unloadEverywhere(key: string): Promise<void> {
    this.versions.delete(key);
    this.settleWait.forget(key);
    const errors = await this.broadcast({ op: 'unload', key, requestId: this.nextRequestId++ }, new Set(this.live));
    if (errors.length) throw new Error(errors[0]);
  }

  /** Resolves when every worker thread is up and listening on the control channel. */
  async ready(): Promise<void> {
    // Workers start asynchronously; ping until all answer (a worker still importing misses a ping).
    const deadline = Date.now() + CONTROL_TIMEOUT_MS;
    for (;;) {
      try {
        await this.broadcast({ op: 'ping', requestId: this.nextRequestId++ }, null, 250);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error('inference workers did not start', { cause: error });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.waiting.splice(0)) task.reject(new Error('the inference pool is closed'));
    for (const link of this.links) {
      link.rings.stop();
      Atomics.notify(link.rings.cells, COMPLETED); // ends watch()
    }
    this.control.close();
    await this.piscina.close();
  }

  private submit(link: WorkerLink, task: Task, linger = false): void {
    const slot = link.free.pop()!;
    try {
      writeRequest(link.channel.slots[slot]!, task.request);
    } catch (error) {
      link.free.push(slot);
      task.reject(error as Error);
      return;
    }
    link.running.set(slot, task);
    link.ringUnanswered = false;
    this.running++;
    task.submittedAt = performance.now();
    link.rings.submit(slot, linger);
  }

  /**
   * Runs the worker's serving task. It ends only when its thread dies (or the pool closes):
   * then the batch it was running fails, the batches it had not started go back to the queue,
   * and the task starts again on piscina's replacement thread, which loads every version first
   * (hello / sync below).
   */
  private serve(link: WorkerLink): void {
    this.piscina.run({ channel: link.channel }).catch((error: Error) => {
      if (this.closed) return;
      const failure = new Error(`the inference worker exited (${error?.message ?? error})`);
      this.reapLink(link);
      const started = link.rings.count(STARTED);
      const unstarted: Task[] = [];
      for (let n = link.seen; n !== link.rings.count(SUBMITTED); n = (n + 1) | 0) {
        const slot = link.rings.submitted(n);
        const task = link.running.get(slot)!;
        // Submission n had started if the worker took it (n < started, counting with wraparound).
        if (((n - started) | 0) < 0) task.reject(failure);
        else unstarted.push(task);
      }
      this.running -= link.running.size;
      link.reset();
      this.waiting.unshift(...unstarted);
      this.serve(link);
      this.feed(link);
    });
  }

  /** Waits for the worker to complete slots, and reaps them. */
  private async watch(link: WorkerLink): Promise<void> {
    while (!this.closed) {
      await link.rings.changed(COMPLETED, link.seen);
      this.reapLink(link);
      this.feed(link);
    }
  }

  private reapLink(link: WorkerLink): void {
    const completed = link.rings.count(COMPLETED);
    while (link.seen !== completed) {
      const slot = link.rings.completed(link.seen);
      link.seen = (link.seen + 1) | 0;
      const task = link.running.get(slot);
      if (!task) continue;
      link.running.delete(slot);
      this.running--;
      this.settleWait.observe(task.request.key, performance.now() - task.submittedAt);
      let answer: BatchAnswer;
      try {
        answer = readAnswer(link.channel.slots[slot]!, task.onBins);
      } catch (error) {
        // The bins' consumer (or the slot) failed: this batch fails, the slot and the other batches do not.
        answer = { ok: false, error: `reading the batch's answer failed: ${(error as Error)?.message ?? error}` };
      }
      link.free.push(slot);
      if (answer.ok) task.resolve(answer.outputs);
      else task.reject(new Error(answer.error));
    }
  }

  private feed(link: WorkerLink): void {
    while (link.free.length && this.waiting.length) this.submit(link, this.waiting.shift()!);
  }

  private onControl(message: ControlReply | ControlMessage): void {
    if (message.op === 'hello') {
      // A new thread (a replacement, or one still starting): give it every version to load.
      this.control.postMessage({
        op: 'sync', requestId: this.nextRequestId++, threadId: message.threadId, versions: [...this.versions.values()],
      } satisfies ControlMessage);
      return;
    }
    if (message.op !== 'ack') return;
    const pending = this.pending.get(message.requestId);
    if (!pending) return;
    pending.acks.add(message.threadId);
    if (message.error) pending.errors.push(message.error);
    this.settle(message.requestId, pending);
  }

  private workerGone(threadId: number): void {
    this.live.delete(threadId);
    if (!this.closed) this.options.onWorkerExit?.(threadId, 'worker thread exited');
    // A broadcast waiting on the dead thread waits no longer; its replacement syncs on start.
    for (const [requestId, pending] of this.pending) {
      pending.expected?.delete(threadId);
      this.settle(requestId, pending);
    }
  }

  private settle(requestId: number, pending: PendingBroadcast): void {
    const complete = pending.expected
      ? [...pending.expected].every((id) => pending.acks.has(id))
      : pending.acks.size >= this.size;
    if (!complete) return;
    this.pending.delete(requestId);
    pending.done(pending.errors);
  }

  private broadcast(message: ControlMessage, expected: Set<number> | null, timeoutMs = CONTROL_TIMEOUT_MS): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(message.requestId);
        reject(new Error(`inference workers did not answer '${message.op}' within ${timeoutMs} ms`));
      }, timeoutMs);
      // Kept referenced: while the gateway waits on workers, nothing else holds the process open.
      const pending: PendingBroadcast = {
        acks: new Set(), expected, errors: [],
        done: (errors) => { clearTimeout(timer); resolve(errors); },
      };
      this.pending.set(message.requestId, pending);
      this.control.postMessage(message);
      if (expected) this.settle(message.requestId, pending); // no live thread to wait for
    });
  }
}
