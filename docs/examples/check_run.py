#!/usr/bin/env python3
"""Check that a directory follows sgd-ou run-directory format v1 or v2 (the basics; `sgd-ou verify`
validates everything, including v2's basis/), and print a short summary.

NumPy only (the ``safetensors`` package is needed only for checkpoint.safetensors files). This is a
quick sanity check of an export, not a replacement for ``sgd-ou verify``, which re-validates
everything itself.

    python3 docs/examples/check_run.py RUN_DIR

Exit status 0 when the directory is valid, 1 when a problem was found (each one is printed).
Per checkpoint it prints n, d, the mean loss and the noise-to-signal ratio
NSR = tr C / (S ||gbar||^2) of the per-example gradients (C: covariance of the rows, divisor
n - 1; gbar: their mean): NSR < 1 in the drift phase, NSR > 1 in the diffusion phase.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np

FLOATS = (np.dtype("<f4"), np.dtype("<f8"))
INTS = (np.dtype("<i4"), np.dtype("<i8"))


class Problems(list):
    def add(self, where, message):
        self.append(f"{where}: {message}")


def load_npy(path, problems, ndim, allowed=FLOATS):
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - report any reader failure as a problem
        problems.add(path, f"cannot read ({e})")
        return None
    if arr.dtype not in allowed:
        problems.add(path, f"dtype {arr.dtype.str}, expected one of {[a.str for a in allowed]}")
        return None
    if arr.ndim != ndim:
        problems.add(path, f"shape {arr.shape}, expected {ndim} dimensions")
        return None
    return np.asarray(arr)


def load_checkpoint(folder, problems):
    st = folder / "checkpoint.safetensors"
    if st.exists():
        try:
            from safetensors.numpy import load_file
        except ImportError:
            problems.add(st, "cannot check: pip install safetensors")
            return None
        try:
            tensors = load_file(str(st))
        except Exception as e:  # noqa: BLE001
            problems.add(st, f"cannot read ({e})")
            return None
        out = {}
        for name, ndim in (("params", 1), ("grads", 2), ("losses", 1), ("hessian", 2)):
            if name not in tensors:
                if name in ("params", "grads"):
                    problems.add(st, f'missing tensor "{name}" (found {sorted(tensors)})')
                continue
            t = tensors[name]
            if t.dtype.kind != "f" or t.ndim != ndim:
                problems.add(st, f'tensor "{name}": dtype {t.dtype}, shape {t.shape}')
                continue
            out[name] = t
        return out
    out = {}
    for name, ndim in (("params", 1), ("grads", 2), ("losses", 1), ("hessian", 2)):
        path = folder / f"{name}.npy"
        if not path.exists():
            if name in ("params", "grads"):
                problems.add(path, "missing (required)")
            continue
        arr = load_npy(path, problems, ndim)
        if arr is not None:
            out[name] = arr
    return out


def check(run_dir):
    run_dir = Path(run_dir)
    problems = Problems()
    manifest_path = run_dir / "run.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001
        problems.add(manifest_path, f"cannot read ({e})")
        return problems, []
    m = manifest
    if m.get("format_version") not in (1, 2):
        problems.add(manifest_path, f"format_version {m.get('format_version')!r}, expected 1 or 2")
    lr, s, n_data = m.get("learning_rate"), m.get("batch_size"), m.get("dataset_size")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        problems.add(manifest_path, f"learning_rate {lr!r} must be a number > 0")
    if not (isinstance(s, int) and s >= 1):
        problems.add(manifest_path, f"batch_size {s!r} must be an integer >= 1")
    if not (isinstance(n_data, int) and isinstance(s, int) and n_data >= s):
        problems.add(manifest_path, f"dataset_size {n_data!r} must be an integer >= batch_size")
    for key, allowed in (
        ("loss_reduction", ("mean", "sum")),
        ("gradients", ("per_example", "minibatch")),
        ("sampling", ("without_replacement", "with_replacement", "reshuffled")),
    ):
        if m.get(key) not in allowed:
            problems.add(manifest_path, f"{key} {m.get(key)!r}, expected one of {allowed}")

    d_expected = None
    pkey = "parameters" if "parameters" in m else "parameter_order"
    if pkey in m:
        d_expected = sum(int(np.prod(p["shape"], dtype=np.int64)) for p in m[pkey])

    rows = []
    ckpt_params = {}
    cdir = run_dir / "checkpoints"
    folders = sorted(
        (int(f.name[5:]), f)
        for f in (cdir.iterdir() if cdir.is_dir() else [])
        if re.fullmatch(r"step_(0|[1-9][0-9]*)", f.name) and f.is_dir()
    )
    if not folders:
        problems.add(cdir, "no checkpoints/step_<N>/ folder")
    for step, folder in folders:
        arrays = load_checkpoint(folder, problems)
        if not arrays or "params" not in arrays or "grads" not in arrays:
            continue
        p, g = arrays["params"], arrays["grads"]
        d = p.shape[0]
        if d_expected is not None and d != d_expected:
            problems.add(folder, f"d = {d} but {pkey} sums to {d_expected}")
        if g.shape[1] != d:
            problems.add(folder, f"grads shape {g.shape} does not match params (d = {d})")
            continue
        for name, arr in arrays.items():
            if not np.isfinite(arr).all():
                problems.add(folder, f"{name} has non-finite values")
        if "losses" in arrays and arrays["losses"].shape != (g.shape[0],):
            problems.add(folder, f"losses shape {arrays['losses'].shape}, expected ({g.shape[0]},)")
        h = arrays.get("hessian")
        if h is not None:
            if h.shape != (d, d):
                problems.add(folder, f"hessian shape {h.shape}, expected ({d}, {d})")
            else:
                h = h.astype(np.float64)
                asym = np.abs(h - h.T).max() / max(np.abs(h).max(), 1e-300)
                if asym > 1e-3:
                    problems.add(folder, f"hessian is not symmetric (relative asymmetry {asym:.2g})")
        g64 = g.astype(np.float64)
        gbar = g64.mean(axis=0)
        tr_c = ((g64 - gbar) ** 2).sum() / max(g64.shape[0] - 1, 1)
        nsr = tr_c / (s * float(gbar @ gbar)) if isinstance(s, int) and gbar.any() else math.inf
        loss = float(arrays["losses"].astype(np.float64).mean()) if "losses" in arrays else None
        rows.append((step, g.shape[0], d, str(g.dtype), loss, nsr, h is not None))
        ckpt_params[step] = p

    tdir = run_dir / "trajectory"
    if tdir.exists():
        steps = load_npy(tdir / "steps.npy", problems, 1, INTS)
        tp = load_npy(tdir / "params.npy", problems, 2)
        if steps is not None and tp is not None:
            if tp.shape[0] != steps.shape[0]:
                problems.add(tdir, f"params has {tp.shape[0]} rows, steps has {steps.shape[0]}")
            elif np.any(np.diff(steps) <= 0):
                problems.add(tdir / "steps.npy", "steps must increase strictly")
            else:
                if not np.isfinite(tp).all():
                    problems.add(tdir / "params.npy", "non-finite values")
                row = {int(t): i for i, t in enumerate(steps)}
                for step, p in ckpt_params.items():
                    if step in row and p.shape[0] == tp.shape[1]:
                        diff = np.abs(tp[row[step]].astype(np.float64) - p.astype(np.float64))
                        if diff.max() > 1e-6 * max(1.0, float(np.abs(p).max())):
                            problems.add(tdir, f"row of step {step} differs from the checkpoint")
            if (tdir / "losses.npy").exists():
                tl = load_npy(tdir / "losses.npy", problems, 1)
                if tl is not None and tl.shape != steps.shape:
                    problems.add(tdir / "losses.npy", f"shape {tl.shape}, expected {steps.shape}")
        print(f"trajectory: {'?' if steps is None else steps.shape[0]} points")
    return problems, rows


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    problems, rows = check(argv[1])
    if rows:
        print(f"{'step':>8} {'n':>7} {'d':>7} {'dtype':>8} {'mean loss':>12} {'NSR':>10}  phase")
        for step, n, d, dt, loss, nsr, has_h in rows:
            ls = f"{loss:12.6g}" if loss is not None else f"{'-':>12}"
            phase = "drift" if nsr < 1 else "diffusion"
            print(f"{step:>8} {n:>7} {d:>7} {dt:>8} {ls} {nsr:10.4g}  {phase}"
                  + ("  (+hessian)" if has_h else ""))
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
