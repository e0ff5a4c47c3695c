//! Multiple-testing corrections: adjusted p-values.

use super::StatsError;

/// Correction method, named as in `statsmodels.stats.multitest.multipletests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `"bonferroni"`: min(1, m·p).
    Bonferroni,
    /// `"holm"`: step-down, valid under arbitrary dependence.
    Holm,
}

/// Adjusted p-values in the input order.
///
/// Holm: with p₍₁₎ ≤ … ≤ p₍ₘ₎, p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎). Cost O(m log m).
pub fn adjust(p: &[f64], method: Method) -> Result<Vec<f64>, StatsError> {
    if p.iter().any(|v| !v.is_finite() || !(0.0..=1.0).contains(v)) {
        return Err(StatsError::InvalidArgument(
            "p-values must lie in [0, 1]".into(),
        ));
    }
    let m = p.len() as f64;
    match method {
        Method::Bonferroni => Ok(p.iter().map(|v| (v * m).min(1.0)).collect()),
        Method::Holm => {
            let mut order: Vec<usize> = (0..p.len()).collect();
            order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
            let mut out = vec![0.0; p.len()];
            let mut running: f64 = 0.0;
            for (rank, &i) in order.iter().enumerate() {
                let v = ((m - rank as f64) * p[i]).min(1.0);
                running = running.max(v);
                out[i] = running;
            }
            Ok(out)
        }
    }
}
