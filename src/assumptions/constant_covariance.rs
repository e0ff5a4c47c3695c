//! Assumption 2: the gradient-noise covariance C(θ) is constant over the region the iterates
//! occupy.
//!
//! **What is measured.** At each checkpoint i the sample covariance Ĉ_i of the projected
//! per-example gradients (k × k). The effect size is the weighted root-mean-square relative
//! Frobenius deviation from the pooled covariance,
//!
//! D = sqrt( T ),  T = Σ_i w_i ‖Ĉ_i − C̄‖²_F / ‖C̄‖²_F,  C̄ = Σ_i w_i Ĉ_i,  w_i = (n_i − 1)/Σ_j (n_j − 1),
//!
//! i.e. the typical relative change of C across the stationary region. Sampling noise makes T
//! positive even when C is constant, so T is bias-corrected with the bootstrap (rows resampled
//! within each checkpoint, jointly when the checkpoints hold the same examples, `B` resamples;
//! see [`Context::bootstrap_indices`]): T_bc = 2T − mean(T*), with the basic bootstrap interval
//! [2T − q_{1−a/2}(T*), 2T − q_{a/2}(T*)] (Davison & Hinkley 1997, §5.2.1), clipped at 0 before the
//! square root.
//!
//! **Significance**: the studentised permutation test of equal covariances
//! ([`permutation_cov_test`], calibrated under heavy tails and for k comparable to n); Box's M
//! (χ² approximation) instead where it is valid: k ≤ 0.3·n and per-example gradients close to
//! Gaussian (every |excess kurtosis| within the gaussian_noise tolerance). The report says which.
//!
//! **Verdict** ([`super::decide`]): fail when the interval lies above the tolerance, or when the
//! deviation is significant and D exceeds the tolerance; pass when the
//! upper end is within the tolerance; otherwise inconclusive.
//!
//! Cost: O(B Σ_i n_i k²) time, O(max_i n_i k) extra memory.

use nalgebra::DMatrix;
use serde_json::json;

use super::{decide, CheckResult, Context, KeyMetric, Verdict};
use crate::stats::covariance::{box_m, permutation_cov_test, principal_angles};
use crate::stats::descriptive::{covariance_matrix, quantile_sorted, Moments};

/// Runs the check.
pub fn check(ctx: &Context) -> CheckResult {
    let th = ctx.thresholds;
    let cps = &ctx.run.checkpoints;
    let k = ctx.run.k();
    let thresholds = json!({
        "max_rel_deviation": th.covariance_max_rel_deviation,
        "ci_level": th.ci_level,
        "bootstrap_resamples": th.bootstrap_resamples,
    });
    if let Some(c) = cps.iter().find(|c| c.n < k + 2) {
        let mut r = CheckResult::inconclusive(
            "Too few gradients per checkpoint to estimate the noise covariance.",
            format!(
                "checkpoint step {} has n = {} gradient rows; estimating a {k}×{k} covariance \
                 needs n ≥ k + 2 = {}",
                c.step,
                c.n,
                k + 2
            ),
        );
        r.thresholds = thresholds;
        return r;
    }
    let covs: Vec<DMatrix<f64>> = ctx.gradient_covariances();
    let weights: Vec<f64> = cps.iter().map(|c| c.n as f64 - 1.0).collect();
    let (t_obs, per_cp, pooled) = statistic(&covs, &weights);
    if !(pooled.norm() > 0.0) {
        let mut r = CheckResult::inconclusive(
            "The gradient noise is zero in the analysis subspace.",
            "all gradient rows are identical at every checkpoint, so there is no noise \
             covariance to compare",
        );
        r.thresholds = thresholds;
        return r;
    }

    // Bootstrap: resample rows (jointly across checkpoints when they are paired).
    let b = th.bootstrap_resamples.max(20);
    let mut t_star = Vec::with_capacity(b);
    for idx in ctx.bootstrap_indices("constant_covariance/bootstrap", b) {
        let covs_b: Vec<DMatrix<f64>> = cps
            .iter()
            .zip(&idx)
            .map(|(c, rows)| covariance_matrix(&c.grads.select_rows(rows.iter())))
            .collect();
        t_star.push(statistic(&covs_b, &weights).0);
    }
    t_star.sort_by(f64::total_cmp);
    let a = 1.0 - th.ci_level;
    let mean_star = t_star.iter().sum::<f64>() / b as f64;
    let t_bc = 2.0 * t_obs - mean_star;
    let lo_t = 2.0 * t_obs - quantile_sorted(&t_star, 1.0 - a / 2.0);
    let hi_t = 2.0 * t_obs - quantile_sorted(&t_star, a / 2.0);
    let root = |x: f64| x.max(0.0).sqrt();
    let (d, d_lo, d_hi) = (root(t_bc), root(lo_t), root(hi_t));
    // Significance: the studentised permutation test (robust to heavy tails, usable when k is
    // comparable to n); Box's M is reported beside it, and used only where it is valid.
    let groups: Vec<DMatrix<f64>> = cps.iter().map(|c| c.grads.clone()).collect();
    let perm = permutation_cov_test(
        &groups,
        th.permutations,
        &mut ctx.rng("constant_covariance/permutation"),
    );
    let box_m = box_m(&groups);
    let n_min = cps.iter().map(|c| c.n).min().unwrap_or(0);
    let max_kurt = (0..k)
        .map(|j| {
            cps.iter()
                .map(|c| {
                    Moments::new(c.grads.column(j).as_slice())
                        .excess_kurtosis()
                        .abs()
                })
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max);
    let box_valid =
        (k as f64) <= 0.3 * n_min as f64 && max_kurt <= th.gaussian_max_abs_excess_kurtosis;
    let (test_used, test_reason, p_value) = match (&perm, &box_m) {
        (_, Ok(b)) if box_valid => (
            "box_m",
            format!(
                "k/n = {:.3} ≤ 0.3 and the per-example gradients are close to Gaussian (max |excess \
                 kurtosis| {max_kurt:.2}): Box's M χ² approximation is calibrated there",
                k as f64 / n_min as f64
            ),
            Some(b.p_value),
        ),
        (Ok(pt), _) => (
            "permutation",
            if box_valid {
                "Box's M could not be computed; studentised permutation test".to_string()
            } else {
                format!(
                    "studentised permutation test (Cai–Liu–Xia entries, {} permutations): Box's \
                     M is miscalibrated for heavy-tailed gradients (max |excess kurtosis| \
                     {max_kurt:.2}) or k/n = {:.3} > 0.3",
                    pt.permutations,
                    k as f64 / n_min.max(1) as f64
                )
            },
            Some(pt.p_value),
        ),
        (Err(e), _) => ("none", format!("no test could be run: {e}"), None),
    };
    let significant = p_value.is_some_and(|p| p < th.alpha);
    let tol = th.covariance_max_rel_deviation;
    let verdict = decide(d, d_hi, d_lo, tol, significant);

    // Principal angles between the top-r eigenspaces of each Ĉ_i and C̄ (degrees).
    let r = (k / 2).clamp(1, 3);
    let angles: Vec<f64> = covs
        .iter()
        .map(|c| {
            principal_angles(c, &pooled, r)
                .map(|a| a.last().copied().unwrap_or(0.0).to_degrees())
                .unwrap_or(f64::NAN)
        })
        .collect();
    let max_angle = angles.iter().cloned().fold(0.0, f64::max);

    // Sensitivity to position: relative change of C against the checkpoint's distance from the
    // mean iterate, in units of the stationary spread (trajectory covariance when available,
    // else the covariance of the checkpoint positions).
    let positions = DMatrix::from_fn(cps.len(), k, |i, j| cps[i].theta[j]);
    let spread = match &ctx.run.trajectory {
        Some(t) if t.params.nrows() > k + 1 => covariance_matrix(&t.params),
        _ => covariance_matrix(&positions),
    };
    let centre = positions.row_mean();
    let spread_inv = spread
        .clone()
        .pseudo_inverse(1e-12 * spread.norm().max(1e-300));
    let distance: Vec<f64> = (0..cps.len())
        .map(|i| {
            let dlt = (positions.row(i) - &centre).transpose();
            spread_inv
                .as_ref()
                .map(|si| (dlt.transpose() * si * &dlt)[(0, 0)].max(0.0).sqrt())
                .unwrap_or(f64::NAN)
        })
        .collect();
    let (sxy, sxx) = distance
        .iter()
        .zip(&per_cp)
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x * y.sqrt(), b + x * x));
    let sensitivity = if sxx > 0.0 { sxy / sxx } else { f64::NAN };

    // Largest-eigenvalue spread, a second, easily read effect size.
    let top: Vec<f64> = covs
        .iter()
        .map(|c| c.clone().symmetric_eigen().eigenvalues.max())
        .collect();
    let top_ratio =
        top.iter().cloned().fold(f64::MIN, f64::max) / top.iter().cloned().fold(f64::MAX, f64::min);

    let summary = match verdict {
        Verdict::Pass => format!(
            "The noise covariance varies by about {:.1}% across the {} checkpoints \
             ({:.0}% CI up to {:.1}%), within the {:.0}% tolerance.",
            100.0 * d,
            cps.len(),
            100.0 * th.ci_level,
            100.0 * d_hi,
            100.0 * tol
        ),
        Verdict::Fail => format!(
            "The noise covariance changes by about {:.0}% across the checkpoints \
             ({:.0}% CI {:.0}%–{:.0}%), more than the {:.0}% tolerance.",
            100.0 * d,
            100.0 * th.ci_level,
            100.0 * d_lo,
            100.0 * d_hi,
            100.0 * tol
        ),
        Verdict::Inconclusive => format!(
            "The change of the noise covariance ({:.1}%, CI {:.1}%–{:.1}%) cannot be placed \
             on either side of the {:.0}% tolerance with these data.",
            100.0 * d,
            100.0 * d_lo,
            100.0 * d_hi,
            100.0 * tol
        ),
    };
    let mut reasons = vec![match verdict {
        Verdict::Pass => "the upper confidence bound of the relative deviation is within the \
                          tolerance"
            .to_string(),
        Verdict::Fail => "the relative deviation is significantly above the tolerance".to_string(),
        Verdict::Inconclusive => "the confidence interval of the relative deviation contains \
                                  the tolerance; more gradient rows per checkpoint would narrow it"
            .to_string(),
    }];
    reasons.push(format!(
        "test of equal covariances: {test_used} (p = {}); {test_reason}",
        crate::report::p_text(p_value)
    ));
    let per_checkpoint: Vec<_> = cps
        .iter()
        .zip(&covs)
        .zip(&per_cp)
        .zip(&top)
        .enumerate()
        .map(|(i, (((c, cov), dev), top))| {
            json!({
                "step": c.step,
                "n": c.n,
                "trace": cov.trace(),
                "largest_eigenvalue": top,
                "rel_deviation_from_pooled_raw": dev.sqrt(),
                "max_principal_angle_deg": angles[i],
                "distance_from_mean_iterate": distance[i],
            })
        })
        .collect();
    CheckResult {
        verdict,
        summary,
        reasons,
        key_metrics: vec![
            KeyMetric::new(
                "rel_covariance_deviation",
                "RMS relative Frobenius deviation of the per-checkpoint noise covariance from \
                 the pooled one, bootstrap bias-corrected",
                d,
            )
            .ci(d_lo, d_hi, th.ci_level)
            .tolerance(format!("≤ {tol}"))
            .p_value_opt(p_value),
            KeyMetric::new(
                "max_principal_angle_deg",
                "largest principal angle between the top eigenspaces of a checkpoint's noise \
                 covariance and the pooled one, in degrees (raw)",
                max_angle,
            ),
            KeyMetric::new(
                "top_eigenvalue_ratio",
                "largest over smallest top eigenvalue of the noise covariance across checkpoints \
                 (raw, includes sampling noise)",
                top_ratio,
            ),
        ],
        metrics: json!({
            "statistic_raw": t_obs,
            "statistic_bias_corrected": t_bc,
            "bootstrap_mean": mean_star,
            "significant": significant,
            "test_used": test_used,
            "test_reason": test_reason,
            "permutation_test": perm.as_ref().ok(),
            "box_m": box_m.as_ref().ok(),
            "box_m_valid": box_valid,
            "principal_angle_rank": r,
            "sensitivity_per_stationary_sd": sensitivity,
            "spread_source": if matches!(&ctx.run.trajectory, Some(t) if t.params.nrows() > k + 1) {"trajectory"} else {"checkpoints"},
            "plot_change_vs_distance": {"distance": &distance, "rel_change_raw": per_cp.iter().map(|v| v.sqrt()).collect::<Vec<_>>()},
            "pooled_trace": pooled.trace(),
            "per_checkpoint": per_checkpoint,
        }),
        thresholds,
    }
}

/// T = Σ w_i ‖C_i − C̄‖² / ‖C̄‖² with normalised weights; also each ‖C_i − C̄‖²/‖C̄‖² and C̄.
fn statistic(covs: &[DMatrix<f64>], weights: &[f64]) -> (f64, Vec<f64>, DMatrix<f64>) {
    let wsum: f64 = weights.iter().sum();
    let k = covs[0].nrows();
    let mut pooled = DMatrix::zeros(k, k);
    for (c, w) in covs.iter().zip(weights) {
        pooled += c * (w / wsum);
    }
    let denom = pooled.norm_squared();
    let per: Vec<f64> = covs
        .iter()
        .map(|c| (c - &pooled).norm_squared() / denom)
        .collect();
    let t = per.iter().zip(weights).map(|(p, w)| p * w / wsum).sum();
    (t, per, pooled)
}
