//! Figures from plain data: deterministic bytes, well-formed SVG, TikZ that reads its data
//! files, data files that carry the input values, untrusted text escaped, and clear errors on
//! bad input.

use crate::paper_support;

use paper_support::{sample_figures, HOSTILE};
use sgd_ou::report::figures::{
    ellipses::{ellipse_plot, EllipseInput},
    qq::{qq_plot, QqInput},
    scatter::{scatter_plot, IntervalPoint, ScatterInput},
    series::{series_plot, NamedSeries, SeriesInput, MAX_POINTS},
    spectrum::{screen_plot, spectrum_plot, ScreenInput, SpectrumInput},
    FigureError, FigureOptions, Label,
};

#[test]
fn same_input_gives_identical_bytes() {
    let a = sample_figures();
    let b = sample_figures();
    assert_eq!(a.len(), 6);
    for ((name, fa), (_, fb)) in a.iter().zip(&b) {
        assert_eq!(fa, fb, "{name} differs between two renders");
    }
}

#[test]
fn svg_is_a_complete_document_with_text() {
    for (name, f) in sample_figures() {
        let svg = &f.svg;
        assert!(
            svg.starts_with("<svg"),
            "{name}: {}",
            &svg[..40.min(svg.len())]
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{name}");
        assert!(svg.contains("<text"), "{name}: axis text missing");
        assert!(
            svg.contains("font-family=\"sans-serif\""),
            "{name}: generic font family expected"
        );
        assert_eq!(svg.matches("<svg").count(), 1, "{name}");
    }
}

#[test]
fn tikz_reads_every_data_file_once() {
    for (name, f) in sample_figures() {
        let t = &f.tikz;
        assert!(t.tex.starts_with("\\begin{tikzpicture}"), "{name}");
        assert!(t.tex.contains("width=\\linewidth"), "{name}");
        for (file, body) in &t.data_files {
            assert!(
                file.starts_with(name) && file.ends_with(".dat"),
                "{name}: {file}"
            );
            assert_eq!(
                t.tex.matches(&format!("{{{file}}}")).count(),
                1,
                "{name}: {file}"
            );
            let mut lines = body.lines();
            let cols = lines.next().unwrap().split(' ').count();
            for l in lines {
                assert_eq!(l.split(' ').count(), cols, "{name}: {file}: {l}");
                for cell in l.split(' ') {
                    assert!(cell.parse::<f64>().unwrap().is_finite(), "{cell}");
                }
            }
        }
    }
}

#[test]
fn data_dir_prefixes_paths() {
    let v = [3.0, 2.0, 1.0];
    let opts = FigureOptions {
        name: "spec trum".into(),
        data_dir: "figures/".into(),
    };
    let f = spectrum_plot(
        &SpectrumInput {
            values: &v,
            y_label: "eigenvalue".into(),
            log_y: true,
        },
        &opts,
    )
    .unwrap();
    assert_eq!(f.tikz.data_files[0].0, "spec-trum-1.dat");
    assert!(f.tikz.tex.contains("{figures/spec-trum-1.dat}"));
    assert!(f.tikz.tex.contains("ymode=log"));
    // Sorted decreasingly against rank.
    assert_eq!(f.tikz.data_files[0].1, "x y\n1 3\n2 2\n3 1\n");
}

#[test]
fn hostile_text_stays_text() {
    let figs = sample_figures();
    let (_, screen) = figs.iter().find(|(n, _)| *n == "screen").unwrap();
    // The screen labels its top items; make sure at least one hostile name is among them.
    assert!(screen.svg.contains("&lt;script&gt;") || screen.tikz.tex.contains("textbackslash"));
    for (name, f) in &figs {
        assert!(!f.svg.contains("<script"), "{name}: raw script tag in SVG");
        for h in HOSTILE {
            assert!(!f.tikz.tex.contains(h), "{name}: raw {h} in TikZ");
        }
        for bad in ["\\input", "\\write18", "\\immediate", "^^"] {
            assert!(!f.tikz.tex.contains(bad), "{name}: {bad} in TikZ");
        }
    }
    let names: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    let v = [4.0, 3.0, 2.0, 1.0];
    let f = screen_plot(
        &ScreenInput {
            values: &v,
            names: &names,
            threshold: 2.5,
            threshold_label: "threshold".into(),
            top: 4,
            x_label: "coordinate".into(),
            y_label: "value".into(),
        },
        &FigureOptions::named("s"),
    )
    .unwrap();
    assert!(
        f.svg.contains("&lt;script&gt;alert("),
        "label not drawn as text"
    );
    assert!(f
        .tikz
        .tex
        .contains("\\textbackslash{}input\\{/etc/passwd\\}"));
    assert!(f
        .tikz
        .tex
        .contains("\\textbackslash{}immediate\\textbackslash{}write18"));
    // Two values above the threshold, marked in the legend.
    assert!(f.svg.contains("above the threshold (2 of 4)"));
}

#[test]
fn qq_marks_points_outside_the_envelope() {
    let t = [-1.0, 0.0, 1.0];
    let lo = [-1.5, -0.5, 0.5];
    let hi = [-0.5, 0.5, 1.5];
    let input = |s: &'static [f64]| QqInput {
        sample: s,
        theoretical: &t,
        envelope_lower: &lo,
        envelope_upper: &hi,
        envelope_label: "envelope".into(),
        sample_label: "sample".into(),
    };
    let inside = qq_plot(&input(&[0.1, -1.1, 0.9]), &FigureOptions::named("q")).unwrap();
    assert!(!inside.svg.contains("outside the envelope"));
    let out = qq_plot(&input(&[3.0, -1.1, 0.0]), &FigureOptions::named("q")).unwrap();
    assert!(out.svg.contains("outside the envelope (1 of 3)"));
    // The sorted sample is plotted: band polygon, reference line, inside points, outside point.
    assert_eq!(out.tikz.data_files.len(), 4);
    assert_eq!(out.tikz.data_files[3].1, "x y\n1 3\n");
    assert_eq!(out.tikz.data_files[2].1, "x y\n-1 -1.1\n0 0\n");
}

#[test]
fn series_shades_window_and_thins_long_runs() {
    let steps: Vec<f64> = (0..10_000).map(f64::from).collect();
    let v: Vec<f64> = steps.iter().map(|s| 1.0 + s).collect();
    let s = [NamedSeries {
        name: "loss".into(),
        values: &v,
    }];
    let f = series_plot(
        &SeriesInput {
            steps: &steps,
            series: &s,
            y_label: "loss".into(),
            window: Some((100.0, 900.0)),
            log_y: false,
        },
        &FigureOptions::named("loss"),
    )
    .unwrap();
    assert!(f.svg.contains("analysis window"));
    assert!(f.tikz.tex.contains("coordinates {(100,"));
    let rows = f.tikz.data_files[0].1.lines().count() - 1;
    assert!(rows <= MAX_POINTS + 1 && rows > MAX_POINTS / 2, "{rows}");
    assert!(f.tikz.data_files[0].1.ends_with("9999 10000\n"));
}

#[test]
fn bad_input_gives_errors_not_panics() {
    let o = FigureOptions::named("x");
    let steps = [0.0, 1.0, 2.0];
    let neg = [1.0, -1.0, 2.0];
    let s = [NamedSeries {
        name: "loss".into(),
        values: &neg,
    }];
    let log = series_plot(
        &SeriesInput {
            steps: &steps,
            series: &s,
            y_label: "l".into(),
            window: None,
            log_y: true,
        },
        &o,
    );
    assert_eq!(
        log.unwrap_err(),
        FigureError::NotPositive {
            what: "series values",
            index: 1
        }
    );
    let short = [NamedSeries {
        name: "loss".into(),
        values: &neg[..2],
    }];
    let e = series_plot(
        &SeriesInput {
            steps: &steps,
            series: &short,
            y_label: "l".into(),
            window: None,
            log_y: false,
        },
        &o,
    );
    assert_eq!(
        e.unwrap_err().to_string(),
        "series values: expected 3 values, got 2"
    );
    let bad_window = series_plot(
        &SeriesInput {
            steps: &steps,
            series: &s,
            y_label: "l".into(),
            window: Some((2.0, 1.0)),
            log_y: false,
        },
        &o,
    );
    assert!(matches!(bad_window, Err(FigureError::Invalid { .. })));
    let nan = [1.0, f64::NAN];
    assert!(matches!(
        spectrum_plot(
            &SpectrumInput {
                values: &nan,
                y_label: "e".into(),
                log_y: false
            },
            &o
        ),
        Err(FigureError::NotFinite { index: 1, .. })
    ));
    let p = [IntervalPoint {
        x: 0.0,
        y: 2.0,
        lower: 0.0,
        upper: 1.0,
    }];
    let sc = scatter_plot(
        &ScatterInput {
            points: &p,
            x_label: "x".into(),
            y_label: "y".into(),
            interval_label: "i".into(),
            reference: None,
        },
        &o,
    );
    assert!(sc.unwrap_err().to_string().contains("outside its interval"));
    let el = |m: [[f64; 2]; 2], c: f64| {
        ellipse_plot(
            &EllipseInput {
                observed: m,
                predicted: [[1.0, 0.0], [0.0, 1.0]],
                points: &[],
                coverage: c,
                x_label: "a".into(),
                y_label: "b".into(),
                observed_label: "o".into(),
                predicted_label: Label::plain("p"),
            },
            &o,
        )
    };
    assert!(el([[1.0, 0.0], [0.0, 1.0]], 0.95).is_ok());
    assert!(el([[1.0, 2.0], [2.0, 1.0]], 0.95)
        .unwrap_err()
        .to_string()
        .contains("not positive definite"));
    assert!(el([[1.0, 0.0], [0.0, 1.0]], 1.0).is_err());
    let names = vec!["a".to_string()];
    let sc = screen_plot(
        &ScreenInput {
            values: &[1.0, 2.0],
            names: &names,
            threshold: 1.0,
            threshold_label: "t".into(),
            top: 1,
            x_label: "c".into(),
            y_label: "v".into(),
        },
        &o,
    );
    assert_eq!(
        sc.unwrap_err(),
        FigureError::Length {
            what: "screen names",
            expected: 2,
            got: 1
        }
    );
}

#[test]
fn ellipse_axes_share_one_scale() {
    let f = ellipse_plot(
        &EllipseInput {
            observed: [[4.0, 0.0], [0.0, 0.25]],
            predicted: [[4.0, 0.0], [0.0, 0.25]],
            points: &[],
            coverage: 0.5,
            x_label: "a".into(),
            y_label: "b".into(),
            observed_label: "o".into(),
            predicted_label: "p".into(),
        },
        &FigureOptions::named("e"),
    )
    .unwrap();
    let grab = |k: &str| -> f64 {
        let s = &f.tikz.tex[f.tikz.tex.find(k).unwrap() + k.len()..];
        s[..s.find(',').unwrap()].parse().unwrap()
    };
    let (xs, ys) = (grab("xmax=") - grab("xmin="), grab("ymax=") - grab("ymin="));
    assert!((xs - ys).abs() < 1e-9, "{xs} vs {ys}");
    // r = sqrt(-2 ln 0.5) = 1.1774; semi-axis 2r = 2.3548 along x, padded by 5 %.
    assert!(
        (xs - 2.0 * 2.0 * 1.1774100225154747 * 1.1).abs() < 1e-6,
        "{xs}"
    );
}

/// Writes the sample SVGs where a person (or the HTML test) can look at them.
#[test]
fn writes_sample_svgs() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("paper_figures");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, f) in sample_figures() {
        std::fs::write(dir.join(format!("{name}.svg")), &f.svg).unwrap();
        std::fs::write(dir.join(format!("{name}.tex")), &f.tikz.tex).unwrap();
    }
    println!("sample figures in {}", dir.display());
}
