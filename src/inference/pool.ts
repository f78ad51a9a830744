// The worker pool: piscina threads that own the ORT sessions. The main thread never runs a
// model; it hands rows over as transferred typed arrays and gets transferred outputs back.
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { CONTROL_CHANNEL, type ControlMessage, type ControlReply, type RunResult, type RunTask } from './protocol.js';
import { transferables, type WireTensor } from './tensors.js';

const WORKER_FILE = new URL('./worker.js', import.meta.url).href;
const CONTROL_TIMEOUT_MS = 60_000;
let poolCounter = 0;

export class InferencePool {
  readonly size: number;
  private readonly piscina: Piscina;
  private readonly control: BroadcastChannel;
  private nextRequestId = 1;
  private readonly pending = new Map<number, { acks: Set<number>; errors: string[]; done: (errors: string[]) => void }>();

  constructor(workers: number) {
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
    const errors = await this.broadcast({ op: 'load', key, path, requestId: this.nextRequestId++ });
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
    this.control.close();
    await this.piscina.close();
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
