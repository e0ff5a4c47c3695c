//! The plot description shared by the SVG and TikZ renderers.

use super::Label;

/// A colour of the figure palette (colour-blind-safe Okabe–Ito hues).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hue {
    Blue,
    Orange,
    Vermilion,
    Green,
    Grey,
}

impl Hue {
    /// 8-bit sRGB components.
    pub(crate) fn rgb(self) -> (u8, u8, u8) {
        match self {
            Hue::Blue => (0, 114, 178),
            Hue::Orange => (230, 159, 0),
            Hue::Vermilion => (213, 94, 0),
            Hue::Green => (0, 158, 115),
            Hue::Grey => (120, 120, 120),
        }
    }
}

/// One drawn layer, in data coordinates.
#[derive(Debug, Clone)]
pub(crate) enum Layer {
    /// A shaded vertical band over the full height, `from <= x <= to`.
    XSpan { from: f64, to: f64, label: Label },
    /// A filled polygon.
    Band {
        poly: Vec<(f64, f64)>,
        hue: Hue,
        label: Option<Label>,
    },
    Line {
        pts: Vec<(f64, f64)>,
        hue: Hue,
        dashed: bool,
        label: Option<Label>,
    },
    Points {
        pts: Vec<(f64, f64)>,
        hue: Hue,
        label: Option<Label>,
    },
    /// Points `(x, y)` with vertical interval bars `[lo, hi]`.
    ErrorBars {
        pts: Vec<(f64, f64, f64, f64)>,
        hue: Hue,
        label: Option<Label>,
    },
    /// Vertical spikes from the bottom of the value range (0, or the axis minimum on a log
    /// axis) to each point.
    Spikes {
        pts: Vec<(f64, f64)>,
        hue: Hue,
        label: Option<Label>,
    },
    /// A horizontal line across the plot.
    HLine {
        y: f64,
        hue: Hue,
        label: Option<Label>,
    },
    /// Text placed just above and right of a point (untrusted text allowed).
    Notes { items: Vec<(f64, f64, String)> },
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corner {
    NorthWest,
    NorthEast,
    SouthEast,
}

/// A 2-D plot: axes, layers drawn in order, legend.
#[derive(Debug, Clone)]
pub(crate) struct Plot {
    pub x_label: Label,
    pub y_label: Label,
    pub y_log: bool,
    /// Equal scales on both axes (the renderers draw a square plot with equal spans).
    pub equal: bool,
    pub legend: Corner,
    pub layers: Vec<Layer>,
}

/// Axis limits of a plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl Plot {
    /// Data bounds over all layers, padded by 5 % of the span on each side (in log space for
    /// a log axis); a zero span is widened by one unit (a factor of 10 on a log axis).
    pub(crate) fn limits(&self) -> Limits {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for layer in &self.layers {
            match layer {
                Layer::XSpan { from, to, .. } => xs.extend([*from, *to]),
                Layer::Band { poly: pts, .. }
                | Layer::Line { pts, .. }
                | Layer::Points { pts, .. } => push_pts(pts, &mut xs, &mut ys),
                Layer::Spikes { pts, .. } => {
                    push_pts(pts, &mut xs, &mut ys);
                    if !self.y_log {
                        ys.push(0.0);
                    }
                }
                Layer::ErrorBars { pts, .. } => {
                    for (x, _, lo, hi) in pts {
                        xs.push(*x);
                        ys.extend([*lo, *hi]);
                    }
                }
                Layer::HLine { y, .. } => ys.push(*y),
                Layer::Notes { items } => {
                    for (x, y, _) in items {
                        xs.push(*x);
                        ys.push(*y);
                    }
                }
            }
        }
        let x = padded(bounds(&xs), false);
        let y = padded(bounds(&ys), self.y_log);
        if self.equal {
            let half = 0.5 * (x.1 - x.0).max(y.1 - y.0);
            let (cx, cy) = (0.5 * (x.0 + x.1), 0.5 * (y.0 + y.1));
            return Limits {
                x: (cx - half, cx + half),
                y: (cy - half, cy + half),
            };
        }
        Limits { x, y }
    }
}

fn push_pts(pts: &[(f64, f64)], xs: &mut Vec<f64>, ys: &mut Vec<f64>) {
    for (x, y) in pts {
        xs.push(*x);
        ys.push(*y);
    }
}

fn bounds(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

fn padded((lo, hi): (f64, f64), log: bool) -> (f64, f64) {
    if log {
        let (a, b) = padded((lo.log10(), hi.log10()), false);
        return (10f64.powf(a), 10f64.powf(b));
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()).max(1.0) {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// A short, deterministic tick label: up to four significant digits, scientific notation
/// outside [1e-3, 1e5).
pub(crate) fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            format!("{v}")
        };
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').into()
        } else {
            s
        }
    } else {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    }
}

/// Keeps at most `max` points of a line by taking every k-th point (first and last kept), so
/// long series stay small; deterministic.
pub(crate) fn thin(pts: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if pts.len() <= max || max < 2 {
        return pts;
    }
    let k = pts.len().div_ceil(max - 1);
    let last = *pts.last().expect("non-empty");
    let mut out: Vec<_> = pts.into_iter().step_by(k).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(1.0), "1");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(1234.0), "1234");
        assert_eq!(tick_label(12.5), "12.5");
        assert_eq!(tick_label(2e-5), "2e-5");
        assert_eq!(tick_label(-3.5e7), "-3.5e7");
    }

    #[test]
    fn thinning_keeps_ends_and_bound() {
        let pts: Vec<_> = (0..10_001).map(|i| (i as f64, 0.0)).collect();
        let t = thin(pts, 1000);
        assert!(t.len() <= 1001, "{}", t.len());
        assert_eq!(t[0].0, 0.0);
        assert_eq!(t.last().unwrap().0, 10_000.0);
    }

    #[test]
    fn limits_pad_and_equalise() {
        let mut p = Plot {
            x_label: "x".into(),
            y_label: "y".into(),
            y_log: false,
            equal: false,
            legend: Corner::NorthWest,
            layers: vec![Layer::Points {
                pts: vec![(0.0, 0.0), (10.0, 2.0)],
                hue: Hue::Blue,
                label: None,
            }],
        };
        let l = p.limits();
        assert_eq!(l.x, (-0.5, 10.5));
        assert!((l.y.0 + 0.1).abs() < 1e-12 && (l.y.1 - 2.1).abs() < 1e-12);
        p.equal = true;
        let l = p.limits();
        assert!(((l.y.1 - l.y.0) - (l.x.1 - l.x.0)).abs() < 1e-12);
    }
}
