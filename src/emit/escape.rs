//! Escaping of untrusted text (in progress).
