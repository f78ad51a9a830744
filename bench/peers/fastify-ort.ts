// Peer (a): the typical Node setup. Fastify with its built-in JSON parsing and
// onnxruntime-node called inline in the request handler, one session in the main thread.
// Serves one model version (default breast-cancer v2, the MLP) on the same `/predict` body
// Vigil takes: {"model": "...", "features": {name: value} | [values]} or "instances": [...].
//
// Usage: node dist/bench/peers/fastify-ort.js [--port 0] [--host 127.0.0.1] [--models DIR]
//        [--model breast-cancer] [--version 2]
// Prints one JSON line {"msg": "fastify-ort listening", "url": ...}. SIGTERM exits 0.
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import ort from 'onnxruntime-node';
import { peerOptions } from '../../native-bench/lib/peer-options.js';

const { host, port, modelName, version, onnxPath, featureNames } = peerOptions('fastify-ort');
const F = featureNames.length;

// The same session options Vigil's workers use; ORT's default (all cores) only adds
// thread hand-offs for graphs this small.
const session = await ort.InferenceSession.create(onnxPath, {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});

class BadRequest extends Error {}

function toRow(features: unknown, out: Float32Array, offset: number): void {
  if (Array.isArray(features)) {
    if (features.length !== F) throw new BadRequest(`features must have ${F} values`);
    for (let i = 0; i < F; i++) {
      const v = features[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadRequest(`features/${i} must be a finite number`);
      out[offset + i] = v;
    }
    return;
  }
  if (features === null || typeof features !== 'object') throw new BadRequest('features must be an object or an array');
  const byName = features as Record<string, unknown>;
  for (let i = 0; i < F; i++) {
    const v = byName[featureNames[i]!];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new BadRequest(`features/${featureNames[i]} must be a finite number`);
    }
    out[offset + i] = v;
  }
}

interface PredictBody {
  model?: unknown;
  features?: unknown;
  instances?: unknown;
}

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

app.post('/predict', async (request, reply) => {
  const body = (request.body ?? {}) as PredictBody;
  try {
    if (body.model !== modelName) throw new BadRequest(`model must be "${modelName}"`);
    const rows = Array.isArray(body.instances) ? body.instances : body.features !== undefined ? [body.features] : null;
    if (!rows || rows.length === 0) throw new BadRequest('features or instances is required');
    const data = new Float32Array(rows.length * F);
    rows.forEach((row, r) => toRow(row, data, r * F));
    const out = await session.run({ input: new ort.Tensor('float32', data, [rows.length, F]) });
    const labels = out['label']!.data as BigInt64Array;
    const probs = out['probabilities']!.data as Float32Array;
    const classes = probs.length / rows.length;
    const predictions = rows.map((_, r) => {
      const label = Number(labels[r]);
      return { label, probability: probs[r * classes + label] };
    });
    void reply.header('X-Model-Version', version);
    return { model: modelName, version, request_id: randomUUID(), predictions };
  } catch (err) {
    if (err instanceof BadRequest) return reply.code(400).send({ error: err.message });
    throw err;
  }
});

const url = await app.listen({ host, port });
process.stdout.write(JSON.stringify({ msg: 'fastify-ort listening', url }) + '\n');

async function stop(): Promise<void> {
  await app.close();
  await session.release();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
