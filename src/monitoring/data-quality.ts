/**
 * Data quality of the rows a version receives, per feature: values below or above the training
 * range (reference.json min and max) and missing values (absent or null, filled by the
 * feature's missing policy). Counted since start (Prometheus counters) and over the drift
 * window's ring of time slices, whose rates raise an alert past a threshold. A missing value
 * is only counted as missing: it is never compared with the range (nor binned for drift).
 */
import type { DataQualityConfig } from '../config/model-config.js';
import { type Clock, systemClock } from './clock.js';
import { SliceRing } from './time-slices.js';

export const DEFAULT_DATA_QUALITY_CONFIG: Readonly<DataQualityConfig> = {
  max_out_of_range_rate: 0.05,
  max_missing_rate: 0.05,
  min_rows: 200,
};

/** An alert recovers once its rate is back under this share of the threshold. */
const RECOVERY_FACTOR = 0.8;

export interface QualityColumn {
  name: string;
  /** training range; a side without a bound is never out of range */
  min?: number;
  max?: number;
}

export type QualityKind = 'out_of_range' | 'missing';

export interface ColumnQuality {
  column: string;
  /** window counts */
  below: number;
  above: number;
  missing: number;
  /** share of the window's rows; null with no rows */
  out_of_range_rate: number | null;
  missing_rate: number | null;
  alerts: QualityKind[];
}

export interface QualityTransition {
  column: string;
  kind: QualityKind;
  rate: number;
  threshold: number;
  rows: number;
  state: 'raised' | 'recovered';
}

/** Cells per column and slice: below, above, missing. */
const CELLS = 3;

export class DataQualityWindow {
  readonly columns: readonly QualityColumn[];
  private readonly mins: Float64Array;
  private readonly maxs: Float64Array;
  private readonly ring: SliceRing;
  /** slices × columns × CELLS */
  private readonly counts: Float64Array;
  private readonly rowsPerSlice: Float64Array;
  /** since start: columns × CELLS */
  private readonly lifetime: Float64Array;
  private readonly alerting = new Set<string>();
  private readonly expire = (slot: number) => {
    const width = this.columns.length * CELLS;
    this.counts.fill(0, slot * width, (slot + 1) * width);
    this.rowsPerSlice[slot] = 0;
  };

  constructor(
    columns: readonly QualityColumn[],
    options: { slices: number; sliceSeconds: number },
    readonly config: Readonly<DataQualityConfig> = DEFAULT_DATA_QUALITY_CONFIG,
    clock: Clock = systemClock,
  ) {
    this.columns = columns.map((c) => ({ ...c }));
    this.mins = Float64Array.from(columns, (c) => c.min ?? -Infinity);
    this.maxs = Float64Array.from(columns, (c) => c.max ?? Infinity);
    this.ring = SliceRing.ofSeconds(options.slices, options.sliceSeconds, clock, 'data quality');
    this.counts = new Float64Array(this.ring.slices * columns.length * CELLS);
    this.rowsPerSlice = new Float64Array(this.ring.slices);
    this.lifetime = new Float64Array(columns.length * CELLS);
  }

  /**
   * Rows as decoded (row-major, one value per column), with the flat indices (row × width +
   * column) of the values that were missing, ascending, if any.
   */
  observe(data: ArrayLike<number>, rows: number, missing: ArrayLike<number> | null): void {
    const width = this.columns.length;
    if (data.length < rows * width) throw new RangeError(`data quality: ${data.length} values for ${rows} rows of ${width}`);
    const slot = this.ring.advance(this.expire);
    const base = slot * width * CELLS;
    const { counts, lifetime, mins, maxs } = this;
    const missingCount = missing?.length ?? 0;
    let missingSeen = 0;
    let nextMissing = missingCount > 0 ? missing![0]! : -1;
    // Row by row and column by column: the column of a flat index without a division per value.
    for (let r = 0, i = 0; r < rows; r++) {
      for (let c = 0; c < width; c++, i++) {
        if (i === nextMissing) {
          missingSeen++;
          nextMissing = missingSeen < missingCount ? missing![missingSeen]! : -1;
          counts[base + c * CELLS + 2]!++;
          lifetime[c * CELLS + 2]!++;
          continue;
        }
        const x = data[i]!;
        if (x < mins[c]!) {
          counts[base + c * CELLS]!++;
          lifetime[c * CELLS]!++;
        } else if (x > maxs[c]!) {
          counts[base + c * CELLS + 1]!++;
          lifetime[c * CELLS + 1]!++;
        }
      }
    }
    this.rowsPerSlice[slot]! += rows;
  }

  /** Rows in the window. */
  rows(): number {
    this.ring.advance(this.expire);
    let rows = 0;
    for (let s = 0; s < this.ring.slices; s++) rows += this.rowsPerSlice[s]!;
    return rows;
  }

  snapshot(): { rows: number; columns: ColumnQuality[] } {
    const rows = this.rows();
    const width = this.columns.length;
    return {
      rows,
      columns: this.columns.map((column, c) => {
        let below = 0;
        let above = 0;
        let missing = 0;
        for (let s = 0; s < this.ring.slices; s++) {
          const at = (s * width + c) * CELLS;
          below += this.counts[at]!;
          above += this.counts[at + 1]!;
          missing += this.counts[at + 2]!;
        }
        return {
          column: column.name, below, above, missing,
          out_of_range_rate: rows > 0 ? (below + above) / rows : null,
          missing_rate: rows > 0 ? missing / rows : null,
          alerts: (['out_of_range', 'missing'] as const).filter((kind) => this.alerting.has(`${kind}\u0000${column.name}`)),
        };
      }),
    };
  }

  /** Counts since start, per column. */
  totals(): { column: string; below: number; above: number; missing: number }[] {
    return this.columns.map((column, c) => ({
      column: column.name,
      below: this.lifetime[c * CELLS]!,
      above: this.lifetime[c * CELLS + 1]!,
      missing: this.lifetime[c * CELLS + 2]!,
    }));
  }

  /**
   * Raises an alert for a column whose out-of-range or missing rate over the window passes its
   * threshold (with at least min_rows rows), recovers it under 0.8 × the threshold; returns
   * the transitions. Too few rows keep the states as they are.
   */
  evaluate(): QualityTransition[] {
    const { rows, columns } = this.snapshot();
    if (rows < this.config.min_rows) return [];
    const transitions: QualityTransition[] = [];
    for (const column of columns) {
      const judged: [QualityKind, number, number][] = [
        ['out_of_range', column.out_of_range_rate!, this.config.max_out_of_range_rate],
        ['missing', column.missing_rate!, this.config.max_missing_rate],
      ];
      for (const [kind, rate, threshold] of judged) {
        const key = `${kind}\u0000${column.column}`;
        const base = { column: column.column, kind, rate, threshold, rows };
        if (!this.alerting.has(key) && rate > threshold) {
          this.alerting.add(key);
          transitions.push({ ...base, state: 'raised' });
        } else if (this.alerting.has(key) && rate <= threshold * RECOVERY_FACTOR) {
          this.alerting.delete(key);
          transitions.push({ ...base, state: 'recovered' });
        }
      }
    }
    return transitions;
  }
}
