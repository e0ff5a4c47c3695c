//! The library's error types. Every [`Error`] variant names the file (where there is one) and
//! says how to fix the problem; the CLI maps all of them to exit code 2. Library messages name
//! options by their field in [`crate::Options`], never by a command-line flag.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the run directory is missing, unreadable, malformed or inconsistent.
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    /// Options given to the library are contradictory or out of range.
    #[error("invalid option: {0}")]
    Usage(String),
    /// An [`crate::Options`] field is out of range ([`crate::Options::validate`]).
    #[error(transparent)]
    Option(#[from] OptionError),
    /// Writing an output failed.
    #[error("cannot write {}: {message}", path.display())]
    Output { path: PathBuf, message: String },
    /// A file-system operation failed; the `io::Error` is kept as the source.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        /// What was being done, e.g. `"create directory"`.
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Input error for `path` with an explanatory `message` (what was found and the fix).
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }

    /// File-system error while doing `action` on `path`, keeping `source`.
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

/// An option of [`crate::Options`] (or of its [`crate::thresholds::Thresholds`]) is out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
#[error("{name} = {value} is out of range: it must be {requirement}")]
pub struct OptionError {
    /// The field, e.g. `"thresholds.ci_level"`.
    pub name: &'static str,
    /// The value given, as text.
    pub value: String,
    /// The rule it breaks, e.g. `"in (0, 1)"`.
    pub requirement: &'static str,
}

/// Why [`crate::report::Report::check_ou_assumptions`] refused: the assumptions that did not
/// pass, each with its verdict, summary and reasons.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
#[error("{}", self.message())]
pub struct AssumptionsNotMet {
    /// The run directory, as reported.
    pub run_dir: String,
    /// The overall verdict (fail or inconclusive).
    pub overall: crate::checks::Verdict,
    /// (assumption, verdict, summary, reasons) of every assumption that did not pass.
    pub failed: Vec<(
        crate::checks::Assumption,
        crate::checks::Verdict,
        String,
        Vec<String>,
    )>,
}

impl AssumptionsNotMet {
    fn message(&self) -> String {
        let lines: Vec<String> = self
            .failed
            .iter()
            .map(|(a, v, summary, reasons)| {
                format!("  {}: {v}: {summary} ({})", a.key(), reasons.join("; "))
            })
            .collect();
        format!(
            "the OU model's assumptions do not all hold for run {} (overall: {}):\n{}",
            self.run_dir,
            self.overall,
            lines.join("\n")
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
