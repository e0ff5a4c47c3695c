//! report.md: the report for people. Untrusted text (run directory, metadata, the window's
//! reason, file names) and the checks' sentences are escaped with
//! [`super::escape::markdown_inline`]; figures are linked from `figures/`.

use super::escape::markdown_inline as esc;
use super::plots::{ReportFigure, Section};
use super::words::{
    comparison, estimate_text, interval_text, metric_name, ou_prediction_sentence, p_phrase,
    p_value_note, plain_sentence, tidy, FROBENIUS_NOTE,
};
use super::{num, title, Report};

fn figures_md(figs: &[ReportFigure], section: Section, s: &mut String) {
    for f in figs.iter().filter(|f| f.section == section) {
        s.push_str(&format!(
            "![{}](figures/{}.svg)\n\n*{}*\n\n",
            f.id,
            f.id,
            esc(&f.caption)
        ));
    }
}

fn metrics_md(c: &crate::checks::CheckResult, s: &mut String) {
    if c.key_metrics.is_empty() {
        return;
    }
    s.push_str("| metric | estimate | interval | against the tolerance | p (corrected) |\n|---|---|---|---|---|\n");
    for km in &c.key_metrics {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            esc(&metric_name(km)),
            esc(&estimate_text(km)),
            esc(&interval_text(km)),
            esc(&comparison(km).unwrap_or_default()),
            esc(&km.p_value.map(p_phrase).unwrap_or_default())
        ));
    }
    s.push('\n');
}

fn section_of(a: crate::checks::Assumption) -> Section {
    use crate::checks::Assumption::*;
    match a {
        GaussianNoise => Section::GaussianNoise,
        ConstantCovariance => Section::ConstantCovariance,
        SmallStep => Section::SmallStep,
        QuadraticLoss => Section::QuadraticLoss,
    }
}

/// Renders the report as GitHub-flavoured Markdown with the report's own figures.
pub fn render(r: &Report) -> String {
    render_with(r, &super::plots::report_figures(r))
}

/// Renders the report as GitHub-flavoured Markdown, linking `figs`.
pub fn render_with(r: &Report, figs: &[ReportFigure]) -> String {
    let mut s = String::new();
    header_md(r, &mut s);
    verdicts_md(r, figs, &mut s);
    ou_prediction_md(r, figs, &mut s);
    phases_md(r, figs, &mut s);
    stability_md(r, &mut s);
    if !r.warnings.is_empty() {
        s.push_str("## Warnings\n\n");
        for w in &r.warnings {
            s.push_str(&format!("- {}\n", esc(w)));
        }
        s.push('\n');
    }
    provenance_md(r, &mut s);
    s.push_str(
        "Methods, thresholds and their reasons: docs/methods.md of sgd-ou. The JSON report \
         (report.json) holds every number behind this page.\n",
    );
    s
}

/// Title, overall verdict and the run table.
fn header_md(r: &Report, s: &mut String) {
    s.push_str("# sgd-ou report\n\n");
    s.push_str(&format!(
        "**Overall verdict: {}**: may this run's SGD be modelled as an Ornstein–Uhlenbeck process?\n\n",
        r.verdict.as_str().to_uppercase()
    ));
    if let Some(note) = super::words::overall_note(r) {
        s.push_str(&format!("*{}.*\n\n", esc(&note)));
    }
    s.push_str("| | |\n|---|---|\n");
    s.push_str(&format!("| run directory | {} |\n", esc(&r.run.dir)));
    s.push_str(&format!(
        "| tool | {} {} (report schema {}) |\n",
        r.tool.name, r.tool.version, r.schema_version
    ));
    s.push_str(&format!("| seed | {} |\n", r.seed));
    let m = &r.run.manifest;
    s.push_str(&format!(
        "| learning rate ε | {} (effective, mean-gradient units: {}) |\n",
        num(m.learning_rate),
        num(r.run.effective_learning_rate)
    ));
    s.push_str(&format!(
        "| batch size S / data set size N | {} / {} (sampling {}) |\n",
        m.batch_size,
        m.dataset_size,
        super::sampling_text(m)
    ));
    s.push_str(&format!(
        "| checkpoints | {} (steps {}) |\n",
        r.run.checkpoints.len(),
        r.run
            .checkpoints
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s.push_str(&format!(
        "| analysis window | {} ({}) |\n",
        esc(&r.run.window.reason),
        r.run.window.method
    ));
    s.push_str(&format!(
        "| parameters d / analysis dimension k | {} / {} ({}) |\n",
        r.run.dims.d,
        r.run.dims.k,
        super::subspace_text(r.run.dims.subspace)
    ));
    s.push_str(&format!(
        "| inputs SHA-256 | `{}` |\n\n",
        r.run.inputs_digest
    ));
}

/// The verdict table and one section per assumption.
fn verdicts_md(r: &Report, figs: &[ReportFigure], s: &mut String) {
    s.push_str("## Verdicts\n\n| assumption | verdict | what it means for your training |\n|---|---|---|\n");
    for (key, c) in r.assumptions.iter() {
        s.push_str(&format!(
            "| {} | **{}** | {} |\n",
            title(key),
            c.verdict.as_str().to_uppercase(),
            esc(plain_sentence(key, c.verdict))
        ));
    }
    s.push('\n');
    for (key, c) in r.assumptions.iter() {
        s.push_str(&format!(
            "## {}: {}\n\n{}\n\n",
            title(key),
            c.verdict,
            esc(plain_sentence(key, c.verdict))
        ));
        figures_md(figs, section_of(key), s);
        s.push_str(&format!("{}\n\n", esc(&tidy(&c.summary))));
        if let Some(note) = p_value_note(c, r.thresholds.alpha) {
            s.push_str(&format!("> {}\n\n", esc(&note)));
        }
        metrics_md(c, s);
        for reason in &c.reasons {
            s.push_str(&format!("- {}\n", esc(&tidy(reason))));
        }
        s.push('\n');
        if c.reasons.iter().any(|x| x.contains("Frobenius")) {
            s.push_str(&format!("{}\n\n", esc(FROBENIUS_NOTE)));
        }
    }
}

/// The informative OU-prediction section.
fn ou_prediction_md(r: &Report, figs: &[ReportFigure], s: &mut String) {
    let o = &r.ou_prediction;
    s.push_str(&format!(
        "## OU prediction (informative): {}\n\n{} This section informs; it does not enter the \
         overall verdict.\n\n",
        o.verdict,
        esc(ou_prediction_sentence(o.verdict))
    ));
    figures_md(figs, Section::OuPrediction, s);
    s.push_str(&format!("{}\n\n", esc(&tidy(&o.summary))));
    metrics_md(o, s);
    for reason in &o.reasons {
        s.push_str(&format!("- {}\n", esc(&tidy(reason))));
    }
    s.push('\n');
    s.push_str(&format!("{}\n\n", esc(FROBENIUS_NOTE)));
}

/// The drift/diffusion table of every checkpoint.
fn phases_md(r: &Report, figs: &[ReportFigure], s: &mut String) {
    s.push_str("## Drift and diffusion phases\n\n");
    figures_md(figs, Section::Window, s);
    s.push_str("| step | ‖g‖² | tr Q (noise at S) | noise-to-signal | phase | analysed |\n|---|---|---|---|---|---|\n");
    for p in &r.run.phases {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:?} | {} |\n",
            p.step,
            num(p.grad_norm2),
            num(p.trace_noise),
            p.noise_to_signal.map(num).unwrap_or_else(|| "∞".into()),
            p.phase,
            if r.run.checkpoints.contains(&p.step) {
                "yes"
            } else {
                "no"
            }
        ));
    }
    s.push('\n');
    let lines = crate::phases::evidence_lines(&r.run.window);
    if !lines.is_empty() {
        s.push_str(&format!(
            "**Why this window.** {}\n\n```text\n{}\n```\n\n",
            esc(&r.run.window.reason),
            lines.join("\n")
        ));
    }
}

/// The seed-stability table: every check's verdict under each seed of the draws.
fn stability_md(r: &Report, s: &mut String) {
    let Some(ds) = &r.draw_stability else {
        return;
    };
    s.push_str(
        "## Seed stability

",
    );
    s.push_str(&format!(
        "{}

",
        esc(&super::narrate::stability::summary(ds))
    ));
    if ds.checks.is_empty() {
        return;
    }
    let seeds: Vec<String> = ds.seeds.iter().map(|x| format!("seed {x}")).collect();
    s.push_str(&format!(
        "| check | {} | same verdict |\n|---|{}---|\n",
        seeds.join(" | "),
        "---|".repeat(seeds.len())
    ));
    for c in &ds.checks {
        let v: Vec<&str> = c.verdicts.iter().map(|v| v.as_str()).collect();
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            esc(&c.check),
            v.join(" | "),
            if c.agree { "yes" } else { "**no**" }
        ));
    }
    s.push('\n');
}

fn provenance_md(r: &Report, s: &mut String) {
    s.push_str("## Provenance\n\n| | |\n|---|---|\n");
    if let Some(p) = &r.provenance {
        s.push_str(&format!("| build commit | `{}` |\n", esc(&p.build_commit)));
        s.push_str(&format!("| command line | {} |\n", esc(&p.command_line)));
    }
    for (k, v) in super::evidence_view::metadata_strings(r) {
        s.push_str(&format!("| run.json {} | {} |\n", esc(&k), esc(&v)));
    }
    s.push_str(&format!(
        "| thresholds | {} |\n",
        esc(&serde_json::to_string(&r.thresholds).unwrap_or_default())
    ));
    s.push_str("\nFiles read (path, SHA-256):\n\n");
    for f in &r.run.inputs {
        s.push_str(&format!("- {} {}\n", esc(&f.path), esc(&f.sha256)));
    }
    s.push('\n');
}
