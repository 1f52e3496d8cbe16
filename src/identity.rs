//! The job's identity, from the runner: the token requested from the runner's token
//! endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`) and verified against the policy's
//! issuer with [`crate::oidc`]. This is where the OIDC layer meets the runner's variables
//! and the top-level error (exit 2 for a missing variable or a bad URL).

use crate::error::Error;
use crate::oidc::fetch::{FetchConfig, JwksCache, OidcClient, OidcError, verify_with_refetch};
use crate::oidc::verify::Expectations;
use crate::oidc::{REQUEST_TOKEN_VAR, REQUEST_URL_VAR, VerifiedIdentity, unix_now};
use crate::secret::Secret;
use crate::url_rules as url;

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
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
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
