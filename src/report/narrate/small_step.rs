//! The words of the `small_step` check (summary and reasons) from its typed evidence and decision.
