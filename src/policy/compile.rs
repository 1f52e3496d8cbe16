//! Compiling the raw policy (in progress).
use super::Policy;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Invalid(String),
}

pub fn load_policy(_text: &str) -> Result<Policy, PolicyError> {
    Err(PolicyError::Invalid("not implemented".into()))
}
