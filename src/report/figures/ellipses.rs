//! The trajectory's covariance against a predicted covariance (e.g. the Lyapunov solution of
//! the OU model) in two leading directions: the projected iterates as points and, for each 2×2
//! covariance Σ, the ellipse {x : xᵀ Σ⁻¹ x = r²} with r² = −2 ln(1 − c), the χ²₂ quantile at
//! coverage c (so a Gaussian with covariance Σ puts mass c inside). The ellipse is drawn as
//! x = r L (cos θ, sin θ) with L the Cholesky factor of Σ, at [`ELLIPSE_POINTS`] angles.
//! Both axes share one scale. Cost: O(n + ELLIPSE_POINTS).

use super::plot::{Corner, Hue, Layer, Plot};
use super::{render, Figure, FigureError, FigureOptions, Label};

/// Vertices of each drawn ellipse.
pub const ELLIPSE_POINTS: usize = 121;

/// Input of [`ellipse_plot`]; coordinates are relative to the mean iterate.
#[derive(Debug, Clone)]
pub struct EllipseInput<'a> {
    /// Covariance of the trajectory in the two directions (symmetric positive definite).
    pub observed: [[f64; 2]; 2],
    /// Predicted covariance in the same directions (symmetric positive definite).
    pub predicted: [[f64; 2]; 2],
    /// Projected iterates (may be empty).
    pub points: &'a [[f64; 2]],
    /// Probability mass inside each ellipse, in (0, 1), e.g. 0.95.
    pub coverage: f64,
    pub x_label: Label,
    pub y_label: Label,
    pub observed_label: Label,
    pub predicted_label: Label,
}

/// Lower Cholesky factor of a symmetric positive definite 2×2 matrix.
fn cholesky2(what: &'static str, m: [[f64; 2]; 2]) -> Result<[[f64; 2]; 2], FigureError> {
    let flat = [m[0][0], m[0][1], m[1][0], m[1][1]];
    if let Some(index) = flat.iter().position(|v| !v.is_finite()) {
        return Err(FigureError::NotFinite { what, index });
    }
    let scale = m[0][0].abs().max(m[1][1].abs());
    if (m[0][1] - m[1][0]).abs() > 1e-9 * scale {
        return Err(FigureError::Invalid {
            what,
            reason: "the matrix is not symmetric".into(),
        });
    }
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    if m[0][0] <= 0.0 || det <= 0.0 {
        return Err(FigureError::Invalid {
            what,
            reason: "the matrix is not positive definite".into(),
        });
    }
    let l11 = m[0][0].sqrt();
    let l21 = m[1][0] / l11;
    Ok([[l11, 0.0], [l21, (m[1][1] - l21 * l21).max(0.0).sqrt()]])
}

/// Vertices of the ellipse of radius `r` for the Cholesky factor `l`.
pub(crate) fn ellipse(l: [[f64; 2]; 2], r: f64) -> Vec<(f64, f64)> {
    (0..ELLIPSE_POINTS)
        .map(|k| {
            let t = std::f64::consts::TAU * k as f64 / (ELLIPSE_POINTS - 1) as f64;
            let (c, s) = (t.cos(), t.sin());
            (r * l[0][0] * c, r * (l[1][0] * c + l[1][1] * s))
        })
        .collect()
}

/// Draws the points and both ellipses on equal axes.
///
/// # Errors
/// A matrix that is not finite, symmetric and positive definite; coverage outside (0, 1);
/// non-finite points.
pub fn ellipse_plot(input: &EllipseInput<'_>, opts: &FigureOptions) -> Result<Figure, FigureError> {
    let obs = cholesky2("observed covariance", input.observed)?;
    let pred = cholesky2("predicted covariance", input.predicted)?;
    if !(input.coverage > 0.0 && input.coverage < 1.0) {
        return Err(FigureError::Invalid {
            what: "ellipse coverage",
            reason: format!("{} is not in (0, 1)", input.coverage),
        });
    }
    if let Some(index) = input
        .points
        .iter()
        .position(|p| !(p[0].is_finite() && p[1].is_finite()))
    {
        return Err(FigureError::NotFinite {
            what: "projected iterate",
            index,
        });
    }
    let r = (-2.0 * (1.0 - input.coverage).ln()).sqrt();
    let mut layers = Vec::new();
    if !input.points.is_empty() {
        let pts = input.points.iter().map(|p| (p[0], p[1])).collect();
        layers.push(Layer::Points {
            pts,
            hue: Hue::Grey,
            label: Some(Label::plain("iterates")),
        });
    }
    layers.push(Layer::Line {
        pts: ellipse(obs, r),
        hue: Hue::Blue,
        dashed: false,
        label: Some(input.observed_label.clone()),
    });
    layers.push(Layer::Line {
        pts: ellipse(pred, r),
        hue: Hue::Vermilion,
        dashed: true,
        label: Some(input.predicted_label.clone()),
    });
    let plot = Plot {
        x_label: input.x_label.clone(),
        y_label: input.y_label.clone(),
        y_log: false,
        equal: true,
        legend: Corner::NorthEast,
        layers,
    };
    render(&plot, opts, (520, 520))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipse_satisfies_its_quadratic_form() {
        let m = [[2.0, 0.6], [0.6, 1.0]];
        let l = cholesky2("m", m).unwrap();
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        for (x, y) in ellipse(l, 1.5) {
            // xᵀ Σ⁻¹ x with Σ⁻¹ = [[d, -b], [-b, a]] / det.
            let q = (m[1][1] * x * x - 2.0 * m[0][1] * x * y + m[0][0] * y * y) / det;
            assert!((q - 2.25).abs() < 1e-12, "{q}");
        }
    }

    #[test]
    fn rejects_indefinite_and_asymmetric() {
        assert!(cholesky2("m", [[1.0, 2.0], [2.0, 1.0]]).is_err());
        assert!(cholesky2("m", [[1.0, 0.1], [0.0, 1.0]]).is_err());
        assert!(cholesky2("m", [[f64::NAN, 0.0], [0.0, 1.0]]).is_err());
    }
}
