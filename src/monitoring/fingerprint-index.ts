/**
 * An index from a string key (within a numbered namespace) to a slot number, for the
 * prediction store: open addressing with linear probing over an Int32Array, keys compared by a
 * 64-bit fingerprint instead of being kept. Nothing is allocated per key and no key string is
 * retained, so the index costs the request path no garbage and the heap no old strings. Two
 * different keys are taken for the same one only if both 32-bit hashes collide (≈ 2⁻⁶⁴ per
 * pair): a label would then score the other prediction, which is harmless next to the labels a
 * client can send for its own predictions anyway.
 *
 * Where a key starts probing (its home cell) is chosen for the cache. A key ending in
 * `-<lowercase hex>` — every request id Vigil generates, `<process prefix>-<counter>`, and many
 * clients' — belongs to a group of eight consecutive numbers with the same stem; the group
 * takes a hashed 16-cell block (64 bytes) and its keys every other cell of it. A store
 * that inserts new ids and evicts the oldest then touches one block per eight requests, in
 * order, where hashed homes cost it a cache miss or two per request (measured: a put into a full
 * store ≈ 0.2–0.35 µs cheaper with other memory traffic between puts). Other keys start at their
 * hashed cell. The home depends on the key alone, so which keys match is unchanged. The hashes
 * are seeded per index, and a group's block is hashed from its stem and its whole number: a
 * client cannot choose request ids that pile into one probe run.
 */

function randomSeed(): Int32Array {
  return crypto.getRandomValues(new Int32Array(2));
}

/** murmur3's 32-bit finaliser: spreads the hash into the low bits the table indexes by. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class FingerprintIndex {
  /** slot + 1 per table cell, 0 = empty */
  private readonly table: Int32Array;
  private readonly mask: number;
  /** per slot: the fingerprint it was stored under, and its home cell */
  private readonly fp1: Int32Array;
  private readonly fp2: Int32Array;
  private readonly homes: Int32Array;
  // The last key's fingerprint and home (fields rather than a returned triple: no allocation per call).
  private h1 = 0;
  private h2 = 0;
  private home = 0;
  private readonly seed1: number;
  private readonly seed2: number;

  /**
   * `slots`: slot numbers 0 … slots − 1; the table keeps its load at or under a quarter (half
   * the cells of a group's block stay free for keys that probe past it).
   */
  constructor(slots: number, seed: Int32Array = randomSeed()) {
    let size = 2;
    while (size < 4 * slots) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    this.fp1 = new Int32Array(slots);
    this.fp2 = new Int32Array(slots);
    this.homes = new Int32Array(slots);
    this.seed1 = seed[0]!;
    this.seed2 = seed[1]!;
  }

  /** The slot stored under `key` in `space`, or −1. */
  find(space: number, key: string): number {
    this.fingerprint(space, key);
    const at = this.cellOf();
    return at < 0 ? -1 : this.table[at]! - 1;
  }

  /** Stores `slot` under `key`; returns the slot it replaces, or −1. */
  set(space: number, key: string, slot: number): number {
    this.fingerprint(space, key);
    this.fp1[slot] = this.h1;
    this.fp2[slot] = this.h2;
    this.homes[slot] = this.home;
    const found = this.cellOf();
    if (found >= 0) {
      const previous = this.table[found]! - 1;
      this.table[found] = slot + 1;
      return previous;
    }
    let i = this.home;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = slot + 1;
    return -1;
  }

  /** Removes `slot` (stored by set and not replaced since). */
  remove(slot: number): void {
    let i = this.homes[slot]!;
    while (this.table[i] !== slot + 1) {
      if (this.table[i] === 0) return; // not indexed
      i = (i + 1) & this.mask;
    }
    // Backward-shift deletion: pull later cells of the probe run into the hole when their home
    // cell is not inside (hole, cell], so every key stays reachable without tombstones.
    this.table[i] = 0;
    for (let j = (i + 1) & this.mask; this.table[j] !== 0; j = (j + 1) & this.mask) {
      const home = this.homes[this.table[j]! - 1]!;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      this.table[i] = this.table[j]!;
      this.table[j] = 0;
      i = j;
    }
  }

  /** The longest run of occupied cells: what the slowest probe walks (for tests and diagnostics; O(table)). */
  longestRun(): number {
    let longest = 0;
    let run = 0;
    // Twice round, so that a run wrapping past the end is counted whole.
    for (let k = 0; k < 2 * this.table.length; k++) {
      run = this.table[k & this.mask] !== 0 ? run + 1 : 0;
      if (run > longest) longest = run;
    }
    return Math.min(longest, this.table.length);
  }

  /** The table cell holding the last key's fingerprint, or −1. */
  private cellOf(): number {
    const { h1, h2 } = this;
    for (let i = this.home; this.table[i] !== 0; i = (i + 1) & this.mask) {
      const slot = this.table[i]! - 1;
      if (this.fp1[slot] === h1 && this.fp2[slot] === h2) return i;
    }
    return -1;
  }

  /**
   * Two independent 32-bit hashes of (space, key), FNV-1a and a multiply-xorshift, and the
   * key's home cell (see the top of the file).
   */
  private fingerprint(space: number, key: string): void {
    let h1 = 0x811c9dc5 ^ this.seed1 ^ space;
    let h2 = Math.imul(0x9747b28c ^ this.seed2 ^ space, 0x5bd1e995);
    let stem = 0; // h1 through the last '-'
    let number = 0; // seeded hash of the hex digits after it, all but the last digit's low 3 bits
    let last = -1; // the last of those digits (−1: none yet)
    let numbered = false; // only lowercase hex digits since the last '-'
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
      if (c === 0x2d) {
        stem = h1;
        number = this.seed2;
        last = -1;
        numbered = true;
      } else if (numbered) {
        const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
        if (digit < 0) numbered = false;
        else {
          if (last >= 0) number = Math.imul(number ^ (last + 1), 0x9e3779b1);
          last = digit;
        }
      }
    }
    this.h1 = h1 | 0;
    this.h2 = mix(h2 ^ key.length);
    // A group is the number without its low 3 bits, hashed from every digit: numbers that agree
    // only in some bits do not share a block.
    this.home = (numbered && last >= 0
      ? (mix(stem ^ Math.imul(number ^ ((last >>> 3) + 1), 0x85ebca6b)) & ~15) + ((last & 7) << 1)
      : mix(this.h1)) & this.mask;
  }
}
