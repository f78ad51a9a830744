// Drift end to end through a real server: held-out breast-cancer rows (version 1 pinned, so the
// 90/10 split plays no part) give /stats PSI values equal to the batch definition of docs/drift.md on the same
// rows, all within sampling noise; then rows with mean_radius × 1.5 push that feature's PSI over
// psi_alert (0.2) and raise exactly one "drift alert raised" log line for it — none repeated on
// further scaled traffic — while every other feature's PSI is unchanged.
//
// Why not "PSI < 0.1 on every feature": heldout.json holds 114 distinct rows (sending them twice
// doubles n but not the information: proportions are those of the 114). Under no drift, PSI over
// k = 10 bins is ≈ χ²(k − 1)/n, so E[PSI] ≈ 9/114 + 9/455 (reference noise) ≈ 0.10, and the max
// of 30 features is far above it. The batch PSI of the held-out rows against reference.json
// gives a median of ≈ 0.088 and a max of 0.214 (worst_concave_points: 3 rows in a bin where the
// reference expects 11.5, 23 where it expects 11.3). So this test asserts what is true of
// undrifted data at n = 114: PSI equals the batch computation, the median is below 0.1 and every
// feature is below 0.25; and the alerts raised by the baseline are exactly the features whose
// batch PSI is ≥ 0.2 (worst_concave_points: a sampling-noise false positive of the default
// threshold on so small a sample).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, getJson, postJson, startServer, type LogLine, type RunningServer } from '../helpers/server.js';
import { pollUntil, sleep } from '../helpers/prometheus.js';

interface Heldout { feature_names: string[]; rows: number[][] }
interface RefColumn { name: string; edges: number[]; proportions: number[] }
interface Reference { features: RefColumn[]; outputs: RefColumn[] }
interface DriftEntry { column: string; kind: string; n: number; psi: number | null; ks: number | null; alert: boolean }

const MODEL = 'breast-cancer';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as Heldout;
const reference = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'reference.json'), 'utf8')) as Reference;
const names = heldout.feature_names;
const RADIUS = names.indexOf('mean_radius');
const PSI_ALERT = 0.2;
/** Alert checks run every 2 s; wait a little over two periods. */
const ALERT_WAIT_MS = 5_000;

/** docs/drift.md's PSI taken literally: bin = #edges strictly below x, proportions floored at 1e-4. */
function batchPsi(column: RefColumn, values: number[]): number {
  const counts = new Array<number>(column.edges.length + 1).fill(0);
  for (const x of values) counts[column.edges.filter((e) => e < x).length]!++;
  let psi = 0;
  for (let i = 0; i < counts.length; i++) {
    const w = Math.max(counts[i]! / values.length, 1e-4);
    const r = Math.max(column.proportions[i]!, 1e-4);
    psi += (w - r) * Math.log(w / r);
  }
  return psi;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function scaled(rows: number[][]): number[][] {
  return rows.map((row) => row.map((v, i) => (i === RADIUS ? v * 1.5 : v)));
}

describe('drift end to end (breast-cancer v1, held-out rows)', () => {
  let server: RunningServer;
  /** Every row sent so far, in order (the drift window holds them all: 12 × 300 s). */
  const sent: number[][] = [];
  let baseline: Map<string, number>;

  beforeAll(async () => {
    server = await startServer({ args: ['--models', BUNDLED_MODELS, '--log-level', 'info'] });
  });
  afterAll(async () => {
    await server?.kill();
  });

  async function sendSingle(rows: number[][]) {
    for (const row of rows) {
      const features = Object.fromEntries(names.map((name, i) => [name, row[i]]));
      const response = await postJson(`${server.url}/predict`, { model: MODEL, version: '1', features });
      expect(response.status, response.text).toBe(200);
      sent.push(row);
    }
  }

  async function sendInstances(rows: number[][], chunk = 38) {
    for (let start = 0; start < rows.length; start += chunk) {
      const part = rows.slice(start, start + chunk);
      const response = await postJson(`${server.url}/predict`, { model: MODEL, version: '1', instances: part });
      expect(response.status, response.text).toBe(200);
      expect(response.json.predictions).toHaveLength(part.length);
      sent.push(...part);
    }
  }

  async function liveDrift(): Promise<DriftEntry[]> {
    const stats = await getJson(`${server.url}/stats`);
    expect(stats.status).toBe(200);
    return stats.json.models[MODEL].versions['1'].roles.live.drift as DriftEntry[];
  }

  function alertLines(msg: string): LogLine[] {
    return server.logs().filter((l) => l.msg === msg && l.model === MODEL && l.version === '1' && l.role === 'live');
  }

  function featureAlerts(msg: string, feature?: string): LogLine[] {
    return alertLines(msg).filter((l) => typeof l.feature === 'string' && (feature === undefined || l.feature === feature));
  }

  it('reports no PSI below min_samples (200)', async () => {
    await sendSingle(heldout.rows.slice(0, 100));
    const drift = await liveDrift();
    const features = drift.filter((d) => d.kind === 'feature');
    expect(features.map((d) => d.column)).toEqual(names);
    for (const d of features) {
      expect(d.n).toBe(100);
      expect(d.psi).toBeNull();
    }
  });

  it('held-out rows: PSI equals the batch PSI per feature and stays within sampling noise', async () => {
    // rest of the first copy as single named rows, the second copy as `instances`: 228 rows
    await sendSingle(heldout.rows.slice(100));
    await sendInstances(heldout.rows);
    expect(sent).toHaveLength(228);
    const drift = await liveDrift();
    const features = drift.filter((d) => d.kind === 'feature');
    baseline = new Map();
    const table: Record<string, { psi: number; batch: number }> = {};
    for (const [i, name] of names.entries()) {
      const d = features.find((f) => f.column === name)!;
      expect(d.n).toBe(228);
      expect(d.psi).not.toBeNull();
      const batch = batchPsi(reference.features[i]!, sent.map((row) => row[i]!));
      expect(Math.abs(d.psi! - batch), `${name}: /stats ${d.psi} vs batch ${batch}`).toBeLessThan(1e-9);
      baseline.set(name, d.psi!);
      table[name] = { psi: Number(d.psi!.toFixed(4)), batch: Number(batch.toFixed(4)) };
    }
    console.log('held-out PSI per feature (n = 228 = 114 distinct rows × 2):');
    console.table(table);
    const values = [...baseline.values()];
    expect(median(values)).toBeLessThan(0.1);
    for (const [name, psi] of baseline) expect(psi, name).toBeLessThan(0.25);
  });

  it('baseline alerts are exactly the features whose batch PSI is ≥ psi_alert, each logged once', async () => {
    const expected = [...baseline].filter(([, psi]) => psi >= PSI_ALERT).map(([name]) => name).sort();
    if (expected.length) {
      await pollUntil('baseline drift alerts', async () =>
        (featureAlerts('drift alert raised').length >= expected.length ? true : undefined), 10_000, 200);
    }
    await sleep(ALERT_WAIT_MS); // two more checks: nothing repeats, nothing else appears
    const raised = featureAlerts('drift alert raised').map((l) => l.feature as string).sort();
    console.log('baseline feature alerts:', raised, 'output alerts:', alertLines('drift alert raised').filter((l) => l.output).map((l) => l.output));
    expect(raised).toEqual(expected);
    expect(featureAlerts('drift alert recovered')).toEqual([]);
    expect(featureAlerts('drift alert raised', 'mean_radius')).toEqual([]);
  });

  it('mean_radius × 1.5 pushes its PSI over 0.2 and raises exactly one alert; the others are unchanged', async () => {
    const before = featureAlerts('drift alert raised').length;
    await sendInstances(scaled(heldout.rows));
    await sendInstances(scaled(heldout.rows));
    expect(sent).toHaveLength(456);
    let drift = await liveDrift();
    const radius = drift.find((d) => d.column === 'mean_radius')!;
    expect(radius.n).toBe(456);
    expect(radius.psi!).toBeGreaterThan(PSI_ALERT);
    expect(Math.abs(radius.psi! - batchPsi(reference.features[RADIUS]!, sent.map((row) => row[RADIUS]!)))).toBeLessThan(1e-9);
    console.log(`mean_radius PSI with half the window scaled by 1.5: ${radius.psi}`);

    const line = await pollUntil('the mean_radius drift alert', async () =>
      featureAlerts('drift alert raised', 'mean_radius')[0], 10_000, 200);
    expect(line.level).toBe(40); // pino warn
    expect(line.psi as number).toBeGreaterThanOrEqual(PSI_ALERT);

    // more scaled traffic, then two more alert checks: still exactly one line, nothing recovered
    await sendInstances(scaled(heldout.rows));
    await sleep(ALERT_WAIT_MS);
    expect(featureAlerts('drift alert raised', 'mean_radius')).toHaveLength(1);
    expect(featureAlerts('drift alert raised')).toHaveLength(before + 1);
    expect(featureAlerts('drift alert recovered')).toEqual([]);

    drift = await liveDrift();
    for (const d of drift.filter((x) => x.kind === 'feature')) {
      if (d.column === 'mean_radius') {
        expect(d.alert).toBe(true);
        expect(d.psi!).toBeGreaterThan(PSI_ALERT);
        continue;
      }
      // the scaled rows repeat the held-out rows in every other feature: proportions unchanged
      expect(Math.abs(d.psi! - baseline.get(d.column)!), d.column).toBeLessThan(1e-9);
      expect(d.alert, d.column).toBe(baseline.get(d.column)! >= PSI_ALERT);
      if (baseline.get(d.column)! < PSI_ALERT) expect(d.psi!, d.column).toBeLessThan(PSI_ALERT);
    }
    console.log('output drift after scaling:', drift.filter((d) => d.kind === 'output').map((d) => `${d.column}=${d.psi?.toFixed(4)}${d.alert ? ' (alert)' : ''}`).join(', '));

    // the same picture through /metrics
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const gauge = metrics.split('\n').find((l) => l.startsWith('feature_drift_psi{') && l.includes('feature="mean_radius"') && l.includes('role="live"') && l.includes('version="1"'));
    expect(gauge, 'feature_drift_psi for mean_radius').toBeDefined();
    expect(Number(gauge!.split(' ').pop())).toBeGreaterThan(PSI_ALERT);
    expect(metrics).toMatch(/drift_alert\{[^}]*column="mean_radius"[^}]*\} 1/);
  });
});
