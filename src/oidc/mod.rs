//! The job's OIDC identity.
//!
//! [`VerifiedIdentity`] is the only source of trusted facts (repository, actor, event, ref,
//! sha, run, environment, workflow). It is built only from a token whose signature, issuer,
//! audience and times were verified. The decision core reads it; nothing reads the same
//! facts from the environment.
//!
//! | module | role |
//! | --- | --- |
//! | [`url`] | syntax checks on every URL before any request (`config.insecure_url`) |
//! | [`verify`] | pure, strict verification of a token against a key set (`identity.*`) |
//! | [`fetch`] | the job token, discovery, the key set (capped, no redirects), one refetch |
//!
//! [`verified_identity`] ties them together for `grant` and `check`:
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
pub mod url;
pub mod verify;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, ExitClass};
use crate::secret::Secret;

pub use fetch::{
    FetchConfig, FetchError, FetchErrorKind, JwksCache, OidcClient, OidcError, verify_with_refetch,
};
pub use verify::{Expectations, Jwks, VerifyError, VerifyErrorKind};

/// The runner variable naming the token endpoint.
pub const REQUEST_URL_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The runner variable holding the bearer token for the token endpoint.
pub const REQUEST_TOKEN_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// Fetches the job's OIDC token for `audience` and verifies it against `issuer`'s keys.
///
/// `env` is the variable lookup (the process environment in production). Before any network
/// call: the two runner variables must be set and non-empty (else exit 2 with the
/// `id-token: write` hint), `audience` must be non-empty, and both URLs must pass
/// [`url::check_url`].
pub async fn verified_identity(
    env: &dyn Fn(&str) -> Option<String>,
    issuer: &str,
    audience: &str,
) -> Result<VerifiedIdentity, Error> {
    let inputs = IdentityInputs::from_env(env, issuer, audience)?;
    let client = OidcClient::new(FetchConfig::default()).map_err(OidcError::from)?;
    verified_identity_with(&client, JwksCache::global(), inputs, &unix_now).await
}

/// The checked inputs of [`verified_identity`].
#[derive(Debug)]
pub struct IdentityInputs {
    pub request_url: String,
    pub request_token: Secret,
    pub issuer: String,
    pub audience: String,
}

impl IdentityInputs {
    /// Reads the runner variables and checks every input, with no network access.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, Error> {
        let (request_url, request_token) = token_request(env, audience)?;
        url::check_issuer(issuer).map_err(|e| Error::InsecureUrl {
            what: "OIDC issuer".into(),
            source: e,
        })?;
        Ok(Self {
            request_url,
            request_token,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        })
    }
}

/// The token endpoint and its bearer from the runner, checked with no network access.
fn token_request(
    env: &dyn Fn(&str) -> Option<String>,
    audience: &str,
) -> Result<(String, Secret), Error> {
    {
        let what = "the job's OIDC token";
        // SECURITY: fail before any request; a fork PR or a job without `id-token: write`
        // has no token and must not fall back to anything else.
        let Some(request_url) = env(REQUEST_URL_VAR).filter(|v| !v.is_empty()) else {
            return Err(Error::MissingEnv {
                what,
                var: REQUEST_URL_VAR,
            });
        };
        let Some(request_token) = env(REQUEST_TOKEN_VAR).filter(|v| !v.is_empty()) else {
            return Err(Error::MissingEnv {
                what,
                var: REQUEST_TOKEN_VAR,
            });
        };
        if audience.is_empty() {
            return Err(Error::Usage(
                "the OIDC audience is empty; set `audience` or the policy's identity.audience"
                    .into(),
            ));
        }
        url::check_url(&request_url).map_err(|e| Error::InsecureUrl {
            what: REQUEST_URL_VAR.into(),
            source: e,
        })?;
        Ok((request_url, Secret::new(request_token)))
    }
}

/// Asks the runner's token endpoint for a job token for `audience` (nothing verified yet):
/// the first half of [`verified_identity_with`], for a pipeline that asks early and
/// verifies once the policy (and so the issuer) is known.
pub async fn request_job_token(
    client: &OidcClient,
    env: &dyn Fn(&str) -> Option<String>,
    audience: &str,
) -> Result<Secret, Error> {
    let (request_url, request_token) = token_request(env, audience)?;
    Ok(client
        .request_job_token(&request_url, &request_token, audience)
        .await
        .map_err(OidcError::from)?)
}

/// Verifies a job token against `issuer`'s keys for `audience`: the second half of
/// [`verified_identity_with`].
pub async fn verify_job_token(
    client: &OidcClient,
    cache: &JwksCache,
    token: &Secret,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<VerifiedIdentity, Error> {
    url::check_issuer(issuer).map_err(|e| Error::InsecureUrl {
        what: "OIDC issuer".into(),
        source: e,
    })?;
    let expect = Expectations::new(issuer, audience);
    Ok(verify_with_refetch(client, cache, token, &expect, now).await?)
}

/// A claim of a token that is **not verified**, as text (strings as they are, numbers
/// written out). SECURITY: a hint only, to choose what to fetch ahead; nothing decides on it.
pub fn unverified_claim(token: &Secret, name: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.expose().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match claims.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// [`verified_identity`] with an explicit client, cache and clock (Unix seconds).
pub async fn verified_identity_with(
    client: &OidcClient,
    cache: &JwksCache,
    inputs: IdentityInputs,
    now: &dyn Fn() -> i64,
) -> Result<VerifiedIdentity, Error> {
    let token = client
        .request_job_token(&inputs.request_url, &inputs.request_token, &inputs.audience)
        .await
        .map_err(OidcError::from)?;
    let expect = Expectations::new(inputs.issuer, inputs.audience);
    Ok(verify_with_refetch(client, cache, &token, &expect, now()).await?)
}

impl From<OidcError> for Error {
    fn from(e: OidcError) -> Self {
        let (id, detail) = (e.id(), e.detail().to_string());
        match e.exit_class() {
            ExitClass::Denied | ExitClass::Ok | ExitClass::Command(_) => {
                Error::Identity { id, detail }
            }
            ExitClass::Upstream => Error::IdentityUpstream { id, detail },
            ExitClass::Config => Error::Config { id, detail },
        }
    }
}

/// Seconds since the Unix epoch on this machine's clock.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

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
    pub fn requester(&self) -> crate::forge::UserRef {
        crate::forge::UserRef::new(self.actor.clone(), self.actor_id)
    }
}
