//! Run-time CPU dispatch for the inner loops of the pass (src/run) and of the noise sketch
//! (src/stats/range_finder.rs). A utility below every layer: it knows nothing of runs or statistics.
//!
//! [`avx2_dispatch!`] defines a function that runs a generic `#[inline(always)]` body compiled
//! with AVX2 enabled when the CPU has it (checked at run time), and as plain code otherwise. The
//! body is the same Rust either way; Rust never fuses a multiply and an add, so both versions do
//! the same IEEE operations in the same order and give bit-identical results.

/// `avx2_dispatch!(/// docs  pub fn name(a: A, b: B) -> R = body_fn);`
macro_rules! avx2_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) -> $ret:ty = $body:ident) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($a: $t),*) -> $ret {
                    $body($($a),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above).
                    return unsafe { avx2($($a),*) };
                }
            }
            $body($($a),*)
        }
    };
}
