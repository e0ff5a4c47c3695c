//! The words of the `constant_covariance` check (summary and reasons) from its typed evidence and decision.
