// reference.json: the training-time distribution of every feature and output of a version
// (bin edges and proportions), which drift is measured against. Parsed and validated here,
// below every layer that reads it; see docs/drift.md for the format and the drift definition.

export interface ReferenceColumn {
  name: string;
  /** ascending bin edges e_1 < … < e_{k-1} */
  edges: number[];
  /** training proportions of the k bins; length === edges.length + 1 */
  proportions: number[];
  /** training range (features; optional): values outside it count as out of range */
  min?: number;
  max?: number;
}

/** Held-out performance the model was trained to (scikit-learn metric names of docs/feedback.md). */
export interface ReferencePerformance {
  /** held-out rows the metrics were computed on */
  rows: number;
  metrics: Record<string, number>;
}

export interface Reference {
  format: 'vigil-reference/1';
  rows: number;
  features: ReferenceColumn[];
  outputs: ReferenceColumn[];
  performance?: ReferencePerformance;
}

/** Tolerance on Σ proportions = 1 in reference.json (generators round their output). */
const PROPORTION_SUM_TOLERANCE = 1e-3;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (typeof x === 'number') return String(x);
  if (x === undefined) return 'undefined';
  const s = JSON.stringify(x);
  return s === undefined ? typeof x : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * Validates one column; `path` names it in errors, e.g. `features[3]`. Throws an Error whose
 * message starts with the offending field, e.g. `features[3].edges[5]: …`.
 */
export function parseReferenceColumn(raw: unknown, path: string): ReferenceColumn {
  if (!isRecord(raw)) throw new Error(`${path}: expected an object, got ${describe(raw)}`);
  const { name, edges, proportions } = raw;
  if (typeof name !== 'string' || name.length === 0) {
    throw new Error(`${path}.name: expected a non-empty string, got ${describe(name)}`);
  }
  const where = `${path} (${name})`;
  if (!Array.isArray(edges)) throw new Error(`${where}.edges: expected an array, got ${describe(edges)}`);
  if (!Array.isArray(proportions)) {
    throw new Error(`${where}.proportions: expected an array, got ${describe(proportions)}`);
  }
  const e: number[] = [];
  for (let i = 0; i < edges.length; i++) {
    const v: unknown = edges[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new Error(`${where}.edges[${i}]: expected a finite number, got ${describe(v)}`);
    }
    if (i > 0 && !(v > e[i - 1]!)) {
      throw new Error(`${where}.edges[${i}]: edges must be strictly ascending, ${v} follows ${e[i - 1]}`);
    }
    e.push(v);
  }
  if (proportions.length !== e.length + 1) {
    throw new Error(
      `${where}.proportions: expected ${e.length + 1} entries (edges.length + 1), got ${proportions.length}`,
    );
  }
  const p: number[] = [];
  let sum = 0;
  for (let i = 0; i < proportions.length; i++) {
    const v: unknown = proportions[i];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new Error(`${where}.proportions[${i}]: expected a finite number ≥ 0, got ${describe(v)}`);
    }
    p.push(v);
    sum += v;
  }
  if (Math.abs(sum - 1) > PROPORTION_SUM_TOLERANCE) {
    throw new Error(`${where}.proportions: must sum to 1, sum is ${sum}`);
  }
  const column: ReferenceColumn = { name, edges: e, proportions: p };
  for (const bound of ['min', 'max'] as const) {
    const v = raw[bound];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}.${bound}: expected a finite number, got ${describe(v)}`);
    column[bound] = v;
  }
  if (column.min !== undefined && column.max !== undefined && column.min > column.max) {
    throw new Error(`${where}.min: ${column.min} is above max ${column.max}`);
  }
  return column;
}

function parsePerformance(raw: unknown): ReferencePerformance | undefined {
  if (raw === undefined) return undefined;
  if (!isRecord(raw)) throw new Error(`performance: expected an object, got ${describe(raw)}`);
  const { rows, metrics } = raw;
  if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 0) {
    throw new Error(`performance.rows: expected a non-negative integer, got ${describe(rows)}`);
  }
  if (!isRecord(metrics)) throw new Error(`performance.metrics: expected an object, got ${describe(metrics)}`);
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(metrics)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new Error(`performance.metrics.${name}: expected a finite number, got ${describe(value)}`);
    }
    out[name] = value;
  }
  return { rows, metrics: out };
}

function parseColumns(raw: unknown, field: 'features' | 'outputs'): ReferenceColumn[] {
  if (!Array.isArray(raw)) throw new Error(`${field}: expected an array, got ${describe(raw)}`);
  const seen = new Set<string>();
  return raw.map((c: unknown, i) => {
    const col = parseReferenceColumn(c, `${field}[${i}]`);
    if (seen.has(col.name)) throw new Error(`${field}[${i}].name: duplicate column name "${col.name}"`);
    seen.add(col.name);
    return col;
  });
}

/** Validates a parsed reference.json; errors name the bad field (`features[2] (age).edges[4]: …`). */
export function parseReference(json: unknown): Reference {
  if (!isRecord(json)) throw new Error(`reference: expected a JSON object, got ${describe(json)}`);
  if (json.format !== 'vigil-reference/1') {
    throw new Error(`format: expected "vigil-reference/1", got ${describe(json.format)}`);
  }
  const rows = json.rows;
  if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 0) {
    throw new Error(`rows: expected a non-negative integer, got ${describe(rows)}`);
  }
  const reference: Reference = {
    format: 'vigil-reference/1',
    rows,
    features: parseColumns(json.features, 'features'),
    outputs: parseColumns(json.outputs, 'outputs'),
  };
  const performance = parsePerformance(json.performance);
  if (performance) reference.performance = performance;
  return reference;
}
