//! The terminal summary printed by `sgd-ou verify`.

use super::{ci_text, num, p_text, title, Report};

/// A plain-text summary table followed by the summary sentence of each check.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "sgd-ou {} · run {} · {} checkpoints · d = {}, k = {} ({}) · seed {}\n\n",
        r.tool.version,
        r.run.dir,
        r.run.checkpoints.len(),
        r.run.dims.d,
        r.run.dims.k,
        super::subspace_text(r.run.dims.subspace),
        r.seed
    ));
    s.push_str(&format!(
        "analysis window ({}): {}\n",
        r.run.window.method, r.run.window.reason
    ));
    for line in crate::phases::evidence_lines(&r.run.window) {
        s.push_str(&format!("  {line}\n"));
    }
    s.push('\n');
    s.push_str(&format!(
        "{:<32} {:<13} {:<30} {:>10} {:<22} {:<10} {}\n",
        "assumption", "verdict", "metric", "estimate", "CI", "tolerance", "p"
    ));
    s.push_str(&"-".repeat(124));
    s.push('\n');
    for (key, c) in r.assumptions.iter() {
        let verdict = c.verdict.as_str().to_uppercase();
        if c.key_metrics.is_empty() {
            s.push_str(&format!("{:<32} {:<13}\n", title(key), verdict));
        }
        for (i, m) in c.key_metrics.iter().enumerate() {
            let (t, v) = if i == 0 {
                (title(key), verdict.as_str())
            } else {
                ("", "")
            };
            s.push_str(&format!(
                "{:<32} {:<13} {:<30} {:>10} {:<22} {:<10} {}\n",
                t,
                v,
                m.name,
                num(m.estimate),
                ci_text(m),
                super::tol_text(m),
                p_text(m.p_value)
            ));
        }
    }
    s.push('\n');
    for (key, c) in r.assumptions.iter() {
        s.push_str(&format!("{}: {}\n", title(key), c.summary));
        for reason in &c.reasons {
            s.push_str(&format!("    - {reason}\n"));
        }
    }
    s.push_str(&format!(
        "OU prediction (informative, not an assumption): {}: {}\n",
        r.ou_prediction.verdict, r.ou_prediction.summary
    ));
    for m in &r.ou_prediction.key_metrics {
        s.push_str(&format!(
            "    {} = {} {} {}\n",
            m.name,
            num(m.estimate),
            ci_text(m),
            super::tol_text(m)
        ));
    }
    if let Some(ds) = &r.draw_stability {
        s.push_str(&format!(
            "seed stability: {}\n",
            super::narrate::stability::summary(ds)
        ));
    }
    for w in &r.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    s.push_str(&format!(
        "\nOverall: {} (inputs sha256 {})\n",
        r.verdict.as_str().to_uppercase(),
        &r.run.inputs_digest[..16]
    ));
    if let Some(note) = super::words::overall_note(r) {
        s.push_str(&format!("  {note}\n"));
    }
    s
}
