// When one batch is all the work there is (one connection, typically), the main thread has
// nothing to do until the worker answers. Polling the completion counter for that long (tens
// of microseconds for a small model) lets it settle the batch, and write the response, in the
// same event-loop turn it submitted the batch in. Sleeping instead, in Atomics.wait or in the
// event loop, costs a thread wake-up that is most of the hop at low load (measured: blocking in
// Atomics.wait gained nothing over the event loop; polling did). The price: a request that
// arrives meanwhile is read up to WAIT_CAP_MS later, and the main thread's core is busy while
// it polls. So the pool polls only when the batch holds one request, nothing else is queued or
// in flight, the machine has a core for the worker besides the polling main thread, the
// version's last batch came back within the cap (a slow model is never polled for), and the
// event loop sat idle since the previous batch went out: with one connection it waits for the
// client's next request; with a few connections that alone is not true (the next request is
// already in the socket while the main thread handles this one), and polling would only hold
// it up.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

/** The longest the main thread polls for one batch. */
export const WAIT_CAP_MS = 0.3;
/** Event-loop idle time since the previous batch that counts as "waiting for the client". */
export const MIN_IDLE_MS = 0.01;

export class SettleWait {
  /** Per version: how long its last batch took, submit to settle, in ms. */
  private readonly last = new Map<string, number>();
  /** Polls begun (tests read it). */
  waits = 0;
  /** The event loop's idle time (ms) when the previous batch was submitted. */
  private idleMark = 0;

  constructor(private readonly enabled = availableParallelism() > 1) {}

  /** A batch goes out: marks the event loop's idle time, for the next batch's budget. */
  submitted(): void {
    if (!this.enabled) return;
    this.idleMark = performance.eventLoopUtilization().idle;
  }

  /** Milliseconds worth polling for a batch of `key` (0: do not). Call before submitted(). */
  budget(key: string): number {
    if (!this.enabled) return 0;
    const last = this.last.get(key);
    if (last === undefined || last >= WAIT_CAP_MS) return 0;
    return this.idleSinceLastBatch() ? WAIT_CAP_MS : 0;
  }

  /** Whether the event loop sat idle since the previous batch went out: the main thread was waiting for its clients. */
  idleSinceLastBatch(): boolean {
    return this.enabled && performance.eventLoopUtilization().idle - this.idleMark >= MIN_IDLE_MS;
  }

  observe(key: string, ms: number): void {
    this.last.set(key, ms);
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}
