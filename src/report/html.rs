//! report.html: one self-contained page (inline SVG figures and CSS; no script, no network, no
//! external file): the verdict table first, then one section per check with its figure, a plain
//! sentence of what the verdict means for the training, and the details; provenance last.
//! Every string is escaped with [`html_text`] (run metadata, notes and file names are
//! untrusted), and the SVG figures escape their own text.

use super::escape::html_text as h;
use super::plots::{ReportFigure, Section};
use super::words::{
    comparison, estimate_text, interval_text, metric_name, ou_prediction_sentence, p_phrase,
    p_value_note, plain_sentence, tidy, FROBENIUS_NOTE,
};
use super::{evidence_view as ev, num, Report};
use crate::checks::{CheckResult, Verdict};

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:60rem;\
margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1b1b1b}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.8rem 0}td,th{padding:.25rem .6rem;text-align:left;\
vertical-align:top;border-bottom:1px solid #eee}th{background:#f5f5f5}\
.v{font-weight:700;letter-spacing:.03em}.pass{color:#00704a}.fail{color:#b3261e}\
.inconclusive{color:#8a5a00}figure{margin:1rem 0}figure svg{max-width:100%;height:auto;\
display:block}figcaption{font-size:.9rem;color:#444}.plain{font-size:1.05rem}\
.note{background:#f6f8fa;border-left:3px solid #9ab;padding:.4rem .8rem}code{font-size:.9em;\
word-break:break-all}details{margin:.6rem 0}";

fn verdict(v: Verdict) -> String {
    format!(
        "<span class=\"v {}\">{}</span>",
        v.as_str(),
        v.as_str().to_uppercase()
    )
}

fn metrics_table(c: &CheckResult, s: &mut String) {
    if c.key_metrics.is_empty() {
        return;
    }
    s.push_str("<table><thead><tr><th>metric</th><th>estimate</th><th>interval</th><th>tolerance</th><th>p (corrected)</th></tr></thead><tbody>\n");
    for m in &c.key_metrics {
        let tol = comparison(m).unwrap_or_default();
        s.push_str(&format!(
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            h(&m.description),
            h(&metric_name(m)),
            h(&estimate_text(m)),
            h(&interval_text(m)),
            h(&tol),
            h(&m.p_value.map(p_phrase).unwrap_or_default())
        ));
    }
    s.push_str("</tbody></table>\n");
}

fn figures_of(figs: &[ReportFigure], section: Section, s: &mut String) {
    for f in figs.iter().filter(|f| f.section == section) {
        s.push_str(&format!(
            "<figure id=\"fig-{}\">{}<figcaption>{}</figcaption></figure>\n",
            f.id,
            f.figure.svg,
            h(&f.caption)
        ));
    }
}

/// The heading of one check's section.
struct Head<'a> {
    id: &'a str,
    title: &'a str,
    sentence: &'a str,
    section: Section,
}

fn check_section(
    r: &Report,
    head: Head<'_>,
    c: &CheckResult,
    figs: &[ReportFigure],
    s: &mut String,
) {
    s.push_str(&format!(
        "<section id=\"{}\"><h2>{} — {}</h2>\n<p class=\"plain\">{}</p>\n",
        head.id,
        h(head.title),
        verdict(c.verdict),
        h(head.sentence)
    ));
    figures_of(figs, head.section, s);
    s.push_str(&format!("<p>{}</p>\n", h(&tidy(&c.summary))));
    if let Some(note) = p_value_note(c, r.thresholds.alpha) {
        s.push_str(&format!("<p class=\"note\">{}</p>\n", h(&note)));
    }
    metrics_table(c, s);
    if !c.reasons.is_empty() {
        s.push_str("<details open><summary>Details</summary><ul>\n");
        for reason in &c.reasons {
            s.push_str(&format!("<li>{}</li>\n", h(&tidy(reason))));
        }
        s.push_str("</ul></details>\n");
    }
    if c.reasons.iter().any(|x| x.contains("Frobenius"))
        || c.key_metrics
            .iter()
            .any(|m| m.description.contains("Frobenius"))
    {
        s.push_str(&format!("<p class=\"note\">{}</p>\n", h(FROBENIUS_NOTE)));
    }
    s.push_str("</section>\n");
}

fn verdict_table(r: &Report, s: &mut String) {
    s.push_str("<table id=\"verdicts\"><thead><tr><th>assumption</th><th>verdict</th><th>what it means for your training</th></tr></thead><tbody>\n");
    for (a, c) in r.assumptions.iter() {
        s.push_str(&format!(
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td></tr>\n",
            a.key(),
            h(a.title()),
            verdict(c.verdict),
            h(plain_sentence(a, c.verdict))
        ));
    }
    s.push_str(&format!(
        "<tr><td><a href=\"#ou_prediction\">OU prediction (informative)</a></td><td>{}</td><td>{}</td></tr>\n",
        verdict(r.ou_prediction.verdict),
        h(ou_prediction_sentence(r.ou_prediction.verdict))
    ));
    s.push_str("</tbody></table>\n");
}

fn run_section(r: &Report, figs: &[ReportFigure], s: &mut String) {
    let m = &r.run.manifest;
    s.push_str("<section id=\"run\"><h2>The run and its analysis window</h2>\n");
    figures_of(figs, Section::Window, s);
    s.push_str(&format!(
        "<p>Analysis window ({}): {}</p>\n<table>\n",
        h(&format!("{:?}", r.run.window.method).to_lowercase()),
        h(&r.run.window.reason)
    ));
    let rows: Vec<(String, String)> = vec![
        ("run directory".into(), r.run.dir.clone()),
        (
            "learning rate ε".into(),
            format!(
                "{} (effective, mean-gradient units: {})",
                num(m.learning_rate),
                num(r.run.effective_learning_rate)
            ),
        ),
        (
            "batch size S / data set size N".into(),
            format!(
                "{} / {} (sampling {})",
                m.batch_size,
                m.dataset_size,
                super::sampling_text(m)
            ),
        ),
        (
            "checkpoints analysed".into(),
            r.run
                .checkpoints
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "parameters d / analysis dimension k".into(),
            format!(
                "{} / {} ({})",
                r.run.dims.d,
                r.run.dims.k,
                super::subspace_text(r.run.dims.subspace)
            ),
        ),
    ];
    let meta = ev::metadata_strings(r);
    for (k, v) in rows.iter().chain(meta.iter()) {
        s.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>\n", h(k), h(v)));
    }
    s.push_str("</table>\n");
    let lines = crate::phases::evidence_lines(&r.run.window);
    if !lines.is_empty() {
        s.push_str(&format!(
            "<p>Why this window: the window evidence.</p>\n<pre class=\"window-evidence\">{}</pre>\n",
            h(&lines.join("\n"))
        ));
    }
    s.push_str("</section>\n");
}

/// The seed-stability table: every check's verdict under each seed of the draws.
fn stability_section(r: &Report, s: &mut String) {
    let Some(ds) = &r.draw_stability else {
        return;
    };
    s.push_str(&format!(
        "<section id=\"seed-stability\"><h2>Seed stability</h2>\n<p>{}</p>\n",
        h(&super::narrate::stability::summary(ds))
    ));
    if !ds.checks.is_empty() {
        s.push_str("<table>\n<tr><th>check</th>");
        for seed in &ds.seeds {
            s.push_str(&format!("<th>seed {seed}</th>"));
        }
        s.push_str("<th>same verdict</th></tr>\n");
        for c in &ds.checks {
            s.push_str(&format!("<tr><th>{}</th>", h(&c.check)));
            for v in &c.verdicts {
                s.push_str(&format!("<td>{}</td>", v.as_str()));
            }
            let same = if c.agree {
                "yes"
            } else {
                "<strong>no</strong>"
            };
            s.push_str(&format!("<td>{same}</td></tr>\n"));
        }
        s.push_str("</table>\n");
    }
    s.push_str("</section>\n");
}

fn provenance(r: &Report, s: &mut String) {
    s.push_str("<section id=\"provenance\"><h2>Provenance</h2>\n<table>\n");
    let mut rows = vec![
        (
            "tool".to_string(),
            format!(
                "{} {} (report schema {})",
                r.tool.name, r.tool.version, r.schema_version
            ),
        ),
        ("seed".to_string(), r.seed.to_string()),
        ("inputs SHA-256".to_string(), r.run.inputs_digest.clone()),
        ("files read".to_string(), r.run.inputs.len().to_string()),
        (
            "thresholds".to_string(),
            serde_json::to_string(&r.thresholds).unwrap_or_default(),
        ),
    ];
    if let Some(p) = &r.provenance {
        rows.insert(1, ("build commit".into(), p.build_commit.clone()));
        rows.insert(2, ("command line".into(), p.command_line.clone()));
    }
    for (k, v) in rows {
        s.push_str(&format!(
            "<tr><th>{}</th><td><code>{}</code></td></tr>\n",
            h(&k),
            h(&v)
        ));
    }
    s.push_str("</table>\n<details><summary>Files read (path, SHA-256)</summary><ul>\n");
    for f in &r.run.inputs {
        s.push_str(&format!(
            "<li><code>{}</code> {}</li>\n",
            h(&f.path),
            h(&f.sha256)
        ));
    }
    s.push_str("</ul></details></section>\n");
}

/// report.html with the given figures.
pub fn render_with(r: &Report, figs: &[ReportFigure]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "<h1>sgd-ou report: {}</h1>\n<p>May this run's SGD be modelled as an \
         Ornstein–Uhlenbeck process? Four assumptions decide it; the OU prediction informs.</p>\n",
        verdict(r.verdict)
    ));
    if let Some(note) = super::words::overall_note(r) {
        s.push_str(&format!("<p class=\"overall-note\">{}.</p>\n", h(&note)));
    }
    verdict_table(r, &mut s);
    for (a, c) in r.assumptions.iter() {
        let section = match a {
            crate::checks::Assumption::GaussianNoise => Section::GaussianNoise,
            crate::checks::Assumption::ConstantCovariance => Section::ConstantCovariance,
            crate::checks::Assumption::SmallStep => Section::SmallStep,
            crate::checks::Assumption::QuadraticLoss => Section::QuadraticLoss,
        };
        let head = Head {
            id: a.key(),
            title: a.title(),
            sentence: plain_sentence(a, c.verdict),
            section,
        };
        check_section(r, head, c, figs, &mut s);
    }
    let head = Head {
        id: "ou_prediction",
        title: "OU prediction (informative)",
        sentence: ou_prediction_sentence(r.ou_prediction.verdict),
        section: Section::OuPrediction,
    };
    check_section(r, head, &r.ou_prediction, figs, &mut s);
    run_section(r, figs, &mut s);
    stability_section(r, &mut s);
    if !r.warnings.is_empty() {
        s.push_str("<section id=\"warnings\"><h2>Warnings</h2><ul>\n");
        for w in &r.warnings {
            s.push_str(&format!("<li>{}</li>\n", h(w)));
        }
        s.push_str("</ul></section>\n");
    }
    provenance(r, &mut s);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <title>sgd-ou report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{s}</body>\n</html>\n",
        h(&r.verdict.as_str().to_uppercase())
    )
}

/// report.html with the report's own figures.
pub fn render(r: &Report) -> String {
    render_with(r, &super::plots::report_figures(r))
}
