#!/usr/bin/env python3
"""Reference values for the multivariate statistics of sgd-ou (issue 4).

Writes tests/reference/multivariate.json, read by tests/reference/stats_multivariate.rs. Run from the
repository root:

    python3 tests/reference/generate_multivariate.py

Every value is stored next to the exact call that produced it. "library" values come from a
library function (pingouin, statsmodels, scipy, numpy); "transcription" values come from a
direct NumPy transcription of a published formula or of a named reference implementation,
written out in this file, where no library implements the statistic. Data sets are stored in the
JSON (rounded as stated), except the LCG data sets, which are regenerated bit-for-bit from the
integer generator `lcg_normal` below (the Rust test has the same generator).

Versions used for the committed JSON: see the "versions" block of the output.
"""

import json
import platform
import sys
from pathlib import Path

import numpy as np
import pingouin
import scipy
import statsmodels
from scipy import linalg, stats
from statsmodels.stats.multitest import multipletests

OUT = Path(__file__).with_name("multivariate.json")


def tolist(a):
    return np.asarray(a, dtype=float).tolist()


# ---------------------------------------------------------------------------------------------
# Exact integer generator shared with the Rust tests (no dependence on numpy's bit streams).
# ---------------------------------------------------------------------------------------------
MASK = (1 << 64) - 1


def lcg_normal(seed, n, d):
    """n x d approximately normal values: Irwin-Hall sums of 12 uniforms minus 6.

    state <- state * 6364136223846793005 + 1442695040888963407 (mod 2^64),
    u = (state >> 11) * 2^-53, value = (u_1 + ... + u_12) - 6, summed left to right,
    filled row by row. All operations are exact or correctly rounded in the same order in Rust.
    """
    state = seed & MASK
    out = np.empty((n, d))
    for i in range(n):
        for j in range(d):
            s = 0.0
            for _ in range(12):
                state = (state * 6364136223846793005 + 1442695040888963407) & MASK
                s += (state >> 11) * (2.0**-53)
            out[i, j] = s - 6.0
    return out


# ---------------------------------------------------------------------------------------------
# Multivariate normality
# ---------------------------------------------------------------------------------------------
def mardia_r_mvn(X):
    """Transcription of R MVN's Mardia test (cran/MVN R/mvn.R, `mardia`, cov = TRUE).

    S <- ((n-1)/n) * cov(data); D <- data %*% solve(S) %*% t(data) (centred data);
    g1p <- sum(D^3)/n^2; g2p <- sum(diag(D^2))/n; df <- p(p+1)(p+2)/6;
    k <- (p+1)(n+1)(n+3)/(n((n+1)(p+1) - 6)); small.skew <- n*k*g1p/6; skew <- n*g1p/6;
    kurt <- (g2p - p(p+2)) * sqrt(n/(8p(p+2))); p.kurt <- 2(1 - pnorm(|kurt|)).
    """
    n, p = X.shape
    Z = X - X.mean(0)
    S = np.cov(Z, rowvar=False) * (n - 1) / n
    D = Z @ np.linalg.solve(S, Z.T)
    g1p = np.sum(D**3) / n**2
    g2p = np.sum(np.diag(D) ** 2) / n
    df = p * (p + 1) * (p + 2) / 6
    k = (p + 1) * (n + 1) * (n + 3) / (n * ((n + 1) * (p + 1) - 6))
    small_skew = n * k * g1p / 6
    skew = n * g1p / 6
    kurt = (g2p - p * (p + 2)) * np.sqrt(n / (8 * p * (p + 2)))
    return {
        "call": "transcription of R MVN mardia() (cran/MVN R/mvn.R), see mardia_r_mvn()",
        "g1p": g1p,
        "g2p": g2p,
        "df": df,
        "skew": skew,
        "p_skew": stats.chi2.sf(skew, df),
        "small_skew": small_skew,
        "p_small": stats.chi2.sf(small_skew, df),
        "kurt": kurt,
        "p_kurt": 2 * stats.norm.sf(abs(kurt)),
    }


def mardia_exact_kurtosis(X):
    """Mardia (1974) exact null moments of b2,d, two-sided normal p-value (transcription)."""
    n, p = X.shape
    Z = X - X.mean(0)
    S = Z.T @ Z / n
    D = np.einsum("ij,ij->i", Z @ np.linalg.inv(S), Z)
    b2 = np.mean(D**2)
    e = p * (p + 2) * (n - 1) / (n + 1)
    v = 8 * p * (p + 2) * (n - 3) * (n - p - 1) * (n - p + 1) / ((n + 1) ** 2 * (n + 3) * (n + 5))
    z = (b2 - e) / np.sqrt(v)
    return {
        "call": "transcription: E = p(p+2)(n-1)/(n+1), "
        "V = 8p(p+2)(n-3)(n-p-1)(n-p+1)/((n+1)^2(n+3)(n+5)), z = (b2-E)/sqrt(V), "
        "p = 2*scipy.stats.norm.sf(|z|)",
        "expected": e,
        "variance": v,
        "z": z,
        "p_value": 2 * stats.norm.sf(abs(z)),
    }


def henze_zirkler_mpmath(X):
    """HZ at 40 significant digits (mpmath), from the centred data and the exact inverse of the
    biased covariance; the same formula as pingouin.multivariate_normality. pingouin forms
    D_jk from the *uncentred* X S^-1 X^T, which loses digits when the columns have large
    offsets relative to their spread (see the badly_scaled60x4 case)."""
    import mpmath

    mpmath.mp.dps = 40
    n, p = X.shape
    M = mpmath.matrix(X.tolist())
    mean = [mpmath.fsum(M[i, j] for i in range(n)) / n for j in range(p)]
    Z = mpmath.matrix(n, p)
    for i in range(n):
        for j in range(p):
            Z[i, j] = M[i, j] - mean[j]
    D = Z * ((Z.T * Z) / n) ** -1 * Z.T
    b = 1 / mpmath.sqrt(2) * (mpmath.mpf(2 * p + 1) / 4) ** (mpmath.mpf(1) / (p + 4)) * (
        mpmath.mpf(n) ** (mpmath.mpf(1) / (p + 4))
    )
    s1 = mpmath.fsum(
        mpmath.exp(-(b**2) / 2 * (D[j, j] + D[k, k] - 2 * D[j, k]))
        for j in range(n)
        for k in range(n)
    )
    s2 = mpmath.fsum(mpmath.exp(-(b**2) / (2 * (1 + b**2)) * D[j, j]) for j in range(n))
    hz = n * (s1 / n**2 - 2 * (1 + b**2) ** (-mpmath.mpf(p) / 2) * s2 / n
              + (1 + 2 * b**2) ** (-mpmath.mpf(p) / 2))
    return float(hz)


def mvn_case(name, call, X, decimals):
    X = np.round(X, decimals)
    hz = pingouin.multivariate_normality(X, alpha=0.05)
    hz_mp = henze_zirkler_mpmath(X)
    pingouin_accurate = abs(hz.hz - hz_mp) <= 1e-11 * abs(hz_mp)
    return {
        "name": name,
        "data_call": f"numpy.round({call}, {decimals})",
        "data": X.tolist(),
        "henze_zirkler": {
            "call": "pingouin.multivariate_normality(X, alpha=0.05)",
            "statistic": float(hz.hz),
            "p_value": float(hz.pval),
        },
        "henze_zirkler_mpmath": {
            "call": "henze_zirkler_mpmath(X) (40 digits, mpmath " + __import__("mpmath").__version__ + ")",
            "statistic": hz_mp,
        },
        "pingouin_accurate": bool(pingouin_accurate),
        "mardia_r_mvn": mardia_r_mvn(X),
        "mardia_exact_kurtosis": mardia_exact_kurtosis(X),
    }


def mvn_cases():
    L = np.array([[1, 0, 0], [0.5, 1, 0], [-0.3, 0.2, 0.8]])
    cases = [
        mvn_case(
            "normal40x3",
            "numpy.random.default_rng(2023).standard_normal((40, 3)) @ L.T, "
            "L = [[1,0,0],[0.5,1,0],[-0.3,0.2,0.8]]",
            np.random.default_rng(2023).standard_normal((40, 3)) @ L.T,
            4,
        ),
        mvn_case(
            "exponential40x3",
            "numpy.random.default_rng(11).exponential(1.0, (40, 3))",
            np.random.default_rng(11).exponential(1.0, (40, 3)),
            4,
        ),
        mvn_case(
            "normal15x2",
            "numpy.random.default_rng(5).standard_normal((15, 2))",
            np.random.default_rng(5).standard_normal((15, 2)),
            4,
        ),
        mvn_case(
            "t5_200x5",
            "numpy.random.default_rng(21).standard_t(5, (200, 5))",
            np.random.default_rng(21).standard_t(5, (200, 5)),
            6,
        ),
        mvn_case(
            "normal120x20",
            "numpy.random.default_rng(31).standard_normal((120, 20))",
            np.random.default_rng(31).standard_normal((120, 20)),
            6,
        ),
        mvn_case(
            "badly_scaled60x4",
            "numpy.random.default_rng(41).standard_normal((60, 4)) * [1e-3, 1, 1e3, 10] "
            "+ [100, 0, -5000, 0]",
            np.random.default_rng(41).standard_normal((60, 4)) * [1e-3, 1, 1e3, 10]
            + [100, 0, -5000, 0],
            7,
        ),
    ]
    # d >= n - 1: pingouin's answer is a constant (HZ = 4n, p ~ 0) for any data.
    Xd = np.round(np.random.default_rng(6).standard_normal((20, 30)), 4)
    hz = pingouin.multivariate_normality(Xd, alpha=0.05)
    degenerate = {
        "name": "degenerate20x30",
        "data_call": "numpy.round(numpy.random.default_rng(6).standard_normal((20, 30)), 4)",
        "data": Xd.tolist(),
        "pingouin_call": "pingouin.multivariate_normality(X, alpha=0.05)",
        "pingouin_statistic": float(hz.hz),
        "pingouin_p_value": float(hz.pval),
        "note": "pingouin returns HZ = 4n and p ~ 0 whatever the data; sgd-ou returns a "
        "Degenerate error instead",
    }
    return cases, degenerate


# ---------------------------------------------------------------------------------------------
# Box's M and the permutation-test statistics
# ---------------------------------------------------------------------------------------------
def box_m_transcription(groups):
    """Box (1949) M with chi2 and F approximations from log-determinants (transcription).

    F: if c2 > c1^2: f2 = (f1+2)/(c2-c1^2), b = f1/(1-c1-f1/f2), F = M/b;
       if c2 < c1^2: f2 = (f1+2)/(c1^2-c2), b = f2/(1-c1+2/f2), F = f2 M/(f1 (b-M)).
    """
    g = len(groups)
    p = groups[0].shape[1]
    covs = [np.atleast_2d(np.cov(x, rowvar=False)) for x in groups]
    v = np.array([x.shape[0] - 1.0 for x in groups])
    pooled = sum(c * vi for c, vi in zip(covs, v)) / v.sum()
    m = v.sum() * np.linalg.slogdet(pooled)[1] - sum(
        vi * np.linalg.slogdet(c)[1] for c, vi in zip(covs, v)
    )
    c1 = (2 * p**2 + 3 * p - 1) / (6 * (p + 1) * (g - 1)) * (np.sum(1 / v) - 1 / v.sum())
    c2 = (p - 1) * (p + 2) / (6 * (g - 1)) * (np.sum(1 / v**2) - 1 / v.sum() ** 2)
    f1 = p * (p + 1) * (g - 1) / 2
    if c2 > c1**2:
        f2 = (f1 + 2) / (c2 - c1**2)
        b = f1 / (1 - c1 - f1 / f2)
        f = m / b
    else:
        f2 = (f1 + 2) / (c1**2 - c2)
        b = f2 / (1 - c1 + 2 / f2)
        f = f2 * m / (f1 * (b - m))
    chi2 = (1 - c1) * m
    return {
        "call": "transcription of Box (1949) with numpy.linalg.slogdet, see box_m_transcription()",
        "M": m,
        "c1": c1,
        "c2": c2,
        "chi2": chi2,
        "dof": f1,
        "p_value": stats.chi2.sf(chi2, f1),
        "f_statistic": f,
        "f_df2": f2,
        "f_p_value": stats.f.sf(f, f1, f2),
    }


def perm_statistics(groups):
    """Observed T_sum and T_max of sgd-ou's permutation test (transcription of the doc formula).

    z = group-centred rows; sigma_g = z'z/n_g; theta_g = (z^2)'(z^2)/n_g - sigma_g^2;
    w_g = n_g/theta_g; T_ij = sum_g w_g (sigma_g - sigma_bar)^2 with the w-weighted mean;
    T_sum = mean over i <= j, T_max = max over i <= j.
    """
    sig, th, ns = [], [], []
    for x in groups:
        z = x - x.mean(0)
        n = x.shape[0]
        s = z.T @ z / n
        sig.append(s)
        th.append((z**2).T @ (z**2) / n - s**2)
        ns.append(n)
    sig, th, ns = np.array(sig), np.array(th), np.array(ns, dtype=float)
    w = ns[:, None, None] / th
    bar = (w * sig).sum(0) / w.sum(0)
    t = (w * (sig - bar) ** 2).sum(0)
    iu = np.triu_indices(t.shape[0])
    return {
        "call": "transcription, see perm_statistics()",
        "sum_statistic": float(t[iu].mean()),
        "max_statistic": float(t[iu].max()),
    }


def clx_statistic(x, y):
    """Transcription of M.value in PEtests covtest.clx (cran/PEtests R/covtest.clx.R)."""
    n1, n2 = x.shape[0], y.shape[0]
    s1 = np.cov(x, rowvar=False) * (n1 - 1) / n1
    s2 = np.cov(y, rowvar=False) * (n2 - 1) / n2
    xc, yc = x - x.mean(0), y - y.mean(0)
    t1 = (xc**2).T @ (xc**2) / n1 - (2 / n1) * s1 * (xc.T @ xc) + s1**2
    t2 = (yc**2).T @ (yc**2) / n2 - (2 / n2) * s2 * (yc.T @ yc) + s2**2
    return float(np.max((s1 - s2) ** 2 / (t1 / n1 + t2 / n2)))


def pingouin_box_m(groups):
    import pandas as pd

    p = groups[0].shape[1]
    cols = [f"v{j}" for j in range(p)]
    frames = []
    for i, x in enumerate(groups):
        df = pd.DataFrame(x, columns=cols)
        df["group"] = i
        frames.append(df)
    data = pd.concat(frames, ignore_index=True)
    with np.errstate(all="ignore"):
        res = pingouin.box_m(data, dvs=cols, group="group")
    return {
        "call": "pingouin.box_m(data, dvs=cols, group='group') on the stacked groups",
        "chi2": float(res["Chi2"].iloc[0]),
        "dof": float(res["df"].iloc[0]),
        "p_value": float(res["pval"].iloc[0]),
    }


def box_case(name, calls, groups, decimals):
    groups = [np.round(g, decimals) for g in groups]
    case = {
        "name": name,
        "data_call": [f"numpy.round({c}, {decimals})" for c in calls],
        "groups": [g.tolist() for g in groups],
        "pingouin": pingouin_box_m(groups),
        "transcription": box_m_transcription(groups),
        "permutation_statistics": perm_statistics(groups),
    }
    if len(groups) == 2:
        case["clx_m_value"] = {
            "call": "transcription of PEtests covtest.clx M.value, see clx_statistic()",
            "value": clx_statistic(*groups),
        }
    return case


def box_cases():
    T = np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1]])
    rs = lambda s: np.random.default_rng(s)  # noqa: E731
    cases = [
        box_case(
            "unequal25_30",
            [
                "numpy.random.default_rng(5).standard_normal((25, 3))",
                "numpy.random.default_rng(6).standard_normal((30, 3)) * [1, 1.5, 0.7]",
            ],
            [rs(5).standard_normal((25, 3)), rs(6).standard_normal((30, 3)) * [1, 1.5, 0.7]],
            4,
        ),
        box_case(
            "equal20_20",
            [
                "numpy.random.default_rng(8).standard_normal((20, 3))",
                "numpy.random.default_rng(9).standard_normal((20, 3)) @ T.T, "
                "T = [[1,0,0],[0.8,0.6,0],[0,0,1]]",
            ],
            [rs(8).standard_normal((20, 3)), rs(9).standard_normal((20, 3)) @ T.T],
            4,
        ),
        box_case(
            "four_groups_d2",
            [f"numpy.random.default_rng({s}).standard_normal(({n}, 2))" for s, n in
             [(12, 15), (13, 22), (14, 18), (15, 30)]],
            [rs(s).standard_normal((n, 2)) for s, n in [(12, 15), (13, 22), (14, 18), (15, 30)]],
            4,
        ),
        box_case(
            "univariate_three_groups",
            [
                "numpy.random.default_rng(16).standard_normal((8, 1))",
                "numpy.random.default_rng(17).standard_normal((12, 1)) * 2",
                "numpy.random.default_rng(18).standard_normal((10, 1))",
            ],
            [
                rs(16).standard_normal((8, 1)),
                rs(17).standard_normal((12, 1)) * 2,
                rs(18).standard_normal((10, 1)),
            ],
            4,
        ),
        box_case(
            "d30_n60",
            [
                "numpy.random.default_rng(19).standard_normal((60, 30))",
                "numpy.random.default_rng(20).standard_t(6, (70, 30))",
            ],
            [rs(19).standard_normal((60, 30)), rs(20).standard_t(6, (70, 30))],
            4,
        ),
    ]
    # d = 100: pingouin multiplies raw determinants; log-determinants are required.
    a = lcg_normal(1, 150, 100)
    b = lcg_normal(2, 150, 100)
    big = {
        "name": "lcg_d100",
        "data_call": ["lcg_normal(1, 150, 100)", "lcg_normal(2, 150, 100)"],
        "pingouin": pingouin_box_m([a, b]),
        "transcription": box_m_transcription([a, b]),
        "permutation_statistics": perm_statistics([a, b]),
        "clx_m_value": {
            "call": "transcription of PEtests covtest.clx M.value, see clx_statistic()",
            "value": clx_statistic(a, b),
        },
    }
    big["lcg_check"] = {"first_value": float(a[0, 0]), "last_value": float(b[-1, -1])}
    # pingouin overflows here (Chi2 = inf, p = 0); JSON has no infinity, so store it as text.
    big["pingouin"]["chi2"] = repr(big["pingouin"]["chi2"])
    return cases, big


# ---------------------------------------------------------------------------------------------
# Multiple testing
# ---------------------------------------------------------------------------------------------
METHODS = {
    "bonferroni": "bonferroni",
    "holm": "holm",
    "hochberg": "simes-hochberg",
    "benjamini_hochberg": "fdr_bh",
    "benjamini_yekutieli": "fdr_by",
}


def multitest_cases():
    notes_p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216, 0.222,
               0.251, 0.269, 0.275, 0.34, 0.341, 0.384, 0.569, 0.594, 0.696, 0.762, 0.94,
               0.942, 0.975, 0.986]
    r = np.random.default_rng(77)
    rand_p = np.round(r.uniform(size=37) ** 3, 4)
    rand_p = np.concatenate([rand_p, [0.0, 1.0, rand_p[3], rand_p[3]]])
    r.shuffle(rand_p)
    sets = [
        ("notes25", "the 25 p-values of statistical-tests.md section 7.5", notes_p),
        ("random41_ties",
         "numpy.round(numpy.random.default_rng(77).uniform(size=37) ** 3, 4) with 0, 1 and two "
         "copies of element 3 appended, then shuffled by the same generator", rand_p.tolist()),
        ("single", "one p-value", [0.03]),
        ("all_small", "hand-written", [1e-10, 2e-10, 5e-9, 1e-8]),
    ]
    out = []
    for name, call, p in sets:
        entry = {"name": name, "data_call": call, "p": list(map(float, p)), "adjusted": {}}
        for key, sm in METHODS.items():
            rej, adj, _, _ = multipletests(p, alpha=0.05, method=sm)
            entry["adjusted"][key] = {
                "call": f"statsmodels.stats.multitest.multipletests(p, alpha=0.05, method='{sm}')",
                "values": tolist(adj),
            }
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# Effect sizes
# ---------------------------------------------------------------------------------------------
def top_vectors(a, r):
    w, v = np.linalg.eigh(a)
    return v[:, np.argsort(w)[::-1][:r]]


def effect_cases():
    r = np.random.default_rng(90)
    xa = np.round(r.standard_normal((50, 5)) @ np.diag([3, 2, 1.5, 1, 0.5]), 4)
    xb = np.round(r.standard_normal((60, 5)) @ np.diag([2.5, 2.2, 1.2, 1, 0.7]), 4)
    a = np.cov(xa, rowvar=False)
    b = np.cov(xb, rowvar=False)
    sym = np.round(r.standard_normal((5, 5)), 4)
    near = a + 1e-7 * (sym + sym.T)
    out = []
    for name, m1, m2, call in [
        ("cov_a_vs_cov_b", a, b, "numpy.cov of two rounded Gaussian samples (see data_call)"),
        ("cov_a_vs_near_a", near, a, "a + 1e-7 (S + S^T), S = numpy.round(standard_normal((5,5)), 4)"),
    ]:
        entry = {
            "name": name,
            "data_call": call,
            "a": m1.tolist(),
            "b": m2.tolist(),
            "relative_frobenius": {
                "call": "numpy.linalg.norm(a - b) / numpy.linalg.norm(b)",
                "value": float(np.linalg.norm(m1 - m2) / np.linalg.norm(m2)),
            },
            "top_eigenvalue_ratio": {
                "call": "numpy.linalg.eigvalsh(a)[-1] / numpy.linalg.eigvalsh(b)[-1]",
                "value": float(np.linalg.eigvalsh(m1)[-1] / np.linalg.eigvalsh(m2)[-1]),
            },
            "principal_angles": {},
        }
        for rr in (1, 2, 3):
            ang = np.sort(linalg.subspace_angles(top_vectors(m1, rr), top_vectors(m2, rr)))
            entry["principal_angles"][str(rr)] = {
                "call": f"numpy.sort(scipy.linalg.subspace_angles(U_a, U_b)), U = top-{rr} "
                "eigenvectors from numpy.linalg.eigh",
                "values": tolist(ang),
            }
        out.append(entry)
    out[0]["data_call"] = (
        "r = numpy.random.default_rng(90); a = numpy.cov(numpy.round(r.standard_normal((50, 5)) "
        "@ diag(3, 2, 1.5, 1, 0.5), 4)); b = numpy.cov(numpy.round(r.standard_normal((60, 5)) "
        "@ diag(2.5, 2.2, 1.2, 1, 0.7), 4))"
    )
    return out


# ---------------------------------------------------------------------------------------------
# Tail indices
# ---------------------------------------------------------------------------------------------
def alpha_estimator_numpy(m, X):
    """NumPy port of alpha_estimator (umutsimsekli/sgd_tail_index utils.py, Corollary 2.4).

    Original (torch): N = len(X); n = int(N/m); Y = sum(X.view(n, m, -1), 1);
    eps = np.spacing(1); Y_log_norm = log(Y.norm(dim=1) + eps).mean();
    X_log_norm = log(X.norm(dim=1) + eps).mean(); diff = (Y_log_norm - X_log_norm)/log(m);
    return 1/diff. Here, as in sgd-ou, only the first floor(N/m)*m rows are used when m does
    not divide N (the original requires m | N).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    N = len(X)
    n = N // m
    X = X[: n * m]
    Y = X.reshape(n, m, -1).sum(1)
    eps = np.spacing(1)
    y = np.log(np.linalg.norm(Y, axis=1) + eps).mean()
    x = np.log(np.linalg.norm(X, axis=1) + eps).mean()
    return float(1 / ((y - x) / np.log(m)))


def hill_scipy(x, k):
    s = np.sort(np.abs(x))[::-1]
    b, _, _ = stats.pareto.fit(s[:k], floc=0, fscale=s[k])
    return float(b)


def tail_cases():
    sas = np.round(
        stats.levy_stable.rvs(alpha=1.5, beta=0, size=400, random_state=np.random.default_rng(3)), 6
    )
    gauss = np.round(np.random.default_rng(4).standard_normal(400), 6)
    t3rows = np.round(np.random.default_rng(8).standard_t(3, (300, 3)), 6)
    out = []
    for name, call, x in [
        ("sas15_400", "scipy.stats.levy_stable.rvs(alpha=1.5, beta=0, size=400, "
         "random_state=numpy.random.default_rng(3))", sas),
        ("gauss_400", "numpy.random.default_rng(4).standard_normal(400)", gauss),
    ]:
        entry = {"name": name, "data_call": f"numpy.round({call}, 6)", "data": x.tolist(),
                 "block_sum": {}, "hill": {}}
        for m in (5, 7, 10, 20):
            entry["block_sum"][str(m)] = {
                "call": f"alpha_estimator_numpy({m}, x) (port of sgd_tail_index alpha_estimator)",
                "value": alpha_estimator_numpy(m, x),
            }
        for k in (20, 40):
            entry["hill"][str(k)] = {
                "call": f"scipy.stats.pareto.fit(sorted(|x|, desc)[:{k}], floc=0, "
                f"fscale=sorted(|x|, desc)[{k}])[0]",
                "value": hill_scipy(x, k),
            }
        out.append(entry)
    rows = {
        "name": "t3_rows_300x3",
        "data_call": "numpy.round(numpy.random.default_rng(8).standard_t(3, (300, 3)), 6)",
        "data": t3rows.tolist(),
        "block_sum": {
            str(m): {
                "call": f"alpha_estimator_numpy({m}, X) on the 300 x 3 rows",
                "value": alpha_estimator_numpy(m, t3rows),
            }
            for m in (10, 15)
        },
    }
    return out, rows


def main():
    mvn, degenerate = mvn_cases()
    box, box_big = box_cases()
    tails, tail_rows = tail_cases()
    doc = {
        "generated_by": "tests/reference/generate_multivariate.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
            "pingouin": pingouin.__version__,
            "mpmath": __import__("mpmath").__version__,
        },
        "mvn": mvn,
        "mvn_degenerate": degenerate,
        "box_m": box,
        "box_m_lcg_d100": box_big,
        "multitest": multitest_cases(),
        "effect_sizes": effect_cases(),
        "tails": tails,
        "tails_rows": tail_rows,
    }
    OUT.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
