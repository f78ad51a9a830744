// The main-thread shedding policy on an injected clock and injected turn ends: requests that
// have waited longer than afterMs (the turn's age) are refused beyond the first 64 of a turn;
// once refusing, a turn admits its first 8 and then only until half of afterMs, for as long as
// refusals go on and holdMs plus 100 ms after the last.
import { describe, expect, it } from 'vitest';
import { MainThreadShedder } from '../../src/http/shedding.js';

const HOLD_MS = 250;

function simulation(afterMs = 20) {
  let now = 1_000;
  let endTurn: (() => void) | null = null;
  const shedder = new MainThreadShedder(afterMs, HOLD_MS, () => now, (callback) => { endTurn = callback; });
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
  const idle = (ms: number) => { now += ms; };
  return { turn, idle };
}

describe('MainThreadShedder', () => {
  it('never refuses the first 64 requests of a turn, however long they take', () => {
    const { turn } = simulation();
    for (let i = 0; i < 20; i++) expect(turn(64, 2)).toBe(0); // 128 ms turns
  });

  it('refuses the requests beyond the first 64 of a turn that waited longer than afterMs', () => {
    const { turn } = simulation();
    expect(turn(60, 0.1)).toBe(0); // 6 ms: nobody waited long
    expect(turn(200, 0.05)).toBe(0); // 10 ms: nobody waited long, however many
    // 0.5 ms each: request i has waited i × 0.5 ms, past 20 ms from the 42nd, but the first 64 are kept.
    expect(turn(200, 0.5)).toBe(200 - 64);
  });

  it('while refusing, admits a turn\'s first 8 requests and then only until half of afterMs', () => {
    const { turn } = simulation();
    expect(turn(200, 0.5)).toBe(136);
    // Request i has waited i × 0.5 ms: admitted up to 10 ms, i.e. the first 21.
    expect(turn(100, 0.5)).toBe(100 - 21);
    expect(turn(30, 2)).toBe(30 - 8); // slow requests: the first 8 only
    expect(turn(16, 0.35)).toBe(0); // a turn younger than 10 ms refuses nothing
  });

  it('stays refusing while it refuses, and stops holdMs + 100 ms after the last refusal', () => {
    const { turn, idle } = simulation();
    turn(200, 0.5);
    // Overload goes on: every turn still refuses, so the state outlasts any one hold.
    for (let t = 0; t < 10; t++) { expect(turn(60, 0.5)).toBe(60 - 21); idle(100); }
    // The load falls to what the main thread keeps up with: short turns, nothing refused.
    for (let t = 0; t < 10; t++) { expect(turn(16, 0.35)).toBe(0); idle(5); }
    expect(turn(40, 0.5)).toBe(40 - 21); // still within holdMs + 100 ms of the last refusal
    idle(HOLD_MS + 100);
    expect(turn(40, 0.5)).toBe(0); // the state has ended: 40 requests are within the first 64
  });

  it('is off with afterMs 0', () => {
    const { turn } = simulation(0);
    for (let i = 0; i < 5; i++) expect(turn(300, 1)).toBe(0);
  });
});
