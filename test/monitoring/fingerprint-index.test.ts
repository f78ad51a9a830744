import { describe, expect, it } from 'vitest';
import { FingerprintIndex } from '../../src/monitoring/fingerprint-index.js';
import { mulberry32 } from '../helpers/random.js';

describe('FingerprintIndex', () => {
  it('agrees with a Map through random sets, replacements and removals (backward-shift deletion, seeded)', () => {
    const r = mulberry32(5);
    const slots = 512;
    const index = new FingerprintIndex(slots);
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
});
