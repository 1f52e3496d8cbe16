//! The only writer of stdout, stderr and runner files (in progress).
pub mod escape;
