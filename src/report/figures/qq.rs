//! Q–Q plot of one direction's standardised sample against normal quantiles, with an
//! envelope from simulated normal order statistics (computed by the caller, e.g. the 2.5 % and
//! 97.5 % quantiles of each order statistic over simulated standard normal samples of the same
//! size: a pointwise 95 % envelope). Points outside the envelope are drawn in a second colour.
//! Cost: O(n log n) for sorting the sample.

use super::plot::{Corner, Hue, Layer, Plot};
use super::{check_values, render, Figure, FigureError, FigureOptions, Label};

/// Input of [`qq_plot`]; all slices have the same length n >= 2.
#[derive(Debug, Clone)]
pub struct QqInput<'a> {
    /// The standardised sample (any order; sorted here).
    pub sample: &'a [f64],
    /// Expected standard normal order statistics (or plotting positions Φ⁻¹((i − 3/8)/(n + 1/4))),
    /// ascending.
    pub theoretical: &'a [f64],
    /// Lower and upper envelope of each order statistic, ascending.
    pub envelope_lower: &'a [f64],
    pub envelope_upper: &'a [f64],
    /// Legend text of the envelope, e.g. "95 % pointwise envelope (1000 simulations)".
    pub envelope_label: Label,
    /// Axis label of the sample, e.g. "direction 3, standardised".
    pub sample_label: Label,
}

/// Draws the Q–Q plot: envelope band, the line y = x, points inside and outside the envelope.
///
/// # Errors
/// Fewer than 2 points, unequal lengths, non-finite values, or an envelope with lower > upper.
pub fn qq_plot(input: &QqInput<'_>, opts: &FigureOptions) -> Result<Figure, FigureError> {
    let n = input.sample.len();
    if n < 2 {
        return Err(FigureError::Empty { what: "Q-Q sample" });
    }
    check_values("Q-Q sample", input.sample, n)?;
    check_values("Q-Q theoretical quantiles", input.theoretical, n)?;
    check_values("Q-Q envelope (lower)", input.envelope_lower, n)?;
    check_values("Q-Q envelope (upper)", input.envelope_upper, n)?;
    if let Some(i) = (0..n).find(|&i| input.envelope_lower[i] > input.envelope_upper[i]) {
        return Err(FigureError::Invalid {
            what: "Q-Q envelope",
            reason: format!("lower bound above upper bound at order statistic {}", i + 1),
        });
    }
    let mut sorted = input.sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    let t = input.theoretical;
    let mut poly: Vec<(f64, f64)> = t
        .iter()
        .copied()
        .zip(input.envelope_lower.iter().copied())
        .collect();
    poly.extend(
        t.iter()
            .copied()
            .zip(input.envelope_upper.iter().copied())
            .rev(),
    );
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for i in 0..n {
        let p = (t[i], sorted[i]);
        if sorted[i] < input.envelope_lower[i] || sorted[i] > input.envelope_upper[i] {
            outside.push(p);
        } else {
            inside.push(p);
        }
    }
    let (lo, hi) = (t[0].min(sorted[0]), t[n - 1].max(sorted[n - 1]));
    let mut layers = vec![
        Layer::Band {
            poly,
            hue: Hue::Blue,
            label: Some(input.envelope_label.clone()),
        },
        Layer::Line {
            pts: vec![(lo, lo), (hi, hi)],
            hue: Hue::Grey,
            dashed: true,
            label: None,
        },
        Layer::Points {
            pts: inside,
            hue: Hue::Blue,
            label: Some(Label::plain("sample")),
        },
    ];
    if !outside.is_empty() {
        let label = Label::plain(&format!("outside the envelope ({} of {n})", outside.len()));
        layers.push(Layer::Points {
            pts: outside,
            hue: Hue::Vermilion,
            label: Some(label),
        });
    }
    let plot = Plot {
        x_label: Label::plain("standard normal quantile"),
        y_label: input.sample_label.clone(),
        y_log: false,
        equal: false,
        legend: Corner::SouthEast,
        layers,
    };
    render(&plot, opts, (640, 440))
}
