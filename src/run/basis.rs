//! The run-level Hessian basis of format v2 (`basis/`) and the per-checkpoint curvature in it
//! (`checkpoints/step_<N>/hessian_in_basis.npy`).
//!
//! `basis/hessian_eigvecs.npy` (m, d) holds the top-m eigenvectors v_1..v_m of the Hessian at
//! `basis.at_step` as orthonormal rows sorted by decreasing eigenvalue, each with its
//! largest-magnitude entry positive; `hessian_eigvals.npy` (m,) the eigenvalues λ_i (non-
//! increasing) and `hessian_residuals.npy` (m,) the Lanczos residual norms ‖H v_i − λ_i v_i‖ ≥ 0.
//! A checkpoint's optional `hessian_in_basis.npy` (m, m) is V H_t Vᵀ from m Hessian-vector
//! products at that checkpoint (symmetric).
//!
//! Tolerances (docs/run-dir-format.md): orthonormality max_ij |(V Vᵀ − I)_ij| ≤ 1e-6 when the
//! file is float64 and ≤ 1e-3 when it is float32; symmetry of V H_t Vᵀ,
//! max |B − Bᵀ| ≤ tol · max |B| with the same tol by dtype. Cost: O(m² d) time for the Gram
//! matrix, O(m d) memory for V (held in memory; read once).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::run::manifest::Manifest;
use crate::run::npy::read_f64;

/// Orthonormality / symmetry tolerance for arrays stored as float64.
pub const TOL_F64: f64 = 1e-6;
/// Orthonormality / symmetry tolerance for arrays stored as float32.
pub const TOL_F32: f64 = 1e-3;

/// A validated basis/ folder plus the checkpoints' `hessian_in_basis.npy`.
#[derive(Debug, Clone)]
pub struct Basis {
    /// `basis.at_step` of run.json.
    pub at_step: u64,
    /// Number of eigenvectors m.
    pub m: usize,
    /// Parameter dimension d.
    pub d: usize,
    /// The rows v_1..v_m, row-major m × d.
    pub eigvecs: Vec<f64>,
    /// λ_1 ≥ … ≥ λ_m.
    pub eigvals: Vec<f64>,
    /// ‖H v_i − λ_i v_i‖.
    pub residuals: Vec<f64>,
    /// V H_t Vᵀ (m × m, symmetrised) at the checkpoints that provide it, by step.
    pub hessian_in_basis: BTreeMap<u64, DMatrix<f64>>,
    files: Vec<PathBuf>,
}

impl Basis {
    /// Reads and validates basis/ of a v2 run directory `dir` with parameter dimension `d` and
    /// checkpoint folders `checkpoints` (step, folder). `None` for a v1 run or a v2 run without
    /// basis/. Errors name the file and the fix.
    pub fn load(
        dir: &Path,
        manifest: &Manifest,
        d: usize,
        checkpoints: &[(u64, PathBuf)],
    ) -> Result<Option<Basis>> {
        if manifest.format_version < 2 {
            return Ok(None);
        }
        let bdir = dir.join("basis");
        let in_basis: Vec<(u64, PathBuf)> = checkpoints
            .iter()
            .map(|(s, c)| (*s, c.join("hessian_in_basis.npy")))
            .filter(|(_, p)| p.exists())
            .collect();
        let info = match (manifest.basis, bdir.is_dir()) {
            (None, false) => {
                if let Some((_, p)) = in_basis.first() {
                    return Err(Error::input(
                        p,
                        "is V H Vᵀ in the run's Hessian basis, but the run has no basis/ folder; \
                         write basis/ (with basis.at_step in run.json) or remove the file",
                    ));
                }
                return Ok(None);
            }
            (None, true) => {
                return Err(Error::input(
                    dir.join("run.json"),
                    "has no `basis` field but the run has a basis/ folder; add \
                     \"basis\": {\"at_step\": N} with the step where the eigenvectors were \
                     computed",
                ))
            }
            (Some(_), false) => return Err(Error::input(
                &bdir,
                "is missing but run.json has a `basis` field; write basis/hessian_eigvecs.npy, \
                     hessian_eigvals.npy and hessian_residuals.npy or remove `basis`",
            )),
            (Some(info), true) => info,
        };
        let mut basis = read_basis_dir(&bdir, d)?;
        basis.at_step = info.at_step;
        for (step, path) in in_basis {
            let b = read_in_basis(&path, basis.m)?;
            basis.files.push(path);
            basis.hessian_in_basis.insert(step, b);
        }
        Ok(Some(basis))
    }

    /// The files read, for the report's provenance block.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Row i of V (eigenvector v_{i+1}).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.eigvecs[i * self.d..(i + 1) * self.d]
    }

    /// V x, the coordinates of a d-vector in the basis. Cost O(m d).
    pub fn project(&self, x: &[f64]) -> Vec<f64> {
        (0..self.m)
            .map(|i| self.row(i).iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    }
}

/// Reads and validates the three files of basis/ (at_step left 0 for the caller).
fn read_basis_dir(bdir: &Path, d: usize) -> Result<Basis> {
    let vpath = bdir.join("hessian_eigvecs.npy");
    let lpath = bdir.join("hessian_eigvals.npy");
    let rpath = bdir.join("hessian_residuals.npy");
    for p in [&vpath, &lpath, &rpath] {
        if !p.exists() {
            return Err(Error::input(
                p,
                "is missing; basis/ needs hessian_eigvecs.npy (m, d), hessian_eigvals.npy (m,) \
                 and hessian_residuals.npy (m,)",
            ));
        }
    }
    let (vshape, eigvecs) = read_f64(&vpath)?;
    if vshape.len() != 2 || vshape[1] != d || vshape[0] == 0 || vshape[0] > d {
        return Err(Error::input(
            &vpath,
            format!(
                "has shape {vshape:?} but the format expects (m, d) = (m, {d}) with 1 ≤ m ≤ {d}: \
                 one eigenvector of length d per row"
            ),
        ));
    }
    let m = vshape[0];
    let eigvals = read_vector(&lpath, m)?;
    let residuals = read_vector(&rpath, m)?;
    if let Some(i) = (1..m).find(|&i| eigvals[i] > eigvals[i - 1]) {
        return Err(Error::input(
            &lpath,
            format!(
                "is not sorted by decreasing eigenvalue: entry {i} ({}) > entry {} ({}); sort \
                 the eigenpairs (eigenvalues and eigenvector rows together) from largest to \
                 smallest",
                eigvals[i],
                i - 1,
                eigvals[i - 1]
            ),
        ));
    }
    if let Some(i) = residuals.iter().position(|r| *r < 0.0) {
        return Err(Error::input(
            &rpath,
            format!(
                "entry {i} is {} but a residual norm ‖Hv − λv‖ is ≥ 0; write the norms",
                residuals[i]
            ),
        ));
    }
    let tol = tolerance(&vpath)?;
    check_signs(&vpath, &eigvecs, m, d)?;
    check_orthonormal(&vpath, &eigvecs, m, d, tol)?;
    Ok(Basis {
        at_step: 0,
        m,
        d,
        eigvecs,
        eigvals,
        residuals,
        hessian_in_basis: BTreeMap::new(),
        files: vec![vpath, lpath, rpath],
    })
}

fn read_vector(path: &Path, m: usize) -> Result<Vec<f64>> {
    let (shape, v) = read_f64(path)?;
    if shape != [m] {
        return Err(Error::input(
            path,
            format!(
                "has shape {shape:?} but the format expects (m,) = ({m},), one value per row of \
                 hessian_eigvecs.npy"
            ),
        ));
    }
    Ok(v)
}

/// Sign convention: in every row the largest-magnitude entry (the first one on ties) is > 0.
fn check_signs(path: &Path, v: &[f64], m: usize, d: usize) -> Result<()> {
    for i in 0..m {
        let row = &v[i * d..(i + 1) * d];
        let (j, x) = row
            .iter()
            .enumerate()
            .fold((0, 0.0f64), |(bj, bx), (j, &x)| {
                if x.abs() > bx.abs() {
                    (j, x)
                } else {
                    (bj, bx)
                }
            });
        if x <= 0.0 {
            return Err(Error::input(
                path,
                format!(
                    "row {i} has its largest-magnitude entry (index {j}, {x}) ≤ 0; the format's \
                     sign convention makes it positive: multiply row {i} by −1 (after casting \
                     to the stored dtype)"
                ),
            ));
        }
    }
    Ok(())
}

/// max_ij |(V Vᵀ − I)_ij| ≤ tol, V row-major m × d. Cost O(m² d), parallel over rows.
fn check_orthonormal(path: &Path, v: &[f64], m: usize, d: usize, tol: f64) -> Result<()> {
    let worst = (0..m)
        .into_par_iter()
        .map(|i| {
            let ri = &v[i * d..(i + 1) * d];
            (i..m)
                .map(|j| {
                    let rj = &v[j * d..(j + 1) * d];
                    let g: f64 = ri.iter().zip(rj).map(|(a, b)| a * b).sum();
                    let dev = (g - if i == j { 1.0 } else { 0.0 }).abs();
                    (dev, i, j)
                })
                .fold((0.0, i, i), |a, b| if b.0 > a.0 { b } else { a })
        })
        .reduce(|| (0.0, 0, 0), |a, b| if b.0 > a.0 { b } else { a });
    // entries are finite (the reader checks), so the Gram deviations are too
    if worst.0 > tol {
        let (dev, i, j) = worst;
        return Err(Error::input(
            path,
            format!(
                "rows are not orthonormal: |(V Vᵀ − I)[{i}, {j}]| = {dev:.3e} exceeds {tol:e} \
                 (the tolerance for this dtype); orthonormalise the rows (e.g. numpy.linalg.qr \
                 of Vᵀ) or compute them with full reorthogonalisation"
            ),
        ));
    }
    Ok(())
}

/// V H_t Vᵀ of one checkpoint: (m, m), symmetric within the dtype's tolerance; symmetrised.
fn read_in_basis(path: &Path, m: usize) -> Result<DMatrix<f64>> {
    let (shape, data) = read_f64(path)?;
    if shape != [m, m] {
        return Err(Error::input(
            path,
            format!(
                "has shape {shape:?} but the format expects (m, m) = ({m}, {m}) with m the rows \
                 of basis/hessian_eigvecs.npy"
            ),
        ));
    }
    let b = DMatrix::from_row_slice(m, m, &data);
    let asym = (&b - b.transpose()).abs().max();
    let scale = b.abs().max();
    let tol = tolerance(path)?;
    if asym > tol * scale {
        return Err(Error::input(
            path,
            format!(
                "is not symmetric: max |B − Bᵀ| = {asym:.3e} > {tol:e} · max |B| = {:.3e}; \
                 V H Vᵀ is symmetric, symmetrise it ((B + Bᵀ)/2) or check the Hessian-vector \
                 products",
                tol * scale
            ),
        ));
    }
    Ok((&b + b.transpose()) * 0.5)
}

/// [`TOL_F64`] when the .npy file stores float64, [`TOL_F32`] otherwise (the header's descr).
fn tolerance(path: &Path) -> Result<f64> {
    let mut head = [0u8; 256];
    let mut f =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    let n = f
        .read(&mut head)
        .map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    let text = String::from_utf8_lossy(&head[..n]);
    Ok(if text.contains("f8'") {
        TOL_F64
    } else {
        TOL_F32
    })
}
