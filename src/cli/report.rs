//! `sgd-ou report REPORT.json --format html|md|tex [--out DIR]`: re-renders a saved report.

use std::path::PathBuf;

use anyhow::Context as _;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Html,
    Md,
    Tex,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// A report.json written by `sgd-ou verify --json` or `--out`.
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
    /// The format to print (or, with --out, the format whose file set is written first).
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// Write the whole report set (as `verify --out` does) into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Reads the report, prints one format or writes the whole set; returns 0.
pub fn run(args: &ReportArgs) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&args.report)
        .with_context(|| format!("cannot read {}", args.report.display()))?;
    let report: sgd_ou::report::Report = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an sgd-ou report.json ({e}); give the report.json that `sgd-ou verify \
             --out` wrote",
            args.report.display()
        )
    })?;
    if let Some(out) = &args.out {
        sgd_ou::report::write::write_all(&report, out)
            .with_context(|| format!("writing the report to {}", out.display()))?;
        return Ok(0);
    }
    let r = &report;
    print!(
        "{}",
        match args.format {
            Format::Html => sgd_ou::report::html::render(r),
            Format::Md => sgd_ou::report::markdown::render(r),
            Format::Tex => sgd_ou::report::latex::render(r),
        }
    );
    Ok(0)
}
