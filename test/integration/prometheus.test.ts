// /metrics against the real Prometheus tools (Debian package `prometheus`; .ci/run installs it):
// after traffic that includes errors and shadow mirroring, the exposition passes
// `promtool check metrics`, and a real Prometheus server started here scrapes Vigil every second
// and returns feature_drift_psi and the latency series through its query API.
//
// Shadow is enabled through a temp copy of breast-cancer whose config.json says
// {"weights": {"1": 100}, "shadow": {"version": "2", "percent": 100}}; models/ is untouched.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, getJson, postJson, startServer, type RunningServer } from '../helpers/server.js';
import { tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { promtoolCheckMetrics, startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';

interface Heldout { feature_names: string[]; rows: number[][] }

const MODEL = 'breast-cancer';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as Heldout;
const diabetes = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'diabetes', '1', 'heldout.json'), 'utf8')) as Heldout;

describe('/metrics with real Prometheus tools', () => {
  let server: RunningServer;
  let models: ReturnType<typeof tempModels>;
  let prometheus: RunningPrometheus | undefined;

  beforeAll(async () => {
    models = tempModels(BUNDLED_MODELS, [MODEL, 'diabetes'], {
      [MODEL]: (config) => ({ ...config, traffic: { weights: { 1: 100 }, shadow: { version: '2', percent: 100 } } }),
    });
    server = await startServer({ args: ['--models', models.dir, '--log-level', 'info'] });

    // Live traffic (routed: weights send all to v1, every request mirrored to v2), ≥ 200 rows so
    // PSI is reported for v1 live and v2 shadow.
    const rows = [...heldout.rows, ...heldout.rows];
    for (let start = 0; start < rows.length; start += 19) {
      const response = await postJson(`${server.url}/predict`, { model: MODEL, instances: rows.slice(start, start + 19) });
      expect(response.status, response.text).toBe(200);
      expect(response.headers.get('x-model-version')).toBe('1');
    }
    for (const row of heldout.rows.slice(0, 20)) {
      const features = Object.fromEntries(heldout.feature_names.map((name, i) => [name, row[i]]));
      expect((await postJson(`${server.url}/predict`, { model: MODEL, features })).status).toBe(200);
    }
    const infer = await postJson(`${server.url}/v2/models/${MODEL}/infer`, {
      inputs: [{ name: 'input', shape: [2, 30], datatype: 'FP32', data: heldout.rows.slice(0, 2) }],
    });
    expect(infer.status, infer.text).toBe(200);
    const regression = await postJson(`${server.url}/predict`, { model: 'diabetes', instances: diabetes.rows });
    expect(regression.status, regression.text).toBe(200);

    // Errors of several kinds.
    expect((await postJson(`${server.url}/predict`, '{"model": ')).status).toBe(400);
    const badFeature = Object.fromEntries(heldout.feature_names.map((name) => [name, 1]));
    expect((await postJson(`${server.url}/predict`, { model: MODEL, version: '1', features: { ...badFeature, mean_radius: 'big' } })).status).toBe(400);
    expect((await postJson(`${server.url}/predict`, { model: 'no-such-model', features: [1] })).status).toBe(404);
    expect((await postJson(`${server.url}/predict`, { model: MODEL, version: '9', features: badFeature })).status).toBe(404);
    expect((await fetch(`${server.url}/predict`)).status).toBe(405);
    expect((await fetch(`${server.url}/no/such/route`)).status).toBe(404);

    // Shadow runs after the live answer: wait until every mirrored row has been counted.
    const liveRows = rows.length + 20 + 2;
    await pollUntil('shadow rows', async () => {
      const stats = await getJson(`${server.url}/stats`);
      const shadow = stats.json.models[MODEL].versions['2'].roles.shadow;
      return shadow && shadow.rows === liveRows ? true : undefined;
    }, 30_000, 200);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await server?.kill();
    models?.cleanup();
  });

  it('passes promtool check metrics and carries the documented series', async () => {
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    const result = promtoolCheckMetrics(text);
    expect(result.output, 'promtool output').toBe('');
    expect(result.status).toBe(0);

    const has = (pattern: RegExp) => expect(text, String(pattern)).toMatch(pattern);
    has(/^model_predictions_total\{model="breast-cancer",version="1",role="live"\} 250$/m);
    has(/^model_predictions_total\{model="breast-cancer",version="2",role="shadow"\} 250$/m);
    has(/^model_prediction_errors_total\{model="breast-cancer",version="1",error_type="[a-z_]+"\} [1-9]/m);
    has(/^model_prediction_latency_seconds_bucket\{le="\+Inf",model="breast-cancer",version="1",role="live"\} \d+$/m);
    has(/^model_prediction_latency_seconds_count\{model="breast-cancer",version="2",role="shadow"\} \d+$/m);
    has(/^model_latency_percentile_seconds\{[^}]*quantile="0\.99"[^}]*\} [0-9.e-]+$/m);
    has(/^model_latency_percentile_seconds\{model="breast-cancer",version="2",role="shadow",quantile="0\.5"\} /m);
    has(/^feature_drift_psi\{model="breast-cancer",version="1",feature="mean_radius",role="live"\} [0-9.e-]+$/m);
    has(/^feature_drift_psi\{model="breast-cancer",version="2",feature="mean_radius",role="shadow"\} [0-9.e-]+$/m);
    has(/^prediction_drift_psi\{model="breast-cancer",version="1",output="[a-z]+",role="live"\} /m);
    has(/^shadow_agreement_ratio\{model="breast-cancer",version="1",shadow_version="2"\} (0\.\d+|1)$/m);
    has(/^inference_batch_size_bucket\{le="64",model="breast-cancer",version="1"\} \d+$/m);
    has(/^inference_queue_rows\{model="diabetes",version="1"\} 0$/m);
    has(/^http_requests_total\{route="[^"]+",status="404"\} \d+$/m);
    has(/^http_requests_total\{route="[^"]+",status="405"\} \d+$/m);
    has(/^process_cpu_seconds_total /m);
    // The event-loop delay metrics are still exported (sampled every 100 ms, not 10).
    has(/^nodejs_eventloop_lag_p99_seconds [0-9.e-]+$/m);

    // Fleet drift counters: every reference bin of every drift column from 0, summing to the rows
    // counted; the reference proportions and row count beside them.
    const reference = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'reference.json'), 'utf8')) as {
      rows: number; features: { name: string; proportions: number[] }[]; outputs: { name: string; proportions: number[] }[];
    };
    const series = (pattern: RegExp) => [...text.matchAll(pattern)].map((m) => ({ bin: Number(m[1]), value: Number(m[2]) }));
    for (const column of [...reference.features, ...reference.outputs]) {
      const live = series(new RegExp(`^feature_bin_count_total\\{model="${MODEL}",version="1",role="live",column="${column.name}",bin="(\\d+)"\\} (\\S+)$`, 'gm'));
      expect(live.map((s) => s.bin), column.name).toEqual(column.proportions.map((_, i) => i));
      expect(live.reduce((n, s) => n + s.value, 0), column.name).toBe(250);
      const unused = series(new RegExp(`^feature_bin_count_total\\{model="${MODEL}",version="1",role="shadow",column="${column.name}",bin="(\\d+)"\\} (\\S+)$`, 'gm'));
      expect(unused.map((s) => s.value), `${column.name} shadow of v1`).toEqual(column.proportions.map(() => 0));
      const proportions = series(new RegExp(`^feature_reference_proportion\\{model="${MODEL}",version="1",column="${column.name}",bin="(\\d+)"\\} (\\S+)$`, 'gm'));
      expect(proportions.map((s) => s.value), column.name).toEqual(column.proportions);
    }
    has(new RegExp(`^feature_reference_rows\\{model="${MODEL}",version="1"\\} ${reference.rows}$`, 'm'));
  });

  it('a real Prometheus server scrapes Vigil and answers feature_drift_psi and latency queries', async () => {
    prometheus = await startPrometheus([`127.0.0.1:${server.port}`], { intervalSeconds: 1 });
    const prom = prometheus;
    const up = await pollUntil('up{job="vigil"} == 1', async () => {
      const result = await prom.query('up{job="vigil"}');
      return result.length === 1 && result[0]!.value[1] === '1' ? result : undefined;
    }, 45_000);
    expect(up[0]!.metric.instance).toBe(`127.0.0.1:${server.port}`);

    const psi = await pollUntil('feature_drift_psi', async () => {
      const result = await prom.query('feature_drift_psi{model="breast-cancer",version="1",role="live"}');
      return result.length === heldout.feature_names.length ? result : undefined;
    }, 30_000);
    expect(new Set(psi.map((s) => s.metric.feature))).toEqual(new Set(heldout.feature_names));
    const stats = (await getJson(`${server.url}/stats`)).json;
    const drift = stats.models[MODEL].versions['1'].roles.live.drift as { column: string; kind: string; psi: number }[];
    for (const sample of psi) {
      const expected = drift.find((d) => d.kind === 'feature' && d.column === sample.metric.feature)!.psi;
      expect(Number(sample.value[1])).toBeCloseTo(expected, 12);
    }

    const buckets = await pollUntil('model_prediction_latency_seconds_bucket', async () => {
      const result = await prom.query('model_prediction_latency_seconds_bucket{model="breast-cancer",version="1",role="live"}');
      return result.length > 0 ? result : undefined;
    }, 30_000);
    const inf = buckets.find((s) => s.metric.le === '+Inf');
    expect(Number(inf!.value[1])).toBe(stats.models[MODEL].versions['1'].roles.live.requests);

    // The percentile gauges cover the last ~60 s of HDR window: keep a trickle of traffic going
    // so a slow Prometheus start on a loaded machine cannot outlive the window.
    const percentiles = await pollUntil('model_latency_percentile_seconds', async () => {
      await postJson(`${server.url}/predict`, { model: MODEL, version: '1', instances: heldout.rows.slice(0, 2) });
      const result = await prom.query('model_latency_percentile_seconds{model="breast-cancer",version="1",role="live"}');
      return result.length === 4 ? result : undefined;
    }, 30_000);
    expect(percentiles.map((s) => s.metric.quantile).sort()).toEqual(['0.5', '0.9', '0.99', '0.999']);
    for (const s of percentiles) expect(Number(s.value[1])).toBeGreaterThan(0);

    // PromQL over the histogram works (what a multi-replica dashboard would run).
    const quantile = await prom.query('histogram_quantile(0.99, sum by (le) (model_prediction_latency_seconds_bucket{model="breast-cancer"}))');
    expect(quantile).toHaveLength(1);
    expect(Number(quantile[0]!.value[1])).toBeGreaterThan(0);
  });
});
