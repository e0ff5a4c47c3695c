//! The large-d quadratic of `--dim`: A = U diag(λ) Uᵀ with an orthogonal U whose products cost
//! O(d), so that runs with d in the thousands need no d × d matrix.
//!
//! U = P G₂ G₁: G₁ rotates the disjoint coordinate pairs (0, 1), (2, 3), …, G₂ the pairs
//! (1, 2), (3, 4), …, each by its own angle drawn uniformly on [0, 2π), and P is a uniformly drawn
//! permutation, (P w)[π(j)] = w[j]. Column k of U, u_k = U e_k, is the eigenvector of A with
//! eigenvalue λ_k; it has at most four non-zero entries, placed at random coordinates by P.
//! Cost: U v, Uᵀ v and A v are O(d); a column is O(d); the dense A (only for small d) O(d²).

use nalgebra::DMatrix;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The seeded orthogonal U = P G₂ G₁ (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRotation {
    d: usize,
    /// (cos, sin) of the rotation of pair (2i, 2i + 1).
    layer1: Vec<(f64, f64)>,
    /// (cos, sin) of the rotation of pair (2i + 1, 2i + 2).
    layer2: Vec<(f64, f64)>,
    /// π: entry j of G₂G₁v lands at coordinate π(j).
    perm: Vec<usize>,
}

fn angles(count: usize, rng: &mut ChaCha8Rng) -> Vec<(f64, f64)> {
    (0..count)
        .map(|_| {
            let a: f64 = rng.random::<f64>() * std::f64::consts::TAU;
            (a.cos(), a.sin())
        })
        .collect()
}

/// Applies the pair rotations starting at `first` (0 or 1); `transpose` rotates by −angle.
fn rotate_pairs(v: &mut [f64], first: usize, cs: &[(f64, f64)], transpose: bool) {
    for (i, &(c, s)) in cs.iter().enumerate() {
        let a = first + 2 * i;
        let (x, y) = (v[a], v[a + 1]);
        let s = if transpose { -s } else { s };
        v[a] = c * x - s * y;
        v[a + 1] = s * x + c * y;
    }
}

impl BlockRotation {
    /// Draws the d/2 + (d−1)/2 angles, then the permutation (Fisher–Yates), from `rng`. Cost O(d).
    pub fn draw(d: usize, rng: &mut ChaCha8Rng) -> Self {
        let layer1 = angles(d / 2, rng);
        let layer2 = angles(d.saturating_sub(1) / 2, rng);
        let mut perm: Vec<usize> = (0..d).collect();
        for i in (1..d).rev() {
            let j = rng.random_range(0..=i);
            perm.swap(i, j);
        }
        BlockRotation {
            d,
            layer1,
            layer2,
            perm,
        }
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// U v. Cost O(d).
    pub fn apply(&self, v: &[f64]) -> Vec<f64> {
        let mut w = v.to_vec();
        rotate_pairs(&mut w, 0, &self.layer1, false);
        rotate_pairs(&mut w, 1, &self.layer2, false);
        let mut out = vec![0.0; self.d];
        for (j, &p) in self.perm.iter().enumerate() {
            out[p] = w[j];
        }
        out
    }

    /// Uᵀ v. Cost O(d).
    pub fn apply_transpose(&self, v: &[f64]) -> Vec<f64> {
        let mut w: Vec<f64> = self.perm.iter().map(|&p| v[p]).collect();
        rotate_pairs(&mut w, 1, &self.layer2, true);
        rotate_pairs(&mut w, 0, &self.layer1, true);
        w
    }

    /// Column k of U (a unit vector). Cost O(d).
    pub fn column(&self, k: usize) -> Vec<f64> {
        let mut e = vec![0.0; self.d];
        e[k] = 1.0;
        self.apply(&e)
    }
}

/// A = U diag(λ) Uᵀ with the O(d) rotation [`BlockRotation`].
#[derive(Debug, Clone, PartialEq)]
pub struct RotatedOperator {
    /// U; column k is the eigenvector of λ_k.
    pub rotation: BlockRotation,
    /// λ_k, the eigenvalue of column k of U (not sorted in general).
    pub eigenvalues: Vec<f64>,
}

impl RotatedOperator {
    /// A v = U (λ ⊙ Uᵀv). Cost O(d).
    pub fn apply(&self, v: &[f64]) -> Vec<f64> {
        let mut w = self.rotation.apply_transpose(v);
        for (x, l) in w.iter_mut().zip(&self.eigenvalues) {
            *x *= l;
        }
        self.rotation.apply(&w)
    }

    /// ½ vᵀ A v = ½ Σ_k λ_k (u_kᵀ v)². Cost O(d).
    pub fn half_quadratic_form(&self, v: &[f64]) -> f64 {
        let w = self.rotation.apply_transpose(v);
        0.5 * w
            .iter()
            .zip(&self.eigenvalues)
            .map(|(x, l)| l * x * x)
            .sum::<f64>()
    }

    /// Column indices k sorted by decreasing λ_k (ties by index). Cost O(d log d).
    pub fn order_decreasing(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.eigenvalues.len()).collect();
        idx.sort_by(|&a, &b| {
            self.eigenvalues[b]
                .total_cmp(&self.eigenvalues[a])
                .then(a.cmp(&b))
        });
        idx
    }

    /// The dense d × d matrix A (symmetrised). Cost O(d²) memory and time; only for small d.
    pub fn dense(&self) -> DMatrix<f64> {
        let d = self.eigenvalues.len();
        let mut a = DMatrix::<f64>::zeros(d, d);
        for j in 0..d {
            let mut e = vec![0.0; d];
            e[j] = 1.0;
            let col = self.apply(&e);
            for i in 0..d {
                a[(i, j)] = col[i];
            }
        }
        super::truth::symmetrize(&a)
    }
}

/// The default `--dim` spectrum: d values evenly spaced in log between 3 and 0.3, decreasing
/// (λ_k = 3·10^(−k/(d−1)); λ = 3 when d = 1), so that ε·λ_max equals the d = 4 default's.
/// Cost O(d).
pub fn log_uniform_spectrum(d: usize) -> Vec<f64> {
    if d == 1 {
        return vec![3.0];
    }
    (0..d)
        .map(|k| 3.0 * 10f64.powf(-(k as f64) / (d - 1) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_rotation_is_orthogonal_and_matches_its_transpose() {
        for d in [1usize, 2, 3, 7, 10] {
            let mut g = crate::rng::stream(3, "t");
            let u = BlockRotation::draw(d, &mut g);
            let cols: Vec<Vec<f64>> = (0..d).map(|k| u.column(k)).collect();
            for a in 0..d {
                for b in 0..d {
                    let dot: f64 = cols[a].iter().zip(&cols[b]).map(|(x, y)| x * y).sum();
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-12, "d={d} ({a},{b}) {dot}");
                }
            }
            let v: Vec<f64> = (0..d).map(|j| (j as f64 * 0.7).sin() + 0.1).collect();
            let back = u.apply_transpose(&u.apply(&v));
            for (x, y) in v.iter().zip(&back) {
                assert!((x - y).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn operator_eigenpairs_and_dense_agree() {
        let d = 9;
        let op = RotatedOperator {
            rotation: BlockRotation::draw(d, &mut crate::rng::stream(5, "t")),
            eigenvalues: log_uniform_spectrum(d),
        };
        for k in 0..d {
            let u = op.rotation.column(k);
            let au = op.apply(&u);
            for (x, y) in au.iter().zip(&u) {
                assert!((x - op.eigenvalues[k] * y).abs() < 1e-12);
            }
        }
        let a = op.dense();
        let v: Vec<f64> = (0..d).map(|j| j as f64 - 3.0).collect();
        let av = op.apply(&v);
        for i in 0..d {
            let s: f64 = (0..d).map(|j| a[(i, j)] * v[j]).sum();
            assert!((s - av[i]).abs() < 1e-12);
        }
        let q = op.half_quadratic_form(&v);
        let q2 = 0.5 * v.iter().zip(&av).map(|(x, y)| x * y).sum::<f64>();
        assert!((q - q2).abs() < 1e-10);
        assert_eq!(op.order_decreasing()[0], 0);
        assert!((log_uniform_spectrum(d)[d - 1] - 0.3).abs() < 1e-12);
    }
}
