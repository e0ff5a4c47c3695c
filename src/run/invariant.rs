//! The Hessian eigenbasis: an A-invariant analysis subspace (issue 16, "Analysis bases").
//!
//! In a seeded random subspace P of a larger space the projected OU process is not OU: the
//! subspace Lyapunov prediction from P A Pᵀ and P Q Pᵀ is biased (with isotropic noise
//! P A⁻¹ Pᵀ ⪰ (P A Pᵀ)⁻¹, an under-prediction), and λ_max(P A Pᵀ) only bounds λ_max(A) from
//! below. In the span of eigenvectors V of the Hessian (V A = Λ V) both defects vanish: V A Vᵀ
//! = Λ is the whole drift of Vθ, Vθ is itself OU, and λ_1 is the full-space λ_max. Only
//! eigen-directions with λ > 0 are OU modes (a flat or negative direction has no stationary law).
//!
//! **Where V comes from** ([`choose`]), first that applies, only when d > k (with d ≤ k every
//! coordinate is analysed, which is already invariant):
//! 1. format v2 `basis/`: the rows with λ > 0 (a prefix, eigenvalues are sorted), the top
//!    min(m₊, k) of them;
//! 2. a full `hessian.npy` with d ≤ [`EIGENBASIS_FROM_HESSIAN_MAX_D`]: the symmetric
//!    eigendecomposition of the last checkpoint's symmetrised Hessian that has one, top min(m₊, k)
//!    positive eigenpairs, each eigenvector signed so that its largest-magnitude entry is
//!    positive (the basis/ convention). That file is read once more, before the pass
//!    (d² doubles, ≤ 32 MiB); cost O(d³) for the decomposition (≈ 8·10⁹ flops at d = 2,048).
//!
//! **One pass.** V is stacked under the random P into one (k + m) × d projector
//! ([`Subspace::stacked`]); the reader projects every file once onto both and [`split`]
//! separates the columns, so adding the eigenbasis adds O(n d m) flops and no I/O. Per checkpoint
//! the view's curvature is, first that applies: V H_t Vᵀ from `hessian_in_basis.npy`, V H Vᵀ
//! from `hessian.npy` (projected in the same pass), and — only when no checkpoint has either —
//! diag(λ) of basis/ at every checkpoint (the run-level Hessian stands for each checkpoint's).
//!
//! [`Run::invariant_view`] returns the run in that basis (k = m, kind `HessianEigenbasis`), for
//! the checks that decide in it (`checks::in_invariant_basis`). Memory: n·m doubles per
//! checkpoint and T·m for the trajectory, plus m·d for V (shared by the views).

use std::borrow::Cow;

use nalgebra::{DMatrix, DVector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::basis::Basis;
use super::{
    check_basis_size, collect, Checkpoint, OpenCheckpoint, Run, Subspace, SubspaceKind, Trajectory,
};
use crate::error::Result;

/// Largest d for which the eigenbasis is computed from a full `hessian.npy` (O(d³)
/// decomposition, d² doubles in memory: 32 MiB at 2,048).
pub const EIGENBASIS_FROM_HESSIAN_MAX_D: usize = 2048;

/// Where the eigenvectors came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EigenbasisSource {
    /// Format v2 `basis/hessian_eigvecs.npy`.
    BasisDir,
    /// The symmetric eigendecomposition of a checkpoint's full `hessian.npy`.
    HessianNpy,
}

/// The eigen-directions chosen before the pass (see [`choose`]).
pub(super) struct Eigen {
    source: EigenbasisSource,
    at_step: u64,
    subspace: Subspace,
    eigenvalues: Vec<f64>,
    positive: usize,
}

impl Eigen {
    /// The eigenbasis as a subspace (m rows).
    pub(super) fn subspace(&self) -> &Subspace {
        &self.subspace
    }
}

/// One checkpoint in the eigenbasis.
#[derive(Debug, Clone)]
pub struct InvariantCheckpoint {
    pub step: u64,
    /// V θ (length m).
    pub theta: DVector<f64>,
    /// V g_i for every row (n × m), in the units of `Checkpoint::grads`.
    pub grads: DMatrix<f64>,
    /// V H_t Vᵀ (m × m): see the module documentation for its source.
    pub hessian: Option<DMatrix<f64>>,
}

/// The run projected on the Hessian eigenbasis (`Run.invariant`).
#[derive(Debug, Clone)]
pub struct InvariantBasis {
    pub source: EigenbasisSource,
    /// Step of the Hessian the eigenvectors belong to (basis.at_step, or the checkpoint's step).
    pub at_step: u64,
    /// The m eigen-directions used (kind `HessianEigenbasis`).
    pub subspace: Subspace,
    /// Their eigenvalues λ_1 ≥ … ≥ λ_m > 0.
    pub eigenvalues: Vec<f64>,
    /// m₊, how many directions with λ > 0 were available (m = min(m₊, k)).
    pub positive: usize,
    /// True when no checkpoint has a Hessian in the basis and the view's curvature at every
    /// checkpoint is diag(λ) of `basis/` (one Hessian, at `at_step`): it gives A, but says
    /// nothing about how the Hessian changes between checkpoints.
    pub curvature_from_eigenvalues: bool,
    /// Every checkpoint of the run, in order.
    pub checkpoints: Vec<InvariantCheckpoint>,
    /// The trajectory rows projected on V (T × m).
    pub trajectory: Option<DMatrix<f64>>,
    /// Steps of those rows (the loaded trajectory's).
    pub trajectory_steps: Vec<i64>,
}

impl InvariantBasis {
    /// m, the number of directions.
    pub fn m(&self) -> usize {
        self.subspace.k()
    }
}

/// The eigenbasis for a run with `d` parameters analysed in `dims` dimensions, if the run
/// provides one (module documentation); `None` when d ≤ dims, without Hessian information, or
/// when no eigenvalue is positive. Errors: a Hessian file that cannot be read, or a stacked basis
/// above the memory limit.
pub(super) fn choose(
    basis: Option<&Basis>,
    opened: &[OpenCheckpoint],
    d: usize,
    dims: usize,
) -> Result<Option<Eigen>> {
    if d <= dims {
        return Ok(None);
    }
    let eigen = if let Some(b) = basis {
        let positive = b.eigvals.iter().take_while(|&&l| l > 0.0).count();
        let m = positive.min(dims);
        (m > 0).then(|| Eigen {
            source: EigenbasisSource::BasisDir,
            at_step: b.at_step,
            subspace: Subspace::from_rows(
                d,
                m,
                &b.eigvecs[..m * d],
                SubspaceKind::HessianEigenbasis,
            ),
            eigenvalues: b.eigvals[..m].to_vec(),
            positive,
        })
    } else if d <= EIGENBASIS_FROM_HESSIAN_MAX_D {
        match opened.iter().rev().find(|c| c.hessian.is_some()) {
            Some(c) => from_hessian(c, d, dims)?,
            None => None,
        }
    } else {
        None
    };
    if let Some(e) = &eigen {
        check_basis_size(d, dims + e.subspace.k())?;
    }
    Ok(eigen)
}

/// Top min(m₊, dims) positive eigenpairs of a checkpoint's symmetrised full Hessian; `None`
/// when the decomposition fails or no eigenvalue is positive. Cost O(d³).
fn from_hessian(c: &OpenCheckpoint, d: usize, dims: usize) -> Result<Option<Eigen>> {
    let Some(h) = c.hessian.as_ref() else {
        return Ok(None);
    };
    let full = DMatrix::from_row_slice(d, d, &collect(h.as_ref())?);
    let sym = (&full + full.transpose()) * 0.5;
    let Ok(eig) = crate::linalg::sym_eigen_full(&sym) else {
        return Ok(None);
    };
    let mut idx: Vec<usize> = (0..d).collect();
    idx.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let positive = idx
        .iter()
        .take_while(|&&i| eig.eigenvalues[i] > 0.0)
        .count();
    let m = positive.min(dims);
    if m == 0 {
        return Ok(None);
    }
    let mut rows = Vec::with_capacity(m * d);
    for &i in &idx[..m] {
        let col = eig.eigenvectors.column(i);
        let big = col
            .iter()
            .fold(0.0f64, |b, &x| if x.abs() > b.abs() { x } else { b });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        rows.extend(col.iter().map(|x| sign * x));
    }
    Ok(Some(Eigen {
        source: EigenbasisSource::HessianNpy,
        at_step: c.step,
        subspace: Subspace::from_rows(d, m, &rows, SubspaceKind::HessianEigenbasis),
        eigenvalues: idx[..m].iter().map(|&i| eig.eigenvalues[i]).collect(),
        positive,
    }))
}

/// Separates the stacked projections (first `k` columns: the random subspace; the next m: the
/// eigenbasis) of every checkpoint and of the trajectory. Cost O(Σ n (k + m) + T (k + m)).
pub(super) fn split(
    checkpoints: Vec<Checkpoint>,
    trajectory: Option<Trajectory>,
    eigen: Eigen,
    k: usize,
    basis: Option<&Basis>,
) -> (Vec<Checkpoint>, Option<Trajectory>, InvariantBasis) {
    let m = eigen.subspace.k();
    let mut inv = Vec::with_capacity(checkpoints.len());
    let mut main = Vec::with_capacity(checkpoints.len());
    for mut c in checkpoints {
        let (theta, grads) = (&c.theta, &c.grads);
        let in_basis = basis
            .and_then(|b| b.hessian_in_basis.get(&c.step))
            .map(|b| b.view((0, 0), (m, m)).into_owned());
        let projected = c
            .hessian
            .as_ref()
            .map(|h| h.view((k, k), (m, m)).into_owned());
        inv.push(InvariantCheckpoint {
            step: c.step,
            theta: theta.rows(k, m).into_owned(),
            grads: grads.columns(k, m).into_owned(),
            hessian: in_basis.or(projected),
        });
        c.theta = c.theta.rows(0, k).into_owned();
        c.grads = c.grads.columns(0, k).into_owned();
        c.hessian = c.hessian.map(|h| h.view((0, 0), (k, k)).into_owned());
        main.push(c);
    }
    let curvature_from_eigenvalues =
        eigen.source == EigenbasisSource::BasisDir && inv.iter().all(|c| c.hessian.is_none());
    if curvature_from_eigenvalues {
        let diag = DMatrix::from_diagonal(&DVector::from_column_slice(&eigen.eigenvalues));
        for c in &mut inv {
            c.hessian = Some(diag.clone());
        }
    }
    let (trajectory, inv_traj, trajectory_steps) = match trajectory {
        Some(mut t) => {
            let it = t.params.columns(k, m).into_owned();
            t.params = t.params.columns(0, k).into_owned();
            let steps = t.steps.clone();
            (Some(t), Some(it), steps)
        }
        None => (None, None, Vec::new()),
    };
    let out = InvariantBasis {
        source: eigen.source,
        at_step: eigen.at_step,
        subspace: eigen.subspace,
        eigenvalues: eigen.eigenvalues,
        positive: eigen.positive,
        curvature_from_eigenvalues,
        checkpoints: inv,
        trajectory: inv_traj,
        trajectory_steps,
    };
    (main, trajectory, out)
}

impl Run {
    /// The run in its Hessian eigenbasis when it has one (`Run.invariant`): the same run
    /// (checkpoints and trajectory rows as in `self`, which may be restricted to a window) with
    /// `subspace` the m eigen-directions (kind `HessianEigenbasis`, k = m), θ, the gradient rows,
    /// the Hessians (V H Vᵀ, see the module documentation) and the trajectory in that basis, no
    /// full-space Hessian extremes (λ_1 of the basis is the full-space λ_max) and no `basis`.
    /// Otherwise `self`, borrowed. Cost O(Σ n m + T m) for the copy.
    pub fn invariant_view(&self) -> Cow<'_, Run> {
        let Some(inv) = &self.invariant else {
            return Cow::Borrowed(self);
        };
        let checkpoints = self
            .checkpoints
            .iter()
            .filter_map(|c| {
                let ic = inv.checkpoints.iter().find(|x| x.step == c.step)?;
                Some(Checkpoint {
                    step: c.step,
                    dir: c.dir.clone(),
                    n: c.n,
                    theta: ic.theta.clone(),
                    grads: ic.grads.clone(),
                    mean_grad_norm2: c.mean_grad_norm2,
                    trace_cov: c.trace_cov,
                    losses: c.losses.clone(),
                    hessian: ic.hessian.clone(),
                    hessian_extremes_full: None,
                    probes: c.probes.clone(),
                    // Not carried into the view: the checks that use it do not read them.
                    screen: None,
                    noise_principal: None,
                })
            })
            .collect();
        Cow::Owned(Run {
            dir: self.dir.clone(),
            manifest: self.manifest.clone(),
            d: self.d,
            subspace: inv.subspace.clone(),
            checkpoints,
            trajectory: self
                .trajectory
                .as_ref()
                .and_then(|t| view_trajectory(t, inv)),
            basis: None,
            invariant: None,
            inputs: self.inputs.clone(),
        })
    }
}

/// The rows of the eigenbasis trajectory for the steps of `t` (the loaded trajectory or a
/// contiguous range of it, as `Run::restrict` makes). Cost O(T m).
fn view_trajectory(t: &Trajectory, inv: &InvariantBasis) -> Option<Trajectory> {
    let full = inv.trajectory.as_ref()?;
    let start = inv.trajectory_steps.binary_search(t.steps.first()?).ok()?;
    let rows = t.steps.len();
    (inv.trajectory_steps.get(start..start + rows)? == &t.steps[..]).then(|| Trajectory {
        steps: t.steps.clone(),
        params: full.rows(start, rows).into_owned(),
        losses: t.losses.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::npy::{write_f64, write_i64};
    use crate::run::LoadOptions;
    use rand_distr::{Distribution, StandardNormal};
    use std::path::Path;

    const D: usize = 40; // > ALL_COORDINATES_MAX_D, so the analysis subspace is random
    const N: usize = 20;
    const T: usize = 201;

    /// A run with d = 40, three checkpoints at steps 100, 200, 300, a symmetric Hessian with
    /// eigenvalues 3, 2.5, −1 and 0.5 elsewhere (rotated), and a trajectory at steps 100..=300.
    fn write_run(dir: &Path) -> DMatrix<f64> {
        let mut rng = crate::rng::stream(3, "test/invariant");
        let mut draw = |len: usize| -> Vec<f64> {
            (0..len).map(|_| StandardNormal.sample(&mut rng)).collect()
        };
        let q = DMatrix::from_vec(D, D, draw(D * D)).qr().q();
        let mut lam = vec![0.5; D];
        lam[0] = 3.0;
        lam[1] = -1.0;
        lam[2] = 2.5;
        let h = &q * DMatrix::from_diagonal(&DVector::from_vec(lam)) * q.transpose();
        let h = (&h + h.transpose()) * 0.5;
        std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
        std::fs::write(
            dir.join("run.json"),
            r#"{"format_version": 1, "learning_rate": 0.01, "batch_size": 4, "dataset_size": 20}"#,
        )
        .unwrap();
        let hrows: Vec<f64> = h.transpose().iter().copied().collect();
        for step in [100, 200, 300] {
            let c = dir.join(format!("checkpoints/step_{step}"));
            std::fs::create_dir_all(&c).unwrap();
            write_f64(&c.join("params.npy"), &[D], &draw(D)).unwrap();
            write_f64(&c.join("grads.npy"), &[N, D], &draw(N * D)).unwrap();
            write_f64(&c.join("hessian.npy"), &[D, D], &hrows).unwrap();
        }
        let t = dir.join("trajectory");
        std::fs::create_dir_all(&t).unwrap();
        write_i64(
            &t.join("steps.npy"),
            &(100..100 + T as i64).collect::<Vec<_>>(),
        )
        .unwrap();
        write_f64(&t.join("params.npy"), &[T, D], &draw(T * D)).unwrap();
        h
    }

    fn rows_of(path: &Path, rows: usize) -> Vec<Vec<f64>> {
        let (_, v) = crate::run::npy::read_f64(path).unwrap();
        v.chunks(v.len() / rows).map(|r| r.to_vec()).collect()
    }

    /// The stacked pass gives the random projections bit for bit, the eigenbasis projections
    /// equal V x bit for bit, only λ > 0 directions are kept, and a view of a restricted run
    /// keeps the restricted rows.
    #[test]
    fn eigenbasis_from_hessian_is_projected_in_the_same_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let h = write_run(tmp.path());
        let run = Run::load(tmp.path(), &LoadOptions { dims: 4, seed: 5 }).unwrap();
        let inv = run.invariant.as_ref().expect("eigenbasis");
        // Eigenvalues 3, 2.5, then 0.5 (−1 is not an OU mode): D − 1 positive, top 4 kept.
        assert_eq!(inv.positive, D - 1);
        assert_eq!(inv.m(), 4);
        assert!(
            (inv.eigenvalues[0] - 3.0).abs() < 1e-10 && (inv.eigenvalues[1] - 2.5).abs() < 1e-10
        );
        let random = Subspace::new(D, 4, 5);
        let c0 = &run.checkpoints[0];
        let g = rows_of(&c0.dir.join("grads.npy"), N);
        for (i, row) in g.iter().enumerate() {
            let want = random.project(row);
            let got: Vec<f64> = c0.grads.row(i).iter().copied().collect();
            assert_eq!(got, want, "random row {i}");
            let want = inv.subspace.project(row);
            let got: Vec<f64> = inv.checkpoints[0].grads.row(i).iter().copied().collect();
            assert_eq!(got, want, "eigenbasis row {i}");
        }
        // V H Vᵀ = diag(λ) to rounding.
        let vh = inv.checkpoints[2].hessian.as_ref().unwrap();
        for a in 0..4 {
            for b in 0..4 {
                let want = if a == b { inv.eigenvalues[a] } else { 0.0 };
                assert!((vh[(a, b)] - want).abs() < 1e-9 * h.norm(), "({a}, {b})");
            }
        }
        let view = run.invariant_view();
        assert_eq!(view.subspace.kind(), SubspaceKind::HessianEigenbasis);
        assert_eq!(view.k(), 4);
        assert!(view
            .checkpoints
            .iter()
            .all(|c| c.hessian_extremes_full.is_none()));
        let r = run.restrict(&[200, 300]);
        let rv = r.invariant_view();
        assert_eq!(rv.checkpoints.len(), 2);
        assert_eq!(rv.checkpoints[0].theta, inv.checkpoints[1].theta);
        let (rt, ft) = (
            rv.trajectory.as_ref().unwrap(),
            inv.trajectory.as_ref().unwrap(),
        );
        assert_eq!(rt.steps.len(), 101);
        assert_eq!(rt.params, ft.rows(100, 101).into_owned());
    }
}
