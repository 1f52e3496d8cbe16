//! Strict, synchronous verification of a compact JWS against a [`Jwks`] and a [`Profile`].
//!
//! [`verify`] is pure: the token, the key set, the profile, the expectations and the clock
//! come in; the signed claims or a [`VerifyError`] with a stable id come out. The checks run
//! in a fixed order and the first failure wins (ids shown for the `identity` family; the
//! `jwt` family has the same suffixes):
//!
//! | step | id |
//! | --- | --- |
//! | size cap, three base64url segments (header and payload non-empty), header JSON | `identity.malformed` |
//! | `alg` exactly one of the profile's algorithms (`none`, `HS256`... never) | `identity.alg` |
//! | `kid` a non-empty string | `identity.kid_missing` |
//! | no `crit`, `jku`, `jwk`, `x5u`, `x5c`; `typ` absent or `JWT` | `identity.header` |
//! | `kid` names a key of the set | `identity.kid_unknown` |
//! | the key is of the header's algorithm (an EC key never checks an `EdDSA` token) | `identity.alg` |
//! | a non-empty signature that verifies (jsonwebtoken, aws-lc-rs) | `identity.signature` |
//! | payload JSON; `exp`, `iat` present and `nbf` (if present) non-negative integers | `identity.malformed`, `identity.claim_format` |
//! | `iss` a string equal to the issuer (required by the job profile) | `identity.issuer` |
//! | `aud` a single string equal to the audience | `identity.audience` |
//! | `exp + leeway >= now` | `identity.expired` |
//! | `nbf - leeway <= now` | `identity.not_yet_valid` |
//! | `iat - leeway <= now` | `identity.iat` |
//! | `nbf` present | `identity.claim_format` |
//! | `iat < exp`, `nbf < exp`, `exp - iat <= max lifetime` (and `iat <= nbf` when the profile says so) | `identity.lifetime` |
//!
//! SECURITY: the crate is used for the signature only, with the algorithm pinned by the
//! profile and the key, so none of its claim handling (which accepts a `nbf` it cannot
//! parse, never checks `iat`, and accepts an audience array) is relied on; every time and
//! claim check runs on the raw JSON, after the signature, with integer-only times. JSON
//! objects with a repeated key are refused (a parser differential: which `aud` would win?).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use serde_json::{Map, Value};

use super::{
    Alg, IdFamily, Jwks, Profile, VerifyError, VerifyErrorKind, is_b64url, parse_object_strict,
    quote_claim, quote_str,
};

/// Tokens longer than this are refused before any decoding (GitHub's are about 1-2 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clock leeway on `exp`, `nbf` and `iat`, and its cap (contract §2: at most 60 s).
pub const MAX_LEEWAY_SECS: i64 = 60;

/// What a token must say to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// Compared byte for byte with `iss`; `None` skips the check where the profile allows.
    pub issuer: Option<String>,
    /// Compared byte for byte with `aud`, which must be a single string.
    pub audience: String,
    /// Clock leeway in seconds, clamped to `0..=60`.
    pub leeway: i64,
    /// Longest accepted `exp - iat` in seconds, clamped to the profile's.
    pub max_lifetime: i64,
}

impl Expectations {
    /// `iss` and `aud` must both match; 60 s of leeway; the profile's lifetime.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::for_audience(audience, Some(issuer.into()))
    }

    /// `aud` must match, and `iss` when `issuer` is given.
    pub fn for_audience(audience: impl Into<String>, issuer: Option<String>) -> Self {
        Self {
            issuer,
            audience: audience.into(),
            leeway: MAX_LEEWAY_SECS,
            max_lifetime: i64::MAX,
        }
    }
}

/// Verifies a compact JWS and returns its claims. `now` is Unix seconds.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    profile: &Profile,
    expect: &Expectations,
    now: i64,
) -> Result<Map<String, Value>, VerifyError> {
    use VerifyErrorKind as K;
    let ids = profile.ids;
    let err = |kind: K, detail: String| VerifyError::new(ids, kind, detail);

    // 1. Shape, before any decoding.
    let parts = split_token(token, ids)?;
    let header_bytes = b64(parts[0], "header", ids)?;
    let payload_bytes = b64(parts[1], "payload", ids)?;
    b64(parts[2], "signature", ids)?;
    let header = parse_object_strict(&header_bytes)
        .map_err(|e| err(K::Malformed, format!("header: {e}")))?;

    // 2. Header. SECURITY: the algorithms are pinned by the profile; the header only picks
    // one of them, and the key must agree (step 3).
    let alg = match header.get("alg") {
        Some(Value::String(a)) => Alg::from_name(a).filter(|a| profile.algs.contains(a)),
        Some(_) => None,
        None => return Err(err(K::Alg, "header has no alg".into())),
    };
    let Some(alg) = alg else {
        let names: Vec<&str> = profile.algs.iter().map(|a| a.name()).collect();
        return Err(err(
            K::Alg,
            format!(
                "header alg is {}; only {} {} accepted",
                header.get("alg").map(quote_claim).unwrap_or_default(),
                names.join(" and "),
                if names.len() == 1 { "is" } else { "are" }
            ),
        ));
    };
    let kid = match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() => k.as_str(),
        Some(other) => {
            return Err(err(
                K::KidMissing,
                format!("header kid is {}, not a key id", quote_claim(other)),
            ));
        }
        None => return Err(err(K::KidMissing, "header has no kid".into())),
    };
    // SECURITY: keys and key locations named by the token itself are never trusted, and an
    // extension we would have to understand (`crit`) is refused rather than ignored.
    for name in ["crit", "jku", "jwk", "x5u", "x5c"] {
        if header.contains_key(name) {
            return Err(err(
                K::Header,
                format!("header has `{name}`, which is never trusted"),
            ));
        }
    }
    // `typ` is a media type, compared case-insensitively (RFC 7515 §4.1.9).
    if let Some(typ) = header.get("typ")
        && !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT"))
    {
        return Err(err(
            K::Header,
            format!("header typ is {}, not JWT", quote_claim(typ)),
        ));
    }

    // 3. Key. SECURITY: the algorithm is the key's, never the token's alone.
    let Some(key) = jwks.find(kid) else {
        return Err(err(
            K::KidUnknown,
            format!(
                "no key with kid {} in {} ({} usable keys)",
                quote_str(kid),
                profile.key_set,
                jwks.len()
            ),
        ));
    };
    if key.alg != alg {
        return Err(err(
            K::Alg,
            format!(
                "header alg is {} but the key {} is {}, which signs {}",
                alg.name(),
                quote_str(kid),
                key.alg.key_type(),
                key.alg.name()
            ),
        ));
    }

    // 4. Signature only: the crate's claim checks are all off; ours follow.
    if parts[2].is_empty() {
        return Err(err(K::Signature, "the token has no signature".into()));
    }
    let decoding_key = key.decoding_key().ok_or_else(|| {
        err(
            K::Signature,
            format!(
                "the key {} cannot be used for {}",
                quote_str(kid),
                alg.name()
            ),
        )
    })?;
    let mut validation = Validation::new(alg.jsonwebtoken());
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    if let Err(e) = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding_key, &validation) {
        use jsonwebtoken::errors::ErrorKind as J;
        return Err(match e.kind() {
            J::Base64(_) | J::Json(_) | J::Utf8(_) => {
                err(K::Malformed, format!("the token does not decode: {e}"))
            }
            _ => err(
                K::Signature,
                format!(
                    "the signature does not verify with the key {}",
                    quote_str(kid)
                ),
            ),
        });
    }

    // 5. Claims, from the signed payload bytes.
    let claims = parse_object_strict(&payload_bytes)
        .map_err(|e| err(K::Malformed, format!("payload: {e}")))?;
    let exp = time_claim(&claims, "exp", ids)?;
    let iat = time_claim(&claims, "iat", ids)?;
    // `nbf` must be present too, but its absence is reported after the `iat` check, so that
    // a token from the future without `nbf` is named for its `iat` (catalogue row 13).
    let nbf = match claims.get("nbf") {
        None => None,
        Some(_) => Some(time_claim(&claims, "nbf", ids)?),
    };

    match (&expect.issuer, claims.get("iss")) {
        // SECURITY: a profile that requires an issuer refuses every token without one.
        (None, _) if profile.issuer_required => {
            return Err(err(K::Issuer, "no issuer is expected: refusing".into()));
        }
        (None, _) => {}
        (Some(want), Some(Value::String(iss))) if iss == want => {}
        (Some(want), Some(other)) => {
            return Err(err(
                K::Issuer,
                format!(
                    "iss is {}, expected {}",
                    quote_claim(other),
                    quote_str(want)
                ),
            ));
        }
        (Some(_), None) => return Err(err(K::Issuer, "the token has no iss".into())),
    }
    match claims.get("aud") {
        Some(Value::String(aud)) if *aud == expect.audience => {}
        Some(other @ Value::Array(_)) => {
            return Err(err(
                K::Audience,
                format!(
                    "aud is an array {}; a single string {} is required",
                    quote_claim(other),
                    quote_str(&expect.audience)
                ),
            ));
        }
        Some(other) => {
            return Err(err(
                K::Audience,
                format!(
                    "aud is {}, expected {}",
                    quote_claim(other),
                    quote_str(&expect.audience)
                ),
            ));
        }
        None => return Err(err(K::Audience, "the token has no aud".into())),
    }

    // 6. Times, in i128 so no sum can wrap. SECURITY: the leeway is capped at 60 s and the
    // lifetime at the profile's; an expectation cannot loosen either.
    let leeway = expect.leeway.clamp(0, MAX_LEEWAY_SECS);
    let max_lifetime = expect.max_lifetime.clamp(0, profile.max_lifetime);
    let (now_w, leeway_w) = (i128::from(now), i128::from(leeway));
    let (exp_w, iat_w) = (i128::from(exp), i128::from(iat));
    if exp_w + leeway_w < now_w {
        return Err(err(
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
        return Err(err(
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
        return Err(err(
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
        return Err(err(K::ClaimFormat, "claim `nbf` is missing".into()));
    };
    let nbf_w = i128::from(nbf);
    if exp_w <= iat_w
        || nbf_w >= exp_w
        || exp_w - iat_w > i128::from(max_lifetime)
        || (profile.nbf_not_before_iat && nbf_w < iat_w)
    {
        return Err(err(
            K::Lifetime,
            format!(
                "iat {iat}, nbf {nbf}, exp {exp}: need {}nbf < exp, iat < exp and a lifetime of at most {max_lifetime} s",
                if profile.nbf_not_before_iat {
                    "iat <= "
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(claims)
}

const CLOCK_HINT: &str =
    "this machine's clock may be slow or the issuer's fast: check the system clock (NTP)";

fn split_token(token: &str, ids: IdFamily) -> Result<[&str; 3], VerifyError> {
    let malformed = |d: String| VerifyError::new(ids, VerifyErrorKind::Malformed, d);
    if token.is_empty() {
        return Err(malformed("the token is empty".into()));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed(format!(
            "the token is {} bytes, more than the {MAX_TOKEN_BYTES} accepted",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let n = token.split('.').count();
        return Err(malformed(format!(
            "a JWT has 3 dot-separated segments, this token has {n}"
        )));
    };
    // An empty signature passes this step on purpose: `alg: none` tokens have one, and they
    // are refused as `*.alg` (catalogue row 1); any other token with no signature is
    // refused as `*.signature`.
    for (name, seg) in [("header", h), ("payload", p), ("signature", s)] {
        if seg.is_empty() && name != "signature" {
            return Err(malformed(format!("the {name} segment is empty")));
        }
        if !is_b64url(seg) {
            return Err(malformed(format!(
                "the {name} segment is not unpadded base64url (padding, spaces or other characters)"
            )));
        }
    }
    Ok([h, p, s])
}

fn b64(seg: &str, name: &str, ids: IdFamily) -> Result<Vec<u8>, VerifyError> {
    // The engine refuses padding and non-canonical trailing bits.
    URL_SAFE_NO_PAD.decode(seg).map_err(|_| {
        VerifyError::new(
            ids,
            VerifyErrorKind::Malformed,
            format!("the {name} segment is not valid base64url"),
        )
    })
}

fn time_claim(claims: &Map<String, Value>, name: &str, ids: IdFamily) -> Result<i64, VerifyError> {
    let bad = |what: String| VerifyError::new(ids, VerifyErrorKind::ClaimFormat, what);
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

#[cfg(test)]
mod tests {
    //! The profile-independent properties; each profile's own behaviour is tested by its
    //! caller ([`crate::oidc::verify`], [`crate::credential::jwt_verify`]).

    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    const RSA_ONLY: Profile = Profile {
        ids: IdFamily::Identity,
        algs: &[Alg::Rs256],
        issuer_required: true,
        max_lifetime: 3600,
        nbf_not_before_iat: false,
        key_set: "the issuer's key set",
    };
    const ED_ONLY: Profile = Profile {
        ids: IdFamily::Jwt,
        algs: &[Alg::EdDsa],
        issuer_required: false,
        max_lifetime: 86_400,
        nbf_not_before_iat: true,
        key_set: "the JWKS",
    };

    /// An Ed25519 key, its one-key set (under `kid`), and a signer of exact header and
    /// payload bytes.
    struct Ed {
        pair: Ed25519KeyPair,
        jwks: Jwks,
    }

    impl Ed {
        fn new(kid: &str, algs: &[Alg]) -> Self {
            let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            let set = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": x}]});
            let jwks = Jwks::parse(set.to_string().as_bytes(), algs).unwrap();
            Self { pair, jwks }
        }

        fn sign(&self, header: &Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = self.pair.sign(input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
    }

    fn claims() -> Value {
        json!({"iss": "https://i.test", "aud": "a", "iat": NOW, "nbf": NOW, "exp": NOW + 60})
    }

    #[test]
    fn an_algorithm_outside_the_profile_never_reaches_a_key() {
        let ed = Ed::new("k", &[Alg::EdDsa]);
        let token = ed.sign(&json!({"alg": "EdDSA", "kid": "k"}), &claims());
        let expect = Expectations::new("https://i.test", "a");
        assert!(verify(&token, &ed.jwks, &ED_ONLY, &expect, NOW).is_ok());
        // The same token and keys under a profile that accepts RS256 only.
        let err = verify(&token, &ed.jwks, &RSA_ONLY, &expect, NOW).unwrap_err();
        assert_eq!(err.id(), "identity.alg");
        assert!(err.detail.contains("only RS256 is accepted"), "{err}");
    }

    #[test]
    fn the_key_decides_the_algorithm() {
        // An Ed25519 key under its kid; a header claiming ES256 for it.
        let ed = Ed::new("k", &[Alg::EdDsa, Alg::Es256]);
        let both = Profile {
            algs: &[Alg::EdDsa, Alg::Es256],
            ..ED_ONLY
        };
        let token = ed.sign(&json!({"alg": "ES256", "kid": "k"}), &claims());
        let err = verify(
            &token,
            &ed.jwks,
            &both,
            &Expectations::for_audience("a", None),
            NOW,
        )
        .unwrap_err();
        assert_eq!(err.id(), "jwt.alg");
        assert!(err.detail.contains("OKP Ed25519"), "{err}");
    }

    #[test]
    fn an_issuer_is_required_where_the_profile_says_so() {
        let ed = Ed::new("k", &[Alg::EdDsa]);
        let token = ed.sign(&json!({"alg": "EdDSA", "kid": "k"}), &claims());
        let none = Expectations::for_audience("a", None);
        assert!(verify(&token, &ed.jwks, &ED_ONLY, &none, NOW).is_ok());
        let strict = Profile {
            issuer_required: true,
            ..ED_ONLY
        };
        let err = verify(&token, &ed.jwks, &strict, &none, NOW).unwrap_err();
        assert_eq!(err.id(), "jwt.issuer");
    }

    #[test]
    fn nbf_before_iat_only_where_the_profile_allows_it() {
        let ed = Ed::new("k", &[Alg::EdDsa]);
        let mut c = claims();
        c["nbf"] = json!(NOW - 600);
        let token = ed.sign(&json!({"alg": "EdDSA", "kid": "k"}), &c);
        let expect = Expectations::for_audience("a", None);
        let err = verify(&token, &ed.jwks, &ED_ONLY, &expect, NOW).unwrap_err();
        assert_eq!(err.id(), "jwt.lifetime");
        let github_like = Profile {
            nbf_not_before_iat: false,
            ..ED_ONLY
        };
        assert!(verify(&token, &ed.jwks, &github_like, &expect, NOW).is_ok());
        // nbf == exp is never valid.
        c["nbf"] = json!(NOW + 60);
        let token = ed.sign(&json!({"alg": "EdDSA", "kid": "k"}), &c);
        let err = verify(&token, &ed.jwks, &github_like, &expect, NOW + 30).unwrap_err();
        assert_eq!(err.id(), "jwt.lifetime");
    }

    #[test]
    fn typ_is_a_case_insensitive_jwt() {
        let ed = Ed::new("k", &[Alg::EdDsa]);
        let expect = Expectations::for_audience("a", None);
        for typ in ["JWT", "jwt"] {
            let t = ed.sign(&json!({"alg": "EdDSA", "kid": "k", "typ": typ}), &claims());
            assert!(
                verify(&t, &ed.jwks, &ED_ONLY, &expect, NOW).is_ok(),
                "{typ}"
            );
        }
        for typ in [json!("at+jwt"), json!("JWS"), json!(1)] {
            let t = ed.sign(&json!({"alg": "EdDSA", "kid": "k", "typ": typ}), &claims());
            let err = verify(&t, &ed.jwks, &ED_ONLY, &expect, NOW).unwrap_err();
            assert_eq!(err.id(), "jwt.header", "{typ}");
        }
    }
}
