//! Continuous and discrete Lyapunov equations and the stationary covariance of the OU model of
//! SGD.
//!
//! All solvers cost O(k³) time and O(k²) memory for k × k inputs: one real Schur decomposition
//! (≈ 25 k³ flops) or, when A is exactly symmetric, one symmetric eigendecomposition (≈ 9 k³
//! flops), plus O(k³) back-substitution and back-transformation. Measured with `benches/ou.rs`
//! (release build, shared 2-core machine): ≈ 3 ms for a general A and ≈ 0.9 ms for a symmetric A
//! at k = 64; ≈ 0.55 ms / 0.16 ms at k = 32. Every solution is checked against
//! its own equation before it is returned (relative residual ≤ 1e-8, else
//! [`OuError::Numerical`]).

use nalgebra::{DMatrix, LU};

use super::OuError;
use crate::linalg::{
    check_dim, check_eigen_sums, check_lr, check_residual, check_square, is_exactly_symmetric,
    lyapunov_in_schur, real_schur, sym_eigen, symmetric_input, zero_below_blocks,
};

/// Solves the continuous Lyapunov equation **A X + X Aᵀ = Q** for general real A (non-symmetric,
/// not commuting with Q) and general Q.
///
/// *Method.* Bartels & Stewart (1972), "Solution of the matrix equation AX + XB = C", CACM
/// 15(9): with the real Schur form A = U T Uᵀ, solve T Y + Y Tᵀ = Uᵀ Q U by block
/// back-substitution over the 1×1 / 2×2 diagonal blocks of T and return X = U Y Uᵀ. When A is
/// exactly symmetric the eigendecomposition A = V Λ Vᵀ is used instead:
/// X = V [ (Vᵀ Q V)_ij / (λ_i + λ_j) ] Vᵀ. When Q is exactly symmetric the returned X is
/// symmetrised ((X + Xᵀ)/2; the exact solution is symmetric).
///
/// *Reference.* Same convention as `scipy.linalg.solve_continuous_lyapunov(a, q)` (which solves
/// AX + XAᴴ = Q); checked against scipy 1.17.1 on fixed non-symmetric, non-commuting matrices
/// (k = 2, 3, 5) to 1e-10 relative in `tests/reference/ou_lyapunov.rs`.
///
/// *Errors.* [`OuError::Singular`] when the operator is singular, i.e. min |λ_i + λ_j| ≤
/// 64·k·ε_mach·‖A‖_F over eigenvalue pairs of A (for example A singular, or A with eigenvalues
/// ±λ); shape and non-finite errors for bad input.
///
/// *Cost.* O(k³) time, O(k²) memory.
pub fn solve_continuous_lyapunov(
    a: &DMatrix<f64>,
    q: &DMatrix<f64>,
) -> Result<DMatrix<f64>, OuError> {
    let k = check_square("A", a)?;
    check_dim("Q", q, k)?;
    let scale = a.norm();
    let mut x = if is_exactly_symmetric(a) {
        let (lambda, v) = sym_eigen(a)?;
        let eig: Vec<_> = lambda
            .iter()
            .map(|&l| nalgebra::Complex::new(l, 0.0))
            .collect();
        check_eigen_sums(&eig, scale)?;
        let qt = v.transpose() * q * &v;
        let y = DMatrix::from_fn(k, k, |i, j| qt[(i, j)] / (lambda[i] + lambda[j]));
        &v * y * v.transpose()
    } else {
        let s = real_schur(a)?;
        let f = s.u.transpose() * q * &s.u;
        let y = lyapunov_in_schur(&s.t, &s.blocks, &f, scale)?;
        &s.u * y * s.u.transpose()
    };
    if is_exactly_symmetric(q) {
        x = (&x + x.transpose()) * 0.5;
    }
    let residual = (a * &x + &x * a.transpose() - q).norm();
    check_residual(
        "continuous Lyapunov solution",
        residual,
        2.0 * scale * x.norm() + q.norm(),
    )?;
    Ok(x)
}

/// Solves the discrete Lyapunov (Stein) equation **X = F X Fᵀ + Q** for general real F and Q.
///
/// *Method.* The stationary law of x_{t+1} = F x_t + w_t (Cov w = Q) exists iff the spectral
/// radius ρ(F) < 1; ρ is computed from the real Schur form F = U T Uᵀ. The Cayley (bilinear)
/// transform M = (I + F)⁻¹(I − F) maps the equation to the continuous one
/// M X + X Mᵀ = 2 (I + F)⁻¹ Q (I + F)⁻ᵀ, whose operator is non-singular exactly when ρ(F) < 1.
/// It is solved in the Schur basis of F (where (I + T)⁻¹(I − T) keeps T's block structure) by the
/// Bartels–Stewart back-substitution of [`solve_continuous_lyapunov`]; this is the "bilinear"
/// method of `scipy.linalg.solve_discrete_lyapunov` without a second Schur decomposition. When
/// F is exactly symmetric, F = V diag(f) Vᵀ gives X = V [ (Vᵀ Q V)_ij / (1 − f_i f_j) ] Vᵀ.
/// When Q is exactly symmetric the returned X is symmetrised.
///
/// *Reference.* Same convention as `scipy.linalg.solve_discrete_lyapunov(a, q)`
/// (A X Aᴴ − X + Q = 0); checked against scipy 1.17.1 on fixed non-symmetric matrices
/// (k = 2, 3, 5) to 1e-10 relative in `tests/reference/ou_lyapunov.rs`.
///
/// *Errors.* [`OuError::Unstable`] when ρ(F) ≥ 1 (no stationary law).
///
/// *Cost.* O(k³) time, O(k²) memory.
pub fn solve_discrete_lyapunov(
    f: &DMatrix<f64>,
    q: &DMatrix<f64>,
) -> Result<DMatrix<f64>, OuError> {
    let k = check_square("F", f)?;
    check_dim("Q", q, k)?;
    let mut x = if is_exactly_symmetric(f) {
        let (fv, v) = sym_eigen(f)?;
        let rho = fv.iter().fold(0.0f64, |m, &l| m.max(l.abs()));
        if rho.is_nan() || rho >= 1.0 {
            return Err(OuError::Unstable {
                spectral_radius: rho,
            });
        }
        let qt = v.transpose() * q * &v;
        let y = DMatrix::from_fn(k, k, |i, j| qt[(i, j)] / (1.0 - fv[i] * fv[j]));
        &v * y * v.transpose()
    } else {
        let s = real_schur(f)?;
        let rho = s.eigenvalues().iter().fold(0.0f64, |m, z| m.max(z.norm()));
        if rho.is_nan() || rho >= 1.0 {
            return Err(OuError::Unstable {
                spectral_radius: rho,
            });
        }
        let id = DMatrix::<f64>::identity(k, k);
        let lu = LU::new(&id + &s.t);
        let mut m = lu
            .solve(&(&id - &s.t))
            .ok_or_else(|| OuError::Numerical("I + F is singular".into()))?;
        zero_below_blocks(&mut m, &s.blocks);
        // C = 2 (I + T)⁻¹ Uᵀ Q U (I + T)⁻ᵀ
        let qt = s.u.transpose() * q * &s.u;
        let left = lu
            .solve(&qt)
            .ok_or_else(|| OuError::Numerical("I + F is singular".into()))?;
        let c = lu
            .solve(&left.transpose())
            .ok_or_else(|| OuError::Numerical("I + F is singular".into()))?
            .transpose()
            * 2.0;
        let scale = m.norm();
        let y = lyapunov_in_schur(&m, &s.blocks, &c, scale)?;
        &s.u * y * s.u.transpose()
    };
    if is_exactly_symmetric(q) {
        x = (&x + x.transpose()) * 0.5;
    }
    let residual = (f * &x * f.transpose() - &x + q).norm();
    check_residual(
        "discrete Lyapunov solution",
        residual,
        (1.0 + f.norm_squared()) * x.norm() + q.norm(),
    )?;
    Ok(x)
}

/// Stationary covariance of the **continuous** OU model of SGD (Mandt, Hoffman & Blei 2017,
/// JMLR 18(134), eq. for the OU stationary law with time counted in iterations): Σ solving
///
/// **A Σ + Σ Aᵀ = ε Q**,
///
/// with A the drift matrix (Hessian), Q = Cov(ĝ) the minibatch-noise covariance and ε = `lr`.
/// For general (non-symmetric) A; Q must be symmetric (relative asymmetry ≤ 1e-8, then it is
/// symmetrised). In the eigenbasis of a symmetric A commuting with Q: Σ_k = ε q_k / (2 λ_k).
///
/// *Reference.* `scipy.linalg.solve_continuous_lyapunov(a, lr * q)` (scipy 1.17.1), 1e-10
/// relative on fixed matrices; method as [`solve_continuous_lyapunov`].
///
/// *Errors.* [`OuError::NotStable`] unless every eigenvalue of A has real part > 0 (otherwise
/// the OU process has no stationary law); [`OuError::NotSymmetric`] for an asymmetric Q;
/// [`OuError::InvalidArgument`] for lr ≤ 0.
///
/// *Cost.* O(k³).
pub fn stationary_cov_continuous(
    a: &DMatrix<f64>,
    q: &DMatrix<f64>,
    lr: f64,
) -> Result<DMatrix<f64>, OuError> {
    let k = check_square("A", a)?;
    check_dim("Q", q, k)?;
    check_lr(lr)?;
    let q = symmetric_input("Q", q)?;
    let min_re = if is_exactly_symmetric(a) {
        sym_eigen(a)?.0.into_iter().fold(f64::INFINITY, f64::min)
    } else {
        real_schur(a)?
            .eigenvalues()
            .iter()
            .fold(f64::INFINITY, |m, z| m.min(z.re))
    };
    if min_re.is_nan() || min_re <= 0.0 {
        return Err(OuError::NotStable {
            min_real_part: min_re,
        });
    }
    let x = solve_continuous_lyapunov(a, &(q * lr))?;
    Ok((&x + x.transpose()) * 0.5)
}

/// Exact stationary covariance of the **discrete** linear SGD chain
/// θ_{t+1} = (I − εA)θ_t − εξ_t, Cov ξ = Q: Σ solving
///
/// **Σ = (I − εA) Σ (I − εA)ᵀ + ε² Q**, equivalently A Σ + Σ Aᵀ − ε A Σ Aᵀ = ε Q.
///
/// In the eigenbasis of a symmetric A commuting with Q: Σ_k = ε q_k / (λ_k (2 − ε λ_k)), i.e.
/// the continuous value ε q_k/(2λ_k) times 1/(1 − ελ_k/2) (Liu, Ziyin & Ueda, ICML 2021, "Noise
/// and fluctuation of finite learning rate SGD").
///
/// *Method.* Forming F = I − εA and calling [`solve_discrete_lyapunov`] loses accuracy for small
/// ε (the eigenvalues of F crowd at 1). Instead, with N = I − (ε/2)A, the equation is rewritten
/// exactly as the continuous Lyapunov equation
/// G Σ + Σ Gᵀ = ε N⁻¹ Q N⁻ᵀ, with G = N⁻¹A (N and A commute),
/// solved in the real Schur basis of A (where N⁻¹ and G keep the block structure) by
/// Bartels–Stewart. For exactly symmetric A = V Λ Vᵀ it is
/// Σ = V [ ε (Vᵀ Q V)_ij / (λ_i + λ_j − ε λ_i λ_j) ] Vᵀ. Q must be symmetric (relative asymmetry
/// ≤ 1e-8, then symmetrised); the result is symmetric.
///
/// *Reference.* `scipy.linalg.solve_discrete_lyapunov(np.eye(k) - lr * a, lr**2 * q)` (scipy
/// 1.17.1), 1e-10 relative on fixed non-symmetric matrices where that call is well conditioned.
///
/// *Errors.* [`OuError::Unstable`] when ρ(I − εA) = max_k |1 − ελ_k| ≥ 1 (no stationary law;
/// for symmetric A this is ελ_max ≥ 2 or λ_min ≤ 0); [`OuError::NotSymmetric`] for an
/// asymmetric Q; [`OuError::InvalidArgument`] for lr ≤ 0.
///
/// *Cost.* O(k³).
pub fn stationary_cov_discrete(
    a: &DMatrix<f64>,
    q: &DMatrix<f64>,
    lr: f64,
) -> Result<DMatrix<f64>, OuError> {
    let k = check_square("A", a)?;
    check_dim("Q", q, k)?;
    check_lr(lr)?;
    let q = symmetric_input("Q", q)?;
    let sigma = if is_exactly_symmetric(a) {
        let (lambda, v) = sym_eigen(a)?;
        let rho = lambda
            .iter()
            .fold(0.0f64, |m, &l| m.max((1.0 - lr * l).abs()));
        if rho.is_nan() || rho >= 1.0 {
            return Err(OuError::Unstable {
                spectral_radius: rho,
            });
        }
        let qt = v.transpose() * &q * &v;
        let y = DMatrix::from_fn(k, k, |i, j| {
            lr * qt[(i, j)] / (lambda[i] + lambda[j] - lr * lambda[i] * lambda[j])
        });
        &v * y * v.transpose()
    } else {
        let s = real_schur(a)?;
        let rho = s.eigenvalues().iter().fold(0.0f64, |m, z| {
            m.max((nalgebra::Complex::new(1.0, 0.0) - z * lr).norm())
        });
        if rho.is_nan() || rho >= 1.0 {
            return Err(OuError::Unstable {
                spectral_radius: rho,
            });
        }
        let id = DMatrix::<f64>::identity(k, k);
        let lu = LU::new(&id - &s.t * (0.5 * lr));
        let singular = || OuError::Numerical("I − (ε/2)A is singular".into());
        let mut g = lu.solve(&s.t).ok_or_else(singular)?;
        zero_below_blocks(&mut g, &s.blocks);
        let qt = s.u.transpose() * &q * &s.u;
        let left = lu.solve(&qt).ok_or_else(singular)?;
        let c = lu
            .solve(&left.transpose())
            .ok_or_else(singular)?
            .transpose()
            * lr;
        let scale = g.norm();
        let y = lyapunov_in_schur(&g, &s.blocks, &c, scale)?;
        &s.u * y * s.u.transpose()
    };
    let sigma = (&sigma + sigma.transpose()) * 0.5;
    // Residual of the form that does not cancel for small ε: AΣ + ΣAᵀ − εAΣAᵀ − εQ.
    let a_sigma = a * &sigma;
    let residual =
        (&a_sigma + a_sigma.transpose() - &a_sigma * a.transpose() * lr - &q * lr).norm();
    let scale = (2.0 + lr * a.norm()) * a.norm() * sigma.norm() + lr * q.norm();
    check_residual("discrete stationary covariance", residual, scale)?;
    Ok(sigma)
}
