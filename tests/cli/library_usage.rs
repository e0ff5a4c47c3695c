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

#[test]
fn check_ou_assumptions_names_what_did_not_pass_in_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("large-step");
    let s = sgd_ou::simulate::Scenario::LargeStep;
    sgd_ou::simulate::simulate(s, &sgd_ou::simulate::SimConfig::default_for(s), 1, &run).unwrap();
    let report = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
    let err = report.check_ou_assumptions().unwrap_err();
    assert_eq!(err.overall, sgd_ou::checks::Verdict::Fail);
    assert!(err
        .failed
        .iter()
        .any(|(a, v, ..)| *a == sgd_ou::checks::Assumption::SmallStep
            && *v == sgd_ou::checks::Verdict::Fail));
    assert!(err.to_string().contains("small_step: fail"), "{err}");
}

#[test]
fn a_saved_report_deserialises_and_reserialises_byte_identically() {
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quadratic-gaussian");
    let report = sgd_ou::verify(run, &sgd_ou::Options::default()).unwrap();
    let json = sgd_ou::report::json::to_string(&report);
    let back: sgd_ou::report::Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back.schema_version, 2);
    assert_eq!(sgd_ou::report::json::to_string(&back), json);
    assert_eq!(
        sgd_ou::report::markdown::render(&back),
        sgd_ou::report::markdown::render(&report)
    );
}

#[test]
fn out_of_range_options_are_a_typed_error_not_a_panic() {
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quadratic-gaussian");
    let mut o = sgd_ou::Options::default();
    o.thresholds.ci_level = 2.0;
    match sgd_ou::verify(&run, &o) {
        Err(sgd_ou::Error::Option(e)) => {
            assert_eq!(e.name, "thresholds.ci_level");
            assert!(!e.to_string().contains("--"), "no CLI flag in {e}");
        }
        other => panic!("expected an option error, got {other:?}"),
    }
    let o = sgd_ou::Options {
        dims: 0,
        ..Default::default()
    };
    assert!(matches!(o.validate(), Err(e) if e.name == "dims"));
    let o = sgd_ou::Options {
        from_step: Some(10),
        to_step: Some(5),
        ..Default::default()
    };
    assert!(matches!(o.validate(), Err(e) if e.name == "from_step"));
    assert!(sgd_ou::Options::default().validate().is_ok());
}
