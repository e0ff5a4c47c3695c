#!/usr/bin/env python3
"""Train a small MLP with plain SGD in JAX and export the run in sgd-ou run-directory format v2,
with per-example gradients from ``jax.vmap(jax.grad(...))``.

    pip install jax numpy              # CPU is enough; safetensors too for --format safetensors
    python3 docs/examples/export_jax.py --out runs/jax_mlp --seed 0

What it does:

* Data: a synthetic 3-class Gaussian mixture in R^8 (N = --n-examples), 10 % of labels flipped at
  random so the classes overlap (NumPy PCG64 from --seed).
* Model: x -> W2 tanh(W1 x + b1) + b2 (8-16-3, d = 195); per-example loss
  l_i(theta) = softmax cross-entropy(f(x_i; theta), y_i) + (wd/2) ||theta||^2
  (weight decay written into the loss, so gradients and Hessian include it).
* Plain SGD, theta <- theta - lr * (1/S) sum_{i in B_t} grad l_i(theta), with B_t drawn afresh
  every step by jax.random.choice (without replacement by default) from jax.random.fold_in(key, t).
* Per-example gradients at each checkpoint, for all N examples:
      per = jax.vmap(jax.grad(loss_one), in_axes=(None, 0, 0))(params, X, Y)
  loss_one sees ONE example, so row i is grad l_i with no 1/S or 1/N factor.
* Flattening: ``jax.flatten_util.ravel_pytree`` (leaves in ``jax.tree_util`` order; for nested
  dicts that is sorted keys: fc1/b, fc1/w, fc2/b, fc2/w; each leaf in C order). The names and
  shapes come from ``tree_flatten_with_path`` + ``keystr`` and are written to run.json as
  ``parameters``; the script checks that they agree with ravel_pytree.
* Hessian of the mean loss with ``jax.hessian`` on the flat vector (--no-hessian for large d).

Per-example traps: the same as for PyTorch (see export_torch.py and docs/tutorial.md). In Flax,
BatchNorm with ``use_running_average=False`` couples the examples of a batch and Dropout needs an
rng per call: export with ``use_running_average=True`` / ``deterministic=True``, or use
LayerNorm/GroupNorm. JAX computes in float32 unless ``jax_enable_x64`` is set (--dtype float64).
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

try:
    from sgd_ou_recorder import Recorder, noise_to_signal
except ImportError:  # not installed (pip install ./python): use the repository's copy
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from sgd_ou_recorder import Recorder, noise_to_signal  # noqa: E402


def parse_steps(text):
    steps = sorted({int(s) for s in text.split(",") if s.strip()})
    if not steps or steps[0] < 0:
        raise argparse.ArgumentTypeError("checkpoint steps must be non-negative integers")
    return steps


def make_data(rng, n, p=8, classes=3, flip=0.1):
    means = 1.5 * rng.standard_normal((classes, p))
    y = rng.integers(0, classes, n)
    x = means[y] + rng.standard_normal((n, p))
    flip_mask = rng.random(n) < flip
    y = np.where(flip_mask, rng.integers(0, classes, n), y)
    return x, y


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export a JAX SGD run in sgd-ou format v2")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--checkpoints", type=parse_steps,
                    default=parse_steps("0,5,10,1000,1250,1500,1750,2000"))
    ap.add_argument("--n-examples", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=1e-3)
    ap.add_argument("--sampling", choices=["without_replacement", "with_replacement"],
                    default="without_replacement")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--no-hessian", action="store_true")
    ap.add_argument("--trajectory-every", type=int, default=1, help="0 disables the trajectory")
    ap.add_argument("--format", choices=["npy", "safetensors"], default="npy")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if args.checkpoints[-1] > args.steps:
        ap.error("checkpoint steps must lie in 0..--steps")

    import jax

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    t0 = time.perf_counter()
    dt = jnp.dtype(args.dtype)
    rng = np.random.default_rng(args.seed)
    x_np, y_np = make_data(rng, args.n_examples)
    x_all, y_all = jnp.asarray(x_np, dtype=dt), jnp.asarray(y_np)
    n = x_all.shape[0]
    wd = args.weight_decay
    key = jax.random.PRNGKey(args.seed)
    k1, k2, batch_key = jax.random.split(key, 3)

    def init_linear(k, fan_in, fan_out):  # PyTorch's default nn.Linear initialisation
        kw, kb = jax.random.split(k)
        bound = 1.0 / np.sqrt(fan_in)
        return {
            "w": jax.random.uniform(kw, (fan_out, fan_in), dt, -bound, bound),
            "b": jax.random.uniform(kb, (fan_out,), dt, -bound, bound),
        }

    params = {"fc1": init_linear(k1, 8, 16), "fc2": init_linear(k2, 16, 3)}

    # parameter order: names/shapes of the leaves, checked against ravel_pytree's layout
    leaves_with_path, _ = jax.tree_util.tree_flatten_with_path(params)
    order = [(jax.tree_util.keystr(path), tuple(leaf.shape)) for path, leaf in leaves_with_path]
    flat0, unravel = ravel_pytree(params)
    offset = 0
    for (_, leaf), (name, shape) in zip(leaves_with_path, order):
        size = int(np.prod(shape))
        if not np.array_equal(np.asarray(flat0[offset:offset + size]), np.ravel(leaf)):
            raise RuntimeError(f"ravel_pytree layout differs from tree order at {name}")
        offset += size
    d = offset

    def forward(p, x):
        h = jnp.tanh(x @ p["fc1"]["w"].T + p["fc1"]["b"])
        return h @ p["fc2"]["w"].T + p["fc2"]["b"]

    def sq_norm(p):
        return sum(jnp.sum(leaf * leaf) for leaf in jax.tree_util.tree_leaves(p))

    def loss_one(p, x, y):
        """l_i for ONE example (x: (8,), y: scalar label)."""
        logits = forward(p, x)
        return jax.nn.logsumexp(logits) - logits[y] + 0.5 * wd * sq_norm(p)

    per_example_loss = jax.vmap(loss_one, in_axes=(None, 0, 0))
    per_example_grad = jax.vmap(jax.grad(loss_one), in_axes=(None, 0, 0))

    def mean_loss(p, x, y):
        return jnp.mean(per_example_loss(p, x, y))

    replace = args.sampling == "with_replacement"

    def sgd_step(p, t):
        idx = jax.random.choice(jax.random.fold_in(batch_key, t), n, (args.batch_size,),
                                replace=replace)
        g = jax.grad(mean_loss)(p, x_all[idx], y_all[idx])
        return jax.tree_util.tree_map(lambda a, b: a - args.lr * b, p, g)

    @partial(jax.jit, static_argnames="length")
    def run_segment(p, t_start, length):
        """`length` SGD steps from step t_start in one compiled lax.scan; returns the final
        parameters and, for every step t of the segment, theta_t (flat) and L(theta_t)."""

        def body(p, t):
            row = (ravel_pytree(p)[0], mean_loss(p, x_all, y_all))
            return sgd_step(p, t), row

        p, (flat, loss) = jax.lax.scan(body, p, t_start + jnp.arange(length))
        return p, flat, loss

    @jax.jit
    def checkpoint_arrays(p):
        per = per_example_grad(p, x_all, y_all)
        g = jax.vmap(lambda tree: ravel_pytree(tree)[0])(per)
        losses = per_example_loss(p, x_all, y_all)
        return ravel_pytree(p)[0], g, losses

    hess = jax.jit(jax.hessian(lambda flat: mean_loss(unravel(flat), x_all, y_all)))

    checkpoints = set(args.checkpoints)
    nsr = []
    with Recorder(
        args.out,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        dataset_size=n,
        loss_reduction="mean",
        sampling=args.sampling,
        parameters=order,
        checkpoint_format=args.format,
        overwrite=args.overwrite,
        model="MLP 8-16-3: dense, tanh, dense; softmax cross-entropy",
        dataset=f"synthetic 3-class Gaussian mixture in R^8, N={n}, 10% labels flipped",
        seed=args.seed,
        framework=f"jax {jax.__version__}",
        notes="docs/examples/export_jax.py; per-example gradients by jax.vmap(jax.grad(loss_one)); "
        "weight decay (wd/2)||theta||^2 inside every l_i; flattened with ravel_pytree",
        weight_decay_in_loss=wd,
        dtype=args.dtype,
        generator_args={k: v for k, v in vars(args).items() if k not in ("out", "overwrite")},
    ) as run:

        def advance(params, t, length):
            """Runs `length` steps from step t, records trajectory rows t .. t+length-1 and
            returns theta at step t + length."""
            params, flat, loss = run_segment(params, t, length)
            flat, loss = np.asarray(flat), np.asarray(loss)
            for k in range(length):
                if args.trajectory_every and (t + k) % args.trajectory_every == 0:
                    run.trajectory_point(t + k, flat[k], loss=float(loss[k]))
            return params

        # train in compiled segments between checkpoints
        t = 0
        for c in sorted(checkpoints):
            if c > t:
                params, t = advance(params, t, c - t), c
            p, g, lo = (np.asarray(a) for a in checkpoint_arrays(params))
            h = None if args.no_hessian else np.asarray(hess(ravel_pytree(params)[0]))
            run.checkpoint(t, p, g, losses=lo, hessian=h)
            nsr.append((t, noise_to_signal(g, args.batch_size)))
        # trajectory rows t .. steps (the update after the last row is computed and discarded)
        advance(params, t, args.steps + 1 - t)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s: d={d}, N={n}, "
          f"S={args.batch_size}, lr={args.lr}, jax {jax.__version__}")
    for t, r in nsr:
        print(f"  step {t:>6}: NSR = tr C/(S |gbar|^2) = {r:10.4g}  "
              f"({'drift' if r < 1 else 'diffusion'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
