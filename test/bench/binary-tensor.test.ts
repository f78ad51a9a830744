// Request bodies in the Binary Tensor Data extension, checked byte by byte against the layout
// the extension specifies (JSON header, then each binary input little-endian, row-major).
import { describe, expect, it } from 'vitest';
import { binaryInferRequest, tensorBytes } from '../../bench/lib/binary-tensor.js';

describe('binaryInferRequest', () => {
  it('puts the JSON header first, its length in headerLength, then the tensor bytes with binary_data_size', () => {
    const { body, headerLength } = binaryInferRequest(
      [{ name: 'input', shape: [2, 2], datatype: 'FP32', data: [1, -2.5, 0.25, 3] }],
      { binaryOutputs: true },
    );
    const header = JSON.parse(body.subarray(0, headerLength).toString('utf8'));
    expect(header).toEqual({
      inputs: [{ name: 'input', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 16 } }],
      parameters: { binary_data_output: true },
    });
    const data = body.subarray(headerLength);
    expect(data.length).toBe(16);
    expect([0, 4, 8, 12].map((at) => data.readFloatLE(at))).toEqual([1, -2.5, 0.25, 3]);
  });

  it('lays several inputs out back to back in input order, each with its own size', () => {
    const { body, headerLength } = binaryInferRequest([
      { name: 'a', shape: [3], datatype: 'BOOL', data: [true, false, true] },
      { name: 'b', shape: [1], datatype: 'INT64', data: [-5n] },
    ]);
    const header = JSON.parse(body.subarray(0, headerLength).toString('utf8'));
    expect(header.inputs.map((i: { parameters: { binary_data_size: number } }) => i.parameters.binary_data_size)).toEqual([3, 8]);
    expect(header.parameters).toBeUndefined();
    const data = body.subarray(headerLength);
    expect([...data.subarray(0, 3)]).toEqual([1, 0, 1]);
    expect(data.readBigInt64LE(3)).toBe(-5n);
  });
});

describe('tensorBytes', () => {
  it('encodes BYTES as a 4-byte little-endian length then the bytes, per element', () => {
    const out = tensorBytes({ name: 's', shape: [2], datatype: 'BYTES', data: ['hé', ''] });
    expect(out.readUInt32LE(0)).toBe(3);
    expect(out.subarray(4, 7).toString('utf8')).toBe('hé');
    expect(out.readUInt32LE(7)).toBe(0);
    expect(out.length).toBe(11);
  });

  it('uses each integer type’s native size, little-endian', () => {
    expect([...tensorBytes({ name: 'x', shape: [1], datatype: 'UINT16', data: [0x0102] })]).toEqual([0x02, 0x01]);
    expect([...tensorBytes({ name: 'x', shape: [1], datatype: 'INT32', data: [-1] })]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(tensorBytes({ name: 'x', shape: [2], datatype: 'FP64', data: [0.1, 2] }).readDoubleLE(0)).toBe(0.1);
  });

  it('refuses data that does not fill the shape, naming the tensor', () => {
    expect(() => tensorBytes({ name: 'input', shape: [2, 3], datatype: 'FP32', data: [1, 2] })).toThrow(/input: shape \[2, 3\] holds 6 elements, data has 2/);
  });
});
