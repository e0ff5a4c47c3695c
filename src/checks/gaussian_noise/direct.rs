//! Route 2, the direct samples: minibatch-noise samples cut from each checkpoint's rows,
//! standardised, pooled per direction and tested (K², Monte Carlo calibrated at small n), with
//! tail indices and multivariate tests as diagnostics.

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::RngExt;
use statrs::distribution::{ContinuousCDF, Normal};

use super::clt::{with_ci, Effect};
use super::evidence::{
    Bounds, DirectRow, Multivariate, MultivariateTests, QqRow, SampleNote, SampleRow, TailEstimate,
    TailFit, TailNote, TailRow,
};
use super::{K2_NULL_DRAWS, K2_NULL_MAX_N, MVN_ASYMPTOTIC_RATIO, MVN_MAX_SAMPLES, MVN_NULL_DRAWS};
use crate::checks::Context;
use crate::run::Checkpoint;
use crate::stats::battery::{k2_null, MvnBattery};
use crate::stats::descriptive::{covariance_matrix, Moments};
use crate::stats::multitest::{adjust, Method};
use crate::stats::normality::dagostino_pearson;
use crate::stats::tails::{
    block_sum_alpha_ci, block_sum_gaussian_q05, hill_ci, hill_gaussian_q05, TailIndex,
};
use crate::stats::StatsError;

/// The direct samples of all checkpoints.
pub(super) struct DirectPass {
    /// Standardised samples pooled over the checkpoints, per direction.
    pub direct: Vec<Vec<f64>>,
    /// What each checkpoint contributed.
    pub samples: Vec<SampleRow>,
    /// Per checkpoint, per direction: moments of the standardised samples.
    pub per_checkpoint: Vec<Vec<Option<DirectRow>>>,
    /// Whitened samples of the first p directions per checkpoint; `None` when a checkpoint's
    /// noise covariance could not be whitened.
    pub whitened: Option<Vec<DMatrix<f64>>>,
}

/// Cuts, standardises and pools the direct samples of every checkpoint (module docs, route 2).
/// O(n k) per checkpoint, plus O(n p²) for the whitening.
pub(super) fn collect(ctx: &Context, s: usize, per_example: bool, p_mvn: usize) -> DirectPass {
    let k = ctx.run.k();
    let mut rng = ctx.rng("gaussian_noise/minibatches");
    let mut pass = DirectPass {
        direct: vec![Vec::new(); k],
        samples: Vec::new(),
        per_checkpoint: Vec::new(),
        whitened: Some(Vec::new()),
    };
    for c in &ctx.run.checkpoints {
        let (raw, scale) = direct_samples(&c.grads, s, per_example, &mut rng);
        let m = raw.nrows();
        pass.samples.push(SampleRow {
            step: c.step,
            rows: c.n,
            minibatch_samples: m,
            rows_unused: if per_example { c.n - m * s } else { 0 },
            note: if per_example {
                SampleNote::DisjointMinibatches
            } else {
                SampleNote::MinibatchRows
            },
        });
        let mut per_dir = Vec::with_capacity(k);
        for (j, out) in pass.direct.iter_mut().enumerate() {
            let sd = scale[j];
            if m == 0 || !(sd > 0.0 && sd.is_finite()) {
                per_dir.push(None);
                continue;
            }
            let z: Vec<f64> = raw.column(j).iter().map(|v| v / sd).collect();
            let mom = Moments::new(&z);
            per_dir.push(Some(DirectRow {
                samples: m,
                skewness: mom.skewness(),
                excess_kurtosis: mom.excess_kurtosis(),
            }));
            out.extend(z);
        }
        pass.per_checkpoint.push(per_dir);
        if let Some(rows) = pass.whitened.as_mut().filter(|_| m > 0) {
            match whitened(c, &raw, s, per_example, p_mvn) {
                Some(w) => rows.push(w),
                None => pass.whitened = None,
            }
        }
    }
    pass
}

/// One checkpoint's direct samples of the first p directions, whitened with their exact
/// covariance (per-example rows: the without-replacement covariance of a mean of S rows) or
/// their sample covariance (minibatch rows; needs m > p + 1). `None` if singular.
fn whitened(
    c: &Checkpoint,
    raw: &DMatrix<f64>,
    s: usize,
    per_example: bool,
    p_mvn: usize,
) -> Option<DMatrix<f64>> {
    let (n, m) = (c.n, raw.nrows());
    let x = raw.columns(0, p_mvn).into_owned();
    let cov = if per_example {
        let f = (n - s) as f64 / (s as f64 * (n as f64 - 1.0));
        covariance_matrix(&c.grads.columns(0, p_mvn).into_owned())
            * (f * (n as f64 - 1.0) / n as f64)
    } else if m > p_mvn + 1 {
        covariance_matrix(&x)
    } else {
        return None;
    };
    whiten(&x, &cov)
}

/// The significance tests of each direction.
pub(super) struct Significance {
    /// K² of the pooled direct samples (NaN when not run).
    pub k2_stat: Vec<f64>,
    /// Its p-value (1 when not run).
    pub raw_p: Vec<f64>,
    /// Bonferroni-combined per-example K² p-value (NaN when absent).
    pub pe_p: Vec<f64>,
    /// The direction's p-value (NaN when neither route tested it).
    pub route_p: Vec<f64>,
    /// Holm-adjusted `route_p` (empty unless every direction was tested).
    pub adj_p: Vec<f64>,
    /// Whether the K² p-values come from the Monte Carlo null.
    pub k2_null: bool,
}

/// K² per direction (calibrated by a Monte Carlo null when the pooled sample is small), the
/// per-example K² (per-example runs), their combination and Holm over the directions.
/// Cost O(999 M) for the null plus O(M k).
pub(super) fn significance(
    ctx: &Context,
    direct: &[Vec<f64>],
    m_direct: usize,
    direct_ok: bool,
    per_example: bool,
) -> Significance {
    let k = direct.len();
    let null = if direct_ok && m_direct <= K2_NULL_MAX_N {
        k2_null(
            m_direct,
            K2_NULL_DRAWS,
            &mut ctx.rng("gaussian_noise/k2_null"),
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
                raw_p[j] = match &null {
                    Some(null) if direct[j].len() == null.n() => null.p_value(t.p_value),
                    _ => t.p_value,
                };
            }
        }
    }
    let pe_p = if per_example {
        per_example_p(ctx)
    } else {
        vec![f64::NAN; k]
    };
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
    let adj_p = if route_p.iter().all(|p| p.is_finite()) {
        adjust(&route_p, Method::Holm).unwrap_or_else(|_| vec![1.0; k])
    } else {
        Vec::new()
    };
    Significance {
        k2_stat,
        raw_p,
        pe_p,
        route_p,
        adj_p,
        k2_null: null.is_some(),
    }
}

/// Per-example runs: D'Agostino–Pearson K² on the per-example gradients of each checkpoint,
/// the smallest p-value ×K checkpoints (Bonferroni). By Cramér's decomposition theorem a mean
/// of i.i.d. terms is Gaussian only if the terms are, so a per-example rejection is evidence
/// against exact Gaussianity of the minibatch noise too; how *much* it deviates is the CLT
/// effect, which the verdict also requires to exceed the tolerance. O(n k K).
fn per_example_p(ctx: &Context) -> Vec<f64> {
    let run = ctx.run;
    let kc = run.checkpoints.len() as f64;
    (0..run.k())
        .map(|j| {
            let pmin = run
                .checkpoints
                .iter()
                .filter_map(|c| dagostino_pearson(c.grads.column(j).as_slice()).ok())
                .map(|t| t.p_value)
                .fold(f64::INFINITY, f64::min);
            if pmin.is_finite() {
                (pmin * kc).min(1.0)
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Gaussian samples behind the tail-index cutoffs: the Monte Carlo SE of an empirical 5 %
/// quantile from 400 draws is √(0.05·0.95/400)/f(q) ≈ 0.011/f(q) in probability, i.e. the
/// cutoff's coverage is 5 % ± 1.1 %, small next to the sampling spread of one run's α̂.
pub(super) const TAIL_CUTOFF_DRAWS: usize = 400;

/// Tail indices of the direct samples (diagnostic): Hill with k = ⌊√M⌋ and the block-sum α
/// with m = max(k, 2), both with percentile-bootstrap intervals, and their Gaussian cutoffs
/// (5 % quantiles over 400 seeded N(0, 1) samples of the same size, computed once per size).
/// O(B M log M) per direction plus O(400 M log M) per distinct M.
pub(super) fn tail_indices(ctx: &Context, direct: &[Vec<f64>], b: usize) -> Vec<TailRow> {
    let level = ctx.thresholds.ci_level;
    let mut cutoffs: std::collections::BTreeMap<usize, (f64, f64)> = Default::default();
    direct
        .iter()
        .enumerate()
        .map(|(j, x)| {
            let mut row = TailRow {
                direction: j,
                note: None,
                hill_k: None,
                hill: None,
                block_sum_m: None,
                block_sum_alpha: None,
                hill_gaussian_q05: None,
                block_sum_gaussian_q05: None,
            };
            if x.len() < 50 {
                row.note = Some(TailNote::TooFewSamples);
                return row;
            }
            let kk = (x.len() as f64).sqrt().floor() as usize;
            let mut trng = ctx.rng(&format!("gaussian_noise/tails/{j}"));
            let h = hill_ci(x, kk, level, b, &mut trng);
            let a = block_sum_alpha_ci(x, kk.max(2), level, b, &mut trng);
            row.hill_k = Some(kk);
            row.hill = Some(tail_fit(h));
            row.block_sum_m = Some(kk.max(2));
            row.block_sum_alpha = Some(tail_fit(a));
            let (hq, bq) = *cutoffs.entry(x.len()).or_insert_with(|| {
                let mut g = ctx.rng(&format!("gaussian_noise/tail_cutoffs/{}", x.len()));
                let d = TAIL_CUTOFF_DRAWS;
                (
                    hill_gaussian_q05(x.len(), kk, d, &mut g),
                    block_sum_gaussian_q05(x.len(), kk.max(2), d, &mut g),
                )
            });
            row.hill_gaussian_q05 = hq.is_finite().then_some(hq);
            row.block_sum_gaussian_q05 = bq.is_finite().then_some(bq);
            row
        })
        .collect()
}

fn tail_fit(t: Result<TailIndex, StatsError>) -> TailFit {
    match t {
        Ok(t) => TailFit::Estimate(TailEstimate {
            estimate: t.estimate,
            ci: Bounds(t.ci_lower, t.ci_upper),
            level: t.level,
            n_used: t.n_used,
        }),
        Err(e) => TailFit::Failed {
            error: e.to_string(),
        },
    }
}

/// Henze–Zirkler and Mardia on the pooled whitened samples of the first p directions
/// (diagnostic): a systematic subsample of at most 1,000, Monte Carlo p-values while M < 50p.
/// O(M² p), and O(199 M² p) with the null.
pub(super) fn multivariate(
    ctx: &Context,
    whitened: Option<&[DMatrix<f64>]>,
    p: usize,
) -> Multivariate {
    let not_run = |note: String| Multivariate::NotRun { note };
    let rows = match whitened {
        Some(rows) if !rows.is_empty() => rows,
        _ => {
            return not_run(
                "not run: a checkpoint's noise covariance could not be whitened".to_string(),
            )
        }
    };
    let total: usize = rows.iter().map(DMatrix::nrows).sum();
    if p < 2 || total < 20 * p {
        return not_run(format!(
            "not run: {total} whitened samples in {p} dimensions (needs p ≥ 2 and M ≥ 20p)"
        ));
    }
    let mut all = DMatrix::zeros(total, p);
    let mut r0 = 0;
    for w in rows {
        all.rows_mut(r0, w.nrows()).copy_from(w);
        r0 += w.nrows();
    }
    // HZ and Mardia's skewness cost O(M²p): beyond MVN_MAX_SAMPLES rows, every
    // ⌈M/MVN_MAX_SAMPLES⌉-th pooled sample is used (a systematic subsample).
    let stride = total.div_ceil(MVN_MAX_SAMPLES);
    let picked: Vec<usize> = (0..total).step_by(stride).collect();
    let x = all.select_rows(&picked);
    let m = x.nrows();
    // Monte Carlo p-values while p/M > 1/50 (the asymptotic ones drift as p/M grows); the
    // analytic ones beyond, where they are accurate and the null would cost O(draws·M²p).
    let draws = if m < MVN_ASYMPTOTIC_RATIO * p {
        MVN_NULL_DRAWS
    } else {
        0
    };
    let battery = MvnBattery::run(&x, draws, &mut ctx.rng("gaussian_noise/mvn_null"));
    let tests = battery.ok().and_then(|b| {
        let pv = b.p_values()?;
        let (hz, ma) = (b.henze_zirkler.ok()?, b.mardia.ok()?);
        Some(MultivariateTests {
            dimension: p,
            samples: m,
            directions: (0..p).collect(),
            henze_zirkler: hz.statistic,
            henze_zirkler_p: pv.henze_zirkler,
            mardia_skewness_b1: ma.skewness.b1,
            mardia_skewness_p: pv.mardia_skewness,
            mardia_kurtosis_b2: ma.kurtosis.b2,
            mardia_kurtosis_expected: (p * (p + 2)) as f64,
            mardia_kurtosis_p: pv.mardia_kurtosis,
            p_values: if pv.monte_carlo {
                format!("Monte Carlo, {MVN_NULL_DRAWS} N(0, I) draws")
            } else {
                "asymptotic (M ≥ 50p)".to_string()
            },
        })
    });
    tests.map_or_else(
        || not_run("multivariate tests failed on these samples (degenerate)".to_string()),
        Multivariate::Tests,
    )
}

/// Q–Q data of direction `w`: the sorted direct samples against standard normal quantiles at
/// Blom's plotting positions (i − 3/8)/(n + 1/4). `None` below 3 samples. O(M log M).
pub(super) fn qq(x: &[f64], w: usize) -> Option<QqRow> {
    if x.len() < 3 {
        return None;
    }
    let mut sample = x.to_vec();
    sample.sort_by(f64::total_cmp);
    let n = sample.len() as f64;
    let nd = Normal::standard();
    let theoretical = (0..sample.len())
        .map(|i| nd.inverse_cdf((i as f64 + 1.0 - 0.375) / (n + 0.25)))
        .collect();
    Some(QqRow {
        direction: w,
        theoretical,
        sample,
        plotting_positions: "Blom (i − 3/8)/(n + 1/4)".to_string(),
    })
}

/// Sample skewness and excess kurtosis of the pooled direct samples, with bootstrap intervals.
pub(super) fn direct_effect(
    x: &[f64],
    z: f64,
    b: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Option<Effect> {
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

/// Direct noise samples of one checkpoint: the m × k matrix of centred (unstandardised) noise
/// samples and the k standard deviations that standardise them.
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
