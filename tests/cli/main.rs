//! End to end: the sgd-ou command line and library on run directories, good and bad (readers, formats, errors, exit codes, determinism, exporters, compare).
//!
//! One test binary (`cargo test --test cli`); each module was a binary of its own before
//! issue 12 grouped them (fewer binaries to link). Run one module with
//! `cargo test --test cli <module>::`.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod cli_mvn;
mod cli_normality;
mod compare;
mod determinism;
mod exporters;
mod format_v2;
mod hostile_input;
mod library_usage;
mod pass_equivalence;
mod probes;
mod report_out;
mod safetensors_input;
mod safetensors_run;
mod stdout_errors;
