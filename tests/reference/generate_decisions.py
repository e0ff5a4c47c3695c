#!/usr/bin/env python3
"""Reference values for the decision building blocks (`src/stats/onesided.rs`, and the
reshuffled-SGD covariance `src/ou/reshuffled.rs`).

Run from the crate root:

    python3 tests/reference/generate_decisions.py

It rewrites `tests/reference/decisions.json`; the Rust tests (`tests/stats_decisions.rs`,
`tests/ou_reshuffled.rs`) read that file and never need Python. Each value is stored next to the
exact call that produced it.

Generated with Python 3.11, numpy 2.4.6, scipy 1.17.1.
"""

import json
import platform
from pathlib import Path

import numpy as np
import scipy
import scipy.stats as st

OUT = Path(__file__).with_name("decisions.json")


def onesided():
    cases = []
    for est, se, delta in [(0.215, 0.028, 0.2), (0.15, 0.05, 0.2), (1.3, 0.4, 0.1), (0.0, 1.0, 0.0)]:
        z = (est - delta) / se
        cases.append({"kind": "z", "estimate": est, "se": se, "delta": delta,
                      "call": f"scipy.stats.norm.sf(({est} - {delta}) / {se})",
                      "statistic": z, "p_value": float(st.norm.sf(z))})
    for est, se, df, delta in [(0.215, 0.028, 9, 0.2), (0.5, 0.1, 3, 0.2), (0.1, 0.3, 30, 0.2)]:
        t = (est - delta) / se
        cases.append({"kind": "t", "estimate": est, "se": se, "df": df, "delta": delta,
                      "call": f"scipy.stats.t.sf(({est} - {delta}) / {se}, {df})",
                      "statistic": t, "p_value": float(st.t.sf(t, df))})
    for r, se, delta in [(0.236, 0.025, 0.1), (1.05, 0.1, 0.1), (1.6, 0.2, 0.25), (0.9, 0.05, 0.2)]:
        c, a = np.log1p(delta), abs(np.log(r))
        p = st.norm.sf((a - c) / se) + st.norm.sf((a + c) / se)
        cases.append({"kind": "log_ratio", "ratio": r, "se_log": se, "delta": delta,
                      "call": f"c=np.log1p({delta}); a=abs(np.log({r})); "
                              f"norm.sf((a-c)/{se}) + norm.sf((a+c)/{se})",
                      "statistic": float((a - c) / se), "p_value": float(min(p, 1.0))})
    for xhat, s2, delta in [([0.3, -0.1, 0.2], 0.01, 0.2), ([1.0, 2.0], 0.5, 1.0),
                            ([0.05, 0.02, -0.03, 0.01], 0.001, 0.0), ([3.0, 0.0, 0.0], 1.0, 2.5)]:
        q = float(np.sum(np.square(xhat)) / s2)
        m, lam = len(xhat), delta ** 2 / s2
        p = st.ncx2.sf(q, m, lam) if lam > 0 else st.chi2.sf(q, m)
        cases.append({"kind": "norm", "xhat": xhat, "s2": s2, "delta": delta,
                      "call": f"scipy.stats.ncx2.sf({q!r}, {m}, {lam!r}) (chi2.sf when lam = 0)",
                      "statistic": float(np.sum(np.square(xhat)) - m * s2), "p_value": float(p)})
    return cases


def main():
    out = {
        "generator": "tests/reference/generate_decisions.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__},
        "tolerance": "1e-10 relative on p-values and statistics",
        "onesided": onesided(),
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
