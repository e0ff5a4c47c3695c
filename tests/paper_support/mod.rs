//! Shared helpers of the paper-report tests: sample figures from seeded data, and reusable
//! harnesses that compile LaTeX with pdflatex and load HTML in headless Chromium. The harnesses
//! take source text, so the report writers can feed them their real output later.
//!
//! Tools that are missing make the calling test print `SKIPPED: <tool> not found` and return;
//! .ci/run installs them so CI runs these tests.

#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::report::figures::{
    ellipses::{ellipse_plot, EllipseInput},
    qq::{qq_plot, QqInput},
    scatter::{scatter_plot, IntervalPoint, ScatterInput},
    series::{series_plot, NamedSeries, SeriesInput},
    spectrum::{screen_plot, spectrum_plot, ScreenInput, SpectrumInput},
    Figure, FigureOptions, Label,
};
use statrs::distribution::{ContinuousCDF, Normal};

/// Untrusted strings that must stay text in every format.
pub const HOSTILE: [&str; 4] = [
    "<script>alert('x')</script>",
    "\\input{/etc/passwd}",
    "\\immediate\\write18{touch pwned}",
    "^^5ccatcode & 50% $x_1$ #~",
];

/// Absolute path of `tool` on PATH, if any.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The first of `tools` found on PATH, or print the visible skip message.
pub fn tool_or_skip(tools: &[&str]) -> Option<PathBuf> {
    let found = tools.iter().find_map(|t| find_tool(t));
    if found.is_none() {
        println!("SKIPPED: {} not found", tools.join(" / "));
        eprintln!("SKIPPED: {} not found", tools.join(" / "));
    }
    found
}

fn normal_quantiles(n: usize) -> Vec<f64> {
    let nd = Normal::standard();
    (1..=n)
        .map(|i| nd.inverse_cdf((i as f64 - 0.375) / (n as f64 + 0.25)))
        .collect()
}

/// A pointwise 95 % envelope of the sorted standard normal sample of size `n`, from `sims`
/// simulated samples.
pub fn normal_envelope(n: usize, sims: usize, rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<Vec<f64>> = vec![Vec::with_capacity(sims); n];
    for _ in 0..sims {
        let mut s: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut *rng)).collect();
        s.sort_by(f64::total_cmp);
        for (o, v) in order.iter_mut().zip(s) {
            o.push(v);
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    order.iter_mut().map(|v| (q(v, 0.025), q(v, 0.975))).unzip()
}

/// One figure of every kind, from seeded data; names carry [`HOSTILE`] strings.
pub fn sample_figures() -> Vec<(&'static str, Figure)> {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let n = 60;
    let sample: Vec<f64> = (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z + 0.25 * z * z
        })
        .collect();
    let theoretical = normal_quantiles(n);
    let (lo, hi) = normal_envelope(n, 400, &mut rng);
    let qq = qq_plot(
        &QqInput {
            sample: &sample,
            theoretical: &theoretical,
            envelope_lower: &lo,
            envelope_upper: &hi,
            envelope_label: Label::plain("95 % pointwise envelope (400 simulations)"),
            sample_label: Label::plain("direction 3, standardised"),
        },
        &FigureOptions::named("qq"),
    )
    .unwrap();

    let steps: Vec<f64> = (0..500).map(|i| 100.0 * i as f64).collect();
    let loss: Vec<f64> = steps
        .iter()
        .map(|s| 2.0 * (-s / 8000.0).exp() + 0.05)
        .collect();
    let g2: Vec<f64> = steps
        .iter()
        .map(|s| 40.0 * (-s / 5000.0).exp() + 0.8)
        .collect();
    let series = [
        NamedSeries {
            name: Label::plain("loss"),
            values: &loss,
        },
        NamedSeries {
            name: Label::with_tex("‖g‖²", "$\\|g\\|^2$"),
            values: &g2,
        },
    ];
    let series_fig = series_plot(
        &SeriesInput {
            steps: &steps,
            series: &series,
            y_label: Label::plain("value"),
            window: Some((20_000.0, 49_900.0)),
            log_y: true,
        },
        &FigureOptions::named("series"),
    )
    .unwrap();

    let points: Vec<IntervalPoint> = (0..8)
        .map(|i| {
            let x = 0.5 + i as f64;
            let y = 0.02 * x + 0.05 * (i as f64 * 1.3).sin();
            IntervalPoint {
                x,
                y,
                lower: y - 0.08,
                upper: y + 0.1,
            }
        })
        .collect();
    let scatter = scatter_plot(
        &ScatterInput {
            points: &points,
            x_label: Label::plain("distance from the mean iterate"),
            y_label: Label::plain("relative covariance change"),
            interval_label: Label::plain("estimate, 95 % bootstrap interval"),
            reference: Some((0.0, Label::plain("no change"))),
        },
        &FigureOptions::named("scatter"),
    )
    .unwrap();

    let it: Vec<[f64; 2]> = (0..200)
        .map(|_| {
            let a: f64 = StandardNormal.sample(&mut rng);
            let b: f64 = StandardNormal.sample(&mut rng);
            [1.4 * a, 0.5 * a + 0.7 * b]
        })
        .collect();
    let ellipses = ellipse_plot(
        &EllipseInput {
            observed: [[1.96, 0.7], [0.7, 0.74]],
            predicted: [[1.6, 0.4], [0.4, 0.9]],
            points: &it,
            coverage: 0.95,
            x_label: Label::plain("direction 1"),
            y_label: Label::plain("direction 2"),
            observed_label: Label::plain("trajectory, 95 %"),
            predicted_label: Label::plain("Lyapunov prediction, 95 %"),
        },
        &FigureOptions::named("ellipses"),
    )
    .unwrap();

    let eig: Vec<f64> = (0..40).map(|i| 50.0 * 0.8f64.powi(i) - 0.3).collect();
    let spectrum = spectrum_plot(
        &SpectrumInput {
            values: &eig,
            y_label: Label::plain("Hessian eigenvalue"),
            log_y: false,
        },
        &FigureOptions::named("spectrum"),
    )
    .unwrap();

    let values: Vec<f64> = (0..50)
        .map(|i| ((i * 37 % 50) as f64 / 12.0).powf(1.5) + if i % 13 == 0 { 6.0 } else { 0.0 })
        .collect();
    let names: Vec<String> = (0..50)
        .map(|i| match i % 13 {
            0 => HOSTILE[(i / 13) % HOSTILE.len()].to_string(),
            _ => format!("layer{}.weight[{}]", i / 10, i % 10),
        })
        .collect();
    let screen = screen_plot(
        &ScreenInput {
            values: &values,
            names: &names,
            threshold: 5.0,
            threshold_label: Label::plain("threshold 5"),
            top: 4,
            x_label: Label::plain("coordinate"),
            y_label: Label::plain("|skewness| z-score"),
        },
        &FigureOptions::named("screen"),
    )
    .unwrap();
    vec![
        ("qq", qq),
        ("series", series_fig),
        ("scatter", scatter),
        ("ellipses", ellipses),
        ("spectrum", spectrum),
        ("screen", screen),
    ]
}

/// The outcome of one pdflatex (and optional bibtex) build.
#[derive(Debug)]
pub struct LatexRun {
    pub log: String,
    pub pdf: PathBuf,
}

/// A complete LaTeX document around `body`, with the packages the report's LaTeX needs.
pub fn latex_document(class_options: &str, body: &str) -> String {
    format!(
        "\\documentclass[{class_options}]{{article}}\n\
         \\usepackage{{booktabs}}\n\
         \\usepackage{{tabularx}}\n\\usepackage{{pgfplots}}\n\\pgfplotsset{{compat=1.16}}\n\
         \\usepackage{{lipsum}}\n\
         \\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
}

/// Writes `files` and `main.tex` = `source` into `dir` and runs pdflatex (shell escape
/// disabled) `passes` times, with bibtex after the first pass when `bibtex` is set. Returns
/// the final log, or an error with the tail of the log when a run fails.
pub fn compile_latex(
    dir: &Path,
    source: &str,
    files: &[(String, String)],
    passes: usize,
    bibtex: bool,
) -> Result<LatexRun, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for (name, body) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(p, body).map_err(|e| e.to_string())?;
    }
    std::fs::write(dir.join("main.tex"), source).map_err(|e| e.to_string())?;
    for pass in 0..passes.max(1) {
        let st = Command::new("pdflatex")
            .args([
                "-interaction=nonstopmode",
                "-halt-on-error",
                "-no-shell-escape",
                "main.tex",
            ])
            .current_dir(dir)
            .output()
            .map_err(|e| format!("cannot run pdflatex: {e}"))?;
        let log = std::fs::read_to_string(dir.join("main.log")).unwrap_or_default();
        if !st.status.success() {
            let from = log.find("\n!").unwrap_or(log.len().saturating_sub(3000));
            let tail: String = log[from..].chars().take(3000).collect();
            return Err(format!("pdflatex failed in {}:\n{tail}", dir.display()));
        }
        if bibtex && pass == 0 {
            let b = Command::new("bibtex")
                .arg("main")
                .current_dir(dir)
                .output()
                .map_err(|e| format!("cannot run bibtex: {e}"))?;
            let blg = std::fs::read_to_string(dir.join("main.blg")).unwrap_or_default();
            if !b.status.success() || blg.contains("Warning--") || blg.contains("error message") {
                return Err(format!("bibtex complained in {}:\n{blg}", dir.display()));
            }
        }
    }
    Ok(LatexRun {
        log: std::fs::read_to_string(dir.join("main.log")).map_err(|e| e.to_string())?,
        pdf: dir.join("main.pdf"),
    })
}

/// The "Overfull \hbox" (and \vbox) lines of a LaTeX log.
pub fn overfull_boxes(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.starts_with("Overfull \\hbox") || l.starts_with("Overfull \\vbox"))
        .map(str::to_string)
        .collect()
}

/// What headless Chromium saw in a page.
#[derive(Debug)]
pub struct BrowserCheck {
    /// Rendered width × height in CSS pixels of every `<svg>` element, in document order.
    pub svg_sizes: Vec<(f64, f64)>,
    /// Script errors (and calls of `alert`, which only injected markup would make).
    pub errors: Vec<String>,
    /// `<script>` elements other than the harness's own.
    pub foreign_scripts: usize,
    pub screenshot: PathBuf,
}

const CHECK_HEAD: &str = "<script data-sgd-ou-check>window.__errs=[];\
window.addEventListener('error',function(e){window.__errs.push(String(e.message))});\
window.alert=function(m){window.__errs.push('alert called: '+m)};</script>";

const CHECK_TAIL: &str = "<script data-sgd-ou-check>window.addEventListener('load',function(){\
var s=[].map.call(document.querySelectorAll('svg'),function(e){var r=e.getBoundingClientRect();return [r.width,r.height]});\
var f=document.querySelectorAll('script:not([data-sgd-ou-check])').length;\
var p=document.createElement('pre');p.id='sgd-ou-check';\
p.textContent=JSON.stringify({svgs:s,errors:window.__errs,foreign:f});document.body.appendChild(p);});</script>";

/// Runs `cmd`, killing it after `secs` seconds; returns (stdout, stderr).
fn run_with_timeout(mut cmd: Command, secs: u64) -> Result<(String, String), String> {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run chromium: {e}"))?;
    let out_pipe = child.stdout.take();
    let err_pipe = child.stderr.take();
    let read = |p: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = p {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out_t = read(out_pipe.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let err_t = read(err_pipe.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "chromium did not finish within {secs} s (a blocking dialog?)"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok((
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    ))
}

fn chromium_cmd(bin: &Path, profile: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Loads `html` (a complete page) in headless Chromium with a check script injected into its
/// head and end, returns the sizes of its SVGs and any script errors, and writes a screenshot
/// `screenshot.png` into `dir` (each Chromium run is killed after 120 s).
pub fn check_in_chromium(chromium: &Path, dir: &Path, html: &str) -> Result<BrowserCheck, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let page = dir.join("page.html");
    std::fs::write(&page, html).map_err(|e| e.to_string())?;
    // The report's Content-Security-Policy forbids every script, the check script included:
    // it is removed from the checked copy, so the test sees what escaping alone achieves.
    let html = match html.find("<meta http-equiv=\"Content-Security-Policy\"") {
        Some(i) => {
            let end = i + html[i..].find('>').ok_or("unterminated CSP meta")? + 1;
            format!("{}{}", &html[..i], &html[end..])
        }
        None => html.to_string(),
    };
    let checked = html
        .replacen("<head>", &format!("<head>{CHECK_HEAD}"), 1)
        .replacen("</body>", &format!("{CHECK_TAIL}</body>"), 1);
    if !checked.contains("data-sgd-ou-check>window.__errs") || !checked.contains("sgd-ou-check';") {
        return Err("the page needs <head> and </body> for the check script".into());
    }
    let checked_page = dir.join("checked.html");
    std::fs::write(&checked_page, checked).map_err(|e| e.to_string())?;
    let profile = dir.join("profile");
    let mut dump = chromium_cmd(chromium, &profile);
    dump.args(["--virtual-time-budget=3000", "--dump-dom"])
        .arg(format!("file://{}", checked_page.display()));
    let (dom, stderr) = run_with_timeout(dump, 120)?;
    let start = dom
        .find("<pre id=\"sgd-ou-check\">")
        .ok_or_else(|| format!("the check script did not run; chromium stderr:\n{stderr}"))?;
    let body = &dom[start + "<pre id=\"sgd-ou-check\">".len()..];
    let json = body[..body.find("</pre>").ok_or("unterminated check output")?]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("{e}: {json}"))?;
    let svg_sizes = v["svgs"]
        .as_array()
        .ok_or("no svgs field")?
        .iter()
        .map(|p| (p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0)))
        .collect();
    let errors = v["errors"]
        .as_array()
        .ok_or("no errors field")?
        .iter()
        .map(|e| e.as_str().unwrap_or("?").to_string())
        .collect();
    let foreign_scripts = v["foreign"].as_u64().ok_or("no foreign field")? as usize;
    let screenshot = dir.join("screenshot.png");
    // The screenshot is of the checked page too: its alert() override keeps a page that
    // (wrongly) calls alert from blocking headless Chromium.
    let mut shot = chromium_cmd(chromium, &profile);
    shot.arg(format!("--screenshot={}", screenshot.display()))
        .args(["--window-size=1000,2600"])
        .arg(format!("file://{}", checked_page.display()));
    let (_, stderr) = run_with_timeout(shot, 120)?;
    if !screenshot.is_file() {
        return Err(format!("no screenshot written; stderr:\n{stderr}"));
    }
    Ok(BrowserCheck {
        svg_sizes,
        errors,
        foreign_scripts,
        screenshot,
    })
}

/// A run directory and the report set `verify --out` wrote for it.
#[derive(Debug)]
pub struct ReportSet {
    pub run: PathBuf,
    pub out: PathBuf,
    pub exit_code: i32,
}

impl ReportSet {
    /// `(path relative to the set, contents)` of every file of the set (figures/ included,
    /// the manifest excluded).
    pub fn files(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for sub in ["", "figures/"] {
            let Ok(rd) = std::fs::read_dir(self.out.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = format!("{sub}{}", e.file_name().to_string_lossy());
                if e.path().is_file() && !name.starts_with('.') {
                    v.push((name, std::fs::read_to_string(e.path()).unwrap()));
                }
            }
        }
        v.sort();
        v
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

/// Runs the sgd-ou binary with `args`; panics with its stderr when it exits with 2.
pub fn sgd_ou_bin(args: &[&str]) -> std::process::Output {
    let o = Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(args)
        .output()
        .expect("the sgd-ou binary runs");
    assert_ne!(
        o.status.code(),
        Some(2),
        "sgd-ou {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    dir.to_path_buf()
}

/// `verify --out` on `run` into `root/out`.
pub fn verify_into(run: &Path, root: &Path) -> ReportSet {
    let out = root.join("out");
    let o = sgd_ou_bin(&[
        "verify",
        "--run-dir",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    ReportSet {
        run: run.to_path_buf(),
        out,
        exit_code: o.status.code().unwrap_or(-1),
    }
}

/// The REAL report set of the bundled example run (examples/quadratic-gaussian).
pub fn example_report(tag: &str) -> ReportSet {
    let root = fresh(&Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{tag}-example")));
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quadratic-gaussian");
    verify_into(&run, &root)
}

/// The report set of a simulated failing run (`simulate --scenario SCENARIO`, seed 1).
pub fn simulated_report(tag: &str, scenario: &str) -> ReportSet {
    let root = fresh(&Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{tag}-{scenario}")));
    let run = root.join("run");
    sgd_ou_bin(&[
        "simulate",
        "--scenario",
        scenario,
        "--out",
        run.to_str().unwrap(),
    ]);
    verify_into(&run, &root)
}

/// Every hostile string of the tests, joined (for metadata and notes).
pub const HOSTILE_ALL: &str = "<script>alert(1)</script> \\input{/etc/passwd} \\write18{rm} \
\\catcode`\\^=7 ^^5c | pipe `tick` **bold** $x$ & 100% #1 ~";

/// A small valid run in a directory whose name carries markdown/HTML specials, with hostile
/// `model`, `notes` and `dataset` in run.json; returns its report set.
pub fn hostile_report(tag: &str) -> ReportSet {
    let root = fresh(&Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{tag}-hostile")));
    let run = root.join("run <b>|`x`|$y$");
    write_small_run(&run);
    let manifest = run.join("run.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    v["model"] = HOSTILE_ALL.into();
    v["notes"] = format!("notes: {HOSTILE_ALL}").into();
    v["dataset"] = "<img src=x onerror=alert(2)> \\write18{touch pwned}".into();
    std::fs::write(&manifest, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    verify_into(&run, &root)
}

/// A valid 3-parameter run with 4 checkpoints, a Hessian and a trajectory (seeded).
fn write_small_run(dir: &Path) {
    common::write_valid_run(dir, 3, 128, 4, 7);
}

/// A LaTeX document that `\input`s a report set's methods.tex and report.tex and its
/// bibliography (references.bib), in the given class options.
pub fn report_document(class_options: &str) -> String {
    latex_document(
        class_options,
        "\\section{Methods}\n\\input{methods.tex}\n\\input{report.tex}\n\\lipsum[1-4]\n\
         \\bibliographystyle{plain}\n\\bibliography{references}\n",
    )
}
