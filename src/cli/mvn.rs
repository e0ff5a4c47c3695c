//! `sgd-ou stats mvn FILE.npy` and `sgd-ou stats cov-equal FILE1.npy FILE2.npy ...`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MvnArgs {
    /// A .npy file holding an (n, d) array, one observation per row.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct CovEqualArgs {
    /// Two or more .npy files, each (n_i, d), one group per file.
    #[arg(required = true, num_args = 2..)]
    pub files: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run_mvn(_args: &MvnArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`stats mvn` is not available yet")
}

pub fn run_cov_equal(_args: &CovEqualArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`stats cov-equal` is not available yet")
}
