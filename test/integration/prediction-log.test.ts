// The prediction log (--prediction-log FILE --prediction-log-sample RATE) through a real server:
// - rate 1: N answered requests (single named row, `instances`, v2 infer) give exactly N valid
//   JSON lines after SIGTERM, each with its request's id, model, version, role, features,
//   outputs and latency; failed requests give none;
// - the latencies in those lines, fed into an HDR histogram built exactly as the server builds
//   its own (buildLatencyHistogram), give the same percentiles /stats reported (latency_us.total);
// - rate 0.5 over 400 requests logs a binomial share (bounds at ±5σ: never flaky).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLatencyHistogram } from '../../src/monitoring/latency.js';
import { BUNDLED_MODELS, getJson, postJson, startServer, type RunningServer } from '../helpers/server.js';

interface Heldout { feature_names: string[]; rows: number[][] }
interface LogEntry {
  timestamp: string;
  request_id: string;
  model: string;
  version: string;
  role: string;
  features: unknown;
  outputs: unknown;
  latency_ms: number;
}

const MODEL = 'breast-cancer';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as Heldout;
const named = (row: number[]) => Object.fromEntries(heldout.feature_names.map((name, i) => [name, row[i]]));

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-prediction-log-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function readLog(file: string): LogEntry[] {
  const text = readFileSync(file, 'utf8');
  expect(text.endsWith('\n'), 'log ends with a newline').toBe(true);
  return text.slice(0, -1).split('\n').map((line) => JSON.parse(line) as LogEntry);
}

describe('prediction log, sample rate 1', () => {
  let server: RunningServer;
  const file = () => join(tmp, 'rate-1', 'predictions.jsonl');
  /** request id → what was sent */
  const sent = new Map<string, { kind: 'single' | 'instances' | 'v2'; rows: number; body: unknown }>();
  let totalLatency: Record<string, number>;
  let exitCode: number | string;

  beforeAll(async () => {
    server = await startServer({ args: ['--models', BUNDLED_MODELS, '--prediction-log', file(), '--prediction-log-sample', '1'] });
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('answers a mix of /predict rows, instances and v2 infer (version 1 pinned), plus failures', async () => {
    const rows = heldout.rows;
    for (let i = 0; i < 60; i++) {
      const id = randomUUID();
      const body = { model: MODEL, version: '1', features: named(rows[i]!) };
      const response = await postJson(`${server.url}/predict`, body, { 'x-request-id': id });
      expect(response.status, response.text).toBe(200);
      expect(response.json.request_id).toBe(id);
      sent.set(id, { kind: 'single', rows: 1, body: body.features });
    }
    for (let i = 0; i < 40; i++) {
      const id = randomUUID();
      const instances = rows.slice(i, i + 1 + (i % 5));
      const response = await postJson(`${server.url}/predict`, { model: MODEL, version: '1', instances }, { 'x-request-id': id });
      expect(response.status, response.text).toBe(200);
      sent.set(id, { kind: 'instances', rows: instances.length, body: instances });
    }
    for (let i = 0; i < 40; i++) {
      const id = randomUUID();
      const data = rows.slice(i, i + 1 + (i % 3));
      const inputs = [{ name: 'input', shape: [data.length, 30], datatype: 'FP32', data }];
      const response = await postJson(`${server.url}/v2/models/${MODEL}/versions/1/infer`, { inputs }, { 'x-request-id': id });
      expect(response.status, response.text).toBe(200);
      sent.set(id, { kind: 'v2', rows: data.length, body: inputs });
    }
    // failures are not predictions: no line for them
    expect((await postJson(`${server.url}/predict`, { model: MODEL, version: '1', features: { ...named(rows[0]!), mean_radius: 'x' } })).status).toBe(400);
    expect((await postJson(`${server.url}/predict`, { model: MODEL, version: '1', features: named(rows[0]!).x })).status).toBe(400);
    expect((await postJson(`${server.url}/v2/models/${MODEL}/versions/1/infer`, { inputs: [] })).status).toBe(400);

    const stats = await getJson(`${server.url}/stats`);
    const live = stats.json.models[MODEL].versions['1'].roles.live;
    expect(live.requests).toBe(sent.size);
    totalLatency = live.latency_us.total;
    expect(totalLatency.count).toBe(sent.size);
    exitCode = await server.stop();
  });

  it('exits 0 on SIGTERM and the file holds exactly one valid line per answered request', () => {
    expect(exitCode).toBe(0);
    const entries = readLog(file());
    expect(entries).toHaveLength(sent.size);
    expect(new Set(entries.map((e) => e.request_id))).toEqual(new Set(sent.keys()));
    for (const entry of entries) {
      const request = sent.get(entry.request_id)!;
      expect(Object.keys(entry).sort()).toEqual(['features', 'latency_ms', 'model', 'outputs', 'request_id', 'role', 'timestamp', 'version']);
      expect(entry.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Number.isNaN(Date.parse(entry.timestamp))).toBe(false);
      expect(entry.model).toBe(MODEL);
      expect(entry.version).toBe('1');
      expect(entry.role).toBe('live');
      expect(entry.features).toEqual(request.body);
      expect(Array.isArray(entry.outputs)).toBe(true);
      expect(entry.outputs as unknown[]).toHaveLength(request.rows);
      for (const output of entry.outputs as { label: number; probability: number }[]) {
        expect([0, 1]).toContain(output.label);
        expect(output.probability).toBeGreaterThanOrEqual(0.5);
        expect(output.probability).toBeLessThanOrEqual(1);
      }
      expect(typeof entry.latency_ms).toBe('number');
      expect(entry.latency_ms).toBeGreaterThan(0);
      expect(entry.latency_ms).toBeLessThan(60_000);
      // whole microseconds: the value the server's HDR histogram recorded, not a finer one
      const micros = entry.latency_ms * 1000;
      expect(Math.abs(micros - Math.round(micros)), `latency_ms ${entry.latency_ms}`).toBeLessThan(1e-6);
    }
  });

  it('percentiles from /stats equal an HDR histogram fed the logged latencies', () => {
    const entries = readLog(file());
    // Same layout as the server's since-start histogram (LatencyWindow.total: 64-bit counts).
    const histogram = buildLatencyHistogram(64);
    const micros = entries.map((entry) => Math.round(entry.latency_ms * 1000));
    for (const value of micros) histogram.recordValue(value);
    // /stats clamps HDR's bucket bounds to the recorded range: so does the oracle, from the log.
    const min = Math.min(...micros);
    const max = Math.max(...micros);
    const at = (p: number) => Math.min(Math.max(histogram.getValueAtPercentile(p), min), max);
    const fromLog = { count: histogram.totalCount, min, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max };
    console.log('latency µs from /stats:', totalLatency, 'from the log:', fromLog);
    expect(fromLog).toEqual({
      count: totalLatency.count, min: totalLatency.min, p50: totalLatency.p50, p90: totalLatency.p90, p99: totalLatency.p99,
      p999: totalLatency.p999, max: totalLatency.max,
    });
    expect(histogram.mean).toBeCloseTo(totalLatency.mean!, 6);
  });
});

describe('prediction log, sample rate 0.5', () => {
  it('logs a binomial share of 400 requests (within ±5σ of 200)', async () => {
    const file = join(tmp, 'rate-half.jsonl');
    const server = await startServer({ args: ['--models', BUNDLED_MODELS, '--prediction-log', file, '--prediction-log-sample', '0.5'] });
    const ids = new Set<string>();
    try {
      for (let i = 0; i < 400; i++) {
        const response = await postJson(`${server.url}/predict`, { model: MODEL, version: '1', features: heldout.rows[i % heldout.rows.length] });
        expect(response.status, response.text).toBe(200);
        ids.add(response.json.request_id as string);
      }
      expect(await server.stop()).toBe(0);
    } finally {
      await server.kill();
    }
    const entries = readLog(file);
    console.log(`sample rate 0.5: ${entries.length} of 400 requests logged`);
    // Binomial(400, 0.5): σ = 10. ±5σ fails once in ~1.7 million runs.
    expect(entries.length).toBeGreaterThanOrEqual(150);
    expect(entries.length).toBeLessThanOrEqual(250);
    for (const entry of entries) {
      expect(ids.has(entry.request_id)).toBe(true);
      expect(entry.version).toBe('1');
      expect(entry.role).toBe('live');
    }
    expect(new Set(entries.map((e) => e.request_id)).size).toBe(entries.length);
  });
});
