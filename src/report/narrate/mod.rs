//! Narration: the words of each check (its one-line summary and its reasons), written from the
//! check's typed evidence and decision. The checks compute and decide; only this layer writes
//! sentences, so every report format (JSON, Markdown, HTML, LaTeX, text) quotes the same words.

pub mod constant_covariance;
pub mod gaussian_noise;
pub mod ou_prediction;
pub mod quadratic_loss;
pub mod small_step;
pub mod stability;
