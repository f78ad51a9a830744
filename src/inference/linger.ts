// Whether a worker, having answered a batch, polls for the next one for a moment (lingers)
// instead of going to sleep. The main thread asks for it when the batch was one client's,
// waited on (pool.ts): that client's next request follows the answer by a round trip (≈ 0.1
// ms here), and a worker asleep meanwhile must be woken for it; on a VM the wake-up of an
// idle core is most of the hop. Lingering keeps the core awake: measured at one connection,
// p50 0.197 → 0.142 ms, and less CPU per request (the main thread polls less for answers).
//
// Whether lingering pays is judged by its catches, as a moving average: at one connection
// here ≈ 95 % of lingers catch the next batch; with a client slower than LINGER_MS, none do.
// Below half, the worker rests from lingering for LINGER_REST batches, then tries again. The
// trial is not a single linger now and then: such lone lingers, between batches answered
// asleep, missed most batches even at one connection (measured; the client's turn-around is
// slower while the worker sleeps between batches), so a trial lingers until the average
// decides, at least 11 times. A slow client costs a worker about 11 lingers per LINGER_REST
// batches: ≈ 0.01 ms of polling per batch.
// The worker's loop uses it; it knows nothing but counts.

/** How long one linger polls for the next batch. */
export const LINGER_MS = 0.25;
/** Batches answered without lingering after lingering stopped paying. */
export const LINGER_REST = 256;
/** Weight of the newest linger in the moving average of catches. */
const WEIGHT = 1 / 16;

export class LingerPolicy {
  /** Moving average of lingers that caught the next batch (1 = all). */
  private catchRate = 1;
  private restLeft = 0;

  /** A batch was answered: whether to linger now (`asked`: the main thread asked for it). */
  afterBatch(asked: boolean): boolean {
    if (this.restLeft > 0) {
      this.restLeft--;
      return false;
    }
    return asked;
  }

  /** A linger ended: it caught the next batch, or LINGER_MS passed. */
  record(caught: boolean): void {
    this.catchRate += ((caught ? 1 : 0) - this.catchRate) * WEIGHT;
    if (this.catchRate < 0.5) {
      this.restLeft = LINGER_REST;
      this.catchRate = 1;
    }
  }
}
