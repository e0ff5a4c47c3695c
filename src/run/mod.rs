//! The run directory: format v1 (`docs/run-dir-format.md`), reading and validation.
//!
//! [`Run::load`] validates the whole directory (manifest, every array's dtype, shape and
//! finiteness, consistency across checkpoints) before any statistic is computed, and reduces the
//! data to what the checks need: per checkpoint, the per-example gradients projected onto the
//! k-dimensional analysis subspace (n × k), plus a few full-space scalars (‖ḡ‖², tr C). Every
//! file is opened through one gate (`gate.rs`) and read once, in blocks, by the streaming pass
//! (`pass.rs`), which hashes it and feeds the projection and the per-coordinate moments from the
//! same bytes (`kernels.rs`); nothing is memory-mapped and the n × d gradient matrix is never
//! held whole. Cost per checkpoint: O(n d k) time; memory O(n k + d) plus one block per thread
//! and the k·d basis.

pub mod array;
pub mod basis;
pub mod gate;
pub mod invariant;
pub mod kernels;
pub mod manifest;
pub mod npy;
pub mod parameters;
pub mod pass;
pub mod probes;
pub mod progress;
pub mod safetensors;
pub mod subspace;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use gate::hex;

use crate::error::{Error, Result};
use array::ArraySource;
use gate::GatedFile;
use kernels::{Collect, CoordinateMoments, Projector};
pub use manifest::{GradientKind, LossReduction, Manifest, Sampling};
use npy::NpyArray;
use pass::Region;
pub use subspace::{Subspace, SubspaceKind, ALL_COORDINATES_MAX_D};

/// Options that change what is read.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Requested analysis dimension k (the subspace is the identity when d ≤ max(k, 32)).
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
    /// The every-coordinate screen of the rows (per-example runs): per-coordinate central
    /// moments and Hill tail indices from the same pass (issue 16).
    pub screen: Option<kernels::CoordinateScreen>,
    /// The noise principal subspace (per-example runs with d > k): directions chosen on a
    /// seeded subset of the rows (at most half, [`kernels::NOISE_CHOOSE_MAX`]), the other rows
    /// projected on them (a second pass over the gradients).
    pub noise_principal: Option<kernels::NoisePrincipal>,
}

/// Largest d for which a full Hessian is held in memory for its extreme eigenvalues
/// (d² doubles: 128 MiB at 4,096).
pub const FULL_HESSIAN_MAX_D: usize = 4096;

/// Largest d for which hessian.npy is read at all (a 32,768² float64 Hessian is 8 GiB); a larger
/// one is refused before any data is read (export P H Pᵀ or Hessian-vector products instead).
pub const HESSIAN_MAX_D: usize = 32_768;

/// Largest analysis dimension `--dims` accepted.
pub const MAX_DIMS: usize = 1024;

/// Largest random basis held in memory (k·d doubles): 8 GiB, i.e. d = 10⁸ at k = 8.
pub const BASIS_MAX_BYTES: u64 = 8 << 30;

/// The optional trajectory, reduced to the analysis subspace.
#[derive(Debug, Clone)]
pub struct Trajectory {
    pub steps: Vec<i64>,
    /// P θ_t for each row (T × k).
    pub params: DMatrix<f64>,
    pub losses: Option<Vec<f64>>,
}

/// A file that was read, for the report's provenance block.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct InputFile {
    /// Path relative to the run directory.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lowercase hex.
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
    /// The run projected on its Hessian eigenbasis (basis/, or a full hessian.npy with small d),
    /// when it has one and d > k; see [`invariant`] and [`Run::invariant_view`].
    pub invariant: Option<invariant::InvariantBasis>,
    pub inputs: Vec<InputFile>,
}

impl Run {
    /// Reads, validates and projects the run directory `dir`.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Run> {
        check_load_options(dir, opts)?;
        let manifest = Manifest::read(&dir.join("run.json"))?;
        let (manifest_file, _) =
            gate::read_capped(&dir.join("run.json"), gate::RUN_JSON_MAX_BYTES, "run.json")?;
        let steps = discover_checkpoints(dir)?;
        let (opened, d) = open_checkpoints(&steps, &manifest)?;
        let traj_files = OpenTrajectory::open(dir, d)?;
        check_basis_size(d, opts.dims)?;
        let basis = basis::Basis::load(dir, &manifest, d, &steps)?;
        let subspace = Subspace::new(d, opts.dims, opts.seed);
        // The Hessian eigenbasis, stacked under the random basis: one pass projects onto both.
        // All coordinates (d ≤ max(k, ALL_COORDINATES_MAX_D)) are already invariant: no eigenbasis.
        let eigen = match subspace.kind() {
            SubspaceKind::Identity => None,
            _ => invariant::choose(basis.as_ref(), &opened, d, opts.dims)?,
        };
        let stacked = eigen.as_ref().map(|e| subspace.stacked(e.subspace()));
        let read_sub = stacked.as_ref().unwrap_or(&subspace);

        let mut files: Vec<Arc<GatedFile>> = vec![Arc::new(manifest_file)];
        for c in &opened {
            files.extend(c.files());
        }
        if let Some(t) = &traj_files {
            files.extend(t.files());
        }
        // The noise principal subspace and the screen's tail extremes read each gradient array
        // a second time (one pass for both).
        let second: u64 = opened
            .iter()
            .filter(|c| second_pass_on(&manifest, &subspace, c.n, c.d))
            .map(|c| c.grads.layout().data_bytes())
            .sum();
        let total = files.iter().map(|f| f.len()).sum::<u64>() + second;
        let guard = progress::start(total);
        let (checkpoints, trajectory) = rayon::join(
            || {
                opened
                    .par_iter()
                    .map(|c| c.read(read_sub, &subspace, &manifest, opts.seed))
                    .collect::<Result<Vec<_>>>()
            },
            || traj_files.as_ref().map(|t| t.read(read_sub)).transpose(),
        );
        let (mut checkpoints, trajectory, invariant) = match eigen {
            Some(e) => {
                let (c, t, i) =
                    invariant::split(checkpoints?, trajectory?, e, subspace.k(), basis.as_ref());
                (c, t, Some(i))
            }
            None => (checkpoints?, trajectory?, None),
        };
        drop(stacked);
        probes::locate(&mut checkpoints, &opened, traj_files.as_ref())?;
        let traj_steps = trajectory.as_ref().map(|t| &t.steps[..]);
        manifest.check_data(&dir.join("run.json"), d, traj_steps)?;
        // The basis files are read whole by `basis::Basis::load`; they are hashed by one more
        // sequential read in `input_file`, outside the gradient pass (and its progress total).
        for p in basis.iter().flat_map(|b| b.files()) {
            files.push(Arc::new(gate::open(p)?));
        }
        let inputs = files
            .par_iter()
            .map(|f| input_file(dir, f))
            .collect::<Result<Vec<_>>>()?;
        drop(guard);
        Ok(Run {
            dir: dir.to_path_buf(),
            manifest,
            d,
            subspace,
            checkpoints,
            trajectory,
            basis,
            invariant,
            inputs,
        })
    }

    /// [`Self::restrict`] without a copy when the restriction keeps every checkpoint and every
    /// trajectory row (the usual case): a second copy of all projected gradients would double
    /// the O(n·k) memory (issue 17). Cost O(checkpoints + T) then.
    pub fn restrict_cow(&self, steps: &[u64]) -> std::borrow::Cow<'_, Run> {
        let all_checkpoints = self.checkpoints.iter().all(|c| steps.contains(&c.step));
        let all_rows = match (&self.trajectory, steps.iter().min(), steps.iter().max()) {
            (Some(t), Some(lo), Some(hi)) => {
                !t.steps.is_empty() && t.steps.iter().all(|&s| s >= *lo as i64 && s <= *hi as i64)
            }
            (Some(_), _, _) => false,
            (None, _, _) => true,
        };
        if all_checkpoints && all_rows {
            std::borrow::Cow::Borrowed(self)
        } else {
            std::borrow::Cow::Owned(self.restrict(steps))
        }
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

/// Refuses a missing run directory and an out-of-range `--dims` before anything is read.
fn check_load_options(dir: &Path, opts: &LoadOptions) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::input(
            dir,
            "is not a directory; pass the run directory that holds run.json",
        ));
    }
    if opts.dims == 0 {
        return Err(Error::Usage("--dims must be at least 1".into()));
    }
    if opts.dims > MAX_DIMS {
        return Err(Error::Usage(format!(
            "--dims {} is above the limit of {MAX_DIMS}: the checks estimate k × k \
             covariances from n gradients per checkpoint, so k must stay far below n (the \
             default is 8)",
            opts.dims
        )));
    }
    Ok(())
}

/// Opens and validates every checkpoint's arrays before any data is read; returns them and d
/// (0 without checkpoints). Every checkpoint must hold the same number of parameters.
fn open_checkpoints(
    steps: &[(u64, PathBuf)],
    manifest: &Manifest,
) -> Result<(Vec<OpenCheckpoint>, usize)> {
    let mut opened = Vec::with_capacity(steps.len());
    let mut d_first: Option<(usize, PathBuf)> = None;
    for (step, cdir) in steps {
        let c = OpenCheckpoint::open(*step, cdir, manifest)?;
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
    Ok((opened, d_first.map_or(0, |x| x.0)))
}

/// Whether the noise principal subspace is computed: per-example gradients, a random analysis
/// subspace (d > k; with d ≤ k the directions are all coordinates already), and a sketch within
/// [`kernels::NOISE_SKETCH_BUDGET`].
fn noise_principal_on(manifest: &Manifest, sub: &Subspace) -> bool {
    manifest.gradients == GradientKind::PerExample
        && sub.kind() == SubspaceKind::RandomOrthonormal
        && kernels::noise_sketch_fits(sub.d(), sub.k())
}

/// Whether a checkpoint of n rows and d coordinates reads its gradients a second time: for the
/// noise principal subspace ([`noise_principal_on`]) and/or the screen's tail extremes
/// (per-example runs with [`kernels::screen_tail_k`] > 0).
fn second_pass_on(manifest: &Manifest, sub: &Subspace, n: usize, d: usize) -> bool {
    noise_principal_on(manifest, sub)
        || (manifest.gradients == GradientKind::PerExample && kernels::screen_tail_k(n, d) > 0)
}

/// Refuses a random basis above [`BASIS_MAX_BYTES`] (k·d doubles) before it is allocated.
fn check_basis_size(d: usize, dims: usize) -> Result<()> {
    if d <= dims {
        return Ok(());
    }
    match gate::checked_bytes(&[d, dims], 8) {
        Some(b) if b <= BASIS_MAX_BYTES => Ok(()),
        _ => Err(Error::Usage(format!(
            "--dims {dims} with d = {d} parameters needs a {dims} × {d} basis, above the \
             {BASIS_MAX_BYTES}-byte limit; choose a smaller --dims (the default is 8)"
        ))),
    }
}

/// The provenance entry of a file: its SHA-256 from the pass that read it (or, if no pass read
/// it whole, from one more sequential read).
fn input_file(root: &Path, f: &Arc<GatedFile>) -> Result<InputFile> {
    if f.sha256().is_none() {
        pass::stream_file(f, &mut [])?;
    }
    let path = f.path();
    let rel = path.strip_prefix(root).unwrap_or(path);
    Ok(InputFile {
        path: rel.to_string_lossy().replace('\\', "/"),
        bytes: f.len(),
        sha256: f.sha256().unwrap_or_default().to_string(),
    })
}

/// Streams every region once, one pass per file (regions of one file in offset order), files in
/// the order they first appear.
fn stream_grouped(mut items: Vec<(Arc<GatedFile>, Region)>) -> Result<()> {
    while let Some(first) = items.first().map(|x| Arc::clone(&x.0)) {
        let (mut same, rest): (Vec<_>, Vec<_>) =
            items.into_iter().partition(|(g, _)| Arc::ptr_eq(g, &first));
        items = rest;
        same.sort_by_key(|(_, r)| r.layout.offset);
        let mut regions: Vec<Region> = same.into_iter().map(|(_, r)| r).collect();
        pass::stream_file(&first, &mut regions)?;
    }
    Ok(())
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
            let digits = !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit());
            let step: u64 = num.parse().ok().filter(|_| digits).ok_or_else(|| {
                Error::input(
                    &path,
                    format!(
                        "checkpoint folder name must be step_<N> with N the SGD step in decimal \
                         digits only (at most {}), found \"{name}\"; rename it",
                        u64::MAX
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
                        "and {} both exist; a checkpoint holds either .npy files or one \
                         checkpoint.safetensors, remove one of them",
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
            if d > HESSIAN_MAX_D {
                return Err(Error::input(
                    h.describe(),
                    format!(
                        "is a {d} × {d} Hessian, above the limit d ≤ {HESSIAN_MAX_D} for a full \
                         Hessian; remove it (the curvature check then uses the gradients only) \
                         or export the Hessian of a smaller model"
                    ),
                ));
            }
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

    fn files(&self) -> Vec<Arc<GatedFile>> {
        let mut v = vec![
            Arc::clone(self.params.file()),
            Arc::clone(self.grads.file()),
        ];
        v.extend(self.losses.iter().map(|a| Arc::clone(a.file())));
        v.extend(self.hessian.iter().map(|a| Arc::clone(a.file())));
        v.extend(self.probes.iter().flat_map(|p| p.files()));
        v.dedup_by(|a, b| Arc::ptr_eq(a, b));
        v
    }

    /// The second pass over grads.npy: the noise principal subspace's held-out projections and
    /// the screen's tail extremes of its candidate coordinates share it; the extremes alone when
    /// there is no sketch. None of it when neither is wanted.
    fn second_pass(
        &self,
        sketch: Option<&kernels::NoiseSketch>,
        take: Option<&[bool]>,
        tails: Option<&mut kernels::TailExtremes>,
        main: &Subspace,
        scale: f64,
    ) -> Result<Option<kernels::NoisePrincipal>> {
        let extra = tails.map(|t| t as &mut dyn pass::BlockSink);
        match (sketch, take) {
            (Some(s), Some(t)) => {
                kernels::noise_principal(s, t, self.grads.as_ref(), main.k(), scale, extra)
            }
            _ => {
                if let Some(e) = extra {
                    self.grads.stream(e)?;
                }
                Ok(None)
            }
        }
    }

    /// One pass per file of the checkpoint: params, grads (projection + per-coordinate moments
    /// from the same blocks), losses and the Hessian; a safetensors checkpoint is one pass.
    /// `sub` is the projector read through (the analysis subspace, possibly stacked over the
    /// Hessian eigenbasis), `main` the analysis subspace alone (it sizes the noise sketch).
    fn read(
        &self,
        sub: &Subspace,
        main: &Subspace,
        manifest: &Manifest,
        seed: u64,
    ) -> Result<Checkpoint> {
        let (n, d) = (self.n, self.d);
        let (take, mut sketch) = noise_sketch(n, d, main, manifest, seed);
        let mut theta_full = Collect::new(d, 1);
        let mut proj = Projector::new(sub, n);
        let mut moments = match manifest.gradients {
            GradientKind::PerExample => CoordinateMoments::with_screen(n, d),
            GradientKind::Minibatch => CoordinateMoments::new(n, d),
        };
        let mut losses = self.losses.as_ref().map(|_| Collect::new(n, 1));
        let keep_full = sub.kind() == SubspaceKind::RandomOrthonormal && d <= FULL_HESSIAN_MAX_D;
        let mut h_proj = self.hessian.as_ref().map(|_| Projector::new(sub, d));
        let mut h_full = self
            .hessian
            .as_ref()
            .filter(|_| keep_full)
            .map(|_| Collect::new(d, d));
        let mut items = vec![
            (
                Arc::clone(self.params.file()),
                self.params.region(vec![&mut theta_full]),
            ),
            (
                Arc::clone(self.grads.file()),
                self.grads.region({
                    let mut v: Vec<&mut dyn pass::BlockSink> = vec![&mut proj, &mut moments];
                    if let Some(s) = sketch.as_mut() {
                        v.push(s);
                    }
                    v
                }),
            ),
        ];
        if let (Some(a), Some(c)) = (&self.losses, losses.as_mut()) {
            items.push((Arc::clone(a.file()), a.region(vec![c])));
        }
        if let (Some(a), Some(p)) = (&self.hessian, h_proj.as_mut()) {
            let mut sinks: Vec<&mut dyn pass::BlockSink> = vec![p];
            if let Some(f) = h_full.as_mut() {
                sinks.push(f);
            }
            items.push((Arc::clone(a.file()), a.region(sinks)));
        }
        stream_grouped(items)?;

        let theta_full = theta_full.out;
        let theta = DVector::from_vec(sub.project(&theta_full));
        let scale = match (manifest.gradients, manifest.loss_reduction) {
            (GradientKind::Minibatch, LossReduction::Sum) => 1.0 / manifest.batch_size as f64,
            _ => 1.0,
        };
        // The second pass over the gradients: the noise principal subspace and the screen's
        // tail extremes of its candidate coordinates share it.
        let mut tails = kernels::TailExtremes::select(&moments);
        let noise_principal = self.second_pass(
            sketch.as_ref(),
            take.as_deref(),
            tails.as_mut(),
            main,
            scale,
        )?;
        let nf = n as f64;
        let mean_norm2 = moments.sum.iter().map(|s| (s / nf).powi(2)).sum::<f64>();
        let trace_cov = (0..d).map(|j| moments.variance(j)).sum::<f64>() * scale * scale;
        let grads = DMatrix::from_row_slice(n, sub.k(), &proj.out) * scale;
        let (hessian, hessian_extremes_full) = match h_proj {
            Some(t) => {
                let (p, e) = project_matrix(t.out, h_full.map(|f| f.out), sub, self.step);
                (Some(p), e)
            }
            None => (None, None),
        };
        Ok(Checkpoint {
            step: self.step,
            dir: self.dir.clone(),
            n,
            theta,
            grads,
            mean_grad_norm2: mean_norm2 * scale * scale,
            trace_cov,
            losses: losses.map(|c| c.out),
            hessian,
            hessian_extremes_full,
            probes: self
                .probes
                .as_ref()
                .map(|p| p.read(&theta_full))
                .transpose()?,
            screen: moments.screen_result(tails.as_ref()),
            noise_principal,
        })
    }
}

/// The seeded split and the Nyström sketch of the noise principal subspace for a checkpoint of
/// n rows and d coordinates, when it is computed ([`noise_principal_on`]); l = k + oversampling
/// columns, Ω from the stream `"run/noise_principal/sketch"`.
fn noise_sketch(
    n: usize,
    d: usize,
    main: &Subspace,
    manifest: &Manifest,
    seed: u64,
) -> (Option<Vec<bool>>, Option<kernels::NoiseSketch>) {
    let take = noise_principal_on(manifest, main).then(|| kernels::noise_split(n, main.k(), seed));
    let sketch = take.as_ref().map(|t| {
        let mut rng = crate::rng::stream(seed, "run/noise_principal/sketch");
        let l = main.k() + kernels::NOISE_OVERSAMPLE;
        kernels::NoiseSketch(crate::stats::range_finder::Sketch::new(
            n,
            d,
            l,
            t.clone(),
            &mut rng,
        ))
    });
    (take, sketch)
}

/// The whole (small) array, row-major.
fn collect(a: &dyn ArraySource) -> Result<Vec<f64>> {
    let (rows, cols) = a.layout().rows_cols();
    let mut c = Collect::new(rows, cols);
    a.stream(&mut c)?;
    Ok(c.out)
}

/// P H Pᵀ and, when computed, the full Hessian's (λ_max, λ_min).
type ProjectedHessian = (DMatrix<f64>, Option<(f64, f64)>);

/// P H Pᵀ for a streamed d × d matrix H, and (for a random subspace with d ≤
/// [`FULL_HESSIAN_MAX_D`]) the extreme eigenvalues of the full symmetrised H by Lanczos.
/// Cost O(d² k) time and O(d k) memory, plus O(80 d²) time and d² memory for the extremes.
/// P H Pᵀ from T = H Pᵀ (d × k, row-major, computed by the pass) and, when the full H was kept
/// (a random subspace with d ≤ [`FULL_HESSIAN_MAX_D`]), the extreme eigenvalues of the
/// symmetrised H by Lanczos. Cost O(d k²), plus O(80 d²) time for the extremes.
fn project_matrix(
    t: Vec<f64>,
    full: Option<Vec<f64>>,
    sub: &Subspace,
    step: u64,
) -> ProjectedHessian {
    let k = sub.k();
    let d = sub.d();
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
    let extremes = full.map(|full| {
        let h = DMatrix::from_row_slice(d, d, &full);
        let h = (&h + h.transpose()) * 0.5;
        crate::linalg::lanczos_extremes(d, 80, step, &mut |v| &h * v)
    });
    (out, extremes)
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
                    "has dtype {}; steps.npy must hold int64 (or int32) step numbers (convert \
                     with arr.astype('<i8'))",
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

    fn files(&self) -> Vec<Arc<GatedFile>> {
        let mut v = vec![
            Arc::clone(self.steps.file()),
            Arc::clone(self.params.file()),
        ];
        v.extend(self.losses.iter().map(|a| Arc::clone(a.file())));
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
        let mut proj = Projector::new(sub, t);
        self.params.stream(&mut proj)?;
        let losses = self
            .losses
            .as_ref()
            .map(|a| collect(a.as_ref()))
            .transpose()?;
        Ok(Trajectory {
            steps,
            params: DMatrix::from_row_slice(t, k, &proj.out),
            losses,
        })
    }
}
