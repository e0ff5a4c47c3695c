//! Descriptive statistics: moments, sample covariance.
//!
//! All moments are computed in two passes (mean first, then centred powers) in f64, which keeps
//! them accurate for data with a large offset relative to its spread.

use nalgebra::DMatrix;

/// Central sample moments of one sample (divisor n, as `scipy.stats.moment`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub n: usize,
    pub mean: f64,
    /// m2 = Σ(x − x̄)²/n
    pub m2: f64,
    /// m3 = Σ(x − x̄)³/n
    pub m3: f64,
    /// m4 = Σ(x − x̄)⁴/n
    pub m4: f64,
}

impl Moments {
    /// Two passes over `x`; cost O(n). An empty slice gives NaN moments.
    pub fn new(x: &[f64]) -> Self {
        let n = x.len();
        let nf = n as f64;
        let mean = x.iter().sum::<f64>() / nf;
        let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
        for &v in x {
            let d = v - mean;
            let d2 = d * d;
            m2 += d2;
            m3 += d2 * d;
            m4 += d2 * d2;
        }
        Moments {
            n,
            mean,
            m2: m2 / nf,
            m3: m3 / nf,
            m4: m4 / nf,
        }
    }

    /// Unbiased variance Σ(x − x̄)²/(n − 1).
    pub fn variance(&self) -> f64 {
        self.m2 * self.n as f64 / (self.n as f64 - 1.0)
    }

    /// Biased sample skewness g₁ = m3 / m2^{3/2} (`scipy.stats.skew`, `bias=True`).
    pub fn skewness(&self) -> f64 {
        self.m3 / self.m2.powf(1.5)
    }

    /// Biased sample excess kurtosis g₂ = m4 / m2² − 3 (`scipy.stats.kurtosis`, Fisher, `bias=True`).
    pub fn excess_kurtosis(&self) -> f64 {
        self.m4 / (self.m2 * self.m2) - 3.0
    }
}

/// Unbiased sample covariance (divisor n − 1) of the rows of `x` (n × k). Cost O(n k²).
pub fn covariance_matrix(x: &DMatrix<f64>) -> DMatrix<f64> {
    let n = x.nrows();
    let means = x.row_mean();
    let mut centred = x.clone();
    for mut row in centred.row_iter_mut() {
        row -= &means;
    }
    (centred.transpose() * &centred) / (n as f64 - 1.0)
}

/// Empirical quantile with linear interpolation between order statistics (numpy's default,
/// `method="linear"`). `sorted` must be sorted ascending and non-empty; `q` in [0, 1].
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_a_known_sample() {
        // scipy 1.17.1: scipy.stats.skew([1, 2, 3, 10]) = 1.0182337649086284,
        // scipy.stats.kurtosis([1, 2, 3, 10]) = -0.7696000000000001
        let m = Moments::new(&[1.0, 2.0, 3.0, 10.0]);
        assert!((m.mean - 4.0).abs() < 1e-15);
        assert!((m.m2 - 12.5).abs() < 1e-12);
        assert!((m.skewness() - 1.018_233_764_908_628_4).abs() < 1e-12);
        assert!((m.excess_kurtosis() - (-0.7696)).abs() < 1e-12);
    }

    #[test]
    fn quantiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&s, 0.5), 2.5);
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, 1.0), 4.0);
    }
}
