#!/usr/bin/env python3
"""Exact reference values for the moment-based statistics on data with a large offset (or a
tiny scale), where a naive sum loses digits.

Run from the crate root:

    python3 tests/reference/generate_offset.py

It rewrites `tests/reference/offset.json`; `tests/reference/stats_offset.rs` reads it and never needs
Python. Each data set is written out in full (as shortest-round-trip decimal strings of the f64
values), so both sides use the same binary numbers. Every reference value is computed with
mpmath at 60 significant digits from those exact binary values, following the formula named in
the record's "call" (the formulas are those of scipy 1.17.1 and statsmodels 0.15.0, which the
Rust doc comments cite); the value scipy itself returns is recorded beside it for comparison.

Generated with Python 3.11.7, numpy 2.4.6, scipy 1.17.1, mpmath 1.3.0.
"""

import json
import warnings
import platform
from pathlib import Path

import mpmath as mp
import numpy as np
import scipy
import scipy.stats as st

mp.mp.dps = 60
OUT = Path(__file__).with_name("offset.json")


def moments(x):
    """Exact mean and central moments m_k = sum((x - mean)^k)/n, k = 2, 3, 4."""
    n = len(x)
    xs = [mp.mpf(v) for v in x]  # exact: every f64 is an mpf
    mean = mp.fsum(xs) / n
    d = [v - mean for v in xs]
    return (n, mean, *(mp.fsum(v ** k for v in d) / n for k in (2, 3, 4)))


def skew_z(n, g1):
    """scipy.stats.skewtest (D'Agostino 1970), in 60-digit arithmetic."""
    n = mp.mpf(n)
    y = g1 * mp.sqrt((n + 1) * (n + 3) / (6 * (n - 2)))
    beta2 = 3 * (n * n + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2) * (n + 5) * (n + 7) * (n + 9))
    w2 = -1 + mp.sqrt(2 * (beta2 - 1))
    delta = 1 / mp.sqrt(mp.log(w2) / 2)
    alpha = mp.sqrt(2 / (w2 - 1))
    r = y / alpha
    return delta * mp.log(r + mp.sqrt(r * r + 1))


def kurt_z(n, b2):
    """scipy.stats.kurtosistest (Anscombe & Glynn 1983), in 60-digit arithmetic."""
    n = mp.mpf(n)
    e = 3 * (n - 1) / (n + 1)
    varb2 = 24 * n * (n - 2) * (n - 3) / ((n + 1) ** 2 * (n + 3) * (n + 5))
    x = (b2 - e) / mp.sqrt(varb2)
    sb1 = 6 * (n * n - 5 * n + 2) / ((n + 7) * (n + 9)) * mp.sqrt(6 * (n + 3) * (n + 5) / (n * (n - 2) * (n - 3)))
    a = 6 + 8 / sb1 * (2 / sb1 + mp.sqrt(1 + 4 / sb1 ** 2))
    term1 = 1 - 2 / (9 * a)
    denom = 1 + x * mp.sqrt(2 / (a - 4))
    term2 = mp.sign(denom) * mp.cbrt((1 - 2 / a) / abs(denom))
    return (term1 - term2) / mp.sqrt(2 / (9 * a))


def log_ncdf(z):
    return mp.log(mp.ncdf(z))


def anderson(x, mean, m2):
    """scipy.stats.anderson(x, 'norm') A^2 and the statsmodels normal_ad p-value."""
    n = len(x)
    s = mp.sqrt(m2 * n / (n - 1))
    y = sorted(mp.mpf(v) for v in x)
    w = [(v - mean) / s for v in y]
    tot = mp.fsum((2 * i + 1) * (log_ncdf(w[i]) + log_ncdf(-w[n - 1 - i])) for i in range(n))
    a2 = -n - tot / n
    aa = a2 * (1 + mp.mpf("0.75") / n + mp.mpf("2.25") / n ** 2)
    c = [mp.mpf(v) for v in ("13.436", "101.14", "223.73", "8.318", "42.796", "59.938",
                             "0.9177", "4.279", "1.38", "1.2937", "5.709", "0.0186")]
    if aa < mp.mpf("0.2"):
        p = 1 - mp.exp(-c[0] + c[1] * aa - c[2] * aa ** 2)
    elif aa < mp.mpf("0.34"):
        p = 1 - mp.exp(-c[3] + c[4] * aa - c[5] * aa ** 2)
    elif aa < mp.mpf("0.6"):
        p = mp.exp(c[6] - c[7] * aa - c[8] * aa ** 2)
    elif aa <= 13:
        p = mp.exp(c[9] - c[10] * aa + c[11] * aa ** 2)
    else:
        p = mp.mpf(0)
    return a2, p


def lilliefors_d(x, mean, m2):
    """statsmodels lilliefors(x, 'norm') statistic D (KS distance to N(mean, s^2), ddof 1)."""
    n = len(x)
    s = mp.sqrt(m2 * n / (n - 1))
    y = sorted(mp.mpf(v) for v in x)
    c = [mp.ncdf((v - mean) / s) for v in y]
    dp = max(mp.mpf(i + 1) / n - c[i] for i in range(n))
    dm = max(c[i] - mp.mpf(i) / n for i in range(n))
    return max(dp, dm)


def f(v):
    return float(v)


def records(x):
    n, mean, m2, m3, m4 = moments(x)
    g1 = m3 / m2 ** mp.mpf(1.5)
    b2 = m4 / m2 ** 2
    zs, zk = skew_z(n, g1), kurt_z(n, b2)
    k2 = zs ** 2 + zk ** 2
    jb = mp.mpf(n) / 6 * (g1 ** 2 + (b2 - 3) ** 2 / 4)
    a2, ad_p = anderson(x, mean, m2)
    d = lilliefors_d(x, mean, m2)
    arr = np.array(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scipy 1.17 asks for a p-value method
        ad_scipy = st.anderson(arr, dist="norm").statistic
    ex = "mpmath (dps=60) on the exact f64 data: "
    return {
        "mean": {"call": ex + "fsum(x)/n", "value": f(mean), "scipy": f(np.mean(arr))},
        "m2": {"call": ex + "fsum((x-mean)**2)/n", "value": f(m2), "scipy": f(st.moment(arr, 2))},
        "skewness": {"call": ex + "m3/m2**1.5 (scipy.stats.skew(x))", "value": f(g1), "scipy": f(st.skew(arr))},
        "excess_kurtosis": {"call": ex + "m4/m2**2 - 3 (scipy.stats.kurtosis(x))", "value": f(b2 - 3),
                            "scipy": f(st.kurtosis(arr))},
        "skewtest": {"call": ex + "scipy.stats.skewtest(x) formula", "statistic": f(zs),
                     "p_value": f(2 * mp.ncdf(-abs(zs))), "scipy": f(st.skewtest(arr).statistic)},
        "kurtosistest": {"call": ex + "scipy.stats.kurtosistest(x) formula", "statistic": f(zk),
                         "p_value": f(2 * mp.ncdf(-abs(zk))), "scipy": f(st.kurtosistest(arr).statistic)},
        "dagostino_pearson": {"call": ex + "scipy.stats.normaltest(x) formula: K2 = zs^2 + zk^2, p = exp(-K2/2)",
                              "statistic": f(k2), "p_value": f(mp.exp(-k2 / 2)),
                              "scipy": f(st.normaltest(arr).statistic)},
        "jarque_bera": {"call": ex + "scipy.stats.jarque_bera(x) formula: n/6*(g1^2 + g2^2/4), p = exp(-JB/2)",
                        "statistic": f(jb), "p_value": f(mp.exp(-jb / 2)),
                        "scipy": f(st.jarque_bera(arr).statistic)},
        "anderson_darling": {"call": ex + "scipy.stats.anderson(x, 'norm') A2 (log ncdf); "
                             "statsmodels normal_ad p-value branches", "statistic": f(a2),
                             "p_value": f(ad_p), "scipy": f(ad_scipy)},
        "lilliefors": {"call": ex + "statsmodels lilliefors(x, 'norm') statistic D (s with ddof=1)",
                       "statistic": f(d)},
    }


def main():
    sets = [
        ("offset_1e6", "1e6 + np.random.default_rng(17).standard_normal(100)",
         1e6 + np.random.default_rng(17).standard_normal(100)),
        ("offset_1e8", "1e8 + np.random.default_rng(18).standard_normal(100)",
         1e8 + np.random.default_rng(18).standard_normal(100)),
        ("tiny_1e-6", "1e-6 * np.random.default_rng(19).standard_normal(100)",
         1e-6 * np.random.default_rng(19).standard_normal(100)),
        ("offset60", "np.round(np.random.default_rng(60).standard_normal(60), 6) + 1e6 "
         "(the same data as offset60 in univariate.json)",
         np.round(np.random.default_rng(60).standard_normal(60), 6) + 1e6),
        ("offset_1e6_t3", "1e6 + np.random.default_rng(20).standard_t(3, 200)",
         1e6 + np.random.default_rng(20).standard_t(3, 200)),
    ]
    out = {
        "generator": "tests/reference/generate_offset.py",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "mpmath": mp.__version__,
        "datasets": [],
    }
    for name, expr, x in sets:
        x = [float(v) for v in x]
        out["datasets"].append({"name": name, "data_call": expr, "x": [repr(v) for v in x],
                                "results": records(x)})
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
