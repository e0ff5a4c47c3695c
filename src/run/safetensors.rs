//! Reading `checkpoint.safetensors` (Hugging Face safetensors format, crate `safetensors` 0.7),
//! the alternative to the `.npy` files of a checkpoint folder in run-directory format v1.
//!
//! A safetensors file is an 8-byte little-endian header length `n`, a JSON header of `n` bytes
//! (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {..}}`) and
//! the tensor bytes: little-endian, C order, no strides. The checkpoint stores the tensors
//! `"params"` (d,), `"grads"` (n, d), and optionally `"losses"` (n,) and `"hessian"` (d, d), each
//! as F16, BF16, F32 or F64.
//!
//! The file is opened once through the input gate ([`open_tensors`]); the header (at most
//! [`HEADER_MAX_BYTES`]) is parsed into the `safetensors` crate's typed `Metadata` and validated
//! here (offsets tile the data exactly, sizes agree with dtype × shape in checked arithmetic, no
//! truncation, no trailing bytes; errors name the tensor). Tensor handles
//! ([`SafetensorsTensor`]) share the open file through an `Arc`, so they stay valid after the
//! [`SafetensorsFile`] is dropped, and stream their values in blocks widened to f64 through
//! [`ArraySource`], exactly like `.npy` arrays; no memory mapping.
//! Half-precision values are decoded with `half::{f16, bf16}::to_f64`, which is exact.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use ::safetensors::Dtype;
use serde::Deserialize;

use super::array::ArraySource;
use super::gate::{self, GatedFile, HEADER_MAX_BYTES};
use super::pass::{self, Layout};
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

    fn dtype(self) -> pass::Dtype {
        match self {
            FloatDtype::F16 => pass::Dtype::F16,
            FloatDtype::BF16 => pass::Dtype::BF16,
            FloatDtype::F32 => pass::Dtype::F32,
            FloatDtype::F64 => pass::Dtype::F64,
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

/// An opened, header-validated safetensors file.
pub struct SafetensorsFile {
    file: Arc<GatedFile>,
    /// Offset of the first data byte in the file (8 + header length).
    data_start: u64,
    /// Tensors in offset order.
    tensors: Vec<(String, TensorInfo)>,
    user_metadata: Option<HashMap<String, String>>,
}

/// One entry of the header, typed.
#[derive(Debug, Clone, Deserialize)]
pub struct TensorInfo {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data_offsets: (usize, usize),
}

/// A parsed header: tensors in offset order and the optional `__metadata__` map.
pub type Header = (Vec<(String, TensorInfo)>, Option<HashMap<String, String>>);

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.file.path())
            .field("tensors", &self.names())
            .finish()
    }
}

/// Opens `path` through the input gate and validates the safetensors header.
///
/// Errors (all [`Error::Input`] naming the file and the fix): the file cannot be opened or is
/// not a regular file; it is a zip/pickle (`torch.save`) or `.npy` file rather than
/// safetensors; the header is larger than [`HEADER_MAX_BYTES`] or malformed; a tensor's
/// offsets disagree with its dtype × shape (the message names the tensor); the tensors do not
/// cover the data exactly (truncated file or trailing bytes). Tensor dtypes are checked only
/// when a tensor is requested ([`SafetensorsFile::tensor`]).
///
/// Cost: one open and a read of the header; no tensor data is read.
pub fn open_tensors(path: &Path) -> Result<SafetensorsFile> {
    let file = gate::open(path)?;
    let len = file.len();
    let mut head = [0u8; 8];
    let got = len.min(8) as usize;
    file.read_exact_at(0, &mut head[..got])?;
    if head[..got].starts_with(b"PK\x03\x04") {
        return Err(Error::input(
            path,
            "is a zip archive (torch.save / numpy.savez?), not a safetensors file; write it with \
             safetensors.torch.save_file({\"params\": p, \"grads\": g}, path) or \
             safetensors.numpy.save_file(...)",
        ));
    }
    if head[..got].starts_with(b"\x93NUMPY") {
        return Err(Error::input(
            path,
            "is a .npy file, not a safetensors file; name it params.npy / grads.npy / ... \
             instead of checkpoint.safetensors",
        ));
    }
    if len < N_LEN as u64 {
        return Err(Error::input(
            path,
            format!(
                "is not a valid safetensors file: it has {len} bytes, fewer than the 8-byte \
                 header length; re-export it with safetensors save_file"
            ),
        ));
    }
    let n = u64::from_le_bytes(head);
    if n > len - N_LEN as u64 {
        return Err(Error::input(
            path,
            format!(
                "is not a valid safetensors file: the header length announced in the first 8 \
                 bytes ({n}) exceeds the file size ({len} bytes); the file is truncated or not \
                 safetensors"
            ),
        ));
    }
    if n > HEADER_MAX_BYTES {
        return Err(Error::input(
            path,
            format!(
                "is not a valid safetensors file: its header of {n} bytes is above the \
                 {HEADER_MAX_BYTES}-byte limit; re-export it with save_file"
            ),
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact_at(N_LEN as u64, &mut header)?;
    let (tensors, user_metadata) = parse_header(&header).map_err(|m| Error::input(path, m))?;
    let data_start = N_LEN as u64 + n;
    check_cover(&tensors, len - data_start).map_err(|m| Error::input(path, m))?;
    Ok(SafetensorsFile {
        file: Arc::new(file),
        data_start,
        tensors,
        user_metadata,
    })
}

/// Parses the JSON header into typed entries (each error names its tensor), sorted by offset.
pub fn parse_header(header: &[u8]) -> std::result::Result<Header, String> {
    let text = std::str::from_utf8(header).map_err(|e| {
        format!("is not a valid safetensors file (the header is not UTF-8: {e}); re-export it")
    })?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| {
            gate::clip(&format!(
                "is not a valid safetensors file (header: {e}); re-export it with save_file"
            ))
        })?;
    let mut tensors = Vec::with_capacity(map.len());
    let mut user = None;
    for (name, value) in map {
        if name == "__metadata__" {
            user = Some(serde_json::from_value(value).map_err(|e| {
                gate::clip(&format!(
                    "is not a valid safetensors file (__metadata__ must map strings to \
                     strings: {e}); re-export it"
                ))
            })?);
            continue;
        }
        let info: TensorInfo = serde_json::from_value(value).map_err(|e| {
            gate::clip(&format!(
                "is not a valid safetensors file: the header entry of tensor \"{name}\" is \
                 malformed ({e}); re-export it"
            ))
        })?;
        tensors.push((name, info));
    }
    tensors.sort_by_key(|(_, t)| t.data_offsets);
    Ok((tensors, user))
}

/// Checks that the tensors, in offset order, tile the `data_len` bytes after the header exactly
/// and that each one's byte length is elements × dtype size (checked arithmetic).
pub fn check_cover(
    tensors: &[(String, TensorInfo)],
    data_len: u64,
) -> std::result::Result<(), String> {
    let mut end = 0u64;
    for (name, info) in tensors {
        let (b, e) = (info.data_offsets.0 as u64, info.data_offsets.1 as u64);
        let need = info
            .shape
            .iter()
            .try_fold(1u64, |a, &s| a.checked_mul(s as u64))
            .and_then(|c| c.checked_mul(info.dtype.bitsize() as u64))
            .map(|bits| bits.div_ceil(8));
        if b != end || e < b {
            return Err(gate::clip(&format!(
                "tensor \"{name}\" has data_offsets [{b}, {e}] but the previous tensor ends at \
                 {end}; the offsets must tile the data section, re-export the file"
            )));
        }
        if need != Some(e - b) {
            return Err(gate::clip(&format!(
                "tensor \"{name}\" has shape {:?} and dtype {} ({} bytes) but data_offsets \
                 [{b}, {e}] hold {} bytes; re-export the file",
                info.shape,
                info.dtype,
                need.map_or("an overflowing number of".to_string(), |x| x.to_string()),
                e - b
            )));
        }
        end = e;
    }
    match end.cmp(&data_len) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(format!(
            "is truncated: the header announces {end} bytes of tensor data but only {data_len} \
             follow it; re-export it"
        )),
        std::cmp::Ordering::Less => Err(format!(
            "has trailing bytes: the header announces {end} bytes of tensor data but {data_len} \
             follow it; re-export it"
        )),
    }
}

impl SafetensorsFile {
    /// The file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Tensor names in file order (by data offset).
    pub fn names(&self) -> Vec<String> {
        self.tensors.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The optional `__metadata__` string map written by `save_file(..., metadata=...)`.
    pub fn user_metadata(&self) -> Option<&HashMap<String, String>> {
        self.user_metadata.as_ref()
    }

    /// The tensor `name`, or `Ok(None)` when the file has no such tensor.
    ///
    /// Fails when the tensor's dtype is not F16, BF16, F32 or F64 (the message names the dtype
    /// found). Cost O(1); the handle shares the mapping and reads no data until streamed.
    pub fn tensor(&self, name: &str) -> Result<Option<SafetensorsTensor>> {
        let Some((_, info)) = self.tensors.iter().find(|(n, _)| n == name) else {
            return Ok(None);
        };
        let dtype = FloatDtype::from_safetensors(info.dtype).ok_or_else(|| {
            Error::input(
                self.path(),
                format!(
                    "tensor \"{name}\" has an unsupported dtype: found {}, expected F16, BF16, \
                     F32 or F64 (convert with tensor.float() or arr.astype(numpy.float32) \
                     before save_file)",
                    info.dtype
                ),
            )
        })?;
        // `open_tensors` checked that the offsets tile the data section and that each tensor's
        // byte length equals elements × dtype size.
        Ok(Some(SafetensorsTensor {
            file: Arc::clone(&self.file),
            name: name.to_string(),
            layout: Layout {
                offset: self.data_start + info.data_offsets.0 as u64,
                shape: info.shape.clone(),
                dtype: dtype.dtype(),
                fortran: false,
            },
            dtype,
        }))
    }

    /// Like [`SafetensorsFile::tensor`], but a missing tensor is an error that lists the tensors
    /// the file does have.
    pub fn require(&self, name: &str) -> Result<SafetensorsTensor> {
        self.tensor(name)?.ok_or_else(|| {
            Error::input(
                self.path(),
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

/// One floating-point tensor of a safetensors file; cheap to clone (it shares the open file).
#[derive(Clone)]
pub struct SafetensorsTensor {
    file: Arc<GatedFile>,
    name: String,
    layout: Layout,
    dtype: FloatDtype,
}

impl std::fmt::Debug for SafetensorsTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsTensor")
            .field("path", &self.file.path())
            .field("name", &self.name)
            .field("shape", &self.layout.shape)
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
        self.layout.shape.iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the number of dimensions; `what` describes the expected shape, e.g. "(n, d)".
    pub fn expect_ndim(&self, ndim: usize, what: &str) -> Result<()> {
        if self.layout.shape.len() != ndim {
            return Err(Error::input(
                self.file.path(),
                format!(
                    "tensor \"{}\" has shape {:?} but the format expects a {ndim}-D array {what}",
                    self.name, self.layout.shape
                ),
            ));
        }
        Ok(())
    }

    /// Streams every element in C order as `f(row, col, value)` (a 1-D tensor has `col == 0`, a
    /// 0-D tensor is one element at `[0, 0]`), widened exactly to f64 by the block reader. Stops
    /// at the first non-finite value with an error naming the tensor and the index `[row, col]`,
    /// after visiting exactly the elements before it. Cost O(len) time, memory one block.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize, f64)) -> Result<()> {
        ArraySource::for_each(self, &mut f)
    }

    /// The whole tensor as f64 in C order. Use only for tensors that are small by construction
    /// (params, losses); cost O(len) memory.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let (rows, cols) = self.layout.rows_cols();
        let mut c = super::kernels::Collect::new(rows, cols);
        ArraySource::stream(self, &mut c)?;
        Ok(c.out)
    }
}

impl ArraySource for SafetensorsTensor {
    fn file(&self) -> &Arc<GatedFile> {
        &self.file
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn describe(&self) -> String {
        format!("{}[{}]", self.file.path().display(), self.name)
    }
    fn label(&self) -> String {
        format!("tensor \"{}\" ", self.name)
    }
}
