// The gateway floor (native-bench/gateway-floor.ts) is a bench baseline, so it must answer what
// Vigil answers: the same predictions for the held-out rows, alone and batched with others, and
// a 400 for what it cannot read. Real HTTP, real ORT, Vigil's own worker pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findVersion, readHeldout } from '../../native-bench/lib/model-repo.js';
import { GATEWAY_FLOOR } from '../../bench/lib/paths.js';
import { startServer as startBaseline, type RunningServer as RunningBaseline } from '../../bench/lib/spawn-server.js';
import { BUNDLED_MODELS, startServer, type RunningServer } from '../helpers/server.js';

interface Answer {
  model: string;
  version: string;
  request_id: string;
  predictions: { label: number; probability: number; probabilities: number[] }[];
}

const heldout = readHeldout(findVersion(BUNDLED_MODELS, 'breast-cancer', '2')!.heldoutPath!);
const byName = (row: number[]) => Object.fromEntries(heldout.featureNames.map((name, i) => [name, row[i]]));

let floor: RunningBaseline;
let vigil: RunningServer;

beforeAll(async () => {
  [floor, vigil] = await Promise.all([
    startBaseline('gateway-floor', { command: process.execPath, args: [GATEWAY_FLOOR, '--port', '0', '--models', BUNDLED_MODELS], startTimeoutMs: 60_000 }),
    startServer({ args: ['--models', BUNDLED_MODELS] }),
  ]);
}, 90_000);

afterAll(async () => {
  await floor?.stop();
  await vigil?.kill();
});

async function post(url: string, body: unknown): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const response = await fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, unknown> };
}

function expectSamePredictions(actual: Answer['predictions'], expected: Answer['predictions']): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((p, i) => {
    expect(p.label).toBe(expected[i]!.label);
    expect(p.probability).toBeCloseTo(expected[i]!.probability, 6);
    p.probabilities.forEach((value, k) => expect(value).toBeCloseTo(expected[i]!.probabilities[k]!, 6));
  });
}

describe('the gateway floor', () => {
  it('answers every held-out row as Vigil does, with Vigil’s fields and headers', async () => {
    const rows = heldout.rows.slice(0, 40);
    const [fromFloor, fromVigil] = await Promise.all([
      Promise.all(rows.map((row) => post(floor.url, { model: 'breast-cancer', features: byName(row) }))),
      Promise.all(rows.map((row) => post(vigil.url, { model: 'breast-cancer', version: '2', features: byName(row) }))),
    ]);
    const labels = new Set<number>();
    fromFloor.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-model-version')).toBe('2');
      const body = answer.json as unknown as Answer;
      expect(answer.headers.get('x-request-id')).toBe(body.request_id);
      expect(Object.keys(body)).toEqual(Object.keys(fromVigil[i]!.json));
      expectSamePredictions(body.predictions, (fromVigil[i]!.json as unknown as Answer).predictions);
      labels.add(body.predictions[0]!.label);
    });
    expect(labels.size).toBe(2); // both classes among the rows: a constant answer would fail
  });

  it('answers instances in feature order, each row its own prediction', async () => {
    const rows = heldout.rows.slice(40, 45);
    const [fromFloor, fromVigil] = await Promise.all([
      post(floor.url, { model: 'breast-cancer', instances: rows }),
      post(vigil.url, { model: 'breast-cancer', version: '2', instances: rows }),
    ]);
    expect(fromFloor.status).toBe(200);
    expectSamePredictions((fromFloor.json as unknown as Answer).predictions, (fromVigil.json as unknown as Answer).predictions);
  });

  it('refuses what it cannot read with a 400 that names the problem', async () => {
    const row = byName(heldout.rows[0]!);
    const cases: [unknown, RegExp][] = [
      ['{"model": ', /malformed JSON/],
      [{ model: 'iris', features: row }, /model must be "breast-cancer"/],
      [{ model: 'breast-cancer', features: { ...row, mean_radius: 'big' } }, /row 0: mean_radius must be a finite number/],
      [{ model: 'breast-cancer', instances: [[1, 2, 3]] }, /row 0: 30 features/],
      [{ model: 'breast-cancer' }, /features, or 1 to 64 instances, is required/],
    ];
    for (const [body, message] of cases) {
      const answer = await post(floor.url, body);
      expect(answer.status).toBe(400);
      expect(String(answer.json.error)).toMatch(message);
    }
  });
});
