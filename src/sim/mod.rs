//! Loopback simulators (GitHub REST API, OIDC issuer) shared by the tests and `prod-access demo`.
//!
//! They are real HTTP servers on `127.0.0.1`, so the real clients (reqwest) run against
//! them unchanged. A path they do not serve answers `501 METHOD PATH not implemented`,
//! which makes an unexpected call loud. Nothing here is used by `grant` against real
//! services.

pub mod forge;
pub mod oidc;
pub mod story;
