//! Approval counting (in progress).
