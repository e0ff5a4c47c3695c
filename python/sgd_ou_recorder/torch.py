"""PyTorch helpers (torch >= 2.0, imported on first use of this module).

* :func:`parameter_map` — run.json's `parameters` from ``model.named_parameters()``;
* :func:`flat_params` — θ as one NumPy vector in that order (bf16 kept as :class:`BF16`);
* :func:`per_example_grads` — ∇l_i for a batch with ``torch.func.vmap(grad(...))`` over
  ``functional_call``, flattened to (n, d);
* :func:`sampling_from_loader` — the sampling design of a DataLoader (shuffle=True → reshuffled);
* :func:`hessian_eigenpairs` / :func:`hessian_in_basis` — Lanczos on Hessian-vector products
  (``torch.func.jvp`` of ``grad``), never forming H.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, grad, jvp, vmap

from . import _io
from .lanczos import in_basis, lanczos
from .sampling import describe_sampler


def _named(model):
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def parameter_map(model):
    """[(name, shape)] in ``named_parameters()`` order (trainable ones), for Recorder."""
    return [(n, tuple(p.shape)) for n, p in _named(model)]


def flat_params(model):
    """θ as a NumPy vector (or BF16 for a bf16 model), in :func:`parameter_map` order."""
    flat = torch.cat([p.detach().reshape(-1) for _, p in _named(model)])
    return _io.to_array("params", flat)


def _loss_of_flat(model, loss_fn, names, shapes):
    sizes = [int(np.prod(s)) if s else 1 for s in shapes]

    def unflatten(theta):
        parts = torch.split(theta, sizes)
        return {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}

    def loss(theta, x, y):
        out = functional_call(model, unflatten(theta), (x,))
        return loss_fn(out, y)

    return loss


def per_example_grads(model, loss_fn, x, y):
    """(n, d) tensor of per-example gradients ∇l_i(θ) for inputs x (n, ...) and targets y (n, ...).

    Each example is passed as a batch of one, so a mean-reducing `loss_fn(output, target)` (e.g.
    ``torch.nn.functional.cross_entropy``) gives that example's loss l_i. Model must not couple examples (BatchNorm in training
    mode, dropout): call ``model.eval()`` first if it has such layers (see docs/tutorial.md).
    """
    named = _named(model)
    names, shapes = [n for n, _ in named], [tuple(p.shape) for _, p in named]
    theta = torch.cat([p.detach().reshape(-1) for _, p in named])
    loss = _loss_of_flat(model, loss_fn, names, shapes)

    def one_grad(th, xi, yi):
        return grad(lambda t: loss(t, xi.unsqueeze(0), yi.unsqueeze(0)))(th)

    return vmap(one_grad, in_dims=(None, 0, 0))(theta, x, y)


def _hvp(model, loss_fn, x, y):
    named = _named(model)
    names, shapes = [n for n, _ in named], [tuple(p.shape) for _, p in named]
    theta = torch.cat([p.detach().reshape(-1) for _, p in named])
    loss = _loss_of_flat(model, loss_fn, names, shapes)
    g = grad(lambda t: loss(t, x, y))

    def hvp(v):
        vt = torch.as_tensor(v, dtype=theta.dtype, device=theta.device)
        return jvp(g, (theta,), (vt,))[1].detach().cpu().double().numpy()

    return hvp, theta.numel()


def hessian_eigenpairs(model, loss_fn, x, y, m, **lanczos_kw):
    """Top-m eigenpairs of the Hessian of the *mean* loss ``loss_fn(model(x), y)`` over the batch
    (x, y) at the model's current parameters, by Lanczos on ``jvp(grad)`` products; `loss_fn`
    here takes the whole batch and must reduce by mean. Returns :class:`Eigenpairs`."""
    hvp, d = _hvp(model, loss_fn, x, y)
    return lanczos(hvp, d, m, **lanczos_kw)


def hessian_in_basis(model, loss_fn, x, y, eigvecs):
    """V H Vᵀ (m, m) at the model's current parameters: m Hessian-vector products."""
    hvp, _ = _hvp(model, loss_fn, x, y)
    return in_basis(hvp, np.asarray(eigvecs, dtype=np.float64))


def sampling_from_loader(loader, first_epoch_step=0):
    """The sampling fields of a ``torch.utils.data.DataLoader``: ``shuffle=True``
    (RandomSampler without replacement) → "reshuffled" with steps_per_epoch = len(loader) and
    the loader's drop_last; RandomSampler(replacement=True) → "with_replacement". Pass the
    result as ``Recorder(..., sampling=...)``."""
    sampler = loader.sampler
    kind = type(sampler).__name__
    if kind == "RandomSampler" and getattr(sampler, "replacement", False):
        kind = "RandomSamplerWithReplacement"
    fields = describe_sampler(kind, dataset_size=len(loader.dataset),
                              batch_size=loader.batch_size, drop_last=loader.drop_last,
                              first_epoch_step=first_epoch_step)
    if fields["sampling"] == "reshuffled" and fields["steps_per_epoch"] != len(loader):
        raise ValueError(f"len(loader) = {len(loader)} but the epoch length from N and S is "
                         f"{fields['steps_per_epoch']}")
    return fields
