//! Writing report files atomically: every output is rendered in memory first, written to a
//! temporary file beside its destination and renamed into place, so a failure never leaves a
//! partial report.

use std::path::Path;

use super::{json, latex, markdown, Report};
use crate::error::{Error, Result};

/// Writes report.json, report.md and report.tex into `out_dir` (created if missing).
pub fn write_all(report: &Report, out_dir: &Path) -> Result<()> {
    let files = [
        ("report.json", json::to_string(report)),
        ("report.md", markdown::render(report)),
        ("report.tex", latex::render(report)),
    ];
    let err = |p: &Path, e: std::io::Error| Error::Output {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(out_dir).map_err(|e| err(out_dir, e))?;
    let mut tmps = Vec::new();
    for (name, text) in &files {
        let tmp = out_dir.join(format!(".{name}.tmp-{}", std::process::id()));
        if let Err(e) = std::fs::write(&tmp, text) {
            for t in &tmps {
                let _ = std::fs::remove_file(t);
            }
            let _ = std::fs::remove_file(&tmp);
            return Err(err(&tmp, e));
        }
        tmps.push(tmp);
    }
    for (tmp, (name, _)) in tmps.iter().zip(&files) {
        let dest = out_dir.join(name);
        std::fs::rename(tmp, &dest).map_err(|e| err(&dest, e))?;
    }
    Ok(())
}
