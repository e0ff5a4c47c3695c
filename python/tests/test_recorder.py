"""The Recorder writes format v2 files and refuses bad input with clear errors."""

import json
import struct

import numpy as np
import pytest

from sgd_ou_recorder import Recorder, lanczos
from sgd_ou_recorder._io import BF16

D, N = 6, 8
PARAMS = [("w", (2, 2)), ("b", (2,))]


def rec(tmp_path, **kw):
    args = dict(learning_rate=0.1, batch_size=2, dataset_size=N, parameters=PARAMS)
    args.update(kw)
    return Recorder(tmp_path / "run", **args)


def grads(seed=0):
    return np.random.default_rng(seed).standard_normal((N, D))


def test_manifest_and_files(tmp_path):
    r = rec(tmp_path, sampling="reshuffled", drop_last=True, model="toy")
    v = np.eye(D)[::-1][:2].copy()
    r.basis(v, [2.0, 1.0], [0.0, 0.0], at_step=10)
    for s in (0, 10):
        r.checkpoint(s, np.zeros(D), grads(s), losses=np.ones(N),
                     hessian_in_basis=[[2.0, 0.1], [0.1, 1.0]])
    for s in range(0, 12, 2):
        r.trajectory_point(s, np.full(D, s, dtype=np.float32), loss=1.0)
    out = r.close()
    m = json.loads((out / "run.json").read_text())
    assert m["format_version"] == 2
    assert m["parameters"] == [{"name": "w", "shape": [2, 2], "offset": 0},
                               {"name": "b", "shape": [2], "offset": 4}]
    assert (m["sampling"], m["steps_per_epoch"], m["drop_last"]) == ("reshuffled", 4, True)
    assert m["trajectory"] == {"every": 2}
    assert m["basis"] == {"at_step": 10}
    assert m["model"] == "toy"
    np.testing.assert_array_equal(np.load(out / "checkpoints/step_10/grads.npy"), grads(10))
    traj = np.load(out / "trajectory/params.npy")
    assert traj.shape == (6, D) and traj.dtype == np.float32 and traj[3, 0] == 6
    np.testing.assert_array_equal(np.load(out / "trajectory/steps.npy"), np.arange(0, 12, 2))
    assert np.load(out / "basis/hessian_eigvecs.npy").shape == (2, D)
    assert np.load(out / "checkpoints/step_0/hessian_in_basis.npy")[0, 1] == 0.1
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_irregular_trajectory_has_no_every(tmp_path):
    r = rec(tmp_path)
    r.checkpoint(0, np.zeros(D), grads())
    r.checkpoint(5, np.zeros(D), grads())
    for s in (0, 1, 3):
        r.trajectory_point(s, np.zeros(D))
    m = json.loads((r.close() / "run.json").read_text())
    assert "trajectory" not in m


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def test_bf16_is_kept_in_safetensors(tmp_path):
    r = rec(tmp_path, checkpoint_format="safetensors")
    g32 = grads().astype(np.float32)
    bits = (g32.view(np.uint32) >> 16).astype(np.uint16)  # truncation to bf16
    for s in (0, 1):
        r.checkpoint(s, np.zeros(D, dtype=np.float32), BF16(bits))
    out = r.close()
    header, data = read_safetensors(out / "checkpoints/step_1/checkpoint.safetensors")
    assert header["grads"]["dtype"] == "BF16" and header["grads"]["shape"] == [N, D]
    lo, hi = header["grads"]["data_offsets"]
    np.testing.assert_array_equal(np.frombuffer(data[lo:hi], dtype="<u2").reshape(N, D), bits)
    assert header["params"]["dtype"] == "F32"


def test_bf16_is_widened_exactly_in_npy(tmp_path):
    r = rec(tmp_path)
    bits = np.array([0x3F80, 0x4000, 0xBF80, 0x3E00, 0x4040, 0x3F00], dtype=np.uint16)
    for s in (0, 1):
        r.checkpoint(s, BF16(bits), grads())
    p = np.load(r.close() / "checkpoints/step_0/params.npy")
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p, [1.0, 2.0, -1.0, 0.125, 3.0, 0.5])


@pytest.mark.parametrize("call, match", [
    (lambda r: r.checkpoint(0, np.zeros(D + 1), grads()), "d = 7 parameters, but parameters"),
    (lambda r: r.checkpoint(0, np.zeros(D), grads()[:, :3]), r"expected \(n, d\)"),
    (lambda r: r.checkpoint(0, np.zeros(D), grads()[:1]), "at least 2"),
    (lambda r: r.checkpoint(0, np.zeros(D, dtype=int), grads()), "not a floating-point"),
    (lambda r: r.checkpoint(0, np.full(D, np.nan), grads()), r"non-finite value\(s\), first at"),
    (lambda r: r.checkpoint(0, np.zeros(D), grads(), losses=np.ones(3)), "losses: shape"),
    (lambda r: r.checkpoint(0, np.zeros(D), grads(), hessian=np.triu(np.ones((D, D)))),
     "not symmetric"),
    (lambda r: r.checkpoint(0, np.zeros(D), grads(), hessian_in_basis=np.eye(2)),
     "call basis"),
    (lambda r: r.basis(np.ones((2, D)), [2.0, 1.0], [0, 0], 0), "not orthonormal"),
    (lambda r: r.basis(np.eye(D)[:2], [1.0, 2.0], [0, 0], 0), "decreasing"),
    (lambda r: r.basis(np.eye(D)[:2], [2.0, 1.0], [0, -1.0], 0), "negative"),
    (lambda r: r.basis(np.eye(D)[:2], [2.0], [0, 0], 0), r"eigvals: shape"),
    (lambda r: r.trajectory_point(-1, np.zeros(D)), ">= 0"),
])
def test_bad_input_is_refused(tmp_path, call, match):
    r = rec(tmp_path)
    with pytest.raises((ValueError, TypeError), match=match):
        call(r)
    r.abort()
    assert list(tmp_path.iterdir()) == []


def test_constructor_checks(tmp_path):
    with pytest.raises(ValueError, match="learning_rate"):
        rec(tmp_path, learning_rate=0.0)
    with pytest.raises(ValueError, match="dataset_size"):
        rec(tmp_path, dataset_size=1)
    with pytest.raises(ValueError, match="set by Recorder"):
        rec(tmp_path, basis=1)
    with pytest.raises(ValueError, match="needs drop_last"):
        rec(tmp_path, sampling="reshuffled")


def test_exception_in_with_block_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with rec(tmp_path) as r:
            r.checkpoint(0, np.zeros(D), grads())
            r.trajectory_point(0, np.zeros(D))
            raise RuntimeError("training crashed")
    assert list(tmp_path.iterdir()) == []


def test_sign_convention_applied_to_stored_basis(tmp_path):
    r = rec(tmp_path)
    h = np.diag(np.arange(1.0, D + 1))
    e = lanczos(lambda v: h @ v, D, 2)
    r.basis(-e.eigvecs, e.eigvals, e.residuals, at_step=0)
    assert np.all(r.eigvecs.max(axis=1) > 0)
    r.abort()
