// Binary tensor data decoded from a body's bytes: where the data sits aligned for its type the
// tensor is a view over the body (no second copy), anywhere else a copy; either way the
// elements are the bytes' little-endian values, and the checks (byte count, BOOL 0/1) hold.
import { describe, expect, it } from 'vitest';
import { VigilError } from '../../src/errors.js';
import type { OrtType } from '../../src/inference/tensors.js';
import { decodeBinaryTensor } from '../../src/validation/binary-tensors.js';

type FixedType = Exclude<OrtType, 'string'>;

const TYPES: { type: FixedType; size: number; values: (number | bigint)[]; write: (v: DataView, at: number, x: never) => void }[] = [
  { type: 'bool', size: 1, values: [1, 0, 1, 1], write: (v, at, x) => v.setUint8(at, x) },
  { type: 'uint8', size: 1, values: [0, 255, 7, 128], write: (v, at, x) => v.setUint8(at, x) },
  { type: 'int16', size: 2, values: [-32768, 32767, 0, -1], write: (v, at, x) => v.setInt16(at, x, true) },
  { type: 'float16', size: 2, values: [0x7bff, 0x8000, 0x3c00, 1], write: (v, at, x) => v.setUint16(at, x, true) },
  { type: 'uint32', size: 4, values: [0, 4294967295, 7, 2147483648], write: (v, at, x) => v.setUint32(at, x, true) },
  { type: 'float32', size: 4, values: [0.5, -(2 ** -126), 16777216, -0], write: (v, at, x) => v.setFloat32(at, x, true) },
  { type: 'int64', size: 8, values: [-(2n ** 63n), 2n ** 63n - 1n, 0n, -9007199254740993n], write: (v, at, x) => v.setBigInt64(at, x, true) },
  { type: 'uint64', size: 8, values: [0n, 2n ** 64n - 1n, 7n, 2n ** 63n], write: (v, at, x) => v.setBigUint64(at, x, true) },
  { type: 'float64', size: 8, values: [0.1, -1.7976931348623157e308, 5e-324, Math.PI], write: (v, at, x) => v.setFloat64(at, x, true) },
];

/** The values' little-endian bytes at `offset` of a fresh buffer (with a byte of junk around them). */
function bytesAt(offset: number, size: number, values: (number | bigint)[], write: (v: DataView, at: number, x: never) => void): Uint8Array {
  const memory = new ArrayBuffer(offset + size * values.length + 1).slice(0);
  new Uint8Array(memory).fill(0xee);
  const view = new DataView(memory);
  values.forEach((value, i) => write(view, offset + i * size, value as never));
  return new Uint8Array(memory, offset, size * values.length);
}

describe('decodeBinaryTensor', () => {
  for (const { type, size, values, write } of TYPES) {
    it(`${type}: a view where the data is aligned, a copy where it is not, the same elements either way`, () => {
      for (let offset = 0; offset < 16; offset++) {
        const bytes = bytesAt(offset, size, values, write);
        const data = decodeBinaryTensor(bytes, type, values.length, '/inputs/0') as ArrayLike<number | bigint> & { buffer: ArrayBufferLike; byteOffset: number };
        expect(Array.from(data), `offset ${offset}`).toEqual(values);
        const aligned = offset % size === 0;
        expect(data.buffer === bytes.buffer, `offset ${offset}: ${aligned ? 'a view' : 'a copy'}`).toBe(aligned);
        if (aligned) expect(data.byteOffset).toBe(offset);
      }
    });
  }

  it('checks the byte count and BOOL bytes on the view path too', () => {
    const fourFloats = bytesAt(8, 4, [1, 2, 3, 4], (v, at, x) => v.setFloat32(at, x, true));
    expect(() => decodeBinaryTensor(fourFloats, 'float32', 3, '/inputs/0')).toThrow(/16 bytes of binary data, but 3 FP32 elements take 12/);
    const bools = new Uint8Array([0, 1, 2, 1]);
    const error = (() => {
      try {
        decodeBinaryTensor(bools, 'bool', 4, '/inputs/1');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(VigilError);
    expect((error as VigilError).message).toMatch(/\/inputs\/1: BOOL element 2 is the byte 2/);
  });
});
