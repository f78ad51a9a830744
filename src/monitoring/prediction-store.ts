/**
 * Recent predictions kept for the ground truth that arrives later: POST /feedback names a
 * request id and a row (instance) index, and this store says which version and role answered
 * it and what they predicted. Bounded whatever the traffic: at most `maxRows` stored rows, each
 * for at most `ttlSeconds`, request ids at most `maxRequestIdLength` characters; the oldest
 * predictions go first.
 *
 * Built for the request path: the entries live in a ring of preallocated typed arrays and
 * their numbers in one growable ring of float64 (per row: a labelled flag, then the answer —
 * [label?, probabilities × classes, value?] — and, for a request mirrored to a shadow, room
 * for the shadow's answer), indexed by a fingerprint of model and request id
 * (fingerprint-index.ts), so storing a prediction allocates nothing and retains no string. (An
 * object per prediction made every stored answer survive into V8's old generation and cost the
 * request path its promotion and collection: 367 bytes per row then, about 105 now.) The ring order
 * is the age order, so eviction and expiry take from its tail.
 *
 * Entries are keyed by model and request id; a row is matched once (a second label for it is
 * a duplicate). A request id reused for a new prediction replaces the old entry.
 */
import { type Clock, systemClock } from './clock.js';
import { FingerprintIndex } from './fingerprint-index.js';
import type { Role } from './role.js';

export interface PredictionStoreOptions {
  /** most rows stored at once (a mirrored request's shadow answer is kept beside its rows) */
  maxRows: number;
  /** how long a prediction waits for its label */
  ttlSeconds: number;
  /** longer request ids are not stored (feedback for them is unknown) */
  maxRequestIdLength: number;
}

export const DEFAULT_PREDICTION_STORE_OPTIONS: Readonly<PredictionStoreOptions> = {
  maxRows: 100_000,
  ttlSeconds: 3600,
  maxRequestIdLength: 128,
};

/** What one version answered for one request. */
export interface PredictionRecord {
  version: string;
  role: Role;
  rows: number;
  /** predicted class index per row (classifiers) */
  labels?: ArrayLike<number>;
  /** predicted probabilities, rows × classes, row-major (classifiers that give them) */
  probabilities?: ArrayLike<number>;
  /** predicted value per row (regressors) */
  values?: ArrayLike<number>;
}

/** One row of a stored prediction. */
export interface RowPrediction {
  version: string;
  role: Role;
  label: number | null;
  /** this row's class probabilities, or null */
  probabilities: number[] | null;
  value: number | null;
}

export type FeedbackMatch =
  | { outcome: 'matched'; predictions: RowPrediction[] }
  | { outcome: 'unknown' }
  | { outcome: 'duplicate' }
  | { outcome: 'invalid'; reason: string };

export interface PredictionStoreStats {
  /** predictions that can still be matched */
  entries: number;
  /** rows held in the ring (replaced entries included until they leave it) */
  rows: number;
  /** float64 cells of the numbers ring (its memory is 8 bytes each) */
  capacity: number;
  /**
   * lifetime counts: predictions stored, entries evicted for room or expired by TTL, and
   * predictions not stored (request id too long, more rows than the whole store, a shadow answer
   * whose live entry was gone or had no room kept for it)
   */
  stored: number;
  evicted: number;
  expired: number;
  skipped: number;
}

/** Which outputs an answer has: numbers per row = (label ? 1 : 0) + classes + (value ? 1 : 0). */
interface Layout {
  hasLabel: boolean;
  classes: number;
  hasValue: boolean;
  width: number;
}

/** Numbers a stored row takes in the ring: its labelled flag, its answer, and room for a mirror's answer. */
function numbersPerRow(layout: Layout, mirrored: boolean): number {
  return 1 + layout.width * (mirrored ? 2 : 1);
}

/** Slot value of `shadowVersion`: no mirror expected, or room kept for a mirror not yet answered. */
const NO_SHADOW = -1;
const SHADOW_PENDING = -2;
/** First size of the numbers ring; it doubles as needed, up to maxRows × the widest row seen. */
const INITIAL_CAPACITY = 1 << 12;

export class PredictionStore {
  readonly options: Readonly<PredictionStoreOptions>;
  private readonly clock: Clock;
  private readonly ttlMs: number;

  // Interned names and layouts (a handful: models, versions, output shapes).
  private readonly modelIds = new Map<string, number>();
  /** (model, request id) → slot */
  private readonly index: FingerprintIndex;
  private readonly versionIds = new Map<string, number>();
  private readonly versionNames: string[] = [];
  private readonly layoutIds = new Map<number, number>();
  private readonly layouts: Layout[] = [];

  // The entry ring: slot = tail … tail + count − 1 (mod maxRows), oldest first.
  private tail = 0;
  private count = 0;
  private live = 0;
  private rowsHeld = 0;
  private readonly storedAt: Float64Array;
  private readonly rows: Int32Array;
  private readonly model: Int32Array;
  private readonly version: Int32Array;
  private readonly layout: Int32Array;
  private readonly shadowVersion: Int32Array;
  private readonly shadowLayout: Int32Array;
  /** start of the slot's block in `numbers`: rows flags, rows × width, (rows × width for the shadow) */
  private readonly blockAt: Int32Array;
  /** 1 once a newer prediction took over the slot's request id */
  private readonly replaced: Uint8Array;

  // The numbers ring: blocks in slot order between numTail and numHead (wrapping at the end).
  private numbers: Float64Array;
  private numTail = 0;
  private numHead = 0;
  /** numbers per row of the widest block seen: the ring never needs more than maxRows × this */
  private widestRow = 1;

  private readonly counts = { stored: 0, evicted: 0, expired: 0, skipped: 0 };

  constructor(options: Partial<PredictionStoreOptions> = {}, clock: Clock = systemClock) {
    const opts = { ...DEFAULT_PREDICTION_STORE_OPTIONS, ...options };
    if (!Number.isInteger(opts.maxRows) || opts.maxRows < 1) {
      throw new Error(`prediction store: maxRows must be an integer ≥ 1, got ${opts.maxRows}`);
    }
    if (!Number.isFinite(opts.ttlSeconds) || opts.ttlSeconds <= 0) {
      throw new Error(`prediction store: ttlSeconds must be a number > 0, got ${opts.ttlSeconds}`);
    }
    if (!Number.isInteger(opts.maxRequestIdLength) || opts.maxRequestIdLength < 1) {
      throw new Error(`prediction store: maxRequestIdLength must be an integer ≥ 1, got ${opts.maxRequestIdLength}`);
    }
    this.options = Object.freeze(opts);
    this.clock = clock;
    this.ttlMs = opts.ttlSeconds * 1000;
    const slots = opts.maxRows;
    this.index = new FingerprintIndex(slots);
    this.storedAt = new Float64Array(slots);
    this.rows = new Int32Array(slots);
    this.model = new Int32Array(slots);
    this.version = new Int32Array(slots);
    this.layout = new Int32Array(slots);
    this.shadowVersion = new Int32Array(slots);
    this.shadowLayout = new Int32Array(slots);
    this.blockAt = new Int32Array(slots);
    this.replaced = new Uint8Array(slots);
    this.numbers = new Float64Array(Math.min(INITIAL_CAPACITY, slots * 4));
  }

  /**
   * Keeps a prediction for later feedback. A live record starts (or replaces) the request's
   * entry — `mirrored` keeps room for the shadow's answer, which a shadow record then fills if
   * the live entry is still stored.
   */
  put(model: string, requestId: string, record: PredictionRecord, mirrored = false): void {
    const { rows } = record;
    if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`prediction store: bad row count ${rows}`);
    const layoutId = this.layoutOf(record);
    if (requestId.length > this.options.maxRequestIdLength || rows > this.options.maxRows) {
      this.counts.skipped++;
      return;
    }
    const now = this.clock();
    this.expire(now);
    if (record.role === 'shadow') {
      const slot = this.find(model, requestId);
      const width = this.layouts[layoutId]!.width;
      if (slot < 0 || this.shadowVersion[slot] !== SHADOW_PENDING || this.rows[slot] !== rows || this.layouts[this.layout[slot]!]!.width !== width) {
        this.counts.skipped++;
        return;
      }
      this.write(record, this.layouts[layoutId]!, this.blockAt[slot]! + rows + rows * width);
      this.shadowVersion[slot] = this.versionOf(record.version);
      this.shadowLayout[slot] = layoutId;
      this.counts.stored++;
      return;
    }
    const modelId = this.modelOf(model);
    const layout = this.layouts[layoutId]!;
    const perRow = numbersPerRow(layout, mirrored);
    if (perRow > this.widestRow) this.widestRow = perRow;
    while (this.count === this.options.maxRows || this.rowsHeld + rows > this.options.maxRows) this.evictOldest(false);
    const at = this.allocate(rows * perRow);
    const slot = (this.tail + this.count) % this.options.maxRows;
    this.count++;
    this.live++;
    this.rowsHeld += rows;
    this.storedAt[slot] = now;
    this.rows[slot] = rows;
    this.model[slot] = modelId;
    this.version[slot] = this.versionOf(record.version);
    this.layout[slot] = layoutId;
    this.shadowVersion[slot] = mirrored ? SHADOW_PENDING : NO_SHADOW;
    this.blockAt[slot] = at;
    this.replaced[slot] = 0;
    this.numbers.fill(0, at, at + rows); // labelled flags
    this.write(record, layout, at + rows);
    const previous = this.index.set(modelId, requestId, slot);
    if (previous >= 0) {
      this.replaced[previous] = 1;
      this.live--;
    }
    this.counts.stored++;
  }

  /**
   * Finds the prediction a label belongs to and marks the row labelled: the live answer, then
   * the shadow's when the request was mirrored and the shadow has answered.
   */
  match(model: string, requestId: string, instance: number): FeedbackMatch {
    this.expire(this.clock());
    const slot = this.find(model, requestId);
    if (slot < 0) return { outcome: 'unknown' };
    const rows = this.rows[slot]!;
    if (!Number.isInteger(instance) || instance < 0 || instance >= rows) {
      return { outcome: 'invalid', reason: `instance ${instance} outside 0..${rows - 1} (the request had ${rows} rows)` };
    }
    const at = this.blockAt[slot]!;
    if (this.numbers[at + instance] === 1) return { outcome: 'duplicate' };
    this.numbers[at + instance] = 1;
    const layout = this.layouts[this.layout[slot]!]!;
    const predictions = [this.row(this.versionNames[this.version[slot]!]!, 'live', layout, at + rows + instance * layout.width)];
    const shadow = this.shadowVersion[slot]!;
    if (shadow >= 0) {
      const shadowLayout = this.layouts[this.shadowLayout[slot]!]!;
      predictions.push(this.row(this.versionNames[shadow]!, 'shadow', shadowLayout, at + rows + rows * layout.width + instance * shadowLayout.width));
    }
    return { outcome: 'matched', predictions };
  }

  /** Drops entries older than the TTL now (put and match do it too; a periodic sweep frees memory when idle). */
  sweep(): void {
    this.expire(this.clock());
  }

  stats(): PredictionStoreStats {
    return { entries: this.live, rows: this.rowsHeld, capacity: this.numbers.length, ...this.counts };
  }

  // -- internals ------------------------------------------------------------------------------

  private modelOf(name: string): number {
    let id = this.modelIds.get(name);
    if (id === undefined) {
      id = this.modelIds.size;
      this.modelIds.set(name, id);
    }
    return id;
  }

  /** The slot of a stored prediction, or −1. */
  private find(model: string, requestId: string): number {
    const modelId = this.modelIds.get(model);
    if (modelId === undefined) return -1;
    const slot = this.index.find(modelId, requestId);
    return slot >= 0 && this.model[slot] === modelId ? slot : -1;
  }

  private versionOf(name: string): number {
    let id = this.versionIds.get(name);
    if (id === undefined) {
      id = this.versionNames.length;
      this.versionIds.set(name, id);
      this.versionNames.push(name);
    }
    return id;
  }

  /** Checks a record's arrays against its row count and interns its layout. */
  private layoutOf(record: PredictionRecord): number {
    const { rows, labels, probabilities, values } = record;
    const classes = probabilities ? probabilities.length / rows : 0;
    if (!Number.isInteger(classes)) throw new RangeError(`prediction store: ${probabilities!.length} probabilities for ${rows} rows`);
    if (labels && labels.length !== rows) throw new RangeError(`prediction store: ${labels.length} labels for ${rows} rows`);
    if (values && values.length !== rows) throw new RangeError(`prediction store: ${values.length} values for ${rows} rows`);
    const key = classes * 4 + (labels ? 2 : 0) + (values ? 1 : 0);
    let id = this.layoutIds.get(key);
    if (id === undefined) {
      id = this.layouts.length;
      this.layoutIds.set(key, id);
      this.layouts.push({ hasLabel: !!labels, classes, hasValue: !!values, width: (labels ? 1 : 0) + classes + (values ? 1 : 0) });
    }
    return id;
  }

  /** Copies an answer row-major into the numbers ring from `at`. */
  private write(record: PredictionRecord, layout: Layout, at: number): void {
    const { rows, labels, probabilities, values } = record;
    const { classes } = layout;
    const numbers = this.numbers;
    for (let r = 0; r < rows; r++) {
      if (labels) numbers[at++] = labels[r]!;
      for (let k = 0; k < classes; k++) numbers[at++] = probabilities![r * classes + k]!;
      if (values) numbers[at++] = values[r]!;
    }
  }

  private row(version: string, role: Role, layout: Layout, at: number): RowPrediction {
    const label = layout.hasLabel ? this.numbers[at++]! : null;
    const probabilities = layout.classes > 0 ? Array.from(this.numbers.subarray(at, at + layout.classes)) : null;
    at += layout.classes;
    return { version, role, label, probabilities, value: layout.hasValue ? this.numbers[at]! : null };
  }

  private expire(now: number): void {
    while (this.count > 0 && now - this.storedAt[this.tail]! >= this.ttlMs) this.evictOldest(true);
  }

  private evictOldest(expired: boolean): void {
    const slot = this.tail;
    if (this.replaced[slot] === 0) {
      this.index.remove(slot);
      this.live--;
      if (expired) this.counts.expired++;
      else this.counts.evicted++;
    }
    this.rowsHeld -= this.rows[slot]!;
    this.tail = (this.tail + 1) % this.options.maxRows;
    this.count--;
    if (this.count === 0) this.numTail = this.numHead = 0;
    else this.numTail = this.blockAt[this.tail]!;
  }

  /**
   * A contiguous block of `size` numbers at the head of the ring (a block never wraps: the end
   * of the array is skipped when it is too short). Evicts the oldest entries, or grows the ring
   * while it is smaller than maxRows × the widest row, until the block fits.
   */
  private allocate(size: number): number {
    for (;;) {
      const capacity = this.numbers.length;
      if (this.count === 0) {
        this.numTail = this.numHead = 0;
        if (size <= capacity) return this.take(0, size);
      } else if (this.numHead >= this.numTail) {
        if (capacity - this.numHead >= size) return this.take(this.numHead, size);
        if (this.numTail > size) return this.take(0, size); // head never catches up with tail
      } else if (this.numTail - this.numHead > size) {
        return this.take(this.numHead, size);
      }
      if (capacity < this.options.maxRows * this.widestRow) this.grow(Math.min(capacity * 2, Math.max(this.options.maxRows * this.widestRow, size)));
      else this.evictOldest(false);
    }
  }

  private take(at: number, size: number): number {
    this.numHead = at + size;
    return at;
  }

  /** Copies the blocks, oldest first, to the start of a larger ring. */
  private grow(capacity: number): void {
    const next = new Float64Array(capacity);
    let to = 0;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.tail + i) % this.options.maxRows;
      const from = this.blockAt[slot]!;
      const size = this.rows[slot]! * numbersPerRow(this.layouts[this.layout[slot]!]!, this.shadowVersion[slot] !== NO_SHADOW);
      next.set(this.numbers.subarray(from, from + size), to);
      this.blockAt[slot] = to;
      to += size;
    }
    this.numbers = next;
    this.numTail = 0;
    this.numHead = to;
  }
}
