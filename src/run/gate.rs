//! The one gate every input file goes through (issue 17).
//!
//! * Only regular files are opened, after following symbolic links: a FIFO, socket, device or
//!   directory is refused with "not a regular file" *before* it is opened, so a FIFO never blocks
//!   and `/dev/zero` is never read. The file is opened with `O_NONBLOCK` and checked again after
//!   opening, so swapping the path for a FIFO in between cannot block either.
//! * Whole-file reads ([`read_capped`]: run.json) and headers (npy, safetensors) are capped in
//!   size ([`RUN_JSON_MAX_BYTES`], [`HEADER_MAX_BYTES`]).
//! * Array sizes come from [`checked_bytes`], which refuses shapes whose byte size overflows.
//! * Data is read with positioned reads ([`GatedFile::read_exact_at`]), never mapped: a file that
//!   shrinks while it is read gives an error naming it, not SIGBUS.
//! * Messages quoting file content are clipped to [`MESSAGE_MAX_CHARS`] ([`clip`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Largest accepted run.json (1 MiB; a manifest is a few hundred bytes).
pub const RUN_JSON_MAX_BYTES: u64 = 1 << 20;
/// Largest accepted npy or safetensors header (16 MiB; numpy writes a few hundred bytes, a
/// safetensors header lists each tensor in ~100 bytes).
pub const HEADER_MAX_BYTES: u64 = 16 << 20;
/// Longest piece of file content (or parser message) quoted in an error.
pub const MESSAGE_MAX_CHARS: usize = 300;

/// An opened regular input file, with its size at opening and, once a pass has read it whole,
/// its SHA-256.
#[derive(Debug)]
pub struct GatedFile {
    path: PathBuf,
    file: File,
    len: u64,
    sha256: OnceLock<String>,
}

/// Opens `path` through the gate: follows links, refuses anything but a regular file.
/// Cost: two `stat` calls and one `open`; no data is read.
pub fn open(path: &Path) -> Result<GatedFile> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::input(
            path,
            format!("cannot open ({e}); the run-directory format requires this file"),
        )
    })?;
    check_regular(path, &meta)?;
    let file =
        open_nonblocking(path).map_err(|e| Error::input(path, format!("cannot open ({e})")))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::input(path, format!("cannot stat ({e})")))?;
    check_regular(path, &meta)?;
    Ok(GatedFile {
        path: path.to_path_buf(),
        file,
        len: meta.len(),
        sha256: OnceLock::new(),
    })
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(Error::input(
        path,
        format!(
            "is not a regular file ({}); inputs must be regular files (a symbolic link to one \
             is fine), not FIFOs, devices or directories",
            kind_name(meta)
        ),
    ))
}

fn kind_name(meta: &std::fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

impl GatedFile {
    /// The file as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size in bytes when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The SHA-256 (hex) once a pass has read the whole file.
    pub fn sha256(&self) -> Option<&str> {
        self.sha256.get().map(String::as_str)
    }

    /// Records the SHA-256 of the whole file (the first recording wins; later ones are equal).
    pub fn set_sha256(&self, hex: String) {
        let _ = self.sha256.set(hex);
    }

    /// Fills `buf` from byte `offset`. A file that ends early (it shrank since it was opened)
    /// is an error naming it. Cost: one or a few `pread` calls.
    pub fn read_exact_at(&self, mut offset: u64, mut buf: &mut [u8]) -> Result<()> {
        while !buf.is_empty() {
            match read_at(&self.file, buf, offset) {
                Ok(0) => {
                    return Err(Error::input(
                        &self.path,
                        format!(
                            "ended at byte {offset} while being read, but it had {} bytes when \
                             opened: the file was truncated or rewritten during the analysis; \
                             re-run once the exporter has finished writing it",
                            self.len
                        ),
                    ))
                }
                Ok(n) => {
                    offset += n as u64;
                    buf = &mut buf[n..];
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::input(&self.path, format!("cannot read ({e})"))),
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    f.read_at(buf, offset)
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::windows::fs::FileExt;
    f.seek_read(buf, offset)
}

/// Reads a whole small file (run.json) through the gate, refusing files above `cap` bytes.
/// Returns the opened file (for hashing) and its bytes.
pub fn read_capped(path: &Path, cap: u64, what: &str) -> Result<(GatedFile, Vec<u8>)> {
    let f = open(path)?;
    if f.len > cap {
        return Err(Error::input(
            path,
            format!(
                "is {} bytes, above the {cap}-byte limit for {what}; point to the right file",
                f.len
            ),
        ));
    }
    let mut buf = vec![0u8; f.len as usize];
    f.read_exact_at(0, &mut buf)?;
    f.set_sha256(sha256_hex(&buf));
    Ok((f, buf))
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Elements × `elem_size` bytes for `shape`, or `None` when it overflows u64 (or usize).
pub fn checked_bytes(shape: &[usize], elem_size: usize) -> Option<u64> {
    let count = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s))?;
    let bytes = count.checked_mul(elem_size)?;
    u64::try_from(bytes).ok()
}

/// `text` clipped to [`MESSAGE_MAX_CHARS`] characters (with "…" when cut) and whitespace runs
/// collapsed, so a nested 30 KB header never becomes a 30 KB error line.
pub fn clip(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MESSAGE_MAX_CHARS {
        return collapsed;
    }
    let mut out: String = collapsed.chars().take(MESSAGE_MAX_CHARS).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_bytes_refuses_overflow() {
        assert_eq!(checked_bytes(&[3, 4], 8), Some(96));
        assert_eq!(checked_bytes(&[], 8), Some(8));
        assert_eq!(checked_bytes(&[1 << 61], 8), None);
        assert_eq!(checked_bytes(&[1 << 62, 4], 8), None);
    }

    #[test]
    fn clip_bounds_length() {
        let long = "x ".repeat(20_000);
        let c = clip(&long);
        assert!(c.chars().count() <= MESSAGE_MAX_CHARS + 1);
        assert_eq!(clip("a   b\n c"), "a b c");
    }

    #[test]
    fn directory_is_not_a_regular_file() {
        let dir = std::env::temp_dir();
        let e = open(&dir).unwrap_err().to_string();
        assert!(e.contains("not a regular file (a directory)"), "{e}");
    }
}
