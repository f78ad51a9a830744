import { describe, expect, it } from 'vitest';
import { VersionSplitter, fmix32, murmur3String } from '../../src/routing/split.js';
import { mulberry32 } from '../helpers/random.js';

const keys = (n: number, prefix = 'customer-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function assign(s: VersionSplitter, ks: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const k of ks) m.set(k, s.pick(k));
  return m;
}

describe('murmur3String', () => {
  it('matches the reference MurmurHash3_x86_32 on byte-pair strings', () => {
    // Reference values for MurmurHash3_x86_32 over the UTF-16LE bytes of the string.
    expect(murmur3String('', 0)).toBe(0);
    expect(murmur3String('', 1)).toBe(0x514e28b7);
    // "ab" as UTF-16LE = bytes 61 00 62 00 = one 4-byte block 0x00620061.
    // MurmurHash3_x86_32(bytes [0x61,0,0x62,0], seed 0) computed independently below.
    expect(murmur3String('ab', 0)).toBe(referenceMurmur3([0x61, 0, 0x62, 0], 0));
    expect(murmur3String('abc', 42)).toBe(referenceMurmur3([0x61, 0, 0x62, 0, 0x63, 0], 42));
    expect(murmur3String('héllo wörld ✓', 7)).toBe(referenceMurmur3(utf16le('héllo wörld ✓'), 7));
  });

  it('fmix32 is the murmur3 finalizer', () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
  });
});

describe('VersionSplitter — unkeyed', () => {
  it('100k picks at 90/10 give a 10 % canary share within ±0.5 points', () => {
    const s = new VersionSplitter({ '1': 90, '2': 10 });
    const rnd = mulberry32(12345);
    let canary = 0;
    for (let i = 0; i < 100_000; i++) if (s.pick(undefined, rnd) === '2') canary++;
    expect(Math.abs(canary / 1000 - 10)).toBeLessThanOrEqual(0.5);
  });

  it('honours three weights and ignores zero-weight versions', () => {
    const s = new VersionSplitter({ '1': 50, '2': 30, '3': 20, '4': 0 });
    expect(s.versions).toEqual(['1', '2', '3']);
    const rnd = mulberry32(7);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) {
      const v = s.pick(undefined, rnd);
      counts[v] = (counts[v] ?? 0) + 1;
    }
    expect(counts['4']).toBeUndefined();
    expect(Math.abs(counts['1']! / 1000 - 50)).toBeLessThan(0.6);
    expect(Math.abs(counts['2']! / 1000 - 30)).toBeLessThan(0.6);
    expect(Math.abs(counts['3']! / 1000 - 20)).toBeLessThan(0.6);
  });

  it('maps the random draw through cumulative weights in ascending version order', () => {
    const s = new VersionSplitter({ '10': 1, '2': 3 }); // order: 2 (0..0.75), 10 (0.75..1)
    expect(s.pick(undefined, () => 0)).toBe('2');
    expect(s.pick(undefined, () => 0.7499)).toBe('2');
    expect(s.pick(undefined, () => 0.75)).toBe('10');
    expect(s.pick(undefined, () => 0.999999)).toBe('10');
    expect(s.pick('', () => 0.8)).toBe('10'); // empty key = no key
  });

  it('rejects weights without a positive sum or with bad values', () => {
    expect(() => new VersionSplitter({ '1': 0 })).toThrow(/positive sum/);
    expect(() => new VersionSplitter({})).toThrow(/positive sum/);
    expect(() => new VersionSplitter({ '1': -1, '2': 5 })).toThrow(/version 1/);
    expect(() => new VersionSplitter({ '1': Number.NaN })).toThrow(/version 1/);
  });

  it('a single live version always wins', () => {
    const s = new VersionSplitter({ '3': 5, '1': 0 });
    expect(s.pick(undefined, () => 0.99)).toBe('3');
    expect(s.pick('k')).toBe('3');
  });
});

describe('VersionSplitter — sticky keys', () => {
  const ks = keys(1000);

  it('each of 1000 keys sees one version across 20 picks (random is ignored)', () => {
    const s = new VersionSplitter({ '1': 90, '2': 10 });
    const rnd = mulberry32(99);
    let canaryKeys = 0;
    for (const k of ks) {
      const first = s.pick(k, rnd);
      for (let i = 0; i < 19; i++) expect(s.pick(k, rnd)).toBe(first);
      // A fresh splitter with the same weights agrees: a function of key + weights only.
      expect(new VersionSplitter({ '2': 10, '1': 90 }).pick(k)).toBe(first);
      if (first === '2') canaryKeys++;
    }
    expect(canaryKeys).toBeGreaterThan(60);
    expect(canaryKeys).toBeLessThan(140);
  });

  it('keyed shares follow the weights (100k keys, 90/10 within ±0.5 points)', () => {
    const s = new VersionSplitter({ '1': 90, '2': 10 });
    let canary = 0;
    for (let i = 0; i < 100_000; i++) if (s.pick(`user:${i}`) === '2') canary++;
    expect(Math.abs(canary / 1000 - 10)).toBeLessThanOrEqual(0.5);
  });

  it('raising the canary 10 -> 30 moves only primary -> canary keys, about 20 % of them', () => {
    const before = assign(new VersionSplitter({ '1': 90, '2': 10 }), ks);
    const after = assign(new VersionSplitter({ '1': 70, '2': 30 }), ks);
    let moved = 0;
    for (const k of ks) {
      if (before.get(k) === after.get(k)) continue;
      moved++;
      expect(`${k}: ${before.get(k)}->${after.get(k)}`).toBe(`${k}: 1->2`);
    }
    expect(moved / ks.length).toBeGreaterThanOrEqual(0.16);
    expect(moved / ks.length).toBeLessThanOrEqual(0.24);
  });

  it('lowering the canary 30 -> 10 moves only canary -> primary keys', () => {
    const before = assign(new VersionSplitter({ '1': 70, '2': 30 }), ks);
    const after = assign(new VersionSplitter({ '1': 90, '2': 10 }), ks);
    let moved = 0;
    for (const k of ks) {
      if (before.get(k) === after.get(k)) continue;
      moved++;
      expect(`${k}: ${before.get(k)}->${after.get(k)}`).toBe(`${k}: 2->1`);
    }
    expect(moved).toBeGreaterThan(150);
  });

  it('scaling all weights changes no key', () => {
    const a = assign(new VersionSplitter({ '1': 90, '2': 10 }), ks);
    const b = assign(new VersionSplitter({ '1': 9, '2': 1 }), ks);
    expect(b).toEqual(a);
  });

  it('three versions: raising only the canary weight moves keys only onto it', () => {
    const big = keys(20_000, 'k');
    const before = assign(new VersionSplitter({ '1': 80, '2': 10, '3': 10 }), big);
    const after = assign(new VersionSplitter({ '1': 80, '2': 10, '3': 40 }), big);
    let moved = 0;
    for (const k of big) {
      if (before.get(k) === after.get(k)) continue;
      moved++;
      expect(after.get(k)).toBe('3');
    }
    // share of v3: 10 % -> 30.77 %; exactly the difference moves.
    expect(moved / big.length).toBeGreaterThan(0.19);
    expect(moved / big.length).toBeLessThan(0.225);
  });

  it('any weight change moves a key a -> b only if w_b / w_a rose', () => {
    const rnd = mulberry32(2024);
    const ks2 = keys(3000, 'r');
    for (let trial = 0; trial < 20; trial++) {
      const w1: Record<string, number> = {};
      const w2: Record<string, number> = {};
      for (const v of ['1', '2', '3', '4']) {
        w1[v] = Math.floor(rnd() * 10) + 1;
        w2[v] = Math.floor(rnd() * 10) + 1;
      }
      const a = assign(new VersionSplitter(w1), ks2);
      const b = assign(new VersionSplitter(w2), ks2);
      for (const k of ks2) {
        const x = a.get(k)!;
        const y = b.get(k)!;
        if (x === y) continue;
        expect(w2[y]! / w2[x]!).toBeGreaterThan(w1[y]! / w1[x]!);
      }
    }
  });

  it('adding a version only moves keys onto it; zeroing it moves them back', () => {
    const two = assign(new VersionSplitter({ '1': 50, '2': 50 }), ks);
    const three = assign(new VersionSplitter({ '1': 50, '2': 50, '3': 20 }), ks);
    const back = assign(new VersionSplitter({ '1': 50, '2': 50, '3': 0 }), ks);
    for (const k of ks) {
      if (two.get(k) !== three.get(k)) expect(three.get(k)).toBe('3');
    }
    expect(back).toEqual(two);
  });

  it('share() reports normalized weights', () => {
    const s = new VersionSplitter({ '1': 3, '2': 1 });
    expect(s.share('1')).toBe(0.75);
    expect(s.share('2')).toBe(0.25);
    expect(s.share('9')).toBe(0);
    expect(s.total).toBe(4);
  });
});

// ---- independent byte-oriented reference implementation of MurmurHash3_x86_32 ----
function utf16le(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out.push(c & 0xff, c >>> 8);
  }
  return out;
}

function referenceMurmur3(bytes: number[], seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  let h = seed >>> 0;
  const nblocks = Math.floor(bytes.length / 4);
  for (let b = 0; b < nblocks; b++) {
    let k = (bytes[4 * b]! | (bytes[4 * b + 1]! << 8) | (bytes[4 * b + 2]! << 16) | (bytes[4 * b + 3]! << 24)) >>> 0;
    k = Math.imul(k, c1) >>> 0;
    k = rotl(k, 15);
    k = Math.imul(k, c2) >>> 0;
    h = (h ^ k) >>> 0;
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  const tail = bytes.length & 3;
  const t = nblocks * 4;
  let k = 0;
  if (tail >= 3) k ^= bytes[t + 2]! << 16;
  if (tail >= 2) k ^= bytes[t + 1]! << 8;
  if (tail >= 1) {
    k ^= bytes[t]!;
    k = Math.imul(k, c1) >>> 0;
    k = rotl(k, 15);
    k = Math.imul(k, c2) >>> 0;
    h = (h ^ k) >>> 0;
  }
  h = (h ^ bytes.length) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}
