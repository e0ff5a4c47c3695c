//! A stdout that cannot be written (here /dev/full, "No space left on device") ends every
//! command with exit code 2 and one error line on stderr, never a panic; a reader that goes
//! away early stays quiet (`tests/cli/bad_input.rs`, `closed_stdout_is_not_a_panic`).
#![cfg(target_os = "linux")]

use crate::common;

use std::fs::File;
use std::process::{Command, Output, Stdio};

use common::{p, tempdir, write_valid_run};

fn with_full_stdout(args: &[&str]) -> Output {
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(args)
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .expect("the sgd-ou binary runs")
}

fn assert_exit_2_one_line(what: &str, o: &Output) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what}: {e}");
    assert!(!e.contains("panicked"), "{what}: {e}");
    assert_eq!(e.lines().count(), 1, "{what}: one line: {e}");
    assert!(
        e.starts_with("error: cannot write to standard output") && e.contains("No space left"),
        "{what}: {e}"
    );
}

#[test]
fn dev_full_stdout_gives_exit_2_and_one_line() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    let npy = run.join("checkpoints/step_100/grads.npy");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("verify table", vec!["verify", "--run-dir", p(&run)]),
        (
            "verify --json",
            vec!["verify", "--run-dir", p(&run), "--json"],
        ),
        ("stats normality", vec!["stats", "normality", p(&npy)]),
        (
            "stats normality --json",
            vec!["stats", "normality", p(&npy), "--json"],
        ),
        ("stats mvn", vec!["stats", "mvn", p(&npy)]),
        ("simulate --list", vec!["simulate", "--list"]),
    ];
    for (what, args) in cases {
        assert_exit_2_one_line(what, &with_full_stdout(&args));
    }
}

/// The same commands with a writable stdout succeed, so the failure above is the stdout's.
#[test]
fn the_same_commands_succeed_with_a_normal_stdout() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    let o = common::sgd_ou(&["verify", "--run-dir", p(&run), "--json"]);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = common::sgd_ou(&["simulate", "--list"]);
    assert_eq!(o.status.code(), Some(0));
}
