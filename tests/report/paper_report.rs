//! `sgd-ou report` re-renders a saved report.json to the same bytes `verify --out` wrote,
//! `sgd-ou cite` prints BibTeX for sgd-ou, `--help` lists the exit codes, the report set holds
//! every file, and hostile run metadata stays text in every format (Markdown, HTML, LaTeX).

use crate::paper_support;

use paper_support::{example_report, hostile_report, sgd_ou_bin, HOSTILE_ALL};

#[test]
fn re_rendering_report_json_gives_the_same_bytes() {
    let set = example_report("paper_report_rerender");
    let json = set.out.join("report.json");
    for (format, file) in [
        ("md", "report.md"),
        ("tex", "report.tex"),
        ("html", "report.html"),
    ] {
        let o = sgd_ou_bin(&["report", json.to_str().unwrap(), "--format", format]);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            o.stdout == set.read(file).as_bytes(),
            "{format}: re-rendered bytes differ from {file}"
        );
    }
    // --out writes the whole set again, byte for byte.
    let again = set.out.parent().unwrap().join("again");
    let o = sgd_ou_bin(&[
        "report",
        json.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    for (name, body) in set.files() {
        assert_eq!(
            std::fs::read_to_string(again.join(&name)).unwrap(),
            body,
            "{name} differs"
        );
    }
}

#[test]
fn report_of_a_bad_file_is_one_line_and_exit_2() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("paper_report_bad");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"schema_version\": 2}").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(["report", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.json") && err.contains("report.json"),
        "{err}"
    );
}

#[test]
fn the_set_holds_every_file() {
    let set = example_report("paper_report_set");
    let names: Vec<String> = set.files().into_iter().map(|(n, _)| n).collect();
    for want in [
        "report.json",
        "report.md",
        "report.tex",
        "report.html",
        "methods.tex",
        "references.bib",
        "figures/qq.svg",
        "figures/qq.tex",
        "figures/phases.svg",
        "figures/covariance-change.svg",
        "figures/ou-ellipses.svg",
        "figures/curvature-spectrum.svg",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let json: serde_json::Value = serde_json::from_str(&set.read("report.json")).unwrap();
    let prov = &json["provenance"];
    assert!(prov["command_line"]
        .as_str()
        .unwrap()
        .starts_with("sgd-ou verify --run-dir "));
    assert_eq!(prov["build_commit"], sgd_ou::report::build_info::GIT_COMMIT);
    // Paths are relative to the current directory by default.
    assert!(
        !json["run"]["dir"].as_str().unwrap().starts_with('/'),
        "{}",
        json["run"]["dir"]
    );
    let tex = set.read("report.tex");
    assert!(
        tex.contains("\\label{tab:sgd-ou:synthetic-noisy-quadratic"),
        "label from the run"
    );
    assert!(tex.contains("\\begin{tabularx}{\\columnwidth}"));
    assert!(
        tex.contains("range over the checkpoints"),
        "the small-step interval is named truthfully"
    );
    let md = set.read("report.md");
    assert!(md.contains("![qq](figures/qq.svg)"));
    assert!(!md.contains("= < 1e-16") && !set.read("report.html").contains("= &lt; 1e-16"));
}

#[test]
fn cite_prints_bibtex_and_help_lists_exit_codes() {
    let o = sgd_ou_bin(&["cite"]);
    let bib = String::from_utf8(o.stdout).unwrap();
    assert!(bib.starts_with("@misc{sgd-ou,"), "{bib}");
    assert_eq!(bib, sgd_ou::report::bib::sgd_ou_citation());
    for args in [&["--help"][..], &["verify", "--help"][..]] {
        let help = String::from_utf8(sgd_ou_bin(args).stdout).unwrap();
        assert!(
            help.contains("0 pass, 1 fail, 2 bad input") && help.contains("3 inconclusive"),
            "{args:?}: {help}"
        );
    }
}

/// `<script>`, `\input`, `\write18`, `\catcode`, `^^5c`, `|` and backticks from run.json and the
/// directory name reach every format as text.
#[test]
fn hostile_text_stays_text_in_every_format() {
    let set = hostile_report("paper_report_hostile");
    let html = set.read("report.html");
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let md = set.read("report.md");
    assert!(
        !md.contains("<script") && !md.contains("<b>"),
        "raw HTML in report.md"
    );
    assert!(
        md.contains("\\|") && md.contains("\\`"),
        "| and ` escaped in report.md"
    );
    for line in md.lines().filter(|l| l.contains("pipe")) {
        assert!(
            !line.contains(" | pipe"),
            "an unescaped | in a table cell: {line}"
        );
    }
    for (name, body) in set.files().iter().filter(|(n, _)| n.ends_with(".tex")) {
        for bad in ["\\write18", "\\input{/etc", "\\catcode", "^^5c"] {
            assert!(!body.contains(bad), "{name} contains {bad}");
        }
    }
    let json: serde_json::Value = serde_json::from_str(&set.read("report.json")).unwrap();
    assert_eq!(
        json["run"]["manifest"]["model"], HOSTILE_ALL,
        "JSON keeps the text as it is"
    );
}
