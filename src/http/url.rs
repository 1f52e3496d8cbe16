//! Syntax checks on every URL the tool is about to call, before any network access.
//!
//! SECURITY: `https` only, except plain `http` to a loopback address (`127.0.0.0/8`, `::1`,
//! `localhost`), which the tests and `demo` use; no userinfo (credentials in a URL end up
//! in logs and let `https://trusted@evil.test` look trusted); no fragment; for an issuer
//! also no query (the issuer is compared byte for byte with the token's `iss`, and OIDC
//! discovery appends a path to it). Whitespace, control and non-ASCII characters are
//! refused rather than silently stripped or re-encoded by the URL parser.
//!
//! The same check serves `GITHUB_API_URL` and friends (contract §2, catalogue row 72).

use std::net::IpAddr;

pub use ::url::Url;

/// The requirement id every URL refusal carries.
pub const INSECURE_URL_ID: &str = "config.insecure_url";

/// Why a URL was refused. Every variant carries the id [`INSECURE_URL_ID`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{url}` is not a valid absolute URL: {why}")]
    Invalid { url: String, why: String },
    #[error("`{url}` uses `{scheme}`; only https is allowed (http only to a loopback address)")]
    Scheme { url: String, scheme: String },
    #[error("`{url}` holds a user name or password")]
    Userinfo { url: String },
    #[error("`{url}` has a fragment (`#...`)")]
    Fragment { url: String },
    #[error("`{url}` has a query (`?...`), which an issuer must not have")]
    Query { url: String },
}

impl UrlError {
    /// The stable requirement id.
    pub fn id(&self) -> &'static str {
        INSECURE_URL_ID
    }
}

/// Checks a URL the tool will call: https, or http to loopback; no userinfo, no fragment.
pub fn check_url(s: &str) -> Result<Url, UrlError> {
    let invalid = |why: &str| UrlError::Invalid {
        url: printable(s),
        why: why.to_string(),
    };
    if s.is_empty() {
        return Err(invalid("it is empty"));
    }
    // SECURITY: the WHATWG parser drops tabs and newlines anywhere and trims spaces and
    // controls at both ends; `https://tok\nen.example` would silently become another host.
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "it contains whitespace, control or non-ASCII characters",
        ));
    }
    let url = Url::parse(s).map_err(|e| invalid(&e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        other => {
            return Err(UrlError::Scheme {
                url: printable(s),
                scheme: other.to_string(),
            });
        }
    }
    if url.host().is_none() {
        return Err(invalid("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() || has_userinfo(s) {
        return Err(UrlError::Userinfo { url: printable(s) });
    }
    if url.fragment().is_some() {
        return Err(UrlError::Fragment { url: printable(s) });
    }
    Ok(url)
}

/// [`check_url`], and no query: for an OIDC issuer.
pub fn check_issuer(s: &str) -> Result<Url, UrlError> {
    let url = check_url(s)?;
    if url.query().is_some() {
        return Err(UrlError::Query { url: printable(s) });
    }
    Ok(url)
}

/// Whether two URLs share an origin: scheme, host and port (the scheme's default port when
/// none is written).
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        // The parser lower-cases domains. `localhost.` (trailing dot) is not accepted.
        Some(::url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// `https://@host/` parses with an empty user name; refuse any `@` in the authority.
fn has_userinfo(s: &str) -> bool {
    let Some(rest) = s.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

/// The URL for an error message: printable ASCII only, bounded.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if s.chars().count() > 200 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://token.actions.githubusercontent.com",
            "https://api.github.com",
            "https://ghe.example.com/_services/token",
            "https://example.com:8443/path?x=1",
            "http://127.0.0.1:8080",
            "http://127.1.2.3/x",
            "http://[::1]:9000/",
            "http://localhost:3000",
            "http://LOCALHOST:3000",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_insecure_or_ambiguous_urls() {
        for bad in [
            "",
            "http://example.invalid",
            "http://example.com",
            "http://10.0.0.1",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost.:80/",
            "http://localhost.evil.test/",
            "http://127.0.0.1.nip.io/",
            "ftp://example.com",
            "file:///etc/passwd",
            "https://user:pw@example.com",
            "https://user@example.com",
            "https://@example.com",
            "https://example.com/#frag",
            "https://example.com/#",
            "https://exa\nmple.com",
            "https://exa\tmple.com",
            " https://example.com",
            "https://example.com ",
            "https://exämple.com",
            "example.com",
            "/relative",
            "https://",
        ] {
            let err = check_url(bad).expect_err(bad);
            assert_eq!(err.id(), "config.insecure_url");
        }
    }

    #[test]
    fn issuer_refuses_query() {
        assert!(check_issuer("https://issuer.example/path").is_ok());
        assert!(matches!(
            check_issuer("https://issuer.example/?a=b"),
            Err(UrlError::Query { .. })
        ));
        assert!(matches!(
            check_issuer("https://issuer.example/?"),
            Err(UrlError::Query { .. })
        ));
        // A request URL may carry one.
        assert!(check_url("https://issuer.example/?api-version=2.0").is_ok());
    }

    #[test]
    fn origin_compares_scheme_host_and_port() {
        let u = |s| Url::parse(s).unwrap();
        assert!(same_origin(
            &u("https://a.test"),
            &u("https://a.test:443/x")
        ));
        assert!(!same_origin(&u("https://a.test"), &u("http://a.test")));
        assert!(!same_origin(&u("https://a.test"), &u("https://a.test:444")));
        assert!(!same_origin(&u("https://a.test"), &u("https://b.a.test")));
        assert!(!same_origin(
            &u("http://127.0.0.1:1"),
            &u("http://127.0.0.1:2")
        ));
    }

    #[test]
    fn errors_print_bounded_ascii() {
        let long = format!("http://{}", "a".repeat(500));
        let msg = check_url(&long).unwrap_err().to_string();
        assert!(msg.len() < 320, "{msg}");
    }
}
