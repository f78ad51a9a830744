// The wrk side of the bench: raw requests, the report line of bench/wrk-load.lua, and one real
// wrk run against a local server that answers 503 to every third request and echoes
// X-Request-Id, so status counting and admitted-latency tagging are checked end to end.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWrkReport, rawRequest, runWrk, TAG_MARKER, wrkAvailable } from '../../bench/lib/wrk.js';

const REQUEST = { method: 'POST' as const, path: '/predict', headers: { 'content-type': 'application/json' }, bodies: ['{"a":1}', '{"b":"é"}'] };

describe('rawRequest', () => {
  it('is a complete HTTP/1.1 request with Host and the body’s byte length', () => {
    const raw = rawRequest('http://127.0.0.1:8080', REQUEST, '{"b":"é"}', false).toString('utf8');
    expect(raw).toBe('POST /predict HTTP/1.1\r\nHost: 127.0.0.1:8080\r\ncontent-type: application/json\r\nContent-Length: 10\r\n\r\n{"b":"é"}');
  });

  it('carries the tag marker as X-Request-Id when tagging, and binary bodies unchanged', () => {
    const body = Buffer.from([0, 255, 13, 10]);
    const raw = rawRequest('http://localhost:1', REQUEST, body, true);
    expect(raw.toString('latin1')).toContain(`X-Request-Id: ${TAG_MARKER}\r\n\r\n`);
    expect([...raw.subarray(raw.length - 4)]).toEqual([0, 255, 13, 10]);
  });
});

describe('parseWrkReport', () => {
  const line =
    '@@vigil-bench-wrk {"durationUs":2000000,"requests":300,"errors":{"connect":0,"read":1,"write":0,"status":100,"timeout":2},' +
    '"latencyUs":{"p50":500.0,"p90":900.0,"p99":1500.0,"p999":3000.0,"mean":600.0,"max":4000.0},' +
    '"statuses":{"200":200,"503":100},"unmatched":0,' +
    '"admittedUs":{"count":200,"p50":700.0,"p90":1000.0,"p99":2000.0,"p999":2500.0,"mean":750.0,"max":2600.0}}';

  it('reads goodput, statuses and both latency views from the report line among wrk’s own output', () => {
    const m = parseWrkReport(`Running 2s test @ http://x\n  1 threads\n${line}\n`);
    expect(m.requests).toBe(300);
    expect(m.ok).toBe(200);
    expect(m.goodput).toBe(100);
    expect(m.requestsPerSecond).toBe(150);
    expect(m.latencyMs.p99).toBe(1.5);
    expect(m.admittedLatencyMs?.p99).toBe(2);
    expect(m.socketErrors).toEqual({ connect: 0, read: 1, write: 0, timeout: 2 });
  });

  it('has no admitted latency when nothing was admitted or tagged', () => {
    const none = line.replace('"admittedUs":{"count":200', '"admittedUs":{"count":0');
    expect(parseWrkReport(none).admittedLatencyMs).toBeNull();
  });

  it('says so when wrk printed no report line', () => {
    expect(() => parseWrkReport('Running 1s test\nRequests/sec: 10\n')).toThrow(/no report line/);
  });
});

describe('runWrk against a real server', async () => {
  const haveWrk = await wrkAvailable();
  let server: Server;
  let url = '';
  let answered = 0;
  const bodiesSeen = new Set<string>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodiesSeen.add(Buffer.concat(chunks).toString('utf8'));
        const status = ++answered % 3 === 0 ? 503 : 200;
        res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': String(req.headers['x-request-id'] ?? '') });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.skipIf(!haveWrk)('counts every answer by status, cycles the bodies, and times admitted answers by their echoed id', async () => {
    const m = await runWrk({ url, request: REQUEST, connections: 4, durationS: 1, trackAdmitted: true });
    expect(m.requests).toBeGreaterThan(0);
    expect(Object.values(m.statuses).reduce((a, b) => a + b, 0)).toBe(m.requests);
    expect(m.statuses['503']).toBeGreaterThan(0);
    expect(m.ok).toBe(m.statuses['200']);
    expect(m.unmatched).toBe(0);
    expect(m.admittedLatencyMs).not.toBeNull();
    expect(bodiesSeen).toEqual(new Set(REQUEST.bodies));
  });
});
