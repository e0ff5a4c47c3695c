#!/usr/bin/env python3
"""Self-test of sgd_ou_export.RunWriter (NumPy only; run by tests/exporters.rs).

    python3 docs/examples/test_sgd_ou_export.py SCRATCH_DIR

Checks that bad input raises a clear error naming the array, that a failed export leaves neither
the run directory nor its temporary folder behind, and what a good export writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sgd_ou_export import RunWriter, noise_to_signal  # noqa: E402

BASE = dict(learning_rate=0.1, batch_size=4, dataset_size=10, seed=1, model="m")


def expect(exc_type, needle, fn):
    try:
        fn()
    except exc_type as e:
        assert needle in str(e), f"expected {needle!r} in {e!r}"
        return
    raise AssertionError(f"expected {exc_type.__name__} containing {needle!r}")


def good_arrays(d=3, n=5, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((d, d))
    return rng.standard_normal(d), rng.standard_normal((n, d)), rng.random(n), h + h.T


def only(scratch, name):
    """Names in scratch that belong to the run `name` (the run dir or its temporary folder)."""
    return sorted(p.name for p in scratch.iterdir() if name in p.name)


def main(scratch):
    scratch = Path(scratch)
    p, g, lo, h = good_arrays()

    # -- constructor checks ---------------------------------------------------------------------
    out = scratch / "ctor"
    expect(ValueError, "learning_rate", lambda: RunWriter(out, **(BASE | {"learning_rate": 0})))
    expect(ValueError, "dataset_size", lambda: RunWriter(out, **(BASE | {"batch_size": 11})))
    expect(TypeError, "batch_size", lambda: RunWriter(out, **(BASE | {"batch_size": 2.0})))
    expect(ValueError, "loss_reduction", lambda: RunWriter(out, loss_reduction="avg", **BASE))
    expect(ValueError, "sampling", lambda: RunWriter(out, sampling="shuffle", **BASE))
    expect(ValueError, "set by RunWriter", lambda: RunWriter(out, gradients="per_example",
                                                               format_version=2, **BASE))
    expect(TypeError, "not JSON", lambda: RunWriter(out, extra=object(), **BASE))
    assert only(scratch, "ctor") == [], "a rejected constructor leaves no folder"

    # -- a failed export leaves nothing behind --------------------------------------------------
    bad = [
        (ValueError, "non-finite value(s), first at index [2, 1]",
         lambda w: w.checkpoint(0, p, np.where(np.arange(15).reshape(5, 3) == 7, np.nan, g))),
        (ValueError, "expected (n, d) = (n, 3)", lambda w: w.checkpoint(0, p, g[:, :2])),
        (ValueError, "flatten the parameters", lambda w: w.checkpoint(0, p.reshape(1, 3), g)),
        (TypeError, "not a floating-point type",
         lambda w: w.checkpoint(0, p, g.astype(np.int64))),
        (ValueError, "losses: shape (4,)", lambda w: w.checkpoint(0, p, g, losses=lo[:4])),
        (ValueError, "hessian: not symmetric",
         lambda w: w.checkpoint(0, p, g, hessian=h + np.triu(np.ones((3, 3)), 1))),
        (ValueError, "n = 12 rows but dataset_size = 10",
         lambda w: w.checkpoint(0, p, np.ones((12, 3)))),
        (ValueError, "already written",
         lambda w: (w.checkpoint(4, p, g), w.checkpoint(4, p, g))),
        (ValueError, "steps must increase",
         lambda w: (w.trajectory_point(3, p), w.trajectory_point(3, p))),
        (ValueError, "at every trajectory point or at none",
         lambda w: (w.trajectory_point(0, p, loss=1.0), w.trajectory_point(1, p))),
        (ValueError, "d = 3 parameters, but parameter_order give d = 4", None),
        (ValueError, "no checkpoint was written", lambda w: w.close()),
    ]
    for k, (exc, needle, action) in enumerate(bad):
        name = f"bad{k}"
        if action is None:  # parameter_order inconsistent with the arrays
            def run_it():
                with RunWriter(scratch / name, parameter_order=[("w", (2, 2))], **BASE) as w:
                    w.checkpoint(0, p, g)
        else:
            def run_it(action=action):
                with RunWriter(scratch / name, **BASE) as w:
                    action(w)
        expect(exc, needle, run_it)
        assert only(scratch, name) == [], f"{name}: {only(scratch, name)} left behind"

    # -- existing directory ---------------------------------------------------------------------
    (scratch / "exists").mkdir()
    expect(FileExistsError, "overwrite=True", lambda: RunWriter(scratch / "exists", **BASE))

    # -- a good export --------------------------------------------------------------------------
    out = scratch / "good"
    with RunWriter(out, parameter_order=[("a", (1,)), ("b", (2,))], framework="numpy",
                   notes="n", dataset="ds", custom={"x": np.int64(3)}, **BASE) as w:
        for t in range(3):
            w.trajectory_point(t, p + t, loss=float(t))
        w.checkpoint(0, p, g, losses=lo, hessian=h)
        w.checkpoint(2, (p + 2).astype(np.float16), g.astype(np.float16))
    m = json.loads((out / "run.json").read_text())
    assert m["format_version"] == 1 and m["learning_rate"] == 0.1 and m["batch_size"] == 4
    assert m["dataset_size"] == 10 and m["loss_reduction"] == "mean"
    assert m["gradients"] == "per_example" and m["sampling"] == "without_replacement"
    assert m["seed"] == 1 and m["model"] == "m" and m["custom"] == {"x": 3}
    assert m["parameter_order"] == [
        {"name": "a", "shape": [1], "offset": 0, "size": 1},
        {"name": "b", "shape": [2], "offset": 1, "size": 2},
    ]
    assert m["checkpoint_steps"] == [0, 2] and m["num_parameters"] == 3
    c0 = out / "checkpoints" / "step_0"
    assert sorted(f.name for f in c0.iterdir()) == [
        "grads.npy", "hessian.npy", "losses.npy", "params.npy"]
    assert np.array_equal(np.load(c0 / "grads.npy"), g)
    assert np.load(c0 / "grads.npy").dtype == np.float64
    c2 = out / "checkpoints" / "step_2"
    assert sorted(f.name for f in c2.iterdir()) == ["grads.npy", "params.npy"]
    g2 = np.load(c2 / "grads.npy")
    assert g2.dtype == np.float32 and np.array_equal(g2, g.astype(np.float16).astype(np.float32))
    steps = np.load(out / "trajectory" / "steps.npy")
    assert steps.dtype == np.dtype("<i8") and steps.tolist() == [0, 1, 2]
    assert np.array_equal(np.load(out / "trajectory" / "params.npy"), np.stack([p, p + 1, p + 2]))
    assert np.load(out / "trajectory" / "losses.npy").tolist() == [0.0, 1.0, 2.0]
    assert only(scratch, "good") == ["good"]

    # overwrite=True replaces the directory only at close()
    with RunWriter(out, overwrite=True, **BASE) as w:
        w.checkpoint(7, p, g)
        assert (out / "checkpoints" / "step_0").exists(), "old run intact until close()"
    assert sorted(f.name for f in (out / "checkpoints").iterdir()) == ["step_7"]
    assert not (out / "trajectory").exists()
    assert only(scratch, "good") == ["good"]

    # -- noise_to_signal ------------------------------------------------------------------------
    gg = np.array([[1.0, 0.0], [3.0, 2.0], [2.0, 4.0]])  # mean (2, 2); deviations sum^2 = 2 + 8
    assert abs(noise_to_signal(gg, 5) - (10.0 / 2) / (5 * 8.0)) < 1e-15

    print("all RunWriter checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
