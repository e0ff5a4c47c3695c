//! Assumption 1: the minibatch gradient noise ĝ_S(θ) − g(θ) at the run's batch size S is
//! Gaussian, N(0, C(θ)/S) (design document, eq. 4).
//!
//! What is tested is the *minibatch* noise at each checkpoint, never the per-example gradients
//! pooled as if they were the noise (per-example gradients are far from Gaussian even when the
//! minibatch mean is), and always direction by direction across samples, never coordinates pooled
//! across parameters (pooling mixes scales and makes anisotropic Gaussian noise look heavy-tailed;
//! Xie, Sato & Sugiyama 2021; Xie et al. 2023). Two routes, both reported (docs/methods.md §1):
//!
//! 1. **CLT prediction** (per-example runs). At checkpoint c and direction j let m₂, m₃, m₄ be
//!    the central moments (divisor n) of the n per-example gradients, estimates of the moments of
//!    the data set's N per-example gradients. The mean of S draws has
//!    * with replacement: skewness γ₁/√S and excess kurtosis γ₂/S (cumulants of a sum of i.i.d.
//!      terms add);
//!    * without replacement from N (finite-population correction, Tukey's polykays; e.g.
//!      Kendall & Stuart, *Advanced Theory of Statistics* vol. 1, §12.20, and Cochran 1977 Thm 2.2
//!      for the variance):
//!      μ₂(ȳ) = m₂ (N − S)/(S(N − 1)),
//!      μ₃(ȳ) = m₃ (N − S)(N − 2S)/(S²(N − 1)(N − 2)),
//!      μ₄(ȳ) = (N − S)[(N(N + 1) − 6S(N − S)) m₄ + 3N(S − 1)(N − S − 1) m₂²] / (S³(N − 1)(N − 2)(N − 3)),
//!      skewness μ₃/μ₂^{3/2}, excess kurtosis μ₄/μ₂² − 3 ([`minibatch_mean_shape`]; checked by
//!      exact enumeration of all subsets in the tests).
//!
//!    Per direction the checkpoints' predictions are averaged with weights n_c. Intervals: normal
//!    approximation with bootstrap standard errors (rows resampled jointly across checkpoints that
//!    hold the same examples, [`Context::bootstrap_indices`]), Bonferroni over the 2k intervals
//!    (skewness and kurtosis of k directions) so that they hold simultaneously. Also reported: the
//!    Berry–Esseen bound sup_x |F(x) − Φ(x)| ≤ 0.4748·ρ/(σ³√S), ρ = E|X − μ|³ (Shevtsova 2011,
//!    i.i.d. summands), a diagnostic only (it is ≥ 0.76/√S even for Gaussian data, so it can never
//!    certify a pass at practical S).
//! 2. **Direct**. At each checkpoint the rows are shuffled with the seeded generator and cut into
//!    ⌊n/S⌋ disjoint minibatches; each minibatch mean minus the mean of all n rows is one noise
//!    sample, standardised by its exact standard deviation for sampling the n rows without
//!    replacement, sqrt(m₂ (n − S)/(S(n − 1))). With `gradients: "minibatch"` the rows themselves
//!    are minibatch gradients (centred and standardised per checkpoint). The standardised samples
//!    of all checkpoints are pooled per direction and tested with D'Agostino–Pearson K²
//!    (`scipy.stats.normaltest`), its p-value calibrated by a seeded Monte Carlo null
//!    ([`UnivariateNull`], 999 draws) when the pooled sample has at most 2,000 values (K² is
//!    liberal at small n), Holm-corrected over the k directions. When the pooled sample allows it
//!    (M ≥ 20p), Henze–Zirkler and Mardia are run on the first p = min(k, 5) directions after
//!    whitening each checkpoint's samples (a systematic subsample of at most 1,000 of them), with
//!    Monte Carlo p-values ([`MvnNull`], 199 draws) when M < 50p and asymptotic ones beyond.
//!    Tail indices of the direct samples (Hill with k = ⌊√M⌋, block-sum α with m = ⌊√M⌋, both with
//!    percentile-bootstrap intervals) explain a failure.
//!
//! **Significance** per direction: the direct K² p-value; in per-example runs Bonferroni-combined
//! with the smallest per-checkpoint K² p-value of the per-example gradients (×K checkpoints),
//! valid for exact Gaussianity of the minibatch mean by Cramér's decomposition theorem; then Holm
//! over the k directions.
//!
//! **Verdict** (per direction and moment, then combined; [`decide`]): fail when the direction is
//! significant after Holm correction and the effect (|skewness| or |excess kurtosis| of the
//! minibatch noise: the CLT prediction for per-example runs, the direct sample moment for
//! minibatch runs) exceeds its tolerance, or when the effect's simultaneous interval lies above
//! the tolerance; pass when every interval lies within the tolerances; inconclusive otherwise.
//! The multivariate tests, tail indices and Berry–Esseen bound are reported, not voted.
//!
//! Cost: one pass over the gradients per checkpoint for the moments and the direct samples,
//! O(n k); the bootstrap O(B n k) per checkpoint (B = `bootstrap_resamples`); the K² null
//! O(999 M) per direction (M ≤ 2,000); the multivariate tests O(M² p) with M ≤ 1,000 (and their
//! null O(199 M² p) only when M < 50p).

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::RngExt;
use serde_json::{json, Value};
use statrs::distribution::{ContinuousCDF, Normal};

use super::{decide, CheckResult, Context, KeyMetric, Verdict};
use crate::run::{GradientKind, Sampling};
use crate::stats::descriptive::Moments;
use crate::stats::multitest::{adjust, Method};
use crate::stats::mvn::{henze_zirkler, mardia, MvnNull, UnivariateNull};
use crate::stats::normality::dagostino_pearson;
use crate::stats::tails::{block_sum_alpha_ci, hill_ci, TailIndex};

/// This check's evidence (`metrics`); not typed yet.
pub type Evidence = super::Untyped;
/// The thresholds this check applied; not typed yet.
pub type Applied = super::Untyped;

fn untyped_evidence(v: serde_json::Value) -> super::Evidence {
    super::Evidence::GaussianNoise(Box::new(super::Untyped(v)))
}

fn untyped_applied(v: serde_json::Value) -> super::Applied {
    super::Applied::GaussianNoise(super::Untyped(v))
}

/// Berry–Esseen constant for i.i.d. summands (Shevtsova 2011, *Dokl. Math.* 83:1).
pub const BERRY_ESSEEN_C: f64 = 0.4748;

/// Largest pooled direct sample for which the K² p-value is calibrated by simulation.
const K2_NULL_MAX_N: usize = 2000;
/// Monte Carlo draws of the K² null.
const K2_NULL_DRAWS: usize = 999;
/// Monte Carlo draws of the multivariate null.
const MVN_NULL_DRAWS: usize = 199;
/// Pooled samples per dimension from which the multivariate tests use asymptotic p-values.
const MVN_ASYMPTOTIC_RATIO: usize = 50;
/// Largest pooled sample of the multivariate tests (their cost is O(M²p)).
const MVN_MAX_SAMPLES: usize = 1000;
/// Largest dimension of the multivariate tests.
const MVN_MAX_DIM: usize = 5;

/// Skewness and excess kurtosis of the mean of `s` draws from a population whose central moments
/// (divisor N) are `m2`, `m3`, `m4`.
///
/// `population = Some(N)`: draws without replacement from N values, exact finite-population
/// formulas (module docs); `None`: i.i.d. draws, γ₁/√S and γ₂/S. Returns `None` when the
/// minibatch mean has no noise (S ≥ N, or m₂ = 0), when N < 4 (the formulas need N ≥ 4), or on
/// non-finite input. Cost O(1).
pub fn minibatch_mean_shape(
    m2: f64,
    m3: f64,
    m4: f64,
    s: usize,
    population: Option<usize>,
) -> Option<(f64, f64)> {
    if !(m2 > 0.0 && m2.is_finite() && m3.is_finite() && m4.is_finite()) || s == 0 {
        return None;
    }
    let sf = s as f64;
    let g1 = m3 / m2.powf(1.5);
    let g2 = m4 / (m2 * m2) - 3.0;
    match population {
        None => Some((g1 / sf.sqrt(), g2 / sf)),
        Some(n) => {
            if n < 4 || s >= n {
                return None;
            }
            let nf = n as f64;
            let v = m2 * (nf - sf) / (sf * (nf - 1.0));
            let mu3 = m3 * (nf - sf) * (nf - 2.0 * sf) / (sf * sf * (nf - 1.0) * (nf - 2.0));
            let mu4 = (nf - sf)
                * ((nf * (nf + 1.0) - 6.0 * sf * (nf - sf)) * m4
                    + 3.0 * nf * (sf - 1.0) * (nf - sf - 1.0) * m2 * m2)
                / (sf.powi(3) * (nf - 1.0) * (nf - 2.0) * (nf - 3.0));
            let out = (mu3 / v.powf(1.5), mu4 / (v * v) - 3.0);
            (out.0.is_finite() && out.1.is_finite()).then_some(out)
        }
    }
}

/// Central moments (divisor n) and the mean absolute third moment of `col[idx]` (all rows when
/// `idx` is `None`). Two passes, O(n).
fn moments_of(col: &[f64], idx: Option<&[usize]>) -> (Moments, f64) {
    let n = idx.map_or(col.len(), <[usize]>::len);
    let get = |i: usize| idx.map_or(col[i], |ix| col[ix[i]]);
    let nf = n as f64;
    let mean = (0..n).map(get).sum::<f64>() / nf;
    let (mut m2, mut m3, mut m4, mut a3) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let d = get(i) - mean;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
        a3 += d2 * d.abs();
    }
    (
        Moments {
            n,
            mean,
            m2: m2 / nf,
            m3: m3 / nf,
            m4: m4 / nf,
        },
        a3 / nf,
    )
}

/// CLT prediction for one checkpoint and direction: (skewness, excess kurtosis, Berry–Esseen).
fn predict(col: &[f64], idx: Option<&[usize]>, s: usize, pop: Option<usize>) -> Option<[f64; 3]> {
    let (m, a3) = moments_of(col, idx);
    let (sk, ku) = minibatch_mean_shape(m.m2, m.m3, m.m4, s, pop)?;
    let be = BERRY_ESSEEN_C * a3 / (m.m2.powf(1.5) * (s as f64).sqrt());
    Some([sk, ku, be.min(1.0)])
}

/// An estimate with a simultaneous normal-approximation interval from a bootstrap SE.
fn with_ci(est: f64, reps: &[f64], z: f64) -> [f64; 3] {
    let r: Vec<f64> = reps.iter().copied().filter(|v| v.is_finite()).collect();
    if r.len() < 2 || !est.is_finite() {
        return [est, f64::NAN, f64::NAN];
    }
    let se = Moments::new(&r).variance().sqrt();
    [est, est - z * se, est + z * se]
}

/// Interval of |x| from an interval of x.
fn abs_interval(lo: f64, hi: f64) -> [f64; 2] {
    if lo <= 0.0 && hi >= 0.0 {
        [0.0, lo.abs().max(hi.abs())]
    } else {
        [lo.abs().min(hi.abs()), lo.abs().max(hi.abs())]
    }
}

/// Skewness and excess kurtosis of the minibatch noise along one direction, with intervals.
#[derive(Debug, Clone, Copy)]
struct Effect {
    /// [estimate, lo, hi]
    skew: [f64; 3],
    kurt: [f64; 3],
    /// Berry–Esseen bound [estimate, lo, hi] (CLT route only).
    berry_esseen: Option<[f64; 3]>,
}

impl Effect {
    fn finite(&self) -> bool {
        self.skew.iter().chain(&self.kurt).all(|v| v.is_finite())
    }
}

/// CLT route: per-checkpoint and pooled predictions with bootstrap intervals.
/// Returns (pooled effects per direction, per-checkpoint JSON per checkpoint).
fn clt_route(
    ctx: &Context,
    s: usize,
    pop: Option<usize>,
    z: f64,
    b: usize,
) -> (Vec<Option<Effect>>, Vec<Vec<Value>>) {
    let run = ctx.run;
    let k = run.k();
    let cps = &run.checkpoints;
    let weights: Vec<f64> = cps.iter().map(|c| c.n as f64).collect();
    // est[c][j] = prediction on all rows; reps[bi][c][j] on resample bi.
    let est: Vec<Vec<Option<[f64; 3]>>> = cps
        .iter()
        .map(|c| {
            (0..k)
                .map(|j| predict(c.grads.column(j).as_slice(), None, s, pop))
                .collect()
        })
        .collect();
    let boots = ctx.bootstrap_indices("gaussian_noise/bootstrap", b);
    let reps: Vec<Vec<Vec<Option<[f64; 3]>>>> = boots
        .map(|bi| {
            cps.iter()
                .enumerate()
                .map(|(ci, c)| {
                    (0..k)
                        .map(|j| predict(c.grads.column(j).as_slice(), Some(&bi[ci]), s, pop))
                        .collect()
                })
                .collect()
        })
        .collect();
    // Weighted mean over checkpoints; None when any checkpoint is degenerate in direction j.
    let pool = |per_c: &dyn Fn(usize) -> Option<[f64; 3]>| -> Option<[f64; 3]> {
        let mut acc = [0.0; 3];
        let mut wsum = 0.0;
        for (ci, w) in weights.iter().enumerate() {
            let v = per_c(ci)?;
            for q in 0..3 {
                acc[q] += w * v[q];
            }
            wsum += w;
        }
        (wsum > 0.0).then(|| acc.map(|a| a / wsum))
    };
    let mk_effect = |e: [f64; 3], r: &[[f64; 3]]| -> Effect {
        let col = |q: usize| r.iter().map(|v| v[q]).collect::<Vec<f64>>();
        Effect {
            skew: with_ci(e[0], &col(0), z),
            kurt: with_ci(e[1], &col(1), z),
            berry_esseen: Some(with_ci(e[2], &col(2), z)),
        }
    };
    let pooled: Vec<Option<Effect>> = (0..k)
        .map(|j| {
            let e = pool(&|ci| est[ci][j])?;
            let r: Vec<[f64; 3]> = reps.iter().filter_map(|rb| pool(&|ci| rb[ci][j])).collect();
            Some(mk_effect(e, &r))
        })
        .collect();
    let per_checkpoint: Vec<Vec<Value>> = (0..cps.len())
        .map(|ci| {
            (0..k)
                .map(|j| match est[ci][j] {
                    None => Value::Null,
                    Some(e) => {
                        let r: Vec<[f64; 3]> = reps.iter().filter_map(|rb| rb[ci][j]).collect();
                        let ef = mk_effect(e, &r);
                        json!({
                            "skewness": ef.skew[0], "skewness_ci": [ef.skew[1], ef.skew[2]],
                            "excess_kurtosis": ef.kurt[0],
                            "excess_kurtosis_ci": [ef.kurt[1], ef.kurt[2]],
                            "berry_esseen_bound": e[2],
                        })
                    }
                })
                .collect()
        })
        .collect();
    (pooled, per_checkpoint)
}

/// Sample skewness and excess kurtosis of the pooled direct samples, with bootstrap intervals.
fn direct_effect(x: &[f64], z: f64, b: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Option<Effect> {
    if x.len() < 8 {
        return None;
    }
    let m = Moments::new(x);
    let n = x.len();
    let (mut ss, mut kk) = (Vec::with_capacity(b), Vec::with_capacity(b));
    let mut xb = vec![0.0; n];
    for _ in 0..b {
        for v in xb.iter_mut() {
            *v = x[rng.random_range(0..n)];
        }
        let mb = Moments::new(&xb);
        ss.push(mb.skewness());
        kk.push(mb.excess_kurtosis());
    }
    let e = Effect {
        skew: with_ci(m.skewness(), &ss, z),
        kurt: with_ci(m.excess_kurtosis(), &kk, z),
        berry_esseen: None,
    };
    e.finite().then_some(e)
}

/// Direct noise samples of one checkpoint: an m × k matrix of standardised samples and the
/// m × k matrix of unstandardised (centred) samples, for the multivariate tests.
fn direct_samples(
    grads: &DMatrix<f64>,
    s: usize,
    per_example: bool,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> (DMatrix<f64>, Vec<f64>) {
    let (n, k) = grads.shape();
    let mut scale = vec![f64::NAN; k];
    if per_example {
        let m = n / s;
        let mut rows: Vec<usize> = (0..n).collect();
        rows.shuffle(rng);
        let mut out = DMatrix::zeros(m, k);
        if m == 0 || n <= s {
            return (out, scale);
        }
        for j in 0..k {
            let col = grads.column(j);
            let mom = Moments::new(col.as_slice());
            // Exact sd of a mean of S rows drawn without replacement from these n rows.
            let sd = (mom.m2 * (n - s) as f64 / (s as f64 * (n as f64 - 1.0))).sqrt();
            scale[j] = sd;
            for bi in 0..m {
                let mean_b = rows[bi * s..(bi + 1) * s]
                    .iter()
                    .map(|&i| col[i])
                    .sum::<f64>()
                    / s as f64;
                out[(bi, j)] = mean_b - mom.mean;
            }
        }
        (out, scale)
    } else {
        let mut out = DMatrix::zeros(n, k);
        for j in 0..k {
            let col = grads.column(j);
            let mom = Moments::new(col.as_slice());
            scale[j] = mom.variance().sqrt();
            for i in 0..n {
                out[(i, j)] = col[i] - mom.mean;
            }
        }
        (out, scale)
    }
}

/// Whitens the rows of `x` (m × p, centred) with the Cholesky factor of `cov`; None if singular.
fn whiten(x: &DMatrix<f64>, cov: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    let l = cov.clone().cholesky()?.l();
    let w = l.solve_lower_triangular(&x.transpose())?;
    let out = w.transpose();
    out.iter().all(|v| v.is_finite()).then_some(out)
}

fn tail_json(t: &Result<TailIndex, crate::stats::StatsError>) -> Value {
    match t {
        Ok(t) => json!({"estimate": t.estimate, "ci": [t.ci_lower, t.ci_upper],
                        "level": t.level, "n_used": t.n_used}),
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// Runs the check.
pub fn check(ctx: &Context) -> CheckResult {
    let th = ctx.thresholds;
    let run = ctx.run;
    let k = run.k();
    let s = run.manifest.batch_size as usize;
    let per_example = run.manifest.gradients == GradientKind::PerExample;
    let pop = match run.manifest.sampling {
        Sampling::WithReplacement => None,
        Sampling::WithoutReplacement => Some(run.manifest.dataset_size as usize),
    };
    let thresholds = json!({
        "max_abs_skewness": th.gaussian_max_abs_skewness,
        "max_abs_excess_kurtosis": th.gaussian_max_abs_excess_kurtosis,
        "alpha": th.alpha,
        "ci_level": th.ci_level,
        "min_minibatch_samples": th.gaussian_min_minibatch_samples,
        "bootstrap_resamples": th.bootstrap_resamples,
    });
    if k == 0 || run.checkpoints.is_empty() || s == 0 {
        let mut r = CheckResult::inconclusive(
            "The minibatch noise cannot be assessed: no checkpoints or no analysis directions.",
            "the run has no checkpoint gradients in the analysis subspace",
        );
        r.thresholds = untyped_applied(thresholds.clone());
        return r;
    }
    let mut reasons = Vec::new();

    // ---- Direct route: minibatch noise samples per direction, per checkpoint, then pooled.
    let mut rng = ctx.rng("gaussian_noise/minibatches");
    let mut direct: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut samples_json = Vec::new();
    let p_mvn = k.min(MVN_MAX_DIM);
    let mut mvn_rows: Vec<DMatrix<f64>> = Vec::new();
    let mut mvn_ok = true;
    let mut direct_per_checkpoint: Vec<Vec<Value>> = Vec::new();
    for c in &run.checkpoints {
        let n = c.n;
        let (raw, scale) = direct_samples(&c.grads, s, per_example, &mut rng);
        let m = raw.nrows();
        samples_json.push(json!({
            "step": c.step,
            "rows": n,
            "minibatch_samples": m,
            "rows_unused": if per_example { n - m * s } else { 0 },
            "note": if per_example {
                "disjoint minibatches of size S from the n rows (⌊n/S⌋ available)"
            } else {
                "rows are minibatch gradients (gradients: \"minibatch\")"
            },
        }));
        let mut per_dir = Vec::new();
        for (j, out) in direct.iter_mut().enumerate() {
            let sd = scale[j];
            if m == 0 || !(sd > 0.0 && sd.is_finite()) {
                per_dir.push(Value::Null);
                continue;
            }
            let z: Vec<f64> = raw.column(j).iter().map(|v| v / sd).collect();
            let mom = Moments::new(&z);
            per_dir.push(json!({"samples": m, "skewness": mom.skewness(),
                                "excess_kurtosis": mom.excess_kurtosis()}));
            out.extend(z);
        }
        direct_per_checkpoint.push(per_dir);
        // Whitened samples for the multivariate tests.
        if mvn_ok && m > 0 {
            let x = raw.columns(0, p_mvn).into_owned();
            let cov = if per_example {
                let f = (n - s) as f64 / (s as f64 * (n as f64 - 1.0));
                crate::stats::descriptive::covariance_matrix(
                    &c.grads.columns(0, p_mvn).into_owned(),
                ) * (f * (n as f64 - 1.0) / n as f64)
            } else if m > p_mvn + 1 {
                crate::stats::descriptive::covariance_matrix(&x)
            } else {
                mvn_ok = false;
                continue;
            };
            match whiten(&x, &cov) {
                Some(w) => mvn_rows.push(w),
                None => mvn_ok = false,
            }
        }
    }
    let m_direct = direct.iter().map(Vec::len).min().unwrap_or(0);
    let m_available: usize = run
        .checkpoints
        .iter()
        .map(|c| if per_example { c.n / s } else { c.n })
        .sum();
    let direct_ok = m_direct >= th.gaussian_min_minibatch_samples.max(8);

    // K² per direction, calibrated by a Monte Carlo null when the pooled sample is small.
    let k2_null = if direct_ok && m_direct <= K2_NULL_MAX_N {
        UnivariateNull::simulate(
            m_direct,
            K2_NULL_DRAWS,
            &mut ctx.rng("gaussian_noise/k2_null"),
            |x| dagostino_pearson(x).map(|t| t.p_value),
        )
        .ok()
    } else {
        None
    };
    let mut k2_stat = vec![f64::NAN; k];
    let mut raw_p = vec![1.0; k];
    if direct_ok {
        for j in 0..k {
            if let Ok(t) = dagostino_pearson(&direct[j]) {
                k2_stat[j] = t.statistic;
                raw_p[j] = match &k2_null {
                    Some(null) if direct[j].len() == null.n() => null.p_value(t.p_value),
                    _ => t.p_value,
                };
            }
        }
    }
    // Per-example runs: D'Agostino–Pearson K² on the per-example gradients of each checkpoint
    // (Bonferroni over the K checkpoints). By Cramér's decomposition theorem a mean of i.i.d.
    // terms is Gaussian only if the terms are, so a per-example rejection is evidence against
    // exact Gaussianity of the minibatch noise too; how *much* it deviates is the CLT effect,
    // which the verdict also requires to exceed the tolerance.
    let mut pe_p = vec![f64::NAN; k];
    if per_example {
        let kc = run.checkpoints.len() as f64;
        for (j, pj) in pe_p.iter_mut().enumerate() {
            let pmin = run
                .checkpoints
                .iter()
                .filter_map(|c| dagostino_pearson(c.grads.column(j).as_slice()).ok())
                .map(|t| t.p_value)
                .fold(f64::INFINITY, f64::min);
            if pmin.is_finite() {
                *pj = (pmin * kc).min(1.0);
            }
        }
    }
    // One p-value per direction: the direct test, or Bonferroni over both routes.
    let route_p: Vec<f64> = (0..k)
        .map(|j| {
            let d = direct_ok.then_some(raw_p[j]);
            let e = pe_p[j].is_finite().then_some(pe_p[j]);
            match (d, e) {
                (Some(a), Some(b)) => (2.0 * a.min(b)).min(1.0),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => f64::NAN,
            }
        })
        .collect();
    let tested = route_p.iter().all(|p| p.is_finite());
    let adj_p = if tested {
        adjust(&route_p, Method::Holm).unwrap_or_else(|_| vec![1.0; k])
    } else {
        Vec::new()
    };

    // ---- Effect sizes with simultaneous intervals (2k intervals: two moments per direction).
    let z = ctx.z_simultaneous(2 * k);
    let b = th.bootstrap_resamples.max(20);
    let (effects, clt_per_checkpoint): (Vec<Option<Effect>>, Vec<Vec<Value>>) = if per_example {
        clt_route(ctx, s, pop, z, b)
    } else {
        let mut brng = ctx.rng("gaussian_noise/bootstrap");
        (
            direct
                .iter()
                .map(|x| direct_effect(x, z, b, &mut brng))
                .collect(),
            Vec::new(),
        )
    };
    // In per-example runs also report the direct samples' own moments (no vote).
    let direct_moments: Vec<Option<Effect>> = if per_example {
        let mut brng = ctx.rng("gaussian_noise/direct_bootstrap");
        direct
            .iter()
            .map(|x| direct_effect(x, z, b, &mut brng))
            .collect()
    } else {
        effects.clone()
    };

    // ---- Verdict per direction.
    let mut verdicts = Vec::with_capacity(k);
    let mut worst: Option<(usize, f64)> = None;
    let mut degenerate = Vec::new();
    for (j, e) in effects.iter().enumerate() {
        let Some(e) = e.filter(Effect::finite) else {
            verdicts.push(Verdict::Inconclusive);
            degenerate.push(j);
            continue;
        };
        let sig = tested && adj_p[j] < th.alpha;
        let sk = abs_interval(e.skew[1], e.skew[2]);
        let ku = abs_interval(e.kurt[1], e.kurt[2]);
        let v_s = decide(
            e.skew[0].abs(),
            sk[1],
            sk[0],
            th.gaussian_max_abs_skewness,
            sig,
        );
        let v_k = decide(
            e.kurt[0].abs(),
            ku[1],
            ku[0],
            th.gaussian_max_abs_excess_kurtosis,
            sig,
        );
        let v = Verdict::combine([v_s, v_k]);
        verdicts.push(v);
        // Worst direction: the one that drives the verdict (fail, then inconclusive), then the
        // largest effect relative to its tolerance.
        let rank = match v {
            Verdict::Fail => 2.0,
            Verdict::Inconclusive => 1.0,
            Verdict::Pass => 0.0,
        };
        let ratio = (e.skew[0].abs() / th.gaussian_max_abs_skewness)
            .max(e.kurt[0].abs() / th.gaussian_max_abs_excess_kurtosis);
        // Monotone in (rank, ratio): ratio is squashed into [0, 1).
        let score = rank + ratio / (1.0 + ratio);
        if worst.is_none_or(|(_, w)| score > w) {
            worst = Some((j, score));
        }
    }
    let verdict = Verdict::combine(verdicts.iter().copied());
    if !degenerate.is_empty() {
        reasons.push(format!(
            "direction(s) {degenerate:?}: no noise or too few rows to estimate the minibatch \
             noise's shape (constant gradients, S ≥ N, or fewer than 8 samples)"
        ));
    }
    if !direct_ok {
        reasons.push(format!(
            "only {m_direct} direct minibatch-noise samples per direction (fewer than {}): the \
             direct normality tests were not run{}",
            th.gaussian_min_minibatch_samples,
            if per_example {
                "; the verdict rests on the CLT intervals alone (export n ≥ 20·S rows over all \
                 checkpoints for the direct tests)"
            } else {
                ""
            }
        ));
    }

    // ---- Tail indices of the direct samples (diagnostic).
    let tails: Vec<Value> = direct
        .iter()
        .enumerate()
        .map(|(j, x)| {
            if x.len() < 50 {
                return json!({"direction": j, "note": "fewer than 50 direct samples"});
            }
            let kk = (x.len() as f64).sqrt().floor() as usize;
            let mut trng = ctx.rng(&format!("gaussian_noise/tails/{j}"));
            let h = hill_ci(x, kk, th.ci_level, b, &mut trng);
            let a = block_sum_alpha_ci(x, kk.max(2), th.ci_level, b, &mut trng);
            json!({"direction": j, "hill_k": kk, "hill": tail_json(&h),
                   "block_sum_m": kk.max(2), "block_sum_alpha": tail_json(&a)})
        })
        .collect();

    // ---- Multivariate tests on the first p directions (diagnostic).
    let mvn = if mvn_ok && !mvn_rows.is_empty() {
        let total: usize = mvn_rows.iter().map(DMatrix::nrows).sum();
        if p_mvn >= 2 && total >= 20 * p_mvn {
            let mut all = DMatrix::zeros(total, p_mvn);
            let mut r0 = 0;
            for w in &mvn_rows {
                all.rows_mut(r0, w.nrows()).copy_from(w);
                r0 += w.nrows();
            }
            // HZ and Mardia's skewness cost O(M²p): beyond MVN_MAX_SAMPLES rows, every
            // ⌈M/MVN_MAX_SAMPLES⌉-th pooled sample is used (a systematic subsample).
            let stride = total.div_ceil(MVN_MAX_SAMPLES);
            let rows: Vec<usize> = (0..total).step_by(stride).collect();
            let x = all.select_rows(&rows);
            let total = x.nrows();
            // Monte Carlo p-values while p/M > 1/50 (the asymptotic ones drift as p/M grows);
            // the analytic ones beyond, where they are accurate and the null would cost
            // O(draws·M²p).
            let mc_null = (total < MVN_ASYMPTOTIC_RATIO * p_mvn).then(|| {
                MvnNull::simulate(
                    total,
                    p_mvn,
                    MVN_NULL_DRAWS,
                    &mut ctx.rng("gaussian_noise/mvn_null"),
                )
            });
            match (henze_zirkler(&x), mardia(&x), mc_null) {
                (Ok(hz), Ok(ma), mc) if !matches!(mc, Some(Err(_))) => {
                    let mc = mc.and_then(Result::ok);
                    let (p_hz, p_sk, p_ku, how) = match &mc {
                        Some(mc) => (
                            mc.p_henze_zirkler(hz.statistic),
                            mc.p_skewness(ma.skewness.b1),
                            mc.p_kurtosis(ma.kurtosis.b2),
                            format!("Monte Carlo, {MVN_NULL_DRAWS} N(0, I) draws"),
                        ),
                        None => (
                            hz.p_value,
                            ma.skewness.p_value,
                            ma.kurtosis.p_value,
                            "asymptotic (M ≥ 50p)".to_string(),
                        ),
                    };
                    json!({
                        "dimension": p_mvn, "samples": total,
                        "directions": (0..p_mvn).collect::<Vec<_>>(),
                        "henze_zirkler": hz.statistic,
                        "henze_zirkler_p": p_hz,
                        "mardia_skewness_b1": ma.skewness.b1,
                        "mardia_skewness_p": p_sk,
                        "mardia_kurtosis_b2": ma.kurtosis.b2,
                        "mardia_kurtosis_expected": (p_mvn * (p_mvn + 2)) as f64,
                        "mardia_kurtosis_p": p_ku,
                        "p_values": how,
                    })
                }
                _ => json!({"note": "multivariate tests failed on these samples (degenerate)"}),
            }
        } else {
            json!({"note": format!("not run: {total} whitened samples in {p_mvn} dimensions \
                                    (needs p ≥ 2 and M ≥ 20p)")})
        }
    } else {
        json!({"note": "not run: a checkpoint's noise covariance could not be whitened"})
    };

    let mut key_metrics = Vec::new();
    let w = worst.map_or(0, |(j, _)| j);
    if let Some(e) = worst.and_then(|(j, _)| effects[j]) {
        let sk = abs_interval(e.skew[1], e.skew[2]);
        let ku = abs_interval(e.kurt[1], e.kurt[2]);
        let p_worst = adj_p.get(w).copied();
        key_metrics.push(
            KeyMetric::new(
                "minibatch_abs_skewness",
                "|skewness| of the minibatch noise in the worst direction",
                e.skew[0].abs(),
            )
            .ci(sk[0], sk[1], th.ci_level)
            .tolerance(super::Tolerance::at_most(th.gaussian_max_abs_skewness))
            .p_value_opt(p_worst),
        );
        key_metrics.push(
            KeyMetric::new(
                "minibatch_abs_excess_kurtosis",
                "|excess kurtosis| of the minibatch noise in the worst direction",
                e.kurt[0].abs(),
            )
            .ci(ku[0], ku[1], th.ci_level)
            .tolerance(super::Tolerance::at_most(
                th.gaussian_max_abs_excess_kurtosis,
            ))
            .p_value_opt(p_worst),
        );
        if let Some(be) = e.berry_esseen {
            key_metrics.push(
                KeyMetric::new(
                    "minibatch_berry_esseen_bound",
                    "Berry–Esseen bound on the Kolmogorov distance of the minibatch noise from \
                     the normal law, worst direction (diagnostic; ≥ 0.76/√S even for Gaussian data)",
                    be[0],
                )
                .ci(be[1].max(0.0), be[2], th.ci_level),
            );
        }
        reasons.push(format!(
            "worst direction {w}: minibatch skewness {:.3} [{:.3}, {:.3}], excess kurtosis \
             {:.3} [{:.3}, {:.3}] ({}; {:.0}% simultaneous intervals){}",
            e.skew[0],
            e.skew[1],
            e.skew[2],
            e.kurt[0],
            e.kurt[1],
            e.kurt[2],
            if per_example {
                "CLT prediction from per-example gradients"
            } else {
                "direct minibatch samples"
            },
            100.0 * th.ci_level,
            match p_worst {
                Some(p) => format!(
                    "; D'Agostino–Pearson K² p = {} (Holm over directions{}; {m_direct} direct \
                     samples)",
                    crate::fmt::p_text(Some(p)),
                    if per_example {
                        ", Bonferroni over the direct and per-example tests"
                    } else {
                        ""
                    }
                ),
                None => String::new(),
            }
        ));
        if let Some(t) = tails.get(w) {
            let hill = t["hill"]["estimate"].as_f64();
            let alpha = t["block_sum_alpha"]["estimate"].as_f64();
            if let (Some(h), Some(a)) = (hill, alpha) {
                reasons.push(format!(
                    "tail indices of the minibatch noise, direction {w}: Hill α̂ = {h:.2}, \
                     block-sum α̂ = {a:.2} (Gaussian noise gives Hill ≈ 4–6 and block-sum ≈ 2; \
                     {})",
                    if a < 1.9 || h < 3.0 {
                        "these values point to heavy tails, the published objection to this \
                         assumption"
                    } else {
                        "no sign of heavy tails"
                    }
                ));
            }
        }
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
    if verdict == Verdict::Inconclusive && degenerate.len() < k {
        reasons.push(
            "an effect's confidence interval straddles its tolerance, or the deviation is large \
             but not significant: more examples per checkpoint would decide"
                .into(),
        );
    }

    // QQ data for the worst direction (direct samples).
    let qq = if direct[w].len() >= 3 {
        let mut x = direct[w].clone();
        x.sort_by(f64::total_cmp);
        let n = x.len() as f64;
        let nd = Normal::standard();
        let theo: Vec<f64> = (0..x.len())
            .map(|i| nd.inverse_cdf((i as f64 + 1.0 - 0.375) / (n + 0.25)))
            .collect();
        json!({"direction": w, "theoretical": theo, "sample": x,
               "plotting_positions": "Blom (i − 3/8)/(n + 1/4)"})
    } else {
        Value::Null
    };
    let eff_json = |e: &Option<Effect>| match e {
        None => Value::Null,
        Some(e) => json!({
            "skewness": e.skew[0], "skewness_ci": [e.skew[1], e.skew[2]],
            "excess_kurtosis": e.kurt[0], "excess_kurtosis_ci": [e.kurt[1], e.kurt[2]],
            "berry_esseen_bound": e.berry_esseen.map(|v| v[0]),
            "berry_esseen_bound_ci": e.berry_esseen.map(|v| [v[1], v[2]]),
        }),
    };
    let per_direction: Vec<_> = (0..k)
        .map(|j| {
            json!({
                "direction": j,
                "effect": eff_json(&effects[j]),
                "direct_sample_moments": eff_json(&direct_moments[j]),
                "k2_statistic": k2_stat[j],
                "p_value_direct": direct_ok.then_some(raw_p[j]),
                "p_value_per_example": pe_p[j].is_finite().then_some(pe_p[j]),
                "p_value_combined": route_p[j].is_finite().then_some(route_p[j]),
                "p_value_holm": adj_p.get(j),
                "verdict": verdicts.get(j),
            })
        })
        .collect();
    let per_checkpoint: Vec<_> = run
        .checkpoints
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            json!({
                "step": c.step,
                "samples": samples_json[ci],
                "clt_prediction": clt_per_checkpoint.get(ci),
                "direct": direct_per_checkpoint[ci],
            })
        })
        .collect();
    CheckResult {
        verdict,
        summary,
        reasons,
        key_metrics,
        metrics: untyped_evidence(json!({
            "route": if per_example {"clt_prediction+direct"} else {"direct"},
            "batch_size": s,
            "population": pop,
            "finite_population_correction": pop.is_some(),
            "directions": k,
            "samples": samples_json,
            "direct_samples_per_direction": m_direct,
            "direct_samples_available": m_available,
            "direct_tests_run": direct_ok,
            "k2_p_values": if k2_null.is_some() {
                format!("Monte Carlo null, {K2_NULL_DRAWS} draws at n = {m_direct}")
            } else {
                "asymptotic χ²₂".to_string()
            },
            "simultaneous_z": z,
            "per_direction": per_direction,
            "per_checkpoint": per_checkpoint,
            "tail_indices": tails,
            "multivariate": mvn,
            "worst_direction": w,
            "qq_worst_direction": qq,
        })),
        thresholds: untyped_applied(thresholds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact enumeration of all C(N, S) minibatches of a skewed population.
    #[test]
    fn finite_population_shape_is_exact() {
        let y = [0.1, 0.3, 0.35, 0.9, 1.4, 2.2, 3.9, 7.5, 0.05];
        let n = y.len();
        let mean = y.iter().sum::<f64>() / n as f64;
        let mom = |p: i32| y.iter().map(|v| (v - mean).powi(p)).sum::<f64>() / n as f64;
        for s in 1..n {
            let (mut e2, mut e3, mut e4, mut cnt) = (0.0, 0.0, 0.0, 0.0);
            for mask in 0u32..(1 << n) {
                if mask.count_ones() as usize != s {
                    continue;
                }
                let m = (0..n)
                    .filter(|i| mask >> i & 1 == 1)
                    .map(|i| y[i])
                    .sum::<f64>()
                    / s as f64
                    - mean;
                e2 += m * m;
                e3 += m * m * m;
                e4 += m * m * m * m;
                cnt += 1.0;
            }
            let (e2, e3, e4) = (e2 / cnt, e3 / cnt, e4 / cnt);
            let (sk, ku) = minibatch_mean_shape(mom(2), mom(3), mom(4), s, Some(n)).unwrap();
            assert!((sk - e3 / e2.powf(1.5)).abs() < 1e-9, "S = {s}");
            assert!((ku - (e4 / (e2 * e2) - 3.0)).abs() < 1e-9, "S = {s}");
        }
        assert!(minibatch_mean_shape(1.0, 0.0, 3.0, 9, Some(9)).is_none());
        let (sk, ku) = minibatch_mean_shape(1.0, 2.0, 9.0, 4, None).unwrap();
        assert!((sk - 1.0).abs() < 1e-12 && (ku - 1.5).abs() < 1e-12);
    }
}
