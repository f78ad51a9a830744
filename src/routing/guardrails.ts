/**
 * Canary guardrails: per model, off by default. Over a sliding time window, a canary whose
 * error rate, p99 latency relative to the primary, or agreement with the primary passes its
 * threshold "trips"; so does a canary whose accuracy against ground truth (each version scored
 * on its own labelled traffic, read from the performance windows by the caller) trails the
 * primary's by more than max_accuracy_drop. The caller then sets its weight to 0
 * (TrafficState.setWeight), logs the trip and counts it.
 *
 * Window: a ring of `slices` time slices (default 12) of window_seconds/slices each; a sample
 * counts while its slice is among the newest `slices`, so the effective window is between
 * (slices-1)/slices and 1 times window_seconds. Memory per version is fixed: counters per slice
 * plus a log-bucketed latency histogram per slice (448 buckets: exact below 32 us, then 16
 * sub-buckets per power of two, so a reported percentile is within ~3 % of the true value).
 * Plain fixed arrays instead of hdr-histogram-js: slices merge by addition, no wasm/heap per
 * slice, and the ratio test does not need more precision.
 */
import type { Clock } from '../monitoring/clock.js';
import { systemClock } from '../monitoring/clock.js';
import { ajvAllErrors } from '../config/ajv.js';
import { invalidField } from '../errors.js';
import { ajvErrorToField } from './traffic.js';

export type { Clock };


export interface GuardrailConfig {
  enabled: boolean;
  window_seconds: number;
  /** Minimum samples in the window (canary; and primary for the p99 ratio) before judging. */
  min_samples: number;
  /** Trip when the canary's error rate (0..1) exceeds this. */
  max_error_rate?: number;
  /** Trip when canary p99 / primary p99 exceeds this. */
  max_p99_ratio?: number;
  /** Trip when the canary's agreement ratio with the primary (0..1) falls below this. */
  min_agreement?: number;
  /** Trip when the canary's accuracy is below the primary's minus this (both with min_samples labels). */
  max_accuracy_drop?: number;
}

export const GUARDRAIL_DEFAULTS: Readonly<GuardrailConfig> = Object.freeze({
  enabled: false,
  window_seconds: 300,
  min_samples: 100,
});

const guardrailSchema = {
  type: 'object',
  properties: {
    enabled: { type: 'boolean' },
    window_seconds: { type: 'number', exclusiveMinimum: 0, maximum: 86400 },
    min_samples: { type: 'integer', minimum: 1 },
    max_error_rate: { type: 'number', minimum: 0, maximum: 1 },
    max_p99_ratio: { type: 'number', exclusiveMinimum: 0 },
    min_agreement: { type: 'number', minimum: 0, maximum: 1 },
    max_accuracy_drop: { type: 'number', minimum: 0, maximum: 1 },
  },
  additionalProperties: false,
} as const;

const validateShape = ajvAllErrors.compile(guardrailSchema);

/**
 * Validates config.json `guardrails` and fills defaults (undefined/absent = disabled).
 * Fields in errors are prefixed with `field` (default "guardrails"), e.g. "guardrails/min_samples".
 */
export function validateGuardrailConfig(json: unknown, field = 'guardrails'): GuardrailConfig {
  if (json === undefined || json === null) return { ...GUARDRAIL_DEFAULTS };
  if (!validateShape(json)) {
    const e = ajvErrorToField(validateShape.errors ?? [], '');
    throw invalidField(e.field === '' ? field : `${field}/${e.field}`, e.reason);
  }
  const cfg: GuardrailConfig = { ...GUARDRAIL_DEFAULTS, ...(json as Partial<GuardrailConfig>) };
  for (const k of ['window_seconds', 'max_error_rate', 'max_p99_ratio', 'min_agreement', 'max_accuracy_drop'] as const) {
    const v = cfg[k];
    if (v !== undefined && !Number.isFinite(v)) throw invalidField(`${field}/${k}`, 'must be a finite number');
  }
  if (
    cfg.enabled &&
    cfg.max_error_rate === undefined &&
    cfg.max_p99_ratio === undefined &&
    cfg.min_agreement === undefined &&
    cfg.max_accuracy_drop === undefined
  ) {
    throw invalidField(field, 'enabled guardrails need at least one of max_error_rate, max_p99_ratio, min_agreement, max_accuracy_drop');
  }
  return cfg;
}

export type TripReason = 'error_rate' | 'p99_ratio' | 'agreement' | 'accuracy';

/** A version's accuracy over labelled traffic, and how many labels it rests on. */
export type AccuracyOf = (version: string) => { value: number | null; labels: number } | null;

export interface GuardrailTrip {
  version: string;
  reason: TripReason;
  /** Observed value: error rate, p99 ratio, agreement ratio, or accuracy. */
  value: number;
  threshold: number;
  /** Samples behind the value (requests, ok requests, comparisons, or labels). */
  samples: number;
}

export interface WindowStats {
  requests: number;
  errors: number;
  /** errors / requests; null without requests. */
  errorRate: number | null;
  /** p99 of successful requests' latency (us); null without any. */
  p99Micros: number | null;
  agreementCompared: number;
  agreementRatio: number | null;
}

// ---- log-bucketed latency histogram (integer microseconds) ----
const EXACT = 32;
const SUB = 16;
const MAX_MICROS = 0x7fffffff;
export const LATENCY_BUCKETS = EXACT + (30 - 5 + 1) * SUB; // 448

export function latencyBucket(micros: number): number {
  if (!(micros > 0)) return 0; // NaN, negative, 0
  const v = micros >= MAX_MICROS ? MAX_MICROS : Math.floor(micros);
  if (v < EXACT) return v;
  const e = 31 - Math.clz32(v); // 5..30
  return EXACT + (e - 5) * SUB + ((v >>> (e - 4)) - SUB);
}

/** Representative value (midpoint) of a bucket. */
export function bucketValue(index: number): number {
  if (index < EXACT) return index;
  const j = index - EXACT;
  const e = 5 + Math.floor(j / SUB);
  const width = 2 ** (e - 4);
  return (SUB + (j % SUB)) * width + width / 2;
}

function percentileOf(hist: Uint32Array, total: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return bucketValue(i);
  }
  return bucketValue(hist.length - 1);
}

/** Sliding-window counters of one version. */
class VersionWindow {
  readonly epochs: Float64Array;
  readonly requests: Uint32Array;
  readonly errors: Uint32Array;
  readonly agreeCompared: Uint32Array;
  readonly agreeAgreed: Uint32Array;
  readonly hist: Uint32Array;

  constructor(readonly slices: number) {
    this.epochs = new Float64Array(slices).fill(-Infinity);
    this.requests = new Uint32Array(slices);
    this.errors = new Uint32Array(slices);
    this.agreeCompared = new Uint32Array(slices);
    this.agreeAgreed = new Uint32Array(slices);
    this.hist = new Uint32Array(slices * LATENCY_BUCKETS);
  }

  /** Ring position for slice `epoch`, cleared if it held an older slice. */
  slot(epoch: number): number {
    const pos = ((epoch % this.slices) + this.slices) % this.slices;
    if (this.epochs[pos] !== epoch) {
      this.epochs[pos] = epoch;
      this.requests[pos] = 0;
      this.errors[pos] = 0;
      this.agreeCompared[pos] = 0;
      this.agreeAgreed[pos] = 0;
      this.hist.fill(0, pos * LATENCY_BUCKETS, (pos + 1) * LATENCY_BUCKETS);
    }
    return pos;
  }

  /** Sums the live slices; latency histogram into `histOut` (overwritten). */
  sum(current: number, histOut: Uint32Array): { requests: number; errors: number; ok: number; compared: number; agreed: number } {
    let requests = 0;
    let errors = 0;
    let compared = 0;
    let agreed = 0;
    histOut.fill(0);
    for (let pos = 0; pos < this.slices; pos++) {
      if (!(this.epochs[pos]! > current - this.slices)) continue;
      requests += this.requests[pos]!;
      errors += this.errors[pos]!;
      compared += this.agreeCompared[pos]!;
      agreed += this.agreeAgreed[pos]!;
      const base = pos * LATENCY_BUCKETS;
      for (let i = 0; i < LATENCY_BUCKETS; i++) histOut[i]! += this.hist[base + i]!;
    }
    return { requests, errors, ok: requests - errors, compared, agreed };
  }
}

export interface CanaryGuardOptions {
  /** Number of time slices in the window (default 12). */
  slices?: number;
}

/** Guardrails of one model. Feed it live results per version and agreement per canary. */
export class CanaryGuard {
  readonly config: Readonly<GuardrailConfig>;
  private readonly slices: number;
  private readonly sliceMs: number;
  private readonly windows = new Map<string, VersionWindow>();
  private latestEpoch = -Infinity;
  private readonly scratchA = new Uint32Array(LATENCY_BUCKETS);
  private readonly scratchB = new Uint32Array(LATENCY_BUCKETS);

  constructor(
    config: GuardrailConfig,
    private readonly clock: Clock = systemClock,
    options: CanaryGuardOptions = {},
  ) {
    this.config = Object.freeze({ ...config });
    this.slices = options.slices ?? 12;
    if (!Number.isInteger(this.slices) || this.slices < 1) throw new RangeError('slices must be an integer >= 1');
    if (!(config.window_seconds > 0)) throw new RangeError('window_seconds must be > 0');
    this.sliceMs = (config.window_seconds * 1000) / this.slices;
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** One live request served by `version`. Latency of failed requests is not counted in p99. */
  record(version: string, result: { ok: boolean; latencyMicros: number }): void {
    if (!this.config.enabled) return;
    const w = this.window(version);
    const pos = w.slot(this.epoch());
    w.requests[pos]!++;
    if (result.ok) w.hist[pos * LATENCY_BUCKETS + latencyBucket(result.latencyMicros)]!++;
    else w.errors[pos]!++;
  }

  /** One comparison of the canary's output with the primary's (shadow or paired rows). */
  recordAgreement(canaryVersion: string, agreed: boolean): void {
    if (!this.config.enabled) return;
    const w = this.window(canaryVersion);
    const pos = w.slot(this.epoch());
    w.agreeCompared[pos]!++;
    if (agreed) w.agreeAgreed[pos]!++;
  }

  /** Canaries that pass a threshold now (one entry per canary and reason). */
  evaluate(primary: string, canaries: readonly string[], accuracyOf: AccuracyOf = () => null): GuardrailTrip[] {
    const trips: GuardrailTrip[] = [];
    const cfg = this.config;
    if (!cfg.enabled) return trips;
    const now = this.epoch();
    const min = cfg.min_samples;
    let primaryP99: number | null = null;
    if (cfg.max_p99_ratio !== undefined) {
      const pw = this.windows.get(primary);
      if (pw !== undefined) {
        const p = pw.sum(now, this.scratchA);
        if (p.ok >= min) primaryP99 = percentileOf(this.scratchA, p.ok, 0.99);
      }
    }
    const primaryAccuracy = cfg.max_accuracy_drop === undefined ? null : accuracyOf(primary);
    for (const version of canaries) {
      if (version === primary) continue;
      if (cfg.max_accuracy_drop !== undefined && primaryAccuracy?.value != null && primaryAccuracy.labels >= min) {
        const accuracy = accuracyOf(version);
        const threshold = primaryAccuracy.value - cfg.max_accuracy_drop;
        if (accuracy?.value != null && accuracy.labels >= min && accuracy.value < threshold) {
          trips.push({ version, reason: 'accuracy', value: accuracy.value, threshold, samples: accuracy.labels });
        }
      }
      const w = this.windows.get(version);
      if (w === undefined) continue;
      const s = w.sum(now, this.scratchB);
      if (cfg.max_error_rate !== undefined && s.requests >= min) {
        const rate = s.errors / s.requests;
        if (rate > cfg.max_error_rate) {
          trips.push({ version, reason: 'error_rate', value: rate, threshold: cfg.max_error_rate, samples: s.requests });
        }
      }
      if (cfg.max_p99_ratio !== undefined && primaryP99 !== null && s.ok >= min) {
        const ratio = percentileOf(this.scratchB, s.ok, 0.99) / Math.max(primaryP99, 1);
        if (ratio > cfg.max_p99_ratio) {
          trips.push({ version, reason: 'p99_ratio', value: ratio, threshold: cfg.max_p99_ratio, samples: s.ok });
        }
      }
      if (cfg.min_agreement !== undefined && s.compared >= min) {
        const ratio = s.agreed / s.compared;
        if (ratio < cfg.min_agreement) {
          trips.push({ version, reason: 'agreement', value: ratio, threshold: cfg.min_agreement, samples: s.compared });
        }
      }
    }
    return trips;
  }

  /** Window summary of one version (for /stats and logs); null if never seen. */
  stats(version: string): WindowStats | null {
    const w = this.windows.get(version);
    if (w === undefined) return null;
    const s = w.sum(this.epoch(), this.scratchB);
    return {
      requests: s.requests,
      errors: s.errors,
      errorRate: s.requests === 0 ? null : s.errors / s.requests,
      p99Micros: s.ok === 0 ? null : percentileOf(this.scratchB, s.ok, 0.99),
      agreementCompared: s.compared,
      agreementRatio: s.compared === 0 ? null : s.agreed / s.compared,
    };
  }

  /** Forget a version's samples (after a trip/rollback, or when it is unloaded). */
  reset(version: string): void {
    this.windows.delete(version);
  }

  private window(version: string): VersionWindow {
    let w = this.windows.get(version);
    if (w === undefined) {
      w = new VersionWindow(this.slices);
      this.windows.set(version, w);
    }
    return w;
  }

  /** Current slice number; never goes backwards even if the clock does. */
  private epoch(): number {
    const e = Math.floor(this.clock() / this.sliceMs);
    if (e > this.latestEpoch) this.latestEpoch = e;
    return this.latestEpoch;
  }
}
