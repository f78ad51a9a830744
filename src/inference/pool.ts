// The worker pool: piscina threads that own the ORT sessions. The main thread never runs a
// model; it hands rows over as transferred typed arrays and gets transferred outputs back.
// A worker that dies (mid-batch or idle) fails only the batch it held; piscina starts a
// replacement, which asks for and loads every version before the pool counts on it, and a
// load or unload in progress stops waiting for the dead thread.
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { CONTROL_CHANNEL, type ControlMessage, type ControlReply, type RunResult, type RunTask } from './protocol.js';
import { transferables, type WireTensor } from './tensors.js';

const WORKER_FILE = new URL('./worker.js', import.meta.url).href;
const CONTROL_TIMEOUT_MS = 60_000;
let poolCounter = 0;

interface PendingBroadcast {
  acks: Set<number>;
  /** Threads that must answer; null = any `size` distinct threads (the start-up ping). */
  expected: Set<number> | null;
  errors: string[];
  done: (errors: string[]) => void;
}

export interface PoolObserver {
  /** A worker thread died; its batch (if any) fails with `error`, a replacement starts. */
  onWorkerExit?(threadId: number, error: string): void;
  onWorkerError?(error: unknown): void;
}

export class InferencePool {
  readonly size: number;
  private readonly piscina: Piscina;
  private readonly control: BroadcastChannel;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingBroadcast>();
  /** Threads alive now (piscina's workerCreate / workerDestroy). */
  private readonly live = new Set<number>();
  /** Versions every worker holds (or is loading): what a replacement worker loads first. */
  private readonly versions = new Map<string, string>();
  private closing = false;

  constructor(workers: number, private readonly observer: PoolObserver = {}) {
    this.size = workers;
    // A channel per pool, so two gateways in one process never count each other's workers.
    const channel = `${CONTROL_CHANNEL}:${process.pid}:${poolCounter++}`;
    this.control = new BroadcastChannel(channel);
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      workerData: { channel },
      minThreads: workers,
      maxThreads: workers,
      // Tasks beyond one per worker wait in piscina's queue; the batcher keeps that short.
      concurrentTasksPerWorker: 1,
      // Piscina's default Atomics.wait blocks an idle worker's event loop, and with it the
      // control channel used to load and unload sessions; 'async' keeps the loop turning.
      atomics: 'async',
      idleTimeout: Infinity,
    });
    // Piscina's worker handle names the thread's threadId `id`.
    this.piscina.on('workerCreate', (worker: { id: number }) => this.live.add(worker.id));
    this.piscina.on('workerDestroy', (worker: { id: number }) => this.workerGone(worker.id));
    // Without a listener an 'error' event (a worker failing outside a task) would end the process.
    this.piscina.on('error', (error: unknown) => this.observer.onWorkerError?.(error));
    this.control.onmessage = (event: unknown) => {
      try {
        this.onControl((event as { data: ControlReply | ControlMessage }).data);
      } catch (error) {
        this.observer.onWorkerError?.(error);
      }
    };
    (this.control as unknown as { unref?: () => void }).unref?.();
  }

  /** Runs one batch on whichever worker is free next. */
  async run(key: string, path: string, inputs: WireTensor[], outputNames?: string[]): Promise<WireTensor[]> {
    const task: RunTask = { key, path, inputs, outputNames };
    const result = (await this.piscina.run(task, { transferList: transferables(inputs) })) as RunResult;
    return result.outputs;
  }

  /** Loads a model version into every worker; resolves once all of them hold a session. */
  async loadEverywhere(key: string, path: string): Promise<void> {
    await this.ready();
    this.versions.set(key, path);
    const errors = await this.broadcast({ op: 'load', key, path, requestId: this.nextRequestId++ }, new Set(this.live));
    if (errors.length) {
      this.versions.delete(key);
      throw new Error(errors[0]);
    }
  }

  async unloadEverywhere(key: string): Promise<void> {
    this.versions.delete(key);
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
    this.closing = true;
    this.control.close();
    await this.piscina.close();
  }

  private onControl(message: ControlReply | ControlMessage): void {
    if (message.op === 'hello') {
      // A new thread (a replacement, or one still starting): give it every version to load.
      this.control.postMessage({
        op: 'sync', requestId: this.nextRequestId++, threadId: message.threadId, versions: [...this.versions],
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
    if (!this.closing) this.observer.onWorkerExit?.(threadId, 'worker thread exited');
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
