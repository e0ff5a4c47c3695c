//! The streaming pass: one sequential read of a file, in blocks, feeding every consumer.
//!
//! [`stream_file`] reads a file from its first to its last byte with positioned reads of at most
//! [`BLOCK_BYTES`] of widened data, hashes every byte (SHA-256, once per file), and hands each
//! array stored in it (a [`Region`]) to its consumers as [`Block`]s of f64: whole rows when a row
//! fits in a block, otherwise segments of one row ("column panels"), always in file order, so a
//! consumer sees every row's columns in increasing order. Values are widened from
//! f16/bf16/f32/f64 (or int32/int64) to f64 per block, and checked finite in the same loop.
//! When a row is wider than a block, groups of up to [`MAX_GROUP`] rows ([`GROUP_BYTES`] raw) are
//! read at once and handed out as tiles of (those rows × a column range), so that the rows share
//! each load of the basis panel; every sink's results are bit-identical to the one-row plan.
//!
//! Consumers implement [`BlockSink`]; the projection onto an analysis basis, the column sums and
//! the per-coordinate moments are sinks (see `kernels.rs`), and more can ride on the same pass
//! (the coordinate screen of the analysis-bases issue). Memory: one raw block (or one group of
//! rows, at most [`GROUP_BYTES`]) and one widened block per thread, independent of the file size. Cost: O(bytes) plus what the sinks do.

use std::ops::Range;

use sha2::{Digest, Sha256};

use super::gate::{hex, GatedFile};
use super::progress;
use crate::error::{Error, Result};

/// Widened bytes per block (f64): 512 KiB, so a block and its raw bytes stay in the L2 cache
/// while hashing, widening and every sink go over it.
pub const BLOCK_BYTES: usize = 512 << 10;

/// Raw bytes of a group of lines read at once when a line is wider than a block (see
/// [`stream_lines_in_panels`]): 32 MiB per thread, so that up to [`MAX_GROUP`] rows share each
/// load of the basis panel instead of streaming the whole d × k basis from memory once per row.
pub const GROUP_BYTES: usize = 32 << 20;

/// Most lines in one group.
pub const MAX_GROUP: usize = 32;

/// Widened bytes of one tile of a group (g lines × a column range): 128 KiB, so the tile and the
/// matching basis panel stay in a core's L2 cache while every sink goes over them.
pub const TILE_BYTES: usize = 128 << 10;

/// Element type of a stored array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F16,
    BF16,
    F32,
    F64,
    I32,
    I64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    /// NumPy-style name.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F16 => "float16",
            Dtype::BF16 => "bfloat16",
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
        }
    }
}

/// Where and how an array is stored in its file (shape validated against the file size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the first data byte.
    pub offset: u64,
    /// Shape as stored: 0-D, 1-D or 2-D.
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    /// Column-major (npy `fortran_order`).
    pub fortran: bool,
}

impl Layout {
    /// (rows, cols): a 0-D array is 1 × 1, a 1-D array of n is n × 1.
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.len() {
            0 => (1, 1),
            1 => (self.shape[0], 1),
            _ => (self.shape[0], self.shape[1]),
        }
    }

    /// Data bytes (the shape was checked at opening, so this cannot overflow).
    pub fn data_bytes(&self) -> u64 {
        let (r, c) = self.rows_cols();
        (r * c * self.dtype.size()) as u64
    }
}

/// A block of widened values: rows `rows` × columns `cols` of the array.
/// Row-major (`data[(i - rows.start) * cols.len() + (j - cols.start)]`) unless `col_major`.
#[derive(Debug)]
pub struct Block<'a> {
    pub rows: Range<usize>,
    pub cols: Range<usize>,
    pub col_major: bool,
    pub data: &'a [f64],
}

impl Block<'_> {
    /// Value at absolute (row, col).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        let (r, c) = (i - self.rows.start, j - self.cols.start);
        if self.col_major {
            self.data[c * self.rows.len() + r]
        } else {
            self.data[r * self.cols.len() + c]
        }
    }
}

/// A consumer of the blocks of one array.
pub trait BlockSink {
    /// Called for every block, in file order.
    fn consume(&mut self, block: &Block);
}

impl<F: FnMut(&Block)> BlockSink for F {
    fn consume(&mut self, block: &Block) {
        self(block)
    }
}

/// One array of a file and the sinks that consume it.
pub struct Region<'a> {
    pub layout: &'a Layout,
    /// What to call the array in errors after the file name: empty for an .npy file,
    /// `tensor "grads" ` for a safetensors tensor.
    pub label: String,
    pub sinks: Vec<&'a mut dyn BlockSink>,
}

/// Reads `file` once from start to end: hashes every byte (unless the hash is known already)
/// and streams each region (sorted by offset, non-overlapping) to its sinks. Bytes outside the
/// regions are only hashed. Cost O(file size); memory two blocks.
pub fn stream_file(file: &GatedFile, regions: &mut [Region]) -> Result<()> {
    let mut hasher = file.sha256().is_none().then(Sha256::new);
    let mut raw = Vec::new();
    let mut wide = Vec::new();
    let mut pos = 0u64;
    for region in regions.iter() {
        if region.layout.shape.len() > 2 {
            return Err(Error::input(
                file.path(),
                format!(
                    "{}has shape {:?}; expected a 1-D or 2-D array (flatten the parameters into \
                     one vector)",
                    region.label, region.layout.shape
                ),
            ));
        }
    }
    for region in regions.iter_mut() {
        skip_to(
            file,
            &mut pos,
            region.layout.offset,
            hasher.as_mut(),
            &mut raw,
        )?;
        if let Some(g) = group_lines(region.layout) {
            let mut ctx = PanelCtx {
                file,
                pos: &mut pos,
                hasher: hasher.as_mut(),
                raw: &mut raw,
                wide: &mut wide,
            };
            stream_lines_in_panels(&mut ctx, region, g)?;
            continue;
        }
        for (rows, cols) in plan(region.layout) {
            let count = rows.len() * cols.len();
            let esize = region.layout.dtype.size();
            raw.resize(count * esize, 0);
            file.read_exact_at(pos, &mut raw)?;
            pos += raw.len() as u64;
            progress::advance(raw.len() as u64);
            if let Some(h) = hasher.as_mut() {
                h.update(&raw);
            }
            wide.resize(count, 0.0);
            if let Some(bad) = widen(region.layout.dtype, &raw, &mut wide) {
                let (r0, c0) = (rows.start, cols.start);
                let (i, j) = if region.layout.fortran {
                    (r0 + bad % rows.len(), c0 + bad / rows.len())
                } else {
                    (r0 + bad / cols.len(), c0 + bad % cols.len())
                };
                for b in prefix_blocks(rows, cols, region.layout.fortran, &wide, bad) {
                    for s in region.sinks.iter_mut() {
                        s.consume(&b);
                    }
                }
                return Err(Error::input(
                    file.path(),
                    format!(
                        "{}contains a non-finite value ({}) at index [{i}, {j}]; NaN/Inf \
                         gradients mean the run diverged or the export is broken",
                        region.label, wide[bad]
                    ),
                ));
            }
            let block = Block {
                rows,
                cols,
                col_major: region.layout.fortran,
                data: &wide,
            };
            for s in region.sinks.iter_mut() {
                s.consume(&block);
            }
        }
    }
    let len = file.len();
    if let Some(mut h) = hasher.take() {
        skip_to(file, &mut pos, len, Some(&mut h), &mut raw)?;
        file.set_sha256(hex(&h.finalize()));
    }
    Ok(())
}

/// Lines per group when an array's lines (rows, or columns in Fortran order) are wider than a
/// block and at least two of them fit in [`GROUP_BYTES`]; `None` for the ordinary block plan.
pub fn group_lines(layout: &Layout) -> Option<usize> {
    let (rows, cols) = layout.rows_cols();
    let (lines, width) = if layout.fortran {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let line_bytes = width.checked_mul(layout.dtype.size())?;
    if width <= BLOCK_BYTES / 8 || lines < 2 || line_bytes == 0 {
        return None;
    }
    let g = (GROUP_BYTES / line_bytes).min(MAX_GROUP).min(lines);
    (g >= 2).then_some(g)
}

/// The reader state [`stream_lines_in_panels`] shares with [`stream_file`].
struct PanelCtx<'c> {
    file: &'c GatedFile,
    pos: &'c mut u64,
    hasher: Option<&'c mut Sha256>,
    raw: &'c mut Vec<u8>,
    wide: &'c mut Vec<f64>,
}

/// Wide lines: reads `g` whole lines at a time (one contiguous positioned read, hashed in file
/// order), then hands them to the sinks as tiles of g lines × a column range of
/// [`TILE_BYTES`] / (8 g) columns, in increasing column order. Every output of the sinks is
/// unchanged: a consumer still sees each line's columns in increasing order (the projection adds
/// x_j·P_j for increasing j per output entry, the moments add per column in increasing row), so
/// results are bit-identical to the one-line plan; what changes is that g rows share each load of
/// the basis panel (memory traffic for the basis falls from 8k to 8k/g bytes per element).
/// On a non-finite value the error names the first one in file order; sinks may then have seen
/// values after it (the caller discards them with the error). Memory: g lines raw + one tile.
fn stream_lines_in_panels(ctx: &mut PanelCtx, region: &mut Region, g: usize) -> Result<()> {
    let layout = region.layout;
    let (rows, cols) = layout.rows_cols();
    let (lines, width) = if layout.fortran {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let esize = layout.dtype.size();
    let tile = (TILE_BYTES / 8 / g).max(1);
    let mut l = 0;
    while l < lines {
        let gl = g.min(lines - l);
        ctx.raw.resize(gl * width * esize, 0);
        ctx.file.read_exact_at(*ctx.pos, ctx.raw)?;
        *ctx.pos += ctx.raw.len() as u64;
        progress::advance(ctx.raw.len() as u64);
        if let Some(h) = ctx.hasher.as_mut() {
            h.update(&ctx.raw[..]);
        }
        let mut s = 0;
        while s < width {
            let e = (s + tile).min(width);
            let tw = e - s;
            ctx.wide.resize(gl * tw, 0.0);
            let mut bad = false;
            for r in 0..gl {
                let src = &ctx.raw[(r * width + s) * esize..(r * width + e) * esize];
                bad |= widen(layout.dtype, src, &mut ctx.wide[r * tw..(r + 1) * tw]).is_some();
            }
            if bad {
                return Err(first_non_finite(ctx, region, l, gl, width));
            }
            let (rows, cols) = if layout.fortran {
                (s..e, l..l + gl)
            } else {
                (l..l + gl, s..e)
            };
            let block = Block {
                rows,
                cols,
                col_major: layout.fortran,
                data: &ctx.wide[..],
            };
            for sink in region.sinks.iter_mut() {
                sink.consume(&block);
            }
            s = e;
        }
        l += gl;
    }
    Ok(())
}

/// The error for the first non-finite value (file order) among the `gl` lines from line `l`
/// held raw in `ctx.raw`.
fn first_non_finite(ctx: &mut PanelCtx, region: &Region, l: usize, gl: usize, w: usize) -> Error {
    let layout = region.layout;
    let esize = layout.dtype.size();
    let mut one = vec![0.0; w];
    for r in 0..gl {
        let src = &ctx.raw[r * w * esize..(r + 1) * w * esize];
        if let Some(at) = widen(layout.dtype, src, &mut one) {
            let (i, j) = if layout.fortran {
                (at, l + r)
            } else {
                (l + r, at)
            };
            return Error::input(
                ctx.file.path(),
                format!(
                    "{}contains a non-finite value ({}) at index [{i}, {j}]; NaN/Inf \
                     gradients mean the run diverged or the export is broken",
                    region.label, one[at]
                ),
            );
        }
    }
    Error::input(
        ctx.file.path(),
        "non-finite value not found again (file changed?)",
    )
}

/// The elements of a block before index `bad` (file order), as at most two blocks: whole lines,
/// then part of one line. Lets a consumer see exactly the values before a non-finite one.
fn prefix_blocks<'w>(
    rows: Range<usize>,
    cols: Range<usize>,
    col_major: bool,
    wide: &'w [f64],
    bad: usize,
) -> Vec<Block<'w>> {
    let mut out = Vec::new();
    let (lines, width) = if col_major {
        (cols.clone(), rows.clone())
    } else {
        (rows.clone(), cols.clone())
    };
    let w = width.len();
    let full = bad / w;
    let rem = bad % w;
    let make = |l: Range<usize>, wr: Range<usize>, data: &'w [f64]| {
        let (rows, cols) = if col_major { (wr, l) } else { (l, wr) };
        Block {
            rows,
            cols,
            col_major,
            data,
        }
    };
    if full > 0 {
        out.push(make(
            lines.start..lines.start + full,
            width.clone(),
            &wide[..full * w],
        ));
    }
    if rem > 0 {
        let l = lines.start + full;
        out.push(make(
            l..l + 1,
            width.start..width.start + rem,
            &wide[full * w..bad],
        ));
    }
    out
}

/// Reads (and hashes) the bytes from `*pos` up to `to`.
fn skip_to(
    file: &GatedFile,
    pos: &mut u64,
    to: u64,
    hasher: Option<&mut Sha256>,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let Some(h) = hasher else {
        *pos = to;
        return Ok(());
    };
    while *pos < to {
        let n = ((to - *pos) as usize).min(BLOCK_BYTES);
        buf.resize(n, 0);
        file.read_exact_at(*pos, buf)?;
        h.update(&buf[..]);
        progress::advance(n as u64);
        *pos += n as u64;
    }
    Ok(())
}

/// The blocks of an array in file order, as (rows, cols) ranges: whole lines (rows, or columns
/// for column-major data) when a line fits in [`BLOCK_BYTES`] of f64, else segments of a line.
pub fn plan(layout: &Layout) -> Vec<(Range<usize>, Range<usize>)> {
    let (rows, cols) = layout.rows_cols();
    let (lines, width) = if layout.fortran {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let per_block = (BLOCK_BYTES / 8).max(1);
    let mut out = Vec::new();
    if width == 0 || lines == 0 {
        return out;
    }
    if width <= per_block {
        let step = per_block / width;
        let mut l = 0;
        while l < lines {
            let e = (l + step).min(lines);
            out.push((l..e, 0..width));
            l = e;
        }
    } else {
        for l in 0..lines {
            let mut s = 0;
            while s < width {
                let e = (s + per_block).min(width);
                out.push((l..l + 1, s..e));
                s = e;
            }
        }
    }
    if layout.fortran {
        out.into_iter().map(|(l, w)| (w, l)).collect()
    } else {
        out
    }
}

/// Widens little-endian `raw` into `out` (same element count); returns the index of the first
/// non-finite value, if any. The finiteness test runs on the raw bits in the same loop.
pub fn widen(dtype: Dtype, raw: &[u8], out: &mut [f64]) -> Option<usize> {
    let bad = match dtype {
        Dtype::F32 => widen_f32(raw, out),
        Dtype::F64 => widen_f64(raw, out),
        Dtype::F16 => {
            for (o, c) in out.iter_mut().zip(raw.chunks_exact(2)) {
                *o = half::f16::from_le_bytes([c[0], c[1]]).to_f64();
            }
            true
        }
        Dtype::BF16 => {
            for (o, c) in out.iter_mut().zip(raw.chunks_exact(2)) {
                *o = half::bf16::from_le_bytes([c[0], c[1]]).to_f64();
            }
            true
        }
        Dtype::I32 => {
            for (o, c) in out.iter_mut().zip(raw.chunks_exact(4)) {
                *o = f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
            false
        }
        Dtype::I64 => {
            for (o, c) in out.iter_mut().zip(raw.chunks_exact(8)) {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                *o = i64::from_le_bytes(a) as f64;
            }
            false
        }
    };
    if bad {
        out.iter().position(|v| !v.is_finite())
    } else {
        None
    }
}

avx2_dispatch! {
    /// f32 → f64 widening with the finiteness flag (exact either way).
    fn widen_f32(raw: &[u8], out: &mut [f64]) -> bool = widen_f32_impl
}

#[inline(always)]
fn widen_f32_impl(raw: &[u8], out: &mut [f64]) -> bool {
    let mut bad = 0u32;
    for (o, c) in out.iter_mut().zip(raw.chunks_exact(4)) {
        let bits = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        bad |= u32::from(bits & 0x7f80_0000 == 0x7f80_0000);
        *o = f64::from(f32::from_bits(bits));
    }
    bad != 0
}

avx2_dispatch! {
    /// f64 copy with the finiteness flag.
    fn widen_f64(raw: &[u8], out: &mut [f64]) -> bool = widen_f64_impl
}

#[inline(always)]
fn widen_f64_impl(raw: &[u8], out: &mut [f64]) -> bool {
    let mut bad = 0u32;
    for (o, c) in out.iter_mut().zip(raw.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let bits = u64::from_le_bytes(a);
        bad |= u32::from(bits & 0x7ff0_0000_0000_0000 == 0x7ff0_0000_0000_0000);
        *o = f64::from_bits(bits);
    }
    bad != 0
}

/// Reads a small integer array (step numbers) whole, in C order. The caller has bounded its
/// size by the file size. Cost O(len).
pub fn read_i64(file: &GatedFile, layout: &Layout) -> Result<Vec<i64>> {
    let mut raw = vec![0u8; layout.data_bytes() as usize];
    file.read_exact_at(layout.offset, &mut raw)?;
    Ok(match layout.dtype {
        Dtype::I64 => raw
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                i64::from_le_bytes(a)
            })
            .collect(),
        Dtype::I32 => raw
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        other => {
            return Err(Error::input(
                file.path(),
                format!(
                    "has dtype {}; expected int64 or int32 step numbers",
                    other.name()
                ),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(shape: Vec<usize>, fortran: bool) -> Layout {
        Layout {
            offset: 0,
            shape,
            dtype: Dtype::F32,
            fortran,
        }
    }

    #[test]
    fn plan_covers_every_element_once_in_file_order() {
        let per = BLOCK_BYTES / 8;
        for (shape, fortran) in [
            (vec![5, 3], false),
            (vec![3, per * 2 + 7], false),
            (vec![per + 1, 2], true),
            (vec![7], false),
            (vec![], false),
        ] {
            let l = layout(shape.clone(), fortran);
            let (r, c) = l.rows_cols();
            let mut seen = vec![0u8; r * c];
            let mut last = None;
            for (rows, cols) in plan(&l) {
                assert!(rows.len() * cols.len() <= per.max(1) || rows.len() == 1);
                for i in rows.clone() {
                    for j in cols.clone() {
                        seen[i * c + j] += 1;
                    }
                }
                let first = if fortran {
                    cols.start * r + rows.start
                } else {
                    rows.start * c + cols.start
                };
                assert!(last.is_none_or(|x| x < first));
                last = Some(first);
            }
            assert!(seen.iter().all(|&s| s == 1), "{shape:?}");
        }
    }

    #[test]
    fn widen_flags_first_non_finite() {
        let v = [1.0f32, f32::NAN, f32::INFINITY];
        let raw: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut out = vec![0.0; 3];
        assert_eq!(widen(Dtype::F32, &raw, &mut out), Some(1));
        assert_eq!(out[0], 1.0);
        let raw: Vec<u8> = [2.5f64, -1.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let mut out = vec![0.0; 2];
        assert_eq!(widen(Dtype::F64, &raw, &mut out), None);
        assert_eq!(out, vec![2.5, -1.0]);
    }
}
