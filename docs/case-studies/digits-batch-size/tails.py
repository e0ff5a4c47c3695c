"""Two views of the tail index of minibatch gradient noise at a fixed iterate, side by side.

    python3 tails.py OUT_DIR [--reduced]

Reads OUT_DIR/fixed_iterates.npz (train.py: the first iterate of each batch size's recorded
window) and writes OUT_DIR/tails.json. For each S, at that iterate θ, with G the N × d matrix of
per-example gradients (weight decay included) and g its mean:

* iteration-wise (in the spirit of Panigrahi, Somani, Goyal & Netrapalli 2019, "Non-Gaussianity
  of stochastic gradient noise", arXiv:1910.09626): M minibatches of S distinct examples drawn
  afresh, noise ξ_b = mean(G[B_b]) − g (an M × d matrix); per coordinate j, across the M
  minibatches: excess kurtosis, D'Agostino–Pearson K² p-value (scipy.stats.normaltest) and the
  block-sum α̂ (below). Summaries: fraction of coordinates with K² p < 0.05 (5 % expected under
  Gaussianity), median α̂ over coordinates, and the same median for M × d standard normal
  samples (the estimator's own Gaussian value at this M).
* coordinate-pooled (Şimşekli, Sagun & Gürbüzbalaban 2019, "A tail-index analysis of stochastic
  gradient noise in deep neural networks", ICML, arXiv:1901.06053; protocol of their code,
  umutsimsekli/sgd_tail_index main.py `eval`): one pass over the data at θ, P = ⌊N/S⌋
  minibatches of a random permutation (their loader also keeps the last partial batch),
  noise = minibatch gradient − the mean of the P minibatch gradients, all P·d coordinates of
  all P noise vectors pooled as one scalar sample, block-sum α̂ with m the largest divisor of
  P·d that is ≤ √(P·d) (blocks are then runs of consecutive coordinates of one noise vector).
  Controls: (a) the same after dividing each coordinate by its own standard deviation across
  the M iteration-wise minibatches, (a') and after also shuffling the pooled values (blocks of
  unrelated coordinates); (b) independent Gaussian noise with exactly those per-coordinate
  standard deviations, pooled the same way: a pure scale mixture of Gaussians. Each is
  repeated over independent passes (5 reduced, 20 full): median and range over passes.

Cost: O(M·N·d) for the iteration-wise noise (one M × N by N × d product), O(N·d) per view.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402  (same model, data and losses)

EPS = np.spacing(1.0)


def block_sum_alpha(x, m):
    """Block-sum estimator of the α-stable tail index (Mohammadi, Mohammadpour & Ogata 2015,
    *Metrika* 78:549–561, Corollary 2.4; the estimator of Şimşekli et al. 2019, `alpha_estimator`
    in umutsimsekli/sgd_tail_index utils.py).

    x: (n,) scalars or (n, p) rows, i.i.d.; K = ⌊n/m⌋ blocks of m consecutive rows,
    Y_k = Σ_{j<m} x_{km+j}:

        1/α̂ = [ (1/K) Σ_k log(‖Y_k‖ + eps) − (1/(Km)) Σ_{i<Km} log(‖x_i‖ + eps) ] / log m,

    eps = np.spacing(1). For symmetric α-stable data E log|Y| = E log|X| + log(m)/α, so α̂ is
    consistent for any m; Gaussian data give 2 (the estimator is capped at 2 in law, not in
    value); rows use Euclidean norms. O(n·p).
    """
    x = np.asarray(x, dtype=np.float64)
    k = x.shape[0] // m
    if m < 2 or k < 2:
        raise ValueError(f"block_sum_alpha: m = {m} and {x.shape[0]} samples give {k} blocks")
    x = x[: k * m]
    y = x.reshape((k, m) + x.shape[1:]).sum(axis=1)
    norm = (lambda a: np.abs(a)) if x.ndim == 1 else (lambda a: np.linalg.norm(a, axis=-1))
    inv = (np.mean(np.log(norm(y) + EPS)) - np.mean(np.log(norm(x) + EPS))) / np.log(m)
    return float(1.0 / inv)


def block_sum_alpha_columns(x, m):
    """block_sum_alpha of every column of the (n, p) matrix x (each column its own scalar
    sample); vectorised, O(n·p)."""
    k = x.shape[0] // m
    xs = x[: k * m]
    y = xs.reshape(k, m, -1).sum(axis=1)
    inv = (np.log(np.abs(y) + EPS).mean(axis=0) - np.log(np.abs(xs) + EPS).mean(axis=0))
    return np.log(m) / inv


def largest_divisor_at_most_sqrt(n):
    """m of Şimşekli et al.: the largest divisor of n that is ≤ √n (≥ 2 when one exists)."""
    for m in range(int(np.sqrt(n)), 1, -1):
        if n % m == 0:
            return m
    return max(2, int(np.sqrt(n)))


def iteration_wise(grads, s, m_batches, rng):
    """Per-coordinate view across M fresh minibatches at one iterate: returns the summary and
    the per-coordinate standard deviations of the noise (used by the pooled controls)."""
    n, d = grads.shape
    g = grads.mean(axis=0)
    idx = train.draw_batches(rng, m_batches, n, s)
    w = np.zeros((m_batches, n))
    np.put_along_axis(w, idx, 1.0 / s, axis=1)
    xi = w @ grads - g
    sd = xi.std(axis=0)
    live = sd > 1e-12 * sd.max()
    xi = xi[:, live]
    m = largest_divisor_at_most_sqrt(m_batches)
    alpha = block_sum_alpha_columns(xi, m)
    gauss = block_sum_alpha_columns(rng.standard_normal(xi.shape), m)
    p = stats.normaltest(xi, axis=0).pvalue
    kurt = stats.kurtosis(xi, axis=0)
    out = {"minibatches": m_batches, "coordinates": int(live.sum()), "block_m": m,
           "k2_reject_fraction": float(np.mean(p < 0.05)),
           "k2_reject_fraction_bh": float(np.mean(stats.false_discovery_control(p) < 0.05)),
           "median_abs_excess_kurtosis": float(np.median(np.abs(kurt))),
           "q90_abs_excess_kurtosis": float(np.quantile(np.abs(kurt), 0.9)),
           "alpha_median": float(np.median(alpha)), "alpha_q05": float(np.quantile(alpha, 0.05)),
           "alpha_gaussian_median": float(np.median(gauss)),
           "alpha_gaussian_q05": float(np.quantile(gauss, 0.05))}
    return out, sd


def one_pass(grads, s, sd, live, rng):
    """The four pooled α̂ of one pass (Şimşekli et al.'s, standardised, standardised and
    shuffled, Gaussian scale mixture) and the block size m."""
    n = grads.shape[0]
    p = n // s
    perm = rng.permutation(n)[: p * s].reshape(p, s)
    batch = grads[perm].mean(axis=1)
    xi = batch - batch.mean(axis=0)  # their `grads - mean_grad`, mean over the P batches
    pooled = xi[:, live].ravel()
    m = largest_divisor_at_most_sqrt(pooled.size)
    scaled = (xi[:, live] / sd[live]).ravel()
    mixture = (rng.standard_normal((p, int(live.sum()))) * sd[live]).ravel()
    return m, [block_sum_alpha(pooled, m), block_sum_alpha(scaled, m),
               block_sum_alpha(rng.permutation(scaled), m), block_sum_alpha(mixture, m)]


def coordinate_pooled(grads, s, sd, rng, passes):
    """Şimşekli et al.'s view with its controls, repeated over `passes` independent passes
    (each a new permutation): the median over passes and the [min, max] range of each."""
    live = sd > 1e-12 * sd.max()
    vals = []
    for _ in range(passes):
        m, v = one_pass(grads, s, sd, live, rng)
        vals.append(v)
    vals = np.array(vals)
    out = {"noise_vectors": grads.shape[0] // s, "passes": passes,
           "pooled_size": int(grads.shape[0] // s * live.sum()), "block_m": m,
           "coordinate_sd_ratio_q99_q01": float(np.quantile(sd[live], 0.99)
                                                / np.quantile(sd[live], 0.01))}
    for j, key in enumerate(("alpha", "alpha_standardised", "alpha_standardised_shuffled",
                             "alpha_gaussian_scale_mixture")):
        out[key] = float(np.median(vals[:, j]))
        out[key + "_range"] = [float(vals[:, j].min()), float(vals[:, j].max())]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--reduced", action="store_true", help="CI size: fewer minibatches")
    ap.add_argument("--seed", type=int, default=20191021)
    a = ap.parse_args(argv)
    m_batches, passes = (1000, 5) if a.reduced else (4000, 20)
    xs, ys, d_in = train.load_data()
    params = train.init_params(train.jax.random.PRNGKey(0), d_in)
    _, unravel = train.ravel_pytree(params)
    loss_one, _ = train.make_losses(unravel)
    fixed = np.load(a.out / "fixed_iterates.npz")
    res = {}
    for i, key in enumerate(sorted(fixed.files, key=lambda k: int(k[1:]))):
        s = int(key[1:])
        rng = np.random.default_rng(a.seed + i)
        grads = train.sj.per_example_grads(loss_one, train.jnp.asarray(fixed[key]), xs, ys)
        grads = np.asarray(grads, dtype=np.float64)
        it, sd = iteration_wise(grads, s, m_batches, rng)
        pooled = coordinate_pooled(grads, s, sd, rng, passes)
        res[str(s)] = {"iteration_wise": it, "coordinate_pooled": pooled}
        print(f"S = {s}: iteration-wise median alpha {it['alpha_median']:.3f}, K2 reject "
              f"{it['k2_reject_fraction']:.3f}; pooled alpha "
              f"{res[str(s)]['coordinate_pooled']['alpha']:.3f}", file=sys.stderr)
    (a.out / "tails.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
