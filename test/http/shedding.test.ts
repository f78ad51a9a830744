// The main-thread shedding policy on an injected clock and injected turn ends: a single long
// turn (a burst) refuses nothing; turns that stay too long for the whole interval refuse the
// requests beyond the first 64 of a turn; one short turn ends it.
import { describe, expect, it } from 'vitest';
import { MainThreadShedder } from '../../src/http/shedding.js';

function simulation(afterMs = 20) {
  let now = 1_000;
  let endTurn: (() => void) | null = null;
  const shedder = new MainThreadShedder(afterMs, 250, () => now, (callback) => { endTurn = callback; });
  /** One event-loop turn handling `requests` requests of `costMs` each; returns how many were refused. */
  const turn = (requests: number, costMs: number): number => {
    let refused = 0;
    for (let i = 0; i < requests; i++) {
      if (shedder.overloaded()) refused++;
      now += costMs;
    }
    endTurn?.();
    endTurn = null;
    return refused;
  };
  return { turn };
}

describe('MainThreadShedder', () => {
  it('refuses nothing in one long turn: a burst is not overload', () => {
    const { turn } = simulation();
    expect(turn(500, 0.5)).toBe(0); // 250 ms in one turn
    expect(turn(10, 0.1)).toBe(0);
  });

  it('refuses beyond the first 64 requests of a turn once turns have been too long for 100 ms', () => {
    const { turn } = simulation();
    const refused = Array.from({ length: 6 }, () => turn(200, 0.5)); // 100 ms turns
    expect(refused[0]).toBe(0); // the first long turn starts the interval
    for (const r of refused.slice(1)) expect(r).toBe(200 - 64);
  });

  it('never refuses the requests of up to 64 connections, however long their turns', () => {
    const { turn } = simulation();
    for (let i = 0; i < 20; i++) expect(turn(64, 2)).toBe(0);
  });

  it('stops refusing after one short turn, and needs a whole interval again to start', () => {
    const { turn } = simulation();
    turn(200, 0.5);
    expect(turn(200, 0.5)).toBeGreaterThan(0);
    expect(turn(100, 0.1)).toBe(0); // 10 ms: short
    expect(turn(200, 0.5)).toBe(0); // too long again, but not yet for a whole interval
    expect(turn(200, 0.5)).toBeGreaterThan(0);
  });

  it('is off with afterMs 0', () => {
    const { turn } = simulation(0);
    for (let i = 0; i < 5; i++) expect(turn(300, 1)).toBe(0);
  });
});
