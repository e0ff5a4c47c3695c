#!/usr/bin/env python3
"""Train L2-regularised logistic regression with plain minibatch SGD in NumPy and export the run
in sgd-ou run-directory format v2 with the sgd_ou_recorder package (checkpoints with per-example
gradients, losses and the exact Hessian, the full trajectory, a parameter map and the top Hessian
eigenpairs at the last step in basis/, by Lanczos on Hessian-vector products).

Model and data (all generated from --seed; no downloads):

* x_i in R^p: standard normal features with pairwise correlation 0.3, plus a constant 1 (bias);
  theta in R^d, d = p + 1.
* y_i ~ Bernoulli(sigmoid(x_i . theta_true)) -- labels are noisy, so the data are not separable
  and the minimum is finite.
* per-example loss l_i(theta) = softplus(x_i . theta) - y_i x_i . theta + (lam/2) ||theta||^2.
  The L2 term is part of every l_i (this is how weight decay enters the loss), so the training
  objective is L(theta) = mean_i l_i(theta), and
  grad l_i = (sigmoid(x_i . theta) - y_i) x_i + lam theta,
  Hessian of L = (1/N) sum_i s_i (1 - s_i) x_i x_i^T + lam I,  s_i = sigmoid(x_i . theta).
* SGD: theta_{t+1} = theta_t - lr * (1/S) sum_{i in B_t} grad l_i(theta_t)   (--loss-reduction mean)
  or  theta_t - lr * sum_{i in B_t} grad l_i(theta_t)                       (--loss-reduction sum),
  with B_t a fresh draw of S indices each step: S distinct indices (--sampling without_replacement,
  the default) or S independent uniform indices (with_replacement).
* theta_0 is drawn far from the optimum (norm --init-scale), so the first checkpoints are in the
  drift phase (the mean gradient dominates the minibatch noise, NSR = tr C / (S ||gbar||^2) < 1)
  and the late ones in the diffusion phase around the minimum (NSR >> 1).

Checkpoints hold the per-example gradients of all N examples (n = N). The trajectory has one row
every --trajectory-every steps (step 0 = theta_0, step t = theta after t updates) with the full
training loss L(theta_t).

Deterministic: the same --seed and arguments give byte-identical files (NumPy's PCG64 streams
spawned from one SeedSequence: data, initial point, minibatch indices).

Example:
    python3 docs/examples/export_numpy.py --out runs/logreg --seed 0
    python3 docs/examples/export_numpy.py --out runs/logreg --steps 4000 \
        --checkpoints 0,20,1000,2000,3000,4000 --format safetensors
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    from sgd_ou_recorder import Recorder, lanczos, noise_to_signal
except ImportError:  # not installed (pip install ./python): use the repository's copy
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from sgd_ou_recorder import Recorder, lanczos, noise_to_signal  # noqa: E402


def sigmoid(z):
    # numerically stable logistic function
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def softplus(z):
    return np.logaddexp(0.0, z)


def make_data(rng, n, p, rho):
    cov = np.full((p, p), rho) + (1.0 - rho) * np.eye(p)
    chol = np.linalg.cholesky(cov)
    feats = rng.standard_normal((n, p)) @ chol.T
    x = np.hstack([feats, np.ones((n, 1))])
    theta_true = rng.standard_normal(p + 1)
    theta_true *= 1.5 / np.linalg.norm(theta_true)
    y = (rng.random(n) < sigmoid(x @ theta_true)).astype(np.float64)
    return x, y


def per_example_losses(theta, x, y, lam):
    z = x @ theta
    return softplus(z) - y * z + 0.5 * lam * float(theta @ theta)


def per_example_grads(theta, x, y, lam):
    r = sigmoid(x @ theta) - y
    return r[:, None] * x + lam * theta[None, :]


def hessian(theta, x, lam):
    s = sigmoid(x @ theta)
    w = s * (1.0 - s)
    return (x * w[:, None]).T @ x / x.shape[0] + lam * np.eye(x.shape[1])


def parse_steps(text):
    try:
        steps = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not steps or steps[0] < 0:
        raise argparse.ArgumentTypeError("checkpoint steps must be non-negative integers")
    return steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="run directory to create")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=4000, help="number of SGD updates")
    ap.add_argument(
        "--checkpoints",
        type=parse_steps,
        default=parse_steps("0,20,50,100,1000,1500,2000,2500,3000,3500,4000"),
        help="comma-separated steps at which to write per-example gradients",
    )
    ap.add_argument("--n-examples", type=int, default=2000, help="dataset size N")
    ap.add_argument("--features", type=int, default=10, help="p (d = p + 1 with the bias)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--l2", type=float, default=0.05, help="lam in (lam/2)||theta||^2")
    ap.add_argument("--init-scale", type=float, default=10.0, help="||theta_0||")
    ap.add_argument("--loss-reduction", choices=["mean", "sum"], default="mean")
    ap.add_argument(
        "--sampling", choices=["without_replacement", "with_replacement"],
        default="without_replacement",
    )
    ap.add_argument("--trajectory-every", type=int, default=1, help="0 disables the trajectory")
    ap.add_argument("--no-hessian", action="store_true")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--format", choices=["npy", "safetensors"], default="npy")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if args.steps < 0 or args.checkpoints[-1] > args.steps:
        ap.error(f"checkpoint steps must lie in 0..--steps ({args.steps})")
    if not 1 <= args.batch_size <= args.n_examples:
        ap.error("need 1 <= --batch-size <= --n-examples")

    t0 = time.perf_counter()
    data_ss, init_ss, batch_ss = np.random.SeedSequence(args.seed).spawn(3)
    x, y = make_data(np.random.default_rng(data_ss), args.n_examples, args.features, 0.3)
    n, d = x.shape
    lam = args.l2
    init_rng = np.random.default_rng(init_ss)
    theta = init_rng.standard_normal(d)
    theta *= args.init_scale / np.linalg.norm(theta)
    batch_rng = np.random.default_rng(batch_ss)
    dt = np.dtype(args.dtype)
    replace = args.sampling == "with_replacement"
    scale = 1.0 / args.batch_size if args.loss_reduction == "mean" else 1.0

    names = [("weight", (args.features,)), ("bias", (1,))]
    checkpoints = set(args.checkpoints)
    nsr = []
    with Recorder(
        args.out,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        dataset_size=n,
        loss_reduction=args.loss_reduction,
        sampling=args.sampling,
        parameters=names,
        checkpoint_format=args.format,
        overwrite=args.overwrite,
        model=f"logistic regression, p={args.features} features + bias, L2 lam={lam}",
        dataset=f"synthetic: N={n}, Gaussian features (rho=0.3), Bernoulli(sigmoid) labels",
        seed=args.seed,
        framework=f"numpy {np.__version__}",
        notes="docs/examples/export_numpy.py; the L2 term (lam/2)||theta||^2 is inside every "
        "per-example loss l_i; minibatch indices drawn afresh at every step",
        weight_decay_in_loss=lam,
        generator_args={k: v for k, v in vars(args).items() if k not in ("out", "overwrite")},
    ) as run:
        for t in range(args.steps + 1):
            if args.trajectory_every and t % args.trajectory_every == 0:
                loss = float(per_example_losses(theta, x, y, lam).mean())
                run.trajectory_point(t, theta.astype(dt), loss=loss)
            if t in checkpoints:
                g = per_example_grads(theta, x, y, lam)
                run.checkpoint(
                    t,
                    theta.astype(dt),
                    g.astype(dt),
                    losses=per_example_losses(theta, x, y, lam).astype(dt),
                    hessian=None if args.no_hessian else hessian(theta, x, lam).astype(dt),
                )
                nsr.append((t, noise_to_signal(g, args.batch_size)))
            if t == args.steps:
                break
            idx = batch_rng.choice(n, size=args.batch_size, replace=replace)
            gb = per_example_grads(theta, x[idx], y[idx], lam).sum(axis=0) * scale
            theta = theta - args.lr * gb
        # run-level basis: top Hessian eigenpairs at the last iterate, from Hessian-vector
        # products (here exact: H v); a network would use sgd_ou_recorder.torch/jax helpers
        h_last = hessian(theta, x, lam)
        eig = lanczos(lambda v: h_last @ v, d, min(4, d), seed=args.seed)
        run.basis(eig.eigvecs.astype(dt), eig.eigvals, eig.residuals, at_step=args.steps)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.2f} s: d={d}, N={n}, "
          f"S={args.batch_size}, lr={args.lr}, {len(checkpoints)} checkpoints")
    for t, r in nsr:
        phase = "drift" if r < 1 else "diffusion"
        print(f"  step {t:>6}: NSR = tr C/(S |gbar|^2) = {r:10.4g}  ({phase})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
