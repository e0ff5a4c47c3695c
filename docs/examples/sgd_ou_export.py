"""Write a training run in sgd-ou run-directory format v1.

A small, dependency-light helper (NumPy only; the ``safetensors`` package is needed only for
``checkpoint_format="safetensors"``). Copy this file next to your training script, or put
``docs/examples`` on ``sys.path``.

Usage::

    from sgd_ou_export import RunWriter

    with RunWriter("runs/my_run", learning_rate=0.05, batch_size=32, dataset_size=60000,
                   loss_reduction="mean", sampling="without_replacement",
                   model="mlp-784-100-10", dataset="mnist", seed=0, framework="torch 2.5",
                   parameter_order=[("fc1.weight", (100, 784)), ("fc1.bias", (100,)), ...]) as run:
        for step in range(steps):
            ...                                   # one plain SGD step
            run.trajectory_point(step, flat_params, loss=train_loss)
            if step in checkpoint_steps:
                run.checkpoint(step, flat_params, per_example_grads, losses=per_example_losses)
    # the run directory appears (renamed from a temporary folder) only when the block exits cleanly

What is written (format v1)::

    RUN_DIR/
      run.json                         manifest
      checkpoints/step_<N>/            N = SGD step, no zero padding
          params.npy   (d,)            theta at that step
          grads.npy    (n, d)          per-example gradients  grad l_i(theta), i = 1..n (unscaled)
          losses.npy   (n,)            per-example losses (optional)
          hessian.npy  (d, d)          Hessian of the mean loss at theta (optional)
          -- or checkpoint.safetensors holding the tensors "params", "grads", "losses", "hessian"
      trajectory/                      only if trajectory_point() was called
          steps.npy    (T,) int64
          params.npy   (T, d)
          losses.npy   (T,)            only if every point had a loss

Conventions the manifest records and sgd-ou relies on:

* ``grads`` row i is the gradient of example i's *own* loss l_i, with no 1/S or 1/N factor (what
  ``torch.func.vmap(grad(loss_one))`` and ``jax.vmap(jax.grad(loss_one))`` return).
* ``loss_reduction`` says how the *minibatch* loss that SGD differentiated was formed from the l_i:
  "mean" (1/S sum, PyTorch's default) or "sum".
* ``sampling`` says how minibatch indices were drawn: "without_replacement" (S distinct examples
  per step, e.g. a shuffled DataLoader) or "with_replacement".
* Parameters are flattened into one vector of length d; ``parameter_order`` lists the (name, shape)
  blocks in flattening order.

The writer checks shapes, dtypes (float16/32/64 only, no integers), finiteness and the symmetry of
the Hessian (to 1e-3 relative), and raises
``ValueError`` / ``TypeError`` with the offending array named. Arrays are stored as float64 when given
as float64 and as float32 otherwise (float16 is widened exactly; with ``checkpoint_format=
"safetensors"`` float16 is kept).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
# Largest accepted max|H - H^T| / max|H|: far above float32 rounding, far below an autodiff bug.
HESSIAN_SYMMETRY_RTOL = 1e-3
_LOSS_REDUCTIONS = ("mean", "sum")
_SAMPLINGS = ("without_replacement", "with_replacement")
_GRADIENTS = ("per_example", "minibatch")
_RESERVED = {
    "format_version",
    "learning_rate",
    "batch_size",
    "dataset_size",
    "loss_reduction",
    "gradients",
    "sampling",
}


def _float_array(name, value, *, keep_f16=False):
    """Converts `value` to a NumPy float array, refusing integers, bools, complex and objects."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor passed by mistake
        raise TypeError(
            f"{name}: got a torch tensor; pass tensor.detach().cpu().float().numpy() "
            "(NumPy cannot hold bfloat16)"
        )
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name}: dtype {arr.dtype} is not a floating-point type; "
            "the format stores float32/float64 (float16 only in safetensors)"
        )
    if arr.dtype == np.float16 and not keep_f16:
        arr = arr.astype(np.float32)  # exact
    elif arr.dtype not in (np.float16, np.float32, np.float64):
        # e.g. float128 / longdouble: narrow with a rounding the user asked for implicitly
        arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: contains {int(bad.sum())} non-finite value(s), first at index {list(pos)} "
            f"({arr[pos]}); NaN/Inf means the run diverged or the gradient computation is broken"
        )
    return np.ascontiguousarray(arr)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _json_safe(value, key):
    """Converts NumPy scalars/arrays and tuples in metadata to JSON types; refuses the rest."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metadata {key!r}: non-finite number {value}")
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist(), key)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, key) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v, key) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"metadata {key!r}: value {value!r} of type {type(value).__name__} is not JSON")


def _normalise_parameter_order(order):
    """[(name, shape)] or [{"name", "shape"}] -> [{"name", "shape", "offset", "size"}]."""
    out = []
    offset = 0
    for item in order:
        if isinstance(item, dict):
            name, shape = item["name"], item["shape"]
        else:
            name, shape = item
        shape = [int(s) for s in shape]
        if any(s < 0 for s in shape):
            raise ValueError(f"parameter_order: negative dimension in {name}: {shape}")
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        out.append({"name": str(name), "shape": shape, "offset": offset, "size": size})
        offset += size
    return out, offset


class RunWriter:
    """Writes one run directory in sgd-ou format v1; see the module docstring.

    Parameters
    ----------
    out_dir : final run directory; it must not exist unless ``overwrite=True``.
    learning_rate : epsilon > 0 of plain SGD, theta <- theta - epsilon * minibatch gradient.
    batch_size : S >= 1.
    dataset_size : N >= S, the number of training examples minibatches are drawn from.
    loss_reduction : "mean" or "sum", how the minibatch loss was formed from the l_i.
    sampling : "without_replacement" or "with_replacement".
    gradients : "per_example" (default; grads rows are grad l_i) or "minibatch".
    parameter_order : optional [(name, shape), ...] in flattening order; recommended. Its total
        size must equal d.
    checkpoint_format : "npy" (default) or "safetensors" (needs ``pip install safetensors``).
    overwrite : replace an existing ``out_dir`` at ``close()``.
    **metadata : model, dataset, seed, framework, notes and any other JSON-serialisable key.
    """

    def __init__(
        self,
        out_dir,
        *,
        learning_rate,
        batch_size,
        dataset_size,
        loss_reduction="mean",
        sampling="without_replacement",
        gradients="per_example",
        parameter_order=None,
        checkpoint_format="npy",
        overwrite=False,
        **metadata,
    ):
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not overwrite:
            raise FileExistsError(f"{self.out_dir} exists; pass overwrite=True or choose another")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise TypeError(f"learning_rate must be a number, got {learning_rate!r}")
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate}")
        batch_size = _check_int("batch_size", batch_size, 1)
        dataset_size = _check_int("dataset_size", dataset_size, 1)
        if dataset_size < batch_size:
            raise ValueError(f"dataset_size N={dataset_size} < batch_size S={batch_size}")
        for key, val, allowed in (
            ("loss_reduction", loss_reduction, _LOSS_REDUCTIONS),
            ("sampling", sampling, _SAMPLINGS),
            ("gradients", gradients, _GRADIENTS),
            ("checkpoint_format", checkpoint_format, ("npy", "safetensors")),
        ):
            if val not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {val!r}")
        if checkpoint_format == "safetensors":
            try:
                import safetensors.numpy  # noqa: F401
            except ImportError as e:
                raise ImportError(
                    "checkpoint_format='safetensors' needs the safetensors package "
                    "(pip install safetensors)"
                ) from e
        clash = _RESERVED & metadata.keys()
        if clash:
            raise ValueError(f"metadata keys {sorted(clash)} are set by RunWriter's own arguments")

        self.manifest = {
            "format_version": FORMAT_VERSION,
            "learning_rate": float(learning_rate),
            "batch_size": batch_size,
            "dataset_size": dataset_size,
            "loss_reduction": loss_reduction,
            "gradients": gradients,
            "sampling": sampling,
        }
        for key in ("model", "dataset", "seed", "framework", "notes"):
            self.manifest[key] = _json_safe(metadata.pop(key, None), key)
        self._d = None
        if parameter_order is not None:
            order, total = _normalise_parameter_order(parameter_order)
            self.manifest["parameter_order"] = order
            self._d = total
        for key, val in metadata.items():
            self.manifest[str(key)] = _json_safe(val, key)

        self._format = checkpoint_format
        self._overwrite = overwrite
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.out_dir.name}.partial-", dir=self.out_dir.parent)
        )
        # mkdtemp creates the folder with mode 0700; give the run directory the usual mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o777 & ~umask)
        (self._tmp / "checkpoints").mkdir()
        self._ckpt_steps = []
        self._traj_steps = []
        self._traj_params = []
        self._traj_losses = []
        self._closed = False

    # -- helpers -----------------------------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise RuntimeError("RunWriter is closed")

    def _check_d(self, name, d):
        if self._d is None:
            self._d = d
        elif d != self._d:
            src = "parameter_order" if "parameter_order" in self.manifest else "earlier arrays"
            raise ValueError(f"{name}: d = {d} parameters, but {src} give d = {self._d}")

    # -- public API --------------------------------------------------------------------------
    def checkpoint(self, step, params, grads, losses=None, hessian=None):
        """Writes checkpoints/step_<step>/ with params (d,), grads (n, d) and optional losses
        (n,) and hessian (d, d). Arrays are written immediately (to the temporary folder)."""
        self._check_open()
        step = _check_int("step", step, 0)
        if step in self._ckpt_steps:
            raise ValueError(f"checkpoint for step {step} already written")
        f16 = self._format == "safetensors"
        p = _float_array(f"step {step} params", params, keep_f16=f16)
        if p.ndim != 1:
            raise ValueError(
                f"step {step} params: shape {p.shape}, expected (d,); flatten the parameters "
                "in parameter_order (e.g. numpy.concatenate([w.ravel() for w in ws]))"
            )
        self._check_d(f"step {step} params", p.shape[0])
        d = p.shape[0]
        g = _float_array(f"step {step} grads", grads, keep_f16=f16)
        if g.ndim != 2 or g.shape[1] != d:
            raise ValueError(
                f"step {step} grads: shape {g.shape}, expected (n, d) = (n, {d}): one row of "
                "per-example gradient per example"
            )
        n = g.shape[0]
        if n < 2:
            raise ValueError(f"step {step} grads: n = {n} examples; at least 2 are needed")
        if n > self.manifest["dataset_size"]:
            raise ValueError(
                f"step {step} grads: n = {n} rows but dataset_size = {self.manifest['dataset_size']}"
            )
        arrays = {"params": p, "grads": g}
        if losses is not None:
            lo = _float_array(f"step {step} losses", losses, keep_f16=f16)
            if lo.shape != (n,):
                raise ValueError(f"step {step} losses: shape {lo.shape}, expected (n,) = ({n},)")
            arrays["losses"] = lo
        if hessian is not None:
            h = _float_array(f"step {step} hessian", hessian, keep_f16=f16)
            if h.shape != (d, d):
                raise ValueError(f"step {step} hessian: shape {h.shape}, expected ({d}, {d})")
            h64 = h.astype(np.float64)
            asym = float(np.abs(h64 - h64.T).max())
            scale = float(np.abs(h64).max())
            if asym > HESSIAN_SYMMETRY_RTOL * scale:
                raise ValueError(
                    f"step {step} hessian: not symmetric, max |H - H^T| = {asym:.3g} vs "
                    f"max |H| = {scale:.3g}; a Hessian is symmetric, so the second-order autodiff "
                    "is wrong (check it against finite differences of the gradient) or the "
                    "parameter flattening differs between rows and columns"
                )
            arrays["hessian"] = h
        folder = self._tmp / "checkpoints" / f"step_{step}"
        folder.mkdir()
        if self._format == "npy":
            for name, arr in arrays.items():
                np.save(folder / f"{name}.npy", arr)
        else:
            from safetensors.numpy import save_file

            save_file(arrays, str(folder / "checkpoint.safetensors"), metadata={"step": str(step)})
        self._ckpt_steps.append(step)

    def trajectory_point(self, step, params, loss=None):
        """Buffers one row of the trajectory (theta_t and optionally the training loss at
        theta_t). Steps must increase strictly. Written at close()."""
        self._check_open()
        step = _check_int("step", step, 0)
        if self._traj_steps and step <= self._traj_steps[-1]:
            raise ValueError(
                f"trajectory step {step} after step {self._traj_steps[-1]}; steps must increase"
            )
        p = _float_array(f"trajectory step {step} params", params)
        if p.ndim != 1:
            raise ValueError(f"trajectory step {step} params: shape {p.shape}, expected (d,)")
        self._check_d(f"trajectory step {step} params", p.shape[0])
        if self._traj_params and p.dtype != self._traj_params[0].dtype:
            p = p.astype(self._traj_params[0].dtype)
        if loss is not None:
            loss = float(loss)
            if not math.isfinite(loss):
                raise ValueError(f"trajectory step {step}: loss is {loss}")
        if self._traj_steps and (loss is None) != (self._traj_losses[-1] is None):
            raise ValueError(
                f"trajectory step {step}: give a loss at every trajectory point or at none"
            )
        self._traj_steps.append(step)
        self._traj_params.append(p.copy())
        self._traj_losses.append(loss)

    def close(self):
        """Writes run.json and the trajectory, then renames the temporary folder to out_dir.
        Returns the run directory path."""
        self._check_open()
        if not self._ckpt_steps:
            raise ValueError("no checkpoint was written; call checkpoint() at least once")
        if self._traj_steps:
            tdir = self._tmp / "trajectory"
            tdir.mkdir()
            np.save(tdir / "steps.npy", np.asarray(self._traj_steps, dtype="<i8"))
            np.save(tdir / "params.npy", np.stack(self._traj_params))
            if self._traj_losses[0] is not None:
                np.save(tdir / "losses.npy", np.asarray(self._traj_losses, dtype="<f8"))
        manifest = dict(self.manifest)
        manifest["checkpoint_steps"] = sorted(self._ckpt_steps)
        manifest["num_parameters"] = self._d
        with open(self._tmp / "run.json", "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        if self.out_dir.exists():
            if not self._overwrite:
                raise FileExistsError(f"{self.out_dir} appeared while writing; not replacing it")
            old = self.out_dir.with_name(f".{self.out_dir.name}.old-{os.getpid()}")
            os.replace(self.out_dir, old)
            os.replace(self._tmp, self.out_dir)
            shutil.rmtree(old)
        else:
            os.replace(self._tmp, self.out_dir)
        self._closed = True
        return self.out_dir

    def abort(self):
        """Discards everything written so far (the temporary folder)."""
        if not self._closed:
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


def noise_to_signal(grads, batch_size):
    """NSR = tr(C) / (S * ||gbar||^2) from per-example gradients (n, d): C is the covariance of
    the rows (divisor n - 1), gbar their mean. NSR < 1: the minibatch gradient is dominated by
    its mean (drift); NSR > 1: by its noise (diffusion). McCandlish et al. 2018, B_simple / S."""
    g = np.asarray(grads, dtype=np.float64)
    gbar = g.mean(axis=0)
    tr_c = ((g - gbar) ** 2).sum() / (g.shape[0] - 1)
    return float(tr_c / (batch_size * float(gbar @ gbar)))
