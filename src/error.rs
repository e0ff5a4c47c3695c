//! The library's error type. Every variant names the file (where there is one) and says how to
//! fix the problem; the CLI maps all of them to exit code 2.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the run directory is missing, unreadable, malformed or inconsistent.
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    /// Options given to the library or CLI are contradictory or out of range.
    #[error("invalid option: {0}")]
    Usage(String),
    /// Writing an output failed.
    #[error("cannot write {}: {message}", path.display())]
    Output { path: PathBuf, message: String },
}

impl Error {
    /// Input error for `path` with an explanatory `message` (what was found and the fix).
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
