//! Paper-ready reports: figures, HTML, LaTeX (compiled when pdflatex is present) and the Markdown report.
//!
//! One test binary (`cargo test --test report`); each module was a binary of its own before
//! issue 12 grouped them (fewer binaries to link). Run one module with
//! `cargo test --test report <module>::`.

#[path = "../paper_support/mod.rs"]
mod paper_support;

mod paper_figures;
mod paper_html;
mod paper_latex;
mod paper_report;
