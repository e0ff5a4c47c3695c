//! report.tex: a results table that fits `\columnwidth` (also in two-column layouts) and the
//! report's figures, to `\input{}` into a manuscript.
//!
//! Needs `\usepackage{booktabs,tabularx,pgfplots}` and `\pgfplotsset{compat=1.16}`; the figure
//! code reads its data from `figures/` relative to where LaTeX runs (copy the report directory's
//! files beside the manuscript). The label is derived from the run
//! (`tab:sgd-ou:<model or directory>-<first 8 hex digits of the inputs digest>`), so two reports
//! in one paper do not collide. Every string is escaped ([`tex_prose`]): untrusted run metadata
//! cannot run a TeX command.

use super::escape::latex_text;
use super::evidence_view::interval_method;
use super::plots::ReportFigure;
use super::words::{estimate_text, interval_text, metric_name, run_label};
use super::Report;
use crate::checks::{CheckResult, KeyMetric, Verdict};

/// Program-written Unicode text (names, sentences with ε, λ, Σ̂, ‖g‖², ≤) as LaTeX; every
/// TeX special and every character without a mapping is escaped as in [`latex_text`], so the
/// result is safe for untrusted text too.
pub fn tex_prose(s: &str) -> String {
    let s = s.replace("Σ̂", "\u{E000}").replace("θ̂", "\u{E001}");
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        let m = match c {
            '\u{E000}' => "$\\hat\\Sigma$",
            '\u{E001}' => "$\\hat\\theta$",
            'ε' => "$\\varepsilon$",
            'θ' => "$\\theta$",
            'λ' => "$\\lambda$",
            'Σ' => "$\\Sigma$",
            'α' => "$\\alpha$",
            'κ' => "$\\kappa$",
            'χ' => "$\\chi$",
            'δ' => "$\\delta$",
            'ξ' => "$\\xi$",
            '∇' => "$\\nabla$",
            '≤' => "$\\le$",
            '≥' => "$\\ge$",
            '≈' => "$\\approx$",
            '±' => "$\\pm$",
            '×' => "$\\times$",
            '·' => "$\\cdot$",
            '√' => "$\\surd$",
            '‖' => "$\\|$",
            '⟨' => "$\\langle$",
            '⟩' => "$\\rangle$",
            '²' => "$^2$",
            '³' => "$^3$",
            '°' => "$^\\circ$",
            '−' => "$-$",
            '→' => "$\\to$",
            '∞' => "$\\infty$",
            '⌊' => "$\\lfloor$",
            '⌋' => "$\\rfloor$",
            '\u{302}' | '\u{304}' => "",
            ' ' => " ",
            _ => {
                o.push_str(&latex_text(&c.to_string()));
                continue;
            }
        };
        o.push_str(m);
    }
    o
}

fn verdict_tex(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "\\textsc{pass}",
        Verdict::Fail => "\\textsc{fail}",
        Verdict::Inconclusive => "\\textsc{inconclusive}",
    }
}

/// The key metrics of a check shown in the table: those with a tolerance, and the first one.
fn table_metrics(c: &CheckResult) -> Vec<&KeyMetric> {
    c.key_metrics
        .iter()
        .enumerate()
        .filter(|(i, m)| *i == 0 || m.tolerance.is_some())
        .map(|(_, m)| m)
        .collect()
}

/// The checks in table order: the four assumptions, then the informative OU prediction.
fn checks(r: &Report) -> Vec<(String, &CheckResult)> {
    let mut v: Vec<(String, &CheckResult)> = r
        .assumptions
        .iter()
        .into_iter()
        .map(|(a, c)| (a.title().to_string(), c))
        .collect();
    v.push(("OU prediction (informative)".into(), &r.ou_prediction));
    v
}

/// The distinct interval methods of the table, in order of first use.
fn methods_used(r: &Report) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (_, c) in checks(r) {
        for m in table_metrics(c).into_iter().filter(|m| m.ci.is_some()) {
            let t = interval_method(c, &m.name);
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

fn marker(i: usize) -> char {
    (b'a' + (i % 26) as u8) as char
}

fn table_rows(r: &Report, methods: &[&str]) -> String {
    let mut s = String::new();
    for (title, c) in checks(r) {
        s.push_str(&format!(
            "\\multicolumn{{4}}{{@{{}}l}}{{\\textbf{{{}}}: {}}}\\\\\n",
            tex_prose(&title),
            verdict_tex(c.verdict)
        ));
        for m in table_metrics(c) {
            let mut est = tex_prose(&estimate_text(m));
            if m.ci.is_some() {
                let i = methods
                    .iter()
                    .position(|t| *t == interval_method(c, &m.name))
                    .unwrap_or(0);
                est.push_str(&format!(
                    " {}\\textsuperscript{{{}}}",
                    tex_prose(&interval_text(m)),
                    marker(i)
                ));
            }
            let tol = m
                .tolerance
                .map(|t| t.to_string())
                .unwrap_or_else(|| "--".into());
            let p = m
                .p_value
                .map(|p| tex_prose(&super::p_text(Some(p))))
                .unwrap_or_else(|| "--".into());
            s.push_str(&format!(
                "\\quad {} & {} & {} & {}\\\\\n",
                tex_prose(&metric_name(m)),
                est,
                tex_prose(&tol),
                p
            ));
        }
    }
    s
}

fn caption(r: &Report, methods: &[&str]) -> String {
    let m = &r.run.manifest;
    let level = format!("{:.0}\\,\\%", 100.0 * r.thresholds.ci_level);
    let intervals: Vec<String> = methods
        .iter()
        .enumerate()
        .map(|(i, t)| format!("\\textsuperscript{{{}}}~{}", marker(i), tex_prose(t)))
        .collect();
    format!(
        "Ornstein--Uhlenbeck assumption checks by sgd-ou {} (overall verdict {}): \
         $\\varepsilon = {}$, $S = {}$, $N = {}$, {} checkpoints, $d = {}$, $k = {}$, seed {}, \
         inputs SHA-256 \\texttt{{{}}}\\ldots. Intervals at {level}: {}. \
         $p$: corrected $p$-value of the test for any departure; \
         a small $p$ beside \\textsc{{pass}} means a departure is detectable but its estimated \
         size is within the tolerance (an equivalence decision).{}",
        latex_text(&r.tool.version),
        verdict_tex(r.verdict),
        tex_prose(&super::num(m.learning_rate)),
        m.batch_size,
        m.dataset_size,
        r.run.checkpoints.len(),
        r.run.dims.d,
        r.run.dims.k,
        r.seed,
        latex_text(&r.run.inputs_digest.chars().take(16).collect::<String>()),
        if intervals.is_empty() {
            "none".to_string()
        } else {
            intervals.join("; ")
        },
        stability_sentence(r)
    )
}

/// " Seed stability: …" for the caption when the report has a draw-stability record.
fn stability_sentence(r: &Report) -> String {
    match &r.draw_stability {
        Some(ds) => format!(
            " Seed stability: {}",
            tex_prose(&super::narrate::stability::summary(ds))
        ),
        None => String::new(),
    }
}

/// The table environment (booktabs + tabularx, `\columnwidth` wide).
pub fn table(r: &Report) -> String {
    let methods = methods_used(r);
    let mut s = String::new();
    s.push_str("\\begin{table}[t]\n\\centering\n\\footnotesize\n\\setlength{\\tabcolsep}{3pt}\n");
    s.push_str(&format!("\\caption{{{}}}\n", caption(r, &methods)));
    s.push_str(&format!("\\label{{tab:sgd-ou:{}}}\n", run_label(r)));
    s.push_str(
        "\\begin{tabularx}{\\columnwidth}{@{}>{\\raggedright\\arraybackslash}X\
         >{\\raggedright\\arraybackslash}p{0.3\\columnwidth}ll@{}}\n\
         \\toprule\nCheck and metric & Estimate [interval] & Tol. & $p$\\\\\n\\midrule\n",
    );
    s.push_str(&table_rows(r, &methods));
    s.push_str("\\bottomrule\n\\end{tabularx}\n\\end{table}\n");
    s
}

/// A `figure` environment around the TikZ code of one report figure.
pub fn figure_env(r: &Report, f: &ReportFigure) -> String {
    format!(
        "\\begin{{figure}}[t]\n\\centering\n\\resizebox{{\\linewidth}}{{!}}{{\\input{{figures/{}.tex}}}}\n\\caption{{{}}}\n\
         \\label{{fig:sgd-ou:{}-{}}}\n\\end{{figure}}\n",
        f.id,
        tex_prose(&f.caption),
        run_label(r),
        f.id
    )
}

/// report.tex: header comment, the table and one figure environment per figure.
pub fn render_with(r: &Report, figures: &[ReportFigure]) -> String {
    let mut s = format!(
        "% Generated by {} {} (report schema {}); inputs SHA-256 {}; seed {}.\n\
         % Needs \\usepackage{{booktabs,tabularx,pgfplots}} and \\pgfplotsset{{compat=1.16}};\n\
         % the figures read their data from figures/ (keep it beside the manuscript).\n",
        latex_text(&r.tool.name),
        latex_text(&r.tool.version),
        r.schema_version,
        latex_text(&r.run.inputs_digest),
        r.seed
    );
    s.push_str(&format!(
        "% Analysis window: {}\n",
        latex_text(&r.run.window.reason).replace('\n', " ")
    ));
    for line in crate::phases::evidence_lines(&r.run.window) {
        s.push_str(&format!("%   {}\n", latex_text(&line).replace('\n', " ")));
    }
    s.push_str(&table(r));
    for f in figures {
        s.push_str(&figure_env(r, f));
    }
    s
}

/// report.tex with the report's own figures.
pub fn render(r: &Report) -> String {
    render_with(r, &super::plots::report_figures(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_maps_math_and_escapes_the_rest() {
        assert_eq!(
            tex_prose("ε·λ_max ≤ 2"),
            "$\\varepsilon$$\\cdot$$\\lambda$\\_max $\\le$ 2"
        );
        assert_eq!(tex_prose("tr Σ̂"), "tr $\\hat\\Sigma$");
        assert!(!tex_prose("\\write18{x}").contains("\\write"));
    }
}
