//! A numeric array stored in some file format, read by streaming blocks. The reader of the run
//! directory only uses this trait, so `.npy` and `.safetensors` inputs go through one path: the
//! file gate (`gate.rs`) and the block pass (`pass.rs`).

use std::path::Path;
use std::sync::Arc;

use super::gate::GatedFile;
use super::pass::{self, Block, BlockSink, Layout, Region};
use crate::error::Result;

/// A 0-D, 1-D or 2-D numeric array that hands out blocks of f64 values.
pub trait ArraySource: Send + Sync {
    /// The opened file the array lives in (shared by all arrays of that file).
    fn file(&self) -> &Arc<GatedFile>;
    /// Where and how the array is stored.
    fn layout(&self) -> &Layout;
    /// Human-readable location, e.g. `".../grads.npy"` or `".../checkpoint.safetensors[grads]"`.
    fn describe(&self) -> String;

    /// What to call the array in errors after the file name: empty for an .npy file,
    /// `tensor "grads" ` for a tensor of a safetensors file.
    fn label(&self) -> String {
        String::new()
    }

    /// The file the array lives in (named in every error message).
    fn path(&self) -> &Path {
        self.file().path()
    }
    /// Shape as stored.
    fn shape(&self) -> &[usize] {
        &self.layout().shape
    }
    /// Element type as stored, e.g. `"float32"`, `"bfloat16"`.
    fn dtype_name(&self) -> &'static str {
        self.layout().dtype.name()
    }

    /// This array as a region of its file, consumed by `sinks`.
    fn region<'a>(&'a self, sinks: Vec<&'a mut dyn BlockSink>) -> Region<'a> {
        Region {
            layout: self.layout(),
            label: self.label(),
            sinks,
        }
    }

    /// Streams the array's blocks (in file order) to `sink`; fails on the first non-finite
    /// value, naming its position. Hashes the file on the way when it has not been hashed yet
    /// (then the whole file is read once). Cost O(file size) when hashing, else O(len).
    fn stream(&self, sink: &mut dyn BlockSink) -> Result<()> {
        let mut regions = [self.region(vec![sink])];
        pass::stream_file(self.file(), &mut regions)
    }

    /// Calls `f(row, col, value)` for every element (row-major within each block; a 1-D array
    /// has `col == 0`). Fails on the first non-finite value, naming its position.
    fn for_each(&self, f: &mut dyn FnMut(usize, usize, f64)) -> Result<()> {
        let mut sink = |b: &Block| {
            for i in b.rows.clone() {
                for j in b.cols.clone() {
                    f(i, j, b.get(i, j));
                }
            }
        };
        self.stream(&mut sink)
    }
}

impl ArraySource for super::npy::NpyArray {
    fn file(&self) -> &Arc<GatedFile> {
        super::npy::NpyArray::file(self)
    }
    fn layout(&self) -> &Layout {
        super::npy::NpyArray::layout(self)
    }
    fn describe(&self) -> String {
        self.path().display().to_string()
    }
}
