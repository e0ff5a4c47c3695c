"""Reference values for the truth computations of `src/simulate` (sgd-ou).

Run from the repository root:

    python3 tests/reference/simulate/make_reference.py

It writes `tests/reference/simulate/reference.json`, which the Rust unit tests in
`src/simulate/truth.rs` read. Every value sits beside the exact call that produced it, and the
library versions are recorded. The inputs are fixed here (seeded numpy draws are written out in
full, so the Rust side never needs numpy).
"""

import json
import platform
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg
import scipy.stats

OUT = Path(__file__).with_name("reference.json")


def rows(a):
    return [[float(v) for v in r] for r in np.asarray(a)]


def main():
    rng = np.random.default_rng(20170404)

    # A non-diagonal Hessian with spectrum (1, 1.5, 2, 3) and a noise covariance whose
    # eigenvectors differ from those of H (so H and Q do not commute).
    u, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    w, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    H = u @ np.diag([1.0, 1.5, 2.0, 3.0]) @ u.T
    H = (H + H.T) / 2
    Q = w @ np.diag([0.5, 1.0, 2.0, 0.25]) @ w.T / 32.0
    Q = (Q + Q.T) / 2
    eps = 0.02
    F = np.eye(4) - eps * H
    disc = scipy.linalg.solve_discrete_lyapunov(F, eps**2 * Q)
    cont = scipy.linalg.solve_continuous_lyapunov(H, eps * Q)
    eps_big = 0.4  # eps * lambda_max = 1.2
    F_big = np.eye(4) - eps_big * H
    disc_big = scipy.linalg.solve_discrete_lyapunov(F_big, eps_big**2 * Q)

    # Least squares with exact multiplicative minibatch noise (sampling without replacement).
    n, d, S = 12, 3, 4
    X = rng.standard_normal((n, d)) * np.array([1.0, 1.5, 0.7])
    y = X @ np.array([0.3, -1.0, 0.5]) + 0.4 * rng.standard_normal(n)
    theta_star, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ theta_star
    f = (n - S) / (S * (n - 1))
    eps_ls = 0.05
    Hls = X.T @ X / n
    Cstar = (X * (r**2)[:, None]).T @ X / n
    Fls = np.eye(d) - eps_ls * Hls
    # vec(A S B) = (B^T kron A) vec(S) (column-major vec); all matrices here are symmetric.
    K = np.kron(Fls, Fls) + eps_ls**2 * f * (
        sum(np.kron(np.outer(x, x), np.outer(x, x)) for x in X) / n - np.kron(Hls, Hls)
    )
    vecS = np.linalg.solve(np.eye(d * d) - K, (eps_ls**2 * f * Cstar).reshape(-1, order="F"))
    sigma_ls = vecS.reshape(d, d, order="F")
    sigma_ls = (sigma_ls + sigma_ls.T) / 2

    xs = [-20.0, -5.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0, 20.0]
    stable = []
    for alpha in (1.5, 1.1):
        cdf = scipy.stats.levy_stable.cdf(xs, alpha, 0.0)
        stable.append(
            {
                "alpha": alpha,
                "x": xs,
                "cdf": [float(v) for v in cdf],
                "call": f"scipy.stats.levy_stable.cdf(x, {alpha}, 0.0)  # S1 = S0 at beta = 0; cf exp(-|t|^alpha)",
            }
        )

    out = {
        "generated_by": "tests/reference/simulate/make_reference.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "lyapunov": {
            "H": rows(H),
            "Q": rows(Q),
            "eps": eps,
            "discrete": rows(disc),
            "discrete_call": "scipy.linalg.solve_discrete_lyapunov(np.eye(4) - eps * H, eps**2 * Q)",
            "continuous": rows(cont),
            "continuous_call": "scipy.linalg.solve_continuous_lyapunov(H, eps * Q)",
        },
        "lyapunov_large_step": {
            "eps": eps_big,
            "discrete": rows(disc_big),
            "discrete_call": "scipy.linalg.solve_discrete_lyapunov(np.eye(4) - eps * H, eps**2 * Q)",
        },
        "least_squares_stationary": {
            "X": rows(X),
            "r": [float(v) for v in r],
            "S": S,
            "eps": eps_ls,
            "sigma": rows(sigma_ls),
            "call": "np.linalg.solve(I - (kron(F, F) + eps**2 f (mean_i kron(x_i x_i^T, x_i x_i^T) - kron(H, H))), "
            "vec(eps**2 f Cstar)) with F = I - eps H, H = X^T X / n, Cstar = mean_i r_i^2 x_i x_i^T, "
            "f = (n - S) / (S (n - 1)), r = y - X lstsq(X, y)",
        },
        "levy_stable_cdf": stable,
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
