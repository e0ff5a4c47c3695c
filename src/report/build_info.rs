//! Facts about the sgd-ou build, for a report's provenance.

/// The git commit sgd-ou was built from: a 40-hex-digit hash, with `-dirty` appended when
/// tracked files differed from it at build time, or `unknown` when built outside its git
/// repository (see build.rs).
pub const GIT_COMMIT: &str = env!("SGD_OU_GIT_COMMIT");

/// The package version (Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_a_hash_or_unknown() {
        let hash = GIT_COMMIT.strip_suffix("-dirty").unwrap_or(GIT_COMMIT);
        assert!(
            GIT_COMMIT == "unknown"
                || (hash.len() == 40 && hash.chars().all(|c| c.is_ascii_hexdigit())),
            "{GIT_COMMIT}"
        );
    }
}
