//! Embeds the git commit sgd-ou is built from as `SGD_OU_GIT_COMMIT` (read with `env!` in
//! `report::build_info`): the `git rev-parse HEAD` hash, with `-dirty` appended when tracked
//! files differ from it, or `unknown` when git or the repository is missing (e.g. a crates.io
//! download) or when the crate sits inside some other repository. Never fails the build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Files whose change may change the answer: HEAD, the branch ref, packed refs and the index.
fn watched(dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec!["HEAD".to_string(), "packed-refs".into(), "index".into()];
    if let Some(r) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(r);
    }
    paths
        .iter()
        .filter_map(|p| git(dir, &["rev-parse", "--git-path", p]))
        .map(|p| dir.join(p))
        .collect()
}

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let top = git(&dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let ours = match (
        top.and_then(|t| t.canonicalize().ok()),
        dir.canonicalize().ok(),
    ) {
        (Some(t), Some(d)) => t == d,
        _ => false,
    };
    let commit = if ours {
        for p in watched(&dir) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
        match git(&dir, &["rev-parse", "HEAD"]) {
            Some(hash) if !hash.is_empty() => {
                let dirty = git(&dir, &["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{hash}-dirty")
                } else {
                    hash
                }
            }
            _ => "unknown".into(),
        }
    } else {
        "unknown".into()
    };
    println!("cargo:rustc-env=SGD_OU_GIT_COMMIT={commit}");
}
