//! What the checks share, computed once per analysis: the [`Context`] (the windowed run, the
//! seed, the thresholds and the shared estimates) and the [`curvature`] estimate of the drift
//! matrix A with its bootstrap.
//!
//! Layering: `checks` → `model` → (`ou`, `phases`) → `run` → `stats`.

pub mod context;
pub mod curvature;

pub use context::Context;
