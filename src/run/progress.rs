//! Progress of the streaming pass on stderr (bytes read, rate, ETA), drawn with `indicatif`.
//!
//! The bar appears only when the pass is still running after [`SHOW_AFTER`], stderr is a
//! terminal, and progress was not switched off ([`set_quiet`], the CLI's `--quiet`). It never
//! writes to stdout and never changes a result. Cost: one atomic add per block.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A pass shorter than this draws nothing.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);

static QUIET: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicBool = AtomicBool::new(false);
static POSITION: AtomicU64 = AtomicU64::new(0);
static CURRENT: Mutex<Option<Pass>> = Mutex::new(None);

struct Pass {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

/// Switches the progress bar off (`--quiet`) or back on.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Starts a pass over `total` bytes; the returned guard ends it when dropped.
pub fn start(total: u64) -> Guard {
    let enabled = !QUIET.load(Ordering::Relaxed) && std::io::stderr().is_terminal();
    if enabled {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "reading {bytes}/{total_bytes} [{wide_bar}] {binary_bytes_per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        POSITION.store(0, Ordering::Relaxed);
        ACTIVE.store(true, Ordering::Relaxed);
        if let Ok(mut c) = CURRENT.lock() {
            *c = Some(Pass {
                bar,
                started: Instant::now(),
                shown: false,
            });
        }
    }
    Guard { enabled }
}

/// Adds `bytes` to the current pass (no-op when there is none).
pub fn advance(bytes: u64) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let pos = POSITION.fetch_add(bytes, Ordering::Relaxed) + bytes;
    let Ok(mut c) = CURRENT.try_lock() else {
        return; // another thread is drawing; the next update carries the position
    };
    if let Some(p) = c.as_mut() {
        p.bar.set_position(pos.max(p.bar.position()));
        if !p.shown && p.started.elapsed() >= SHOW_AFTER {
            p.bar.set_draw_target(ProgressDrawTarget::stderr());
            p.shown = true;
        }
    }
}

/// Ends the pass when dropped (clears the bar).
pub struct Guard {
    enabled: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.enabled {
            return;
        }
        ACTIVE.store(false, Ordering::Relaxed);
        if let Ok(mut c) = CURRENT.lock() {
            if let Some(p) = c.take() {
                p.bar.finish_and_clear();
            }
        }
    }
}
