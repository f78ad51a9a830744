/**
 * An index from a string key (within a numbered namespace) to a slot number, for the
 * prediction store: open addressing with linear probing over an Int32Array, keys compared by a
 * 64-bit fingerprint instead of being kept. Nothing is allocated per key and no key string is
 * retained, so the index costs the request path no garbage and the heap no old strings. Two
 * different keys are taken for the same one only if both 32-bit hashes collide (≈ 2⁻⁶⁴ per
 * pair): a label would then score the other prediction, which is harmless next to the labels a
 * client can send for its own predictions anyway.
 */

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
  /** per slot: the fingerprint it was stored under */
  private readonly fp1: Int32Array;
  private readonly fp2: Int32Array;
  // The last key's fingerprint (fields rather than a returned pair: no allocation per call).
  private h1 = 0;
  private h2 = 0;

  /** `slots`: slot numbers 0 … slots − 1; the table keeps its load at or under one half. */
  constructor(slots: number) {
    let size = 2;
    while (size < 2 * slots) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    this.fp1 = new Int32Array(slots);
    this.fp2 = new Int32Array(slots);
  }

  /** The slot stored under `key` in `space`, or −1. */
  find(space: number, key: string): number {
    this.fingerprint(space, key);
    const at = this.cellOf(this.h1, this.h2);
    return at < 0 ? -1 : this.table[at]! - 1;
  }

  /** Stores `slot` under `key`; returns the slot it replaces, or −1. */
  set(space: number, key: string, slot: number): number {
    this.fingerprint(space, key);
    this.fp1[slot] = this.h1;
    this.fp2[slot] = this.h2;
    const found = this.cellOf(this.h1, this.h2);
    if (found >= 0) {
      const previous = this.table[found]! - 1;
      this.table[found] = slot + 1;
      return previous;
    }
    let i = mix(this.h1) & this.mask;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = slot + 1;
    return -1;
  }

  /** Removes `slot` (stored by set and not replaced since). */
  remove(slot: number): void {
    let i = mix(this.fp1[slot]!) & this.mask;
    while (this.table[i] !== slot + 1) {
      if (this.table[i] === 0) return; // not indexed
      i = (i + 1) & this.mask;
    }
    // Backward-shift deletion: pull later cells of the probe run into the hole when their home
    // cell is not inside (hole, cell], so every key stays reachable without tombstones.
    this.table[i] = 0;
    for (let j = (i + 1) & this.mask; this.table[j] !== 0; j = (j + 1) & this.mask) {
      const home = mix(this.fp1[this.table[j]! - 1]!) & this.mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      this.table[i] = this.table[j]!;
      this.table[j] = 0;
      i = j;
    }
  }

  /** The table cell holding this fingerprint, or −1. */
  private cellOf(h1: number, h2: number): number {
    for (let i = mix(h1) & this.mask; this.table[i] !== 0; i = (i + 1) & this.mask) {
      const slot = this.table[i]! - 1;
      if (this.fp1[slot] === h1 && this.fp2[slot] === h2) return i;
    }
    return -1;
  }

  /** Two independent 32-bit hashes of (space, key): FNV-1a and a multiply-xorshift. */
  private fingerprint(space: number, key: string): void {
    let h1 = 0x811c9dc5 ^ space;
    let h2 = Math.imul(0x9747b28c ^ space, 0x5bd1e995);
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    this.h1 = h1 | 0;
    this.h2 = mix(h2 ^ key.length);
  }
}
