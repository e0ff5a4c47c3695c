//! Closed-form truth for the simulated runs, and the random building blocks the scenarios share.
//!
//! Everything here is a function of numbers only (no files). The Lyapunov solutions are checked
//! against `scipy.linalg.solve_discrete_lyapunov` / `solve_continuous_lyapunov` and a numpy
//! Kronecker solve, the α-stable sampler against `scipy.stats.levy_stable.cdf`, all on the fixed
//! inputs of `tests/reference/simulate/make_reference.py`.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::{Rng, RngExt};
use rand_distr::{Exp1, StandardNormal};

/// Finite-population factor of the minibatch mean: drawing S of N examples without replacement,
/// Cov(ĝ_S) = f · C with f = (N − S) / (S (N − 1)), where C = (1/N) Σ (g_i − ḡ)(g_i − ḡ)ᵀ is the
/// population covariance of the per-example gradients (Cochran 1977, *Sampling Techniques*,
/// Thm 2.2). With replacement the factor would be 1/S. Cost O(1).
pub(crate) fn without_replacement_factor(n: usize, s: usize) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    (n - s) as f64 / (s as f64 * (n - 1) as f64)
}

/// Symmetric part (A + Aᵀ)/2, to remove rounding asymmetry. Cost O(d²).
pub(crate) use crate::linalg::symmetric_part as symmetrize;

/// Stationary covariance of the linear recursion δ_{t+1} = (I − εH) δ_t − ε η_t with
/// Cov η_t = Q (independent over t) and H symmetric: the solution of the *discrete* Lyapunov
/// equation Σ = F Σ Fᵀ + ε² Q, F = I − εH, equivalently HΣ + ΣH − εHΣH = εQ.
///
/// Closed form in the eigenbasis H = V diag(λ) Vᵀ: with Q̃ = VᵀQV,
/// Σ̃_kl = ε Q̃_kl / (λ_k + λ_l − ε λ_k λ_l), Σ = V Σ̃ Vᵀ (the denominator is
/// (1 − φ_k φ_l)/ε with φ = 1 − ελ, written without cancellation). Q need not commute with H.
/// When it does, mode k has ε q_k / (λ_k (2 − ελ_k)) (Liu, Ziyin & Ueda 2021).
///
/// Returns `None` unless every |1 − ελ_k| < 1 (otherwise no stationary law exists).
/// Checked against `scipy.linalg.solve_discrete_lyapunov(F, ε²Q)`. Cost O(d³).
pub(crate) fn discrete_lyapunov(
    h: &DMatrix<f64>,
    q: &DMatrix<f64>,
    eps: f64,
) -> Option<DMatrix<f64>> {
    lyapunov_in_eigenbasis(h, q, |lk, ll| {
        let denom = lk + ll - eps * lk * ll;
        let (phik, phil) = (1.0 - eps * lk, 1.0 - eps * ll);
        if phik.abs() < 1.0 && phil.abs() < 1.0 && denom > 0.0 {
            Some(eps / denom)
        } else {
            None
        }
    })
}

/// Stationary covariance of the continuous OU model dδ = −εHδ dt + ε Q^{1/2} dW (time in
/// iterations; Mandt, Hoffman & Blei 2017, eq. for AΣ + ΣA = (ε/S)BBᵀ with Q = BBᵀ/S):
/// the solution of HΣ + ΣH = εQ, i.e. Σ̃_kl = ε Q̃_kl / (λ_k + λ_l) in the eigenbasis of H.
///
/// Returns `None` unless H is positive definite. Checked against
/// `scipy.linalg.solve_continuous_lyapunov(H, εQ)`. Cost O(d³).
pub(crate) fn continuous_lyapunov(
    h: &DMatrix<f64>,
    q: &DMatrix<f64>,
    eps: f64,
) -> Option<DMatrix<f64>> {
    lyapunov_in_eigenbasis(h, q, |lk, ll| {
        if lk > 0.0 && ll > 0.0 {
            Some(eps / (lk + ll))
        } else {
            None
        }
    })
}

fn lyapunov_in_eigenbasis(
    h: &DMatrix<f64>,
    q: &DMatrix<f64>,
    weight: impl Fn(f64, f64) -> Option<f64>,
) -> Option<DMatrix<f64>> {
    let eig = SymmetricEigen::new(symmetrize(h));
    let v = &eig.eigenvectors;
    let lam = &eig.eigenvalues;
    let mut qt = v.transpose() * q * v;
    let d = h.nrows();
    for k in 0..d {
        for l in 0..d {
            qt[(k, l)] *= weight(lam[k], lam[l])?;
        }
    }
    Some(symmetrize(&(v * qt * v.transpose())))
}

/// Exact stationary covariance of SGD on least squares, l_i(θ) = ½(x_iᵀθ − y_i)², with minibatches
/// of S distinct examples out of N (mean reduction).
///
/// With δ = θ − θ*, residuals r_i = y_i − x_iᵀθ* (so Σ x_i r_i = 0), A_i = x_i x_iᵀ and
/// H = (1/N) Σ A_i, one step is δ' = (I − εH_B)δ + ε m_B with H_B, m_B the batch means of A_i and
/// x_i r_i. Because δ is independent of the fresh batch and has stationary mean 0, the second moment
/// satisfies exactly
///
///   Σ = FΣF + ε² f [ C* + M(Σ) ],  F = I − εH,  f = (N − S)/(S(N − 1)),
///   C* = (1/N) Σ r_i² x_i x_iᵀ,     M(Σ) = (1/N) Σ_i x_i (x_iᵀ Σ x_i) x_iᵀ − HΣH.
///
/// The multiplicative term M is what makes the noise state-dependent. Solved by the fixed point
/// Σ_{m+1} = L(ε² f [C* + M(Σ_m)]) with L the eigenbasis solution of [`discrete_lyapunov`] (with the
/// ε² absorbed), which contracts fast because ε² f M is small; stops when the relative change is
/// below 1e-15 (at most 10 000 iterations), `None` if it does not converge (mean-square unstable).
///
/// `x` is N × d row-major, `r` has N entries. Checked against a numpy Kronecker solve of the same
/// linear system. Cost O(N d² + d³) per iteration.
pub(crate) fn least_squares_stationary(
    x: &[f64],
    r: &[f64],
    d: usize,
    eps: f64,
    batch: usize,
) -> Option<DMatrix<f64>> {
    let n = r.len();
    if n == 0 || x.len() != n * d {
        return None;
    }
    let nf = n as f64;
    let f = without_replacement_factor(n, batch);
    let mut h = DMatrix::<f64>::zeros(d, d);
    let mut cstar = DMatrix::<f64>::zeros(d, d);
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        for a in 0..d {
            for b in 0..d {
                h[(a, b)] += xi[a] * xi[b];
                cstar[(a, b)] += r[i] * r[i] * xi[a] * xi[b];
            }
        }
    }
    h /= nf;
    cstar /= nf;
    // Σ = FΣF + ε² f (...)  ⇔  Σ = L_ε(ε f (...)) with L_ε solving Σ = FΣF + ε² Q̃ for Q̃ = f(...).
    let mut sigma = discrete_lyapunov(&h, &(&cstar * f), eps)?;
    for _ in 0..10_000 {
        let mut m = DMatrix::<f64>::zeros(d, d);
        for i in 0..n {
            let xi = &x[i * d..(i + 1) * d];
            let mut quad = 0.0;
            for a in 0..d {
                for b in 0..d {
                    quad += xi[a] * sigma[(a, b)] * xi[b];
                }
            }
            for a in 0..d {
                for b in 0..d {
                    m[(a, b)] += quad * xi[a] * xi[b];
                }
            }
        }
        m /= nf;
        m -= &h * &sigma * &h;
        let next = discrete_lyapunov(&h, &((&cstar + &m) * f), eps)?;
        let change = (&next - &sigma).norm();
        let scale = next.norm();
        sigma = next;
        if !scale.is_finite() {
            return None;
        }
        if change <= 1e-15 * scale {
            return Some(sigma);
        }
    }
    None
}

/// A Haar-distributed random orthogonal d × d matrix: QR of a matrix of i.i.d. N(0, 1) entries,
/// with the column signs fixed so that diag(R) > 0 (Mezzadri 2007, *Notices AMS* 54:592).
/// Cost O(d³).
pub(crate) fn haar_rotation<R: Rng + ?Sized>(d: usize, rng: &mut R) -> DMatrix<f64> {
    let mut g = DMatrix::<f64>::zeros(d, d);
    for i in 0..d {
        for j in 0..d {
            g[(i, j)] = rng.sample(StandardNormal);
        }
    }
    let qr = g.qr();
    let mut q = qr.q();
    let r = qr.r();
    for j in 0..d {
        if r[(j, j)] < 0.0 {
            for i in 0..d {
                q[(i, j)] = -q[(i, j)];
            }
        }
    }
    q
}

/// One draw of the standard symmetric α-stable law S(α, β = 0, scale 1, location 0), with
/// characteristic function exp(−|t|^α), by the Chambers–Mallows–Stuck formula (Chambers, Mallows &
/// Stuck 1976, *JASA* 71:340; Weron 1996, eq. 3 with β = 0):
///
///   X = sin(αV) / cos(V)^{1/α} · ( cos((1 − α)V) / W )^{(1 − α)/α},
///
/// V ~ Uniform(−π/2, π/2), W ~ Exp(1). At α = 2 this is N(0, 2); at α = 1 it is Cauchy (tan V).
/// `alpha` must lie in (0, 2]. Checked against `scipy.stats.levy_stable.cdf(x, α, 0)`. Cost O(1).
pub(crate) fn standard_sas<R: Rng + ?Sized>(alpha: f64, rng: &mut R) -> f64 {
    let half_pi = std::f64::consts::FRAC_PI_2;
    // Open interval (0, 1): the endpoints would put V on ±π/2 where cos V = 0.
    let u = loop {
        let u: f64 = rng.random();
        if u > 0.0 {
            break u;
        }
    };
    let v = std::f64::consts::PI * (u - 0.5);
    if v.abs() >= half_pi {
        return 0.0;
    }
    let w: f64 = rng.sample(Exp1);
    let a = (alpha * v).sin() / v.cos().powf(1.0 / alpha);
    let b = (((1.0 - alpha) * v).cos() / w).powf((1.0 - alpha) / alpha);
    a * b
}

/// Draws S distinct indices out of 0..N uniformly (all ordered S-tuples of distinct indices equally
/// likely), independently at each call, by a partial Fisher–Yates shuffle of a persistent
/// permutation (Knuth, TAOCP vol. 2, Algorithm P). Cost O(S) per draw, O(N) memory.
pub(crate) struct BatchSampler {
    perm: Vec<usize>,
    batch: usize,
}

impl BatchSampler {
    pub(crate) fn new(n: usize, batch: usize) -> Self {
        BatchSampler {
            perm: (0..n).collect(),
            batch: batch.min(n),
        }
    }

    /// The next minibatch (valid until the following call).
    pub(crate) fn next<R: Rng + ?Sized>(&mut self, rng: &mut R) -> &[usize] {
        let n = self.perm.len() as u64;
        for j in 0..self.batch {
            // u64 ranges keep the draw identical on 32- and 64-bit targets.
            let k = rng.random_range(j as u64..n) as usize;
            self.perm.swap(j, k);
        }
        &self.perm[..self.batch]
    }
}

/// Epoch-wise random reshuffling with `drop_last`: at the start of every epoch the N indices
/// are permuted uniformly (Fisher–Yates, Knuth TAOCP vol. 2, Algorithm P) and the epoch's
/// m = ⌊N/S⌋ steps take the consecutive slices [jS, (j + 1)S) of that permutation; the last
/// N mod S examples of the permutation are dropped. The first call starts an epoch.
/// Cost O(N) per epoch, O(1) per step, O(N) memory.
pub(crate) struct ReshuffleSampler {
    perm: Vec<usize>,
    batch: usize,
    next_slice: usize,
}

impl ReshuffleSampler {
    pub(crate) fn new(n: usize, batch: usize) -> Self {
        let batch = batch.clamp(1, n.max(1));
        ReshuffleSampler {
            perm: (0..n).collect(),
            batch,
            next_slice: n / batch,
        }
    }

    /// Steps per epoch m = ⌊N/S⌋.
    pub(crate) fn steps_per_epoch(&self) -> usize {
        self.perm.len() / self.batch
    }

    /// The next minibatch (valid until the following call); reshuffles at each epoch start.
    pub(crate) fn next<R: Rng + ?Sized>(&mut self, rng: &mut R) -> &[usize] {
        if self.next_slice >= self.steps_per_epoch() {
            let n = self.perm.len() as u64;
            for j in 0..self.perm.len().saturating_sub(1) {
                let k = rng.random_range(j as u64..n) as usize;
                self.perm.swap(j, k);
            }
            self.next_slice = 0;
        }
        let a = self.next_slice * self.batch;
        self.next_slice += 1;
        &self.perm[a..a + self.batch]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;
    use serde_json::Value;

    const REFERENCE: &str = include_str!("../../tests/reference/simulate/reference.json");

    fn matrix(v: &Value) -> DMatrix<f64> {
        let rows: Vec<Vec<f64>> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect();
        let (nr, nc) = (rows.len(), rows[0].len());
        DMatrix::from_fn(nr, nc, |i, j| rows[i][j])
    }

    fn rel_err(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
        (a - b).norm() / b.norm()
    }

    // Tolerance: both sides are direct O(d³) solves of well-conditioned 4×4 systems, so they agree
    // to a few hundred ulps; 1e-12 relative (Frobenius) leaves ample room.
    #[test]
    fn lyapunov_against_scipy() {
        let r: Value = serde_json::from_str(REFERENCE).unwrap();
        let case = &r["lyapunov"];
        let h = matrix(&case["H"]);
        let q = matrix(&case["Q"]);
        let eps = case["eps"].as_f64().unwrap();
        let disc = discrete_lyapunov(&h, &q, eps).unwrap();
        let cont = continuous_lyapunov(&h, &q, eps).unwrap();
        assert!(rel_err(&disc, &matrix(&case["discrete"])) < 1e-12);
        assert!(rel_err(&cont, &matrix(&case["continuous"])) < 1e-12);
        // Large step: still inside the stability region, far from the continuous limit.
        let big = &r["lyapunov_large_step"];
        let disc = discrete_lyapunov(&h, &q, big["eps"].as_f64().unwrap()).unwrap();
        assert!(rel_err(&disc, &matrix(&big["discrete"])) < 1e-12);
        // Beyond the stability limit ε λ_max ≥ 2 there is no stationary law.
        let lmax = SymmetricEigen::new(h.clone()).eigenvalues.max();
        assert!(discrete_lyapunov(&h, &q, 2.0 / lmax * 1.0001).is_none());
    }

    #[test]
    fn least_squares_stationary_against_numpy_kronecker() {
        let r: Value = serde_json::from_str(REFERENCE).unwrap();
        let case = &r["least_squares_stationary"];
        let x = matrix(&case["X"]);
        let (n, d) = (x.nrows(), x.ncols());
        let xs: Vec<f64> = (0..n)
            .flat_map(|i| (0..d).map(move |j| (i, j)))
            .map(|(i, j)| x[(i, j)])
            .collect();
        let res: Vec<f64> = case["r"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let eps = case["eps"].as_f64().unwrap();
        let s = case["S"].as_u64().unwrap() as usize;
        let sigma = least_squares_stationary(&xs, &res, d, eps, s).unwrap();
        // Fixed point stopped at 1e-15 relative change; the Kronecker solve is direct: 1e-10.
        assert!(rel_err(&sigma, &matrix(&case["sigma"])) < 1e-10);
    }

    // DKW inequality: P(sup_x |F_n(x) − F(x)| > t) ≤ 2 exp(−2 n t²). With n = 100 000 and
    // t = 0.006 the bound is 2 e^{−7.2} ≈ 1.5e-3, so a correct sampler fails this with probability
    // below 0.2 % (and the draw is seeded, so the outcome is fixed).
    #[test]
    fn stable_sampler_matches_scipy_levy_stable_cdf() {
        let r: Value = serde_json::from_str(REFERENCE).unwrap();
        for case in r["levy_stable_cdf"].as_array().unwrap() {
            let alpha = case["alpha"].as_f64().unwrap();
            let xs: Vec<f64> = case["x"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let cdf: Vec<f64> = case["cdf"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let n = 100_000;
            let mut g = rng::stream(7, &format!("test/sas/{alpha}"));
            let mut draws: Vec<f64> = (0..n).map(|_| standard_sas(alpha, &mut g)).collect();
            draws.sort_by(|a, b| a.partial_cmp(b).unwrap());
            for (x, f) in xs.iter().zip(&cdf) {
                let below = draws.partition_point(|v| v <= x) as f64 / n as f64;
                assert!(
                    (below - f).abs() < 0.006,
                    "alpha {alpha}: F_n({x}) = {below}, scipy {f}"
                );
            }
        }
    }

    #[test]
    fn haar_rotation_is_orthogonal() {
        let mut g = rng::stream(3, "test/haar");
        for d in 1..6 {
            let u = haar_rotation(d, &mut g);
            let e = (u.transpose() * &u - DMatrix::<f64>::identity(d, d)).norm();
            assert!(e < 1e-13, "d = {d}: ‖UᵀU − I‖ = {e}");
        }
    }

    // Each index is included in a batch with probability S/N. Over T = 20 000 draws of S = 8 out of
    // N = 32, each inclusion count is Binomial(T, 1/4): mean 5000, sd √(T·¼·¾) ≈ 61.2. A 5-sd band
    // (±306) fails for a correct sampler with probability < 32 · 5.7e-7 ≈ 2e-5 (union bound).
    #[test]
    fn batch_sampler_draws_distinct_uniform_indices() {
        let (n, s, t) = (32usize, 8usize, 20_000usize);
        let mut sampler = BatchSampler::new(n, s);
        let mut g = rng::stream(11, "test/batch_sampler");
        let mut counts = vec![0usize; n];
        let mut pair_same = 0usize;
        for _ in 0..t {
            let b = sampler.next(&mut g);
            let mut seen = vec![false; n];
            for &i in b {
                assert!(i < n && !seen[i], "indices must be distinct and in range");
                seen[i] = true;
                counts[i] += 1;
            }
            if seen[0] && seen[1] {
                pair_same += 1;
            }
        }
        let p = s as f64 / n as f64;
        let sd = (t as f64 * p * (1.0 - p)).sqrt();
        for &c in &counts {
            assert!((c as f64 - t as f64 * p).abs() < 5.0 * sd, "count {c}");
        }
        // Joint inclusion of a fixed pair: S(S−1)/(N(N−1)) = 56/992 ≈ 0.0565 without replacement
        // (independent draws would give p² = 0.0625). Binomial sd ≈ √(T·0.0565·0.9435) ≈ 32.7,
        // so the two hypotheses are 3.9·10²/32.7 ≈ 12 sd apart; accept within 5 sd.
        let q = (s * (s - 1)) as f64 / (n * (n - 1)) as f64;
        let sdq = (t as f64 * q * (1.0 - q)).sqrt();
        assert!((pair_same as f64 - t as f64 * q).abs() < 5.0 * sdq);
    }

    // Every epoch of N = 20, S = 6 (m = 3, drop_last) visits 18 distinct indices in 3 batches of
    // 6; over 3000 epochs each index is dropped with probability 2/20 (Binomial sd ≈ 16.4;
    // a 5-sd band fails for a correct sampler with probability < 20 · 5.7e-7).
    #[test]
    fn reshuffle_sampler_visits_each_index_once_per_epoch() {
        let (n, s, epochs) = (20usize, 6usize, 3000usize);
        let mut sampler = ReshuffleSampler::new(n, s);
        assert_eq!(sampler.steps_per_epoch(), 3);
        let mut g = rng::stream(5, "test/reshuffle_sampler");
        let mut dropped = vec![0usize; n];
        for _ in 0..epochs {
            let mut seen = vec![false; n];
            for _ in 0..3 {
                for &i in sampler.next(&mut g) {
                    assert!(!seen[i], "index {i} twice in one epoch");
                    seen[i] = true;
                }
            }
            for (i, v) in seen.iter().enumerate() {
                dropped[i] += usize::from(!v);
            }
        }
        let p = 2.0 / n as f64;
        let sd = (epochs as f64 * p * (1.0 - p)).sqrt();
        for &c in &dropped {
            assert!(
                (c as f64 - epochs as f64 * p).abs() < 5.0 * sd,
                "dropped {c}"
            );
        }
    }

    #[test]
    fn finite_population_factor() {
        assert_eq!(without_replacement_factor(10, 10), 0.0);
        assert!((without_replacement_factor(1024, 32) - 992.0 / (32.0 * 1023.0)).abs() < 1e-18);
        assert_eq!(without_replacement_factor(100, 1), 1.0);
    }
}
