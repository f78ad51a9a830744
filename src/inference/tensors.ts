// One vocabulary for tensors across the gateway: Open Inference Protocol v2 datatypes,
// ONNX Runtime element types, and the typed arrays that carry rows between threads.

export type OrtType =
  | 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'float16' | 'float32' | 'float64' | 'string';

export type V2Datatype =
  | 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64'
  | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'FP32' | 'FP64' | 'BYTES';

export type TypedArray =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array;

/** Tensor payload: a typed array for numeric/bool types, an array of strings for BYTES. */
export type TensorData = TypedArray | string[];

/** A tensor as it crosses the worker boundary (copied through the worker's shared slot: slab.ts). */
export interface WireTensor {
  name: string;
  type: OrtType;
  dims: number[];
  data: TensorData;
}

/** Dimension of a model input or output: a fixed size, or null when free (symbolic or -1). */
export type Dim = number | null;

export interface TensorSpec {
  name: string;
  type: OrtType;
  /** null when the model does not declare a rank. */
  shape: Dim[] | null;
}

const V2_TO_ORT: Record<V2Datatype, OrtType> = {
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64',
  INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64',
  FP16: 'float16', FP32: 'float32', FP64: 'float64', BYTES: 'string',
};

const ORT_TO_V2 = Object.fromEntries(
  Object.entries(V2_TO_ORT).map(([v2, ort]) => [ort, v2]),
) as Record<OrtType, V2Datatype>;

export const V2_DATATYPES = Object.keys(V2_TO_ORT) as V2Datatype[];

/** Every ORT type, in the order above: slab.ts writes a type as its index here. */
export const ORT_TYPES: readonly OrtType[] = Object.values(V2_TO_ORT);

export function ortToV2(type: OrtType): V2Datatype {
  return ORT_TO_V2[type];
}

export function isOrtType(type: string): type is OrtType {
  return type in ORT_TO_V2;
}

type NumericOrtType = Exclude<OrtType, 'string'>;

const ARRAY_CONSTRUCTORS = {
  bool: Uint8Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array,
  uint64: BigUint64Array, int8: Int8Array, int16: Int16Array, int32: Int32Array,
  int64: BigInt64Array, float16: Uint16Array, float32: Float32Array, float64: Float64Array,
} as const;

/** Bytes per element of a fixed-size type (float16 as its 16-bit pattern, bool one byte). */
export function bytesPerElement(type: Exclude<OrtType, 'string'>): number {
  return ARRAY_CONSTRUCTORS[type].BYTES_PER_ELEMENT;
}

/** Allocates the payload for `length` elements of `type`. */
export function allocate(type: OrtType, length: number): TensorData {
  if (type === 'string') return new Array<string>(length).fill('');
  return new ARRAY_CONSTRUCTORS[type as NumericOrtType](length);
}

/** A typed array of `length` elements of `type` over existing memory (offset aligned for the type). */
export function typedArrayOver(type: Exclude<OrtType, 'string'>, buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray {
  return new ARRAY_CONSTRUCTORS[type](buffer as ArrayBuffer, byteOffset, length);
}

/** A request's share of a batch: its tensors, first dimension = rows. */
export interface RowBlock {
  readonly inputs: readonly WireTensor[];
  readonly rows: number;
}

/**
 * Requests' tensors stacked along the first dimension, kept as their parts: the hand-off
 * (slab.ts) copies the parts one after another straight into shared memory, so a batch of
 * several requests allocates no stacked array of its own (a fresh array per batch is memory V8
 * counts towards its next full collection). `data` stacks them on first read, for any other
 * reader.
 */
export class StackedTensor implements WireTensor {
  private stacked: TensorData | null = null;

  constructor(
    readonly name: string,
    readonly type: OrtType,
    readonly dims: number[],
    /** the parts in row order; their lengths add up to the tensor's element count */
    readonly parts: readonly TensorData[],
  ) {}

  get data(): TensorData {
    if (this.stacked) return this.stacked;
    const length = this.parts.reduce((n, part) => n + part.length, 0);
    const data = allocate(this.type, length);
    let offset = 0;
    for (const part of this.parts) {
      if (Array.isArray(data)) {
        for (let i = 0; i < part.length; i++) data[offset + i] = (part as string[])[i]!;
      } else {
        (data as Float32Array).set(part as Float32Array, offset);
      }
      offset += part.length;
    }
    return (this.stacked = data);
  }
}

/**
 * Stacks the blocks' tensors along the first dimension, input by input (blocks of one layout:
 * sameRowLayout); names, types and trailing dims are the first block's. A block's own stacked
 * tensor contributes its parts, so stacking stacked groups again copies nothing either.
 */
export function stackRows(blocks: readonly RowBlock[], rows: number): StackedTensor[] {
  return blocks[0]!.inputs.map((first, index) => {
    const parts: TensorData[] = [];
    for (const block of blocks) {
      const tensor = block.inputs[index]!;
      if (tensor instanceof StackedTensor) parts.push(...tensor.parts);
      else parts.push(tensor.data);
    }
    return new StackedTensor(first.name, first.type, [rows, ...first.dims.slice(1)], parts);
  });
}

/** Whether two requests' tensors can be stacked: same names, types and trailing dims. */
export function sameRowLayout(a: readonly WireTensor[], b: readonly WireTensor[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x.name !== y.name || x.type !== y.type || x.dims.length !== y.dims.length) return false;
    for (let d = 1; d < x.dims.length; d++) if (x.dims[d] !== y.dims[d]) return false;
  }
  return true;
}

/** Integer ranges checked when JSON numbers are decoded into integer tensors. */
export const INTEGER_RANGES: Partial<Record<OrtType, readonly [number | bigint, number | bigint]>> = {
  uint8: [0, 255], uint16: [0, 65535], uint32: [0, 4294967295], uint64: [0n, 18446744073709551615n],
  int8: [-128, 127], int16: [-32768, 32767], int32: [-2147483648, 2147483647],
  int64: [-9223372036854775808n, 9223372036854775807n],
};

export function isFloatType(type: OrtType): boolean {
  return type === 'float16' || type === 'float32' || type === 'float64';
}

export function isBigIntType(type: OrtType): boolean {
  return type === 'int64' || type === 'uint64';
}

// IEEE 754 half precision <-> double. ORT takes float16 tensors as Uint16Array bit patterns.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf / NaN
  let e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mantissa >> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1))) half++; // round to nearest even
  return half;
}

export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Converts a payload element to a JSON-safe value (bigints become numbers, half floats decode). */
export function toJsonArray(type: OrtType, data: TensorData): unknown[] {
  const out = new Array<unknown>(data.length);
  if (type === 'float16') {
    for (let i = 0; i < data.length; i++) out[i] = halfToFloat((data as Uint16Array)[i]!);
  } else if (type === 'bool') {
    for (let i = 0; i < data.length; i++) out[i] = (data as Uint8Array)[i] !== 0;
  } else if (isBigIntType(type)) {
    for (let i = 0; i < data.length; i++) out[i] = Number((data as BigInt64Array)[i]!);
  } else {
    for (let i = 0; i < data.length; i++) out[i] = data[i];
  }
  return out;
}
