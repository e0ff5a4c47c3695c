//! The run directory: format v1 (`docs/run-dir-format.md`), reading and validation.

pub mod array;
pub mod npy;
pub mod safetensors;
