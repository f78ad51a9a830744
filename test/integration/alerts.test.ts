// Every alert reaches the webhooks, firing and resolved, from a real server with real models:
// concept drift (flipped labels), data drift (the significance-gated rule), data quality
// (missing and out-of-range values) and a guardrail rollback (canary accuracy). Receivers are
// real HTTP servers: one given by --alert-webhook, one by the model's config.json. Drift and
// performance windows use 1-second slices so the alerts come (and go) within seconds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { BUNDLED_MODELS, getJson, postJson, startServer, type RunningServer } from '../helpers/server.js';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from '../helpers/webhook-receiver.js';

interface Heldout { feature_names: string[]; rows: number[][]; targets: number[] }
const heldout = (model: string) => JSON.parse(readFileSync(join(BUNDLED_MODELS, model, '1', 'heldout.json'), 'utf8')) as Heldout;
const bc = heldout('breast-cancer');
const diabetes = heldout('diabetes');
const RADIUS = bc.feature_names.indexOf('mean_radius');
const FAST_WINDOW = { slices: 10, slice_seconds: 1, min_samples: 100 };

/** Notifications of one alert name (and status), as the receiver got them. */
function notes(receiver: WebhookReceiver, name: string, status?: 'firing' | 'resolved'): ReceivedRequest['body'][] {
  return receiver.received.map((r) => r.body).filter((b) => b.commonLabels?.alertname === name && (!status || b.status === status));
}

async function predictRows(url: string, model: string, rows: number[][], prefix: string, chunk = 38): Promise<{ id: string; instance: number; version: string }[]> {
  const out: { id: string; instance: number; version: string }[] = [];
  for (let start = 0; start < rows.length; start += chunk) {
    const id = `${prefix}-${start}`;
    const response = await postJson(`${url}/predict`, { model, instances: rows.slice(start, start + chunk) }, { 'x-request-id': id });
    expect(response.status, response.text).toBe(200);
    rows.slice(start, start + chunk).forEach((_, instance) => out.push({ id, instance, version: response.json.version }));
  }
  return out;
}

describe('alerts reach the webhooks, firing and resolved', () => {
  let server: RunningServer;
  let global: WebhookReceiver;
  let perModel: WebhookReceiver;
  let models: ReturnType<typeof tempModels>;
  const stats = async () => (await getJson(`${server.url}/stats`)).json;

  beforeAll(async () => {
    global = await startWebhookReceiver();
    perModel = await startWebhookReceiver();
    models = tempModels(BUNDLED_MODELS, ['breast-cancer', 'diabetes'], {
      'breast-cancer': (config) => ({
        ...config, traffic: { weights: { 1: 100, 2: 0 }, shadow: null }, drift: { ...config.drift, ...FAST_WINDOW },
        performance: { min_labels: 100, margin: 0.05 }, alerts: { webhooks: [perModel.url] },
      }),
      diabetes: (config) => ({
        ...config, drift: { ...config.drift, ...FAST_WINDOW },
        features: config.features.map((f: { name: string }) => (f.name === 'age' ? { ...f, missing: { impute: 0 } } : f.name === 'sex' ? { ...f, missing: 'nan' } : f)),
        data_quality: { min_rows: 20, max_out_of_range_rate: 0.1, max_missing_rate: 0.1 },
      }),
    });
    server = await startServer({ args: ['--models', models.dir, '--alert-webhook', global.url] });
  });
  afterAll(async () => {
    await server?.kill();
    models?.cleanup();
    await global?.close();
    await perModel?.close();
  });

  it('flipped labels raise exactly one concept-drift alert; correct labels resolve it', async () => {
    const twice = [...bc.rows, ...bc.rows];
    const predicted = await predictRows(server.url, 'breast-cancer', twice, 'flip');
    const flipped = predicted.map((p, i) => ({ request_id: p.id, instance: p.instance, label: 1 - bc.targets[i % bc.rows.length]! }));
    expect((await postJson(`${server.url}/feedback`, { model: 'breast-cancer', feedback: flipped })).json.matched).toBe(228);

    await global.waitFor(() => notes(global, 'VigilConceptDrift', 'firing').length === 1, 30_000);
    const firing = notes(global, 'VigilConceptDrift', 'firing')[0]!;
    expect(firing.commonLabels).toEqual({ alertname: 'VigilConceptDrift', model: 'breast-cancer', version: '1', role: 'live', metric: 'accuracy', severity: 'warning' });
    expect(Number(firing.alerts[0].annotations.value)).toBeLessThan(0.05);
    expect(firing.externalURL).toBe(server.url);
    // the model's own receiver gets the same notification
    await perModel.waitFor(() => notes(perModel, 'VigilConceptDrift', 'firing').length === 1);
    expect(notes(perModel, 'VigilConceptDrift', 'firing')[0].alerts[0].fingerprint).toBe(firing.alerts[0].fingerprint);
    const s = await stats();
    expect(s.models['breast-cancer'].versions['1'].roles.live.performance.concept).toEqual([expect.objectContaining({ metric: 'accuracy', alert: true })]);
    expect(s.alerts).toContainEqual(expect.objectContaining({ name: 'VigilConceptDrift' }));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('performance_alert{model="breast-cancer",version="1",role="live",metric="accuracy"} 1');
    expect(metrics).toContain('performance_alerts_total{model="breast-cancer",version="1",role="live",metric="accuracy"} 1');

    // The window (10 × 1 s) forgets the flipped labels; 114 correct ones resolve the alert.
    await pollUntil('the performance window to empty', async () =>
      ((await stats()).models['breast-cancer'].versions['1'].roles.live.performance.labels === 0 ? true : undefined), 30_000, 250);
    const again = await predictRows(server.url, 'breast-cancer', bc.rows, 'right');
    const correct = again.map((p, i) => ({ request_id: p.id, instance: p.instance, label: bc.targets[i]! }));
    expect((await postJson(`${server.url}/feedback`, { model: 'breast-cancer', feedback: correct })).json.matched).toBe(114);
    await global.waitFor(() => notes(global, 'VigilConceptDrift', 'resolved').length === 1, 30_000);
    const resolved = notes(global, 'VigilConceptDrift', 'resolved')[0]!;
    expect(resolved.alerts[0].fingerprint).toBe(firing.alerts[0].fingerprint);
    expect(resolved.alerts[0].startsAt).toBe(firing.alerts[0].startsAt);
    expect(Date.parse(resolved.alerts[0].endsAt)).toBeGreaterThanOrEqual(Date.parse(firing.alerts[0].startsAt));
    expect(notes(global, 'VigilConceptDrift', 'firing')).toHaveLength(1); // exactly one, never repeated
  });

  it('mean_radius × 1.5 raises a data-drift alert (significant, held two slices), delivered to both receivers', async () => {
    await pollUntil('the drift window to empty', async () =>
      ((await stats()).models['breast-cancer'].versions['1'].roles.live.drift[RADIUS].n === 0 ? true : undefined), 30_000, 250);
    const shifted = bc.rows.map((row) => row.map((v, i) => (i === RADIUS ? v * 1.5 : v)));
    await predictRows(server.url, 'breast-cancer', [...bc.rows, ...shifted], 'drift');
    await global.waitFor((r) => r.some((x) => x.body.commonLabels?.alertname === 'VigilDataDrift' && x.body.commonLabels.column === 'mean_radius'), 30_000);
    const drift = notes(global, 'VigilDataDrift', 'firing');
    const radius = drift.find((b) => b.commonLabels.column === 'mean_radius')!;
    expect(radius.commonLabels).toMatchObject({ model: 'breast-cancer', version: '1', role: 'live', kind: 'feature' });
    expect(Number(radius.alerts[0].annotations.psi)).toBeGreaterThan(0.2);
    expect(Number(radius.alerts[0].annotations.p_value)).toBeLessThan(0.01 / (32 * 10));
    // no other feature: the unshifted columns are the held-out rows twice, not significant
    expect(drift.filter((b) => b.commonLabels.kind === 'feature').map((b) => b.commonLabels.column)).toEqual(['mean_radius']);
    await perModel.waitFor((r) => r.some((x) => x.body.commonLabels?.column === 'mean_radius'));
  });

  it('missing and out-of-range values raise data-quality alerts; rejections are counted by field and reason', async () => {
    const names = diabetes.feature_names;
    const bmi = names.indexOf('bmi');
    // 40 rows: age absent (imputed), sex null (NaN), bmi 1 (the training range is -0.089 … 0.161)
    const rows = diabetes.rows.slice(0, 40).map((row) => {
      const features: Record<string, number | null> = Object.fromEntries(names.map((n, i) => [n, i === bmi ? 1 : row[i]!]));
      delete features.age;
      features.sex = null;
      return features;
    });
    const response = await postJson(`${server.url}/predict`, { model: 'diabetes', instances: rows });
    expect(response.status, response.text).toBe(200);
    const diabetesQuality = (status: 'firing' | 'resolved') => notes(global, 'VigilDataQuality', status).filter((b) => b.commonLabels.model === 'diabetes');
    await global.waitFor(() => diabetesQuality('firing').length >= 3, 30_000);
    // (the mean_radius × 1.5 rows above also raised one for breast-cancer: values past its training maximum)
    expect(diabetesQuality('firing').map((b) => `${b.commonLabels.column}/${b.commonLabels.kind}`).sort())
      .toEqual(['age/missing', 'bmi/out_of_range', 'sex/missing']);

    const version = (await stats()).models.diabetes.versions['1'];
    const column = (name: string) => version.data_quality.columns.find((c: { column: string }) => c.column === name);
    expect(version.data_quality.rows).toBe(40);
    expect(column('age')).toMatchObject({ missing: 40, missing_rate: 1, below: 0, above: 0, alerts: ['missing'] });
    expect(column('bmi')).toMatchObject({ above: 40, out_of_range_rate: 1, missing: 0 });
    // missing values are never binned for drift: age and sex saw no rows, bmi saw 40
    const driftN = (name: string) => version.roles.live.drift.find((d: { column: string }) => d.column === name).n;
    expect([driftN('age'), driftN('sex'), driftN('bmi')]).toEqual([0, 0, 40]);

    // refused rows: counted by the feature they name (declared names only) and the reason
    const good = Object.fromEntries(names.map((n, i) => [n, diabetes.rows[0]![i]!]));
    const refuse = async (features: Record<string, unknown>) => {
      const r = await postJson(`${server.url}/predict`, { model: 'diabetes', features });
      expect(r.status, r.text).toBe(400);
      return r.json.error as string;
    };
    expect(await refuse({ ...good, bp: null })).toMatch(/^features\/bp is null: bp needs a value/);
    expect(await refuse({ ...good, bmi: 'heavy' })).toMatch(/^features\/bmi must be number/);
    expect(await refuse({ ...good, zzz: 1 })).toMatch(/^features\/zzz is not a feature of diabetes/);
    const { s1: _dropped, ...withoutS1 } = good;
    expect(await refuse(withoutS1)).toMatch(/^features\/s1 is required/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const line of [
      'request_rejections_total{model="diabetes",field="bp",reason="missing"} 1',
      'request_rejections_total{model="diabetes",field="bmi",reason="type"} 1',
      'request_rejections_total{model="diabetes",field="other",reason="unknown_feature"} 1',
      'request_rejections_total{model="diabetes",field="s1",reason="missing"} 1',
      'feature_missing_total{model="diabetes",version="1",column="age"} 40',
      'feature_out_of_range_total{model="diabetes",version="1",column="bmi",side="above"} 40',
      'feature_out_of_range_total{model="diabetes",version="1",column="bmi",side="below"} 0',
      'data_quality_alert{model="diabetes",version="1",column="age",kind="missing"} 1',
    ]) expect(metrics).toContain(line);

    // The window forgets them; clean rows resolve all three.
    await pollUntil('the data-quality window to empty', async () =>
      ((await stats()).models.diabetes.versions['1'].data_quality.rows === 0 ? true : undefined), 30_000, 250);
    const clean = diabetes.rows.slice(0, 40).map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]!])));
    expect((await postJson(`${server.url}/predict`, { model: 'diabetes', instances: clean })).status).toBe(200);
    await global.waitFor(() => diabetesQuality('resolved').length === 3, 30_000);
  });
});

describe('a guardrail rollback reaches the webhook, firing and resolved', () => {
  let server: RunningServer;
  let receiver: WebhookReceiver;
  let models: ReturnType<typeof tempModels>;
  const TOKEN = 'test-token';

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    models = tempModels(BUNDLED_MODELS, ['breast-cancer'], {
      'breast-cancer': (config) => ({
        ...config, traffic: { weights: { 1: 50, 2: 50 }, shadow: null },
        guardrails: { enabled: true, window_seconds: 300, min_samples: 30, max_accuracy_drop: 0.1 },
      }),
    });
    server = await startServer({ args: ['--models', models.dir, '--alert-webhook', receiver.url], env: { VIGIL_ADMIN_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await server?.kill();
    models?.cleanup();
    await receiver?.close();
  });

  it('a canary whose accuracy trails the primary by more than 0.1 gets weight 0; weight again resolves it', async () => {
    // single-row requests split ~50/50; the canary (v2) is made to look wrong on its share
    const served = await predictRows(server.url, 'breast-cancer', [...bc.rows, ...bc.rows], 'canary', 1);
    const counts = { 1: served.filter((s) => s.version === '1').length, 2: served.filter((s) => s.version === '2').length };
    expect(Math.min(counts[1], counts[2])).toBeGreaterThanOrEqual(30);
    const labels = served.map((s, i) => {
      const truth = bc.targets[i % bc.rows.length]!;
      return { request_id: s.id, instance: 0, label: s.version === '2' ? 1 - truth : truth };
    });
    expect((await postJson(`${server.url}/feedback`, { model: 'breast-cancer', feedback: labels })).json.matched).toBe(228);

    await receiver.waitFor(() => notes(receiver, 'VigilGuardrailRollback', 'firing').length === 1, 30_000);
    const firing = notes(receiver, 'VigilGuardrailRollback', 'firing')[0]!;
    expect(firing.commonLabels).toEqual({ alertname: 'VigilGuardrailRollback', model: 'breast-cancer', version: '2', reason: 'accuracy', severity: 'critical' });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const traffic = await getJson(`${server.url}/admin/models/breast-cancer/traffic`, auth);
    expect(traffic.json.weights).toEqual({ 1: 50, 2: 0 });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('guardrail_rollbacks_total{model="breast-cancer",version="2",reason="accuracy"} 1');

    const put = await fetch(`${server.url}/admin/models/breast-cancer/traffic`, {
      method: 'PUT', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ weights: { 1: 50, 2: 50 }, shadow: null }),
    });
    expect(put.status).toBe(200);
    await receiver.waitFor(() => notes(receiver, 'VigilGuardrailRollback', 'resolved').length === 1, 30_000);
    expect(notes(receiver, 'VigilGuardrailRollback', 'resolved')[0].alerts[0].fingerprint).toBe(firing.alerts[0].fingerprint);
  });
});
