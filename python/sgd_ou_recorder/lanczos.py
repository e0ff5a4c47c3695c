"""Top-m Hessian eigenpairs from Hessian-vector products: Lanczos with full reorthogonalisation.

Never forms H. Cost: k Hessian-vector products (k Lanczos steps, k ≤ d; typically 2m–5m for
well-separated top eigenvalues) plus m more for the residuals, and O(k² d) arithmetic for the
reorthogonalisation; memory O(k d) for the Krylov basis. Reference: Golub & Van Loan, Matrix
Computations (4th ed.), §10.1; full reorthogonalisation §10.3.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Eigenpairs:
    """Top-m eigenpairs in the format of run-directory v2's basis/."""

    eigvals: np.ndarray  # (m,) decreasing
    eigvecs: np.ndarray  # (m, d) orthonormal rows, largest-magnitude entry positive
    residuals: np.ndarray  # (m,) ||H v - lambda v||, computed with one extra HVP each
    iterations: int  # Lanczos steps taken (HVPs, not counting the m residual HVPs)


def sign_convention(vecs):
    """Flips each row so that its largest-magnitude entry (the first one on ties) is positive.
    Apply it to the array *as stored* (after any cast), as the Rust reader checks the file."""
    vecs = np.array(vecs, copy=True)
    idx = np.argmax(np.abs(vecs), axis=1)
    signs = np.sign(vecs[np.arange(vecs.shape[0]), idx])
    signs[signs == 0] = 1
    return vecs * signs[:, None]


def _orthogonalise(w, q):
    """w minus its projection on the rows of q, twice ("twice is enough", Parlett)."""
    for _ in range(2):
        w = w - q.T @ (q @ w)
    return w


def lanczos(hvp, d, m, *, max_iter=None, tol=1e-10, seed=0, dtype=np.float64):
    """The m algebraically largest eigenpairs of the symmetric d × d operator v ↦ hvp(v).

    `hvp` takes and returns a length-d NumPy vector (wrap a framework HVP with a conversion).
    Stops when the Ritz residual estimates |β_k s_{k,i}| of the top m pairs are all below
    ``tol · max(|λ_1|, tiny)``, or after `max_iter` steps (default d). Then computes the true
    residuals ‖H v_i − λ_i v_i‖ with m more products. The start vector is Gaussian from `seed`.
    Returns :class:`Eigenpairs` sorted by decreasing eigenvalue, with the sign convention applied.
    """
    if not (1 <= m <= d):
        raise ValueError(f"need 1 <= m <= d, got m = {m}, d = {d}")
    max_iter = d if max_iter is None else min(int(max_iter), d)
    if max_iter < m:
        raise ValueError(f"max_iter = {max_iter} < m = {m}")
    rng = np.random.default_rng(seed)
    q = np.zeros((max_iter, d), dtype=dtype)
    alpha, beta = [], []
    v = rng.standard_normal(d).astype(dtype)
    v /= np.linalg.norm(v)
    k = 0
    while k < max_iter:
        q[k] = v
        w = np.asarray(hvp(v), dtype=dtype).reshape(d)
        alpha.append(float(v @ w))
        w = _orthogonalise(w, q[: k + 1])
        b = float(np.linalg.norm(w))
        k += 1
        if k == max_iter:
            break
        breakdown = b < 1e-13 * max(1.0, abs(alpha[-1]))
        if k >= m and not breakdown and k % 5 == 0:
            theta, s = np.linalg.eigh(_tridiag(alpha, beta))
            scale = max(abs(theta[-1]), abs(theta[0]), np.finfo(float).tiny)
            if np.all(np.abs(b * s[-1, -m:]) <= tol * scale):
                break
        if breakdown:
            # invariant subspace found: restart orthogonally to it (finds multiplicities)
            w = _orthogonalise(rng.standard_normal(d).astype(dtype), q[:k])
            beta.append(0.0)
            v = w / float(np.linalg.norm(w))
            continue
        beta.append(b)
        v = w / b
    theta, s = np.linalg.eigh(_tridiag(alpha, beta[: k - 1]))
    order = np.argsort(theta)[::-1][:m]
    vals = theta[order]
    vecs = (s[:, order].T @ q[:k]).astype(dtype)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = sign_convention(vecs)
    res = np.array([np.linalg.norm(np.asarray(hvp(x), dtype=dtype) - lam * x)
                    for lam, x in zip(vals, vecs)])
    return Eigenpairs(eigvals=vals.astype(dtype), eigvecs=vecs, residuals=res, iterations=k)


def _tridiag(alpha, beta):
    k = len(alpha)
    t = np.diag(np.asarray(alpha, dtype=np.float64))
    if k > 1:
        b = np.asarray(beta[: k - 1], dtype=np.float64)
        t += np.diag(b, 1) + np.diag(b, -1)
    return t


def in_basis(hvp, eigvecs):
    """V H Vᵀ (m × m, symmetrised) from m Hessian-vector products: the curvature at another
    point read in a fixed basis (run format v2's ``hessian_in_basis.npy``). Cost m HVPs + O(m² d).
    """
    v = np.asarray(eigvecs)
    hv = np.stack([np.asarray(hvp(row), dtype=v.dtype).reshape(-1) for row in v])
    b = v @ hv.T
    return 0.5 * (b + b.T)
