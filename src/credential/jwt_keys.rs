//! Signing keys of the `jwt` credential: PKCS#8 PEM in, JWS signatures and the public JWK
//! out (contract §7: a P-256 key signs `ES256`, an Ed25519 key signs `EdDSA`).
//!
//! - [`SigningKey::from_pem`] reads exactly one `PRIVATE KEY` block (unencrypted PKCS#8) and
//!   accepts Ed25519 or P-256 only; errors never quote the key.
//! - [`SigningKey::generate`] makes a fresh key with aws-lc-rs and its PEM (as a [`Secret`]).
//! - [`SigningKey::public_jwk`] gives the JWK `jwks` publishes; its `kid` is the RFC 7638
//!   thumbprint (base64url SHA-256 of the canonical JWK), so the same key always has the same
//!   `kid` and a new key a new one.
//! - [`write_new_private_file`] writes the PEM to a path that must not exist (no symlink
//!   followed, dangling or not), mode 0600 whatever the umask.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Longest PEM accepted (an Ed25519 or P-256 PKCS#8 PEM is under 300 bytes).
pub const MAX_PEM_BYTES: usize = 16 * 1024;

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// The key types a `jwt` provider can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// Ed25519, JWS `EdDSA`, JWK `kty: OKP`, `crv: Ed25519`.
    Ed25519,
    /// NIST P-256, JWS `ES256`, JWK `kty: EC`, `crv: P-256`.
    P256,
}

impl KeyAlg {
    /// From `keygen --alg`: `ed25519` or `p256`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ed25519" => Some(Self::Ed25519),
            "p256" => Some(Self::P256),
            _ => None,
        }
    }

    /// The JWS algorithm of this key type: its names live once, in [`crate::jose::Alg`].
    pub fn jose(self) -> crate::jose::Alg {
        match self {
            Self::Ed25519 => crate::jose::Alg::EdDsa,
            Self::P256 => crate::jose::Alg::Es256,
        }
    }

    /// The JWS `alg` this key signs with.
    pub fn jws_alg(self) -> &'static str {
        self.jose().name()
    }

    pub fn kty(self) -> &'static str {
        self.jose().kty()
    }

    pub fn crv(self) -> &'static str {
        self.jose().crv().unwrap_or_default()
    }
}

/// Why a key could not be used. The text names what is wrong, never the key's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The public half of a signing key, as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub alg: KeyAlg,
    /// base64url x coordinate (Ed25519: the 32-byte public key).
    pub x: String,
    /// base64url y coordinate (P-256 only).
    pub y: Option<String>,
    /// RFC 7638 thumbprint.
    pub kid: String,
}

impl PublicJwk {
    fn new(alg: KeyAlg, x: String, y: Option<String>) -> Self {
        let kid = thumbprint(alg, &x, y.as_deref());
        Self { alg, x, y, kid }
    }

    /// `{kty, crv, x, (y), kid, alg, use: "sig"}`.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("kty".into(), self.alg.kty().into());
        m.insert("crv".into(), self.alg.crv().into());
        m.insert("x".into(), self.x.clone().into());
        if let Some(y) = &self.y {
            m.insert("y".into(), y.clone().into());
        }
        m.insert("kid".into(), self.kid.clone().into());
        m.insert("alg".into(), self.alg.jws_alg().into());
        m.insert("use".into(), "sig".into());
        Value::Object(m)
    }
}

/// `{"keys": [...]}` for the given keys.
pub fn jwks_document(keys: &[PublicJwk]) -> Value {
    json!({ "keys": keys.iter().map(PublicJwk::to_value).collect::<Vec<_>>() })
}

/// RFC 7638 §3: SHA-256 of the required members in lexicographic order, no whitespace,
/// base64url without padding. The members are base64url strings and fixed names, so the
/// JSON needs no escaping.
pub fn thumbprint(alg: KeyAlg, x: &str, y: Option<&str>) -> String {
    let canonical = match (alg, y) {
        (KeyAlg::P256, Some(y)) => format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
        (KeyAlg::P256, None) => format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}"}}"#),
        (KeyAlg::Ed25519, _) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

enum Pair {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
}

/// A private signing key. `Debug` shows the algorithm and `kid` only.
pub struct SigningKey {
    pair: Pair,
    public: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.public.alg)
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key and its PKCS#8 PEM.
    pub fn generate(alg: KeyAlg) -> Result<(Self, Secret), KeyError> {
        let rng = SystemRandom::new();
        let der = match alg {
            // PKCS#8 v1 (RFC 8410), as `openssl genpkey` writes it: OpenSSL 3 cannot read
            // the v2 form (with the public key) that `generate_pkcs8` makes.
            KeyAlg::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng),
            KeyAlg::P256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng),
        }
        .map_err(|_| KeyError("the system could not generate a key".into()))?;
        let der = Zeroizing::new(der.as_ref().to_vec());
        let key = Self::from_pkcs8_der(&der)?;
        Ok((key, pem_encode(&der)))
    }

    /// Reads one PKCS#8 `PRIVATE KEY` PEM block holding an Ed25519 or P-256 key.
    pub fn from_pem(pem: &Secret) -> Result<Self, KeyError> {
        let der = pem_decode(pem.expose())?;
        Self::from_pkcs8_der(&der)
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            return Ok(Self {
                public: PublicJwk::new(KeyAlg::Ed25519, x, None),
                pair: Pair::Ed(pair),
            });
        }
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 0x04 {
                return Err(KeyError(
                    "the P-256 public key is not an uncompressed point".into(),
                ));
            }
            let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
            let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
            return Ok(Self {
                public: PublicJwk::new(KeyAlg::P256, x, Some(y)),
                pair: Pair::Ec(pair),
            });
        }
        Err(KeyError(
            "the PKCS#8 key is neither Ed25519 nor P-256 (RSA, P-384 and other keys are not \
             supported), or it is damaged"
                .into(),
        ))
    }

    pub fn alg(&self) -> KeyAlg {
        self.public.alg
    }

    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// A compact JWS over `claims` with the header `{alg, typ: JWT, kid}`.
    pub fn sign_jwt(&self, claims: &Map<String, Value>) -> Result<Secret, KeyError> {
        let header = json!({ "alg": self.alg().jws_alg(), "typ": "JWT", "kid": self.kid() });
        let header = serde_json::to_vec(&header)
            .map_err(|e| KeyError(format!("cannot encode the header: {e}")))?;
        let payload = Zeroizing::new(
            serde_json::to_vec(claims)
                .map_err(|e| KeyError(format!("cannot encode the claims: {e}")))?,
        );
        let mut token = Zeroizing::new(String::new());
        token.push_str(&URL_SAFE_NO_PAD.encode(&header));
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload.as_slice()));
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(&signature));
        Ok(Secret::new(token.as_str()))
    }

    /// The raw JWS signature of `message` (Ed25519: 64 bytes; ES256: r || s, 64 bytes).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError("the ES256 signature failed".into())),
        }
    }
}

/// PKCS#8 DER as PEM, 64 characters per line.
fn pem_encode(der: &[u8]) -> Secret {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + 80));
    out.push_str(PEM_BEGIN);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(PEM_END);
    out.push('\n');
    Secret::new(out.as_str())
}

/// The DER of the one `PRIVATE KEY` block. SECURITY: error texts name the block type or the
/// problem, never a line of the input.
fn pem_decode(pem: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if pem.len() > MAX_PEM_BYTES {
        return Err(KeyError(format!(
            "the key is {} bytes, more than the {MAX_PEM_BYTES} accepted",
            pem.len()
        )));
    }
    let lines: Vec<&str> = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return Err(KeyError("the key is empty".into()));
    };
    if *first != PEM_BEGIN {
        let hint = [
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----", "an encrypted key"),
            ("-----BEGIN EC PRIVATE KEY-----", "a SEC1 EC key"),
            ("-----BEGIN RSA PRIVATE KEY-----", "an RSA key"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "an OpenSSH key"),
            ("-----BEGIN PUBLIC KEY-----", "a public key"),
        ]
        .iter()
        .find(|(begin, _)| first == begin)
        .map(|(_, what)| format!(" (it is {what})"))
        .unwrap_or_default();
        return Err(KeyError(format!(
            "the key is not an unencrypted PKCS#8 PEM starting with `{PEM_BEGIN}`{hint}; \
             convert it with `openssl pkcs8 -topk8 -nocrypt`"
        )));
    }
    if lines.len() < 3 || *last != PEM_END {
        return Err(KeyError(format!(
            "the PEM block does not end with `{PEM_END}`, or holds more than one block"
        )));
    }
    let mut body = Zeroizing::new(String::new());
    for line in &lines[1..lines.len() - 1] {
        if line.starts_with("-----") || line.contains(':') {
            return Err(KeyError(
                "the PEM holds more than one block or has headers".into(),
            ));
        }
        body.push_str(line);
    }
    STANDARD
        .decode(body.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| KeyError("the PEM body is not valid base64".into()))
}

/// Writes `contents` to `path`, which must not exist: `O_CREAT | O_EXCL` refuses an existing
/// file and any symlink (also a dangling one, POSIX `open(2)`), so nothing is followed or
/// overwritten. The mode is set to 0600 on the open file, whatever the umask. On a failed
/// write the partial file is removed.
///
/// SECURITY: catalogue row 81.
pub fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let result = (|| {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    if let Err(e) = result {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_pem() {
        for alg in [KeyAlg::Ed25519, KeyAlg::P256] {
            let (key, pem) = SigningKey::generate(alg).unwrap();
            assert!(pem.expose().starts_with(PEM_BEGIN));
            let again = SigningKey::from_pem(&pem).unwrap();
            assert_eq!(again.alg(), alg);
            assert_eq!(again.public_jwk(), key.public_jwk());
            assert_eq!(key.kid().len(), 43, "base64url of 32 bytes");
            assert!(!format!("{key:?}").contains(pem.expose().lines().nth(1).unwrap()));
        }
    }

    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        // RFC 8037 A.3: the Ed25519 JWK thumbprint.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        assert_eq!(
            thumbprint(KeyAlg::Ed25519, x, None),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn openssl_style_pkcs8_v1_ed25519_is_accepted() {
        // RFC 8410 §10.3 example private key (PKCS#8 v1, as `openssl genpkey` writes it).
        let pem = "-----BEGIN PRIVATE KEY-----\r\n\
                   MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\r\n\
                   -----END PRIVATE KEY-----\r\n";
        let key = SigningKey::from_pem(&Secret::new(pem)).unwrap();
        assert_eq!(key.alg(), KeyAlg::Ed25519);
        // RFC 8410 §10.3's public key for this private key.
        assert_eq!(
            key.public_jwk().x,
            "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE"
        );
    }

    #[test]
    fn other_keys_and_garbage_are_refused_without_quoting_them() {
        let secretish = "SUPERSECRETLINE";
        let cases = [
            format!("-----BEGIN EC PRIVATE KEY-----\n{secretish}\n-----END EC PRIVATE KEY-----\n"),
            format!("{PEM_BEGIN}\n{secretish}\n{PEM_END}\n"),
            format!("{PEM_BEGIN}\n{secretish}!!\n{PEM_END}\n"),
            format!("{PEM_BEGIN}\nAAAA\n{PEM_END}\n{PEM_BEGIN}\nAAAA\n{PEM_END}\n"),
            secretish.to_string(),
            String::new(),
            "x".repeat(MAX_PEM_BYTES + 1),
        ];
        for pem in cases {
            let err = SigningKey::from_pem(&Secret::new(pem.as_str())).unwrap_err();
            assert!(!err.0.contains(secretish), "{err}");
        }
        // A P-384 PKCS#8 key (generated with aws-lc-rs) is refused: only P-256 signs ES256.
        let der = EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        let pem = pem_encode(der.as_ref());
        let err = SigningKey::from_pem(&pem).unwrap_err();
        assert!(err.0.contains("neither Ed25519 nor P-256"), "{err}");
    }

    #[test]
    fn jwk_shape() {
        let (key, _) = SigningKey::generate(KeyAlg::P256).unwrap();
        let v = key.public_jwk().to_value();
        assert_eq!(v["kty"], "EC");
        assert_eq!(v["crv"], "P-256");
        assert_eq!(v["alg"], "ES256");
        assert_eq!(v["use"], "sig");
        assert_eq!(v["kid"], key.kid());
        assert!(v.get("d").is_none());
        let (key, _) = SigningKey::generate(KeyAlg::Ed25519).unwrap();
        let v = key.public_jwk().to_value();
        assert_eq!(v["kty"], "OKP");
        assert!(v.get("y").is_none());
    }

    #[test]
    fn private_file_is_0600_and_never_follows_or_overwrites() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        write_new_private_file(&p, b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = write_new_private_file(&p, b"y").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"x");

        let target = dir.path().join("target");
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_new_private_file(&link, b"z").is_err());
        assert!(!target.exists(), "a dangling symlink was followed");
    }
}
