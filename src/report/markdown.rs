//! report.md: the report for people.

use super::{ci_text, num, p_text, title, Report};

fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Renders the report as GitHub-flavoured Markdown.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    s.push_str("# sgd-ou report\n\n");
    s.push_str(&format!(
        "**Overall verdict: {}**: may this run's SGD be modelled as an Ornstein–Uhlenbeck process?\n\n",
        r.verdict.as_str().to_uppercase()
    ));
    s.push_str("| | |\n|---|---|\n");
    s.push_str(&format!("| run directory | `{}` |\n", esc(&r.run.dir)));
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

    s.push_str("## Verdicts\n\n| assumption | verdict | summary |\n|---|---|---|\n");
    for (key, c) in r.assumptions.iter() {
        s.push_str(&format!(
            "| {} | **{}** | {} |\n",
            title(key),
            c.verdict.as_str().to_uppercase(),
            esc(&c.summary)
        ));
    }
    s.push('\n');
    for (key, c) in r.assumptions.iter() {
        s.push_str(&format!(
            "## {}: {}\n\n{}\n\n",
            title(key),
            c.verdict,
            c.summary
        ));
        if !c.key_metrics.is_empty() {
            s.push_str(
                "| metric | estimate | CI | tolerance | p (corrected) |\n|---|---|---|---|---|\n",
            );
            for km in &c.key_metrics {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    esc(&km.description),
                    num(km.estimate),
                    ci_text(km),
                    esc(&super::tol_text(km)),
                    p_text(km.p_value)
                ));
            }
            s.push('\n');
        }
        for reason in &c.reasons {
            s.push_str(&format!("- {}\n", esc(reason)));
        }
        s.push('\n');
    }
    let o = &r.ou_prediction;
    s.push_str(&format!(
        "## OU prediction (informative): {}\n\nDoes the run's stationary behaviour match what the \
         OU model predicts? This section informs; it does not enter the overall verdict.\n\n{}\n\n",
        o.verdict, o.summary
    ));
    if !o.key_metrics.is_empty() {
        s.push_str("| metric | estimate | CI | tolerance |\n|---|---|---|---|\n");
        for km in &o.key_metrics {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                esc(&km.description),
                num(km.estimate),
                ci_text(km),
                esc(&super::tol_text(km))
            ));
        }
        s.push('\n');
    }
    for reason in &o.reasons {
        s.push_str(&format!("- {}\n", esc(reason)));
    }
    s.push('\n');
    s.push_str("## Drift and diffusion phases\n\n| step | ‖g‖² | tr Q (noise at S) | noise-to-signal | phase | analysed |\n|---|---|---|---|---|---|\n");
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
    if !r.warnings.is_empty() {
        s.push_str("## Warnings\n\n");
        for w in &r.warnings {
            s.push_str(&format!("- {w}\n"));
        }
        s.push('\n');
    }
    s.push_str(
        "Methods, thresholds and their reasons: docs/methods.md of sgd-ou. The JSON report \
         (report.json) holds every number behind this page.\n",
    );
    s
}
