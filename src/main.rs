//! The `sgd-ou` command line. All logic lives in the library; this file parses arguments,
//! calls it, prints, and maps errors to exit codes (0 pass, 1 fail, 2 bad input, 3 inconclusive).

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sgd-ou",
    version,
    about = "May this run's SGD be modelled as an Ornstein–Uhlenbeck process?",
    after_help = "Exit codes: 0 pass, 1 fail, 2 bad input (or usage), 3 inconclusive.",
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
    Simulate(Box<cli::simulate::SimulateArgs>),
    /// Compare runs swept over learning rate and batch size against the OU scaling laws.
    Compare(cli::compare::CompareArgs),
    /// Re-render a saved report.json as HTML, Markdown or LaTeX (or the whole set with --out).
    Report(cli::report::ReportArgs),
    /// Print BibTeX for sgd-ou itself.
    Cite,
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
    exit_2_when_stdout_fails();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(a) => cli::verify::run(&a),
        Command::Simulate(a) => cli::simulate::run(&a),
        Command::Compare(a) => cli::compare::run(&a),
        Command::Report(a) => cli::report::run(&a),
        Command::Cite => cli::cite::run(),
        Command::Stats(StatsCommand::Normality(a)) => cli::normality::run(&a),
        Command::Stats(StatsCommand::Mvn(a)) => cli::mvn::run_mvn(&a),
        Command::Stats(StatsCommand::CovEqual(a)) => cli::mvn::run_cov_equal(&a),
    };
    // Data printed without a final newline is still buffered: write it now, so that a failure
    // is reported rather than lost at exit.
    match std::io::Write::flush(&mut std::io::stdout()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => stdout_failed(&e.to_string()),
        _ => {}
    }
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Makes a failed write to stdout (a full disk, `> /dev/full`, a closed descriptor) end the
/// program with exit code 2 and one error line on stderr instead of a panic message.
///
/// The CLI prints with `print!`/`println!`, which panic with "failed printing to stdout: …"
/// when the write fails; this hook recognises that panic and exits at once (before any
/// unwinding or panic message), leaving every other panic to the default hook. A reader that
/// went away (EPIPE) never gets here: SIGPIPE ends the program quietly first (see `main`).
fn exit_2_when_stdout_fails() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        match message.and_then(|m| m.strip_prefix("failed printing to stdout: ")) {
            Some(reason) => stdout_failed(reason),
            None => default(info),
        }
    }));
}

/// Prints one error line about stdout (ignoring a failing stderr) and exits with code 2.
fn stdout_failed(reason: &str) -> ! {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "error: cannot write to standard output: {reason}; check the file or pipe it goes to \
         (a full disk, a closed file)"
    );
    std::process::exit(2)
}
