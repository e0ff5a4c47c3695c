"""A run recorded with the NumPy API (reshuffled SGD on a softmax regression, parameter map,
Lanczos basis, V H Vᵀ at every checkpoint, trajectory at every step) is read by `sgd-ou verify`."""

import json

import numpy as np
import pytest

from models import SoftmaxRegression
from sgd_ou_recorder import Recorder, in_basis, lanczos

N, S, LR = 512, 32, 0.5
STEPS, CKPTS = 1600, (800, 1000, 1200, 1400, 1600)


def record(out, checkpoint_format="npy", dtype=np.float64):
    model = SoftmaxRegression(n=N, p=9, c=4, reg=1e-2, seed=1)
    rng = np.random.default_rng(0)
    theta = np.zeros(model.d)
    r = Recorder(out, learning_rate=LR, batch_size=S, dataset_size=N, sampling="reshuffled",
                 drop_last=True, loss_reduction="mean", parameters=[("W", (4, 9))],
                 checkpoint_format=checkpoint_format, model="softmax regression 4x9",
                 seed=0, framework="numpy")
    # reshuffling: a fresh permutation each epoch, cut into N/S consecutive batches
    order = None
    for step in range(STEPS + 1):
        if step == CKPTS[0]:
            e = lanczos(model.hvp(theta), model.d, 4, seed=0)
            r.basis(e.eigvecs.astype(dtype), e.eigvals, e.residuals, at_step=step)
        if step in CKPTS:
            r.checkpoint(step, theta.astype(dtype),
                         model.per_example_grads(theta).astype(dtype),
                         losses=model.losses(theta),
                         hessian_in_basis=in_basis(model.hvp(theta), r.eigvecs))
        r.trajectory_point(step, theta.astype(dtype), loss=model.losses(theta).mean())
        pos = step % (N // S)
        if pos == 0:
            order = rng.permutation(N)
        batch = order[pos * S:(pos + 1) * S]
        theta = theta - LR * model.per_example_grads(theta, batch).mean(axis=0)
    return r.close()


@pytest.mark.parametrize("fmt, dtype", [("npy", np.float64), ("safetensors", np.float32)])
def test_recorded_run_verifies(tmp_path, sgd_ou, fmt, dtype):
    run = record(tmp_path / "run", fmt, dtype)
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["steps_per_epoch"] == N // S and manifest["trajectory"] == {"every": 1}
    proc = sgd_ou("verify", "--run-dir", run, "--out", tmp_path / "report")
    assert proc.returncode in (0, 1, 3), proc.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    inputs = {f["path"] for f in report["run"]["inputs"]}
    assert "basis/hessian_eigvecs.npy" in inputs
    assert "checkpoints/step_1000/hessian_in_basis.npy" in inputs
    assert report["run"]["manifest"]["format_version"] == 2
    assert report["run"]["manifest"]["reshuffling"]["steps_per_epoch"] == N // S
    assert report["run"]["dims"]["d"] == 36


def test_verify_rejects_a_corrupted_basis(tmp_path, sgd_ou):
    run = record(tmp_path / "run")
    v = np.load(run / "basis/hessian_eigvecs.npy")
    v[0] *= 1.01
    np.save(run / "basis/hessian_eigvecs.npy", v)
    proc = sgd_ou("verify", "--run-dir", run)
    assert proc.returncode == 2
    assert "hessian_eigvecs.npy" in proc.stderr and "not orthonormal" in proc.stderr
