//! `sgd-ou stats normality FILE.npy [--json]`: the univariate normality tests of
//! `sgd_ou::stats::normality` on a 1-D array, or on each column of a 2-D array.
//!
//! Exit codes, as `stats mvn` and `stats cov-equal`: 0 when every test ran on every column, 3 when
//! at least one was skipped (too few observations, zero variance; the reason is printed), 2 for
//! unreadable or malformed input.

use std::path::PathBuf;

use anyhow::bail;
use serde_json::{json, Map, Value};
use sgd_ou::stats::normality::{
    anderson_darling, dagostino_pearson, jarque_bera, lilliefors, shapiro_wilk,
};
use sgd_ou::stats::{StatsError, TestResult};

#[derive(clap::Args)]
#[command(after_help = "\
p-values: Shapiro-Wilk (Royston 1995, as scipy.stats.shapiro; 3 <= n <= 5000), Anderson-Darling \
(D'Agostino-Stephens, as statsmodels normal_ad; n >= 8), D'Agostino-Pearson K2 (chi2 with 2 df, \
as scipy.stats.normaltest; n >= 8), Jarque-Bera (chi2 with 2 df, as scipy.stats.jarque_bera), \
Lilliefors (Dallal-Wilkinson, table above p = 0.1, as statsmodels lilliefors(pvalmethod='approx'); \
n >= 4). A test that cannot run on a column is listed under \"skipped\" with the reason.
Exit code: 0 when every test ran, 3 when one or more were skipped, 2 for bad input.")]
pub struct NormalityArgs {
    /// A .npy file holding a 1-D array (n,) or a 2-D array (n, m) tested column by column.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Test names in output order: (JSON key, label in the table).
const TESTS: [(&str, &str); 5] = [
    ("shapiro_wilk", "Shapiro-Wilk W"),
    ("anderson_darling", "Anderson-Darling A2"),
    ("dagostino_pearson", "D'Agostino-Pearson K2"),
    ("jarque_bera", "Jarque-Bera JB"),
    ("lilliefors", "Lilliefors D"),
];

/// Outcome of one test on one column.
enum Outcome {
    Plain(TestResult),
    Anderson {
        result: TestResult,
        critical_values: [f64; 5],
        significance_levels: [f64; 5],
    },
    Skipped(StatsError),
}

impl Outcome {
    fn from_result(r: Result<TestResult, StatsError>) -> Self {
        match r {
            Ok(t) => Outcome::Plain(t),
            Err(e) => Outcome::Skipped(e),
        }
    }
}

struct Column {
    index: usize,
    n: usize,
    outcomes: Vec<Outcome>,
}

fn run_column(index: usize, x: &[f64]) -> Column {
    let ad = match anderson_darling(x) {
        Ok(a) => Outcome::Anderson {
            result: TestResult {
                statistic: a.statistic,
                p_value: a.p_value,
            },
            critical_values: a.critical_values,
            significance_levels: a.significance_levels,
        },
        Err(e) => Outcome::Skipped(e),
    };
    Column {
        index,
        n: x.len(),
        outcomes: vec![
            Outcome::from_result(shapiro_wilk(x)),
            ad,
            Outcome::from_result(dagostino_pearson(x)),
            Outcome::from_result(jarque_bera(x)),
            Outcome::from_result(lilliefors(x)),
        ],
    }
}

/// Splits C-order data of `shape` (n,) or (n, m) into columns.
fn columns(shape: &[usize], data: &[f64]) -> Option<Vec<Vec<f64>>> {
    match *shape {
        [n] => Some(vec![data[..n].to_vec()]),
        [n, m] => Some(
            (0..m)
                .map(|j| (0..n).map(|i| data[i * m + j]).collect())
                .collect(),
        ),
        _ => None,
    }
}

fn column_json(c: &Column) -> Value {
    let mut tests = Map::new();
    let mut skipped = Map::new();
    for ((key, _), outcome) in TESTS.iter().zip(&c.outcomes) {
        match outcome {
            Outcome::Plain(t) => {
                tests.insert(
                    key.to_string(),
                    json!({"statistic": t.statistic, "p_value": t.p_value}),
                );
            }
            Outcome::Anderson {
                result,
                critical_values,
                significance_levels,
            } => {
                tests.insert(
                    key.to_string(),
                    json!({
                        "statistic": result.statistic,
                        "p_value": result.p_value,
                        "critical_values": critical_values,
                        "significance_levels": significance_levels,
                    }),
                );
            }
            Outcome::Skipped(e) => {
                skipped.insert(key.to_string(), Value::String(e.to_string()));
            }
        }
    }
    json!({"index": c.index, "n": c.n, "tests": tests, "skipped": skipped})
}

/// A statistic as `verify` prints numbers ([`sgd_ou::fmt::num`]).
fn fmt_stat(v: f64) -> String {
    sgd_ou::fmt::num(v)
}

/// A p-value as `verify` prints it ([`sgd_ou::fmt::p_text`]: `< 1e-16`, never `0.0000`).
fn fmt_p(p: f64) -> String {
    sgd_ou::fmt::p_text(Some(p))
}

fn print_table(file: &std::path::Path, shape: &[usize], cols: &[Column]) {
    println!("{} (shape {:?})", file.display(), shape);
    if cols.is_empty() {
        println!("no columns to test");
    }
    for c in cols {
        println!();
        println!("column {} (n = {})", c.index, c.n);
        println!("  {:<24} {:>14} {:>12}", "test", "statistic", "p-value");
        let mut skipped = Vec::new();
        for ((_, label), outcome) in TESTS.iter().zip(&c.outcomes) {
            match outcome {
                Outcome::Plain(t) => println!(
                    "  {:<24} {:>14} {:>12}",
                    label,
                    fmt_stat(t.statistic),
                    fmt_p(t.p_value)
                ),
                Outcome::Anderson {
                    result,
                    critical_values,
                    significance_levels,
                } => {
                    println!(
                        "  {:<24} {:>14} {:>12}",
                        label,
                        fmt_stat(result.statistic),
                        fmt_p(result.p_value)
                    );
                    let cv: Vec<String> = critical_values
                        .iter()
                        .zip(significance_levels)
                        .map(|(c, s)| format!("{} ({s}%)", fmt_stat(*c)))
                        .collect();
                    println!("    critical values: {}", cv.join(", "));
                }
                Outcome::Skipped(e) => skipped.push(format!("{label}: {e}")),
            }
        }
        for s in skipped {
            println!("  skipped {s}");
        }
    }
}

pub fn run(args: &NormalityArgs) -> anyhow::Result<i32> {
    // Errors from the reader name the file (and reject NaN/Inf with their position).
    let (shape, data) = super::mvn::read_array(&args.file)?;
    let Some(cols) = columns(&shape, &data) else {
        bail!(
            "{}: has shape {:?}; expected a 1-D array (n,) or a 2-D array (n, m) tested column \
             by column",
            args.file.display(),
            shape
        );
    };
    let results: Vec<Column> = cols
        .iter()
        .enumerate()
        .map(|(j, x)| run_column(j, x))
        .collect();
    if args.json {
        let out = json!({"columns": results.iter().map(column_json).collect::<Vec<_>>()});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&args.file, &shape, &results);
    }
    let skipped = results
        .iter()
        .any(|c| c.outcomes.iter().any(|o| matches!(o, Outcome::Skipped(_))));
    Ok(if skipped { 3 } else { 0 })
}
