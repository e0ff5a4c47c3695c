//! The run directory: format v1 (`docs/run-dir-format.md`), reading and validation.
//!
//! [`Run::load`] validates the whole directory (manifest, every array's dtype, shape and
//! finiteness, consistency across checkpoints) before any statistic is computed, and reduces the
//! data to what the checks need: per checkpoint, the per-example gradients projected onto the
//! k-dimensional analysis subspace (n × k), plus a few full-space scalars (‖ḡ‖², tr C). The n × d
//! gradient matrix is streamed from a memory map and never copied. Cost per checkpoint: O(n d k)
//! time, O(n k + d) memory.

pub mod array;
pub mod basis;
pub mod manifest;
pub mod npy;
pub mod parameters;
pub mod probes;
pub mod safetensors;
pub mod subspace;

use std::io::Read;
use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use array::ArraySource;
pub use manifest::{GradientKind, LossReduction, Manifest, Sampling};
use npy::NpyArray;
pub use subspace::{Subspace, SubspaceKind};

/// Options that change what is read.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Requested analysis dimension k (the subspace is the identity when d ≤ k).
    pub dims: usize,
    /// Seed of the subspace draw.
    pub seed: u64,
}

/// One checkpoint, reduced to the analysis subspace.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub step: u64,
    /// Folder of the checkpoint.
    pub dir: PathBuf,
    /// Rows of grads.npy (examples, or minibatches when `gradients` is `"minibatch"`).
    pub n: usize,
    /// P θ (length k).
    pub theta: DVector<f64>,
    /// P g_i for every row i (n × k), in mean-gradient units (rows of a `"sum"`-reduced
    /// minibatch file are divided by S).
    pub grads: DMatrix<f64>,
    /// ‖ḡ‖² of the full-space mean row.
    pub mean_grad_norm2: f64,
    /// tr Ĉ of the full-space rows (divisor n − 1).
    pub trace_cov: f64,
    /// Per-example losses (per-example runs only), if present.
    pub losses: Option<Vec<f64>>,
    /// P H Pᵀ (k × k), if hessian.npy is present.
    pub hessian: Option<DMatrix<f64>>,
    /// (λ_max, λ_min) of the full d × d Hessian (symmetrised), by Lanczos, when hessian.npy is
    /// present and the analysis uses a random subspace with d ≤ [`FULL_HESSIAN_MAX_D`].
    pub hessian_extremes_full: Option<(f64, f64)>,
    /// Loss probes (`probe_*.npy`), if present.
    pub probes: Option<probes::Probes>,
}

/// Largest d for which a full Hessian is held in memory for its extreme eigenvalues
/// (d² doubles: 128 MiB at 4,096).
pub const FULL_HESSIAN_MAX_D: usize = 4096;

/// The optional trajectory, reduced to the analysis subspace.
#[derive(Debug, Clone)]
pub struct Trajectory {
    pub steps: Vec<i64>,
    /// P θ_t for each row (T × k).
    pub params: DMatrix<f64>,
    pub losses: Option<Vec<f64>>,
}

/// A file that was read, for the report's provenance block.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct InputFile {
    /// Path relative to the run directory.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A validated, projected run directory.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Number of parameters.
    pub d: usize,
    pub subspace: Subspace,
    pub checkpoints: Vec<Checkpoint>,
    pub trajectory: Option<Trajectory>,
    /// Format v2: the run-level Hessian basis (basis/) and V H_t Vᵀ per checkpoint.
    pub basis: Option<basis::Basis>,
    pub inputs: Vec<InputFile>,
}

impl Run {
    /// Reads, validates and projects the run directory `dir`.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Run> {
        if !dir.is_dir() {
            return Err(Error::input(
                dir,
                "is not a directory; pass the run directory that holds run.json",
            ));
        }
        if opts.dims == 0 {
            return Err(Error::Usage("--dims must be at least 1".into()));
        }
        let manifest = Manifest::read(&dir.join("run.json"))?;
        let steps = discover_checkpoints(dir)?;

        // Open and validate every checkpoint's arrays before reading any data.
        let mut opened = Vec::with_capacity(steps.len());
        let mut d_first: Option<(usize, PathBuf)> = None;
        for (step, cdir) in &steps {
            let c = OpenCheckpoint::open(*step, cdir, &manifest)?;
            match &d_first {
                None => d_first = Some((c.d, c.params.path().to_path_buf())),
                Some((d0, p0)) if *d0 != c.d => {
                    return Err(Error::input(
                        c.params.describe(),
                        format!(
                            "has {} parameters but {} has {d0}; every checkpoint must hold the \
                             same flattened parameter vector",
                            c.d,
                            p0.display()
                        ),
                    ))
                }
                _ => {}
            }
            opened.push(c);
        }
        let d = d_first.map(|x| x.0).unwrap_or(0);
        let traj_files = OpenTrajectory::open(dir, d)?;
        let basis = basis::Basis::load(dir, &manifest, d, &steps)?;
        let subspace = Subspace::new(d, opts.dims, opts.seed);

        let mut checkpoints = opened
            .par_iter()
            .map(|c| c.read(&subspace, &manifest))
            .collect::<Result<Vec<_>>>()?;
        let trajectory = match &traj_files {
            Some(t) => Some(t.read(&subspace)?),
            None => None,
        };
        probes::locate(&mut checkpoints, &opened, traj_files.as_ref())?;
        let traj_steps = trajectory.as_ref().map(|t| &t.steps[..]);
        manifest.check_data(&dir.join("run.json"), d, traj_steps)?;

        let mut files: Vec<PathBuf> = vec![dir.join("run.json")];
        for c in &opened {
            files.extend(c.files());
        }
        if let Some(t) = &traj_files {
            files.extend(t.files());
        }
        files.extend(basis.iter().flat_map(|b| b.files().iter().cloned()));
        let inputs = files
            .par_iter()
            .map(|p| hash_file(dir, p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Run {
            dir: dir.to_path_buf(),
            manifest,
            d,
            subspace,
            checkpoints,
            trajectory,
            basis,
            inputs,
        })
    }

    /// The same run restricted to the checkpoints whose steps are in `steps`, and its trajectory
    /// to the rows between the first and the last of them (inclusive). Inputs are unchanged.
    pub fn restrict(&self, steps: &[u64]) -> Run {
        let mut out = self.clone();
        out.checkpoints.retain(|c| steps.contains(&c.step));
        if let (Some(t), Some(lo), Some(hi)) =
            (&self.trajectory, steps.iter().min(), steps.iter().max())
        {
            let rows: Vec<usize> = t
                .steps
                .iter()
                .enumerate()
                .filter(|(_, &s)| s >= *lo as i64 && s <= *hi as i64)
                .map(|(i, _)| i)
                .collect();
            out.trajectory = if rows.is_empty() {
                None
            } else {
                Some(Trajectory {
                    steps: rows.iter().map(|&i| t.steps[i]).collect(),
                    params: t.params.select_rows(rows.iter()),
                    losses: t
                        .losses
                        .as_ref()
                        .map(|l| rows.iter().map(|&i| l[i]).collect()),
                })
            };
        }
        out
    }

    /// k, the analysis dimension.
    pub fn k(&self) -> usize {
        self.subspace.k()
    }

    /// SHA-256 over the list of (path, sha256) of all inputs: one digest to quote in a paper.
    pub fn inputs_digest(&self) -> String {
        let mut h = Sha256::new();
        for f in &self.inputs {
            h.update(f.path.as_bytes());
            h.update([0]);
            h.update(f.sha256.as_bytes());
            h.update([b'\n']);
        }
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_file(root: &Path, path: &Path) -> Result<InputFile> {
    let mut f =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    let rel = path.strip_prefix(root).unwrap_or(path);
    Ok(InputFile {
        path: rel.to_string_lossy().replace('\\', "/"),
        bytes,
        sha256: hex(&h.finalize()),
    })
}

/// Lists `checkpoints/step_<N>` folders sorted by N.
fn discover_checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let cdir = dir.join("checkpoints");
    let entries = std::fs::read_dir(&cdir).map_err(|e| {
        Error::input(
            &cdir,
            format!(
                "cannot list checkpoints ({e}); a run directory needs checkpoints/step_<N>/ \
                 folders (see docs/run-dir-format.md)"
            ),
        )
    })?;
    let mut steps = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::input(&cdir, e.to_string()))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(num) = name.strip_prefix("step_") {
            let step: u64 = num.parse().map_err(|_| {
                Error::input(
                    &path,
                    format!(
                        "checkpoint folder name must be step_<N> with N a non-negative integer \
                         SGD step, found \"{name}\"; rename it"
                    ),
                )
            })?;
            steps.push((step, path));
        }
    }
    steps.sort();
    for w in steps.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(Error::input(
                &w[1].1,
                format!(
                    "two checkpoint folders have step {} ({} and {}); keep one",
                    w[0].0,
                    w[0].1.display(),
                    w[1].1.display()
                ),
            ));
        }
    }
    match steps.len() {
        0 => Err(Error::input(
            &cdir,
            "holds no step_<N> checkpoint folders; export at least two checkpoints",
        )),
        1 => Err(Error::input(
            &cdir,
            format!(
                "holds only one checkpoint ({}); the checks compare checkpoints, export at \
                 least two",
                steps[0].1.display()
            ),
        )),
        _ => Ok(steps),
    }
}

struct OpenCheckpoint {
    step: u64,
    dir: PathBuf,
    d: usize,
    n: usize,
    params: Box<dyn ArraySource>,
    grads: Box<dyn ArraySource>,
    losses: Option<Box<dyn ArraySource>>,
    hessian: Option<Box<dyn ArraySource>>,
    probes: Option<probes::OpenProbes>,
}

fn open_npy(path: &Path) -> Result<Box<dyn ArraySource>> {
    Ok(Box::new(NpyArray::open(path, false)?))
}

fn open_optional(path: &Path) -> Result<Option<Box<dyn ArraySource>>> {
    if path.exists() {
        Ok(Some(open_npy(path)?))
    } else {
        Ok(None)
    }
}

fn expect_shape(a: &dyn ArraySource, want: &[usize], what: &str) -> Result<()> {
    if a.shape() != want {
        return Err(Error::input(
            a.describe(),
            format!(
                "has shape {:?} but the format expects {what} = {:?}",
                a.shape(),
                want
            ),
        ));
    }
    Ok(())
}

impl OpenCheckpoint {
    fn open(step: u64, dir: &Path, manifest: &Manifest) -> Result<Self> {
        let st_path = dir.join("checkpoint.safetensors");
        let (params, grads, losses, hessian) = if st_path.exists() {
            if let Some(clash) = ["params.npy", "grads.npy", "losses.npy", "hessian.npy"]
                .iter()
                .map(|f| dir.join(f))
                .find(|f| f.exists())
            {
                return Err(Error::input(
                    &clash,
                    format!(
                        "and {} both exist; a checkpoint holds either .npy files or one                          checkpoint.safetensors, remove one of them",
                        st_path.display()
                    ),
                ));
            }
            let st = safetensors::open_tensors(&st_path)?;
            let boxed = |t: safetensors::SafetensorsTensor| -> Box<dyn ArraySource> { Box::new(t) };
            (
                boxed(st.require("params")?),
                boxed(st.require("grads")?),
                st.tensor("losses")?.map(boxed),
                st.tensor("hessian")?.map(boxed),
            )
        } else {
            (
                open_npy(&dir.join("params.npy"))?,
                open_npy(&dir.join("grads.npy"))?,
                open_optional(&dir.join("losses.npy"))?,
                open_optional(&dir.join("hessian.npy"))?,
            )
        };
        if params.shape().len() != 1 {
            return Err(Error::input(
                params.describe(),
                format!(
                    "has shape {:?}; params.npy must be the flattened parameter vector, shape (d,)",
                    params.shape()
                ),
            ));
        }
        let d = params.shape()[0];
        if d == 0 {
            return Err(Error::input(params.describe(), "is empty (d = 0)"));
        }
        if grads.shape().len() != 2 || grads.shape()[1] != d {
            return Err(Error::input(
                grads.describe(),
                format!(
                    "has shape {:?} but params.npy has d = {d}; grads.npy must be (n, {d}), one \
                     row per {}",
                    grads.shape(),
                    match manifest.gradients {
                        GradientKind::PerExample => "example",
                        GradientKind::Minibatch => "minibatch",
                    }
                ),
            ));
        }
        let n = grads.shape()[0];
        if n < 2 {
            return Err(Error::input(
                grads.describe(),
                format!("has {n} row(s); at least 2 gradients per checkpoint are needed"),
            ));
        }
        if let Some(l) = &losses {
            expect_shape(l.as_ref(), &[n], "(n,) with n = rows of grads.npy")?;
        }
        if let Some(h) = &hessian {
            expect_shape(h.as_ref(), &[d, d], "(d, d)")?;
        }
        Ok(OpenCheckpoint {
            step,
            dir: dir.to_path_buf(),
            d,
            n,
            params,
            grads,
            losses,
            hessian,
            probes: probes::OpenProbes::open(dir, d)?,
        })
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut v = vec![
            self.params.path().to_path_buf(),
            self.grads.path().to_path_buf(),
        ];
        v.extend(self.losses.iter().map(|a| a.path().to_path_buf()));
        v.extend(self.hessian.iter().map(|a| a.path().to_path_buf()));
        v.extend(self.probes.iter().flat_map(|p| p.files()));
        v.dedup();
        v
    }

    fn read(&self, sub: &Subspace, manifest: &Manifest) -> Result<Checkpoint> {
        let k = sub.k();
        let mut theta_full = vec![0.0; self.d];
        self.params.for_each(&mut |i, _, v| theta_full[i] = v)?;
        let theta = DVector::from_vec(sub.project(&theta_full));

        // One pass over grads: projected rows, full-space column sums and sum of squares.
        let mut proj = vec![0.0; self.n * k];
        let mut colsum = vec![0.0; self.d];
        let mut sumsq = 0.0;
        self.grads.for_each(&mut |i, j, v| {
            sub.accumulate(j, v, &mut proj[i * k..(i + 1) * k]);
            colsum[j] += v;
            sumsq += v * v;
        })?;
        let scale = match (manifest.gradients, manifest.loss_reduction) {
            (GradientKind::Minibatch, LossReduction::Sum) => 1.0 / manifest.batch_size as f64,
            _ => 1.0,
        };
        let nf = self.n as f64;
        let mean_norm2 = colsum.iter().map(|s| (s / nf).powi(2)).sum::<f64>();
        let trace_cov = ((sumsq - nf * mean_norm2) / (nf - 1.0)).max(0.0) * scale * scale;
        let grads = DMatrix::from_row_slice(self.n, k, &proj) * scale;

        let losses = match &self.losses {
            Some(a) => {
                let mut v = vec![0.0; self.n];
                a.for_each(&mut |i, _, x| v[i] = x)?;
                Some(v)
            }
            None => None,
        };
        let (hessian, hessian_extremes_full) = match &self.hessian {
            Some(a) => {
                let (proj, extremes) = project_matrix(a.as_ref(), sub, self.step)?;
                (Some(proj), extremes)
            }
            None => (None, None),
        };
        Ok(Checkpoint {
            step: self.step,
            dir: self.dir.clone(),
            n: self.n,
            theta,
            grads,
            mean_grad_norm2: mean_norm2 * scale * scale,
            trace_cov,
            losses,
            hessian,
            hessian_extremes_full,
            probes: self
                .probes
                .as_ref()
                .map(|p| p.read(&theta_full))
                .transpose()?,
        })
    }
}

/// P H Pᵀ and, when computed, the full Hessian's (λ_max, λ_min).
type ProjectedHessian = (DMatrix<f64>, Option<(f64, f64)>);

/// P H Pᵀ for a streamed d × d matrix H, and (for a random subspace with d ≤
/// [`FULL_HESSIAN_MAX_D`]) the extreme eigenvalues of the full symmetrised H by Lanczos.
/// Cost O(d² k) time and O(d k) memory, plus O(80 d²) time and d² memory for the extremes.
fn project_matrix(a: &dyn ArraySource, sub: &Subspace, step: u64) -> Result<ProjectedHessian> {
    let k = sub.k();
    let d = sub.d();
    let keep_full = sub.kind() == SubspaceKind::RandomOrthonormal && d <= FULL_HESSIAN_MAX_D;
    let mut full = if keep_full {
        vec![0.0; d * d]
    } else {
        Vec::new()
    };
    // T = H Pᵀ (d × k), row a holds Σ_b H[a, b] P[:, b].
    let mut t = vec![0.0; d * k];
    a.for_each(&mut |r, c, v| {
        sub.accumulate(c, v, &mut t[r * k..(r + 1) * k]);
        if keep_full {
            full[r * d + c] = v;
        }
    })?;
    // P T: column e of T projected.
    let mut out = DMatrix::zeros(k, k);
    let mut col = vec![0.0; d];
    for e in 0..k {
        for r in 0..d {
            col[r] = t[r * k + e];
        }
        let p = sub.project(&col);
        for c in 0..k {
            out[(c, e)] = p[c];
        }
    }
    let extremes = keep_full.then(|| {
        let h = DMatrix::from_row_slice(d, d, &full);
        let h = (&h + h.transpose()) * 0.5;
        crate::linalg::lanczos_extremes(d, 80, step, &mut |v| &h * v)
    });
    Ok((out, extremes))
}

struct OpenTrajectory {
    steps: Box<NpyArray>,
    params: Box<dyn ArraySource>,
    losses: Option<Box<dyn ArraySource>>,
}

impl OpenTrajectory {
    fn open(dir: &Path, d: usize) -> Result<Option<Self>> {
        let tdir = dir.join("trajectory");
        if !tdir.is_dir() {
            return Ok(None);
        }
        let steps = Box::new(NpyArray::open(&tdir.join("steps.npy"), true)?);
        steps.expect_ndim(1, "(T,) of int64 steps")?;
        if !matches!(steps.elem(), npy::Elem::I64 | npy::Elem::I32) {
            return Err(Error::input(
                steps.path(),
                format!(
                    "has dtype {}; steps.npy must hold int64 (or int32) step numbers",
                    steps.elem_name()
                ),
            ));
        }
        let t = steps.shape()[0];
        let params = open_npy(&tdir.join("params.npy"))?;
        expect_shape(params.as_ref(), &[t, d], "(T, d) with T = len(steps.npy)")?;
        let losses = open_optional(&tdir.join("losses.npy"))?;
        if let Some(l) = &losses {
            expect_shape(l.as_ref(), &[t], "(T,)")?;
        }
        Ok(Some(OpenTrajectory {
            steps,
            params,
            losses,
        }))
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut v = vec![
            self.steps.path().to_path_buf(),
            self.params.path().to_path_buf(),
        ];
        v.extend(self.losses.iter().map(|a| a.path().to_path_buf()));
        v
    }

    fn read(&self, sub: &Subspace) -> Result<Trajectory> {
        let steps = self.steps.to_vec_i64()?;
        if let Some(w) = steps.windows(2).find(|w| w[1] <= w[0]) {
            return Err(Error::input(
                self.steps.path(),
                format!(
                    "steps must be strictly increasing, found {} followed by {}",
                    w[0], w[1]
                ),
            ));
        }
        let k = sub.k();
        let t = steps.len();
        let mut proj = vec![0.0; t * k];
        self.params
            .for_each(&mut |i, j, v| sub.accumulate(j, v, &mut proj[i * k..(i + 1) * k]))?;
        let losses = match &self.losses {
            Some(a) => {
                let mut v = vec![0.0; t];
                a.for_each(&mut |i, _, x| v[i] = x)?;
                Some(v)
            }
            None => None,
        };
        Ok(Trajectory {
            steps,
            params: DMatrix::from_row_slice(t, k, &proj),
            losses,
        })
    }
}
