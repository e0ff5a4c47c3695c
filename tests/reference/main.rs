//! Reference values: every statistic and p-value against scipy/statsmodels/pingouin (and the OU formulas against their closed forms), on fixed data recorded by the committed scripts tests/reference/generate_*.py.
//!
//! One test binary (`cargo test --test reference`); each module was a binary of its own before
//! issue 12 grouped them (fewer binaries to link). Run one module with
//! `cargo test --test reference <module>::`.

mod ou_estimate;
mod ou_lyapunov;
mod ou_reshuffled;
mod ou_subspace;
mod stats_decisions;
mod stats_multivariate;
mod stats_normality;
mod stats_offset;
mod stats_screen;
