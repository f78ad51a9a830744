// POST /predict: the application-facing protocol. A row (or `instances` rows) by feature name
// or in feature order, routed by the traffic split unless a version is pinned. Parses the wire
// format, makes one call into the data plane, and encodes what comes back.
import { badRequest, notFound } from '../errors.js';
import type { DataPlane } from '../serving/data-plane.js';
import type { ModelRegistry } from '../serving/registry.js';
import { RowSchema } from '../validation/predict-rows.js';
import { readJsonObject, timeoutOf } from './json-body.js';
import type { Router } from './router.js';

export interface PredictContext {
  registry: ModelRegistry;
  plane: DataPlane;
  maxBodyBytes: number;
  timeoutMs: number;
}

const BODY_KEYS = new Set(['model', 'version', 'features', 'instances', 'id']);

export function mountPredict(router: Router, context: PredictContext): void {
  router.route('/predict', {
    POST: async (exchange) => {
      const body = await readJsonObject(exchange, context.maxBodyBytes);
      for (const key of Object.keys(body)) {
        if (!BODY_KEYS.has(key)) throw badRequest(`${key} is not a /predict field (fields: model, version, features, instances, id)`);
      }
      if (typeof body.model !== 'string' || body.model === '') throw badRequest('model is required: the name of a served model');
      const model = context.registry.get(body.model);
      if (!model) {
        throw notFound(`unknown model '${body.model}' (models: ${[...context.registry.models.keys()].join(', ')})`);
      }
      const pinned = body.version;
      if (pinned !== undefined && typeof pinned !== 'string' && !Number.isInteger(pinned)) {
        throw badRequest('version must be a string such as "2"');
      }
      const id = body.id;
      if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') throw badRequest('id must be a string or a number');
      const prediction = await context.plane.predict({
        model,
        pinned: pinned === undefined ? undefined : String(pinned),
        routingKey: exchange.header('x-routing-key') ?? (id === undefined ? undefined : String(id)),
        timeoutMs: timeoutOf(exchange, context.timeoutMs),
        startedAt: exchange.startedAt,
        requestId: exchange.requestId,
        rows: RowSchema.countRows(body),
        decode: (version) => version.rowSchema().decode(body),
        logFeatures: () => body.features ?? body.instances,
      });
      const { version, decoded, outputs, columns } = prediction;
      exchange.sendJson(200, {
        model: model.name,
        version: version.version,
        request_id: exchange.requestId,
        predictions: version.reader.predictions(outputs, decoded.rows, columns),
      }, { 'x-model-version': version.version });
    },
  });
}
