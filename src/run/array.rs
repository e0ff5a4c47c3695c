//! A numeric array stored in some file format, read by streaming. The reader of the run
//! directory only uses this trait, so `.npy` and `.safetensors` inputs go through one path.

use std::path::Path;

use crate::error::Result;

/// A 1-D or 2-D numeric array that can be streamed element by element in f64.
pub trait ArraySource: Send + Sync {
    /// The file the array lives in (named in every error message).
    fn path(&self) -> &Path;
    /// Human-readable location, e.g. `".../grads.npy"` or `".../checkpoint.safetensors[grads]"`.
    fn describe(&self) -> String;
    /// Shape as stored.
    fn shape(&self) -> &[usize];
    /// Element type as stored, e.g. `"float32"`, `"bfloat16"`.
    fn dtype_name(&self) -> &'static str;
    /// Calls `f(row, col, value)` for every element (any order; a 1-D array has `col == 0`).
    /// Fails on the first non-finite value, naming its position.
    fn for_each(&self, f: &mut dyn FnMut(usize, usize, f64)) -> Result<()>;
}

impl ArraySource for super::npy::NpyArray {
    fn path(&self) -> &Path {
        super::npy::NpyArray::path(self)
    }
    fn describe(&self) -> String {
        self.path().display().to_string()
    }
    fn shape(&self) -> &[usize] {
        super::npy::NpyArray::shape(self)
    }
    fn dtype_name(&self) -> &'static str {
        self.elem_name()
    }
    fn for_each(&self, f: &mut dyn FnMut(usize, usize, f64)) -> Result<()> {
        super::npy::NpyArray::for_each(self, f)
    }
}
