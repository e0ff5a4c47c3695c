//! Writing a report set all-or-nothing.
//!
//! [`write_set`] takes the whole set as (file name, bytes) and
//!
//! 1. locks the parent of REPORT_DIR (an exclusive `flock` on the parent directory itself, so no
//!    lock file is left behind), so concurrent writers run one after another and the last one
//!    wins with a complete set;
//! 2. writes every file (synced) into a fresh hidden sibling `.NAME.sgd-ou-tmp-PID-N`, with a
//!    manifest `.sgd-ou-report` naming them, and hard-links (or copies) into it every regular
//!    file or symbolic link of the old REPORT_DIR that sgd-ou did not write (files not named in
//!    the old manifest or the new set), so nothing foreign is lost; a foreign subdirectory, or
//!    a non-regular file where a report file goes, makes the write refuse with a message;
//! 3. swaps the new directory in: on Linux with `renameat2(RENAME_EXCHANGE)` (one atomic step),
//!    elsewhere (or where the file system lacks it) by moving the old directory aside, renaming
//!    the new one in and moving the old one back if that fails; then removes the old set.
//!
//! A failure at any step removes the temporary directory and leaves the old report untouched.
//! Leftovers of a writer that was killed mid-way are cleaned up (or, for a report moved aside,
//! restored) by the next writer, under the lock.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{html, json, latex, markdown, methods, plots, Report};
use crate::error::{Error, Result};

/// Name of the manifest listing the files sgd-ou wrote into a report directory.
pub const MANIFEST: &str = ".sgd-ou-report";

/// The files of a report set, in order: report.json, report.md, report.tex, report.html,
/// methods.tex, references.bib, then per figure `figures/ID.svg`, `figures/ID.tex` and its
/// `figures/ID-K.dat` data files.
pub fn report_files(report: &Report) -> Vec<(String, Vec<u8>)> {
    let figs = plots::report_figures(report);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("report.json".into(), json::to_string(report).into_bytes()),
        (
            "report.md".into(),
            markdown::render_with(report, &figs).into_bytes(),
        ),
        (
            "report.tex".into(),
            latex::render_with(report, &figs).into_bytes(),
        ),
        (
            "report.html".into(),
            html::render_with(report, &figs).into_bytes(),
        ),
        (
            "methods.tex".into(),
            methods::paragraph(report).into_bytes(),
        ),
        (
            "references.bib".into(),
            methods::references_bib().into_bytes(),
        ),
    ];
    for f in &figs {
        files.push((
            format!("figures/{}.svg", f.id),
            f.figure.svg.clone().into_bytes(),
        ));
        files.push((
            format!("figures/{}.tex", f.id),
            f.figure.tikz.tex.clone().into_bytes(),
        ));
        for (name, body) in &f.figure.tikz.data_files {
            files.push((format!("figures/{name}"), body.clone().into_bytes()));
        }
    }
    files
}

/// Writes [`report_files`] into `out_dir` with [`write_set`].
pub fn write_all(report: &Report, out_dir: &Path) -> Result<()> {
    write_set(out_dir, &report_files(report))
}

/// Replaces the report directory `out_dir` by exactly `files` (plus the foreign files it
/// already holds), all-or-nothing; see the module documentation. Cost: the bytes written plus
/// one hard link (or copy) per foreign file.
///
/// Errors (`Error::Output`, naming the path and the fix): an invalid file name in `files`,
/// `out_dir` not a directory, a foreign subdirectory in it, any I/O failure.
pub fn write_set(out_dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    write_set_with(out_dir, files, &Inject::default())
}

/// Refuses an `out_dir` inside `run_dir` (or containing it): the report would become part of
/// the run, or swapping it in would move the run. Both paths are resolved through symbolic links
/// (the part of `out_dir` that does not exist yet lexically). A `run_dir` that cannot be
/// resolved is left to the reader to report.
pub fn refuse_inside(out_dir: &Path, run_dir: &Path) -> Result<()> {
    let Ok(run) = fs::canonicalize(run_dir) else {
        return Ok(());
    };
    let out = resolve(out_dir).map_err(|e| output_err(out_dir, e))?;
    if out.starts_with(&run) || run.starts_with(&out) {
        let relation = if out.starts_with(&run) {
            "inside"
        } else {
            "a parent of"
        };
        return Err(Error::Usage(format!(
            "--out {} is {relation} the run directory {}; write the report outside the run, \
             e.g. --out {}-report",
            out_dir.display(),
            run_dir.display(),
            run.display()
        )));
    }
    Ok(())
}

/// `p` made absolute: its longest existing prefix canonicalised, the rest appended lexically
/// (`..` pops a component).
fn resolve(p: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(p)?;
    let mut base = abs.clone();
    let mut rest = Vec::new();
    while fs::symlink_metadata(&base).is_err() {
        match (base.file_name(), base.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                base = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = fs::canonicalize(&base)?;
    for c in rest.iter().rev() {
        match Path::new(c).components().next() {
            Some(Component::ParentDir) => {
                out.pop();
            }
            Some(Component::CurDir) | None => {}
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Failure injection for the tests: fail with an I/O error at a stage, or skip the exchange.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Inject {
    fail_at: Option<Stage>,
    no_exchange: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// After writing the first file of the set into the temporary directory.
    AfterFirstFile,
    /// Before the swap.
    BeforeSwap,
    /// Move-aside path only: after the old directory was moved aside.
    AfterMoveAside,
}

impl Inject {
    fn at(&self, stage: Stage) -> io::Result<()> {
        if self.fail_at == Some(stage) {
            return Err(io::Error::other(format!("injected failure at {stage:?}")));
        }
        Ok(())
    }
}

fn output_err(path: &Path, e: io::Error) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn refuse(path: &Path, message: &str) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn write_set_with(out_dir: &Path, files: &[(String, Vec<u8>)], inject: &Inject) -> Result<()> {
    check_names(files)?;
    let leaf = out_dir
        .file_name()
        .filter(|_| !matches!(out_dir.components().next_back(), Some(Component::ParentDir)))
        .ok_or_else(|| {
            refuse(
                out_dir,
                "--out needs a directory name (such as ./report), not a root or `..`",
            )
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| output_err(&parent, e))?;
    let lock = fs::File::open(&parent).map_err(|e| output_err(&parent, e))?;
    lock.lock().map_err(|e| output_err(&parent, e))?;
    recover_stale(&parent, &leaf, out_dir);
    let foreign = plan(out_dir, files)?;
    let tmp = parent.join(format!(".{leaf}.sgd-ou-tmp-{}", unique()));
    let result = fill(&tmp, out_dir, files, &foreign, inject)
        .map_err(|e| output_err(&tmp, e))
        .and_then(|()| swap(&tmp, out_dir, &parent, &leaf, inject));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    if let Ok(d) = fs::File::open(&parent) {
        let _ = d.sync_all();
    }
    drop(lock);
    result
}

/// Subdirectories a report set may use (`figures/NAME`); they belong to sgd-ou.
pub const SUBDIRS: [&str; 1] = ["figures"];

/// File names must be plain, distinct names (no separators, not `.`/`..`, not the manifest),
/// or `SUBDIR/NAME` with SUBDIR one of [`SUBDIRS`] and NAME plain.
fn check_names(files: &[(String, Vec<u8>)]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (name, _) in files {
        let comps = Path::new(name).components().collect::<Vec<_>>();
        let plain = match comps.as_slice() {
            [Component::Normal(n)] => *n == name.as_str(),
            [Component::Normal(d), Component::Normal(n)] => {
                SUBDIRS.iter().any(|s| *d == *s)
                    && name == &format!("{}/{}", d.to_string_lossy(), n.to_string_lossy())
            }
            _ => false,
        };
        if !plain || name == MANIFEST || !seen.insert(name.as_str()) {
            return Err(refuse(
                Path::new(name),
                "not a plain, distinct report file name",
            ));
        }
    }
    Ok(())
}

/// The subdirectory part of the names in `names` (`figures` of `figures/a.svg`).
fn subdirs_of<'a>(names: impl Iterator<Item = &'a str>) -> BTreeSet<&'a str> {
    names
        .filter_map(|n| n.split_once('/').map(|(d, _)| d))
        .collect()
}

/// A report subdirectory of the old set: it must be a real directory holding only files that
/// the old manifest or the new set names (nothing foreign is silently dropped).
fn check_subdir(dir: &Path, name: &str, ours: &BTreeSet<&str>, new: &BTreeSet<&str>) -> Result<()> {
    for e in fs::read_dir(dir).map_err(|e| output_err(dir, e))? {
        let e = e.map_err(|e| output_err(dir, e))?;
        let full = format!("{name}/{}", e.file_name().to_string_lossy());
        let ft = e.file_type().map_err(|err| output_err(&e.path(), err))?;
        if !ft.is_file() || !(ours.contains(full.as_str()) || new.contains(full.as_str())) {
            return Err(refuse(
                &e.path(),
                "was not written by sgd-ou but is inside a report subdirectory that the new \
                 report replaces; move it out of REPORT_DIR or choose another --out",
            ));
        }
    }
    Ok(())
}

/// A process-unique suffix `PID-N` for temporary names.
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Under the lock, removes temporaries of killed writers; a report they had moved aside is
/// renamed back when REPORT_DIR is missing. Best effort: errors are ignored.
fn recover_stale(parent: &Path, leaf: &str, out_dir: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let (tmp_prefix, old_prefix) = (
        format!(".{leaf}.sgd-ou-tmp-"),
        format!(".{leaf}.sgd-ou-old-"),
    );
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&tmp_prefix) {
            let _ = fs::remove_dir_all(e.path());
        } else if name.starts_with(&old_prefix) {
            if fs::symlink_metadata(out_dir).is_err() {
                let _ = fs::rename(e.path(), out_dir);
            } else {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Inspects the existing REPORT_DIR; returns its foreign entries (names not in the old manifest
/// nor in the new set), refusing what cannot be kept or must not be replaced.
fn plan(out_dir: &Path, files: &[(String, Vec<u8>)]) -> Result<Vec<String>> {
    let meta = match fs::symlink_metadata(out_dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(output_err(out_dir, e)),
    };
    if !meta.is_dir() {
        return Err(refuse(
            out_dir,
            "exists and is not a directory (or is a symbolic link); remove it or choose another --out",
        ));
    }
    let old_manifest = fs::read_to_string(out_dir.join(MANIFEST)).unwrap_or_default();
    let ours: BTreeSet<&str> = old_manifest.lines().collect();
    let new: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let (new_dirs, old_dirs) = (
        subdirs_of(new.iter().copied()),
        subdirs_of(ours.iter().copied()),
    );
    let mut foreign = Vec::new();
    for e in fs::read_dir(out_dir).map_err(|e| output_err(out_dir, e))? {
        let e = e.map_err(|e| output_err(out_dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ft = e.file_type().map_err(|err| output_err(&e.path(), err))?;
        if (new_dirs.contains(name.as_str()) || old_dirs.contains(name.as_str()))
            && SUBDIRS.contains(&name.as_str())
        {
            if !ft.is_dir() {
                return Err(refuse(
                    &e.path(),
                    "is not a directory but has the name of a report subdirectory; move it away",
                ));
            }
            check_subdir(&e.path(), &name, &ours, &new)?;
        } else if new.contains(name.as_str()) || ours.contains(name.as_str()) || name == MANIFEST {
            if !ft.is_file() {
                return Err(refuse(
                    &e.path(),
                    "is not a regular file but has the name of a report file; move it away",
                ));
            }
        } else if ft.is_file() || ft.is_symlink() {
            foreign.push(name);
        } else {
            return Err(refuse(
                &e.path(),
                "was not written by sgd-ou and is not a plain file, so it cannot be carried over \
                 into the new report; move it out of REPORT_DIR or choose another --out",
            ));
        }
    }
    Ok(foreign)
}

/// Creates `tmp` and writes the set, the manifest and the carried-over foreign entries.
fn fill(
    tmp: &Path,
    out_dir: &Path,
    files: &[(String, Vec<u8>)],
    foreign: &[String],
    inject: &Inject,
) -> io::Result<()> {
    fs::create_dir(tmp)?;
    let mut manifest = String::new();
    for (i, (name, bytes)) in files.iter().enumerate() {
        if let Some((dir, _)) = name.split_once('/') {
            fs::create_dir_all(tmp.join(dir))?;
        }
        write_synced(&tmp.join(name), bytes)?;
        if i == 0 {
            inject.at(Stage::AfterFirstFile)?;
        }
        manifest.push_str(name);
        manifest.push('\n');
    }
    write_synced(&tmp.join(MANIFEST), manifest.as_bytes())?;
    for name in foreign {
        let (from, to) = (out_dir.join(name), tmp.join(name));
        let meta = fs::symlink_metadata(&from)?;
        if meta.file_type().is_symlink() {
            copy_symlink(&from, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to)?;
        }
    }
    // The new directory gets the old one's permissions (last, in case they are read-only).
    if let Ok(m) = fs::metadata(out_dir) {
        fs::set_permissions(tmp, m.permissions())?;
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(unix)]
fn copy_symlink(from: &Path, to: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(fs::read_link(from)?, to)
}

#[cfg(not(unix))]
fn copy_symlink(from: &Path, to: &Path) -> io::Result<()> {
    fs::copy(from, to).map(|_| ())
}

/// Puts `tmp` in place of `out_dir` and removes the old set.
fn swap(tmp: &Path, out_dir: &Path, parent: &Path, leaf: &str, inject: &Inject) -> Result<()> {
    inject
        .at(Stage::BeforeSwap)
        .map_err(|e| output_err(tmp, e))?;
    if fs::symlink_metadata(out_dir).is_err() {
        return fs::rename(tmp, out_dir).map_err(|e| output_err(out_dir, e));
    }
    if !inject.no_exchange && exchange(tmp, out_dir).is_ok() {
        // `tmp` now holds the old set.
        let _ = fs::remove_dir_all(tmp);
        return Ok(());
    }
    let old = parent.join(format!(".{leaf}.sgd-ou-old-{}", unique()));
    fs::rename(out_dir, &old).map_err(|e| output_err(out_dir, e))?;
    let moved = inject
        .at(Stage::AfterMoveAside)
        .and_then(|()| fs::rename(tmp, out_dir));
    if let Err(e) = moved {
        if let Err(back) = fs::rename(&old, out_dir) {
            return Err(refuse(
                out_dir,
                &format!(
                    "{e}; and restoring the old report failed ({back}): it is in {}",
                    old.display()
                ),
            ));
        }
        return Err(output_err(out_dir, e));
    }
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Atomically exchanges two directory entries (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(tag: &str) -> Vec<(String, Vec<u8>)> {
        ["a.json", "b.md", "c.tex"]
            .iter()
            .map(|n| (n.to_string(), format!("{tag} {n}").into_bytes()))
            .collect()
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sgd-ou-write-{name}-{}", unique()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn contents(dir: &Path) -> Vec<(String, String)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, fs::read_to_string(e.path()).unwrap_or_default())
            })
            .collect();
        v.sort();
        v
    }

    /// Every injected failure leaves the old report byte for byte and no temporaries.
    #[test]
    fn injected_failures_leave_the_old_report() {
        for (stage, no_exchange) in [
            (Stage::AfterFirstFile, false),
            (Stage::BeforeSwap, false),
            (Stage::AfterMoveAside, true),
        ] {
            let root = tempdir("inject");
            let out = root.join("report");
            write_set(&out, &set("old")).unwrap();
            fs::write(out.join("notes.txt"), "mine").unwrap();
            let before = contents(&out);
            let inject = Inject {
                fail_at: Some(stage),
                no_exchange,
            };
            let err = write_set_with(&out, &set("new"), &inject).unwrap_err();
            assert!(err.to_string().contains("injected"), "{stage:?}: {err}");
            assert_eq!(contents(&out), before, "{stage:?}");
            assert_eq!(
                fs::read_dir(&root).unwrap().count(),
                1,
                "{stage:?}: leftovers"
            );
            fs::remove_dir_all(&root).unwrap();
        }
    }

    /// The move-aside path (no exchange) replaces the set and keeps foreign files.
    #[test]
    fn move_aside_path_replaces_the_set() {
        let root = tempdir("aside");
        let out = root.join("report");
        write_set(&out, &set("old")).unwrap();
        fs::write(out.join("notes.txt"), "mine").unwrap();
        let inject = Inject {
            fail_at: None,
            no_exchange: true,
        };
        write_set_with(&out, &set("new"), &inject).unwrap();
        let got = contents(&out);
        assert!(got.contains(&("a.json".into(), "new a.json".into())));
        assert!(got.contains(&("notes.txt".into(), "mine".into())));
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
        fs::remove_dir_all(&root).unwrap();
    }

    /// A writer killed after moving the old report aside: the next writer restores it first.
    #[test]
    fn a_report_moved_aside_by_a_killed_writer_is_restored() {
        let root = tempdir("stale");
        let out = root.join("report");
        write_set(&out, &set("old")).unwrap();
        fs::write(out.join("notes.txt"), "mine").unwrap();
        fs::rename(&out, root.join(".report.sgd-ou-old-1-0")).unwrap();
        fs::create_dir(root.join(".report.sgd-ou-tmp-1-1")).unwrap();
        write_set(&out, &set("new")).unwrap();
        assert!(contents(&out).contains(&("notes.txt".into(), "mine".into())));
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
        fs::remove_dir_all(&root).unwrap();
    }

    /// `figures/NAME` is written, replaced with the set, and a foreign file inside it refused.
    #[test]
    fn figures_subdirectory_is_part_of_the_set() {
        let root = tempdir("subdir");
        let out = root.join("report");
        let with_fig = |tag: &str, fig: &str| {
            let mut s = set(tag);
            s.push((format!("figures/{fig}"), format!("{tag} fig").into_bytes()));
            s
        };
        write_set(&out, &with_fig("old", "a.svg")).unwrap();
        assert_eq!(
            fs::read_to_string(out.join("figures/a.svg")).unwrap(),
            "old fig"
        );
        write_set(&out, &with_fig("new", "b.svg")).unwrap();
        assert!(!out.join("figures/a.svg").exists(), "old figure kept");
        assert_eq!(
            fs::read_to_string(out.join("figures/b.svg")).unwrap(),
            "new fig"
        );
        write_set(&out, &set("plain")).unwrap();
        assert!(
            !out.join("figures").exists(),
            "figures/ of the old set kept"
        );
        write_set(&out, &with_fig("again", "c.svg")).unwrap();
        fs::write(out.join("figures/mine.txt"), "mine").unwrap();
        let before = contents(&out);
        assert!(write_set(&out, &with_fig("newer", "c.svg")).is_err());
        assert_eq!(contents(&out), before);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn bad_names_are_refused() {
        let root = tempdir("names");
        for bad in [
            "",
            "..",
            "a/b",
            "figures/../x",
            "figures/a/b",
            "figures/",
            MANIFEST,
        ] {
            let files = vec![(bad.to_string(), Vec::new())];
            assert!(write_set(&root.join("r"), &files).is_err(), "{bad:?}");
        }
        let dup = vec![("a".to_string(), Vec::new()), ("a".to_string(), Vec::new())];
        assert!(write_set(&root.join("r"), &dup).is_err());
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
        fs::remove_dir_all(&root).unwrap();
    }
}
