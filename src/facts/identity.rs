//! The trusted facts of a verified job token: built only by the OIDC layer from a token
//! whose signature, issuer, audience and times were verified, read by the decision core.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Trusted facts from a verified job token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifiedIdentity {
    pub repository: String,
    pub repository_id: u64,
    pub repository_owner: String,
    pub actor: String,
    pub actor_id: Option<u64>,
    pub event_name: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
    pub run_id: u64,
    pub run_attempt: u32,
    pub environment: Option<String>,
    pub job_workflow_ref: String,
    /// Every claim of the token as it was signed, for `identity.claims` patterns.
    pub claims: Map<String, Value>,
}

/// Why a claim set cannot become a [`VerifiedIdentity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("claim `{0}` is missing")]
    Missing(&'static str),
    #[error("claim `{0}` is not a string")]
    NotString(&'static str),
    #[error("claim `{0}` is not a decimal number in a string")]
    NotNumeric(&'static str),
}

fn string_claim(claims: &Map<String, Value>, name: &'static str) -> Result<String, ClaimsError> {
    match claims.get(name) {
        None | Some(Value::Null) => Err(ClaimsError::Missing(name)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ClaimsError::NotString(name)),
    }
}

fn numeric_claim(claims: &Map<String, Value>, name: &'static str) -> Result<u64, ClaimsError> {
    // GitHub sends ids as decimal strings; SECURITY: a JSON number, a sign or a blank is refused
    // rather than guessed at.
    let s = string_claim(claims, name)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ClaimsError::NotNumeric(name));
    }
    s.parse().map_err(|_| ClaimsError::NotNumeric(name))
}

impl VerifiedIdentity {
    /// Builds the identity from the claims of a token that was already verified.
    /// Claims with the wrong type are refused, never coerced.
    pub fn from_verified_claims(claims: Map<String, Value>) -> Result<Self, ClaimsError> {
        let environment = match claims.get("environment") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(ClaimsError::NotString("environment")),
        };
        let actor_id = match claims.get("actor_id") {
            None | Some(Value::Null) => None,
            Some(_) => Some(numeric_claim(&claims, "actor_id")?),
        };
        let run_attempt = numeric_claim(&claims, "run_attempt")?;
        Ok(Self {
            repository: string_claim(&claims, "repository")?,
            repository_id: numeric_claim(&claims, "repository_id")?,
            repository_owner: string_claim(&claims, "repository_owner")?,
            actor: string_claim(&claims, "actor")?,
            actor_id,
            event_name: string_claim(&claims, "event_name")?,
            git_ref: string_claim(&claims, "ref")?,
            sha: string_claim(&claims, "sha")?,
            run_id: numeric_claim(&claims, "run_id")?,
            run_attempt: u32::try_from(run_attempt)
                .map_err(|_| ClaimsError::NotNumeric("run_attempt"))?,
            environment,
            job_workflow_ref: string_claim(&claims, "job_workflow_ref")?,
            claims,
        })
    }

    /// The requester as a user reference (login and id from the token).
    pub fn requester(&self) -> super::UserRef {
        super::UserRef::new(self.actor.clone(), self.actor_id)
    }
}
