// config.json: the per-model settings, validated with ajv at load so a typo names its key.
import type { ErrorObject } from 'ajv';
import { invalidFile } from '../errors.js';
import { ajv, ajvErrorPath, describeAjvError } from './ajv.js';

export type Task = 'binary-classification' | 'multiclass-classification' | 'regression' | 'raw';

export interface FeatureConfig {
  name: string;
  type: 'number' | 'integer';
  minimum?: number;
  maximum?: number;
  description?: string;
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
  return config;
}
