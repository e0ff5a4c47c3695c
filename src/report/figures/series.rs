//! Quantities against training step (noise-to-signal ratio, ‖g‖², loss) with the analysis
//! window shaded, on a linear or log y-axis. Long series are thinned to at most
//! [`MAX_POINTS`] points per line (every k-th point, ends kept). Cost: O(n) per series.

use super::plot::{thin, Corner, Hue, Layer, Plot};
use super::{check_positive, check_values, render, Figure, FigureError, FigureOptions, Label};

/// Most points drawn per line.
pub const MAX_POINTS: usize = 2000;

/// One named series, with one value per step.
#[derive(Debug, Clone)]
pub struct NamedSeries<'a> {
    pub name: Label,
    pub values: &'a [f64],
}

/// Input of [`series_plot`].
#[derive(Debug, Clone)]
pub struct SeriesInput<'a> {
    /// Steps (x), n >= 2 values.
    pub steps: &'a [f64],
    /// One or more series (at most 4), each with n values.
    pub series: &'a [NamedSeries<'a>],
    pub y_label: Label,
    /// The analysis window `[first, last]` step, shaded.
    pub window: Option<(f64, f64)>,
    /// Log y-axis (every value must be positive).
    pub log_y: bool,
}

const HUES: [Hue; 4] = [Hue::Blue, Hue::Orange, Hue::Green, Hue::Vermilion];

/// Draws the series against step.
///
/// # Errors
/// Fewer than 2 steps, no series or more than 4, unequal lengths, non-finite values,
/// non-positive values on a log axis, or a window with first > last.
pub fn series_plot(input: &SeriesInput<'_>, opts: &FigureOptions) -> Result<Figure, FigureError> {
    let n = input.steps.len();
    if n < 2 || input.series.is_empty() {
        return Err(FigureError::Empty { what: "series" });
    }
    if input.series.len() > HUES.len() {
        return Err(FigureError::Invalid {
            what: "series",
            reason: format!(
                "at most {} series per plot, got {}",
                HUES.len(),
                input.series.len()
            ),
        });
    }
    check_values("steps", input.steps, n)?;
    let mut layers = Vec::new();
    if let Some((a, b)) = input.window {
        if !(a.is_finite() && b.is_finite() && a <= b) {
            return Err(FigureError::Invalid {
                what: "analysis window",
                reason: format!("[{a}, {b}] is not an interval"),
            });
        }
        layers.push(Layer::XSpan {
            from: a,
            to: b,
            label: Label::plain("analysis window"),
        });
    }
    let labelled = input.series.len() > 1;
    for (s, hue) in input.series.iter().zip(HUES) {
        check_values("series values", s.values, n)?;
        if input.log_y {
            check_positive("series values", s.values)?;
        }
        let pts = input
            .steps
            .iter()
            .copied()
            .zip(s.values.iter().copied())
            .collect();
        layers.push(Layer::Line {
            pts: thin(pts, MAX_POINTS),
            hue,
            dashed: false,
            label: labelled.then(|| s.name.clone()),
        });
    }
    let plot = Plot {
        x_label: Label::plain("step"),
        y_label: input.y_label.clone(),
        y_log: input.log_y,
        equal: false,
        legend: Corner::NorthEast,
        layers,
    };
    render(&plot, opts, (640, 360))
}
