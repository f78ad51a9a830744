// deploy/kserve: the ServingRuntime and the InferenceService example. No KServe CRD schema is
// published on npm, so validation is in two parts: every Kubernetes object embedded in them (the
// runtime's container, the predictor's container fields) validates against the Kubernetes
// schemas of kubernetes-models and has no unknown field; the KServe fields around them are
// checked against the subset of KServe's API (serving.kserve.io v1alpha1 ServingRuntimeSpec,
// v1beta1 InferenceServiceSpec/PredictorSpec/ModelSpec) written out below from KServe's API
// reference — names, types and the protocol enum, unknown keys rejected. (The ServingRuntime
// fields were cross-checked by hand against KServe's published CRD, serving.kserve.io_
// servingruntimes.yaml: supportedModelFormats items {name (required), version, autoSelect,
// priority int32 ≥ 1}, protocolVersions a string list, annotations a string map; the much larger
// InferenceService CRD was not.) Then the pieces must
// agree: the service names the runtime and a format it supports, over protocol v2, on the port
// KServe routes to (8080), with Vigil's health routes and only flags Vigil knows.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { readManifests, typecheckModels, validateModel } from '../helpers/manifests.js';
import { MAIN, ROOT } from '../helpers/server.js';

const DIR = join(ROOT, 'deploy/kserve');
const [runtime] = readManifests(join(DIR, 'servingruntime.yaml'));
const [service] = readManifests(join(DIR, 'inferenceservice.yaml'));

// Field names from KServe's API reference; Kubernetes types inside them are validated separately.
const object = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', properties, required, additionalProperties: false });
const anyObject = { type: 'object' };
const protocol = { enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] };
const metadata = object({ name: { type: 'string' }, namespace: { type: 'string' }, labels: anyObject, annotations: anyObject }, ['name']);
const servingRuntimeSchema = object({
  apiVersion: { const: 'serving.kserve.io/v1alpha1' },
  kind: { const: 'ServingRuntime' },
  metadata,
  spec: object({
    supportedModelFormats: { type: 'array', items: object({ name: { type: 'string' }, version: { type: 'string' }, autoSelect: { type: 'boolean' }, priority: { type: 'integer', minimum: 1 } }, ['name']) },
    protocolVersions: { type: 'array', items: protocol },
    multiModel: { type: 'boolean' },
    disabled: { type: 'boolean' },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    containers: { type: 'array', minItems: 1, items: anyObject },
    volumes: { type: 'array' }, nodeSelector: anyObject, affinity: anyObject, tolerations: { type: 'array' },
    imagePullSecrets: { type: 'array' }, replicas: { type: 'integer' },
    grpcEndpoint: { type: 'string' }, grpcDataEndpoint: { type: 'string' }, httpDataEndpoint: { type: 'string' },
  }, ['containers']),
}, ['apiVersion', 'kind', 'metadata', 'spec']);
// ModelSpec = modelFormat + runtime + storage fields, with a Kubernetes container's fields inline.
const MODEL_FIELDS = ['modelFormat', 'runtime', 'runtimeVersion', 'storageUri', 'protocolVersion', 'storage'];
const inferenceServiceSchema = object({
  apiVersion: { const: 'serving.kserve.io/v1beta1' },
  kind: { const: 'InferenceService' },
  metadata,
  spec: object({
    predictor: object({
      minReplicas: { type: 'integer', minimum: 0 },
      maxReplicas: { type: 'integer', minimum: 0 },
      scaleTarget: { type: 'integer' }, scaleMetric: { enum: ['cpu', 'memory', 'concurrency', 'rps'] },
      containerConcurrency: { type: 'integer' }, timeout: { type: 'integer' }, canaryTrafficPercent: { type: 'integer' },
      serviceAccountName: { type: 'string' }, labels: anyObject, annotations: anyObject,
      model: {
        type: 'object',
        properties: {
          modelFormat: object({ name: { type: 'string' }, version: { type: 'string' } }, ['name']),
          runtime: { type: 'string' }, runtimeVersion: { type: 'string' }, storageUri: { type: 'string' },
          protocolVersion: protocol, storage: anyObject,
        },
        required: ['modelFormat'],
      },
    }),
    transformer: anyObject, explainer: anyObject,
  }, ['predictor']),
}, ['apiVersion', 'kind', 'metadata', 'spec']);

function validateKServe(schema: object, value: unknown): string[] {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

const strip = <T extends object>(value: T) => { const { file: _file, ...rest } = value as T & { file?: string }; return rest; };
const container = runtime!.spec.containers[0];
const modelContainer = { name: 'kserve-container', ...Object.fromEntries(Object.entries(service!.spec.predictor.model).filter(([k]) => !MODEL_FIELDS.includes(k))) };

describe('deploy/kserve', () => {
  it('KServe fields match KServe\'s API (subset written from its reference), unknown keys rejected', () => {
    expect(validateKServe(servingRuntimeSchema, strip(runtime!))).toEqual([]);
    expect(validateKServe(inferenceServiceSchema, strip(service!))).toEqual([]);
    // The check can fail: a misspelt field is reported.
    const broken = structuredClone(strip(runtime!)) as any;
    broken.spec.protocolVersion = ['v2'];
    expect(validateKServe(servingRuntimeSchema, broken).join('\n')).toMatch(/additionalProperty.*protocolVersion/);
  });

  it('the embedded containers validate against the Kubernetes schemas with no unknown field', async () => {
    await expect(validateModel('v1/Container', container)).resolves.toBeUndefined();
    await expect(validateModel('v1/Container', modelContainer)).resolves.toBeUndefined();
    const errors = typecheckModels([
      { name: 'runtime container', key: 'v1/Container', object: container },
      { name: 'predictor container fields', key: 'v1/Container', object: modelContainer },
    ]);
    expect(Object.fromEntries(errors)).toEqual({ 'runtime container': [], 'predictor container fields': [] });
  });

  it('the InferenceService names the runtime, a format it supports, protocol v2', () => {
    const model = service!.spec.predictor.model;
    expect(model.runtime).toBe(runtime!.metadata.name);
    const format = runtime!.spec.supportedModelFormats.find((f: { name: string }) => f.name === model.modelFormat.name);
    expect(format, `runtime supports ${model.modelFormat.name}`).toBeDefined();
    expect(format.name).toBe('onnx');
    expect(model.protocolVersion).toBe('v2');
    expect(runtime!.spec.protocolVersions).toContain('v2');
    expect(model.storageUri).toMatch(/^[a-z0-9]+:\/\//);
  });

  it('the runtime container serves /mnt/models under the service\'s name on port 8080 with Vigil\'s health routes', () => {
    expect(container.name).toBe('kserve-container');
    const args = container.args as string[];
    expect(args).toContain('--model-name={{.Name}}');
    expect(args).toContain('--models=/mnt/models');
    expect(args).toContain('--host=0.0.0.0');
    expect(container.ports[0].containerPort).toBe(8080);
    expect(args).toContain(`--port=${container.ports[0].containerPort}`);
    expect(runtime!.spec.annotations['prometheus.kserve.io/port']).toBe('8080');
    expect(container.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/v2/health/live');
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });

  it('passes Vigil only flags and environment variables it knows', () => {
    const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' }).stdout;
    const flags = new Set([...help.matchAll(/^\s+(--[a-z-]+)/gm)].map((m) => m[1]));
    for (const arg of container.args as string[]) expect(flags, arg).toContain(arg.split('=')[0]);
    const envs = new Set([...help.matchAll(/\[(VIGIL_[A-Z_]+)\]/g)].map((m) => m[1]));
    for (const { name } of container.env as { name: string }[]) expect(envs, name).toContain(name);
  });
});
