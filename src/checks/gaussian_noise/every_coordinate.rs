//! The every-coordinate piece of the Gaussian-noise check (issue 16): a screen of all d
//! coordinates of the per-example gradients, which a random k-dimensional projection dilutes
//! (heavy tails confined to a few coordinates fade by ~1/√d in a random direction).
//!
//! Per checkpoint c and coordinate j, from the central moments m₂, m₃, m₄ (divisor n) that the
//! streaming pass accumulates (`run::kernels::CoordinateScreen`):
//! * per-example g₁ = m₃/m₂^{3/2}, g₂ = m₄/m₂² − 3, mapped to the minibatch mean at S by the
//!   finite-population CLT (the affine map γ₁,S = a·g₁, γ₂,S = b·g₂ + c of
//!   [`minibatch_factors`], the formulas of [`super::minibatch_mean_shape`]);
//! * one-sided z tests of H₀: |γ₁,S| ≤ δ₁ and H₀: |γ₂,S| ≤ δ₂ (the check's tolerances 0.2 and
//!   0.5), p = Φ̄((|γ̂| − δ)/se), se the normal-theory SE of g₁, g₂ at n
//!   ([`normal_theory_se`]) times |a|, |b|;
//! * the tail-index rule: the CLT images need E x⁴ < ∞. The Hill (1975) estimate α̂ from the K
//!   largest |x − x̄| tests H₀: α ≥ α₀ = 4 by p = P(Gamma(K, 1) ≥ α₀K/α̂) (exact for a Pareto
//!   tail). The p-value counts only when the coordinate's |γ̂₂,S| lies beyond δ₂ (set to 1
//!   otherwise): rejection then needs both, so the test stays valid, and light but non-Gaussian
//!   tails (exponential: Hill α̂ ≈ 2.7 at K = n/8, all moments finite) whose minibatch kurtosis
//!   is within tolerance are not failed on the Hill estimator's bias. Hence the reader
//!   collects extremes only for the `run::kernels::TAIL_CANDIDATES` (1,024) coordinates of
//!   largest per-example excess kurtosis (a second pass); elsewhere α̂ is NaN, which counts as
//!   no tail evidence (p = 1), as for a coordinate within tolerance.
//!
//! All 3·C·d p-values (C checkpoints) are Holm-adjusted together (valid under any dependence);
//! the smallest adjusted value is the piece's fail p-value. The piece is **fail-only**: it can
//! fail the check, never pass it on its own (a screen of d coordinates at these SEs has no
//! equivalence test worth the name). It is computed when the directions do not already cover
//! every coordinate (d > k), and votes when every checkpoint has n ≥ [`MIN_ROWS`] rows and
//! S < N/2; otherwise it is reported with the reason.
//!
//! *Large d.* Above `run::kernels::SCREEN_KEEP` (65,536) coordinates the reader keeps, per
//! checkpoint, the moments of only the union of the 65,536 coordinates with the largest |g₁|,
//! the largest g₂ and the smallest g₂, and the tail candidates (memory O(65,536) per checkpoint
//! instead of 4d doubles: 320 MB each at d = 10⁷). Within a checkpoint the SEs are common, so
//! each p-value is monotone in |γ̂₁,S| = |a·g₁| or |γ̂₂,S| = |b·g₂ + c|, whose largest values
//! lie among the extremes of g₂; the kept pairs therefore hold every checkpoint's 65,536
//! smallest skewness and kurtosis p-values and all its tail p-values (the others are 1). Holm
//! over the full family of m = 3·(tested pairs) is applied to the kept p-values ranked among
//! themselves ([`holm_smallest`]): exact for the global smallest, hence the piece's fail
//! p-value and every rejection up to the smallest p-value left out; `flagged`
//! is then a lower bound and `kept` says so. Below the threshold nothing changes.
//!
//! Limits: the normal-theory SEs are exact only for Gaussian coordinates; for a skewed
//! coordinate sitting exactly at a tolerance they are too small (the true SE needs the 6th and
//! 8th moments), so the piece is liberal there; the tail rule cannot see tails heavier than the
//! n rows show. Cost O(C·d' log(C·d')) with d' = min(d, 3·65,536 + 1,024) kept coordinates
//! per checkpoint (Holm sorts 3·C·d' values), memory O(C·d').

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Gamma};

use crate::checks::Context;
use crate::run::kernels::{screenable, CoordinateScreen};
use crate::run::{GradientKind, SubspaceKind};
use crate::stats::multitest::holm_smallest;
use crate::stats::onesided::norm_sf;
use crate::stats::screen::{minibatch_factors, normal_theory_se, Design};
use crate::thresholds::Thresholds;

/// Fewest rows per checkpoint for the piece to vote.
pub const MIN_ROWS: usize = 256;
/// Tail index below which the fourth moment does not exist.
pub const TAIL_ALPHA0: f64 = 4.0;
/// Coordinates named in the report.
pub const WORST: usize = 10;

/// Why the every-coordinate piece does not vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScreenNote {
    /// A checkpoint has fewer rows than the minimum.
    FewRows {
        /// Smallest n over the checkpoints.
        rows: usize,
        /// [`MIN_ROWS`].
        minimum: usize,
    },
    /// S ≥ N/2: the finite-population images are unstable.
    LargeBatch {
        /// S.
        batch_size: usize,
        /// N.
        population: usize,
    },
}

/// One coordinate of the screen (at the checkpoint of its smallest adjusted p-value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoordinateRow {
    /// Flat index in the parameter vector.
    pub index: usize,
    /// Its name from the format-v2 `parameters` map ("fc2.weight[17, 3]"), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Step of the checkpoint.
    pub step: u64,
    /// Minibatch skewness γ̂₁,S.
    pub minibatch_skewness: f64,
    /// Minibatch excess kurtosis γ̂₂,S.
    pub minibatch_excess_kurtosis: f64,
    /// Normal-theory SE of γ̂₁,S.
    pub skewness_se: f64,
    /// Normal-theory SE of γ̂₂,S.
    pub excess_kurtosis_se: f64,
    /// Hill tail index α̂ (`null` without the tail rule).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub tail_index: f64,
    /// Holm-adjusted p-values (skewness, excess kurtosis, tail).
    pub p_holm: [f64; 3],
    /// Whether some adjusted p-value is ≤ α.
    pub flagged: bool,
}

/// Evidence of the every-coordinate piece (`metrics.every_coordinate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EveryCoordinate {
    /// Coordinates d.
    pub coordinates: usize,
    /// Checkpoints screened.
    pub checkpoints: usize,
    /// Order statistics K of the Hill estimates (0: no tail rule at this n and d).
    pub tail_k: usize,
    /// α₀ of the tail rule.
    pub tail_alpha0: f64,
    /// p-values in the Holm family (3 per checkpoint and tested coordinate).
    pub tests: usize,
    /// (checkpoint, coordinate) pairs not tested (zero variance).
    pub untested: usize,
    /// When d > 65,536 (`run::kernels::SCREEN_KEEP`): the tested pairs whose moments were
    /// kept, each checkpoint's 65,536 most extreme in skewness and in kurtosis and its tail
    /// candidates (docs/methods.md, "Every coordinate at large d"); the smallest adjusted
    /// p-value stays exact, `flagged` counts kept pairs only (a lower bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<usize>,
    /// Whether the piece votes (fail-only).
    pub votes: bool,
    /// Why it does not vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<ScreenNote>,
    /// Coordinates with some adjusted p-value ≤ α.
    pub flagged: usize,
    /// Of them, flagged by the tail rule.
    pub flagged_by_tail: usize,
    /// Smallest Holm-adjusted p-value (the piece's fail p-value).
    pub p_fail_holm: f64,
    /// Largest max(|γ̂₁,S|/δ₁, |γ̂₂,S|/δ₂) over checkpoints and coordinates.
    pub largest_ratio: f64,
    /// The worst coordinates (smallest adjusted p, then largest ratio), at most [`WORST`].
    pub worst: Vec<CoordinateRow>,
}

/// One tested (checkpoint, coordinate) pair before the adjustment.
struct Entry {
    ci: usize,
    /// Coordinate, and its position in the checkpoint's screen.
    j: usize,
    p: usize,
    ms: f64,
    mk: f64,
    ratio: f64,
}

/// Whether the piece votes, or why not.
fn vote_note(ctx: &Context, screens: &[&CoordinateScreen], s: usize) -> Option<ScreenNote> {
    let run = ctx.run;
    let rows = screens.iter().map(|c| c.n).min().unwrap_or(0);
    if rows < MIN_ROWS {
        return Some(ScreenNote::FewRows {
            rows,
            minimum: MIN_ROWS,
        });
    }
    let n = run.manifest.dataset_size as usize;
    (2 * s >= n).then_some(ScreenNote::LargeBatch {
        batch_size: s,
        population: n,
    })
}

/// The screen over every checkpoint's [`CoordinateScreen`]; `None` for minibatch runs, for
/// d ≤ k (the directions are the coordinates), runs without screens or a design without a
/// minibatch image (S ≥ N). Cost: module docs.
pub fn every_coordinate(
    ctx: &Context,
    s: usize,
    pop: Option<usize>,
    th: &Thresholds,
) -> Option<EveryCoordinate> {
    let run = ctx.run;
    // d ≤ k: the analysis directions are the coordinates and vote already.
    if run.manifest.gradients != GradientKind::PerExample
        || run.subspace.kind() == SubspaceKind::Identity
    {
        return None;
    }
    let screens: Vec<&CoordinateScreen> = run
        .checkpoints
        .iter()
        .map(|c| c.screen.as_ref())
        .collect::<Option<_>>()?;
    let design = Design {
        batch_size: s,
        population: pop,
    };
    let (a, b, c) = minibatch_factors(design)?;
    let (d1, d2) = (
        th.gaussian_max_abs_skewness,
        th.gaussian_max_abs_excess_kurtosis,
    );
    let mut entries = Vec::new();
    let mut raw = Vec::new();
    for (ci, sc) in screens.iter().enumerate() {
        let (se1, se2) = normal_theory_se(sc.n);
        let (se1, se2) = (a.abs() * se1, b.abs() * se2);
        let gamma = Gamma::new(sc.tail_k.max(1) as f64, 1.0).ok();
        for p in 0..sc.m2.len() {
            let (m2, m3, m4) = (sc.m2[p], sc.m3[p], sc.m4[p]);
            if !screenable(m2) {
                continue;
            }
            let (ms, mk) = (a * m3 / m2.powf(1.5), b * (m4 / (m2 * m2) - 3.0) + c);
            let ratio = (ms.abs() / d1).max(mk.abs() / d2);
            let tail_p = match (&gamma, sc.hill.get(p)) {
                (Some(g), Some(&al)) if sc.tail_k > 0 && al > 0.0 && mk.abs() > d2 => {
                    g.sf(TAIL_ALPHA0 * sc.tail_k as f64 / al)
                }
                _ => 1.0,
            };
            raw.extend([
                norm_sf((ms.abs() - d1) / se1),
                norm_sf((mk.abs() - d2) / se2),
                tail_p,
            ]);
            entries.push(Entry {
                ci,
                j: sc.col(p),
                p,
                ms,
                mk,
                ratio,
            });
        }
    }
    let tested: usize = screens.iter().map(|sc| sc.d - sc.unscreenable).sum();
    let adj = holm_smallest(&raw, 3 * tested).unwrap_or_else(|_| raw.clone());
    let note = vote_note(ctx, &screens, s);
    let counts = Counts {
        untested: screens.iter().map(|sc| sc.unscreenable).sum(),
        tests: 3 * tested,
        kept: screens
            .iter()
            .any(|sc| sc.is_partial())
            .then_some(entries.len()),
        factors: (a, b),
    };
    Some(summarise(ctx, &screens, &entries, &adj, counts, note, th))
}

/// The evidence from the adjusted p-values: counts and the worst coordinates. O(C·d log(C·d)).
fn summarise(
    ctx: &Context,
    screens: &[&CoordinateScreen],
    entries: &[Entry],
    adj: &[f64],
    counts: Counts,
    note: Option<ScreenNote>,
    th: &Thresholds,
) -> EveryCoordinate {
    let alpha = th.alpha;
    let run = ctx.run;
    let d = run.d;
    let minp = |i: usize| adj[3 * i].min(adj[3 * i + 1]).min(adj[3 * i + 2]);
    let mut flagged = vec![0u8; d];
    for (i, e) in entries.iter().enumerate() {
        if minp(i) <= alpha {
            flagged[e.j] |= 1;
            if adj[3 * i + 2] <= alpha {
                flagged[e.j] |= 2;
            }
        }
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&x, &y| {
        minp(x)
            .total_cmp(&minp(y))
            .then(entries[y].ratio.total_cmp(&entries[x].ratio))
            .then(entries[x].j.cmp(&entries[y].j))
            .then(entries[x].ci.cmp(&entries[y].ci))
    });
    let mut seen = std::collections::BTreeSet::new();
    let names = run.manifest.parameters.as_ref();
    let mut worst = Vec::new();
    for &i in &order {
        let e = &entries[i];
        if worst.len() >= WORST {
            break;
        }
        if !seen.insert(e.j) {
            continue;
        }
        let sc = screens[e.ci];
        let (se1, se2) = normal_theory_se(sc.n);
        let (a, b) = counts.factors;
        worst.push(CoordinateRow {
            index: e.j,
            name: names.and_then(|m| m.name_of(e.j)),
            step: run.checkpoints[e.ci].step,
            minibatch_skewness: e.ms,
            minibatch_excess_kurtosis: e.mk,
            skewness_se: a.abs() * se1,
            excess_kurtosis_se: b.abs() * se2,
            tail_index: sc.hill.get(e.p).copied().unwrap_or(f64::NAN),
            p_holm: [adj[3 * i], adj[3 * i + 1], adj[3 * i + 2]],
            flagged: minp(i) <= alpha,
        });
    }
    EveryCoordinate {
        coordinates: d,
        checkpoints: screens.len(),
        tail_k: screens.iter().map(|s| s.tail_k).min().unwrap_or(0),
        tail_alpha0: TAIL_ALPHA0,
        tests: counts.tests,
        untested: counts.untested,
        kept: counts.kept,
        votes: note.is_none(),
        note,
        flagged: flagged.iter().filter(|&&f| f != 0).count(),
        flagged_by_tail: flagged.iter().filter(|&&f| f & 2 != 0).count(),
        p_fail_holm: (0..entries.len()).map(minp).fold(1.0, f64::min),
        largest_ratio: entries.iter().map(|e| e.ratio).fold(0.0, f64::max),
        worst,
    }
}

/// Untested pairs, the Holm family's size, the pairs kept when the screens are partial, and
/// the minibatch factors (a, b) of the SEs.
struct Counts {
    untested: usize,
    tests: usize,
    kept: Option<usize>,
    factors: (f64, f64),
}
