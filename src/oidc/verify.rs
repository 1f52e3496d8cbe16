//! The job's OIDC token (contract §2, catalogue rows 1-25): a thin user of [`crate::jose`].
//!
//! [`verify`] is pure: [`crate::jose::verify()`] under [`JOB_TOKEN`] (RS256 only, the issuer
//! required, lifetime at most 1 h, ids `identity.*`), then GitHub's claims typed into a
//! [`VerifiedIdentity`]. The order of the checks and their ids are in [`mod@crate::jose::verify`];
//! the last step is this module's:
//!
//! | step | id |
//! | --- | --- |
//! | every check of [`crate::jose::verify()`], `RS256` only | `identity.malformed` ... `identity.lifetime` |
//! | GitHub's claims have the right types | `identity.claim_format` |

use crate::jose::{Alg, Profile};
pub use crate::jose::{
    Expectations, IdFamily, Jwks, JwksError, MAX_TOKEN_BYTES, VerifyError, VerifyErrorKind,
};

use super::VerifiedIdentity;

/// Clock leeway on `exp`, `nbf` and `iat` (contract §2: at most 60 s).
pub const DEFAULT_LEEWAY_SECS: i64 = crate::jose::MAX_LEEWAY_SECS;
/// Longest accepted `exp - iat` (contract §2: 1 h; GitHub issues tokens valid for minutes).
pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 3600;

/// What a job token may be. SECURITY: RS256 only (GitHub's algorithm), the issuer always
/// checked, and `nbf` may precede `iat` (GitHub sets it 10 min before).
pub const JOB_TOKEN: Profile = Profile {
    ids: IdFamily::Identity,
    algs: &[Alg::Rs256],
    issuer_required: true,
    max_lifetime: DEFAULT_MAX_LIFETIME_SECS,
    nbf_not_before_iat: false,
    key_set: "the issuer's key set",
};

/// Parses an issuer's JWK Set, keeping its RS256 keys.
pub fn parse_jwks(bytes: &[u8]) -> Result<Jwks, JwksError> {
    Jwks::parse(bytes, JOB_TOKEN.algs)
}

/// Verifies a job token and returns the identity it proves. `now` is Unix seconds.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    expect: &Expectations,
    now: i64,
) -> Result<VerifiedIdentity, VerifyError> {
    let claims = crate::jose::verify(token, jwks, &JOB_TOKEN, expect, now)?;
    VerifiedIdentity::from_verified_claims(claims)
        .map_err(|e| VerifyError::new(JOB_TOKEN.ids, VerifyErrorKind::ClaimFormat, e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Map, Value, json};

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
        let jwks = parse_jwks(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(jwks.kids().collect::<Vec<_>>(), [keys().kid()]);
        assert_eq!(jwks.skipped(), 9);

        for bad in [
            &b"[]"[..],
            b"{}",
            br#"{"keys": {}}"#,
            b"not json",
            br#"{"keys": [], "keys": []}"#,
        ] {
            assert!(parse_jwks(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse_jwks(br#"{"keys": []}"#).unwrap().is_empty());
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
