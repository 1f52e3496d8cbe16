//! The one way this crate builds an HTTP client.
//!
//! SECURITY: an earlier step of the job can set any environment variable through
//! `GITHUB_ENV`, including `SSL_CERT_FILE`/`SSL_CERT_DIR`, which a platform verifier would
//! read. Trust roots are therefore compiled in (Mozilla's set, `webpki-root-certs`) and
//! nothing from the environment is added to them. A proxy from `HTTPS_PROXY` is still
//! honoured (self-hosted runners need it): with pinned roots it can relay TLS but not read
//! or alter it. Redirects are never followed: one could carry a bearer token to another
//! host or swap a key set.

use std::time::Duration;

/// A client builder with pinned roots, no redirects and the tool's user agent. Callers add
/// their timeouts.
pub fn client_builder() -> reqwest::ClientBuilder {
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok());
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("prod-access/", env!("CARGO_PKG_VERSION")))
}

/// [`client_builder`] with a total and a connect timeout.
pub fn client(timeout: Duration, connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    client_builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pinned_roots_are_present() {
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() > 100);
        assert!(
            super::client(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(1)
            )
            .is_ok()
        );
    }
}
