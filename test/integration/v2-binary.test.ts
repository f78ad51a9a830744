// The binary tensor data extension of the Open Inference Protocol (as Triton and KServe
// specify it), against the fixture Identity graphs: request bodies are built here byte by byte
// from the extension's text — a JSON header of Inference-Header-Content-Length bytes, then each
// binary input's data in input order, little-endian, row-major, no padding; BOOL one byte 0/1;
// FP16 its bits; BYTES a 4-byte little-endian length before each element — and answers are
// split the same way. Every datatype round-trips bit for bit; JSON and binary inputs mix in one
// request; outputs come back binary on request (per output, or for all), JSON otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHttp, rawRequest } from '../helpers/raw-http.js';
import { FIXTURE_MODELS, getJson, startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ args: ['--models', FIXTURE_MODELS, '--workers', '1'] });
});

afterAll(async () => {
  await server?.kill();
});

interface BinaryInput {
  name: string;
  shape: number[];
  datatype: string;
  bytes: Buffer;
}

/** The request body and its header length, exactly as the extension lays them out. */
function binaryBody(header: Record<string, unknown>, binaries: Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...binaries]), headerLength: json.length };
}

function binaryRequest(inputs: BinaryInput[], extra: Record<string, unknown> = {}) {
  return binaryBody({
    ...extra,
    inputs: inputs.map((i) => ({ name: i.name, shape: i.shape, datatype: i.datatype, parameters: { binary_data_size: i.bytes.length } })),
  }, inputs.map((i) => i.bytes));
}

/** BYTES elements: a 4-byte little-endian length, then the bytes, per element. */
function bytesElements(values: (string | Buffer)[]): Buffer {
  return Buffer.concat(values.flatMap((v) => {
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    return [length, bytes];
  }));
}

/** Fixed-size little-endian elements through a DataView writer. */
function fixed(size: number, values: (number | bigint)[], write: (view: DataView, at: number, value: never) => void): Buffer {
  const out = Buffer.alloc(size * values.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  values.forEach((v, i) => write(view, i * size, v as never));
  return out;
}

async function post(path: string, body: Buffer | string, headers: Record<string, string>) {
  const response = await fetch(`${server.url}${path}`, { method: 'POST', body, headers });
  const bytes = Buffer.from(await response.arrayBuffer());
  const headerLength = response.headers.get('inference-header-content-length');
  const jsonLength = headerLength === null ? bytes.length : Number(headerLength);
  let json: any;
  try {
    json = JSON.parse(bytes.subarray(0, jsonLength).toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, binary: bytes.subarray(jsonLength), text: bytes.toString('utf8') };
}

/** A binary request as Triton's Python client sends it: no Content-Type, only the header length. */
const sendBinary = (model: string, request: { body: Buffer; headerLength: number }, headers: Record<string, string> = {}) =>
  post(`/v2/models/${model}/infer`, request.body, { 'inference-header-content-length': String(request.headerLength), ...headers });

/** Each output's bytes, in output order, from an answer's binary part. */
function outputBytes(answer: { json: any; binary: Buffer }): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let at = 0;
  for (const o of answer.json.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    out.set(o.name, answer.binary.subarray(at, at + size));
    at += size;
  }
  expect(at, 'the binary part holds exactly the outputs\' binary_data_size').toBe(answer.binary.length);
  return out;
}

const CASES: { datatype: string; model: string; bytes: Buffer }[] = [
  { datatype: 'BOOL', model: 'identity-bool', bytes: Buffer.from([1, 0, 1, 0, 0, 1]) },
  { datatype: 'UINT8', model: 'identity-uint8', bytes: Buffer.from([0, 255, 7, 128, 1, 254]) },
  { datatype: 'UINT16', model: 'identity-uint16', bytes: fixed(2, [0, 65535, 7, 32768, 1, 65534], (v, at, x) => v.setUint16(at, x, true)) },
  { datatype: 'UINT32', model: 'identity-uint32', bytes: fixed(4, [0, 4294967295, 7, 2147483648, 1, 4294967294], (v, at, x) => v.setUint32(at, x, true)) },
  // 64-bit integers beyond 2^53, which JSON numbers cannot carry exactly.
  { datatype: 'UINT64', model: 'identity-uint64', bytes: fixed(8, [0n, 18446744073709551615n, 7n, 2n ** 63n, 1n, 9007199254740993n], (v, at, x) => v.setBigUint64(at, x, true)) },
  { datatype: 'INT8', model: 'identity-int8', bytes: fixed(1, [-128, 127, 0, -1, 1, 42], (v, at, x) => v.setInt8(at, x)) },
  { datatype: 'INT16', model: 'identity-int16', bytes: fixed(2, [-32768, 32767, 0, -1, 1, 4242], (v, at, x) => v.setInt16(at, x, true)) },
  { datatype: 'INT32', model: 'identity-int32', bytes: fixed(4, [-2147483648, 2147483647, 0, -1, 1, 123456789], (v, at, x) => v.setInt32(at, x, true)) },
  { datatype: 'INT64', model: 'identity-int64', bytes: fixed(8, [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 1n, -9007199254740993n], (v, at, x) => v.setBigInt64(at, x, true)) },
  // Half-precision bit patterns: max, -max, min normal, min subnormal, 1, -0.
  { datatype: 'FP16', model: 'identity-float16', bytes: fixed(2, [0x7bff, 0xfbff, 0x0400, 0x0001, 0x3c00, 0x8000], (v, at, x) => v.setUint16(at, x, true)) },
  { datatype: 'FP32', model: 'identity-float32', bytes: fixed(4, [0.1, -1e-30, 3.4028234663852886e38, 16777217, -0, 1e-45], (v, at, x) => v.setFloat32(at, x, true)) },
  { datatype: 'FP64', model: 'identity-float64', bytes: fixed(8, [0.1, -1.7976931348623157e308, 5e-324, 1e-300, Math.PI, -2.5], (v, at, x) => v.setFloat64(at, x, true)) },
  { datatype: 'BYTES', model: 'identity-string', bytes: bytesElements(['hello', '', 'héllo wörld', '日本語テキスト', '🙂 "quoted" \\ back', 'tab\tnewline\n']) },
];

describe('every datatype round-trips in binary, bit for bit', () => {
  it.each(CASES)('$datatype, with no Content-Type (Triton\'s Python client)', async ({ datatype, model, bytes }) => {
    const answer = await sendBinary(model, binaryRequest([{ name: 'x', shape: [2, 3], datatype, bytes }], { id: `bin-${datatype}`, parameters: { binary_data_output: true } }));
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/octet-stream');
    expect(answer.json).toEqual({
      model_name: model, model_version: '1', id: `bin-${datatype}`,
      outputs: [{ name: 'y', datatype, shape: [2, 3], parameters: { binary_data_size: bytes.length } }],
    });
    expect(outputBytes(answer).get('y')!.equals(bytes)).toBe(true);
  });

  it.each(CASES)('$datatype, as application/octet-stream, answered in JSON when no binary output is asked for', async ({ datatype, model, bytes }) => {
    const answer = await sendBinary(model, binaryRequest([{ name: 'x', shape: [2, 3], datatype, bytes }]), { 'content-type': 'application/octet-stream' });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json');
    expect(answer.headers.get('inference-header-content-length')).toBeNull();
    const [y] = answer.json.outputs;
    expect(y).toMatchObject({ name: 'y', datatype, shape: [2, 3] });
    expect(y.data).toHaveLength(6);
    if (datatype === 'BOOL') expect(y.data).toEqual([true, false, true, false, false, true]);
    if (datatype === 'FP64') expect(y.data[4]).toBe(Math.PI);
    if (datatype === 'BYTES') expect(y.data[3]).toBe('日本語テキスト');
  });
});

describe('mixed inputs and chosen outputs', () => {
  // multi-io: a float32 [N,2], b int64 [N,2] -> sum = a + b (float32), a_copy = a, b_double = b * 2 (int64)
  const a = [1.5, -2, 0.25, 8];
  const b = [3n, -4n, 5n, 9007199254740993n];
  const bBytes = fixed(8, b, (v, at, x) => v.setBigInt64(at, x, true));

  it('takes a JSON input and a binary input in one request; binary outputs per output, JSON for the rest', async () => {
    const request = binaryBody({
      inputs: [
        { name: 'a', shape: [2, 2], datatype: 'FP32', data: a },
        { name: 'b', shape: [2, 2], datatype: 'INT64', parameters: { binary_data_size: bBytes.length } },
      ],
      outputs: [{ name: 'b_double', parameters: { binary_data: true } }, { name: 'sum' }, { name: 'a_copy', parameters: { binary_data: false } }],
    }, [bBytes]);
    const answer = await sendBinary('multi-io', request);
    expect(answer.status, answer.text).toBe(200);
    const byName = new Map<string, any>(answer.json.outputs.map((o: any) => [o.name, o]));
    expect(byName.get('sum')).toEqual({ name: 'sum', datatype: 'FP32', shape: [2, 2], data: [4.5, -6, 5.25, Math.fround(8 + 9007199254740993)] });
    expect(byName.get('a_copy')).toEqual({ name: 'a_copy', datatype: 'FP32', shape: [2, 2], data: a });
    expect(byName.get('b_double')).toEqual({ name: 'b_double', datatype: 'INT64', shape: [2, 2], parameters: { binary_data_size: 32 } });
    const doubled = outputBytes(answer).get('b_double')!;
    expect([0, 1, 2, 3].map((i) => doubled.readBigInt64LE(i * 8))).toEqual(b.map((x) => x * 2n));
  });

  it('binary_data_output returns every output in binary, unless an output says binary_data: false', async () => {
    const request = binaryRequest([
      { name: 'a', shape: [2, 2], datatype: 'FP32', bytes: fixed(4, a, (v, at, x) => v.setFloat32(at, x, true)) },
      { name: 'b', shape: [2, 2], datatype: 'INT64', bytes: bBytes },
    ], { parameters: { binary_data_output: true }, outputs: [{ name: 'a_copy' }, { name: 'sum', parameters: { binary_data: false } }] });
    const answer = await sendBinary('multi-io', request);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json.outputs.map((o: any) => [o.name, o.parameters?.binary_data_size ?? o.data.length])).toEqual([['sum', 4], ['a_copy', 16]]);
    const copy = outputBytes(answer).get('a_copy')!;
    expect([0, 1, 2, 3].map((i) => copy.readFloatLE(i * 4))).toEqual(a);
  });

  it('a plain JSON request may ask for binary outputs too', async () => {
    const answer = await post('/v2/models/identity-int32/infer', JSON.stringify({
      inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT32', data: [7, -8, 9] }],
      outputs: [{ name: 'y', parameters: { binary_data: true } }],
    }), { 'content-type': 'application/json' });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/octet-stream');
    const y = outputBytes(answer).get('y')!;
    expect([0, 1, 2].map((i) => y.readInt32LE(i * 4))).toEqual([7, -8, 9]);
  });

  // The data lands wherever the header ends: the gateway places the body so that its data can
  // be read in place; this checks every header length modulo 8, and bodies that arrive whole,
  // in pieces under a Content-Length, and chunked.
  it('binary inputs decode the same at every header length, whole, in pieces and chunked', async () => {
    const aBytes = fixed(4, a, (v, at, x) => v.setFloat32(at, x, true));
    const expected = [
      { name: 'sum', datatype: 'FP32', shape: [2, 2], data: [4.5, -6, 5.25, Math.fround(8 + 9007199254740993)] },
      { name: 'a_copy', datatype: 'FP32', shape: [2, 2], data: a },
      { name: 'b_double', datatype: 'INT64', shape: [2, 2], data: b.map((x) => Number(x * 2n)) },
    ];
    const path = '/v2/models/multi-io/infer';
    const headerLengths = new Set<number>();
    for (let idLength = 0; idLength < 8; idLength++) {
      const request = binaryRequest([
        { name: 'a', shape: [2, 2], datatype: 'FP32', bytes: aBytes },
        { name: 'b', shape: [2, 2], datatype: 'INT64', bytes: bBytes },
      ], { id: 'i'.repeat(idLength) });
      headerLengths.add(request.headerLength % 8);
      const whole = await sendBinary('multi-io', request);
      expect(whole.status, whole.text).toBe(200);
      expect(whole.json.outputs, `header length ${request.headerLength}, whole`).toEqual(expected);

      const headers: [string, string][] = [['Host', 'localhost'], ['Inference-Header-Content-Length', String(request.headerLength)]];
      const cut = [0, request.headerLength - 3, request.headerLength + 5, request.headerLength + 21, request.body.length];
      const parts = cut.slice(1).map((end, i) => request.body.subarray(cut[i], end));
      const inPieces = await rawHttp(server.port, {
        pieces: [rawRequest('POST', path, [...headers, ['Content-Length', String(request.body.length)]]), ...parts],
        gapMs: 15, expectResponses: 1,
      });
      expect(inPieces.responses[0]?.status, inPieces.responses[0]?.body).toBe(200);
      expect(inPieces.responses[0]!.json.outputs, `header length ${request.headerLength}, in pieces`).toEqual(expected);

      const chunked = await rawHttp(server.port, {
        pieces: [
          rawRequest('POST', path, [...headers, ['Transfer-Encoding', 'chunked']]),
          ...parts.map((part) => Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')])),
          '0\r\n\r\n',
        ],
        gapMs: 15, expectResponses: 1,
      });
      expect(chunked.responses[0]?.status, chunked.responses[0]?.body).toBe(200);
      expect(chunked.responses[0]!.json.outputs, `header length ${request.headerLength}, chunked`).toEqual(expected);
    }
    expect(headerLengths.size, 'the header lengths cover every residue modulo 8').toBe(8);
  });

  // Binary bodies' memory is reused once their batch has settled: many requests at once, each
  // with its own values, must each get exactly their own values back.
  it('concurrent binary requests each get their own data back while body memory is reused', async () => {
    const rows = 64;
    const send = async (n: number) => {
      const values = Array.from({ length: rows * 3 }, (_, i) => n * 1000 + i + 0.5);
      const bytes = fixed(4, values, (v, at, x) => v.setFloat32(at, x, true));
      const answer = await sendBinary('identity-float32', binaryRequest([{ name: 'x', shape: [rows, 3], datatype: 'FP32', bytes }], { id: `r${n}`, parameters: { binary_data_output: true } }));
      expect(answer.status, answer.text).toBe(200);
      expect(answer.json.id).toBe(`r${n}`);
      expect(outputBytes(answer).get('y')!.equals(bytes), `request ${n}`).toBe(true);
    };
    for (let wave = 0; wave < 10; wave++) await Promise.all(Array.from({ length: 32 }, (_, i) => send(wave * 32 + i)));
  });
});

describe('bad binary requests get a 400 (or 415) naming what is wrong', () => {
  const x = (bytes: Buffer, datatype = 'FP32', shape = [2, 3]) => binaryRequest([{ name: 'x', shape, datatype, bytes }]);

  it.each([
    ['binary_data_size that does not fit the shape', 'identity-float32', x(Buffer.alloc(20)), /inputs\/0: 20 bytes of binary data, but 6 FP32 elements take 24/],
    ['a BOOL byte other than 0 or 1', 'identity-bool', x(Buffer.from([1, 0, 2, 0, 0, 1]), 'BOOL'), /inputs\/0: BOOL element 2 is the byte 2/],
    ['BYTES that end early', 'identity-string', x(bytesElements(['a', 'b']), 'BYTES'), /inputs\/0: the binary data ends before BYTES element 2 of 6/],
    ['BYTES that are not UTF-8', 'identity-string', x(bytesElements(['a', 'b', 'c', 'd', 'e', Buffer.from([0xff, 0xfe])]), 'BYTES'), /BYTES element 5 is not valid UTF-8/],
  ])('%s', async (_, model, request, message) => {
    const answer = await sendBinary(model, request);
    expect(answer.status, answer.text).toBe(400);
    expect(answer.json.error).toMatch(message);
  });

  it('binary data left over, or missing, after the inputs', async () => {
    const request = x(Buffer.alloc(24));
    const longer = { body: Buffer.concat([request.body, Buffer.alloc(4)]), headerLength: request.headerLength };
    const over = await sendBinary('identity-float32', longer);
    expect(over.status, over.text).toBe(400);
    expect(over.json.error).toBe('the body holds 28 bytes of binary data after its JSON header, but the inputs\' binary_data_size add up to 24');
    const shorter = { body: request.body.subarray(0, request.body.length - 4), headerLength: request.headerLength };
    const under = await sendBinary('identity-float32', shorter);
    expect(under.status, under.text).toBe(400);
    expect(under.json.error).toMatch(/inputs\/0\/parameters\/binary_data_size: 24 bytes, but only 20 bytes/);
  });

  it('an input with both data and binary_data_size, or with neither', async () => {
    const both = await sendBinary('identity-float32', binaryBody({
      inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3], parameters: { binary_data_size: 12 } }],
    }, [Buffer.alloc(12)]));
    expect(both.status, both.text).toBe(400);
    expect(both.json.error).toBe('inputs/0: give data or parameters.binary_data_size, not both');
    const neither = await sendBinary('identity-float32', binaryBody({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32' }] }, []));
    expect(neither.status, neither.text).toBe(400);
    expect(neither.json.error).toMatch(/^inputs\/0\/data is required/);
  });

  it('an Inference-Header-Content-Length beyond the body or not a number', async () => {
    const request = x(Buffer.alloc(24));
    for (const value of [String(request.body.length + 1), 'ten', '-1']) {
      const answer = await post('/v2/models/identity-float32/infer', request.body, { 'inference-header-content-length': value });
      expect(answer.status, answer.text).toBe(400);
      expect(answer.json.error).toContain('Inference-Header-Content-Length must be the byte length of the JSON header');
    }
  });

  it('a content type a browser may send cross-site, even with the header: 415', async () => {
    const request = x(Buffer.alloc(24));
    const answer = await sendBinary('identity-float32', request, { 'content-type': 'text/plain' });
    expect(answer.status, answer.text).toBe(415);
    expect(answer.json.error).toMatch(/text\/plain.*application\/octet-stream/);
  });

  it('only whole media types pass: a type that merely starts like an accepted one is 415, parameters are fine', async () => {
    const request = x(Buffer.alloc(24));
    for (const type of ['application/octet-streamx', 'application/json.evil', 'application/octet-stream-foo']) {
      const answer = await sendBinary('identity-float32', request, { 'content-type': type });
      expect(answer.status, `${type}: ${answer.text}`).toBe(415);
    }
    const withParameter = await sendBinary('identity-float32', request, { 'content-type': 'application/octet-stream; charset=binary' });
    expect(withParameter.status, withParameter.text).toBe(200);
  });
});

it('GET /v2 lists the binary_tensor_data extension', async () => {
  const { json } = await getJson(`${server.url}/v2`);
  expect(json.extensions).toContain('binary_tensor_data');
});
