//! Typed views of the check evidence the report layer reads.
//!
//! `CheckResult::metrics` is still free-form JSON (issue 12 makes it typed); every read of it by
//! the report formats and figures goes through the small accessors here, so the typed refactor
//! changes this one file. Each accessor returns `None` when the evidence is absent (a check that
//! was inconclusive, an older report) or malformed; the callers then leave the figure or
//! sentence out. Cost: O(size of the evidence read).

use serde_json::Value;

use super::Report;
use crate::checks::{CheckResult, Evidence, IntervalMethod};

fn f64s(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?
        .iter()
        .map(|x| {
            x.as_f64()
                .or(if x.is_null() { Some(f64::NAN) } else { None })
        })
        .collect()
}

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

/// `gaussian_noise.metrics.qq_worst_direction`.
pub fn qq_worst_direction(r: &Report) -> Option<QqData> {
    let m = r.assumptions.gaussian_noise.metrics.to_json();
    let q = &m["qq_worst_direction"];
    let d = QqData {
        direction: q["direction"].as_u64()? as usize,
        theoretical: f64s(&q["theoretical"])?,
        sample: f64s(&q["sample"])?,
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
    let m = r.assumptions.constant_covariance.metrics.to_json();
    let p = &m["plot_change_vs_distance"];
    let (d, c) = (f64s(&p["distance"])?, f64s(&p["rel_change"])?);
    let (lo, hi) = (f64s(&p["rel_change_lo"])?, f64s(&p["rel_change_hi"])?);
    let pts: Vec<ChangePoint> = (0..d.len().min(c.len()).min(lo.len()).min(hi.len()))
        .map(|i| ChangePoint {
            distance: d[i],
            change: c[i],
            lo: lo[i].min(c[i]),
            hi: hi[i].max(c[i]),
        })
        .filter(|p| {
            [p.distance, p.change, p.lo, p.hi]
                .iter()
                .all(|v| v.is_finite())
        })
        .collect();
    (!pts.is_empty()).then_some(pts)
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

/// A per-coordinate screen (values, names, threshold) when a check reports one under
/// `metrics.coordinate_screen` (`values`, `names`, `threshold`).
pub fn coordinate_screen(r: &Report) -> Option<(Vec<f64>, Vec<String>, f64)> {
    let m = r.assumptions.gaussian_noise.metrics.to_json();
    let s = &m["coordinate_screen"];
    let values = f64s(&s["values"])?;
    let names = s["names"]
        .as_array()?
        .iter()
        .map(|n| n.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    let t = s["threshold"].as_f64()?;
    (values.len() == names.len() && !values.is_empty()).then_some((values, names, t))
}

/// The multivariate normality p-values (Henze–Zirkler, Mardia skewness, Mardia kurtosis).
pub fn multivariate_p_values(r: &Report) -> Option<[f64; 3]> {
    let mm = r.assumptions.gaussian_noise.metrics.to_json();
    let m = &mm["multivariate"];
    Some([
        m["henze_zirkler_p"].as_f64()?,
        m["mardia_skewness_p"].as_f64()?,
        m["mardia_kurtosis_p"].as_f64()?,
    ])
}

/// Smallest Holm-corrected per-direction D'Agostino K² p-value of the Gaussian-noise check.
pub fn min_direction_p_value(r: &Report) -> Option<f64> {
    r.assumptions.gaussian_noise.metrics.to_json()["per_direction"]
        .as_array()?
        .iter()
        .filter_map(|d| d["p_value_holm"].as_f64())
        .min_by(f64::total_cmp)
}

/// The covariance-constancy test that decided (e.g. `paired_bootstrap`, `permutation`).
pub fn covariance_test_used(r: &Report) -> Option<String> {
    r.assumptions.constant_covariance.metrics.to_json()["test_used"]
        .as_str()
        .map(str::to_string)
}

/// How the interval of the primary curvature's λ_max was formed, as the check states it.
pub fn lambda_max_interval_method(c: &CheckResult) -> Option<String> {
    let cur = &c.metrics.to_json()["curvature"];
    let primary = cur["primary"].as_str()?;
    cur["estimates"]
        .as_array()?
        .iter()
        .find(|e| e["source"].as_str() == Some(primary))?["interval_method"]
        .as_str()
        .map(str::to_string)
}

/// How each check's interval was computed, by key-metric name, in words. The schema records
/// `ci.method: "unrecorded"` for now; these descriptions follow docs/methods.md.
pub fn interval_method(c: &CheckResult, metric: &str) -> &'static str {
    match metric {
        "minibatch_abs_skewness" | "minibatch_abs_excess_kurtosis" | "minibatch_berry_esseen_bound" => {
            "simultaneous normal-approximation interval from a bootstrap SE (central-limit route at S)"
        }
        "rel_covariance_deviation" | "top_eigenvalue_ratio" | "max_principal_angle_deg"
        | "covariance_sensitivity_per_sd" => "basic bootstrap interval (rows resampled per checkpoint)",
        "lr_lambda_max" | "variance_inflation" => {
            if lambda_max_interval_method(c).is_some_and(|m| m.contains("range")) {
                "range over the checkpoints (not a confidence interval)"
            } else {
                "interval of the curvature estimate"
            }
        }
        "unexplained_gradient_fraction"
        | "loss_model_unexplained_fraction"
        | "probe_quadratic_error"
        | "covariance_ratio_discrete"
        | "covariance_ratio_continuous" => recorded_method(c, metric),
        _ => "see docs/methods.md",
    }
}

/// The interval method a quadratic-loss or OU-prediction key metric recorded, in the words of
/// the report (each method as it applies to that check).
fn recorded_method(c: &CheckResult, metric: &str) -> &'static str {
    let method = c
        .key_metrics
        .iter()
        .find(|m| m.name == metric)
        .and_then(|m| m.ci)
        .map(|ci| ci.method);
    match method {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_entries_read_as_nan_and_ragged_matrices_are_refused() {
        let v = serde_json::json!([1.0, null, 2]);
        let x = f64s(&v).unwrap();
        assert!(x[1].is_nan() && x[2] == 2.0);
        assert!(f64s(&serde_json::json!(["a"])).is_none());
    }
}
