//! Screen of every coordinate: per-coordinate minibatch skewness and excess kurtosis from running
//! power sums, and a tail-index rule, with Holm over all coordinates.
//!
//! A random k-dimensional projection dilutes heavy tails confined to a few coordinates by ~1/√d
//! (issue 16, item 3). This screen looks at all d coordinates of the n per-example gradients of
//! one checkpoint, in O(n·d) time and O(d·K) memory (K = the number of extremes kept per
//! coordinate, a constant), from four running power sums and 2(K + 1) extremes per coordinate that a single streaming
//! pass accumulates ([`PowerSums`]).
//!
//! Per coordinate j, with central moments m₂, m₃, m₄ (divisor n) of the n per-example values:
//!
//! 1. per-example skewness g₁ = m₃/m₂^{3/2} and excess kurtosis g₂ = m₄/m₂² − 3
//!    (`scipy.stats.skew(x, bias=True)`, `scipy.stats.kurtosis(x, fisher=True, bias=True)`);
//! 2. their images for the mean of a minibatch of S drawn without replacement from N
//!    (finite-population CLT, Tukey's polykays, Kendall & Stuart vol. 1 §12.20; see
//!    [`minibatch_factors`]): γ₁,S = a·g₁ and γ₂,S = b·g₂ + c, with a, b, c depending only on
//!    (S, N) — the map is affine, so standard errors map by |a| and |b|;
//! 3. one-sided tests of H0: |γ₁,S| ≤ δ₁ (0.2) and H0: |γ₂,S| ≤ δ₂ (0.5):
//!    p = Φ̄((|γ̂| − δ)/se), with se the **normal-theory standard error** of the sample skewness
//!    and kurtosis (Var g₁ = 6(n−2)/((n+1)(n+3)), Var g₂ = 24n(n−2)(n−3)/((n+1)²(n+3)(n+5));
//!    D'Agostino, Belanger & D'Agostino 1990, as in `scipy.stats.skewtest`/`kurtosistest`)
//!    times |a| or |b|. It is exact only for Gaussian data; the true SE of g₁ and g₂ needs the 6th
//!    and 8th moments, which four power sums do not carry. For a skewed or heavy-tailed
//!    coordinate whose minibatch shape sits exactly at the tolerance the test is therefore
//!    liberal; heavy tails are what the tail rule is for;
//! 4. a **tail-index rule** (the CLT images need E x⁴ < ∞): the Hill (1975) estimate α̂ from the
//!    K + 1 largest |x − x̄| (exact: streaming heaps keep the K + 1 largest and smallest values
//!    per coordinate, and the mean is known at the end) and the one-sided test of
//!    H0: α ≥ 4 (fourth moment finite). Under an exact Pareto tail of index α above the
//!    threshold, α·K/α̂ ~ Gamma(K, 1), so p = P(Gamma(K, 1) ≥ 4K/α̂). Lighter tails (Gaussian,
//!    exponential) give larger α̂ than any Pareto(4), so the test is conservative for them when
//!    K/n is small; with K/n ≥ ~1/6 the Gaussian's Hill estimate (≈ u² at the threshold u)
//!    drops below 4 and the rule would flag Gaussian coordinates: use [`default_tail_k`].
//!    What it **can** see: a power-law tail of index < 4 reaching the top K of n values. What
//!    it **cannot** see: tails heavier than the sample shows (an extreme that occurs once in
//!    10⁵ examples is absent from n = 512), an index slightly below 4 (the test has no power
//!    there at K ≈ 32), and it does not separate "no 4th moment" from "4th moment finite but
//!    huge" (a lognormal(σ = 1) coordinate has all moments but α̂ ≈ 2–3 at n = 512; it is
//!    flagged, rightly for the CLT, under the wrong label).
//!
//! All 3·d p-values (skewness, kurtosis, tail of every tested coordinate) are Holm-adjusted
//! together (family-wise error over the screen, valid under any dependence); a coordinate is
//! flagged when any of its adjusted p-values is ≤ α. Coordinates with zero variance are not
//! tested.
//!
//! Numerics: the sums are of y = x − c, c a per-coordinate shift (the first row seen unless
//! given), accumulated with Neumaier's compensated summation, so that m₂…m₄ stay accurate when
//! the mean is large relative to the spread. Thread-count independence: partition the rows into
//! blocks fixed by the data (not by the number of threads), accumulate one partial [`PowerSums`]
//! per block with the same shift, and [`PowerSums::merge`] them in block order; the result is
//! then bit-identical whatever thread computed which block.
//!
//! TODO(issue 16): the finite-population formulas duplicate
//! `checks::gaussian_noise::minibatch_mean_shape`; once that file is free, make it call
//! [`minibatch_factors`] (stats may not import checks).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use statrs::distribution::{ContinuousCDF, Gamma, Normal};

use super::multitest::{adjust, Method};
use super::StatsError;

/// Tolerances and level of the screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreenOptions {
    /// Tolerance δ₁ on |minibatch skewness|.
    pub skew_tolerance: f64,
    /// Tolerance δ₂ on |minibatch excess kurtosis|.
    pub kurt_tolerance: f64,
    /// Tail index below which the fourth moment does not exist (4).
    pub tail_alpha0: f64,
    /// Family-wise level after Holm.
    pub alpha: f64,
    /// Number of worst coordinates to report.
    pub n_worst: usize,
}

impl Default for ScreenOptions {
    fn default() -> Self {
        ScreenOptions {
            skew_tolerance: 0.2,
            kurt_tolerance: 0.5,
            tail_alpha0: 4.0,
            alpha: 0.05,
            n_worst: 10,
        }
    }
}

/// Sampling design of the minibatch: size S, drawn without replacement from `population` = N
/// examples, or with replacement (i.i.d.) when `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Design {
    pub batch_size: usize,
    pub population: Option<usize>,
}

/// Number of extremes for the tail rule: K = clamp(⌊n/8⌋, 8, 64). Simulated (numpy, Hill on
/// |x − x̄|): at n = 512, K = 64 the Gaussian Hill estimate has median 4.24 and its smallest
/// p-value over 4,000 coordinates was 0.003, far above the Holm threshold 0.05/3,000, while a
/// Student-t(2.5) coordinate reaches p < 5·10⁻⁵ in 94 %. The cap keeps K/n falling for larger n,
/// where the Gaussian's Hill estimate at a fixed fraction would approach 4 with a shrinking SE
/// (a smaller fraction moves it further above 4), and bounds the cost: at n = 2,000 a cap of 256
/// let about three in four values of a coordinate enter its extremes buffers (the pass took 4.1 s
/// instead of 3.4 s on the 611 MB d = 10⁴ run, and 79 instead of 35 MiB); K = 64 keeps the
/// Student-t(2.5) test's z ≈ (4 − 2.5)·√K/2.5 ≈ 4.8 above the Holm thresholds of d ≈ 10³.
pub fn default_tail_k(n: usize) -> usize {
    (n / 8).clamp(8, 64)
}

/// Neumaier compensated sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Kahan {
    sum: f64,
    comp: f64,
}

impl Kahan {
    #[inline]
    fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if self.sum.abs() >= v.abs() {
            self.comp += (self.sum - t) + v;
        } else {
            self.comp += (v - t) + self.sum;
        }
        self.sum = t;
    }
    fn value(self) -> f64 {
        self.sum + self.comp
    }
}

/// Streaming accumulator of Σy, Σy², Σy³, Σy⁴ (y = x − c) and the K + 1 largest |y| per
/// coordinate. Cost O(d) per row (plus O(log K) per heap insertion), memory O(d·K).
#[derive(Debug, Clone)]
pub struct PowerSums {
    d: usize,
    n: usize,
    keep: usize,
    shift: Option<Vec<f64>>,
    sums: Vec<[Kahan; 4]>,
    /// K + 1 largest y (`hi`) and K + 1 largest −y (`lo`) per coordinate, as order keys.
    hi: Vec<BinaryHeap<Reverse<u64>>>,
    lo: Vec<BinaryHeap<Reverse<u64>>>,
}

/// Order-preserving map f64 → u64 (the order of `f64::total_cmp`).
#[inline]
fn key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

#[inline]
fn unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

#[inline]
fn push_top(h: &mut BinaryHeap<Reverse<u64>>, keep: usize, k: u64) {
    if h.len() < keep {
        h.push(Reverse(k));
    } else if h.peek().is_some_and(|m| k > m.0) {
        h.pop();
        h.push(Reverse(k));
    }
}

impl PowerSums {
    /// Empty accumulator for `d` coordinates keeping the `tail_k` + 1 largest and smallest values
    /// (`tail_k` = 0: no tail rule). `shift` = c; `None` takes the first row added. Partial
    /// accumulators that will be merged must share the shift.
    pub fn new(d: usize, tail_k: usize, shift: Option<Vec<f64>>) -> Result<Self, StatsError> {
        if shift.as_ref().is_some_and(|s| s.len() != d) {
            return Err(StatsError::InvalidArgument(
                "shift must have length d".into(),
            ));
        }
        let keep = if tail_k == 0 { 0 } else { tail_k + 1 };
        Ok(PowerSums {
            d,
            n: 0,
            keep,
            shift,
            sums: vec![[Kahan::default(); 4]; d],
            hi: vec![BinaryHeap::with_capacity(keep + 1); d],
            lo: vec![BinaryHeap::with_capacity(keep + 1); d],
        })
    }

    /// Rows seen so far.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Adds a row-major block of n_b × d values. Cost O(n_b·d).
    ///
    /// # Errors
    /// `InvalidArgument` if the length is not a multiple of d, `NonFinite` on NaN/∞ (the block
    /// is then not added).
    pub fn add_block(&mut self, rows: &[f64]) -> Result<(), StatsError> {
        let d = self.d;
        if d == 0 || !rows.len().is_multiple_of(d) {
            return Err(StatsError::InvalidArgument(format!(
                "block length {} is not a multiple of d = {d}",
                rows.len()
            )));
        }
        super::check_finite(rows)?;
        if self.shift.is_none() && !rows.is_empty() {
            self.shift = Some(rows[..d].to_vec());
        }
        let shift = self.shift.clone().unwrap_or_default();
        for row in rows.chunks_exact(d) {
            for (j, &x) in row.iter().enumerate() {
                self.push(j, x - shift[j]);
            }
            self.n += 1;
        }
        Ok(())
    }

    #[inline]
    fn push(&mut self, j: usize, y: f64) {
        let y2 = y * y;
        let s = &mut self.sums[j];
        s[0].add(y);
        s[1].add(y2);
        s[2].add(y2 * y);
        s[3].add(y2 * y2);
        if self.keep > 0 {
            push_top(&mut self.hi[j], self.keep, key(y));
            push_top(&mut self.lo[j], self.keep, key(-y));
        }
    }

    /// Adds `other` (same d, K and shift) into `self`. Merge partials in a fixed (block) order for
    /// thread-count-independent results.
    pub fn merge(&mut self, other: &PowerSums) -> Result<(), StatsError> {
        if other.n == 0 {
            return Ok(());
        }
        if self.n == 0 && self.shift.is_none() {
            self.shift.clone_from(&other.shift);
        }
        if other.d != self.d || other.keep != self.keep || other.shift != self.shift {
            return Err(StatsError::InvalidArgument(
                "merged power sums must share d, K and the shift".into(),
            ));
        }
        for j in 0..self.d {
            for p in 0..4 {
                self.sums[j][p].add(other.sums[j][p].sum);
                self.sums[j][p].add(other.sums[j][p].comp);
            }
            for r in &other.hi[j] {
                push_top(&mut self.hi[j], self.keep, r.0);
            }
            for r in &other.lo[j] {
                push_top(&mut self.lo[j], self.keep, r.0);
            }
        }
        self.n += other.n;
        Ok(())
    }

    /// Power sums of coordinate j as [Σy, Σy², Σy³, Σy⁴].
    pub fn sums(&self, j: usize) -> [f64; 4] {
        let s = &self.sums[j];
        [s[0].value(), s[1].value(), s[2].value(), s[3].value()]
    }

    /// The K + 1 largest |x − x̄| of coordinate j, largest first (x̄ the mean of all rows seen).
    /// They are among the K + 1 largest and the K + 1 smallest y, which the heaps keep; when
    /// n < 2(K + 1) the two sets overlap in their 2(K + 1) − n innermost values, dropped from the
    /// lower set.
    pub fn top_abs(&self, j: usize) -> Vec<f64> {
        let mean = self.sums(j)[0] / self.n as f64;
        let mut hi: Vec<f64> = self.hi[j].iter().map(|r| unkey(r.0)).collect();
        let mut lo: Vec<f64> = self.lo[j].iter().map(|r| -unkey(r.0)).collect();
        hi.sort_by(f64::total_cmp);
        lo.sort_by(f64::total_cmp);
        let overlap = (hi.len() + lo.len()).saturating_sub(self.n);
        lo.truncate(lo.len() - overlap);
        let mut v: Vec<f64> = hi.iter().chain(&lo).map(|y| (y - mean).abs()).collect();
        v.sort_by(|a, b| b.total_cmp(a));
        v.truncate(self.keep);
        v
    }

    /// Runs [`screen`] on the accumulated sums and extremes.
    pub fn screen(&self, design: Design, opts: &ScreenOptions) -> Result<Screen, StatsError> {
        let col = |p: usize| (0..self.d).map(|j| self.sums(j)[p]).collect::<Vec<f64>>();
        let (s1, s2, s3, s4) = (col(0), col(1), col(2), col(3));
        let top: Option<Vec<Vec<f64>>> =
            (self.keep > 0).then(|| (0..self.d).map(|j| self.top_abs(j)).collect());
        let input = SumsInput {
            n: self.n,
            sum1: &s1,
            sum2: &s2,
            sum3: &s3,
            sum4: &s4,
            top_abs: top.as_deref(),
        };
        screen(&input, design, opts)
    }
}

/// Central moments (m₂, m₃, m₄), divisor n, from power sums of y = x − c (any constant c).
pub fn central_moments(n: usize, s: [f64; 4]) -> (f64, f64, f64) {
    let nf = n as f64;
    let (mu, e2, e3, e4) = (s[0] / nf, s[1] / nf, s[2] / nf, s[3] / nf);
    let m2 = e2 - mu * mu;
    let m3 = e3 - 3.0 * mu * e2 + 2.0 * mu.powi(3);
    let m4 = e4 - 4.0 * mu * e3 + 6.0 * mu * mu * e2 - 3.0 * mu.powi(4);
    (m2.max(0.0), m3, m4.max(0.0))
}

/// Affine map from per-example (g₁, g₂) to the minibatch mean's (γ₁,S, γ₂,S):
/// γ₁,S = a·g₁, γ₂,S = b·g₂ + c; returns (a, b, c).
///
/// With replacement: a = 1/√S, b = 1/S, c = 0. Without replacement from N (Kendall & Stuart
/// vol. 1 §12.20): with v = (N−S)/(S(N−1)),
/// a = (N−S)(N−2S)/(S²(N−1)(N−2)) / v^{3/2},
/// b = (N−S)(N(N+1) − 6S(N−S)) / (S³(N−1)(N−2)(N−3)) / v²,
/// c = [3b' + 3N(S−1)(N−S−1)(N−S)/(S³(N−1)(N−2)(N−3))] / v² − 3 with b' = b·v²,
/// i.e. the formulas of `checks::gaussian_noise::minibatch_mean_shape` with m₂ = 1.
/// `None` when S = 0, or S ≥ N or N < 4 without replacement. Cost O(1).
pub fn minibatch_factors(design: Design) -> Option<(f64, f64, f64)> {
    let s = design.batch_size;
    if s == 0 {
        return None;
    }
    let sf = s as f64;
    let Some(n) = design.population else {
        return Some((1.0 / sf.sqrt(), 1.0 / sf, 0.0));
    };
    if n < 4 || s >= n {
        return None;
    }
    let nf = n as f64;
    let v = (nf - sf) / (sf * (nf - 1.0));
    let a = (nf - sf) * (nf - 2.0 * sf) / (sf * sf * (nf - 1.0) * (nf - 2.0)) / v.powf(1.5);
    let den = sf.powi(3) * (nf - 1.0) * (nf - 2.0) * (nf - 3.0);
    let b4 = (nf - sf) * (nf * (nf + 1.0) - 6.0 * sf * (nf - sf)) / den;
    let b22 = (nf - sf) * 3.0 * nf * (sf - 1.0) * (nf - sf - 1.0) / den;
    let b = b4 / (v * v);
    let c = (3.0 * b4 + b22) / (v * v) - 3.0;
    Some((a, b, c))
}

/// Normal-theory standard errors of g₁ and g₂ at sample size n: √(6(n−2)/((n+1)(n+3))) and
/// √(24n(n−2)(n−3)/((n+1)²(n+3)(n+5))).
pub fn normal_theory_se(n: usize) -> (f64, f64) {
    let n = n as f64;
    let v1 = 6.0 * (n - 2.0) / ((n + 1.0) * (n + 3.0));
    let v2 = 24.0 * n * (n - 2.0) * (n - 3.0) / ((n + 1.0).powi(2) * (n + 3.0) * (n + 5.0));
    (v1.sqrt(), v2.sqrt())
}

/// Hill estimate from |x| sorted decreasingly (length ≥ K + 1) and the p-value of H0: α ≥ α₀,
/// P(Gamma(K, 1) ≥ α₀K/α̂). `None` when the threshold is 0 or fewer than K + 1 values.
pub fn hill_tail_test(top_desc: &[f64], k: usize, alpha0: f64) -> Option<(f64, f64)> {
    if k == 0 || top_desc.len() <= k || top_desc[k] <= 0.0 {
        return None;
    }
    let lu = top_desc[k].ln();
    let mean_log = top_desc[..k].iter().map(|v| v.ln() - lu).sum::<f64>() / k as f64;
    if mean_log <= 0.0 {
        return None;
    }
    let a = 1.0 / mean_log;
    let g = Gamma::new(k as f64, 1.0).ok()?;
    Some((a, g.sf(alpha0 * k as f64 / a)))
}

/// Plain-slice input of [`screen`]: n rows, per-coordinate power sums of x − c (any constant c
/// per coordinate) and optionally the K + 1 largest |x − c| per coordinate (largest first).
#[derive(Debug, Clone, Copy)]
pub struct SumsInput<'a> {
    pub n: usize,
    pub sum1: &'a [f64],
    pub sum2: &'a [f64],
    pub sum3: &'a [f64],
    pub sum4: &'a [f64],
    pub top_abs: Option<&'a [Vec<f64>]>,
}

/// Screen result of one coordinate. p-values are Holm-adjusted over the whole screen.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoordinateScreen {
    pub index: usize,
    /// Per-example g₁ and g₂ (biased, divisor n).
    pub skewness: f64,
    pub excess_kurtosis: f64,
    /// Images for the minibatch mean.
    pub minibatch_skewness: f64,
    pub minibatch_excess_kurtosis: f64,
    /// Standard errors of the minibatch images (normal theory, mapped).
    pub se_skewness: f64,
    pub se_kurtosis: f64,
    pub p_skewness: f64,
    pub p_kurtosis: f64,
    /// Hill estimate and its adjusted p-value (H0: α ≥ α₀), when extremes were given.
    pub tail_alpha: Option<f64>,
    pub p_tail: Option<f64>,
    pub flagged: bool,
}

impl CoordinateScreen {
    /// Smallest adjusted p-value of the coordinate.
    pub fn min_p(&self) -> f64 {
        self.p_skewness
            .min(self.p_kurtosis)
            .min(self.p_tail.unwrap_or(1.0))
    }
}

/// Result of the screen: tested coordinates, flagged indices and the worst coordinates (smallest
/// adjusted p, then largest |minibatch kurtosis|), ready to be named through a parameter map.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Screen {
    pub n: usize,
    pub tail_k: usize,
    pub coordinates: Vec<CoordinateScreen>,
    /// Coordinates not tested (zero variance).
    pub untested: Vec<usize>,
    pub flagged: Vec<usize>,
    /// Indices into `coordinates`' `index` space of the `n_worst` worst coordinates.
    pub worst: Vec<usize>,
}

/// Screens every coordinate (module docs). Cost O(d log d) after the sums (Holm sorts 3d
/// p-values), memory O(d).
///
/// # Errors
/// `TooFewSamples` when n < 8; `InvalidArgument` for mismatched lengths, a design without a
/// finite-population image, or bad options; `NonFinite` on NaN/∞ sums.
pub fn screen(
    input: &SumsInput<'_>,
    design: Design,
    opts: &ScreenOptions,
) -> Result<Screen, StatsError> {
    let (d, n) = (input.sum1.len(), input.n);
    validate(input, opts)?;
    let (a, b, c) = minibatch_factors(design).ok_or_else(|| {
        StatsError::InvalidArgument("minibatch design needs 0 < S < N and N ≥ 4".into())
    })?;
    let (se1, se2) = normal_theory_se(n);
    let tail_k = input
        .top_abs
        .map_or(0, |t| t.first().map_or(0, |v| v.len().saturating_sub(1)));
    let norm = Normal::standard();
    let one_sided = |est: f64, tol: f64, se: f64| norm.sf((est.abs() - tol) / se);
    let mut coords = Vec::with_capacity(d);
    let mut untested = Vec::new();
    let mut raw_p = Vec::with_capacity(3 * d);
    for j in 0..d {
        let s = [input.sum1[j], input.sum2[j], input.sum3[j], input.sum4[j]];
        let (m2, m3, m4) = central_moments(n, s);
        if m2 <= 1e-300 || m2 <= 1e-14 * (s[1] / n as f64) {
            untested.push(j);
            continue;
        }
        let (g1, g2) = (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0);
        let (ms, mk) = (a * g1, b * g2 + c);
        let (ses, sek) = (a.abs() * se1, b.abs() * se2);
        let tail = input
            .top_abs
            .and_then(|t| hill_tail_test(&t[j], tail_k, opts.tail_alpha0));
        let (ps, pk) = (
            one_sided(ms, opts.skew_tolerance, ses),
            one_sided(mk, opts.kurt_tolerance, sek),
        );
        raw_p.extend([ps, pk, tail.map_or(1.0, |t| t.1)]);
        coords.push(CoordinateScreen {
            index: j,
            skewness: g1,
            excess_kurtosis: g2,
            minibatch_skewness: ms,
            minibatch_excess_kurtosis: mk,
            se_skewness: ses,
            se_kurtosis: sek,
            p_skewness: ps,
            p_kurtosis: pk,
            tail_alpha: tail.map(|t| t.0),
            p_tail: tail.map(|t| t.1),
            flagged: false,
        });
    }
    finish(n, tail_k, coords, untested, &raw_p, opts)
}

fn validate(input: &SumsInput<'_>, opts: &ScreenOptions) -> Result<(), StatsError> {
    let d = input.sum1.len();
    let same = [input.sum2.len(), input.sum3.len(), input.sum4.len()]
        .iter()
        .all(|&l| l == d)
        && input.top_abs.is_none_or(|t| t.len() == d);
    if !same {
        return Err(StatsError::InvalidArgument(
            "power sums of unequal lengths".into(),
        ));
    }
    if input.n < 8 {
        return Err(StatsError::TooFewSamples {
            test: "coordinate screen",
            needed: 8,
            got: input.n,
        });
    }
    for s in [input.sum1, input.sum2, input.sum3, input.sum4] {
        super::check_finite(s)?;
    }
    if !(opts.alpha > 0.0
        && opts.alpha < 1.0
        && opts.skew_tolerance >= 0.0
        && opts.kurt_tolerance >= 0.0)
    {
        return Err(StatsError::InvalidArgument(
            "screen options out of range".into(),
        ));
    }
    Ok(())
}

fn finish(
    n: usize,
    tail_k: usize,
    mut coords: Vec<CoordinateScreen>,
    untested: Vec<usize>,
    raw_p: &[f64],
    opts: &ScreenOptions,
) -> Result<Screen, StatsError> {
    let adj = adjust(raw_p, Method::Holm)?;
    let mut flagged = Vec::new();
    for (i, c) in coords.iter_mut().enumerate() {
        c.p_skewness = adj[3 * i];
        c.p_kurtosis = adj[3 * i + 1];
        c.p_tail = c.p_tail.map(|_| adj[3 * i + 2]);
        c.flagged = c.min_p() <= opts.alpha;
        if c.flagged {
            flagged.push(c.index);
        }
    }
    let mut order: Vec<usize> = (0..coords.len()).collect();
    order.sort_by(|&x, &y| {
        let (cx, cy) = (&coords[x], &coords[y]);
        cx.min_p()
            .total_cmp(&cy.min_p())
            .then(
                cy.minibatch_excess_kurtosis
                    .abs()
                    .total_cmp(&cx.minibatch_excess_kurtosis.abs()),
            )
            .then(cx.index.cmp(&cy.index))
    });
    let worst = order
        .iter()
        .take(opts.n_worst)
        .map(|&i| coords[i].index)
        .collect();
    Ok(Screen {
        n,
        tail_k,
        coordinates: coords,
        untested,
        flagged,
        worst,
    })
}
