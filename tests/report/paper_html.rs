//! A standalone HTML page (inline SVG and CSS, no network) built from every figure kind and
//! hostile run metadata loads in headless Chromium without script errors, every figure has a
//! non-zero rendered size, no injected script exists or runs, and a screenshot is written.
//! Skipped visibly (SKIPPED: chromium not found) when Chromium is not installed.

use crate::paper_support;

use paper_support::{check_in_chromium, sample_figures, tool_or_skip, HOSTILE};
use sgd_ou::report::escape::{html_attr, html_text};

/// A sample page in the shape of report.html: verdict table, then one section per figure.
fn sample_page() -> String {
    let mut body = String::new();
    body.push_str("<h1>sgd-ou report</h1>\n<table><thead><tr><th>Check</th><th>Estimate</th><th>Verdict</th></tr></thead><tbody>\n");
    for (i, h) in HOSTILE.iter().enumerate() {
        body.push_str(&format!(
            "<tr><td title=\"{}\">{}</td><td>0.{i}</td><td class=\"pass\">pass</td></tr>\n",
            html_attr(h),
            html_text(h)
        ));
    }
    body.push_str("</tbody></table>\n");
    for (name, f) in sample_figures() {
        body.push_str(&format!(
            "<section id=\"{name}\"><h2>{name}</h2><figure>{}<figcaption>Figure {name}.</figcaption></figure></section>\n",
            f.svg
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sgd-ou report</title>\n\
         <style>body{{font-family:sans-serif;max-width:960px;margin:auto}}figure svg{{max-width:100%;height:auto}}\
         td,th{{padding:2px 8px}}.pass{{color:#007a4d}}</style></head>\n<body>\n{body}</body></html>\n"
    )
}

#[test]
fn sample_page_renders_in_headless_chromium() {
    let Some(chromium) = tool_or_skip(&["chromium", "chromium-browser", "google-chrome"]) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("paper_html");
    let _ = std::fs::remove_dir_all(&dir);
    let check = check_in_chromium(&chromium, &dir, &sample_page()).unwrap();
    assert!(check.errors.is_empty(), "script errors: {:?}", check.errors);
    assert_eq!(
        check.foreign_scripts, 0,
        "an injected <script> element exists"
    );
    assert_eq!(check.svg_sizes.len(), 6, "{:?}", check.svg_sizes);
    for (w, h) in &check.svg_sizes {
        assert!(*w > 100.0 && *h > 100.0, "figure rendered at {w}x{h}");
    }
    let png = std::fs::read(&check.screenshot).unwrap();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "screenshot too small"
    );
    println!("screenshot: {}", check.screenshot.display());
}

#[test]
fn the_check_catches_errors_and_injected_scripts() {
    // The harness must be able to fail: a page with a throwing script and an alert.
    let Some(chromium) = tool_or_skip(&["chromium", "chromium-browser", "google-chrome"]) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("paper_html_bad");
    let _ = std::fs::remove_dir_all(&dir);
    let page = "<!DOCTYPE html><html><head><title>x</title></head><body>\
        <svg width=\"0\" height=\"0\"></svg><script>alert('x');undefinedFunction();</script></body></html>";
    let check = check_in_chromium(&chromium, &dir, page).unwrap();
    assert_eq!(check.foreign_scripts, 1);
    assert_eq!(check.svg_sizes, vec![(0.0, 0.0)]);
    assert!(
        check.errors.iter().any(|e| e.contains("alert called")),
        "{:?}",
        check.errors
    );
    assert!(
        check.errors.iter().any(|e| e.contains("undefinedFunction")),
        "{:?}",
        check.errors
    );
}

/// Loads a REAL report.html in headless Chromium: no script errors, no script element at all,
/// every figure rendered with a non-zero size, a screenshot written.
fn check_real(set: &paper_support::ReportSet, tag: &str, min_figures: usize) {
    let html = set.read("report.html");
    assert!(
        !html.contains("<script"),
        "{tag}: report.html has a script element"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://") || !html.contains(" src=\"http"),
        "{tag}: network reference"
    );
    let Some(chromium) = tool_or_skip(&["chromium", "chromium-browser", "google-chrome"]) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("paper_html_{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    let check = check_in_chromium(&chromium, &dir, &html).unwrap();
    assert!(
        check.errors.is_empty(),
        "{tag}: script errors: {:?}",
        check.errors
    );
    assert_eq!(
        check.foreign_scripts, 0,
        "{tag}: an injected <script> element exists"
    );
    assert!(
        check.svg_sizes.len() >= min_figures,
        "{tag}: {:?}",
        check.svg_sizes
    );
    for (w, h) in &check.svg_sizes {
        assert!(
            *w > 100.0 && *h > 100.0,
            "{tag}: figure rendered at {w}x{h}"
        );
    }
    let png = std::fs::read(&check.screenshot).unwrap();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "{tag}: screenshot too small"
    );
    println!("{tag} screenshot: {}", check.screenshot.display());
}

#[test]
fn the_real_example_report_renders_in_headless_chromium() {
    let set = paper_support::example_report("paper_html");
    check_real(&set, "example", 5);
}

#[test]
fn a_real_failing_report_renders_in_headless_chromium() {
    let set = paper_support::simulated_report("paper_html", "heavy-tailed-noise");
    assert_eq!(set.exit_code, 1);
    let html = set.read("report.html");
    assert!(
        html.contains("class=\"v fail\">FAIL"),
        "the failing verdict is shown"
    );
    check_real(&set, "heavy", 4);
}

#[test]
fn a_hostile_report_stays_text_in_headless_chromium() {
    let set = paper_support::hostile_report("paper_html");
    let html = set.read("report.html");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the model is shown as text"
    );
    assert!(!html.contains("<img"), "an injected element");
    check_real(&set, "hostile", 1);
}
