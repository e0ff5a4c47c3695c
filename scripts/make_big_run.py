#!/usr/bin/env python3
"""Writes a synthetic run directory (format v1) for the reader benchmarks.

    python3 scripts/make_big_run.py OUT_DIR --d 10000 --n 2000 --checkpoints 8   # 611 MB
    python3 scripts/make_big_run.py OUT_DIR --d 1000000 --n 1024 --checkpoints 4  # 16 GB
    python3 scripts/make_big_run.py OUT_DIR --d 10000000 --n 16 --checkpoints 2 --batch-size 8

Gradients are float32 N(θ_j, 1) per example, written row block by row block (memory stays at a
few hundred MB whatever the size). Only numpy is needed.
"""
import argparse
import json
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--d", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=2_000)
    ap.add_argument("--checkpoints", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32, help="minibatch size S (at most n)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(os.path.join(a.out, "checkpoints"), exist_ok=True)
    with open(os.path.join(a.out, "run.json"), "w") as f:
        json.dump({"format_version": 1, "learning_rate": 0.01, "batch_size": min(a.batch_size, a.n),
                   "dataset_size": a.n}, f)
    rows_per = max(1, (64 << 20) // (4 * a.d))
    for c in range(a.checkpoints):
        cdir = os.path.join(a.out, "checkpoints", f"step_{1000 * (c + 1)}")
        os.makedirs(cdir, exist_ok=True)
        theta = 0.01 * rng.standard_normal(a.d)
        np.save(os.path.join(cdir, "params.npy"), theta)
        g = np.lib.format.open_memmap(os.path.join(cdir, "grads.npy"), mode="w+",
                                      dtype="<f4", shape=(a.n, a.d))
        for r in range(0, a.n, rows_per):
            e = min(a.n, r + rows_per)
            g[r:e] = (rng.standard_normal((e - r, a.d), dtype=np.float32)
                      + theta.astype(np.float32))
        g.flush()
        del g


if __name__ == "__main__":
    main()
