// Load shedding for the main thread, the one place every request's HTTP, parsing and encoding
// happen. Requests the event loop has not reached yet wait in socket buffers, where no queue
// limit sees them; but every request handled late in a long event-loop turn was ready when the
// turn began, so the turn's age is a lower bound on its wait. As in CoDel, one long turn is a
// burst, not overload: requests are refused only once completed turns have run longer than
// `afterMs` for a whole interval, and only beyond the first BACKLOG requests of a turn (so a
// burst, a busy machine descheduling the process, or the requests of a few dozen connections
// are never refused). A refused request is turned away before its body is parsed (the exchange
// drains the body without keeping it), and its 503 is held back for `holdMs`: a client that
// retries at once (most load generators, many SDKs) would otherwise turn the refusals into a
// second overload, while the requests admitted meanwhile are served within a few turns
// instead of behind every connection (the bench's overload group measures both).
import { overloaded } from '../errors.js';
import type { Exchange } from './exchange.js';

/** How long turns must have been too long before anything is refused (CoDel's interval). */
const INTERVAL_MS = 100;
/** Requests of a turn that are never refused. */
const BACKLOG = 64;

export class MainThreadShedder {
  private turnStartedAt = -1;
  private handledInTurn = 0;
  private turnTooLong = false;
  /** When the run of too-long turns that ended so far began, or -1. */
  private tooLongSince = -1;
  private readonly endTurn = () => {
    if (!this.turnTooLong) this.tooLongSince = -1;
    else if (this.tooLongSince < 0) this.tooLongSince = this.turnStartedAt;
    this.turnStartedAt = -1;
  };

  constructor(
    /** Turn age past which requests count as waiting too long; 0 turns shedding off. */
    private readonly afterMs: number,
    private readonly holdMs: number,
    private readonly now: () => number = () => performance.now(),
    /** Runs a callback when the event loop reaches the end of this turn (its check phase). */
    private readonly atTurnEnd: (callback: () => void) => void = setImmediate,
  ) {}

  /** Refuses the request (answering after holdMs) when the main thread is overloaded; true if it did. */
  shed(exchange: Exchange): boolean {
    if (!this.overloaded()) return false;
    const refusal = overloaded(this.afterMs);
    exchange.discardBody();
    if (this.holdMs > 0) setTimeout(() => exchange.sendError(refusal), this.holdMs);
    else exchange.sendError(refusal);
    return true;
  }

  /** Counts one data-plane request in this turn; true when it should be refused. */
  overloaded(): boolean {
    if (this.afterMs <= 0) return false;
    const now = this.now();
    if (this.turnStartedAt < 0) {
      this.turnStartedAt = now;
      this.handledInTurn = 0;
      this.turnTooLong = false;
      this.atTurnEnd(this.endTurn);
    }
    this.handledInTurn++;
    if (now - this.turnStartedAt <= this.afterMs) return false;
    this.turnTooLong = true;
    // Only after whole turns have been too long: a single long turn is a burst.
    return this.handledInTurn > BACKLOG && this.tooLongSince >= 0 && now - this.tooLongSince >= INTERVAL_MS;
  }
}
