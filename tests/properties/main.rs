//! Property tests and the byte mutator over the parsers (`make fuzz` runs it at full size).
//!
//! One test binary (`cargo test --test properties`); each module was a binary of its own before
//! issue 12 grouped them (fewer binaries to link). Run one module with
//! `cargo test --test properties <module>::`.

mod fuzz_parsers;
