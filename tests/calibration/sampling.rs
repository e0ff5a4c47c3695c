//! Sampling designs (issue 15, point 3): fresh draws at every step against epoch-wise
//! reshuffling, on seeded simulated runs whose stationary law is known for each design.
//! Seeds of a family are `BASE + s`; the checks use `Context::seed = 7`.
//!
//! Monte Carlo bounds: a nominal rate p from n runs is allowed up to p + 2·√(p(1 − p)/n)
//! (`common::max_false_fails`).

use std::path::Path;

use sgd_ou::run::{LoadOptions, Manifest, Run};
use sgd_ou::simulate::{simulate, SamplingDesign, Scenario, SimConfig};

fn config(design: SamplingDesign) -> SimConfig {
    let mut c = SimConfig::default_for(Scenario::QuadraticGaussian);
    c.sampling = design;
    c
}

fn trace(m: &serde_json::Value) -> f64 {
    let a = m.as_array().unwrap();
    (0..a.len()).map(|i| a[i][i].as_f64().unwrap()).sum()
}

fn simulate_to(design: SamplingDesign, seed: u64, root: &Path) -> std::path::PathBuf {
    let out = root.join(format!("{design:?}-{seed}"));
    simulate(Scenario::QuadraticGaussian, &config(design), seed, &out).unwrap();
    out
}

#[test]
fn reshuffled_simulation_writes_a_v2_manifest_and_both_predictions() {
    let root = tempfile::tempdir().unwrap();
    let dir = simulate_to(SamplingDesign::Reshuffled, 1, root.path());
    let m = Manifest::read(&dir.join("run.json")).unwrap();
    assert_eq!(m.format_version, 2);
    let r = m.reshuffling.expect("reshuffled");
    assert_eq!(
        (r.steps_per_epoch, r.first_epoch_step, r.drop_last),
        (32, 0, true)
    );
    let text = std::fs::read_to_string(dir.join("run.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let t = &v["simulation"]["truth"];
    let ratio =
        trace(&t["stationary_covariance"]) / trace(&t["stationary_covariance_fresh_sampling"]);
    // ε = 0.02, λ ∈ {1, 1.5, 2, 3}, m = 32 (ελm ∈ [0.64, 1.92]): ou::reshuffled gives 0.271.
    assert!(
        (0.25..0.30).contains(&ratio),
        "reshuffled/fresh trace ratio {ratio}"
    );
    assert_eq!(v["simulation"]["parameters"]["sampling"], "reshuffled");
    Run::load(&dir, &LoadOptions { dims: 8, seed: 1 }).unwrap();
    // The fresh default writes neither the design nor the fresh-sampling key.
    let fresh = simulate_to(SamplingDesign::Fresh, 1, root.path());
    let text = std::fs::read_to_string(fresh.join("run.json")).unwrap();
    assert!(!text.contains("reshuffled") && !text.contains("fresh_sampling"));
    assert!(text.contains("\"format_version\": 1"));
}
