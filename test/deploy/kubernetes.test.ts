// deploy/kubernetes: every manifest validates against the Kubernetes schemas (kubernetes-models,
// and @kubernetes-models/prometheus-operator for the ServiceMonitor), carries no unknown field,
// and the pieces fit together: selectors, ports, probes on Vigil's health routes, the drain
// timing, a read-only non-root container, models from a volume, env names Vigil knows.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiKey, readManifests, typecheckModels, validateModel, type Manifest } from '../helpers/manifests.js';
import { MAIN, ROOT } from '../helpers/server.js';

const DIR = join(ROOT, 'deploy/kubernetes');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const manifests = files.flatMap((f) => readManifests(join(DIR, f)));
const byKind = (kind: string) => {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy/kubernetes manifests', () => {
  let deployment: Manifest;
  let pod: any;
  let container: any;
  let env: Map<string, string>;

  beforeAll(() => {
    deployment = byKind('Deployment');
    pod = deployment.spec.template.spec;
    expect(pod.containers).toHaveLength(1);
    container = pod.containers[0];
    env = new Map(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  });

  it('are the expected kinds and validate against the Kubernetes schemas', async () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual(
      ['Deployment', 'HorizontalPodAutoscaler', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'Service', 'ServiceMonitor']);
    for (const m of manifests) {
      const { file, ...object } = m;
      await expect(validateModel(apiKey(m), object), `${file}: ${m.kind}`).resolves.toBeUndefined();
    }
  });

  it('have no unknown fields (tsc excess-property check), and the check catches one', () => {
    const objects = manifests.map(({ file, ...object }) => ({ name: `${file} ${object.kind}`, key: apiKey(object), object }));
    // Negative control: a misspelt probe key deep in the pod spec must be reported.
    const broken = structuredClone(objects.find((o) => o.object.kind === 'Deployment')!.object) as any;
    broken.spec.template.spec.containers[0].readinesProbe = broken.spec.template.spec.containers[0].readinessProbe;
    const errors = typecheckModels([...objects, { name: 'control', key: 'apps/v1/Deployment', object: broken }]);
    for (const o of objects) expect(errors.get(o.name), o.name).toEqual([]);
    expect(errors.get('control')!.join('\n')).toMatch(/readinesProbe.* does not exist in type 'IContainer'/);
  });

  it('kustomization lists every manifest but the operator-only ServiceMonitor', () => {
    const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'servicemonitor.yaml').sort());
  });

  it('selectors, ports and references line up', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(matches(deployment.spec.selector.matchLabels, labels)).toBe(true);
    const service = byKind('Service');
    expect(matches(service.spec.selector, labels)).toBe(true);
    const portNames = container.ports.map((p: { name: string }) => p.name);
    for (const port of service.spec.ports) expect(portNames).toContain(port.targetPort);
    const pdb = byKind('PodDisruptionBudget');
    expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
    const hpa = byKind('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThan(pdb.spec.maxUnavailable);
    expect(container.resources.requests.cpu, 'HPA utilisation needs a CPU request').toBeDefined();
    const monitor = byKind('ServiceMonitor');
    expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
    expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain(monitor.spec.endpoints[0].port);
    // Scrape annotations point at the container's port and Vigil's /metrics.
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(container.ports[0].containerPort);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(Number(env.get('VIGIL_PORT'))).toBe(container.ports[0].containerPort);
    expect(env.get('VIGIL_HOST')).toBe('0.0.0.0');
  });

  it('probe Vigil\'s health routes, with a startup probe for model loading', () => {
    expect(container.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/v2/health/live');
    expect(container.startupProbe.httpGet.path).toMatch(/^\/v2\/health\/(live|ready)$/);
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
      expect(container.ports.map((p: { name: string }) => p.name)).toContain(probe.httpGet.port);
    }
    const startupBudget = container.startupProbe.periodSeconds * container.startupProbe.failureThreshold;
    expect(startupBudget, 'seconds allowed for loading models').toBeGreaterThanOrEqual(60);
  });

  it('give the drain time to finish: grace period ≥ preStop sleep + request deadline + margin', () => {
    const command = container.lifecycle.preStop.exec.command as string[];
    expect(command[0]).toMatch(/(^|\/)sleep$/);
    const preStopSeconds = Number(command[1]);
    expect(preStopSeconds).toBeGreaterThan(0);
    const deadlineSeconds = Number(env.get('VIGIL_TIMEOUT_MS')) / 1000;
    expect(deadlineSeconds).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStopSeconds + deadlineSeconds + 5);
  });

  it('run non-root on a read-only root file system, models from a read-only volume', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === env.get('VIGIL_MODELS'));
    expect(mount, 'VIGIL_MODELS is a mounted volume').toBeDefined();
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.persistentVolumeClaim.claimName).toBe(byKind('PersistentVolumeClaim').metadata.name);
  });

  it('set only environment variables Vigil reads', () => {
    expect(existsSync(MAIN)).toBe(true);
    const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' }).stdout;
    const known = new Set([...help.matchAll(/\[(VIGIL_[A-Z_]+)\]/g)].map((m) => m[1]));
    known.add('VIGIL_ADMIN_TOKEN');
    for (const name of env.keys()) expect(known, name).toContain(name);
  });
});
