// Load shedding for the main thread, the one place every request's HTTP, parsing and encoding
// happen. Requests the event loop has not reached yet wait in socket buffers, where no queue
// limit sees them; but every request handled late in a long event-loop turn was ready when the
// turn began, so the turn's age is a lower bound on its wait. A request that has waited longer
// than `afterMs` is refused (admission by queue time), except the first BACKLOG requests of a
// turn: a burst from a few dozen connections, or a busy machine descheduling the process, is
// served whatever it costs. A refused request is turned away before its body is parsed (the
// exchange drains the body without keeping it), and its 503 is held back for `holdMs`: a client
// that retries at once (most load generators, many SDKs) would otherwise turn the refusals into
// a second overload, while the requests admitted meanwhile are served within a few turns
// instead of behind every connection.
//
// Held refusals hide the backlog: while hundreds of clients wait for their 503, turns look
// short, until the held clients return at once. So once it has refused, the shedder stays
// refusing for as long as it keeps refusing (CoDel's dropping state), and meanwhile a turn
// admits only until it is half of `afterMs` old (beyond its first few requests), which keeps
// the admitted requests' wait short. A load the main thread keeps up with rarely has turns
// that old, so the state ends within `holdMs` and a grace period after the overload does.
// The bench's overload group measures goodput and admitted latency (README → Performance).
import { overloaded } from '../errors.js';
import type { Exchange } from './exchange.js';

/** Requests of a turn that are never refused. */
const BACKLOG = 64;
/** Requests of a turn that are never refused while refusing already. */
const BACKLOG_WHILE_REFUSING = 8;
/** How long the refusing state outlasts the last refusal's hold: its client returns into it. */
const REFUSING_GRACE_MS = 100;

export class MainThreadShedder {
  private turnStartedAt = -1;
  private handledInTurn = 0;
  /** Until when the shedder stays refusing (each refusal moves it on), or -1. */
  private refusingUntil = -1;
  private readonly endTurn = () => {
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
      this.atTurnEnd(this.endTurn);
    }
    this.handledInTurn++;
    const age = now - this.turnStartedAt;
    const refuse = now < this.refusingUntil
      ? this.handledInTurn > BACKLOG_WHILE_REFUSING && age > this.afterMs / 2
      : this.handledInTurn > BACKLOG && age > this.afterMs;
    if (refuse) this.refusingUntil = now + this.holdMs + REFUSING_GRACE_MS;
    return refuse;
  }
}
