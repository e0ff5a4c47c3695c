//! The `sgd-ou` command line. All logic lives in the library; this file parses arguments,
//! calls it, prints, and maps errors to exit codes (0 pass, 1 fail, 2 bad input, 3 inconclusive).

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sgd-ou",
    version,
    about = "May this run's SGD be modelled as an Ornstein–Uhlenbeck process?",
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test the four assumptions of the OU model on a run directory and print the verdicts.
    Verify(cli::verify::VerifyArgs),
    /// Write a run directory from a model whose truth is known, by running SGD.
    Simulate(cli::simulate::SimulateArgs),
    /// Run the statistical tests on arrays in .npy files.
    #[command(subcommand)]
    Stats(StatsCommand),
}

#[derive(Subcommand)]
enum StatsCommand {
    /// Univariate normality tests on a 1-D array or on each column of a 2-D array.
    Normality(cli::normality::NormalityArgs),
    /// Multivariate normality tests on an (n, d) array.
    Mvn(cli::mvn::MvnArgs),
    /// Equality of covariance matrices across groups, one (n_i, d) file per group.
    CovEqual(cli::mvn::CovEqualArgs),
}

fn main() {
    // Behave like other Unix filters when the reader of stdout goes away (`sgd-ou ... | head`):
    // end quietly on SIGPIPE instead of panicking on a failed write.
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default at start-up, before any thread is
    // spawned, has no memory-safety implications.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(a) => cli::verify::run(&a),
        Command::Simulate(a) => cli::simulate::run(&a),
        Command::Stats(StatsCommand::Normality(a)) => cli::normality::run(&a),
        Command::Stats(StatsCommand::Mvn(a)) => cli::mvn::run_mvn(&a),
        Command::Stats(StatsCommand::CovEqual(a)) => cli::mvn::run_cov_equal(&a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
