//! The policy file as written: serde types that mirror the YAML of contract §7 key by key.
//!
//! Every struct refuses unknown keys. Nothing here checks a rule between keys or the syntax
//! of a value (a URL, a duration, a login): that is [`super::compile`]'s job, which reports
//! each problem with its key path and line. The doc comments of these types are the
//! descriptions of the JSON Schema ([`super::schema`]) that editors use for completion.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A prod-access policy, version 1 (`.github/prod-access.yml`, read from the default branch).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a policy mapping (version, identity, request, scopes, providers)"
)]
#[schemars(
    title = "prod-access policy, version 1",
    extend("required" = ["version", "scopes"])
)]
pub struct RawPolicy {
    /// Version of the policy language. Must be `1`.
    #[schemars(extend("const" = 1))]
    pub version: u32,
    /// Rules on the verified OIDC token of the job that asks for access.
    pub identity: Option<RawIdentity>,
    /// How a request is read from commits, labels and inputs.
    pub request: Option<RawRequest>,
    /// The kinds of access that can be granted, by name. The name is what a request asks
    /// for (input `scope`, trailer `Prod-Access-Scope`, or a label mapped in
    /// `request.labels`); letters, digits, `.`, `_` and `-`, at most 64 characters.
    // Required; a missing `scopes` is reported by compile, which can name the right line.
    #[schemars(
        with = "BTreeMap<String, RawScope>",
        extend("propertyNames" = { "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" })
    )]
    pub scopes: Option<BTreeMap<String, RawScope>>,
    /// Settings of the backends that mint credentials. Each credential kind used by a
    /// scope needs its provider here.
    pub providers: Option<RawProviders>,
}

/// Rules on the verified OIDC token of the job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with issuer, audience, claims"
)]
pub struct RawIdentity {
    /// Issuer of the job token; `iss` must equal it exactly. An `https` URL without user
    /// info, query or fragment (`http` only on loopback, for tests).
    /// Default: `https://token.actions.githubusercontent.com`.
    pub issuer: Option<String>,
    /// Audience asked for on the job token; `aud` must equal it. Default: `prod-access`.
    pub audience: Option<String>,
    /// Claims the token must carry: each listed claim must be a string that matches one of
    /// its patterns. A pattern is literal text where `*` matches any run of characters
    /// (including `/`), and it must match the whole claim. Example:
    /// `repository: acme/payments`, `ref: [refs/heads/main, refs/tags/v*]`.
    pub claims: Option<BTreeMap<String, Patterns>>,
}

/// How requests are read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with trailer, scope_trailer, labels, reason_pattern"
)]
pub struct RawRequest {
    /// Commit trailer that carries the reason (git trailer rules: the last paragraph of the
    /// head commit's message). Default: `Prod-Access`.
    pub trailer: Option<String>,
    /// Commit trailer that names the scope. Default: `Prod-Access-Scope`.
    pub scope_trailer: Option<String>,
    /// Pull request label -> scope it requests. Every scope named here must exist.
    pub labels: Option<BTreeMap<String, String>>,
    /// Regular expression (Rust `regex` syntax) searched for in the reason; a request whose
    /// reason does not match is denied. Write `^...$` to match the whole reason.
    /// Example: `(INC|CHG)-[0-9]+`.
    pub reason_pattern: Option<String>,
}

/// One kind of access that can be granted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a scope mapping (credential, ttl, max_ttl, approvals, ...)"
)]
pub struct RawScope {
    /// What is minted for this scope.
    pub credential: RawCredential,
    /// Lifetime of the credential when the request names none: whole numbers with units
    /// `h`, `m`, `s` in that order, e.g. `15m`, `1h30m`. Default: `15m`.
    #[schemars(length(min = 1), regex(pattern = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"))]
    pub ttl: Option<String>,
    /// Longest lifetime a request may ask for (input `ttl`); a longer request is denied,
    /// never shortened. At least `ttl`, at most `12h`. Default: the scope's `ttl`.
    #[schemars(length(min = 1), regex(pattern = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"))]
    pub max_ttl: Option<String>,
    /// Reviews needed on the pull request.
    pub approvals: RawApprovals,
    /// Who may request this scope: logins and `@org/team` slugs. Empty or absent: anyone
    /// with write permission on the repository.
    #[serde(default)]
    pub requesters: Vec<String>,
    /// The token's `environment` claim must be one of these (the job runs in a GitHub
    /// environment, whose protection rules apply). Empty or absent: any environment, or none.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Allow the grant without approvals (`approvals.required: 0`). The audit record marks
    /// such grants BREAK-GLASS.
    #[serde(default)]
    pub break_glass: bool,
    /// Allow requests from pull requests whose head is in a fork. Default: false.
    #[serde(default)]
    pub allow_forks: bool,
}

/// Reviews needed on the pull request (contract §4).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with required, from, fresh, strict"
)]
pub struct RawApprovals {
    /// Number of distinct approving reviewers needed. `0` only with `break_glass: true`.
    pub required: u32,
    /// Whose approvals count: logins and `@org/team` slugs. Empty or absent: anyone with
    /// write permission. Team rules need a token that can read the organisation's teams.
    #[serde(default)]
    pub from: Vec<String>,
    /// Count only reviews of the pull request's current head commit. Default: true.
    #[serde(default = "default_true")]
    pub fresh: bool,
    /// Also refuse approvals from authors of any commit in the pull request. Default: false.
    #[serde(default)]
    pub strict: bool,
}

fn default_true() -> bool {
    true
}

/// Default `connection_limit` of a `postgres` credential.
pub const DEFAULT_CONNECTION_LIMIT: u32 = 2;

fn default_connection_limit() -> u32 {
    DEFAULT_CONNECTION_LIMIT
}

/// What a scope mints, chosen by `kind`.
//
// The schema is that of an internally tagged enum. Reading goes through `CredentialKeys`, a
// flat struct of every key, so that serde-saphyr keeps exact positions for errors inside
// the credential (an internally tagged enum buffers its content and loses them); a key of
// another kind is then refused as an unknown key.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RawCredential {
    /// A JWT signed by the `jwt` provider's key, for a service that verifies it with the
    /// key set `prod-access jwks` prints.
    Jwt {
        /// The token's `aud`: the service that accepts it.
        audience: String,
        /// Extra claims of the token, e.g. `{ role: admin }`. Registered claims (`iss`,
        /// `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`) are set by prod-access and refused here.
        #[serde(default)]
        claims: Map<String, Value>,
    },
    /// A temporary PostgreSQL login role, member of `grant_role`, on the `postgres`
    /// provider's server.
    Postgres {
        /// Existing role whose privileges the login inherits (no `SET ROLE` needed).
        grant_role: String,
        /// Maximum concurrent connections of the login role. Default: 2.
        #[serde(default = "default_connection_limit")]
        #[schemars(range(min = 1, max = 1000))]
        connection_limit: u32,
        /// Database to connect to. Default: the provider's `database`.
        database: Option<String>,
    },
    /// An OpenSSH user certificate for a fresh Ed25519 key, signed by the `ssh` provider's CA.
    Ssh {
        /// Accounts the certificate is valid for; required, non-empty, each
        /// `[A-Za-z0-9._-]+` (a certificate without principals is valid for any account).
        #[schemars(length(min = 1), extend("items" = { "type": "string", "pattern": "^[A-Za-z0-9._-]+$" }))]
        principals: Vec<String>,
        /// Critical option `force-command`: the only command the certificate may run.
        force_command: Option<String>,
        /// Critical option `source-address`: addresses or CIDR blocks the certificate may
        /// be used from.
        #[serde(default)]
        source_address: Vec<String>,
        /// Certificate extensions by their full OpenSSH names, e.g. `permit-pty`. Default:
        /// none at all (no pty, no port, agent or X11 forwarding).
        #[serde(default)]
        #[schemars(extend("items" = { "enum": [
            "no-touch-required",
            "permit-X11-forwarding",
            "permit-agent-forwarding",
            "permit-port-forwarding",
            "permit-pty",
            "permit-user-rc",
            "verify-required"
        ] }))]
        extensions: Vec<String>,
    },
}

impl RawCredential {
    pub fn kind(&self) -> CredentialKind {
        match self {
            RawCredential::Jwt { .. } => CredentialKind::Jwt,
            RawCredential::Postgres { .. } => CredentialKind::Postgres,
            RawCredential::Ssh { .. } => CredentialKind::Ssh,
        }
    }
}

/// The credential kinds this version knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    Jwt,
    Postgres,
    Ssh,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Jwt => "jwt",
            CredentialKind::Postgres => "postgres",
            CredentialKind::Ssh => "ssh",
        }
    }

    /// The keys a credential of this kind may have besides `kind`.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            CredentialKind::Jwt => &["audience", "claims"],
            CredentialKind::Postgres => &["grant_role", "connection_limit", "database"],
            CredentialKind::Ssh => &[
                "principals",
                "force_command",
                "source_address",
                "extensions",
            ],
        }
    }
}

/// Every key of every credential kind: what serde reads before the kind picks its keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a credential mapping with a `kind`")]
struct CredentialKeys {
    kind: CredentialKind,
    audience: Option<String>,
    claims: Option<Map<String, Value>>,
    grant_role: Option<String>,
    connection_limit: Option<u32>,
    database: Option<String>,
    principals: Option<Vec<String>>,
    force_command: Option<String>,
    source_address: Option<Vec<String>>,
    extensions: Option<Vec<String>>,
}

impl CredentialKeys {
    /// The keys present, by name.
    fn present(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut add = |name, present: bool| {
            if present {
                keys.push(name);
            }
        };
        add("audience", self.audience.is_some());
        add("claims", self.claims.is_some());
        add("grant_role", self.grant_role.is_some());
        add("connection_limit", self.connection_limit.is_some());
        add("database", self.database.is_some());
        add("principals", self.principals.is_some());
        add("force_command", self.force_command.is_some());
        add("source_address", self.source_address.is_some());
        add("extensions", self.extensions.is_some());
        keys
    }
}

impl<'de> Deserialize<'de> for RawCredential {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keys = CredentialKeys::deserialize(deserializer)?;
        let kind = keys.kind;
        if let Some(foreign) = keys
            .present()
            .into_iter()
            .find(|k| !kind.keys().contains(k))
        {
            // Reported as an unknown key; compile names the key's own line.
            return Err(de::Error::unknown_field(foreign, kind.keys()));
        }
        Ok(match kind {
            CredentialKind::Jwt => RawCredential::Jwt {
                audience: keys
                    .audience
                    .ok_or_else(|| de::Error::missing_field("audience"))?,
                claims: keys.claims.unwrap_or_default(),
            },
            CredentialKind::Postgres => RawCredential::Postgres {
                grant_role: keys
                    .grant_role
                    .ok_or_else(|| de::Error::missing_field("grant_role"))?,
                connection_limit: keys.connection_limit.unwrap_or(DEFAULT_CONNECTION_LIMIT),
                database: keys.database,
            },
            // A missing or empty `principals` is `ssh.principal_invalid`, checked by compile.
            CredentialKind::Ssh => RawCredential::Ssh {
                principals: keys.principals.unwrap_or_default(),
                force_command: keys.force_command,
                source_address: keys.source_address.unwrap_or_default(),
                extensions: keys.extensions.unwrap_or_default(),
            },
        })
    }
}

/// Settings of the credential backends.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with jwt, postgres, ssh")]
pub struct RawProviders {
    /// Signs the tokens of `jwt` credentials.
    pub jwt: Option<RawJwtProvider>,
    /// Creates the login roles of `postgres` credentials.
    pub postgres: Option<RawPostgresProvider>,
    /// Signs the certificates of `ssh` credentials.
    pub ssh: Option<RawSshProvider>,
}

/// The `jwt` provider.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with issuer, key_env")]
pub struct RawJwtProvider {
    /// The `iss` of minted tokens: an `https` URL (`http` only on loopback) where services
    /// can find the key set.
    pub issuer: String,
    /// Environment variable holding the signing key: a PKCS#8 PEM private key, P-256
    /// (ES256) or Ed25519 (EdDSA).
    pub key_env: String,
}

/// The `postgres` provider.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with admin_dsn_env, host, port, database"
)]
pub struct RawPostgresProvider {
    /// Environment variable holding the connection string of a role that may create roles.
    pub admin_dsn_env: String,
    /// Host name the minted credential connects to.
    pub host: String,
    /// Port. Default: 5432.
    #[serde(default = "default_pg_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Default database of the minted credential.
    pub database: String,
}

fn default_pg_port() -> u16 {
    5432
}

/// The `ssh` provider.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with ca_key_env")]
pub struct RawSshProvider {
    /// Environment variable holding the CA private key: OpenSSH key text, unencrypted,
    /// Ed25519 or ECDSA.
    pub ca_key_env: String,
}

/// Claim patterns: one string, or a list of strings of which one must match.
///
/// Plain YAML numbers and booleans are read as the text they spell (`repository_id: 123`
/// means the string `123`), as GitHub's claims are strings. Other values must be quoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Patterns(pub Vec<String>);

impl<'de> de::Deserialize<'de> for Patterns {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PatternsVisitor)
    }
}

struct PatternsVisitor;

impl<'de> Visitor<'de> for PatternsVisitor {
    type Value = Patterns;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a pattern string or a list of pattern strings")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Patterns, E> {
        Ok(Patterns(vec![v.to_string()]))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Patterns, E> {
        Ok(Patterns(vec![v.to_string()]))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Patterns, E> {
        Ok(Patterns(vec![v.to_string()]))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Patterns, E> {
        Ok(Patterns(vec![v.to_string()]))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Patterns, A::Error> {
        let mut patterns = Vec::new();
        while let Some(pattern) = seq.next_element::<String>()? {
            patterns.push(pattern);
        }
        Ok(Patterns(patterns))
    }
}

impl JsonSchema for Patterns {
    fn schema_name() -> Cow<'static, str> {
        "Patterns".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A pattern, or a list of patterns of which one must match. `*` matches any run of characters; the pattern must match the whole claim.",
            "anyOf": [
                { "type": "string", "minLength": 1 },
                { "type": "array", "items": { "type": "string", "minLength": 1 }, "minItems": 1 }
            ]
        })
    }
}
