// The gateway floor: the least a server built like Vigil does for a /predict request, so that a
// run can tell the cost of the architecture (HTTP on the main thread, ORT in a worker, batches
// through Vigil's own worker pool) from the cost of Vigil's features. It checks the body as the
// Fastify peer does (model name, features by name or in order, finite numbers), stacks the rows
// of one event-loop turn into a batch (up to 64 rows), runs it through InferencePool (the
// shared-slot hand-off Vigil uses), and answers with Vigil's fields and headers. Nothing else:
// no schema, routing, shedding, deadlines, monitoring, feedback store, metrics or logs.
//
// Usage: node dist/native-bench/gateway-floor.js [--port 0] [--host 127.0.0.1] [--models DIR]
//        [--model breast-cancer] [--version 2]
// Prints one JSON line {"url": "http://host:port"} once listening. SIGTERM/SIGINT exit 0.
import uWS from 'uWebSockets.js';
import { InferencePool } from '../src/inference/pool.js';
import type { WireTensor } from '../src/inference/tensors.js';
import { peerOptions } from './lib/peer-options.js';

const { host, port, modelName, version, onnxPath, featureNames } = peerOptions('gateway-floor');
const F = featureNames.length;
const MAX_BATCH_ROWS = 64;
const BODY_LIMIT = 1024 * 1024;
const KEY = `${modelName}:${version}`;

const pool = new InferencePool(1);
await pool.ready();
await pool.loadEverywhere(KEY, onnxPath);

class BadRequest extends Error {}

interface Pending {
  res: uWS.HttpResponse;
  requestId: string;
  rows: Float32Array;
  aborted: boolean;
}

function rowsOf(body: unknown): Float32Array {
  const { model, features, instances } = (body ?? {}) as { model?: unknown; features?: unknown; instances?: unknown };
  if (model !== modelName) throw new BadRequest(`model must be "${modelName}"`);
  const rows = Array.isArray(instances) ? instances : features !== undefined ? [features] : null;
  if (!rows || rows.length === 0 || rows.length > MAX_BATCH_ROWS) throw new BadRequest(`features, or 1 to ${MAX_BATCH_ROWS} instances, is required`);
  const data = new Float32Array(rows.length * F);
  rows.forEach((row: unknown, r: number) => {
    const byName = !Array.isArray(row) && row !== null && typeof row === 'object' ? (row as Record<string, unknown>) : null;
    if (!byName && !(Array.isArray(row) && row.length === F)) throw new BadRequest(`row ${r}: ${F} features by name or in order`);
    for (let i = 0; i < F; i++) {
      const value = byName ? byName[featureNames[i]!] : (row as unknown[])[i];
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new BadRequest(`row ${r}: ${featureNames[i]} must be a finite number`);
      data[r * F + i] = value;
    }
  });
  return data;
}

// One batch per event-loop turn: what arrived in this turn goes out at its check phase.
let turn: Pending[] = [];
let turnRows = 0;

function enqueue(request: Pending): void {
  if (turnRows + request.rows.length / F > MAX_BATCH_ROWS) flush();
  if (turn.push(request) === 1) setImmediate(flush);
  turnRows += request.rows.length / F;
}

function flush(): void {
  if (turn.length === 0) return;
  const batch = turn;
  const rows = turnRows;
  turn = [];
  turnRows = 0;
  const data = new Float32Array(rows * F);
  let at = 0;
  for (const request of batch) {
    data.set(request.rows, at);
    at += request.rows.length;
  }
  pool.run(KEY, onnxPath, [{ name: 'input', type: 'float32', dims: [rows, F], data }]).then(
    (outputs) => answer(batch, outputs),
    (error: Error) => { for (const request of batch) write(request, '500 Internal Server Error', JSON.stringify({ error: error.message })); },
  );
}

function answer(batch: Pending[], outputs: WireTensor[]): void {
  const labels = outputs.find((o) => o.name === 'label')!.data;
  const probabilities = outputs.find((o) => o.name === 'probabilities')!.data as Float32Array;
  const classes = probabilities.length / labels.length;
  let row = 0;
  for (const request of batch) {
    const predictions: string[] = [];
    for (let r = 0; r < request.rows.length / F; r++, row++) {
      const label = Number(labels[row]);
      const p = Array.from(probabilities.subarray(row * classes, (row + 1) * classes));
      predictions.push(`{"label":${label},"probability":${p[label]},"probabilities":[${p.join(',')}]}`);
    }
    write(request, null, `{"model":"${modelName}","version":"${version}","request_id":"${request.requestId}","predictions":[${predictions.join(',')}]}`);
  }
}

function write(request: Pending, status: string | null, body: string): void {
  if (request.aborted) return;
  request.res.cork(() => {
    if (status) request.res.writeStatus(status);
    request.res.writeHeader('content-type', 'application/json');
    request.res.writeHeader('x-request-id', request.requestId);
    request.res.writeHeader('x-model-version', version);
    request.res.end(body);
  });
}

let counter = 0;
const prefix = Math.floor(Math.random() * 2 ** 32).toString(16);

const app = uWS.App();
app.post('/predict', (res) => {
  const request: Pending = { res, requestId: `${prefix}-${(++counter).toString(16)}`, rows: new Float32Array(0), aborted: false };
  res.onAborted(() => {
    request.aborted = true;
  });
  const chunks: Buffer[] = [];
  let received = 0;
  res.onData((chunk, isLast) => {
    received += chunk.byteLength;
    if (received > BODY_LIMIT) {
      if (!request.aborted) res.cork(() => res.writeStatus('413 Payload Too Large').end('{"error":"body too large"}', true));
      request.aborted = true;
      return;
    }
    chunks.push(Buffer.from(chunk.slice(0))); // uWS neuters the ArrayBuffer after this callback
    if (!isLast || request.aborted) return;
    try {
      request.rows = rowsOf(JSON.parse(Buffer.concat(chunks).toString()));
    } catch (error) {
      const message = error instanceof BadRequest ? error.message : `malformed JSON: ${(error as Error).message}`;
      write(request, '400 Bad Request', JSON.stringify({ error: message }));
      return;
    }
    enqueue(request);
  });
});
app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end('{"error":"not found"}');
});

app.listen(host, port, (socket) => {
  if (!socket) {
    console.error(`gateway-floor: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  console.log(JSON.stringify({ url: `http://${host}:${uWS.us_socket_local_port(socket)}` }));
});

const stop = (): void => {
  void pool.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
