// Shadow mirroring at 100 % on breast-cancer (version 1 live, version 2 shadow), end to end:
// only version 1 ever answers, every mirrored row is counted under role="shadow", and the
// agreement ratio Vigil reports equals the one computed offline from the held-out rows.
//
// Offline agreement: heldout.json of v1 and v2 hold the same rows with the labels scikit-learn
// gave them; the ONNX graphs reproduce those labels exactly (test/integration/predictions.test.ts),
// so the agreement over the rows sent is the share of rows whose two expected labels are equal.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '../helpers/metrics.js';
import { tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { BUNDLED_MODELS, getJson, logLine, readResponse, startServer, type RunningServer } from '../helpers/server.js';

const MODEL = 'breast-cancer';
const TOKEN = 'shadow-test-token';
interface Heldout { feature_names: string[]; rows: number[][]; expected: { label: number }[] }
const h1 = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as Heldout;
const h2 = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '2', 'heldout.json'), 'utf8')) as Heldout;

async function runPool(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

async function metrics(server: RunningServer): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}

let server: RunningServer;
let models: ReturnType<typeof tempModels>;

beforeAll(async () => {
  expect(h2.rows).toEqual(h1.rows);
  models = tempModels(BUNDLED_MODELS, [MODEL], {
    [MODEL]: (config) => ({ ...config, traffic: { weights: { '1': 100 }, shadow: { version: '2', percent: 100 } } }),
  });
  server = await startServer({ args: ['--models', models.dir, '--log-level', 'info'], env: { VIGIL_ADMIN_TOKEN: TOKEN } });
});

afterAll(async () => {
  await server?.kill();
  models?.cleanup();
});

describe('shadow mirroring at 100 %', () => {
  const PASSES = 3;
  const n = h1.rows.length;
  // Requests: every held-out row PASSES times as a single-row request (by name or in order), plus
  // the whole held-out set once as one `instances` request (mirrored as one request of n rows).
  const singleRequests = PASSES * n;
  const totalRows = singleRequests + n;
  const offlineAgreed = h1.expected.filter((e, i) => e.label === h2.expected[i]!.label).length;
  const offlineRatio = offlineAgreed / n;

  it('answers only from version 1, mirrors every row to version 2 and reports the offline agreement', async () => {
    const traffic = await getJson(`${server.url}/admin/models/${MODEL}/traffic`, { authorization: `Bearer ${TOKEN}` });
    expect(traffic.json).toEqual({ weights: { '1': 100 }, shadow: { version: '2', percent: 100 } });

    const bad: string[] = [];
    const versions = new Set<string>();
    let labelMismatches = 0;
    await runPool(singleRequests, 8, async (i) => {
      const r = i % n;
      const features = i % 2 === 0 ? h1.rows[r] : Object.fromEntries(h1.feature_names.map((f, j) => [f, h1.rows[r]![j]]));
      const response = await fetch(`${server.url}/predict`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-routing-key': `k-${i}` },
        body: JSON.stringify({ model: MODEL, features }),
      });
      const { status, json, text } = await readResponse(response);
      if (status !== 200) {
        bad.push(`${status} ${text}`);
        return;
      }
      versions.add(`${response.headers.get('x-model-version')}/${json.version}`);
      if (json.predictions[0].label !== h1.expected[r]!.label) labelMismatches++;
    });
    const batch = await fetch(`${server.url}/predict`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, instances: h1.rows }),
    });
    const batchBody = await readResponse(batch);
    expect(batchBody.status, batchBody.text).toBe(200);
    versions.add(`${batch.headers.get('x-model-version')}/${batchBody.json.version}`);
    expect(batchBody.json.predictions.map((p: { label: number }) => p.label)).toEqual(h1.expected.map((e) => e.label));

    expect(bad).toEqual([]);
    expect([...versions], 'header/body version of every response').toEqual(['1/1']);
    expect(labelMismatches).toBe(0);

    // Shadow work runs after the live answers: wait until every mirrored row is counted.
    let text = '';
    const shadowRows = () => metricValue(text, 'model_predictions_total', { model: MODEL, version: '2', role: 'shadow' });
    const dropped = () => metricValue(text, 'shadow_requests_dropped_total', { model: MODEL });
    await pollUntil('every mirrored row to be counted (run or dropped)', async () => {
      text = await metrics(server);
      return shadowRows() + dropped() >= totalRows ? true : undefined;
    }, 30_000, 200);
    expect(dropped(), 'mirrored requests dropped').toBe(0);
    expect(shadowRows()).toBe(totalRows);
    expect(metricValue(text, 'model_predictions_total', { model: MODEL, version: '1', role: 'live' })).toBe(totalRows);
    expect(metricValue(text, 'model_predictions_total', { model: MODEL, version: '2', role: 'live' })).toBe(0);
    expect(metricValue(text, 'model_predictions_total', { model: MODEL, version: '1', role: 'shadow' })).toBe(0);

    const stats = (await getJson(`${server.url}/stats`)).json.models[MODEL];
    expect(stats.versions['2'].roles.shadow.rows).toBe(totalRows);
    expect(stats.versions['2'].roles.live.rows).toBe(0);
    expect(stats.versions['1'].roles.live.rows).toBe(totalRows);
    const agreement = stats.shadow_agreement.find((a: { live_version: string; shadow_version: string }) => a.live_version === '1' && a.shadow_version === '2');
    expect(agreement, JSON.stringify(stats.shadow_agreement)).toBeDefined();
    expect(agreement.compared).toBe(totalRows);
    expect(agreement.agreed).toBe((PASSES + 1) * offlineAgreed);
    expect(agreement.ratio).toBeCloseTo(offlineRatio, 12);
    const gauge = metricValue(text, 'shadow_agreement_ratio', { model: MODEL, version: '1', shadow_version: '2' });
    expect(gauge).toBeCloseTo(offlineRatio, 9);
    console.log(`[shadow] ${totalRows} rows mirrored to v2 (${singleRequests + 1} requests), counted ${shadowRows()}, dropped ${dropped()}; ` +
      `agreement v1 vs v2: Vigil ${agreement.agreed}/${agreement.compared} = ${agreement.ratio.toFixed(6)}, offline ${offlineAgreed}/${n} = ${offlineRatio.toFixed(6)}`);
    // Disagreements are sampled into the log (at most one line a second).
    if (offlineAgreed < n) {
      await logLine(server, 'a "shadow disagreed with live"', (l) => l.msg === 'shadow disagreed with live');
    }
  });

  it('mirrors requests answered together each from its own rows: every disagreement names its request and row', async () => {
    // The mirrors of requests answered in one event-loop turn go to the shadow as one stacked
    // request; each must still be compared with its own live answer. 60 requests at once, the
    // rows where the versions disagree among them once each.
    const disagreeing = h1.expected.flatMap((e, r) => (e.label === h2.expected[r]!.label ? [] : [r]));
    const agreeingRows = h1.expected.flatMap((e, r) => (e.label === h2.expected[r]!.label ? [r] : []));
    expect(disagreeing.length).toBeGreaterThan(0);
    const sent = Array.from({ length: 60 }, (_, i) =>
      i % 20 === 7 ? disagreeing[Math.floor(i / 20) % disagreeing.length]! : agreeingRows[(i * 7) % agreeingRows.length]!);
    const agreement = () => getJson(`${server.url}/stats`).then((s) => s.json.models[MODEL].shadow_agreement
      .find((a: { live_version: string; shadow_version: string }) => a.live_version === '1' && a.shadow_version === '2'));
    const start = await agreement();
    const answers = await Promise.all(sent.map((r, i) => fetch(`${server.url}/predict`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': `together-${i}-row-${r}` },
      body: JSON.stringify({ model: MODEL, features: h1.rows[r] }),
    }).then(readResponse)));
    expect(answers.filter((a) => a.status !== 200).map((a) => a.text)).toEqual([]);

    const after = await pollUntil('the 60 mirrors to be compared', async () => {
      const now = await agreement();
      return now.compared >= start.compared + sent.length ? now : undefined;
    }, 30_000, 50);
    expect(after.compared - start.compared).toBe(sent.length);
    const agreeing = sent.filter((r) => h1.expected[r]!.label === h2.expected[r]!.label).length;
    expect(after.agreed - start.agreed).toBe(agreeing);
    const ours = (after.recent_disagreements as { live: number; shadow: number; context: string }[])
      .filter((d) => d.context.startsWith('together-'));
    expect(ours.length).toBe(Math.min(5, sent.length - agreeing));
    for (const d of ours) {
      const r = Number(d.context.split('-row-')[1]);
      expect(disagreeing, d.context).toContain(r);
      expect({ live: d.live, shadow: d.shadow }, d.context).toEqual({ live: h1.expected[r]!.label, shadow: h2.expected[r]!.label });
    }
  });

  it('a shadow set at runtime through the admin API mirrors too, and the shadow never answers', async () => {
    // Live 2, shadow 1: the reverse pair gets its own agreement tracker.
    const put = await fetch(`${server.url}/admin/models/${MODEL}/traffic`, {
      method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ weights: { '2': 100 }, shadow: { version: '1', percent: 100 } }),
    });
    expect(put.status, await put.text()).toBe(200);
    const versions = new Set<string>();
    await runPool(n, 8, async (i) => {
      const response = await fetch(`${server.url}/predict`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, features: h1.rows[i] }),
      });
      expect(response.status).toBe(200);
      versions.add(response.headers.get('x-model-version')!);
      await response.arrayBuffer();
    });
    expect([...versions]).toEqual(['2']);
    const reverse = await pollUntil('every mirrored row of live 2 / shadow 1 to be compared', async () => {
      const stats = (await getJson(`${server.url}/stats`)).json.models[MODEL];
      const found = stats.shadow_agreement.find((a: { live_version: string; shadow_version: string }) => a.live_version === '2' && a.shadow_version === '1');
      return found && found.compared >= n ? (found as { compared: number; agreed: number }) : undefined;
    }, 30_000, 200);
    expect(reverse.compared).toBe(n);
    expect(reverse.agreed).toBe(offlineAgreed);
  });
});
