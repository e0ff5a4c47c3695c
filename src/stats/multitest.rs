//! Multiple-testing corrections: adjusted p-values.
//!
//! All methods return adjusted p-values in the input order, computed exactly as
//! `statsmodels.stats.multitest.multipletests(p, method=NAME)` (statsmodels 0.15.0,
//! `statsmodels/stats/multitest.py`) with the method named explicitly; the committed reference
//! values are in `tests/reference/multivariate.json` (section `multitest`) and are asserted to
//! 1e-12 relative in `tests/reference/stats_multivariate.rs`.
//!
//! Notation: m p-values sorted as p₍₁₎ ≤ … ≤ p₍ₘ₎; every adjusted value is capped at 1.
//!
//! | method | adjusted p₍ᵢ₎ | controls | valid under |
//! | --- | --- | --- | --- |
//! | Bonferroni | m·p₍ᵢ₎ | FWER | any dependence |
//! | Holm (1979) | max_{j≤i} (m − j + 1)·p₍ⱼ₎ | FWER | any dependence |
//! | Hochberg (1988) | min_{j≥i} (m − j + 1)·p₍ⱼ₎ | FWER | independence / PRDS |
//! | Benjamini–Hochberg (1995) | min_{j≥i} m·p₍ⱼ₎/j | FDR | independence / PRDS |
//! | Benjamini–Yekutieli (2001) | min_{j≥i} c(m)·m·p₍ⱼ₎/j, c(m) = Σ_{i=1}^{m} 1/i | FDR | any dependence |
//!
//! Use Holm for a yes/no verdict over projections of one data set (their dependence is
//! arbitrary); use BY, or BH flagged as approximate, for "what fraction of coordinates look
//! non-normal". Ties in the input do not change the result (the adjusted values of tied p-values
//! are equal under every method above).

use super::StatsError;

/// Correction method, named as in `statsmodels.stats.multitest.multipletests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `"bonferroni"`: min(1, m·p). FWER under any dependence.
    Bonferroni,
    /// `"holm"`: step-down Holm (1979). FWER under any dependence.
    Holm,
    /// `"simes-hochberg"`: step-up Hochberg (1988). FWER under independence or PRDS.
    Hochberg,
    /// `"fdr_bh"`: Benjamini & Hochberg (1995). FDR under independence or PRDS.
    BenjaminiHochberg,
    /// `"fdr_by"`: Benjamini & Yekutieli (2001). FDR under any dependence.
    BenjaminiYekutieli,
}

impl Method {
    /// The `method=` string of `statsmodels.stats.multitest.multipletests` for this method.
    pub fn statsmodels_name(self) -> &'static str {
        match self {
            Method::Bonferroni => "bonferroni",
            Method::Holm => "holm",
            Method::Hochberg => "simes-hochberg",
            Method::BenjaminiHochberg => "fdr_bh",
            Method::BenjaminiYekutieli => "fdr_by",
        }
    }
}

/// Adjusted p-values in the input order.
///
/// Formulas (p₍₁₎ ≤ … ≤ p₍ₘ₎ the sorted input, all results capped at 1):
/// * Bonferroni: m·pᵢ;
/// * Holm: p̃₍ᵢ₎ = max_{j ≤ i} (m − j + 1)·p₍ⱼ₎;
/// * Hochberg: p̃₍ᵢ₎ = min_{j ≥ i} (m − j + 1)·p₍ⱼ₎;
/// * Benjamini–Hochberg: p̃₍ᵢ₎ = min_{j ≥ i} m·p₍ⱼ₎/j;
/// * Benjamini–Yekutieli: the BH value times c(m) = Σ_{i=1}^{m} 1/i.
///
/// Reference: Holm (1979) *Scand. J. Stat.* 6:65–70; Hochberg (1988) *Biometrika* 75:800–802;
/// Benjamini & Hochberg (1995) *JRSS-B* 57:289–300; Benjamini & Yekutieli (2001) *Ann. Stat.*
/// 29:1165–1188. Checked against `statsmodels.stats.multitest.multipletests` 0.15.0 with
/// `method=` [`Method::statsmodels_name`] to 1e-12 relative.
///
/// Cost: O(m log m) time (one sort), O(m) memory. An empty input gives an empty output.
///
/// # Errors
/// [`StatsError::InvalidArgument`] when any p-value is NaN or outside [0, 1].
pub fn adjust(p: &[f64], method: Method) -> Result<Vec<f64>, StatsError> {
    if p.iter().any(|v| !v.is_finite() || !(0.0..=1.0).contains(v)) {
        return Err(StatsError::InvalidArgument(
            "p-values must lie in [0, 1]".into(),
        ));
    }
    let m = p.len();
    let mf = m as f64;
    if method == Method::Bonferroni {
        return Ok(p.iter().map(|v| (v * mf).min(1.0)).collect());
    }
    // Ascending order; ties broken by position so the result is deterministic.
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut out = vec![0.0; m];
    if method == Method::Holm {
        // Step-down: running maximum from the smallest p upwards.
        let mut running: f64 = 0.0;
        for (rank, &i) in order.iter().enumerate() {
            let v = ((mf - rank as f64) * p[i]).min(1.0);
            running = running.max(v);
            out[i] = running;
        }
    } else {
        // Step-up (Hochberg, BH, BY): running minimum from the largest p downwards.
        let c_m = if method == Method::BenjaminiYekutieli {
            (1..=m).map(|i| 1.0 / i as f64).sum::<f64>()
        } else {
            1.0
        };
        let mut running = f64::INFINITY;
        for (rank, &i) in order.iter().enumerate().rev() {
            let j = (rank + 1) as f64; // 1-based rank
            let raw = if method == Method::Hochberg {
                (mf - j + 1.0) * p[i]
            } else {
                p[i] * mf / j * c_m
            };
            running = running.min(raw);
            out[i] = running.min(1.0);
        }
    }
    Ok(out)
}

/// Holm (1979) adjusted p-values of the given p-values as the smallest of a family of `m` ≥
/// `p.len()` hypotheses whose other p-values are not given: ranked among themselves (ties by
/// position), p_(i) gets max_{j ≤ i} min(1, (m − j + 1)·p_(j)). When every p-value left out is
/// at least max(p) this equals [`adjust`] with [`Method::Holm`] on the whole family, for the
/// given entries (the left-out ones rank after them); with m = `p.len()` it is that adjustment.
/// Used by the every-coordinate screen, which keeps only the smallest p-values of each group
/// when d is large.
///
/// Cost: O(len log len) time, O(len) memory.
///
/// # Errors
/// [`StatsError::InvalidArgument`] when a p-value is NaN or outside [0, 1], or m < `p.len()`.
pub fn holm_smallest(p: &[f64], m: usize) -> Result<Vec<f64>, StatsError> {
    if m < p.len() {
        return Err(StatsError::InvalidArgument(format!(
            "a family of {m} hypotheses cannot hold {} p-values",
            p.len()
        )));
    }
    if p.iter().any(|v| !v.is_finite() || !(0.0..=1.0).contains(v)) {
        return Err(StatsError::InvalidArgument(
            "p-values must lie in [0, 1]".into(),
        ));
    }
    let mf = m as f64;
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut out = vec![0.0; p.len()];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((mf - rank as f64) * p[i]).min(1.0));
        out[i] = running;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the whole family it is Holm bit for bit; with only the smallest given (the rest at
    /// least their maximum) it equals Holm on the whole family for them.
    #[test]
    fn holm_smallest_is_holm_on_the_whole_family() {
        let mut state = 5u64;
        let p: Vec<f64> = (0..500)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((state >> 11) as f64 / (1u64 << 53) as f64).powi(3)
            })
            .collect();
        let full = adjust(&p, Method::Holm).unwrap();
        assert_eq!(holm_smallest(&p, p.len()).unwrap(), full);
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
        let kept: Vec<f64> = order[..200].iter().map(|&i| p[i]).collect();
        let part = holm_smallest(&kept, p.len()).unwrap();
        for (r, &i) in order[..200].iter().enumerate() {
            assert_eq!(part[r], full[i], "rank {r}");
        }
        assert!(part.iter().any(|&v| v < 1.0) && part.contains(&1.0));
        assert!(holm_smallest(&p, 499).is_err());
        assert!(holm_smallest(&[0.5, f64::NAN], 9).is_err());
    }

    #[test]
    fn rejects_out_of_range_p() {
        assert!(adjust(&[0.1, 1.5], Method::Holm).is_err());
        assert!(adjust(&[f64::NAN], Method::BenjaminiHochberg).is_err());
        assert!(adjust(&[-0.1], Method::Bonferroni).is_err());
    }

    #[test]
    fn empty_input_gives_empty_output() {
        for m in [
            Method::Bonferroni,
            Method::Holm,
            Method::Hochberg,
            Method::BenjaminiHochberg,
            Method::BenjaminiYekutieli,
        ] {
            assert!(adjust(&[], m).unwrap().is_empty());
        }
    }

    #[test]
    fn hand_computed_three_values() {
        // p = (0.01, 0.04, 0.03), m = 3. Sorted: 0.01, 0.03, 0.04.
        // Hochberg: min over j ≥ i of (m − j + 1)p₍ⱼ₎: 0.04·1 = 0.04, min(0.03·2, 0.04) = 0.04,
        // min(0.01·3, 0.04) = 0.03.
        let h = adjust(&[0.01, 0.04, 0.03], Method::Hochberg).unwrap();
        assert_eq!(h, vec![0.03, 0.04, 0.04]);
        // BH: m p/j: 0.03, 0.045, 0.04 → step-up min: 0.03, 0.04, 0.04.
        let bh = adjust(&[0.01, 0.04, 0.03], Method::BenjaminiHochberg).unwrap();
        for (a, b) in bh.iter().zip([0.03, 0.04, 0.04]) {
            assert!((a - b).abs() < 1e-15);
        }
    }
}
