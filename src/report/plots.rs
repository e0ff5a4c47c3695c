//! The figures of a report, drawn from its data with [`super::figures`]: the worst direction's
//! Q–Q plot with an exact pointwise envelope, noise-to-signal / ‖g‖² / tr Q against step with
//! the analysis window shaded, covariance change against distance from the mean iterate, the
//! trajectory's covariance against the Lyapunov prediction (two leading directions), the
//! curvature spectrum, and a per-coordinate screen where a check reports one. A figure whose
//! data the report lacks is left out (never drawn from made-up data).
//!
//! Each figure is written as `figures/ID.svg` (inlined in report.html) and `figures/ID.tex` plus
//! its `figures/ID-K.dat` files (read by report.tex). Deterministic: the same report gives the
//! same bytes. Cost: O(n log n) in the plotted points plus O(n) Beta quantiles for the envelope.

use nalgebra::{DMatrix, SymmetricEigen};
use statrs::distribution::{Beta, ContinuousCDF, Normal};

use super::evidence_view as ev;
use super::figures::{
    ellipses::{ellipse_plot, EllipseInput},
    qq::{qq_plot, QqInput},
    scatter::{scatter_plot, IntervalPoint, ScatterInput},
    series::{series_plot, NamedSeries, SeriesInput},
    spectrum::{screen_plot, spectrum_plot, ScreenInput, SpectrumInput},
    Figure, FigureOptions, Label,
};
use super::Report;

/// Which part of the report a figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Window,
    GaussianNoise,
    ConstantCovariance,
    SmallStep,
    QuadraticLoss,
    OuPrediction,
}

/// One figure of a report.
#[derive(Debug, Clone)]
pub struct ReportFigure {
    /// File stem under `figures/` and HTML anchor.
    pub id: &'static str,
    pub section: Section,
    /// Caption (trusted program text, Unicode; escaped per format by the renderers).
    pub caption: String,
    pub figure: Figure,
}

fn opts(id: &str) -> FigureOptions {
    FigureOptions {
        name: id.into(),
        data_dir: "figures/".into(),
    }
}

/// Every figure the report's data allow, in a fixed order.
pub fn report_figures(r: &Report) -> Vec<ReportFigure> {
    let makers: [fn(&Report) -> Option<ReportFigure>; 6] =
        [phases, qq, change, ellipses, spectrum, screen];
    makers.iter().filter_map(|m| m(r)).collect()
}

/// Pointwise (1 − α) envelope of the i-th of n standard normal order statistics: Φ⁻¹ of the
/// α/2 and 1 − α/2 quantiles of Beta(i, n − i + 1) (exact for a known mean and variance).
pub fn normal_order_envelope(n: usize, alpha: f64) -> (Vec<f64>, Vec<f64>) {
    let nd = Normal::standard();
    (1..=n)
        .map(|i| {
            let b = Beta::new(i as f64, (n - i + 1) as f64).expect("positive shapes");
            (
                nd.inverse_cdf(b.inverse_cdf(alpha / 2.0)),
                nd.inverse_cdf(b.inverse_cdf(1.0 - alpha / 2.0)),
            )
        })
        .unzip()
}

fn qq(r: &Report) -> Option<ReportFigure> {
    let d = ev::qq_worst_direction(r)?;
    let level = r.thresholds.ci_level;
    let (lo, hi) = normal_order_envelope(d.sample.len(), 1.0 - level);
    let mut sample = d.sample.clone();
    sample.sort_by(f64::total_cmp);
    let pct = format!("{:.0} %", 100.0 * level);
    let figure = qq_plot(
        &QqInput {
            sample: &sample,
            theoretical: &d.theoretical,
            envelope_lower: &lo,
            envelope_upper: &hi,
            envelope_label: Label::plain(&format!("{pct} pointwise envelope")),
            sample_label: Label::plain(&format!("direction {}, standardised", d.direction)),
        },
        &opts("qq"),
    )
    .ok()?;
    Some(ReportFigure {
        id: "qq",
        section: Section::GaussianNoise,
        caption: format!(
            "Q–Q plot of the {} standardised minibatch-noise samples in the worst direction ({}) \
             against normal quantiles (Blom positions). The band is the {pct} pointwise envelope \
             of normal order statistics (exact Beta quantiles); Gaussian noise stays inside it \
             apart from about {:.0} % of the points.",
            sample.len(),
            d.direction,
            100.0 * (1.0 - level)
        ),
        figure,
    })
}

fn phases(r: &Report) -> Option<ReportFigure> {
    let ph = &r.run.phases;
    let steps: Vec<f64> = ph.iter().map(|p| p.step as f64).collect();
    let nts: Vec<f64> = ph
        .iter()
        .map(|p| p.noise_to_signal.unwrap_or(f64::NAN))
        .collect();
    let g2: Vec<f64> = ph.iter().map(|p| p.grad_norm2).collect();
    let tq: Vec<f64> = ph.iter().map(|p| p.trace_noise).collect();
    let loss: Vec<f64> = ph.iter().map(|p| p.mean_loss.unwrap_or(f64::NAN)).collect();
    let usable = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x > 0.0);
    let mut series = Vec::new();
    for (name, tex, v) in [
        (
            "noise-to-signal tr Q/‖g‖²",
            "noise-to-signal $\\mathrm{tr}\\,Q/\\|g\\|^2$",
            &nts,
        ),
        ("‖g‖²", "$\\|g\\|^2$", &g2),
        ("tr Q", "$\\mathrm{tr}\\,Q$", &tq),
        ("loss (mean at checkpoint)", "loss", &loss),
    ] {
        if usable(v) {
            series.push(NamedSeries {
                name: Label::with_tex(name, tex),
                values: v,
            });
        }
    }
    if steps.len() < 2 || series.is_empty() {
        return None;
    }
    let w = &r.run.window.checkpoints;
    let window = Some((*w.first()? as f64, *w.last()? as f64));
    let figure = series_plot(
        &SeriesInput {
            steps: &steps,
            series: &series,
            y_label: Label::plain("value (log scale)"),
            window,
            log_y: true,
        },
        &opts("phases"),
    )
    .ok()?;
    Some(ReportFigure {
        id: "phases",
        section: Section::Window,
        caption: format!(
            "Gradient signal ‖g‖², minibatch noise tr Q and their ratio{} at each of the {} \
             checkpoints; the shaded band is the analysis window (steps {}–{}). A ratio well \
             above 1 means noise dominates (the diffusion phase the OU model describes).",
            if usable(&loss) {
                ", and the mean training loss,"
            } else {
                ""
            },
            steps.len(),
            w.first()?,
            w.last()?
        ),
        figure,
    })
}

fn change(r: &Report) -> Option<ReportFigure> {
    let pts: Vec<IntervalPoint> = ev::change_vs_distance(r)?
        .iter()
        .map(|p| IntervalPoint {
            x: p.distance,
            y: p.change,
            lower: p.lo,
            upper: p.hi,
        })
        .collect();
    let tol = r.thresholds.covariance_max_rel_deviation;
    let figure = scatter_plot(
        &ScatterInput {
            points: &pts,
            x_label: Label::plain("distance of the checkpoint from the mean iterate"),
            y_label: Label::plain("relative change of the noise covariance"),
            interval_label: Label::plain(&format!(
                "estimate, {:.0} % bootstrap interval",
                100.0 * r.thresholds.ci_level
            )),
            reference: Some((tol, Label::plain(&format!("tolerance {tol}")))),
        },
        &opts("covariance-change"),
    )
    .ok()?;
    Some(ReportFigure {
        id: "covariance-change",
        section: Section::ConstantCovariance,
        caption: format!(
            "Relative Frobenius change ‖C_i − C_pooled‖/‖C_pooled‖ of each checkpoint's noise covariance from \
             the pooled one (0 = identical, 0.1 = a 10 % change) against the checkpoint's \
             distance from the mean iterate, with bias-corrected bootstrap intervals; the dashed \
             line is the tolerance {tol}. A rising pattern would mean the noise depends on the \
             position."
        ),
        figure,
    })
}

/// The two leading eigenvectors of `m` (decreasing eigenvalue), signs fixed so that the largest
/// component is positive (deterministic).
fn leading_directions(m: &[Vec<f64>]) -> Option<[Vec<f64>; 2]> {
    let k = m.len();
    let dm = DMatrix::from_fn(k, k, |i, j| 0.5 * (m[i][j] + m[j][i]));
    let e = SymmetricEigen::new(dm);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| e.eigenvalues[b].total_cmp(&e.eigenvalues[a]));
    let vec = |c: usize| {
        let v: Vec<f64> = e.eigenvectors.column(c).iter().copied().collect();
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |a, x| if x.abs() > a.abs() { x } else { a });
        let s = if big < 0.0 { -1.0 } else { 1.0 };
        v.into_iter().map(|x| s * x).collect::<Vec<f64>>()
    };
    (k >= 2).then(|| [vec(order[0]), vec(order[1])])
}

/// PᵀMP for the 2 directions P.
fn project(m: &[Vec<f64>], p: &[Vec<f64>; 2]) -> [[f64; 2]; 2] {
    let q = |a: &[f64], b: &[f64]| -> f64 {
        (0..m.len())
            .map(|i| a[i] * (0..m.len()).map(|j| m[i][j] * b[j]).sum::<f64>())
            .sum()
    };
    let off = 0.5 * (q(&p[0], &p[1]) + q(&p[1], &p[0]));
    [[q(&p[0], &p[0]), off], [off, q(&p[1], &p[1])]]
}

fn ellipses(r: &Report) -> Option<ReportFigure> {
    let c = ev::stationary_covariances(r)?;
    let dirs = leading_directions(&c.predicted)?;
    let level = r.thresholds.ci_level;
    let figure = ellipse_plot(
        &EllipseInput {
            observed: project(&c.empirical, &dirs),
            predicted: project(&c.predicted, &dirs),
            points: &[],
            coverage: level,
            x_label: Label::plain("leading direction 1 of the prediction"),
            y_label: Label::plain("leading direction 2"),
            observed_label: Label::plain("trajectory covariance"),
            predicted_label: Label::plain("Lyapunov prediction"),
        },
        &opts("ou-ellipses"),
    )
    .ok()?;
    Some(ReportFigure {
        id: "ou-ellipses",
        section: Section::OuPrediction,
        caption: format!(
            "The trajectory's stationary covariance against the OU model's prediction (exact \
             discrete Lyapunov equation) in the prediction's two leading directions: each \
             ellipse holds {:.0} % of a Gaussian with that covariance. Matching ellipses mean \
             the OU model predicts the spread of the iterates.",
            100.0 * level
        ),
        figure,
    })
}

fn spectrum(r: &Report) -> Option<ReportFigure> {
    let (src, ev) = ev::curvature_eigenvalues(r)?;
    let figure = spectrum_plot(
        &SpectrumInput {
            values: &ev,
            y_label: Label::plain("eigenvalue"),
            log_y: false,
        },
        &opts("curvature-spectrum"),
    )
    .ok()?;
    Some(ReportFigure {
        id: "curvature-spectrum",
        section: Section::QuadraticLoss,
        caption: format!(
            "Eigenvalues of the curvature matrix A (source: {src}) in decreasing order, in the \
             analysis subspace. A negative eigenvalue means the loss is not a bowl there."
        ),
        figure,
    })
}

fn screen(r: &Report) -> Option<ReportFigure> {
    let (values, names, threshold) = ev::coordinate_screen(r)?;
    let figure = screen_plot(
        &ScreenInput {
            values: &values,
            names: &names,
            threshold,
            threshold_label: Label::plain(&format!("threshold {threshold}")),
            top: 5,
            x_label: Label::plain("coordinate"),
            y_label: Label::plain("screen statistic"),
        },
        &opts("coordinate-screen"),
    )
    .ok()?;
    Some(ReportFigure {
        id: "coordinate-screen",
        section: Section::GaussianNoise,
        caption: "Per-coordinate screen of the minibatch noise: coordinates above the dashed \
                  threshold are flagged; the largest are named."
            .into(),
        figure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope of the median order statistic of n = 3 is Φ⁻¹ of Beta(2, 2) quantiles,
    /// symmetric about 0; the extremes widen outwards.
    #[test]
    fn envelope_is_symmetric_and_ordered() {
        let (lo, hi) = normal_order_envelope(3, 0.05);
        assert!((lo[1] + hi[1]).abs() < 1e-9, "{lo:?} {hi:?}");
        // Beta(2,2) 2.5 % quantile is 0.0942993...; Φ⁻¹ of it is −1.3147...
        assert!((lo[1] - (-1.31467)).abs() < 1e-3, "{}", lo[1]);
        assert!(lo[0] < lo[1] && hi[2] > hi[1]);
    }

    #[test]
    fn leading_directions_of_a_diagonal_matrix() {
        let m = vec![
            vec![1.0, 0.0, 0.0],
            vec![0.0, 3.0, 0.0],
            vec![0.0, 0.0, 2.0],
        ];
        let [a, b] = leading_directions(&m).unwrap();
        assert_eq!(a, vec![0.0, 1.0, 0.0]);
        assert_eq!(b, vec![0.0, 0.0, 1.0]);
        assert_eq!(project(&m, &[a, b]), [[3.0, 0.0], [0.0, 2.0]]);
    }
}
