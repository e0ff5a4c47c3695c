//! Assumption 4: the loss is quadratic where the stationary distribution lives, so that
//! ∇L(θ) ≈ A(θ − θ̂) with a constant, positive-definite A.
//!
//! **Evidence**, each used when the run provides what it needs (the report says which):
//!
//! * *Hessian constancy* (needs hessian.npy at ≥ 2 checkpoints): R_H = max_i ‖H_i − H̄‖_F / ‖H̄‖_F
//!   of the projected Hessians P H_i Pᵀ. hessian.npy is taken as exact, so R_H has no interval.
//! * *Curvature sign*: the eigenvalues of H̄ (or of the symmetric part of the fitted A). A flat or
//!   concave direction has no OU stationary law along it.
//! * *Gradient linearity*: the mean gradients ḡ_i at the checkpoints against a linear model
//!   ḡ_i = A θ_i + b. With Hessians, A = H̄ is fixed and only b is fitted (p = 1 parameter per
//!   coordinate); without, A and b are fitted by least squares (p = k + 1, needs m ≥ k + 2
//!   checkpoints). The effect is the unexplained fraction
//!   U = (RSS − ν_R) / (TSS − ν_T), RSS = Σ_i ‖ḡ_i − A θ_i − b‖², TSS = Σ_i ‖ḡ_i − mean ḡ‖²,
//!   where ν_R = (m − p)/m · Σ_i s_i and ν_T = (m − 1)/m · Σ_i s_i remove the expected sampling
//!   noise s_i = E‖ḡ_i − g(θ_i)‖² of each mean gradient (zero when all N examples were used:
//!   s_i = tr Ĉ_i (N − n_i)/(n_i (N − 1)) for per-example rows). Its interval comes from a
//!   bootstrap over checkpoints (percentile, B resamples).
//!
//! **Verdict**: fail when any available piece of evidence fails (Hessian change or U beyond its
//! tolerance by the common rule, or a non-positive curvature); pass when every available piece
//! passes; inconclusive when none is available or one is undecided.
//!
//! Cost: O(B m k³) for the bootstrap of the fit, O(m k²) otherwise.

use nalgebra::DMatrix;
use rand::RngExt;
use serde_json::{json, Value};

use super::{decide, CheckResult, Context, KeyMetric, Verdict};
use crate::run::GradientKind;
use crate::stats::descriptive::quantile_sorted;

/// Runs the check.
pub fn check(ctx: &Context) -> CheckResult {
    let th = ctx.thresholds;
    let run = ctx.run;
    let cps = &run.checkpoints;
    let k = run.k();
    let m = cps.len();
    let thresholds = json!({
        "max_unexplained_fraction": th.quadratic_max_unexplained,
        "max_hessian_change": th.quadratic_max_hessian_change,
        "ci_level": th.ci_level,
    });
    let mut verdicts = Vec::new();
    let mut reasons = Vec::new();
    let mut key_metrics = Vec::new();
    let mut evidence = serde_json::Map::new();

    // Hessian constancy and curvature.
    let hessians: Vec<&DMatrix<f64>> = cps.iter().filter_map(|c| c.hessian.as_ref()).collect();
    let h_bar = if hessians.len() >= 2 {
        let mut h_bar = DMatrix::zeros(k, k);
        for h in &hessians {
            h_bar += *h;
        }
        h_bar /= hessians.len() as f64;
        let h_bar = (&h_bar + h_bar.transpose()) * 0.5;
        let norm = h_bar.norm();
        let changes: Vec<f64> = hessians
            .iter()
            .map(|h| (*h - &h_bar).norm() / norm)
            .collect();
        let r_h = changes.iter().cloned().fold(0.0, f64::max);
        let tol = th.quadratic_max_hessian_change;
        let v = if r_h <= tol {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        verdicts.push(v);
        reasons.push(format!(
            "Hessian change across {} checkpoints: {:.3} ({} the tolerance {tol})",
            hessians.len(),
            r_h,
            if v == Verdict::Pass {
                "within"
            } else {
                "above"
            }
        ));
        key_metrics.push(
            KeyMetric::new(
                "hessian_rel_change",
                "largest relative Frobenius change of the projected Hessian from its mean across \
                 checkpoints",
                r_h,
            )
            .tolerance(format!("≤ {tol}")),
        );
        evidence.insert(
            "hessian_constancy".into(),
            json!({"available": true, "checkpoints": hessians.len(), "max_rel_change": r_h,
                   "per_checkpoint": changes}),
        );
        Some(h_bar)
    } else {
        evidence.insert(
            "hessian_constancy".into(),
            json!({"available": false, "reason": "hessian.npy present at fewer than 2 checkpoints"}),
        );
        None
    };

    // Gradient linearity.
    let positions = DMatrix::from_fn(m, k, |i, j| cps[i].theta[j]);
    let grads = DMatrix::from_fn(m, k, |i, j| cps[i].grads.column(j).mean());
    let n_total = run.manifest.dataset_size as f64;
    let noise: Vec<f64> = cps
        .iter()
        .map(|c| {
            let n = c.n as f64;
            let tr = crate::stats::descriptive::covariance_matrix(&c.grads).trace();
            match run.manifest.gradients {
                GradientKind::PerExample => tr * ((n_total - n).max(0.0)) / (n * (n_total - 1.0)),
                GradientKind::Minibatch => tr / n,
            }
        })
        .collect();
    let p = if h_bar.is_some() { 1 } else { k + 1 };
    let fit = |rows: &[usize]| -> Option<(f64, Option<DMatrix<f64>>)> {
        linear_fit(&positions, &grads, &noise, rows, h_bar.as_ref())
    };
    let all: Vec<usize> = (0..m).collect();
    let mut curvature_matrix = h_bar.clone();
    if m >= p + 1 {
        if let Some((u, a_fit)) = fit(&all) {
            if curvature_matrix.is_none() {
                curvature_matrix = a_fit.map(|a| (&a + a.transpose()) * 0.5);
            }
            let mut rng = ctx.rng("quadratic_loss/bootstrap");
            let mut us = Vec::new();
            for _ in 0..th.bootstrap_resamples.max(20) {
                let rows: Vec<usize> = (0..m).map(|_| rng.random_range(0..m)).collect();
                let mut distinct = rows.clone();
                distinct.sort();
                distinct.dedup();
                if distinct.len() < p + 1 {
                    continue;
                }
                if let Some((ub, _)) = fit(&rows) {
                    us.push(ub);
                }
            }
            us.sort_by(f64::total_cmp);
            let a = 1.0 - th.ci_level;
            let (lo, hi) = if us.len() >= 10 {
                (
                    quantile_sorted(&us, a / 2.0).min(u),
                    quantile_sorted(&us, 1.0 - a / 2.0).max(u),
                )
            } else {
                (f64::NEG_INFINITY, f64::INFINITY)
            };
            let tol = th.quadratic_max_unexplained;
            let v = decide(u, hi, lo, tol, lo > 0.0);
            verdicts.push(v);
            reasons.push(format!(
                "gradient linearity: {:.1}% of the mean-gradient variation across checkpoints is \
                 unexplained by a linear model ({} A; {:.0}% CI {:.1}%–{:.1}%, tolerance {:.0}%)",
                100.0 * u,
                if h_bar.is_some() { "Hessian" } else { "fitted" },
                100.0 * th.ci_level,
                100.0 * lo,
                100.0 * hi,
                100.0 * tol
            ));
            key_metrics.push(
                KeyMetric::new(
                    "unexplained_gradient_fraction",
                    "fraction of the variation of the mean gradient across checkpoints not \
                     explained by ∇L = A(θ − θ̂), sampling noise removed",
                    u,
                )
                .ci(lo, hi, th.ci_level)
                .tolerance(format!("≤ {tol}")),
            );
            evidence.insert(
                "gradient_linearity".into(),
                json!({"available": true, "a_source": if h_bar.is_some() {"hessian"} else {"least_squares"},
                       "checkpoints": m, "unexplained_fraction": u, "ci": [lo, hi],
                       "bootstrap_resamples_used": us.len(), "mean_gradient_noise": noise}),
            );
        } else {
            verdicts.push(Verdict::Inconclusive);
            reasons.push(
                "gradient linearity: the mean gradients do not vary across checkpoints beyond                  their sampling noise, so a linear model cannot be tested; export gradients of                  more examples per checkpoint"
                    .into(),
            );
            evidence.insert(
                "gradient_linearity".into(),
                json!({"available": false, "reason": "no variation of the mean gradient beyond                         its sampling noise", "mean_gradient_noise": noise}),
            );
        }
    } else {
        evidence.insert(
            "gradient_linearity".into(),
            json!({"available": false, "reason": format!(
                "{m} checkpoints; fitting A and θ̂ in k = {k} dimensions needs at least {}, or \
                 hessian.npy at the checkpoints", p + 1)}),
        );
    }

    // Curvature sign.
    if let Some(a) = &curvature_matrix {
        let eig = a.clone().symmetric_eigen().eigenvalues;
        let lmax = eig.max();
        let lmin = eig.min();
        let flat = lmin <= 1e-8 * lmax.abs().max(f64::MIN_POSITIVE);
        let exact = h_bar.is_some();
        let mut eigs: Vec<f64> = eig.iter().cloned().collect();
        eigs.sort_by(f64::total_cmp);
        evidence.insert(
            "curvature".into(),
            json!({"source": if exact {"hessian"} else {"least_squares"}, "eigenvalues": eigs,
                   "non_positive": flat}),
        );
        key_metrics.push(KeyMetric::new(
            "min_curvature",
            "smallest eigenvalue of the (projected) curvature matrix",
            lmin,
        ));
        if flat {
            // A fitted A is noisy: a non-positive eigenvalue there is evidence, not proof.
            verdicts.push(if exact {
                Verdict::Fail
            } else {
                Verdict::Inconclusive
            });
            reasons.push(format!(
                "the curvature matrix has a non-positive eigenvalue ({lmin:.3e}): a flat or \
                 concave direction has no OU stationary distribution"
            ));
        }
    }

    let verdict = if verdicts.is_empty() {
        reasons.push(
            "the run provides no evidence on the shape of the loss: add hessian.npy to the \
             checkpoints or export at least k + 2 checkpoints"
                .into(),
        );
        Verdict::Inconclusive
    } else {
        Verdict::combine(verdicts)
    };
    let summary = match verdict {
        Verdict::Pass => "A quadratic model explains the gradients (and Hessians) observed across \
                          the checkpoints within tolerance."
            .to_string(),
        Verdict::Fail => {
            "The loss is not quadratic over the region the checkpoints occupy.".to_string()
        }
        Verdict::Inconclusive => "The data cannot decide whether the loss is quadratic where the \
                                  iterates live."
            .to_string(),
    };
    CheckResult {
        verdict,
        summary,
        reasons,
        key_metrics,
        metrics: Value::Object(evidence),
        thresholds,
    }
}

/// Least-squares fit of ḡ_i = A θ_i + b over `rows` (A fixed to `a_fixed` when given).
/// Returns the noise-corrected unexplained fraction and the fitted A (when it was fitted).
fn linear_fit(
    positions: &DMatrix<f64>,
    grads: &DMatrix<f64>,
    noise: &[f64],
    rows: &[usize],
    a_fixed: Option<&DMatrix<f64>>,
) -> Option<(f64, Option<DMatrix<f64>>)> {
    let m = rows.len();
    let k = positions.ncols();
    let x = positions.select_rows(rows.iter());
    let g = grads.select_rows(rows.iter());
    let noise_sum: f64 = rows.iter().map(|&i| noise[i]).sum();
    let g_mean = g.row_mean();
    let mut tss = 0.0;
    for i in 0..m {
        tss += (g.row(i) - &g_mean).norm_squared();
    }
    let (rss, a_fit, p) = match a_fixed {
        Some(a) => {
            // Residual r_i = g_i − A θ_i; b = mean r.
            let r = &g - &x * a.transpose();
            let r_mean = r.row_mean();
            let mut rss = 0.0;
            for i in 0..m {
                rss += (r.row(i) - &r_mean).norm_squared();
            }
            (rss, None, 1)
        }
        None => {
            let design = DMatrix::from_fn(m, k + 1, |i, j| if j < k { x[(i, j)] } else { 1.0 });
            let svd = design.clone().svd(true, true);
            let coef = svd.solve(&g, 1e-12).ok()?; // (k+1) × k: g ≈ design · coef
            let resid = &g - &design * &coef;
            let a = coef.rows(0, k).transpose();
            (resid.norm_squared(), Some(a), k + 1)
        }
    };
    let rss_c = (rss - (m as f64 - p as f64) / m as f64 * noise_sum).max(0.0);
    let tss_c = tss - (m as f64 - 1.0) / m as f64 * noise_sum;
    if !(tss_c > 0.0) {
        return None;
    }
    Some((rss_c / tss_c, a_fit))
}
