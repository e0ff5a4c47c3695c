"""The Recorder: writes one run directory in sgd-ou format v2 (docs/run-dir-format.md)."""

from __future__ import annotations

import json
import math
import numbers
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import _io
from .lanczos import sign_convention
from .sampling import sampling_fields

FORMAT_VERSION = 2
# Largest accepted max|H - H^T| / max|H| of a full Hessian: above float32 rounding, below a bug.
HESSIAN_SYMMETRY_RTOL = 1e-3
# Orthonormality tolerance max|V V^T - I| of the basis, by stored dtype (as the Rust reader).
ORTHONORMALITY_TOL = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
_RESERVED = {
    "format_version", "learning_rate", "batch_size", "dataset_size", "loss_reduction",
    "gradients", "sampling", "steps_per_epoch", "first_epoch_step", "drop_last", "parameters",
    "trajectory", "basis",
}


def parameter_map(parameters):
    """[(name, shape)] or [{"name", "shape"}] in flattening order -> run.json's
    [{"name", "shape", "offset"}] and the total d."""
    out, offset, seen = [], 0, set()
    for item in parameters:
        name, shape = (item["name"], item["shape"]) if isinstance(item, dict) else item
        name = str(name)
        if not name or name in seen:
            raise ValueError(f"parameters: empty or repeated tensor name {name!r}")
        seen.add(name)
        shape = [int(s) for s in shape]
        if any(s < 0 for s in shape):
            raise ValueError(f"parameters: negative dimension in {name}: {shape}")
        out.append({"name": name, "shape": shape, "offset": offset})
        offset += int(np.prod(shape, dtype=np.int64)) if shape else 1
    if not out:
        raise ValueError("parameters: the list is empty")
    return out, offset


class Recorder:
    """Writes a run directory in sgd-ou format v2, atomically (a temporary folder next to
    `out_dir` is renamed at close(); an exception inside ``with Recorder(...)`` leaves nothing).

    Parameters: `learning_rate` ε > 0 of plain SGD θ ← θ − ε ĝ; `batch_size` S;
    `dataset_size` N; `sampling` "without_replacement" | "with_replacement" | "reshuffled" (or
    the dict of ``sgd_ou_recorder.torch.sampling_from_loader``), with `drop_last`,
    `steps_per_epoch` (default from N, S) and `first_epoch_step` for "reshuffled";
    `loss_reduction` "mean" | "sum"; `parameters` [(name, shape), ...] in flattening order
    (recommended: it lets reports name "fc2.weight[17, 3]"); `gradients` "per_example" |
    "minibatch"; `checkpoint_format` "npy" | "safetensors" (bf16 kept as bf16 only there);
    `**metadata` any JSON values (model, dataset, seed, framework, notes, ...).
    """

    def __init__(self, out_dir, *, learning_rate, batch_size, dataset_size,
                 sampling="without_replacement", loss_reduction="mean", parameters=None,
                 steps_per_epoch=None, first_epoch_step=0, drop_last=None,
                 gradients="per_example", checkpoint_format="npy", overwrite=False, **metadata):
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not overwrite:
            raise FileExistsError(f"{self.out_dir} exists; pass overwrite=True or choose another")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise TypeError(f"learning_rate must be a number, got {learning_rate!r}")
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate}")
        batch_size = _io.check_int("batch_size", batch_size, 1)
        dataset_size = _io.check_int("dataset_size", dataset_size, 1)
        if dataset_size < batch_size:
            raise ValueError(f"dataset_size N={dataset_size} < batch_size S={batch_size}")
        for key, val, allowed in (("loss_reduction", loss_reduction, ("mean", "sum")),
                                  ("gradients", gradients, ("per_example", "minibatch")),
                                  ("checkpoint_format", checkpoint_format, ("npy", "safetensors"))):
            if val not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {val!r}")
        clash = _RESERVED & metadata.keys()
        if clash:
            raise ValueError(f"metadata keys {sorted(clash)} are set by Recorder's own arguments")
        self.manifest = {
            "format_version": FORMAT_VERSION, "learning_rate": float(learning_rate),
            "batch_size": batch_size, "dataset_size": dataset_size,
            "loss_reduction": loss_reduction, "gradients": gradients,
        }
        self.manifest.update(sampling_fields(
            sampling, dataset_size=dataset_size, batch_size=batch_size,
            steps_per_epoch=steps_per_epoch, first_epoch_step=first_epoch_step,
            drop_last=drop_last))
        self._d = None
        if parameters is not None:
            self.manifest["parameters"], self._d = parameter_map(parameters)
        for key, val in metadata.items():
            self.manifest[str(key)] = _io.json_safe(val, key)
        self._format = checkpoint_format
        self._overwrite = overwrite
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.partial-",
                                          dir=self.out_dir.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o777 & ~umask)
        (self._tmp / "checkpoints").mkdir()
        self._ckpt_steps = []
        self._in_basis_steps = []
        self._traj = None  # (steps list, params writer, losses list)
        self.eigvecs = None  # the stored basis (after cast and sign convention)
        self._closed = False

    # -- helpers -----------------------------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise RuntimeError("Recorder is closed")

    def _check_d(self, name, d):
        if self._d is None:
            self._d = d
        elif d != self._d:
            src = "parameters" if "parameters" in self.manifest else "earlier arrays"
            raise ValueError(f"{name}: d = {d} parameters, but {src} give d = {self._d}")

    def _vector(self, name, value):
        arr = _io.to_array(name, value)
        if arr.ndim != 1:
            raise ValueError(f"{name}: shape {arr.shape}, expected (d,); flatten the parameters "
                             "in the order of `parameters` (e.g. numpy.concatenate of ravel())")
        self._check_d(name, arr.shape[0])
        return arr

    def _store(self, arr):
        return arr if self._format == "safetensors" else _io.widen_for_npy(arr)

    # -- public API --------------------------------------------------------------------------
    def checkpoint(self, step, params, per_example_grads, losses=None, hessian=None,
                   hessian_in_basis=None):
        """Writes checkpoints/step_<step>/: params (d,), per-example gradients (n, d) (row i =
        ∇l_i, no 1/S factor), optional per-example losses (n,), full Hessian (d, d) and
        V H Vᵀ (m, m) in the basis given to :meth:`basis` (call that first)."""
        self._check_open()
        step = _io.check_int("step", step, 0)
        if step in self._ckpt_steps:
            raise ValueError(f"checkpoint for step {step} already written")
        p = self._vector(f"step {step} params", params)
        d = p.shape[0]
        g = _io.to_array(f"step {step} per_example_grads", per_example_grads)
        if g.ndim != 2 or g.shape[1] != d:
            raise ValueError(f"step {step} per_example_grads: shape {g.shape}, expected (n, d) = "
                             f"(n, {d}): one gradient row per example")
        n = g.shape[0]
        if n < 2:
            raise ValueError(f"step {step} per_example_grads: n = {n} rows; at least 2 needed")
        arrays = {"params": p, "grads": g}
        if losses is not None:
            lo = _io.to_array(f"step {step} losses", losses)
            if lo.shape != (n,):
                raise ValueError(f"step {step} losses: shape {lo.shape}, expected ({n},)")
            arrays["losses"] = lo
        if hessian is not None:
            arrays["hessian"] = self._full_hessian(step, hessian, d)
        folder = self._tmp / "checkpoints" / f"step_{step}"
        folder.mkdir()
        if hessian_in_basis is not None:
            _io.write_npy(folder / "hessian_in_basis.npy", self._in_basis(step, hessian_in_basis))
            self._in_basis_steps.append(step)
        if self._format == "npy":
            for name, arr in arrays.items():
                _io.write_npy(folder / f"{name}.npy", _io.widen_for_npy(arr))
        else:
            _io.write_safetensors(folder / "checkpoint.safetensors", arrays, {"step": step})
        self._ckpt_steps.append(step)

    def _full_hessian(self, step, hessian, d):
        h = _io.to_array(f"step {step} hessian", hessian)
        if h.shape != (d, d):
            raise ValueError(f"step {step} hessian: shape {h.shape}, expected ({d}, {d})")
        h64 = _io.as_f64(h)
        asym, scale = float(np.abs(h64 - h64.T).max()), float(np.abs(h64).max())
        if asym > HESSIAN_SYMMETRY_RTOL * scale:
            raise ValueError(f"step {step} hessian: not symmetric, max |H - H^T| = {asym:.3g} vs "
                             f"max |H| = {scale:.3g}; check the second-order autodiff")
        return h

    def _in_basis(self, step, b):
        if self.eigvecs is None:
            raise ValueError(f"step {step} hessian_in_basis: call basis() first; V H Vᵀ is "
                             "read in the run's basis")
        m = self.eigvecs.shape[0]
        b = _io.widen_for_npy(_io.to_array(f"step {step} hessian_in_basis", b))
        if b.shape != (m, m):
            raise ValueError(f"step {step} hessian_in_basis: shape {b.shape}, expected "
                             f"({m}, {m}) for the m = {m} basis vectors")
        return 0.5 * (b + b.T)

    def trajectory_point(self, step, params, loss=None):
        """Appends θ_t (and optionally the training loss at θ_t) to the trajectory, streamed to
        disk. Steps must increase; record every step (or every k-th) over several epochs: the
        whiteness and stationarity checks need it. `trajectory.every` is set at close()."""
        self._check_open()
        step = _io.check_int("step", step, 0)
        p = _io.widen_for_npy(self._vector(f"trajectory step {step} params", params))
        if self._traj is None:
            tdir = self._tmp / "trajectory"
            tdir.mkdir()
            self._traj = ([], _io.NpyRowWriter(tdir / "params.npy", p.dtype, p.shape), [])
        steps, writer, losses = self._traj
        if steps and step <= steps[-1]:
            raise ValueError(f"trajectory step {step} after step {steps[-1]}; steps must increase")
        if loss is not None:
            loss = float(loss)
            if not math.isfinite(loss):
                raise ValueError(f"trajectory step {step}: loss is {loss}")
        if steps and (loss is None) != (losses[-1] is None):
            raise ValueError(f"trajectory step {step}: give a loss at every point or at none")
        writer.append(p)
        steps.append(step)
        losses.append(loss)

    def basis(self, eigvecs, eigvals, residuals, at_step):
        """Records the run-level Hessian basis: eigvecs (m, d) orthonormal rows sorted by
        decreasing eigvals (m,), Lanczos residual norms (m,), computed at step `at_step`. The
        sign convention (largest-magnitude entry positive) is applied to the stored rows; use
        ``recorder.eigvecs`` afterwards for V H Vᵀ at checkpoints."""
        self._check_open()
        if self.eigvecs is not None:
            raise ValueError("basis() was already called; a run has one basis")
        v = _io.widen_for_npy(_io.to_array("basis eigvecs", eigvecs))
        if v.ndim != 2 or not (1 <= v.shape[0] <= v.shape[1]):
            raise ValueError(f"basis eigvecs: shape {v.shape}, expected (m, d) with 1 <= m <= d")
        self._check_d("basis eigvecs", v.shape[1])
        m = v.shape[0]
        lam = _io.as_f64(_io.to_array("basis eigvals", np.asarray(eigvals, dtype=np.float64)))
        res = _io.as_f64(_io.to_array("basis residuals", np.asarray(residuals, dtype=np.float64)))
        for name, a in (("eigvals", lam), ("residuals", res)):
            if a.shape != (m,):
                raise ValueError(f"basis {name}: shape {a.shape}, expected ({m},)")
        if np.any(np.diff(lam) > 0):
            raise ValueError("basis eigvals: not sorted by decreasing eigenvalue; sort the pairs")
        if np.any(res < 0):
            raise ValueError("basis residuals: negative; give the norms ||Hv - lambda v||")
        v = sign_convention(v)
        v64 = v.astype(np.float64)
        dev = float(np.abs(v64 @ v64.T - np.eye(m)).max())
        tol = ORTHONORMALITY_TOL[v.dtype]
        if dev > tol:
            raise ValueError(f"basis eigvecs: rows not orthonormal, max |V V^T - I| = {dev:.3g} "
                             f"> {tol:g} for {v.dtype}; orthonormalise (numpy.linalg.qr)")
        at_step = _io.check_int("at_step", at_step, 0)
        bdir = self._tmp / "basis"
        bdir.mkdir()
        _io.write_npy(bdir / "hessian_eigvecs.npy", v)
        _io.write_npy(bdir / "hessian_eigvals.npy", lam)
        _io.write_npy(bdir / "hessian_residuals.npy", res)
        self.manifest["basis"] = {"at_step": at_step}
        self.eigvecs = v

    def close(self):
        """Writes run.json and the trajectory's steps, then renames the temporary folder to
        out_dir. Returns the run directory path."""
        self._check_open()
        if len(self._ckpt_steps) < 2:
            raise ValueError(f"{len(self._ckpt_steps)} checkpoint(s) written; sgd-ou needs >= 2")
        manifest = dict(self.manifest)
        if self._traj is not None:
            steps, writer, losses = self._traj
            writer.close()
            tdir = self._tmp / "trajectory"
            _io.write_npy(tdir / "steps.npy", np.asarray(steps, dtype="<i8"))
            if losses[0] is not None:
                _io.write_npy(tdir / "losses.npy", np.asarray(losses, dtype="<f8"))
            gaps = set(np.diff(steps).tolist())
            if len(gaps) == 1:
                manifest["trajectory"] = {"every": int(gaps.pop())}
        with open(self._tmp / "run.json", "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._publish()
        self._closed = True
        return self.out_dir

    def _publish(self):
        if self.out_dir.exists():
            if not self._overwrite:
                raise FileExistsError(f"{self.out_dir} appeared while writing; not replacing it")
            old = self.out_dir.with_name(f".{self.out_dir.name}.old-{os.getpid()}")
            os.replace(self.out_dir, old)
            os.replace(self._tmp, self.out_dir)
            shutil.rmtree(old)
        else:
            os.replace(self._tmp, self.out_dir)

    def abort(self):
        """Discards everything written so far (the temporary folder)."""
        if not self._closed:
            if self._traj is not None:
                self._traj[1].discard()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False
