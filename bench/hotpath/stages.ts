// Main-thread CPU per request of each stage of Vigil's request path, measured in-process
// without HTTP (the part every JSON server pays alike): parse, decode, route, batch hand-off
// and inference wait, observe, encode, and the whole data plane under 64 requests in flight.
// Each stage runs in a tight loop for about a second and is timed by the main thread's own CPU
// clock (/proc), so neighbours on a busy machine move the figures much less than req/s.
//
//   node dist/bench/hotpath/stages.js [--model breast-cancer] [--version 2] [--rows 1] [--form object|array]
//     [--monitoring on|off]   (off: as --no-monitoring serves, no drift, quality, latency or feedback store)
import pino from 'pino';
import { DEFAULT_MODELS } from '../lib/paths.js';
import { findVersion, readHeldout } from '../../native-bench/lib/model-repo.js';
import { BatchScheduler } from '../../src/inference/batcher.js';
import { InferencePool } from '../../src/inference/pool.js';
import { DEFAULT_DRIFT_OPTIONS } from '../../src/monitoring/drift.js';
import { systemClock } from '../../src/monitoring/clock.js';
import { Metrics } from '../../src/monitoring/metrics.js';
import { PredictionStore } from '../../src/monitoring/prediction-store.js';
import { repositoryLayout } from '../../src/repository/layout.js';
import { scanRepository } from '../../src/repository/repository.js';
import { DataPlane } from '../../src/serving/data-plane.js';
import { ModelRegistry } from '../../src/serving/registry.js';
import { cpuBetween, cpuSnapshot } from '../lib/proc-cpu.js';

const started = cpuSnapshot(process.pid)!;
/** The main thread's CPU time since the start, µs. */
const mainCpuUs = () => cpuBetween(started, cpuSnapshot(process.pid)!).mainUs;

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const modelName = arg('model', 'breast-cancer');
const versionName = arg('version', '2');
const rows = Number(arg('rows', '1'));
const form = arg('form', 'object');
/** `--only plane` skips the per-stage loops (to profile the data plane alone). */
const only = arg('only', 'all');
const monitoring = arg('monitoring', 'on') !== 'off';

const heldout = readHeldout(findVersion(DEFAULT_MODELS, modelName, versionName)!.heldoutPath!);
const rowOf = (i: number) => {
  const row = heldout.rows[i % heldout.rows.length]!;
  return form === 'array' ? row : Object.fromEntries(heldout.featureNames.map((n, j) => [n, row[j]]));
};
const text = JSON.stringify(rows === 1
  ? { model: modelName, version: versionName, features: rowOf(0) }
  : { model: modelName, version: versionName, instances: Array.from({ length: rows }, (_, i) => rowOf(i)) });

const pool = new InferencePool(1);
await pool.ready();
const metrics = new Metrics(false);
const scheduler = new BatchScheduler(pool, 2);
const logger = pino({ level: 'silent' });
const layout = repositoryLayout(DEFAULT_MODELS);
const registry = new ModelRegistry(layout, pool, scheduler, metrics, {
  batching: true, maxBatchSize: 64, maxQueueDelayUs: 0, maxQueueRows: 1 << 20, maxInstances: 1024, monitoring, maxTensorElements: 1 << 24,
}, { ...DEFAULT_DRIFT_OPTIONS }, logger, systemClock);
for (const artifact of await scanRepository(layout)) await registry.addModel(artifact);
const model = registry.get(modelName)!;
const version = model.versions.get(versionName)!;
// As the server runs by default: monitoring on, answers kept for feedback (both off with --monitoring off).
const plane = new DataPlane(scheduler, metrics, logger, monitoring, null, monitoring ? new PredictionStore({}, systemClock) : null);

/** Main-thread CPU µs per call of `fn`, over at least `seconds` of calls. */
async function perCall(label: string, fn: () => unknown, seconds = 1): Promise<number> {
  for (let i = 0; i < 2000; i++) await fn(); // warm up (JIT)
  let calls = 0;
  const start = mainCpuUs();
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 200; i++) await fn();
    calls += 200;
  }
  const us = (mainCpuUs() - start) / calls;
  console.log(`${label.padEnd(48)} ${us.toFixed(2).padStart(8)} µs`);
  return us;
}

const body = JSON.parse(text) as Record<string, unknown>;
const decoded = version.rowSchema().decode(body);
const outputs = await pool.run(version.key, version.artifact.path, decoded.inputs);
const columns = version.reader.columns(outputs, decoded.rows);

console.log(`${modelName} v${versionName}, ${rows} row(s) by ${form === 'array' ? 'position' : 'name'}, body ${text.length} bytes, monitoring ${monitoring ? 'on' : 'off'}`);
if (only !== 'plane') {
await perCall('parse (JSON.parse of the body)', () => JSON.parse(text));
await perCall('decode (validate, write the tensor)', () => version.rowSchema().decode(body));
await perCall('route (traffic split, unpinned)', () => model.traffic!.splitter.pick(undefined));
await perCall('observe (outputs, latency, counters)', () => {
  const c = version.reader.columns(outputs, rows);
  version.monitor.recordSuccess('live', rows, c, 1234);
});
await perCall('encode (the /predict answer as JSON text)', () =>
  `{"model":${JSON.stringify(modelName)},"version":${JSON.stringify(versionName)},"request_id":"2d652a6cfabba260-1",` +
  `"predictions":${version.reader.json(outputs, rows, columns)}}`);
}

// The data plane end to end (route, admit, decode, batch, hand-off, observe, encode) with 64
// requests in flight, as under 64 connections: main-thread CPU per request, HTTP excluded.
async function inFlight(concurrency: number, seconds: number): Promise<void> {
  let done = 0;
  const start = mainCpuUs();
  const until = performance.now() + seconds * 1000;
  const client = async () => {
    while (performance.now() < until) {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const prediction = await plane.predict({
        model, pinned: versionName, routingKey: undefined, timeoutMs: 30_000, startedAt: performance.now(), requestId: 'x',
        decode: (v) => v.rowSchema().decode(parsed),
      });
      void `{"model":${JSON.stringify(modelName)},"version":${JSON.stringify(versionName)},"request_id":"x",` +
        `"predictions":${prediction.version.reader.json(prediction.outputs, prediction.decoded.rows, prediction.columns)}}`;
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const stats = scheduler.stats().find((s) => s.key === version.key && s.role === 'live')!;
  console.log(`${'whole data plane, 64 in flight (parse..encode)'.padEnd(48)} ${((mainCpuUs() - start) / done).toFixed(2).padStart(8)} µs  (${(done / seconds).toFixed(0)} req/s, ${stats.meanBatchRows.toFixed(1)} rows/batch)`);
}
await inFlight(64, 1);
await inFlight(64, only === 'plane' ? 8 : 3);

scheduler.close();
await pool.close();
