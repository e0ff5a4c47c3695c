//! `verify --out REPORT_DIR` and `report::write::write_set`: all-or-nothing report sets.
//!
//! Failure injection (a foreign subdirectory, a report name taken by a directory, a file name
//! the file system rejects mid-way, an unwritable parent), concurrency (threads and processes
//! writing one REPORT_DIR with different seeds end with one complete set), foreign files kept,
//! and `--out` inside the run directory refused. Stage-by-stage injected failures (after the
//! first file, before the swap, after moving the old report aside) are unit tests in
//! `src/report/write.rs`.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{p, sgd_ou, tempdir, write_valid_run};
use sgd_ou::report::write::{write_set, MANIFEST};

/// Every entry of `dir` (name, bytes), sorted; symbolic links as their target.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            let bytes = if ft.is_symlink() {
                fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
                    .into_bytes()
            } else if ft.is_dir() {
                format!("<dir> {:?}", snapshot(&e.path())).into_bytes()
            } else {
                fs::read(e.path()).unwrap()
            };
            (name, bytes)
        })
        .collect();
    v.sort();
    v
}

fn names(dir: &Path) -> Vec<String> {
    snapshot(dir).into_iter().map(|(n, _)| n).collect()
}

fn set(tag: &str) -> Vec<(String, Vec<u8>)> {
    ["report.json", "report.md", "report.tex"]
        .iter()
        .map(|n| (n.to_string(), format!("{tag} {n}\n").into_bytes()))
        .collect()
}

/// A run and a first report of it (seed 1) in `tmp`; returns (run, out).
fn run_with_report(tmp: &Path) -> (PathBuf, PathBuf) {
    let run = tmp.join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    let out = tmp.join("report");
    let o = sgd_ou(&[
        "verify",
        "--run-dir",
        p(&run),
        "--out",
        p(&out),
        "--seed",
        "1",
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{o:?}");
    (run, out)
}

fn verify_out(run: &Path, out: &Path, seed: &str) -> std::process::Output {
    sgd_ou(&[
        "verify",
        "--run-dir",
        p(run),
        "--out",
        p(out),
        "--seed",
        seed,
    ])
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn foreign_files_are_kept_and_the_set_replaced() {
    let tmp = tempdir();
    let (run, out) = run_with_report(tmp.path());
    let first = fs::read(out.join("report.json")).unwrap();
    fs::write(out.join("notes.txt"), "my notes").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("notes.txt", out.join("link-to-notes")).unwrap();
    let o = verify_out(&run, &out, "2");
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", stderr(&o));
    assert_ne!(
        fs::read(out.join("report.json")).unwrap(),
        first,
        "seed 2 report"
    );
    assert_eq!(
        fs::read_to_string(out.join("notes.txt")).unwrap(),
        "my notes"
    );
    #[cfg(unix)]
    assert_eq!(
        fs::read_link(out.join("link-to-notes")).unwrap(),
        Path::new("notes.txt")
    );
    let manifest = fs::read_to_string(out.join(MANIFEST)).unwrap();
    assert!(
        manifest.starts_with(
            "report.json\nreport.md\nreport.tex\nreport.html\nmethods.tex\nreferences.bib\n"
        ),
        "{manifest}"
    );
    assert!(
        !manifest.contains("notes.txt"),
        "a foreign file is not ours"
    );
    // No temporaries beside the report.
    assert_eq!(names(tmp.path()), ["report", "run"]);
}

#[test]
fn a_foreign_subdirectory_is_refused_and_nothing_changes() {
    let tmp = tempdir();
    let (run, out) = run_with_report(tmp.path());
    fs::create_dir(out.join("plots")).unwrap();
    fs::write(out.join("plots/plot.pdf"), "pdf").unwrap();
    let before = snapshot(&out);
    let o = verify_out(&run, &out, "2");
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("plots") && e.contains("was not written by sgd-ou"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert_eq!(snapshot(&out), before);
    assert_eq!(
        fs::read_to_string(out.join("plots/plot.pdf")).unwrap(),
        "pdf"
    );
    assert_eq!(names(tmp.path()), ["report", "run"]);
}

#[test]
fn a_report_name_taken_by_a_directory_is_not_replaced() {
    let tmp = tempdir();
    let (run, out) = run_with_report(tmp.path());
    fs::remove_file(out.join("report.tex")).unwrap();
    fs::create_dir(out.join("report.tex")).unwrap();
    fs::write(out.join("report.tex/keep"), "x").unwrap();
    let before = snapshot(&out);
    let o = verify_out(&run, &out, "2");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("report.tex"), "{}", stderr(&o));
    assert_eq!(snapshot(&out), before);
    assert_eq!(
        fs::read_to_string(out.join("report.tex/keep")).unwrap(),
        "x"
    );
    assert_eq!(names(tmp.path()), ["report", "run"]);
}

#[test]
fn out_that_is_a_file_is_refused() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    let out = tmp.path().join("report");
    fs::write(&out, "not a directory").unwrap();
    let o = verify_out(&run, &out, "1");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a directory"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&out).unwrap(), "not a directory");
    // A parent that is a file: create_dir_all fails, exit 2, nothing written.
    let o = verify_out(&run, &out.join("sub"), "1");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(names(tmp.path()), ["report", "run"]);
}

/// A failure after some files of the new set are written (the file system rejects a 300-byte
/// name) leaves the old set byte for byte and no temporary directory.
#[test]
fn a_failure_mid_way_leaves_the_old_set() {
    let tmp = tempdir();
    let out = tmp.path().join("report");
    write_set(&out, &set("old")).unwrap();
    fs::write(out.join("notes.txt"), "mine").unwrap();
    let before = snapshot(&out);
    let mut new = set("new");
    new.push(("x".repeat(300), b"too long".to_vec()));
    let err = write_set(&out, &new).unwrap_err().to_string();
    assert!(err.contains("cannot write"), "{err}");
    assert_eq!(snapshot(&out), before);
    assert_eq!(names(tmp.path()), ["report"]);
}

/// An unwritable parent: the write fails, the old report stays. Skipped (loudly) when the
/// process can write there anyway (running as root ignores the permission bits).
#[cfg(unix)]
#[test]
fn a_read_only_parent_leaves_the_old_set() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempdir();
    let parent = tmp.path().join("parent");
    let out = parent.join("report");
    write_set(&out, &set("old")).unwrap();
    let before = snapshot(&out);
    fs::set_permissions(&parent, fs::Permissions::from_mode(0o555)).unwrap();
    let probe = parent.join("probe");
    if fs::write(&probe, "").is_ok() {
        fs::remove_file(&probe).unwrap();
        fs::set_permissions(&parent, fs::Permissions::from_mode(0o755)).unwrap();
        eprintln!(
            "SKIPPED a_read_only_parent_leaves_the_old_set: permissions are not enforced (root?)"
        );
        return;
    }
    let r = write_set(&out, &set("new"));
    fs::set_permissions(&parent, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(r.is_err());
    assert_eq!(snapshot(&out), before);
    assert_eq!(names(&parent), ["report"]);
}

/// Eight threads write one REPORT_DIR 10 times each with different tags: after every write the
/// set is one writer's complete set, and at the end no temporaries are left.
#[test]
fn concurrent_threads_never_mix_sets() {
    let tmp = tempdir();
    let out = tmp.path().join("report");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), "mine").unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let out = &out;
            s.spawn(move || {
                for round in 0..10 {
                    write_set(out, &set(&format!("t{t}-r{round}"))).unwrap();
                }
            });
        }
    });
    let snap = snapshot(&out);
    let json = &snap.iter().find(|(n, _)| n == "report.json").unwrap().1;
    let tag = String::from_utf8_lossy(json)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        tag.ends_with("-r9"),
        "the last round of some thread wins: {tag}"
    );
    let mut want = set(&tag);
    want.push(("notes.txt".into(), b"mine".to_vec()));
    want.push((
        MANIFEST.into(),
        b"report.json\nreport.md\nreport.tex\n".to_vec(),
    ));
    want.sort();
    assert_eq!(snap, want);
    assert_eq!(names(tmp.path()), ["report"]);
}

/// Four `verify` processes with different seeds write one REPORT_DIR at once: the result is
/// exactly the set one of them writes alone.
#[test]
fn concurrent_processes_leave_one_consistent_set() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    let seeds = ["11", "12", "13", "14"];
    let shared = tmp.path().join("shared");
    // Each seed's set written alone to the same --out (the command line is part of report.json).
    let alone: Vec<_> = seeds
        .iter()
        .map(|s| {
            let o = verify_out(&run, &shared, s);
            assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", stderr(&o));
            let snap = snapshot(&shared);
            fs::remove_dir_all(&shared).unwrap();
            snap
        })
        .collect();
    for _round in 0..3 {
        let children: Vec<_> = seeds
            .iter()
            .map(|s| {
                std::process::Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
                    .args(["verify", "--run-dir", p(&run), "--out", p(&shared)])
                    .args(["--seed", s])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(matches!(c.wait().unwrap().code(), Some(0 | 1 | 3)));
        }
        let got = snapshot(&shared);
        assert!(alone.contains(&got), "a mixed set: {:?}", names(&shared));
    }
    assert_eq!(names(tmp.path()), ["run", "shared"], "no temporaries");
}

#[test]
fn out_inside_the_run_directory_is_refused() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    let before = snapshot(&run.join("checkpoints"));
    for out in [
        run.join("checkpoints/step_9999"),
        run.clone(),
        run.join("report"),
        tmp.path().to_path_buf(),
    ] {
        let o = verify_out(&run, &out, "1");
        assert_eq!(o.status.code(), Some(2), "{out:?}");
        let e = stderr(&o);
        assert!(
            e.contains("the run directory") && e.contains("--out"),
            "{e}"
        );
        assert_eq!(e.trim().lines().count(), 1, "{e}");
    }
    assert!(!run.join("checkpoints/step_9999").exists());
    assert!(!run.join("report").exists());
    assert_eq!(snapshot(&run.join("checkpoints")), before);
    // Through a `..` path too, and the run still verifies afterwards.
    let sneaky = tmp.path().join("elsewhere/../run/checkpoints/x");
    assert_eq!(verify_out(&run, &sneaky, "1").status.code(), Some(2));
    let ok = verify_out(&run, &tmp.path().join("report"), "1");
    assert!(
        matches!(ok.status.code(), Some(0 | 1 | 3)),
        "{}",
        stderr(&ok)
    );
}
