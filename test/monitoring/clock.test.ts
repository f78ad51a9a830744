// The monitoring windows' clock in the server (clock.ts coarseClock): a timer-refreshed reading
// of the wall clock, never behind it by more than the refresh period plus the event loop's lag,
// and no timer at all while nobody reads it.
import { expect, it } from 'vitest';
import { COARSE_CLOCK_MS, coarseClock, coarseClockTicking } from '../../src/monitoring/clock.js';
import { pollUntil } from '../helpers/poll.js';

it('reads the wall clock as of its last refresh, and keeps refreshing', async () => {
  const before = Date.now();
  const first = coarseClock();
  expect(first).toBeGreaterThanOrEqual(before - COARSE_CLOCK_MS - 50);
  expect(first).toBeLessThanOrEqual(Date.now());
  // Synchronous code sees one reading: no OS clock read per call.
  expect(coarseClock()).toBe(first);
  const later = await pollUntil('the coarse clock to move', () => (coarseClock() > first ? coarseClock() : undefined), 5000, COARSE_CLOCK_MS);
  const wall = Date.now();
  expect(later).toBeLessThanOrEqual(wall);
  // Right after a timer turn (the poll's own), the reading is at most one period (and some slack) old.
  expect(wall - later).toBeLessThan(COARSE_CLOCK_MS + 50);
});

it('stops its timer when nobody reads it, and reads the wall clock afresh when read again', async () => {
  coarseClock();
  expect(coarseClockTicking()).toBe(true);
  // No reads: the next tick finds none since the one before and stops the timer.
  await pollUntil('the coarse clock to stop', () => (coarseClockTicking() ? undefined : true), 5000, COARSE_CLOCK_MS);
  await new Promise((resolve) => setTimeout(resolve, 3 * COARSE_CLOCK_MS));
  expect(coarseClockTicking()).toBe(false);
  const before = Date.now();
  const reading = coarseClock();
  // Not the reading from before it stopped: the wall clock now.
  expect(reading).toBeGreaterThanOrEqual(before);
  expect(reading).toBeLessThanOrEqual(Date.now());
  expect(coarseClockTicking()).toBe(true);
});
