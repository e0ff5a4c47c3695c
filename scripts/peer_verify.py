#!/usr/bin/env python3
"""The numpy/scipy peer of `sgd-ou verify`'s streaming pass, for scripts/bench_peers.sh.

For every checkpoint of RUN_DIR: SHA-256 of every input file (hashlib), grads.npy memory-mapped
(np.load(mmap_mode="r")), projected onto a seeded random orthonormal k-dimensional basis
(`X @ P`, BLAS), column sums and the sum of squares (for ‖ḡ‖² and tr Ĉ), then scipy's
D'Agostino K² and Shapiro-Wilk tests on every projected coordinate. Prints the elapsed time.
"""
import glob
import hashlib
import os
import sys
import time

import numpy as np
from scipy import stats


def main():
    run, k = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8
    t0 = time.perf_counter()
    files = [os.path.join(run, "run.json")] + sorted(
        glob.glob(os.path.join(run, "checkpoints", "*", "*.npy")))
    digests = {}
    for f in files:
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            while chunk := fh.read(8 << 20):
                h.update(chunk)
        digests[f] = h.hexdigest()
    p = None
    for cdir in sorted(glob.glob(os.path.join(run, "checkpoints", "step_*"))):
        x = np.load(os.path.join(cdir, "grads.npy"), mmap_mode="r")
        n, d = x.shape
        if p is None:
            q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((d, k)))
            p = q  # float64, as sgd-ou projects in float64
        proj = (x @ p).astype(np.float64)
        colsum = x.sum(axis=0, dtype=np.float64)
        sumsq = float(np.einsum("ij,ij->", x, x, dtype=np.float64))
        mean_norm2 = float(((colsum / n) ** 2).sum())
        trace_cov = (sumsq - n * mean_norm2) / (n - 1)
        for j in range(k):
            stats.normaltest(proj[:, j])
            stats.shapiro(proj[:, j])
        assert np.isfinite(trace_cov)
    print(f"{time.perf_counter() - t0:.3f}")


if __name__ == "__main__":
    main()
