//! The job identity end to end: the real HTTP client (reqwest) against the loopback OIDC
//! issuer of `prod_access::sim::oidc`, one test per row 1-25 of the attack catalogue
//! (`jwt_NN_*`), each asserting the requirement id and the exit class, plus the paths that
//! must succeed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use prod_access::error::{Error, ExitClass};
use prod_access::identity::{IdentityInputs, verified_identity, verified_identity_with};
use prod_access::oidc::fetch::{FetchConfig, FetchErrorKind, JwksCache, OidcClient};
use prod_access::oidc::{VerifiedIdentity, unix_now};
use prod_access::secret::Secret;
use prod_access::sim::oidc::{HUGE_BODY_BYTES, IssuerKeys, OidcIssuer};
use serde_json::{Map, Value, json};

const AUD: &str = "prod-access";
/// Where the simulated issuer keeps its key set (GitHub's layout).
const JWKS: &str = "/.well-known/jwks";

/// One scenario: an issuer, a client with short deadlines, a private key-set cache, a fixed
/// clock.
struct Case {
    iss: OidcIssuer,
    client: OidcClient,
    cache: JwksCache,
    now: i64,
}

impl Case {
    async fn new() -> Self {
        Self::with_config(FetchConfig {
            timeout: Duration::from_secs(5),
            ..FetchConfig::default()
        })
        .await
    }

    async fn with_config(config: FetchConfig) -> Self {
        Self {
            iss: OidcIssuer::start().await.unwrap(),
            client: OidcClient::new(config).unwrap(),
            cache: JwksCache::new(),
            now: unix_now(),
        }
    }

    fn keys(&self) -> &IssuerKeys {
        self.iss.keys()
    }

    /// GitHub's claims for this issuer at the case's clock, with edits (`null` removes).
    fn claims(&self, edits: Value) -> Value {
        let mut c = self.iss.claims(AUD, self.now);
        for (k, v) in edits.as_object().unwrap() {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        Value::Object(c)
    }

    fn header(&self, edits: Value) -> Value {
        let mut h = self.keys().header();
        for (k, v) in edits.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        h
    }

    fn env(&self) -> BTreeMap<String, String> {
        self.iss.runner_env()
    }

    /// The whole flow, with the runner's variables of this issuer.
    async fn run(&self) -> Result<VerifiedIdentity, Error> {
        self.run_env(&self.env()).await
    }

    async fn run_env(&self, env: &BTreeMap<String, String>) -> Result<VerifiedIdentity, Error> {
        let lookup = |k: &str| env.get(k).cloned();
        let inputs = IdentityInputs::from_env(&lookup, self.iss.issuer(), AUD)?;
        let now = self.now;
        verified_identity_with(&self.client, &self.cache, inputs, &move || now).await
    }

    /// The whole flow, with the token endpoint answering exactly `token`.
    async fn run_token(&self, token: &str) -> Result<VerifiedIdentity, Error> {
        let t = token.to_string();
        self.iss.set_faults(|f| f.token_value = Some(t));
        self.run().await
    }

    /// Asserts the error's id and exit class, and that it leaks neither token.
    fn expect(&self, r: Result<VerifiedIdentity, Error>, id: &str, class: ExitClass) -> Error {
        let err = match r {
            Ok(identity) => panic!("expected {id}, got {identity:?}"),
            Err(e) => e,
        };
        assert_eq!(err.id(), Some(id), "{err}");
        assert_eq!(err.exit_class(), class, "{err}");
        let text = format!("{err} {err:?} {}", err.help().unwrap_or_default());
        assert!(
            !text.contains(self.iss.request_token()),
            "request token leaked: {text}"
        );
        assert!(!text.contains("eyJ"), "something token-like leaked: {text}");
        err
    }

    fn denied(&self, r: Result<VerifiedIdentity, Error>, id: &str) -> Error {
        self.expect(r, id, ExitClass::Denied)
    }
}

// ---------------------------------------------------------------- positive paths

#[tokio::test]
async fn valid_token_from_the_token_endpoint_verifies() {
    let case = Case::new().await;
    let identity = case.run().await.unwrap();
    assert_eq!(identity.repository, "acme/payments");
    assert_eq!(identity.repository_id, 2002);
    assert_eq!(identity.actor, "octocat");
    assert_eq!(identity.actor_id, Some(583_231));
    assert_eq!(identity.event_name, "workflow_dispatch");
    assert_eq!(identity.git_ref, "refs/heads/main");
    assert_eq!(identity.run_id, 9_000_000_001);
    assert_eq!(identity.run_attempt, 1);
    assert_eq!(identity.environment.as_deref(), Some("production"));
    assert_eq!(
        identity.job_workflow_ref,
        "acme/payments/.github/workflows/prod-access.yml@refs/heads/main"
    );
    assert_eq!(identity.claims["aud"], json!(AUD));
    assert_eq!(case.iss.hits("/token"), 1);
    assert_eq!(case.iss.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(case.iss.hits(JWKS), 1);
}

#[tokio::test]
async fn audience_is_appended_to_a_request_url_that_has_a_query() {
    let case = Case::new().await;
    assert!(case.iss.request_url().contains("?api-version=2.0"));
    case.run().await.unwrap();
    assert_eq!(
        case.iss.last_token_query().as_deref(),
        Some("api-version=2.0&audience=prod-access")
    );
}

#[tokio::test]
async fn audience_replaces_one_already_in_the_request_url() {
    let case = Case::new().await;
    let mut env = case.env();
    env.insert(
        "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
        format!(
            "{}/token?audience=sts.amazonaws.com&api-version=2.0",
            case.iss.issuer()
        ),
    );
    case.run_env(&env).await.unwrap();
    assert_eq!(
        case.iss.last_token_query().as_deref(),
        Some("api-version=2.0&audience=prod-access")
    );
}

#[tokio::test]
async fn immutable_subject_format_verifies() {
    let case = Case::new().await;
    let mut claims = Map::new();
    claims.insert(
        "sub".into(),
        json!("repo:acme@123/payments@456:environment:production"),
    );
    case.iss.set_claims(claims);
    let identity = case.run().await.unwrap();
    assert_eq!(
        identity.claims["sub"],
        json!("repo:acme@123/payments@456:environment:production")
    );
    assert_eq!(identity.repository, "acme/payments");
}

#[tokio::test]
async fn the_key_set_is_cached_per_issuer() {
    let case = Case::new().await;
    case.run().await.unwrap();
    case.run().await.unwrap();
    assert_eq!(case.iss.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(case.iss.hits(JWKS), 1);
}

#[tokio::test]
async fn a_rotated_key_is_found_by_the_one_refetch() {
    let case = Case::new().await;
    // Warm the cache with a key set that lacks the signing key, as before a rotation.
    case.iss
        .set_faults(|f| f.jwks_body = Some(json!({"keys": []})));
    let stale = case.run().await;
    case.denied(stale, "identity.kid_unknown");
    assert_eq!(case.iss.hits(JWKS), 2);
    // The issuer now publishes the key: the cached set misses, one refetch finds it.
    case.iss.set_faults(|f| f.jwks_body = None);
    case.run().await.unwrap();
    assert_eq!(case.iss.hits(JWKS), 3);
    assert_eq!(case.iss.hits("/.well-known/openid-configuration"), 1);
}

#[tokio::test]
async fn the_public_entry_point_reads_the_environment() {
    let case = Case::new().await;
    let env = case.env();
    let lookup = |k: &str| env.get(k).cloned();
    let identity = verified_identity(&lookup, case.iss.issuer(), AUD)
        .await
        .unwrap();
    assert_eq!(identity.repository, "acme/payments");
}

// ---------------------------------------------------------------- catalogue rows 1-25

#[tokio::test]
async fn jwt_01_alg_none() {
    let case = Case::new().await;
    let token = IssuerKeys::unsigned(
        &case.header(json!({"alg": "none"})),
        &case.claims(json!({})),
    )
    .unwrap();
    assert!(token.ends_with('.'));
    let r = case.run_token(&token).await;
    case.denied(r, "identity.alg");
}

#[tokio::test]
async fn jwt_02_alg_none_variants() {
    let case = Case::new().await;
    for alg in ["None", "NONE", "nOnE", ""] {
        let token =
            IssuerKeys::unsigned(&case.header(json!({ "alg": alg })), &case.claims(json!({})))
                .unwrap();
        let r = case.run_token(&token).await;
        case.denied(r, "identity.alg");
        // Also with a real RS256 signature under the odd header.
        let token = case
            .keys()
            .sign(&case.header(json!({ "alg": alg })), &case.claims(json!({})))
            .unwrap();
        let r = case.run_token(&token).await;
        case.denied(r, "identity.alg");
    }
}

#[tokio::test]
async fn jwt_03_hs256_keyed_with_public_key_pem() {
    let case = Case::new().await;
    let pem = case.keys().public_key_pem().unwrap();
    let token = IssuerKeys::sign_hs256(
        &case.header(json!({"alg": "HS256"})),
        &case.claims(json!({})),
        pem.as_bytes(),
    )
    .unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.alg");
}

#[tokio::test]
async fn jwt_04_hs256_keyed_with_der_and_modulus() {
    let case = Case::new().await;
    let keys = [
        case.keys().public_key_pkcs1_der(),
        case.keys().public_key_spki_der().unwrap(),
        case.keys().modulus_b64().as_bytes().to_vec(),
    ];
    for key in &keys {
        let token = IssuerKeys::sign_hs256(
            &case.header(json!({"alg": "HS256"})),
            &case.claims(json!({})),
            key,
        )
        .unwrap();
        let r = case.run_token(&token).await;
        case.denied(r, "identity.alg");
        // The algorithm is pinned whatever the header says: an HMAC tag under an RS256
        // header is just a bad signature.
        let token =
            IssuerKeys::sign_hs256(&case.header(json!({})), &case.claims(json!({})), key).unwrap();
        let r = case.run_token(&token).await;
        case.denied(r, "identity.signature");
    }
}

#[tokio::test]
async fn jwt_05_signed_by_another_key_with_a_real_kid() {
    let case = Case::new().await;
    let token = case
        .keys()
        .sign_with_other_key(&case.header(json!({})), &case.claims(json!({})))
        .unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.signature");
}

#[tokio::test]
async fn jwt_06_unknown_kid() {
    let case = Case::new().await;
    let token = case
        .keys()
        .sign(
            &case.header(json!({"kid": "rotated-away"})),
            &case.claims(json!({})),
        )
        .unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.kid_unknown");
}

#[tokio::test]
async fn jwt_07_unknown_kid_refetches_the_key_set_once() {
    let case = Case::new().await;
    let token = case
        .keys()
        .sign(
            &case.header(json!({"kid": "rotated-away"})),
            &case.claims(json!({})),
        )
        .unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.kid_unknown");
    let jwks_gets = case.iss.hits(JWKS);
    assert!(jwks_gets <= 2, "{jwks_gets} key-set requests");
    assert_eq!(jwks_gets, 2, "one fetch and exactly one refetch");
    assert_eq!(case.iss.hits("/.well-known/openid-configuration"), 1);

    // With the set already cached, again at most one refetch per verification.
    let r = case.run_token(&token).await;
    case.denied(r, "identity.kid_unknown");
    assert_eq!(case.iss.hits(JWKS), 3);
}

#[tokio::test]
async fn jwt_08_hostile_kids_touch_nothing_but_the_pinned_key_set() {
    let case = Case::new().await;
    let other = OidcIssuer::start().await.unwrap();
    let hostile = [
        "../../../../dev/null".to_string(),
        "https://evil.test/k".to_string(),
        "' OR 1=1 --".to_string(),
        format!("{}/jwks", other.issuer()),
        "/etc/passwd".to_string(),
    ];
    for kid in &hostile {
        let token = case
            .keys()
            .sign(&case.header(json!({ "kid": kid })), &case.claims(json!({})))
            .unwrap();
        let r = case.run_token(&token).await;
        case.denied(r, "identity.kid_unknown");
    }
    let paths: Vec<String> = case.iss.all_hits().into_keys().collect();
    assert_eq!(
        paths,
        [
            "/.well-known/jwks",
            "/.well-known/openid-configuration",
            "/token"
        ]
    );
    assert!(other.all_hits().is_empty(), "{:?}", other.all_hits());
}

#[tokio::test]
async fn jwt_09_no_kid() {
    let case = Case::new().await;
    let token = case
        .keys()
        .sign(&case.header(json!({"kid": null})), &case.claims(json!({})))
        .unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.kid_missing");
}

#[tokio::test]
async fn jwt_10_expired_two_minutes_ago() {
    let case = Case::new().await;
    let now = case.now;
    let claims = case.claims(json!({"exp": now - 120, "iat": now - 420, "nbf": now - 1020}));
    let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.expired");
}

#[tokio::test]
async fn jwt_11_expired_61_seconds_ago_is_beyond_the_leeway() {
    let case = Case::new().await;
    let now = case.now;
    let at = |exp: i64| {
        let claims = case.claims(json!({"exp": exp, "iat": exp - 300, "nbf": exp - 900}));
        case.keys().sign(&case.header(json!({})), &claims).unwrap()
    };
    let r = case.run_token(&at(now - 61)).await;
    case.denied(r, "identity.expired");
    case.run_token(&at(now - 60)).await.unwrap();
}

#[tokio::test]
async fn jwt_12_not_before_an_hour_from_now() {
    let case = Case::new().await;
    let claims = case.claims(json!({"nbf": case.now + 3600}));
    let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
    let r = case.run_token(&token).await;
    let err = case.denied(r, "identity.not_yet_valid");
    assert!(err.to_string().contains("clock"), "{err}");
}

#[tokio::test]
async fn jwt_13_issued_an_hour_from_now_without_nbf() {
    let case = Case::new().await;
    let now = case.now;
    let claims = case.claims(json!({"iat": now + 3600, "exp": now + 3900, "nbf": null}));
    let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
    let r = case.run_token(&token).await;
    let err = case.denied(r, "identity.iat");
    assert!(err.to_string().contains("clock"), "{err}");
}

#[tokio::test]
async fn jwt_14_exp_as_a_string() {
    let case = Case::new().await;
    let claims = case.claims(json!({"exp": "9999999999"}));
    let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.claim_format");
}

#[tokio::test]
async fn jwt_15_nbf_as_a_string() {
    let case = Case::new().await;
    let claims = case.claims(json!({"nbf": "99999999999"}));
    let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.claim_format");
}

#[tokio::test]
async fn jwt_16_audience_of_another_relying_party() {
    let case = Case::new().await;
    let claims = case.claims(json!({"aud": "sts.amazonaws.com"}));
    let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.audience");
    // An array holding our audience is refused too.
    let claims = case.claims(json!({"aud": [AUD]}));
    let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.audience");
}

#[tokio::test]
async fn jwt_17_issuer_with_a_suffix() {
    let case = Case::new().await;
    for iss in [
        "https://token.actions.githubusercontent.com.evil.test".to_string(),
        format!("{}.evil.test", case.iss.issuer()),
        format!("{}/", case.iss.issuer()),
    ] {
        let claims = case.claims(json!({ "iss": iss }));
        let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
        let r = case.run_token(&token).await;
        case.denied(r, "identity.issuer");
    }
}

#[tokio::test]
async fn jwt_18_issuer_as_an_array() {
    let case = Case::new().await;
    let claims = case.claims(json!({ "iss": [case.iss.issuer()] }));
    let token = case.keys().sign(&case.header(json!({})), &claims).unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.issuer");
}

#[tokio::test]
async fn jwt_19_malformed_tokens() {
    let case = Case::new().await;
    let good = case
        .keys()
        .sign(&case.header(json!({})), &case.claims(json!({})))
        .unwrap();
    let p: Vec<&str> = good.split('.').collect();
    let non_utf8_header = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xc3, 0x28, 0xff, 0xfe])
    };
    let cases = [
        format!("{}.{}", p[0], p[1]),
        format!("{}.{}.{}.{}", p[0], p[1], p[2], p[2]),
        format!("{}.{}.{}==", p[0], p[1], p[2]),
        format!("{}=.{}.{}", p[0], p[1], p[2]),
        format!("{}.{} {}.{}", p[0], &p[1][..4], &p[1][4..], p[2]),
        format!("{}.{}.{}\u{00e9}", p[0], p[1], p[2]),
        format!("{}.{}.{}\u{fffd}", p[0], p[1], p[2]),
        format!("{non_utf8_header}.{}.{}", p[1], p[2]),
        "x".repeat(20_000),
    ];
    for token in &cases {
        let r = case.run_token(token).await;
        case.denied(r, "identity.malformed");
    }
}

#[tokio::test]
async fn jwt_20_huge_token_response_is_cut_at_the_cap() {
    let case = Case::new().await;
    case.iss.set_faults(|f| f.token_huge_body = true);
    let cap = case.client.config().token_cap;

    // Through the fetcher, to see how much it read.
    let err = case
        .client
        .request_job_token(
            &case.iss.request_url(),
            &Secret::new(case.iss.request_token()),
            AUD,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, FetchErrorKind::TokenUnavailable);
    let read = err.body_bytes_read.expect("a size refusal");
    assert!(
        read > cap,
        "stopped at the first chunk past the cap: {read}"
    );
    assert!(
        read <= cap + 64 * 1024,
        "read {read} bytes for a cap of {cap}: not incremental"
    );
    // The server-side count (`huge_body_progress`) is not a bound on what the client read:
    // the kernel's socket buffers on loopback absorb megabytes before the client hangs up.
    // The reader's own count above is the measure; this only reports.
    let (sent, finished) = case.iss.huge_body_progress();
    assert!(sent <= HUGE_BODY_BYTES, "{sent} {finished}");

    // And through the whole flow: exit 3.
    let r = case.run().await;
    case.expect(r, "identity.token_unavailable", ExitClass::Upstream);
}

#[tokio::test]
async fn jwt_21_no_token_request_variables() {
    let case = Case::new().await;
    let full = case.env();
    let mut variants = Vec::new();
    for var in [
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ] {
        let mut unset = full.clone();
        unset.remove(var);
        variants.push(unset);
        let mut empty = full.clone();
        empty.insert(var.to_string(), String::new());
        variants.push(empty);
    }
    variants.push(BTreeMap::new());
    for env in &variants {
        let err = case.run_env(env).await.unwrap_err();
        assert_eq!(err.exit_class(), ExitClass::Config, "{err}");
        let help = err.help().unwrap_or_default();
        assert!(
            help.contains("permissions: id-token: write; fork PRs get no OIDC token"),
            "{help}"
        );
        assert!(
            err.to_string().contains("ACTIONS_ID_TOKEN_REQUEST_"),
            "{err}"
        );
    }
    // The public entry point too, before any network call.
    let empty = BTreeMap::<String, String>::new();
    let lookup = |k: &str| empty.get(k).cloned();
    let err = verified_identity(&lookup, case.iss.issuer(), AUD)
        .await
        .unwrap_err();
    assert_eq!(err.exit_class(), ExitClass::Config);
    assert!(case.iss.all_hits().is_empty(), "{:?}", case.iss.all_hits());
}

#[tokio::test]
async fn jwt_22_token_endpoint_fails_or_answers_without_value() {
    let case = Case::new().await;
    case.iss.set_faults(|f| f.token_status = Some(500));
    let r = case.run().await;
    case.expect(r, "identity.token_unavailable", ExitClass::Upstream);

    case.iss.set_faults(|f| {
        f.token_status = None;
        f.token_missing_value = true;
    });
    let r = case.run().await;
    case.expect(r, "identity.token_unavailable", ExitClass::Upstream);

    // A wrong request token is refused by the endpoint: also unavailable, and not echoed.
    case.iss.set_faults(|f| f.token_missing_value = false);
    let mut env = case.env();
    env.insert(
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
        "not-the-request-token".into(),
    );
    let err = case.run_env(&env).await.unwrap_err();
    assert_eq!(err.id(), Some("identity.token_unavailable"));
    assert!(!err.to_string().contains("not-the-request-token"));
    // The verification never started.
    assert_eq!(case.iss.hits(JWKS), 0);
}

#[tokio::test]
async fn jwt_23_key_set_unavailable_or_slow_is_an_upstream_failure() {
    let case = Case::new().await;
    case.iss.set_faults(|f| f.jwks_status = Some(503));
    let r = case.run().await;
    case.expect(r, "identity.jwks_unavailable", ExitClass::Upstream);

    let case = Case::with_config(FetchConfig {
        timeout: Duration::from_millis(500),
        ..FetchConfig::default()
    })
    .await;
    case.iss
        .set_faults(|f| f.jwks_delay = Some(Duration::from_secs(3)));
    let r = case.run().await;
    let err = case.expect(r, "identity.jwks_unavailable", ExitClass::Upstream);
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn jwt_24_es256_token_for_an_ec_key_in_the_set() {
    let case = Case::new().await;
    let ec_kid = case.keys().ec_kid().to_string();
    let token = case
        .keys()
        .sign_es256(
            &case.header(json!({"alg": "ES256", "kid": ec_kid})),
            &case.claims(json!({})),
        )
        .unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.alg");
    // An RS256 header naming the EC key: that key is skipped, so its kid is unknown.
    let token = case
        .keys()
        .sign(
            &case.header(json!({ "kid": ec_kid })),
            &case.claims(json!({})),
        )
        .unwrap();
    let r = case.run_token(&token).await;
    case.denied(r, "identity.kid_unknown");
}

#[tokio::test]
async fn jwt_25_key_set_on_another_origin_is_never_fetched() {
    let case = Case::new().await;
    let other = OidcIssuer::start().await.unwrap();
    let port = case.iss.addr().port();
    for uri in [
        format!("{}/jwks", other.issuer()),
        format!("http://localhost:{port}/jwks"),
        format!("https://127.0.0.1:{port}/jwks"),
        "https://evil.test/jwks".to_string(),
        format!("http://user@127.0.0.1:{port}/jwks"),
    ] {
        let u = uri.clone();
        case.iss.set_faults(|f| f.discovery_jwks_uri = Some(u));
        let r = case.run().await;
        case.expect(r, "identity.jwks_origin", ExitClass::Denied);
    }
    assert!(other.all_hits().is_empty(), "{:?}", other.all_hits());
    // `http://localhost:{port}/jwks` is this very server: never asked.
    assert_eq!(case.iss.hits("/jwks"), 0);
    // The only key-set requests are the guesses on the issuer's own origin, beside
    // discovery (one per run), never used when discovery names another URI.
    assert_eq!(case.iss.hits(JWKS), 5);
}

// ---------------------------------------------------------------- more faults

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let case = Case::new().await;
    case.iss.set_faults(|f| {
        f.discovery_issuer = Some("https://token.actions.githubusercontent.com".into())
    });
    let r = case.run().await;
    case.denied(r, "identity.discovery_issuer");
    // At most the guess beside discovery, on the issuer's own origin, and nothing from it is
    // used: the discovery document was refused.
    assert!(case.iss.hits(JWKS) <= 1);
}

#[tokio::test]
async fn discovery_down_is_an_upstream_failure() {
    let case = Case::new().await;
    case.iss.set_faults(|f| f.discovery_status = Some(502));
    let r = case.run().await;
    case.expect(r, "identity.discovery_unavailable", ExitClass::Upstream);
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    let case = Case::new().await;
    case.iss.set_faults(|f| f.jwks_status = Some(302));
    let r = case.run().await;
    let err = case.expect(r, "identity.jwks_unavailable", ExitClass::Upstream);
    assert!(err.to_string().contains("redirect"), "{err}");
}

#[tokio::test]
async fn a_key_set_that_is_not_a_jwk_set_is_an_upstream_failure() {
    let case = Case::new().await;
    case.iss
        .set_faults(|f| f.jwks_body = Some(json!(["not", "a", "set"])));
    let r = case.run().await;
    case.expect(r, "identity.jwks_invalid", ExitClass::Upstream);
}

#[tokio::test]
async fn insecure_urls_are_refused_before_any_request() {
    let case = Case::new().await;
    let mut env = case.env();
    env.insert(
        "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
        "http://example.invalid/token".into(),
    );
    let err = case.run_env(&env).await.unwrap_err();
    assert_eq!(err.id(), Some("config.insecure_url"));
    assert_eq!(err.exit_class(), ExitClass::Config);

    let env = case.env();
    let lookup = |k: &str| env.get(k).cloned();
    for issuer in [
        "http://token.actions.githubusercontent.com",
        "https://token.actions.githubusercontent.com?x=1",
        "https://user@token.actions.githubusercontent.com",
    ] {
        let err = IdentityInputs::from_env(&lookup, issuer, AUD).unwrap_err();
        assert_eq!(err.id(), Some("config.insecure_url"), "{issuer}");
        assert_eq!(err.exit_class(), ExitClass::Config);
    }
    assert!(case.iss.all_hits().is_empty());
}

#[tokio::test]
async fn unknown_paths_answer_501() {
    let case = Case::new().await;
    let resp = reqwest::get(format!("{}/nope", case.iss.issuer()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("GET /nope not implemented")
    );
}
