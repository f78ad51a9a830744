// Tensor data in the binary tensor data extension of the Open Inference Protocol (Triton's
// HTTP client sends tensors this way by default): little-endian, row-major, no padding; every
// datatype in its native size, BOOL one byte (0 or 1), FP16 its 16-bit pattern, and BYTES per
// element a 4-byte little-endian length followed by the bytes. Decoding checks the bytes
// against the shape; encoding gives an output's bytes for a binary answer.
import { badRequest } from '../errors.js';
import { allocate, bytesPerElement, ortToV2, typedArrayOver, type OrtType, type TensorData, type TypedArray } from '../inference/tensors.js';

// Typed arrays hold their elements in the host's byte order; the extension's is little-endian.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('the binary tensor data extension needs a little-endian host');

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The tensor `count` elements of `type` hold, from exactly `bytes` (a 400 naming `path` otherwise). */
export function decodeBinaryTensor(bytes: Uint8Array, type: OrtType, count: number, path: string): TensorData {
  if (type === 'string') return decodeStrings(bytes, count, path);
  const expected = count * bytesPerElement(type);
  if (bytes.length !== expected) {
    throw badRequest(`${path}: ${bytes.length} bytes of binary data, but ${count} ${ortToV2(type)} elements take ${expected}`);
  }
  const data = viewOrCopy(bytes, type, count);
  if (type === 'bool') {
    const bad = (data as Uint8Array).findIndex((b) => b > 1);
    if (bad >= 0) throw badRequest(`${path}: BOOL element ${bad} is the byte ${(data as Uint8Array)[bad]}; BOOL elements are 0 or 1`);
  }
  return data;
}

/**
 * The elements over the body's own memory when they sit aligned for their type (the body is
 * memory the request owns until it releases its inputs, placed so its data starts aligned:
 * Exchange.readBytes): no second copy, and no second allocation for V8 to count towards its
 * next full collection. Otherwise a copy into the tensor's own memory.
 */
function viewOrCopy(bytes: Uint8Array, type: Exclude<OrtType, 'string'>, count: number): TypedArray {
  if (bytes.byteOffset % bytesPerElement(type) === 0) return typedArrayOver(type, bytes.buffer, bytes.byteOffset, count);
  const data = allocate(type, count) as TypedArray;
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  return data;
}

function decodeStrings(bytes: Uint8Array, count: number, path: string): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const strings = new Array<string>(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) throw badRequest(`${path}: the binary data ends before BYTES element ${i} of ${count}`);
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > bytes.length) throw badRequest(`${path}: BYTES element ${i} says ${length} bytes, but only ${bytes.length - at} remain`);
    try {
      strings[i] = utf8.decode(bytes.subarray(at, at + length));
    } catch {
      throw badRequest(`${path}: BYTES element ${i} is not valid UTF-8 (string tensors hold text)`);
    }
    at += length;
  }
  if (at !== bytes.length) throw badRequest(`${path}: ${bytes.length - at} bytes of binary data are left after the ${count} BYTES elements of the shape`);
  return strings;
}

/** An output's data as the extension lays it out (a view of the tensor's memory where it can be). */
export function encodeBinaryTensor(type: OrtType, data: TensorData): Uint8Array {
  if (type !== 'string') {
    const typed = data as TypedArray;
    return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  }
  const parts = (data as string[]).map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.writeUInt32LE(part.length, at);
    part.copy(out, at + 4);
    at += 4 + part.length;
  }
  return out;
}
