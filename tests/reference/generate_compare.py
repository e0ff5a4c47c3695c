#!/usr/bin/env python3
"""Reference values for the OLS fits of the scaling laws (`src/stats/regression.rs`, used by
`src/compare/scaling.rs`).

Run from the crate root:

    python3 tests/reference/generate_compare.py

It rewrites `tests/reference/compare.json`; the Rust test `tests/cli/compare.rs` reads that file and
never needs Python. Each value is stored next to the exact call that produced it. Tolerance:
1e-9 relative (1e-12 absolute) on every coefficient, standard error, interval end, t value,
p-value and R², and on the fail / equivalence p-values of the compare verdict's pieces.

Generated with Python 3.11.7, numpy 2.4.6, scipy 1.17.1, statsmodels 0.15.0 (slope_pieces:
scipy.stats.t.sf, added for the issue-15 verdict of compare).
"""

import json
import platform
from pathlib import Path

import numpy as np
import scipy
import statsmodels
import statsmodels.api as sm
from scipy import stats

OUT = Path(__file__).with_name("compare.json")

# Fixed data: a 3 x 3 (epsilon, S) grid of log traces with small deviations typed in by hand,
# shaped like the stationary-covariance law (log observed against log predicted).
LOG_EPS = [np.log(e) for e in (0.01, 0.01, 0.01, 0.02, 0.02, 0.02, 0.04, 0.04, 0.04)]
LOG_S = [np.log(s) for s in (8, 32, 128, 8, 32, 128, 8, 32, 128)]
LOG_PRED = [a - b for a, b in zip(LOG_EPS, LOG_S)]
DEV = [0.031, -0.012, 0.044, -0.027, 0.008, -0.051, 0.019, 0.036, -0.022]
LOG_OBS = [p * 1.03 + d - 0.2 for p, d in zip(LOG_PRED, DEV)]
# A short line with noise (the noise-scale law with 4 batch sizes).
X4 = [np.log(s) for s in (4, 16, 64, 256)]
Y4 = [1.3 - 0.93 * x + d for x, d in zip(X4, (0.02, -0.05, 0.04, -0.01))]


def fit(y, cols, name, call, level=0.95):
    x = sm.add_constant(np.column_stack(cols))
    r = sm.OLS(np.asarray(y), x).fit()
    ci = r.conf_int(alpha=1 - level)
    return {
        "name": name,
        "call": call,
        "y": [float(v) for v in y],
        "x": [[float(v) for v in c] for c in cols],
        "level": level,
        "params": [float(v) for v in r.params],
        "bse": [float(v) for v in r.bse],
        "conf_int": [[float(a), float(b)] for a, b in ci],
        "tvalues": [float(v) for v in r.tvalues],
        "pvalues": [float(v) for v in r.pvalues],
        "rsquared": float(r.rsquared),
        "df_resid": int(r.df_resid),
        "sigma2": float(r.scale),
    }


# The compare verdict's pieces (src/compare/scaling.rs, slope_piece): effect e = b - b_model,
# its standard error, residual degrees of freedom and the tolerance delta.
PIECES = [
    (0.012, 0.02, 7, 0.1),     # well inside: passes
    (-0.35, 0.05, 10, 0.1),    # well outside: fails
    (0.1, 0.03, 4, 0.1),       # at the boundary
    (-0.092, 0.011, 16, 0.1),  # just inside, precise
    (0.06, 0.08, 2, 0.1),      # wide: neither
]


def piece(e, se, df, delta):
    return {
        "estimate": e, "se": se, "df": df, "tolerance": delta,
        "call": "p_fail = t.sf((abs(e) - delta) / se, df); "
                "p_pass = max(t.sf((delta - e) / se, df), t.sf((e + delta) / se, df))",
        "p_fail": float(stats.t.sf((abs(e) - delta) / se, df)),
        "p_pass": float(max(stats.t.sf((delta - e) / se, df), stats.t.sf((e + delta) / se, df))),
    }


def main():
    cases = [
        fit(LOG_OBS, [LOG_PRED], "covariance_slope",
            "sm.OLS(LOG_OBS, sm.add_constant(LOG_PRED)).fit(); conf_int(alpha=0.05)"),
        fit(LOG_OBS, [LOG_PRED], "covariance_slope_90",
            "sm.OLS(LOG_OBS, sm.add_constant(LOG_PRED)).fit(); conf_int(alpha=0.10)", 0.90),
        fit(LOG_OBS, [LOG_EPS, LOG_S], "exponents",
            "sm.OLS(LOG_OBS, sm.add_constant(np.column_stack([LOG_EPS, LOG_S]))).fit()"),
        fit(Y4, [X4], "noise_slope_4",
            "sm.OLS(Y4, sm.add_constant(X4)).fit(); conf_int(alpha=0.05)"),
    ]
    out = {
        "generator": "tests/reference/generate_compare.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
        "tolerance": "1e-9 relative (1e-12 absolute) on every value",
        "ols": cases,
        "slope_pieces": [piece(*p) for p in PIECES],
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
