//! The per-example losses of each scenario: gradients, losses, the Hessian of the mean loss, and the
//! construction of the finite data set from the seeded streams.
//!
//! Notation: d parameters, N examples, δ = θ − θ_ref (θ_ref = θ* for single-minimum scenarios,
//! the barrier centre θ_c for the double wells), U = a Haar rotation whose columns u_k are the
//! Hessian eigenvectors, w = Uᵀδ the coordinates in that basis.

use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::rotated::{BlockRotation, RotatedOperator};
use super::truth::{haar_rotation, standard_sas, symmetrize};
use super::{Scenario, SimConfig};
use crate::rng;

/// The shape of the mean loss (the part shared by all examples).
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// L(θ) = ½ δᵀHδ; ∇l_i = Hδ + ξ_i.
    Quadratic { h: DMatrix<f64> },
    /// As `Quadratic`, but ∇l_i = Hδ + s(θ) ξ_i with s(θ) = exp(β z_c tanh(z/z_c)),
    /// z = uᵀδ/σ_u.
    StateDependent {
        h: DMatrix<f64>,
        u: DVector<f64>,
        sigma_u: f64,
        beta: f64,
        z_cap: f64,
    },
    /// L(θ) = ¼ Σ_j a_j w_j⁴; ∇l_i = Σ_j a_j w_j³ u_j + ξ_i.
    Quartic { rot: DMatrix<f64>, a: Vec<f64> },
    /// L(θ) = h (z² − 1)² + ½ Σ_{k ≠ well} λ_k w_k², z = w_well; ∇l_i = ∇L + ξ_i.
    DoubleWell {
        rot: DMatrix<f64>,
        lambdas: Vec<f64>,
        well: usize,
        barrier: f64,
    },
    /// `--dim`: L(θ) = ½ δᵀAδ with A = U diag(λ) Uᵀ applied in O(d) (no d × d matrix);
    /// ∇l_i = Aδ + ξ_i.
    Rotated {
        op: RotatedOperator,
        /// `--noise-model multiplicative`: ξ_i scaled by s(θ) (see [`NoiseScale`]).
        mult: Option<NoiseScale>,
    },
    /// l_i(θ) = ½ (x_iᵀθ − y_i)², exact gradients x_i (x_iᵀθ − y_i).
    LeastSquares {
        h: DMatrix<f64>,
        x: Vec<f64>,
        y: Vec<f64>,
        l_star: f64,
    },
}

/// s(θ) = exp(β z_c tanh(z/z_c)), z = uᵀ(θ − θ*)/σ_u: the noise factor of the multiplicative
/// noise model at large d (u a unit eigenvector of A). Cost O(d) per evaluation.
#[derive(Debug, Clone)]
pub(crate) struct NoiseScale {
    pub u: Vec<f64>,
    pub sigma_u: f64,
    pub beta: f64,
    pub z_cap: f64,
}

/// A finite data set of N examples and its loss.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub d: usize,
    pub n: usize,
    /// θ_ref: θ* for one-minimum models, θ_c (between the wells) for the double wells.
    pub center: DVector<f64>,
    /// Per-example noise vectors ξ_i (N × d, row-major, centred so Σ ξ_i = 0); empty for least
    /// squares.
    pub xi: Vec<f64>,
    pub kind: Kind,
}

impl Model {
    /// Whether every number of the data set is finite (extreme α-stable draws can overflow).
    pub(crate) fn is_finite(&self) -> bool {
        let data_ok = match &self.kind {
            Kind::LeastSquares { x, y, .. } => x.iter().chain(y).all(|v| v.is_finite()),
            _ => true,
        };
        data_ok
            && self.xi.iter().all(|v| v.is_finite())
            && self.center.iter().all(|v| v.is_finite())
    }

    /// The factor s(θ) multiplying ξ_i (1 except in the state-dependent scenario).
    pub(crate) fn noise_factor(&self, theta: &DVector<f64>) -> f64 {
        match &self.kind {
            Kind::StateDependent {
                u,
                sigma_u,
                beta,
                z_cap,
                ..
            } => {
                let z = u.dot(&(theta - &self.center)) / sigma_u;
                (beta * z_cap * (z / z_cap).tanh()).exp()
            }
            Kind::Rotated { mult: Some(m), .. } => {
                let z: f64 = (0..self.d)
                    .filter(|&j| m.u[j] != 0.0)
                    .map(|j| m.u[j] * (theta[j] - self.center[j]))
                    .sum::<f64>()
                    / m.sigma_u;
                (m.beta * m.z_cap * (z / m.z_cap).tanh()).exp()
            }
            _ => 1.0,
        }
    }

    /// ∇L(θ), the gradient of the mean loss (for least squares computed from the data).
    pub(crate) fn mean_gradient(&self, theta: &DVector<f64>) -> DVector<f64> {
        let delta = theta - &self.center;
        match &self.kind {
            Kind::Quadratic { h } | Kind::StateDependent { h, .. } => h * delta,
            Kind::Rotated { op, .. } => DVector::from_vec(op.apply(delta.as_slice())),
            Kind::Quartic { rot, a } => {
                let w = rot.transpose() * delta;
                let gw = DVector::from_fn(self.d, |j, _| a[j] * w[j] * w[j] * w[j]);
                rot * gw
            }
            Kind::DoubleWell {
                rot,
                lambdas,
                well,
                barrier,
            } => {
                let w = rot.transpose() * delta;
                let gw = DVector::from_fn(self.d, |k, _| {
                    if k == *well {
                        4.0 * barrier * w[k] * (w[k] * w[k] - 1.0)
                    } else {
                        lambdas[k] * w[k]
                    }
                });
                rot * gw
            }
            Kind::LeastSquares { .. } => {
                // The mean of the N per-example gradients (= H(θ − θ*) up to rounding).
                let mut g = DVector::zeros(self.d);
                let mut tmp = vec![0.0; self.d];
                let unused = DVector::zeros(0);
                for i in 0..self.n {
                    self.example_gradient(theta, i, &unused, 1.0, &mut tmp);
                    for (gj, tj) in g.iter_mut().zip(&tmp) {
                        *gj += tj;
                    }
                }
                g / self.n as f64
            }
        }
    }

    /// Per-example gradient ∇l_i(θ) into `out`, given `mean_grad` = ∇L(θ) and `s` = s(θ) (both
    /// ignored for least squares, whose gradients are computed from (x_i, y_i)).
    pub(crate) fn example_gradient(
        &self,
        theta: &DVector<f64>,
        i: usize,
        mean_grad: &DVector<f64>,
        s: f64,
        out: &mut [f64],
    ) {
        let d = self.d;
        match &self.kind {
            Kind::LeastSquares { x, y, .. } => {
                let xi = &x[i * d..(i + 1) * d];
                let resid: f64 =
                    xi.iter().zip(theta.iter()).map(|(a, b)| a * b).sum::<f64>() - y[i];
                for (o, xv) in out.iter_mut().zip(xi) {
                    *o = xv * resid;
                }
            }
            _ => {
                let xi = &self.xi[i * d..(i + 1) * d];
                for j in 0..d {
                    out[j] = mean_grad[j] + s * xi[j];
                }
            }
        }
    }

    /// Per-example loss l_i(θ), given `mean_loss` = the ξ-free part and `s` = s(θ).
    ///
    /// For the state-dependent scenario this is the documented stand-in ½δᵀHδ + s(θ) ξ_iᵀδ (the
    /// gradient field there is an oracle, not the gradient of any loss).
    pub(crate) fn example_loss(
        &self,
        theta: &DVector<f64>,
        i: usize,
        base_loss: f64,
        s: f64,
    ) -> f64 {
        let d = self.d;
        match &self.kind {
            Kind::LeastSquares { x, y, .. } => {
                let xi = &x[i * d..(i + 1) * d];
                let resid: f64 =
                    xi.iter().zip(theta.iter()).map(|(a, b)| a * b).sum::<f64>() - y[i];
                0.5 * resid * resid
            }
            _ => {
                let xi = &self.xi[i * d..(i + 1) * d];
                let lin: f64 = (0..d).map(|j| xi[j] * (theta[j] - self.center[j])).sum();
                base_loss + s * lin
            }
        }
    }

    /// The ξ-free part of the loss, which is also the exact mean loss L(θ) (because Σ ξ_i = 0); for
    /// least squares the mean of the per-example losses, computed directly.
    pub(crate) fn mean_loss(&self, theta: &DVector<f64>) -> f64 {
        let delta = theta - &self.center;
        match &self.kind {
            Kind::Quadratic { h } | Kind::StateDependent { h, .. } => {
                0.5 * delta.dot(&(h * &delta))
            }
            Kind::Rotated { op, .. } => op.half_quadratic_form(delta.as_slice()),
            Kind::Quartic { rot, a } => {
                let w = rot.transpose() * delta;
                (0..self.d).map(|j| 0.25 * a[j] * w[j].powi(4)).sum()
            }
            Kind::DoubleWell {
                rot,
                lambdas,
                well,
                barrier,
            } => {
                let w = rot.transpose() * delta;
                (0..self.d)
                    .map(|k| {
                        if k == *well {
                            let q = w[k] * w[k] - 1.0;
                            barrier * q * q
                        } else {
                            0.5 * lambdas[k] * w[k] * w[k]
                        }
                    })
                    .sum()
            }
            Kind::LeastSquares { .. } => {
                (0..self.n)
                    .map(|i| self.example_loss(theta, i, 0.0, 1.0))
                    .sum::<f64>()
                    / self.n as f64
            }
        }
    }

    /// The exact Hessian ∇²L(θ) of the mean loss.
    pub(crate) fn hessian(&self, theta: &DVector<f64>) -> DMatrix<f64> {
        let delta = theta - &self.center;
        match &self.kind {
            Kind::Quadratic { h }
            | Kind::StateDependent { h, .. }
            | Kind::LeastSquares { h, .. } => h.clone(),
            // Dense: callers ask for it only when d ≤ DENSE_TRUTH_MAX_DIM.
            Kind::Rotated { op, .. } => op.dense(),
            Kind::Quartic { rot, a } => {
                let w = rot.transpose() * delta;
                let diag = DVector::from_fn(self.d, |j, _| 3.0 * a[j] * w[j] * w[j]);
                symmetrize(&(rot * DMatrix::from_diagonal(&diag) * rot.transpose()))
            }
            Kind::DoubleWell {
                rot,
                lambdas,
                well,
                barrier,
            } => {
                let w = rot.transpose() * delta;
                let diag = DVector::from_fn(self.d, |k, _| {
                    if k == *well {
                        4.0 * barrier * (3.0 * w[k] * w[k] - 1.0)
                    } else {
                        lambdas[k]
                    }
                });
                symmetrize(&(rot * DMatrix::from_diagonal(&diag) * rot.transpose()))
            }
        }
    }

    /// The minibatch gradient ĝ = (1/S) Σ_{i∈B} ∇l_i(θ) (mean reduction), into `out`.
    pub(crate) fn batch_gradient(
        &self,
        theta: &DVector<f64>,
        batch: &[usize],
        out: &mut DVector<f64>,
    ) {
        let d = self.d;
        let sf = batch.len() as f64;
        match &self.kind {
            Kind::LeastSquares { .. } => {
                out.fill(0.0);
                let mut tmp = vec![0.0; d];
                let dummy = DVector::zeros(0);
                for &i in batch {
                    self.example_gradient(theta, i, &dummy, 1.0, &mut tmp);
                    for j in 0..d {
                        out[j] += tmp[j];
                    }
                }
                *out /= sf;
            }
            _ => {
                let mut noise = vec![0.0; d];
                for &i in batch {
                    let xi = &self.xi[i * d..(i + 1) * d];
                    for j in 0..d {
                        noise[j] += xi[j];
                    }
                }
                let s = self.noise_factor(theta);
                let g = self.mean_gradient(theta);
                for j in 0..d {
                    out[j] = g[j] + s * noise[j] / sf;
                }
            }
        }
    }

    /// All N per-example gradients at θ as an N × d row-major vector.
    pub(crate) fn all_gradients(&self, theta: &DVector<f64>) -> Vec<f64> {
        let g = match self.kind {
            // Least-squares gradients are computed from (x_i, y_i) alone.
            Kind::LeastSquares { .. } => DVector::zeros(0),
            _ => self.mean_gradient(theta),
        };
        let s = self.noise_factor(theta);
        let mut out = vec![0.0; self.n * self.d];
        for i in 0..self.n {
            self.example_gradient(theta, i, &g, s, &mut out[i * self.d..(i + 1) * self.d]);
        }
        out
    }
}

/// The model of a scenario, its start point θ₀ and its minimiser θ*.
pub(crate) struct Built {
    pub model: Model,
    pub theta0: DVector<f64>,
    pub theta_star: DVector<f64>,
    /// The Haar rotation whose columns are the eigenvectors of the quadratic part.
    pub rotation: DMatrix<f64>,
}

fn gaussian_vector(d: usize, rng: &mut ChaCha8Rng) -> DVector<f64> {
    DVector::from_fn(d, |_, _| rng.sample(StandardNormal))
}

/// ξ_i = scale · W diag(√c) z_i with z_i i.i.d. N(0, I) (or standard SαS(α) coordinates scaled by
/// 1/√2, which is N(0, I) at α = 2), then centred so that Σ ξ_i = 0. N × d row-major.
fn draw_noise(
    n: usize,
    d: usize,
    scale: f64,
    mix: &DMatrix<f64>,
    tail_index: Option<f64>,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut xi = vec![0.0; n * d];
    let mut z = DVector::<f64>::zeros(d);
    for i in 0..n {
        for j in 0..d {
            z[j] = match tail_index {
                None => rng.sample(StandardNormal),
                Some(alpha) => standard_sas(alpha, rng) / std::f64::consts::SQRT_2,
            };
        }
        let v = mix * &z * scale;
        xi[i * d..(i + 1) * d].copy_from_slice(v.as_slice());
    }
    centre_rows(&mut xi, n, d);
    xi
}

fn centre_rows(x: &mut [f64], n: usize, d: usize) {
    for j in 0..d {
        let m = (0..n).map(|i| x[i * d + j]).sum::<f64>() / n as f64;
        for i in 0..n {
            x[i * d + j] -= m;
        }
    }
}

/// The rotated quadratic H = U diag(λ) Uᵀ.
fn rotated(rot: &DMatrix<f64>, lambdas: &[f64]) -> DMatrix<f64> {
    let diag = DVector::from_column_slice(lambdas);
    symmetrize(&(rot * DMatrix::from_diagonal(&diag) * rot.transpose()))
}

/// What every scenario draws first, each from its own stream `simulate/<name>/<what>`.
struct Draws {
    rot: DMatrix<f64>,
    /// Anisotropic noise factor: same spectrum as H, independent eigenvectors (C and H do not
    /// commute).
    aniso: DMatrix<f64>,
    theta_ref: DVector<f64>,
    data_rng: ChaCha8Rng,
    lambdas: Vec<f64>,
}

/// Builds the data set of scenario `s` from the streams `simulate/<name>/{rotation,
/// noise_rotation, theta_star, dataset}`.
pub(crate) fn build(s: Scenario, cfg: &SimConfig, seed: u64) -> Built {
    if cfg.dim_rotated {
        return build_rotated(s, cfg, seed);
    }
    let (name, d) = (s.name(), cfg.d);
    let label = |what: &str| format!("simulate/{name}/{what}");
    let rot = haar_rotation(d, &mut rng::stream(seed, &label("rotation")));
    let noise_rot = haar_rotation(d, &mut rng::stream(seed, &label("noise_rotation")));
    let theta_ref = gaussian_vector(d, &mut rng::stream(seed, &label("theta_star")));
    let data_rng = rng::stream(seed, &label("dataset"));
    let lambdas = cfg.curvatures.clone();
    let aniso = &noise_rot
        * DMatrix::from_diagonal(&DVector::from_iterator(d, lambdas.iter().map(|l| l.sqrt())));
    let draws = Draws {
        rot,
        aniso,
        theta_ref,
        data_rng,
        lambdas,
    };
    match s {
        Scenario::QuadraticGaussian
        | Scenario::LargeStep
        | Scenario::HeavyTailedNoise
        | Scenario::DriftThenDiffusion
        | Scenario::StateDependentNoise => build_quadratic(s, cfg, draws),
        Scenario::QuarticBasin => build_quartic(cfg, draws),
        Scenario::DoubleWellDeep | Scenario::DoubleWellCrossing => build_double_well(cfg, draws),
        Scenario::LeastSquares => build_least_squares(cfg, draws),
    }
}

/// l_i(θ) = ½(θ−θ*)ᵀH(θ−θ*) + ξ_iᵀ(θ−θ*) with anisotropic (α-stable for heavy-tailed-noise) ξ_i.
fn build_quadratic(s: Scenario, cfg: &SimConfig, mut w: Draws) -> Built {
    let (d, n) = (cfg.d, cfg.dataset_size);
    let tail = (s == Scenario::HeavyTailedNoise).then_some(cfg.tail_index);
    let xi = draw_noise(
        n,
        d,
        cfg.effective_noise_scale(),
        &w.aniso,
        tail,
        &mut w.data_rng,
    );
    let h = rotated(&w.rot, &w.lambdas);
    // The state-dependent factor needs σ_u from the base model; it is set by the caller
    // (see `super::simulate`) once the base noise covariance is known.
    Built {
        model: Model {
            d,
            n,
            center: w.theta_ref.clone(),
            xi,
            kind: Kind::Quadratic { h },
        },
        theta0: w.theta_ref.clone(),
        theta_star: w.theta_ref,
        rotation: w.rot,
    }
}

/// l_i(θ) = ¼Σ_j a_j (u_jᵀ(θ−θ*))⁴ + ξ_iᵀ(θ−θ*), isotropic Gaussian ξ_i.
fn build_quartic(cfg: &SimConfig, mut w: Draws) -> Built {
    let (d, n) = (cfg.d, cfg.dataset_size);
    let iso = DMatrix::<f64>::identity(d, d);
    let xi = draw_noise(
        n,
        d,
        cfg.effective_noise_scale(),
        &iso,
        None,
        &mut w.data_rng,
    );
    let a = w.lambdas.iter().map(|l| cfg.quartic_scale * l).collect();
    Built {
        model: Model {
            d,
            n,
            center: w.theta_ref.clone(),
            xi,
            kind: Kind::Quartic {
                rot: w.rot.clone(),
                a,
            },
        },
        theta0: w.theta_ref.clone(),
        theta_star: w.theta_ref,
        rotation: w.rot,
    }
}

/// h(z²−1)² along the last direction plus a quadratic elsewhere; starts in the well at +u.
fn build_double_well(cfg: &SimConfig, mut w: Draws) -> Built {
    let (d, n) = (cfg.d, cfg.dataset_size);
    let iso = DMatrix::<f64>::identity(d, d);
    let xi = draw_noise(
        n,
        d,
        cfg.effective_noise_scale(),
        &iso,
        None,
        &mut w.data_rng,
    );
    let well = d - 1;
    let u = w.rot.column(well).into_owned();
    let theta_star = &w.theta_ref + &u;
    Built {
        model: Model {
            d,
            n,
            center: w.theta_ref,
            xi,
            kind: Kind::DoubleWell {
                rot: w.rot.clone(),
                lambdas: w.lambdas,
                well,
                barrier: cfg.barrier_height,
            },
        },
        theta0: theta_star.clone(),
        theta_star,
        rotation: w.rot,
    }
}

/// Linear regression: x_i = U diag(√λ) z_i, y_i = x_iᵀθ_true + σ e_i (e Gaussian or Student-t);
/// θ* = the exact least-squares solution, L* its mean loss.
fn build_least_squares(cfg: &SimConfig, mut w: Draws) -> Built {
    let (d, n) = (cfg.d, cfg.dataset_size);
    let theta_true = w.theta_ref;
    let (x, y) = draw_regression(cfg, &w.rot, &w.lambdas, &theta_true, &mut w.data_rng);
    let xm = DMatrix::from_row_slice(n, d, &x);
    let h = symmetrize(&(xm.transpose() * &xm / n as f64));
    let xty = xm.transpose() * DVector::from_column_slice(&y) / n as f64;
    // H is positive definite for N ≥ d with probability one; the caller checks N ≥ 2d.
    let theta_star = h
        .clone()
        .cholesky()
        .map(|c| c.solve(&xty))
        .unwrap_or_else(|| theta_true.clone());
    let l_star = (0..n)
        .map(|i| {
            let r: f64 = (0..d).map(|j| x[i * d + j] * theta_star[j]).sum::<f64>() - y[i];
            0.5 * r * r
        })
        .sum::<f64>()
        / n as f64;
    Built {
        model: Model {
            d,
            n,
            center: theta_star.clone(),
            xi: Vec::new(),
            kind: Kind::LeastSquares { h, x, y, l_star },
        },
        theta0: theta_star.clone(),
        theta_star,
        rotation: w.rot,
    }
}

/// The regression data (x row-major n×d, y), drawn row by row from the data stream.
fn draw_regression(
    cfg: &SimConfig,
    rot: &DMatrix<f64>,
    lambdas: &[f64],
    theta_true: &DVector<f64>,
    data_rng: &mut ChaCha8Rng,
) -> (Vec<f64>, Vec<f64>) {
    let (d, n) = (cfg.d, cfg.dataset_size);
    let mix =
        rot * DMatrix::from_diagonal(&DVector::from_iterator(d, lambdas.iter().map(|l| l.sqrt())));
    let mut x = vec![0.0; n * d];
    let mut y = vec![0.0; n];
    for i in 0..n {
        let z = gaussian_vector(d, data_rng);
        let xi = &mix * z;
        let e: f64 = match cfg.regression_noise_df {
            None => data_rng.sample(StandardNormal),
            // Student-t(ν) = Z / sqrt(χ²_ν/ν), with Z drawn first.
            Some(df) => {
                let z: f64 = data_rng.sample(StandardNormal);
                let chi2: f64 =
                    data_rng.sample(rand_distr::ChiSquared::new(df).unwrap_or_else(|_| {
                        rand_distr::ChiSquared::new(1.0).expect("ν = 1 is valid")
                    }));
                z / (chi2 / df).max(f64::MIN_POSITIVE).sqrt()
            }
        };
        y[i] = xi.dot(theta_true) + cfg.regression_noise * e;
        x[i * d..(i + 1) * d].copy_from_slice(xi.as_slice());
    }
    (x, y)
}

/// `--dim`: A = U diag(λ) Uᵀ with the O(d) rotation U of stream `rotation` and the spectrum
/// [`SimConfig::spectrum`]; ξ_i = σ U diag(√λ) z_i (so C = σ² A before centring), z_i i.i.d.
/// N(0, I) from the stream `dataset`, then centred. Cost O(N d); no d × d matrix.
fn build_rotated(s: Scenario, cfg: &SimConfig, seed: u64) -> Built {
    let (name, d, n) = (s.name(), cfg.d, cfg.dataset_size);
    let label = |what: &str| format!("simulate/{name}/{what}");
    let rotation = BlockRotation::draw(d, &mut rng::stream(seed, &label("rotation")));
    let op = RotatedOperator {
        rotation,
        eigenvalues: cfg.spectrum(),
    };
    let theta_ref = gaussian_vector(d, &mut rng::stream(seed, &label("theta_star")));
    let mut data_rng = rng::stream(seed, &label("dataset"));
    let scale = cfg.effective_noise_scale();
    let sq: Vec<f64> = op.eigenvalues.iter().map(|l| scale * l.sqrt()).collect();
    let mut xi = vec![0.0; n * d];
    for i in 0..n {
        let z: Vec<f64> = sq
            .iter()
            .map(|s| s * data_rng.sample::<f64, _>(StandardNormal))
            .collect();
        xi[i * d..(i + 1) * d].copy_from_slice(&op.rotation.apply(&z));
    }
    centre_rows(&mut xi, n, d);
    Built {
        model: Model {
            d,
            n,
            center: theta_ref.clone(),
            xi,
            kind: Kind::Rotated { op, mult: None },
        },
        theta0: theta_ref.clone(),
        theta_star: theta_ref,
        rotation: DMatrix::zeros(0, 0),
    }
}
