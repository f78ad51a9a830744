// Kubernetes manifests under deploy/: read (multi-document YAML), validate against the
// Kubernetes JSON schemas shipped by kubernetes-models (@kubernetes-models/validate), and check
// for unknown fields, which those schemas let through: the TypeScript compiler checks each
// manifest as an object literal of the model's interface, where any misspelt or misplaced key at
// any depth is an excess-property error.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './server.js';

export interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: any;
}

/** Every document of a YAML file (comments and empty documents dropped). */
export function readManifests(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => {
      if (doc.errors.length) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null)
    .map((m) => ({ ...m, file: relative(ROOT, path) }));
}

/** Where a kind's model lives: the module (for import) and its interface name. */
export interface ModelModule { module: string; className: string; typeName: string }

export const KUBERNETES_MODELS: Record<string, ModelModule> = {
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1/Deployment', className: 'Deployment', typeName: 'IDeployment' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', className: 'Service', typeName: 'IService' },
  'v1/PersistentVolumeClaim': { module: 'kubernetes-models/v1/PersistentVolumeClaim', className: 'PersistentVolumeClaim', typeName: 'IPersistentVolumeClaim' },
  'v1/Container': { module: 'kubernetes-models/v1/Container', className: 'Container', typeName: 'IContainer' },
  'autoscaling/v2/HorizontalPodAutoscaler': { module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', className: 'HorizontalPodAutoscaler', typeName: 'IHorizontalPodAutoscaler' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1/PodDisruptionBudget', className: 'PodDisruptionBudget', typeName: 'IPodDisruptionBudget' },
  'monitoring.coreos.com/v1/ServiceMonitor': { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', className: 'ServiceMonitor', typeName: 'IServiceMonitor' },
};

/** Runs the schema validation of the model class for `key` (throws with the failing path). */
export async function validateModel(key: string, object: unknown): Promise<void> {
  const model = KUBERNETES_MODELS[key];
  if (!model) throw new Error(`no kubernetes-models class for ${key}`);
  const module = (await import(model.module)) as Record<string, new (data: unknown) => { validate(): void }>;
  new module[model.className]!(object).validate();
}

/**
 * Type-checks objects as literals of their model interfaces with tsc, in one run; returns tsc's
 * error lines per object name (empty when all are clean).
 */
export function typecheckModels(objects: { name: string; key: string; object: unknown }[]): Map<string, string[]> {
  const cache = join(ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'vigil-manifests-'));
  try {
    const imports = new Map<string, ModelModule>();
    const lines = objects.flatMap(({ name, key, object }, i) => {
      const model = KUBERNETES_MODELS[key];
      if (!model) throw new Error(`no kubernetes-models type for ${key}`);
      imports.set(key, model);
      return [`// ${name}`, `export const object${i}: ${model.typeName} = ${JSON.stringify(object, null, 1)};`];
    });
    const header = [...imports.values()].map((m) => `import type { ${m.typeName} } from '${m.module}';`);
    writeFileSync(join(dir, 'manifests.ts'), [...header, ...lines, ''].join('\n'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', skipLibCheck: true, types: [] },
      files: ['manifests.ts'],
    }));
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir, '--pretty', 'false'], { encoding: 'utf8', timeout: 120_000 });
    if (tsc.error) throw tsc.error;
    const source = readFileSync(join(dir, 'manifests.ts'), 'utf8').split('\n');
    const errors = new Map<string, string[]>(objects.map((o) => [o.name, []]));
    for (const line of tsc.stdout.split('\n')) {
      const match = /manifests\.ts\((\d+),\d+\): (error .*)$/.exec(line);
      if (!match) continue;
      // The object an error belongs to: the nearest `// name` line above it.
      let at = Number(match[1]) - 1;
      while (at >= 0 && !source[at]!.startsWith('// ')) at--;
      const name = at >= 0 ? source[at]!.slice(3) : '(header)';
      (errors.get(name) ?? errors.set(name, []).get(name)!).push(match[2]!);
    }
    if (tsc.status !== 0 && [...errors.values()].every((e) => e.length === 0)) {
      throw new Error(`tsc failed without per-object errors:\n${tsc.stdout}${tsc.stderr}`);
    }
    return errors;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function apiKey(m: { apiVersion: string; kind: string }): string {
  return `${m.apiVersion}/${m.kind}`;
}
