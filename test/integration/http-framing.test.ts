// Raw-socket tests of the HTTP layer: pipelining, framing, header limits, bodies that trickle
// in, and the global receive budget. Where uWebSockets.js decides before Vigil's code runs
// (pipelining behind an asynchronous answer, more than 48 headers, unparsable request lines)
// the tests pin down what it does, as docs/security.md describes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHttp, rawRequest, rssOf } from '../helpers/raw-http.js';
import { BUNDLED_MODELS, postJson, startServer, type RunningServer } from '../helpers/server.js';

const MAX_BODY = 256 * 1024;
const BUDGET = 4 * MAX_BODY;
const BODY_TIMEOUT_MS = 1500;
const row = [0.03, -0.04, 0.06, 0.02, -0.04, -0.03, -0.01, -0.002, 0.02, 0.003];
const predictBody = JSON.stringify({ model: 'diabetes', features: row });
const json: [string, string][] = [['Host', 'localhost'], ['Content-Type', 'application/json']];

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({
    args: ['--models', BUNDLED_MODELS, '--workers', '1', '--max-body', String(MAX_BODY), '--receive-budget', String(BUDGET),
      '--body-timeout-ms', String(BODY_TIMEOUT_MS)],
  });
});

afterAll(async () => {
  await server?.kill();
});

const post = (body: string, extra: [string, string][] = []) =>
  rawRequest('POST', '/predict', [...json, ['Content-Length', String(Buffer.byteLength(body))], ...extra], body);

describe('pipelining', () => {
  it('pipelined GETs (answered synchronously) are answered in order', async () => {
    const get = (path: string) => rawRequest('GET', path, [['Host', 'localhost']]);
    const result = await rawHttp(server.port, { pieces: [get('/v2/health/live') + get('/v2/models/diabetes/ready') + get('/v2')], expectResponses: 3 });
    expect(result.responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(result.responses[1]!.json).toMatchObject({ name: 'diabetes', ready: true });
  });

  it('two POSTs written back to back: uWebSockets.js closes the connection at once (no hang), the server lives on', async () => {
    // uWS cannot hold a second request while the first one's answer is pending (inference is
    // asynchronous), so it closes the connection when the second arrives: documented limit.
    const result = await rawHttp(server.port, { pieces: [post(predictBody) + post(predictBody)], expectResponses: 2 });
    expect(result.closed).toBe(true);
    expect(result.responses.length).toBeLessThan(2);
    // A prompt close, not uWS's 10 s idle timeout.
    expect(result.elapsedMs).toBeLessThan(5000);
    const after = await postJson(`${server.url}/predict`, JSON.parse(predictBody));
    expect(after.status, after.text).toBe(200);
  });

  it('the same two POSTs one after the other on one keep-alive connection are both answered', async () => {
    const result = await rawHttp(server.port, { pieces: [post(predictBody), post(predictBody)], gapMs: 300, expectResponses: 2 });
    expect(result.responses.map((r) => r.status)).toEqual([200, 200]);
  });
});

describe('framing and header edges', () => {
  it('conflicting duplicate Content-Length → 400 and the connection closed (a smuggling risk behind a proxy)', async () => {
    const body = predictBody;
    const result = await rawHttp(server.port, {
      pieces: [rawRequest('POST', '/predict', [...json, ['Content-Length', String(body.length)], ['Content-Length', '5']], body)],
    });
    expect(result.responses[0]?.status).toBe(400);
    expect(result.responses[0]?.json.error).toMatch(/conflicting Content-Length/);
    expect(result.closed).toBe(true);
  });

  it('identical duplicate Content-Length headers are accepted', async () => {
    const result = await rawHttp(server.port, { pieces: [post(predictBody, [['Content-Length', String(predictBody.length)]])], expectResponses: 1 });
    expect(result.responses[0]?.status).toBe(200);
  });

  it('a Transfer-Encoding other than chunked → 400; Host twice → 400', async () => {
    const gzip = await rawHttp(server.port, {
      pieces: [rawRequest('POST', '/predict', [...json, ['Transfer-Encoding', 'gzip, chunked']], `${predictBody.length.toString(16)}\r\n${predictBody}\r\n0\r\n\r\n`)],
      expectResponses: 1,
    });
    expect(gzip.responses[0]?.status).toBe(400);
    expect(gzip.responses[0]?.json.error).toMatch(/Transfer-Encoding/);
    const twoHosts = await rawHttp(server.port, { pieces: [post(predictBody, [['Host', 'other']])], expectResponses: 1 });
    expect(twoHosts.responses[0]?.status).toBe(400);
  });

  it('what uWebSockets.js refuses before Vigil runs ends in a close, never a crash: bad lengths, CL with TE, >48 headers', async () => {
    const many = Array.from({ length: 60 }, (_, i) => [`X-Filler-${i}`, 'v'] as [string, string]);
    const [badLength, both, tooMany] = await Promise.all([
      rawHttp(server.port, { pieces: [rawRequest('POST', '/predict', [...json, ['Content-Length', 'abc']], '{}')] }),
      rawHttp(server.port, { pieces: [rawRequest('POST', '/predict', [...json, ['Content-Length', '2'], ['Transfer-Encoding', 'chunked']], '2\r\n{}\r\n0\r\n\r\n')] }),
      // uWS 20.30 parses at most 48 headers; beyond, it never calls Vigil and closes the
      // connection when its fixed ~10 s idle timeout fires (no 431 is possible from here).
      rawHttp(server.port, { pieces: [rawRequest('GET', '/v2/health/live', [['Host', 'localhost'], ...many])], waitMs: 20_000 }),
    ]);
    for (const result of [badLength, both]) {
      expect(result.closed).toBe(true);
      expect(result.responses).toEqual([]);
      expect(result.elapsedMs).toBeLessThan(5000);
    }
    expect(tooMany.closed).toBe(true);
    expect(tooMany.responses.every((r) => r.status === 431)).toBe(true);
    expect(server.child.exitCode).toBeNull();
  });
});

describe('bodies that arrive slowly', () => {
  it(`a body still arriving after --body-timeout-ms (${BODY_TIMEOUT_MS} ms) → 408 and a close, before uWS's 10 s cut`, async () => {
    const body = predictBody;
    const pieces = [rawRequest('POST', '/predict', [...json, ['Content-Length', String(body.length)]], ''), ...body.split('')];
    const result = await rawHttp(server.port, { pieces, gapMs: 200, expectResponses: 1 });
    expect(result.responses[0]?.status).toBe(408);
    expect(result.responses[0]?.json.error).toMatch(new RegExp(`${BODY_TIMEOUT_MS} ms`));
    expect(result.elapsedMs).toBeLessThan(9000);
  });

  it('a body that trickles in within the deadline is served', async () => {
    const body = predictBody;
    const third = Math.ceil(body.length / 3);
    const pieces = [rawRequest('POST', '/predict', [...json, ['Content-Length', String(body.length)]], ''),
      body.slice(0, third), body.slice(third, 2 * third), body.slice(2 * third)];
    const result = await rawHttp(server.port, { pieces, gapMs: 100, expectResponses: 1 });
    expect(result.responses[0]?.status).toBe(200);
  });
});

describe('the receive budget', () => {
  it(`bodies beyond --receive-budget (${BUDGET} bytes) being received at once → 503; memory returns afterwards`, async () => {
    const pid = server.child.pid!;
    const baseline = await rssOf(pid);
    const size = MAX_BODY; // each declares a body the size of the limit, sends half, and waits
    const holders = Array.from({ length: 8 }, () => {
      const head = rawRequest('POST', '/predict', [...json, ['Content-Length', String(size)]], '');
      return rawHttp(server.port, { pieces: [head + '{"model":"diabetes","features":[' + '0,'.repeat(size / 4)], expectResponses: 1, waitMs: 6000 });
    });
    const results = await Promise.all(holders);
    const statuses = results.map((r) => r.responses[0]?.status);
    // The first four fit (4 × 256 KiB); the rest are refused with 503 at once; the four that
    // fit never finish their bodies and get 408 from the body deadline.
    expect(statuses.filter((s) => s === 503)).toHaveLength(4);
    expect(statuses.filter((s) => s === 408)).toHaveLength(4);
    for (const result of results.filter((r) => r.responses[0]?.status === 503)) {
      expect(result.responses[0]!.headers['retry-after']).toBe('1');
      expect(result.responses[0]!.json.error).toMatch(/receiving/);
    }
    const ok = await postJson(`${server.url}/predict`, JSON.parse(predictBody));
    expect(ok.status, ok.text).toBe(200);
    // Nothing stays reserved: a full-size body fits again.
    const full = await rawHttp(server.port, { pieces: [post(JSON.stringify({ model: 'diabetes', features: row, id: 'x'.repeat(MAX_BODY - 200) }))], expectResponses: 1 });
    expect(full.responses[0]?.status).toBe(200);
    expect(await rssOf(pid)).toBeLessThan(baseline + 64 * 1024 * 1024);
  });
});
