// Writing an answer as one send. uWS buffers a response's status line, headers and body while
// its socket is corked, and corks one socket at a time: while it is inside a callback for one
// socket (whose data it keeps corked), res.cork on any other response cannot cork, and every
// piece of that response goes out in its own send() (about 30 for an answer with 4 headers;
// strace showed it on v2 infer with 64-row bodies, where it cost a third of the main thread).
// Node runs pending promise reactions at the end of each uWS callback, still inside it, so an
// answer that settles there (a batch reaped while another request's body arrived) is written
// while another socket is corked. Such writes wait for the check phase of this event-loop
// turn, when uWS has finished with its sockets; every other write goes out at once.
import type { HttpResponse } from 'uWebSockets.js';

/** The response of the socket whose uWS callback ran last: the one uWS may still have corked. */
let lastCallbackOf: HttpResponse | null = null;
const lateWrites: (() => void)[] = [];

/** Called as every uWS callback for a socket begins. */
export function enteringCallbackOf(res: HttpResponse): void {
  lastCallbackOf = res;
}

/** Runs `write` (which corks `res` and writes the whole answer) now, or at this turn's check phase if another socket may be corked. */
export function writeCorked(res: HttpResponse, write: () => void): void {
  if (lastCallbackOf === null || lastCallbackOf === res) {
    write();
    return;
  }
  if (lateWrites.push(write) === 1) setImmediate(writeLate);
}

function writeLate(): void {
  lastCallbackOf = null;
  const writes = lateWrites.splice(0);
  for (const write of writes) write();
}
