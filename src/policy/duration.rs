//! policy duration (in progress).
