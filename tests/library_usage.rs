//! sgd-ou used exactly as a user would inside their own `cargo test`: one call to verify a run
//! directory, one assertion whose failure message names the assumption and the reason.

use std::path::Path;

#[test]
fn my_training_run_is_an_ou_process() {
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quadratic-gaussian");
    let report = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
    report.assert_ou_assumptions();
}

#[test]
fn a_broken_assumption_fails_the_test_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("large-step");
    let s = sgd_ou::simulate::Scenario::LargeStep;
    sgd_ou::simulate::simulate(s, &sgd_ou::simulate::SimConfig::default_for(s), 1, &run).unwrap();
    let report = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
    let panic = std::panic::catch_unwind(|| report.assert_ou_assumptions())
        .expect_err("a large-step run must fail the assertion");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("small_step: fail"), "{msg}");
    assert!(msg.contains("ε·λ_max"), "{msg}");
    assert!(
        !msg.contains("gaussian_noise"),
        "only failing checks are named: {msg}"
    );
}
