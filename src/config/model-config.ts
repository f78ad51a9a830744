// config.json: the per-model settings, validated with ajv at load so a typo names its key.
import type { ErrorObject } from 'ajv';
import { invalidFile } from '../errors.js';
import { ajv, ajvErrorPath, describeAjvError } from './ajv.js';
import { httpUrl } from './urls.js';

export type Task = 'binary-classification' | 'multiclass-classification' | 'regression' | 'raw';

/** What /predict does with a feature that is absent or null: refuse the row, write a number, or NaN. */
export type MissingPolicy = 'reject' | 'nan' | { impute: number };

export interface FeatureConfig {
  name: string;
  type: 'number' | 'integer';
  minimum?: number;
  maximum?: number;
  description?: string;
  /** default 'reject' */
  missing?: MissingPolicy;
}

export interface BatchingConfig {
  max_batch_size: number;
  max_queue_delay_us: number;
  max_queue_rows: number;
}

export interface DriftConfig {
  slices: number;
  slice_seconds: number;
  psi_alert: number;
  min_samples: number;
  /** significance per window span (docs/drift.md) */
  alpha: number;
  /** slices in a row the alert condition must hold to raise or clear */
  consecutive: number;
}

/** The metrics performance windows compute (scikit-learn's names; docs/feedback.md). */
export const CLASSIFIER_METRICS = ['accuracy', 'precision', 'recall', 'f1', 'log_loss', 'auc'] as const;
export const REGRESSOR_METRICS = ['mae', 'rmse'] as const;
export type MetricName = (typeof CLASSIFIER_METRICS)[number] | (typeof REGRESSOR_METRICS)[number];

/** Concept drift: online metrics against reference.json's held-out performance. */
export interface PerformanceConfig {
  /** labels in the window before a metric is judged */
  min_labels: number;
  /** how much worse than the reference a metric may get, relative to the reference */
  margin: number;
  /** metrics watched */
  metrics: MetricName[];
}

/** Data quality: out-of-range and missing rates over the drift window. */
export interface DataQualityConfig {
  max_out_of_range_rate: number;
  max_missing_rate: number;
  /** rows in the window before a rate is judged */
  min_rows: number;
}

export interface ModelConfig {
  task: Task;
  description?: string;
  features?: FeatureConfig[];
  /** ONNX input that receives the feature rows; defaults to the model's only input. */
  input?: string;
  /** ONNX outputs that carry the label / class probabilities / regression value. */
  outputs?: { label?: string; probabilities?: string; value?: string };
  /** Display names for class indices 0..C-1 (labels stay indices when absent). */
  classes?: (string | number)[];
  traffic?: {
    weights?: Record<string, number>;
    shadow?: { version: string; percent: number } | null;
    /** |live − shadow| at or below this counts as agreement for regressors. */
    agreement_tolerance?: number;
  };
  batching?: Partial<BatchingConfig>;
  drift?: Partial<DriftConfig>;
  performance?: Partial<PerformanceConfig>;
  data_quality?: Partial<DataQualityConfig>;
  /** webhook URLs that receive this model's alerts, besides --alert-webhook */
  alerts?: { webhooks?: string[] };
  guardrails?: Record<string, unknown>;
  max_instances?: number;
}

const positiveInteger = { type: 'integer', minimum: 1 } as const;

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['task'],
  properties: {
    task: { enum: ['binary-classification', 'multiclass-classification', 'regression', 'raw'] },
    description: { type: 'string' },
    input: { type: 'string' },
    features: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 },
          type: { enum: ['number', 'integer'] },
          minimum: { type: 'number' },
          maximum: { type: 'number' },
          description: { type: 'string' },
          missing: {
            anyOf: [
              { enum: ['reject', 'nan'] },
              { type: 'object', additionalProperties: false, required: ['impute'], properties: { impute: { type: 'number' } } },
            ],
          },
        },
      },
    },
    outputs: {
      type: 'object',
      additionalProperties: false,
      properties: { label: { type: 'string' }, probabilities: { type: 'string' }, value: { type: 'string' } },
    },
    classes: { type: 'array', items: { type: ['string', 'number'] } },
    traffic: {
      type: 'object',
      additionalProperties: false,
      properties: {
        weights: { type: 'object', additionalProperties: { type: 'number', minimum: 0 } },
        shadow: {
          anyOf: [
            { type: 'null' },
            {
              type: 'object',
              additionalProperties: false,
              required: ['version', 'percent'],
              properties: { version: { type: 'string' }, percent: { type: 'number', minimum: 0, maximum: 100 } },
            },
          ],
        },
        agreement_tolerance: { type: 'number', minimum: 0 },
      },
    },
    batching: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_batch_size: positiveInteger,
        max_queue_delay_us: { type: 'integer', minimum: 0 },
        max_queue_rows: positiveInteger,
      },
    },
    drift: {
      type: 'object',
      additionalProperties: false,
      properties: {
        slices: positiveInteger,
        slice_seconds: { type: 'number', exclusiveMinimum: 0 },
        psi_alert: { type: 'number', exclusiveMinimum: 0 },
        min_samples: positiveInteger,
        alpha: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
        consecutive: positiveInteger,
      },
    },
    performance: {
      type: 'object',
      additionalProperties: false,
      properties: {
        min_labels: positiveInteger,
        margin: { type: 'number', minimum: 0 },
        metrics: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...CLASSIFIER_METRICS, ...REGRESSOR_METRICS] } },
      },
    },
    data_quality: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_out_of_range_rate: { type: 'number', minimum: 0, maximum: 1 },
        max_missing_rate: { type: 'number', minimum: 0, maximum: 1 },
        min_rows: positiveInteger,
      },
    },
    alerts: {
      type: 'object',
      additionalProperties: false,
      properties: {
        webhooks: { type: 'array', items: { type: 'string', pattern: '^https?://' } },
      },
    },
    guardrails: { type: 'object' },
    max_instances: positiveInteger,
  },
};

const validate = ajv.compile(schema);

export function parseModelConfig(json: unknown, file: string): ModelConfig {
  if (!validate(json)) {
    const error = validate.errors![0] as ErrorObject;
    throw invalidFile(file, describeAjvError(error, ''), ajvErrorPath(error, ''));
  }
  const config = json as unknown as ModelConfig;
  const names = new Set<string>();
  for (const [i, feature] of (config.features ?? []).entries()) {
    if (names.has(feature.name)) throw invalidFile(file, `features/${i}/name '${feature.name}' is repeated`, `features/${i}/name`);
    names.add(feature.name);
    if (feature.minimum !== undefined && feature.maximum !== undefined && feature.minimum > feature.maximum) {
      throw invalidFile(file, `features/${i}: minimum is above maximum`, `features/${i}`);
    }
  }
  const allowed: readonly string[] = config.task === 'regression' ? REGRESSOR_METRICS
    : config.task === 'binary-classification' ? CLASSIFIER_METRICS
      : config.task === 'multiclass-classification' ? CLASSIFIER_METRICS.filter((m) => m !== 'auc') : [];
  for (const [i, metric] of (config.performance?.metrics ?? []).entries()) {
    if (!allowed.includes(metric)) {
      throw invalidFile(file, `performance/metrics/${i}: '${metric}' is not measured for a ${config.task} model (${allowed.join(', ') || 'none'})`, `performance/metrics/${i}`);
    }
  }
  for (const [i, url] of (config.alerts?.webhooks ?? []).entries()) {
    if (!httpUrl(url)) throw invalidFile(file, `alerts/webhooks/${i}: '${url}' is not an http(s) URL`, `alerts/webhooks/${i}`);
  }
  return config;
}
