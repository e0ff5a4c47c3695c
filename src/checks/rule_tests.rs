//! Unit tests of the verdict rule's combination: [`ToleranceTests::from_pieces`] (Holm over
//! pieces, intersection–union pass, leaning fail) and [`overall`] (Holm over the four checks,
//! the OU prediction's hold-back).

use super::*;

fn piece(p_fail: f64, p_pass: f64, beyond: bool) -> PieceTest {
    PieceTest {
        name: "effect".into(),
        estimate: if beyond { 0.3 } else { 0.1 },
        tolerance: Tolerance::at_most(0.2),
        beyond,
        p_fail: Some(p_fail),
        p_pass: Some(p_pass),
    }
}

#[test]
fn holm_over_pieces_decides_fail() {
    // Three pieces: min p 0.02 → Holm 0.06 > 0.05: not a fail; 0.01 → 0.03: fail.
    let t = ToleranceTests::from_pieces(
        vec![
            piece(0.02, 0.9, true),
            piece(0.5, 0.5, false),
            piece(0.9, 0.01, false),
        ],
        0.05,
    );
    assert!((t.p_fail - 0.06).abs() < 1e-12);
    assert_eq!(t.verdict(0.05), Verdict::Inconclusive);
    assert!(t.leaning_fail);
    let t = ToleranceTests::from_pieces(
        vec![
            piece(0.01, 0.9, true),
            piece(0.5, 0.5, false),
            piece(0.9, 0.01, false),
        ],
        0.05,
    );
    assert_eq!(t.verdict(0.05), Verdict::Fail);
    assert!(!t.leaning_fail);
}

#[test]
fn pass_needs_every_equivalence_test() {
    let t =
        ToleranceTests::from_pieces(vec![piece(0.9, 0.01, false), piece(0.9, 0.04, false)], 0.05);
    assert!((t.p_pass - 0.04).abs() < 1e-12);
    assert_eq!(t.verdict(0.05), Verdict::Pass);
    let mut untested = piece(0.9, 0.01, false);
    untested.p_pass = None;
    untested.p_fail = None;
    let t = ToleranceTests::from_pieces(vec![piece(0.9, 0.01, false), untested], 0.05);
    assert_eq!(
        t.verdict(0.05),
        Verdict::Inconclusive,
        "an untested piece cannot pass"
    );
    assert!(!t.leaning_fail);
}

fn tests_with(p_fail: f64, p_pass: f64) -> ToleranceTests {
    ToleranceTests::from_pieces(vec![piece(p_fail, p_pass, p_fail < 0.5)], 0.05)
}

#[test]
fn overall_holm_over_the_four() {
    let a = Assumption::ALL;
    let fail_alone = tests_with(0.02, 0.9); // fails on its own, not after Holm over 4 (0.08)
    let pass = tests_with(0.9, 0.01);
    let checks = [
        (a[0], fail_alone.verdict(0.05), Some(&fail_alone)),
        (a[1], Verdict::Pass, Some(&pass)),
        (a[2], Verdict::Pass, Some(&pass)),
        (a[3], Verdict::Pass, Some(&pass)),
    ];
    let (v, t) = overall(&checks, None, 0.05);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(t.failing.is_empty() && t.leaning_fail);
    let strong = tests_with(0.001, 0.9);
    let mut checks2 = checks;
    checks2[0] = (a[0], Verdict::Fail, Some(&strong));
    let (v, t) = overall(&checks2, None, 0.05);
    assert_eq!(v, Verdict::Fail);
    assert_eq!(t.failing, vec![a[0]]);
    assert!((t.holm_p_fail[0].unwrap() - 0.004).abs() < 1e-12);
}

#[test]
fn contradicted_ou_prediction_holds_back_a_pass_only() {
    let a = Assumption::ALL;
    let pass = tests_with(0.9, 0.01);
    let checks: Vec<_> = a.iter().map(|&x| (x, Verdict::Pass, Some(&pass))).collect();
    let contradicted = tests_with(0.001, 0.9);
    let agrees = tests_with(0.9, 0.01);
    let (v, t) = overall(&checks, Some(&contradicted), 0.05);
    assert_eq!(v, Verdict::Inconclusive);
    assert!(t.ou_prediction_contradicted && !t.leaning_fail);
    assert_eq!(overall(&checks, Some(&agrees), 0.05).0, Verdict::Pass);
    assert_eq!(overall(&checks, None, 0.05).0, Verdict::Pass);
    // A failing run stays failed.
    let strong = tests_with(0.001, 0.9);
    let mut failing = checks.clone();
    failing[1] = (a[1], Verdict::Fail, Some(&strong));
    assert_eq!(
        overall(&failing, Some(&contradicted), 0.05).0,
        Verdict::Fail
    );
}
