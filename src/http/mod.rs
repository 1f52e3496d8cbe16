//! The one way this crate speaks HTTP: the client (pinned roots, no redirects) and bodies
//! read with a cap ([`read_capped`]). Every URL passes [`crate::url_rules`] first (https, or
//! loopback for tests).
//!
//! SECURITY: an earlier step of the job can set any environment variable through
//! `GITHUB_ENV`, including `SSL_CERT_FILE`/`SSL_CERT_DIR`, which a platform verifier would
//! read. Trust roots are therefore compiled in (Mozilla's set, `webpki-root-certs`) and
//! nothing from the environment is added to them. A proxy from `HTTPS_PROXY` is still
//! honoured (self-hosted runners need it): with pinned roots it can relay TLS but not read
//! or alter it. Redirects are never followed: one could carry a bearer token to another
//! host or swap a key set.

use std::time::Duration;

use zeroize::Zeroizing;

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

/// Why a body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// More than the cap: `read` bytes had been taken from the connection when it stopped.
    TooLarge {
        read: usize,
    },
    Read(reqwest::Error),
}

/// Reads a response body of at most `cap` bytes, chunk by chunk, stopping at the first chunk
/// that passes the cap (memory stays within `cap` plus one chunk). A `Content-Length` above
/// the cap is refused before reading anything.
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Zeroizing<Vec<u8>>, BodyError> {
    if resp.content_length().is_some_and(|len| len > cap as u64) {
        return Err(BodyError::TooLarge { read: 0 });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(cap.min(16 * 1024)));
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        let read = buf.len() + chunk.len();
        if read > cap {
            return Err(BodyError::TooLarge { read });
        }
        if buf.capacity() < read {
            // Grow by hand so that no copy of the old contents is left behind unzeroized.
            let mut bigger = Zeroizing::new(Vec::with_capacity((read * 2).min(cap)));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
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
