//! LaTeX that a paper can \input: a sample results table, a methods paragraph citing every
//! reference (with the generated references.bib run through BibTeX) and every TikZ figure
//! compile with pdflatex in `article` and `twocolumn` layouts without any overfull box, and
//! hostile run metadata is typeset as text, never executed. Skipped visibly
//! (SKIPPED: pdflatex not found) when TeX Live is not installed.

use crate::paper_support;

use paper_support::{
    compile_latex, example_report, hostile_report, latex_document, overfull_boxes, report_document,
    sample_figures, simulated_report, tool_or_skip, ReportSet, HOSTILE,
};
use sgd_ou::report::bib::{bibtex_for, sgd_ou_citation, REFERENCES};
use sgd_ou::report::escape::{latex_label, latex_text};

/// A results table in the intended shape: human names, estimate with interval, tolerance,
/// verdict; fits `\columnwidth` through tabularx.
fn sample_table(run: &str) -> String {
    let rows = [
        (
            "Gaussian minibatch noise (worst direction)",
            "0.101 [0.094, 0.108]",
            "0.10",
            "fail",
        ),
        (
            "Constant noise covariance",
            "0.043 [0.031, 0.057]",
            "0.10",
            "pass",
        ),
        (
            "Locally quadratic loss",
            "0.012 [0.008, 0.019]",
            "0.05",
            "pass",
        ),
        (
            "Small step (range over checkpoints)",
            "0.31 -- 0.44",
            "0.50",
            "pass",
        ),
        (
            "OU prediction (relative Frobenius difference)",
            "0.27 [0.19, 0.36]",
            "--",
            "informative",
        ),
    ];
    let mut t = format!(
        "\\begin{{table}}[t]\n\\centering\\small\n\\caption{{Assumption checks of run {}. Intervals: 95\\,\\% bootstrap (rows 1--3, 5); range over checkpoints (row 4).}}\n\\label{{tab:sgd-ou-{}}}\n",
        latex_text(run),
        latex_label(run)
    );
    t.push_str("\\begin{tabularx}{\\columnwidth}{@{}>{\\raggedright\\arraybackslash}X>{\\raggedleft\\arraybackslash}p{6.2em}rl@{}}\n\\toprule\n");
    t.push_str("Check & Estimate [95\\,\\% CI] & Tol. & Verdict\\\\\n\\midrule\n");
    for (name, est, tol, verdict) in rows {
        t.push_str(&format!(
            "{} & {} & {} & {}\\\\\n",
            latex_text(name),
            est,
            tol,
            latex_text(verdict)
        ));
    }
    t.push_str("\\bottomrule\n\\end{tabularx}\n\\end{table}\n");
    t
}

/// A methods paragraph citing every reference, and a block of hostile run notes.
fn sample_methods() -> String {
    let keys: Vec<&str> = REFERENCES.iter().map(|r| r.key).collect();
    let mut s = String::from("\\section*{Methods}\nWe tested whether the SGD run may be modelled as an Ornstein--Uhlenbeck process \\cite{mandt2017} with sgd-ou \\cite{");
    s.push_str(&keys.join(","));
    s.push_str(",sgd-ou}. \\lipsum[1]\n\n\\begin{flushleft}\\small Run notes:\n");
    for h in HOSTILE {
        s.push_str(&format!("\\\\ {}\n", latex_text(h)));
    }
    s.push_str("\\end{flushleft}\n");
    s
}

fn sample_body() -> (String, Vec<(String, String)>) {
    let mut body = sample_methods();
    body.push_str(&sample_table("run 7/resnet_18"));
    let mut files = Vec::new();
    for (name, f) in sample_figures() {
        body.push_str(&format!(
            "\\begin{{figure}}[tbp]\n\\centering\n{}\\caption{{Figure {name}.}}\n\\end{{figure}}\n",
            f.tikz.tex
        ));
        files.extend(f.tikz.data_files);
    }
    body.push_str("\\clearpage\n\\bibliographystyle{plain}\n\\bibliography{references}\n");
    let keys: Vec<&str> = REFERENCES.iter().map(|r| r.key).collect();
    let bib = format!("{}\n{}", bibtex_for(&keys).unwrap(), sgd_ou_citation());
    files.push(("references.bib".into(), bib));
    (body, files)
}

fn compile_in(class_options: &str, dir_name: &str) {
    let Some(_) = tool_or_skip(&["pdflatex"]) else {
        return;
    };
    let Some(_) = tool_or_skip(&["bibtex"]) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir_name);
    let _ = std::fs::remove_dir_all(&dir);
    let (body, files) = sample_body();
    let run = compile_latex(&dir, &latex_document(class_options, &body), &files, 3, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let over = overfull_boxes(&run.log);
    assert!(
        over.is_empty(),
        "overfull boxes in {class_options}:\n{}",
        over.join("\n")
    );
    assert!(
        !run.log.contains("Citation") || !run.log.contains("undefined"),
        "undefined citations"
    );
    assert!(!dir.join("pwned").exists(), "\\write18 ran");
    assert!(!run.log.contains("root:x:0"), "\\input read /etc/passwd");
    assert!(std::fs::metadata(&run.pdf).unwrap().len() > 10_000);
    println!("compiled {}", run.pdf.display());
}

#[test]
fn compiles_in_article_without_overfull_boxes() {
    compile_in("a4paper,10pt", "paper_latex_article");
}

#[test]
fn compiles_in_twocolumn_without_overfull_boxes() {
    compile_in("letterpaper,10pt,twocolumn", "paper_latex_twocolumn");
}

#[test]
fn the_overfull_check_can_fail() {
    let Some(_) = tool_or_skip(&["pdflatex"]) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("paper_latex_overfull");
    let _ = std::fs::remove_dir_all(&dir);
    let body = "\\begin{tabular}{llllllll}\\toprule a very long header & another very long header & and another & and one more & and more & and more & and more & end\\\\\\bottomrule\\end{tabular}";
    let run = compile_latex(&dir, &latex_document("twocolumn", body), &[], 1, false).unwrap();
    assert!(!overfull_boxes(&run.log).is_empty());
}

/// Compiles a REAL report set (methods.tex, report.tex with its figures, references.bib through
/// BibTeX) in `article` and `twocolumn`; fails on any error, BibTeX warning or overfull box.
fn compile_report_set(set: &ReportSet, tag: &str) {
    assert!(
        set.files()
            .iter()
            .any(|(n, _)| n.starts_with("figures/") && n.ends_with(".dat")),
        "the set has figure data: {:?}",
        set.files().iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for class in ["", "twocolumn"] {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "paper_latex_real_{tag}_{}",
            if class.is_empty() { "article" } else { class }
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let run = compile_latex(&dir, &report_document(class), &set.files(), 3, true)
            .unwrap_or_else(|e| panic!("{tag} {class}: {e}"));
        let over = overfull_boxes(&run.log);
        assert!(over.is_empty(), "{tag} {class:?}: {over:#?}");
        assert!(
            !run.log.contains("Citation") || !run.log.contains("undefined"),
            "{tag}: undefined citation"
        );
        assert!(run.pdf.is_file());
        assert!(!dir.join("pwned").exists(), "{tag}: a \\write18 ran");
    }
}

#[test]
fn the_real_example_report_compiles_in_article_and_twocolumn() {
    if tool_or_skip(&["pdflatex"]).is_none() || tool_or_skip(&["bibtex"]).is_none() {
        return;
    }
    let set = example_report("paper_latex");
    assert_eq!(set.exit_code, 0);
    compile_report_set(&set, "example");
}

#[test]
fn a_real_failing_report_compiles_in_article_and_twocolumn() {
    if tool_or_skip(&["pdflatex"]).is_none() || tool_or_skip(&["bibtex"]).is_none() {
        return;
    }
    let set = simulated_report("paper_latex", "heavy-tailed-noise");
    assert_eq!(set.exit_code, 1, "the heavy-tailed run fails");
    compile_report_set(&set, "heavy");
}

/// Hostile run metadata and directory names compile as text: no \\write18, \\input or
/// \\catcode of the input reaches the generated LaTeX as a command.
#[test]
fn a_hostile_report_compiles_without_executing_anything() {
    let set = hostile_report("paper_latex");
    for (name, body) in set.files().iter().filter(|(n, _)| n.ends_with(".tex")) {
        for bad in [
            "\\write18",
            "\\input{/etc",
            "\\catcode",
            "^^5c",
            "\\immediate",
        ] {
            assert!(!body.contains(bad), "{name} contains {bad}");
        }
    }
    if tool_or_skip(&["pdflatex"]).is_none() || tool_or_skip(&["bibtex"]).is_none() {
        return;
    }
    compile_report_set(&set, "hostile");
}

/// Every key that methods.tex cites has an entry in references.bib, and nothing else is there
/// (besides sgd-ou's own entry).
#[test]
fn methods_cite_exactly_the_bibliography() {
    let set = example_report("paper_latex_keys");
    let cited: std::collections::BTreeSet<String> =
        sgd_ou::report::methods::cite_keys_in(&set.read("methods.tex"))
            .into_iter()
            .collect();
    let bib = set.read("references.bib");
    let entries: std::collections::BTreeSet<String> = bib
        .lines()
        .filter_map(|l| l.strip_prefix('@'))
        .map(|l| {
            l[l.find('{').unwrap() + 1..]
                .trim_end_matches(',')
                .to_string()
        })
        .collect();
    assert!(cited.len() >= 10, "{cited:?}");
    assert_eq!(cited, entries, "cited vs references.bib");
}
