//! The words of the `gaussian_noise` check (summary and reasons) from its typed evidence and decision.
