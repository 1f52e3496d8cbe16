//! Strict verification of a `jwt` credential, as a production service should do it
//! (`prod-access verify`, catalogue row 80). Modelled on [`crate::oidc::verify`]: pure, the
//! first failure wins, each failure has a stable id.
//!
//! | step | id |
//! | --- | --- |
//! | size cap, three base64url segments, header JSON (no repeated key) | `jwt.malformed` |
//! | `alg` exactly `EdDSA` or `ES256` (`none`, `HS256`, `RS256`... refused) | `jwt.alg` |
//! | `kid` a non-empty string | `jwt.kid_missing` |
//! | no `crit`, `jku`, `jwk`, `x5u`, `x5c`; `typ` absent or `JWT` | `jwt.header` |
//! | `kid` names a key of the JWKS | `jwt.kid_unknown` |
//! | the key's type matches `alg` (OKP/Ed25519 for EdDSA, EC/P-256 for ES256) | `jwt.alg` |
//! | a non-empty signature that verifies (jsonwebtoken, aws-lc-rs) | `jwt.signature` |
//! | payload JSON; `exp`, `iat`, `nbf` non-negative integers | `jwt.malformed`, `jwt.claim_format` |
//! | `iss` equal to `--issuer`, when given | `jwt.issuer` |
//! | `aud` a single string equal to `--audience` | `jwt.audience` |
//! | `exp + leeway >= now`, `nbf - leeway <= now`, `iat - leeway <= now` | `jwt.expired`, `jwt.not_yet_valid`, `jwt.iat` |
//! | `iat <= nbf < exp`, `exp - iat <= 24 h` | `jwt.lifetime` |
//!
//! SECURITY: the algorithm comes from the key the `kid` names, never from the token alone;
//! the crate checks the signature only, and every claim is checked here on the signed bytes
//! with integer-only times.

// A claim value for a message: one helper with the job-token verifier.
use crate::oidc::verify::quote_claim as quote;
use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::jwt_keys::KeyAlg;
use crate::oidc::verify::parse_object_strict;

/// Longest token accepted.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Clock leeway cap, as for job tokens (contract §2).
pub const MAX_LEEWAY_SECS: i64 = 60;
/// Longest `exp - iat`: a policy ttl is at most 24 h.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;

/// A public key of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VerifyKey {
    kid: String,
    alg: KeyAlg,
    x: String,
    y: Option<String>,
}

/// The usable keys of a JWKS (Ed25519 and P-256 signing keys with a `kid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeySet {
    keys: Vec<VerifyKey>,
    skipped: usize,
}

impl PublicKeySet {
    /// Parses a JWKS. A key of another type, use or algorithm is skipped; a document that
    /// is not a key set, repeats a `kid`, or holds private key material (`d`) is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(format!(
                "the JWKS is {} bytes, more than the {MAX_JWKS_BYTES} accepted",
                bytes.len()
            ));
        }
        let doc = parse_object_strict(bytes)?;
        let Some(Value::Array(keys)) = doc.get("keys") else {
            return Err("not a JWK Set: no `keys` array".into());
        };
        let mut set = PublicKeySet::default();
        let mut kids = HashSet::new();
        for key in keys {
            let Some(obj) = key.as_object() else {
                set.skipped += 1;
                continue;
            };
            // SECURITY: a published private key is a leak, not a key set to trust.
            if obj.contains_key("d") {
                return Err(
                    "the JWKS holds private key material (`d`): publish `prod-access jwks` output only"
                        .into(),
                );
            }
            match VerifyKey::from_object(obj) {
                Some(k) if k.is_weak() => {
                    return Err(format!(
                        "the JWKS key {} is a small-order Ed25519 point, which accepts forged \
                         signatures: the key set is broken or tampered with",
                        quote(&Value::String(k.kid))
                    ));
                }
                Some(k) => {
                    if !kids.insert(k.kid.clone()) {
                        return Err(format!(
                            "the JWKS has two keys with kid {}",
                            quote(&Value::String(k.kid))
                        ));
                    }
                    set.keys.push(k);
                }
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    fn find(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

impl VerifyKey {
    fn from_object(o: &Map<String, Value>) -> Option<Self> {
        let alg = match (o.get("kty")?.as_str()?, o.get("crv")?.as_str()?) {
            ("OKP", "Ed25519") => KeyAlg::Ed25519,
            ("EC", "P-256") => KeyAlg::P256,
            _ => return None,
        };
        if let Some(u) = o.get("use")
            && u.as_str() != Some("sig")
        {
            return None;
        }
        if let Some(a) = o.get("alg")
            && a.as_str() != Some(alg.jws_alg())
        {
            return None;
        }
        let kid = o.get("kid")?.as_str()?;
        if kid.is_empty() {
            return None;
        }
        let coord = |name: &str| -> Option<String> {
            let s = o.get(name)?.as_str()?;
            let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
            (bytes.len() == 32).then(|| s.to_string())
        };
        let x = coord("x")?;
        let y = match alg {
            KeyAlg::Ed25519 => None,
            KeyAlg::P256 => Some(coord("y")?),
        };
        Some(Self {
            kid: kid.to_string(),
            alg,
            x,
            y,
        })
    }

    /// SECURITY: an Ed25519 public key of small order (or a non-canonical encoding) makes
    /// aws-lc accept a trivial signature for any message (`R` = identity, `S` = 0: checked
    /// in the tests). P-256 points off the curve are refused by aws-lc itself.
    fn is_weak(&self) -> bool {
        if self.alg != KeyAlg::Ed25519 {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(&self.x) else {
            return true;
        };
        ed25519_small_order_or_noncanonical(&bytes)
    }

    fn decoding_key(&self) -> Option<DecodingKey> {
        match (&self.alg, &self.y) {
            (KeyAlg::Ed25519, _) => DecodingKey::from_ed_components(&self.x).ok(),
            (KeyAlg::P256, Some(y)) => DecodingKey::from_ec_components(&self.x, y).ok(),
            (KeyAlg::P256, None) => None,
        }
    }
}

/// The canonical `y` encodings (sign bit clear) of the eight small-order points of
/// edwards25519: orders 1, 2, 4 and 8 (libsodium's blocklist, recomputed from the curve).
const ED25519_SMALL_ORDER_Y: [[u8; 32]; 5] = [
    // y = 1: the identity (order 1).
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    // y = -1 (order 2).
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // y = 0 (order 4).
    [0; 32],
    // Order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // Order 8.
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// A 32-byte Ed25519 public key that is a small-order point, whatever its sign bit, or whose
/// `y` is not reduced (`y >= p = 2^255 - 19`).
fn ed25519_small_order_or_noncanonical(key: &[u8]) -> bool {
    let Ok(key) = <[u8; 32]>::try_from(key) else {
        return true;
    };
    let mut y = key;
    y[31] &= 0x7f;
    let noncanonical = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    noncanonical || ED25519_SMALL_ORDER_Y.contains(&y)
}

/// What a token must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenExpectations {
    /// Compared byte for byte with `aud`, which must be a single string.
    pub audience: String,
    /// Compared byte for byte with `iss`, when given.
    pub issuer: Option<String>,
    /// Clock leeway in seconds, clamped to 0..=60.
    pub leeway: i64,
}

impl TokenExpectations {
    pub fn new(audience: impl Into<String>, issuer: Option<String>) -> Self {
        Self {
            audience: audience.into(),
            issuer,
            leeway: MAX_LEEWAY_SECS,
        }
    }
}

/// A refused token: a stable id (`jwt.*`) and a detail that never quotes the signature or
/// raw segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub id: &'static str,
    pub detail: String,
}

impl TokenError {
    fn new(id: &'static str, detail: impl Into<String>) -> Self {
        Self {
            id,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id, self.detail)
    }
}

impl std::error::Error for TokenError {}

/// Verifies a token against a key set; returns its claims. `now` is Unix seconds.
pub fn verify_token(
    token: &str,
    keys: &PublicKeySet,
    expect: &TokenExpectations,
    now: i64,
) -> Result<Map<String, Value>, TokenError> {
    let parts = split_token(token)?;
    let header = parse_object_strict(&b64(parts[0], "header")?)
        .map_err(|e| TokenError::new("jwt.malformed", format!("header: {e}")))?;
    let payload_bytes = b64(parts[1], "payload")?;
    b64(parts[2], "signature")?;

    // Header. SECURITY: two algorithms only, and the header cannot pick the key type.
    let alg = match header.get("alg") {
        Some(Value::String(a)) if a == "EdDSA" => KeyAlg::Ed25519,
        Some(Value::String(a)) if a == "ES256" => KeyAlg::P256,
        Some(other) => {
            return Err(TokenError::new(
                "jwt.alg",
                format!(
                    "header alg is {}; only EdDSA and ES256 are accepted",
                    quote(other)
                ),
            ));
        }
        None => return Err(TokenError::new("jwt.alg", "header has no alg")),
    };
    let kid = match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() => k.as_str(),
        Some(other) => {
            return Err(TokenError::new(
                "jwt.kid_missing",
                format!("header kid is {}, not a key id", quote(other)),
            ));
        }
        None => return Err(TokenError::new("jwt.kid_missing", "header has no kid")),
    };
    for name in ["crit", "jku", "jwk", "x5u", "x5c"] {
        if header.contains_key(name) {
            return Err(TokenError::new(
                "jwt.header",
                format!("header has `{name}`, which is never trusted"),
            ));
        }
    }
    if let Some(typ) = header.get("typ")
        && typ.as_str() != Some("JWT")
    {
        return Err(TokenError::new(
            "jwt.header",
            format!("header typ is {}, not JWT", quote(typ)),
        ));
    }

    // Key.
    let Some(key) = keys.find(kid) else {
        return Err(TokenError::new(
            "jwt.kid_unknown",
            format!(
                "no key with kid {} in the JWKS ({} usable keys)",
                quote(&Value::String(kid.to_string())),
                keys.len()
            ),
        ));
    };
    if key.alg != alg {
        return Err(TokenError::new(
            "jwt.alg",
            format!(
                "header alg is {} but the key {} is {} {}, which signs {}",
                alg.jws_alg(),
                quote(&Value::String(kid.to_string())),
                key.alg.kty(),
                key.alg.crv(),
                key.alg.jws_alg()
            ),
        ));
    }

    // Signature only; claims follow.
    if parts[2].is_empty() {
        return Err(TokenError::new(
            "jwt.signature",
            "the token has no signature",
        ));
    }
    let bad_sig = || TokenError::new("jwt.signature", "the signature does not verify");
    let decoding_key = key.decoding_key().ok_or_else(bad_sig)?;
    let mut validation = Validation::new(match alg {
        KeyAlg::Ed25519 => Algorithm::EdDSA,
        KeyAlg::P256 => Algorithm::ES256,
    });
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    if let Err(e) = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding_key, &validation) {
        use jsonwebtoken::errors::ErrorKind as J;
        return Err(match e.kind() {
            J::Base64(_) | J::Json(_) | J::Utf8(_) => {
                TokenError::new("jwt.malformed", format!("the token does not decode: {e}"))
            }
            _ => bad_sig(),
        });
    }

    // Claims, from the signed payload bytes.
    let claims = parse_object_strict(&payload_bytes)
        .map_err(|e| TokenError::new("jwt.malformed", format!("payload: {e}")))?;
    let exp = time_claim(&claims, "exp")?;
    let iat = time_claim(&claims, "iat")?;
    let nbf = time_claim(&claims, "nbf")?;
    if let Some(issuer) = &expect.issuer {
        match claims.get("iss") {
            Some(Value::String(iss)) if iss == issuer => {}
            Some(other) => {
                return Err(TokenError::new(
                    "jwt.issuer",
                    format!("iss is {}, expected {}", quote(other), quote_str(issuer)),
                ));
            }
            None => return Err(TokenError::new("jwt.issuer", "the token has no iss")),
        }
    }
    match claims.get("aud") {
        Some(Value::String(aud)) if *aud == expect.audience => {}
        Some(other @ Value::Array(_)) => {
            return Err(TokenError::new(
                "jwt.audience",
                format!(
                    "aud is an array {}; a single string {} is required",
                    quote(other),
                    quote_str(&expect.audience)
                ),
            ));
        }
        Some(other) => {
            return Err(TokenError::new(
                "jwt.audience",
                format!(
                    "aud is {}, expected {}",
                    quote(other),
                    quote_str(&expect.audience)
                ),
            ));
        }
        None => return Err(TokenError::new("jwt.audience", "the token has no aud")),
    }

    // Times, in i128 so no sum can wrap; the leeway cannot be loosened past 60 s.
    let leeway = expect.leeway.clamp(0, MAX_LEEWAY_SECS);
    let [now_w, leeway_w, exp_w, iat_w, nbf_w] = [now, leeway, exp, iat, nbf].map(i128::from);
    if exp_w + leeway_w < now_w {
        return Err(TokenError::new(
            "jwt.expired",
            format!(
                "the token expired at {exp}, {} s before now ({now}; leeway {leeway} s)",
                now_w - exp_w
            ),
        ));
    }
    if nbf_w - leeway_w > now_w {
        return Err(TokenError::new(
            "jwt.not_yet_valid",
            format!(
                "the token is not valid before {nbf}, {} s after now ({now}; leeway {leeway} s)",
                nbf_w - now_w
            ),
        ));
    }
    if iat_w - leeway_w > now_w {
        return Err(TokenError::new(
            "jwt.iat",
            format!(
                "the token was issued at {iat}, {} s after now ({now}; leeway {leeway} s)",
                iat_w - now_w
            ),
        ));
    }
    if iat_w > nbf_w || nbf_w >= exp_w || exp_w - iat_w > i128::from(MAX_LIFETIME_SECS) {
        return Err(TokenError::new(
            "jwt.lifetime",
            format!(
                "iat {iat}, nbf {nbf}, exp {exp}: need iat <= nbf < exp and a lifetime of at most {MAX_LIFETIME_SECS} s"
            ),
        ));
    }
    Ok(claims)
}

fn split_token(token: &str) -> Result<[&str; 3], TokenError> {
    let malformed = |d: String| TokenError::new("jwt.malformed", d);
    if token.is_empty() {
        return Err(malformed("the token is empty".into()));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed(format!(
            "the token is {} bytes, more than the {MAX_TOKEN_BYTES} accepted",
            token.len()
        )));
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(malformed(format!(
            "a JWT has 3 dot-separated segments, this token has {}",
            token.split('.').count()
        )));
    };
    // An empty signature passes here so that `alg: none` is named for its alg.
    for (name, seg) in [("header", h), ("payload", p), ("signature", s)] {
        if seg.is_empty() && name != "signature" {
            return Err(malformed(format!("the {name} segment is empty")));
        }
        if !seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(malformed(format!(
                "the {name} segment is not unpadded base64url"
            )));
        }
    }
    Ok([h, p, s])
}

fn b64(seg: &str, name: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD.decode(seg).map_err(|_| {
        TokenError::new(
            "jwt.malformed",
            format!("the {name} segment is not valid base64url"),
        )
    })
}

fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<i64, TokenError> {
    match claims.get(name) {
        None => Err(TokenError::new(
            "jwt.claim_format",
            format!("claim `{name}` is missing"),
        )),
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v >= 0) => {
            Ok(n.as_i64().unwrap_or_default())
        }
        Some(other) => Err(TokenError::new(
            "jwt.claim_format",
            format!(
                "claim `{name}` is {}, not a non-negative integer of seconds",
                quote(other)
            ),
        )),
    }
}

fn quote_str(s: &str) -> String {
    quote(&Value::String(s.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::jwt_keys::{SigningKey, jwks_document};
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const AUD: &str = "payments-api";
    const ISS: &str = "https://prod-access.acme.dev";

    fn claims(edits: Value) -> Map<String, Value> {
        let mut c = json!({
            "iss": ISS, "sub": "octocat", "aud": AUD,
            "iat": NOW, "nbf": NOW, "exp": NOW + 600, "jti": "g",
        })
        .as_object()
        .cloned()
        .unwrap();
        for (k, v) in edits.as_object().unwrap() {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    }

    fn check(edits: Value, now: i64) -> Result<Map<String, Value>, TokenError> {
        let (key, _) = SigningKey::generate(KeyAlg::Ed25519).unwrap();
        let token = key.sign_jwt(&claims(edits)).unwrap();
        let set = PublicKeySet::parse(
            jwks_document(std::slice::from_ref(key.public_jwk()))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        verify_token(
            token.expose(),
            &set,
            &TokenExpectations::new(AUD, Some(ISS.into())),
            now,
        )
    }

    fn id(edits: Value, now: i64) -> &'static str {
        check(edits, now).unwrap_err().id
    }

    #[test]
    fn a_valid_token_passes_within_the_leeway() {
        assert!(check(json!({}), NOW).is_ok());
        assert!(check(json!({}), NOW + 600 + 60).is_ok());
        assert!(check(json!({}), NOW - 60).is_ok());
    }

    #[test]
    fn times_are_checked_with_at_most_60_s_of_leeway() {
        assert_eq!(id(json!({}), NOW + 600 + 61), "jwt.expired");
        assert_eq!(
            id(json!({ "iat": NOW - 100 }), NOW - 61),
            "jwt.not_yet_valid"
        );
        assert_eq!(id(json!({ "nbf": NOW - 100 }), NOW - 61), "jwt.iat");
        assert_eq!(id(json!({ "nbf": NOW + 600 }), NOW + 600), "jwt.lifetime");
        assert_eq!(id(json!({ "iat": NOW + 1 }), NOW + 1), "jwt.lifetime");
        assert_eq!(
            id(json!({ "exp": NOW + MAX_LIFETIME_SECS + 1 }), NOW),
            "jwt.lifetime"
        );
    }

    #[test]
    fn claims_are_typed() {
        for (edit, want) in [
            (json!({ "exp": "9999999999" }), "jwt.claim_format"),
            (json!({ "exp": 1.8e9 }), "jwt.claim_format"),
            (json!({ "exp": -1 }), "jwt.claim_format"),
            (json!({ "exp": null }), "jwt.claim_format"),
            (json!({ "nbf": null }), "jwt.claim_format"),
            (json!({ "iat": null }), "jwt.claim_format"),
            (json!({ "aud": [AUD] }), "jwt.audience"),
            (json!({ "aud": null }), "jwt.audience"),
            (json!({ "aud": "payments-api " }), "jwt.audience"),
            (json!({ "iss": null }), "jwt.issuer"),
            (json!({ "iss": [ISS] }), "jwt.issuer"),
        ] {
            assert_eq!(id(edit.clone(), NOW), want, "{edit}");
        }
    }

    #[test]
    fn a_repeated_payload_key_is_refused() {
        // Hand-made payload with two `aud`: which one would a service read?
        let (key, _) = SigningKey::generate(KeyAlg::P256).unwrap();
        let header = URL_SAFE_NO_PAD
            .encode(json!({ "alg": "ES256", "typ": "JWT", "kid": key.kid() }).to_string());
        let payload = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"aud":"other","aud":"{AUD}","iss":"{ISS}","iat":{NOW},"nbf":{NOW},"exp":{}}}"#,
            NOW + 60
        ));
        let input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).unwrap());
        let set = PublicKeySet::parse(
            jwks_document(std::slice::from_ref(key.public_jwk()))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let err = verify_token(
            &format!("{input}.{sig}"),
            &set,
            &TokenExpectations::new(AUD, None),
            NOW,
        )
        .unwrap_err();
        assert_eq!(err.id, "jwt.malformed");
    }

    #[test]
    fn the_leeway_cannot_be_loosened() {
        let (key, _) = SigningKey::generate(KeyAlg::Ed25519).unwrap();
        let token = key.sign_jwt(&claims(json!({}))).unwrap();
        let set = PublicKeySet::parse(
            jwks_document(std::slice::from_ref(key.public_jwk()))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let mut expect = TokenExpectations::new(AUD, None);
        expect.leeway = 3600;
        let err = verify_token(token.expose(), &set, &expect, NOW + 600 + 61).unwrap_err();
        assert_eq!(err.id, "jwt.expired");
    }

    #[test]
    fn small_order_ed25519_keys_are_refused() {
        use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
        // Why: with a small-order key, R = identity and S = 0 verifies for some message
        // among a few, so a key set holding one would accept forged tokens.
        let mut trivial = [0u8; 64];
        trivial[0] = 1;
        for y in ED25519_SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut key = y;
                key[31] |= sign;
                let forged = (0..64u8).any(|i| {
                    UnparsedPublicKey::new(&ED25519, &key)
                        .verify(&[i], &trivial)
                        .is_ok()
                });
                // Sign bit set on x = 0 points is non-canonical; aws-lc may reject those.
                if sign == 0 {
                    assert!(forged, "{key:02x?} is not a small-order point");
                }
                assert!(ed25519_small_order_or_noncanonical(&key));
                let doc = json!({ "keys": [{
                    "kty": "OKP", "crv": "Ed25519", "kid": "weak",
                    "x": URL_SAFE_NO_PAD.encode(key),
                }]});
                let err = PublicKeySet::parse(doc.to_string().as_bytes()).unwrap_err();
                assert!(err.contains("small-order"), "{err}");
            }
        }
        let mut p_plus_1 = [0xff; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        assert!(ed25519_small_order_or_noncanonical(&p_plus_1));
        // A real key is not weak.
        let (key, _) = SigningKey::generate(KeyAlg::Ed25519).unwrap();
        let x = URL_SAFE_NO_PAD.decode(&key.public_jwk().x).unwrap();
        assert!(!ed25519_small_order_or_noncanonical(&x));
    }

    #[test]
    fn keys_of_other_types_are_skipped() {
        let set = PublicKeySet::parse(
            json!({ "keys": [
                { "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r" },
                { "kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384" },
                { "kty": "OKP", "crv": "Ed25519", "x": "short", "kid": "bad-x" },
                { "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "kid": "enc", "use": "enc" },
                { "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "kid": "wrong-alg", "alg": "ES256" },
                { "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32]) },
                { "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "kid": "ok" },
            ]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["ok"]);
    }
}
