#!/usr/bin/env python3
"""Train a small MLP with plain SGD in PyTorch and export the run in sgd-ou run-directory format v2,
with per-example gradients from ``torch.func``.

    pip install torch numpy            # (safetensors too for --format safetensors)
    python3 docs/examples/export_torch.py --out runs/torch_mlp --seed 0

What it does:

* Data: a synthetic 3-class Gaussian mixture in R^8 (N = --n-examples), 10 % of labels flipped at
  random so the classes overlap.
* Model: Linear(8, 16) -> Tanh -> Linear(16, 3) (d = 195); per-example loss
  l_i(theta) = cross_entropy(f(x_i; theta), y_i) + (wd/2) ||theta||^2.
  Weight decay is written into the loss (and torch.optim.SGD gets weight_decay=0), so that the
  per-example gradients and the Hessian include it; SGD(weight_decay=wd) would add the same wd*theta
  to the update but not to the exported gradients.
* Optimiser: torch.optim.SGD(lr, momentum=0, weight_decay=0) on the mean minibatch loss over S
  indices drawn afresh every step (without replacement by default).
* Per-example gradients at each checkpoint, for all N examples:
      per = vmap(grad(loss_one), in_dims=(None, None, 0, 0))(params, buffers, X, Y)
  where loss_one runs the model on a batch of ONE example through functional_call, so row i is
  grad l_i with no 1/S or 1/N factor.
* Flattening: theta and every gradient are flattened in ``model.named_parameters()`` order, each
  tensor in C (row-major) order; the order, shapes and offsets are written to run.json as
  ``parameters``.
* Hessian of the mean loss at each checkpoint with ``torch.func.hessian`` (d = 195 here; use
  --no-hessian for large models: it costs d backward passes and d^2 memory). Recorder refuses a
  Hessian that is not symmetric to 1e-3 relative: with torch 2.15, the torch.func Hessian through
  ``nn.LayerNorm`` came out asymmetric and 2.6 % off central finite differences (a hand-written
  layer norm was exact; compare pytorch/pytorch#196700), which is why this model has no
  LayerNorm. Check a second-order result against finite differences before trusting it.

Per-example traps (each silently gives wrong per-example gradients):

* BatchNorm in train mode normalises with the statistics of the minibatch, so l_i depends on the
  other examples and "the gradient of example i" is not defined. Use eval-mode BatchNorm
  (running statistics) when computing per-example gradients, or replace it by GroupNorm or
  LayerNorm (per-example normalisation). Also note that train-mode BatchNorm updates
  running statistics as a side effect of every forward pass.
* Dropout draws a new mask at every call, so the per-example gradients would not be the gradients
  that SGD used. Disable dropout (model.eval() or p = 0) for the export, or pass the masks of the
  training step to the per-example loss as explicit inputs (vmap's randomness="same" or
  "different" does not reproduce them).
* Loss reduction: SGD differentiated the mean (1/S sum, PyTorch default) or the sum over the
  minibatch; record which in loss_reduction. The exported per-example gradients are always
  unscaled. (Opacus and BackPACK have their own scaling conventions; check them.)
* Data augmentation: a per-example gradient is taken at one augmented view; the noise of SGD then
  includes augmentation noise. Export at a fixed view (no augmentation) or record it in notes.
* Mixed precision: NumPy has no bfloat16; call .float() before .numpy(), or write bf16 tensors
  with safetensors.torch.save_file (sgd-ou reads F16/BF16/F32/F64 safetensors).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, hessian, vmap

try:
    from sgd_ou_recorder import Recorder, noise_to_signal
except ImportError:  # not installed (pip install ./python): use the repository's copy
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from sgd_ou_recorder import Recorder, noise_to_signal  # noqa: E402


def make_data(gen, n, p=8, classes=3, flip=0.1):
    means = 1.5 * torch.randn(classes, p, generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    x = means[y] + torch.randn(n, p, generator=gen)
    flip_mask = torch.rand(n, generator=gen) < flip
    y = torch.where(flip_mask, torch.randint(0, classes, (n,), generator=gen), y)
    return x, y


class MLP(nn.Module):
    def __init__(self, p=8, hidden=16, classes=3):
        super().__init__()
        self.fc1 = nn.Linear(p, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def parse_steps(text):
    steps = sorted({int(s) for s in text.split(",") if s.strip()})
    if not steps or steps[0] < 0:
        raise argparse.ArgumentTypeError("checkpoint steps must be non-negative integers")
    return steps


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export a PyTorch SGD run in sgd-ou format v2")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--checkpoints", type=parse_steps,
                    default=parse_steps("0,5,10,1000,1250,1500,1750,2000"))
    ap.add_argument("--n-examples", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=1e-3,
                    help="wd in (wd/2)||theta||^2, added to every per-example loss")
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

    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # bit-reproducible reductions on CPU
    torch.use_deterministic_algorithms(True)
    dtype = getattr(torch, args.dtype)
    data_gen = torch.Generator().manual_seed(args.seed)
    batch_gen = torch.Generator().manual_seed(args.seed + 1_000_003)
    x_all, y_all = make_data(data_gen, args.n_examples)
    x_all = x_all.to(dtype)
    model = MLP().to(dtype)
    model.train()  # no dropout/BatchNorm here, so train and eval mode compute the same function
    n = x_all.shape[0]
    wd = args.weight_decay

    names = [k for k, _ in model.named_parameters()]
    shapes = [tuple(v.shape) for _, v in model.named_parameters()]
    sizes = [int(np.prod(s)) for s in shapes]

    def flat_params():
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def unflatten(flat):
        return {k: t.reshape(s) for k, t, s in zip(names, torch.split(flat, sizes), shapes)}

    def sq_norm(params):
        return sum((p * p).sum() for p in params.values())

    def loss_one(params, buffers, x, y):
        """l_i for ONE example: the model sees a batch of size 1."""
        out = functional_call(model, (params, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(out, y.unsqueeze(0)) + 0.5 * wd * sq_norm(params)

    per_example_grad = vmap(grad(loss_one), in_dims=(None, None, 0, 0))
    per_example_loss = vmap(loss_one, in_dims=(None, None, 0, 0))

    def checkpoint_arrays():
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}
        per = per_example_grad(params, buffers, x_all, y_all)
        g = torch.cat([per[k].reshape(n, -1) for k in names], dim=1)
        losses = per_example_loss(params, buffers, x_all, y_all)
        h = None
        if not args.no_hessian:
            def mean_loss(flat):
                return per_example_loss(unflatten(flat), buffers, x_all, y_all).mean()
            h = hessian(mean_loss)(flat_params())
        to_np = lambda t: None if t is None else t.detach().cpu().numpy()  # noqa: E731
        return to_np(flat_params()), to_np(g), to_np(losses), to_np(h)

    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.0, weight_decay=0.0)
    checkpoints = set(args.checkpoints)
    nsr = []
    with Recorder(
        args.out,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        dataset_size=n,
        loss_reduction="mean",
        sampling=args.sampling,
        parameters=list(zip(names, shapes)),
        checkpoint_format=args.format,
        overwrite=args.overwrite,
        model="MLP 8-16-3: Linear, tanh, Linear; cross-entropy",
        dataset=f"synthetic 3-class Gaussian mixture in R^8, N={n}, 10% labels flipped",
        seed=args.seed,
        framework=f"torch {torch.__version__}",
        notes="docs/examples/export_torch.py; per-example gradients by torch.func "
        "vmap(grad(loss_one)); weight decay (wd/2)||theta||^2 inside every l_i; "
        "parameters flattened in named_parameters() order, C order within a tensor",
        weight_decay_in_loss=wd,
        dtype=args.dtype,
        generator_args={k: v for k, v in vars(args).items() if k not in ("out", "overwrite")},
    ) as run:
        for t in range(args.steps + 1):
            if args.trajectory_every and t % args.trajectory_every == 0:
                with torch.no_grad():
                    full = F.cross_entropy(model(x_all), y_all) + 0.5 * wd * sq_norm(
                        dict(model.named_parameters()))
                run.trajectory_point(t, flat_params().numpy(), loss=float(full))
            if t in checkpoints:
                p, g, lo, h = checkpoint_arrays()
                run.checkpoint(t, p, g, losses=lo, hessian=h)
                nsr.append((t, noise_to_signal(g, args.batch_size)))
            if t == args.steps:
                break
            if args.sampling == "without_replacement":
                idx = torch.randperm(n, generator=batch_gen)[: args.batch_size]
            else:
                idx = torch.randint(0, n, (args.batch_size,), generator=batch_gen)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx]) + 0.5 * wd * sq_norm(
                dict(model.named_parameters()))
            loss.backward()
            opt.step()
    d = sum(sizes)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s: d={d}, N={n}, "
          f"S={args.batch_size}, lr={args.lr}, torch {torch.__version__}")
    for t, r in nsr:
        print(f"  step {t:>6}: NSR = tr C/(S |gbar|^2) = {r:10.4g}  "
              f"({'drift' if r < 1 else 'diffusion'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
