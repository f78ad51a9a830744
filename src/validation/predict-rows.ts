// The /predict row schema of one model version: feature names, types, bounds and missing-value
// policies from config.json, or a plain array width inferred from the ONNX input. Compiled once
// with ajv; decoding writes validated rows straight into the typed array the batcher will send.
// Common bodies take a compiled fast path (fast-rows.ts: complete rows of finite numbers); any
// body it does not accept is decoded here, so every error comes from the schema. A refused value
// names its field (`features/mean_radius`, `instances/3/mean_radius`) and a reason (missing,
// type, minimum, maximum, not_finite, range, unknown_feature, row_shape).
import type { ErrorObject, ValidateFunction } from 'ajv';
import { rejected } from '../errors.js';
import { allocate, INTEGER_RANGES, isBigIntType, isFloatType, ortToV2, type OrtType, type TensorData, type TensorSpec } from '../inference/tensors.js';
import type { DecodedInputs, FeatureInput } from './decoded.js';
import type { FeatureConfig, MissingPolicy } from '../config/model-config.js';
import { ajv, describeAjvError } from '../config/ajv.js';
import { compileFastRows, type FastRowDecoder } from './fast-rows.js';


export class RowSchema {
  readonly width: number;
  private readonly validateObject: ValidateFunction | null;
  private readonly validateArray: ValidateFunction;
  private readonly fast: FastRowDecoder | null;
  /** per column: what an absent or null value becomes (null = refuse the row) */
  private readonly fill: (number | null)[];
  private readonly scratch: number[];
  /** Whether the input is floating point, so its rows are the feature matrix monitoring reads. */
  private readonly floatingInput: boolean;

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
    this.fill = Array.from({ length: width }, (_, i) => fillValue(features?.[i]?.missing, features?.[i]?.name, input.type));
    this.scratch = new Array<number>(width).fill(0);
    const itemSchemas = features
      ? features.map((feature, i) => featureSchema(feature, this.fillsMissing(i)))
      : Array.from({ length: width }, () => ({ type: 'number' }));
    this.validateArray = ajv.compile({ type: 'array', minItems: width, maxItems: width, items: itemSchemas });
    this.validateObject = features
      ? ajv.compile({
          type: 'object',
          additionalProperties: false,
          required: features.filter((_, i) => !this.fillsMissing(i)).map((f) => f.name),
          properties: Object.fromEntries(features.map((f, i) => [f.name, featureSchema(f, this.fillsMissing(i))])),
        })
      : null;
    this.floatingInput = this.featureInput() !== null;
    this.fast = compileFastRows(input.type, width, features, maxInstances);
  }

  /** Whether column `i` has a missing-value policy, so an absent or null value is filled, not refused. */
  fillsMissing(i: number): boolean {
    return this.fill[i] !== null;
  }

  /** Whether any column has a missing-value policy. */
  get fillsAnyMissing(): boolean {
    return this.fill.some((value) => value !== null);
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

  /**
   * Decodes body.features (one row) or body.instances (many rows) into the model's input;
   * `missing` lists the flat indices (row × width + column) of the values that were absent
   * or null and filled by their feature's policy (the fast path takes complete rows only).
   */
  decode(body: { features?: unknown; instances?: unknown }): DecodedInputs {
    let missing: number[] | null = null;
    let decoded: { data: TensorData; rows: number } | null = this.fast?.decode(body) ?? null;
    if (decoded === null) {
      missing = [];
      decoded = this.decodeRows(body, missing);
    }
    const { data, rows } = decoded;
    const tensor = { name: this.input.name, type: this.input.type, dims: this.dims(rows), data };
    return {
      inputs: [tensor], rows,
      features: this.floatingInput ? { data: data as Float32Array, width: this.width } : null,
      missing: missing?.length ? missing : null,
    };
  }

  /** The schema path alone (the fast path's reference, and the source of every error). */
  decodeRows(body: { features?: unknown; instances?: unknown }, missing: number[] = []): { data: TensorData; rows: number } {
    if (body.features !== undefined && body.instances !== undefined) {
      throw rejected('send either features (one row) or instances (several rows), not both', 'instances', 'row_shape');
    }
    if (body.features !== undefined) {
      const data = allocate(this.input.type, this.width);
      this.writeRow(body.features, 'features', data, 0, missing);
      return { data, rows: 1 };
    }
    if (body.instances === undefined) throw rejected('features (one row) or instances (several rows) is required', 'features', 'missing');
    const instances = body.instances;
    if (!Array.isArray(instances)) throw rejected('instances must be an array of rows', 'instances', 'row_shape');
    if (instances.length === 0) throw rejected('instances must hold at least one row', 'instances', 'row_shape');
    if (instances.length > this.maxInstances) {
      throw rejected(`instances holds ${instances.length} rows; the limit is ${this.maxInstances}`, 'instances', 'row_shape');
    }
    const data = allocate(this.input.type, this.width * instances.length);
    for (let i = 0; i < instances.length; i++) this.writeRow(instances[i], `instances/${i}`, data, i * this.width, missing);
    return { data, rows: instances.length };
  }

  private writeRow(row: unknown, path: string, data: TensorData, offset: number, missing: number[]): void {
    const positional = Array.isArray(row);
    if (positional) {
      if (!this.validateArray(row)) throw this.arrayError(row, path);
    } else {
      if (row === null || typeof row !== 'object') {
        throw rejected(
          this.validateObject
            ? `${path} must be an object by feature name or an array of ${this.width} numbers in feature order`
            : `${path} must be an array of ${this.width} numbers (${this.modelName} has no feature names)`,
          path, 'row_shape',
        );
      }
      if (!this.validateObject) {
        throw rejected(`${path} must be an array of ${this.width} numbers: ${this.modelName} has no config.json naming its features`, path, 'row_shape');
      }
      if (!this.validateObject(row)) throw this.objectError(row as Record<string, unknown>, path);
    }
    // One scratch row per schema (decoding is synchronous): no array per row on the request path.
    const values = this.scratch;
    const names = this.featureNames;
    for (let i = 0; i < this.width; i++) {
      const value = positional ? (row as (number | null)[])[i] : (row as Record<string, number | null | undefined>)[names![i]!];
      if (value === null || value === undefined) {
        // ajv let it through: the feature has a missing-value policy.
        values[i] = this.fill[i]!;
        missing.push(offset + i);
      } else {
        values[i] = value;
      }
    }
    write(this.input.type, data, offset, values, { path, names, positional });
  }

  private objectError(row: Record<string, unknown>, path: string): Error {
    const error = this.validateObject!.errors![0]!;
    if (error.keyword === 'additionalProperties') {
      const name = String(error.params.additionalProperty);
      return rejected(`${path}/${name} is not a feature of ${this.modelName}`, `${path}/${name}`, 'unknown_feature');
    }
    if (error.keyword === 'required') {
      const name = String(error.params.missingProperty);
      return rejected(describeAjvError(error, path), `${path}/${name}`, 'missing');
    }
    const name = error.instancePath.split('/')[1] ?? '';
    if (row[name] === null) return missingValue(`${path}/${name}`, name);
    return rejected(describeAjvError(error, path), `${path}/${name}`, valueReason(error, row[name]));
  }

  private arrayError(row: unknown[], path: string): Error {
    const error = this.validateArray.errors![0]!;
    if (error.keyword === 'minItems' || error.keyword === 'maxItems') {
      return rejected(`${path} has ${row.length} values; ${this.modelName} takes ${this.width}`, path, 'row_shape');
    }
    // Name the feature rather than only its index when names are known.
    const index = Number(error.instancePath.split('/')[1]);
    const name = this.featureNames?.[index];
    if (row[index] === null) return missingValue(`${path}/${name ?? index}`, name ?? `column ${index}`);
    const message = describeAjvError(error, path);
    return rejected(name ? `${message} (feature ${name})` : message, `${path}/${name ?? index}`, valueReason(error, row[index]));
  }
}

function missingValue(field: string, name: string): Error {
  return rejected(`${field} is null: ${name} needs a value (config.json sets no missing-value policy for it)`, field, 'missing');
}

/** The rejection reason of an ajv error about one value. */
function valueReason(error: ErrorObject, value: unknown): string {
  if (value === null || value === undefined) return 'missing';
  if (error.keyword === 'minimum' || error.keyword === 'maximum') return error.keyword;
  return 'type';
}

/** `fillsMissing`: the feature has a missing-value policy, so it also takes null (absent keys are allowed by `required`). */
function featureSchema(feature: FeatureConfig, fillsMissing: boolean): Record<string, unknown> {
  const type = feature.type ?? 'number';
  const schema: Record<string, unknown> = { type: fillsMissing ? [type, 'null'] : type };
  if (feature.minimum !== undefined) schema.minimum = feature.minimum;
  if (feature.maximum !== undefined) schema.maximum = feature.maximum;
  return schema;
}

/** What a missing value of a feature becomes: null (refuse the row), NaN, or the imputed number. */
function fillValue(policy: MissingPolicy | undefined, name: string | undefined, type: OrtType): number | null {
  if (policy === undefined || policy === 'reject') return null;
  if (policy === 'nan') {
    if (!isFloatType(type)) throw new Error(`feature ${name}: missing "nan" needs a floating-point input, and '${type}' has no NaN`);
    return NaN;
  }
  if (!isFloatType(type) && !Number.isInteger(policy.impute)) {
    throw new Error(`feature ${name}: missing {"impute": ${policy.impute}} must be a whole number for the '${type}' input`);
  }
  return policy.impute;
}

/** Where a row came from, to name a refused value: `path/3 (feature bmi)` or `path/bmi`. */
interface RowPlace {
  path: string;
  names: readonly string[] | null;
  /** an array row: values are named by position */
  positional: boolean;
}

function valueLabel(place: RowPlace, i: number): string {
  const name = place.names?.[i];
  return place.positional ? `${place.path}/${i}${name ? ` (feature ${name})` : ''}` : `${place.path}/${name ?? i}`;
}

function valueField(place: RowPlace, i: number): string {
  return `${place.path}/${place.names?.[i] ?? i}`;
}

/** Writes one row; a NaN among `values` is a missing value filled by the "nan" policy (JSON has no NaN). */
function write(type: OrtType, data: TensorData, offset: number, values: readonly number[], place: RowPlace): void {
  if (!isFloatType(type)) {
    writeIntegers(type, data, offset, values, place);
    return;
  }
  const target = data as Float32Array;
  target.set(values, offset);
  // ajv refused non-numbers and non-finite numbers; a finite float64 beyond the float32 range
  // (say 1e39) still turns into Infinity here, which the model must not see either.
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(target[offset + i]!) && !Number.isNaN(values[i]!)) {
      throw rejected(`${valueLabel(place, i)} is ${values[i]}, outside the ${type} range`, valueField(place, i), 'not_finite');
    }
  }
}

/**
 * Integer inputs take whole numbers within the type's range, exactly: a typed array would
 * truncate 1.9 to 1 and wrap 1e19 to a negative number without a word. 64-bit integers stop at
 * ±2^53, beyond which a JSON number no longer holds the integer the client wrote.
 */
function writeIntegers(type: OrtType, data: TensorData, offset: number, values: readonly number[], place: RowPlace): void {
  const [min, max] = INTEGER_RANGES[type]!;
  const big = isBigIntType(type);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (!Number.isInteger(value)) {
      throw rejected(`${valueLabel(place, i)} must be a whole number (${ortToV2(type)} input), got ${value}`, valueField(place, i), 'type');
    }
    if (big) {
      if (!Number.isSafeInteger(value) || BigInt(value) < (min as bigint) || BigInt(value) > (max as bigint)) {
        throw rejected(`${valueLabel(place, i)} is ${value}, outside ${ortToV2(type)} values a JSON number holds exactly (|n| ≤ 2^53 − 1${type === 'uint64' ? ', n ≥ 0' : ''})`,
          valueField(place, i), 'range');
      }
      (data as BigInt64Array)[offset + i] = BigInt(value);
    } else {
      if (value < (min as number) || value > (max as number)) {
        throw rejected(`${valueLabel(place, i)} is ${value}, outside the ${ortToV2(type)} range ${min}..${max}`, valueField(place, i), 'range');
      }
      (data as Int32Array)[offset + i] = value;
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
