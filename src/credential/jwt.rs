//! The `jwt` credential: a short-lived JWT signed with the provider's key (contract §7).
//!
//! The key is a PKCS#8 PEM in the environment variable the policy's `providers.jwt.key_env`
//! names (see [`super::jwt_keys`]). Each token:
//!
//! - header `{alg: EdDSA|ES256, typ: JWT, kid}`, `kid` the RFC 7638 thumbprint under which
//!   `prod-access jwks` publishes the key;
//! - claims `iss` (provider issuer), `sub` (requester), `aud` (the scope's audience, one
//!   string), `iat` = `nbf` = grant time, `exp` = grant time + ttl, `jti` (grant id),
//!   `scope`, `reason` (at most [`MAX_REASON_CHARS`] characters), `approvers`, `repository`,
//!   `run_url`, then the scope's own `claims`, which can never replace one of these.
//!
//! A signed bearer token cannot be recalled: [`Provider::revoke`] says so truthfully
//! ("not revocable; expires at T"), and there is nothing to sweep.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::jwt_keys::SigningKey;
use super::{
    CredentialError, GrantContext, Minted, Provider, RevokeHandle, RevokeOutcome, SweepReport,
};
use crate::policy::{CredentialSpec, JwtProvider};
use crate::secret::Secret;

/// Revoking a JWT needs no key: a signed bearer token cannot be recalled, and saying so
/// truthfully is all there is to do.
pub fn revoke_outcome(handle: &RevokeHandle) -> Result<RevokeOutcome, CredentialError> {
    if handle.kind != "jwt" {
        return Err(CredentialError::config(
            "credential.kind_mismatch",
            "the saved state is not for a jwt credential",
        ));
    }
    Ok(RevokeOutcome::NotRevocable {
        expires_at: handle.expires_at,
        note: "a signed JWT is a bearer token and cannot be recalled; rotating the signing \
               key (a new kid in the JWKS) ends every token at once"
            .into(),
    })
}

/// The environment variable the job receives the token in (contract §6).
pub const TOKEN_ENV: &str = "PROD_ACCESS_TOKEN";
/// Longest `reason` claim, in characters.
pub const MAX_REASON_CHARS: usize = 1024;
/// Claims prod-access sets on every token; a scope's `claims` may not name any of them (the
/// policy compiler refuses them too: one list).
pub const SET_CLAIMS: &[&str] = crate::policy::compile::JWT_RESERVED_CLAIMS;

/// The `jwt` provider: an issuer name and its loaded signing key.
#[derive(Debug)]
pub struct JwtIssuer {
    issuer: String,
    key_env: String,
    key: SigningKey,
}

impl JwtIssuer {
    /// Loads the key from the variable `provider.key_env` names. SECURITY: errors name the
    /// variable, never its content.
    pub fn from_env(
        provider: &JwtProvider,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialError> {
        let var = &provider.key_env;
        let Some(pem) = env(var).filter(|v| !v.trim().is_empty()).map(Secret::new) else {
            return Err(CredentialError::config(
                "config.jwt_key_missing",
                format!(
                    "environment variable {var} (providers.jwt.key_env) is not set or empty; \
                     it must hold the PKCS#8 PEM from `prod-access keygen`"
                ),
            ));
        };
        let key = SigningKey::from_pem(&pem).map_err(|e| {
            CredentialError::config(
                "config.jwt_key_invalid",
                format!("environment variable {var} (providers.jwt.key_env): {e}"),
            )
        })?;
        Ok(Self::with_key(&provider.issuer, var, key))
    }

    /// An issuer around an already loaded key.
    pub fn with_key(issuer: &str, key_env: &str, key: SigningKey) -> Self {
        Self {
            issuer: issuer.to_string(),
            key_env: key_env.to_string(),
            key,
        }
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The claims of the token for `ctx` (no I/O; public for tests and `check`'s preview).
    pub fn claims(
        &self,
        ctx: &GrantContext<'_>,
        expires_at: DateTime<Utc>,
    ) -> Result<Map<String, Value>, CredentialError> {
        let CredentialSpec::Jwt { audience, claims } = &ctx.scope.credential else {
            return Err(CredentialError::config(
                "credential.kind_mismatch",
                format!(
                    "scope `{}` mints a {} credential, not jwt",
                    ctx.scope.name,
                    ctx.scope.credential.kind()
                ),
            ));
        };
        // SECURITY: the policy compiler refuses reserved claims already; a scope claim must
        // still never replace a claim we set (a second `aud`, a longer `exp`).
        if let Some(name) = claims.keys().find(|k| SET_CLAIMS.contains(&k.as_str())) {
            return Err(CredentialError::config(
                "config.jwt_reserved_claim",
                format!(
                    "scope `{}`: claim `{name}` is set by prod-access and cannot be set by a scope",
                    ctx.scope.name
                ),
            ));
        }
        let now = ctx.now.timestamp();
        let reason: String = ctx.reason.chars().take(MAX_REASON_CHARS).collect();
        let mut out = claims.clone();
        out.insert("iss".into(), self.issuer.clone().into());
        out.insert("sub".into(), ctx.requester.into());
        out.insert("aud".into(), audience.clone().into());
        out.insert("iat".into(), now.into());
        out.insert("nbf".into(), now.into());
        out.insert("exp".into(), expires_at.timestamp().into());
        out.insert("jti".into(), ctx.grant_id.as_str().into());
        out.insert("scope".into(), ctx.scope.name.clone().into());
        out.insert("reason".into(), reason.into());
        out.insert(
            "approvers".into(),
            Value::Array(ctx.approvers.iter().map(|a| a.clone().into()).collect()),
        );
        out.insert("repository".into(), ctx.repository.into());
        out.insert("run_url".into(), ctx.run_url.into());
        Ok(out)
    }
}

impl Provider for JwtIssuer {
    fn kind(&self) -> &'static str {
        "jwt"
    }

    async fn mint(&self, ctx: &GrantContext<'_>) -> Result<Minted, CredentialError> {
        let expires_at = ctx.expires_at()?;
        let claims = self.claims(ctx, expires_at)?;
        let token = self.key.sign_jwt(&claims).map_err(|e| {
            CredentialError::config(
                "config.jwt_key_invalid",
                format!("environment variable {}: signing failed: {e}", self.key_env),
            )
        })?;
        let fingerprint = token.fingerprint();
        let kid = self.key.kid().to_string();
        let handle = RevokeHandle {
            kind: "jwt".into(),
            grant_id: ctx.grant_id.clone(),
            expires_at,
            data: [("kid".to_string(), kid.clone())].into_iter().collect(),
        };
        Ok(Minted {
            files: Vec::new(),
            env: vec![(TOKEN_ENV.to_string(), token)],
            mask_forms: Vec::new(),
            public_env: Vec::new(),
            fingerprint,
            expires_at,
            audit: vec![
                ("alg".into(), self.key.alg().jws_alg().into()),
                ("kid".into(), kid),
                ("jti".into(), ctx.grant_id.as_str().into()),
            ],
            handle,
        })
    }

    async fn revoke(&self, handle: &RevokeHandle) -> Result<RevokeOutcome, CredentialError> {
        revoke_outcome(handle)
    }

    async fn sweep(&self, _now: DateTime<Utc>) -> Result<SweepReport, CredentialError> {
        Ok(SweepReport {
            notes: vec!["jwt: no server holds the tokens; nothing to sweep".into()],
            ..SweepReport::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::jwt_keys::KeyAlg;
    use super::super::jwt_verify::{Expectations, Jwks, parse_jwks, verify_token};
    use super::super::{GrantId, jwt_keys};
    use super::*;
    use crate::policy::{ApprovalRules, Scope};

    const NOW: i64 = 1_800_000_000;
    const ISS: &str = "https://prod-access.acme.dev";

    fn scope(claims: Value) -> Scope {
        Scope {
            name: "api-admin".into(),
            credential: CredentialSpec::Jwt {
                audience: "payments-api".into(),
                claims: claims.as_object().cloned().unwrap_or_default(),
            },
            ttl: Duration::from_secs(600),
            max_ttl: Duration::from_secs(3600),
            approvals: ApprovalRules {
                required: 1,
                from: vec![],
                fresh: true,
                strict: false,
            },
            requesters: vec![],
            environments: vec![],
            break_glass: false,
            allow_forks: false,
        }
    }

    struct Fixture {
        id: GrantId,
        scope: Scope,
        approvers: Vec<String>,
        reason: String,
    }

    impl Fixture {
        fn new(claims: Value) -> Self {
            Self {
                id: GrantId::new("run-42-1-api-admin").unwrap(),
                scope: scope(claims),
                approvers: vec!["alice".into(), "bob".into()],
                reason: "INC-1 fix the ledger".into(),
            }
        }

        fn ctx(&self) -> GrantContext<'_> {
            GrantContext {
                grant_id: &self.id,
                scope: &self.scope,
                requester: "octocat",
                reason: &self.reason,
                approvers: &self.approvers,
                repository: "acme/payments",
                run_url: "https://github.com/acme/payments/actions/runs/42",
                ttl: Duration::from_secs(600),
                now: DateTime::from_timestamp(NOW, 0).unwrap(),
            }
        }
    }

    fn issuer(alg: KeyAlg) -> (JwtIssuer, Secret) {
        let (key, pem) = SigningKey::generate(alg).unwrap();
        (JwtIssuer::with_key(ISS, "PROD_ACCESS_JWT_KEY", key), pem)
    }

    fn payload(token: &str) -> Map<String, Value> {
        use base64::Engine as _;
        let p = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn header(token: &str) -> Map<String, Value> {
        use base64::Engine as _;
        let p = token.split('.').next().unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn set_of(i: &JwtIssuer) -> Jwks {
        let doc = jwt_keys::jwks_document(std::slice::from_ref(i.key().public_jwk()));
        parse_jwks(doc.to_string().as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn mint_sets_every_claim_and_the_header() {
        for (alg, jws) in [(KeyAlg::Ed25519, "EdDSA"), (KeyAlg::P256, "ES256")] {
            let (iss, _) = issuer(alg);
            let f = Fixture::new(json!({ "role": "admin" }));
            let m = iss.mint(&f.ctx()).await.unwrap();
            assert_eq!(m.env.len(), 1);
            assert_eq!(m.env[0].0, "PROD_ACCESS_TOKEN");
            let token = m.env[0].1.expose();
            let h = header(token);
            assert_eq!(
                h,
                json!({"alg": jws, "typ": "JWT", "kid": iss.key().kid()})
                    .as_object()
                    .unwrap()
                    .clone()
            );
            let c = payload(token);
            assert_eq!(c["iss"], ISS);
            assert_eq!(c["sub"], "octocat");
            assert_eq!(c["aud"], "payments-api");
            assert_eq!(c["iat"], NOW);
            assert_eq!(c["nbf"], NOW);
            assert_eq!(c["exp"], NOW + 600);
            assert_eq!(c["jti"], "run-42-1-api-admin");
            assert_eq!(c["scope"], "api-admin");
            assert_eq!(c["reason"], "INC-1 fix the ledger");
            assert_eq!(c["approvers"], json!(["alice", "bob"]));
            assert_eq!(c["repository"], "acme/payments");
            assert_eq!(
                c["run_url"],
                "https://github.com/acme/payments/actions/runs/42"
            );
            assert_eq!(c["role"], "admin");
            assert_eq!(m.expires_at.timestamp(), NOW + 600);
            assert_eq!(m.fingerprint, m.env[0].1.fingerprint());
            assert!(
                m.audit
                    .contains(&("kid".to_string(), iss.key().kid().to_string()))
            );
            assert!(m.audit.contains(&("alg".to_string(), jws.to_string())));
            assert_eq!(m.handle.kind, "jwt");
            assert_eq!(m.handle.expires_at, m.expires_at);

            // The token verifies as a service would verify it.
            let expect = Expectations::for_audience("payments-api", Some(ISS.into()));
            let claims = verify_token(token, &set_of(&iss), &expect, NOW + 1).unwrap();
            assert_eq!(claims["role"], "admin");
        }
    }

    #[tokio::test]
    async fn registered_claims_cannot_be_overridden() {
        let (iss, _) = issuer(KeyAlg::Ed25519);
        for name in SET_CLAIMS {
            let f = Fixture::new(json!({ *name: "attacker" }));
            let err = iss.mint(&f.ctx()).await.unwrap_err();
            assert_eq!(err.id(), "config.jwt_reserved_claim", "{name}");
            assert_eq!(err.exit_class().code(), 2);
        }
    }

    #[test]
    fn the_policy_compiler_refuses_the_same_claims() {
        for name in SET_CLAIMS {
            let yaml = format!(
                "version: 1\nscopes:\n  api:\n    credential: {{ kind: jwt, audience: a, claims: {{ {name}: x }} }}\n    ttl: 10m\n    approvals: {{ required: 1 }}\nproviders:\n  jwt: {{ issuer: https://i.example, key_env: K }}\n"
            );
            let err = crate::policy::load_policy(&yaml).unwrap_err();
            assert_eq!(err.id(), "config.jwt_reserved_claim", "{name}");
        }
    }

    #[tokio::test]
    async fn exp_is_now_plus_ttl_and_bad_ttls_are_refused() {
        let (iss, _) = issuer(KeyAlg::Ed25519);
        let f = Fixture::new(json!({}));
        for secs in [1, 900, 3600, 86_400] {
            let ctx = GrantContext {
                ttl: Duration::from_secs(secs),
                ..f.ctx()
            };
            let m = iss.mint(&ctx).await.unwrap();
            let c = payload(m.env[0].1.expose());
            assert_eq!(c["exp"].as_i64().unwrap(), NOW + secs as i64);
            assert_eq!(m.expires_at.timestamp(), NOW + secs as i64);
        }
        for ttl in [
            Duration::ZERO,
            Duration::from_millis(999),
            Duration::from_secs(86_401),
        ] {
            let ctx = GrantContext { ttl, ..f.ctx() };
            let err = iss.mint(&ctx).await.unwrap_err();
            assert_eq!(err.id(), "credential.ttl_invalid");
        }
    }

    #[tokio::test]
    async fn reason_is_truncated() {
        let (iss, _) = issuer(KeyAlg::Ed25519);
        let mut f = Fixture::new(json!({}));
        f.reason = "é".repeat(5000);
        let m = iss.mint(&f.ctx()).await.unwrap();
        let c = payload(m.env[0].1.expose());
        assert_eq!(
            c["reason"].as_str().unwrap().chars().count(),
            MAX_REASON_CHARS
        );
    }

    #[tokio::test]
    async fn secrets_never_reach_debug_or_errors() {
        let (iss, pem) = issuer(KeyAlg::P256);
        let f = Fixture::new(json!({}));
        let m = iss.mint(&f.ctx()).await.unwrap();
        let token = m.env[0].1.expose().to_string();
        let debug = format!("{m:?} {iss:?} {:?}", m.handle.to_state().unwrap());
        assert!(!debug.contains(&token));
        for line in pem.expose().lines().filter(|l| !l.starts_with("-----")) {
            assert!(!debug.contains(line));
        }
        assert!(!m.handle.to_state().unwrap().contains(&token));

        // A bad key in the env var: the error names the variable, never the content.
        let bad = "-----BEGIN PRIVATE KEY-----\nTOPSECRETxx\n-----END PRIVATE KEY-----\n";
        let provider = JwtProvider {
            issuer: ISS.into(),
            key_env: "PROD_ACCESS_JWT_KEY".into(),
        };
        let err = JwtIssuer::from_env(&provider, &|_| Some(bad.into())).unwrap_err();
        assert_eq!(err.id(), "config.jwt_key_invalid");
        assert!(err.to_string().contains("PROD_ACCESS_JWT_KEY"));
        assert!(!format!("{err} {err:?}").contains("TOPSECRET"));
        let err = JwtIssuer::from_env(&provider, &|_| None).unwrap_err();
        assert_eq!(err.id(), "config.jwt_key_missing");
        assert_eq!(err.exit_class().code(), 2);

        // An RSA-sized garbage key or a P-384 key is a config error too (exit 2).
        let ok = JwtIssuer::from_env(&provider, &|_| Some(pem.expose().to_string())).unwrap();
        assert_eq!(ok.key().kid(), iss.key().kid());
    }

    #[tokio::test]
    async fn revoke_is_truthful_and_sweep_is_empty() {
        let (iss, _) = issuer(KeyAlg::Ed25519);
        let f = Fixture::new(json!({}));
        let m = iss.mint(&f.ctx()).await.unwrap();
        let out = iss.revoke(&m.handle).await.unwrap();
        assert!(
            out.describe()
                .starts_with("not revocable; expires at 2027-01-15T08:10:00Z")
        );
        // Twice: the same answer, no error.
        assert_eq!(iss.revoke(&m.handle).await.unwrap(), out);
        let report = iss
            .sweep(DateTime::from_timestamp(NOW, 0).unwrap())
            .await
            .unwrap();
        assert!(report.removed.is_empty());
    }

    #[tokio::test]
    async fn any_provider_dispatches_by_kind() {
        use super::super::AnyProvider;
        use crate::policy::{Policy, Providers};
        let (_, pem) = issuer(KeyAlg::Ed25519);
        let f = Fixture::new(json!({}));
        let yaml = "version: 1\nscopes:\n  api-admin:\n    credential: { kind: jwt, audience: payments-api }\n    ttl: 10m\n    approvals: { required: 1 }\nproviders:\n  jwt: { issuer: https://prod-access.acme.dev, key_env: K }\n";
        let policy: Policy = crate::policy::load_policy(yaml).unwrap();
        let p = AnyProvider::for_scope(&policy, &f.scope, &|k| {
            (k == "K").then(|| pem.expose().to_string())
        })
        .unwrap();
        assert_eq!(p.kind(), "jwt");
        let m = p.mint(&f.ctx()).await.unwrap();
        assert_eq!(m.env[0].0, TOKEN_ENV);

        let no_provider = Policy {
            providers: Providers::default(),
            ..policy
        };
        let err = AnyProvider::for_scope(&no_provider, &f.scope, &|_| None).unwrap_err();
        assert_eq!(err.id(), "config.provider_missing");
    }
}
