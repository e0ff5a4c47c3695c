//! Reading and writing NumPy `.npy` files (via `npyz`), with the checks the run-directory format
//! demands: float32/float64 (or int32/int64 for step indices), little-endian, C or Fortran order,
//! the expected number of dimensions, and no truncation. Files are memory-mapped and can be
//! streamed element by element, so an (n, d) gradient matrix is never copied whole unless the
//! caller asks for it.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use npyz::{DType, Order, TypeChar, WriterBuilder};

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
        match self {
            Elem::F32 => "float32",
            Elem::F64 => "float64",
            Elem::I32 => "int32",
            Elem::I64 => "int64",
        }
    }
}

/// A memory-mapped `.npy` file whose header has been validated.
pub struct NpyArray {
    path: PathBuf,
    map: Mmap,
    shape: Vec<usize>,
    elem: Elem,
    fortran: bool,
}

impl std::fmt::Debug for NpyArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyArray")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("elem", &self.elem)
            .field("fortran", &self.fortran)
            .finish()
    }
}

impl NpyArray {
    /// Opens and validates `path`. Integers are accepted only when `allow_int` is true.
    /// Cost: one mmap and a header parse; no data is read.
    pub fn open(path: &Path, allow_int: bool) -> Result<Self> {
        let file = File::open(path).map_err(|e| {
            Error::input(
                path,
                format!("cannot open ({e}); the run-directory format requires this file"),
            )
        })?;
        // SAFETY: the mapping is read-only; a run directory that is modified while sgd-ou reads
        // it may give wrong numbers, as with any reader, but no memory unsafety beyond that.
        let map = unsafe { Mmap::map(&file) }
            .map_err(|e| Error::input(path, format!("cannot map file: {e}")))?;
        let npy = npyz::NpyFile::new(&map[..]).map_err(|e| {
            Error::input(
                path,
                format!("not a valid .npy file ({e}); write it with numpy.save"),
            )
        })?;
        let expected = if allow_int {
            "float32, float64, int32 or int64"
        } else {
            "float32 or float64"
        };
        let elem = match npy.dtype() {
            DType::Plain(ts) => {
                if ts.endianness() == npyz::Endianness::Big {
                    return Err(Error::input(
                        path,
                        format!(
                            "dtype {ts} is big-endian; expected little-endian {expected} \
                             (convert with arr.astype('<f8'))"
                        ),
                    ));
                }
                match (ts.type_char(), ts.size_field()) {
                    (TypeChar::Float, 4) => Elem::F32,
                    (TypeChar::Float, 8) => Elem::F64,
                    (TypeChar::Int, 4) if allow_int => Elem::I32,
                    (TypeChar::Int, 8) if allow_int => Elem::I64,
                    _ => {
                        return Err(Error::input(
                            path,
                            format!(
                                "dtype {ts} ({}) is not supported; expected {expected} \
                                 (convert with arr.astype(numpy.float64))",
                                friendly(&ts)
                            ),
                        ))
                    }
                }
            }
            other => {
                return Err(Error::input(
                    path,
                    format!("structured dtype {other:?} is not supported; expected {expected}"),
                ))
            }
        };
        let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
        let fortran = npy.order() == Order::Fortran;
        let elem_size = match elem {
            Elem::F32 | Elem::I32 => 4,
            Elem::F64 | Elem::I64 => 8,
        };
        let count: usize = shape.iter().product();
        let data_bytes = count * elem_size;
        let available = npy_data_len(&map);
        if available < data_bytes {
            return Err(Error::input(
                path,
                format!(
                    "file is truncated: the header announces shape {shape:?} ({data_bytes} bytes \
                     of data) but only {} bytes follow the header; re-export the array",
                    available
                ),
            ));
        }
        Ok(NpyArray {
            path: path.to_path_buf(),
            map,
            shape,
            elem,
            fortran,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn elem(&self) -> Elem {
        self.elem
    }
    pub fn elem_name(&self) -> &'static str {
        self.elem.name()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the number of dimensions; `what` describes the expected shape, e.g. "(n, d)".
    pub fn expect_ndim(&self, ndim: usize, what: &str) -> Result<()> {
        if self.shape.len() != ndim {
            return Err(Error::input(
                &self.path,
                format!(
                    "has shape {:?} but the format expects a {ndim}-D array {what}",
                    self.shape
                ),
            ));
        }
        Ok(())
    }

    /// Visits every element in file order as `f(row, col, value)` for a 1-D or 2-D array (a 1-D
    /// array has `col == 0`). Values are widened to f64. Stops at and returns the first error
    /// (including a non-finite value, reported with its position). Cost O(len), no allocation.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize, f64)) -> Result<()> {
        let (rows, cols) = match self.shape.len() {
            0 => (1, 1),
            1 => (self.shape[0], 1),
            2 => (self.shape[0], self.shape[1]),
            _ => {
                return Err(Error::input(
                    &self.path,
                    format!("has shape {:?}; expected a 1-D or 2-D array", self.shape),
                ))
            }
        };
        let fortran = self.fortran;
        let path = &self.path;
        let mut idx = 0usize;
        let mut visit = |v: f64| -> Result<()> {
            let (i, j) = if fortran {
                (idx % rows, idx / rows)
            } else {
                (idx / cols, idx % cols)
            };
            if !v.is_finite() {
                return Err(Error::input(
                    path,
                    format!(
                        "contains a non-finite value ({v}) at index [{i}, {j}]; \
                         NaN/Inf gradients mean the run diverged or the export is broken"
                    ),
                ));
            }
            f(i, j, v);
            idx += 1;
            Ok(())
        };
        let npy = npyz::NpyFile::new(&self.map[..])
            .map_err(|e| Error::input(&self.path, format!("cannot read: {e}")))?;
        let rerr = |e: std::io::Error| Error::input(path, format!("cannot read data: {e}"));
        match self.elem {
            Elem::F32 => {
                for v in npy
                    .data::<f32>()
                    .map_err(|e| Error::input(path, e.to_string()))?
                {
                    visit(f64::from(v.map_err(rerr)?))?;
                }
            }
            Elem::F64 => {
                for v in npy
                    .data::<f64>()
                    .map_err(|e| Error::input(path, e.to_string()))?
                {
                    visit(v.map_err(rerr)?)?;
                }
            }
            Elem::I32 => {
                for v in npy
                    .data::<i32>()
                    .map_err(|e| Error::input(path, e.to_string()))?
                {
                    visit(f64::from(v.map_err(rerr)?))?;
                }
            }
            Elem::I64 => {
                for v in npy
                    .data::<i64>()
                    .map_err(|e| Error::input(path, e.to_string()))?
                {
                    visit(v.map_err(rerr)? as f64)?;
                }
            }
        }
        Ok(())
    }

    /// The whole array as f64 in C (row-major) order. Use only for arrays that are small by
    /// construction (params, losses, a projected matrix); cost O(len) memory.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let cols = if self.shape.len() == 2 {
            self.shape[1]
        } else {
            1
        };
        let mut out = vec![0.0; self.len()];
        self.for_each(|i, j, v| out[i * cols + j] = v)?;
        Ok(out)
    }

    /// Integer contents (for step indices), in C order.
    pub fn to_vec_i64(&self) -> Result<Vec<i64>> {
        let npy = npyz::NpyFile::new(&self.map[..])
            .map_err(|e| Error::input(&self.path, format!("cannot read: {e}")))?;
        let bad = |e: String| Error::input(&self.path, e);
        match self.elem {
            Elem::I64 => npy.into_vec::<i64>().map_err(|e| bad(e.to_string())),
            Elem::I32 => Ok(npy
                .into_vec::<i32>()
                .map_err(|e| bad(e.to_string()))?
                .into_iter()
                .map(i64::from)
                .collect()),
            _ => Err(bad(format!(
                "has dtype {}; expected int64 or int32 step numbers",
                self.elem.name()
            ))),
        }
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

/// Bytes after the header of an .npy file (0 when the header cannot be parsed).
fn npy_data_len(map: &[u8]) -> usize {
    // Magic (6) + version (2) + header length (2 bytes in v1, 4 in v2/v3).
    if map.len() < 10 || &map[..6] != b"\x93NUMPY" {
        return 0;
    }
    let major = map[6];
    let (hl, off) = if major == 1 {
        (u16::from_le_bytes([map[8], map[9]]) as usize, 10)
    } else if map.len() >= 12 {
        (
            u32::from_le_bytes([map[8], map[9], map[10], map[11]]) as usize,
            12,
        )
    } else {
        return 0;
    };
    map.len().saturating_sub(off + hl)
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
