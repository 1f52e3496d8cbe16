//! Strict, synchronous verification of the job's OIDC token (contract §2, catalogue rows 1-25).
//!
//! [`verify`] is pure: the token, the issuer's key set, the expectations and the clock come
//! in; a [`VerifiedIdentity`] or a [`VerifyError`] with a stable id comes out. The checks run
//! in a fixed order and the first failure wins:
//!
//! | step | id |
//! | --- | --- |
//! | size cap, three base64url segments (header and payload non-empty), header JSON | `identity.malformed` |
//! | `alg` exactly `RS256` | `identity.alg` |
//! | `kid` a non-empty string | `identity.kid_missing` |
//! | no `crit`, `jku`, `jwk`, `x5u`, `x5c`; `typ` absent or `JWT` | `identity.header` |
//! | `kid` names an RSA key of the set | `identity.kid_unknown` |
//! | a non-empty RS256 signature (jsonwebtoken, aws-lc-rs) | `identity.signature` |
//! | payload JSON; `exp`, `iat` present and `nbf` (if present) non-negative integers | `identity.malformed`, `identity.claim_format` |
//! | `iss` a string equal to the issuer | `identity.issuer` |
//! | `aud` a single string equal to the audience | `identity.audience` |
//! | `exp + leeway >= now` | `identity.expired` |
//! | `nbf - leeway <= now` | `identity.not_yet_valid` |
//! | `iat - leeway <= now` | `identity.iat` |
//! | `nbf` present | `identity.claim_format` |
//! | `iat < exp`, `nbf <= exp`, `exp - iat <= max_lifetime` | `identity.lifetime` |
//! | GitHub's claims have the right types | `identity.claim_format` |
//!
//! SECURITY: the crate is used for the signature only, with the algorithm pinned by us, so
//! none of its claim handling (which accepts a `nbf` it cannot parse, never checks `iat`,
//! and accepts an audience array) is relied on; every time and claim check runs on the raw
//! JSON, after the signature, with integer-only times. JSON objects with a repeated key are
//! refused (a parser differential: which `aud` would win?).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::VerifiedIdentity;

/// Tokens longer than this are refused before any decoding (GitHub's are about 1-2 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clock leeway on `exp`, `nbf` and `iat` (contract §2: at most 60 s).
pub const DEFAULT_LEEWAY_SECS: i64 = 60;
/// Longest accepted `exp - iat` (contract §2: 1 h; GitHub issues tokens valid for minutes).
pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 3600;

/// What a token must say to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The policy's issuer, compared byte for byte with `iss`.
    pub issuer: String,
    /// The audience asked for, compared byte for byte with `aud`.
    pub audience: String,
    /// Clock leeway in seconds.
    pub leeway: i64,
    /// Longest accepted `exp - iat` in seconds.
    pub max_lifetime: i64,
}

impl Expectations {
    /// The contract's defaults: 60 s leeway, 1 h lifetime.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: DEFAULT_LEEWAY_SECS,
            max_lifetime: DEFAULT_MAX_LIFETIME_SECS,
        }
    }
}

/// Why a token was refused. Each kind has one stable id.
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

impl VerifyErrorKind {
    /// The stable requirement id.
    pub fn id(self) -> &'static str {
        match self {
            Self::Malformed => "identity.malformed",
            Self::Alg => "identity.alg",
            Self::KidMissing => "identity.kid_missing",
            Self::Header => "identity.header",
            Self::KidUnknown => "identity.kid_unknown",
            Self::Signature => "identity.signature",
            Self::ClaimFormat => "identity.claim_format",
            Self::Issuer => "identity.issuer",
            Self::Audience => "identity.audience",
            Self::Expired => "identity.expired",
            Self::NotYetValid => "identity.not_yet_valid",
            Self::Iat => "identity.iat",
            Self::Lifetime => "identity.lifetime",
        }
    }
}

/// A refused token: a stable id and a human detail. The detail never holds the token, its
/// signature or its raw segments; claim values quoted in it are bounded and printable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub kind: VerifyErrorKind,
    pub detail: String,
}

impl VerifyError {
    fn new(kind: VerifyErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// The stable requirement id.
    pub fn id(&self) -> &'static str {
        self.kind.id()
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id(), self.detail)
    }
}

impl std::error::Error for VerifyError {}

/// One usable key of a JWK Set: RSA, with a `kid`.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaJwk {
    pub kid: String,
    /// base64url modulus, as published.
    n: String,
    /// base64url exponent, as published.
    e: String,
}

impl fmt::Debug for RsaJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaJwk")
            .field("kid", &self.kid)
            .field("n_len", &self.n.len())
            .finish()
    }
}

/// The RSA signing keys of an issuer's JWK Set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<RsaJwk>,
    skipped: usize,
}

/// A key set document that is not a JWK Set at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JWK Set: {0}")]
pub struct JwksError(pub String);

impl Jwks {
    /// Parses a JWK Set. The document must be a JSON object with a `keys` array; each key
    /// is taken leniently: one of another type (`kty` other than `RSA`), for another use or
    /// algorithm, without a `kid`, or with a bad `n`/`e` is skipped, never fatal.
    pub fn parse(bytes: &[u8]) -> Result<Self, JwksError> {
        let doc = parse_object_strict(bytes).map_err(JwksError)?;
        let Some(Value::Array(keys)) = doc.get("keys") else {
            return Err(JwksError("no `keys` array".into()));
        };
        let mut out = Jwks::default();
        for key in keys {
            match RsaJwk::from_value(key) {
                Some(k) => out.keys.push(k),
                None => out.skipped += 1,
            }
        }
        Ok(out)
    }

    /// A set holding the given RSA keys (for tests and the loopback issuer).
    pub fn from_rsa_components<I, K, N, E>(keys: I) -> Self
    where
        I: IntoIterator<Item = (K, N, E)>,
        K: Into<String>,
        N: Into<String>,
        E: Into<String>,
    {
        Self {
            keys: keys
                .into_iter()
                .map(|(kid, n, e)| RsaJwk {
                    kid: kid.into(),
                    n: n.into(),
                    e: e.into(),
                })
                .collect(),
            skipped: 0,
        }
    }

    /// The `kid`s of the usable keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many entries were skipped while parsing.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    fn find(&self, kid: &str) -> Option<&RsaJwk> {
        // SECURITY: the kid is only ever compared with the keys we hold; it is never a path,
        // a URL or a query.
        self.keys.iter().find(|k| k.kid == kid)
    }
}

impl RsaJwk {
    fn from_value(v: &Value) -> Option<Self> {
        let o = v.as_object()?;
        if o.get("kty")?.as_str()? != "RSA" {
            return None;
        }
        // A key published for encryption or for another algorithm is not a signing key
        // for RS256.
        if let Some(u) = o.get("use")
            && u.as_str() != Some("sig")
        {
            return None;
        }
        if let Some(a) = o.get("alg")
            && a.as_str() != Some("RS256")
        {
            return None;
        }
        let kid = o.get("kid")?.as_str()?;
        let n = o.get("n")?.as_str()?;
        let e = o.get("e")?.as_str()?;
        if kid.is_empty() || !is_b64url(n) || !is_b64url(e) {
            return None;
        }
        let n_bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
        let e_bytes = URL_SAFE_NO_PAD.decode(e).ok()?;
        if n_bytes.is_empty() || e_bytes.is_empty() {
            return None;
        }
        Some(Self {
            kid: kid.to_string(),
            n: n.to_string(),
            e: e.to_string(),
        })
    }
}

/// Verifies a job token and returns the identity it proves. `now` is Unix seconds.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    expect: &Expectations,
    now: i64,
) -> Result<VerifiedIdentity, VerifyError> {
    use VerifyErrorKind as K;

    // 1. Shape, before any decoding.
    let parts = split_token(token)?;
    let header_bytes = b64(parts[0], "header")?;
    let payload_bytes = b64(parts[1], "payload")?;
    b64(parts[2], "signature")?;
    let header = parse_object_strict(&header_bytes)
        .map_err(|e| VerifyError::new(K::Malformed, format!("header: {e}")))?;

    // 2. Header. SECURITY: the algorithm is pinned; the header only has to agree.
    match header.get("alg") {
        Some(Value::String(a)) if a == "RS256" => {}
        Some(Value::String(a)) => {
            return Err(VerifyError::new(
                K::Alg,
                format!(
                    "header alg is {}; only RS256 is accepted",
                    quote_claim(&Value::String(a.clone()))
                ),
            ));
        }
        Some(other) => {
            return Err(VerifyError::new(
                K::Alg,
                format!(
                    "header alg is {}; only RS256 is accepted",
                    quote_claim(other)
                ),
            ));
        }
        None => return Err(VerifyError::new(K::Alg, "header has no alg")),
    }
    let kid = match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() => k.as_str(),
        Some(other) => {
            return Err(VerifyError::new(
                K::KidMissing,
                format!("header kid is {}, not a key id", quote_claim(other)),
            ));
        }
        None => return Err(VerifyError::new(K::KidMissing, "header has no kid")),
    };
    // SECURITY: keys and key locations named by the token itself are never trusted, and an
    // extension we would have to understand (`crit`) is refused rather than ignored.
    for name in ["crit", "jku", "jwk", "x5u", "x5c"] {
        if header.contains_key(name) {
            return Err(VerifyError::new(
                K::Header,
                format!("header has `{name}`, which is never trusted"),
            ));
        }
    }
    if let Some(typ) = header.get("typ")
        && !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT"))
    {
        return Err(VerifyError::new(
            K::Header,
            format!("header typ is {}, not JWT", quote_claim(typ)),
        ));
    }

    // 3. Key.
    let Some(key) = jwks.find(kid) else {
        return Err(VerifyError::new(
            K::KidUnknown,
            format!(
                "no RSA key with kid {} in the issuer's key set ({} usable keys)",
                quote_claim(&Value::String(kid.to_string())),
                jwks.len()
            ),
        ));
    };

    // 4. Signature only: the crate's claim checks are all off; ours follow.
    if parts[2].is_empty() {
        return Err(VerifyError::new(K::Signature, "the token has no signature"));
    }
    let decoding_key = DecodingKey::from_rsa_components(&key.n, &key.e)
        .map_err(|_| VerifyError::new(K::Signature, "the issuer's key cannot be used for RS256"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    if let Err(e) = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding_key, &validation) {
        use jsonwebtoken::errors::ErrorKind as J;
        let kind = match e.kind() {
            J::Base64(_) | J::Json(_) | J::Utf8(_) => K::Malformed,
            _ => K::Signature,
        };
        let detail = match kind {
            K::Malformed => format!("the token does not decode: {e}"),
            _ => "the signature does not verify with the issuer's key".to_string(),
        };
        return Err(VerifyError::new(kind, detail));
    }

    // 5. Claims, from the signed payload bytes.
    let claims = parse_object_strict(&payload_bytes)
        .map_err(|e| VerifyError::new(K::Malformed, format!("payload: {e}")))?;
    let exp = time_claim(&claims, "exp")?;
    let iat = time_claim(&claims, "iat")?;
    // `nbf` must be present too, but its absence is reported after the `iat` check, so that
    // a token from the future without `nbf` is named for its `iat` (catalogue row 13).
    let nbf = match claims.get("nbf") {
        None => None,
        Some(_) => Some(time_claim(&claims, "nbf")?),
    };

    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == expect.issuer => {}
        Some(other) => {
            return Err(VerifyError::new(
                K::Issuer,
                format!(
                    "iss is {}, expected {:?}",
                    quote_claim(other),
                    expect.issuer
                ),
            ));
        }
        None => return Err(VerifyError::new(K::Issuer, "the token has no iss")),
    }
    match claims.get("aud") {
        Some(Value::String(aud)) if *aud == expect.audience => {}
        Some(other @ Value::Array(_)) => {
            return Err(VerifyError::new(
                K::Audience,
                format!(
                    "aud is an array {}; a single string {:?} is required",
                    quote_claim(other),
                    expect.audience
                ),
            ));
        }
        Some(other) => {
            return Err(VerifyError::new(
                K::Audience,
                format!(
                    "aud is {}, expected {:?}",
                    quote_claim(other),
                    expect.audience
                ),
            ));
        }
        None => return Err(VerifyError::new(K::Audience, "the token has no aud")),
    }

    // 6. Times, in i128 so no sum can wrap. SECURITY: the contract caps the leeway at 60 s
    // and the lifetime at 1 h; a caller cannot loosen either.
    let leeway = expect.leeway.clamp(0, DEFAULT_LEEWAY_SECS);
    let max_lifetime = expect.max_lifetime.clamp(0, DEFAULT_MAX_LIFETIME_SECS);
    let (now_w, leeway_w) = (i128::from(now), i128::from(leeway));
    let (exp_w, iat_w) = (i128::from(exp), i128::from(iat));
    if exp_w + leeway_w < now_w {
        return Err(VerifyError::new(
            K::Expired,
            format!(
                "the token expired at {exp}, {} s before this machine's clock ({now}; leeway {} s){}",
                now_w - exp_w,
                leeway,
                if now_w - iat_w <= i128::from(max_lifetime) + leeway_w {
                    format!(
                        "; it was issued {} s ago: if it was fetched just now, this machine's clock runs fast",
                        now_w - iat_w
                    )
                } else {
                    String::new()
                }
            ),
        ));
    }
    if let Some(nbf) = nbf
        && i128::from(nbf) - leeway_w > now_w
    {
        return Err(VerifyError::new(
            K::NotYetValid,
            format!(
                "the token is not valid before {nbf}, {} s after this machine's clock ({now}; leeway {} s); {}",
                i128::from(nbf) - now_w,
                leeway,
                CLOCK_HINT
            ),
        ));
    }
    if iat_w - leeway_w > now_w {
        return Err(VerifyError::new(
            K::Iat,
            format!(
                "the token was issued at {iat}, {} s after this machine's clock ({now}; leeway {} s); {}",
                iat_w - now_w,
                leeway,
                CLOCK_HINT
            ),
        ));
    }
    let Some(nbf) = nbf else {
        return Err(VerifyError::new(K::ClaimFormat, "claim `nbf` is missing"));
    };
    if exp_w <= iat_w || i128::from(nbf) > exp_w || exp_w - iat_w > i128::from(max_lifetime) {
        return Err(VerifyError::new(
            K::Lifetime,
            format!(
                "iat {iat}, nbf {nbf}, exp {exp}: the lifetime must be positive and at most {} s",
                max_lifetime
            ),
        ));
    }

    // 7. GitHub's claims, typed.
    VerifiedIdentity::from_verified_claims(claims)
        .map_err(|e| VerifyError::new(K::ClaimFormat, e.to_string()))
}

const CLOCK_HINT: &str =
    "this machine's clock may be slow or the issuer's fast: check the system clock (NTP)";

fn split_token(token: &str) -> Result<[&str; 3], VerifyError> {
    let malformed = |d: &str| VerifyError::new(VerifyErrorKind::Malformed, d);
    if token.is_empty() {
        return Err(malformed("the token is empty"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed(&format!(
            "the token is {} bytes, more than the {MAX_TOKEN_BYTES} accepted",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let n = token.split('.').count();
        return Err(malformed(&format!(
            "a JWT has 3 dot-separated segments, this token has {n}"
        )));
    };
    // An empty signature passes this step on purpose: `alg: none` tokens have one, and they
    // are refused as `identity.alg` (catalogue row 1); any other token with no signature is
    // refused as `identity.signature`.
    for (name, seg) in [("header", h), ("payload", p), ("signature", s)] {
        if seg.is_empty() && name != "signature" {
            return Err(malformed(&format!("the {name} segment is empty")));
        }
        if !is_b64url(seg) {
            return Err(malformed(&format!(
                "the {name} segment is not unpadded base64url (padding, spaces or other characters)"
            )));
        }
    }
    Ok([h, p, s])
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn b64(seg: &str, name: &str) -> Result<Vec<u8>, VerifyError> {
    // The engine refuses padding and non-canonical trailing bits.
    URL_SAFE_NO_PAD.decode(seg).map_err(|_| {
        VerifyError::new(
            VerifyErrorKind::Malformed,
            format!("the {name} segment is not valid base64url"),
        )
    })
}

fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<i64, VerifyError> {
    let bad = |what: String| VerifyError::new(VerifyErrorKind::ClaimFormat, what);
    match claims.get(name) {
        None => Err(bad(format!("claim `{name}` is missing"))),
        // SECURITY: only a JSON integer counts: `"9999999999"`, `1e10`, `1.5`, negatives
        // and values beyond i64 are refused, never coerced or skipped.
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= 0 => Ok(v),
            _ => Err(bad(format!(
                "claim `{name}` is {}, not a non-negative integer of seconds",
                quote_claim(&Value::Number(n.clone()))
            ))),
        },
        Some(other) => Err(bad(format!(
            "claim `{name}` is {}, not an integer of seconds",
            quote_claim(other)
        ))),
    }
}

/// A claim value for an error message: JSON, printable ASCII, at most 80 characters.
pub(crate) fn quote_claim(v: &Value) -> String {
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

/// Parses a JSON object, refusing a repeated key at any depth.
pub(crate) fn parse_object_strict(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match crate::strict_json::parse(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use serde_json::json;

    use super::*;
    use crate::sim::oidc::{IssuerKeys, github_claims};

    const ISS: &str = "https://token.actions.githubusercontent.com";
    const AUD: &str = "prod-access";
    const NOW: i64 = 1_800_000_000;

    fn keys() -> &'static IssuerKeys {
        static KEYS: OnceLock<IssuerKeys> = OnceLock::new();
        KEYS.get_or_init(|| IssuerKeys::generate().unwrap())
    }

    fn expect() -> Expectations {
        Expectations::new(ISS, AUD)
    }

    fn claims() -> Map<String, Value> {
        github_claims(ISS, AUD, NOW)
    }

    fn with(edits: Value) -> Value {
        let mut c = claims();
        for (k, v) in edits.as_object().unwrap() {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        Value::Object(c)
    }

    fn signed(claims: &Value) -> String {
        keys().sign(&keys().header(), claims).unwrap()
    }

    fn check(token: &str) -> Result<VerifiedIdentity, VerifyError> {
        verify(token, &keys().jwks(), &expect(), NOW)
    }

    fn id_of(token: &str) -> &'static str {
        check(token).unwrap_err().id()
    }

    #[test]
    fn a_github_token_verifies() {
        let id = check(&signed(&Value::Object(claims()))).unwrap();
        assert_eq!(id.repository, "acme/payments");
        assert_eq!(id.repository_id, 2002);
        assert_eq!(id.run_attempt, 1);
        assert_eq!(id.environment.as_deref(), Some("production"));
    }

    #[test]
    fn alg_must_be_exactly_rs256() {
        for alg in [
            json!("none"),
            json!("None"),
            json!("NONE"),
            json!("nOnE"),
            json!(""),
            json!("rs256"),
            json!("RS256 "),
            json!("HS256"),
            json!("ES256"),
            json!("PS256"),
            json!("RS512"),
            json!(null),
            json!(["RS256"]),
            json!(256),
        ] {
            let header = json!({"alg": alg, "kid": keys().kid(), "typ": "JWT"});
            let t = keys().sign(&header, &Value::Object(claims())).unwrap();
            assert_eq!(id_of(&t), "identity.alg", "{alg}");
            let t = IssuerKeys::unsigned(&header, &Value::Object(claims())).unwrap();
            assert_eq!(id_of(&t), "identity.alg", "{alg} unsigned");
        }
        let t = keys()
            .sign(&json!({"kid": keys().kid()}), &Value::Object(claims()))
            .unwrap();
        assert_eq!(id_of(&t), "identity.alg");
    }

    #[test]
    fn kid_must_be_a_nonempty_string() {
        for kid in [json!(null), json!(""), json!(1), json!([keys().kid()])] {
            let t = keys()
                .sign(
                    &json!({"alg": "RS256", "kid": kid}),
                    &Value::Object(claims()),
                )
                .unwrap();
            assert_eq!(id_of(&t), "identity.kid_missing", "{kid}");
        }
        let t = keys()
            .sign(&json!({"alg": "RS256"}), &Value::Object(claims()))
            .unwrap();
        assert_eq!(id_of(&t), "identity.kid_missing");
    }

    #[test]
    fn header_keys_and_extensions_are_never_trusted() {
        for (name, value) in [
            ("crit", json!(["exp"])),
            ("crit", json!([])),
            ("jku", json!("https://evil.test/jwks")),
            (
                "jwk",
                json!({"kty": "RSA", "n": keys().modulus_b64(), "e": "AQAB"}),
            ),
            ("x5u", json!("https://evil.test/cert")),
            ("x5c", json!(["MIIB"])),
            ("typ", json!("at+jwt")),
            ("typ", json!(1)),
        ] {
            let mut header = keys().header();
            header[name] = value;
            assert_eq!(id_of(&signed_with(&header)), "identity.header", "{name}");
        }
        // GitHub's own header (x5t, typ JWT) is fine.
        assert!(check(&signed_with(&keys().header())).is_ok());
    }

    fn signed_with(header: &Value) -> String {
        keys().sign(header, &Value::Object(claims())).unwrap()
    }

    #[test]
    fn unknown_kid_is_its_own_kind() {
        for kid in [
            "nope",
            "../../../../dev/null",
            "https://evil.test/k",
            "' OR 1=1 --",
        ] {
            let mut header = keys().header();
            header["kid"] = json!(kid);
            let err = check(&signed_with(&header)).unwrap_err();
            assert_eq!(err.kind, VerifyErrorKind::KidUnknown);
        }
    }

    #[test]
    fn signature_failures() {
        // Another RSA key, real kid.
        let t = keys()
            .sign_with_other_key(&keys().header(), &Value::Object(claims()))
            .unwrap();
        assert_eq!(id_of(&t), "identity.signature");
        // Tampered payload.
        let good = signed(&Value::Object(claims()));
        let parts: Vec<&str> = good.split('.').collect();
        let evil = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&with(json!({"repository": "evil/payments"}))).unwrap());
        assert_eq!(
            id_of(&format!("{}.{evil}.{}", parts[0], parts[2])),
            "identity.signature"
        );
        // No signature at all.
        assert_eq!(
            id_of(&format!("{}.{}.", parts[0], parts[1])),
            "identity.signature"
        );
        // A signature of the wrong length.
        assert_eq!(
            id_of(&format!("{}.{}.AAAA", parts[0], parts[1])),
            "identity.signature"
        );
    }

    #[test]
    fn a_weak_or_broken_published_key_never_verifies() {
        let token = signed(&Value::Object(claims()));
        // A 512-bit modulus, a modulus of one byte, and an exponent of 1 under the real kid.
        let n512 = URL_SAFE_NO_PAD.encode([0xc5u8; 64]);
        for (n, e) in [
            (n512.as_str(), "AQAB"),
            ("xQ", "AQAB"),
            (keys().modulus_b64(), "AQ"),
        ] {
            let jwks = Jwks::from_rsa_components([(keys().kid(), n, e)]);
            let err = verify(&token, &jwks, &expect(), NOW).unwrap_err();
            assert_eq!(err.id(), "identity.signature", "{n:.8} {e}");
        }
    }

    #[test]
    fn malformed_tokens_never_panic() {
        let good = signed(&Value::Object(claims()));
        let parts: Vec<&str> = good.split('.').collect();
        let non_utf8 = URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x7b]);
        let cases = [
            String::new(),
            "a.b".to_string(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{good}.x"),
            format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!(" {good}"),
            format!("{good} "),
            format!("{}.{} .{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}é", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}", parts[0].replace('e', "+"), parts[1], parts[2]),
            format!("{non_utf8}.{}.{}", parts[1], parts[1]),
            format!(".{}.{}", parts[1], parts[2]),
            format!("{}..{}", parts[0], parts[2]),
            "..".to_string(),
            "a".repeat(MAX_TOKEN_BYTES + 1),
            format!("{}.{}.{}", "A".repeat(5), parts[1], parts[2]), // 5 chars: impossible length
            format!("{}.{}.{}", URL_SAFE_NO_PAD.encode("[]"), parts[1], parts[2]),
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode("nul"),
                parts[1],
                parts[2]
            ),
        ];
        for t in &cases {
            assert_eq!(id_of(t), "identity.malformed", "{:?}", t.get(..40));
        }
    }

    #[test]
    fn non_canonical_base64_is_refused() {
        // A 256-byte signature is 342 characters: the last one carries 4 spare bits, which
        // must be zero. Setting one decodes to the same bytes in a lax decoder.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let good = signed(&Value::Object(claims()));
        let parts: Vec<&str> = good.split('.').collect();
        assert_eq!(parts[2].len(), 342);
        let last = *parts[2].as_bytes().last().unwrap();
        let index = ALPHABET.iter().position(|&c| c == last).unwrap();
        assert_eq!(index & 0b1111, 0);
        let stray = char::from(ALPHABET[index | 0b0001]);
        let t = format!("{}.{}.{}{stray}", parts[0], parts[1], &parts[2][..341]);
        assert_eq!(id_of(&t), "identity.malformed");
    }

    #[test]
    fn duplicate_json_keys_are_refused() {
        let payload = serde_json::to_string(&Value::Object(claims())).unwrap();
        let header = serde_json::to_string(&keys().header()).unwrap();
        // The helper is sound: the exact bytes verify.
        assert!(check(&raw_signed(&header, &payload)).is_ok());
        // A repeated header key, even one that would "win" as RS256.
        let dup_header = format!(r#"{{"alg":"none","kid":"{}","alg":"RS256"}}"#, keys().kid());
        assert_eq!(
            id_of(&raw_signed(&dup_header, &payload)),
            "identity.malformed"
        );
        // A repeated claim, signed: which `aud` would a second parser pick?
        let dup_payload = format!(r#"{},"aud":"other"}}"#, payload.trim_end_matches('}'));
        assert_eq!(
            id_of(&raw_signed(&header, &dup_payload)),
            "identity.malformed"
        );
        // Nested too.
        let nested = format!(r#"{},"x":{{"a":1,"a":2}}}}"#, payload.trim_end_matches('}'));
        assert_eq!(id_of(&raw_signed(&header, &nested)), "identity.malformed");
    }

    /// Signs exact header and payload bytes with the issuer's key.
    fn raw_signed(header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = keys().sign_raw(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn times_must_be_integers() {
        for (name, v) in [
            ("exp", json!("9999999999")),
            ("exp", json!(1.8e9)),
            ("exp", json!(1800000300.0)),
            ("exp", json!(-1)),
            ("exp", json!(1e30)),
            ("exp", json!(null)),
            ("iat", json!("1800000000")),
            ("iat", json!(null)),
            ("nbf", json!("99999999999")),
            ("nbf", json!(true)),
            ("nbf", json!(null)),
            ("nbf", json!(18446744073709551615u64)),
        ] {
            let mut c = claims();
            if v.is_null() {
                c.remove(name);
            } else {
                c.insert(name.into(), v.clone());
            }
            let t = signed(&Value::Object(c));
            assert_eq!(id_of(&t), "identity.claim_format", "{name}={v}");
        }
        // An explicit JSON null is present and not an integer.
        let mut c = claims();
        c.insert("exp".into(), Value::Null);
        assert_eq!(id_of(&signed(&Value::Object(c))), "identity.claim_format");
    }

    #[test]
    fn issuer_and_audience_are_exact_single_strings() {
        for iss in [
            json!("https://token.actions.githubusercontent.com.evil.test"),
            json!("https://token.actions.githubusercontent.com/"),
            json!("HTTPS://token.actions.githubusercontent.com"),
            json!([ISS]),
            json!(null),
        ] {
            let t = signed(&with(json!({ "iss": iss })));
            let want = "identity.issuer";
            assert_eq!(id_of(&t), want, "{iss}");
        }
        for aud in [
            json!("sts.amazonaws.com"),
            json!([AUD]),
            json!([AUD, "x"]),
            json!("Prod-Access"),
            json!(1),
        ] {
            let t = signed(&with(json!({ "aud": aud })));
            assert_eq!(id_of(&t), "identity.audience", "{aud}");
        }
        let mut c = claims();
        c.remove("aud");
        assert_eq!(id_of(&signed(&Value::Object(c))), "identity.audience");
    }

    #[test]
    fn expiry_has_sixty_seconds_of_leeway() {
        let at = |exp: i64| {
            signed(&with(
                json!({"exp": exp, "iat": exp - 300, "nbf": exp - 900}),
            ))
        };
        assert!(check(&at(NOW - 60)).is_ok());
        let err = check(&at(NOW - 61)).unwrap_err();
        assert_eq!(err.id(), "identity.expired");
        assert!(err.detail.contains("clock"), "{}", err.detail);
        assert_eq!(id_of(&at(NOW - 120)), "identity.expired");
        assert_eq!(id_of(&at(1000)), "identity.expired");
    }

    #[test]
    fn not_before_and_issued_at_have_sixty_seconds_of_leeway() {
        let nbf = |nbf: i64| signed(&with(json!({"nbf": nbf})));
        assert!(check(&nbf(NOW + 60)).is_ok());
        let err = check(&nbf(NOW + 61)).unwrap_err();
        assert_eq!(err.id(), "identity.not_yet_valid");
        assert!(err.detail.contains("clock"), "{}", err.detail);
        assert_eq!(id_of(&nbf(NOW + 3600)), "identity.not_yet_valid");

        let iat = |iat: i64| {
            signed(&with(
                json!({"iat": iat, "nbf": NOW - 10, "exp": iat + 300}),
            ))
        };
        assert!(check(&iat(NOW + 60)).is_ok());
        let err = check(&iat(NOW + 61)).unwrap_err();
        assert_eq!(err.id(), "identity.iat");
        assert!(err.detail.contains("clock"), "{}", err.detail);
        // Row 13: iat in the future and no nbf at all.
        let t = signed(&with(
            json!({"iat": NOW + 3600, "exp": NOW + 3900, "nbf": null}),
        ));
        assert_eq!(id_of(&t), "identity.iat");
        // A token without nbf is still refused.
        assert_eq!(
            id_of(&signed(&with(json!({"nbf": null})))),
            "identity.claim_format"
        );
    }

    #[test]
    fn callers_cannot_loosen_leeway_or_lifetime() {
        let loose = Expectations {
            leeway: 3600,
            max_lifetime: 86_400,
            ..expect()
        };
        let t = signed(&with(
            json!({"exp": NOW - 61, "iat": NOW - 361, "nbf": NOW - 961}),
        ));
        let err = verify(&t, &keys().jwks(), &loose, NOW).unwrap_err();
        assert_eq!(err.id(), "identity.expired");
        let t = signed(&with(json!({"iat": NOW, "nbf": NOW, "exp": NOW + 7200})));
        let err = verify(&t, &keys().jwks(), &loose, NOW).unwrap_err();
        assert_eq!(err.id(), "identity.lifetime");
    }

    #[test]
    fn lifetime_is_positive_and_at_most_an_hour() {
        let life = |secs: i64| {
            signed(&with(
                json!({"iat": NOW - 10, "nbf": NOW - 10, "exp": NOW - 10 + secs}),
            ))
        };
        assert!(check(&life(3600)).is_ok());
        assert_eq!(id_of(&life(3601)), "identity.lifetime");
        assert_eq!(id_of(&life(i64::from(i32::MAX))), "identity.lifetime");
        let t = signed(&with(json!({"iat": NOW, "nbf": NOW, "exp": NOW})));
        assert_eq!(id_of(&t), "identity.lifetime");
        let t = signed(&with(json!({"iat": NOW, "nbf": NOW, "exp": NOW - 1})));
        assert_eq!(id_of(&t), "identity.lifetime");
        let t = signed(&with(
            json!({"iat": NOW - 100, "nbf": NOW + 50, "exp": NOW + 40}),
        ));
        assert_eq!(id_of(&t), "identity.lifetime");
        // Huge values never wrap.
        let t = signed(&with(json!({"iat": NOW, "nbf": NOW, "exp": i64::MAX})));
        assert_eq!(id_of(&t), "identity.lifetime");
    }

    #[test]
    fn github_claims_must_have_their_types() {
        for (name, v) in [
            ("repository", json!(["acme/payments"])),
            ("repository_id", json!(2002)),
            ("run_attempt", json!(1)),
            ("run_id", json!("-1")),
            ("actor", json!(null)),
        ] {
            let t = signed(&with(json!({ name: v })));
            assert_eq!(id_of(&t), "identity.claim_format", "{name}");
        }
        let mut c = claims();
        c.remove("job_workflow_ref");
        assert_eq!(id_of(&signed(&Value::Object(c))), "identity.claim_format");
    }

    #[test]
    fn immutable_subject_format_verifies() {
        let t = signed(&with(
            json!({"sub": "repo:acme@123/payments@456:environment:production"}),
        ));
        assert_eq!(check(&t).unwrap().repository, "acme/payments");
    }

    #[test]
    fn jwks_parsing_is_lenient_per_key_strict_per_document() {
        let mut doc = keys().jwks_json();
        let keys_arr = doc["keys"].as_array_mut().unwrap();
        keys_arr.push(json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}));
        keys_arr.push(json!({"kty": "RSA", "kid": "ps", "alg": "PS256", "n": "AQAB", "e": "AQAB"}));
        keys_arr.push(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}));
        keys_arr.push(json!({"kty": "RSA", "kid": "badn", "n": "A+B", "e": "AQAB"}));
        keys_arr.push(json!({"kty": "RSA", "kid": "nonstring", "n": 5, "e": "AQAB"}));
        keys_arr.push(json!("not a key"));
        keys_arr.push(json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "AA"}));
        keys_arr.push(json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}));
        let jwks = Jwks::parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(jwks.kids().collect::<Vec<_>>(), [keys().kid()]);
        assert_eq!(jwks.skipped(), 9);

        for bad in [
            &b"[]"[..],
            b"{}",
            br#"{"keys": {}}"#,
            b"not json",
            br#"{"keys": [], "keys": []}"#,
        ] {
            assert!(
                Jwks::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(Jwks::parse(br#"{"keys": []}"#).unwrap().is_empty());
    }

    #[test]
    fn errors_never_echo_the_token() {
        let good = signed(&Value::Object(claims()));
        let sig = good.rsplit('.').next().unwrap();
        let tampered = format!("{}x", &good[..good.len() - 1]);
        for t in [tampered, good.replace('.', ".."), format!("{good}.{good}")] {
            let err = check(&t).unwrap_err();
            assert!(!err.to_string().contains(sig), "{err}");
            assert!(!err.to_string().contains(&good[..40]), "{err}");
        }
    }
}
