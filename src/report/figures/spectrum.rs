//! Spike plots: a spectrum (e.g. Hessian eigenvalues, sorted in decreasing order against their
//! rank) and a per-coordinate screen (one value per coordinate against its index, a threshold
//! line, values above it in a second colour and the `top` largest labelled by name).
//! Cost: O(n log n) for the sort.

use super::plot::{Corner, Hue, Layer, Plot};
use super::{check_positive, check_values, render, Figure, FigureError, FigureOptions, Label};

/// Input of [`spectrum_plot`].
#[derive(Debug, Clone)]
pub struct SpectrumInput<'a> {
    /// The eigenvalues, any order (sorted decreasingly here).
    pub values: &'a [f64],
    pub y_label: Label,
    /// Log y-axis (every value must be positive).
    pub log_y: bool,
}

/// Draws the spectrum as spikes against rank 1..n (a dashed zero line when values change sign).
///
/// # Errors
/// No values, non-finite values, or non-positive values on a log axis.
pub fn spectrum_plot(
    input: &SpectrumInput<'_>,
    opts: &FigureOptions,
) -> Result<Figure, FigureError> {
    let n = input.values.len();
    if n == 0 {
        return Err(FigureError::Empty { what: "spectrum" });
    }
    check_values("spectrum", input.values, n)?;
    if input.log_y {
        check_positive("spectrum", input.values)?;
    }
    let mut v = input.values.to_vec();
    v.sort_by(|a, b| b.total_cmp(a));
    let pts = v
        .iter()
        .enumerate()
        .map(|(i, &y)| ((i + 1) as f64, y))
        .collect();
    let mut layers = vec![Layer::Spikes {
        pts,
        hue: Hue::Blue,
        label: None,
    }];
    if v[n - 1] < 0.0 && v[0] > 0.0 {
        layers.push(Layer::HLine {
            y: 0.0,
            hue: Hue::Grey,
            label: None,
        });
    }
    let plot = Plot {
        x_label: Label::plain("rank"),
        y_label: input.y_label.clone(),
        y_log: input.log_y,
        equal: false,
        legend: Corner::NorthEast,
        layers,
    };
    render(&plot, opts, (640, 360))
}

/// Input of [`screen_plot`].
#[derive(Debug, Clone)]
pub struct ScreenInput<'a> {
    /// One value per coordinate (e.g. |skewness| or a test statistic), in coordinate order.
    pub values: &'a [f64],
    /// One name per coordinate (untrusted text; escaped in every format).
    pub names: &'a [String],
    /// The screening threshold, drawn as a dashed line.
    pub threshold: f64,
    pub threshold_label: Label,
    /// How many of the largest values to label by name.
    pub top: usize,
    pub x_label: Label,
    pub y_label: Label,
}

/// Draws the screen: spikes against coordinate index (1-based), the threshold, exceedances in
/// a second colour, the `top` largest values labelled.
///
/// # Errors
/// No values, unequal lengths of values and names, non-finite values or threshold.
pub fn screen_plot(input: &ScreenInput<'_>, opts: &FigureOptions) -> Result<Figure, FigureError> {
    let n = input.values.len();
    if n == 0 {
        return Err(FigureError::Empty { what: "screen" });
    }
    check_values("screen values", input.values, n)?;
    if input.names.len() != n {
        return Err(FigureError::Length {
            what: "screen names",
            expected: n,
            got: input.names.len(),
        });
    }
    if !input.threshold.is_finite() {
        return Err(FigureError::NotFinite {
            what: "screen threshold",
            index: 0,
        });
    }
    let pt = |i: usize| ((i + 1) as f64, input.values[i]);
    let (above, below): (Vec<usize>, Vec<usize>) =
        (0..n).partition(|&i| input.values[i] > input.threshold);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| input.values[b].total_cmp(&input.values[a]).then(a.cmp(&b)));
    let items = order
        .iter()
        .take(input.top)
        .map(|&i| (pt(i).0, pt(i).1, input.names[i].clone()))
        .collect();
    let mut layers = vec![Layer::Spikes {
        pts: below.into_iter().map(pt).collect(),
        hue: Hue::Blue,
        label: None,
    }];
    if !above.is_empty() {
        let label = Label::plain(&format!("above the threshold ({} of {n})", above.len()));
        layers.push(Layer::Spikes {
            pts: above.into_iter().map(pt).collect(),
            hue: Hue::Vermilion,
            label: Some(label),
        });
    }
    layers.push(Layer::HLine {
        y: input.threshold,
        hue: Hue::Grey,
        label: Some(input.threshold_label.clone()),
    });
    layers.push(Layer::Notes { items });
    let plot = Plot {
        x_label: input.x_label.clone(),
        y_label: input.y_label.clone(),
        y_log: false,
        equal: false,
        legend: Corner::NorthEast,
        layers,
    };
    render(&plot, opts, (640, 380))
}
