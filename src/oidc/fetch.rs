//! The network edge of the identity: the job token from the runner, the issuer's discovery
//! document and key set, and verification with one key-set refetch.
//!
//! SECURITY, for every request here:
//! - URLs pass [`check_url`] first (https, or http to loopback), before any connection.
//! - Redirects are never followed: a `3xx` is a failure, so a response can never move the
//!   request (and its bearer token) to another host.
//! - Bodies are read chunk by chunk against a cap and abandoned as soon as it is passed;
//!   a `Content-Length` above the cap is refused before reading. No decompression.
//! - Every request has a total deadline ([`FetchConfig::timeout`]).
//! - Error text never holds the request token, the job token or a response body (which
//!   could echo either); it names the endpoint, the status and the failure.
//! - `jwks_uri` must be on the issuer's own origin; another origin gets no request.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::Value;
use zeroize::Zeroizing;

use super::VerifiedIdentity;
use super::verify::{
    Expectations, JOB_TOKEN, Jwks, VerifyError, VerifyErrorKind, parse_jwks, verify,
};
use crate::exit::ExitClass;
use crate::http::{BodyError, read_capped};
use crate::jose::{parse_object_strict, quote_claim as short};
use crate::secret::Secret;
use crate::url_rules::{Url, check_issuer, check_url, same_origin};

/// Limits for the identity requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Total deadline of one request, body included.
    pub timeout: Duration,
    /// Deadline of the TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Largest accepted job-token response.
    pub token_cap: usize,
    /// Largest accepted discovery document.
    pub discovery_cap: usize,
    /// Largest accepted key set.
    pub jwks_cap: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            token_cap: 64 * 1024,
            discovery_cap: 64 * 1024,
            jwks_cap: 256 * 1024,
        }
    }
}

/// What failed while fetching. Each kind has one id and one exit class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// The runner's token endpoint failed, timed out, or answered without a token (exit 3).
    TokenUnavailable,
    /// The issuer's discovery document could not be read (exit 3).
    DiscoveryUnavailable,
    /// The discovery document names another issuer (exit 1).
    DiscoveryIssuer,
    /// `jwks_uri` is not on the issuer's origin (exit 1).
    JwksOrigin,
    /// The key set could not be read (exit 3).
    JwksUnavailable,
    /// The key set is not a JWK Set (exit 3).
    JwksInvalid,
    /// A URL from the configuration or the runner is refused (exit 2).
    InsecureUrl,
    /// The HTTP client could not be built (exit 3).
    Client,
}

impl FetchErrorKind {
    /// The stable requirement id.
    pub fn id(self) -> &'static str {
        match self {
            Self::TokenUnavailable => "identity.token_unavailable",
            Self::DiscoveryUnavailable => "identity.discovery_unavailable",
            Self::DiscoveryIssuer => "identity.discovery_issuer",
            Self::JwksOrigin => "identity.jwks_origin",
            Self::JwksUnavailable => "identity.jwks_unavailable",
            Self::JwksInvalid => "identity.jwks_invalid",
            Self::InsecureUrl => crate::url_rules::INSECURE_URL_ID,
            Self::Client => "identity.http_client",
        }
    }

    /// The exit class (contract §5): unreachable is 3, untrustworthy is 1, bad config is 2.
    pub fn exit_class(self) -> ExitClass {
        match self {
            Self::DiscoveryIssuer | Self::JwksOrigin => ExitClass::Denied,
            Self::InsecureUrl => ExitClass::Config,
            Self::TokenUnavailable
            | Self::DiscoveryUnavailable
            | Self::JwksUnavailable
            | Self::JwksInvalid
            | Self::Client => ExitClass::Upstream,
        }
    }
}

/// A fetch failure: id, detail, and for a refused oversized body how much of it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub kind: FetchErrorKind,
    pub detail: String,
    /// For a body refused as too large: the bytes taken from the connection before giving up.
    pub body_bytes_read: Option<usize>,
}

impl FetchError {
    fn new(kind: FetchErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            body_bytes_read: None,
        }
    }

    pub fn id(&self) -> &'static str {
        self.kind.id()
    }

    pub fn exit_class(&self) -> ExitClass {
        self.kind.exit_class()
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id(), self.detail)
    }
}

impl std::error::Error for FetchError {}

/// Any failure on the way to a verified identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

impl OidcError {
    pub fn id(&self) -> &'static str {
        match self {
            Self::Fetch(e) => e.id(),
            Self::Verify(e) => e.id(),
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Self::Fetch(e) => &e.detail,
            Self::Verify(e) => &e.detail,
        }
    }

    /// Verification failures deny (1); fetch failures per [`FetchErrorKind::exit_class`].
    pub fn exit_class(&self) -> ExitClass {
        match self {
            Self::Fetch(e) => e.exit_class(),
            Self::Verify(_) => ExitClass::Denied,
        }
    }
}

/// The parts of an issuer's discovery document we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: Url,
}

/// The HTTP client for the identity requests.
#[derive(Debug, Clone)]
pub struct OidcClient {
    http: reqwest::Client,
    config: FetchConfig,
}

impl OidcClient {
    pub fn new(config: FetchConfig) -> Result<Self, FetchError> {
        // SECURITY: pinned roots, no redirects (a redirect could carry the bearer token
        // elsewhere or swap the key set); see `crate::http`.
        let http = crate::http::client(config.timeout, config.connect_timeout).map_err(|e| {
            FetchError::new(
                FetchErrorKind::Client,
                format!("cannot build the HTTP client: {}", chain(e)),
            )
        })?;
        Ok(Self { http, config })
    }

    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Asks the runner's token service (`ACTIONS_ID_TOKEN_REQUEST_URL`) for the job's OIDC
    /// token with `audience`. See <https://docs.github.com/en/actions/reference/security/oidc>.
    pub async fn request_job_token(
        &self,
        request_url: &str,
        request_token: &Secret,
        audience: &str,
    ) -> Result<Secret, FetchError> {
        use FetchErrorKind::TokenUnavailable as Unavailable;
        let base = check_url(request_url).map_err(|e| {
            FetchError::new(
                FetchErrorKind::InsecureUrl,
                format!("ACTIONS_ID_TOKEN_REQUEST_URL: {e}"),
            )
        })?;
        let url = with_audience(&base, audience);
        let bearer = Zeroizing::new(format!("Bearer {}", request_token.expose()));
        let mut auth = HeaderValue::from_str(&bearer).map_err(|_| {
            FetchError::new(
                Unavailable,
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN is not a valid header value",
            )
        })?;
        auth.set_sensitive(true);
        let what = "the runner's token endpoint";
        let request = self
            .http
            .get(url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json; api-version=2.0");
        let body = self
            .get_capped(request, what, self.config.token_cap, Unavailable)
            .await?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|_| FetchError::new(Unavailable, format!("{what} did not answer JSON")))?;
        match doc.get("value") {
            Some(Value::String(v)) if !v.is_empty() => Ok(Secret::new(v.as_str())),
            Some(_) => Err(FetchError::new(
                Unavailable,
                format!("{what} answered a `value` that is not a non-empty string"),
            )),
            None => Err(FetchError::new(
                Unavailable,
                format!("{what} answered JSON without `value`"),
            )),
        }
    }

    /// Reads `{issuer}/.well-known/openid-configuration`; its `issuer` must equal ours and
    /// its `jwks_uri` must be on the issuer's origin.
    pub async fn discover(&self, issuer: &str) -> Result<Discovery, FetchError> {
        use FetchErrorKind::DiscoveryUnavailable as Unavailable;
        let issuer_url = check_issuer(issuer).map_err(|e| {
            FetchError::new(FetchErrorKind::InsecureUrl, format!("OIDC issuer: {e}"))
        })?;
        // OpenID Connect Discovery 1.0 §4: a trailing `/` is removed before appending.
        let doc_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc_url = check_url(&doc_url).map_err(|e| {
            FetchError::new(FetchErrorKind::InsecureUrl, format!("OIDC discovery: {e}"))
        })?;
        let what = "the issuer's discovery document";
        let body = self
            .get_capped(
                self.http.get(doc_url).header(ACCEPT, "application/json"),
                what,
                self.config.discovery_cap,
                Unavailable,
            )
            .await?;
        let doc = parse_object_strict(&body)
            .map_err(|e| FetchError::new(Unavailable, format!("{what} is {e}")))?;
        match doc.get("issuer") {
            Some(Value::String(s)) if s == issuer => {}
            other => {
                return Err(FetchError::new(
                    FetchErrorKind::DiscoveryIssuer,
                    format!(
                        "{what} names issuer {}, not {issuer:?}",
                        other.map_or_else(|| "nothing".to_string(), short)
                    ),
                ));
            }
        }
        let Some(Value::String(jwks_uri)) = doc.get("jwks_uri") else {
            return Err(FetchError::new(
                Unavailable,
                format!("{what} has no `jwks_uri` string"),
            ));
        };
        let jwks_url = check_url(jwks_uri)
            .map_err(|e| FetchError::new(FetchErrorKind::JwksOrigin, format!("jwks_uri: {e}")))?;
        // SECURITY: the keys must come from the issuer itself; another origin is never
        // contacted (catalogue row 25).
        if !same_origin(&issuer_url, &jwks_url) {
            return Err(FetchError::new(
                FetchErrorKind::JwksOrigin,
                format!(
                    "jwks_uri {} is not on the issuer's origin {}",
                    short(&Value::String(jwks_uri.clone())),
                    issuer_url.origin().ascii_serialization()
                ),
            ));
        }
        Ok(Discovery {
            issuer: issuer.to_string(),
            jwks_uri: jwks_url,
        })
    }

    /// Reads a key set (size-capped, no redirects).
    pub async fn fetch_jwks(&self, jwks_uri: &Url) -> Result<Jwks, FetchError> {
        let what = "the issuer's key set";
        let body = self
            .get_capped(
                self.http
                    .get(jwks_uri.clone())
                    .header(ACCEPT, "application/jwk-set+json, application/json"),
                what,
                self.config.jwks_cap,
                FetchErrorKind::JwksUnavailable,
            )
            .await?;
        parse_jwks(&body)
            .map_err(|e| FetchError::new(FetchErrorKind::JwksInvalid, format!("{what}: {e}")))
    }

    /// Sends a GET, requires a 2xx, and reads at most `cap` bytes of the body.
    async fn get_capped(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        cap: usize,
        kind: FetchErrorKind,
    ) -> Result<Zeroizing<Vec<u8>>, FetchError> {
        let deadline = self.config.timeout;
        let work = async {
            let resp = request.send().await.map_err(|e| {
                FetchError::new(kind, format!("{what} cannot be reached: {}", chain(e)))
            })?;
            let status = resp.status();
            if status.is_redirection() {
                return Err(FetchError::new(
                    kind,
                    format!("{what} answered a redirect ({status}), which is never followed"),
                ));
            }
            if !status.is_success() {
                // The body goes nowhere: it could echo a token.
                return Err(FetchError::new(kind, format!("{what} answered {status}")));
            }
            read_capped(resp, cap).await.map_err(|e| match e {
                BodyError::TooLarge { read } => FetchError {
                    kind,
                    detail: format!("{what} is larger than {cap} bytes; refused"),
                    body_bytes_read: Some(read),
                },
                BodyError::Read(e) => {
                    FetchError::new(kind, format!("{what} could not be read: {}", chain(e)))
                }
            })
        };
        // The client's own timeout covers the body too; this is the belt to its braces.
        match tokio::time::timeout(deadline + Duration::from_millis(100), work).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::new(
                kind,
                format!("{what} timed out after {} s", deadline.as_secs_f32()),
            )),
        }
    }
}

/// The request URL with `audience=<value>` as its last query parameter: appended with `?` or
/// `&` as the URL needs, percent-encoded, replacing any `audience` already there.
pub fn with_audience(url: &Url, audience: &str) -> Url {
    let mut query: Vec<&str> = url
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            ::url::form_urlencoded::parse(pair.as_bytes())
                .next()
                .is_none_or(|(k, _)| k != "audience")
        })
        .collect();
    let encoded = format!("audience={}", encode_component(audience));
    query.push(&encoded);
    let mut out = url.clone();
    out.set_query(Some(&query.join("&")));
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error and its causes on one line, without the URL (reqwest errors carry it).
fn chain(e: reqwest::Error) -> String {
    let timed_out = e.is_timeout();
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    if timed_out {
        out.push_str(" (timed out)");
    }
    out
}

/// Key sets per issuer, kept for the life of the process.
#[derive(Debug, Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<String, CachedKeys>>,
}

/// An issuer's key set and where it came from.
#[derive(Debug, Clone)]
pub struct CachedKeys {
    pub jwks_uri: Url,
    pub jwks: Arc<Jwks>,
}

impl JwksCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide cache.
    pub fn global() -> &'static JwksCache {
        static GLOBAL: OnceLock<JwksCache> = OnceLock::new();
        GLOBAL.get_or_init(JwksCache::new)
    }

    pub fn get(&self, issuer: &str) -> Option<CachedKeys> {
        self.lock().get(issuer).cloned()
    }

    pub fn put(&self, issuer: &str, keys: CachedKeys) {
        self.lock().insert(issuer.to_string(), keys);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedKeys>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Verifies `token` against the issuer's keys, discovering and fetching them when the cache
/// has none. On `identity.kid_unknown` the key set is fetched once more (the issuer may have
/// rotated its keys) and the token verified again; there is no second refetch, so a token
/// naming an unknown key costs at most two key-set requests.
pub async fn verify_with_refetch(
    client: &OidcClient,
    cache: &JwksCache,
    token: &Secret,
    expect: &Expectations,
    now: i64,
) -> Result<VerifiedIdentity, OidcError> {
    // SECURITY: no issuer, no discovery and no key set: the token is refused as unverifiable.
    let Some(issuer) = expect.issuer.as_deref() else {
        return Err(VerifyError::new(
            JOB_TOKEN.ids,
            VerifyErrorKind::Issuer,
            "no issuer is expected: refusing",
        )
        .into());
    };
    let keys = match cache.get(issuer) {
        Some(keys) => keys,
        None => {
            // Discovery, and beside it the key set where GitHub keeps it
            // (`{issuer}/.well-known/jwks`), fetched ahead: used only when discovery names
            // exactly that URI, so it saves a round trip without trusting a guess. The guess
            // is on the issuer's own origin; a key set discovery names elsewhere is refused
            // as before, and nothing from the guess is used then.
            let guess = check_url(&format!(
                "{}/.well-known/jwks",
                issuer.trim_end_matches('/')
            ))
            .ok();
            let (discovery, guessed) = tokio::join!(client.discover(issuer), async {
                match &guess {
                    Some(uri) => Some(client.fetch_jwks(uri).await),
                    None => None,
                }
            });
            let discovery = discovery?;
            let jwks = match guessed {
                Some(Ok(jwks)) if guess.as_ref() == Some(&discovery.jwks_uri) => jwks,
                _ => client.fetch_jwks(&discovery.jwks_uri).await?,
            };
            let keys = CachedKeys {
                jwks_uri: discovery.jwks_uri,
                jwks: Arc::new(jwks),
            };
            cache.put(issuer, keys.clone());
            keys
        }
    };
    match verify(token.expose(), &keys.jwks, expect, now) {
        Err(e) if e.kind == VerifyErrorKind::KidUnknown => {
            // SECURITY: exactly one refetch, never a loop (catalogue row 7).
            let jwks = Arc::new(client.fetch_jwks(&keys.jwks_uri).await?);
            cache.put(
                issuer,
                CachedKeys {
                    jwks_uri: keys.jwks_uri.clone(),
                    jwks: Arc::clone(&jwks),
                },
            );
            Ok(verify(token.expose(), &jwks, expect, now)?)
        }
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn audience_is_appended_with_the_right_separator() {
        assert_eq!(
            with_audience(&u("https://t.test/idtoken"), "prod-access").as_str(),
            "https://t.test/idtoken?audience=prod-access"
        );
        assert_eq!(
            with_audience(&u("https://t.test/idtoken?api-version=2.0"), "prod-access").as_str(),
            "https://t.test/idtoken?api-version=2.0&audience=prod-access"
        );
        assert_eq!(
            with_audience(&u("https://t.test/idtoken?"), "a").as_str(),
            "https://t.test/idtoken?audience=a"
        );
    }

    #[test]
    fn audience_is_percent_encoded() {
        assert_eq!(
            with_audience(&u("https://t.test/x?v=1"), "https://a.test/b?c=d&e f").as_str(),
            "https://t.test/x?v=1&audience=https%3A%2F%2Fa.test%2Fb%3Fc%3Dd%26e%20f"
        );
    }

    #[test]
    fn an_existing_audience_is_replaced_not_duplicated() {
        let out = with_audience(
            &u("https://t.test/x?audience=evil&v=1&%61udience=evil2&audiences=keep"),
            "prod-access",
        );
        assert_eq!(
            out.as_str(),
            "https://t.test/x?v=1&audiences=keep&audience=prod-access"
        );
        let auds: Vec<_> = out
            .query_pairs()
            .filter(|(k, _)| k == "audience")
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(auds, ["prod-access"]);
    }

    #[test]
    fn ids_and_classes() {
        use FetchErrorKind as K;
        assert_eq!(K::TokenUnavailable.exit_class(), ExitClass::Upstream);
        assert_eq!(K::JwksUnavailable.exit_class(), ExitClass::Upstream);
        assert_eq!(K::JwksOrigin.exit_class(), ExitClass::Denied);
        assert_eq!(K::InsecureUrl.id(), "config.insecure_url");
        assert_eq!(K::InsecureUrl.exit_class(), ExitClass::Config);
    }
}
