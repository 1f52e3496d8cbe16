//! The job's OIDC identity.
//!
//! [`VerifiedIdentity`] is the only source of trusted facts (repository, actor, event, ref,
//! sha, run, environment, workflow). It is built only from a token whose signature, issuer,
//! audience and times were verified. The decision core reads it; nothing reads the same
//! facts from the environment.
//!
//! | module | role |
//! | --- | --- |
//! | [`verify`] | the job-token profile of [`crate::jose`] (RS256, `identity.*`) and GitHub's claims |
//! | [`fetch`] | the job token, discovery, the key set (capped, no redirects), one refetch |
//!
//! [`crate::identity`] ties them to the runner's variables for `grant`, `check` and `revoke`:
//!
//! ```text
//! ACTIONS_ID_TOKEN_REQUEST_{URL,TOKEN} -> GET url&audience=A (Bearer)  -> {"value": jwt}
//! policy issuer -> {issuer}/.well-known/openid-configuration -> jwks_uri (same origin) -> JWKS
//! verify(jwt, JWKS, {issuer, audience, 60 s, 1 h}, now) -> VerifiedIdentity
//! ```
//!
//! Exit classes (contract §5): a missing runner variable or a bad URL is 2; an issuer, key
//! set or token service that cannot be reached is 3; a token that does not verify is 1.

pub mod fetch;
pub mod verify;

use std::time::{SystemTime, UNIX_EPOCH};

pub use fetch::{
    FetchConfig, FetchError, FetchErrorKind, JwksCache, OidcClient, OidcError, verify_with_refetch,
};
pub use verify::{Expectations, Jwks, VerifyError, VerifyErrorKind};

/// The runner variable naming the token endpoint.
pub const REQUEST_URL_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The runner variable holding the bearer token for the token endpoint.
pub const REQUEST_TOKEN_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// Seconds since the Unix epoch on this machine's clock.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub use crate::facts::identity::{ClaimsError, VerifiedIdentity};
