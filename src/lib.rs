//! # sgd-ou
//!
//! May this training run's SGD be modelled as an Ornstein–Uhlenbeck process?
//!
//! The OU model dθ = −A(θ − θ*)dt + B_{ε/S} dW of SGD near a minimum (Mandt, Hoffman & Blei 2017)
//! rests on four assumptions: Gaussian minibatch gradient noise, a constant noise covariance over
//! the region the iterates occupy, a small step size, and a quadratic loss there. This crate reads
//! a *run directory* (see `docs/run-dir-format.md`), tests each assumption in its own module and
//! returns a [`report::Report`] with a pass / fail / inconclusive verdict per assumption.
//!
//! Layout: [`run`] reads and validates the run directory; [`stats`] is pure statistics (no I/O);
//! [`ou`] holds the Lyapunov solvers and estimators of the OU model; [`assumptions`] has one
//! module per assumption; [`report`] is the single report model with its exporters; [`simulate`]
//! writes run directories from models whose truth is known.

pub mod assumptions;
pub mod error;
pub mod ou;
pub mod report;
pub mod rng;
pub mod run;
pub mod simulate;
pub mod stats;

pub use error::Error;
