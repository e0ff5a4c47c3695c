#!/usr/bin/env python3
"""Reference values for the OU module (src/ou/), written to tests/reference/ou.json.

Run from the repository root:

    python tests/reference/generate_ou.py

Requires numpy, scipy, statsmodels and arviz==0.23.4 (ESS reference). Every entry of the JSON
records the exact call that produced its value ("call") beside the inputs and outputs; the
library versions are recorded at the top. All inputs are fixed literals or come from
numpy.random.default_rng with a recorded seed, and are stored in the JSON, so the Rust tests never
need Python. Floats are written with repr() and round-trip exactly.
"""

import json
import platform
import sys
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg as sla
import statsmodels
from statsmodels.tsa.api import VAR

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import arviz
    from arviz.stats.diagnostics import _ess

OUT = Path(__file__).with_name("ou.json")


def m2l(m):
    return [[float(v) for v in row] for row in np.asarray(m, dtype=float)]


def v2l(v):
    return [float(x) for x in np.asarray(v, dtype=float).ravel()]


# ---------------------------------------------------------------------------------------------
# Fixed matrices. Non-symmetric, non-commuting with Q; the k = 3 drift has a complex pair.
# ---------------------------------------------------------------------------------------------
A2 = np.array([[1.5, 0.7], [-0.3, 0.8]])
Q2 = np.array([[1.0, 0.2], [0.2, 0.5]])

A3 = np.array([[0.9, -1.2, 0.3], [1.1, 0.7, -0.4], [0.2, 0.5, 1.3]])
Q3 = np.array([[2.0, 0.3, -0.1], [0.3, 1.0, 0.2], [-0.1, 0.2, 0.8]])

_rng5 = np.random.default_rng(20170404)
_m5 = _rng5.standard_normal((5, 5))
A5 = _m5 + (1.0 - np.linalg.eigvals(_m5).real.min()) * np.eye(5)
_b5 = _rng5.standard_normal((5, 5))
Q5 = _b5 @ _b5.T / 5 + 0.1 * np.eye(5)
GEN5 = (
    "rng = np.random.default_rng(20170404); m = rng.standard_normal((5, 5)); "
    "a = m + (1 - np.linalg.eigvals(m).real.min()) * np.eye(5); b = rng.standard_normal((5, 5)); "
    "q = b @ b.T / 5 + 0.1 * np.eye(5)"
)

# Symmetric positive-definite drift (eigendecomposition path of the solvers).
A4S = np.array(
    [[2.0, 0.3, -0.2, 0.1], [0.3, 1.5, 0.4, 0.0], [-0.2, 0.4, 1.0, 0.25], [0.1, 0.0, 0.25, 0.6]]
)
Q4 = np.array(
    [[1.0, 0.1, 0.0, 0.2], [0.1, 0.8, -0.1, 0.0], [0.0, -0.1, 0.6, 0.05], [0.2, 0.0, 0.05, 0.4]]
)

# General (non-symmetric) right-hand side.
Q3G = np.array([[1.0, 0.5, 0.0], [-0.2, 2.0, 0.3], [0.1, 0.0, 1.5]])

# Indefinite but non-singular drift: eigenvalues 1 and -3, no pair sums to 0.
A2I = np.array([[1.0, 2.0], [0.0, -3.0]])

continuous = []
for name, a, q, gen in [
    ("k2", A2, Q2, "literal"),
    ("k3_complex_pair", A3, Q3, "literal"),
    ("k5", A5, Q5, GEN5),
    ("k4_symmetric", A4S, Q4, "literal"),
    ("k3_general_q", A3, Q3G, "literal"),
    ("k2_indefinite", A2I, Q2, "literal"),
]:
    x = sla.solve_continuous_lyapunov(a, q)
    continuous.append(
        {
            "name": name,
            "inputs": gen,
            "call": "scipy.linalg.solve_continuous_lyapunov(a, q)",
            "a": m2l(a),
            "q": m2l(q),
            "x": m2l(x),
        }
    )

F2 = np.array([[0.5, 0.4], [-0.2, 0.7]])
F3 = np.array([[0.3, -0.6, 0.1], [0.5, 0.4, 0.2], [0.0, 0.1, -0.5]])
_rngf = np.random.default_rng(1992)
_mf = _rngf.standard_normal((5, 5))
F5 = 0.9 * _mf / np.abs(np.linalg.eigvals(_mf)).max()
GENF5 = (
    "rng = np.random.default_rng(1992); m = rng.standard_normal((5, 5)); "
    "f = 0.9 * m / np.abs(np.linalg.eigvals(m)).max()"
)
F3S = np.array([[0.6, 0.2, -0.1], [0.2, -0.3, 0.15], [-0.1, 0.15, 0.4]])

discrete = []
for name, f, q, gen in [
    ("k2", F2, Q2, "literal"),
    ("k3_complex_pair", F3, Q3, "literal"),
    ("k5_rho_0.9", F5, Q5, GENF5 + "; q as in continuous k5"),
    ("k3_symmetric", F3S, Q3, "literal"),
    ("k3_general_q", F3, Q3G, "literal"),
]:
    x = sla.solve_discrete_lyapunov(f, q)
    discrete.append(
        {
            "name": name,
            "inputs": gen,
            "call": "scipy.linalg.solve_discrete_lyapunov(f, q)",
            "spectral_radius": float(np.abs(np.linalg.eigvals(f)).max()),
            "f": m2l(f),
            "q": m2l(q),
            "x": m2l(x),
        }
    )

stationary = []
for name, a, q, lr in [
    ("k2", A2, Q2, 0.2),
    ("k3_complex_pair", A3, Q3, 0.1),
    ("k5", A5, Q5, 0.05),
    ("k4_symmetric", A4S, Q4, 0.5),
]:
    k = a.shape[0]
    sc = sla.solve_continuous_lyapunov(a, lr * q)
    sd = sla.solve_discrete_lyapunov(np.eye(k) - lr * a, lr**2 * q)
    stationary.append(
        {
            "name": name,
            "lr": lr,
            "call_continuous": "scipy.linalg.solve_continuous_lyapunov(a, lr * q)",
            "call_discrete": "scipy.linalg.solve_discrete_lyapunov(np.eye(k) - lr * a, lr**2 * q)",
            "a": m2l(a),
            "q": m2l(q),
            "sigma_continuous": m2l(sc),
            "sigma_discrete": m2l(sd),
            # Gap metrics between the two predictions (discrete against continuous).
            "call_relative_frobenius": "np.linalg.norm(sd - sc) / np.linalg.norm(sc)",
            "relative_frobenius": float(np.linalg.norm(sd - sc) / np.linalg.norm(sc)),
            "call_kl": "0.5 * (np.trace(np.linalg.solve(sc, sd)) - k + np.linalg.slogdet(sc)[1] - np.linalg.slogdet(sd)[1])",
            "kl": float(
                0.5
                * (
                    np.trace(np.linalg.solve(sc, sd))
                    - k
                    + np.linalg.slogdet(sc)[1]
                    - np.linalg.slogdet(sd)[1]
                )
            ),
            "call_whitened_eigenvalues": "scipy.linalg.eigh(sd, sc, eigvals_only=True)",
            "whitened_eigenvalues": v2l(sla.eigh(sd, sc, eigvals_only=True)),
            # Mode diagnostics.
            "call_symmetric_part_eigenvalues": "np.sort(np.linalg.eigvalsh(0.5 * (a + a.T)))[::-1]",
            "symmetric_part_eigenvalues": v2l(np.sort(np.linalg.eigvalsh(0.5 * (a + a.T)))[::-1]),
            "call_spectral_radius": "np.abs(np.linalg.eigvals(np.eye(k) - lr * a)).max()",
            "spectral_radius": float(np.abs(np.linalg.eigvals(np.eye(k) - lr * a)).max()),
        }
    )

# Gaussian KL between two unrelated SPD matrices (k = 3), both orders.
S1 = np.array([[1.0, 0.3, 0.1], [0.3, 2.0, -0.4], [0.1, -0.4, 0.7]])
S2 = np.array([[1.5, -0.2, 0.0], [-0.2, 1.0, 0.3], [0.0, 0.3, 0.9]])


def kl(s1, s2):
    k = s1.shape[0]
    return float(
        0.5
        * (np.trace(np.linalg.solve(s2, s1)) - k + np.linalg.slogdet(s2)[1] - np.linalg.slogdet(s1)[1])
    )


gaussian_kl = {
    "call": "0.5 * (np.trace(np.linalg.solve(s2, s1)) - k + np.linalg.slogdet(s2)[1] - np.linalg.slogdet(s1)[1])",
    "s1": m2l(S1),
    "s2": m2l(S2),
    "kl_12": kl(S1, S2),
    "kl_21": kl(S2, S1),
    "call_whitened_eigenvalues": "scipy.linalg.eigh(s1, s2, eigvals_only=True)",
    "whitened_eigenvalues_12": v2l(sla.eigh(S1, S2, eigvals_only=True)),
}

# ---------------------------------------------------------------------------------------------
# VAR(1) fit of a simulated linear SGD chain: theta_{t+1} = (I - lr A) theta_t + lr A mu - lr xi_t.
# ---------------------------------------------------------------------------------------------
_rngv = np.random.default_rng(7)
AV = np.array([[1.0, 0.2, 0.0], [0.2, 0.6, -0.1], [0.0, -0.1, 0.3]])
QV = np.array([[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.8]])
LRV = 0.2
MUV = np.array([0.5, -1.0, 2.0])
TV = 600
LV = np.linalg.cholesky(QV)
traj = np.empty((TV, 3))
traj[0] = MUV
for t in range(TV - 1):
    xi = LV @ _rngv.standard_normal(3)
    traj[t + 1] = traj[t] - LRV * (AV @ (traj[t] - MUV)) - LRV * xi
res = VAR(traj).fit(1, trend="c")
var1 = {
    "simulation": (
        "rng = np.random.default_rng(7); L = np.linalg.cholesky(q); theta_0 = mu; "
        "theta_{t+1} = theta_t - lr * a @ (theta_t - mu) - lr * L @ rng.standard_normal(3)"
    ),
    "a": m2l(AV),
    "q": m2l(QV),
    "lr": LRV,
    "mu": v2l(MUV),
    "call": "statsmodels.tsa.api.VAR(traj).fit(1, trend='c')",
    "traj": m2l(traj),
    "coefs": m2l(res.coefs[0]),
    "intercept": v2l(res.intercept),
    "sigma_u": m2l(res.sigma_u),
    "df_resid": int(res.df_resid),
}

# ---------------------------------------------------------------------------------------------
# Least-squares gradient regression g_i = A theta_i + b (+ noise).
# ---------------------------------------------------------------------------------------------
_rngg = np.random.default_rng(11)
AG = np.array([[2.0, 0.5, -0.3], [0.4, 1.0, 0.2], [-0.3, 0.1, 0.5]])
BG = np.array([0.3, -0.2, 0.1])
pos = _rngg.standard_normal((12, 3))
grads = pos @ AG.T + BG + 0.05 * _rngg.standard_normal((12, 3))
design = np.c_[pos, np.ones(12)]
coef, *_ = np.linalg.lstsq(design, grads, rcond=None)
fitted = design @ coef
ssr = float(((grads - fitted) ** 2).sum())
sst = float(((grads - grads.mean(axis=0)) ** 2).sum())
a_hat = coef[:3].T
b_hat = coef[3]
gradient_regression = {
    "simulation": (
        "rng = np.random.default_rng(11); pos = rng.standard_normal((12, 3)); "
        "grads = pos @ a.T + b + 0.05 * rng.standard_normal((12, 3))"
    ),
    "positions": m2l(pos),
    "mean_grads": m2l(grads),
    "call": "coef = np.linalg.lstsq(np.c_[pos, np.ones(12)], grads, rcond=None)[0]; a_hat = coef[:3].T; b_hat = coef[3]",
    "a_hat": m2l(a_hat),
    "b_hat": v2l(b_hat),
    "call_r_squared": "1 - ((grads - fitted)**2).sum() / ((grads - grads.mean(0))**2).sum()",
    "r_squared": 1.0 - ssr / sst,
    "call_relative_residual": "np.linalg.norm(grads - fitted) / np.linalg.norm(grads)",
    "relative_residual": float(np.linalg.norm(grads - fitted) / np.linalg.norm(grads)),
    "call_centre": "-np.linalg.solve(a_hat, b_hat)",
    "centre": v2l(-np.linalg.solve(a_hat, b_hat)),
    "call_compare": "np.linalg.norm(a_hat - a) / np.linalg.norm(a); eigvalsh of symmetric parts, descending",
    "a_true": m2l(AG),
    "compare_relative_frobenius": float(np.linalg.norm(a_hat - AG) / np.linalg.norm(AG)),
    "compare_eigenvalues": v2l(np.sort(np.linalg.eigvalsh(0.5 * (a_hat + a_hat.T)))[::-1]),
    "compare_reference_eigenvalues": v2l(np.sort(np.linalg.eigvalsh(0.5 * (AG + AG.T)))[::-1]),
}

# ---------------------------------------------------------------------------------------------
# Effective sample size (ArviZ, split-chain Geyer initial monotone sequence).
# ---------------------------------------------------------------------------------------------
_rnge = np.random.default_rng(2021)


def ar1(phi, n):
    e = _rnge.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


series = [
    ("ar1_phi0.9_n1000", ar1(0.9, 1000)),
    ("ar1_phi-0.5_n501", ar1(-0.5, 501)),
    ("white_n200", _rnge.standard_normal(200)),
    ("random_walk_n300", np.cumsum(_rnge.standard_normal(300))),
    ("ar1_phi0.99_n3000", ar1(0.99, 3000)),
    ("short_n9", _rnge.standard_normal(9)),
]
ess_entries = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name, x in series:
        ess_entries.append(
            {
                "name": name,
                "call": "arviz.ess(x, method='mean')",
                "x": v2l(x),
                "ess": float(arviz.ess(x, method="mean")),
            }
        )
    chains = np.vstack([ar1(0.7, 400) for _ in range(3)])
    chains[2] += 0.3  # a shifted chain, so the between-chain variance matters
    ess_chains = {
        "name": "three_ar1_chains_phi0.7_n400_third_shifted",
        "call": "arviz.stats.diagnostics._ess(chains)  # no splitting",
        "chains": m2l(chains),
        "ess": float(_ess(chains)),
    }

out = {
    "generator": "tests/reference/generate_ou.py",
    "versions": {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "arviz": arviz.__version__,
    },
    "continuous_lyapunov": continuous,
    "discrete_lyapunov": discrete,
    "stationary": stationary,
    "gaussian_kl": gaussian_kl,
    "var1": var1,
    "gradient_regression": gradient_regression,
    "ess": ess_entries,
    "ess_chains": ess_chains,
}
OUT.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {OUT}", file=sys.stderr)
