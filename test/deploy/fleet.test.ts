// The fleet view through Prometheus: THREE Vigil replicas and a real Prometheus (Debian
// `prometheus`, 1 s scrape) loading deploy/prometheus/rules.yml. One replica gets drifted rows
// (mean_radius × 1.5), two get held-out rows in different mixes. Then
//  - vigil:feature_drift_psi:fleet equals, for every feature and output column, the PSI of the
//    union of all rows the three replicas counted, computed here independently (SPEC: bin = the
//    number of edges strictly below the value, compared as float32 the way the model input is
//    stored; proportions floored at 1e-4) to 1e-6 — and differs from the mean of the replicas'
//    own PSIs, which is what a per-replica gauge would have given;
//  - the fleet p99 from histogram_quantile over the summed buckets lies in the same bucket as
//    the exact p99 of the pooled per-request latencies (from the replicas' prediction logs).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempModels } from '../helpers/models.js';
import { pollUntil } from '../helpers/poll.js';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import { BUNDLED_MODELS, getJson, postJson, ROOT, startServer, type RunningServer } from '../helpers/server.js';

const MODEL = 'breast-cancer';
const FLOOR = 1e-4;
interface Column { name: string; edges: number[]; proportions: number[] }
const reference = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'reference.json'), 'utf8')) as { rows: number; features: Column[]; outputs: Column[] };
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as { feature_names: string[]; rows: number[][] };
const RULE_FILES = [join(ROOT, 'deploy/prometheus/rules.yml')];
const LATENCY_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity];

const same = (x: number) => x;
/**
 * Independent oracle: PSI of `values` against a reference column, bin = number of edges strictly
 * below the value. Model inputs are stored as float32, and Vigil compares them with the edges
 * rounded to float32 too (`edge = Math.fround`); outputs are float32 numbers compared with the
 * float64 edges.
 */
function unionPsi(column: Column, values: number[], edge: (e: number) => number = same): number {
  const counts = new Array<number>(column.proportions.length).fill(0);
  for (const value of values) counts[column.edges.filter((e) => edge(e) < value).length]!++;
  return counts.reduce((psi, count, i) => {
    const w = Math.max(count / values.length, FLOOR);
    const r = Math.max(column.proportions[i]!, FLOOR);
    return psi + (w - r) * Math.log(w / r);
  }, 0);
}

// What each replica is sent: rows of the held-out set, 228 per replica (≥ 200, so /stats reports PSI).
const drifted = heldout.rows.map((row) => row.map((x, i) => (heldout.feature_names[i] === 'mean_radius' ? x * 1.5 : x)));
const TRAFFIC: number[][][] = [
  [...drifted, ...drifted],
  [...heldout.rows, ...heldout.rows],
  [...heldout.rows.slice(0, 57), ...heldout.rows.slice(0, 57), ...heldout.rows.slice(0, 57), ...heldout.rows.slice(0, 57)],
];

describe('fleet drift and latency through Prometheus (3 replicas)', () => {
  let models: ReturnType<typeof tempModels>;
  const replicas: RunningServer[] = [];
  const logs: string[] = [];
  let prometheus: RunningPrometheus;
  /** Outputs per replica as Vigil answered them, for the output columns' union PSI. */
  const outputs: { label: number[]; probability: number[] }[] = [];

  beforeAll(async () => {
    models = tempModels(BUNDLED_MODELS, [MODEL], { [MODEL]: (config) => ({ ...config, traffic: { weights: { 1: 100 } } }) });
    for (let i = 0; i < 3; i++) {
      logs.push(join(models.dir, `predictions-${i}.jsonl`));
      replicas.push(await startServer({ args: ['--models', models.dir, '--workers', '1', '--prediction-log', logs[i]!] }));
    }
    prometheus = await startPrometheus(replicas.map((r) => `127.0.0.1:${r.port}`), { intervalSeconds: 1, ruleFiles: RULE_FILES });
    // Every bin is scraped at 0 before any row is counted (so increase() sees all of them too).
    await pollUntil('zeroed bins scraped from every replica', async () => {
      const result = await prometheus.query(`count by (instance) (feature_bin_count_total{model="${MODEL}",version="1",role="live",column="mean_radius"} == 0)`);
      return result.length === 3 && result.every((s) => s.value[1] === String(reference.features[0]!.proportions.length)) ? true : undefined;
    }, 60_000);
    for (let i = 0; i < 3; i++) {
      const answered = { label: [] as number[], probability: [] as number[] };
      for (let start = 0; start < TRAFFIC[i]!.length; start += 12) {
        const response = await postJson(`${replicas[i]!.url}/predict`, { model: MODEL, instances: TRAFFIC[i]!.slice(start, start + 12) });
        expect(response.status, response.text).toBe(200);
        for (const p of response.json.predictions) {
          answered.label.push(p.label);
          answered.probability.push(p.probability);
        }
      }
      outputs.push(answered);
    }
  });

  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all(replicas.map((r) => r.kill()));
    models?.cleanup();
  });

  it('vigil:feature_drift_psi:fleet is the PSI of the union of all rows, not the mean of the replicas\' PSIs', async () => {
    const totalRows = TRAFFIC.reduce((n, t) => n + t.length, 0);
    const selector = `{model="${MODEL}",version="1",role="live"}`;
    const complete = await pollUntil('all rows summed by the rules', async () => {
      const rows = await prometheus.query(`vigil:feature_rows:fleet${selector}`);
      const done = rows.length === reference.features.length + reference.outputs.length && rows.every((s) => Number(s.value[1]) === totalRows);
      return done ? Number((await prometheus.query(`max(timestamp(vigil:feature_rows:fleet${selector}))`))[0]!.value[1]) : undefined;
    }, 30_000);
    // A group's rules commit one by one: read PSIs recorded by a later evaluation than the one
    // that first saw every row, never a PSI from the evaluation still in progress.
    const psi = await pollUntil('PSI recorded from the complete counts', async () => {
      const oldest = await prometheus.query(`min(timestamp(vigil:feature_drift_psi:fleet${selector}))`);
      return oldest.length && Number(oldest[0]!.value[1]) > complete ? prometheus.query(`vigil:feature_drift_psi:fleet${selector}`) : undefined;
    }, 30_000, 250);
    const fleet = new Map(psi.map((s) => [s.metric.column!, Number(s.value[1])]));
    const stats = await Promise.all(replicas.map(async (r) => (await getJson(`${r.url}/stats`)).json.models[MODEL].versions['1'].roles.live.drift as { column: string; kind: string; psi: number }[]));

    const allRows = TRAFFIC.flat();
    const report: Record<string, { fleet: number; union: number; replicaMean: number }> = {};
    for (const [c, column] of reference.features.entries()) {
      const union = unionPsi(column, allRows.map((row) => Math.fround(row[c]!)), Math.fround);
      const replicaMean = stats.reduce((sum, drift) => sum + drift.find((d) => d.kind === 'feature' && d.column === column.name)!.psi, 0) / 3;
      report[column.name] = { fleet: fleet.get(column.name)!, union, replicaMean };
      expect(fleet.get(column.name), column.name).toBeCloseTo(union, 6);
    }
    let worst = 0;
    for (const { fleet: f, union } of Object.values(report)) worst = Math.max(worst, Math.abs(f - union));
    for (const column of reference.outputs) {
      // The JSON answer prints the float32 probability in its shortest form: fround restores it.
      const values = outputs.flatMap((o) => o[column.name as 'label' | 'probability']).map(Math.fround);
      const union = unionPsi(column, values);
      expect(fleet.get(column.name), column.name).toBeCloseTo(union, 6);
      worst = Math.max(worst, Math.abs(fleet.get(column.name)! - union));
    }
    const radius = report.mean_radius!;
    const perReplica = stats.map((drift) => drift.find((d) => d.column === 'mean_radius')!.psi.toFixed(6)).join(', ');
    process.stdout.write(`fleet PSI mean_radius: fleet rule ${radius.fleet.toFixed(9)}, union of rows ${radius.union.toFixed(9)}, ` +
      `replicas ${perReplica} (mean ${radius.replicaMean.toFixed(6)}); largest |fleet - union| over ${fleet.size} columns ${worst.toExponential(2)}\n`);
    // The drifted replica's PSI is diluted by the two others in the union, not averaged.
    expect(Math.abs(radius.fleet - radius.replicaMean)).toBeGreaterThan(0.01);
    expect(radius.fleet).toBeGreaterThan(0.2);
  });

  it('fleet p99 from histogram_quantile over summed buckets falls in the bucket of the pooled latencies\' p99', async () => {
    const requests = TRAFFIC.reduce((n, t) => n + Math.ceil(t.length / 12), 0);
    const q = `histogram_quantile(0.99, sum by (le) (model_prediction_latency_seconds_bucket{model="${MODEL}",version="1",role="live"}))`;
    const count = `sum(model_prediction_latency_seconds_count{model="${MODEL}",version="1",role="live"})`;
    await pollUntil('every request counted', async () => Number((await prometheus.query(count))[0]?.value[1]) === requests ? true : undefined, 30_000);
    const fleetP99 = Number((await prometheus.query(q))[0]!.value[1]);
    // Stopping flushes the prediction logs: one line per request with its latency.
    for (const replica of replicas) expect(await replica.stop()).toBe(0);
    const latencies = logs.flatMap((file) => readFileSync(file, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { latency_ms: number }).latency_ms / 1000));
    expect(latencies).toHaveLength(requests);
    latencies.sort((a, b) => a - b);
    const pooledP99 = latencies[Math.ceil(0.99 * latencies.length) - 1]!;
    const bucketOf = (seconds: number) => LATENCY_BUCKETS.findIndex((le) => seconds <= le);
    process.stdout.write(`fleet p99: histogram_quantile ${fleetP99.toFixed(6)} s, pooled exact ${pooledP99.toFixed(6)} s\n`);
    expect(bucketOf(fleetP99)).toBe(bucketOf(pooledP99));
  });
});
