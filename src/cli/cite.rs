//! `sgd-ou cite`: prints BibTeX for sgd-ou itself (from CITATION.cff).

/// Prints the citation; returns 0.
pub fn run() -> anyhow::Result<i32> {
    print!("{}", sgd_ou::report::bib::sgd_ou_citation());
    Ok(0)
}
