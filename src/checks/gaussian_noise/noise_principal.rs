//! The noise principal subspace, reported beside the Gaussian-noise verdict (issue 16; it does
//! not vote). Per checkpoint the reader chose k directions on a seeded subset of the examples
//! (at most half, `run::kernels::NOISE_CHOOSE_MAX`) — the top eigenvectors of the per-example
//! gradient covariance by a single-pass Nyström sketch (`stats::range_finder`) — and projected the others on them in a second pass
//! (`run::kernels::noise_principal`); choosing and testing on the same rows would bias every
//! statistic. Reported: the share of the held-out noise variance the k directions capture,
//! beside the share the seeded random analysis directions capture (≈ k/d for isotropic noise),
//! and per direction the minibatch skewness and excess kurtosis of the held-out rows at S by
//! the finite-population CLT ([`super::minibatch_mean_shape`]). It does not vote: the
//! directions of largest variance need not be where the noise is least Gaussian, and a vote
//! would need its own calibration. Cost O(C·n·k).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::Context;
use crate::stats::descriptive::Moments;

/// One checkpoint's noise principal subspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoisePrincipalRow {
    /// Training step.
    pub step: u64,
    /// Held-out rows that tested the directions.
    pub held_out_rows: usize,
    /// Directions found (≤ k).
    pub directions: usize,
    /// Share of the held-out rows' tr Ĉ along the directions.
    pub variance_share: f64,
    /// Share of tr Ĉ (all rows) along the k random analysis directions, for comparison.
    pub random_subspace_share: f64,
    /// Minibatch skewness at S per direction (held-out rows, CLT).
    pub minibatch_skewness: Vec<f64>,
    /// Minibatch excess kurtosis at S per direction (held-out rows, CLT).
    pub minibatch_excess_kurtosis: Vec<f64>,
}

/// The noise principal subspace over the checkpoints (`metrics.noise_principal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoisePrincipal {
    /// Always false: reported, not voted.
    pub votes: bool,
    /// One row per checkpoint.
    pub per_checkpoint: Vec<NoisePrincipalRow>,
    /// Largest |minibatch skewness| over checkpoints and directions.
    pub largest_abs_skewness: f64,
    /// Largest |minibatch excess kurtosis| over checkpoints and directions.
    pub largest_abs_excess_kurtosis: f64,
}

/// The evidence, `None` when no checkpoint has a noise principal subspace. O(C·n·k).
pub fn noise_principal(ctx: &Context, s: usize, pop: Option<usize>) -> Option<NoisePrincipal> {
    let mut rows = Vec::new();
    for c in &ctx.run.checkpoints {
        let Some(np) = &c.noise_principal else {
            continue;
        };
        let k = np.projected.ncols();
        let captured: f64 = (0..k)
            .map(|a| Moments::new(np.projected.column(a).as_slice()).variance())
            .sum();
        let random: f64 = (0..c.grads.ncols())
            .map(|a| Moments::new(c.grads.column(a).as_slice()).variance())
            .sum();
        let (mut sk, mut ku) = (Vec::with_capacity(k), Vec::with_capacity(k));
        for a in 0..k {
            let m = Moments::new(np.projected.column(a).as_slice());
            let (x, y) = super::minibatch_mean_shape(m.m2, m.m3, m.m4, s, pop)
                .unwrap_or((f64::NAN, f64::NAN));
            sk.push(x);
            ku.push(y);
        }
        rows.push(NoisePrincipalRow {
            step: c.step,
            held_out_rows: np.held_out.len(),
            directions: k,
            variance_share: captured / np.held_out_trace,
            random_subspace_share: random / c.trace_cov,
            minibatch_skewness: sk,
            minibatch_excess_kurtosis: ku,
        });
    }
    if rows.is_empty() {
        return None;
    }
    let max_abs = |f: &dyn Fn(&NoisePrincipalRow) -> &Vec<f64>| {
        rows.iter()
            .flat_map(|r| f(r).iter())
            .filter(|v| v.is_finite())
            .fold(0.0f64, |a, v| a.max(v.abs()))
    };
    Some(NoisePrincipal {
        votes: false,
        largest_abs_skewness: max_abs(&|r| &r.minibatch_skewness),
        largest_abs_excess_kurtosis: max_abs(&|r| &r.minibatch_excess_kurtosis),
        per_checkpoint: rows,
    })
}
