//! The analysis subspace. Real runs have millions of parameters; every check works in one
//! k-dimensional subspace, the same for every checkpoint and the trajectory, chosen from the seed
//! alone (never from the data it will test) and recorded in the report.
//!
//! When d ≤ max(k, [`ALL_COORDINATES_MAX_D`]) the subspace is the whole space with the identity
//! basis (coordinates as given, k = d): a small model is analysed in every coordinate and its
//! verdicts do not rest on a random draw (issue 16). Otherwise the basis is k orthonormal rows of a k × d matrix P: i.i.d. N(0, 1) entries drawn
//! from the `"run/subspace"` ChaCha8 stream, orthonormalised by modified Gram–Schmidt applied
//! twice (Giraud et al. 2005: "twice is enough"). A vector v is represented by P v.
//!
//! Cost: O(k² d) time and k·d doubles of memory (one copy) to build; O(k) per projected entry.

use std::sync::Arc;

use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

/// Largest d analysed in all coordinates whatever the requested k: up to 32 directions the
/// multivariate tests are still well estimated from a few hundred gradients per checkpoint, and
/// a random subspace there would make the verdicts depend on the seed (docs/methods.md, "Seed
/// stability").
pub const ALL_COORDINATES_MAX_D: usize = 32;

/// How the basis was chosen.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SubspaceKind {
    /// Every coordinate (d ≤ max(k, 32), `ALL_COORDINATES_MAX_D`).
    Identity,
    /// k seeded random orthonormal directions (never chosen from the data).
    RandomOrthonormal,
    /// Eigenvectors of the Hessian (format v2 `basis/`, or computed from a full hessian.npy):
    /// an A-invariant subspace, in which the projected OU process is itself OU.
    HessianEigenbasis,
}

impl SubspaceKind {
    /// True when the subspace is invariant under A (all coordinates, or a Hessian eigenbasis):
    /// there P A Pᵀ is the whole drift of the projected process, the subspace Lyapunov
    /// prediction is exact and gradient linearity has no omitted term (docs/methods.md).
    pub fn is_invariant(self) -> bool {
        matches!(
            self,
            SubspaceKind::Identity | SubspaceKind::HessianEigenbasis
        )
    }
}

/// A k-dimensional analysis subspace of R^d.
#[derive(Debug, Clone)]
pub struct Subspace {
    d: usize,
    k: usize,
    kind: SubspaceKind,
    /// Column-major Pᵀ: `basis[j * k + a] = P[a, j]`, so that the k coefficients of coordinate j
    /// are contiguous. Empty for the identity. Shared, so that a view of a run in another
    /// basis or a restriction to a window does not copy the k·d doubles.
    basis: Arc<Vec<f64>>,
}

impl Subspace {
    /// The subspace used for a run with `d` parameters when the user asks for `k` dimensions:
    /// every coordinate when d ≤ max(k, [`ALL_COORDINATES_MAX_D`]), else k seeded random
    /// directions.
    pub fn new(d: usize, k: usize, seed: u64) -> Self {
        if d <= k.max(ALL_COORDINATES_MAX_D) {
            return Subspace {
                d,
                k: d,
                kind: SubspaceKind::Identity,
                basis: Arc::new(Vec::new()),
            };
        }
        let mut rng = crate::rng::stream(seed, "run/subspace");
        // One copy only (k·d doubles): Pᵀ column-major, filled row of P by row of P so the
        // stream order is fixed, and orthonormalised in place. The sums run over j in the same
        // order as on row-major rows, so the basis does not depend on the layout.
        let mut basis = vec![0.0; d * k];
        for a in 0..k {
            for j in 0..d {
                basis[j * k + a] = StandardNormal.sample(&mut rng);
            }
        }
        let dot = |basis: &[f64], a: usize, b: usize| -> f64 {
            basis.chunks_exact(k).map(|c| c[a] * c[b]).sum::<f64>()
        };
        for _pass in 0..2 {
            for a in 0..k {
                for b in 0..a {
                    let dp = dot(&basis, a, b);
                    for c in basis.chunks_exact_mut(k) {
                        c[a] -= dp * c[b];
                    }
                }
                let norm = dot(&basis, a, a).sqrt();
                for c in basis.chunks_exact_mut(k) {
                    c[a] /= norm;
                }
            }
        }
        Subspace {
            d,
            k,
            kind: SubspaceKind::RandomOrthonormal,
            basis: Arc::new(basis),
        }
    }

    /// A subspace spanned by `m` given orthonormal rows (row-major m × d), e.g. Hessian
    /// eigenvectors (`kind` [`SubspaceKind::HessianEigenbasis`]). The caller guarantees
    /// orthonormality (basis/ is validated to 1e-6, an eigendecomposition gives it to rounding).
    /// Cost O(m d) time and m·d doubles.
    pub fn from_rows(d: usize, m: usize, rows: &[f64], kind: SubspaceKind) -> Self {
        assert_eq!(rows.len(), m * d, "from_rows: m × d entries expected");
        let mut basis = vec![0.0; d * m];
        for a in 0..m {
            for j in 0..d {
                basis[j * m + a] = rows[a * d + j];
            }
        }
        Subspace {
            d,
            k: m,
            kind,
            basis: Arc::new(basis),
        }
    }

    /// The rows of `self` followed by the rows of `other` (same d), as one (k + m) × d projector,
    /// so that one pass over a file projects onto both (`run::invariant` splits the output). The
    /// stacked projector projects each row bit-identically to the two separate ones (every output
    /// entry is a sum over the coordinates in increasing order). Kind of `self` unless `self` is
    /// the identity (never stacked: d ≤ k is already invariant). Cost O((k + m) d).
    pub fn stacked(&self, other: &Subspace) -> Self {
        assert_eq!(self.d, other.d, "stacked: same d expected");
        assert!(self.kind != SubspaceKind::Identity && other.kind != SubspaceKind::Identity);
        let (k, m) = (self.k, other.k);
        let mut basis = Vec::with_capacity(self.d * (k + m));
        for j in 0..self.d {
            basis.extend_from_slice(&self.basis[j * k..(j + 1) * k]);
            basis.extend_from_slice(&other.basis[j * m..(j + 1) * m]);
        }
        Subspace {
            d: self.d,
            k: k + m,
            kind: self.kind,
            basis: Arc::new(basis),
        }
    }

    pub fn d(&self) -> usize {
        self.d
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn kind(&self) -> SubspaceKind {
        self.kind
    }

    /// Rows j0..j1 of Pᵀ (the k coefficients of each coordinate, contiguous), for the blocked
    /// projection. Only for a random basis.
    pub fn panel(&self, cols: std::ops::Range<usize>) -> &[f64] {
        &self.basis[cols.start * self.k..cols.end * self.k]
    }

    /// Bytes held by the basis (k·d doubles, none for the identity).
    pub fn basis_bytes(&self) -> usize {
        self.basis.len() * 8
    }

    /// Adds v · P[:, j] to `out` (length k): the contribution of coordinate j with value v.
    #[inline]
    pub fn accumulate(&self, j: usize, v: f64, out: &mut [f64]) {
        match self.kind {
            SubspaceKind::Identity => out[j] += v,
            SubspaceKind::RandomOrthonormal | SubspaceKind::HessianEigenbasis => {
                let col = &self.basis[j * self.k..(j + 1) * self.k];
                for (o, p) in out.iter_mut().zip(col) {
                    *o += v * p;
                }
            }
        }
    }

    /// P v for a full-space vector v (length d).
    pub fn project(&self, v: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.k];
        for (j, &x) in v.iter().enumerate() {
            self.accumulate(j, x, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_basis_is_orthonormal_and_seeded() {
        let s = Subspace::new(50, 6, 7);
        const { assert!(50 > ALL_COORDINATES_MAX_D) };
        assert_eq!(s.kind(), SubspaceKind::RandomOrthonormal);
        // Gram matrix P Pᵀ = I.
        for a in 0..6 {
            for b in 0..6 {
                let dot: f64 = (0..50)
                    .map(|j| s.basis[j * 6 + a] * s.basis[j * 6 + b])
                    .sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "({a},{b}) = {dot}");
            }
        }
        let t = Subspace::new(50, 6, 7);
        assert_eq!(s.basis, t.basis);
        assert_ne!(s.basis, Subspace::new(50, 6, 8).basis);
    }

    #[test]
    fn identity_when_small() {
        let s = Subspace::new(3, 8, 1);
        assert_eq!(s.k(), 3);
        assert_eq!(s.project(&[1.0, 2.0, 3.0]), vec![1.0, 2.0, 3.0]);
        // Up to 32 coordinates: all of them, whatever k.
        let s = Subspace::new(ALL_COORDINATES_MAX_D, 8, 1);
        assert_eq!((s.kind(), s.k()), (SubspaceKind::Identity, 32));
        let s = Subspace::new(ALL_COORDINATES_MAX_D + 1, 8, 1);
        assert_eq!((s.kind(), s.k()), (SubspaceKind::RandomOrthonormal, 8));
        let s = Subspace::new(40, 40, 1);
        assert_eq!(s.kind(), SubspaceKind::Identity);
    }
}
