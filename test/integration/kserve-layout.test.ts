// KServe's layout: one model mounted at a folder (/mnt/models) and its name given by the
// runtime (`--model-name NAME` or VIGIL_MODEL_NAME). The folder holds model.onnx directly
// (served as version 1, config.json and reference.json beside it) or numbered version folders.
// Both are served over v2 and /predict under the given name, with drift from the reference.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempModels } from '../helpers/models.js';
import { BUNDLED_MODELS, getJson, postJson, spawnVigil, startServer, type RunningServer } from '../helpers/server.js';

const SOURCE = join(BUNDLED_MODELS, 'breast-cancer');
const heldout = (version: string) => JSON.parse(readFileSync(join(SOURCE, version, 'heldout.json'), 'utf8')) as {
  feature_names: string[]; rows: number[][]; expected: { label: number }[];
};

const servers: RunningServer[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.kill()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-kserve-'));
  dirs.push(dir);
  return dir;
}

async function inferLabels(url: string, name: string, rows: number[][], version?: string) {
  const path = version ? `/v2/models/${name}/versions/${version}/infer` : `/v2/models/${name}/infer`;
  const response = await postJson(`${url}${path}`, { inputs: [{ name: 'input', shape: [rows.length, rows[0]!.length], datatype: 'FP32', data: rows }], outputs: [{ name: 'label' }] });
  expect(response.status, response.text).toBe(200);
  return { version: response.json.model_version as string, labels: Array.from(response.json.outputs[0].data as number[]) };
}

describe('--model-name over one model folder', () => {
  it('serves model.onnx placed directly in the folder as version 1 of the named model', async () => {
    const dir = folder();
    for (const file of ['model.onnx', 'reference.json']) cpSync(join(SOURCE, '1', file), join(dir, file));
    const config = JSON.parse(readFileSync(join(SOURCE, 'config.json'), 'utf8'));
    delete config.traffic; // the weights name versions 1 and 2; this folder is one version
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const server = await startServer({ args: ['--model-name', 'cancer-screen', '--models', dir, '--workers', '1'] });
    servers.push(server);
    expect(server.startup.models).toEqual({ 'cancer-screen': expect.objectContaining({ versions: ['1'], ready: true, task: 'binary-classification' }) });

    expect((await getJson(`${server.url}/v2/health/ready`)).status).toBe(200);
    const metadata = await getJson(`${server.url}/v2/models/cancer-screen`);
    expect(metadata.status, metadata.text).toBe(200);
    expect(metadata.json).toMatchObject({ name: 'cancer-screen', versions: ['1'] });
    const { rows, expected, feature_names: names } = heldout('1');
    const answer = await inferLabels(server.url, 'cancer-screen', rows);
    expect(answer.version).toBe('1');
    expect(answer.labels).toEqual(expected.map((e) => e.label));
    // /predict by feature name (config.json's features were read from the folder).
    const named = await postJson(`${server.url}/predict`, { model: 'cancer-screen', features: Object.fromEntries(names.map((n, i) => [n, rows[0]![i]])) });
    expect(named.status, named.text).toBe(200);
    expect(named.json.predictions[0].label).toBe(expected[0]!.label);
    // Drift is measured against the reference.json beside the model.
    await postJson(`${server.url}/predict`, { model: 'cancer-screen', instances: [...rows, ...rows] });
    const stats = (await getJson(`${server.url}/stats`)).json.models['cancer-screen'].versions['1'].roles.live;
    expect(stats.drift.find((d: { column: string }) => d.column === 'mean_radius').psi).toEqual(expect.any(Number));
    // Only the named model is served.
    expect((await getJson(`${server.url}/v2/models/breast-cancer`)).status).toBe(404);
  });

  it('serves numbered version folders with their traffic split, the name from VIGIL_MODEL_NAME', async () => {
    const models = tempModels(BUNDLED_MODELS, ['breast-cancer']);
    dirs.push(models.dir);
    const server = await startServer({ args: ['--models', join(models.dir, 'breast-cancer'), '--workers', '1'], env: { VIGIL_MODEL_NAME: 'screen' } });
    servers.push(server);
    expect(server.startup.models).toEqual({ screen: expect.objectContaining({ versions: ['1', '2'], ready: true, traffic: expect.objectContaining({ weights: { 1: 90, 2: 10 } }) }) });
    for (const version of ['1', '2']) {
      const { rows, expected } = heldout(version);
      const answer = await inferLabels(server.url, 'screen', rows, version);
      expect(answer.version).toBe(version);
      expect(answer.labels).toEqual(expected.map((e) => e.label));
    }
  });

  it('refuses a model name that could not be a folder name, and reports a folder without a model', async () => {
    const bad = spawnVigil(['--model-name', '../etc', '--models', folder(), '--port', '0']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr.join('\n')).toMatch(/--model-name '\.\.\/etc' must be/);

    const missing = spawnVigil(['--model-name', 'm', '--models', join(folder(), 'absent'), '--port', '0']);
    expect(await missing.exited).toBe(1);
    expect(missing.stdout.join('\n')).toMatch(/cannot read model folder .*absent.* \(--models\)/);

    const server = await startServer({ args: ['--model-name', 'empty', '--models', folder(), '--workers', '1'] });
    servers.push(server);
    const ready = await getJson(`${server.url}/v2/models/empty/ready`);
    expect(ready.status).toBe(503);
    expect(ready.json.error).toMatch(/no version folders .* with a model\.onnx/);
  });
});
