import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chiSquareSurvival, lnGamma, twoSampleChiSquare } from '../../src/monitoring/chi-square.js';
import { DriftAlertPolicy, expectedPsiNoise, RECOVERY_FACTOR, type DriftAlertOptions } from '../../src/monitoring/drift-alerts.js';
import { batchPsi, DriftWindow, type ReferenceColumn } from '../../src/monitoring/drift.js';
import { mulberry32 } from '../helpers/random.js';
import { BUNDLED_MODELS } from '../helpers/server.js';

// SciPy's answers, written by test/fixtures/oracles/build_oracles.py.
const scipy = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oracles', 'chi-square.json'), 'utf8')) as {
  survival: { x: number; df: number; sf: number }[];
  two_sample: { window: number[]; proportions: number[]; reference_rows: number; statistic: number; df: number; p_value: number }[];
};

interface Column extends ReferenceColumn { min?: number; max?: number }
interface ReferenceFile { rows: number; features: Column[]; outputs: Column[] }
const reference = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '1', 'reference.json'), 'utf8')) as ReferenceFile;
const heldout = JSON.parse(readFileSync(join(BUNDLED_MODELS, 'breast-cancer', '1', 'heldout.json'), 'utf8')) as {
  feature_names: string[]; rows: number[][]; expected: { label: number; probabilities: number[] }[];
};
const COLUMNS = [...reference.features, ...reference.outputs];
const WIDTH = COLUMNS.length; // 30 features + label + probability

function closeRelative(got: number, want: number, rel: number): boolean {
  return Math.abs(got - want) <= rel * Math.abs(want) || Math.abs(got - want) < 1e-300;
}

describe('chi-square against SciPy', () => {
  it('survival function equals scipy.stats.chi2.sf to 1e-10 relative', () => {
    let worst = 0;
    for (const { x, df, sf } of scipy.survival) {
      const got = chiSquareSurvival(x, df);
      if (sf > 0) worst = Math.max(worst, Math.abs(got - sf) / sf);
      expect(closeRelative(got, sf, 1e-10), `sf(${x}, ${df}) = ${got}, SciPy ${sf}`).toBe(true);
    }
    console.log(`chi2.sf: ${scipy.survival.length} points, worst relative error ${worst.toExponential(2)}`);
    expect(chiSquareSurvival(Infinity, 3)).toBe(0);
    expect(() => chiSquareSurvival(1, 0)).toThrow(/df > 0/);
    expect(lnGamma(10)).toBeCloseTo(Math.log(362880), 12);
  });

  it('two-sample test equals scipy.stats.chi2_contingency (no correction) on window vs reference counts', () => {
    for (const c of scipy.two_sample) {
      const got = twoSampleChiSquare(c.window, c.proportions, c.reference_rows);
      expect(got.df).toBe(c.df);
      expect(closeRelative(got.statistic, c.statistic, 1e-9), `statistic ${got.statistic} vs ${c.statistic}`).toBe(true);
      expect(closeRelative(got.pValue, c.p_value, 1e-8), `p ${got.pValue} vs ${c.p_value}`).toBe(true);
    }
    expect(twoSampleChiSquare([5, 0], [1, 0], 100)).toEqual({ statistic: 0, df: 0, pValue: 1 });
    expect(twoSampleChiSquare([0, 0], [0.5, 0.5], 100)).toEqual({ statistic: 0, df: 0, pValue: 1 });
    expect(() => twoSampleChiSquare([1], [0.5, 0.5], 10)).toThrow(/1 window bins vs 2/);
  });
});

// ---------------------------------------------------------------------------------------------
// Simulation: windows drawn from the breast-cancer v1 reference, evaluated by a DriftWindow and
// a DriftAlertPolicy exactly as the server's sweeps evaluate them.

/** Draws a bin from the column's proportions, and a value inside that bin's interval. */
function sampler(column: Column): { bin: (r: () => number) => number; value: (r: () => number, bin: number) => number } {
  const { edges, proportions } = column;
  const cumulative = new Float64Array(proportions.length);
  proportions.reduce((s, p, i) => (cumulative[i] = s + p), 0);
  const last = proportions.length - 1;
  const lo = column.min ?? (edges[0] ?? 0) - 1;
  const hi = column.max ?? (edges.at(-1) ?? 0) + 1;
  return {
    bin: (r) => {
      const u = r() * cumulative[last]!;
      let bin = 0;
      while (bin < last && u >= cumulative[bin]!) bin++;
      return bin;
    },
    // bin i holds (edges[i-1], edges[i]]: i edges strictly below the value
    value: (r, bin) => {
      const from = bin === 0 ? Math.min(lo, edges[0] ?? lo) : edges[bin - 1]!;
      const to = bin === edges.length ? Math.max(hi, from) : edges[bin]!;
      return bin === 0 ? to - (to - from) * r() : from + (to - from) * (1 - r());
    },
  };
}

const population = COLUMNS.map(sampler);

function drawRow(r: () => number, into: Float64Array): void {
  for (let c = 0; c < WIDTH; c++) into[c] = population[c]!.value(r, population[c]!.bin(r));
}

/** A reference as a training run of `rows` rows from the population would have written it. */
function sampledReference(r: () => number, rows: number): ReferenceFile {
  const columns = COLUMNS.map((col, c) => {
    const counts = new Array<number>(col.proportions.length).fill(0);
    for (let i = 0; i < rows; i++) counts[population[c]!.bin(r)]!++;
    return { name: col.name, edges: col.edges, proportions: counts.map((k) => k / rows) };
  });
  return { rows, features: columns.slice(0, reference.features.length), outputs: columns.slice(reference.features.length) };
}

/** A drift window (12 × 300 s, min 200 rows) and its alert policy on one clock, as the server builds them. */
function monitor(ref: ReferenceFile, options: Partial<DriftAlertOptions>, clock: () => number) {
  const window = new DriftWindow(ref.features, ref.outputs, { slices: 12, sliceSeconds: 300, minSamples: 200 }, clock);
  return { window, policy: new DriftAlertPolicy(window, ref, options) };
}

/** Held-out breast-cancer rows with the model's outputs, as the window sees them (features, label, max probability). */
const heldoutRows = heldout.rows.map((row, i) => {
  const e = heldout.expected[i]!;
  return [...row, e.label, Math.max(...e.probabilities)];
});
const MEAN_RADIUS = heldout.feature_names.indexOf('mean_radius');

/** Long simulations yield now and then so the test runner's worker stays responsive. */
const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('drift alerts under sampling noise (seeded simulation)', () => {
  const ALPHA = 0.01;

  it('independent undrifted windows of 200 rows: calibrated p-values, alerts far under alpha where PSI ≥ 0.2 alone fires routinely', async () => {
    // Both samples drawn: 455-row references (their own sampling noise counts) and 200-row windows.
    const r = mulberry32(12);
    const references = 350;
    const windowsPerReference = 6;
    const trials = references * windowsPerReference;
    let psiOnly = 0;
    let alerts = 0;
    let psiSum = 0;
    let noiseSum = 0;
    let cells = 0;
    let under001 = 0;
    const row = new Float64Array(WIDTH);
    for (let k = 0; k < references; k++) {
      await breathe();
      const ref = sampledReference(r, reference.rows);
      const window = new DriftWindow(ref.features, ref.outputs, { slices: 12, sliceSeconds: 300, minSamples: 200 }, () => 0);
      for (let w = 0; w < windowsPerReference; w++) {
        window.clear();
        const policy = new DriftAlertPolicy(window, ref, { alpha: ALPHA, consecutive: 1 });
        for (let i = 0; i < 200; i++) {
          drawRow(r, row);
          window.observeRows(row, 1, WIDTH, 0, WIDTH);
        }
        const columns = policy.assess();
        if (columns.some((c) => c.psi! >= 0.2)) psiOnly++;
        for (const c of columns) {
          psiSum += c.psi!;
          noiseSum += c.psi_noise!;
          if (c.p_value! < 0.01) under001++;
          cells++;
        }
        if (policy.evaluate().length > 0) alerts++;
      }
    }
    const rate = alerts / trials;
    console.log(`undrifted 200-row windows vs 455-row references, ${trials} windows × ${WIDTH} columns: ` +
      `p < 0.01 in ${(under001 / cells * 100).toFixed(2)} % of column tests; PSI ≥ 0.2 on some column in ` +
      `${(psiOnly / trials * 100).toFixed(2)} % of windows; alert (PSI ≥ 0.2 and p < ${ALPHA} / (${WIDTH} × 12)) in ` +
      `${(rate * 100).toFixed(2)} %; mean PSI ${(psiSum / cells).toFixed(4)} vs expected noise ${(noiseSum / cells).toFixed(4)}`);
    // The chi-square p-values are calibrated (≈ 1 % under 0.01; ±5 standard errors of 96000 tests) …
    expect(Math.abs(under001 / cells - 0.01)).toBeLessThan(5 * Math.sqrt(0.01 * 0.99 / cells));
    // … so the corrected test alerts far less than alpha, where the fixed threshold fires routinely.
    expect(rate).toBeLessThan(ALPHA / 2);
    expect(psiOnly / trials).toBeGreaterThan(3 * ALPHA);
    // The reported noise is the right size: mean PSI of undrifted windows within 25 % of it.
    expect(Math.abs(psiSum / noiseSum - 1)).toBeLessThan(0.25);
  }, 180_000);

  it('server-like streams: false alerts per window span under alpha, and a 1.5 × mean_radius shift caught', async () => {
    // 12 slices × 300 s; ~250 rows per hour (window ≈ 230–250 rows, over min_samples); a sweep every 2 s, as the
    // gateway runs it. Each stream has its own 455-row reference sampled from the population,
    // 20 h of undrifted traffic, then mean_radius × 1.5 until the alert is raised.
    const r = mulberry32(34);
    const streams = 50;
    const hours = 20;
    const options = { alpha: ALPHA, consecutive: 2 };
    const row = new Float64Array(WIDTH);
    let falseAlerts = 0;
    const delays: number[] = [];
    for (let s = 0; s < streams; s++) {
      await breathe();
      let now = 0;
      const { window, policy } = monitor(sampledReference(r, reference.rows), options, () => now);
      let nextRow = 0;
      let shiftedAt = Infinity;
      for (; now < shiftedAt + 6 * 3_600_000; now += 2000) {
        if (shiftedAt === Infinity && now >= hours * 3_600_000) shiftedAt = now;
        while (nextRow <= now) {
          drawRow(r, row);
          if (now >= shiftedAt) row[MEAN_RADIUS]! *= 1.5;
          window.observeRows(row, 1, WIDTH, 0, WIDTH);
          nextRow += -Math.log(1 - r()) * (3_600_000 / 250); // Poisson arrivals
        }
        const raised = policy.evaluate().filter((t) => t.state === 'raised');
        if (now < shiftedAt) falseAlerts += raised.length;
        else if (raised.some((t) => t.column === 'mean_radius')) {
          delays.push((now - shiftedAt) / 60_000);
          break;
        }
      }
    }
    const spans = streams * hours;
    delays.sort((a, b) => a - b);
    console.log(`streams: ${streams} × ${hours} h of undrifted traffic, sweeps every 2 s, one evaluation per 300 s slice ` +
      `(p < ${ALPHA} / (${WIDTH} columns × 12 slices)), ` +
      `hold ${options.consecutive}: ${falseAlerts} false alerts = ${(falseAlerts / spans).toFixed(4)} per window span (1 h); ` +
      `1.5 × mean_radius caught in ${delays.length}/${streams} streams, after ${delays[Math.floor(delays.length / 2)]} min ` +
      `(median; max ${delays.at(-1)} min)`);
    expect(falseAlerts / spans).toBeLessThan(ALPHA);
    expect(delays.length).toBe(streams);
  }, 180_000);

  it('catches the 1.5 × mean_radius shift in 200 rows of held-out data', () => {
    const r = mulberry32(56);
    const trials = 300;
    const row = new Float64Array(WIDTH);
    /** Windows of 200 held-out rows drawn with replacement, evaluated at two slice boundaries. */
    const run = (shift: number) => {
      let caught = 0;
      let otherColumns = 0;
      for (let t = 0; t < trials; t++) {
        let now = 0;
        const { window, policy } = monitor(reference, { alpha: ALPHA, consecutive: 2 }, () => now);
        for (let i = 0; i < 200; i++) {
          row.set(heldoutRows[Math.floor(r() * heldoutRows.length)]!);
          row[MEAN_RADIUS]! *= shift;
          window.observeRows(row, 1, WIDTH, 0, WIDTH);
        }
        const raised = [...policy.evaluate(), ...(now += 300_000, policy.evaluate())].map((x) => x.column);
        if (raised.includes('mean_radius')) caught++;
        otherColumns += raised.filter((c) => c !== 'mean_radius').length;
      }
      return { caught, otherColumns };
    };
    const shifted = run(1.5);
    const unshifted = run(1);
    console.log(`1.5 × mean_radius, 200 held-out rows resampled: caught in ${shifted.caught}/${trials} windows ` +
      `(unshifted: ${unshifted.caught}/${trials}); alerts on other columns per window ` +
      `${(shifted.otherColumns / trials).toFixed(2)} shifted, ${(unshifted.otherColumns / trials).toFixed(2)} unshifted ` +
      '(114 distinct held-out rows drawn 200 times: duplicates overstate the evidence)');
    expect(shifted.caught).toBe(trials);
    expect(unshifted.caught).toBeLessThan(trials * ALPHA * 3);
  });
});

describe('DriftAlertPolicy', () => {
  const two = (name: string): ReferenceColumn => ({ name, edges: [0], proportions: [0.5, 0.5] });

  it('decides once per time slice: raises after `consecutive` slices, recovers the same way', () => {
    let now = 0;
    const ref = { rows: 1000, features: [two('x')], outputs: [] };
    const window = new DriftWindow(ref.features, [], { slices: 12, sliceSeconds: 10, minSamples: 10 }, () => now);
    const policy = new DriftAlertPolicy(window, ref, { consecutive: 2, alpha: 0.01 });
    const observe = (value: number, times: number) => { for (let i = 0; i < times; i++) window.observe(0, value); };
    observe(1, 50); // all in the upper bin: PSI ≈ 3.9, p ≈ 0
    expect(policy.evaluate()).toEqual([]); // slice 0: first evaluation
    observe(1, 10);
    now = 9_999;
    expect(policy.evaluate()).toEqual([]); // still slice 0: not a second evaluation
    now = 10_000;
    const [raised] = policy.evaluate();
    expect(raised).toMatchObject({ column: 'x', kind: 'feature', state: 'raised' });
    expect(raised!.p_value).toBeLessThan(1e-10);
    expect(raised!.psi_noise).toBeCloseTo(1 / 60 + 1 / 1000, 12);
    expect(policy.isAlerting(0)).toBe(true);
    expect(policy.assess()[0]).toMatchObject({ alert: true, significant: true });
    observe(-1, 70); // back to ~50/50 overall
    now = 20_000;
    expect(policy.evaluate()).toEqual([]);
    now = 5_000; // the clock stepped back: no evaluation
    expect(policy.evaluate()).toEqual([]);
    now = 30_000;
    expect(policy.evaluate()).toMatchObject([{ column: 'x', state: 'recovered' }]);
    expect(policy.assess()[0]).toMatchObject({ alert: false, n: 130, significant: false });
  });

  it('large but not significant does not alert; without reference rows PSI alone decides', () => {
    const observe = (window: DriftWindow, lo: number, hi: number) => {
      for (let i = 0; i < lo; i++) window.observe(0, -1);
      for (let i = 0; i < hi; i++) window.observe(0, 1);
    };
    // 15 of 20 in one bin vs a 20-row reference at 50/50: PSI 0.27, but p ≈ 0.11.
    const small = { rows: 20, features: [two('x')], outputs: [] };
    const w1 = new DriftWindow(small.features, [], { minSamples: 20 }, () => 0);
    const p1 = new DriftAlertPolicy(w1, small, { consecutive: 1 });
    observe(w1, 5, 15);
    const [d] = p1.assess();
    expect(d!.psi).toBeGreaterThan(0.2);
    expect(d!.p_value).toBeGreaterThan(0.05);
    expect(p1.evaluate()).toEqual([]);
    const unknownRows = { rows: 0, features: [two('x')], outputs: [] };
    const w2 = new DriftWindow(unknownRows.features, [], { minSamples: 20 }, () => 0);
    const p2 = new DriftAlertPolicy(w2, unknownRows, { consecutive: 1 });
    observe(w2, 5, 15);
    expect(p2.assess()[0]).toMatchObject({ p_value: null, significant: true, psi_noise: 1 / 20 });
    expect(p2.evaluate()).toMatchObject([{ state: 'raised' }]);
  });

  it('keeps raised alerts through the hysteresis band; too few rows change nothing', () => {
    const col: ReferenceColumn = { name: 'x', edges: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], proportions: new Array(10).fill(0.1) };
    const clean = Array.from({ length: 200 }, (_, i) => ((i % 10) + 0.5) / 10);
    const drifted = new Array(200).fill(0.05);
    // 25 % shifted into bin 0: PSI between the recovery level and the alert threshold (set below).
    const partial = clean.map((v, i) => (i % 4 === 0 ? 0.05 : v));
    const psiPartial = batchPsi(col.edges, col.proportions, partial);
    const psiAlert = psiPartial / 0.9;
    expect(batchPsi(col.edges, col.proportions, drifted)).toBeGreaterThan(psiAlert);
    expect(psiPartial).toBeGreaterThan(psiAlert * RECOVERY_FACTOR);

    let now = 0;
    // A huge reference: every shift here is significant, so PSI alone decides.
    const ref = { rows: 1_000_000, features: [col], outputs: [] };
    const w = new DriftWindow([col], [], { slices: 2, sliceSeconds: 1, minSamples: 100 }, () => now);
    const policy = new DriftAlertPolicy(w, ref, { psiAlert, consecutive: 1 });
    const feed = (values: number[]) => w.observeRows(values, values.length, 1, 0, 1);
    const nextWindow = () => (now += 2000); // the old slices expire: a new evaluation

    feed(clean);
    expect(policy.evaluate()).toEqual([]);
    nextWindow();
    feed(drifted);
    const raised = policy.evaluate();
    expect(raised).toMatchObject([{ column: 'x', kind: 'feature', state: 'raised' }]);
    expect(raised[0]!.psi).toBeCloseTo(batchPsi(col.edges, col.proportions, drifted), 9);
    nextWindow();
    feed(partial); // below psiAlert, above psiAlert × 0.8: still raised
    expect(w.psi(0)!).toBeLessThan(psiAlert);
    expect(policy.evaluate()).toEqual([]);
    expect(policy.isAlerting(0)).toBe(true);
    nextWindow();
    feed(clean);
    expect(policy.evaluate()).toMatchObject([{ state: 'recovered', psi: w.psi(0) }]);
    nextWindow();
    feed(partial); // back in the band from below: no raise
    expect(policy.evaluate()).toEqual([]);
    nextWindow();
    feed(drifted.slice(0, 50)); // too few rows: PSI null, nothing changes
    expect(w.psi(0)).toBeNull();
    expect(policy.evaluate()).toEqual([]);
    now += 1; // same slice, more rows: not a new evaluation until the next slice
    feed(drifted.slice(0, 50));
    expect(policy.evaluate()).toEqual([]);
    now += 1000;
    feed(drifted.slice(0, 100));
    expect(policy.evaluate().map((a) => a.state)).toEqual(['raised']);
  });

  it('validates its options and its reference', () => {
    const ref = { rows: 10, features: [two('x')], outputs: [] };
    const window = new DriftWindow(ref.features, []);
    expect(() => new DriftAlertPolicy(window, ref, { alpha: 0 })).toThrow(/drift.alpha/);
    expect(() => new DriftAlertPolicy(window, ref, { consecutive: 0 })).toThrow(/drift.consecutive/);
    expect(() => new DriftAlertPolicy(window, ref, { psiAlert: -1 })).toThrow(/drift.psi_alert/);
    expect(() => new DriftAlertPolicy(window, { ...ref, features: [two('y')] })).toThrow(/reference columns differ/);
    expect(expectedPsiNoise(10, 200, 455)).toBeCloseTo(9 * (1 / 200 + 1 / 455), 15);
  });
});
