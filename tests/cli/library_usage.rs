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
    typed_evidence_comes_back_as_its_own_check(&back);
}

/// Each check's evidence and thresholds read back as that check's typed variant (the enums are
/// untagged: `deny_unknown_fields` on every struct keeps the variants apart).
fn typed_evidence_comes_back_as_its_own_check(r: &sgd_ou::report::Report) {
    use sgd_ou::checks::{Applied as A, Evidence as E};
    let a = &r.assumptions;
    assert!(matches!(a.gaussian_noise.metrics, E::GaussianNoise(_)));
    assert!(matches!(
        a.constant_covariance.metrics,
        E::ConstantCovariance(_)
    ));
    assert!(matches!(a.small_step.metrics, E::SmallStep(_)));
    assert!(matches!(a.quadratic_loss.metrics, E::QuadraticLoss(_)));
    assert!(matches!(r.ou_prediction.metrics, E::OuPrediction(_)));
    assert!(matches!(a.gaussian_noise.thresholds, A::GaussianNoise(_)));
    assert!(matches!(
        a.constant_covariance.thresholds,
        A::ConstantCovariance(_)
    ));
    assert!(matches!(a.small_step.thresholds, A::SmallStep(_)));
    assert!(matches!(a.quadratic_loss.thresholds, A::QuadraticLoss(_)));
    assert!(matches!(r.ou_prediction.thresholds, A::OuPrediction(_)));
}

/// Every scenario's report (inconclusive and failing checks, minibatch and per-example runs)
/// deserialises with each check's evidence in its own variant, and re-serialises identically.
#[test]
fn every_scenario_report_reads_back_typed() {
    use sgd_ou::simulate::{simulate, Scenario, SimConfig};
    let tmp = tempfile::tempdir().unwrap();
    for &s in Scenario::all() {
        let run = tmp.path().join(s.name());
        simulate(s, &SimConfig::default_for(s), 1, &run).unwrap();
        let report = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
        let json = sgd_ou::report::json::to_string(&report);
        let back: sgd_ou::report::Report = serde_json::from_str(&json).unwrap();
        assert_eq!(sgd_ou::report::json::to_string(&back), json, "{}", s.name());
        typed_evidence_comes_back_as_its_own_check(&back);
    }
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
