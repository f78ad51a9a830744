// The /predict row schema of one model version: feature names, types and bounds from
// config.json, or a plain array width inferred from the ONNX input. Compiled once with ajv;
// decoding writes validated rows straight into the typed array the batcher will send.
import type { ValidateFunction } from 'ajv';
import { badRequest } from '../errors.js';
import { allocate, isBigIntType, type OrtType, type TensorData, type TensorSpec } from '../inference/tensors.js';
import type { DecodedInputs, FeatureInput } from './decoded.js';
import type { FeatureConfig } from '../config/model-config.js';
import { ajv, describeAjvError } from '../config/ajv.js';


export class RowSchema {
  readonly width: number;
  private readonly validateObject: ValidateFunction | null;
  private readonly validateArray: ValidateFunction;

  constructor(
    readonly modelName: string,
    /** The ONNX input that takes the [rows, width] matrix. */
    readonly input: TensorSpec,
    /** Feature names in column order, or null when only arrays are accepted. */
    readonly featureNames: readonly string[] | null,
    features: readonly FeatureConfig[] | null,
    width: number,
    readonly maxInstances: number,
  ) {
    this.width = width;
    const itemSchemas = features
      ? features.map(featureSchema)
      : Array.from({ length: width }, () => ({ type: 'number' }));
    this.validateArray = ajv.compile({ type: 'array', minItems: width, maxItems: width, items: itemSchemas });
    this.validateObject = features
      ? ajv.compile({
          type: 'object',
          additionalProperties: false,
          required: features.map((f) => f.name),
          properties: Object.fromEntries(features.map((f) => [f.name, featureSchema(f)])),
        })
      : null;
  }

  /** Tensor dims for `rows` rows: [rows, width], or [rows] for a one-dimensional input. */
  private dims(rows: number): number[] {
    return this.input.shape?.length === 1 ? [rows] : [rows, this.width];
  }

  /** The input drift watches, when its values are floating point (integers are not binned). */
  featureInput(): FeatureInput | null {
    const type = this.input.type;
    return type === 'float32' || type === 'float64' ? { name: this.input.name, width: this.width } : null;
  }

  /** Rows in a /predict body, counted without decoding it (undefined when it is malformed). */
  static countRows(body: { features?: unknown; instances?: unknown }): number | undefined {
    if (body.features !== undefined) return 1;
    return Array.isArray(body.instances) ? body.instances.length : undefined;
  }

  /** Decodes body.features (one row) or body.instances (many rows) into the model's input. */
  decode(body: { features?: unknown; instances?: unknown }): DecodedInputs {
    const { data, rows } = this.decodeRows(body);
    const tensor = { name: this.input.name, type: this.input.type, dims: this.dims(rows), data };
    const drift = this.featureInput();
    return { inputs: [tensor], rows, features: drift ? { data: data as Float32Array, width: this.width } : null };
  }

  private decodeRows(body: { features?: unknown; instances?: unknown }): { data: TensorData; rows: number } {
    if (body.features !== undefined && body.instances !== undefined) {
      throw badRequest('send either features (one row) or instances (several rows), not both');
    }
    if (body.features !== undefined) {
      const data = allocate(this.input.type, this.width);
      this.writeRow(body.features, 'features', data, 0);
      return { data, rows: 1 };
    }
    if (body.instances === undefined) throw badRequest('features (one row) or instances (several rows) is required');
    const instances = body.instances;
    if (!Array.isArray(instances)) throw badRequest('instances must be an array of rows');
    if (instances.length === 0) throw badRequest('instances must hold at least one row');
    if (instances.length > this.maxInstances) {
      throw badRequest(`instances holds ${instances.length} rows; the limit is ${this.maxInstances}`);
    }
    const data = allocate(this.input.type, this.width * instances.length);
    for (let i = 0; i < instances.length; i++) this.writeRow(instances[i], `instances/${i}`, data, i * this.width);
    return { data, rows: instances.length };
  }

  private writeRow(row: unknown, path: string, data: TensorData, offset: number): void {
    if (Array.isArray(row)) {
      if (!this.validateArray(row)) throw badRequest(this.arrayError(row, path));
      write(this.input.type, data, offset, row as number[], (i) => {
        const name = this.featureNames?.[i];
        return `${path}/${i}${name ? ` (feature ${name})` : ''}`;
      });
      return;
    }
    if (row === null || typeof row !== 'object') {
      throw badRequest(
        this.validateObject
          ? `${path} must be an object by feature name or an array of ${this.width} numbers in feature order`
          : `${path} must be an array of ${this.width} numbers (${this.modelName} has no feature names)`,
      );
    }
    if (!this.validateObject) {
      throw badRequest(`${path} must be an array of ${this.width} numbers: ${this.modelName} has no config.json naming its features`);
    }
    if (!this.validateObject(row)) {
      const error = this.validateObject.errors![0]!;
      if (error.keyword === 'additionalProperties') {
        throw badRequest(`${path}/${String(error.params.additionalProperty)} is not a feature of ${this.modelName}`);
      }
      throw badRequest(describeAjvError(error, path));
    }
    const record = row as Record<string, number>;
    const names = this.featureNames!;
    const values = new Array<number>(names.length);
    for (let i = 0; i < names.length; i++) values[i] = record[names[i]!]!;
    write(this.input.type, data, offset, values, (i) => `${path}/${names[i]}`);
  }

  private arrayError(row: unknown[], path: string): string {
    const error = this.validateArray.errors![0]!;
    if (error.keyword === 'minItems' || error.keyword === 'maxItems') {
      return `${path} has ${row.length} values; ${this.modelName} takes ${this.width}`;
    }
    // Name the feature rather than only its index when names are known.
    const index = Number(error.instancePath.split('/')[1]);
    const name = this.featureNames?.[index];
    const message = describeAjvError(error, path);
    return name ? `${message} (feature ${name})` : message;
  }
}

function featureSchema(feature: FeatureConfig): Record<string, unknown> {
  const schema: Record<string, unknown> = { type: feature.type ?? 'number' };
  if (feature.minimum !== undefined) schema.minimum = feature.minimum;
  if (feature.maximum !== undefined) schema.maximum = feature.maximum;
  return schema;
}

function write(type: OrtType, data: TensorData, offset: number, values: readonly number[], at: (index: number) => string): void {
  if (isBigIntType(type)) {
    const target = data as BigInt64Array;
    for (let i = 0; i < values.length; i++) target[offset + i] = BigInt(Math.trunc(values[i]!));
  } else {
    const target = data as Float32Array;
    target.set(values, offset);
    // ajv refused non-numbers and non-finite numbers; a finite float64 beyond the float32 range
    // (say 1e39) still turns into Infinity here, which the model must not see either.
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(target[offset + i]!)) throw badRequest(`${at(i)} is ${values[i]}, outside the ${type} range`);
    }
  }
}

/**
 * Builds the /predict schema for a version, or explains why /predict cannot serve it (the
 * v2 protocol still can).
 */
export function buildRowSchema(
  modelName: string,
  inputs: readonly TensorSpec[],
  options: { inputName?: string; features?: readonly FeatureConfig[]; maxInstances: number },
): RowSchema {
  const input = options.inputName
    ? inputs.find((i) => i.name === options.inputName)
    : inputs.length === 1 ? inputs[0] : undefined;
  if (!input) {
    throw new Error(options.inputName
      ? `config input '${options.inputName}' is not an input of the graph (inputs: ${inputs.map((i) => i.name).join(', ')})`
      : `the graph has ${inputs.length} inputs; /predict needs one feature matrix (set "input" in config.json, or use /v2)`);
  }
  if (input.type === 'string' || input.type === 'bool' || input.type === 'float16') {
    throw new Error(`input '${input.name}' has element type ${input.type}; /predict sends numbers (use /v2)`);
  }
  const shape = input.shape;
  const declaredWidth = shape && shape.length === 2 ? shape[1] : shape && shape.length === 1 ? 1 : undefined;
  if (shape && (shape.length > 2 || shape[0] !== null)) {
    throw new Error(`input '${input.name}' is not a [rows, features] matrix (shape ${JSON.stringify(shape)}); use /v2`);
  }
  const features = options.features ?? null;
  if (features) {
    if (declaredWidth !== undefined && declaredWidth !== null && declaredWidth !== features.length) {
      throw new Error(`config.json names ${features.length} features but input '${input.name}' takes ${declaredWidth}`);
    }
    return new RowSchema(modelName, input, features.map((f) => f.name), features, features.length, options.maxInstances);
  }
  if (declaredWidth === undefined || declaredWidth === null) {
    throw new Error(`input '${input.name}' does not declare how many features a row has; add config.json features`);
  }
  return new RowSchema(modelName, input, null, null, declaredWidth, options.maxInstances);
}
