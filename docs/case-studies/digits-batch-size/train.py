"""Case study 2: constant-rate SGD on scikit-learn's digits with a small JAX MLP, one run
directory (sgd-ou format 2, written by the Python recorder) per batch size S.

    python3 train.py OUT_DIR [--reduced] [--batch-sizes 4 16 64 256] [--lr 0.1]

Model: 61-32-10 MLP (tanh hidden layer, softmax cross-entropy) on the 1,797 digits images,
the 3 pixels that are 0 in every image dropped and the other 61 standardised; L2 weight decay
(wd/2)·‖θ‖², wd = 0.02, on every parameter (added to each example's loss, so it is part of
every per-example gradient), which makes the minimum isolated (it adds wd·I to the
cross-entropy's Hessian).

Procedure (the same θ* for every S):
1. full-batch gradient descent from a seeded initialisation to the minimum θ* (‖∇L‖ is
   printed);
2. per S: constant-rate SGD θ ← θ − ε·(1/S)Σ_{i∈B}∇l_i with S distinct examples drawn afresh
   every step ("without_replacement"), a burn-in of `burn` steps from θ* (several times the
   1/(ε·wd) relaxation time), then `checkpoints` checkpoints `spacing` steps apart holding the
   per-example gradients of all N examples (vmap(grad), float32), with the trajectory recorded
   at every step in between (float32); no full Hessian (d × d, 43 MB in float64);
3. a Hessian basis (top 8 eigenpairs by Lanczos on jax.jvp(jax.grad)) at the window's first
   step, and V H Vᵀ at every checkpoint (8 Hessian-vector products).

Also writes OUT_DIR/theta_star.npy and OUT_DIR/fixed_iterates.npz (the window's first iterate
of each S) and train.json (settings, θ*'s gradient norm and λ_max) for tails.py and report.py.
Cost: O(steps·S·d) for SGD, O(N·d) per checkpoint for the gradients and per Hessian-vector
product.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from sgd_ou_recorder import Recorder  # noqa: E402
from sgd_ou_recorder import jax as sj  # noqa: E402

HIDDEN = 32
WEIGHT_DECAY = 0.02
BASIS_DIM = 8


def load_data():
    """Digits (N = 1,797): constant pixels dropped, the rest standardised; labels one-hot."""
    x, y = load_digits(return_X_y=True)
    keep = x.std(axis=0) > 0
    x = x[:, keep]
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return jnp.asarray(x), jnp.asarray(np.eye(10)[y]), int(keep.sum())


def init_params(key, d_in):
    k1, k2 = jax.random.split(key)
    return {"fc1": {"w": jax.random.normal(k1, (d_in, HIDDEN)) / np.sqrt(d_in),
                    "b": jnp.zeros(HIDDEN)},
            "fc2": {"w": jax.random.normal(k2, (HIDDEN, 10)) / np.sqrt(HIDDEN),
                    "b": jnp.zeros(10)}}


def make_losses(unravel):
    """loss_one(θ, x, y) of one example (with the weight decay) and loss_mean over a batch."""

    def loss_one(theta, x, y):
        p = unravel(theta)
        h = jnp.tanh(x @ p["fc1"]["w"] + p["fc1"]["b"])
        z = h @ p["fc2"]["w"] + p["fc2"]["b"]
        ce = -jnp.sum(y * jax.nn.log_softmax(z))
        return ce + 0.5 * WEIGHT_DECAY * jnp.sum(theta ** 2)

    def loss_mean(theta, xs, ys):
        return jnp.mean(jax.vmap(loss_one, in_axes=(None, 0, 0))(theta, xs, ys))

    return loss_one, loss_mean


def minimise(loss_mean, theta, xs, ys, steps, lr):
    """Full-batch gradient descent (lax.fori_loop); returns θ and ‖∇L(θ)‖."""
    grad = jax.grad(loss_mean)

    @jax.jit
    def run(t):
        return jax.lax.fori_loop(0, steps, lambda _, u: u - lr * grad(u, xs, ys), t)

    theta = run(theta)
    return theta, float(jnp.linalg.norm(grad(theta, xs, ys)))


def sgd_chunk(loss_mean):
    """jit'd lax.scan over a (T, S) index array: returns the final θ and the T iterates
    θ_{t+1} after each update (cost O(T·S·d))."""
    grad = jax.grad(loss_mean)

    @jax.jit
    def run(theta, idx, xs, ys, lr):
        def step(t, i):
            t = t - lr * grad(t, xs[i], ys[i])
            return t, t
        return jax.lax.scan(step, theta, idx)

    return run


def draw_batches(rng, steps, n, s):
    """(steps, S) indices, S distinct examples per step, fresh every step."""
    return np.argpartition(rng.random((steps, n)), s - 1, axis=1)[:, :s]


def record_run(out, s, cfg, data, fns, theta_star, pmap, seed):
    """Burn-in from θ*, then the recorded window of one batch size; returns the run directory
    and the window's first iterate (the fixed iterate of tails.py)."""
    xs, ys, n = data
    loss_one, loss_mean, run_chunk = fns
    lr, burn, spacing, k = cfg["lr"], cfg["burn"], cfg["spacing"], cfg["checkpoints"]
    rng = np.random.default_rng(seed)
    theta, _ = run_chunk(theta_star, draw_batches(rng, burn, n, s), xs, ys, lr)
    rec = Recorder(out, learning_rate=lr, batch_size=s, dataset_size=n,
                   sampling="without_replacement", parameters=pmap, overwrite=True,
                   model=f"MLP {xs.shape[1]}-{HIDDEN}-10 tanh, softmax cross-entropy, "
                         f"weight decay {WEIGHT_DECAY}",
                   dataset="sklearn load_digits (N = 1797, 61 non-constant pixels standardised)",
                   framework=f"jax {jax.__version__}", seed=seed,
                   notes=f"burn-in {burn} steps from the full-batch minimum; basis at the "
                         "window's first step (Lanczos, top 8)")
    first = theta
    e = sj.hessian_eigenpairs(loss_mean, first, xs, ys, BASIS_DIM)
    rec.basis(e.eigvecs, e.eigvals, e.residuals, at_step=burn)
    hvp_basis = rec.eigvecs
    step = burn
    for c in range(k):
        ck = np.asarray(theta)
        g = sj.per_example_grads(loss_one, theta, xs, ys).astype(np.float32)
        b = sj.hessian_in_basis(loss_mean, theta, xs, ys, hvp_basis)
        rec.checkpoint(step, ck, g, hessian_in_basis=0.5 * (b + b.T))
        rec.trajectory_point(step, ck.astype(np.float32))
        if c == k - 1:
            break
        theta, path = run_chunk(theta, draw_batches(rng, spacing, n, s), xs, ys, lr)
        path = np.asarray(path, dtype=np.float32)
        for j in range(spacing - 1):
            rec.trajectory_point(step + 1 + j, path[j])
        step += spacing
    return rec.close(), np.asarray(first), e.eigvals


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16, 64, 256])
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--reduced", action="store_true", help="CI size: shorter burn-in and window")
    ap.add_argument("--seed", type=int, default=20190601)
    a = ap.parse_args(argv)
    cfg = ({"burn": 2500, "spacing": 800, "checkpoints": 5} if a.reduced
           else {"burn": 5000, "spacing": 1500, "checkpoints": 10})
    cfg["lr"] = a.lr
    t0 = time.time()
    xs, ys, d_in = load_data()
    n = xs.shape[0]
    params = init_params(jax.random.PRNGKey(a.seed), d_in)
    theta0, unravel = ravel_pytree(params)
    pmap = sj.parameter_map(params)
    loss_one, loss_mean = make_losses(unravel)
    theta_star, gnorm = minimise(loss_mean, theta0, xs, ys, 6000, 1.0)
    top = sj.hessian_eigenpairs(loss_mean, theta_star, xs, ys, 1).eigvals[0]
    print(f"theta*: d = {theta_star.size}, loss {float(loss_mean(theta_star, xs, ys)):.5f}, "
          f"|grad| {gnorm:.2e}, lambda_max {top:.4g}, lr*lambda_max {a.lr * top:.3g}",
          file=sys.stderr)
    a.out.mkdir(parents=True, exist_ok=True)
    np.save(a.out / "theta_star.npy", np.asarray(theta_star))
    fns = (loss_one, loss_mean, sgd_chunk(loss_mean))
    fixed, summary = {}, {"lr": a.lr, "weight_decay": WEIGHT_DECAY, "hidden": HIDDEN,
                          "d": int(theta_star.size), "N": n, "grad_norm_at_min": gnorm,
                          "lambda_max_at_min": float(top), **cfg, "runs": {}}
    for i, s in enumerate(a.batch_sizes):
        run, first, eig = record_run(a.out / "runs" / f"S{s}", s, cfg, (xs, ys, n), fns,
                                     theta_star, pmap, a.seed + 1 + i)
        fixed[f"S{s}"] = first
        summary["runs"][str(s)] = {"dir": str(run), "hessian_top_eigvals": eig.tolist()}
        print(f"S = {s}: {run} ({time.time() - t0:.0f} s)", file=sys.stderr)
    np.savez(a.out / "fixed_iterates.npz", **fixed)
    (a.out / "train.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
