//! Runs at d ≫ k (`--dim`): validation of the large-d options, the truth in A's eigenbasis
//! (O(N d), no d × d matrix), format-2 fields (`parameters`, `basis`) and the `basis/` files.
//!
//! With A = U diag(λ) Uᵀ and F = I − εA diagonal in U's basis, the discrete Lyapunov equation
//! Σ = FΣF + ε² f C holds entrywise in that basis: Σ_kl = ε² f C_kl / (1 − (1 − ελ_k)(1 − ελ_l)),
//! with C_kl = u_kᵀ C u_l the exact (divisor N) covariance of the drawn per-example gradients at
//! θ*. The diagonal (all d) and the top block are computed from w_i = Uᵀ∇l_i(θ*) in O(N d).

use std::path::Path;

use nalgebra::{DMatrix, DVector};
use serde_json::{json, Value};

use super::model::{self, Kind};
use super::rotated::RotatedOperator;
use super::truth::without_replacement_factor;
use super::{
    compute_truth, mkdir, run_sgd, usage, write_floats, write_manifest, write_trajectory,
    SamplingDesign, Scenario, SimConfig, SimSummary,
};
use crate::error::Result;
use crate::run::parameters::ParameterMap;

/// Largest d for which a `dim_rotated` run also computes the dense truth (Hessian, noise
/// covariance, stationary covariance in `SimSummary`) and writes `hessian.npy` at checkpoints.
pub const DENSE_TRUTH_MAX_DIM: usize = 256;

/// Size of the top block of [`EigenTruth`] when `basis_dims` is smaller.
const TOP_BLOCK: usize = 16;

/// The truth of a `dim_rotated` run in A's eigenbasis, eigen-directions sorted by decreasing λ.
#[derive(Debug, Clone)]
pub struct EigenTruth {
    /// A = U diag(λ) Uᵀ (O(d) products: `operator.apply`, `operator.rotation.column(k)`).
    pub operator: RotatedOperator,
    /// Column indices of U by decreasing eigenvalue: direction r is column `order[r]`.
    pub order: Vec<usize>,
    /// λ by decreasing value (length d).
    pub eigenvalues: Vec<f64>,
    /// C_rr = u_rᵀ C u_r, the per-example gradient variance at θ* along each direction (exact for
    /// the drawn data set, divisor N), length d.
    pub noise_variance: Vec<f64>,
    /// Σ_rr, the exact stationary variance of the iterates along each direction (discrete
    /// Lyapunov, fresh sampling), length d.
    pub stationary_variance: Vec<f64>,
    /// The top eigenvectors u_1..u_m (m = max(basis_dims, min(d, 16))) with the basis sign
    /// rule (largest-magnitude entry positive), each of length d.
    pub top_eigenvectors: Vec<Vec<f64>>,
    /// C restricted to the top m directions (m × m).
    pub top_noise_covariance: DMatrix<f64>,
    /// Σ restricted to the top m directions (m × m), exact entrywise.
    pub top_stationary_covariance: DMatrix<f64>,
}

/// Checks the large-d options: which scenarios take `dim_rotated`, basis and format rules, the
/// parameter map, the noise model and the tail specification.
pub(super) fn validate(s: Scenario, c: &SimConfig) -> Result<()> {
    if !(1..=2).contains(&c.format) {
        return Err(usage(format!(
            "simulate: format must be 1 or 2, got {}",
            c.format
        )));
    }
    if c.dim_rotated {
        if !matches!(s, Scenario::QuadraticGaussian | Scenario::LargeStep) {
            return Err(usage(format!(
                "simulate: --dim is supported by quadratic-gaussian and large-step only, not {}",
                s.name()
            )));
        }
        if c.probes.is_some() {
            return Err(usage("simulate: loss probes are not available with --dim"));
        }
        if c.sampling != SamplingDesign::Fresh {
            return Err(usage(
                "simulate: --dim supports fresh sampling only (no reshuffled prediction at large d)",
            ));
        }
    }
    if c.basis_dims > 0 {
        if !c.dim_rotated {
            return Err(usage(
                "simulate: --basis-dims needs --dim (the exact eigenvectors of the rotated quadratic)",
            ));
        }
        if c.format < 2 {
            return Err(usage(
                "simulate: --basis-dims writes basis/, which needs --format 2",
            ));
        }
        if c.basis_dims > c.d {
            return Err(usage(format!(
                "simulate: --basis-dims {} exceeds d = {}",
                c.basis_dims, c.d
            )));
        }
    }
    if c.parameter_shapes.is_some() {
        if c.format < 2 {
            return Err(usage(
                "simulate: --parameter-shape writes the format-2 `parameters` map; add --format 2",
            ));
        }
        ParameterMap::from_value(&parameters_json(c)).map_err(|e| {
            usage(format!(
                "simulate: --parameter-shape does not describe d = {} parameters: {e}",
                c.d
            ))
        })?;
        let total: usize = parameter_list(c)
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        if total != c.d {
            return Err(usage(format!(
                "simulate: the --parameter-shape sizes sum to {total} but d = {}; make them sum to d",
                c.d
            )));
        }
    }
    validate_noise(s, c)
}

/// The noise model and the tail specification.
fn validate_noise(s: Scenario, c: &SimConfig) -> Result<()> {
    if let super::NoiseModel::Multiplicative { beta } = c.noise_model {
        if !matches!(s, Scenario::QuadraticGaussian | Scenario::LargeStep) {
            return Err(usage(format!(
                "simulate: --noise-model multiplicative applies to quadratic-gaussian and \
                 large-step, not {} (state-dependent-noise is the d = 4 scenario built this way)",
                s.name()
            )));
        }
        if !(beta.is_finite() && c.state_cap.is_finite() && c.state_cap > 0.0) {
            return Err(usage(
                "simulate: --noise-beta must be finite (and state_cap finite and > 0)",
            ));
        }
    }
    if c.tail.is_some() {
        return Err(usage("simulate: --tail-* is not implemented yet"));
    }
    Ok(())
}

/// The (name, shape) list: `parameter_shapes` or one tensor "theta" of shape [d].
fn parameter_list(c: &SimConfig) -> Vec<(String, Vec<usize>)> {
    c.parameter_shapes
        .clone()
        .unwrap_or_else(|| vec![("theta".to_string(), vec![c.d])])
}

/// run.json `parameters`: `[{name, shape, offset}]` in flattening order.
fn parameters_json(c: &SimConfig) -> Value {
    let mut offset = 0usize;
    let mut out = Vec::new();
    for (name, shape) in parameter_list(c) {
        out.push(json!({"name": name, "shape": shape, "offset": offset}));
        offset += shape.iter().product::<usize>();
    }
    Value::Array(out)
}

/// Sets `format_version` 2, `parameters` and `basis` in a manifest when the configuration asks
/// for format 2 (nothing otherwise, so format-1 runs are unchanged).
pub(super) fn format2_fields(manifest: &mut Value, c: &SimConfig) {
    if c.format < 2 {
        return;
    }
    manifest["format_version"] = json!(2);
    manifest["parameters"] = parameters_json(c);
    if c.basis_dims > 0 {
        manifest["basis"] = json!({"at_step": c.burn_in});
    }
}

/// Simulates a `dim_rotated` run into `dir` (see [`super::simulate`]). Cost O(T·S·d) for the
/// SGD, O(K·N·d) for the checkpoints, O(N·d + N·m²) for the truth; dense truth O(N d² + d³)
/// only when d ≤ [`DENSE_TRUTH_MAX_DIM`].
pub(super) fn run_rotated(
    s: Scenario,
    cfg: &SimConfig,
    seed: u64,
    dir: &Path,
    out: &Path,
) -> Result<SimSummary> {
    let f = without_replacement_factor(cfg.dataset_size, cfg.batch_size);
    let built = model::build(s, cfg, seed);
    if !built.model.is_finite() {
        return Err(usage(
            "simulate: the drawn data set overflowed (non-finite values)",
        ));
    }
    let (mut model, theta_star, theta0) = (built.model, built.theta_star, built.theta0);
    let Kind::Rotated { op, .. } = &model.kind else {
        unreachable!("dim_rotated builds the rotated model")
    };
    let eig = eigen_truth(op, &model.all_gradients(&theta_star), cfg, f);
    let mut dense =
        (cfg.d <= DENSE_TRUTH_MAX_DIM).then(|| compute_truth(s, &model, &theta_star, cfg));
    let mult = multiplicative(&mut model, &eig, cfg);
    if mult.is_some() {
        if let Some(t) = dense.as_mut() {
            // The constant-C Lyapunov solution is the additive base model's, not this run's law.
            (t.stationary, t.continuous, t.exact) = (None, None, false);
        }
    }
    let steps = cfg.checkpoint_steps();
    let sgd = run_sgd(s, &model, &theta0, cfg, seed, dir, &steps)?;
    let trajectory_steps = write_trajectory(dir, cfg, &sgd)?;
    if cfg.basis_dims > 0 {
        write_basis(dir, &eig, cfg, &steps)?;
    }
    let mut truth = truth_json(&eig, cfg, f, &steps, trajectory_steps, dense.is_some());
    if let Some(m) = mult {
        truth["noise_model"] = m;
        truth["noise_factor_at_checkpoints"] = json!(sgd.noise_factors);
        truth["stationary_covariance_kind"] = json!(
            "base model only: the top_*_variance entries are the additive model's (s ≡ 1); \
             no linear prediction holds with multiplicative noise"
        );
    }
    let expected = super::expected_for(s, cfg);
    write_manifest(dir, s, cfg, seed, expected, &truth)?;
    let empty = || DMatrix::<f64>::zeros(0, 0);
    let (hessian, noise_cov, stationary, exact, continuous) = match dense {
        Some(t) => (t.hessian, t.noise_cov, t.stationary, t.exact, t.continuous),
        None => (empty(), empty(), None, true, None),
    };
    Ok(SimSummary {
        scenario: s,
        out: out.to_path_buf(),
        seed,
        learning_rate: cfg.learning_rate,
        batch_size: cfg.batch_size,
        dataset_size: cfg.dataset_size,
        theta_star,
        theta0,
        hessian,
        minibatch_noise_covariance: &noise_cov * f,
        noise_covariance: noise_cov,
        stationary_covariance: stationary,
        stationary_is_exact: exact,
        stationary_covariance_continuous: continuous,
        checkpoint_steps: steps,
        trajectory_steps,
        expected,
        truth,
        eigen: Some(eig),
        bytes_written: 0,
    })
}

/// `--noise-model multiplicative` at large d: scales ξ_i by s(θ) = exp(β z_c tanh(z/z_c)) with
/// z the position along the softest eigenvector u in units of its (additive-model) stationary
/// standard deviation σ_u; returns the run.json description, `None` for additive noise.
fn multiplicative(model: &mut model::Model, eig: &EigenTruth, cfg: &SimConfig) -> Option<Value> {
    let super::NoiseModel::Multiplicative { beta } = cfg.noise_model else {
        return None;
    };
    let soft = cfg.d - 1;
    let sigma_u = eig.stationary_variance[soft].sqrt();
    let Kind::Rotated { op, mult } = &mut model.kind else {
        unreachable!("rotated model")
    };
    *mult = Some(model::NoiseScale {
        u: op.rotation.column(eig.order[soft]),
        sigma_u,
        beta,
        z_cap: cfg.state_cap,
    });
    Some(json!({
        "kind": "multiplicative",
        "law": "∇l_i(θ) = A(θ − θ*) + s(θ) ξ_i, s(θ) = exp(β z_c tanh(z/z_c)), z = u_dᵀ(θ − θ*)/σ_u, \
                u_d the eigenvector of the smallest eigenvalue: C(θ) = s(θ)² C",
        "beta": beta,
        "z_cap": cfg.state_cap,
        "sigma_u": sigma_u,
        "direction_eigenvalue": eig.eigenvalues[soft],
    }))
}

/// Flips `v` so that its largest-magnitude entry (the first on ties) is positive.
fn sign_rule(v: &mut [f64]) {
    let mut best = 0;
    for (j, x) in v.iter().enumerate() {
        if x.abs() > v[best].abs() {
            best = j;
        }
    }
    if v.get(best).is_some_and(|&x| x < 0.0) {
        v.iter_mut().for_each(|x| *x = -*x);
    }
}

/// The truth in the eigenbasis from the N × d per-example gradients at θ* (see the module
/// documentation). Cost O(N d + N m²).
fn eigen_truth(op: &RotatedOperator, grads: &[f64], cfg: &SimConfig, f: f64) -> EigenTruth {
    let (d, n, eps) = (cfg.d, cfg.dataset_size, cfg.learning_rate);
    let order = op.order_decreasing();
    let m = cfg.basis_dims.max(d.min(TOP_BLOCK));
    let eigenvalues: Vec<f64> = order.iter().map(|&k| op.eigenvalues[k]).collect();
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let w = op.rotation.apply_transpose(&grads[i * d..(i + 1) * d]);
            order.iter().map(|&k| w[k]).collect()
        })
        .collect();
    let mean: Vec<f64> = (0..d)
        .map(|r| rows.iter().map(|w| w[r]).sum::<f64>() / n as f64)
        .collect();
    let noise_variance: Vec<f64> = (0..d)
        .map(|r| rows.iter().map(|w| (w[r] - mean[r]).powi(2)).sum::<f64>() / n as f64)
        .collect();
    let mut top_c = DMatrix::<f64>::zeros(m, m);
    for w in &rows {
        for a in 0..m {
            for b in 0..=a {
                top_c[(a, b)] += (w[a] - mean[a]) * (w[b] - mean[b]);
            }
        }
    }
    for a in 0..m {
        for b in 0..=a {
            top_c[(a, b)] /= n as f64;
            top_c[(b, a)] = top_c[(a, b)];
        }
    }
    let lyap =
        |c: f64, la: f64, lb: f64| eps * eps * f * c / (1.0 - (1.0 - eps * la) * (1.0 - eps * lb));
    let stationary_variance = (0..d)
        .map(|r| lyap(noise_variance[r], eigenvalues[r], eigenvalues[r]))
        .collect();
    let top_s = DMatrix::from_fn(m, m, |a, b| {
        lyap(top_c[(a, b)], eigenvalues[a], eigenvalues[b])
    });
    let top_eigenvectors = order[..m]
        .iter()
        .map(|&k| {
            let mut v = op.rotation.column(k);
            sign_rule(&mut v);
            v
        })
        .collect();
    EigenTruth {
        operator: op.clone(),
        order,
        eigenvalues,
        noise_variance,
        stationary_variance,
        top_eigenvectors,
        top_noise_covariance: top_c,
        top_stationary_covariance: top_s,
    }
}

/// Writes basis/ (top `basis_dims` eigenvectors, eigenvalues, residuals ‖Av − λv‖ of the stored
/// vectors) and `hessian_in_basis.npy` = diag(λ₁..λ_m) at every checkpoint (A is constant).
/// The sign rule is applied after casting to the stored dtype. Cost O(m d).
fn write_basis(dir: &Path, eig: &EigenTruth, cfg: &SimConfig, steps: &[u64]) -> Result<()> {
    let (m, d) = (cfg.basis_dims, cfg.d);
    let bdir = dir.join("basis");
    mkdir(&bdir)?;
    let mut flat = Vec::with_capacity(m * d);
    let mut residuals = Vec::with_capacity(m);
    for r in 0..m {
        let mut v = eig.operator.rotation.column(eig.order[r]);
        if cfg.float32 {
            v.iter_mut().for_each(|x| *x = *x as f32 as f64);
        }
        sign_rule(&mut v);
        let av = eig.operator.apply(&v);
        let res = av
            .iter()
            .zip(&v)
            .map(|(a, x)| (a - eig.eigenvalues[r] * x).powi(2))
            .sum::<f64>()
            .sqrt();
        residuals.push(res);
        flat.extend_from_slice(&v);
    }
    let lams = &eig.eigenvalues[..m];
    write_floats(
        &bdir.join("hessian_eigvecs.npy"),
        &[m, d],
        &flat,
        cfg.float32,
    )?;
    write_floats(&bdir.join("hessian_eigvals.npy"), &[m], lams, cfg.float32)?;
    write_floats(
        &bdir.join("hessian_residuals.npy"),
        &[m],
        &residuals,
        cfg.float32,
    )?;
    let diag = DMatrix::from_diagonal(&DVector::from_column_slice(lams));
    let diag_flat: Vec<f64> = (0..m)
        .flat_map(|i| (0..m).map(move |j| (i, j)))
        .map(|(i, j)| diag[(i, j)])
        .collect();
    for t in steps {
        let p = dir
            .join("checkpoints")
            .join(format!("step_{t}"))
            .join("hessian_in_basis.npy");
        write_floats(&p, &[m, m], &diag_flat, cfg.float32)?;
    }
    Ok(())
}

/// `simulation.truth` of a `dim_rotated` run: scalars and the top-16 directions only (no
/// d-length array, so run.json stays small at any d).
fn truth_json(
    eig: &EigenTruth,
    cfg: &SimConfig,
    f: f64,
    steps: &[u64],
    trajectory_steps: Option<(u64, u64)>,
    dense: bool,
) -> Value {
    let top = cfg.d.min(TOP_BLOCK);
    let lmax = eig.eigenvalues[0];
    let lmin = eig.eigenvalues[cfg.d - 1];
    json!({
        "hessian": "A = U diag(λ) Uᵀ, U = P G₂ G₁ (seeded Givens rotations on pairs (0,1),(2,3),… \
                    then (1,2),(3,4),…, then a seeded permutation; stream rotation); exact Hessian \
                    of the mean loss everywhere",
        "dimension": cfg.d,
        "hessian_eigenvalue_range": [lmin, lmax],
        "eps_lambda_max_at_theta_star": cfg.learning_rate * lmax,
        "minimum_mean_loss": 0.0,
        "noise_law": "ξ_i = noise_scale · U diag(√λ) z_i, z_i i.i.d. N(0, I) (stream dataset), \
                      centred: C = noise_scale² A up to sampling error",
        "finite_population_factor": f,
        "top_eigenvalues": &eig.eigenvalues[..top],
        "top_noise_variance_in_eigenbasis": &eig.noise_variance[..top],
        "top_stationary_variance_in_eigenbasis": &eig.stationary_variance[..top],
        "stationary_covariance_kind": "exact: discrete Lyapunov in A's eigenbasis, \
            Σ_kl = ε²f C_kl / (1 − (1 − ελ_k)(1 − ελ_l))",
        "dense_truth": if dense {
            "in SimSummary only (d ≤ 256); not written to run.json"
        } else {
            "none (d > 256): SimSummary.eigen holds the truth in the eigenbasis"
        },
        "basis_dims": cfg.basis_dims,
        "checkpoint_steps": steps,
        "trajectory_steps": trajectory_steps.map(|(a, b)| json!([a, b])).unwrap_or(Value::Null),
    })
}
