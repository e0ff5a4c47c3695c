//! Scatter of one quantity against another with a vertical interval per point, e.g. the
//! change of the noise covariance against the distance of the iterate from its mean (binned),
//! with each bin's confidence interval, and an optional horizontal reference line (0 = no
//! change). Cost: O(n).

use super::plot::{Corner, Hue, Layer, Plot};
use super::{render, Figure, FigureError, FigureOptions, Label};

/// A point with its interval `lower <= y <= upper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalPoint {
    pub x: f64,
    pub y: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Input of [`scatter_plot`].
#[derive(Debug, Clone)]
pub struct ScatterInput<'a> {
    pub points: &'a [IntervalPoint],
    pub x_label: Label,
    pub y_label: Label,
    /// Legend text of the intervals, e.g. "estimate, 95 % bootstrap interval".
    pub interval_label: Label,
    /// A horizontal reference line and its legend text.
    pub reference: Option<(f64, Label)>,
}

/// Draws the points with interval bars and the reference line.
///
/// # Errors
/// No points, non-finite values, or a point outside its interval.
pub fn scatter_plot(input: &ScatterInput<'_>, opts: &FigureOptions) -> Result<Figure, FigureError> {
    if input.points.is_empty() {
        return Err(FigureError::Empty {
            what: "scatter points",
        });
    }
    for (index, p) in input.points.iter().enumerate() {
        if ![p.x, p.y, p.lower, p.upper].iter().all(|v| v.is_finite()) {
            return Err(FigureError::NotFinite {
                what: "scatter point",
                index,
            });
        }
        if !(p.lower <= p.y && p.y <= p.upper) {
            return Err(FigureError::Invalid {
                what: "scatter point",
                reason: format!("point {} lies outside its interval", index + 1),
            });
        }
    }
    let mut layers = Vec::new();
    if let Some((y, label)) = &input.reference {
        if !y.is_finite() {
            return Err(FigureError::NotFinite {
                what: "reference line",
                index: 0,
            });
        }
        layers.push(Layer::HLine {
            y: *y,
            hue: Hue::Grey,
            label: Some(label.clone()),
        });
    }
    layers.push(Layer::ErrorBars {
        pts: input
            .points
            .iter()
            .map(|p| (p.x, p.y, p.lower, p.upper))
            .collect(),
        hue: Hue::Blue,
        label: Some(input.interval_label.clone()),
    });
    let plot = Plot {
        x_label: input.x_label.clone(),
        y_label: input.y_label.clone(),
        y_log: false,
        equal: false,
        legend: Corner::NorthWest,
        layers,
    };
    render(&plot, opts, (640, 400))
}
