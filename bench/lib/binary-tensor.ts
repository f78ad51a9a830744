// Request bodies in the Binary Tensor Data extension of the Open Inference Protocol (Triton's
// HTTP client sends tensors this way by default): a JSON inference header, then each binary
// input's raw bytes in input order, little-endian, row-major, no padding. Each binary input
// carries `parameters.binary_data_size` (its byte count), the request carries the
// `Inference-Header-Content-Length` header (the JSON header's byte count), and
// `parameters.binary_data_output: true` asks for every output in binary too.
// BOOL is one byte per element (0/1); BYTES is, per element, a 4-byte little-endian length
// followed by the bytes.

export type BinaryDatatype =
  | 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP32' | 'FP64' | 'BYTES';

export interface BinaryInput {
  name: string;
  shape: number[];
  datatype: BinaryDatatype;
  /** Row-major elements (numbers, bigints for 64-bit integers, booleans, strings for BYTES). */
  data: readonly (number | bigint | boolean | string)[];
}

export interface BinaryRequest {
  /** Header JSON + tensor bytes. */
  body: Buffer;
  /** Byte length of the JSON header: the Inference-Header-Content-Length value. */
  headerLength: number;
}

const FIXED: Record<Exclude<BinaryDatatype, 'BYTES'>, { size: number; write: (b: Buffer, v: never, at: number) => void }> = {
  BOOL: { size: 1, write: (b, v: boolean | number, at) => b.writeUInt8(v ? 1 : 0, at) },
  UINT8: { size: 1, write: (b, v: number, at) => b.writeUInt8(v, at) },
  UINT16: { size: 2, write: (b, v: number, at) => b.writeUInt16LE(v, at) },
  UINT32: { size: 4, write: (b, v: number, at) => b.writeUInt32LE(v, at) },
  UINT64: { size: 8, write: (b, v: number | bigint, at) => b.writeBigUInt64LE(BigInt(v), at) },
  INT8: { size: 1, write: (b, v: number, at) => b.writeInt8(v, at) },
  INT16: { size: 2, write: (b, v: number, at) => b.writeInt16LE(v, at) },
  INT32: { size: 4, write: (b, v: number, at) => b.writeInt32LE(v, at) },
  INT64: { size: 8, write: (b, v: number | bigint, at) => b.writeBigInt64LE(BigInt(v), at) },
  FP32: { size: 4, write: (b, v: number, at) => b.writeFloatLE(v, at) },
  FP64: { size: 8, write: (b, v: number, at) => b.writeDoubleLE(v, at) },
};

/** One tensor's bytes as the extension lays them out. */
export function tensorBytes(input: BinaryInput): Buffer {
  const elements = input.shape.reduce((n, d) => n * d, 1);
  if (input.data.length !== elements) {
    throw new Error(`${input.name}: shape [${input.shape.join(', ')}] holds ${elements} elements, data has ${input.data.length}`);
  }
  if (input.datatype === 'BYTES') {
    const parts = input.data.map((v) => Buffer.from(String(v), 'utf8'));
    const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.writeUInt32LE(p.length, at);
      p.copy(out, at + 4);
      at += 4 + p.length;
    }
    return out;
  }
  const { size, write } = FIXED[input.datatype];
  const out = Buffer.alloc(elements * size);
  input.data.forEach((v, i) => write(out, v as never, i * size));
  return out;
}

/** The whole request body and the Inference-Header-Content-Length value. */
export function binaryInferRequest(inputs: BinaryInput[], opts: { binaryOutputs?: boolean } = {}): BinaryRequest {
  const tensors = inputs.map(tensorBytes);
  const header = {
    inputs: inputs.map((input, i) => ({
      name: input.name,
      shape: input.shape,
      datatype: input.datatype,
      parameters: { binary_data_size: tensors[i]!.length },
    })),
    ...(opts.binaryOutputs ? { parameters: { binary_data_output: true } } : {}),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([headerBytes, ...tensors]), headerLength: headerBytes.length };
}
