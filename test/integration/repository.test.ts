// A model repository with mistakes in it: each broken model or version is reported at startup
// with a message naming the problem, answers "not ready", and the sound models keep serving.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempModels } from '../helpers/models.js';
import { BUNDLED_MODELS, getJson, postJson, startServer, type RunningServer } from '../helpers/server.js';

let models: ReturnType<typeof tempModels>;
let server: RunningServer;

function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(file, JSON.stringify(json));
}

beforeAll(async () => {
  models = tempModels(BUNDLED_MODELS, ['breast-cancer', 'diabetes', 'digits'], {
    // A typo in config.json: the whole model is not served.
    digits: (c) => { c.batchng = c.batching; },
  });
  const dir = models.dir;
  // reference.json out of step with config.json: version 2 cannot keep drift, so it is not served.
  editJson(join(dir, 'breast-cancer', '2', 'reference.json'), (r) => { (r.features as unknown[]).reverse(); });
  // A version folder without a model.
  cpSync(join(dir, 'diabetes', '1'), join(dir, 'diabetes', '7'), { recursive: true });
  rmSync(join(dir, 'diabetes', '7', 'model.onnx'));
  server = await startServer({ args: ['--models', dir] });
});

afterAll(async () => {
  await server?.kill();
  models?.cleanup();
});

describe('a repository with broken models', () => {
  it('logs each problem at startup, naming it', () => {
    const problems = server.logs().filter((l) => l.msg === 'model not ready');
    const digits = problems.find((l) => l.model === 'digits');
    expect(String(digits?.err)).toMatch(/config\.json: batchng is not allowed here/);
    const reference = problems.find((l) => l.model === 'breast-cancer' && l.version === '2');
    expect(String(reference?.err)).toMatch(/reference\.json features .* not config\.json's features in the same order/);
    const missing = problems.find((l) => l.model === 'diabetes' && l.version === '7');
    expect(String(missing?.err)).toMatch(/model\.onnx is missing/);
  });

  it('answers not ready for what is broken', async () => {
    expect((await getJson(`${server.url}/v2/models/digits/ready`)).status).toBe(503);
    expect((await getJson(`${server.url}/v2/models/breast-cancer/versions/2/ready`)).status).toBe(503);
    expect((await getJson(`${server.url}/v2/models/diabetes/versions/7/ready`)).status).toBe(503);
    const digits = await postJson(`${server.url}/predict`, { model: 'digits', features: new Array(64).fill(0) });
    expect(digits.status).toBe(503);
    expect(digits.json.error).toMatch(/digits/);
  });

  it('keeps serving the sound models and versions', async () => {
    expect((await getJson(`${server.url}/v2/models/diabetes/versions/1/ready`)).status).toBe(200);
    const answer = await postJson(`${server.url}/predict`, { model: 'breast-cancer', features: new Array(30).fill(1) });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-model-version')).toBe('1'); // the config's 10 % for v2 falls back to v1 alone
  });
});
