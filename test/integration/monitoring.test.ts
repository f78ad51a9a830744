// Drift end to end over real HTTP (the gateway in process, on manual time): held-out
// breast-cancer rows (version 1 pinned, so the 90/10 split plays no part) give /stats PSI values
// equal to the batch definition of docs/drift.md on the same rows, all within sampling noise,
// each reported with its expected noise and the chi-square p-value; no alert is raised for them,
// though one feature's PSI crosses 0.2; then, on version 2 (same feature reference, a fresh
// window), the held-out rows once as they are and once with mean_radius × 1.5 raise exactly one
// "drift alert raised" log line, for mean_radius — not repeated on further scaled traffic.
// (Sending the 114 distinct rows more than twice would overstate the evidence: the test counts
// every copy as an independent row.)
//
// Why not "PSI < 0.1 on every feature": heldout.json holds 114 distinct rows (sending them twice
// doubles n but not the information: proportions are those of the 114). Under no drift, PSI over
// k = 10 bins is ≈ χ²(k − 1)/n, so E[PSI] ≈ 9/114 + 9/455 (reference noise) ≈ 0.10, and the max
// of 30 features is far above it. The batch PSI of the held-out rows against reference.json
// gives a median of ≈ 0.088 and a max of 0.214 (worst_concave_points: 3 rows in a bin where the
// reference expects 11.5, 23 where it expects 11.3). PSI ≥ 0.2 alone would alert on it; the
// significance test (alpha 0.01 over 32 columns × 12 slices) does not.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualTime, startGateway, type InProcessGateway } from '../helpers/gateway.js';
import { metricValue } from '../helpers/metrics.js';
import { BUNDLED_MODELS, getJson, postJson, type LogLine } from '../helpers/server.js';

interface Heldout { feature_names: string[]; rows: number[][] }
interface RefColumn { name: string; edges: number[]; proportions: number[] }
interface Reference { features: RefColumn[]; outputs: RefColumn[] }
interface DriftEntry {
  column: string; kind: string; n: number; psi: number | null; ks: number | null;
  psi_noise: number | null; p_value: number | null; significant: boolean; alert: boolean;
}

const MODEL = 'breast-cancer';
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'heldout.json'), 'utf8')) as Heldout;
const reference = JSON.parse(readFileSync(join(BUNDLED_MODELS, MODEL, '1', 'reference.json'), 'utf8')) as Reference;
const names = heldout.feature_names;
const RADIUS = names.indexOf('mean_radius');
const PSI_ALERT = 0.2;
/** Drift alerts are decided once per time slice (default 300 s of the gateway's clock, moved by hand here). */
const SLICE_MS = 300_000;

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
  // In process with manual time: each drift-alert sweep runs exactly when the test advances the
  // clock, and the log lines are there as soon as they are written.
  const time = new ManualTime();
  let server: InProcessGateway;
  /** Every row sent so far, in order (the drift window holds them all: 12 × 300 s). */
  const sent: number[][] = [];
  let baseline: Map<string, number>;

  beforeAll(async () => {
    server = await startGateway(['--models', BUNDLED_MODELS], { time });
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function sendSingle(rows: number[][]) {
    for (const row of rows) {
      const features = Object.fromEntries(names.map((name, i) => [name, row[i]]));
      const response = await postJson(`${server.url}/predict`, { model: MODEL, version: '1', features });
      expect(response.status, response.text).toBe(200);
      sent.push(row);
    }
  }

  async function sendInstances(rows: number[][], version = '1', chunk = 38) {
    for (let start = 0; start < rows.length; start += chunk) {
      const part = rows.slice(start, start + chunk);
      const response = await postJson(`${server.url}/predict`, { model: MODEL, version, instances: part });
      expect(response.status, response.text).toBe(200);
      expect(response.json.predictions).toHaveLength(part.length);
      if (version === '1') sent.push(...part);
    }
  }

  async function liveDrift(version = '1'): Promise<DriftEntry[]> {
    const stats = await getJson(`${server.url}/stats`);
    expect(stats.status).toBe(200);
    return stats.json.models[MODEL].versions[version].roles.live.drift as DriftEntry[];
  }

  function alertLines(msg: string): LogLine[] {
    return server.logs.filter((l) => l.msg === msg && l.model === MODEL && l.role === 'live');
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

  it('reports the expected noise and the p-value next to each PSI: the held-out rows raise no alert', async () => {
    const drift = await liveDrift();
    const crossing = drift.filter((d) => d.kind === 'feature' && d.psi! >= PSI_ALERT).map((d) => d.column);
    console.log('features whose held-out PSI crosses 0.2:', crossing);
    expect(crossing.length).toBeGreaterThan(0); // PSI alone would alert on undrifted rows …
    for (const d of drift.filter((x) => x.kind === 'feature')) {
      // (k − 1)(1/n + 1/n_ref), k = bins with reference mass (10 for every breast-cancer feature)
      expect(d.psi_noise!).toBeCloseTo(9 * (1 / 228 + 1 / 455), 12);
      expect(d.p_value!).toBeGreaterThan(0);
      expect(d.significant, d.column).toBe(false); // … the significance test does not
    }
    await time.advance(2 * SLICE_MS); // two decisions, as the rule needs to raise
    expect(featureAlerts('drift alert raised')).toEqual([]);
    expect((await liveDrift()).filter((d) => d.alert)).toEqual([]);
  });

  it('mean_radius × 1.5 raises exactly one alert, for mean_radius; the other features are unchanged', async () => {
    const v2rows = [...heldout.rows, ...scaled(heldout.rows)];
    await sendInstances(v2rows, '2');
    let drift = await liveDrift('2');
    const radius = drift.find((d) => d.column === 'mean_radius')!;
    expect(radius.n).toBe(228);
    expect(radius.psi!).toBeGreaterThan(PSI_ALERT);
    expect(radius.significant).toBe(true);
    expect(Math.abs(radius.psi! - batchPsi(reference.features[RADIUS]!, v2rows.map((row) => row[RADIUS]!)))).toBeLessThan(1e-9);
    console.log(`mean_radius PSI with half the window scaled by 1.5: ${radius.psi} (noise ${radius.psi_noise}, p ${radius.p_value})`);

    await time.advance(SLICE_MS); // the first decision: held once, not yet raised
    expect(featureAlerts('drift alert raised')).toEqual([]);
    await time.advance(SLICE_MS); // the second: raised
    const line = featureAlerts('drift alert raised', 'mean_radius')[0]!;
    expect(line, 'the mean_radius drift alert').toBeDefined();
    expect(line).toMatchObject({ level: 40, version: '2' }); // pino warn
    expect(line.psi as number).toBeGreaterThanOrEqual(PSI_ALERT);
    expect(line.p_value as number).toBeLessThan(0.01 / (32 * 12));

    // more scaled traffic, then two more decisions: still exactly one line, nothing recovered
    await sendInstances(scaled(heldout.rows.slice(0, 20)), '2');
    await time.advance(2 * SLICE_MS);
    expect(featureAlerts('drift alert raised').map((l) => [l.version, l.feature])).toEqual([['2', 'mean_radius']]);
    expect(featureAlerts('drift alert recovered')).toEqual([]);

    drift = await liveDrift('2');
    for (const d of drift.filter((x) => x.kind === 'feature')) {
      expect(d.alert, d.column).toBe(d.column === 'mean_radius');
      if (d.column !== 'mean_radius') expect(d.significant, d.column).toBe(false);
    }
    console.log('output drift after scaling:', drift.filter((d) => d.kind === 'output').map((d) => `${d.column}=${d.psi?.toFixed(4)}${d.alert ? ' (alert)' : ''}`).join(', '));

    // the same picture through /metrics
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const radiusLive = { model: MODEL, version: '2', role: 'live' };
    const radiusNow = drift.find((d) => d.column === 'mean_radius')!.psi!;
    expect(metricValue(metrics, 'feature_drift_psi', { ...radiusLive, feature: 'mean_radius' })).toBeCloseTo(radiusNow, 12);
    expect(metricValue(metrics, 'drift_alert', { ...radiusLive, column: 'mean_radius' })).toBe(1);
  });
});
