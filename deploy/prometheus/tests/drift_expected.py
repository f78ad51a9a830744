#!/usr/bin/env python3
"""Independent oracle for the drift numbers in rules.test.yml: the same input series, the
formulas written out in numpy/scipy (not PromQL). Run: python3 drift_expected.py"""
import math

import numpy as np
from scipy.stats import chi2 as chi2_dist

FLOOR = 1e-4
REFERENCE_ROWS = 400
reference = {"x": [0.1, 0.2, 0.3, 0.4], "z": [0.5, 0.5, 0.0]}
# Per instance: counter value at t=0 and increment per minute; evaluated at t=60m.
series = {
    "x": {"a": ([200, 0, 0, 0], [5, 1, 1, 1]), "b": ([0, 0, 0, 0], [1, 2, 3, 4])},
    "z": {"a": ([0, 0, 0], [0, 3, 1]), "b": ([0, 0, 0], [1, 0, 0])},
}


def psi(counts, ref):
    w = np.maximum(np.asarray(counts, float) / sum(counts), FLOOR)
    r = np.maximum(np.asarray(ref, float), FLOOR)
    return float(np.sum((w - r) * np.log(w / r)))


def chi2(counts, ref, n_ref):
    counts = np.asarray(counts, float)
    pooled = counts + np.asarray(ref) * n_ref
    keep = pooled > 0
    n = counts.sum()
    stat = n * n_ref * np.sum((counts[keep] / n - np.asarray(ref)[keep]) ** 2 / pooled[keep])
    return float(stat), int(keep.sum()) - 1


def z_as26223(p):
    t = math.sqrt(-2 * math.log(p))
    return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t**3)


columns = len(reference)
alpha = 0.01 / columns
z = z_as26223(alpha)
print(f"alpha {alpha!r} t {math.sqrt(-2 * math.log(alpha))!r} z {z!r}")
for column, ref in reference.items():
    start = np.sum([s for s, _ in series[column].values()], axis=0)
    step = np.sum([k for _, k in series[column].values()], axis=0)
    total = start + 60 * step
    window = 60 * step
    stat, df = chi2(window, ref, REFERENCE_ROWS)
    critical = df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3
    print(column, "fleet counts", total.tolist(), "psi", repr(psi(total, ref)))
    print(column, "1h counts", window.tolist(), "psi", repr(psi(window, ref)))
    print(f"{column} chi2 {stat!r} df {df} critical {critical!r} (exact {chi2_dist.ppf(1 - alpha, df)!r})"
          f" noise {df * (1 / window.sum() + 1 / REFERENCE_ROWS)!r}")
