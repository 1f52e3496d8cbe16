//! Verification of a `jwt` credential, as a production service should do it
//! (`prod-access verify`, catalogue row 80): a thin user of [`crate::jose`].
//!
//! [`verify_token`] is [`crate::jose::verify()`] under [`MINTED`]: `EdDSA` or `ES256` with a
//! key of that type, `iss` checked when `--issuer` is given, `iat <= nbf < exp`, a lifetime
//! of at most 24 h, ids `jwt.*` (`jwt.malformed`, `jwt.alg`, `jwt.kid_missing`,
//! `jwt.header`, `jwt.kid_unknown`, `jwt.signature`, `jwt.claim_format`, `jwt.issuer`,
//! `jwt.audience`, `jwt.expired`, `jwt.not_yet_valid`, `jwt.iat`, `jwt.lifetime`).
//! [`parse_jwks`] keeps the Ed25519 and P-256 keys of a JWKS and refuses one that holds
//! private material, repeats a `kid` or holds a small-order Ed25519 key.
//!
//! SECURITY: the algorithm comes from the key the `kid` names, never from the token alone;
//! the crate checks the signature only, and every claim is checked on the signed bytes
//! with integer-only times.

use serde_json::{Map, Value};

use crate::jose::{Alg, Profile};
pub use crate::jose::{
    Expectations, IdFamily, Jwks, JwksError, MAX_JWKS_BYTES, MAX_TOKEN_BYTES, VerifyError,
};

/// Longest `exp - iat`: a policy ttl is at most 24 h.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;

/// What a minted token may be: the two algorithms `keygen` makes keys for.
pub const MINTED: Profile = Profile {
    ids: IdFamily::Jwt,
    algs: &[Alg::EdDsa, Alg::Es256],
    issuer_required: false,
    max_lifetime: MAX_LIFETIME_SECS,
    nbf_not_before_iat: true,
    key_set: "the JWKS",
};

/// Parses a JWKS, keeping its Ed25519 and P-256 signing keys.
pub fn parse_jwks(bytes: &[u8]) -> Result<Jwks, JwksError> {
    Jwks::parse(bytes, MINTED.algs)
}

/// Verifies a token against a key set; returns its claims. `now` is Unix seconds.
pub fn verify_token(
    token: &str,
    keys: &Jwks,
    expect: &Expectations,
    now: i64,
) -> Result<Map<String, Value>, VerifyError> {
    crate::jose::verify(token, keys, &MINTED, expect, now)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::super::jwt_keys::{KeyAlg, SigningKey, jwks_document};
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

    fn check(edits: Value, now: i64) -> Result<Map<String, Value>, VerifyError> {
        let (key, _) = SigningKey::generate(KeyAlg::Ed25519).unwrap();
        let token = key.sign_jwt(&claims(edits)).unwrap();
        let set = parse_jwks(
            jwks_document(std::slice::from_ref(key.public_jwk()))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        verify_token(
            token.expose(),
            &set,
            &Expectations::for_audience(AUD, Some(ISS.into())),
            now,
        )
    }

    fn id(edits: Value, now: i64) -> &'static str {
        check(edits, now).unwrap_err().id()
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
        let set = parse_jwks(
            jwks_document(std::slice::from_ref(key.public_jwk()))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let err = verify_token(
            &format!("{input}.{sig}"),
            &set,
            &Expectations::for_audience(AUD, None),
            NOW,
        )
        .unwrap_err();
        assert_eq!(err.id(), "jwt.malformed");
    }

    #[test]
    fn the_leeway_cannot_be_loosened() {
        let (key, _) = SigningKey::generate(KeyAlg::Ed25519).unwrap();
        let token = key.sign_jwt(&claims(json!({}))).unwrap();
        let set = parse_jwks(
            jwks_document(std::slice::from_ref(key.public_jwk()))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let mut expect = Expectations::for_audience(AUD, None);
        expect.leeway = 3600;
        let err = verify_token(token.expose(), &set, &expect, NOW + 600 + 61).unwrap_err();
        assert_eq!(err.id(), "jwt.expired");
    }
}
