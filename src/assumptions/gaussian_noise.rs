//! Assumption 1: the minibatch gradient noise ĝ_S(θ) − g(θ) at the run's batch size S is
//! Gaussian (design document, eq. 4).
//!
//! What is tested is the *minibatch* noise, never the per-example gradients pooled as if they
//! were the noise (per-example gradients are far from Gaussian even when the minibatch mean is),
//! and always direction by direction across samples, never coordinates pooled across parameters
//! (sgd-ou-science notes §3.3). Two routes, both reported:
//!
//! 1. **CLT prediction** (per-example runs). For direction j of the analysis subspace, let γ₁ⱼ
//!    and γ₂ⱼ be the skewness and excess kurtosis of the per-example gradients, each checkpoint
//!    standardised by its own mean and standard deviation and then pooled. The mean of S
//!    independent draws has skewness γ₁/√S and excess kurtosis γ₂/S (exact cumulant scaling;
//!    sampling without replacement from N ≫ S changes these by O(S/N), neglected). Intervals:
//!    bootstrap standard errors (rows resampled within checkpoints) with a normal-approximation
//!    interval, Bonferroni-adjusted over the k directions so they hold simultaneously. Rows are
//!    resampled jointly across checkpoints that hold the same examples
//!    ([`Context::bootstrap_indices`]), so pooling checkpoints never counts an example twice.
//! 2. **Direct**. At each checkpoint the rows are shuffled with the seeded generator and cut into
//!    ⌊n/S⌋ disjoint minibatches; each minibatch mean minus the mean of all rows is one noise
//!    sample, standardised by its predicted standard deviation sqrt(s²ⱼ (n − S)/(S(n − 1))).
//!    With `gradients: "minibatch"` the rows themselves are the minibatch gradients (centred and
//!    standardised per checkpoint). The samples of all checkpoints are pooled per direction and
//!    tested with D'Agostino–Pearson K² (matches `scipy.stats.normaltest`), Holm-corrected over
//!    the k directions.
//!
//! **Verdict** (per direction and moment, then combined): fail when the direct test is
//! significant after correction and the effect (|skewness| or |excess kurtosis| of the minibatch
//! noise) exceeds its tolerance, or when the effect's interval lies above the tolerance; pass when
//! every interval lies within the tolerances; inconclusive otherwise.
//!
//! Cost: O(B n k) for the bootstrap plus O(n k) for the direct route, per checkpoint.

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::RngExt;
use serde_json::json;
use statrs::distribution::{ContinuousCDF, Normal};

use super::{decide, CheckResult, Context, KeyMetric, Verdict};
use crate::run::GradientKind;
use crate::stats::descriptive::Moments;
use crate::stats::multitest::{adjust, Method};
use crate::stats::normality::dagostino_pearson;

/// Skewness and excess kurtosis of the minibatch noise along one direction, with intervals.
#[derive(Debug, Clone, Copy)]
struct Effect {
    skew: f64,
    skew_ci: [f64; 2],
    kurt: f64,
    kurt_ci: [f64; 2],
}

/// Interval of |x| from an interval of x.
fn abs_interval([lo, hi]: [f64; 2]) -> [f64; 2] {
    if lo <= 0.0 && hi >= 0.0 {
        [0.0, lo.abs().max(hi.abs())]
    } else {
        [lo.abs().min(hi.abs()), lo.abs().max(hi.abs())]
    }
}

/// Runs the check.
pub fn check(ctx: &Context) -> CheckResult {
    let th = ctx.thresholds;
    let run = ctx.run;
    let k = run.k();
    let s = run.manifest.batch_size as usize;
    let per_example = run.manifest.gradients == GradientKind::PerExample;
    let thresholds = json!({
        "max_abs_skewness": th.gaussian_max_abs_skewness,
        "max_abs_excess_kurtosis": th.gaussian_max_abs_excess_kurtosis,
        "alpha": th.alpha,
        "ci_level": th.ci_level,
        "min_minibatch_samples": th.gaussian_min_minibatch_samples,
        "bootstrap_resamples": th.bootstrap_resamples,
    });

    // ---- Direct route: minibatch noise samples per direction, pooled over checkpoints.
    let mut rng = ctx.rng("gaussian_noise/minibatches");
    let mut direct: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut used = Vec::new();
    for c in &run.checkpoints {
        let n = c.n;
        let mut rows: Vec<usize> = (0..n).collect();
        if per_example {
            rows.shuffle(&mut rng);
            let m = n / s;
            used.push(json!({"step": c.step, "rows": n, "minibatch_samples": m}));
            if m == 0 || n <= s {
                continue;
            }
            for j in 0..k {
                let col = c.grads.column(j);
                let mom = Moments::new(col.as_slice());
                let sd = (mom.variance() * (n - s) as f64 / (s as f64 * (n as f64 - 1.0))).sqrt();
                if !(sd > 0.0) {
                    continue;
                }
                for b in 0..m {
                    let mean_b = rows[b * s..(b + 1) * s]
                        .iter()
                        .map(|&i| col[i])
                        .sum::<f64>()
                        / s as f64;
                    direct[j].push((mean_b - mom.mean) / sd);
                }
            }
        } else {
            used.push(json!({"step": c.step, "rows": n, "minibatch_samples": n}));
            for j in 0..k {
                let col = c.grads.column(j);
                let mom = Moments::new(col.as_slice());
                let sd = mom.variance().sqrt();
                if sd > 0.0 {
                    direct[j].extend(col.iter().map(|v| (v - mom.mean) / sd));
                }
            }
        }
    }
    let m_direct = direct.iter().map(Vec::len).min().unwrap_or(0);
    let direct_ok = m_direct >= th.gaussian_min_minibatch_samples.max(8);
    let (raw_p, stats_k2): (Vec<f64>, Vec<f64>) = if direct_ok {
        direct
            .iter()
            .map(|x| match dagostino_pearson(x) {
                Ok(t) => (t.p_value, t.statistic),
                Err(_) => (1.0, f64::NAN),
            })
            .unzip()
    } else {
        (Vec::new(), Vec::new())
    };
    let adj_p = if direct_ok {
        adjust(&raw_p, Method::Holm).unwrap_or_else(|_| vec![1.0; k])
    } else {
        Vec::new()
    };

    // ---- Effect sizes with simultaneous intervals.
    let z = ctx.z_simultaneous(k);
    let b = th.bootstrap_resamples.max(20);
    let effects: Vec<Effect> = if per_example {
        clt_effects(ctx, s, z, b)
    } else {
        direct_effects(&direct, z, b, &mut ctx.rng("gaussian_noise/bootstrap"))
    };

    // ---- Verdict per direction.
    let mut verdicts = Vec::new();
    let mut worst = (0usize, f64::MIN);
    for (j, e) in effects.iter().enumerate() {
        let sig = direct_ok && adj_p[j] < th.alpha;
        let sk = abs_interval(e.skew_ci);
        let ku = abs_interval(e.kurt_ci);
        let v_s = decide(
            e.skew.abs(),
            sk[1],
            sk[0],
            th.gaussian_max_abs_skewness,
            sig,
        );
        let v_k = decide(
            e.kurt.abs(),
            ku[1],
            ku[0],
            th.gaussian_max_abs_excess_kurtosis,
            sig,
        );
        verdicts.push(Verdict::combine([v_s, v_k]));
        let score = (e.skew.abs() / th.gaussian_max_abs_skewness)
            .max(e.kurt.abs() / th.gaussian_max_abs_excess_kurtosis);
        if score > worst.1 {
            worst = (j, score);
        }
    }
    let verdict = if effects.is_empty() {
        Verdict::Inconclusive
    } else {
        Verdict::combine(verdicts.iter().copied())
    };
    let w = worst.0;
    let mut reasons = Vec::new();
    if !direct_ok {
        reasons.push(format!(
            "only {m_direct} direct minibatch-noise samples per direction (fewer than {}): the \
             direct normality tests were not run{}",
            th.gaussian_min_minibatch_samples,
            if per_example {
                "; export more examples per checkpoint (n ≥ 20·S over all checkpoints)"
            } else {
                ""
            }
        ));
    }
    let mut key_metrics = Vec::new();
    if let Some(e) = effects.get(w) {
        let sk = abs_interval(e.skew_ci);
        let ku = abs_interval(e.kurt_ci);
        let p_worst = adj_p.get(w).copied();
        let mut km_s = KeyMetric::new(
            "minibatch_abs_skewness",
            "|skewness| of the minibatch noise in the worst direction",
            e.skew.abs(),
        )
        .ci(sk[0], sk[1], th.ci_level)
        .tolerance(format!("≤ {}", th.gaussian_max_abs_skewness));
        let mut km_k = KeyMetric::new(
            "minibatch_abs_excess_kurtosis",
            "|excess kurtosis| of the minibatch noise in the worst direction",
            e.kurt.abs(),
        )
        .ci(ku[0], ku[1], th.ci_level)
        .tolerance(format!("≤ {}", th.gaussian_max_abs_excess_kurtosis));
        if let Some(p) = p_worst {
            km_s = km_s.p_value(p);
            km_k = km_k.p_value(p);
        }
        key_metrics.push(km_s);
        key_metrics.push(km_k);
        reasons.push(format!(
            "worst direction {w}: minibatch skewness {:.3} [{:.3}, {:.3}], excess kurtosis \
             {:.3} [{:.3}, {:.3}] ({} route){}",
            e.skew,
            e.skew_ci[0],
            e.skew_ci[1],
            e.kurt,
            e.kurt_ci[0],
            e.kurt_ci[1],
            if per_example {
                "CLT prediction from per-example gradients"
            } else {
                "direct"
            },
            match p_worst {
                Some(p) => format!(
                    "; D'Agostino–Pearson p = {} (Holm)",
                    crate::report::p_text(Some(p))
                ),
                None => String::new(),
            }
        ));
    }
    let summary = match verdict {
        Verdict::Pass => format!(
            "The minibatch noise at S = {s} is Gaussian within tolerance in all {k} directions."
        ),
        Verdict::Fail => format!(
            "The minibatch noise at S = {s} is significantly and materially non-Gaussian \
             (worst direction {w})."
        ),
        Verdict::Inconclusive => format!(
            "The data cannot decide whether the minibatch noise at S = {s} is Gaussian within \
             tolerance."
        ),
    };
    if verdict == Verdict::Inconclusive && !effects.is_empty() {
        reasons.push(
            "an effect's confidence interval straddles its tolerance, or the deviation is large \
             but not significant: more examples per checkpoint would decide"
                .into(),
        );
    }

    // QQ data for the worst direction (direct samples).
    let qq = if direct[w.min(k - 1)].len() >= 3 {
        let mut x = direct[w.min(k - 1)].clone();
        x.sort_by(f64::total_cmp);
        let n = x.len() as f64;
        let nd = Normal::standard();
        let theo: Vec<f64> = (0..x.len())
            .map(|i| nd.inverse_cdf((i as f64 + 1.0 - 0.375) / (n + 0.25)))
            .collect();
        json!({"direction": w, "theoretical": theo, "sample": x,
               "plotting_positions": "Blom (i − 3/8)/(n + 1/4)"})
    } else {
        serde_json::Value::Null
    };
    let per_direction: Vec<_> = effects
        .iter()
        .enumerate()
        .map(|(j, e)| {
            json!({
                "direction": j,
                "skewness": e.skew, "skewness_ci": e.skew_ci,
                "excess_kurtosis": e.kurt, "excess_kurtosis_ci": e.kurt_ci,
                "k2_statistic": stats_k2.get(j),
                "p_value": raw_p.get(j),
                "p_value_holm": adj_p.get(j),
                "verdict": verdicts.get(j),
            })
        })
        .collect();
    CheckResult {
        verdict,
        summary,
        reasons,
        key_metrics,
        metrics: json!({
            "route": if per_example {"clt_prediction+direct"} else {"direct"},
            "batch_size": s,
            "samples": used,
            "direct_samples_per_direction": m_direct,
            "direct_tests_run": direct_ok,
            "per_direction": per_direction,
            "worst_direction": w,
            "qq_worst_direction": qq,
        }),
        thresholds,
    }
}

/// Standardised per-example gradients of direction j, pooled over checkpoints, for the rows
/// `pick(c)` of each checkpoint c.
fn pooled_standardised(
    grads: &[&DMatrix<f64>],
    j: usize,
    pick: &mut dyn FnMut(usize, usize) -> usize,
) -> Vec<f64> {
    let mut out = Vec::new();
    for (ci, g) in grads.iter().enumerate() {
        let n = g.nrows();
        let col: Vec<f64> = (0..n).map(|r| g[(pick(ci, r), j)]).collect();
        let m = Moments::new(&col);
        let sd = m.m2.sqrt();
        if sd > 0.0 {
            out.extend(col.iter().map(|v| (v - m.mean) / sd));
        }
    }
    out
}

/// CLT-predicted minibatch skewness γ₁/√S and excess kurtosis γ₂/S per direction.
fn clt_effects(ctx: &Context, s: usize, z: f64, b: usize) -> Vec<Effect> {
    let grads: Vec<&DMatrix<f64>> = ctx.run.checkpoints.iter().map(|c| &c.grads).collect();
    let k = ctx.run.k();
    let sf = s as f64;
    let predict = |x: &[f64]| {
        let m = Moments::new(x);
        (m.skewness() / sf.sqrt(), m.excess_kurtosis() / sf)
    };
    // Row indices are drawn once per resample (jointly across paired checkpoints) and shared by
    // all directions.
    let boots = ctx.bootstrap_indices("gaussian_noise/bootstrap", b);
    (0..k)
        .map(|j| {
            let x = pooled_standardised(&grads, j, &mut |_, r| r);
            let (skew, kurt) = predict(&x);
            let (mut ss, mut kk) = (Vec::with_capacity(b), Vec::with_capacity(b));
            for bi in &boots {
                let xb = pooled_standardised(&grads, j, &mut |c, r| bi[c][r]);
                let (a, bb) = predict(&xb);
                ss.push(a);
                kk.push(bb);
            }
            let se = |v: &[f64]| Moments::new(v).variance().sqrt();
            let (se_s, se_k) = (se(&ss), se(&kk));
            Effect {
                skew,
                skew_ci: [skew - z * se_s, skew + z * se_s],
                kurt,
                kurt_ci: [kurt - z * se_k, kurt + z * se_k],
            }
        })
        .collect()
}

/// Sample skewness and excess kurtosis of the direct minibatch-noise samples per direction.
fn direct_effects(
    direct: &[Vec<f64>],
    z: f64,
    b: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Vec<Effect> {
    direct
        .iter()
        .filter(|x| x.len() >= 3)
        .map(|x| {
            let m = Moments::new(x);
            let (skew, kurt) = (m.skewness(), m.excess_kurtosis());
            let n = x.len();
            let (mut ss, mut kk) = (Vec::with_capacity(b), Vec::with_capacity(b));
            for _ in 0..b {
                let xb: Vec<f64> = (0..n).map(|_| x[rng.random_range(0..n)]).collect();
                let mb = Moments::new(&xb);
                ss.push(mb.skewness());
                kk.push(mb.excess_kurtosis());
            }
            let se = |v: &[f64]| Moments::new(v).variance().sqrt();
            let (se_s, se_k) = (se(&ss), se(&kk));
            Effect {
                skew,
                skew_ci: [skew - z * se_s, skew + z * se_s],
                kurt,
                kurt_ci: [kurt - z * se_k, kurt + z * se_k],
            }
        })
        .collect()
}
