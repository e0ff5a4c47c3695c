"""JAX helpers (imported on first use of this module).

* :func:`parameter_map` — run.json's `parameters` from a parameter pytree, in the order of
  ``jax.flatten_util.ravel_pytree`` (names are the pytree key paths, e.g. "layers/0/w");
* :func:`flat_params` — θ as a NumPy vector (bf16 kept as :class:`BF16`);
* :func:`per_example_grads` — ``jax.vmap(jax.grad(loss_one))`` raveled to (n, d);
* :func:`hessian_eigenpairs` / :func:`hessian_in_basis` — Lanczos on ``jax.jvp(jax.grad(f))``.

`loss_one(params, x, y)` is the loss of one example; `loss_mean(params, X, Y)` the mean loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import _io
from .lanczos import in_basis, lanczos


def _key_name(path):
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts) or "params"


def parameter_map(params):
    """[(name, shape)] in ``ravel_pytree`` order (leaves in ``tree_flatten`` order)."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return [(_key_name(path), tuple(np.shape(leaf))) for path, leaf in leaves]


def flat_params(params):
    """θ = ravel_pytree(params)[0] as a NumPy array (BF16 for bf16 leaves)."""
    return _io.to_array("params", np.asarray(ravel_pytree(params)[0]))


def per_example_grads(loss_one, params, x, y):
    """(n, d) NumPy array of ∇l_i: ``vmap(grad(loss_one), (None, 0, 0))`` raveled per row."""
    g = jax.vmap(jax.grad(loss_one), in_axes=(None, 0, 0))(params, x, y)
    rows = jax.vmap(lambda t: ravel_pytree(t)[0])(g)
    return np.asarray(rows)


def _hvp(loss_mean, params, x, y):
    theta, unravel = ravel_pytree(params)
    g = jax.grad(lambda t: loss_mean(unravel(t), x, y))

    @jax.jit
    def hv(v):
        return jax.jvp(g, (theta,), (v,))[1]

    def hvp(v):
        return np.asarray(hv(jnp.asarray(v, dtype=theta.dtype)), dtype=np.float64)

    return hvp, theta.size


def hessian_eigenpairs(loss_mean, params, x, y, m, **lanczos_kw):
    """Top-m eigenpairs of the Hessian of ``loss_mean(params, x, y)`` by Lanczos on
    ``jax.jvp(jax.grad(...))`` products. Returns :class:`Eigenpairs`."""
    hvp, d = _hvp(loss_mean, params, x, y)
    return lanczos(hvp, d, m, **lanczos_kw)


def hessian_in_basis(loss_mean, params, x, y, eigvecs):
    """V H Vᵀ (m, m) at `params`: m Hessian-vector products."""
    hvp, _ = _hvp(loss_mean, params, x, y)
    return in_basis(hvp, np.asarray(eigvecs, dtype=np.float64))
