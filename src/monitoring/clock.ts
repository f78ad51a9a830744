/**
 * Injectable time source (milliseconds). Monitoring windows take a Clock instead of calling
 * Date.now() so tests can move time deterministically, without sleeping.
 */
export type Clock = () => number;

/** Wall-clock milliseconds; slice boundaries then line up across processes and restarts. */
export const systemClock: Clock = () => Date.now();

/** How often coarseClock's reading is refreshed. */
export const COARSE_CLOCK_MS = 10;
let coarseNow = 0;
let refresher: NodeJS.Timeout | null = null;
/** Reads since the last refresh: a tick with none stops the timer. */
let reads = 0;

/**
 * Wall-clock milliseconds as of the last tick of a COARSE_CLOCK_MS timer, for the windows the
 * request path feeds (drift slices, latency, data quality, the feedback store): a request
 * reads their clock about five times, at ≈ 80 ns a read here, and they work in slices of
 * seconds or more. The timer is unref'd (it never keeps the process alive); a long event-loop
 * turn delays its tick, so a reading lags by at most that turn. A tick that finds no read
 * since the one before stops the timer, and the next read starts it again from Date.now(): an
 * idle server is not woken a hundred times a second for a clock nobody reads.
 */
export const coarseClock: Clock = () => {
  if (refresher === null) {
    coarseNow = Date.now();
    refresher = setInterval(refreshCoarseClock, COARSE_CLOCK_MS);
    refresher.unref();
  }
  reads++;
  return coarseNow;
};

function refreshCoarseClock(): void {
  if (reads === 0) {
    clearInterval(refresher!);
    refresher = null;
    return;
  }
  reads = 0;
  coarseNow = Date.now();
}

/** Whether the coarse clock's timer is running (tests read it). */
export function coarseClockTicking(): boolean {
  return refresher !== null;
}
