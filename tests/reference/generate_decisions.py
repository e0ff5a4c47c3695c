#!/usr/bin/env python3
"""Reference values for the decision building blocks (`src/stats/onesided.rs`, `src/stats/portmanteau.rs`, `src/stats/stationarity.rs`, and the
reshuffled-SGD covariance `src/ou/reshuffled.rs`).

Run from the crate root:

    python3 tests/reference/generate_decisions.py

It rewrites `tests/reference/decisions.json`; the Rust tests (`tests/reference/stats_decisions.rs`,
`tests/reference/ou_reshuffled.rs`) read that file and never need Python. Each value is stored next to the
exact call that produced it.

Generated with Python 3.11.7, numpy 2.4.6, scipy 1.17.1, statsmodels 0.15.0.
"""

import json
import platform
from pathlib import Path

import numpy as np
import scipy
import scipy.stats as st
import statsmodels

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


def hosking(x, h):
    """Hosking (1980) multivariate portmanteau, Ljung-Box and Box-Pierce forms (numpy)."""
    n, d = x.shape
    c = x - x.mean(axis=0)
    c0 = c.T @ c / n
    c0i = np.linalg.inv(c0)
    lb = bp = 0.0
    for k in range(1, h + 1):
        ck = c[k:].T @ c[:-k] / n
        tr = np.trace(ck.T @ c0i @ ck @ c0i)
        lb += tr / (n - k)
        bp += tr
    df = d * d * h
    return n * n * lb, st.chi2.sf(n * n * lb, df), n * bp, st.chi2.sf(n * bp, df)


def portmanteau():
    from statsmodels.stats.diagnostic import acorr_ljungbox
    rng = np.random.default_rng(15)
    out = {"statsmodels": statsmodels.__version__, "univariate": [], "multivariate": []}
    e = rng.standard_normal(203)
    ar = np.zeros(200)
    for t in range(1, 200):
        ar[t] = 0.4 * ar[t - 1] + e[t]
    for name, x, h in [("white", rng.standard_normal(120), 10), ("ar1", ar, 5), ("ar1", ar, 20)]:
        r = acorr_ljungbox(x, lags=[h], boxpierce=True)
        out["univariate"].append({"name": name, "x": x.tolist(), "h": h,
                                  "call": f"acorr_ljungbox(x, lags=[{h}], boxpierce=True)",
                                  "lb_stat": float(r["lb_stat"].iloc[0]), "lb_pvalue": float(r["lb_pvalue"].iloc[0]),
                                  "bp_stat": float(r["bp_stat"].iloc[0]), "bp_pvalue": float(r["bp_pvalue"].iloc[0])})
    white = rng.standard_normal((150, 3))
    var = np.zeros((150, 2))
    phi = np.array([[0.5, 0.2], [-0.1, 0.3]])
    for t in range(1, 150):
        var[t] = phi @ var[t - 1] + rng.standard_normal(2)
    for name, x, h in [("white3", white, 4), ("var1", var, 6)]:
        lb, lbp, bp, bpp = hosking(x, h)
        out["multivariate"].append({"name": name, "x": x.tolist(), "h": h,
                                    "call": f"hosking(x, {h}) (numpy, this script)",
                                    "lb_stat": float(lb), "lb_pvalue": float(lbp),
                                    "bp_stat": float(bp), "bp_pvalue": float(bpp)})
    return out


def mser(x):
    """White (1997) MSER: argmin over d <= n//2 of sum_{i>=d}(x_i - mean_d)^2 / (n-d)^2 (first minimiser)."""
    n = len(x)
    stats = [np.sum((x[d:] - x[d:].mean()) ** 2) / (n - d) ** 2 for d in range(n // 2 + 1)]
    return int(np.argmin(stats))


def batch(x):
    b = int(np.floor(np.sqrt(len(x))))
    size = len(x) // b
    means = x[: b * size].reshape(b, size).mean(axis=1)
    return means.mean(), means.var(ddof=1) / b, b


def geweke(x):
    n = len(x)
    a, c = x[: int(np.floor(0.1 * n))], x[n - int(np.floor(0.5 * n)):]
    ma, va, ba = batch(a)
    mb, vb, bb = batch(c)
    var = va + vb
    df = var ** 2 / (va ** 2 / (ba - 1) + vb ** 2 / (bb - 1))
    z = (ma - mb) / np.sqrt(var)
    return float(z), float(df), float(min(1.0, 2 * st.t.sf(abs(z), df)))


def stationarity():
    rng = np.random.default_rng(1515)
    x = np.zeros(400)
    for t in range(1, 400):
        x[t] = 0.6 * x[t - 1] + rng.standard_normal() + (8.0 * (1 - t / 60) if t < 60 else 0.0)
    b5 = x[: 5 * (len(x) // 5)].reshape(-1, 5).mean(axis=1)
    z, df, p = geweke(x)
    ol = 1.0 + 0.3 * rng.standard_normal(150)
    orr = 0.95 + 0.3 * rng.standard_normal(150)
    md, vd, bd = batch(ol - orr)
    return {"x": x.tolist(), "mser": mser(x), "mser5": 5 * mser(b5),
            "call": "numpy formulas in this script: mser(x), 5*mser(batch means of 5), geweke(x)",
            "geweke_z": z, "geweke_df": df, "geweke_p": p,
            "o_l": ol.tolist(), "o_r": orr.tolist(),
            "fdr1_ratio": float(ol.mean() / orr.mean()), "fdr1_difference": float(md),
            "fdr1_se": float(np.sqrt(vd)),
            "fdr1_p": float(min(1.0, 2 * st.t.sf(abs(md / np.sqrt(vd)), bd - 1)))}


def main():
    out = {
        "generator": "tests/reference/generate_decisions.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__},
        "tolerance": "1e-10 relative on p-values and statistics",
        "onesided": onesided(),
        "portmanteau": portmanteau(),
        "stationarity": stationarity(),
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
