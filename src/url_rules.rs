//! The URL rules: syntax checks on every URL the tool is about to call or trust, before any
//! network access. Pure (the `url` crate only), on the base floor, so the policy compiler
//! and the markdown escaping use the same rules as the HTTP clients.
//!
//! SECURITY: `https` only, except plain `http` to a loopback address (`127.0.0.0/8`, `::1`,
//! `localhost`), which the tests and `demo` use; no userinfo (credentials in a URL end up
//! in logs and let `https://trusted@evil.test` look trusted); no fragment; for an issuer
//! also no query (the issuer is compared byte for byte with the token's `iss`, and OIDC
//! discovery appends a path to it). Whitespace, control and non-ASCII characters are
//! refused rather than silently stripped or re-encoded by the URL parser.
//!
//! SECURITY: no parser differential. The WHATWG parser forgives much (`HTTPS:`, `https:host`,
//! `https:///host`, `\` as `/`, `127.1`, `%65`, an empty port): each such URL is refused,
//! so the host and port we read in the text are the ones the parser will connect to.
//!
//! The same check serves `GITHUB_API_URL` and friends (contract §2, catalogue row 72), the
//! policy's `identity.issuer` and `providers.jwt.issuer` ([`check_issuer`]), and the OIDC
//! client.

use std::net::{IpAddr, Ipv6Addr};

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
    // SECURITY: the parser reads `\` as `/` in http(s) URLs; other readers do not.
    if s.contains('\\') {
        return Err(invalid("it contains `\\`"));
    }
    let url = Url::parse(s).map_err(|e| invalid(&e.to_string()))?;
    if !s.starts_with(&format!("{}://", url.scheme())) {
        return Err(invalid(
            "it must start with a lowercase `https://` (or `http://`) and the host",
        ));
    }
    let authority = written_authority(s);
    if authority.contains('@') {
        return Err(UrlError::Userinfo { url: printable(s) });
    }
    written_as_parsed(authority, &url).map_err(invalid)?;
    match url.scheme() {
        "https" => {}
        "http" if url.host_str().is_some_and(is_loopback) => {}
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
    if !url.username().is_empty() || url.password().is_some() {
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

/// Whether a host is this machine's loopback: `localhost` (any case), `127.0.0.0/8` or `::1`
/// (bracketed or not). A host as [`Url::host_str`] prints it or as a DSN names it; the one
/// definition for the URL rules, the markdown links and the PostgreSQL DSN check.
pub fn is_loopback(host: &str) -> bool {
    let ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    // `localhost.` (trailing dot) and `localhost.evil.test` are not loopback.
    host.eq_ignore_ascii_case("localhost") || ip.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// The authority as written: between `://` and the first `/`, `?` or `#`. (`https://@host/`
/// parses with an empty user name, so any `@` here is refused as user info.)
fn written_authority(s: &str) -> &str {
    let rest = s.split_once("://").map_or("", |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// Whether the host and port written in `authority` are the ones the parser produced: a
/// plain name (letters, digits, `.`, `-`), a dotted IPv4 address as the parser prints it,
/// or a bracketed IPv6 address; a port of 1-65535 in digits, or none.
fn written_as_parsed(authority: &str, url: &Url) -> Result<(), &'static str> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (v6, after) = bracketed.split_once(']').ok_or("it has an invalid host")?;
            let parsed = v6
                .parse::<Ipv6Addr>()
                .map_err(|_| "it has an invalid host")?;
            if url.host() != Some(::url::Host::Ipv6(parsed)) {
                return Err("it has an invalid host");
            }
            match after {
                "" => (None, None),
                _ => (
                    None,
                    Some(after.strip_prefix(':').ok_or("it has an invalid host")?),
                ),
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(authority), None),
        },
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err("it has no host");
        }
        let plain = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !plain || !url.host_str().is_some_and(|h| h.eq_ignore_ascii_case(host)) {
            return Err("it has an invalid host");
        }
    }
    if let Some(port) = port {
        let written = (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            .then(|| port.parse::<u16>().ok())
            .flatten()
            .filter(|p| *p > 0);
        if written.is_none() || written != url.port_or_known_default() {
            return Err("it has an invalid port");
        }
    }
    Ok(())
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

    /// The issuer table the policy compiler used to check with its own parser.
    #[test]
    fn issuer_table() {
        for url in [
            "https://token.actions.githubusercontent.com",
            "https://example.com/",
            "https://example.com:8443/path/x",
            "https://example.com:443/",
            "https://[2001:db8::1]/x",
            "http://127.0.0.1",
            "http://localhost/",
            "http://LOCALHOST:80",
            "http://[::1]",
        ] {
            assert!(check_issuer(url).is_ok(), "{url}");
        }
        for url in [
            "",
            "token.actions.githubusercontent.com",
            "http://token.actions.githubusercontent.com",
            "HTTPS://example.com",
            "https:example.com",
            "https:/example.com",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https:///example.com",
            "https://user@example.com",
            "https://user:pw@example.com",
            "https://example.com?x=1",
            "https://example.com/#frag",
            "https://example.com/ x",
            "https://exa mple.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:",
            "https://example.com:8o",
            "https://example.com:+443",
            "https://[::1",
            "https://[zz]/",
            "https://[::1]x/",
            "https://exam_ple.com",
            "https://%65xample.com",
            "https://example.com\\@evil.com",
            "https://example.com\\evil",
            "http://127.0.0.1.evil.test",
            "http://127.1",
            "http://0x7f.0.0.1",
            "http://2130706433",
            "http://localhost.evil.test",
            "http://128.0.0.1",
            "http://[::2]",
            "http://0.0.0.0",
            "http://10.0.0.1",
            "https://example.com\n",
        ] {
            let err = check_issuer(url).expect_err(url);
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
    fn loopback_hosts() {
        for yes in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "localhost.",
            "localhost.evil.test",
            "128.0.0.1",
            "0.0.0.0",
            "[::2]",
            "::ffff:127.0.0.1",
            "[[::1]]",
            "",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
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
