"""JAX helpers (skipped visibly when JAX is not installed)."""

import json

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="SKIPPED: JAX not installed (pip install 'jax[cpu]')")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

from sgd_ou_recorder import Recorder  # noqa: E402
from sgd_ou_recorder import jax as sj  # noqa: E402


def mlp_params(key):
    k1, k2 = jax.random.split(key)
    return {"fc1": {"w": jax.random.normal(k1, (3, 5)) * 0.5, "b": jnp.zeros(5)},
            "fc2": {"w": jax.random.normal(k2, (5, 2)) * 0.5, "b": jnp.zeros(2)}}


def loss_one(params, x, y):
    h = jnp.tanh(x @ params["fc1"]["w"] + params["fc1"]["b"])
    out = h @ params["fc2"]["w"] + params["fc2"]["b"]
    return 0.5 * jnp.sum((out - y) ** 2)


def loss_mean(params, xs, ys):
    return jnp.mean(jax.vmap(loss_one, in_axes=(None, 0, 0))(params, xs, ys))


@pytest.fixture(scope="module")
def data():
    key = jax.random.PRNGKey(0)
    params = mlp_params(key)
    xs = jax.random.normal(jax.random.PRNGKey(1), (64, 3))
    ys = jnp.stack([jnp.sin(xs[:, 0]), xs[:, 1] * xs[:, 2]], axis=1)
    return params, xs, ys


def test_parameter_map_matches_ravel_pytree(data):
    params, _, _ = data
    names = sj.parameter_map(params)
    assert names == [("fc1/b", (5,)), ("fc1/w", (3, 5)), ("fc2/b", (2,)), ("fc2/w", (5, 2))]
    flat = sj.flat_params(params)
    assert flat.shape == (32,)
    np.testing.assert_array_equal(flat[5:20], np.asarray(params["fc1"]["w"]).ravel())


def test_per_example_grads_average_to_the_mean_gradient(data):
    params, xs, ys = data
    g = sj.per_example_grads(loss_one, params, xs, ys)
    assert g.shape == (64, 32)
    from jax.flatten_util import ravel_pytree
    mean = ravel_pytree(jax.grad(loss_mean)(params, xs, ys))[0]
    np.testing.assert_allclose(g.mean(axis=0), mean, rtol=1e-10, atol=1e-12)


def test_hessian_eigenpairs_match_the_dense_hessian(data):
    params, xs, ys = data
    from jax.flatten_util import ravel_pytree
    theta, unravel = ravel_pytree(params)
    h = np.asarray(jax.hessian(lambda t: loss_mean(unravel(t), xs, ys))(theta))
    ref = np.sort(np.linalg.eigvalsh(h))[::-1][:4]
    e = sj.hessian_eigenpairs(loss_mean, params, xs, ys, 4)
    np.testing.assert_allclose(e.eigvals, ref, rtol=1e-8)
    assert np.all(e.residuals <= 1e-8 * abs(ref[0]))
    b = sj.hessian_in_basis(loss_mean, params, xs, ys, e.eigvecs)
    np.testing.assert_allclose(b, e.eigvecs @ h @ e.eigvecs.T, atol=1e-10)


def test_jax_run_verifies(tmp_path, data, sgd_ou):
    params, xs, ys = data
    n, s, lr = 64, 8, 0.05
    r = Recorder(tmp_path / "run", learning_rate=lr, batch_size=s, dataset_size=n,
                 sampling="reshuffled", drop_last=True, parameters=sj.parameter_map(params),
                 framework=f"jax {jax.__version__}")
    step_fn = jax.jit(lambda p, xb, yb: jax.tree_util.tree_map(
        lambda a, g: a - lr * g, p, jax.grad(loss_mean)(p, xb, yb)))
    rng = np.random.default_rng(0)
    for step in range(401):
        if step == 200:
            e = sj.hessian_eigenpairs(loss_mean, params, xs, ys, 3)
            r.basis(e.eigvecs, e.eigvals, e.residuals, at_step=step)
        if step in (200, 300, 400):
            r.checkpoint(step, sj.flat_params(params),
                         sj.per_example_grads(loss_one, params, xs, ys))
        r.trajectory_point(step, sj.flat_params(params))
        if step % (n // s) == 0:
            order = rng.permutation(n)
        idx = order[(step % (n // s)) * s:][:s]
        params = step_fn(params, xs[idx], ys[idx])
    run = r.close()
    m = json.loads((run / "run.json").read_text())
    assert m["parameters"][1] == {"name": "fc1/w", "shape": [3, 5], "offset": 5}
    proc = sgd_ou("verify", "--run-dir", run)
    assert proc.returncode in (0, 1, 3), proc.stderr
