//! The policy language, version 1 (contract §7).
//!
//! Two stages, as in octo-sts: [`raw`] mirrors the YAML with serde (unknown keys rejected,
//! every value kept with its line), and [`compile`] checks the rules between keys and builds
//! the [`Policy`] below, which is the only form the decision core ever reads: globs anchored,
//! durations parsed, every label mapped to a scope that exists, every credential kind known.

pub mod compile;
pub mod duration;
pub mod glob;
mod keys;
pub mod raw;
pub mod schema;
mod source;

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde_json::{Map, Value};

pub use compile::{At, PolicyError, load_policy, load_policy_all_errors};
pub use glob::Glob;

/// Default issuer of GitHub Actions job tokens.
pub const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Default audience asked for on the job token.
pub const DEFAULT_AUDIENCE: &str = "prod-access";
/// Where the documentation lives; messages link to it by full URL.
pub const DOCS_URL: &str = "https://github.com/prod-access/prod-access/blob/main/docs";

/// Default path of the policy file in the repository.
pub const DEFAULT_POLICY_PATH: &str = ".github/prod-access.yml";

/// A compiled, checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub identity: IdentityRules,
    pub request: RequestRules,
    pub scopes: BTreeMap<String, Scope>,
    pub providers: Providers,
}

#[derive(Debug, Clone)]
pub struct IdentityRules {
    pub issuer: String,
    pub audience: String,
    /// Each listed claim must be a string matching one of its patterns.
    pub claims: BTreeMap<String, Vec<Glob>>,
}

#[derive(Debug, Clone)]
pub struct RequestRules {
    pub trailer: String,
    pub scope_trailer: String,
    /// PR label -> scope name (every scope exists).
    pub labels: BTreeMap<String, String>,
    /// Searched for in the reason (unanchored unless the pattern anchors itself).
    pub reason_pattern: Option<Regex>,
}

impl Policy {
    /// What is allowed but probably not meant, for `check --policy-file` to show: id and
    /// sentence. Never a reason to refuse the policy.
    pub fn warnings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.identity.claims.is_empty() {
            out.push((
                "policy.no_identity_claims",
                format!(
                    "`identity.claims` is empty: a job token of any workflow of the repository, \
                     on any branch, can ask for these scopes; bind at least `job_workflow_ref` \
                     (the workflow file and the ref it runs from), see {DOCS_URL}/policy.md"
                ),
            ));
        }
        out
    }
}

/// Who may request or approve: a user by login, or an active member of an `@org/team`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    /// Lower-cased login.
    User(String),
    /// Lower-cased `org/team` (no `@`).
    Team { org: String, team: String },
}

impl Principal {
    /// `@org/team` for a team, the login for a user: as the policy writes it.
    pub fn display(&self) -> String {
        match self {
            Principal::User(login) => login.clone(),
            Principal::Team { org, team } => format!("@{org}/{team}"),
        }
    }

    /// The key of [`crate::facts::Evidence::teams`] for a team (`org/team`).
    pub fn team_key(&self) -> Option<String> {
        match self {
            Principal::User(_) => None,
            Principal::Team { org, team } => Some(format!("{org}/{team}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApprovalRules {
    pub required: u32,
    /// Empty: anyone with write permission.
    pub from: Vec<Principal>,
    /// Reviews must be on the PR's current head sha (default true).
    pub fresh: bool,
    /// Authors of any commit in the PR may not approve (default false).
    pub strict: bool,
}

#[derive(Debug, Clone)]
pub struct Scope {
    pub name: String,
    pub credential: CredentialSpec,
    pub ttl: Duration,
    pub max_ttl: Duration,
    pub approvals: ApprovalRules,
    /// Empty: anyone with write permission.
    pub requesters: Vec<Principal>,
    /// Empty: any environment (or none).
    pub environments: Vec<String>,
    pub break_glass: bool,
    pub allow_forks: bool,
}

/// What a scope mints. One variant per credential kind.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialSpec {
    Jwt {
        audience: String,
        claims: Map<String, Value>,
    },
    Postgres {
        grant_role: String,
        connection_limit: u32,
        database: Option<String>,
    },
    Ssh {
        principals: Vec<String>,
        force_command: Option<String>,
        source_address: Vec<String>,
        extensions: Vec<String>,
    },
}

impl CredentialSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSpec::Jwt { .. } => "jwt",
            CredentialSpec::Postgres { .. } => "postgres",
            CredentialSpec::Ssh { .. } => "ssh",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Providers {
    pub jwt: Option<JwtProvider>,
    pub postgres: Option<PostgresProvider>,
    pub ssh: Option<SshProvider>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtProvider {
    pub issuer: String,
    pub key_env: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresProvider {
    pub admin_dsn_env: String,
    pub host: String,
    pub port: u16,
    pub database: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshProvider {
    pub ca_key_env: String,
}
