// Open Inference Protocol v2 request decoding for one model version: an ajv-checked envelope,
// then each input tensor checked against the graph (name, datatype, shape) and its data (JSON,
// flat or nested, row-major; or binary, from the bytes after the JSON header in the binary
// tensor data extension) written into the typed array ORT takes. Also which outputs the client
// wants, and which of them in binary.
import type { ValidateFunction } from 'ajv';
import { badRequest } from '../errors.js';
import {
  allocate, floatToHalf, INTEGER_RANGES, isBigIntType, ortToV2, V2_DATATYPES,
  type OrtType, type TensorData, type TensorSpec, type V2Datatype, type WireTensor,
} from '../inference/tensors.js';
import { ajv, describeAjvError } from '../config/ajv.js';
import { decodeBinaryTensor } from './binary-tensors.js';
import type { DecodedInputs, FeatureInput } from './decoded.js';
import { checkRowCount, MAX_TENSOR_RANK, tensorElementCount } from './limits.js';

interface V2Input {
  name: string;
  shape: number[];
  datatype: V2Datatype;
  data?: unknown[];
  parameters?: { binary_data_size?: number };
}

export interface V2InferRequest {
  id?: string;
  inputs: V2Input[];
  outputs?: { name: string; parameters?: { binary_data?: boolean } }[];
  parameters?: { binary_data_output?: boolean };
}

export interface DecodedV2 extends DecodedInputs {
  id: string | undefined;
  /** Output names the client asked for, or null for all. */
  outputs: string[] | null;
  /** Whether an output goes back as binary data (binary tensor data extension). */
  binary(output: string): boolean;
}

/** The envelope; `binaryBody`: the body may carry tensors as bytes after its JSON header. */
function envelopeSchema(binaryBody: boolean) {
  return {
    type: 'object',
    required: ['inputs'],
    additionalProperties: false,
    properties: {
      id: { type: 'string' },
      parameters: { type: 'object', properties: { binary_data_output: { type: 'boolean' } } },
      inputs: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: binaryBody ? ['name', 'shape', 'datatype'] : ['name', 'shape', 'datatype', 'data'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            shape: { type: 'array', maxItems: MAX_TENSOR_RANK, items: { type: 'integer', minimum: 0 } },
            datatype: { enum: V2_DATATYPES },
            data: { type: 'array' },
            parameters: binaryBody
              ? { type: 'object', properties: { binary_data_size: { type: 'integer', minimum: 0 } } }
              : { type: 'object' },
          },
        },
      },
      outputs: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            parameters: { type: 'object', properties: { binary_data: { type: 'boolean' } } },
          },
        },
      },
    },
  };
}

const jsonEnvelope: ValidateFunction = ajv.compile(envelopeSchema(false));
const binaryEnvelope: ValidateFunction = ajv.compile(envelopeSchema(true));

export interface V2Limits {
  /** --max-tensor-elements */
  maxTensorElements: number;
  /** Rows one request may hold (batchable models: the first dimension). */
  maxRows: number;
}

export class V2Decoder {
  /** Where the feature matrix sits among the decoded tensors (graph order), or -1. */
  private readonly featureIndex: number;

  constructor(
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    readonly batchable: boolean,
    /** The input monitoring reads as the feature matrix (data quality, drift off the workers), or null. */
    private readonly featureInput: FeatureInput | null,
    private readonly limits: V2Limits,
  ) {
    this.featureIndex = featureInput ? inputs.findIndex((s) => s.name === featureInput.name) : -1;
  }

  /**
   * Decodes a parsed request. `binary`: the bytes after the JSON header when the body uses the
   * binary tensor data extension (inputs with parameters.binary_data_size take theirs from it,
   * in input order); undefined for a plain JSON body.
   */
  decode(body: unknown, binary?: Uint8Array): DecodedV2 {
    const envelope = binary ? binaryEnvelope : jsonEnvelope;
    if (!envelope(body)) throw badRequest(describeAjvError(envelope.errors![0]!, ''));
    const request = body as V2InferRequest;
    const byName = new Map<string, WireTensor>();
    let offset = 0;
    request.inputs.forEach((input, index) => {
      const spec = this.inputs.find((s) => s.name === input.name);
      if (!spec) {
        throw badRequest(`inputs/${index}/name: the model has no input '${input.name}' (inputs: ${this.inputs.map((s) => s.name).join(', ')})`);
      }
      if (byName.has(input.name)) throw badRequest(`inputs/${index}/name: input '${input.name}' is given twice`);
      const path = `inputs/${index}`;
      const size = input.parameters?.binary_data_size;
      let bytes: Uint8Array | undefined;
      if (binary && size !== undefined) {
        if (input.data !== undefined) throw badRequest(`${path}: give data or parameters.binary_data_size, not both`);
        if (offset + size > binary.length) {
          throw badRequest(`${path}/parameters/binary_data_size: ${size} bytes, but only ${binary.length - offset} bytes of binary data are left after the earlier inputs`);
        }
        bytes = binary.subarray(offset, offset + size);
        offset += size;
      } else if (input.data === undefined) {
        throw badRequest(`${path}/data is required (or parameters.binary_data_size, for binary data after the JSON header)`);
      }
      byName.set(input.name, this.decodeTensor(input, spec, path, bytes));
    });
    if (binary && offset !== binary.length) {
      throw badRequest(`the body holds ${binary.length} bytes of binary data after its JSON header, but the inputs' binary_data_size add up to ${offset}`);
    }
    const tensors = this.inputs.map((spec) => {
      const tensor = byName.get(spec.name);
      if (!tensor) throw badRequest(`inputs: missing input '${spec.name}'`);
      return tensor;
    });
    let rows = 1;
    if (this.batchable) {
      rows = tensors[0]!.dims[0]!;
      tensors.forEach((t, i) => {
        if (t.dims[0] !== rows) {
          throw badRequest(`inputs: '${t.name}' has ${t.dims[0]} rows but '${tensors[0]!.name}' has ${rows}; the first dimension must agree`);
        }
        if (i === 0 && rows === 0) throw badRequest(`inputs: '${t.name}' has no rows`);
      });
    }
    let outputs: string[] | null = null;
    const binaryOutputs = new Map<string, boolean>();
    if (request.outputs) {
      outputs = request.outputs.map((o, index) => {
        if (!this.outputs.some((s) => s.name === o.name)) {
          throw badRequest(`outputs/${index}/name: the model has no output '${o.name}' (outputs: ${this.outputs.map((s) => s.name).join(', ')})`);
        }
        const wanted = o.parameters?.binary_data;
        if (wanted !== undefined) binaryOutputs.set(o.name, wanted);
        return o.name;
      });
    }
    // An output's own binary_data wins over the request's binary_data_output.
    const binaryByDefault = request.parameters?.binary_data_output === true;
    const features = this.featureIndex >= 0 ? { data: tensors[this.featureIndex]!.data as Float32Array, width: this.featureInput!.width } : null;
    return { id: request.id, inputs: tensors, rows, features, outputs, binary: (name) => binaryOutputs.get(name) ?? binaryByDefault };
  }

  /** Every size is checked against the data and the limits before the tensor is allocated. */
  private decodeTensor(input: V2Input, spec: TensorSpec, path: string, bytes: Uint8Array | undefined): WireTensor {
    checkHeader(input, spec, path);
    const dims = input.shape;
    const count = tensorElementCount(dims, this.limits.maxTensorElements, `${path}/shape`);
    if (this.batchable && dims.length > 0) checkRowCount(dims[0]!, this.limits.maxRows, `${path}/shape`);
    if (bytes) return { name: spec.name, type: spec.type, dims: [...dims], data: decodeBinaryTensor(bytes, spec.type, count, path) };
    checkStructure(input.data!, dims, count, `${path}/data`);
    const data = allocate(spec.type, count);
    const written = fill(input.data!, spec.type, data, 0, `${path}/data`);
    if (written !== count) {
      throw badRequest(`${path}/data holds ${written} elements but shape [${dims.join(', ')}] needs ${count}`);
    }
    return { name: spec.name, type: spec.type, dims: [...dims], data };
  }
}

function checkHeader(input: V2Input, spec: TensorSpec, path: string): void {
  const expected = ortToV2(spec.type);
  if (input.datatype !== expected) {
    throw badRequest(`${path}/datatype: input '${spec.name}' takes ${expected}, got ${input.datatype}`);
  }
  const dims = input.shape;
  if (spec.shape) {
    const matches = spec.shape.length === dims.length && spec.shape.every((d, i) => d === null || d === dims[i]);
    if (!matches) {
      const want = `[${spec.shape.map((d) => (d === null ? -1 : d)).join(', ')}]`;
      throw badRequest(`${path}/shape: input '${spec.name}' takes shape ${want} (-1 = any), got [${dims.join(', ')}]`);
    }
  }
}

/**
 * Checks that `data` has exactly the structure `dims` describes, before anything is allocated:
 * flat (dims' product of scalars) or nested one array per dimension, every array at a level as
 * long as that dimension (ragged rows are refused). Only arrays are visited, not the scalars,
 * so the cost is the number of rows, and the element count is then bounded by what the client
 * really sent.
 */
function checkStructure(data: unknown[], dims: readonly number[], count: number, path: string): void {
  if (dims.length < 2 || !Array.isArray(data[0])) {
    if (data.length !== count) {
      throw badRequest(`${path} holds ${data.length} values but shape [${dims.join(', ')}] needs ${count}`);
    }
    return;
  }
  checkNested(data, dims, 0, path);
}

function checkNested(values: unknown[], dims: readonly number[], level: number, path: string): void {
  if (values.length !== dims[level]) {
    throw badRequest(`${path} holds ${values.length} values but dimension ${level} of shape [${dims.join(', ')}] is ${dims[level]}` +
      (level > 0 ? ' (ragged nested data)' : ''));
  }
  if (level === dims.length - 1) return; // scalars: write() checks each
  for (let i = 0; i < values.length; i++) {
    const inner = values[i];
    if (!Array.isArray(inner)) {
      throw badRequest(`${path}/${i} must be an array of ${dims[level + 1]} values (nested data follows the shape [${dims.join(', ')}])`);
    }
    checkNested(inner, dims, level + 1, `${path}/${i}`);
  }
}

/** Writes checked (flat or nested) JSON values into `data` in row-major order; returns the next index. */
function fill(values: unknown[], type: OrtType, data: TensorData, at: number, path: string): number {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (Array.isArray(value)) {
      // checkStructure proved nesting follows the shape, so recursion is at most its rank deep.
      at = fill(value, type, data, at, `${path}/${i}`);
      continue;
    }
    write(value, type, data, at++, `${path}/${i}`);
  }
  return at;
}

function write(value: unknown, type: OrtType, data: TensorData, at: number, path: string): void {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw badRequest(`${path} must be a string (BYTES)`);
      (data as string[])[at] = value;
      return;
    case 'bool':
      if (typeof value !== 'boolean') throw badRequest(`${path} must be true or false (BOOL)`);
      (data as Uint8Array)[at] = value ? 1 : 0;
      return;
    case 'float16':
      if (typeof value !== 'number') throw badRequest(`${path} must be a number (FP16)`);
      {
        // JSON has no NaN/Infinity, but 1e999 parses to Infinity, and 65520 and up round to it.
        const half = floatToHalf(value);
        if ((half & 0x7c00) === 0x7c00) throw badRequest(`${path} must be a finite number within the FP16 range`);
        (data as Uint16Array)[at] = half;
      }
      return;
    case 'float32':
    case 'float64':
      if (typeof value !== 'number') throw badRequest(`${path} must be a number (${ortToV2(type)})`);
      if (!Number.isFinite(value) || (type === 'float32' && !Number.isFinite(Math.fround(value)))) {
        throw badRequest(`${path} must be a finite number within the ${ortToV2(type)} range`);
      }
      (data as Float64Array)[at] = value;
      return;
    default: {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw badRequest(`${path} must be an integer (${ortToV2(type)})`);
      }
      const [min, max] = INTEGER_RANGES[type]!;
      if (isBigIntType(type)) {
        if (!Number.isSafeInteger(value)) throw badRequest(`${path} is beyond ±2^53, where JSON numbers lose precision (${ortToV2(type)})`);
        const big = BigInt(value);
        if (big < (min as bigint) || big > (max as bigint)) throw badRequest(`${path} is out of range for ${ortToV2(type)}`);
        (data as BigInt64Array)[at] = big;
      } else {
        if (value < (min as number) || value > (max as number)) throw badRequest(`${path} is out of range for ${ortToV2(type)}`);
        (data as Int32Array)[at] = value;
      }
    }
  }
}
