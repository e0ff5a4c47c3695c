#!/usr/bin/env python3
"""Reference values for the coordinate screen (`src/stats/screen.rs`).

Run from the crate root:

    python3 tests/reference/generate_screen.py

It rewrites `tests/reference/screen.json`; `tests/reference/stats_screen.rs` reads it and never needs
Python. The data (n = 40 rows, d = 6 coordinates) are written out in full. Every value is stored
beside the call that produced it.

* skewness / excess kurtosis: exact rational arithmetic (the Rust test's reference), and
  `scipy.stats.skew(x, bias=True)`,
  `scipy.stats.kurtosis(x, fisher=True, bias=True)` (the screen uses the biased g1, g2);
  the bias=False values are recorded too, for the reader, not used.
* minibatch images (from the exact moments): written here directly from Kendall & Stuart vol. 1 §12.20 in terms of the
  central moments (mu2(ybar), mu3(ybar), mu4(ybar)), independently of the affine form in Rust.
* p-values: `scipy.stats.norm.sf`, `scipy.stats.gamma.sf`; Hill: `scipy.stats.pareto.fit(top_k,
  floc=0, fscale=threshold)` (the MLE equals Hill's estimator).
* Holm: `statsmodels.stats.multitest.multipletests(p, method="holm")[1]` over the 3*d raw
  p-values in coordinate order (skew, kurt, tail).
"""

import json
from fractions import Fraction
import platform
from pathlib import Path

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats.multitest import multipletests

OUT = Path(__file__).with_name("screen.json")
N_ROWS, S, N_POP, K = 40, 4, 100, 5
SKEW_TOL, KURT_TOL, ALPHA0 = 0.2, 0.5, 4.0


def data():
    rng = np.random.default_rng(20261130)
    cols = [
        rng.standard_normal(N_ROWS),
        np.exp(rng.standard_normal(N_ROWS)) - np.exp(0.5),
        rng.standard_t(2.5, N_ROWS),
        1e6 + 1e-3 * rng.standard_normal(N_ROWS),
        rng.uniform(-1, 1, N_ROWS),
        rng.exponential(1.0, N_ROWS) * 3.0,
    ]
    return np.column_stack(cols)


def exact_moments(x):
    """Central moments (divisor n) in exact rational arithmetic of the float data."""
    xs = [Fraction(float(v)) for v in x]
    mean = sum(xs) / len(xs)
    return [float(sum((v - mean) ** p for v in xs) / len(xs)) for p in (2, 3, 4)]


def minibatch(x):
    m2, m3, m4 = exact_moments(x)
    s, n = float(S), float(N_POP)
    v = m2 * (n - s) / (s * (n - 1))
    mu3 = m3 * (n - s) * (n - 2 * s) / (s * s * (n - 1) * (n - 2))
    mu4 = (n - s) * ((n * (n + 1) - 6 * s * (n - s)) * m4
                     + 3 * n * (s - 1) * (n - s - 1) * m2 * m2) / (s**3 * (n - 1) * (n - 2) * (n - 3))
    return mu3 / v**1.5, mu4 / v**2 - 3, v


def slopes():
    # a, b of the affine map, from two evaluations of the moment formulas
    s, n = float(S), float(N_POP)
    v = (n - s) / (s * (n - 1))
    a = (n - s) * (n - 2 * s) / (s * s * (n - 1) * (n - 2)) / v**1.5
    b = (n - s) * (n * (n + 1) - 6 * s * (n - s)) / (s**3 * (n - 1) * (n - 2) * (n - 3)) / v**2
    return a, b


def holm(p):
    return multipletests(p, method="holm")[1]


def main():
    x = data()
    n = N_ROWS
    se1 = np.sqrt(6.0 * (n - 2) / ((n + 1) * (n + 3)))
    se2 = np.sqrt(24.0 * n * (n - 2) * (n - 3) / ((n + 1) ** 2 * (n + 3) * (n + 5)))
    a, b = slopes()
    coords, raw = [], []
    for j in range(x.shape[1]):
        col = x[:, j]
        ms, mk, _ = minibatch(col)
        ps = st.norm.sf((abs(ms) - SKEW_TOL) / (abs(a) * se1))
        pk = st.norm.sf((abs(mk) - KURT_TOL) / (abs(b) * se2))
        xs = [Fraction(float(v)) for v in col]
        mean = sum(xs) / len(xs)
        y = np.sort(np.array([float(abs(v - mean)) for v in xs]))[::-1]  # exact |x - mean|
        thr = y[K]
        alpha_hat, _, _ = st.pareto.fit(y[:K], floc=0, fscale=thr)
        pt = st.gamma.sf(ALPHA0 * K / alpha_hat, K)
        raw += [ps, pk, pt]
        m2, m3, m4 = exact_moments(col)
        coords.append({
            "skew_exact": m3 / m2**1.5,
            "kurtosis_exact": m4 / m2**2 - 3.0,
            "skew_bias_true": st.skew(col, bias=True),
            "kurtosis_bias_true": st.kurtosis(col, fisher=True, bias=True),
            "skew_bias_false": st.skew(col, bias=False),
            "kurtosis_bias_false": st.kurtosis(col, fisher=True, bias=False),
            "minibatch_skewness": ms,
            "minibatch_excess_kurtosis": mk,
            "p_skew_raw": ps, "p_kurt_raw": pk,
            "hill_alpha": alpha_hat, "p_tail_raw": pt,
        })
    adj = holm(raw)
    for j, c in enumerate(coords):
        c["p_skew_holm"], c["p_kurt_holm"], c["p_tail_holm"] = adj[3 * j: 3 * j + 3]
    out = {
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__, "statsmodels": statsmodels.__version__},
        "design": {"n": n, "S": S, "N": N_POP, "K": K, "skew_tol": SKEW_TOL,
                   "kurt_tol": KURT_TOL, "alpha0": ALPHA0},
        "calls": {
            "skew_exact": "m3 / m2**1.5, central moments in exact rationals (fractions.Fraction)",
            "kurtosis_exact": "m4 / m2**2 - 3, exact rationals; scipy loses ~6 digits on the 1e6-offset column 3",
            "skew_bias_true": "scipy.stats.skew(x[:, j], bias=True)",
            "kurtosis_bias_true": "scipy.stats.kurtosis(x[:, j], fisher=True, bias=True)",
            "skew_bias_false": "scipy.stats.skew(x[:, j], bias=False)",
            "kurtosis_bias_false": "scipy.stats.kurtosis(x[:, j], fisher=True, bias=False)",
            "minibatch_*": "Kendall & Stuart 12.20 moments of the mean, minibatch() in this script",
            "p_skew_raw": "scipy.stats.norm.sf((|ms| - 0.2) / (|a| * se1)), se1 normal theory",
            "p_kurt_raw": "scipy.stats.norm.sf((|mk| - 0.5) / (|b| * se2)), se2 normal theory",
            "hill_alpha": "scipy.stats.pareto.fit(y[:K], floc=0, fscale=y[K]), y = sorted |x - mean(x)| desc",
            "p_tail_raw": "scipy.stats.gamma.sf(4 * K / hill_alpha, K)",
            "p_*_holm": "statsmodels.stats.multitest.multipletests(raw, method='holm')[1], raw = 3*d p-values in coordinate order (skew, kurt, tail)",
        },
        "x": x.tolist(),
        "coordinates": [{k: float(v) for k, v in c.items()} for c in coords],
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
