// Open Inference Protocol v2 (KServe / Triton REST): health, server and model metadata,
// readiness, and infer with or without a version. Tensors in, tensors out.
import type { DataPlane } from '../serving/data-plane.js';
import { notFound, notReady } from '../errors.js';
import { isFloatType, ortToV2, toJsonArray, type TensorSpec } from '../inference/tensors.js';
import type { ModelRegistry, ServedModel, ServedVersion } from '../serving/registry.js';
import { rolesOf } from '../routing/traffic.js';
import { readJsonObject, timeoutOf } from './json-body.js';
import type { Exchange } from './exchange.js';
import type { Router } from './router.js';

export interface V2Context {
  registry: ModelRegistry;
  plane: DataPlane;
  maxBodyBytes: number;
  timeoutMs: number;
  serverVersion: string;
}

export function mountV2(router: Router, context: V2Context): void {
  const { registry } = context;
  const findModel = (name: string): ServedModel => {
    const model = registry.get(name);
    if (!model) throw notFound(`unknown model '${name}' (models: ${[...registry.models.keys()].join(', ')})`);
    return model;
  };
  const findVersion = (model: ServedModel, version: string): ServedVersion => {
    const served = model.versions.get(version);
    if (served) return served;
    const failure = model.errors.find((e) => e.version === version);
    if (failure) throw notReady(`version ${version} of model '${model.name}' (${failure.message})`);
    throw notFound(`model '${model.name}' has no version '${version}' (loaded: ${model.loadedVersions().join(', ') || 'none'})`);
  };
  /** The version metadata describes when none is named: the primary of the traffic split. */
  const defaultVersion = (model: ServedModel): ServedVersion => {
    if (!model.traffic) throw notReady(`model '${model.name}' (${model.errors.map((e) => e.message).join('; ')})`);
    return findVersion(model, rolesOf(model.traffic.get()).primary);
  };

  router
    .route('/v2', {
      GET: (ex) => ex.sendJson(200, { name: 'vigil', version: context.serverVersion, extensions: ['model_repository_metadata', 'statistics'] }),
    })
    .route('/v2/health/live', { GET: (ex) => ex.sendJson(200, { live: true }) })
    .route('/v2/health/ready', {
      GET: (ex) => {
        const notReadyModels = [...registry.models.values()].filter((m) => !m.ready).map((m) => m.name);
        if (notReadyModels.length) ex.sendJson(503, { ready: false, error: `models not ready: ${notReadyModels.join(', ')}` });
        else ex.sendJson(200, { ready: true });
      },
    })
    .route('/v2/models/:model', {
      GET: (ex, [name]) => ex.sendJson(200, metadata(findModel(name!), defaultVersion(findModel(name!)))),
    })
    .route('/v2/models/:model/versions/:version', {
      GET: (ex, [name, version]) => {
        const model = findModel(name!);
        ex.sendJson(200, metadata(model, findVersion(model, version!)));
      },
    })
    .route('/v2/models/:model/ready', {
      GET: (ex, [name]) => readiness(ex, findModel(name!), undefined),
    })
    .route('/v2/models/:model/versions/:version/ready', {
      GET: (ex, [name, version]) => readiness(ex, findModel(name!), version),
    })
    .route('/v2/models/:model/infer', {
      POST: (ex, [name]) => infer(ex, findModel(name!), undefined),
    })
    .route('/v2/models/:model/versions/:version/infer', {
      POST: (ex, [name, version]) => infer(ex, findModel(name!), version),
    });

  function readiness(ex: Exchange, model: ServedModel, version: string | undefined): void {
    const served = version === undefined ? model.ready : model.versions.has(version) && !model.versions.get(version)!.draining;
    if (served) {
      ex.sendJson(200, { name: model.name, ...(version ? { version } : {}), ready: true });
      return;
    }
    if (version !== undefined && !model.versions.has(version) && !model.errors.some((e) => e.version === version)) {
      findVersion(model, version); // throws the 404
    }
    const reasons = model.errors.filter((e) => version === undefined || e.version === version || e.version === undefined);
    ex.sendJson(503, {
      name: model.name, ...(version ? { version } : {}), ready: false,
      error: reasons.map((e) => e.message).join('; ') || 'not loaded',
    });
  }

  async function infer(ex: Exchange, model: ServedModel, pinned: string | undefined): Promise<void> {
    const body = await readJsonObject(ex, context.maxBodyBytes);
    if (pinned !== undefined) findVersion(model, pinned);
    const version = context.plane.route(model, pinned, ex.header('x-routing-key'));
    const timeoutMs = timeoutOf(ex, context.timeoutMs);
    let decoded;
    try {
      decoded = version.v2.decode(body);
    } catch (error) {
      context.plane.recordFailure(version, 'live', error);
      throw error;
    }
    const schema = version.rows;
    const featureIndex = schema ? version.target.inputs.indexOf(schema.input) : -1;
    const featureTensor = featureIndex >= 0 ? decoded.inputs[featureIndex] : undefined;
    const result = await context.plane.infer({
      version,
      inputs: decoded.inputs,
      rows: decoded.rows,
      features: featureTensor && isFloatType(featureTensor.type) && featureTensor.type !== 'float16'
        ? { data: featureTensor.data as Float32Array, width: schema!.width } : null,
      timeoutMs,
      startedAt: ex.startedAt,
      requestId: ex.requestId,
      logFeatures: () => body.inputs,
    });
    const wanted = decoded.outputs;
    const outputs = result.outputs
      .filter((o) => wanted === null || wanted.includes(o.name))
      .map((o) => ({ name: o.name, datatype: ortToV2(o.type), shape: o.dims, data: toJsonArray(o.type, o.data) }));
    ex.sendJson(200, {
      model_name: model.name,
      model_version: version.version,
      ...(decoded.id !== undefined ? { id: decoded.id } : {}),
      outputs,
    }, { 'x-model-version': version.version });
  }
}

function metadata(model: ServedModel, version: ServedVersion) {
  const tensor = (spec: TensorSpec) => ({
    name: spec.name,
    datatype: ortToV2(spec.type),
    shape: spec.shape ? spec.shape.map((d) => (d === null ? -1 : d)) : [],
  });
  return {
    name: model.name,
    versions: model.loadedVersions(),
    platform: 'onnxruntime_onnx',
    task: model.task,
    version: version.version,
    inputs: version.artifact.signature.inputs.map(tensor),
    outputs: version.artifact.signature.outputs.map(tensor),
    ...(version.rows?.featureNames ? { features: version.rows.featureNames } : {}),
  };
}
