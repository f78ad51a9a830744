/**
 * The chi-square distribution's upper tail and the two-sample chi-square test on binned
 * counts, which decide whether a drift window differs from its reference by more than
 * sampling noise. Pure numerics; checked against SciPy (chi2.sf, chi2_contingency).
 */

/** ln Γ(x) for x > 0 (Lanczos approximation, Numerical Recipes 3rd ed. §6.1; ~1e-15 relative). */
export function lnGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`lnGamma: expected x > 0, got ${x}`);
  const cof = [
    57.1562356658629235, -59.5979603554754912, 14.1360979747417471, -0.491913816097620199,
    0.339946499848118887e-4, 0.465236289270485756e-4, -0.983744753048795646e-4, 0.158088703224912494e-3,
    -0.210264441724104883e-3, 0.217439618115212643e-3, -0.164318106536763890e-3, 0.844182239838527433e-4,
    -0.261908384015814087e-4, 0.368991826595316234e-5,
  ];
  let y = x;
  let tmp = x + 5.2421875;
  tmp = (x + 0.5) * Math.log(tmp) - tmp;
  let ser = 0.999999999999997092;
  for (const c of cof) ser += c / ++y;
  return tmp + Math.log((2.5066282746310005 * ser) / x);
}

const EPS = 1e-16;
const TINY = 1e-300;
const MAX_ITERATIONS = 10_000;

/**
 * Regularised upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a): the series for P(a, x) below
 * x < a + 1, Lentz's continued fraction for Q above (each converges fast in its region).
 */
function upperGammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const prefactor = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    let ap = a;
    let del = 1 / a;
    let sum = del;
    for (let i = 0; i < MAX_ITERATIONS && Math.abs(del) > Math.abs(sum) * EPS; i++) {
      ap += 1;
      del *= x / ap;
      sum += del;
    }
    return Math.max(0, 1 - sum * prefactor);
  }
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i <= MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) <= EPS) break;
  }
  return prefactor * h;
}

/** P(X ≥ x) for X ~ χ²(df); 1 for x ≤ 0. */
export function chiSquareSurvival(x: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`chiSquareSurvival: expected df > 0, got ${df}`);
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return 0;
  return upperGammaQ(df / 2, x / 2);
}

export interface ChiSquareTest {
  statistic: number;
  /** degrees of freedom: bins where either sample has mass, minus one */
  df: number;
  pValue: number;
}

/**
 * Two-sample chi-square test of homogeneity (Pearson, no continuity correction) between the
 * window's bin counts and the reference's, taken as proportions × reference rows, so the
 * reference's own sampling noise counts as well as the window's. Bins empty in both are left
 * out; with fewer than two bins left, or an empty sample, there is nothing to test (p = 1).
 */
export function twoSampleChiSquare(windowCounts: ArrayLike<number>, referenceProportions: ArrayLike<number>, referenceRows: number): ChiSquareTest {
  if (windowCounts.length !== referenceProportions.length) {
    throw new RangeError(`twoSampleChiSquare: ${windowCounts.length} window bins vs ${referenceProportions.length} reference bins`);
  }
  let n = 0;
  let r = 0;
  let bins = 0;
  for (let i = 0; i < windowCounts.length; i++) {
    const w = windowCounts[i]!;
    const ref = referenceProportions[i]! * referenceRows;
    n += w;
    r += ref;
    if (w + ref > 0) bins++;
  }
  if (bins < 2 || n <= 0 || r <= 0) return { statistic: 0, df: 0, pValue: 1 };
  const total = n + r;
  let statistic = 0;
  for (let i = 0; i < windowCounts.length; i++) {
    const w = windowCounts[i]!;
    const ref = referenceProportions[i]! * referenceRows;
    const column = w + ref;
    if (column === 0) continue;
    const expectedWindow = (n * column) / total;
    const expectedReference = (r * column) / total;
    statistic += (w - expectedWindow) ** 2 / expectedWindow + (ref - expectedReference) ** 2 / expectedReference;
  }
  const df = bins - 1;
  return { statistic, df, pValue: chiSquareSurvival(statistic, df) };
}
