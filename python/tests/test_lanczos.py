"""Lanczos eigenpairs from Hessian-vector products against numpy.linalg.eigh of the explicit
Hessian of a softmax regression with d = 490 (10 classes x 49 features)."""

import numpy as np
import pytest

from models import SoftmaxRegression
from sgd_ou_recorder import in_basis, lanczos, sign_convention

M = 8
REL_TOL = 1e-6


@pytest.fixture(scope="module")
def problem():
    model = SoftmaxRegression(seed=0)
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(model.d) * 0.5
    return model, theta, model.hessian(theta)


def test_exact_hvp_matches_the_explicit_hessian(problem):
    model, theta, h = problem
    v = np.random.default_rng(2).standard_normal(model.d)
    np.testing.assert_allclose(model.hvp(theta)(v), h @ v, rtol=1e-12, atol=1e-14)
    # and the gradient is the derivative of the loss (central differences)
    e = np.zeros(model.d)
    e[7] = 1e-6
    fd = (model.losses(theta + e).mean() - model.losses(theta - e).mean()) / 2e-6
    assert abs(fd - model.per_example_grads(theta).mean(axis=0)[7]) < 1e-7


def test_top_eigenpairs_match_eigh(problem):
    model, theta, h = problem
    ref_vals, ref_vecs = np.linalg.eigh(h)
    ref_vals, ref_vecs = ref_vals[::-1][:M], ref_vecs[:, ::-1][:, :M].T
    assert np.all(np.diff(ref_vals) < -1e-6 * ref_vals[0]), "distinct top eigenvalues"
    res = lanczos(model.hvp(theta), model.d, M, seed=3)
    rel = np.abs(res.eigvals - ref_vals) / np.abs(ref_vals)
    print(f"\nd = {model.d}, m = {M}, Lanczos steps = {res.iterations}")
    print("eigenvalues:", np.array2string(res.eigvals, precision=6))
    print("relative errors:", np.array2string(rel, precision=2))
    print("residuals ||Hv - lambda v||:", np.array2string(res.residuals, precision=2))
    assert np.all(rel <= REL_TOL)
    # eigenvectors: equal up to sign, which the convention fixes identically for both
    ref_vecs = sign_convention(ref_vecs)
    assert np.abs(res.eigvecs - ref_vecs).max() <= 1e-6
    np.testing.assert_allclose(res.eigvecs @ res.eigvecs.T, np.eye(M), atol=1e-12)
    # residuals are the true ones
    for lam, v, r in zip(res.eigvals, res.eigvecs, res.residuals):
        assert r == pytest.approx(np.linalg.norm(h @ v - lam * v), rel=1e-6, abs=1e-15)
    assert np.all(res.residuals <= 1e-6 * res.eigvals[0])
    assert res.iterations < model.d


def test_sign_convention_and_sorting(problem):
    model, theta, _ = problem
    res = lanczos(model.hvp(theta), model.d, 3, seed=4)
    assert np.all(np.diff(res.eigvals) <= 0)
    for v in res.eigvecs:
        assert v[np.argmax(np.abs(v))] > 0


def test_in_basis_is_v_h_vt(problem):
    model, theta, h = problem
    res = lanczos(model.hvp(theta), model.d, 4, seed=5)
    theta2 = theta + 0.3
    b = in_basis(model.hvp(theta2), res.eigvecs)
    np.testing.assert_allclose(b, res.eigvecs @ model.hessian(theta2) @ res.eigvecs.T,
                               rtol=1e-10, atol=1e-14)
    # at the basis point itself it is diag(lambda)
    b0 = in_basis(model.hvp(theta), res.eigvecs)
    np.testing.assert_allclose(b0, np.diag(res.eigvals), atol=1e-8 * res.eigvals[0])


def test_degenerate_spectrum_and_small_operator():
    # diag(5, 5, 3, 1): an exactly invariant Krylov space ends early; restart handles it
    h = np.diag([5.0, 5.0, 3.0, 1.0])
    res = lanczos(lambda v: h @ v, 4, 3, seed=0)
    np.testing.assert_allclose(res.eigvals, [5.0, 5.0, 3.0], rtol=1e-12)
    assert np.all(res.residuals < 1e-12)
    with pytest.raises(ValueError, match="1 <= m <= d"):
        lanczos(lambda v: h @ v, 4, 5)
