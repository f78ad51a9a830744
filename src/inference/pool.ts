// The worker pool: piscina threads that own the ORT sessions. The main thread never runs a
// model. Piscina starts the threads and runs one long task in each, which serves batches
// through shared slots (slab.ts): writing a batch into a slot and bumping a counter replaces a
// postMessage per batch (≈ 22 µs of main-thread CPU per round trip to an idle worker here,
// measured, against ≈ 6 µs), and a worker still busy with one batch finds the next without
// being woken.
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { CONTROL_CHANNEL, type ControlMessage, type ControlReply, type FeatureBinning } from './protocol.js';
import { COMPLETED, createChannel, readAnswer, Rings, writeRequest, type BatchRequest, type Channel, type FeatureBins } from './slab.js';
import type { WireTensor } from './tensors.js';

const WORKER_FILE = new URL('./worker.js', import.meta.url).href;
const CONTROL_TIMEOUT_MS = 60_000;
let poolCounter = 0;

export interface RunOutcome {
  outputs: WireTensor[];
  /** Bin counts of the feature rows, when asked for and the version has a binning. */
  bins: FeatureBins | null;
}

interface Task {
  request: BatchRequest;
  resolve: (outcome: RunOutcome) => void;
  reject: (error: Error) => void;
}

/** The main thread's side of one worker: its slots, which are free, and what runs in the others. */
class WorkerLink {
  readonly rings: Rings;
  readonly free: number[];
  readonly running = new Map<number, Task>();
  /** Completions already read. */
  seen = 0;

  constructor(readonly channel: Channel) {
    this.rings = new Rings(channel);
    this.free = channel.slots.map((_, i) => i).reverse();
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
  private readonly pending = new Map<number, { acks: Set<number>; errors: string[]; done: (errors: string[]) => void }>();

  /** `slotsPerWorker`: batches a worker holds at once (one running, the next ones ready). */
  constructor(workers: number, slotsPerWorker = 2) {
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
      // The serving task waits on its slots asynchronously, keeping the worker's event loop
      // (and with it the control channel that loads and unloads sessions) turning.
      atomics: 'async',
      idleTimeout: Infinity,
    });
    this.control.onmessage = (event: unknown) => {
      const reply = (event as { data: ControlReply | ControlMessage }).data;
      if (reply.op !== 'ack') return;
      const pending = this.pending.get(reply.requestId);
      if (!pending) return;
      pending.acks.add(reply.threadId);
      if (reply.error) pending.errors.push(reply.error);
      if (pending.acks.size >= this.size) {
        this.pending.delete(reply.requestId);
        pending.done(pending.errors);
      }
    };
    (this.control as unknown as { unref?: () => void }).unref?.();
    for (let i = 0; i < workers; i++) {
      const link = new WorkerLink(createChannel(Math.max(1, slotsPerWorker)));
      this.links.push(link);
      this.serve(link);
      void this.watch(link);
    }
  }

  /** Runs one batch on the worker with the fewest batches, or queues it until a slot frees. */
  run(key: string, path: string, inputs: WireTensor[], options: { countBins?: boolean } = {}): Promise<RunOutcome> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error('the inference pool is closed'));
        return;
      }
      const task: Task = { request: { key, path, inputs, countBins: options.countBins ?? false }, resolve, reject };
      this.reap();
      let best: WorkerLink | undefined;
      for (const link of this.links) if (link.free.length && (!best || link.running.size < best.running.size)) best = link;
      if (best) this.submit(best, task);
      else this.waiting.push(task);
    });
  }

  /** Loads a model version into every worker; resolves once all of them hold a session. */
  async loadEverywhere(key: string, path: string, binning?: FeatureBinning): Promise<void> {
    await this.ready();
    const errors = await this.broadcast({ op: 'load', key, path, binning, requestId: this.nextRequestId++ });
    if (errors.length) throw new Error(errors[0]);
  }

  async unloadEverywhere(key: string): Promise<void> {
    const errors = await this.broadcast({ op: 'unload', key, requestId: this.nextRequestId++ });
    if (errors.length) throw new Error(errors[0]);
  }

  /** Resolves when every worker thread is up and listening on the control channel. */
  async ready(): Promise<void> {
    // Workers start asynchronously; ping until all answer (a worker still importing misses a ping).
    const deadline = Date.now() + CONTROL_TIMEOUT_MS;
    for (;;) {
      try {
        await this.broadcast({ op: 'ping', requestId: this.nextRequestId++ }, 250);
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

  private submit(link: WorkerLink, task: Task): void {
    const slot = link.free.pop()!;
    try {
      writeRequest(link.channel.slots[slot]!, task.request);
    } catch (error) {
      link.free.push(slot);
      task.reject(error as Error);
      return;
    }
    link.running.set(slot, task);
    link.rings.submit(slot);
  }

  /** Starts the worker's serving task; should it ever fail, its batches fail and it restarts. */
  private serve(link: WorkerLink): void {
    this.piscina.run({ channel: link.channel }).catch((error: Error) => {
      if (this.closed) return;
      link.rings.reset();
      link.seen = 0;
      for (const [slot, task] of link.running) {
        link.free.push(slot);
        task.reject(new Error(`inference worker failed: ${error.message}`));
      }
      link.running.clear();
      this.serve(link);
      this.feed(link);
    });
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
      const answer = readAnswer(link.channel.slots[slot]!);
      link.free.push(slot);
      if (answer.ok) task.resolve({ outputs: answer.outputs, bins: answer.bins });
      else task.reject(new Error(answer.error));
    }
  }

  private feed(link: WorkerLink): void {
    while (link.free.length && this.waiting.length) this.submit(link, this.waiting.shift()!);
  }

  private broadcast(message: ControlMessage, timeoutMs = CONTROL_TIMEOUT_MS): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(message.requestId);
        reject(new Error(`inference workers did not answer '${message.op}' within ${timeoutMs} ms`));
      }, timeoutMs);
      // Kept referenced: while the gateway waits on workers, nothing else holds the process open.
      this.pending.set(message.requestId, {
        acks: new Set(), errors: [],
        done: (errors) => { clearTimeout(timer); resolve(errors); },
      });
      this.control.postMessage(message);
    });
  }
}
