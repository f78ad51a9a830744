// Open Inference Protocol v2 (KServe / Triton REST): health, server and model metadata,
// readiness, and infer with or without a version. Tensors in, tensors out, as JSON or with the
// binary tensor data extension (v2-binary.ts).
import type { DataPlane } from '../serving/data-plane.js';
import { notFound, notReady } from '../errors.js';
import { ortToV2, toJsonArray, type TensorSpec } from '../inference/tensors.js';
import type { ModelRegistry, ServedModel, ServedVersion } from '../serving/registry.js';
import { rolesOf } from '../routing/traffic.js';
import { encodeBinaryTensor } from '../validation/binary-tensors.js';
import { parseJsonObject, timeoutOf } from './json-body.js';
import { binaryAnswer, binaryDataOffset, checkBinaryContentType, HEADER_LENGTH, splitBinaryBody } from './v2-binary.js';
import type { Exchange } from './exchange.js';
import type { Router } from './router.js';
import type { MainThreadShedder } from './shedding.js';

export interface V2Context {
  registry: ModelRegistry;
  plane: DataPlane;
  shedder: MainThreadShedder;
  maxBodyBytes: number;
  timeoutMs: number;
  serverVersion: string;
}

export function mountV2(router: Router, context: V2Context): void {
  const { registry } = context;
  const findVersion = (model: ServedModel, version: string): ServedVersion => {
    const served = model.versions.get(version);
    if (served) return served;
    const status = model.status(version);
    if (status) throw notReady(`version ${version} of model '${model.name}' (${status.state}: ${status.reason})`);
    throw notFound(`model '${model.name}' has no version '${version}' (loaded: ${model.loadedVersions().join(', ') || 'none'})`);
  };
  /** The version metadata describes when none is named: the primary of the traffic split. */
  const defaultVersion = (model: ServedModel): ServedVersion => {
    if (!model.traffic) throw notReady(`model '${model.name}' (${model.errors.map((e) => e.message).join('; ')})`);
    return findVersion(model, rolesOf(model.traffic.get()).primary);
  };

  router
    .route('/v2', {
      GET: (ex) => ex.sendJson(200, { name: 'vigil', version: context.serverVersion, extensions: ['model_repository_metadata', 'binary_tensor_data'] }),
    })
    .route('/v2/health/live', { GET: (ex) => ex.sendJson(200, { live: true }) }, 'probe')
    .route('/v2/health/ready', {
      GET: (ex) => {
        const notReadyModels = [...registry.models.values()].filter((m) => !m.ready).map((m) => m.name);
        if (notReadyModels.length) ex.sendJson(503, { ready: false, error: `models not ready: ${notReadyModels.join(', ')}` });
        else ex.sendJson(200, { ready: true });
      },
    }, 'probe')
    .route('/v2/models/:model', {
      GET: (ex, [name]) => {
        const model = registry.require(name!);
        ex.sendJson(200, metadata(model, defaultVersion(model)));
      },
    })
    .route('/v2/models/:model/versions/:version', {
      GET: (ex, [name, version]) => {
        const model = registry.require(name!);
        ex.sendJson(200, metadata(model, findVersion(model, version!)));
      },
    })
    .route('/v2/models/:model/ready', {
      GET: (ex, [name]) => readiness(ex, registry.require(name!), undefined),
    })
    .route('/v2/models/:model/versions/:version/ready', {
      GET: (ex, [name, version]) => readiness(ex, registry.require(name!), version),
    })
    .route('/v2/models/:model/infer', {
      POST: (ex, [name]) => infer(ex, registry.require(name!), undefined),
    })
    .route('/v2/models/:model/versions/:version/infer', {
      POST: (ex, [name, version]) => infer(ex, registry.require(name!), version),
    });

  function readiness(ex: Exchange, model: ServedModel, version: string | undefined): void {
    if (version === undefined) {
      if (model.ready) ex.sendJson(200, { name: model.name, ready: true });
      else ex.sendJson(503, { name: model.name, ready: false, error: model.errors.map((e) => e.message).join('; ') || 'not loaded' });
      return;
    }
    const status = model.status(version);
    if (!status) findVersion(model, version); // throws the 404
    const { state, reason } = status!;
    if (state === 'ready') ex.sendJson(200, { name: model.name, version, ready: true, state });
    else ex.sendJson(503, { name: model.name, version, ready: false, state, error: reason });
  }

  async function infer(ex: Exchange, model: ServedModel, pinned: string | undefined): Promise<void> {
    if (context.shedder.shed(ex)) return;
    context.plane.wakeIdleWorker();
    const headerLength = ex.header(HEADER_LENGTH);
    let text: string;
    let binary: Buffer | undefined;
    if (headerLength === undefined) {
      text = await ex.readText(context.maxBodyBytes, true);
    } else {
      checkBinaryContentType(ex.contentType);
      ({ header: text, binary } = splitBinaryBody(await ex.readBytes(context.maxBodyBytes, binaryDataOffset(headerLength)), headerLength));
    }
    // The data plane checks a named version too; checked here first, a request that also has a
    // bad header (X-Timeout-Ms) is answered with the version's 404 or 503, as it always was.
    if (pinned !== undefined) findVersion(model, pinned);
    // Parsed only once the version's queue has admitted the request.
    let body: Record<string, unknown> | undefined;
    const prediction = await context.plane.predict({
      model,
      pinned,
      routingKey: ex.header('x-routing-key'),
      timeoutMs: timeoutOf(ex, context.timeoutMs),
      startedAt: ex.startedAt,
      requestId: ex.requestId,
      decode: (version) => version.v2.decode(body = parseJsonObject(text, ex.maxJsonDepth), binary),
      logFeatures: () => body?.inputs,
      // Binary inputs are views over the body (binary-tensors.ts): its memory is reused once they are done.
      releaseInputs: binary ? () => ex.recycleBody() : undefined,
    });
    const { version, decoded } = prediction;
    const wanted = decoded.outputs;
    const tensors: Uint8Array[] = [];
    const outputs = prediction.outputs
      .filter((o) => wanted === null || wanted.includes(o.name))
      .map((o) => {
        const datatype = ortToV2(o.type);
        if (!decoded.binary(o.name)) return { name: o.name, datatype, shape: o.dims, data: toJsonArray(o.type, o.data) };
        const bytes = encodeBinaryTensor(o.type, o.data);
        tensors.push(bytes);
        return { name: o.name, datatype, shape: o.dims, parameters: { binary_data_size: bytes.length } };
      });
    const answer = {
      model_name: model.name,
      model_version: version.version,
      ...(decoded.id !== undefined ? { id: decoded.id } : {}),
      outputs,
    };
    if (!tensors.length) {
      ex.sendJson(200, answer, { 'x-model-version': version.version });
      return;
    }
    const { body: bytes, headerLength: jsonLength } = binaryAnswer(answer, tensors);
    ex.send(200, bytes, 'application/octet-stream', { 'x-model-version': version.version, [HEADER_LENGTH]: String(jsonLength) });
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
    state: version.state,
    inputs: version.artifact.signature.inputs.map(tensor),
    outputs: version.artifact.signature.outputs.map(tensor),
    ...(version.rows?.featureNames ? { features: version.rows.featureNames } : {}),
  };
}
