//! The OU model's consequences, checked against the run (a fifth report section, next to the
//! four assumptions). It informs; it is not an assumption verdict and does not enter the overall
//! verdict.
//!
//! Four checks, each computed when its data are present (docs/methods.md, "OU prediction"):
//!
//! 1. **Stationary covariance** (Mandt, Hoffman & Blei 2017, §4): the empirical covariance Σ̂ of
//!    the trajectory rows between the first and the last checkpoint against the continuous
//!    (AΣ + ΣA = εQ) and the exact discrete (Σ = (I − εA)Σ(I − εA) + ε²Q) predictions, with A the
//!    primary curvature estimate and Q the pooled minibatch-noise covariance. Effect: the trace
//!    ratio r = tr Σ̂ / tr Σ_pred; its interval is tr Σ̂'s, mean of the series ‖θ_t − θ̄‖² ±
//!    z·sd/√ESS (ESS by Geyer's initial monotone sequence, `crate::stats::ess::effective_sample_size`), divided
//!    by tr Σ_pred (the prediction's own uncertainty is not included). Also reported: relative
//!    Frobenius errors, KL and whitened eigenvalues against each prediction, and which is closer.
//! 2. **Yaida's first fluctuation–dissipation relation** ⟨θ·∇L⟩ = (ε/2)⟨‖ĝ_S‖²⟩, exact at any
//!    stationary state for any loss and noise law, and exact in any orthonormal projection P
//!    (from ⟨‖Pθ_{t+1}‖²⟩ = ⟨‖Pθ_t‖²⟩). Evaluated at the checkpoints, the only places where the
//!    gradient is known: O_L,i = m/(m − 1)·(Pθ_i − θ̄)·Pḡ_i (centred at the checkpoints' mean
//!    position, which is allowed because ⟨∇L⟩ = 0 at stationarity; the factor m/(m − 1) removes
//!    the bias of centring at a sample mean, exactly for independent checkpoints and a quadratic
//!    loss, where E Σ_i (θ_i − θ̄)ᵀH(θ_i − θ̄) = (m − 1) tr(HΣ)) and O_R,i = (ε/2)(‖Pḡ_i‖² + tr Q_i),
//!    using E[‖Pĝ‖² | θ] = ‖Pḡ‖² + tr(PQPᵀ) with Q_i the checkpoint's minibatch-noise covariance.
//!    Effect: δ = mean(O_L − O_R)/mean(O_R); interval by batch means (batch size ⌊√m⌋, the
//!    earliest remainder dropped, Student t with (batches − 1) degrees of freedom, as SASA does).
//! 3. **Equipartition** E[L] − L* = ½tr(AΣ) = (ε/4)tr Q (continuous) or
//!    (ε/4)tr Q + (ε/4)tr(AΣ_dA) (discrete), when losses are present and the subspace is the
//!    whole parameter space (A and Q must be the full ones). L* is estimated at each checkpoint by
//!    the quadratic model, L*_i = L_i − ½ḡ_iᵀA⁻¹ḡ_i (exact for a quadratic loss), and averaged;
//!    E[L] is the mean of the trajectory losses in the window (interval by ESS), or of the
//!    checkpoint mean losses.
//! 4. **Mean squared displacement** MSD(τ) = mean ‖θ_{t+τ} − θ_t‖² of the trajectory window at
//!    lags up to T/4, against the OU prediction 2tr Σ_d − 2tr((I − εA)^τ Σ_d), and its growth
//!    exponent log(MSD(τ_max)/MSD(τ_max/4))/log 4 (≈ 0 on a plateau, 1 for free diffusion).
//!    Descriptive; no interval.
//!
//! **Verdict** (informative): each of checks 1–3 gives `decide` on |effect| against
//! `ou_prediction_max_rel_deviation` (1 against the discrete prediction), significance = the
//! interval excludes the null; the section fails if any fails, passes if all computed pass and
//! the covariance check was computed, else inconclusive.
//!
//! Cost: O(T k² + T·L k) for T trajectory rows and L MSD lags, plus O(m n k²) for the checkpoints.

use nalgebra::{DMatrix, DVector};
use serde_json::{json, Value};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{decide, CheckResult, Context, KeyMetric, Verdict};
use crate::model::curvature::{self, rows};
use crate::ou;
use crate::run::SubspaceKind;

/// This check's evidence (`metrics`); not typed yet.
pub type Evidence = super::Untyped;
/// The thresholds this check applied; not typed yet.
pub type Applied = super::Untyped;

fn untyped_evidence(v: serde_json::Value) -> super::Evidence {
    super::Evidence::OuPrediction(Box::new(super::Untyped(v)))
}

fn untyped_applied(v: serde_json::Value) -> super::Applied {
    super::Applied::OuPrediction(super::Untyped(v))
}

/// Mean of a series and its (lo, hi) interval at normal quantile z with the Geyer ESS; `None`
/// for the interval when the ESS cannot be computed.
pub fn mean_ess_interval(x: &[f64], z: f64) -> (f64, Option<(f64, f64, f64)>) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n.max(1.0);
    let Ok(e) = crate::stats::ess::effective_sample_size(x) else {
        return (mean, None);
    };
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (var / e.ess).sqrt();
    (mean, Some((mean - z * se, mean + z * se, e.ess)))
}

/// Batch-means t-interval of the mean of `x` (batch size ⌊√m⌋, earliest remainder dropped);
/// returns (mean, lo, hi, batches), or `None` with fewer than 2 batches. `level` two-sided.
pub fn batch_means_interval(x: &[f64], level: f64) -> Option<(f64, f64, f64, usize)> {
    let m = x.len();
    let b = ((m as f64).sqrt().floor() as usize).max(1);
    let nb = m / b;
    if nb < 2 {
        return None;
    }
    let start = m - nb * b;
    let means: Vec<f64> = (0..nb)
        .map(|j| x[start + j * b..start + (j + 1) * b].iter().sum::<f64>() / b as f64)
        .collect();
    batch_means_interval_of_means(&means, level)
}

/// Batch-ratio interval for ⟨a⟩/⟨b⟩ − 1: the series are cut into ⌊m/B⌋ batches of
/// B = ⌊√m⌋ consecutive values (earliest remainder dropped); per batch r_j = Σa/Σb − 1; returns
/// (mean r_j, t-interval lo, hi, batches), or `None` with fewer than 2 batches or a batch with
/// Σb ≤ 0. Per-batch ratios keep a trend in scale (a drift) from inflating the spread.
pub fn batch_ratio_interval(a: &[f64], b: &[f64], level: f64) -> Option<(f64, f64, f64, usize)> {
    let m = a.len().min(b.len());
    let bs = ((m as f64).sqrt().floor() as usize).max(1);
    let nb = m / bs;
    if nb < 2 {
        return None;
    }
    let start = m - nb * bs;
    let mut r = Vec::with_capacity(nb);
    for j in 0..nb {
        let rng = start + j * bs..start + (j + 1) * bs;
        let sb: f64 = b[rng.clone()].iter().sum();
        if sb.is_nan() || sb <= 0.0 {
            return None;
        }
        r.push(a[rng].iter().sum::<f64>() / sb - 1.0);
    }
    let (mean, lo, hi, _) = batch_means_interval_of_means(&r, level)?;
    Some((mean, lo, hi, nb))
}

/// t-interval of the mean of already formed batch means.
fn batch_means_interval_of_means(means: &[f64], level: f64) -> Option<(f64, f64, f64, usize)> {
    let nb = means.len();
    if nb < 2 {
        return None;
    }
    let mean = means.iter().sum::<f64>() / nb as f64;
    let var = means.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (nb - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (nb - 1) as f64)
        .ok()?
        .inverse_cdf(0.5 + level / 2.0);
    let half = t * (var / nb as f64).sqrt();
    half.is_finite()
        .then_some((mean, mean - half, mean + half, nb))
}

/// |effect − null| decision for a relative deviation with interval [lo, hi] around `est`.
fn decide_abs(est: f64, lo: f64, hi: f64, tol: f64) -> Verdict {
    let excludes = lo > 0.0 || hi < 0.0;
    let abs_lo = if excludes {
        lo.abs().min(hi.abs())
    } else {
        0.0
    };
    let abs_hi = lo.abs().max(hi.abs());
    decide(est.abs(), abs_hi, abs_lo, tol, excludes)
}

/// Runs the OU-consequence checks.
pub fn check(ctx: &Context) -> CheckResult {
    let th = ctx.thresholds;
    let tol = th.ou_prediction_max_rel_deviation;
    let level = th.ci_level;
    let z = ctx.z_simultaneous(1);
    let lr = ctx.lr();
    let run = ctx.run;
    let k = run.k();
    let thresholds = json!({"max_rel_deviation": tol, "ci_level": level});
    let mut reasons = Vec::new();
    let mut verdicts = Vec::new();
    let mut key_metrics = Vec::new();
    let mut metrics = serde_json::Map::new();

    let curv = ctx.curvature();
    let q = curvature::noise_covariance(ctx);
    let prim = curv.primary();
    let preds = prim.and_then(|p| {
        let sc = ou::stationary_cov_continuous(&p.a_sym, &q, lr).ok()?;
        let sd = ou::stationary_cov_discrete(&p.a_sym, &q, lr).ok()?;
        Some((p, sc, sd))
    });
    if prim.is_none() {
        reasons.push(format!(
            "no estimate of A ({}): no covariance, equipartition or MSD prediction",
            curv.unavailable_reason()
        ));
    } else if preds.is_none() {
        reasons.push(
            "the Lyapunov equations have no stationary solution for the estimated A (a mode is \
             not confining or ελ ≥ 2)"
                .into(),
        );
    }
    let window = curvature::trajectory_window(ctx);
    let mut covariance_done = false;

    // 1. Stationary covariance.
    match (&preds, &window) {
        (Some((p, sc, sd)), Some(win)) if win.params.nrows() >= 8 => {
            let w = &win.params;
            let t = w.nrows();
            let mean = w.row_mean();
            let centred = DMatrix::from_fn(t, k, |i, j| w[(i, j)] - mean[j]);
            let sq: Vec<f64> = (0..t).map(|i| centred.row(i).norm_squared()).collect();
            let emp = centred.transpose() * &centred / (t as f64 - 1.0);
            let (tr_hat, iv) = mean_ess_interval(&sq, z);
            // Centring at the window mean removes Var(θ̄) ≈ Σ_j s_j²/ESS_j from the trace
            // (large when the slowest mode has few independent excursions); add it back
            // (first-order correction, ESS of each coordinate's mean).
            let bias: f64 = (0..k)
                .map(|j| {
                    let col: Vec<f64> = w.column(j).iter().cloned().collect();
                    let var = emp[(j, j)];
                    crate::stats::ess::effective_sample_size(&col)
                        .map_or(0.0, |e| var / e.ess.max(1.0))
                })
                .sum();
            let f = t as f64 / (t as f64 - 1.0);
            let tr_hat = tr_hat * f + bias;
            let iv = iv.map(|(lo, hi, e)| (lo + bias / f, hi + bias / f, e));
            let (trd, trc) = (sd.trace(), sc.trace());
            let rd = tr_hat / trd;
            let rc = tr_hat / trc;
            let gd = ou::covariance_gap(&emp, sd).ok();
            let gc = ou::covariance_gap(&emp, sc).ok();
            let closer = match (&gd, &gc) {
                (Some(a), Some(b)) if a.kl <= b.kl => "discrete",
                (Some(_), Some(_)) => "continuous",
                _ if (rd - 1.0).abs() <= (rc - 1.0).abs() => "discrete",
                _ => "continuous",
            };
            let mut md = KeyMetric::new(
                "covariance_ratio_discrete",
                "tr Σ̂ (trajectory) / tr Σ_discrete (exact discrete Lyapunov prediction)",
                rd,
            )
            .tolerance(super::Tolerance::ratio_within(tol));
            let mut mc = KeyMetric::new(
                "covariance_ratio_continuous",
                "tr Σ̂ (trajectory) / tr Σ_continuous (Mandt's continuous Lyapunov prediction)",
                rc,
            );
            let ess = iv.map(|x| x.2);
            if let Some((lo, hi, _)) = iv {
                md = md.ci(f * lo / trd, f * hi / trd, level);
                mc = mc.ci(f * lo / trc, f * hi / trc, level);
                let v = decide_abs(rd - 1.0, f * lo / trd - 1.0, f * hi / trd - 1.0, tol);
                verdicts.push(v);
                covariance_done = true;
                reasons.push(format!(
                    "stationary covariance: tr Σ̂/tr Σ_discrete = {rd:.3} [{:.3}, {:.3}], \
                     tr Σ̂/tr Σ_continuous = {rc:.3} [{:.3}, {:.3}] (ESS {:.0} of {t} steps); the \
                     {closer} prediction is closer; {v}",
                    f * lo / trd,
                    f * hi / trd,
                    f * lo / trc,
                    f * hi / trc,
                    ess.unwrap_or(f64::NAN)
                ));
            } else {
                reasons.push(
                    "stationary covariance: no effective sample size (constant or too short \
                     series); no interval"
                        .into(),
                );
            }
            key_metrics.push(md);
            key_metrics.push(mc);
            metrics.insert(
                "stationary_covariance".into(),
                json!({
                    "a_source": p.source,
                    "steps": t,
                    "effective_sample_size": ess,
                    "empirical": rows(&emp),
                    "discrete": rows(sd),
                    "continuous": rows(sc),
                    "trace_empirical": tr_hat,
                    "trace_centring_correction": bias,
                    "trace_ratio_discrete": rd,
                    "trace_ratio_continuous": rc,
                    "relative_frobenius_discrete": ou::relative_frobenius(&emp, sd).ok(),
                    "relative_frobenius_continuous": ou::relative_frobenius(&emp, sc).ok(),
                    "kl_discrete": gd.as_ref().map(|g| g.kl),
                    "kl_continuous": gc.as_ref().map(|g| g.kl),
                    "whitened_eigenvalues_discrete": gd.as_ref().map(|g| g.whitened_eigenvalues.clone()),
                    "whitened_eigenvalues_continuous": gc.as_ref().map(|g| g.whitened_eigenvalues.clone()),
                    "closer": closer,
                    "circular": p.source == "lag1",
                }),
            );
            if p.source == "lag1" {
                reasons.push(
                    "A was estimated from the same trajectory (lag-1 fit), so the covariance \
                     comparison is partly circular"
                        .into(),
                );
            }
        }
        (Some(_), _) => reasons.push(
            "stationary covariance: no trajectory with at least 8 steps between the first and \
             last checkpoint"
                .into(),
        ),
        _ => {}
    }

    // 2. Yaida FDR1: from the trajectory when its window has consecutive steps (exact minibatch
    // gradients ĝ_t = (θ_t − θ_{t+1})/ε), else at the checkpoints.
    let m = run.checkpoints.len();
    // Centre c: θ̂* = mean_i(θ_i − A⁻¹ḡ_i) from the primary curvature estimate when A is
    // invertible (the minimum under the quadratic model; during a drift it is where the run is
    // heading, so every batch shows the same sign of deviation), else the mean position.
    let centre: Option<DVector<f64>> = prim.and_then(|p| {
        let inv = p.a_sym.clone().try_inverse()?;
        let mut c = DVector::zeros(k);
        for ck in &run.checkpoints {
            let g = DVector::from_fn(k, |j, _| ck.grads.column(j).sum() / ck.n.max(1) as f64);
            c += &ck.theta - &inv * g;
        }
        let c = c / m.max(1) as f64;
        c.iter().all(|x| x.is_finite()).then_some(c)
    });
    let centre_source = if centre.is_some() {
        "quadratic_model_minimum"
    } else {
        "mean_position"
    };
    let from_traj = window.as_ref().and_then(|win| {
        let t = win.params.nrows();
        let consecutive = win.steps.windows(2).all(|w| w[1] == w[0] + 1);
        (consecutive && t >= 64).then(|| {
            let w = &win.params;
            let c = centre
                .as_ref()
                .map_or_else(|| w.row_mean(), |c| c.transpose());
            let mut ol = Vec::with_capacity(t - 1);
            let mut or = Vec::with_capacity(t - 1);
            for i in 0..t - 1 {
                let g = (w.row(i) - w.row(i + 1)) / lr;
                ol.push((w.row(i) - &c).dot(&g));
                or.push(0.5 * lr * g.norm_squared());
            }
            (ol, or, "trajectory")
        })
    });
    let from_ckpt = (m >= 4).then(|| {
        let mut theta_bar = DVector::zeros(k);
        for c in &run.checkpoints {
            theta_bar += &c.theta;
        }
        theta_bar /= m as f64;
        // The sample-mean centring bias factor m/(m − 1) applies only to θ̄.
        let factor = if centre.is_some() {
            1.0
        } else {
            m as f64 / (m as f64 - 1.0)
        };
        let theta_bar = centre.clone().unwrap_or(theta_bar);
        let mut ol = Vec::with_capacity(m);
        let mut or = Vec::with_capacity(m);
        for (i, c) in run.checkpoints.iter().enumerate() {
            let g = DVector::from_fn(k, |j, _| c.grads.column(j).sum() / c.n.max(1) as f64);
            ol.push(factor * (&c.theta - &theta_bar).dot(&g));
            or.push(0.5 * lr * (g.norm_squared() + curvature::noise_covariance_at(ctx, i).trace()));
        }
        (ol, or, "checkpoints")
    });
    let mut fdr_json = serde_json::Map::new();
    let mut fdr_primary = None;
    for (ol, or, src) in [from_traj, from_ckpt].into_iter().flatten() {
        let n = ol.len();
        let mr = or.iter().sum::<f64>() / n as f64;
        let ml = ol.iter().sum::<f64>() / n as f64;
        let res = batch_ratio_interval(&ol, &or, level).filter(|_| mr > 0.0);
        let entry = match res {
            Some((d, dlo, dhi, nb)) => {
                if fdr_primary.is_none() {
                    fdr_primary = Some((src, n, d, dlo, dhi, nb));
                }
                json!({"samples": n, "batches": nb, "centre": centre_source, "mean_o_left": ml, "mean_o_right": mr,
                       "relative_deviation": d, "interval": [dlo, dhi]})
            }
            None => json!({"samples": n, "mean_o_left": ml, "mean_o_right": mr,
                           "interval": null}),
        };
        fdr_json.insert(src.into(), entry);
    }
    match fdr_primary {
        Some((src, n, d, dlo, dhi, nb)) => {
            let v = decide_abs(d, dlo, dhi, tol);
            verdicts.push(v);
            reasons.push(format!(
                "fluctuation–dissipation (FDR1) from the {src} ({n} samples): \
                 ⟨θ·∇L⟩/⟨(ε/2)‖ĝ‖²⟩ − 1 = {d:.3} [{dlo:.3}, {dhi:.3}] ({nb} batch means); {v}"
            ));
            key_metrics.push(
                KeyMetric::new(
                    "fdr1_relative_deviation",
                    "Yaida FDR1: ⟨(θ − θ̄)·ĝ⟩ / ⟨(ε/2)‖ĝ‖²⟩ − 1 (a stationarity test)",
                    d,
                )
                .ci(dlo, dhi, level)
                .tolerance(super::Tolerance::abs_at_most(tol)),
            );
            fdr_json.insert("primary".into(), json!(src));
        }
        None => reasons
            .push("FDR1: needs a trajectory of ≥ 64 consecutive steps or ≥ 4 checkpoints".into()),
    }
    metrics.insert("fdr1".into(), Value::Object(fdr_json));

    // 3. Equipartition.
    let identity = run.subspace.kind() == SubspaceKind::Identity || run.d <= k;
    if let Some((p, _, sd)) = &preds {
        let ck_losses: Vec<Option<f64>> = run
            .checkpoints
            .iter()
            .map(|c| {
                c.losses
                    .as_ref()
                    .filter(|l| !l.is_empty())
                    .map(|l| l.iter().sum::<f64>() / l.len() as f64)
            })
            .collect();
        let inv = p.a_sym.clone().try_inverse();
        if !identity {
            reasons.push(
                "equipartition: needs the full A and Q (analysis subspace = parameter space)"
                    .into(),
            );
        } else if ck_losses.iter().any(|l| l.is_none()) || inv.is_none() {
            reasons
                .push("equipartition: needs losses at every checkpoint and an invertible A".into());
        } else {
            let inv = inv.unwrap_or_else(|| DMatrix::zeros(k, k));
            let lstar: Vec<f64> = run
                .checkpoints
                .iter()
                .zip(&ck_losses)
                .map(|(c, l)| {
                    let g = DVector::from_fn(k, |j, _| c.grads.column(j).sum() / c.n.max(1) as f64);
                    l.unwrap_or(f64::NAN) - 0.5 * (g.transpose() * &inv * &g)[(0, 0)]
                })
                .collect();
            let ls = lstar.iter().sum::<f64>() / m as f64;
            let series: Vec<f64> = match &window {
                Some(crate::model::curvature::Window {
                    losses: Some(l), ..
                }) if l.len() >= 8 => l.clone(),
                _ => ck_losses.iter().map(|l| l.unwrap_or(f64::NAN)).collect(),
            };
            let (el, iv) = mean_ess_interval(&series, z);
            let pred_c = 0.25 * lr * q.trace();
            let pred_d = pred_c + 0.25 * lr * (&p.a_sym * sd * &p.a_sym).trace();
            let excess = el - ls;
            let r = excess / pred_d;
            let mut km = KeyMetric::new(
                "equipartition_ratio",
                "(E[L] − L*) / ((ε/4)tr Q + (ε/4)tr(AΣ_dA)), L* from the quadratic model at the checkpoints",
                r,
            )
            .tolerance(super::Tolerance::ratio_within(tol));
            if let (Some((lo, hi, ess)), true) = (iv, pred_d > 0.0) {
                let (rlo, rhi) = ((lo - ls) / pred_d, (hi - ls) / pred_d);
                km = km.ci(rlo, rhi, level);
                let v = decide_abs(r - 1.0, rlo - 1.0, rhi - 1.0, tol);
                verdicts.push(v);
                reasons.push(format!(
                    "equipartition: (E[L] − L*)/prediction = {r:.3} [{rlo:.3}, {rhi:.3}] \
                     (ESS {ess:.0}); {v}"
                ));
            }
            key_metrics.push(km);
            metrics.insert(
                "equipartition".into(),
                json!({
                    "mean_loss": el, "l_star": ls, "l_star_per_checkpoint": lstar,
                    "excess": excess, "predicted_continuous": pred_c, "predicted_discrete": pred_d,
                    "ratio_discrete": r, "ratio_continuous": excess / pred_c,
                    "series_length": series.len(),
                }),
            );
        }
    }

    // 4. Mean squared displacement.
    if let Some(win) = &window {
        let w = &win.params;
        let t = w.nrows();
        let tmax = t / 4;
        if tmax >= 4 {
            let mut lags = vec![1usize];
            while *lags.last().unwrap_or(&tmax) * 2 <= tmax {
                let l = lags[lags.len() - 1] * 2;
                lags.push(l);
            }
            if lags[lags.len() - 1] != tmax {
                lags.push(tmax);
            }
            let msd: Vec<f64> = lags
                .iter()
                .map(|&l| {
                    (0..t - l)
                        .map(|i| (w.row(i + l) - w.row(i)).norm_squared())
                        .sum::<f64>()
                        / (t - l) as f64
                })
                .collect();
            let q4 = lags.iter().position(|&l| l * 4 >= tmax).unwrap_or(0);
            let expo = (msd[msd.len() - 1] / msd[q4]).ln()
                / (lags[lags.len() - 1] as f64 / lags[q4] as f64).ln();
            let pred: Option<Vec<f64>> = preds.as_ref().map(|(p, _, sd)| {
                let f = DMatrix::identity(k, k) - &p.a_sym * lr;
                lags.iter()
                    .map(|&l| 2.0 * sd.trace() - 2.0 * (f.pow(l as u32) * sd).trace())
                    .collect()
            });
            reasons.push(format!(
                "mean squared displacement: growth exponent {expo:.3} between lags {} and {} \
                 (≈ 0 on a plateau, as an OU process must show; 1 for free diffusion)",
                lags[q4],
                lags[lags.len() - 1]
            ));
            key_metrics.push(KeyMetric::new(
                "msd_growth_exponent",
                "log(MSD(τ_max)/MSD(τ_max/4))/log 4 on the trajectory window (descriptive)",
                expo,
            ));
            metrics.insert(
                "msd".into(),
                json!({"lags": lags, "msd": msd, "predicted": pred, "growth_exponent": expo}),
            );
        }
    }
    metrics.insert(
        "curvature".into(),
        serde_json::to_value(curv.summary()).unwrap_or(Value::Null),
    );

    let verdict = if verdicts.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if covariance_done
        && !verdicts.is_empty()
        && verdicts.iter().all(|v| *v == Verdict::Pass)
    {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    };
    let summary = match verdict {
        Verdict::Pass => {
            "The run's stationary behaviour matches the OU model's predictions within \
                          the tolerances."
                .to_string()
        }
        Verdict::Fail => "The run's stationary behaviour deviates from the OU model's \
                          predictions beyond the tolerances."
            .to_string(),
        Verdict::Inconclusive => "The OU model's predictions could not be confirmed or refuted \
                                  with the available data."
            .to_string(),
    };
    CheckResult {
        verdict,
        summary,
        reasons,
        key_metrics,
        metrics: untyped_evidence(Value::Object(metrics)),
        thresholds: untyped_applied(thresholds),
    }
}
