//! Narration: the words of each check (its one-line summary and its reasons), written from the
//! check's typed evidence and decision. The checks compute and decide; only this layer writes
//! sentences, so every report format (JSON, Markdown, HTML, LaTeX, text) quotes the same words.

pub mod constant_covariance;
pub mod gaussian_noise;
pub mod ou_prediction;
pub mod quadratic_loss;
pub mod small_step;
pub mod stability;

/// The sentence naming the basis a check decided in (docs/methods.md, "Analysis bases").
pub fn basis_sentence(b: crate::checks::AnalysisBasis) -> String {
    use crate::checks::AnalysisBasis as B;
    let what = match b {
        B::AllCoordinates => "all coordinates (the analysis subspace is the whole space)",
        B::HessianEigenbasis => {
            "the Hessian eigenbasis (directions with λ > 0; A-invariant, so the projected \
             process is OU and λ_1 is the full-space λ_max)"
        }
        B::RandomSubspace => {
            "a seeded random subspace, not invariant under A: a subspace approximation \
             (provide basis/ or hessian.npy for the Hessian eigenbasis)"
        }
        B::NoisePrincipal => "the principal directions of the gradient noise",
        B::EveryCoordinate => "every coordinate, one at a time",
    };
    format!("analysis basis: {what}")
}
