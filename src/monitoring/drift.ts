/**
 * Streaming drift monitoring: time-sliced histograms over reference bins, PSI and KS.
 *
 * Definitions follow docs/drift.md (the exact definition):
 * - bin of x = number of edges strictly less than x (numpy searchsorted(edges, x, 'left'));
 * - proportions are floored at 1e-4 before use in PSI; PSI = Σ (w_i − r_i)·ln(w_i / r_i);
 * - KS (approximate) = max_j |W(e_j) − R(e_j)| over the edges, where W(e_j) / R(e_j) are the
 *   cumulative RAW (unfloored) proportions of bins 0..j (0-based edge index j). Because a value
 *   x lands in a bin ≤ j exactly when x ≤ e_j, W(e_j) is the empirical CDF of the window at e_j.
 *
 * No HTTP here; the gateway feeds rows in and reads PSI/KS at scrape time. Alerts are decided
 * apart (drift-alerts.ts: PSI and a significance test).
 */
import { type Clock, systemClock } from './clock.js';
import { SliceRing } from './time-slices.js';
import { parseReferenceColumn, type ReferenceColumn } from '../config/reference.js';
import { binLayout, binOf, edgesFor, type BinLayout } from '../config/reference-bins.js';

export type { Reference, ReferenceColumn } from '../config/reference.js';

export type ColumnKind = 'feature' | 'output';

export interface DriftOptions {
  /** number of time slices in the ring */
  slices: number;
  /** length of one slice in seconds */
  sliceSeconds: number;
  /** below this many window observations of a column, psi()/ks() report null */
  minSamples: number;
}

/** Defaults of docs/drift.md (12 × 300 s, min 200). */
export const DEFAULT_DRIFT_OPTIONS: Readonly<DriftOptions> = {
  slices: 12,
  sliceSeconds: 300,
  minSamples: 200,
};

/** docs/drift.md: proportions are floored at 1e-4 before use (avoids ln(0) and division by 0). */
export const PROPORTION_FLOOR = 1e-4;

export interface DriftColumnSnapshot {
  name: string;
  kind: ColumnKind;
  /** observations of this column inside the window */
  n: number;
  psi: number | null;
  ks: number | null;
  /** window bin counts: a read-only view over the running totals, valid until the next observation */
  counts: Float64Array;
}

// ---------------------------------------------------------------------------------------------
// Batch reference implementation: docs/drift.md taken literally, deliberately sharing no code with the
// streaming window below so each can check the other.

function floored(p: number): number {
  return Math.max(p, PROPORTION_FLOOR);
}

/** PSI of `values` against the reference; non-finite values are ignored; NaN when none remain. */
export function batchPsi(edges: readonly number[], refProportions: readonly number[], values: readonly number[]): number {
  const counts = new Array<number>(edges.length + 1).fill(0);
  let n = 0;
  for (const x of values) {
    if (!Number.isFinite(x)) continue;
    let bin = 0; // number of edges strictly less than x
    for (const e of edges) if (e < x) bin++;
    counts[bin]!++;
    n++;
  }
  if (n === 0) return NaN;
  let psi = 0;
  for (let i = 0; i < counts.length; i++) {
    const w = floored(counts[i]! / n);
    const r = floored(refProportions[i]!);
    psi += (w - r) * Math.log(w / r);
  }
  return psi;
}

/** KS (approximate): max over edges of |empirical CDF(e_j) − Σ_{i≤j} r_i|; NaN when no finite values. */
export function batchKs(edges: readonly number[], refProportions: readonly number[], values: readonly number[]): number {
  const finite = values.filter((x) => Number.isFinite(x));
  if (finite.length === 0) return NaN;
  let ks = 0;
  let refCum = 0;
  for (let j = 0; j < edges.length; j++) {
    refCum += refProportions[j]!;
    const below = finite.filter((x) => x <= edges[j]!).length;
    ks = Math.max(ks, Math.abs(below / finite.length - refCum));
  }
  return ks;
}

// ---------------------------------------------------------------------------------------------
// Streaming window

/**
 * Drift window for one model version × role.
 *
 * Columns are the reference features followed by the outputs: column index c < outputOffset is
 * feature c, column outputOffset + k is output k (so a row of features and a row of outputs map
 * onto the window with `observeRows(..., 0, features.length)` and
 * `observeRows(..., outputOffset, outputs.length)`).
 *
 * Storage is fixed at construction: `slices` flat count arrays of (Σ bins over columns) cells,
 * plus running totals. The window is the current slice plus the previous slices − 1, so it spans
 * between (slices − 1) and slices × sliceSeconds of history.
 *
 * Incremental maintenance: every observation updates its slice and the running per-bin totals in
 * O(1) after finding its bin (binOf: a linear scan up to 16 edges, a binary search beyond), and
 * bins a worker counted for a batch merge in O(bins) per batch; moving into a new slice
 * subtracts each expired slice from the totals once, O(columns × bins) per slice boundary
 * regardless of traffic. PSI and KS
 * are then evaluated at READ time in O(bins) from the running totals — never by rescanning
 * slices or observations. Evaluating at read is exact (no drift of a floating running sum) and
 * needed anyway, because every w_i = max(count_i / n, 1e-4) changes whenever n changes. Results
 * are cached per column until that column's totals change, so one scrape that reads psi, ks and
 * alerts pays the O(bins) once.
 */
export class DriftWindow {
  readonly names: readonly string[];
  readonly kinds: readonly ColumnKind[];
  /** index of the first output column (= number of features) */
  readonly outputOffset: number;
  readonly columnCount: number;
  readonly options: Readonly<DriftOptions>;

  private readonly ring: SliceRing;
  /** Where each column's edges and bins are (shared with the worker's per-batch counting). */
  readonly layout: BinLayout;
  private readonly ref: Float64Array;
  private readonly totalBins: number;
  /** slices × totalBins per-slice bin counts (ring) */
  private readonly sliceCounts: Float64Array;
  /** slices × columnCount per-slice observation counts (ring) */
  private readonly sliceN: Float64Array;
  /** running totals over the live slices */
  private readonly counts: Float64Array;
  /**
   * Per-bin counts since construction, never expired: exported as counters so Prometheus can add
   * them across replicas (fleet PSI). One more increment per value; no per-request allocation.
   */
  private readonly lifetime: Float64Array;
  private readonly n: Float64Array;
  /** lifetime count of ignored NaN/±Infinity values per column */
  private readonly nonFinite: Float64Array;
  /** the ring slot being filled */
  private slot: number;
  /** expires one ring slot (bound once: advance runs on every observation) */
  private readonly expireSlot = (s: number) => this.expire(s);
  private expiredSlots = 0;
  private readonly dirty: Uint8Array;
  private readonly cachedPsi: Float64Array;
  private readonly cachedKs: Float64Array;

  constructor(
    features: readonly ReferenceColumn[],
    outputs: readonly ReferenceColumn[] = [],
    options: Partial<DriftOptions> = {},
    clock: Clock = systemClock,
  ) {
    const opts: DriftOptions = { ...DEFAULT_DRIFT_OPTIONS, ...options };
    this.ring = SliceRing.ofSeconds(opts.slices, opts.sliceSeconds, clock, 'drift');
    this.slot = this.ring.slot;
    if (!Number.isInteger(opts.minSamples) || opts.minSamples < 0) {
      throw new Error(`drift.minSamples: expected an integer ≥ 0, got ${opts.minSamples}`);
    }
    this.options = Object.freeze(opts);

    // Re-validate: callers may build columns by hand, and bad lengths would index out of bounds.
    const columns = [
      ...features.map((c, i) => parseReferenceColumn(c, `features[${i}]`)),
      ...outputs.map((c, i) => parseReferenceColumn(c, `outputs[${i}]`)),
    ];
    this.names = Object.freeze(columns.map((c) => c.name));
    this.kinds = Object.freeze(columns.map((_, i): ColumnKind => (i < features.length ? 'feature' : 'output')));
    this.outputOffset = features.length;
    const cols = (this.columnCount = columns.length);

    this.layout = binLayout(columns.map((c) => c.edges));
    this.totalBins = this.layout.totalBins;
    this.ref = Float64Array.from(columns.flatMap((c) => c.proportions));

    this.sliceCounts = new Float64Array(opts.slices * this.totalBins);
    this.sliceN = new Float64Array(opts.slices * cols);
    this.counts = new Float64Array(this.totalBins);
    this.lifetime = new Float64Array(this.totalBins);
    this.n = new Float64Array(cols);
    this.nonFinite = new Float64Array(cols);
    this.dirty = new Uint8Array(cols).fill(1);
    this.cachedPsi = new Float64Array(cols);
    this.cachedKs = new Float64Array(cols);
  }

  /** Number of numeric cells of window storage; fixed at construction (columns × bins × (slices + 2)). */
  get footprint(): number {
    return this.sliceCounts.length + this.sliceN.length + this.counts.length + this.lifetime.length + this.n.length;
  }

  /** Column index of a feature or output by name, or -1. */
  columnIndex(name: string, kind: ColumnKind = 'feature'): number {
    for (let c = 0; c < this.columnCount; c++) if (this.names[c] === name && this.kinds[c] === kind) return c;
    return -1;
  }

  /** Records one value of column `column` (non-finite values are counted and ignored). */
  observe(column: number, value: number): void {
    this.checkColumn(column);
    this.advance();
    if (!Number.isFinite(value)) {
      this.nonFinite[column]!++;
      return;
    }
    const { edges, edgeBase, binBase } = this.layout;
    const i = binBase[column]! + binOf(edges, edgeBase[column]!, edgeBase[column + 1]!, value);
    this.counts[i]!++;
    this.lifetime[i]!++;
    this.sliceCounts[this.slot * this.totalBins + i]!++;
    this.n[column]!++;
    this.sliceN[this.slot * this.columnCount + column]!++;
    this.dirty[column] = 1;
  }

  /**
   * Bulk path for row-major data: window column columnOffset + j takes element j of each row,
   * row r starting at data[r * stride]. Reads the clock once for the whole batch.
   */
  observeRows(data: ArrayLike<number>, rows: number, stride: number, columnOffset: number, columnCount: number): void {
    if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`observeRows: bad rows ${rows}`);
    this.checkColumns('observeRows', columnOffset, columnCount);
    if (!Number.isInteger(stride) || stride < columnCount) {
      throw new RangeError(`observeRows: stride ${stride} < columnCount ${columnCount}`);
    }
    if (rows > 0 && data.length < (rows - 1) * stride + columnCount) {
      throw new RangeError(`observeRows: data has ${data.length} elements, need ${(rows - 1) * stride + columnCount}`);
    }
    if (rows === 0 || columnCount === 0) return;
    this.advance();
    const { edgeBase, binBase } = this.layout;
    const edges = edgesFor(this.layout, data);
    const sliceBase = this.slot * this.totalBins;
    const { counts, lifetime, sliceCounts } = this;
    // Column-outer loop: the column's edges and offsets stay in registers across rows.
    for (let j = 0; j < columnCount; j++) {
      const c = columnOffset + j;
      const bb = binBase[c]!;
      const eb = edgeBase[c]!;
      const ee = edgeBase[c + 1]!;
      let added = 0;
      let bad = 0;
      for (let r = 0, at = j; r < rows; r++, at += stride) {
        const x = data[at]!;
        if (x - x !== 0) {
          bad++; // NaN or ±Infinity
          continue;
        }
        const i = bb + binOf(edges, eb, ee, x);
        counts[i]!++;
        lifetime[i]!++;
        sliceCounts[sliceBase + i]!++;
        added++;
      }
      this.addToWindow(c, added, bad);
    }
  }

  /**
   * Merges bin counts made elsewhere (countBins over the same layout, e.g. by the inference
   * worker over a whole batch) into the current slice: the same result as observing those
   * values here, now. `counts` holds the cells of columns columnOffset.. in layout order.
   */
  addBinCounts(columnOffset: number, columnCount: number, counts: ArrayLike<number>, nonFinite: ArrayLike<number>): void {
    this.checkColumns('addBinCounts', columnOffset, columnCount);
    const { binBase } = this.layout;
    const cellBase = binBase[columnOffset]!;
    if (counts.length !== binBase[columnOffset + columnCount]! - cellBase || nonFinite.length !== columnCount) {
      throw new RangeError(`addBinCounts: ${counts.length} cells and ${nonFinite.length} non-finite counts do not fit columns ${columnOffset}..${columnOffset + columnCount - 1}`);
    }
    this.advance();
    const sliceBase = this.slot * this.totalBins;
    for (let j = 0; j < columnCount; j++) {
      const c = columnOffset + j;
      let added = 0;
      for (let i = binBase[c]!; i < binBase[c + 1]!; i++) {
        const k = counts[i - cellBase]!;
        if (k === 0) continue;
        this.counts[i]! += k;
        this.lifetime[i]! += k;
        this.sliceCounts[sliceBase + i]! += k;
        added += k;
      }
      this.addToWindow(c, added, nonFinite[j]!);
    }
  }

  /** Column c gained `added` binned values in the current slice and `bad` non-finite ones. */
  private addToWindow(c: number, added: number, bad: number): void {
    if (added > 0) {
      this.n[c]! += added;
      this.sliceN[this.slot * this.columnCount + c]! += added;
      this.dirty[c] = 1;
    }
    this.nonFinite[c]! += bad;
  }

  /** Observations of `column` inside the window. */
  count(column: number): number {
    this.checkColumn(column);
    this.advance();
    return this.n[column]!;
  }

  /** Lifetime number of NaN/±Infinity values ignored for `column`. */
  nonFiniteCount(column: number): number {
    this.checkColumn(column);
    return this.nonFinite[column]!;
  }

  /** Window bin counts of `column` (copy), bin i = values with i edges strictly below them. */
  binCounts(column: number): number[] {
    this.checkColumn(column);
    this.advance();
    return Array.from(this.counts.subarray(this.layout.binBase[column]!, this.layout.binBase[column + 1]!));
  }

  /**
   * Bin counts of `column` since the window was created (never expired, untouched by clear()):
   * a read-only view, valid until the next observation.
   */
  lifetimeBinCounts(column: number): Float64Array {
    this.checkColumn(column);
    return this.lifetime.subarray(this.layout.binBase[column]!, this.layout.binBase[column + 1]!);
  }

  /** The reference proportions of `column`'s bins (read-only view). */
  referenceProportions(column: number): Float64Array {
    this.checkColumn(column);
    return this.ref.subarray(this.layout.binBase[column]!, this.layout.binBase[column + 1]!);
  }

  /** PSI of the window against the reference, or null below minSamples. */
  psi(column: number): number | null {
    this.checkColumn(column);
    this.advance();
    return this.readPsi(column);
  }

  /** KS (approximate, over the reference edges), or null below minSamples. */
  ks(column: number): number | null {
    this.checkColumn(column);
    this.advance();
    if (!this.enough(column)) return null;
    this.refresh(column);
    return this.cachedKs[column]!;
  }

  /** Every column's count, PSI, KS and bin counts, all as of one reading of the clock. */
  snapshot(): DriftColumnSnapshot[] {
    this.advance();
    const { binBase } = this.layout;
    const out: DriftColumnSnapshot[] = [];
    for (let c = 0; c < this.columnCount; c++) {
      const ok = this.enough(c);
      if (ok) this.refresh(c);
      out.push({
        name: this.names[c]!,
        kind: this.kinds[c]!,
        n: this.n[c]!,
        psi: ok ? this.cachedPsi[c]! : null,
        ks: ok ? this.cachedKs[c]! : null,
        counts: this.counts.subarray(binBase[c]!, binBase[c + 1]!),
      });
    }
    return out;
  }

  /**
   * Slots expired since the window was made: it changes exactly when the window moves into a
   * new time slice. Reading it does not move the window, so read right after snapshot() it is
   * that snapshot's.
   */
  get slicesExpired(): number {
    return this.expiredSlots;
  }

  /** Empties the window (lifetime bin counts and non-finite counters are kept). */
  clear(): void {
    this.sliceCounts.fill(0);
    this.sliceN.fill(0);
    this.counts.fill(0);
    this.n.fill(0);
    this.dirty.fill(1);
  }

  // -- internals ------------------------------------------------------------------------------

  /**
   * Moves the ring to the current time, expiring slices that fell out of the window (a jump
   * past the whole window expires every slice: the totals go back to exactly 0). A clock that
   * steps backwards (or returns NaN) keeps filling the current slice.
   */
  private advance(): void {
    this.slot = this.ring.advance(this.expireSlot);
  }

  /** Subtracts ring slot `s` from the running totals and zeroes it for reuse. */
  private expire(s: number): void {
    this.expiredSlots++;
    const { counts, sliceCounts, totalBins } = this;
    const base = s * totalBins;
    for (let i = 0; i < totalBins; i++) {
      const v = sliceCounts[base + i]!;
      if (v !== 0) {
        counts[i]! -= v;
        sliceCounts[base + i] = 0;
      }
    }
    const nBase = s * this.columnCount;
    for (let c = 0; c < this.columnCount; c++) {
      const v = this.sliceN[nBase + c]!;
      if (v !== 0) {
        this.n[c]! -= v;
        this.sliceN[nBase + c] = 0;
        this.dirty[c] = 1;
      }
    }
  }

  private enough(column: number): boolean {
    const n = this.n[column]!;
    return n > 0 && n >= this.options.minSamples;
  }

  private readPsi(column: number): number | null {
    if (!this.enough(column)) return null;
    this.refresh(column);
    return this.cachedPsi[column]!;
  }

  /** O(bins) evaluation of PSI and KS from the running totals (see class comment). */
  private refresh(column: number): void {
    if (this.dirty[column] === 0) return;
    const n = this.n[column]!;
    const bb = this.layout.binBase[column]!;
    const be = this.layout.binBase[column + 1]!;
    let psi = 0;
    let ks = 0;
    let cumCount = 0;
    let cumRef = 0;
    for (let i = bb; i < be; i++) {
      const count = this.counts[i]!;
      const rawRef = this.ref[i]!;
      const w = Math.max(count / n, PROPORTION_FLOOR);
      const r = Math.max(rawRef, PROPORTION_FLOOR);
      psi += (w - r) * Math.log(w / r);
      if (i < be - 1) {
        // cumulative up to edge j = i - bb: unfloored proportions of bins 0..j
        cumCount += count;
        cumRef += rawRef;
        const d = Math.abs(cumCount / n - cumRef);
        if (d > ks) ks = d;
      }
    }
    this.cachedPsi[column] = psi;
    this.cachedKs[column] = ks;
    this.dirty[column] = 0;
  }

  private checkColumns(caller: string, columnOffset: number, columnCount: number): void {
    if (!Number.isInteger(columnCount) || columnCount < 0) {
      throw new RangeError(`${caller}: bad columnCount ${columnCount}`);
    }
    if (!Number.isInteger(columnOffset) || columnOffset < 0 || columnOffset + columnCount > this.columnCount) {
      throw new RangeError(
        `${caller}: columns ${columnOffset}..${columnOffset + columnCount - 1} outside 0..${this.columnCount - 1}`,
      );
    }
  }

  private checkColumn(column: number): void {
    if (!Number.isInteger(column) || column < 0 || column >= this.columnCount) {
      throw new RangeError(`drift: column ${column} outside 0..${this.columnCount - 1}`);
    }
  }
}
