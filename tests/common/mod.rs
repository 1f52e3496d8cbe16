//! Helpers shared by the integration tests: `mod common;` in a test file, then
//! `common::fixtures::...`. Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

pub mod fixtures;
