import { describe, expect, it } from 'vitest';
import { FingerprintIndex } from '../../src/monitoring/fingerprint-index.js';
import { mulberry32 } from '../helpers/random.js';

describe('FingerprintIndex', () => {
  it('agrees with a Map through random sets, replacements and removals (backward-shift deletion, seeded)', () => {
    const r = mulberry32(5);
    const slots = 512;
    const index = new FingerprintIndex(slots, new Int32Array([7, 11]));
    const reference = new Map<string, number>(); // key → slot
    const keyOf = new Map<number, string>(); // slot → key
    const free = Array.from({ length: slots }, (_, i) => i);
    let checks = 0;
    for (let step = 0; step < 50_000; step++) {
      const key = `${Math.floor(r() * 2)}|req-${Math.floor(r() * 1500).toString(36)}`;
      const [space, id] = key.split('|') as [string, string];
      const u = r();
      if (u < 0.45 && free.length) {
        const slot = free.pop()!;
        const previous = index.set(Number(space), id, slot);
        const expected = reference.get(key) ?? -1;
        expect(previous).toBe(expected);
        if (expected >= 0) {
          keyOf.delete(expected);
          free.push(expected);
        }
        reference.set(key, slot);
        keyOf.set(slot, key);
      } else if (u < 0.75 && keyOf.size) {
        const slots = [...keyOf.keys()];
        const slot = slots[Math.floor(r() * slots.length)]!;
        index.remove(slot);
        reference.delete(keyOf.get(slot)!);
        keyOf.delete(slot);
        free.push(slot);
      } else {
        expect(index.find(Number(space), id)).toBe(reference.get(key) ?? -1);
        checks++;
      }
    }
    for (const [key, slot] of reference) {
      const [space, id] = key.split('|') as [string, string];
      expect(index.find(Number(space), id)).toBe(slot);
    }
    expect(checks).toBeGreaterThan(10_000);
    // the same id in another namespace is another key
    const small = new FingerprintIndex(4);
    small.set(0, 'a', 1);
    expect(small.find(1, 'a')).toBe(-1);
    expect(small.find(0, 'a')).toBe(1);
  });

  it('agrees with a Map when ids are numbered: a ring of slots reused oldest first, counters with gaps, client ids among them (seeded)', () => {
    // The prediction store's pattern: new predictions take the next ring slot and evict the
    // oldest. Generated ids share a stem and count up in hex (groups of eight share a block);
    // gaps skip whole blocks or wrap the 30 bits the home reads; client ids end in '-', in
    // uppercase hex, in no number, or reuse a live generated id (a replacement).
    for (const seed of [1, 2, 3]) {
      const r = mulberry32(seed);
      const slots = 300;
      const index = new FingerprintIndex(slots, new Int32Array([seed, -seed]));
      const reference = new Map<string, number>();
      const keyOf: (string | undefined)[] = new Array(slots);
      let counter = 0x3ffffff0; // crosses 2^30 within the run
      let next = 0;
      let replaced = 0;
      for (let step = 0; step < 20_000; step++) {
        const u = r();
        const gap = u < 0.02 ? Math.floor(r() * 5000) : u < 0.3 ? Math.floor(r() * 3) : 0;
        counter += 1 + gap;
        const live = [...reference.keys()];
        const key = u < 0.8 ? `0a1b2c3d-${counter.toString(16)}`
          : u < 0.84 && live.length ? live[Math.floor(r() * live.length)]!
          : [`client-${Math.floor(r() * 1e6)}-`, `client-${Math.floor(r() * 1e6).toString(16).toUpperCase()}`,
            `order ${Math.floor(r() * 1e6)}`, `-${Math.floor(r() * 1e6).toString(16)}`][Math.floor(r() * 4)]!;
        const slot = next;
        next = (next + 1) % slots;
        const evicted = keyOf[slot];
        if (evicted !== undefined) {
          index.remove(slot);
          reference.delete(evicted);
        }
        const previous = index.set(0, key, slot);
        const expected = reference.get(key) ?? -1;
        expect(previous).toBe(expected);
        if (expected >= 0) {
          keyOf[expected] = undefined; // replaced: the store skips it when its turn comes
          replaced++;
        }
        reference.set(key, slot);
        keyOf[slot] = key;
        if (step % 200 === 0) {
          for (const [k, s] of reference) expect(index.find(0, k)).toBe(s);
          if (evicted !== undefined && !reference.has(evicted)) expect(index.find(0, evicted)).toBe(-1);
        }
      }
      expect(replaced).toBeGreaterThan(100);
      console.log(`numbered ids, seed ${seed}: longest probe run ${index.longestRun()} of ${slots} keys`);
      expect(index.longestRun()).toBeLessThan(48);
    }
  });

  it('spreads ids a client numbers to collide: numbers that agree in their low bits, or in all but their top digits, get blocks of their own', () => {
    // A home that read only the number's low 30 bits put all of these in one cell (one probe
    // run 2,000 long, walked by every insert); an unseeded hash would let them be chosen offline.
    const index = new FingerprintIndex(4096, new Int32Array([3, 4]));
    for (let k = 0; k < 2000; k++) index.set(0, `x-${(k * 2 ** 30 + 5).toString(16)}`, k);
    for (let k = 0; k < 1000; k++) index.set(0, `y-${k.toString(16)}${'0'.repeat(12)}`, 2000 + k);
    console.log(`crafted numbers: longest probe run ${index.longestRun()} of 3000 keys`);
    expect(index.longestRun()).toBeLessThan(24);
    for (let k = 0; k < 2000; k++) expect(index.find(0, `x-${(k * 2 ** 30 + 5).toString(16)}`)).toBe(k);
    for (let k = 0; k < 1000; k++) expect(index.find(0, `y-${k.toString(16)}${'0'.repeat(12)}`)).toBe(2000 + k);
  });
});
