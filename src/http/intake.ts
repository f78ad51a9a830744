// Every request body being received, across all connections: a global byte budget (a body
// that does not fit is refused with 503 instead of growing memory without bound) and a body
// deadline of Vigil's own (408), shorter than the fixed idle timeout after which uWebSockets.js
// cuts a connection without a word. One sweep timer serves every body; a body that arrives in
// one piece (the common case) costs two integer operations and a Set insert and delete.

/** A body the intake watches: told once when its deadline passes. */
export interface ReceivingBody {
  readonly startedAt: number;
  bodyTimedOut(): void;
}

export class BodyIntake {
  /** Bytes reserved by bodies being received (declared Content-Length, or chunks so far). */
  private reserved = 0;
  private readonly receiving = new Set<ReceivingBody>();
  private sweeper: NodeJS.Timeout | null = null;
  /** Between start() and stop(): the sweep runs whenever a body is being received. */
  private started = false;

  constructor(
    /** --receive-budget */
    readonly budgetBytes: number,
    /** --body-timeout-ms */
    readonly timeoutMs: number,
    private readonly onSweepError: (error: unknown) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Claims `bytes` of the budget; false (nothing claimed) when they do not fit. */
  reserve(bytes: number): boolean {
    if (this.reserved + bytes > this.budgetBytes) return false;
    this.reserved += bytes;
    return true;
  }

  release(bytes: number): void {
    this.reserved -= bytes;
  }

  track(body: ReceivingBody): void {
    this.receiving.add(body);
    if (this.sweeper === null && this.started) this.startSweeper();
  }

  untrack(body: ReceivingBody): void {
    this.receiving.delete(body);
  }

  /**
   * Starts enforcing the body deadline: a sweep every quarter of it (at most every 250 ms)
   * while any body is being received. A sweep that finds none stops the timer until the next
   * body, so an idle server is not woken for it.
   */
  start(): void {
    this.started = true;
    if (this.sweeper === null && this.receiving.size > 0) this.startSweeper();
  }

  stop(): void {
    this.started = false;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private startSweeper(): void {
    this.sweeper = setInterval(() => this.sweep(), Math.min(250, Math.max(10, this.timeoutMs / 4)));
    this.sweeper.unref();
  }

  private sweep(): void {
    if (this.receiving.size === 0) {
      clearInterval(this.sweeper!);
      this.sweeper = null;
      return;
    }
    const expired = this.now() - this.timeoutMs;
    for (const body of this.receiving) {
      if (body.startedAt > expired) continue;
      this.receiving.delete(body);
      // A timer callback is a uWS-free zone but still must not end the process.
      try {
        body.bodyTimedOut();
      } catch (error) {
        this.onSweepError(error);
      }
    }
  }
}
