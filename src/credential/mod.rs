//! Credentials: one trait, [`Provider`], and one file per kind behind it.
//!
//! | kind | file | revocable |
//! | --- | --- | --- |
//! | `jwt` | [`jwt`] (keys and verification in [`jwt_keys`], [`jwt_verify`]) | no: a signed bearer token lives until `exp` |
//! | `ssh` | [`ssh`] | no: hosts without a KRL accept the certificate until `valid_before`; revoke deletes the key files and prints the KRL line |
//! | `postgres` | [`postgres`] | yes: the login role is dropped and its sessions ended |
//!
//! The grant flow builds a [`GrantContext`] from verified facts only, asks the
//! [`AnyProvider`] of the scope's kind to [`Provider::mint`], masks every [`Secret`] of the
//! returned [`Minted`] before anything else sees it, stores its [`RevokeHandle`] in
//! `GITHUB_STATE` and later hands it back to [`Provider::revoke`].
//!
//! SECURITY: a [`RevokeHandle`] holds no secret (it is written to `GITHUB_STATE`) and is
//! read back as untrusted input: [`RevokeHandle::from_state`] validates every field.

pub mod jwt;
pub mod jwt_keys;
pub mod jwt_verify;
pub mod pg_tls;
pub mod postgres;
pub mod ssh;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::exit::ExitClass;
use crate::policy::{Policy, Scope};
use crate::secret::Secret;

/// What every credential kind implements.
///
/// The methods are `async fn` in spirit; they are written with `impl Future + Send` so the
/// futures can cross threads (the lint `async_fn_in_trait` exists because a bare `async fn`
/// in a public trait cannot promise `Send`). Implementations still write `async fn`.
pub trait Provider {
    /// The credential kind, as the policy writes it (`jwt`, `postgres`, `ssh`).
    fn kind(&self) -> &'static str;

    /// Mints one credential for a decided grant.
    fn mint(
        &self,
        ctx: &GrantContext<'_>,
    ) -> impl Future<Output = Result<Minted, CredentialError>> + Send;

    /// Revokes what [`Provider::mint`] returned the handle of. Idempotent: a second call,
    /// or a call for a credential already gone, is [`RevokeOutcome::NothingToRevoke`].
    fn revoke(
        &self,
        handle: &RevokeHandle,
    ) -> impl Future<Output = Result<RevokeOutcome, CredentialError>> + Send;

    /// Removes every credential this provider still holds that expired before `now`.
    fn sweep(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<SweepReport, CredentialError>> + Send;
}

/// Dispatch by kind: the one place that knows every provider.
#[derive(Debug)]
pub enum AnyProvider {
    Jwt(jwt::JwtIssuer),
    Ssh(ssh::SshCa),
    Postgres(Box<postgres::PgProvider>),
}

impl AnyProvider {
    /// The provider for a scope's credential kind, configured from the policy's
    /// `providers` section; key material is read from the environment (`env`) now, so a
    /// missing or bad key fails before anything is minted.
    pub fn for_scope(
        policy: &Policy,
        scope: &Scope,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialError> {
        use crate::policy::CredentialSpec;
        match &scope.credential {
            CredentialSpec::Jwt { .. } => {
                let Some(provider) = &policy.providers.jwt else {
                    return Err(CredentialError::config(
                        "config.provider_missing",
                        format!(
                            "scope `{}` mints a jwt credential but the policy has no `providers.jwt`",
                            scope.name
                        ),
                    ));
                };
                Ok(AnyProvider::Jwt(jwt::JwtIssuer::from_env(provider, env)?))
            }
            CredentialSpec::Ssh { .. } => {
                let Some(provider) = &policy.providers.ssh else {
                    return Err(CredentialError::config(
                        "config.provider_missing",
                        format!(
                            "scope `{}` mints an ssh credential but the policy has no `providers.ssh`",
                            scope.name
                        ),
                    ));
                };
                Ok(AnyProvider::Ssh(ssh::SshCa::from_env(provider, env)?))
            }
            CredentialSpec::Postgres { .. } => {
                let Some(provider) = &policy.providers.postgres else {
                    return Err(CredentialError::config(
                        "config.provider_missing",
                        format!(
                            "scope `{}` mints a postgres credential but the policy has no `providers.postgres`",
                            scope.name
                        ),
                    ));
                };
                Ok(AnyProvider::Postgres(Box::new(
                    postgres::PgProvider::from_env(provider, env)?,
                )))
            }
        }
    }
}

impl Provider for AnyProvider {
    fn kind(&self) -> &'static str {
        match self {
            AnyProvider::Jwt(p) => p.kind(),
            AnyProvider::Ssh(p) => p.kind(),
            AnyProvider::Postgres(p) => p.kind(),
        }
    }

    async fn mint(&self, ctx: &GrantContext<'_>) -> Result<Minted, CredentialError> {
        match self {
            AnyProvider::Jwt(p) => p.mint(ctx).await,
            AnyProvider::Ssh(p) => p.mint(ctx).await,
            AnyProvider::Postgres(p) => p.mint(ctx).await,
        }
    }

    async fn revoke(&self, handle: &RevokeHandle) -> Result<RevokeOutcome, CredentialError> {
        match self {
            AnyProvider::Jwt(p) => p.revoke(handle).await,
            AnyProvider::Ssh(p) => p.revoke(handle).await,
            AnyProvider::Postgres(p) => p.revoke(handle).await,
        }
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, CredentialError> {
        match self {
            AnyProvider::Jwt(p) => p.sweep(now).await,
            AnyProvider::Ssh(p) => p.sweep(now).await,
            AnyProvider::Postgres(p) => p.sweep(now).await,
        }
    }
}

/// `revoke` for the kinds whose revoke needs no key: `jwt` only reports (a signed token
/// cannot be recalled) and `ssh` deletes the grant's files under `RUNNER_TEMP`. The post
/// step may then run without the signing secrets. `None`: the kind needs its provider.
pub fn revoke_keyless(
    handle: &RevokeHandle,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Result<RevokeOutcome, CredentialError>> {
    match handle.kind.as_str() {
        "jwt" => Some(jwt::revoke_outcome(handle)),
        "ssh" => Some(match env(ssh::RUNNER_TEMP_ENV).filter(|v| !v.is_empty()) {
            Some(dir) => ssh::revoke_files(std::path::Path::new(&dir), handle),
            None => Err(CredentialError::config(
                "config.runner_temp_missing",
                "RUNNER_TEMP is not set; the ssh key files cannot be found",
            )),
        }),
        _ => None,
    }
}

/// `sweep` for the kinds that leave nothing on a server: `jwt` tokens and `ssh`
/// certificates end at their expiry by themselves, so there is nothing to remove and no key
/// is needed. `None`: the kind holds server state and needs its provider.
pub fn sweep_keyless(kind: &str) -> Option<SweepReport> {
    let note = match kind {
        "jwt" => "jwt: no server holds the tokens; each ends at its exp",
        "ssh" => "ssh: no server holds the certificates; each ends at its valid_before",
        _ => return None,
    };
    Some(SweepReport {
        notes: vec![note.into()],
        ..SweepReport::default()
    })
}

/// A grant id: `[A-Za-z0-9._-]{1,64}`, checked where it is made. It names files, roles and
/// the `jti` of a token, so nothing else can get in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct GrantId(String);

impl GrantId {
    pub const MAX_LEN: usize = 64;

    pub fn new(id: &str) -> Result<Self, CredentialError> {
        if crate::emit::escape::is_plain_token(id, Self::MAX_LEN) {
            Ok(Self(id.to_string()))
        } else {
            Err(CredentialError::config(
                "credential.grant_id_invalid",
                format!(
                    "a grant id is 1-64 characters of [A-Za-z0-9._-], got {}",
                    crate::emit::escape::quote_untrusted(id, 80)
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for GrantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GrantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GrantId::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The verified facts of one decided grant: what a provider may put in a credential.
#[derive(Debug, Clone)]
pub struct GrantContext<'a> {
    pub grant_id: &'a GrantId,
    pub scope: &'a Scope,
    /// The requester's login (the OIDC token's `actor`).
    pub requester: &'a str,
    /// Why access was asked for (untrusted text: providers bound it).
    pub reason: &'a str,
    /// Logins of the approvals that counted.
    pub approvers: &'a [String],
    /// `owner/name`, from the verified token.
    pub repository: &'a str,
    /// Link to the workflow run.
    pub run_url: &'a str,
    /// The granted lifetime (already checked against the scope's `max_ttl`).
    pub ttl: Duration,
    /// The clock of the grant; `expires_at = now + ttl`.
    pub now: DateTime<Utc>,
}

impl GrantContext<'_> {
    /// Longest lifetime any credential gets (the policy's own cap on `ttl`).
    pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

    /// `now + ttl`. SECURITY: a zero ttl, one above [`Self::MAX_TTL`] or one that does not
    /// give a date is a config error, never clamped.
    pub fn expires_at(&self) -> Result<DateTime<Utc>, CredentialError> {
        let bad = || {
            CredentialError::config(
                "credential.ttl_invalid",
                format!(
                    "a ttl of {} s is not between 1 s and {} s",
                    self.ttl.as_secs(),
                    Self::MAX_TTL.as_secs()
                ),
            )
        };
        if self.ttl < Duration::from_secs(1) || self.ttl > Self::MAX_TTL {
            return Err(bad());
        }
        chrono::Duration::from_std(self.ttl)
            .ok()
            .and_then(|ttl| self.now.checked_add_signed(ttl))
            .ok_or_else(bad)
    }
}

/// A freshly minted credential. `Debug` shows no secret ([`Secret`] prints `***`).
#[derive(Debug)]
pub struct Minted {
    /// Secret environment variables for the job (e.g. `PROD_ACCESS_TOKEN`).
    pub env: Vec<(String, Secret)>,
    /// Further secrets to mask, line by line, even when `env` holds none: encodings of an
    /// `env` secret that may appear in logs, or a secret the job gets as a file (the `ssh`
    /// private key, whose path is in `public_env`). Never written to `GITHUB_ENV`.
    pub mask_forms: Vec<Secret>,
    /// Environment variables that are not secret (e.g. paths, host names).
    pub public_env: Vec<(String, String)>,
    /// The credential's fingerprint for the audit record: `sha256:<hex>` of a token, or for
    /// `ssh` the `SHA256:<base64>` of the certified key as `ssh-keygen -l` shows it.
    pub fingerprint: String,
    pub expires_at: DateTime<Utc>,
    /// Non-secret facts for the audit record, e.g. `("kid", ...)`, `("jti", ...)`.
    pub audit: Vec<(String, String)>,
    /// What `revoke` needs; no secret.
    pub handle: RevokeHandle,
    /// Credential files to write (0600, never over an existing path) once the caller has
    /// masked the secrets: contract §6 puts the masks before a value reaches any file.
    /// The provider has made and checked their folder already.
    pub files: Vec<(std::path::PathBuf, Secret)>,
}

impl Minted {
    /// What the audit record names beside the fingerprint: an SSH certificate's serial (in
    /// decimal, as `ssh-keygen -L` and sshd's log show it), a PostgreSQL role's name.
    pub fn audit_detail(&self) -> Option<String> {
        let fact = |name: &str| {
            self.audit
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match (fact("serial"), fact("role")) {
            (Some(serial), _) => Some(format!("serial {serial}")),
            (None, Some(role)) => Some(format!("role {role}")),
            (None, None) => None,
        }
    }

    /// Writes [`Minted::files`]. Call after the masks; on error the caller revokes (which
    /// removes what was written).
    pub fn write_files(&self) -> Result<(), CredentialError> {
        for (path, contents) in &self.files {
            jwt_keys::write_new_private_file(path, contents.expose().as_bytes()).map_err(|e| {
                CredentialError::upstream(
                    "credential.file_write_failed",
                    format!("{}: {e}", path.display()),
                )
            })?;
        }
        Ok(())
    }
}

/// What `revoke` needs, saved in `GITHUB_STATE`. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeHandle {
    pub kind: String,
    pub grant_id: GrantId,
    pub expires_at: DateTime<Utc>,
    /// Kind-specific, non-secret data (e.g. a role name, a certificate serial).
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

impl RevokeHandle {
    /// Longest state line accepted back.
    pub const MAX_STATE_BYTES: usize = 4096;
    const KINDS: &'static [&'static str] = &["jwt", "postgres", "ssh"];

    /// One line of JSON for `GITHUB_STATE`.
    pub fn to_state(&self) -> Result<String, CredentialError> {
        serde_json::to_string(self).map_err(|e| {
            CredentialError::config("credential.state_invalid", format!("cannot serialise: {e}"))
        })
    }

    /// Reads a handle back from `STATE_*`. SECURITY: the state is untrusted (an earlier
    /// step can write it): size, kind, grant id and data are all checked here; providers
    /// still prove ownership before acting.
    pub fn from_state(state: &str) -> Result<Self, CredentialError> {
        let bad = |detail: String| CredentialError::config("credential.state_invalid", detail);
        if state.len() > Self::MAX_STATE_BYTES {
            return Err(bad(format!(
                "the saved state is {} bytes, more than {}",
                state.len(),
                Self::MAX_STATE_BYTES
            )));
        }
        let handle: RevokeHandle = serde_json::from_str(state)
            .map_err(|e| bad(format!("the saved state is not a revoke handle: {e}")))?;
        if !Self::KINDS.contains(&handle.kind.as_str()) {
            return Err(bad(format!(
                "unknown credential kind {}",
                crate::emit::escape::quote_untrusted(&handle.kind, 32)
            )));
        }
        for (k, v) in &handle.data {
            let key_ok = !k.is_empty()
                && k.len() <= 32
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let value_ok = v.len() <= 256 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            if !key_ok || !value_ok {
                return Err(bad("the saved state holds an unexpected field".into()));
            }
        }
        Ok(handle)
    }
}

/// What a revoke did. Every variant is a success (exit 0); failures are errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    NothingToRevoke,
    /// The credential cannot be recalled; it stays valid until `expires_at`.
    NotRevocable {
        expires_at: DateTime<Utc>,
        note: String,
    },
}

impl RevokeOutcome {
    /// One truthful line for the log and the audit comment. A note's first line goes in
    /// parentheses; further lines of the note (e.g. the `ssh` KRL line `serial: N`) follow
    /// each on its own line, verbatim, so they can be copied as they are.
    pub fn describe(&self) -> String {
        match self {
            RevokeOutcome::Revoked => "revoked".into(),
            RevokeOutcome::NothingToRevoke => "nothing to revoke".into(),
            RevokeOutcome::NotRevocable { expires_at, note } => {
                let (first, rest) = note.split_once('\n').unwrap_or((note.as_str(), ""));
                let mut out = format!(
                    "not revocable; expires at {} ({first})",
                    crate::text::rfc3339(*expires_at)
                );
                if !rest.is_empty() {
                    out.push('\n');
                    out.push_str(rest);
                }
                out
            }
        }
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Identifiers of the expired credentials removed.
    pub removed: Vec<String>,
    /// How many live credentials were left alone.
    pub kept: usize,
    /// Non-secret remarks for the log.
    pub notes: Vec<String>,
}

/// Why a credential could not be minted, revoked or swept. A stable id, a detail that never
/// holds a secret, and the exit class: configuration (2) or upstream (3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A bad or missing key, an unusable policy value: exit 2.
    #[error("{id}: {detail}")]
    Config { id: &'static str, detail: String },
    /// The credential backend failed or timed out: exit 3.
    #[error("{id}: {detail}")]
    Upstream { id: &'static str, detail: String },
}

impl CredentialError {
    pub fn config(id: &'static str, detail: impl Into<String>) -> Self {
        Self::Config {
            id,
            detail: detail.into(),
        }
    }

    pub fn upstream(id: &'static str, detail: impl Into<String>) -> Self {
        Self::Upstream {
            id,
            detail: detail.into(),
        }
    }

    pub fn id(&self) -> &'static str {
        match self {
            Self::Config { id, .. } | Self::Upstream { id, .. } => id,
        }
    }

    pub fn exit_class(&self) -> ExitClass {
        match self {
            Self::Config { .. } => ExitClass::Config,
            Self::Upstream { .. } => ExitClass::Upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_ids_are_checked() {
        for ok in ["a", "run-123.4_x", &"x".repeat(64)] {
            assert!(GrantId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "../x",
            "a/b",
            "é",
            &"x".repeat(65),
            "a\nb",
            "a;b",
        ] {
            let err = GrantId::new(bad).unwrap_err();
            assert_eq!(err.exit_class(), ExitClass::Config);
            assert_eq!(err.id(), "credential.grant_id_invalid");
        }
    }

    #[test]
    fn revoke_handle_round_trips_and_rejects_forged_state() {
        let h = RevokeHandle {
            kind: "jwt".into(),
            grant_id: GrantId::new("g-1").unwrap(),
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            data: BTreeMap::from([("kid".to_string(), "abc".to_string())]),
        };
        let state = h.to_state().unwrap();
        assert!(!state.contains('\n'));
        assert_eq!(RevokeHandle::from_state(&state).unwrap(), h);

        for forged in [
            r#"{"kind":"jwt","grant_id":"../etc","expires_at":"2027-01-01T00:00:00Z"}"#,
            r#"{"kind":"aws","grant_id":"g","expires_at":"2027-01-01T00:00:00Z"}"#,
            r#"{"kind":"jwt","grant_id":"g","expires_at":"2027-01-01T00:00:00Z","secret":"x"}"#,
            r#"{"kind":"jwt","grant_id":"g","expires_at":"2027-01-01T00:00:00Z","data":{"a b":"x"}}"#,
            r#"{"kind":"jwt","grant_id":"g","expires_at":"2027-01-01T00:00:00Z","data":{"k":"x\ny"}}"#,
            "not json",
        ] {
            let err = RevokeHandle::from_state(forged).unwrap_err();
            assert_eq!(err.id(), "credential.state_invalid", "{forged}");
        }
        let huge = format!(
            r#"{{"kind":"jwt","grant_id":"g","expires_at":"2027-01-01T00:00:00Z","data":{{"k":"{}"}}}}"#,
            "x".repeat(5000)
        );
        assert!(RevokeHandle::from_state(&huge).is_err());
    }

    #[test]
    fn not_revocable_is_described_truthfully() {
        let o = RevokeOutcome::NotRevocable {
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            note: "a signed token cannot be recalled".into(),
        };
        assert!(
            o.describe()
                .starts_with("not revocable; expires at 2027-01-15T08:00:00Z")
        );
    }
}
