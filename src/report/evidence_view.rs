//! Typed views of the check evidence the report layer reads.
//!
//! Every read of a check's typed evidence (`CheckResult::metrics`) by the report formats and
//! figures goes through the small accessors here. Each returns `None` when the evidence is
//! absent (a check that was inconclusive) or degenerate; the callers then leave the figure or
//! sentence out. Cost: O(size of the evidence read).

use super::Report;
use crate::checks::gaussian_noise::{Multivariate, Route};
use crate::checks::{constant_covariance, CheckResult, Evidence, IntervalMethod};

/// A string-valued key of run.json's free metadata (`model`, `notes`, …): untrusted text.
pub fn metadata_text(r: &Report, key: &str) -> Option<String> {
    r.run
        .manifest
        .metadata
        .get(key)?
        .as_str()
        .map(str::to_string)
}

/// Every string-valued metadata key of run.json, in file order (untrusted text).
pub fn metadata_strings(r: &Report) -> Vec<(String, String)> {
    r.run
        .manifest
        .metadata
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

/// Q–Q data of the worst direction of the Gaussian-noise check (the standardised direct
/// minibatch-noise sample and its Blom plotting positions).
#[derive(Debug, Clone, PartialEq)]
pub struct QqData {
    pub direction: usize,
    pub theoretical: Vec<f64>,
    pub sample: Vec<f64>,
}

/// The typed evidence of the Gaussian-noise check, when it ran.
fn gaussian_evidence(r: &Report) -> Option<&crate::checks::gaussian_noise::Evidence> {
    match &r.assumptions.gaussian_noise.metrics {
        Evidence::GaussianNoise(e) => Some(e),
        _ => None,
    }
}

/// `gaussian_noise.metrics.qq_worst_direction`.
pub fn qq_worst_direction(r: &Report) -> Option<QqData> {
    let q = gaussian_evidence(r)?.qq_worst_direction.as_ref()?;
    let d = QqData {
        direction: q.direction,
        theoretical: q.theoretical.clone(),
        sample: q.sample.clone(),
    };
    (d.sample.len() == d.theoretical.len() && d.sample.len() >= 3).then_some(d)
}

/// One checkpoint's relative covariance change against its distance from the mean iterate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangePoint {
    pub distance: f64,
    pub change: f64,
    pub lo: f64,
    pub hi: f64,
}

/// `constant_covariance.metrics.plot_change_vs_distance`: the finite points.
pub fn change_vs_distance(r: &Report) -> Option<Vec<ChangePoint>> {
    let p = &constant_covariance_measured(r)?.plot_change_vs_distance;
    let nan = |v: &Option<f64>| v.unwrap_or(f64::NAN);
    let (d, c) = (&p.distance, &p.rel_change);
    let (lo, hi) = (&p.rel_change_lo, &p.rel_change_hi);
    let pts: Vec<ChangePoint> = (0..d.len().min(c.len()).min(lo.len()).min(hi.len()))
        .map(|i| ChangePoint {
            distance: nan(&d[i]),
            change: nan(&c[i]),
            lo: nan(&lo[i]).min(nan(&c[i])),
            hi: nan(&hi[i]).max(nan(&c[i])),
        })
        .filter(|p| {
            [p.distance, p.change, p.lo, p.hi]
                .iter()
                .all(|v| v.is_finite())
        })
        .collect();
    (!pts.is_empty()).then_some(pts)
}

/// The measured evidence of the constant-covariance check, when it measured.
fn constant_covariance_measured(r: &Report) -> Option<&constant_covariance::Measured> {
    match &r.assumptions.constant_covariance.metrics {
        Evidence::ConstantCovariance(e) => match &**e {
            constant_covariance::Evidence::Measured(m) => Some(m),
            constant_covariance::Evidence::RowDominated(_) => None,
        },
        _ => None,
    }
}

/// The trajectory's stationary covariance and the discrete Lyapunov prediction (k × k).
#[derive(Debug, Clone, PartialEq)]
pub struct CovariancePair {
    pub empirical: Vec<Vec<f64>>,
    pub predicted: Vec<Vec<f64>>,
}

/// `ou_prediction.metrics.stationary_covariance.{empirical, discrete}`.
pub fn stationary_covariances(r: &Report) -> Option<CovariancePair> {
    let Evidence::OuPrediction(e) = &r.ou_prediction.metrics else {
        return None;
    };
    let s = e.stationary_covariance.as_ref()?;
    let square = |m: &Vec<Vec<f64>>| !m.is_empty() && m.iter().all(|row| row.len() == m.len());
    if !square(&s.empirical) || !square(&s.discrete) {
        return None;
    }
    let p = CovariancePair {
        empirical: s.empirical.clone(),
        predicted: s.discrete.clone(),
    };
    (p.empirical.len() == p.predicted.len() && p.empirical.len() >= 2).then_some(p)
}

/// Eigenvalues of the curvature (Hessian) matrix the checks used, and its source.
pub fn curvature_eigenvalues(r: &Report) -> Option<(String, Vec<f64>)> {
    let Evidence::QuadraticLoss(e) = &r.assumptions.quadratic_loss.metrics else {
        return None;
    };
    let c = e.curvature.as_ref()?;
    let ev = c.eigenvalues.clone();
    (!ev.is_empty() && ev.iter().all(|v| v.is_finite())).then_some((c.source.clone(), ev))
}

/// A per-coordinate screen (values, names, threshold) of the minibatch noise. The
/// Gaussian-noise check does not compute one yet (the screen of `stats::screen` runs in
/// `sgd-ou screen`), so this is `None` until its evidence carries one.
pub fn coordinate_screen(_r: &Report) -> Option<(Vec<f64>, Vec<String>, f64)> {
    None
}

/// The multivariate normality p-values (Henze–Zirkler, Mardia skewness, Mardia kurtosis).
pub fn multivariate_p_values(r: &Report) -> Option<[f64; 3]> {
    match &gaussian_evidence(r)?.multivariate {
        Multivariate::Tests(m) => {
            Some([m.henze_zirkler_p, m.mardia_skewness_p, m.mardia_kurtosis_p])
        }
        Multivariate::NotRun { .. } => None,
    }
}

/// Smallest Holm-corrected per-direction D'Agostino K² p-value of the Gaussian-noise check.
pub fn min_direction_p_value(r: &Report) -> Option<f64> {
    gaussian_evidence(r)?
        .per_direction
        .iter()
        .filter_map(|d| d.p_value_holm)
        .min_by(f64::total_cmp)
}

/// The covariance-constancy test that decided (e.g. `paired_bootstrap`, `permutation`).
pub fn covariance_test_used(r: &Report) -> Option<String> {
    constant_covariance_measured(r).map(|m| m.test_used.key().to_string())
}

/// How the interval of the primary curvature's λ_max was formed, as the small-step check
/// states it (`None` for other checks' results).
pub fn lambda_max_interval_method(c: &CheckResult) -> Option<String> {
    let cur = match &c.metrics {
        Evidence::SmallStep(e) => e.curvature(),
        _ => return None,
    };
    let primary = cur.primary.as_ref()?;
    cur.estimates
        .iter()
        .find(|e| &e.source == primary)
        .map(|e| e.interval_method.clone())
}

/// The interval method recorded on key metric `metric` of `c`, if it has an interval.
fn recorded_method(c: &CheckResult, metric: &str) -> Option<IntervalMethod> {
    c.key_metrics
        .iter()
        .find(|m| m.name == metric)?
        .ci
        .map(|ci| ci.method)
}

/// How each check's interval was computed, by key-metric name, in words, from the method the
/// key metric records (`ci.method`); these descriptions follow docs/methods.md.
pub fn interval_method(c: &CheckResult, metric: &str) -> &'static str {
    match metric {
        "minibatch_abs_skewness"
        | "minibatch_abs_excess_kurtosis"
        | "minibatch_berry_esseen_bound" => gaussian_interval(c, metric),
        "rel_covariance_deviation"
        | "top_eigenvalue_ratio"
        | "max_principal_angle_deg"
        | "covariance_sensitivity_per_sd" => match recorded_method(c, metric) {
            Some(IntervalMethod::BasicBootstrap) => {
                "basic bootstrap interval (rows resampled per checkpoint)"
            }
            Some(m) => m.describe(),
            None => "see docs/methods.md",
        },
        "lr_lambda_max" | "variance_inflation" => match recorded_method(c, metric) {
            Some(m @ (IntervalMethod::RangeOverCheckpoints | IntervalMethod::FromCurvature)) => {
                m.describe()
            }
            _ if lambda_max_interval_method(c).is_some_and(|m| m.contains("range")) => {
                "range over the checkpoints (not a confidence interval)"
            }
            _ => "interval of the curvature estimate",
        },
        "unexplained_gradient_fraction"
        | "loss_model_unexplained_fraction"
        | "probe_quadratic_error"
        | "covariance_ratio_discrete"
        | "covariance_ratio_continuous" => quadratic_or_ou_interval(c, metric),
        _ => "see docs/methods.md",
    }
}

/// The interval method a quadratic-loss or OU-prediction key metric recorded, in the words of
/// the report (each method as it applies to that check).
fn quadratic_or_ou_interval(c: &CheckResult, metric: &str) -> &'static str {
    match recorded_method(c, metric) {
        Some(IntervalMethod::PercentileBootstrap) => "percentile bootstrap over checkpoints",
        Some(IntervalMethod::MovingBlockBootstrap) => "moving-block bootstrap of the loss series",
        Some(IntervalMethod::SpreadChiSquareRange) => "interval over the loss probes",
        Some(IntervalMethod::MeanZSdOverSqrtEss) => {
            "mean ± z·sd/√ESS of the trajectory's squared distance (ESS by Geyer)"
        }
        Some(m) => m.describe(),
        None => "see docs/methods.md",
    }
}

/// The Gaussian-noise check's intervals, from the method each key metric records and the
/// route whose effect it is.
fn gaussian_interval(c: &CheckResult, metric: &str) -> &'static str {
    let m = c.key_metrics.iter().find(|m| m.name == metric);
    let Some(method) = m.and_then(|m| m.ci).map(|ci| ci.method) else {
        return "see docs/methods.md";
    };
    let route = match &c.metrics {
        Evidence::GaussianNoise(e) => Some(e.route),
        _ => None,
    };
    match (method, route) {
        (IntervalMethod::NormalBootstrapSe, Some(Route::CltPredictionAndDirect)) => {
            "simultaneous normal-approximation interval from a bootstrap SE (central-limit route at S)"
        }
        (IntervalMethod::NormalBootstrapSe, Some(Route::Direct)) => {
            "simultaneous normal-approximation interval from a bootstrap SE (direct minibatch samples)"
        }
        (other, _) => other.describe(),
    }
}
