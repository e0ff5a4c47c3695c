//! Text, Markdown and JSON forms of a [`Comparison`]. Equal comparisons give equal bytes.

use super::Comparison;
use crate::fmt::num;

/// Pretty-printed JSON with a trailing newline (compare.json).
pub fn json(c: &Comparison) -> String {
    let mut s = serde_json::to_string_pretty(c).expect("the comparison model always serialises");
    s.push('\n');
    s
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), num)
}

/// Header and rows of the run table: ε, S, sampling, the verdicts and the traces.
fn run_table(c: &Comparison) -> (Vec<String>, Vec<Vec<String>>) {
    let mut head: Vec<String> = ["ε", "S", "sampling", "verdict"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(r) = c.runs.first() {
        head.extend(r.checks.iter().map(|k| k.check.clone()));
    }
    head.extend(
        ["tr Σ̂", "tr Σ_pred", "ratio", "tr C/S", "run"]
            .iter()
            .map(|s| s.to_string()),
    );
    let rows = c
        .runs
        .iter()
        .map(|r| {
            let o = &r.observables;
            let mut row = vec![
                num(r.learning_rate),
                r.batch_size.to_string(),
                r.sampling.clone(),
                r.verdict.to_string(),
            ];
            row.extend(r.checks.iter().map(|k| match k.estimate {
                Some(e) => format!("{} ({})", k.verdict, num(e)),
                None => k.verdict.to_string(),
            }));
            let ratio = o.trace_observed.zip(o.trace_predicted).map(|(a, b)| a / b);
            row.extend([
                opt(o.trace_observed),
                opt(o.trace_predicted),
                opt(ratio),
                opt(o.noise_trace.map(|t| t / r.batch_size as f64)),
                r.dir.clone(),
            ]);
            row
        })
        .collect();
    (head, rows)
}

fn law_lines(c: &Comparison) -> Vec<String> {
    c.laws
        .iter()
        .map(|l| {
            let role = if l.informative {
                "informative"
            } else {
                "decides"
            };
            format!(
                "{} [{}, {role}]: {} — {}",
                l.name, l.group, l.formula, l.reason
            )
        })
        .collect()
}

/// The terminal table (`sgd-ou compare` without `--json`).
pub fn text(c: &Comparison) -> String {
    let (head, rows) = run_table(c);
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (cell, w) in cells.iter().zip(&width) {
            s.push_str(cell);
            s.push_str(&" ".repeat(w - cell.chars().count() + 2));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!(
        "sgd-ou {} compare · {} runs · seed {} · slope tolerance ±{}\n\n",
        c.tool.version,
        c.runs.len(),
        c.seed,
        c.slope_tolerance
    );
    out.push_str(&line(&head));
    out.push_str(&"-".repeat(width.iter().map(|w| w + 2).sum::<usize>()));
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r));
    }
    out.push_str("\nscaling laws:\n");
    for l in law_lines(c) {
        out.push_str(&format!("  - {l}\n"));
    }
    out.push_str(&format!(
        "\ncompare verdict: {}{}\n",
        c.verdict,
        tests_note(c)
    ));
    out
}

/// The verdict's tests in words: the Holm fail p-value and the intersection–union pass p-value.
fn tests_note(c: &Comparison) -> String {
    let t = &c.verdict_tests;
    format!(
        " (over {} decided law(s) at α = {}: Holm-adjusted fail p = {}, intersection–union \
         pass p = {}{})",
        t.pieces.len(),
        c.alpha,
        num(t.p_fail),
        num(t.p_pass),
        if t.leaning_fail { "; leaning fail" } else { "" }
    )
}

/// compare.md.
pub fn markdown(c: &Comparison) -> String {
    let (head, rows) = run_table(c);
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "# sgd-ou compare: {} runs\n\nsgd-ou {}, seed {}, analysis dimension {}, {:.0}% \
         intervals, slope tolerance ±{}. Verdict: **{}**{}.\n\n## Runs\n\n",
        c.runs.len(),
        c.tool.version,
        c.seed,
        c.dims,
        c.ci_level * 100.0,
        c.slope_tolerance,
        c.verdict,
        tests_note(c)
    );
    out.push_str(&format!(
        "| {} |\n|{}\n",
        head.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | "),
        " --- |".repeat(head.len())
    ));
    for r in &rows {
        out.push_str(&format!(
            "| {} |\n",
            r.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | ")
        ));
    }
    if figure(c).is_some() {
        out.push_str(
            "\n![Observed against predicted stationary covariance](compare.svg)\n\n*Each run's \
             tr Σ̂ / tr Σ_pred against the prediction; the line is observed = predicted.*\n",
        );
    }
    out.push_str("\n## Scaling laws\n\n");
    for l in law_lines(c) {
        out.push_str(&format!("- {}\n", esc(&l)));
    }
    out.push_str("\nFormulas, tolerances and references: docs/compare.md.\n");
    out
}

/// compare.svg: each run's tr Σ̂ / tr Σ_pred (with tr Σ̂'s interval, divided by the prediction)
/// against log₁₀ tr Σ_pred, with the line ratio = 1 — the y = x line of observed against
/// predicted, drawn as a ratio so that runs whose traces differ by orders of magnitude stay
/// readable. `None` with fewer than 2 runs that have both traces and an interval.
pub fn figure(c: &Comparison) -> Option<String> {
    use crate::report::figures::scatter::{scatter_plot, IntervalPoint, ScatterInput};
    use crate::report::figures::{FigureOptions, Label};
    let points: Vec<IntervalPoint> = c
        .runs
        .iter()
        .filter_map(|r| {
            let o = &r.observables;
            let (obs, pred, [lo, hi]) =
                (o.trace_observed?, o.trace_predicted?, o.trace_observed_ci?);
            let p = IntervalPoint {
                x: pred.log10(),
                y: obs / pred,
                lower: lo.min(obs) / pred,
                upper: hi.max(obs) / pred,
            };
            [p.x, p.y, p.lower, p.upper]
                .iter()
                .all(|v| v.is_finite())
                .then_some(p)
        })
        .collect();
    if points.len() < 2 {
        return None;
    }
    let input = ScatterInput {
        points: &points,
        x_label: Label::plain("log10 tr Σ_pred (exact discrete Lyapunov prediction)"),
        y_label: Label::plain("tr Σ̂ / tr Σ_pred"),
        interval_label: Label::plain(&format!(
            "run: observed / predicted, {:.0}% interval of tr Σ̂",
            c.ci_level * 100.0
        )),
        reference: Some((1.0, Label::plain("observed = predicted (y = x)"))),
    };
    scatter_plot(&input, &FigureOptions::named("compare"))
        .ok()
        .map(|f| f.svg)
}
