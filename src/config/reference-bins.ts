// The bin rule of docs/drift.md as pure functions over reference.json's edges: the bin of a
// value is the number of edges strictly below it (numpy searchsorted(edges, x, 'left')).
// It lives on the floor so that both sides count with one definition: the inference worker
// bins each batch's feature rows where they already sit in a typed array, and the drift
// windows (monitoring/) bin output values (and the input rows of versions that fill missing
// values) with binOf, and merge the worker's counts.

/** Every column's edges in one flat array, and where each column's edges and bins start. */
export interface BinLayout {
  readonly columns: number;
  /** edgeBase[c]..edgeBase[c+1] are column c's edges in `edges` / `edges32`. */
  readonly edgeBase: Int32Array;
  /** binBase[c]..binBase[c+1] are column c's cells in a counts array (edges + 1 per column). */
  readonly binBase: Int32Array;
  readonly totalBins: number;
  readonly edges: Float64Array;
  /**
   * The edges rounded to float32, for values that arrive in a Float32Array (model inputs: the
   * client's float64 value x has already become fround(x)). fround is monotone, so
   * fround(e) < fround(x) implies e < x, and x === e never counts the edge: exactly the bin of
   * the value sent, unless x lies within half a float32 ulp of an edge without equalling it.
   * Comparing fround(x) with the float64 edge instead misbins every x === e whose float32
   * rounding goes up (common: deciles of data recorded to 3–4 digits are data values).
   */
  readonly edges32: Float64Array;
}

export function binLayout(columnEdges: readonly (readonly number[])[]): BinLayout {
  const columns = columnEdges.length;
  const edgeBase = new Int32Array(columns + 1);
  const binBase = new Int32Array(columns + 1);
  for (let c = 0; c < columns; c++) {
    edgeBase[c + 1] = edgeBase[c]! + columnEdges[c]!.length;
    binBase[c + 1] = binBase[c]! + columnEdges[c]!.length + 1;
  }
  const edges = Float64Array.from(columnEdges.flat());
  return { columns, edgeBase, binBase, totalBins: binBase[columns]!, edges, edges32: edges.map(Math.fround) };
}

/** The edges to compare `data` with: float32-rounded for float32 data (see BinLayout.edges32). */
export function edgesFor(layout: BinLayout, data: ArrayLike<number>): Float64Array {
  return data instanceof Float32Array ? layout.edges32 : layout.edges;
}

/** Up to this many edges a linear scan beats a binary search (measured: 2x on deciles). */
const LINEAR_SCAN_EDGES = 16;

/** The bin of a finite x among edges[lo, hi): how many of them lie strictly below x. */
export function binOf(edges: Float64Array, lo: number, hi: number, x: number): number {
  const first = lo;
  if (hi - lo <= LINEAR_SCAN_EDGES) {
    while (lo < hi && edges[lo]! < x) lo++;
    return lo - first;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo - first;
}

/**
 * Counts row-major rows into per-bin cells: element j of each row (row r starts at
 * data[r * stride]) goes to layout column firstColumn + j, for j < columnCount. Adds 1 to
 * counts[binBase[column] - binBase[firstColumn] + bin] per finite value and 1 to
 * nonFinite[j] per NaN or ±Infinity, which no bin takes.
 */
export function countBins(
  layout: BinLayout,
  data: ArrayLike<number>,
  rows: number,
  stride: number,
  firstColumn: number,
  columnCount: number,
  counts: Float64Array,
  nonFinite: Float64Array,
): void {
  const edges = edgesFor(layout, data);
  const { edgeBase, binBase } = layout;
  const cellBase = binBase[firstColumn]!;
  // Column-outer loop: the column's edges and offsets stay in registers across rows.
  for (let j = 0; j < columnCount; j++) {
    const c = firstColumn + j;
    const bb = binBase[c]! - cellBase;
    const eb = edgeBase[c]!;
    const ee = edgeBase[c + 1]!;
    let bad = 0;
    for (let r = 0, at = j; r < rows; r++, at += stride) {
      const x = data[at]!;
      if (x - x !== 0) {
        bad++; // NaN or ±Infinity
        continue;
      }
      counts[bb + binOf(edges, eb, ee, x)]!++;
    }
    nonFinite[j]! += bad;
  }
}
