//! policy raw (in progress).
