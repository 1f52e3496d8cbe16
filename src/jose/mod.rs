//! The one JWT and JWK Set verifier (JOSE), parameterised by the algorithms a caller accepts.
//!
//! Two kinds of token are verified, with one set of rules:
//!
//! | caller | [`Profile`] | algorithms | ids |
//! | --- | --- | --- | --- |
//! | [`crate::oidc::verify`]: the job's OIDC token | `JOB_TOKEN` | `RS256` | `identity.*` |
//! | [`crate::credential::jwt_verify`]: a minted `jwt` credential (`prod-access verify`) | `MINTED` | `EdDSA`, `ES256` | `jwt.*` |
//!
//! | module | role |
//! | --- | --- |
//! | [`jwks`] | [`Jwks`]: the usable keys of a JWK Set, filtered to the profile's algorithms |
//! | [`mod@verify`] | [`verify()`]: pure, strict verification of a compact JWS; the claims or a [`VerifyError`] |
//!
//! A profile only narrows: the algorithms, the id family, whether `iss` is required, the
//! longest lifetime and whether `nbf` may precede `iat`. Every other check (shape, header,
//! key, signature, claim types, times with integer-only arithmetic) is the same code for
//! both.
//!
//! SECURITY: `jsonwebtoken` (on aws-lc-rs) checks the signature only, with the algorithm
//! pinned by us from the profile and the key; none of its claim handling is relied on.
//! This module does no I/O and imports nothing above [`crate::strict_json`].

pub mod jwks;
pub mod verify;

use std::fmt;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

pub use jwks::{Jwk, Jwks, JwksError, MAX_JWKS_BYTES};
pub use verify::{Expectations, MAX_LEEWAY_SECS, MAX_TOKEN_BYTES, verify};

/// A JWS algorithm this crate can verify. The list is closed: `none`, `HS*` and everything
/// else never reach a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, JWK `kty: RSA` (GitHub's job tokens).
    Rs256,
    /// Ed25519, JWK `kty: OKP`, `crv: Ed25519`.
    EdDsa,
    /// ECDSA P-256 with SHA-256, JWK `kty: EC`, `crv: P-256`.
    Es256,
}

impl Alg {
    /// The JWS `alg` name, compared byte for byte with the header.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// The JWK `kty` of a key for this algorithm.
    pub fn kty(self) -> &'static str {
        match self {
            Self::Rs256 => "RSA",
            Self::EdDsa => "OKP",
            Self::Es256 => "EC",
        }
    }

    /// The JWK `crv` of a key for this algorithm (none for RSA).
    pub fn crv(self) -> Option<&'static str> {
        match self {
            Self::Rs256 => None,
            Self::EdDsa => Some("Ed25519"),
            Self::Es256 => Some("P-256"),
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::Rs256, Self::EdDsa, Self::Es256]
            .into_iter()
            .find(|a| a.name() == name)
    }

    fn jsonwebtoken(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
        }
    }

    /// `RSA` or `OKP Ed25519`, for messages.
    fn key_type(self) -> String {
        match self.crv() {
            Some(crv) => format!("{} {crv}", self.kty()),
            None => self.kty().to_string(),
        }
    }
}

/// The family of a caller's error ids: the same failure is `identity.alg` for a job token
/// and `jwt.alg` for a minted one (ids are part of the contract and the docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFamily {
    /// `identity.*`: the job's OIDC token.
    Identity,
    /// `jwt.*`: a minted `jwt` credential.
    Jwt,
}

/// What one caller accepts. Constants, chosen in code: nothing read at run time can widen
/// a profile (an [`Expectations`] can only narrow its lifetime and leeway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The id family of every error.
    pub ids: IdFamily,
    /// The accepted algorithms: a header `alg` must be exactly one of these names, and the
    /// key its `kid` names must be a key of that algorithm.
    pub algs: &'static [Alg],
    /// SECURITY: when set, an [`Expectations`] without an issuer refuses every token.
    pub issuer_required: bool,
    /// Longest accepted `exp - iat`, in seconds.
    pub max_lifetime: i64,
    /// Whether `iat <= nbf` is required (GitHub sets `nbf` before `iat`; we mint `nbf = iat`).
    pub nbf_not_before_iat: bool,
    /// How messages name the key set: "the issuer's key set", "the JWKS".
    pub key_set: &'static str,
}

/// Why a token was refused. Each kind has one stable id per [`IdFamily`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyErrorKind {
    Malformed,
    Alg,
    KidMissing,
    Header,
    /// The `kid` is not in the key set: the caller may refetch the set once.
    KidUnknown,
    Signature,
    ClaimFormat,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
    Iat,
    Lifetime,
}

/// One table of ids: the suffix is shared, the family chooses the prefix.
macro_rules! ids {
    ($($kind:ident => $suffix:literal),* $(,)?) => {
        impl VerifyErrorKind {
            /// The stable id of this failure in `family`.
            pub fn id(self, family: IdFamily) -> &'static str {
                match (family, self) {
                    $(
                        (IdFamily::Identity, Self::$kind) => concat!("identity.", $suffix),
                        (IdFamily::Jwt, Self::$kind) => concat!("jwt.", $suffix),
                    )*
                }
            }
        }
    };
}

ids! {
    Malformed => "malformed",
    Alg => "alg",
    KidMissing => "kid_missing",
    Header => "header",
    KidUnknown => "kid_unknown",
    Signature => "signature",
    ClaimFormat => "claim_format",
    Issuer => "issuer",
    Audience => "audience",
    Expired => "expired",
    NotYetValid => "not_yet_valid",
    Iat => "iat",
    Lifetime => "lifetime",
}

/// A refused token: a stable id and a human detail. The detail never holds the token, its
/// signature or its raw segments; claim values quoted in it are bounded and printable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub family: IdFamily,
    pub kind: VerifyErrorKind,
    pub detail: String,
}

impl VerifyError {
    pub fn new(family: IdFamily, kind: VerifyErrorKind, detail: impl Into<String>) -> Self {
        Self {
            family,
            kind,
            detail: detail.into(),
        }
    }

    /// The stable id (`identity.alg`, `jwt.kid_unknown`, ...).
    pub fn id(&self) -> &'static str {
        self.kind.id(self.family)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id(), self.detail)
    }
}

impl std::error::Error for VerifyError {}

/// A claim value for an error message: JSON, printable ASCII, at most 80 characters.
pub fn quote_claim(v: &Value) -> String {
    let s = v.to_string();
    let mut out: String = s
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > 80 {
        out.push_str("...");
    }
    out
}

/// [`quote_claim`] of a string.
pub fn quote_str(s: &str) -> String {
    quote_claim(&Value::String(s.to_string()))
}

/// Parses a JSON object, refusing a repeated key at any depth.
pub fn parse_object_strict(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match crate::strict_json::parse(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// Unpadded base64url characters only (no `=`, `+`, `/`, spaces).
fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_suffix_two_families() {
        use VerifyErrorKind as K;
        for (kind, suffix) in [
            (K::Malformed, "malformed"),
            (K::Alg, "alg"),
            (K::KidMissing, "kid_missing"),
            (K::Header, "header"),
            (K::KidUnknown, "kid_unknown"),
            (K::Signature, "signature"),
            (K::ClaimFormat, "claim_format"),
            (K::Issuer, "issuer"),
            (K::Audience, "audience"),
            (K::Expired, "expired"),
            (K::NotYetValid, "not_yet_valid"),
            (K::Iat, "iat"),
            (K::Lifetime, "lifetime"),
        ] {
            assert_eq!(kind.id(IdFamily::Identity), format!("identity.{suffix}"));
            assert_eq!(kind.id(IdFamily::Jwt), format!("jwt.{suffix}"));
        }
    }

    #[test]
    fn alg_names_are_exact() {
        assert_eq!(Alg::from_name("RS256"), Some(Alg::Rs256));
        assert_eq!(Alg::from_name("EdDSA"), Some(Alg::EdDsa));
        assert_eq!(Alg::from_name("ES256"), Some(Alg::Es256));
        for bad in ["rs256", "EDDSA", "none", "HS256", "ES256 ", ""] {
            assert_eq!(Alg::from_name(bad), None, "{bad}");
        }
    }
}
