#!/usr/bin/env python3
"""Reference values for the univariate normality tests (`src/stats/normality`).

Run from the crate root:

    python3 tests/reference/generate_univariate.py

It rewrites `tests/reference/univariate.json`. The Rust tests (`tests/reference/stats_normality.rs`) read
that file and never need Python. Every data set is written out in full, so the Rust side uses the
exact same numbers; every reference value is stored next to the exact call that produced it, and
the library versions are recorded at the top of the file.

Generated with Python 3.11.7, numpy 2.4.6, scipy 1.17.1, statsmodels 0.15.0.
"""

import json
import math
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats._lilliefors import get_lilliefors_table
from statsmodels.stats.diagnostic import lilliefors, normal_ad

OUT = Path(__file__).with_name("univariate.json")


def num(v):
    """JSON-safe float: NaN and infinities become null (json.dumps would write NaN)."""
    v = float(v)
    return v if math.isfinite(v) else None


def call(expr, fn):
    """Evaluates fn(), recording the call, the warnings it raised and any exception."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn()
            err = None
        except Exception as e:  # recorded, not hidden: the Rust side expects an error then
            out = None
            err = f"{type(e).__name__}: {e}"
    msgs = sorted({str(w.message).splitlines()[0] for w in caught if w.category is not FutureWarning})
    rec = {"call": expr}
    if msgs:
        rec["warnings"] = msgs
    if err is not None:
        rec["exception"] = err
    return out, rec


def normal_ad_p(a2, n):
    """statsmodels 0.15.0 `normal_ad` p-value (scalar branch, statsmodels/stats/_adnorm.py)."""
    ad2a = a2 * (1 + 0.75 / n + 2.25 / n ** 2)
    if ad2a >= 0.00 and ad2a < 0.200:
        return float(1 - np.exp(-13.436 + 101.14 * ad2a - 223.73 * ad2a ** 2))
    elif ad2a < 0.340:
        return float(1 - np.exp(-8.318 + 42.796 * ad2a - 59.938 * ad2a ** 2))
    elif ad2a < 0.600:
        return float(np.exp(0.9177 - 4.279 * ad2a - 1.38 * ad2a ** 2))
    elif ad2a <= 13:
        return float(np.exp(1.2937 - 5.709 * ad2a + 0.0186 * ad2a ** 2))
    return 0.0


def results_for(x):
    x = np.asarray(x, dtype=np.float64)
    res = {}

    out, rec = call("scipy.stats.shapiro(x)", lambda: st.shapiro(x))
    if out is not None:
        rec.update(statistic=num(out.statistic), p_value=num(out.pvalue))
    res["shapiro_wilk"] = rec

    for name, fn in [("skewtest", st.skewtest), ("kurtosistest", st.kurtosistest)]:
        out, rec = call(f"scipy.stats.{name}(x)", lambda fn=fn: fn(x))
        if out is not None:
            rec.update(statistic=num(out.statistic), p_value=num(out.pvalue))
        res[name] = rec

    out, rec = call("scipy.stats.normaltest(x)", lambda: st.normaltest(x))
    if out is not None:
        rec.update(statistic=num(out.statistic), p_value=num(out.pvalue))
    res["dagostino_pearson"] = rec

    out, rec = call("scipy.stats.jarque_bera(x)", lambda: st.jarque_bera(x))
    if out is not None:
        rec.update(statistic=num(out.statistic), p_value=num(out.pvalue))
    res["jarque_bera"] = rec

    # Anderson-Darling: statistic and critical values from scipy, p-value from statsmodels.
    ad, rec = call("scipy.stats.anderson(x, dist='norm')", lambda: st.anderson(x, dist="norm"))
    if ad is not None:
        rec.update(
            statistic=num(ad.statistic),
            critical_values=[num(v) for v in ad.critical_values],
            significance_levels=[num(v) for v in ad.significance_level],
        )
    sm, rec_sm = call("statsmodels.stats.diagnostic.normal_ad(x)", lambda: normal_ad(x))
    if sm is not None:
        rec_sm.update(statistic=num(sm[0]), p_value=num(sm[1]))
    ip, rec_ip = call(
        "scipy.stats.anderson(x, dist='norm', method='interpolate')",
        lambda: st.anderson(x, dist="norm", method="interpolate"),
    )
    if ip is not None:
        rec_ip.update(statistic=num(ip.statistic), p_value=num(ip.pvalue))
    ad_rec = {"scipy": rec, "statsmodels": rec_sm, "scipy_interpolate": rec_ip}
    if ad is not None and math.isfinite(ad.statistic):
        # statsmodels forms A² with log(cdf) + log1p(-cdf), which is -inf once a standardised
        # value exceeds about 8.3 (cdf rounds to 1); it then reports A² = inf and p = 0. The
        # D'Agostino-Stephens p-value of scipy's finite, tail-accurate A² is recorded as well,
        # from a transcription of normal_ad's scalar branch (checked against normal_ad below
        # wherever statsmodels' own A² is finite).
        p_tr = normal_ad_p(float(ad.statistic), x.size)
        if sm is not None and math.isfinite(sm[0]):
            p_sm = normal_ad_p(float(sm[0]), x.size)
            assert p_sm == float(sm[1]), (p_sm, sm[1])
        ad_rec["dagostino_stephens_p_of_scipy_statistic"] = {
            "call": "normal_ad_p(scipy.stats.anderson(x).statistic, n): transcription of "
                    "statsmodels 0.15.0 normal_ad's scalar p-value branch (this script)",
            "p_value": num(p_tr),
        }
    res["anderson_darling"] = ad_rec

    for method in ["approx", "table"]:
        out, rec = call(
            f"statsmodels.stats.diagnostic.lilliefors(x, dist='norm', pvalmethod='{method}')",
            lambda method=method: lilliefors(x, dist="norm", pvalmethod=method),
        )
        if out is not None:
            rec.update(statistic=num(out[0]), p_value=num(out[1]))
        res[f"lilliefors_{method}"] = rec
    return res


def r6(a):
    return np.round(np.asarray(a, dtype=np.float64), 6)


def datasets():
    """(name, description, values). Descriptions give the exact numpy call."""
    d = []
    d.append(("hand20", "20 hand-written values", [
        2.61, 3.12, 1.98, 2.45, 3.77, 2.9, 2.14, 3.05, 2.58, 4.41,
        2.73, 3.36, 1.72, 2.99, 3.48, 2.21, 2.84, 3.95, 2.37, 3.1]))
    d.append(("classic11", "11 hand-written values (Shapiro-Wilk n <= 11 branch)",
              [148, 154, 158, 160, 161, 162, 166, 170, 182, 195, 236]))
    d.append(("normal50", "np.round(np.random.default_rng(12345).standard_normal(50), 6)",
              r6(np.random.default_rng(12345).standard_normal(50))))
    d.append(("lognormal50",
              "np.round(np.random.default_rng(7).lognormal(mean=0.0, sigma=0.6, size=50), 6)",
              r6(np.random.default_rng(7).lognormal(mean=0.0, sigma=0.6, size=50))))
    d.append(("t3_200", "np.round(np.random.default_rng(99).standard_t(3, 200), 6)",
              r6(np.random.default_rng(99).standard_t(3, 200))))
    d.append(("ties12", "heavy ties", [1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 7]))
    d.append(("uniform100", "np.round(np.random.default_rng(101).uniform(0, 1, 100), 6)",
              r6(np.random.default_rng(101).uniform(0, 1, 100))))
    g = np.random.default_rng(102)
    d.append(("bimodal150",
              "g = np.random.default_rng(102); np.round(np.concatenate([g.normal(-2, 1, 75), g.normal(2, 1, 75)]), 6)",
              r6(np.concatenate([g.normal(-2, 1, 75), g.normal(2, 1, 75)]))))
    d.append(("exponential80", "np.round(np.random.default_rng(80).exponential(1.0, 80), 6)",
              r6(np.random.default_rng(80).exponential(1.0, 80))))
    d.append(("normal35", "np.round(np.random.default_rng(35).standard_normal(35), 6) (Lilliefors table: n between 30 and 40)",
              r6(np.random.default_rng(35).standard_normal(35))))
    d.append(("t10_150", "np.round(np.random.default_rng(150).standard_t(10, 150), 6) (Lilliefors table: n between 100 and 200)",
              r6(np.random.default_rng(150).standard_t(10, 150))))
    d.append(("t5_2000", "np.round(np.random.default_rng(2000).standard_t(5, 2000), 6) (Lilliefors asymptotic branch n > 1600)",
              r6(np.random.default_rng(2000).standard_t(5, 2000))))
    d.append(("normal1800", "np.round(np.random.default_rng(1800).standard_normal(1800), 6) (Lilliefors asymptotic branch, large p)",
              r6(np.random.default_rng(1800).standard_normal(1800))))
    d.append(("normal5000", "np.round(np.random.default_rng(5000).standard_normal(5000), 6) (Shapiro-Wilk maximum n)",
              r6(np.random.default_rng(5000).standard_normal(5000))))
    d.append(("lognormal300_extreme", "np.round(np.random.default_rng(300).lognormal(0.0, 1.5, 300), 6) (Anderson-Darling AA > 13: p = 0)",
              r6(np.random.default_rng(300).lognormal(0.0, 1.5, 300))))
    d.append(("uniform1500", "np.round(np.random.default_rng(1000).uniform(0, 1, 1500), 6) (Anderson-Darling AA > 13 with a finite statsmodels A²)",
              r6(np.random.default_rng(1000).uniform(0, 1, 1500))))
    n = 30
    i = np.arange(1, n + 1)
    d.append(("normal_scores30", "np.round(scipy.stats.norm.ppf((np.arange(1, 31) - 0.375) / 30.25), 6) (Anderson-Darling AA < 0.2 branch)",
              r6(st.norm.ppf((i - 0.375) / (n + 0.25)))))
    base = r6(np.random.default_rng(41).standard_normal(40))
    d.append(("tiny_scale40", "np.round(np.random.default_rng(41).standard_normal(40), 6) * 1e-9", base * 1e-9))
    d.append(("huge_scale40", "np.round(np.random.default_rng(41).standard_normal(40), 6) * 1e9", base * 1e9))
    d.append(("offset60", "np.round(np.random.default_rng(60).standard_normal(60), 6) + 1e6",
              r6(np.random.default_rng(60).standard_normal(60)) + 1e6))
    d.append(("spike10", "nine zeros and a one (Shapiro-Wilk n <= 11 floor p = 1e-19 or tiny p)", [0.0] * 9 + [1.0]))
    d.append(("n3_equal", "n = 3, equally spaced", [1, 2, 3]))
    d.append(("n3_skewed", "n = 3, skewed", [0, 0.1, 5]))
    d.append(("n4_ties", "n = 4, ties with one outlier", [1, 1, 1, 2]))
    d.append(("n5", "n = 5, hand-written (Shapiro-Wilk n <= 5 coefficients)", [1.2, 0.4, 2.2, 3.1, 0.9]))
    d.append(("n6", "n = 6, hand-written (Shapiro-Wilk n > 5 coefficients)", [5.1, 4.7, 6.3, 5.0, 7.9, 5.5]))
    d.append(("n7", "n = 7, below the skewtest minimum", [0.3, -1.2, 0.8, 2.1, -0.4, 0.0, 1.1]))
    d.append(("n8", "n = 8, the skewtest minimum", [2.1, 3.4, 1.9, 5.6, 2.8, 3.0, 4.4, 2.2]))
    d.append(("symmetric10", "exactly symmetric: skewness 0 (scipy skewtest quirk)", [-4, -3, -2, -1, 0, 1, 2, 3, 4, 0]))
    d.append(("constant5", "constant data", [2.0] * 5))
    d.append(("constant12_01", "constant data whose mean is not exactly representable", [0.1] * 12))
    d.append(("n2", "n = 2", [1.0, 2.0]))
    d.append(("n1", "n = 1", [1.0]))
    return d


def main():
    out_sets = []
    for name, desc, values in datasets():
        x = np.asarray(values, dtype=np.float64)
        out_sets.append({
            "name": name,
            "description": desc,
            "n": int(x.size),
            "x": [float(v) for v in x],
            "results": results_for(x),
        })

    lf = get_lilliefors_table("norm")
    table = {
        "source": "statsmodels.stats._lilliefors.get_lilliefors_table('norm')",
        "alpha": [float(v) for v in lf.alpha],
        "size": [float(v) for v in lf.size],
        "crit_table": [[float(v) for v in row] for row in lf.crit_table],
        "asymptotic_at": {
            str(n): [float(v) for v in lf.asymptotic(n)] for n in (1601, 2000, 5000, 100000)
        },
    }

    doc = {
        "generator": "tests/reference/generate_univariate.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
        "notes": [
            "x is the exact sample passed to every call (the description gives the generating numpy call).",
            "A result with no 'statistic' (or a null one) means the reference returned NaN or raised; "
            "the record keeps its warnings/exception text.",
        ],
        "datasets": out_sets,
        "lilliefors_table": table,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
