// Ground truth arriving after the prediction (POST /feedback): each label is joined to the
// answer it scores — through the store of recent predictions by request id and row, or carried
// in the feedback itself (version and prediction, for a fleet where the label may reach another
// replica) — and scored into that version's performance window for its role; a request that was
// mirrored is scored for the shadow too. Every item ends in one counted outcome: matched,
// unknown (never stored, or evicted), duplicate, or invalid (with the reason). No HTTP here.
import type { Metrics } from '../monitoring/metrics.js';
import type { PredictionStore, RowPrediction } from '../monitoring/prediction-store.js';
import type { Role } from '../monitoring/role.js';
import type { ServedModel } from './served-model.js';

export type FeedbackOutcome = 'matched' | 'unknown' | 'duplicate' | 'invalid';

/** A count per outcome, all zero. */
export function noOutcomes(): Record<FeedbackOutcome, number> {
  return { matched: 0, unknown: 0, duplicate: 0, invalid: 0 };
}

export interface FeedbackResult {
  outcome: FeedbackOutcome;
  /** why an item is invalid, naming the field */
  error?: string;
}

const ITEM_KEYS = new Set(['request_id', 'instance', 'label', 'value', 'version', 'prediction', 'role']);

class InvalidFeedback extends Error {}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export class FeedbackService {
  private readonly outcomes = new Map<string, Record<FeedbackOutcome, number>>();

  constructor(private readonly store: PredictionStore | null, private readonly metrics: Metrics) {}

  /** Outcomes of the feedback a model received since start. */
  counts(model: string): Record<FeedbackOutcome, number> {
    return { ...(this.outcomes.get(model) ?? noOutcomes()) };
  }

  /** Scores one feedback item for `model`; `path` names the item in errors (`feedback/3`). */
  record(model: ServedModel, item: unknown, path: string): FeedbackResult {
    let result: FeedbackResult;
    try {
      result = this.score(model, item, path);
    } catch (error) {
      if (!(error instanceof InvalidFeedback)) throw error;
      result = { outcome: 'invalid', error: error.message };
    }
    this.metrics.feedback.labels(model.name, result.outcome).inc();
    let counts = this.outcomes.get(model.name);
    if (!counts) this.outcomes.set(model.name, (counts = noOutcomes()));
    counts[result.outcome]++;
    return result;
  }

  private score(model: ServedModel, item: unknown, path: string): FeedbackResult {
    const at = (field: string) => (path ? `${path}/${field}` : field);
    if (!isRecord(item)) throw new InvalidFeedback(`${path || 'feedback'} must be an object`);
    for (const key of Object.keys(item)) {
      if (!ITEM_KEYS.has(key)) throw new InvalidFeedback(`${at(key)} is not a feedback field (fields: ${[...ITEM_KEYS].join(', ')})`);
    }
    const task = model.task;
    if (task !== 'binary-classification' && task !== 'multiclass-classification' && task !== 'regression') {
      throw new InvalidFeedback(`model '${model.name}' is not scored against labels (task ${task})`);
    }
    const regression = task === 'regression';
    if (regression && item.label !== undefined) throw new InvalidFeedback(`${at('label')}: '${model.name}' is a regressor; send value`);
    if (!regression && item.value !== undefined) throw new InvalidFeedback(`${at('value')}: '${model.name}' is a classifier; send label`);
    if (item.prediction !== undefined) return this.scoreCarried(model, item, at);

    const requestId = item.request_id;
    if (typeof requestId !== 'string' || requestId === '') {
      throw new InvalidFeedback(`${at('request_id')} is required: the request_id (X-Request-ID) of the prediction, or send version and prediction`);
    }
    const instance = item.instance ?? 0;
    if (typeof instance !== 'number' || !Number.isInteger(instance) || instance < 0) {
      throw new InvalidFeedback(`${at('instance')} must be a row index ≥ 0, got ${JSON.stringify(instance)}`);
    }
    // The truth is checked before the join, so an invalid label does not use up the row.
    const truth = this.truth(model, item, at, null);
    if (!this.store) return { outcome: 'unknown' };
    const match = this.store.match(model.name, requestId, instance);
    if (match.outcome === 'invalid') throw new InvalidFeedback(`${at('instance')}: ${match.reason}`);
    if (match.outcome !== 'matched') return { outcome: match.outcome };
    for (const prediction of match.predictions) this.apply(model, prediction, truth);
    return { outcome: 'matched' };
  }

  /** Self-contained feedback: the version and the prediction as Vigil returned it. */
  private scoreCarried(model: ServedModel, item: Record<string, unknown>, at: (field: string) => string): FeedbackResult {
    const version = item.version;
    if (typeof version !== 'string' && !Number.isInteger(version)) {
      throw new InvalidFeedback(`${at('version')} is required with prediction: the version that answered, e.g. "2"`);
    }
    if (!model.versions.has(String(version))) {
      throw new InvalidFeedback(`${at('version')}: '${model.name}' has no loaded version '${version}' (loaded: ${model.loadedVersions().join(', ') || 'none'})`);
    }
    const role = item.role ?? 'live';
    if (role !== 'live' && role !== 'shadow') throw new InvalidFeedback(`${at('role')} must be "live" or "shadow"`);
    const prediction = item.prediction;
    if (!isRecord(prediction)) throw new InvalidFeedback(`${at('prediction')} must be the prediction object Vigil returned`);
    const classes = this.classCount(model, String(version));
    const row: RowPrediction = { version: String(version), role, label: null, probabilities: null, value: null };
    if (model.task === 'regression') {
      row.value = finite(prediction.value, at('prediction/value'));
    } else {
      row.label = this.classIndex(model, prediction.label, classes, at('prediction/label'));
      if (prediction.probabilities !== undefined) {
        const p = prediction.probabilities;
        if (!Array.isArray(p) || p.length !== classes) throw new InvalidFeedback(`${at('prediction/probabilities')} must hold ${classes} numbers`);
        row.probabilities = p.map((x, i) => finite(x, at(`prediction/probabilities/${i}`)));
      } else if (prediction.probability !== undefined && classes === 2) {
        const p = finite(prediction.probability, at('prediction/probability'));
        row.probabilities = row.label === 1 ? [1 - p, p] : [p, 1 - p];
      }
    }
    this.apply(model, row, this.truth(model, item, at, classes));
    return { outcome: 'matched' };
  }

  /** The true class index, or the true value. */
  private truth(model: ServedModel, item: Record<string, unknown>, at: (field: string) => string, classes: number | null): number {
    if (model.task === 'regression') {
      if (item.value === undefined) throw new InvalidFeedback(`${at('value')} is required: the true value`);
      return finite(item.value, at('value'));
    }
    if (item.label === undefined) throw new InvalidFeedback(`${at('label')} is required: the true class (index or name)`);
    return this.classIndex(model, item.label, classes ?? this.classCount(model, null), at('label'));
  }

  /**
   * A class given by name (config.json `classes`, as /predict answers it) or by index. A name
   * wins over an index when both could match, since names are what Vigil returns.
   */
  private classIndex(model: ServedModel, raw: unknown, classes: number, field: string): number {
    const names = model.config?.classes;
    const named = names ? names.indexOf(raw as string | number) : -1;
    if (named >= 0) return named;
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw < classes) return raw;
    throw new InvalidFeedback(`${field}: ${JSON.stringify(raw)} is not a class index 0..${classes - 1}` +
      (names ? ` or a class name (${names.map((n) => JSON.stringify(n)).join(', ')})` : ''));
  }

  /** Classes of a version's scoring (or of any loaded version's, before the join says which). */
  private classCount(model: ServedModel, version: string | null): number {
    const served = version === null ? model.versions.values().next().value : model.versions.get(version);
    const classes = served?.monitor.settings.scoring?.classes;
    if (!classes) throw new InvalidFeedback(`model '${model.name}' has no version that can be scored (its class count is unknown)`);
    return classes;
  }

  /** Scores one answer of one version and role (a version unloaded since is skipped). */
  private apply(model: ServedModel, prediction: RowPrediction, truth: number): void {
    const version = model.versions.get(prediction.version);
    const window = version?.monitor.roles[prediction.role as Role].performance;
    if (!window) return;
    if (window.task === 'regression') {
      if (prediction.value !== null && Number.isFinite(prediction.value)) window.recordValue(truth, prediction.value);
      return;
    }
    if (truth >= window.classes || prediction.label === null || !Number.isInteger(prediction.label)) return;
    if (prediction.label < 0 || prediction.label >= window.classes) return;
    const probabilities = prediction.probabilities?.length === window.classes ? prediction.probabilities : null;
    window.recordClass(truth, prediction.label, probabilities);
  }
}

function finite(x: unknown, field: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new InvalidFeedback(`${field} must be a finite number, got ${JSON.stringify(x)}`);
  return x;
}
