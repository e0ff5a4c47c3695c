//! The words of the `quadratic_loss` check (summary and reasons) from its typed evidence and decision.
