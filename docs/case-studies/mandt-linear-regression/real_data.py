#!/usr/bin/env python3
"""Case study 1, part B: constant-rate SGD on a real linear regression (scikit-learn's diabetes
data, which ships offline), recorded with the Python recorder over an ε × S grid.

    python3 real_data.py OUT_DIR [--reduced]

Writes OUT_DIR/runs/<eps>_<S>/ (sgd-ou run directories, format v2), OUT_DIR/numbers.json (the
per-run traces: observed, and the continuous, discrete and exact predictions, in the full
parameter space) and OUT_DIR/figure.svg (observed / predicted trace against ε·λ_max). `sgd-ou compare` is
run on the runs by run.sh.

Model: standardised features (10) plus an intercept, d = 11, standardised target, per-example
loss l_i(θ) = ½(x_iᵀθ − y_i)² + (ρ/2)‖θ‖² with ρ = 0.1 (a Gaussian prior / weight decay that
keeps the smallest curvature at ≈ 0.11: without it the collinear serum columns give λ_min ≈
0.009 and relaxation times of 10⁴–10⁵ steps). Hessian A = XᵀX/N + ρI (exact, constant); the
per-example gradients x_i(x_iᵀθ − y_i) + ρθ are exact. Minibatches: S distinct indices drawn
afresh each step (without replacement), so Cov(ĝ) = f·C with f = (N − S)/(S(N − 1)) and C the
population covariance of the per-example gradients at θ* (1/N).

Predictions, in A's eigenbasis (A symmetric), with C̃ = VᵀCV:
  continuous (Mandt et al. 2017): AΣ + ΣA = ε f C      → Σ̃_ij = ε f C̃_ij / (λ_i + λ_j)
  discrete (exact for a quadratic loss with constant C):
      AΣ + ΣA − εAΣA = ε f C → Σ̃_ij = ε f C̃_ij / (λ_i + λ_j − ε λ_i λ_j);
  exact (with the noise's dependence on θ, see exact_trace): the second-moment recursion
      Σ = (I − εA)Σ(I − εA) + ε² f (C + E_i[K_i Σ K_i]),  K_i = x_i x_iᵀ − XᵀX/N.
Observed: the covariance of the recorded trajectory (after a burn-in of 8 relaxation times of
the slowest mode); its standard error by batch means (20 batches) of ‖θ_t − θ̄‖².
"""

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "python"))
from sgd_ou_recorder import Recorder  # noqa: E402

RIDGE = 0.1
EPS_LAMBDA = (0.05, 0.2, 0.5, 1.0, 1.5)  # ε·λ_max of the grid (stable below 2)
BATCH = (4, 16, 64)
CHECKPOINTS = 8


def data():
    x, y = load_diabetes(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    y = (y - y.mean()) / y.std()
    x = np.hstack([x, np.ones((len(y), 1))])
    return x, y


def per_example_grads(x, y, theta):
    r = x @ theta - y
    return x * r[:, None] + RIDGE * theta[None, :]


def predictions(a_eig, a_vec, c, eps, f):
    """Traces of the continuous and the discrete Lyapunov solutions (formulas in the module
    docstring). Cost O(d³)."""
    ct = a_vec.T @ c @ a_vec
    li, lj = a_eig[:, None], a_eig[None, :]
    cont = eps * f * ct / (li + lj)
    disc = eps * f * ct / (li + lj - eps * li * lj)
    return float(np.trace(cont)), float(np.trace(disc))


def exact_trace(x, a, c, eps, f):
    """The exact stationary second moment of SGD on this quadratic loss, with the noise's
    dependence on θ: g_i(θ) = g_i(θ*) + H_i(θ − θ*), H_i = x_i x_iᵀ + ρI, so
    E[Cov(ĝ | θ)] = f·(C + E_i[K_i Σ K_i]) with K_i = H_i − A, and
        Σ = (I − εA) Σ (I − εA) + ε² f (C + E_i[K_i Σ K_i]),
    a linear equation in vec Σ (Kronecker form, d² unknowns). `None` when the iteration's
    second moment is unstable (spectral radius ≥ 1: the variance grows without bound).
    Cost O(N d⁴ + d⁶)."""
    n, d = x.shape
    b = np.eye(d) - eps * a
    kk = np.zeros((d * d, d * d))
    for xi in x:
        k = np.outer(xi, xi) - (a - RIDGE * np.eye(d))
        kk += np.kron(k, k)
    t = np.kron(b, b) + eps * eps * f * kk / n
    if np.max(np.abs(np.linalg.eigvals(t))) >= 1.0:
        return None
    sigma = np.linalg.solve(np.eye(d * d) - t, eps * eps * f * c.reshape(-1))
    return float(np.trace(sigma.reshape(d, d)))


def run_one(out, x, y, eps, s, steps, seed, theta_star, lam_min):
    n, d = x.shape
    rng = np.random.default_rng(seed)
    theta = theta_star.copy()
    burn = int(8 / (eps * lam_min))
    every = steps // CHECKPOINTS
    hess = x.T @ x / n + RIDGE * np.eye(d)
    traj = np.empty((steps, d))
    names = [f"x{j}" for j in range(d - 1)] + ["intercept"]
    rec = Recorder(out, learning_rate=eps, batch_size=s, dataset_size=n,
                   sampling="without_replacement", loss_reduction="mean",
                   parameters=[(nm, ()) for nm in names], overwrite=True,
                   model="linear regression (ridge 0.1)", dataset="sklearn load_diabetes",
                   seed=seed, framework="numpy")
    for t in range(burn + steps):
        idx = rng.choice(n, size=s, replace=False)
        xb, yb = x[idx], y[idx]
        g = xb.T @ (xb @ theta - yb) / s + RIDGE * theta
        if t >= burn:
            k = t - burn
            traj[k] = theta
            if k % every == every // 2:
                grads = per_example_grads(x, y, theta)
                loss = 0.5 * (x @ theta - y) ** 2 + 0.5 * RIDGE * theta @ theta
                rec.checkpoint(k, theta, grads, losses=loss, hessian=hess)
        theta = theta - eps * g
    for k in range(steps):
        rec.trajectory_point(k, traj[k])
    rec.close()
    return traj


def observed_trace(traj, batches=20):
    dev = traj - traj.mean(0)
    q = (dev ** 2).sum(1)
    m = len(q) // batches
    means = q[: m * batches].reshape(batches, m).mean(1)
    return float(q.mean()), float(means.std(ddof=1) / np.sqrt(batches))


def main():
    out = Path(sys.argv[1])
    reduced = "--reduced" in sys.argv[2:]
    eps_lambda = (0.05, 0.5, 1.5) if reduced else EPS_LAMBDA
    batch = (4, 64) if reduced else BATCH
    steps = 8000 if reduced else 40000
    x, y = data()
    n, d = x.shape
    a = x.T @ x / n + RIDGE * np.eye(d)
    a_eig, a_vec = np.linalg.eigh(a)
    theta_star = np.linalg.solve(a, x.T @ y / n)
    g = per_example_grads(x, y, theta_star)
    c = np.cov(g.T, bias=True)
    lam_max, lam_min = float(a_eig[-1]), float(a_eig[0])
    rows = []
    seed = 1000
    for el in eps_lambda:
        eps = el / lam_max
        for s in batch:
            f = (n - s) / (s * (n - 1))
            name = f"eps{el}_s{s}"
            traj = run_one(out / "runs" / name, x, y, eps, s, steps, seed, theta_star, lam_min)
            obs, se = observed_trace(traj)
            cont, disc = predictions(a_eig, a_vec, c, eps, f)
            exact = exact_trace(x, a, c, eps, f)
            rows.append({"run": name, "eps": eps, "eps_lambda_max": el, "batch_size": s,
                         "f": f, "seed": seed, "trace_observed": obs, "trace_observed_se": se,
                         "trace_continuous": cont, "trace_discrete": disc,
                         "trace_exact": exact})
            ex = "unstable" if exact is None else f"{obs / exact:.3f}"
            print(f"{name}: ε = {eps:.4g}, tr Σ̂ = {obs:.4g} ± {se:.2g}, obs/continuous = "
                  f"{obs / cont:.3f}, obs/discrete = {obs / disc:.3f}, obs/exact = {ex}",
                  flush=True)
            seed += 1
    summary = {"dataset": "sklearn load_diabetes (N = 442, 10 features + intercept)",
               "ridge": RIDGE, "N": n, "d": d, "steps": steps, "lambda_max": lam_max,
               "lambda_min": lam_min, "trace_C_at_optimum": float(np.trace(c)),
               "reduced": reduced, "runs": rows}
    (out / "numbers.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "figure.svg").write_text(figure(rows, lam_max))


def figure(rows, lam_max):
    """Hand-written SVG: observed / predicted tr Σ against ε·λ_max (log axis), continuous
    (orange circles) and discrete (blue squares) prediction, ±2 SE bars, line at 1, and the
    top mode's continuous-time error 1/(1 − ελ_max/2) as a dashed curve."""
    w, h, ml, mr, mt, mb = 640, 420, 70, 20, 40, 60
    xs = [r["eps_lambda_max"] for r in rows]
    lx0, lx1 = np.log10(min(xs) / 1.4), np.log10(max(xs) * 1.25)
    y0, y1 = 0.6, 2.0  # larger ratios are drawn at the top edge with an arrow

    def px(v):
        return ml + (np.log10(v) - lx0) / (lx1 - lx0) * (w - ml - mr)

    def py(v):
        return h - mb - (v - y0) / (y1 - y0) * (h - mt - mb)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">Linear regression '
           f'(diabetes, d = 11): observed / predicted tr Σ</text>']
    out.append(f'<line x1="{ml}" y1="{h - mb}" x2="{w - mr}" y2="{h - mb}" stroke="black"/>')
    out.append(f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{h - mb}" stroke="black"/>')
    for v in (0.05, 0.1, 0.2, 0.5, 1.0, 2.0):
        if 10 ** lx0 <= v <= 10 ** lx1:
            out.append(f'<line x1="{px(v):.1f}" y1="{h - mb}" x2="{px(v):.1f}" '
                       f'y2="{h - mb + 5}" stroke="black"/><text x="{px(v):.1f}" '
                       f'y="{h - mb + 18}" text-anchor="middle">{v:g}</text>')
    tick = 0.6
    while tick <= y1 + 1e-9:
        out.append(f'<line x1="{ml - 5}" y1="{py(tick):.1f}" x2="{ml}" y2="{py(tick):.1f}" '
                   f'stroke="black"/><text x="{ml - 8}" y="{py(tick) + 4:.1f}" '
                   f'text-anchor="end">{tick:.1f}</text>')
        tick = round(tick + 0.2, 10)
    out.append(f'<text x="{(ml + w - mr) / 2}" y="{h - 15}" text-anchor="middle">ε·λ_max '
               f'(λ_max = {lam_max:.3f})</text>')
    out.append(f'<text transform="translate(18,{(mt + h - mb) / 2}) rotate(-90)" '
               f'text-anchor="middle">tr Σ̂ / tr Σ_pred</text>')
    out.append(f'<line x1="{ml}" y1="{py(1):.1f}" x2="{w - mr}" y2="{py(1):.1f}" '
               f'stroke="gray" stroke-dasharray="2,2"/>')
    curve = " ".join(f"{px(v):.1f},{py(1 / (1 - v / 2)):.1f}"
                     for v in np.geomspace(10 ** lx0, 10 ** lx1, 60) if py(1 / (1 - v / 2)) > mt)
    out.append(f'<polyline points="{curve}" fill="none" stroke="#d95f02" '
               f'stroke-dasharray="6,4"/>')
    jitter = {s: k for k, s in enumerate(sorted({r["batch_size"] for r in rows}))}
    for r in rows:
        dx = (jitter[r["batch_size"]] - (len(jitter) - 1) / 2) * 0.025
        xv = 10 ** (np.log10(r["eps_lambda_max"]) + dx)
        for pred, colour, shape in SERIES:
            out.extend(marker(r, pred, colour, shape, px(xv), py, y1))
    lx, ly = ml + 15, mt + 10
    out.append(f'<circle cx="{lx}" cy="{ly}" r="4" fill="none" stroke="#d95f02" '
               f'stroke-width="1.5"/><text x="{lx + 10}" y="{ly + 4}">observed / continuous '
               f'(Mandt) prediction</text>')
    out.append(f'<rect x="{lx - 4}" y="{ly + 16}" width="8" height="8" fill="#1b6ac9"/>'
               f'<text x="{lx + 10}" y="{ly + 24}">observed / discrete prediction</text>')
    out.append(f'<path d="M{lx - 4},{ly + 44} L{lx + 4},{ly + 44} L{lx},{ly + 36} Z" '
               f'fill="#1b9e77"/><text x="{lx + 10}" y="{ly + 44}">observed / exact prediction '
               f'(θ-dependent noise)</text>')
    out.append(f'<line x1="{lx - 6}" y1="{ly + 58}" x2="{lx + 6}" y2="{ly + 58}" '
               f'stroke="#d95f02" stroke-dasharray="6,4"/><text x="{lx + 10}" y="{ly + 62}">'
               f'top mode: 1/(1 − ελ_max/2)</text>')
    out.append(f'<text x="{lx + 10}" y="{ly + 80}">bars: ±2 SE (batch means); S = '
               f'{", ".join(str(s) for s in sorted(jitter))} left to right; ↑ off scale or '
               f'unstable</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


SERIES = (("trace_continuous", "#d95f02", "circle"), ("trace_discrete", "#1b6ac9", "square"),
          ("trace_exact", "#1b9e77", "triangle"))


def marker(r, pred, colour, shape, cx, py, y_top):
    """One run's ratio observed / `pred` with ±2 SE, or an arrow at the top edge when the ratio
    is above the axis or the prediction does not exist (unstable second moment)."""
    if r[pred] is None or r["trace_observed"] / r[pred] > y_top:
        yt = py(y_top)
        return [f'<path d="M{cx - 4:.1f},{yt + 8:.1f} L{cx + 4:.1f},{yt + 8:.1f} '
                f'L{cx:.1f},{yt:.1f} Z" fill="none" stroke="{colour}"/>']
    ratio = r["trace_observed"] / r[pred]
    err = 2 * r["trace_observed_se"] / r[pred]
    cy = py(ratio)
    out = [f'<line x1="{cx:.1f}" y1="{py(ratio - err):.1f}" x2="{cx:.1f}" '
           f'y2="{py(min(ratio + err, y_top)):.1f}" stroke="{colour}"/>']
    if shape == "square":
        out.append(f'<rect x="{cx - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" '
                   f'fill="{colour}"/>')
    elif shape == "triangle":
        out.append(f'<path d="M{cx - 4:.1f},{cy + 4:.1f} L{cx + 4:.1f},{cy + 4:.1f} '
                   f'L{cx:.1f},{cy - 4:.1f} Z" fill="{colour}"/>')
    else:
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="none" stroke="{colour}" '
                   f'stroke-width="1.5"/>')
    return out


if __name__ == "__main__":
    main()
