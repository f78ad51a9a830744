// POST /predict: the application-facing protocol. A row (or `instances` rows) by feature name
// or in feature order, routed by the traffic split unless a version is pinned. Reads the
// routing fields, makes one call into the data plane, and encodes what comes back. While queues
// are crowded the body is parsed only once the version's queue has admitted the request: a
// refusal then costs reading the body and skimming its top-level keys (predict-fields.ts).
import { badRequest } from '../errors.js';
import type { DataPlane } from '../serving/data-plane.js';
import type { ModelRegistry } from '../serving/registry.js';
import type { ServedVersion } from '../serving/served-version.js';
import { parseJsonObject, timeoutOf } from './json-body.js';
import { skimPredictFields, type PredictFields } from './predict-fields.js';
import type { Router } from './router.js';
import type { MainThreadShedder } from './shedding.js';

export interface PredictContext {
  registry: ModelRegistry;
  plane: DataPlane;
  shedder: MainThreadShedder;
  maxBodyBytes: number;
  timeoutMs: number;
}

const BODY_KEYS = new Set(['model', 'version', 'features', 'instances', 'id']);

/** The parsed body, with every top-level key checked. */
function parseBody(text: string, maxJsonDepth: number): Record<string, unknown> {
  const body = parseJsonObject(text, maxJsonDepth);
  for (const key of Object.keys(body)) {
    if (!BODY_KEYS.has(key)) throw badRequest(`${key} is not a /predict field (fields: model, version, features, instances, id)`);
  }
  return body;
}

/** Per version, the answer's text up to the request id: `{"model":…,"version":…,"request_id":`. */
const answerHeads = new WeakMap<ServedVersion, string>();

function answerHead(version: ServedVersion): string {
  let head = answerHeads.get(version);
  if (head === undefined) {
    head = `{"model":${JSON.stringify(version.modelName)},"version":${JSON.stringify(version.version)},"request_id":`;
    answerHeads.set(version, head);
  }
  return head;
}

export function mountPredict(router: Router, context: PredictContext): void {
  router.route('/predict', {
    POST: async (exchange) => {
      if (context.shedder.shed(exchange)) return;
      context.plane.wakeIdleWorker();
      const text = await exchange.readText(context.maxBodyBytes, true);
      let parsed: Record<string, unknown> | undefined;
      const body = () => (parsed ??= parseBody(text, exchange.maxJsonDepth));
      // The skim gives up on anything unusual; the parse then reports what is wrong, in order.
      const skimmed = context.plane.crowded ? skimPredictFields(text) : null;
      const fields: PredictFields = skimmed ?? (body() as unknown as PredictFields);
      if (typeof fields.model !== 'string' || fields.model === '') throw badRequest('model is required: the name of a served model');
      const model = context.registry.require(fields.model);
      const pinned = fields.version;
      if (pinned !== undefined && typeof pinned !== 'string' && !Number.isInteger(pinned)) {
        throw badRequest('version must be a string such as "2"');
      }
      const id = fields.id;
      if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') throw badRequest('id must be a string or a number');
      const prediction = await context.plane.predict({
        model,
        pinned: pinned === undefined ? undefined : String(pinned),
        routingKey: exchange.header('x-routing-key') ?? (id === undefined ? undefined : String(id)),
        timeoutMs: timeoutOf(exchange, context.timeoutMs),
        startedAt: exchange.startedAt,
        requestId: exchange.requestId,
        decode: (version) => version.rowSchema().decode(body()),
        logFeatures: () => body().features ?? body().instances,
      });
      const { version, decoded, outputs, columns } = prediction;
      // Written as text: the same JSON as stringifying the answer object, without building it.
      const answer = `${answerHead(version)}${exchange.requestIdJson},"predictions":${version.reader.json(outputs, decoded.rows, columns)}}`;
      exchange.send(200, answer, 'application/json', { 'x-model-version': version.version });
    },
  });
}
