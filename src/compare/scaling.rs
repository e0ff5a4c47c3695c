//! The OU model's scaling laws across runs (docs/compare.md).
//!
//! Each law is a regression across the runs of one sampling-design group (fresh draws with or
//! without replacement, or epoch-wise reshuffling — their noise scales differently, so they are
//! never mixed), fitted by [`crate::stats::regression::ols`], with an effect and a t interval at
//! the thresholds' `ci_level`. A decided law is one [`PieceTest`] of the issue-15 rule on the
//! effect b − b_model against |·| ≤ tolerance ([`slope_piece`]: one-sided t fail test and TOST
//! on the fit's n − p degrees of freedom); informative laws carry intervals only.
//!
//! 1. **Stationary covariance** (decides): log tr Σ̂ᵢ = a + b·log tr Σ_pred,ᵢ, with Σ̂ the
//!    trajectory's covariance and Σ_pred the exact discrete Lyapunov prediction
//!    AΣ + ΣA − εAΣA = ε·f·C of the run's own verify report (f the minibatch factor: 1/S, or
//!    (N − S)/(S(N − 1)) without replacement), traces in the analysis subspace. Null b = 1,
//!    tolerance |b − 1| ≤ `slope_tolerance`.
//! 2. **Noise scale** (decides): log(tr Ĉᵢ/Sᵢ) = a + b·log Sᵢ with tr Ĉ the per-example gradient
//!    covariance (full space, mean over checkpoints). Null b = −1 (C does not depend on S).
//! 3. **Exponents** (informative): log tr Σ̂ = c + p·log ε + q·log S beside the same regression of
//!    log tr Σ_pred (the exponents the model predicts for this grid: ≈ 1 + ελ/(2 − ελ) in ε and
//!    ≈ −N/(N − S) in S without replacement).
//! 4. **FDR2** (informative): Rᵢ = ⟨‖∇L‖²⟩ / ((ε/2)⟨ĝᵀHĝ⟩), exactly 1 for a quadratic loss
//!    (Yaida 2018's second relation at μ = 0; ⟨ĝᵀHĝ⟩ = ⟨∇LᵀH∇L⟩ + tr(HQ)); fitted as
//!    R = a + b·ε, the intercept's deviation from 1 decided against the tolerance; b measures
//!    anharmonicity.
//!
//! The compare verdict is [`ToleranceTests`] over the pieces of laws 1 and 2 of every group
//! (Holm for fail, intersection–union for pass); 3 and 4 inform.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::checks::{PieceTest, Tolerance, ToleranceTests, Verdict};
use crate::stats::regression::{ols, OlsFit};

/// The per-run numbers the laws use (`None` where the run does not give them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Observables {
    /// tr Σ̂ of the trajectory in the analysis subspace (verify's ou_prediction).
    pub trace_observed: Option<f64>,
    /// Its interval (ESS-based, verify's level).
    pub trace_observed_ci: Option<[f64; 2]>,
    /// tr Σ_pred, the exact discrete Lyapunov prediction in the same subspace.
    pub trace_predicted: Option<f64>,
    /// tr Ĉ, the per-example gradient covariance (full space, mean over checkpoints).
    pub noise_trace: Option<f64>,
    /// ⟨‖∇L‖²⟩ over the checkpoints (FDR2 left side; full-space runs with hessian.npy only).
    pub fdr2_left: Option<f64>,
    /// (ε/2)⟨∇LᵀH∇L + tr(HQ)⟩ over the checkpoints (FDR2 right side).
    pub fdr2_right: Option<f64>,
}

/// One run as the laws see it.
#[derive(Debug, Clone)]
pub struct Point {
    pub learning_rate: f64,
    pub batch_size: f64,
    pub obs: Observables,
}

/// One law's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Law {
    /// `stationary_covariance_slope`, `noise_scale_slope`, `exponents` or `fdr2`.
    pub name: String,
    /// The sampling-design group the fit uses.
    pub group: String,
    /// The regression, in words.
    pub formula: String,
    /// Runs in the fit.
    pub runs: usize,
    /// The effect (a slope or an intercept), its interval and the value the model predicts.
    pub estimate: Option<f64>,
    pub ci: Option<[f64; 2]>,
    pub null: f64,
    pub tolerance: f64,
    /// The law's own verdict (its one piece under the issue-15 rule); `null` for an
    /// informative law.
    pub verdict: Option<Verdict>,
    /// The piece a decided law contributes to the compare verdict (estimate b − b_model,
    /// tolerance |·| ≤ tolerance, t fail test and TOST); `null` for an informative law.
    pub test: Option<PieceTest>,
    /// Informative laws do not enter the compare verdict.
    pub informative: bool,
    pub reason: String,
    /// The whole fit (intercept first), when computed.
    pub fit: Option<OlsFit>,
    /// Further numbers (the exponents), by name.
    pub details: BTreeMap<String, f64>,
}

impl Law {
    fn new(name: &str, group: &str, formula: &str, null: f64, tol: f64, informative: bool) -> Law {
        Law {
            name: name.into(),
            group: group.into(),
            formula: formula.into(),
            runs: 0,
            estimate: None,
            ci: None,
            null,
            tolerance: tol,
            verdict: None,
            test: None,
            informative,
            reason: String::new(),
            fit: None,
            details: BTreeMap::new(),
        }
    }

    /// The piece's name: `name[group]`.
    pub fn piece_name(&self) -> String {
        format!("{}[{}]", self.name, self.group)
    }

    /// Sets the effect (coefficient `j` of `fit`) and its interval; a decided law also gets its
    /// piece ([`slope_piece`] at level `alpha`) and the verdict of that piece alone.
    fn decide_on(&mut self, fit: OlsFit, j: usize, level: f64, alpha: f64, what: &str) {
        let b = fit.coef[j];
        let (lo, hi) = fit.conf_int(j, level);
        self.estimate = Some(b);
        self.ci = Some([lo, hi]);
        let r2 = fit
            .r_squared
            .map_or_else(|| "– (constant)".into(), |r| format!("{r:.3}"));
        self.reason = format!(
            "{what} {b:.3} [{lo:.3}, {hi:.3}] ({:.0}% t interval, {} runs, R² = {r2}); the model \
             predicts {}",
            level * 100.0,
            fit.n,
            self.null,
        );
        if !self.informative {
            let piece = slope_piece(
                &self.piece_name(),
                b - self.null,
                fit.se[j],
                fit.df_resid as f64,
                self.tolerance,
            );
            let verdict = ToleranceTests::from_pieces(vec![piece.clone()], alpha).verdict(alpha);
            self.reason.push_str(&format!(
                " within ±{}: fail test p = {}, equivalence (TOST) p = {}: {verdict}",
                self.tolerance,
                p_text(piece.p_fail),
                p_text(piece.p_pass)
            ));
            self.verdict = Some(verdict);
            self.test = Some(piece);
        }
        self.fit = Some(fit);
    }

    /// A decided law without a fit: an untestable piece (it counts as p = 1 in both tests),
    /// so the compare verdict cannot pass.
    fn untestable(&mut self) {
        if !self.informative {
            self.test = Some(PieceTest::new(
                self.piece_name(),
                f64::NAN,
                Tolerance::abs_at_most(self.tolerance),
                None,
                None,
            ));
            self.verdict = Some(Verdict::Inconclusive);
        }
    }
}

fn p_text(p: Option<f64>) -> String {
    p.map_or_else(|| "–".into(), |p| format!("{p:.3}"))
}

/// The piece of a decided law: effect e = b − b_model with standard error `se` on `df`
/// residual degrees of freedom, tolerance |e| ≤ δ.
///
/// * fail test H₀: |e| ≤ δ: p_fail = P(T_df > (|ê| − δ)/se) ([`crate::stats::onesided::t_upper`]
///   on |ê|, as the project's other |·| pieces);
/// * equivalence H₀: |e| ≥ δ by TOST (Schuirmann 1987): p_pass = max(P(T_df > (δ − ê)/se),
///   P(T_df > (ê + δ)/se)).
///
/// Reference values: `scipy.stats.t.sf` in tests/reference/compare.json
/// (tests/reference/generate_compare.py). Untestable (both `None`) for a non-finite ê, se ≤ 0 or
/// df ≤ 0. Cost O(1).
pub fn slope_piece(name: &str, e: f64, se: f64, df: f64, delta: f64) -> PieceTest {
    let p = (e.is_finite() && se.is_finite() && se > 0.0 && df > 0.0)
        .then(|| StudentsT::new(0.0, 1.0, df).ok())
        .flatten()
        .and_then(|t| {
            let p_fail = crate::stats::onesided::t_upper(e.abs(), se, df, delta)
                .ok()?
                .p_value;
            let p_pass = t.sf((delta - e) / se).max(t.sf((e + delta) / se));
            Some((p_fail, p_pass))
        });
    PieceTest::new(
        name,
        e,
        Tolerance::abs_at_most(delta),
        p.map(|p| p.0),
        p.map(|p| p.1),
    )
}

fn distinct(x: &[f64]) -> usize {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.len()
}

fn positive(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x > 0.0)
}

/// Law 1: log observed against log predicted stationary trace; slope 1.
pub fn covariance_law(points: &[Point], group: &str, tol: f64, level: f64, alpha: f64) -> Law {
    let mut law = Law::new(
        "stationary_covariance_slope",
        group,
        "log tr Σ̂ = a + b·log tr Σ_discrete (across runs)",
        1.0,
        tol,
        false,
    );
    let pairs: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            Some((
                positive(p.obs.trace_predicted)?.ln(),
                positive(p.obs.trace_observed)?.ln(),
            ))
        })
        .collect();
    law.runs = pairs.len();
    let (x, y): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
    if x.len() < 3 || distinct(&x) < 2 {
        law.reason = format!(
            "{} run(s) with an observed and a predicted stationary covariance (at least 3 with \
             different predictions are needed)",
            x.len()
        );
        law.untestable();
        return law;
    }
    match ols(&y, &[&x]) {
        Ok(fit) => law.decide_on(fit, 1, level, alpha, "slope"),
        Err(e) => {
            law.reason = format!("no fit: {e}");
            law.untestable();
        }
    }
    law
}

/// Law 2: log(tr C/S) against log S; slope −1.
pub fn noise_law(points: &[Point], group: &str, tol: f64, level: f64, alpha: f64) -> Law {
    let mut law = Law::new(
        "noise_scale_slope",
        group,
        "log(tr Ĉ/S) = a + b·log S (across runs)",
        -1.0,
        tol,
        false,
    );
    let pairs: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            let c = positive(p.obs.noise_trace)?;
            Some((p.batch_size.ln(), (c / p.batch_size).ln()))
        })
        .collect();
    law.runs = pairs.len();
    let (x, y): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
    if x.len() < 3 || distinct(&x) < 2 {
        law.reason = format!(
            "{} run(s) with a gradient covariance over {} batch size(s) (at least 3 runs and 2 \
             batch sizes are needed)",
            x.len(),
            distinct(&x)
        );
        law.untestable();
        return law;
    }
    match ols(&y, &[&x]) {
        Ok(fit) => law.decide_on(fit, 1, level, alpha, "slope"),
        Err(e) => {
            law.reason = format!("no fit: {e}");
            law.untestable();
        }
    }
    law
}

/// Law 3 (informative): exponents of tr Σ̂ and tr Σ_pred in ε and S.
pub fn exponents(points: &[Point], group: &str, level: f64) -> Law {
    let mut law = Law::new(
        "exponents",
        group,
        "log tr Σ = c + p·log ε + q·log S, observed and predicted (across runs)",
        0.0,
        0.0,
        true,
    );
    let rows: Vec<[f64; 4]> = points
        .iter()
        .filter_map(|p| {
            Some([
                p.learning_rate.ln(),
                p.batch_size.ln(),
                positive(p.obs.trace_observed)?.ln(),
                positive(p.obs.trace_predicted)?.ln(),
            ])
        })
        .collect();
    law.runs = rows.len();
    let col = |j: usize| rows.iter().map(|r| r[j]).collect::<Vec<f64>>();
    let (le, ls) = (col(0), col(1));
    if rows.len() < 4 || distinct(&le) < 2 || distinct(&ls) < 2 {
        law.reason = "fewer than 4 runs, or fewer than 2 learning rates or batch sizes: no \
                      exponents"
            .into();
        return law;
    }
    let (obs, pred) = (ols(&col(2), &[&le, &ls]), ols(&col(3), &[&le, &ls]));
    match (obs, pred) {
        (Ok(o), Ok(p)) => {
            let (elo, ehi) = o.conf_int(1, level);
            let (slo, shi) = o.conf_int(2, level);
            for (k, v) in [
                ("epsilon_observed", o.coef[1]),
                ("epsilon_observed_lo", elo),
                ("epsilon_observed_hi", ehi),
                ("epsilon_predicted", p.coef[1]),
                ("batch_observed", o.coef[2]),
                ("batch_observed_lo", slo),
                ("batch_observed_hi", shi),
                ("batch_predicted", p.coef[2]),
            ] {
                law.details.insert(k.into(), v);
            }
            law.reason = format!(
                "exponent in ε {:.3} [{elo:.3}, {ehi:.3}] (model {:.3}); in S {:.3} [{slo:.3}, \
                 {shi:.3}] (model {:.3})",
                o.coef[1], p.coef[1], o.coef[2], p.coef[2]
            );
            law.fit = Some(o);
        }
        (Err(e), _) | (_, Err(e)) => law.reason = format!("no fit: {e}"),
    }
    law
}

/// Law 4 (informative): Yaida's FDR2 ratio against ε; intercept 1 (interval only).
pub fn fdr2_law(points: &[Point], group: &str, tol: f64, level: f64) -> Law {
    let mut law = Law::new(
        "fdr2",
        group,
        "⟨‖∇L‖²⟩ / ((ε/2)⟨ĝᵀHĝ⟩) = a + b·ε (across runs)",
        1.0,
        tol,
        true,
    );
    let pairs: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            let r = p.obs.fdr2_left? / positive(p.obs.fdr2_right)?;
            r.is_finite().then_some((p.learning_rate, r))
        })
        .collect();
    law.runs = pairs.len();
    let (x, y): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
    if x.len() < 3 || distinct(&x) < 2 {
        law.reason = format!(
            "{} run(s) with a Hessian at the checkpoints and the whole parameter space analysed \
             (at least 3 with 2 learning rates are needed)",
            x.len()
        );
        return law;
    }
    match ols(&y, &[&x]) {
        Ok(fit) => {
            law.details.insert("slope_in_epsilon".into(), fit.coef[1]);
            law.decide_on(fit, 0, level, 0.0, "intercept");
        }
        Err(e) => law.reason = format!("no fit: {e}"),
    }
    law
}

/// All laws of one group, in a fixed order; the decided ones tested at level `alpha`.
pub fn laws(points: &[Point], group: &str, tol: f64, level: f64, alpha: f64) -> Vec<Law> {
    vec![
        covariance_law(points, group, tol, level, alpha),
        noise_law(points, group, tol, level, alpha),
        exponents(points, group, level),
        fdr2_law(points, group, tol, level),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(e: f64, s: f64, obs: f64, pred: f64, c: f64) -> Point {
        Point {
            learning_rate: e,
            batch_size: s,
            obs: Observables {
                trace_observed: Some(obs),
                trace_predicted: Some(pred),
                noise_trace: Some(c),
                ..Default::default()
            },
        }
    }

    #[test]
    fn verdicts_follow_the_slope() {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for (i, &e) in [0.01, 0.02, 0.04].iter().enumerate() {
            for (j, &s) in [8.0, 32.0, 128.0].iter().enumerate() {
                let pred = e / s;
                let wiggle = 1.0 + 0.01 * ((i * 3 + j) as f64 - 4.0) / 4.0;
                good.push(point(e, s, pred * wiggle, pred, 2.0 * wiggle));
                bad.push(point(e, s, e * wiggle, pred, 2.0 * s * wiggle));
            }
        }
        let g = laws(&good, "fresh", 0.1, 0.95, 0.05);
        assert_eq!(g[0].verdict, Some(Verdict::Pass), "{:?}", g[0]);
        assert_eq!(g[1].verdict, Some(Verdict::Pass), "{:?}", g[1]);
        assert_eq!(g[2].verdict, None);
        assert!(g[2].test.is_none() && g[3].test.is_none());
        let b = laws(&bad, "fresh", 0.1, 0.95, 0.05);
        assert_eq!(b[0].verdict, Some(Verdict::Fail), "{:?}", b[0]);
        assert_eq!(b[1].verdict, Some(Verdict::Fail), "{:?}", b[1]);
        assert_eq!(
            b[0].test.as_ref().unwrap().name,
            "stationary_covariance_slope[fresh]"
        );
        assert!((g[2].details["epsilon_predicted"] - 1.0).abs() < 1e-9);
        assert!((g[2].details["batch_predicted"] + 1.0).abs() < 1e-9);
        // Too few runs: an untestable piece, inconclusive.
        let few = laws(&good[..2], "fresh", 0.1, 0.95, 0.05);
        assert_eq!(few[0].verdict, Some(Verdict::Inconclusive));
        assert_eq!(few[0].test.as_ref().unwrap().p_fail, None);
    }

    #[test]
    fn slope_piece_rule() {
        // Far inside, far outside, at the boundary, untestable.
        let inside = slope_piece("x", 0.01, 0.02, 7.0, 0.1);
        assert!(inside.p_pass.unwrap() < 0.01 && inside.p_fail.unwrap() > 0.99);
        let outside = slope_piece("x", -0.5, 0.05, 7.0, 0.1);
        assert!(outside.p_fail.unwrap() < 1e-3 && outside.p_pass.unwrap() > 0.99);
        assert!(outside.beyond);
        let edge = slope_piece("x", 0.1, 0.01, 7.0, 0.1);
        assert!((edge.p_fail.unwrap() - 0.5).abs() < 1e-12);
        assert!((edge.p_pass.unwrap() - 0.5).abs() < 1e-12);
        let none = slope_piece("x", f64::NAN, 0.01, 7.0, 0.1);
        assert!(none.p_fail.is_none() && none.p_pass.is_none() && !none.beyond);
    }
}
