// Main-thread shedding on a real server: 160 kept-alive connections each write a 32-row
// /predict request (6.8 kB: one write, whole in the server's socket buffer) in one go, so one
// event-loop turn handles them all and it outlasts --shed-after-ms. The first 64 requests of the
// turn are served; the rest are refused 503 `overloaded` before their bodies are parsed (every
// other body holds a string where a number belongs, and those refused answer 503, not 400),
// each refusal held for --shed-hold-ms, and no connection goes unanswered.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type InProcessGateway } from '../helpers/gateway.js';
import { metricValue } from '../helpers/metrics.js';
import { tempModels } from '../helpers/models.js';
import { RawConnection, rawRequest } from '../helpers/raw-http.js';
import { BUNDLED_MODELS, postJson } from '../helpers/server.js';

const CONNECTIONS = 160;
const ROWS = 32;
const HOLD_MS = 300;
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '2', 'heldout.json'), 'utf8')) as { feature_names: string[]; rows: number[][] };
const rows = heldout.rows.slice(0, ROWS);
const VALID = JSON.stringify({ model: 'breast-cancer', instances: rows });
/** Routes like VALID, but its last row's first feature (mean_radius) is a string: 400 once parsed. */
const BROKEN = JSON.stringify({ model: 'breast-cancer', instances: [...rows.slice(1), ['wide', ...rows[0]!.slice(1)]] });
/** Connections at odd positions send BROKEN. */
const isBroken = (i: number) => i % 2 === 1;
const request = (body: string) => rawRequest('POST', '/predict', [['Host', '127.0.0.1'], ['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))]], body);

const models = tempModels(BUNDLED_MODELS, ['breast-cancer']);
let server: InProcessGateway;

beforeAll(async () => {
  server = await startGateway(['--models', models.dir, '--shed-after-ms', '1', '--shed-hold-ms', String(HOLD_MS)]);
});

afterAll(async () => {
  await server?.stop();
  models.cleanup();
});

describe('main-thread shedding', () => {
  it('serves the first 64 requests of an overlong turn and refuses the rest, unparsed and held', async () => {
    const connections = await Promise.all(Array.from({ length: CONNECTIONS }, () => RawConnection.open(server.port)));
    // Each connection answered once first, so the server has accepted every one of them.
    for (const connection of connections) connection.write(rawRequest('GET', '/v2/health/live', [['Host', '127.0.0.1']]));
    for (const answer of await Promise.all(connections.map((c) => c.response()))) expect(answer.status).toBe(200);

    const sentAt = performance.now();
    connections.forEach((connection, i) => connection.write(request(isBroken(i) ? BROKEN : VALID)));
    const answers = await Promise.all(connections.map((c) => c.response()));
    for (const connection of connections) connection.close();

    const refused = answers.filter((a) => a.status === 503);
    const admitted = answers.filter((a) => a.status !== 503);
    expect(admitted.length).toBeGreaterThanOrEqual(64);
    expect(refused.length).toBeGreaterThan(0);
    answers.forEach((answer, i) => {
      if (answer.status === 503) return;
      if (isBroken(i)) {
        expect(answer.status, answer.body).toBe(400);
        expect(answer.json.error).toContain('mean_radius');
      } else {
        expect(answer.status, answer.body).toBe(200);
        expect(answer.json.predictions).toHaveLength(ROWS);
      }
    });
    // Broken bodies among the refused answered 503, not 400: the refusal did not parse them.
    expect(answers.filter((a, i) => a.status === 503 && isBroken(i)).length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(answer.json).toMatchObject({ error: 'the server is overloaded (requests waited over 1 ms); retry later' });
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.at - sentAt).toBeGreaterThanOrEqual(HOLD_MS - 10);
    }
    const text = await server.gateway.metrics.exposition();
    expect(metricValue(text, 'http_requests_total', { route: '/predict', status: '503' })).toBe(refused.length);

    // A lone request afterwards is served, whether or not the shedder is still refusing.
    const lone = await postJson(`${server.url}/predict`, { model: 'breast-cancer', features: rows[0] });
    expect(lone.status, lone.text).toBe(200);
  });
});
