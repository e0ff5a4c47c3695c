//! Route 1, the CLT prediction: the skewness and excess kurtosis of a minibatch mean of S
//! per-example gradients, predicted from their central moments (exact finite-population
//! formulas when sampling without replacement), with bootstrap intervals.

use super::evidence::{Bounds, CltRow, EffectRow};
use super::BERRY_ESSEEN_C;
use crate::checks::Context;
use crate::stats::descriptive::Moments;

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

/// A point estimate with its interval [lo, hi] (NaN ends when it could not be formed) and the
/// robust standard errors of the tests against the tolerances, of the estimate and of
/// log|estimate| (NaN when not formed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Estimate {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    pub se: f64,
    pub se_log: f64,
}

/// Robust bootstrap standard error (q₀.₈₄ − q₀.₁₆)/2 of the finite replicates (linear
/// interpolation between order statistics): equals the SD for normal replicates and is not
/// inflated by the few extreme replicates a skewness or kurtosis bootstrap produces on
/// heavy-tailed data. NaN with fewer than 2 finite replicates. Cost O(B log B).
pub(super) fn robust_se(reps: &[f64]) -> f64 {
    let mut r: Vec<f64> = reps.iter().copied().filter(|v| v.is_finite()).collect();
    if r.len() < 2 {
        return f64::NAN;
    }
    r.sort_by(f64::total_cmp);
    let q = |p: f64| crate::stats::descriptive::quantile_sorted(&r, p);
    (q(0.841_344_746) - q(0.158_655_254)) / 2.0
}

/// An estimate with a simultaneous normal-approximation interval from a bootstrap SE:
/// est ± z·sd(replicates), and the robust SEs [`robust_se`] of the replicates and of
/// log|replicate|. O(B log B).
pub(super) fn with_ci(est: f64, reps: &[f64], z: f64) -> Estimate {
    let r: Vec<f64> = reps.iter().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = if r.len() < 2 || !est.is_finite() {
        (f64::NAN, f64::NAN)
    } else {
        let se = Moments::new(&r).variance().sqrt();
        (est - z * se, est + z * se)
    };
    Estimate {
        value: est,
        lo,
        hi,
        se: robust_se(&r),
        se_log: robust_se(&r.iter().map(|v| v.abs().ln()).collect::<Vec<f64>>()),
    }
}

/// A bound in [0, 1] (the Berry–Esseen distance): estimate and interval clipped to [0, 1]
/// (a Kolmogorov distance cannot leave it; issue 15 saw [0.435, 1.565]).
fn clipped_unit(e: Estimate) -> Estimate {
    let c = |v: f64| if v.is_nan() { v } else { v.clamp(0.0, 1.0) };
    Estimate {
        value: c(e.value),
        lo: c(e.lo),
        hi: c(e.hi),
        se: e.se,
        se_log: e.se_log,
    }
}

/// Skewness and excess kurtosis of the minibatch noise along one direction, with intervals.
#[derive(Debug, Clone, Copy)]
pub(super) struct Effect {
    /// Skewness: estimate and interval.
    pub skew: Estimate,
    /// Excess kurtosis: estimate and interval.
    pub kurt: Estimate,
    /// Berry–Esseen bound (CLT route only).
    pub berry_esseen: Option<Estimate>,
}

impl Effect {
    /// The evidence row.
    pub fn row(&self) -> EffectRow {
        EffectRow {
            skewness: self.skew.value,
            skewness_ci: Bounds(self.skew.lo, self.skew.hi),
            excess_kurtosis: self.kurt.value,
            excess_kurtosis_ci: Bounds(self.kurt.lo, self.kurt.hi),
            skewness_se: self.skew.se.is_finite().then_some(self.skew.se),
            excess_kurtosis_se: self.kurt.se.is_finite().then_some(self.kurt.se),
            skewness_se_log: self.skew.se_log.is_finite().then_some(self.skew.se_log),
            excess_kurtosis_se_log: self.kurt.se_log.is_finite().then_some(self.kurt.se_log),
            berry_esseen_bound: self.berry_esseen.map(|v| v.value),
            berry_esseen_bound_ci: self.berry_esseen.map(|v| Bounds(v.lo, v.hi)),
        }
    }

    pub fn finite(&self) -> bool {
        [self.skew, self.kurt]
            .iter()
            .all(|e| e.value.is_finite() && e.lo.is_finite() && e.hi.is_finite())
    }
}

/// The effect of one prediction [skewness, excess kurtosis, Berry–Esseen] with intervals from
/// its bootstrap replicates. O(B).
fn effect_of(e: [f64; 3], reps: &[[f64; 3]], z: f64) -> Effect {
    let col = |q: usize| reps.iter().map(|v| v[q]).collect::<Vec<f64>>();
    Effect {
        skew: with_ci(e[0], &col(0), z),
        kurt: with_ci(e[1], &col(1), z),
        berry_esseen: Some(clipped_unit(with_ci(e[2], &col(2), z))),
    }
}

/// CLT route: per-checkpoint and pooled predictions with bootstrap intervals.
/// Returns (pooled effects per direction, per-checkpoint rows per checkpoint).
pub(super) fn clt_route(
    ctx: &Context,
    s: usize,
    pop: Option<usize>,
    z: f64,
    b: usize,
) -> (Vec<Option<Effect>>, Vec<Vec<Option<CltRow>>>) {
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
    let mk_effect = |e: [f64; 3], r: &[[f64; 3]]| effect_of(e, r, z);
    let pooled: Vec<Option<Effect>> = (0..k)
        .map(|j| {
            let e = pool(&|ci| est[ci][j])?;
            let r: Vec<[f64; 3]> = reps.iter().filter_map(|rb| pool(&|ci| rb[ci][j])).collect();
            Some(mk_effect(e, &r))
        })
        .collect();
    let per_checkpoint: Vec<Vec<Option<CltRow>>> = (0..cps.len())
        .map(|ci| {
            (0..k)
                .map(|j| {
                    let e = est[ci][j]?;
                    let r: Vec<[f64; 3]> = reps.iter().filter_map(|rb| rb[ci][j]).collect();
                    let ef = mk_effect(e, &r);
                    Some(CltRow {
                        skewness: ef.skew.value,
                        skewness_ci: Bounds(ef.skew.lo, ef.skew.hi),
                        excess_kurtosis: ef.kurt.value,
                        excess_kurtosis_ci: Bounds(ef.kurt.lo, ef.kurt.hi),
                        berry_esseen_bound: e[2],
                    })
                })
                .collect()
        })
        .collect();
    (pooled, per_checkpoint)
}
