//! Optional loss probes of format v1 (docs/run-dir-format.md, "Loss probes").
//!
//! A checkpoint folder may hold three files together:
//!
//! * `probe_directions.npy`, shape (m, d): m full-space directions v_j (any non-zero length);
//! * `probe_offsets.npy`, shape (p,): strictly increasing offsets t_1 < … < t_p;
//! * `probe_losses.npy`, shape (m, p): the mean loss L(θ + t_l·v_j) at this checkpoint's θ.
//!
//! The reader validates them with the other arrays (shape, dtype, finiteness, all three or none)
//! and reduces them to what the quadratic_loss check needs: the offsets, the losses, ‖v_j‖, the
//! coordinate v_jᵀθ at this checkpoint, and the *spread of the iterates along v_j*: the mean,
//! standard deviation, range and effective sample size of v_jᵀθ_i over all checkpoints and, when
//! `trajectory/` is present, over the trajectory. These are computed by [`locate`] in one extra
//! streaming pass over every checkpoint's params and the trajectory, after which the d-vectors
//! are dropped. Cost O((M + T)·d·R) time for R probe directions in total, O(R·d + T·R) memory
//! during the pass.

use std::path::{Path, PathBuf};

use nalgebra::DMatrix;

use super::npy::NpyArray;
use super::{expect_shape, Checkpoint, OpenCheckpoint, OpenTrajectory};
use crate::error::{Error, Result};

/// File names of the probe files inside a checkpoint folder.
pub const PROBE_FILES: [&str; 3] = [
    "probe_directions.npy",
    "probe_offsets.npy",
    "probe_losses.npy",
];

/// Summary of the coordinate v_jᵀθ over a set of iterates.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    /// Number of iterates.
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (divisor n − 1).
    pub sd: f64,
    pub min: f64,
    pub max: f64,
    /// Effective sample size for the variance: Geyer's ESS ([`crate::stats::ess::effective_sample_size`])
    /// of the squared deviations (u_t − ū)², capped at n; equal to n for checkpoints (taken as
    /// near-independent draws) and when the series is too short for the estimator.
    pub ess: f64,
}

impl Spread {
    fn of(x: &[f64], autocorrelated: bool) -> Spread {
        let n = x.len();
        let mean = x.iter().sum::<f64>() / n.max(1) as f64;
        let var = if n > 1 {
            x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let ess = if autocorrelated {
            let sq: Vec<f64> = x.iter().map(|v| (v - mean).powi(2)).collect();
            crate::stats::ess::effective_sample_size(&sq)
                .map(|e| e.ess.min(n as f64))
                .unwrap_or(n as f64)
        } else {
            n as f64
        };
        Spread {
            n,
            mean,
            sd: var.sqrt(),
            min: x.iter().cloned().fold(f64::INFINITY, f64::min),
            max: x.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            ess,
        }
    }
}

/// The probes of one checkpoint, reduced.
#[derive(Debug, Clone)]
pub struct Probes {
    /// t_1 < … < t_p.
    pub offsets: Vec<f64>,
    /// L(θ + t_l v_j), m × p.
    pub losses: DMatrix<f64>,
    /// ‖v_j‖ (full space), length m.
    pub direction_norms: Vec<f64>,
    /// v_jᵀθ at this checkpoint, length m.
    pub origin: Vec<f64>,
    /// Spread of v_jᵀθ_i over all checkpoints of the run, per direction.
    pub checkpoint_spread: Vec<Spread>,
    /// Spread of v_jᵀθ_t over the trajectory, per direction, when `trajectory/` is present.
    pub trajectory_spread: Option<Vec<Spread>>,
    /// The directions (m × d, row-major) until [`locate`] has used them; empty afterwards.
    directions: Vec<f64>,
}

impl Probes {
    /// Number of directions m.
    pub fn m(&self) -> usize {
        self.losses.nrows()
    }
}

/// The three validated, not yet read, probe files of a checkpoint.
pub(super) struct OpenProbes {
    directions: NpyArray,
    offsets: NpyArray,
    losses: NpyArray,
}

impl OpenProbes {
    /// Opens and validates the probe files in `dir` (d = length of params): `None` when none of
    /// them exists, an error naming the file and the fix when only some exist or a shape is
    /// wrong.
    pub(super) fn open(dir: &Path, d: usize) -> Result<Option<OpenProbes>> {
        let paths: Vec<PathBuf> = PROBE_FILES.iter().map(|f| dir.join(f)).collect();
        let present: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        if present.iter().all(|p| !p) {
            return Ok(None);
        }
        if let Some(i) = present.iter().position(|p| !p) {
            let have = paths.iter().zip(&present).find(|(_, p)| **p).unwrap().0;
            return Err(Error::input(
                &paths[i],
                format!(
                    "is missing but {} exists; the loss probes need all three of {}, \
                     probe_offsets.npy and probe_losses.npy (add the missing file or remove the \
                     others)",
                    have.display(),
                    PROBE_FILES[0]
                ),
            ));
        }
        let directions = NpyArray::open(&paths[0], false)?;
        let offsets = NpyArray::open(&paths[1], false)?;
        let losses = NpyArray::open(&paths[2], false)?;
        let ds = directions.shape();
        if ds.len() != 2 || ds[1] != d || ds[0] == 0 {
            return Err(Error::input(
                &paths[0],
                format!(
                    "has shape {ds:?} but params.npy has d = {d}; probe_directions.npy must be \
                     (m, {d}) with m ≥ 1, one full-space direction per row"
                ),
            ));
        }
        let m = ds[0];
        let os = offsets.shape();
        if os.len() != 1 || os[0] < 3 {
            return Err(Error::input(
                &paths[1],
                format!(
                    "has shape {os:?}; probe_offsets.npy must be (p,) with p ≥ 3 offsets (a \
                     quadratic has 3 coefficients)"
                ),
            ));
        }
        let p = os[0];
        expect_shape(
            &losses,
            &[m, p],
            "(m, p) with m = rows of probe_directions.npy and p = length of probe_offsets.npy",
        )?;
        Ok(Some(OpenProbes {
            directions,
            offsets,
            losses,
        }))
    }

    pub(super) fn files(&self) -> Vec<std::sync::Arc<super::gate::GatedFile>> {
        vec![
            std::sync::Arc::clone(self.directions.file()),
            std::sync::Arc::clone(self.offsets.file()),
            std::sync::Arc::clone(self.losses.file()),
        ]
    }

    /// Reads the probes of the checkpoint at `theta_full`. The spreads are filled by [`locate`].
    pub(super) fn read(&self, theta_full: &[f64]) -> Result<Probes> {
        let m = self.directions.shape()[0];
        let d = self.directions.shape()[1];
        let mut directions = vec![0.0; m * d];
        self.directions
            .for_each(|i, j, v| directions[i * d + j] = v)?;
        let offsets = self.offsets.to_vec_f64()?;
        if let Some(w) = offsets.windows(2).find(|w| w[1] <= w[0]) {
            return Err(Error::input(
                self.offsets.path(),
                format!(
                    "offsets must be strictly increasing, found {} followed by {}; sort them \
                     (and the columns of probe_losses.npy with them) and drop duplicates",
                    w[0], w[1]
                ),
            ));
        }
        let p = offsets.len();
        let mut losses = DMatrix::zeros(m, p);
        self.losses.for_each(|i, j, v| losses[(i, j)] = v)?;
        let mut direction_norms = Vec::with_capacity(m);
        let mut origin = Vec::with_capacity(m);
        for j in 0..m {
            let row = &directions[j * d..(j + 1) * d];
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm == 0.0 || !norm.is_finite() {
                return Err(Error::input(
                    self.directions.path(),
                    format!(
                        "row {j} has norm {norm}; every probe direction must be a non-zero \
                         finite vector"
                    ),
                ));
            }
            direction_norms.push(norm);
            origin.push(row.iter().zip(theta_full).map(|(a, b)| a * b).sum());
        }
        Ok(Probes {
            offsets,
            losses,
            direction_norms,
            origin,
            checkpoint_spread: Vec::new(),
            trajectory_spread: None,
            directions,
        })
    }
}

/// Fills the spreads of every checkpoint's probes: v_jᵀθ_i over all checkpoints (one more
/// streaming pass over each params file) and over the trajectory when present. Does nothing when
/// no checkpoint has probes. Cost O((M + T)·d·R) time, O(R·d + T·R) memory for R probe directions
/// in total.
pub(super) fn locate(
    checkpoints: &mut [Checkpoint],
    opened: &[OpenCheckpoint],
    trajectory: Option<&OpenTrajectory>,
) -> Result<()> {
    let owners: Vec<(usize, usize)> = checkpoints
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.probes.as_ref().map(|p| (i, p.m())))
        .collect();
    if owners.is_empty() {
        return Ok(());
    }
    let r_total: usize = owners.iter().map(|o| o.1).sum();
    let d = opened[0].d;
    let mut v = Vec::with_capacity(r_total * d);
    for &(i, _) in &owners {
        let p = checkpoints[i].probes.as_mut().expect("owner has probes");
        v.append(&mut p.directions);
    }
    let dot_rows = |x: &[f64], out: &mut [f64]| {
        for (r, o) in out.iter_mut().enumerate() {
            *o = v[r * d..(r + 1) * d]
                .iter()
                .zip(x)
                .map(|(a, b)| a * b)
                .sum();
        }
    };
    // Coordinates at every checkpoint: M × R.
    let mut at_ckpt = vec![0.0; opened.len() * r_total];
    let mut theta = vec![0.0; d];
    for (i, c) in opened.iter().enumerate() {
        c.params.for_each(&mut |a, _, x| theta[a] = x)?;
        dot_rows(&theta, &mut at_ckpt[i * r_total..(i + 1) * r_total]);
    }
    // Coordinates along the trajectory: T × R, streamed.
    let along = match trajectory {
        Some(t) => {
            let rows = t.params.shape()[0];
            let mut coords = vec![0.0; rows * r_total];
            t.params.for_each(&mut |a, j, x| {
                for r in 0..r_total {
                    coords[a * r_total + r] += v[r * d + j] * x;
                }
            })?;
            Some((rows, coords))
        }
        None => None,
    };
    let mut r0 = 0;
    let mut series = Vec::new();
    for &(i, m) in &owners {
        let p = checkpoints[i].probes.as_mut().expect("owner has probes");
        p.checkpoint_spread = (r0..r0 + m)
            .map(|r| {
                series.clear();
                series.extend((0..opened.len()).map(|c| at_ckpt[c * r_total + r]));
                Spread::of(&series, false)
            })
            .collect();
        p.trajectory_spread = along.as_ref().map(|(rows, coords)| {
            (r0..r0 + m)
                .map(|r| {
                    let s: Vec<f64> = (0..*rows).map(|a| coords[a * r_total + r]).collect();
                    Spread::of(&s, true)
                })
                .collect()
        });
        r0 += m;
    }
    Ok(())
}
