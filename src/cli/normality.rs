//! `sgd-ou stats normality FILE.npy [--json]`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct NormalityArgs {
    /// A .npy file holding a 1-D array (n,) or a 2-D array (n, m) tested column by column.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: &NormalityArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`stats normality` is not available yet")
}
