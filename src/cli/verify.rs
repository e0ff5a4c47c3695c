//! `sgd-ou verify --run-dir DIR [--json] [--out REPORT_DIR] [--seed N] [--dims K] [--draws R]`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

#[derive(clap::Args)]
#[command(after_help = "Exit codes: 0 pass, 1 fail, 2 bad input, 3 inconclusive.")]
pub struct VerifyArgs {
    /// The run directory (run.json + checkpoints/; see docs/run-dir-format.md).
    #[arg(long, value_name = "DIR")]
    pub run_dir: PathBuf,
    /// Print the JSON report to stdout instead of the summary table.
    #[arg(long)]
    pub json: bool,
    /// Also write report.{json,md,tex,html}, methods.tex, references.bib and figures/ into this
    /// directory (all-or-nothing; other files in it are kept; must be outside the run
    /// directory).
    #[arg(long, value_name = "REPORT_DIR")]
    pub out: Option<PathBuf>,
    /// Seed of all randomness (subspace, minibatch draws, bootstrap).
    #[arg(long, default_value_t = sgd_ou::rng::DEFAULT_SEED)]
    pub seed: u64,
    /// Analysis dimension k: runs with more than max(K, 32) parameters are analysed in one
    /// seeded random k-dimensional subspace, smaller ones in all coordinates.
    #[arg(long, value_name = "K", default_value_t = sgd_ou::DEFAULT_DIMS)]
    pub dims: usize,
    /// Seed stability: when the analysis uses a random subspace (d > max(K, 32)), repeat it under
    /// R more seeds (seed·1000 + r) and report whether each check's verdict depends on the draw
    /// (only for inputs up to 256 MiB; 0 turns it off). The verdicts are those of --seed.
    #[arg(long, value_name = "R", default_value_t = sgd_ou::stability::DEFAULT_DRAWS)]
    pub draws: usize,
    /// Analyse only checkpoints with step ≥ N (overrides the automatic diffusion-phase window).
    #[arg(long, value_name = "N")]
    pub from_step: Option<u64>,
    /// Analyse only checkpoints with step ≤ N (overrides the automatic diffusion-phase window).
    #[arg(long, value_name = "N")]
    pub to_step: Option<u64>,
    /// Record absolute paths in the report (run directory, command line); by default they are
    /// relative to the current directory, so a shared report carries no home directory.
    #[arg(long)]
    pub absolute_paths: bool,
    /// No progress bar on stderr (it is shown only on a terminal, for passes over ~1 s).
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `verify`; returns the exit code (0 pass, 1 fail, 3 inconclusive).
pub fn run(args: &VerifyArgs) -> anyhow::Result<i32> {
    if let (Some(a), Some(b)) = (args.from_step, args.to_step) {
        if a > b {
            anyhow::bail!("--from-step {a} is after --to-step {b}; swap them");
        }
    }
    let options = sgd_ou::Options {
        seed: args.seed,
        dims: args.dims,
        from_step: args.from_step,
        to_step: args.to_step,
        draws: args.draws,
        ..Default::default()
    };
    if let Some(out) = &args.out {
        sgd_ou::report::write::refuse_inside(out, &args.run_dir)?;
    }
    sgd_ou::run::progress::set_quiet(args.quiet);
    let mut report = sgd_ou::verify(&args.run_dir, &options)?;
    report.run.dir = shown_path(&args.run_dir, args.absolute_paths);
    report.provenance = Some(sgd_ou::report::Provenance {
        build_commit: sgd_ou::report::build_info::GIT_COMMIT.to_string(),
        command_line: command_line(std::env::args_os().skip(1), args.absolute_paths),
        absolute_paths: args.absolute_paths,
    });
    if let Some(out) = &args.out {
        sgd_ou::report::write::write_all(&report, out)
            .with_context(|| format!("writing the report to {}", out.display()))?;
    }
    if args.json {
        print!("{}", sgd_ou::report::json::to_string(&report));
    } else {
        print!("{}", sgd_ou::report::text::render(&report));
        if let Some(out) = &args.out {
            println!(
                "Report written to {}/report.{{json,md,tex,html}} (+ methods.tex, references.bib, figures/)",
                out.display()
            );
        }
    }
    Ok(report.exit_code())
}

/// `p` for the report: absolute (lexically) with `--absolute-paths`, else relative to the
/// current directory when it lies under it or can be reached with `..` steps.
fn shown_path(p: &Path, absolute: bool) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute {
        return abs.display().to_string();
    }
    if p.is_relative() {
        return p.display().to_string();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return p.display().to_string();
    };
    let (a, c): (Vec<_>, Vec<_>) = (abs.components().collect(), cwd.components().collect());
    let common = a.iter().zip(&c).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..c.len() {
        rel.push("..");
    }
    for comp in &a[common..] {
        rel.push(comp);
    }
    if rel.as_os_str().is_empty() {
        ".".into()
    } else {
        rel.display().to_string()
    }
}

/// One word shell-quoted (POSIX sh): plain words as they are, others in single quotes.
fn quote(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// The command line as `sgd-ou ARGS…`, shell-quoted, the values of `--run-dir` and `--out`
/// shown as [`shown_path`] gives them.
fn command_line(args: impl Iterator<Item = std::ffi::OsString>, absolute: bool) -> String {
    let mut out = vec!["sgd-ou".to_string()];
    let mut path_next = false;
    for a in args {
        let a = a.to_string_lossy().into_owned();
        let shown = if path_next {
            shown_path(Path::new(&a), absolute)
        } else if let Some((flag, v)) = a.split_once('=').filter(|(f, _)| is_path_flag(f)) {
            format!("{flag}={}", shown_path(Path::new(v), absolute))
        } else {
            a.clone()
        };
        path_next = is_path_flag(&a);
        out.push(quote(&shown));
    }
    out.join(" ")
}

fn is_path_flag(a: &str) -> bool {
    matches!(a, "--run-dir" | "--out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_and_relative() {
        let cwd = std::env::current_dir().unwrap();
        let args = ["verify", "--run-dir", "a b", "--out=x", "--seed", "it's"];
        let line = command_line(args.iter().map(Into::into), false);
        assert_eq!(
            line,
            "sgd-ou verify --run-dir 'a b' --out=x --seed 'it'\\''s'"
        );
        let abs = cwd.join("r").display().to_string();
        let line = command_line(["--run-dir".into(), abs.clone().into()].into_iter(), false);
        assert_eq!(line, "sgd-ou --run-dir r");
        let line = command_line(["--run-dir".into(), "r".into()].into_iter(), true);
        assert!(line.ends_with(&quote(&abs)), "{line}");
    }
}
