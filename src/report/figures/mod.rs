//! Paper figures from plain data: each kind returns an SVG document (for report.html and the
//! docs) and the same figure as pgfplots/TikZ code with its `.dat` data files (vector figures
//! that compile with any TeX Live, no fonts needed on the reader's machine).
//!
//! Kinds: [`qq`] (Q–Q plot of one direction with a simulated envelope), [`series`] (quantities
//! against step with the analysis window shaded), [`scatter`] (covariance change against
//! distance, with interval bars), [`ellipses`] (observed against predicted covariance in two
//! leading directions) and [`spectrum`] (a spectrum and a per-coordinate screen).
//!
//! Every kind validates its input (lengths, finiteness, positivity on a log axis) and builds a
//! small [`plot::Plot`] description that two renderers draw: [`svg`] (plotters' SVG backend; its
//! text is `<text>` elements sized by plotters' built-in estimate, so no font files or
//! fontconfig are needed) and [`tikz`]. Output is deterministic: the same input gives the same
//! bytes. Untrusted text (names, labels) is escaped by the renderers: XML-escaped in SVG,
//! [`crate::report::escape::latex_text`] in TikZ.
//!
//! The TikZ code needs `\usepackage{pgfplots}` and `\pgfplotsset{compat=1.16}` (or newer) in the
//! document preamble; it is sized to `\linewidth`, so it fits a column in two-column layouts.

pub mod ellipses;
pub(crate) mod plot;
pub mod qq;
pub mod scatter;
pub mod series;
pub mod spectrum;
mod svg;
mod tikz;

use thiserror::Error;

/// A figure as pgfplots/TikZ code plus the data files its `\addplot table` commands read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TikzFigure {
    /// A `tikzpicture` environment, to be `\input` inside a `figure`.
    pub tex: String,
    /// `(file name, contents)`; the file names are those the code reads, relative to the
    /// directory given by [`FigureOptions::data_dir`].
    pub data_files: Vec<(String, String)>,
}

/// One figure in both forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// A standalone SVG document (can also be inlined in HTML).
    pub svg: String,
    pub tikz: TikzFigure,
}

/// Where a figure's data files live and how they are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureOptions {
    /// File-name stem of the data files (`{name}-{k}.dat`); reduced to safe characters.
    pub name: String,
    /// Prefix of the data-file paths in the TikZ code as seen from the directory where LaTeX
    /// runs, e.g. `"figures/"`; empty for the same directory.
    pub data_dir: String,
}

impl FigureOptions {
    /// Options with data files named `{name}-{k}.dat` in the LaTeX working directory.
    pub fn named(name: &str) -> Self {
        FigureOptions {
            name: name.into(),
            data_dir: String::new(),
        }
    }
}

/// A piece of text shown in a figure: plain text (escaped for each format) and, optionally,
/// a trusted LaTeX form used verbatim in TikZ (e.g. math for `‖g‖²`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub plain: String,
    pub tex: Option<String>,
}

impl Label {
    /// Plain (possibly untrusted) text, escaped in every format.
    pub fn plain(s: &str) -> Self {
        Label {
            plain: s.into(),
            tex: None,
        }
    }

    /// Text with a trusted LaTeX form (written by the program, never from input).
    pub fn with_tex(plain: &str, tex: &str) -> Self {
        Label {
            plain: plain.into(),
            tex: Some(tex.into()),
        }
    }
}

impl From<&str> for Label {
    fn from(s: &str) -> Self {
        Label::plain(s)
    }
}

/// Why a figure could not be drawn from its input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FigureError {
    #[error("{what}: no data to plot")]
    Empty { what: &'static str },
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what}: value {index} is not finite")]
    NotFinite { what: &'static str, index: usize },
    #[error("{what}: value {index} is not positive, so it cannot go on a log axis")]
    NotPositive { what: &'static str, index: usize },
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("drawing the SVG failed: {0}")]
    Draw(String),
}

/// Checks that `values` has `expected` finite entries.
pub(crate) fn check_values(
    what: &'static str,
    values: &[f64],
    expected: usize,
) -> Result<(), FigureError> {
    if values.len() != expected {
        return Err(FigureError::Length {
            what,
            expected,
            got: values.len(),
        });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(FigureError::NotFinite { what, index }),
        None => Ok(()),
    }
}

/// Checks that every value is positive (for a log axis).
pub(crate) fn check_positive(what: &'static str, values: &[f64]) -> Result<(), FigureError> {
    match values.iter().position(|v| *v <= 0.0) {
        Some(index) => Err(FigureError::NotPositive { what, index }),
        None => Ok(()),
    }
}

/// Renders a plot description in both forms.
pub(crate) fn render(
    plot: &plot::Plot,
    opts: &FigureOptions,
    size: (u32, u32),
) -> Result<Figure, FigureError> {
    Ok(Figure {
        svg: svg::render(plot, size)?,
        tikz: tikz::render(plot, opts),
    })
}
