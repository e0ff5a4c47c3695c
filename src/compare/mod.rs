//! `sgd-ou compare`: many runs of one model, swept over learning rate, batch size and sampling
//! design, judged together against the OU model's scaling laws (docs/compare.md).
//!
//! [`compare`] loads each run, refuses runs that differ in anything but the swept settings
//! ([`fields`]), verifies each run once through [`crate::analyse`] (reusing a cached report when
//! the run's inputs, the sgd-ou version and the options are the same), and fits the laws of
//! [`scaling`] per sampling-design group. No printing: [`render`] turns the result into text.

pub mod fields;
pub mod render;
pub mod scaling;

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checks::{ToleranceTests, Verdict};
use crate::error::{Error, Result};
use crate::report::{Report, Tool};
use crate::run::{self, Run};
use crate::Options;

use scaling::{Law, Observables, Point};

/// Default tolerance on a scaling-law slope: |b − b_model| ≤ 0.1 (a 10% error in an exponent;
/// see docs/compare.md for the reasons).
pub const DEFAULT_SLOPE_TOLERANCE: f64 = 0.1;

/// Version of the compare.json layout.
pub const COMPARE_SCHEMA_VERSION: u32 = 2;

/// Options of [`compare`].
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The options each run is verified with (seed, dims, thresholds, window).
    pub verify: Options,
    /// run.json fields (dotted paths) allowed to differ besides the swept ones.
    pub allow_different: Vec<String>,
    /// Tolerance of the decided laws' slopes.
    pub slope_tolerance: f64,
    /// Where verified reports are cached (`verify-cache-<key>.json` files); `None`: no cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            verify: Options::default(),
            allow_different: Vec::new(),
            slope_tolerance: DEFAULT_SLOPE_TOLERANCE,
            cache_dir: None,
        }
    }
}

/// One check's verdict and headline number in a run's row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckCell {
    pub check: String,
    pub verdict: Verdict,
    /// The first key metric's name and estimate, when the check has one.
    pub metric: Option<String>,
    pub estimate: Option<f64>,
}

/// One run of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRow {
    pub dir: String,
    pub inputs_digest: String,
    /// ε in mean-gradient units.
    pub learning_rate: f64,
    pub batch_size: u64,
    pub dataset_size: u64,
    /// `with_replacement`, `without_replacement` or `reshuffled`.
    pub sampling: String,
    /// f with Cov(minibatch mean) = f·C.
    pub minibatch_cov_factor: f64,
    /// The run's verify verdict (the four assumptions).
    pub verdict: Verdict,
    /// The four assumptions, then ou_prediction.
    pub checks: Vec<CheckCell>,
    pub observables: Observables,
}

/// The result of [`compare`]; its JSON form is compare.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub schema_version: u32,
    pub tool: Tool,
    pub seed: u64,
    pub dims: usize,
    pub ci_level: f64,
    /// Level of the fail and equivalence tests (the thresholds' `alpha`).
    pub alpha: f64,
    pub slope_tolerance: f64,
    pub allowed_differences: Vec<String>,
    /// Rows sorted by sampling design, ε, S and directory.
    pub runs: Vec<RunRow>,
    /// Per sampling-design group: the laws of [`scaling::laws`].
    pub laws: Vec<Law>,
    /// The issue-15 rule over the decided laws' pieces (every group's covariance and
    /// noise-scale slope): fail when the Holm-adjusted fail p-value is ≤ α, pass when every
    /// equivalence test rejects (intersection–union), else inconclusive.
    pub verdict_tests: ToleranceTests,
    /// `verdict_tests`' verdict at `alpha`.
    pub verdict: Verdict,
}

impl Comparison {
    /// Exit code as `verify`'s: 0 pass, 1 fail, 3 inconclusive.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive => 3,
        }
    }
}

/// [`compare`]'s result and, per input run (in input order), whether it was verified now
/// (`false`: its report came from the cache).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub comparison: Comparison,
    pub verified_now: Vec<bool>,
}

/// Compares the runs in `dirs` (at least 2).
///
/// *Errors.* [`Error::Usage`] for fewer than 2 runs or bad options; [`Error::Input`] for an
/// unreadable run or runs that differ in a field that may not differ ([`fields`]);
/// [`Error::Output`] when the cache cannot be written. Cost: one load per run plus one
/// [`crate::analyse`] per run not in the cache.
pub fn compare(dirs: &[PathBuf], opts: &CompareOptions) -> Result<Outcome> {
    if dirs.len() < 2 {
        return Err(Error::Usage(format!(
            "compare needs at least 2 run directories, got {}",
            dirs.len()
        )));
    }
    opts.verify.validate()?;
    if !(opts.slope_tolerance.is_finite() && opts.slope_tolerance > 0.0) {
        return Err(Error::Usage(
            "the slope tolerance must be finite and > 0".into(),
        ));
    }
    let load = run::LoadOptions {
        dims: opts.verify.dims,
        seed: opts.verify.seed,
    };
    let runs = dirs
        .iter()
        .map(|d| Run::load(d, &load))
        .collect::<Result<Vec<_>>>()?;
    let flat: Vec<_> = runs
        .iter()
        .zip(dirs)
        .map(|(r, d)| (d.as_path(), fields::flatten(&r.manifest, r.d)))
        .collect();
    fields::check_comparable(&flat, &opts.allow_different)?;
    let mut rows = Vec::with_capacity(runs.len());
    let mut verified_now = Vec::with_capacity(runs.len());
    for (r, d) in runs.iter().zip(dirs) {
        let (report, fresh) = report_for(r, opts)?;
        verified_now.push(fresh);
        rows.push(row(d, r, &report));
    }
    rows.sort_by(|a, b| {
        (
            a.sampling.as_str(),
            a.learning_rate,
            a.batch_size,
            a.dir.as_str(),
        )
            .partial_cmp(&(
                b.sampling.as_str(),
                b.learning_rate,
                b.batch_size,
                b.dir.as_str(),
            ))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let level = opts.verify.thresholds.ci_level;
    let alpha = opts.verify.thresholds.alpha;
    let mut laws = Vec::new();
    let mut groups: Vec<&str> = rows.iter().map(|r| group_of(&r.sampling)).collect();
    groups.dedup();
    for g in groups {
        let points: Vec<Point> = rows
            .iter()
            .filter(|r| group_of(&r.sampling) == g)
            .map(|r| Point {
                learning_rate: r.learning_rate,
                batch_size: r.batch_size as f64,
                obs: r.observables.clone(),
            })
            .collect();
        laws.extend(scaling::laws(
            &points,
            g,
            opts.slope_tolerance,
            level,
            alpha,
        ));
    }
    let pieces = laws.iter().filter_map(|l| l.test.clone()).collect();
    let verdict_tests = ToleranceTests::from_pieces(pieces, alpha);
    let verdict = verdict_tests.verdict(alpha);
    let mut allowed = opts.allow_different.clone();
    allowed.sort();
    allowed.dedup();
    Ok(Outcome {
        comparison: Comparison {
            schema_version: COMPARE_SCHEMA_VERSION,
            tool: Tool::default(),
            seed: opts.verify.seed,
            dims: opts.verify.dims,
            ci_level: level,
            alpha,
            slope_tolerance: opts.slope_tolerance,
            allowed_differences: allowed,
            runs: rows,
            laws,
            verdict_tests,
            verdict,
        },
        verified_now,
    })
}

/// Sampling-design group: fresh draws (with or without replacement) or reshuffled epochs.
fn group_of(sampling: &str) -> &'static str {
    if sampling == "reshuffled" {
        "reshuffled"
    } else {
        "fresh"
    }
}

/// The cache key: SHA-256 over the run's inputs digest, the sgd-ou version and every option
/// that changes the report (seed, dims, window, thresholds).
pub fn cache_key(inputs_digest: &str, options: &Options) -> String {
    let mut h = Sha256::new();
    let thresholds = serde_json::to_string(&options.thresholds).unwrap_or_default();
    h.update(
        format!(
            "sgd-ou compare cache 1\n{inputs_digest}\n{}\n{}\n{}\n{:?}\n{:?}\n{thresholds}\n",
            env!("CARGO_PKG_VERSION"),
            options.seed,
            options.dims,
            options.from_step,
            options.to_step
        )
        .as_bytes(),
    );
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The run's report from the cache, or from [`crate::analyse`] (then cached); `true` when
/// verified now.
fn report_for(run: &Run, opts: &CompareOptions) -> Result<(Report, bool)> {
    let key = cache_key(&run.inputs_digest(), &opts.verify);
    let path = opts
        .cache_dir
        .as_ref()
        .map(|d| d.join(format!("verify-cache-{}.json", &key[..32])));
    if let Some(p) = &path {
        if let Ok(text) = fs::read_to_string(p) {
            if let Ok(report) = serde_json::from_str::<Report>(&text) {
                return Ok((report, false));
            }
        }
    }
    let report = crate::analyse(run, &opts.verify);
    if let Some(p) = &path {
        write_atomically(p, crate::report::json::to_string(&report).as_bytes())?;
    }
    Ok((report, true))
}

/// Writes `bytes` to a temporary sibling and renames it over `path` (creating the folder).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        message: format!("{e}; choose a writable --out directory"),
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(err)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(err)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        err(e)
    })
}

fn row(dir: &Path, run: &Run, report: &Report) -> RunRow {
    let m = &run.manifest;
    let sampling = if m.reshuffling.is_some() {
        "reshuffled".to_string()
    } else {
        serde_json::to_value(m.sampling)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    };
    let cell = |name: &str, c: &crate::checks::CheckResult| CheckCell {
        check: name.into(),
        verdict: c.verdict,
        metric: c.key_metrics.first().map(|k| k.name.clone()),
        estimate: c
            .key_metrics
            .first()
            .map(|k| k.estimate)
            .filter(|v| v.is_finite()),
    };
    let mut checks: Vec<CheckCell> = report
        .assumptions
        .iter()
        .into_iter()
        .map(|(a, c)| cell(a.key(), c))
        .collect();
    checks.push(cell("ou_prediction", &report.ou_prediction));
    RunRow {
        dir: dir.display().to_string(),
        inputs_digest: report.run.inputs_digest.clone(),
        learning_rate: m.effective_learning_rate(),
        batch_size: m.batch_size,
        dataset_size: m.dataset_size,
        sampling,
        minibatch_cov_factor: m.minibatch_cov_factor(),
        verdict: report.verdict,
        checks,
        observables: observables(run, report),
    }
}

fn observables(full: &Run, report: &Report) -> Observables {
    let mut o = Observables::default();
    let sc = match &report.ou_prediction.metrics {
        crate::checks::Evidence::OuPrediction(e) => e.stationary_covariance.as_ref(),
        _ => None,
    };
    // A non-finite trace or prediction (null in a saved report) gives neither trace.
    let finite = |sc: &&crate::checks::ou_prediction::StationaryCovariance| {
        sc.trace_empirical.is_finite() && sc.discrete.iter().flatten().all(|v| v.is_finite())
    };
    if let Some(sc) = sc.filter(finite) {
        o.trace_observed = Some(sc.trace_empirical);
        let tr: f64 = (0..sc.discrete.len())
            .map(|i| sc.discrete[i].get(i).copied().unwrap_or(f64::NAN))
            .sum();
        o.trace_predicted = Some(tr).filter(|v| v.is_finite());
    }
    o.trace_observed_ci = report
        .ou_prediction
        .key_metrics
        .iter()
        .find(|k| k.name == "covariance_ratio_discrete")
        .and_then(|k| k.ci.as_ref())
        .zip(o.trace_predicted)
        .map(|(ci, tr)| [ci.lo * tr, ci.hi * tr]);
    let run = full.restrict(&report.run.checkpoints);
    let m = &run.manifest;
    let f = m.minibatch_cov_factor();
    let cps = &run.checkpoints;
    if !cps.is_empty() {
        let per_example = |t: f64| match m.gradients {
            run::GradientKind::PerExample => t,
            run::GradientKind::Minibatch => t / f,
        };
        let mean_tr = cps.iter().map(|c| per_example(c.trace_cov)).sum::<f64>() / cps.len() as f64;
        o.noise_trace = Some(mean_tr).filter(|v| v.is_finite());
        let (left, right) = fdr2(&run, f);
        o.fdr2_left = left;
        o.fdr2_right = right;
    }
    o
}

/// FDR2 sides at the window's checkpoints: ⟨‖ḡ‖²⟩ and (ε/2)⟨ḡᵀHḡ + tr(HQ)⟩, when the whole
/// parameter space is analysed and every checkpoint has a Hessian.
fn fdr2(run: &Run, f: f64) -> (Option<f64>, Option<f64>) {
    if run.k() != run.d || run.checkpoints.iter().any(|c| c.hessian.is_none()) {
        return (None, None);
    }
    let eps = run.manifest.effective_learning_rate();
    let m = run.checkpoints.len() as f64;
    let (mut left, mut right) = (0.0, 0.0);
    for c in &run.checkpoints {
        let Some(h) = &c.hessian else {
            return (None, None);
        };
        let n = c.grads.nrows().max(1) as f64;
        let g = c.grads.row_sum().transpose() / n;
        let cov = crate::stats::descriptive::covariance_matrix(&c.grads);
        let q = match run.manifest.gradients {
            run::GradientKind::PerExample => cov * f,
            run::GradientKind::Minibatch => cov,
        };
        left += g.norm_squared();
        right += 0.5 * eps * ((g.transpose() * h * &g)[(0, 0)] + (h * q).trace());
    }
    let (l, r) = (left / m, right / m);
    (
        Some(l).filter(|v| v.is_finite()),
        Some(r).filter(|v| v.is_finite()),
    )
}
