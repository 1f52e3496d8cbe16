//! The GitHub REST client behind [`Forge`].
//!
//! Built on the crate's one reqwest client ([`crate::http`]) rather than octocrab: octocrab
//! 0.54 reads every body whole (`body.collect()`), takes its TLS roots from the platform
//! store (which `SSL_CERT_FILE` from an earlier step can extend) unless another feature
//! is chosen, follows redirects by default, and its rate-limit retry sleeps for whatever
//! `Retry-After` says. Our rules need a body cap, pinned roots, no redirects, and a bounded
//! `Retry-After`; and the run approvals and team endpoints would need raw requests anyway.
//!
//! SECURITY, for every request:
//! - The base URL (`GITHUB_API_URL`, GHES `https://host/api/v3` included) passes
//!   [`check_url`] before any connection.
//! - The token goes only in `Authorization: Bearer`, a header marked sensitive. A
//!   pagination `next` link off the base URL's origin and path is refused (the token
//!   would follow it).
//! - Bodies are capped ([`ForgeConfig::body_cap`]); a truncated body, HTML or malformed
//!   JSON is an upstream failure, never an empty list.
//! - Retries: 500/502/503/504, 429 and secondary-rate-limit 403s, and transport errors, at
//!   most [`ForgeConfig::max_retries`] times, with backoff; `Retry-After` honoured only up
//!   to [`ForgeConfig::max_retry_after`], beyond which the request fails at once naming
//!   when to retry. A 403 with `x-ratelimit-remaining: 0` fails at once with the reset time.
//! - One deadline ([`ForgeConfig::deadline`]) from the client's creation bounds every
//!   request, retry and sleep: gathering evidence cannot outlive it.
//!
//! See: <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api>

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::{
    Comment, DeploymentReview, Forge, ForgeError, ForgeErrorKind as K, ForgeResult, LabelEvent,
    Membership, Permission, PermissionAnswer, PullRequest, RepoRef, Repository, Review,
    ReviewState, RunInfo, RunPullRequest, UserRef, Viewer,
};
use crate::http::{BodyError, read_capped};
use crate::secret::Secret;
use crate::url_rules::{Url, check_url};

/// `GITHUB_API_URL` when the runner does not set it.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The API version every request names.
pub const API_VERSION: &str = "2022-11-28";
/// Largest policy file read (contract: refuse above 256 KiB).
pub const POLICY_CAP: usize = 256 * 1024;

/// Limits of the GitHub client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeConfig {
    /// Everything (every request, retry and backoff) ends by this long after the client was
    /// created. At most 30 s in production.
    pub deadline: Duration,
    /// One request, body included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubled on each retry.
    pub backoff: Duration,
    /// The longest `Retry-After` waited for; a longer one fails at once.
    pub max_retry_after: Duration,
    /// Largest body read.
    pub body_cap: usize,
    /// Most pages read of one list (at `per_page=100`); more is a failure, not a truncation.
    pub max_pages: u32,
}

impl Default for ForgeConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(5),
            body_cap: 4 * 1024 * 1024,
            max_pages: 30,
        }
    }
}

/// The GitHub REST client.
pub struct GitHub {
    http: reqwest::Client,
    base: Url,
    /// The GraphQL endpoint (`viewer` only): `GITHUB_GRAPHQL_URL` when it is on the API's
    /// origin, else derived from the API URL.
    graphql: Url,
    token: Secret,
    config: ForgeConfig,
    deadline: Instant,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("base", &self.base.as_str())
            .field("token", &self.token)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A response that passed the status checks: its headers and whole body.
struct Answer {
    headers: HeaderMap,
    body: Zeroizing<Vec<u8>>,
}

impl GitHub {
    /// A client for `api_url` (`GITHUB_API_URL`, [`DEFAULT_API_URL`] when unset; a GHES
    /// base such as `https://ghe.example/api/v3` keeps its path). The deadline starts now:
    /// create the client right before gathering.
    pub fn new(api_url: &str, token: Secret, config: ForgeConfig) -> ForgeResult<Self> {
        let base = check_url(api_url)
            .map_err(|e| ForgeError::new(K::InsecureUrl, "", format!("GITHUB_API_URL: {e}")))?;
        if base.query().is_some() {
            return Err(ForgeError::new(
                K::InsecureUrl,
                "",
                "GITHUB_API_URL must not have a query",
            ));
        }
        let http =
            crate::http::client(config.request_timeout, config.connect_timeout).map_err(|e| {
                ForgeError::new(K::Client, "", format!("cannot build the HTTP client: {e}"))
            })?;
        let graphql = derive_graphql_url(&base);
        Ok(Self {
            http,
            base,
            graphql,
            token,
            // A deadline too far to represent is capped at the production bound of 30 s.
            deadline: Instant::now()
                .checked_add(config.deadline)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(30)),
            config,
        })
    }

    pub fn config(&self) -> &ForgeConfig {
        &self.config
    }

    /// Uses the runner's `GITHUB_GRAPHQL_URL` (a hint) when it is on the API's origin.
    /// SECURITY: another origin is ignored (the one derived from the API URL stays): an
    /// earlier step cannot send the token, or the `viewer` question, elsewhere.
    pub fn with_graphql_hint(mut self, hint: Option<&str>) -> Self {
        if let Some(url) = hint.and_then(|h| check_url(h).ok())
            && url.origin() == self.base.origin()
            && url.query().is_none()
            && url.fragment().is_none()
        {
            self.graphql = url;
        }
        self
    }

    /// The base URL with these path segments appended (each percent-encoded as one segment).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A `next` link may only stay under the base URL: same origin, same path prefix.
    fn under_base(&self, url: &Url) -> bool {
        let base_path = self.base.path().trim_end_matches('/');
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
            && url.fragment().is_none()
            && (url.path() == base_path || url.path().starts_with(&format!("{base_path}/")))
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn deadline_error(&self, endpoint: &str) -> ForgeError {
        ForgeError::new(
            K::Deadline,
            endpoint,
            format!(
                "the GitHub API did not answer within the {} s deadline",
                self.config.deadline.as_secs_f32()
            ),
        )
    }

    /// One request with the retry policy. `endpoint` is the method and path template.
    async fn call(
        &self,
        method: Method,
        endpoint: &str,
        url: Url,
        body: Option<&serde_json::Value>,
        cap: usize,
    ) -> ForgeResult<Result<Answer, u16>> {
        let mut attempt: u32 = 0;
        loop {
            let remaining = self.remaining();
            if remaining.is_zero() {
                return Err(self.deadline_error(endpoint));
            }
            let outcome = tokio::time::timeout(
                remaining,
                self.attempt(method.clone(), endpoint, url.clone(), body, cap),
            )
            .await;
            let retry_after = match outcome {
                Err(_) => return Err(self.deadline_error(endpoint)),
                Ok(Attempt::Done(r)) => return r,
                Ok(Attempt::Retry { after, error }) => {
                    // SECURITY: a POST that failed with 5xx or in transit may have landed;
                    // repeating it could post the audit comment twice. Only a rate-limit
                    // refusal (nothing was done) is retried.
                    if method == Method::POST && error.kind != K::RateLimited {
                        return Err(error);
                    }
                    if attempt >= self.config.max_retries {
                        let mut error = error;
                        error.detail =
                            format!("{} (gave up after {} attempts)", error.detail, attempt + 1);
                        return Err(error);
                    }
                    // SECURITY: never sleep past the deadline; fail now instead.
                    let wait = after.unwrap_or_else(|| {
                        self.config
                            .backoff
                            .saturating_mul(2u32.saturating_pow(attempt))
                    });
                    if wait >= self.remaining() {
                        let mut error = error;
                        error.detail = format!(
                            "{} (no time left to retry before the deadline)",
                            error.detail
                        );
                        return Err(error);
                    }
                    wait
                }
            };
            tracing::debug!(
                endpoint,
                attempt,
                ?retry_after,
                "retrying GitHub API request"
            );
            tokio::time::sleep(retry_after).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        method: Method,
        endpoint: &str,
        url: Url,
        body: Option<&serde_json::Value>,
        cap: usize,
    ) -> Attempt {
        let bearer = Zeroizing::new(format!("Bearer {}", self.token.expose()));
        let Ok(mut auth) = HeaderValue::from_str(&bearer) else {
            return Attempt::Done(Err(ForgeError::new(
                K::Client,
                endpoint,
                "the token is not a valid header value",
            )));
        };
        auth.set_sensitive(true);
        let mut request = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let resp = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    after: None,
                    error: ForgeError::new(K::Transport, endpoint, transport(&e)),
                };
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        match status {
            200..=299 => match read_capped(resp, cap).await {
                Ok(body) => Attempt::Done(Ok(Ok(Answer { headers, body }))),
                Err(BodyError::TooLarge { .. }) => Attempt::Done(Err(ForgeError::new(
                    K::Body,
                    endpoint,
                    format!("the answer is larger than {cap} bytes"),
                )
                .with_status(status))),
                // A reset or a body shorter than its Content-Length: retried, then a failure.
                Err(BodyError::Read(e)) => Attempt::Retry {
                    after: None,
                    error: ForgeError::new(
                        K::Transport,
                        endpoint,
                        format!("the answer was cut off: {}", transport(&e)),
                    )
                    .with_status(status),
                },
            },
            404 => Attempt::Done(Ok(Err(404))),
            403 | 429 => self.rate_limited(endpoint, status, &headers, resp).await,
            500 | 502 | 503 | 504 => Attempt::Retry {
                after: None,
                error: ForgeError::new(K::Status, endpoint, format!("GitHub answered {status}"))
                    .with_status(status),
            },
            300..=399 => Attempt::Done(Err(ForgeError::new(
                K::Status,
                endpoint,
                format!("GitHub answered a redirect ({status}), which is never followed"),
            )
            .with_status(status))),
            _ => Attempt::Done(Ok(Err(status))),
        }
    }

    /// 403 and 429: a primary limit (remaining 0) fails with the reset time; a secondary limit
    /// is retried, waiting `Retry-After` when it is short; any other 403 is returned.
    async fn rate_limited(
        &self,
        endpoint: &str,
        status: u16,
        headers: &HeaderMap,
        resp: reqwest::Response,
    ) -> Attempt {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .map(str::to_string)
        };
        let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok());
        let remaining = header("x-ratelimit-remaining");
        let reset = header("x-ratelimit-reset")
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|s| Utc.timestamp_opt(s, 0).single());
        if remaining.as_deref() == Some("0") && retry_after.is_none() {
            let when = reset.map_or_else(|| "an unknown time".to_string(), crate::text::rfc3339);
            return Attempt::Done(Err(ForgeError::new(
                K::RateLimited,
                endpoint,
                format!("the API rate limit is exhausted ({status}); it resets at {when}"),
            )
            .with_status(status)));
        }
        if let Some(secs) = retry_after {
            let wait = Duration::from_secs(secs);
            if wait > self.config.max_retry_after {
                // Checked arithmetic: a hostile Retry-After must not panic the date maths.
                let at = i64::try_from(secs)
                    .ok()
                    .and_then(chrono::TimeDelta::try_seconds)
                    .and_then(|d| Utc::now().checked_add_signed(d))
                    .map_or_else(
                        || "a time too far away to print".to_string(),
                        crate::text::rfc3339,
                    );
                return Attempt::Done(Err(ForgeError::new(
                    K::RateLimited,
                    endpoint,
                    format!("rate limited ({status}) with Retry-After: {secs} s; retry after {at}"),
                )
                .with_status(status)));
            }
            return Attempt::Retry {
                after: Some(wait),
                error: ForgeError::new(
                    K::RateLimited,
                    endpoint,
                    format!("rate limited ({status}) with Retry-After: {secs} s"),
                )
                .with_status(status),
            };
        }
        if status == 429 {
            return Attempt::Retry {
                after: None,
                error: ForgeError::new(K::RateLimited, endpoint, "rate limited (429)")
                    .with_status(status),
            };
        }
        // A 403 without rate-limit headers: a secondary limit says so in its message.
        // See: <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits>
        let body = read_capped(resp, 64 * 1024).await.unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default()
            .to_ascii_lowercase();
        if message.contains("secondary rate limit") || message.contains("abuse") {
            return Attempt::Retry {
                after: None,
                error: ForgeError::new(
                    K::RateLimited,
                    endpoint,
                    "secondary rate limit (403 without Retry-After)",
                )
                .with_status(status),
            };
        }
        Attempt::Done(Ok(Err(status)))
    }

    /// A GET that must answer 2xx with JSON of type `T`.
    async fn get_json<T: DeserializeOwned>(&self, endpoint: &str, url: Url) -> ForgeResult<T> {
        match self.get_json_or_status(endpoint, url).await? {
            Ok(v) => Ok(v),
            Err(status) => Err(unexpected(endpoint, status)),
        }
    }

    /// A GET answering JSON of type `T`, or the status for 404 and other plain 4xx.
    async fn get_json_or_status<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        url: Url,
    ) -> ForgeResult<Result<T, u16>> {
        match self
            .call(Method::GET, endpoint, url, None, self.config.body_cap)
            .await?
        {
            Ok(answer) => parse(endpoint, &answer).map(Ok),
            Err(status) => Ok(Err(status)),
        }
    }

    /// Every page of a list, following `Link: rel="next"`.
    async fn get_pages<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        url: Url,
    ) -> ForgeResult<Vec<T>> {
        let mut next = Some(with_query(url, &[("per_page", "100")]));
        let mut items = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            if pages >= self.config.max_pages {
                return Err(ForgeError::new(
                    K::Body,
                    endpoint,
                    format!(
                        "more than {} pages; refusing to decide on part of the list",
                        self.config.max_pages
                    ),
                ));
            }
            pages += 1;
            let answer = match self
                .call(Method::GET, endpoint, url, None, self.config.body_cap)
                .await?
            {
                Ok(a) => a,
                Err(status) => return Err(unexpected(endpoint, status)),
            };
            let page: Vec<T> = parse(endpoint, &answer)?;
            items.extend(page);
            if let Some(link) = next_link(&answer.headers) {
                let url = Url::parse(&link).map_err(|_| {
                    ForgeError::new(K::Body, endpoint, "the `next` link is not a URL")
                })?;
                if !self.under_base(&url) {
                    return Err(ForgeError::new(
                        K::Body,
                        endpoint,
                        "the `next` link leaves the API base URL; not followed",
                    ));
                }
                next = Some(url);
            }
        }
        Ok(items)
    }

    async fn write_json<T: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: &str,
        url: Url,
        body: &serde_json::Value,
    ) -> ForgeResult<T> {
        match self
            .call(method, endpoint, url, Some(body), self.config.body_cap)
            .await?
        {
            Ok(answer) => parse(endpoint, &answer),
            Err(status) => Err(unexpected(endpoint, status)),
        }
    }
}

/// `https://api.github.com/graphql` for `https://api.github.com`; `/api/graphql` for a GHES
/// base `/api/v3`; `<base>/graphql` otherwise.
fn derive_graphql_url(base: &Url) -> Url {
    let mut url = base.clone();
    let path = base.path().trim_end_matches('/');
    let new_path = match path.strip_suffix("/api/v3") {
        Some(prefix) => format!("{prefix}/api/graphql"),
        None => format!("{path}/graphql"),
    };
    url.set_path(&new_path);
    url
}

enum Attempt {
    Done(ForgeResult<Result<Answer, u16>>),
    Retry {
        after: Option<Duration>,
        error: ForgeError,
    },
}

fn unexpected(endpoint: &str, status: u16) -> ForgeError {
    let kind = if status == 404 {
        K::NotFound
    } else {
        K::Status
    };
    let hint = match status {
        401 => " (the token is invalid or expired)",
        403 => " (the token lacks a permission this endpoint needs)",
        404 => " (missing, or invisible to the token)",
        _ => "",
    };
    ForgeError::new(kind, endpoint, format!("GitHub answered {status}{hint}")).with_status(status)
}

fn transport(e: &reqwest::Error) -> String {
    let timed_out = e.is_timeout();
    let mut out = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    out.push_str(if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "error reading the body"
    } else {
        "request failed"
    });
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

fn parse<T: DeserializeOwned>(endpoint: &str, answer: &Answer) -> ForgeResult<T> {
    let first = answer
        .body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied();
    if first == Some(b'<') {
        return Err(ForgeError::new(
            K::Body,
            endpoint,
            "the answer is HTML, not JSON (a proxy or an error page?)",
        ));
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        ForgeError::new(
            K::Body,
            endpoint,
            format!(
                "the answer is not the expected JSON ({})",
                e.classify_name()
            ),
        )
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

fn with_query(mut url: Url, pairs: &[(&str, &str)]) -> Url {
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url
}

/// The `rel="next"` target of a `Link` header (RFC 8288, as GitHub writes it).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all("link") {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim();
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if is_next && target.starts_with('<') && target.ends_with('>') {
                return Some(target[1..target.len() - 1].to_string());
            }
        }
    }
    None
}

// --- GitHub's JSON shapes (only the fields used) -------------------------------------------

#[derive(Deserialize)]
struct GhUser {
    login: String,
    id: Option<u64>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

impl From<GhUser> for UserRef {
    fn from(u: GhUser) -> Self {
        UserRef {
            bot: u.kind.as_deref() == Some("Bot"),
            login: u.login,
            id: u.id,
        }
    }
}

fn user(u: Option<GhUser>) -> Option<UserRef> {
    u.map(UserRef::from)
}

#[derive(Deserialize)]
struct GhRepo {
    id: u64,
    default_branch: String,
}

#[derive(Deserialize)]
struct GhContent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
struct GhName {
    name: String,
}

#[derive(Deserialize)]
struct GhRepoId {
    id: u64,
}

#[derive(Deserialize)]
struct GhHead {
    sha: String,
    #[serde(default)]
    repo: Option<GhRepoId>,
}

#[derive(Deserialize)]
struct GhBase {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    repo: Option<GhRepoId>,
}

#[derive(Deserialize)]
struct GhPull {
    number: u64,
    state: String,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    user: Option<GhUser>,
    #[serde(default)]
    labels: Vec<GhName>,
    head: GhHead,
    base: GhBase,
}

impl GhPull {
    fn into_model(self) -> Option<PullRequest> {
        // SECURITY: a PR without an author cannot be checked for self-approval: refuse it.
        let author = self.user?;
        // SECURITY: a deleted head repository (null) counts as a fork.
        let from_fork = match (&self.head.repo, &self.base.repo) {
            (Some(h), Some(b)) => h.id != b.id,
            _ => true,
        };
        Some(PullRequest {
            number: self.number,
            head_sha: self.head.sha,
            base_ref: self.base.git_ref,
            author: author.into(),
            labels: self.labels.into_iter().map(|l| l.name).collect(),
            state: self.state,
            merged: self.merged.unwrap_or(false) || self.merged_at.is_some(),
            from_fork,
            body: self.body,
            title: self.title.unwrap_or_default(),
        })
    }
}

#[derive(Deserialize)]
struct GhReview {
    id: u64,
    user: Option<GhUser>,
    state: ReviewState,
    #[serde(default)]
    commit_id: Option<String>,
    #[serde(default)]
    submitted_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct GhPrCommit {
    #[serde(default)]
    author: Option<GhUser>,
    #[serde(default)]
    committer: Option<GhUser>,
}

#[derive(Deserialize)]
struct GhCommitInner {
    message: String,
}

#[derive(Deserialize)]
struct GhCommit {
    commit: GhCommitInner,
}

#[derive(Deserialize)]
struct GhPermission {
    permission: String,
    #[serde(default)]
    user: Option<GhUser>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: serde::de::DeserializeOwned"))]
struct GhGraphql<T> {
    #[serde(default = "none")]
    data: Option<T>,
    #[serde(default)]
    errors: Option<serde_json::Value>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Deserialize)]
struct GhViewerData {
    viewer: GhViewer,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GhViewer {
    login: String,
    database_id: u64,
}

#[derive(Deserialize)]
struct GhMembership {
    state: String,
}

#[derive(Deserialize)]
struct GhIssueEvent {
    #[serde(default)]
    id: u64,
    event: String,
    #[serde(default)]
    actor: Option<GhUser>,
    #[serde(default)]
    label: Option<GhName>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct GhRunPull {
    number: u64,
    head: GhHead,
}

#[derive(Deserialize)]
struct GhRun {
    id: u64,
    event: String,
    head_sha: String,
    #[serde(default)]
    pull_requests: Vec<GhRunPull>,
    #[serde(default)]
    run_attempt: Option<u32>,
    #[serde(default)]
    actor: Option<GhUser>,
    #[serde(default)]
    triggering_actor: Option<GhUser>,
}

#[derive(Deserialize)]
struct GhApproval {
    state: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    environments: Vec<GhName>,
    #[serde(default)]
    user: Option<GhUser>,
}

#[derive(Deserialize)]
struct GhComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<GhUser>,
}

impl From<GhComment> for Comment {
    fn from(c: GhComment) -> Self {
        Comment {
            id: c.id,
            body: c.body.unwrap_or_default(),
            author: user(c.user),
        }
    }
}

const E_REPO: &str = "GET /repos/{owner}/{repo}";
const E_CONTENTS: &str = "GET /repos/{owner}/{repo}/contents/{path}";
const E_PULL: &str = "GET /repos/{owner}/{repo}/pulls/{pull_number}";
const E_REVIEWS: &str = "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews";
const E_PR_COMMITS: &str = "GET /repos/{owner}/{repo}/pulls/{pull_number}/commits";
const E_PERMISSION: &str = "GET /repos/{owner}/{repo}/collaborators/{username}/permission";
const E_TEAM: &str = "GET /orgs/{org}/teams/{team_slug}";
const E_MEMBERSHIP: &str = "GET /orgs/{org}/teams/{team_slug}/memberships/{username}";
const E_EVENTS: &str = "GET /repos/{owner}/{repo}/issues/{issue_number}/events";
const E_COMMIT: &str = "GET /repos/{owner}/{repo}/commits/{ref}";
const E_COMMIT_PULLS: &str = "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls";
const E_RUN: &str = "GET /repos/{owner}/{repo}/actions/runs/{run_id}";
const E_APPROVALS: &str = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals";
const E_COMMENTS: &str = "GET /repos/{owner}/{repo}/issues/{issue_number}/comments";
const E_COMMENT_CREATE: &str = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";
const E_COMMENT_UPDATE: &str = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}";
const E_GRAPHQL: &str = "POST /graphql";

/// Every endpoint template the client calls, as its errors name them.
pub const ENDPOINTS: [&str; 17] = [
    E_REPO,
    E_CONTENTS,
    E_PULL,
    E_REVIEWS,
    E_PR_COMMITS,
    E_PERMISSION,
    E_TEAM,
    E_MEMBERSHIP,
    E_EVENTS,
    E_COMMIT,
    E_COMMIT_PULLS,
    E_RUN,
    E_APPROVALS,
    E_COMMENTS,
    E_COMMENT_CREATE,
    E_COMMENT_UPDATE,
    E_GRAPHQL,
];

impl Forge for GitHub {
    async fn repository(&self, repo: &RepoRef) -> ForgeResult<Repository> {
        let url = self.url(&["repos", &repo.owner, &repo.name]);
        let r: GhRepo = self.get_json(E_REPO, url).await?;
        Ok(Repository {
            repo: repo.clone(),
            id: r.id,
            default_branch: r.default_branch,
        })
    }

    async fn policy_file(
        &self,
        repo: &RepoRef,
        path: &str,
        git_ref: Option<&str>,
    ) -> ForgeResult<String> {
        // SECURITY: `.` and `..` segments would be dropped silently by the URL builder, so
        // a path is refused rather than read from somewhere else than it says.
        if path.is_empty()
            || path
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(ForgeError::new(
                K::PolicyUnreadable,
                E_CONTENTS,
                format!("`{path}` is not a plain relative path (no empty, `.` or `..` parts)"),
            ));
        }
        let mut segments = vec!["repos", repo.owner.as_str(), repo.name.as_str(), "contents"];
        segments.extend(path.split('/'));
        let where_ = git_ref.unwrap_or("the default branch");
        let url = match git_ref {
            Some(git_ref) => with_query(self.url(&segments), &[("ref", git_ref)]),
            None => self.url(&segments),
        };
        // The JSON form is base64: 4/3 of the file, plus line breaks.
        let cap = POLICY_CAP * 3 / 2 + 64 * 1024;
        let unreadable = |why: String| ForgeError::new(K::PolicyUnreadable, E_CONTENTS, why);
        let answer = match self.call(Method::GET, E_CONTENTS, url, None, cap).await {
            Ok(Ok(a)) => a,
            Ok(Err(404)) => {
                return Err(ForgeError::new(
                    K::PolicyNotFound,
                    E_CONTENTS,
                    format!("policy {path} not found on {where_}"),
                )
                .with_status(404));
            }
            Ok(Err(status)) => return Err(unexpected(E_CONTENTS, status)),
            Err(e) if e.kind == K::Body && e.detail.contains("larger than") => {
                return Err(unreadable(format!(
                    "policy {path} on {where_} is larger than {POLICY_CAP} bytes"
                )));
            }
            Err(e) => return Err(e),
        };
        let value: serde_json::Value = parse(E_CONTENTS, &answer)?;
        if value.is_array() {
            return Err(unreadable(format!(
                "{path} on {where_} is a directory, not a file"
            )));
        }
        let c: GhContent = serde_json::from_value(value)
            .map_err(|_| ForgeError::new(K::Body, E_CONTENTS, "unexpected shape"))?;
        if c.kind != "file" {
            return Err(unreadable(format!(
                "{path} on {where_} is a {}, not a file",
                c.kind
            )));
        }
        if c.size.is_some_and(|s| s > POLICY_CAP as u64) {
            return Err(unreadable(format!(
                "policy {path} on {where_} is larger than {POLICY_CAP} bytes"
            )));
        }
        if c.encoding.as_deref() != Some("base64") {
            return Err(unreadable(format!(
                "policy {path} on {where_} is not served base64-encoded (too large?)"
            )));
        }
        let b64: Vec<u8> = c
            .content
            .unwrap_or_default()
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .map_err(|_| ForgeError::new(K::Body, E_CONTENTS, "`content` is not valid base64"))?;
        if bytes.len() > POLICY_CAP {
            return Err(unreadable(format!(
                "policy {path} on {where_} is larger than {POLICY_CAP} bytes"
            )));
        }
        String::from_utf8(bytes)
            .map_err(|_| unreadable(format!("policy {path} on {where_} is not UTF-8")))
    }

    async fn pull_request(&self, repo: &RepoRef, number: u64) -> ForgeResult<Option<PullRequest>> {
        let n = number.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "pulls", &n]);
        match self.get_json_or_status::<GhPull>(E_PULL, url).await? {
            Ok(pr) => pr.into_model().map(Some).ok_or_else(|| {
                ForgeError::new(K::Body, E_PULL, "the pull request names no author")
            }),
            Err(404) => Ok(None),
            Err(status) => Err(unexpected(E_PULL, status)),
        }
    }

    async fn reviews(&self, repo: &RepoRef, number: u64) -> ForgeResult<Vec<Review>> {
        let n = number.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "pulls", &n, "reviews"]);
        let reviews: Vec<GhReview> = self.get_pages(E_REVIEWS, url).await?;
        Ok(reviews
            .into_iter()
            .map(|r| Review {
                id: r.id,
                user: user(r.user),
                state: r.state,
                commit_id: r.commit_id,
                submitted_at: r.submitted_at,
            })
            .collect())
    }

    async fn pr_commit_authors(&self, repo: &RepoRef, number: u64) -> ForgeResult<Vec<UserRef>> {
        let n = number.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "pulls", &n, "commits"]);
        // GitHub lists at most 250 commits here; a PR with more cannot be checked for
        // `strict`, so a full last page is refused below.
        let commits: Vec<GhPrCommit> = self.get_pages(E_PR_COMMITS, url).await?;
        if commits.len() >= 250 {
            return Err(ForgeError::new(
                K::Body,
                E_PR_COMMITS,
                "the PR has 250 commits or more, more than GitHub lists; `strict` cannot be checked",
            ));
        }
        let mut out: Vec<UserRef> = Vec::new();
        for c in commits {
            for u in [c.author, c.committer].into_iter().flatten() {
                let u = UserRef::from(u);
                if !out.iter().any(|o| o.id == u.id && o.key() == u.key()) {
                    out.push(u);
                }
            }
        }
        Ok(out)
    }

    async fn permission(&self, repo: &RepoRef, login: &str) -> ForgeResult<PermissionAnswer> {
        let url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "collaborators",
            login,
            "permission",
        ]);
        match self
            .get_json_or_status::<GhPermission>(E_PERMISSION, url)
            .await?
        {
            Ok(p) => Ok(PermissionAnswer {
                permission: Permission::from_api(&p.permission),
                user_id: p.user.and_then(|u| u.id),
            }),
            Err(404) => Ok(PermissionAnswer {
                permission: Permission::None,
                user_id: None,
            }),
            Err(status) => Err(unexpected(E_PERMISSION, status)),
        }
    }

    async fn team_visible(&self, org: &str, team: &str) -> ForgeResult<()> {
        let url = self.url(&["orgs", org, "teams", team]);
        match self
            .get_json_or_status::<serde_json::Value>(E_TEAM, url)
            .await?
        {
            Ok(_) => Ok(()),
            Err(status @ (401 | 403 | 404)) => Err(ForgeError::new(
                K::TeamInvisible,
                E_TEAM,
                format!(
                    "team @{org}/{team} is not visible to the token (GitHub answered {status}): a GitHub App installation token or a token with `read:org` is needed"
                ),
            )
            .with_status(status)),
            Err(status) => Err(unexpected(E_TEAM, status)),
        }
    }

    async fn team_membership(&self, org: &str, team: &str, login: &str) -> ForgeResult<Membership> {
        let url = self.url(&["orgs", org, "teams", team, "memberships", login]);
        match self
            .get_json_or_status::<GhMembership>(E_MEMBERSHIP, url)
            .await?
        {
            Ok(m) => Ok(match m.state.as_str() {
                "active" => Membership::Active,
                "pending" => Membership::Pending,
                // SECURITY: an unknown state is not membership.
                _ => Membership::NotMember,
            }),
            Err(404) => Ok(Membership::NotMember),
            Err(status @ (401 | 403)) => Err(ForgeError::new(
                K::TeamInvisible,
                E_MEMBERSHIP,
                format!(
                    "memberships of @{org}/{team} are not readable with the token (GitHub answered {status}): a GitHub App installation token or a token with `read:org` is needed"
                ),
            )
            .with_status(status)),
            Err(status) => Err(unexpected(E_MEMBERSHIP, status)),
        }
    }

    async fn latest_label_event(
        &self,
        repo: &RepoRef,
        number: u64,
        label: &str,
    ) -> ForgeResult<Option<LabelEvent>> {
        let n = number.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "issues", &n, "events"]);
        let events: Vec<GhIssueEvent> = self.get_pages(E_EVENTS, url).await?;
        // Latest by time, then by id; never by list order.
        let latest = events
            .into_iter()
            .filter(|e| e.event == "labeled")
            .filter(|e| e.label.as_ref().is_some_and(|l| l.name == label))
            .max_by_key(|e| (e.created_at, e.id));
        Ok(latest.map(|e| LabelEvent {
            label: label.to_string(),
            actor: user(e.actor),
            created_at: e.created_at,
        }))
    }

    async fn commit_message(&self, repo: &RepoRef, sha: &str) -> ForgeResult<String> {
        let url = self.url(&["repos", &repo.owner, &repo.name, "commits", sha]);
        let c: GhCommit = self.get_json(E_COMMIT, url).await?;
        Ok(c.commit.message)
    }

    async fn commit_pulls(&self, repo: &RepoRef, sha: &str) -> ForgeResult<Vec<PullRequest>> {
        let url = self.url(&["repos", &repo.owner, &repo.name, "commits", sha, "pulls"]);
        let pulls: Vec<GhPull> = self.get_pages(E_COMMIT_PULLS, url).await?;
        Ok(pulls.into_iter().filter_map(GhPull::into_model).collect())
    }

    async fn run(&self, repo: &RepoRef, run_id: u64) -> ForgeResult<RunInfo> {
        let id = run_id.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "actions", "runs", &id]);
        let r: GhRun = self.get_json(E_RUN, url).await?;
        Ok(RunInfo {
            id: r.id,
            event: r.event,
            head_sha: r.head_sha,
            // SECURITY: an absent attempt is 0, which never equals a token's attempt.
            run_attempt: r.run_attempt.unwrap_or(0),
            actor: user(r.actor),
            triggering_actor: user(r.triggering_actor),
            pull_requests: r
                .pull_requests
                .into_iter()
                .map(|p| RunPullRequest {
                    number: p.number,
                    head_sha: p.head.sha,
                })
                .collect(),
        })
    }

    async fn run_approvals(
        &self,
        repo: &RepoRef,
        run_id: u64,
    ) -> ForgeResult<Vec<DeploymentReview>> {
        let id = run_id.to_string();
        let url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "actions",
            "runs",
            &id,
            "approvals",
        ]);
        let approvals: Vec<GhApproval> = self.get_json(E_APPROVALS, url).await?;
        Ok(approvals
            .into_iter()
            .map(|a| DeploymentReview {
                user: user(a.user),
                state: a.state,
                environments: a.environments.into_iter().map(|e| e.name).collect(),
                comment: a.comment.unwrap_or_default(),
            })
            .collect())
    }

    async fn comments(&self, repo: &RepoRef, number: u64) -> ForgeResult<Vec<Comment>> {
        let n = number.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "issues", &n, "comments"]);
        let comments: Vec<GhComment> = self.get_pages(E_COMMENTS, url).await?;
        Ok(comments.into_iter().map(Comment::from).collect())
    }

    async fn create_comment(
        &self,
        repo: &RepoRef,
        number: u64,
        body: &str,
    ) -> ForgeResult<Comment> {
        let n = number.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "issues", &n, "comments"]);
        let c: GhComment = self
            .write_json(
                Method::POST,
                E_COMMENT_CREATE,
                url,
                &serde_json::json!({ "body": body }),
            )
            .await?;
        Ok(c.into())
    }

    async fn viewer(&self) -> ForgeResult<Viewer> {
        let answer: GhGraphql<GhViewerData> = self
            .write_json(
                Method::POST,
                E_GRAPHQL,
                self.graphql.clone(),
                &serde_json::json!({ "query": "query { viewer { login databaseId } }" }),
            )
            .await?;
        // SECURITY: GraphQL answers 200 with `errors` (and perhaps partial data) on failure:
        // any error fails, whatever data came with it.
        if answer.errors.is_some() {
            return Err(ForgeError::new(
                K::Body,
                E_GRAPHQL,
                "the GraphQL answer carries errors",
            ));
        }
        let Some(data) = answer.data else {
            return Err(ForgeError::new(
                K::Body,
                E_GRAPHQL,
                "the GraphQL answer has no data",
            ));
        };
        Ok(Viewer {
            login: data.viewer.login,
            id: data.viewer.database_id,
        })
    }

    async fn update_comment(
        &self,
        repo: &RepoRef,
        comment_id: u64,
        body: &str,
    ) -> ForgeResult<Comment> {
        let id = comment_id.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "issues", "comments", &id]);
        let c: GhComment = self
            .write_json(
                Method::PATCH,
                E_COMMENT_UPDATE,
                url,
                &serde_json::json!({ "body": body }),
            )
            .await?;
        Ok(c.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://api.github.com/x?page=1>; rel=\"prev\", <https://api.github.com/x?page=3>; rel=\"next\", <https://api.github.com/x?page=9>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/x?page=3")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn urls_keep_the_ghes_prefix_and_encode_segments() {
        let gh = GitHub::new(
            "https://ghe.example/api/v3/",
            Secret::new("t"),
            ForgeConfig::default(),
        )
        .expect("client");
        assert_eq!(
            gh.url(&["repos", "a", "b", "collaborators", "x/y?z", "permission"])
                .as_str(),
            "https://ghe.example/api/v3/repos/a/b/collaborators/x%2Fy%3Fz/permission"
        );
        assert!(
            gh.under_base(&Url::parse("https://ghe.example/api/v3/repos?page=2").expect("url"))
        );
        assert!(!gh.under_base(&Url::parse("https://ghe.example/other").expect("url")));
        assert!(!gh.under_base(&Url::parse("https://evil.example/api/v3/x").expect("url")));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let gh = GitHub::new(
            "https://api.github.com",
            Secret::new("ghs_secretvalue"),
            ForgeConfig::default(),
        )
        .expect("client");
        let text = format!("{gh:?}");
        assert!(
            !text.contains("ghs_secretvalue") && text.contains("***"),
            "{text}"
        );
    }

    #[test]
    fn insecure_base_url_is_a_config_error() {
        let e = GitHub::new(
            "http://example.invalid",
            Secret::new("t"),
            ForgeConfig::default(),
        )
        .expect_err("refused");
        assert_eq!(e.id(), "config.insecure_url");
        assert_eq!(e.exit_class(), crate::exit::ExitClass::Config);
    }
}
