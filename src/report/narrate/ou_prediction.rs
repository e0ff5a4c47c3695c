//! The words of the `ou_prediction` check (summary and reasons) from its typed evidence and decision.
