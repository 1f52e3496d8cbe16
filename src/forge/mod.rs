//! The forge: the only module that talks to the forge API (GitHub now, others later).
//!
//! [`model`] holds the forge-neutral facts the decision core reads. The client that fills
//! them (octocrab, with reqwest where octocrab lacks an endpoint) arrives with the grant flow.

pub mod model;

pub use model::*;
