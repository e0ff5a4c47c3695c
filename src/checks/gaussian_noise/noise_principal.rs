//! The noise principal subspace of the Gaussian-noise check (issue 16; a fail-only piece).
//! Per checkpoint the reader chose k directions on a seeded subset of the examples (at most
//! half, `run::kernels::NOISE_CHOOSE_MAX`) — the top eigenvectors of the per-example gradient
//! covariance by a single-pass Nyström sketch (`stats::range_finder`) — and projected the
//! others on them in a second pass (`run::kernels::noise_principal`); choosing and testing on
//! the same rows would bias every
//! statistic. Reported: the share of the held-out noise variance the k directions capture,
//! beside the share the seeded random analysis directions capture (≈ k/d for isotropic noise),
//! and per direction the minibatch skewness and excess kurtosis of the held-out rows at S by
//! the finite-population CLT (γ̂₁,S = a·g₁, γ̂₂,S = b·g₂ + c, `stats::screen::minibatch_factors`).
//!
//! *Vote (fail-only).* Per checkpoint and direction, one-sided z tests of H₀: |γ₁,S| ≤ δ₁ and
//! H₀: |γ₂,S| ≤ δ₂ (the check's tolerances), p = Φ̄((|γ̂| − δ)/se) with the normal-theory SEs of
//! g₁, g₂ at the m held-out rows times |a|, |b| — the every-coordinate piece's tests, on
//! directions the held-out rows did not choose, so they are valid as for fixed directions —
//! and Holm over the 2·C·k p-values. The piece can fail the check, never pass it: it sees
//! non-Gaussian noise concentrated in a few dense directions of large variance, which both the
//! random directions and the per-coordinate screen dilute by ~1/√d. It votes when every
//! checkpoint has at least [`super::every_coordinate::MIN_ROWS`] held-out rows and S < N/2
//! (as the screen). Cost O(C·n·k).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::every_coordinate::{ScreenNote, MIN_ROWS};
use crate::checks::Context;
use crate::stats::descriptive::Moments;
use crate::stats::multitest::{adjust, Method};
use crate::stats::onesided::norm_sf;
use crate::stats::screen::{minibatch_factors, normal_theory_se, Design};
use crate::thresholds::Thresholds;

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
    /// Smallest Holm-adjusted p-value of the checkpoint's directions (module docs).
    pub p_fail_holm: f64,
}

/// The noise principal subspace over the checkpoints (`metrics.noise_principal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoisePrincipal {
    /// Whether the piece votes (fail-only).
    pub votes: bool,
    /// Why it does not vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<ScreenNote>,
    /// p-values in its Holm family (2 per checkpoint and direction).
    pub tests: usize,
    /// Smallest Holm-adjusted p-value (the piece's fail p-value).
    pub p_fail_holm: f64,
    /// Largest max(|γ̂₁,S|/δ₁, |γ̂₂,S|/δ₂) over checkpoints and directions.
    pub largest_ratio: f64,
    /// One row per checkpoint.
    pub per_checkpoint: Vec<NoisePrincipalRow>,
    /// Largest |minibatch skewness| over checkpoints and directions.
    pub largest_abs_skewness: f64,
    /// Largest |minibatch excess kurtosis| over checkpoints and directions.
    pub largest_abs_excess_kurtosis: f64,
}

/// The evidence, `None` when no checkpoint has a noise principal subspace or the design has no
/// minibatch image (S ≥ N). O(C·n·k).
pub fn noise_principal(
    ctx: &Context,
    s: usize,
    pop: Option<usize>,
    th: &Thresholds,
) -> Option<NoisePrincipal> {
    let factors = minibatch_factors(Design {
        batch_size: s,
        population: pop,
    })?;
    let mut rows = Vec::new();
    let mut raw = Vec::new();
    for c in &ctx.run.checkpoints {
        let Some(np) = &c.noise_principal else {
            continue;
        };
        let (row, p) = checkpoint_row(c, np, factors, th);
        rows.push(row);
        raw.push(p);
    }
    if rows.is_empty() {
        return None;
    }
    let flat: Vec<f64> = raw.iter().flatten().copied().collect();
    let adj = adjust(&flat, Method::Holm).unwrap_or_else(|_| flat.clone());
    let mut at = 0;
    for (row, p) in rows.iter_mut().zip(&raw) {
        row.p_fail_holm = adj[at..at + p.len()].iter().copied().fold(1.0, f64::min);
        at += p.len();
    }
    let max_abs = |f: &dyn Fn(&NoisePrincipalRow) -> &Vec<f64>| {
        rows.iter()
            .flat_map(|r| f(r).iter())
            .filter(|v| v.is_finite())
            .fold(0.0f64, |a, v| a.max(v.abs()))
    };
    let (d1, d2) = (
        th.gaussian_max_abs_skewness,
        th.gaussian_max_abs_excess_kurtosis,
    );
    let (ls, lk) = (
        max_abs(&|r| &r.minibatch_skewness),
        max_abs(&|r| &r.minibatch_excess_kurtosis),
    );
    let note = vote_note(ctx, &rows, s);
    Some(NoisePrincipal {
        votes: note.is_none(),
        note,
        tests: flat.len(),
        p_fail_holm: adj.iter().copied().fold(1.0, f64::min),
        largest_ratio: (ls / d1).max(lk / d2),
        largest_abs_skewness: ls,
        largest_abs_excess_kurtosis: lk,
        per_checkpoint: rows,
    })
}

/// One checkpoint's row and its raw p-values (skewness, kurtosis per direction; a direction
/// without finite moments contributes p = 1). O(n·k).
fn checkpoint_row(
    c: &crate::run::Checkpoint,
    np: &crate::run::kernels::NoisePrincipal,
    (a, b, cc): (f64, f64, f64),
    th: &Thresholds,
) -> (NoisePrincipalRow, Vec<f64>) {
    let k = np.projected.ncols();
    let m = np.projected.nrows();
    let (se1, se2) = normal_theory_se(m);
    let (se1, se2) = (a.abs() * se1, b.abs() * se2);
    let (d1, d2) = (
        th.gaussian_max_abs_skewness,
        th.gaussian_max_abs_excess_kurtosis,
    );
    let captured: f64 = (0..k)
        .map(|j| Moments::new(np.projected.column(j).as_slice()).variance())
        .sum();
    let random: f64 = (0..c.grads.ncols())
        .map(|j| Moments::new(c.grads.column(j).as_slice()).variance())
        .sum();
    let (mut sk, mut ku, mut p) = (Vec::with_capacity(k), Vec::with_capacity(k), Vec::new());
    for j in 0..k {
        let mo = Moments::new(np.projected.column(j).as_slice());
        let ok = mo.m2 > 1e-300 && mo.m2.is_finite();
        let (x, y) = if ok {
            (
                a * mo.m3 / mo.m2.powf(1.5),
                b * (mo.m4 / (mo.m2 * mo.m2) - 3.0) + cc,
            )
        } else {
            (f64::NAN, f64::NAN)
        };
        let pv = |v: f64, d: f64, se: f64| {
            if v.is_finite() {
                norm_sf((v.abs() - d) / se)
            } else {
                1.0
            }
        };
        p.extend([pv(x, d1, se1), pv(y, d2, se2)]);
        sk.push(x);
        ku.push(y);
    }
    let row = NoisePrincipalRow {
        step: c.step,
        held_out_rows: np.held_out.len(),
        directions: k,
        variance_share: captured / np.held_out_trace,
        random_subspace_share: random / c.trace_cov,
        minibatch_skewness: sk,
        minibatch_excess_kurtosis: ku,
        p_fail_holm: 1.0,
    };
    (row, p)
}

/// Whether the piece votes, or why not (the every-coordinate piece's rule on the held-out rows).
fn vote_note(ctx: &Context, rows: &[NoisePrincipalRow], s: usize) -> Option<ScreenNote> {
    let least = rows.iter().map(|r| r.held_out_rows).min().unwrap_or(0);
    if least < MIN_ROWS {
        return Some(ScreenNote::FewRows {
            rows: least,
            minimum: MIN_ROWS,
        });
    }
    let n = ctx.run.manifest.dataset_size as usize;
    (2 * s >= n).then_some(ScreenNote::LargeBatch {
        batch_size: s,
        population: n,
    })
}
