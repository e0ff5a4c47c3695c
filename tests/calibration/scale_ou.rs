//! Issue 16, "Analysis bases": a perfect OU process at d ≫ k. An exact quadratic loss with
//! Gaussian per-example noise (quadratic-gaussian) at d = 200, spectrum log-uniform in [0.3, 3]
//! (ε·λ_max = 0.06), analysed at k = 8 in three ways from the same files:
//!
//! * **hessian.npy** (format 1): the eigenbasis is computed from the last checkpoint's Hessian;
//! * **basis/** (format 2, no hessian.npy): the exact top-8 eigenvectors and eigenvalues;
//! * **no Hessian information** (format 1 without hessian.npy): the seeded random subspace,
//!   where the OU covariance ratio is a subspace approximation (reported, not tested).
//!
//! Targets (issue 16): the OU prediction, small_step and quadratic_loss do not fail in ≥ 95 % of the runs,
//! asserted as "fails ≤ 5 % + 2 Monte Carlo SE" over named seeds 1..=20 (`make test`; 40 with
//! `SGD_OU_CALIBRATE_SCALE` ≥ 2). Also recorded: the mean covariance ratio tr Σ̂/tr Σ_discrete in
//! the eigenbasis (exact prediction, ≈ 1) and in the random subspace (biased: P A⁻¹ Pᵀ ⪰
//! (P A Pᵀ)⁻¹ with isotropic noise; the simulator's noise is anisotropic, so either sign).

use std::path::Path;

use crate::common;

use nalgebra::SymmetricEigen;
use sgd_ou::checks::{
    in_invariant_basis, ou_prediction, quadratic_loss, small_step, AnalysisBasis, CheckResult,
    Context, Evidence, Thresholds, Verdict,
};
use sgd_ou::run::{npy, LoadOptions, Run, SubspaceKind};
use sgd_ou::simulate::{simulate, Scenario, SimConfig};

const K: usize = 8;

/// Quadratic-gaussian at dimension `d`: λ_j log-uniform in [0.3, 3], N = 512, S = 32, ε = 0.02,
/// 8 checkpoints 150 steps apart after 400 steps (a trajectory of 1,051 steps).
fn config(d: usize) -> SimConfig {
    let mut cfg = SimConfig::default_for(Scenario::QuadraticGaussian);
    cfg.d = d;
    cfg.curvatures = (0..d)
        .map(|j| 0.3 * 10f64.powf(j as f64 / (d - 1) as f64))
        .collect();
    cfg.dataset_size = 512;
    cfg.write_losses = false;
    cfg
}

fn load(dir: &Path) -> Run {
    Run::load(dir, &LoadOptions { dims: K, seed: 1 }).unwrap()
}

/// (ou_prediction, small_step, quadratic_loss) narrated, each in its own basis choice.
fn checks(run: &Run) -> (CheckResult, CheckResult, CheckResult) {
    let th = Thresholds::default();
    let ctx = Context::new(run, 7, &th);
    let ou = sgd_ou::report::narrate::ou_prediction::narrate(ou_prediction::check(&ctx));
    let st = sgd_ou::report::narrate::small_step::narrate(small_step::check(&ctx));
    let ql = sgd_ou::report::narrate::quadratic_loss::narrate(quadratic_loss::check(&ctx));
    (ou, st, ql)
}

fn ratio(r: &CheckResult) -> f64 {
    r.key_metrics
        .iter()
        .find(|m| m.name == "covariance_ratio_discrete")
        .map_or(f64::NAN, |m| m.estimate)
}

/// Edits run.json with `f` (the simulator's truth, d × d matrices, is dropped: at d = 200 it
/// takes run.json above its 1 MiB limit).
fn edit_manifest(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("run.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    if let Some(o) = v.as_object_mut() {
        o.remove("simulation");
    }
    f(&mut v);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Removes every checkpoint's hessian.npy.
fn drop_hessians(dir: &Path) {
    for e in std::fs::read_dir(dir.join("checkpoints")).unwrap() {
        let h = e.unwrap().path().join("hessian.npy");
        if h.exists() {
            std::fs::remove_file(h).unwrap();
        }
    }
}

/// Turns the run into format 2 with basis/ holding the exact top-`m` eigenpairs of `hessian`.
fn write_basis(dir: &Path, hessian: &nalgebra::DMatrix<f64>, m: usize, at_step: u64) {
    let d = hessian.nrows();
    let eig = SymmetricEigen::new(hessian.clone());
    let mut idx: Vec<usize> = (0..d).collect();
    idx.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let mut rows = Vec::with_capacity(m * d);
    for &i in &idx[..m] {
        let col = eig.eigenvectors.column(i);
        let big = col
            .iter()
            .fold(0.0f64, |b, &x| if x.abs() > b.abs() { x } else { b });
        rows.extend(col.iter().map(|x| x * big.signum()));
    }
    let b = dir.join("basis");
    std::fs::create_dir_all(&b).unwrap();
    npy::write_f64(&b.join("hessian_eigvecs.npy"), &[m, d], &rows).unwrap();
    let vals: Vec<f64> = idx[..m].iter().map(|&i| eig.eigenvalues[i]).collect();
    npy::write_f64(&b.join("hessian_eigvals.npy"), &[m], &vals).unwrap();
    npy::write_f64(&b.join("hessian_residuals.npy"), &[m], &vec![0.0; m]).unwrap();
    edit_manifest(dir, |v| {
        v["format_version"] = 2.into();
        v["basis"] = serde_json::json!({ "at_step": at_step });
    });
}

#[derive(Default)]
struct Tally {
    runs: usize,
    ou_fail: usize,
    step_fail: usize,
    quad_fail: usize,
    ratio_sum: f64,
    ratios: usize,
}

impl Tally {
    fn add(&mut self, (ou, st, ql): &(CheckResult, CheckResult, CheckResult), want: AnalysisBasis) {
        assert_eq!(ou.basis, Some(want), "{:?}", ou.reasons);
        assert_eq!(st.basis, Some(want), "{:?}", st.reasons);
        self.runs += 1;
        self.ou_fail += usize::from(ou.verdict == Verdict::Fail);
        self.step_fail += usize::from(st.verdict == Verdict::Fail);
        self.quad_fail += usize::from(ql.verdict == Verdict::Fail);
        let r = ratio(ou);
        if r.is_finite() {
            self.ratio_sum += r;
            self.ratios += 1;
        }
    }

    fn mean_ratio(&self) -> f64 {
        self.ratio_sum / self.ratios.max(1) as f64
    }

    fn row(&self, what: &str) -> String {
        format!(
            "| {what} | {} | {} | {} | {} | {:.3} |",
            self.runs,
            self.ou_fail,
            self.step_fail,
            self.quad_fail,
            self.mean_ratio()
        )
    }
}

#[test]
fn perfect_ou_at_d_200_does_not_fail_with_or_without_a_hessian_basis() {
    perfect_ou(200, 20 * common::calibration_scale().min(2));
}

/// `make calibrate` (release, `--include-ignored`): d = 1,000, 40 seeds.
#[test]
#[ignore = "d = 1,000: minutes; run by make calibrate"]
fn perfect_ou_at_d_1000_does_not_fail_with_or_without_a_hessian_basis() {
    perfect_ou(1000, 40);
}

/// The three analyses of `reps` seeded perfect-OU runs at dimension `d` (module documentation).
fn perfect_ou(d: usize, reps: usize) {
    let root = common::tempdir();
    let cfg = config(d);
    let (mut from_npy, mut from_dir, mut none) =
        (Tally::default(), Tally::default(), Tally::default());
    for seed in 1..=reps as u64 {
        let dir = root.path().join(format!("run-{seed}"));
        let sim = simulate(Scenario::QuadraticGaussian, &cfg, seed, &dir).unwrap();
        edit_manifest(&dir, |_| {});
        let run = load(&dir);
        let inv = run.invariant.as_ref().expect("eigenbasis from hessian.npy");
        assert_eq!(inv.m(), K);
        assert_eq!(
            run.invariant_view().subspace.kind(),
            SubspaceKind::HessianEigenbasis
        );
        from_npy.add(&checks(&run), AnalysisBasis::HessianEigenbasis);
        drop_hessians(&dir);
        let run = load(&dir);
        assert!(run.invariant.is_none());
        let (ou, st, ql) = checks(&run);
        let Evidence::OuPrediction(e) = &ou.metrics else {
            panic!("not the OU-prediction evidence")
        };
        assert_eq!(e.coordinates, ou_prediction::Coordinates::Subspace);
        let tested = ou.tests.as_ref().and_then(|t| {
            t.pieces
                .iter()
                .find(|p| p.name == "covariance_ratio_discrete")
                .map(|p| p.p_fail.is_some())
        });
        assert_ne!(
            tested,
            Some(true),
            "the subspace approximation is not tested"
        );
        none.add(&(ou, st, ql), AnalysisBasis::RandomSubspace);
        let last = *sim.checkpoint_steps.last().unwrap();
        write_basis(&dir, &sim.hessian, K, last);
        let run = load(&dir);
        from_dir.add(&checks(&run), AnalysisBasis::HessianEigenbasis);
        if seed == 1 {
            // The whole report names the basis of each check that decided in the eigenbasis.
            let rep = sgd_ou::analyse(&run, &sgd_ou::Options::default());
            assert_eq!(
                rep.ou_prediction.basis,
                Some(AnalysisBasis::HessianEigenbasis)
            );
            let st = &rep.assumptions.small_step;
            assert_eq!(st.basis, Some(AnalysisBasis::HessianEigenbasis));
            assert!(st.reasons.iter().any(|r| r.contains("Hessian eigenbasis")));
            let json = serde_json::to_string(&rep).unwrap();
            assert!(json.contains("\"basis\":\"hessian_eigenbasis\""));
            assert!(rep
                .warnings
                .iter()
                .any(|w| w.contains("decide in the Hessian eigenbasis")));
        }
        // The view is what the checks decided in: its λ_max is λ_1 of the basis.
        in_invariant_basis(&Context::new(&run, 7, &Thresholds::default()), |c| {
            let lmax = c.curvature().primary().unwrap().lambda_max;
            assert!((lmax - 3.0).abs() < 1e-9, "λ_max {lmax}");
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let allowed = common::max_false_fails(reps, 0.05);
    let header =
        "| analysis basis | runs | OU prediction fails | small_step fails | quadratic_loss fails | mean tr Σ̂/tr Σ_d |\n\
                  |---|---|---|---|---|---|";
    let rows = [
        from_npy.row("Hessian eigenbasis from hessian.npy"),
        from_dir.row("Hessian eigenbasis from basis/ (format 2)"),
        none.row("random subspace, no Hessian (subspace approximation)"),
    ];
    eprintln!("d = {d}, k = {K}, {reps} seeds");
    for r in &rows {
        eprintln!("{r}");
        common::record_calibration_row("scale_ou", header, &format!("| d = {d} {}", &r[1..]));
    }
    for (t, what) in [
        (&from_npy, "hessian.npy"),
        (&from_dir, "basis/"),
        (&none, "none"),
    ] {
        assert!(
            t.ou_fail <= allowed,
            "{what}: {} OU fails of {reps}",
            t.ou_fail
        );
        assert!(
            t.step_fail <= allowed,
            "{what}: {} small_step fails",
            t.step_fail
        );
        assert!(
            t.quad_fail <= allowed,
            "{what}: {} quadratic_loss fails",
            t.quad_fail
        );
    }
    // In the eigenbasis the prediction is exact: the mean ratio is near 1.
    for t in [&from_npy, &from_dir] {
        assert!((t.mean_ratio() - 1.0).abs() < 0.1, "{}", t.mean_ratio());
    }
}
