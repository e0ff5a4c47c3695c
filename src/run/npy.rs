//! Reading and writing NumPy `.npy` files, with the checks the run-directory format demands:
//! float32/float64 (or int32/int64 for step indices), little-endian, C or Fortran order, the
//! expected number of dimensions, and no truncation. Files are opened through the input gate
//! (`gate.rs`: regular files only, header size capped, shape byte sizes checked) and read in
//! blocks by the streaming pass (`pass.rs`), never mapped, so an (n, d) gradient matrix is never
//! held whole unless the caller asks for it. The header is parsed by `npyz`.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use npyz::{DType, Order, TypeChar, WriterBuilder};

use super::gate::{self, GatedFile, HEADER_MAX_BYTES};
use super::pass::{self, Dtype, Layout};
use crate::error::{Error, Result};

/// Element type of a numeric `.npy` array accepted by the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    F32,
    F64,
    I32,
    I64,
}

impl Elem {
    fn name(self) -> &'static str {
        self.dtype().name()
    }

    fn dtype(self) -> Dtype {
        match self {
            Elem::F32 => Dtype::F32,
            Elem::F64 => Dtype::F64,
            Elem::I32 => Dtype::I32,
            Elem::I64 => Dtype::I64,
        }
    }
}

/// An opened `.npy` file whose header has been validated.
#[derive(Debug, Clone)]
pub struct NpyArray {
    file: Arc<GatedFile>,
    layout: Layout,
    elem: Elem,
}

impl NpyArray {
    /// Opens and validates `path`. Integers are accepted only when `allow_int` is true.
    /// Cost: one open and a header read (at most [`HEADER_MAX_BYTES`]); no data is read.
    pub fn open(path: &Path, allow_int: bool) -> Result<Self> {
        let file = gate::open(path)?;
        let (offset, header) = read_header(&file)?;
        precheck_header(path, &header)?;
        let npy = npyz::NpyFile::new(&header[..]).map_err(|e| header_error(path, &e, &header))?;
        let expected = if allow_int {
            "float32, float64, int32 or int64"
        } else {
            "float32 or float64"
        };
        let convert = if allow_int {
            "arr.astype('<i8')"
        } else {
            "arr.astype('<f8')"
        };
        let elem = match npy.dtype() {
            DType::Plain(ts) => plain_elem(path, &ts, allow_int, expected, convert)?,
            DType::Record(fields) => {
                let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
                return Err(Error::input(
                    path,
                    gate::clip(&format!(
                        "has a structured dtype with fields {}; expected a plain {expected} \
                         array (save one field, e.g. arr['{}'], or {convert})",
                        names.join(", "),
                        names.first().map(String::as_str).unwrap_or("x")
                    )),
                ));
            }
            DType::Array(..) => {
                return Err(Error::input(
                    path,
                    format!("has a sub-array dtype; expected a plain {expected} array"),
                ))
            }
        };
        let shape = npy
            .shape()
            .iter()
            .map(|&s| usize::try_from(s).ok())
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| too_large(path, npy.shape()))?;
        if shape.len() > 2 {
            return Err(Error::input(
                path,
                format!("has shape {shape:?}; expected a 1-D or 2-D array"),
            ));
        }
        let data_bytes = gate::checked_bytes(&shape, elem.dtype().size())
            .ok_or_else(|| too_large(path, npy.shape()))?;
        let available = file.len().saturating_sub(offset);
        if available < data_bytes {
            return Err(Error::input(
                path,
                format!(
                    "file is truncated: the header announces shape {shape:?} ({data_bytes} bytes \
                     of data) but only {available} bytes follow the header; re-export the array"
                ),
            ));
        }
        Ok(NpyArray {
            file: Arc::new(file),
            layout: Layout {
                offset,
                shape,
                dtype: elem.dtype(),
                fortran: npy.order() == Order::Fortran,
            },
            elem,
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }
    pub fn elem(&self) -> Elem {
        self.elem
    }
    pub fn elem_name(&self) -> &'static str {
        self.elem.name()
    }
    /// The opened file (shared with every reader of it; carries its SHA-256 once read).
    pub fn file(&self) -> &Arc<GatedFile> {
        &self.file
    }
    /// Where the data lives in the file.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.layout.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the number of dimensions; `what` describes the expected shape, e.g. "(n, d)".
    pub fn expect_ndim(&self, ndim: usize, what: &str) -> Result<()> {
        if self.layout.shape.len() != ndim {
            return Err(Error::input(
                self.path(),
                format!(
                    "has shape {:?} but the format expects a {ndim}-D array {what}",
                    self.layout.shape
                ),
            ));
        }
        Ok(())
    }

    /// Visits every element as `f(row, col, value)` for a 0-D, 1-D or 2-D array (a 1-D array
    /// has `col == 0`), widened to f64, via the block reader. Stops at the first non-finite
    /// value, reported with its position. Cost O(len); memory one block.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize, f64)) -> Result<()> {
        super::array::ArraySource::for_each(self, &mut f)
    }

    /// The whole array as f64 in C (row-major) order. Use only for arrays that are small by
    /// construction (params, losses, a projected matrix); cost O(len) memory, bounded by twice
    /// the file size.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let (rows, cols) = self.layout.rows_cols();
        let mut c = super::kernels::Collect::new(rows, cols);
        super::array::ArraySource::stream(self, &mut c)?;
        Ok(c.out)
    }

    /// Integer contents (for step indices), in C order.
    pub fn to_vec_i64(&self) -> Result<Vec<i64>> {
        let v = pass::read_i64(&self.file, &self.layout)?;
        if self.file.sha256().is_none() {
            pass::stream_file(&self.file, &mut [])?;
        }
        Ok(v)
    }
}

fn too_large(path: &Path, shape: &[u64]) -> Error {
    Error::input(
        path,
        format!(
            "header announces shape {shape:?}, whose byte size overflows; the header is \
             corrupt, re-export the array with numpy.save"
        ),
    )
}

/// Reads the preamble and header of an .npy file: (offset of the data, header bytes).
fn read_header(file: &GatedFile) -> Result<(u64, Vec<u8>)> {
    let path = file.path();
    let bad = |what: &str| {
        Error::input(
            path,
            format!("not a valid .npy file ({what}); write it with numpy.save"),
        )
    };
    if file.len() < 10 {
        return Err(bad("too short for the .npy preamble"));
    }
    let mut pre = [0u8; 12];
    let n = file.len().min(12) as usize;
    file.read_exact_at(0, &mut pre[..n])?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(bad("magic not found for NPY file"));
    }
    let (hl, start) = match pre[6] {
        1 => (u64::from(u16::from_le_bytes([pre[8], pre[9]])), 10u64),
        2 | 3 if n == 12 => (
            u64::from(u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]])),
            12,
        ),
        v => return Err(bad(&format!("unsupported version {v}"))),
    };
    if hl > HEADER_MAX_BYTES {
        return Err(Error::input(
            path,
            format!(
                "announces a {hl}-byte header, above the {HEADER_MAX_BYTES}-byte limit; the file \
                 is corrupt or not an .npy file"
            ),
        ));
    }
    let end = start + hl;
    if end > file.len() {
        return Err(bad("the header runs past the end of the file"));
    }
    let mut header = vec![0u8; end as usize];
    file.read_exact_at(0, &mut header)?;
    Ok((end, header))
}

/// Checks what the header parser must not see: nesting deeper than any numpy header (a
/// pathological literal would take the parser minutes) and a shape whose element count overflows
/// (the parser multiplies the dimensions unchecked).
fn precheck_header(path: &Path, header: &[u8]) -> Result<()> {
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    for &b in header {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if max_depth > MAX_HEADER_NESTING {
        return Err(Error::input(
            path,
            format!(
                "not a valid .npy file (its header nests {max_depth} levels deep, numpy writes at \
                 most a few); write it with numpy.save"
            ),
        ));
    }
    let text = String::from_utf8_lossy(header);
    // Every `'shape'` key (a literal may repeat a key; the last one wins in the parser).
    for (start, _) in text.match_indices("'shape'") {
        let rest = &text[start..];
        let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else {
            continue;
        };
        if open > close {
            continue;
        }
        let dims: Vec<u64> = rest[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .filter_map(|t| t.trim_end_matches('L').parse().ok())
            .collect();
        if dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .is_none()
        {
            return Err(too_large(path, &dims));
        }
    }
    Ok(())
}

/// Deepest bracket nesting accepted in an .npy header (structured dtypes nest a few levels).
const MAX_HEADER_NESTING: usize = 32;

/// The message for an object-dtype array.
const OBJECT_DTYPE: &str = "has dtype object (pickled Python objects); expected a numeric array \
                            (convert with numpy.asarray(arr, dtype=numpy.float64) before \
                            numpy.save)";

/// A clear message for a header `npyz` refused (object dtypes, bad syntax).
fn header_error(path: &Path, e: &std::io::Error, header: &[u8]) -> Error {
    let text = String::from_utf8_lossy(header);
    if text.contains("'descr': '|O'") || text.contains("'descr': 'O'") {
        return Error::input(path, OBJECT_DTYPE);
    }
    Error::input(
        path,
        gate::clip(&format!(
            "not a valid .npy file ({e}); write it with numpy.save"
        )),
    )
}

fn plain_elem(
    path: &Path,
    ts: &npyz::TypeStr,
    allow_int: bool,
    expected: &str,
    convert: &str,
) -> Result<Elem> {
    if ts.endianness() == npyz::Endianness::Big {
        return Err(Error::input(
            path,
            format!(
                "dtype {ts} ({} big-endian) is not supported; expected little-endian {expected} \
                 (convert with {convert})",
                friendly(ts)
            ),
        ));
    }
    if ts.type_char() == TypeChar::Object {
        // npyz ≥ 0.9 parses object headers (0.8 refused them: see `header_error`).
        return Err(Error::input(path, OBJECT_DTYPE));
    }
    match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => Ok(Elem::F32),
        (TypeChar::Float, 8) => Ok(Elem::F64),
        (TypeChar::Int, 4) if allow_int => Ok(Elem::I32),
        (TypeChar::Int, 8) if allow_int => Ok(Elem::I64),
        _ => Err(Error::input(
            path,
            format!(
                "dtype {ts} ({}) is not supported; expected {expected} (convert with {convert})",
                friendly(ts)
            ),
        )),
    }
}

/// numpy's name of a plain dtype, e.g. "int64" for `<i8`.
fn friendly(ts: &npyz::TypeStr) -> String {
    let bits = ts.size_field() * 8;
    match ts.type_char() {
        TypeChar::Float => format!("float{bits}"),
        TypeChar::Int => format!("int{bits}"),
        TypeChar::Uint => format!("uint{bits}"),
        TypeChar::Complex => format!("complex{bits}"),
        TypeChar::Bool => "bool".into(),
        _ => "non-numeric".into(),
    }
}

/// Reads a 1-D or 2-D float array as (shape, data in C order).
pub fn read_f64(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    let a = NpyArray::open(path, false)?;
    let data = a.to_vec_f64()?;
    Ok((a.shape().to_vec(), data))
}

/// Writes `data` (C order) with `shape` as little-endian float64.
pub fn write_f64(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    write_impl(path, shape, data.iter().copied())
}

/// Writes `data` (C order) with `shape` as little-endian float32.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    write_impl(path, shape, data.iter().copied())
}

/// Writes a 1-D int64 array.
pub fn write_i64(path: &Path, data: &[i64]) -> Result<()> {
    write_impl(path, &[data.len()], data.iter().copied())
}

fn write_impl<T: npyz::AutoSerialize>(
    path: &Path,
    shape: &[usize],
    data: impl Iterator<Item = T>,
) -> Result<()> {
    let err = |e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = File::create(path).map_err(err)?;
    let shape64: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape64)
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(err)?;
    w.extend(data).map_err(err)?;
    w.finish().map_err(err)?;
    Ok(())
}
