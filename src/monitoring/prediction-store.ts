/**
 * Recent predictions kept for the ground truth that arrives later: POST /feedback names a
 * request id and a row (instance) index, and this store says which version and role answered
 * it and what they predicted. Bounded whatever the traffic: at most `maxRows` stored rows
 * (a request mirrored to a shadow counts its rows twice), each for at most `ttlSeconds`,
 * request ids at most `maxRequestIdLength` characters; the oldest entries go first. Every
 * stored prediction is a compact copy (outputs sliced from a batch would otherwise keep the
 * whole batch's buffer alive).
 *
 * Entries are keyed by model and request id; a row is matched once (a second label for it is
 * a duplicate). A request id reused for a new prediction replaces the old entry.
 */
import { type Clock, systemClock } from './clock.js';
import type { Role } from './version-monitor.js';

export interface PredictionStoreOptions {
  /** most rows stored at once, live and shadow predictions together */
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
  entries: number;
  rows: number;
  /** lifetime counts: predictions stored, entries evicted for room or expired by TTL, and
   * predictions not stored (request id too long, more rows than the whole store, shadow whose
   * live entry was gone) */
  stored: number;
  evicted: number;
  expired: number;
  skipped: number;
}

/** Which outputs a stored answer has; one shared object per shape, not one per entry. */
interface Layout {
  hasLabel: boolean;
  classes: number;
  hasValue: boolean;
  /** numbers per row: [label?, probabilities × classes, value?] */
  width: number;
}

const layouts = new Map<string, Layout>();

function layoutOf(hasLabel: boolean, classes: number, hasValue: boolean): Layout {
  const id = `${hasLabel ? 1 : 0}/${classes}/${hasValue ? 1 : 0}`;
  let layout = layouts.get(id);
  if (!layout) {
    layout = { hasLabel, classes, hasValue, width: (hasLabel ? 1 : 0) + classes + (hasValue ? 1 : 0) };
    layouts.set(id, layout);
  }
  return layout;
}

/**
 * One version's answer, copied row-major into a plain array of doubles (for the few numbers of
 * a typical request, a JS array costs a third of a typed array and its buffer).
 */
class StoredOutputs {
  private constructor(
    readonly version: string,
    readonly role: Role,
    private readonly layout: Layout,
    private readonly data: number[],
  ) {}

  static copy(record: PredictionRecord): StoredOutputs {
    const { rows, labels, probabilities, values } = record;
    const classes = probabilities ? probabilities.length / rows : 0;
    if (!Number.isInteger(classes)) throw new RangeError(`prediction store: ${probabilities!.length} probabilities for ${rows} rows`);
    if (labels && labels.length !== rows) throw new RangeError(`prediction store: ${labels.length} labels for ${rows} rows`);
    if (values && values.length !== rows) throw new RangeError(`prediction store: ${values.length} values for ${rows} rows`);
    const layout = layoutOf(!!labels, classes, !!values);
    // Sized up front: push() would leave spare capacity (17 slots for the first push).
    const data = new Array<number>(rows * layout.width);
    for (let r = 0, at = 0; r < rows; r++) {
      if (labels) data[at++] = +labels[r]!;
      for (let k = 0; k < classes; k++) data[at++] = +probabilities![r * classes + k]!;
      if (values) data[at++] = +values[r]!;
    }
    return new StoredOutputs(record.version, record.role, layout, data);
  }

  row(r: number): RowPrediction {
    const { hasLabel, classes, hasValue, width } = this.layout;
    let at = r * width;
    const label = hasLabel ? this.data[at++]! : null;
    const probabilities = classes > 0 ? this.data.slice(at, at + classes) : null;
    at += classes;
    return { version: this.version, role: this.role, label, probabilities, value: hasValue ? this.data[at]! : null };
  }
}

/** Rows up to this many keep their labelled flags in one small integer. */
const BITMASK_ROWS = 30;

interface Entry {
  /** the model's request-id map, and the key in it */
  ids: Map<string, Entry>;
  requestId: string;
  /** replaced or evicted: a stale slot in the age queue */
  removed: boolean;
  storedAt: number;
  rows: number;
  /** which rows have been labelled: bit r of an integer, or a byte per row for large requests */
  labelled: number | Uint8Array;
  live: StoredOutputs;
  shadow: StoredOutputs | null;
}

/** Marks row `r` labelled; false if it already was. */
function markLabelled(entry: Entry, r: number): boolean {
  const flags = entry.labelled;
  if (typeof flags === 'number') {
    if (flags & (1 << r)) return false;
    entry.labelled = flags | (1 << r);
    return true;
  }
  if (flags[r] === 1) return false;
  flags[r] = 1;
  return true;
}

export class PredictionStore {
  readonly options: Readonly<PredictionStoreOptions>;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  /** model → request id → entry (no concatenated key to allocate and keep per prediction) */
  private readonly models = new Map<string, Map<string, Entry>>();
  private size = 0;
  /**
   * Entries in age order (oldest at `head`), including removed ones until they reach the head.
   * A Map's own insertion order would do, but V8 iterates a Map from its first slot through the
   * deleted ones, so evicting from its front goes quadratic.
   */
  private queue: (Entry | undefined)[] = [];
  private head = 0;
  private rows = 0;
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
  }

  /**
   * Keeps a prediction for later feedback. A live record starts (or replaces) the request's
   * entry; a shadow record joins the live entry of the same request, if it is still stored.
   */
  put(model: string, requestId: string, record: PredictionRecord): void {
    const { rows } = record;
    if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`prediction store: bad row count ${rows}`);
    if (requestId.length > this.options.maxRequestIdLength || rows > this.options.maxRows) {
      this.counts.skipped++;
      return;
    }
    const now = this.clock();
    this.expire(now);
    if (record.role === 'shadow') {
      const entry = this.models.get(model)?.get(requestId);
      if (!entry || entry.shadow || entry.rows !== rows) {
        this.counts.skipped++;
        return;
      }
      if (!this.makeRoom(rows, entry)) {
        this.counts.skipped++;
        return;
      }
      entry.shadow = StoredOutputs.copy(record);
      this.rows += rows;
      this.counts.stored++;
      return;
    }
    let ids = this.models.get(model);
    if (!ids) this.models.set(model, (ids = new Map()));
    const previous = ids.get(requestId);
    if (previous) this.remove(previous);
    this.makeRoom(rows, null);
    const entry: Entry = { ids, requestId, removed: false, storedAt: now, rows, labelled: rows <= BITMASK_ROWS ? 0 : new Uint8Array(rows), live: StoredOutputs.copy(record), shadow: null };
    ids.set(requestId, entry);
    this.size++;
    this.queue.push(entry);
    this.compact();
    this.rows += rows;
    this.counts.stored++;
  }

  /**
   * Finds the prediction a label belongs to and marks the row labelled: the live answer, then
   * the shadow's when the request was mirrored.
   */
  match(model: string, requestId: string, instance: number): FeedbackMatch {
    const now = this.clock();
    this.expire(now);
    const entry = this.models.get(model)?.get(requestId);
    if (!entry) return { outcome: 'unknown' };
    if (!Number.isInteger(instance) || instance < 0 || instance >= entry.rows) {
      return { outcome: 'invalid', reason: `instance ${instance} outside 0..${entry.rows - 1} (the request had ${entry.rows} rows)` };
    }
    if (!markLabelled(entry, instance)) return { outcome: 'duplicate' };
    const predictions = [entry.live.row(instance)];
    if (entry.shadow) predictions.push(entry.shadow.row(instance));
    return { outcome: 'matched', predictions };
  }

  /** Drops entries older than the TTL now (put and match do it too; a periodic sweep frees memory when idle). */
  sweep(): void {
    this.expire(this.clock());
  }

  stats(): PredictionStoreStats {
    return { entries: this.size, rows: this.rows, ...this.counts };
  }

  /** The oldest entry still stored (dropping removed ones from the head), or undefined. */
  private oldest(): Entry | undefined {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head]!;
      if (!entry.removed) return entry;
      this.queue[this.head++] = undefined; // let it be collected
    }
    return undefined;
  }

  private expire(now: number): void {
    for (let entry = this.oldest(); entry && now - entry.storedAt >= this.ttlMs; entry = this.oldest()) {
      this.remove(entry);
      this.counts.expired++;
    }
  }

  /** Evicts the oldest entries (never `keep`) until `rows` more fit; false if they cannot. */
  private makeRoom(rows: number, keep: Entry | null): boolean {
    while (this.rows + rows > this.options.maxRows) {
      let victim = this.oldest();
      for (let i = this.head + 1; victim === keep && victim && i < this.queue.length; i++) {
        victim = this.queue[i]!.removed ? keep : this.queue[i];
      }
      if (!victim || victim === keep) return false;
      this.remove(victim);
      this.counts.evicted++;
    }
    return true;
  }

  private remove(entry: Entry): void {
    entry.removed = true;
    entry.ids.delete(entry.requestId);
    this.size--;
    this.rows -= entry.rows * (entry.shadow ? 2 : 1);
  }

  /** Keeps the queue within twice the live entries (plus slack): amortised O(1) per put. */
  private compact(): void {
    if (this.queue.length - this.head <= 2 * this.size + 1024 && this.head <= this.queue.length / 2) return;
    this.queue = this.queue.slice(this.head).filter((entry) => !entry!.removed);
    this.head = 0;
  }
}
