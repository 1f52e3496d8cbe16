//! policy schema (in progress).
