//! `sgd-ou stats mvn FILE.npy` and `sgd-ou stats cov-equal FILE1.npy FILE2.npy ...`: argument
//! structs, reading and printing; the batteries of tests themselves (and the p-value choice they
//! share with the `gaussian_noise` check) are [`sgd_ou::stats::battery`].
//!
//! Exit codes: 0 when every test was computed, 3 when at least one was inconclusive (for
//! example an affine-invariant test at d ≥ n − 1, or a group with fewer than 2 rows), 2 for
//! unreadable or malformed input and for counts above their ceilings ([`MAX_PROJECTIONS`],
//! [`MAX_NULL_DRAWS`], [`MAX_MC_DRAWS`], [`MAX_PERMUTATIONS`]: each sizes an allocation or a
//! loop, so an absurd value is refused before anything is allocated).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use nalgebra::DMatrix;
use serde_json::{json, Map, Value};

use sgd_ou::rng;
use sgd_ou::run::npy;
use sgd_ou::stats::battery::{
    calibrated_projection_test, too_small_groups, CovEffect, CovEqualBattery, MvnBattery,
};
use sgd_ou::stats::StatsError;

/// Ceiling of `--projections` (the directions are a d × P matrix; each costs O(n d) plus the
/// univariate test).
pub const MAX_PROJECTIONS: usize = 10_000;
/// Ceiling of `--univariate-null-draws` (one simulated sample of size n per draw).
pub const MAX_NULL_DRAWS: usize = 1_000_000;
/// Ceiling of `--mc-draws` (each draw costs O(n² d)).
pub const MAX_MC_DRAWS: usize = 100_000;
/// Ceiling of `--permutations`.
pub const MAX_PERMUTATIONS: usize = 1_000_000;

/// A count option with a ceiling: a usage error (exit 2) naming the ceiling above it.
fn count_at_most<const MAX: usize>(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number from 0 to {MAX}"))?;
    if v > MAX {
        return Err(format!(
            "{v} is above the ceiling {MAX} (time and memory grow with it); use at most {MAX}"
        ));
    }
    Ok(v)
}

#[derive(clap::Args)]
pub struct MvnArgs {
    /// A .npy file holding an (n, d) array, one observation per row.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seed of the random directions and of every Monte Carlo null.
    #[arg(long, default_value_t = rng::DEFAULT_SEED)]
    pub seed: u64,
    /// Number of random directions of the projection (Cramér–Wold) test.
    #[arg(long, default_value_t = 16, value_parser = count_at_most::<MAX_PROJECTIONS>)]
    pub projections: usize,
    /// Null draws that calibrate the univariate test of each projection (D'Agostino K²).
    #[arg(long, default_value_t = 999, value_parser = count_at_most::<MAX_NULL_DRAWS>)]
    pub univariate_null_draws: usize,
    /// Also give Monte Carlo p-values for HZ and Mardia from this many N(0, I) samples of the
    /// same (n, d); exact where the analytic p-values fail (d/n ≳ 0.05). Costs draws·O(n²d).
    #[arg(long, default_value_t = 0, value_parser = count_at_most::<MAX_MC_DRAWS>)]
    pub mc_draws: usize,
}

#[derive(clap::Args)]
pub struct CovEqualArgs {
    /// Two or more .npy files, each (n_i, d), one group per file.
    #[arg(required = true, num_args = 2..)]
    pub files: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seed of the permutations.
    #[arg(long, default_value_t = rng::DEFAULT_SEED)]
    pub seed: u64,
    /// Permutations B of the studentised permutation test (choose (B + 1)·0.05 integral).
    #[arg(long, default_value_t = 999, value_parser = count_at_most::<MAX_PERMUTATIONS>)]
    pub permutations: usize,
}

/// Reads a `stats` input through the crate's .npy reader (regular files only, capped header,
/// checked shape arithmetic, finite values), with the reader's run-directory hints reworded for
/// a lone file.
pub(crate) fn read_array(path: &Path) -> anyhow::Result<(Vec<usize>, Vec<f64>)> {
    npy::read_f64(path).map_err(|e| match e {
        sgd_ou::Error::Input { path, message } => {
            anyhow!("{}: {}", path.display(), lone_file_wording(&message))
        }
        other => other.into(),
    })
}

/// The reader's messages speak of run directories and gradients; a `stats` input is a lone
/// array.
fn lone_file_wording(message: &str) -> String {
    message
        .replace("; the run-directory format requires this file", "")
        .replace(
            "NaN/Inf gradients mean the run diverged or the export is broken",
            "the tests need finite values (drop or impute those rows)",
        )
}

/// Reads an (n, d) .npy array into an n × d matrix.
fn read_matrix(path: &Path) -> anyhow::Result<DMatrix<f64>> {
    let (shape, data) = read_array(path)?;
    if shape.len() != 2 {
        bail!(
            "{}: expected a 2-D array (n observations, d dimensions), found shape {shape:?}",
            path.display()
        );
    }
    Ok(DMatrix::from_row_slice(shape[0], shape[1], &data))
}

/// A test outcome for the report: its JSON, or the reason it is inconclusive.
fn entry<T: serde::Serialize>(r: Result<T, StatsError>, inconclusive: &mut bool) -> Value {
    match r {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(e) => {
            *inconclusive = true;
            json!({"statistic": null, "p_value": null, "inconclusive": e.to_string()})
        }
    }
}

/// A number as `verify` prints it ([`sgd_ou::fmt::num`]; "–" when absent).
fn fmt(v: &Value) -> String {
    sgd_ou::fmt::num(v.as_f64().unwrap_or(f64::NAN))
}

/// A p-value as `verify` prints it ([`sgd_ou::fmt::p_text`]: `< 1e-16`, never `0.0000`).
fn fmt_p(v: &Value) -> String {
    match v.as_f64() {
        Some(p) => sgd_ou::fmt::p_text(Some(p)),
        None => "–".to_string(),
    }
}

fn print_table(rows: &Map<String, Value>, keys: &[&str]) {
    println!("{:<26} {:>14} {:>14}  note", "test", "statistic", "p-value");
    for k in keys {
        let v = &rows[*k];
        let note = v
            .get("inconclusive")
            .and_then(Value::as_str)
            .map(|s| format!("inconclusive: {s}"))
            .unwrap_or_default();
        println!(
            "{:<26} {:>14} {:>14}  {note}",
            k,
            fmt(&v["statistic"]),
            fmt_p(&v["p_value"])
        );
    }
}

/// The table of `stats mvn`, with a note when Mardia's χ² p-value is liberal (d/n ≥ 0.05) and no
/// Monte Carlo null was asked for.
fn print_mvn_table(args: &MvnArgs, out: &Map<String, Value>, (n, d): (usize, usize), mc: bool) {
    println!(
        "{}: n = {n}, d = {d}, seed = {}",
        args.file.display(),
        args.seed
    );
    print_table(
        out,
        &[
            "henze_zirkler",
            "mardia_skewness",
            "mardia_kurtosis",
            "projection",
        ],
    );
    if !mc && d * 20 >= n && d + 1 < n {
        println!(
            "note: d/n ≥ 0.05: the χ² p-value of Mardia skewness is liberal here; rerun \
             with --mc-draws 999 for Monte Carlo p-values"
        );
    }
}

/// The three affine-invariant tests as JSON entries, with their Monte Carlo p-values when the
/// battery simulated a null.
fn mvn_entries(b: &MvnBattery, inconclusive: &mut bool) -> [Value; 3] {
    let mut hz_v = entry(b.henze_zirkler.clone(), inconclusive);
    let (mut skew_v, mut kurt_v) = match &b.mardia {
        Ok(m) => (
            entry(Ok::<_, StatsError>(m.skewness), inconclusive),
            entry(Ok::<_, StatsError>(m.kurtosis), inconclusive),
        ),
        Err(e) => (
            entry::<()>(Err(e.clone()), inconclusive),
            entry::<()>(Err(e.clone()), inconclusive),
        ),
    };
    if let (Some(null), Some(p)) = (&b.null, b.p_values().filter(|p| p.monte_carlo)) {
        hz_v["p_value_monte_carlo"] = json!(p.henze_zirkler);
        skew_v["p_value_monte_carlo"] = json!(p.mardia_skewness);
        kurt_v["p_value_monte_carlo"] = json!(p.mardia_kurtosis);
        for v in [&mut hz_v, &mut skew_v, &mut kurt_v] {
            v["monte_carlo_draws"] = json!(null.draws());
        }
    }
    [hz_v, skew_v, kurt_v]
}

pub fn run_mvn(args: &MvnArgs) -> anyhow::Result<i32> {
    let x = read_matrix(&args.file)?;
    let (n, d) = x.shape();
    let mut inconclusive = false;
    let mut out = Map::new();
    out.insert("file".into(), json!(args.file.display().to_string()));
    out.insert("n".into(), json!(n));
    out.insert("d".into(), json!(d));
    out.insert("seed".into(), json!(args.seed));

    let battery = MvnBattery::run(
        &x,
        args.mc_draws,
        &mut rng::stream(args.seed, "stats-mvn/mc-null"),
    )
    .context("Monte Carlo null of HZ and Mardia")?;
    let [hz_v, skew_v, kurt_v] = mvn_entries(&battery, &mut inconclusive);
    out.insert("henze_zirkler".into(), hz_v);
    out.insert("mardia_skewness".into(), skew_v);
    out.insert("mardia_kurtosis".into(), kurt_v);

    let projection = calibrated_projection_test(
        &x,
        args.projections,
        args.univariate_null_draws,
        &mut rng::stream(args.seed, "stats-mvn/univariate-null"),
        &mut rng::stream(args.seed, "stats-mvn/directions"),
    );
    let mut proj_v = entry(projection, &mut inconclusive);
    proj_v["univariate_test"] = json!(format!(
        "D'Agostino–Pearson K², p-value calibrated on {} simulated N(0, 1) samples of size {n}",
        args.univariate_null_draws
    ));
    proj_v["combination"] = json!("Holm");
    out.insert("projection".into(), proj_v);

    if args.json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    } else {
        print_mvn_table(args, &out, (n, d), battery.null.is_some());
    }
    Ok(if inconclusive { 3 } else { 0 })
}

/// Reads the groups of `stats cov-equal`; an error naming the file when the dimensions differ.
fn read_groups(files: &[PathBuf]) -> anyhow::Result<Vec<DMatrix<f64>>> {
    let groups: Vec<DMatrix<f64>> = files
        .iter()
        .map(|p| read_matrix(p))
        .collect::<anyhow::Result<_>>()?;
    let d = groups[0].ncols();
    for (p, g) in files.iter().zip(&groups) {
        if g.ncols() != d {
            bail!(
                "{}: has d = {} columns, {} has d = {d}; all groups must have the same d",
                p.display(),
                g.ncols(),
                files[0].display()
            );
        }
    }
    Ok(groups)
}

/// One effect-size entry of the JSON report.
fn effect_json(e: &CovEffect) -> Value {
    let (angles, degrees) = match &e.principal_angles {
        Ok(a) => {
            let deg: Vec<f64> = a.iter().map(|x| x.to_degrees()).collect();
            (json!(a), json!(deg))
        }
        Err(err) => {
            let why = json!({"inconclusive": err.to_string()});
            (why.clone(), why)
        }
    };
    json!({
        "group": e.group,
        "reference_group": 0,
        "relative_frobenius": e.relative_frobenius,
        "top_eigenvalue_ratio": e.top_eigenvalue_ratio,
        "principal_angles_top": e.principal_angles_top,
        "principal_angles_rad": angles,
        "principal_angles_deg": degrees,
    })
}

/// The table of `stats cov-equal`.
fn print_cov_equal(
    groups: &[DMatrix<f64>],
    seed: u64,
    out: &Map<String, Value>,
    effects: &[Value],
) {
    let d = groups[0].ncols();
    println!(
        "{} groups, d = {d}, n = {:?}, seed = {}",
        groups.len(),
        groups.iter().map(|g| g.nrows()).collect::<Vec<_>>(),
        seed
    );
    print_table(out, &["box_m", "studentized_permutation"]);
    let r = d.min(3);
    for e in effects {
        let angles = match e["principal_angles_deg"].as_array() {
            Some(a) => a
                .iter()
                .map(|x| format!("{}°", fmt(x)))
                .collect::<Vec<_>>()
                .join(", "),
            None => format!(
                "inconclusive: {}",
                e["principal_angles_deg"]["inconclusive"]
                    .as_str()
                    .unwrap_or("")
            ),
        };
        println!(
            "group {} vs 0: relative Frobenius {}, top-eigenvalue ratio {}, principal angles \
             (top {r}) {angles}",
            e["group"],
            fmt(&e["relative_frobenius"]),
            fmt(&e["top_eigenvalue_ratio"]),
        );
    }
}

/// Groups with fewer than 2 rows: the reason, naming each file.
fn too_small_reason(files: &[PathBuf], groups: &[DMatrix<f64>]) -> Option<String> {
    let d = groups[0].ncols();
    let small: Vec<String> = too_small_groups(groups)
        .into_iter()
        .map(|i| {
            let rows = groups[i].nrows();
            format!(
                "group {} has {rows} row{}; each group needs at least 2 rows (d + 1 = {} for Box's M)",
                files[i].display(),
                if rows == 1 { "" } else { "s" },
                d + 1
            )
        })
        .collect();
    (!small.is_empty()).then(|| small.join("; "))
}

pub fn run_cov_equal(args: &CovEqualArgs) -> anyhow::Result<i32> {
    let groups = read_groups(&args.files)?;
    let mut inconclusive = false;
    let mut out = Map::new();
    out.insert(
        "files".into(),
        json!(args
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()),
    );
    out.insert(
        "n".into(),
        json!(groups.iter().map(|g| g.nrows()).collect::<Vec<_>>()),
    );
    out.insert("d".into(), json!(groups[0].ncols()));
    out.insert("seed".into(), json!(args.seed));
    if let Some(reason) = too_small_reason(&args.files, &groups) {
        for key in ["box_m", "studentized_permutation"] {
            let e = entry::<()>(
                Err(StatsError::Degenerate(reason.clone())),
                &mut inconclusive,
            );
            out.insert(key.into(), e);
        }
        out.insert("effect_sizes".into(), json!([]));
        if args.json {
            println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
        } else {
            println!("inconclusive: {reason}");
        }
        return Ok(3);
    }
    let b = CovEqualBattery::run(
        &groups,
        args.permutations,
        &mut rng::stream(args.seed, "stats-cov-equal/permutations"),
    );
    out.insert("box_m".into(), entry(b.box_m, &mut inconclusive));
    out.insert(
        "studentized_permutation".into(),
        entry(b.permutation, &mut inconclusive),
    );
    let effects: Vec<Value> = b.effects.iter().map(effect_json).collect();
    out.insert("effect_sizes".into(), json!(effects));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    } else {
        print_cov_equal(&groups, args.seed, &out, &effects);
    }
    Ok(if inconclusive { 3 } else { 0 })
}
