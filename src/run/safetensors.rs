//! Reading `checkpoint.safetensors` (Hugging Face safetensors format, crate `safetensors` 0.7),
//! the alternative to the `.npy` files of a checkpoint folder in run-directory format v1.
//!
//! A safetensors file is an 8-byte little-endian header length `n`, a JSON header of `n` bytes
//! (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {..}}`) and
//! the tensor bytes: little-endian, C order, no strides. The checkpoint stores the tensors
//! `"params"` (d,), `"grads"` (n, d), and optionally `"losses"` (n,) and `"hessian"` (d, d), each
//! as F16, BF16, F32 or F64.
//!
//! The file is memory-mapped once ([`open_tensors`]); the header is parsed and validated by
//! `safetensors::SafeTensors::read_metadata` (offsets cover the data exactly, sizes agree with
//! dtype × shape, no truncation, no trailing bytes). Tensor handles ([`SafetensorsTensor`]) share
//! the mapping through an `Arc`, so they stay valid after the [`SafetensorsFile`] is dropped, and
//! stream their values widened to f64 through [`ArraySource`], exactly like `.npy` arrays.
//! Half-precision values are decoded with `half::{f16, bf16}::to_f64`, which is exact.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::safetensors::tensor::Metadata;
use ::safetensors::{Dtype, SafeTensorError, SafeTensors};
use memmap2::Mmap;

use super::array::ArraySource;
use crate::error::{Error, Result};

/// Size of the header-length prefix of a safetensors file.
const N_LEN: usize = 8;

/// Floating-point element types accepted in a checkpoint file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatDtype {
    /// IEEE 754 binary16 (`torch.float16`, `numpy.float16`).
    F16,
    /// bfloat16 (`torch.bfloat16`, `ml_dtypes.bfloat16`).
    BF16,
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
}

impl FloatDtype {
    /// NumPy-style name, as reported by [`ArraySource::dtype_name`].
    pub fn name(self) -> &'static str {
        match self {
            FloatDtype::F16 => "float16",
            FloatDtype::BF16 => "bfloat16",
            FloatDtype::F32 => "float32",
            FloatDtype::F64 => "float64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            FloatDtype::F16 | FloatDtype::BF16 => 2,
            FloatDtype::F32 => 4,
            FloatDtype::F64 => 8,
        }
    }

    fn from_safetensors(d: Dtype) -> Option<Self> {
        match d {
            Dtype::F16 => Some(FloatDtype::F16),
            Dtype::BF16 => Some(FloatDtype::BF16),
            Dtype::F32 => Some(FloatDtype::F32),
            Dtype::F64 => Some(FloatDtype::F64),
            _ => None,
        }
    }
}

/// An opened, header-validated, memory-mapped safetensors file.
pub struct SafetensorsFile {
    path: PathBuf,
    map: Arc<Mmap>,
    /// Offset of the first data byte in the file (8 + header length).
    data_start: usize,
    metadata: Metadata,
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.path)
            .field("tensors", &self.names())
            .finish()
    }
}

/// Opens `path`, memory-maps it and validates the safetensors header.
///
/// Errors (all [`Error::Input`] naming the file and the fix): the file cannot be opened or mapped;
/// it is a zip/pickle (`torch.save`) or `.npy` file rather than safetensors; the header is
/// malformed; the tensors' offsets do not cover the data exactly (truncated file or trailing
/// bytes). Tensor dtypes are checked only when a tensor is requested ([`SafetensorsFile::tensor`]).
///
/// Cost: one mmap and an O(header) JSON parse; no tensor data is read.
pub fn open_tensors(path: &Path) -> Result<SafetensorsFile> {
    let file = File::open(path).map_err(|e| {
        Error::input(
            path,
            format!("cannot open ({e}); the run-directory format requires this file"),
        )
    })?;
    // SAFETY: the mapping is read-only; a file modified while sgd-ou reads it may give wrong
    // numbers, as with any reader, but the header was validated against the mapped length and
    // every access below is bounds-checked.
    let map = unsafe { Mmap::map(&file) }
        .map_err(|e| Error::input(path, format!("cannot map file: {e}")))?;
    if map.starts_with(b"PK\x03\x04") {
        return Err(Error::input(
            path,
            "is a zip archive (torch.save / numpy.savez?), not a safetensors file; write it with \
             safetensors.torch.save_file({\"params\": p, \"grads\": g}, path) or \
             safetensors.numpy.save_file(...)",
        ));
    }
    if map.starts_with(b"\x93NUMPY") {
        return Err(Error::input(
            path,
            "is a .npy file, not a safetensors file; name it params.npy / grads.npy / ... \
             instead of checkpoint.safetensors",
        ));
    }
    let (n, metadata) = SafeTensors::read_metadata(&map[..])
        .map_err(|e| Error::input(path, header_message(&e, map.len())))?;
    Ok(SafetensorsFile {
        path: path.to_path_buf(),
        map: Arc::new(map),
        data_start: N_LEN + n,
        metadata,
    })
}

/// Turns a header error of the `safetensors` crate into an actionable message.
fn header_message(e: &SafeTensorError, file_len: usize) -> String {
    match e {
        SafeTensorError::HeaderTooSmall => format!(
            "is not a valid safetensors file: it has {file_len} bytes, fewer than the 8-byte \
             header length; re-export it with safetensors save_file"
        ),
        SafeTensorError::InvalidHeaderLength => format!(
            "is not a valid safetensors file: the header length announced in the first 8 bytes \
             exceeds the file size ({file_len} bytes); the file is truncated or not safetensors"
        ),
        SafeTensorError::MetadataIncompleteBuffer => format!(
            "is truncated or has trailing bytes: the tensors announced in the header do not \
             cover the {file_len}-byte file exactly; re-export it"
        ),
        other => format!("is not a valid safetensors file ({other}); re-export it with save_file"),
    }
}

impl SafetensorsFile {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names in file order (by data offset).
    pub fn names(&self) -> Vec<String> {
        self.metadata.offset_keys()
    }

    /// The optional `__metadata__` string map written by `save_file(..., metadata=...)`.
    pub fn user_metadata(&self) -> Option<&HashMap<String, String>> {
        self.metadata.metadata().as_ref()
    }

    /// The tensor `name`, or `Ok(None)` when the file has no such tensor.
    ///
    /// Fails when the tensor's dtype is not F16, BF16, F32 or F64 (the message names the dtype
    /// found). Cost O(1); the handle shares the mapping and reads no data until streamed.
    pub fn tensor(&self, name: &str) -> Result<Option<SafetensorsTensor>> {
        let Some(info) = self.metadata.info(name) else {
            return Ok(None);
        };
        let dtype = FloatDtype::from_safetensors(info.dtype).ok_or_else(|| {
            Error::input(
                &self.path,
                format!(
                    "tensor \"{name}\" has an unsupported dtype: found {}, expected F16, BF16, \
                     F32 or F64 (convert with tensor.float() or arr.astype(numpy.float32) \
                     before save_file)",
                    info.dtype
                ),
            )
        })?;
        let (begin, end) = info.data_offsets;
        // `read_metadata` checked that the offsets tile the data section, that each tensor's byte
        // length equals elements × dtype size, and that the data ends exactly at the end of file.
        // Re-check here so a logic error can never index out of bounds.
        let start = self.data_start.checked_add(begin);
        let stop = self.data_start.checked_add(end);
        let count = info.shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s));
        match (start, stop, count) {
            (Some(s), Some(t), Some(c))
                if s <= t && t <= self.map.len() && c.checked_mul(dtype.size()) == Some(t - s) => {}
            _ => {
                return Err(Error::input(
                    &self.path,
                    format!("tensor \"{name}\" has inconsistent offsets or shape; re-export it"),
                ))
            }
        }
        Ok(Some(SafetensorsTensor {
            path: self.path.clone(),
            name: name.to_string(),
            map: Arc::clone(&self.map),
            start: self.data_start + begin,
            end: self.data_start + end,
            shape: info.shape.clone(),
            dtype,
        }))
    }

    /// Like [`SafetensorsFile::tensor`], but a missing tensor is an error that lists the tensors
    /// the file does have.
    pub fn require(&self, name: &str) -> Result<SafetensorsTensor> {
        self.tensor(name)?.ok_or_else(|| {
            Error::input(
                &self.path,
                format!(
                    "has no tensor named \"{name}\" (found: {}); the run-directory format \
                     requires it",
                    quote_list(&self.names())
                ),
            )
        })
    }
}

fn quote_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no tensors".to_string();
    }
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One floating-point tensor of a safetensors file; cheap to clone (it shares the mapping).
#[derive(Clone)]
pub struct SafetensorsTensor {
    path: PathBuf,
    name: String,
    map: Arc<Mmap>,
    start: usize,
    end: usize,
    shape: Vec<usize>,
    dtype: FloatDtype,
}

impl std::fmt::Debug for SafetensorsTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsTensor")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .finish()
    }
}

impl SafetensorsTensor {
    /// Tensor name inside the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Element type as stored.
    pub fn dtype(&self) -> FloatDtype {
        self.dtype
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw little-endian bytes of the tensor.
    pub fn bytes(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }

    /// Checks the number of dimensions; `what` describes the expected shape, e.g. "(n, d)".
    pub fn expect_ndim(&self, ndim: usize, what: &str) -> Result<()> {
        if self.shape.len() != ndim {
            return Err(Error::input(
                &self.path,
                format!(
                    "tensor \"{}\" has shape {:?} but the format expects a {ndim}-D array {what}",
                    self.name, self.shape
                ),
            ));
        }
        Ok(())
    }

    /// Streams every element in C order as `f(row, col, value)` (a 1-D tensor has `col == 0`, a
    /// 0-D tensor is one element at `[0, 0]`), widened exactly to f64. Stops at the first
    /// non-finite value with an error naming the tensor and the index `[row, col]`.
    /// Cost O(len) time, no allocation.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize, f64)) -> Result<()> {
        let cols = match self.shape.len() {
            0 => 1,
            1 => 1,
            2 => self.shape[1],
            _ => {
                return Err(Error::input(
                    &self.path,
                    format!(
                        "tensor \"{}\" has shape {:?}; expected a 1-D or 2-D array \
                         (flatten the parameters into one vector)",
                        self.name, self.shape
                    ),
                ))
            }
        };
        let bytes = self.bytes();
        let mut idx = 0usize;
        let mut visit = |v: f64| -> Result<()> {
            // cols == 0 only for an empty 2-D tensor, where this closure is never called.
            let (i, j) = (idx / cols, idx % cols);
            if !v.is_finite() {
                return Err(Error::input(
                    &self.path,
                    format!(
                        "tensor \"{}\" contains a non-finite value ({v}) at index [{i}, {j}]; \
                         NaN/Inf gradients mean the run diverged or the export is broken",
                        self.name
                    ),
                ));
            }
            f(i, j, v);
            idx += 1;
            Ok(())
        };
        match self.dtype {
            FloatDtype::F16 => {
                for c in bytes.chunks_exact(2) {
                    visit(half::f16::from_le_bytes([c[0], c[1]]).to_f64())?;
                }
            }
            FloatDtype::BF16 => {
                for c in bytes.chunks_exact(2) {
                    visit(half::bf16::from_le_bytes([c[0], c[1]]).to_f64())?;
                }
            }
            FloatDtype::F32 => {
                for c in bytes.chunks_exact(4) {
                    visit(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))?;
                }
            }
            FloatDtype::F64 => {
                for c in bytes.chunks_exact(8) {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    visit(f64::from_le_bytes(a))?;
                }
            }
        }
        Ok(())
    }

    /// The whole tensor as f64 in C order. Use only for tensors that are small by construction
    /// (params, losses); cost O(len) memory.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|_, _, v| out.push(v))?;
        Ok(out)
    }
}

impl ArraySource for SafetensorsTensor {
    fn path(&self) -> &Path {
        &self.path
    }
    fn describe(&self) -> String {
        format!("{}[{}]", self.path.display(), self.name)
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn dtype_name(&self) -> &'static str {
        self.dtype.name()
    }
    fn for_each(&self, f: &mut dyn FnMut(usize, usize, f64)) -> Result<()> {
        SafetensorsTensor::for_each(self, f)
    }
}
