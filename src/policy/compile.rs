//! Reading and compiling a policy: text -> [`raw::RawPolicy`] -> checked [`Policy`].
//!
//! Reading is bounded before anything is parsed: the text is refused above
//! [`MAX_POLICY_BYTES`], and serde-saphyr runs with a [`serde_saphyr::Budget`] and alias
//! limits small enough that an alias bomb or a deeply nested document fails in
//! milliseconds with bounded memory (see [`yaml_options`]). The text is read three times
//! (a key map for positions, a probe of `version`, the raw types): each read is bounded by
//! the same limits, and a policy is small.
//!
//! Every problem is a [`PolicyError`] with a stable [`PolicyError::id`] and the key path and
//! line it is about, e.g. `config.ttl_over_max: scopes.db-read.ttl (line 12): 3h is above
//! max_ttl 1h`. [`load_policy`] returns the first problem; [`load_policy_all_errors`] returns
//! every problem the compile step finds (YAML-level errors stop the reading, so there is at
//! most one of those).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::{DefaultMessageFormatter, DuplicateKeyPolicy, MergeKeyPolicy, MessageFormatter};

use super::duration::{self, DurationError};
use super::raw::{self, CredentialKind, RawCredential, RawPolicy, RawScope};
use super::source::{self, Pos, SourceMap};
use super::{
    ApprovalRules, CredentialSpec, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Glob, IdentityRules,
    JwtProvider, Policy, PostgresProvider, Principal, Providers, RequestRules, Scope, SshProvider,
};

/// Largest policy text read, in bytes (256 KiB). A real policy is a few KiB; a larger text
/// is refused before it is parsed.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// Ceiling of `max_ttl` (and so of `ttl`): 12 h. Production access is meant to last a
/// working session; a longer need is a new request with new approvals. The duration parser
/// itself stops at 24 h ([`duration::MAX`]).
pub const MAX_TTL_CEILING: Duration = Duration::from_secs(12 * 3600);

/// `ttl` of a scope that names none: 15 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Default reason trailer.
pub const DEFAULT_TRAILER: &str = "Prod-Access";

/// Default scope trailer.
pub const DEFAULT_SCOPE_TRAILER: &str = "Prod-Access-Scope";

/// Longest `reason_pattern` or claim pattern, in bytes.
const MAX_PATTERN_LEN: usize = 1024;

/// Compiled size limit of `reason_pattern` (the `regex` crate's own default is 10 MiB).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Claims of a minted JWT that prod-access sets itself; a scope may not set them. The `jwt`
/// credential ([`crate::credential::jwt`]) refuses them again at mint time.
pub const JWT_RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "scope",
    "reason",
    "approvers",
    "repository",
    "run_url",
];

/// OpenSSH certificate extensions (PROTOCOL.certkeys), by their full names.
pub const SSH_EXTENSIONS: &[&str] = &[
    "no-touch-required",
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
    "verify-required",
];

/// Where a problem is: a key path (`scopes.db-read.ttl`) and its line, where known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct At {
    /// Dotted key path, sequence items as `[i]`; empty for the policy as a whole.
    pub path: String,
    /// 1-based line of the key (or of the value, for a sequence item).
    pub line: Option<usize>,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (false, Some(line)) => write!(f, "{} (line {line})", self.path),
            (false, None) => f.write_str(&self.path),
            (true, Some(line)) => write!(f, "line {line}"),
            (true, None) => f.write_str("policy"),
        }
    }
}

/// A policy that cannot be used (exit 2). Each variant has a stable [`id`](Self::id); the
/// message starts with it, then names the key path and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("config.too_large: the policy is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("config.too_complex: {at}: the policy exceeds the reader's limits: {detail}")]
    TooComplex { at: At, detail: String },
    #[error("config.yaml: {at}: {detail}")]
    Yaml { at: At, detail: String },
    #[error("config.duplicate_key: {at}: the key appears more than once")]
    DuplicateKey { at: At },
    #[error("config.unknown_key: {at}: unknown key `{key}`; {expected}")]
    UnknownKey {
        at: At,
        key: String,
        expected: String,
    },
    #[error("config.missing_key: {at}: missing required key `{key}`")]
    MissingKey { at: At, key: String },
    #[error("config.wrong_type: {at}: {detail}")]
    WrongType { at: At, detail: String },
    #[error(
        "config.version: {at}: version {found} is not supported; this release reads `version: 1`"
    )]
    UnsupportedVersion { at: At, found: String },
    #[error(
        "config.unknown_kind: {at}: unknown credential kind `{kind}`; expected one of: jwt, postgres, ssh"
    )]
    UnknownKind { at: At, kind: String },
    #[error("config.insecure_url: {at}: {detail}")]
    InsecureUrl { at: At, detail: String },
    #[error("config.invalid_duration: {at}: `{value}` {reason}")]
    InvalidDuration {
        at: At,
        value: String,
        reason: DurationError,
    },
    #[error("config.ttl_over_max: {at}: {detail}")]
    TtlOverMax { at: At, detail: String },
    #[error("config.ttl_too_long: {at}: {value} is above the ceiling of {ceiling}")]
    TtlTooLong {
        at: At,
        value: String,
        ceiling: String,
    },
    #[error(
        "config.zero_approvals: {at}: scope `{scope}` requires 0 approvals; that is allowed \
         only with `break_glass: true`"
    )]
    ZeroApprovals { at: At, scope: String },
    #[error(
        "config.label_scope_missing: {at}: label `{label}` maps to scope `{scope}`, which is \
         not defined under `scopes`"
    )]
    LabelScopeMissing {
        at: At,
        label: String,
        scope: String,
    },
    #[error(
        "config.provider_missing: {at}: scope `{scope}` mints a `{kind}` credential but \
         `providers.{kind}` is not configured"
    )]
    ProviderMissing {
        at: At,
        scope: String,
        kind: &'static str,
    },
    #[error("config.invalid_pattern: {at}: {detail}")]
    InvalidPattern { at: At, detail: String },
    #[error("config.invalid_principal: {at}: {detail}")]
    InvalidPrincipal { at: At, detail: String },
    #[error("config.invalid_value: {at}: {detail}")]
    InvalidValue { at: At, detail: String },
    #[error(
        "config.jwt_reserved_claim: {at}: claim `{claim}` is set by prod-access and cannot be set by a scope"
    )]
    JwtReservedClaim { at: At, claim: String },
    #[error("config.grant_role_invalid: {at}: {detail}")]
    GrantRoleInvalid { at: At, detail: String },
    #[error("ssh.principal_invalid: {at}: {detail}")]
    SshPrincipalInvalid { at: At, detail: String },
    #[error(
        "ssh.extension_unknown: {at}: unknown OpenSSH certificate extension `{name}`; known: {known}"
    )]
    SshExtensionUnknown { at: At, name: String, known: String },
    #[error("ssh.source_address_invalid: {at}: {detail}")]
    SshSourceAddressInvalid { at: At, detail: String },
    #[error("ssh.force_command_invalid: {at}: {detail}")]
    SshForceCommandInvalid { at: At, detail: String },
}

impl PolicyError {
    /// The stable id (docs/policy.md lists them all).
    pub fn id(&self) -> &'static str {
        match self {
            PolicyError::TooLarge { .. } => "config.too_large",
            PolicyError::TooComplex { .. } => "config.too_complex",
            PolicyError::Yaml { .. } => "config.yaml",
            PolicyError::DuplicateKey { .. } => "config.duplicate_key",
            PolicyError::UnknownKey { .. } => "config.unknown_key",
            PolicyError::MissingKey { .. } => "config.missing_key",
            PolicyError::WrongType { .. } => "config.wrong_type",
            PolicyError::UnsupportedVersion { .. } => "config.version",
            PolicyError::UnknownKind { .. } => "config.unknown_kind",
            PolicyError::InsecureUrl { .. } => "config.insecure_url",
            PolicyError::InvalidDuration { .. } => "config.invalid_duration",
            PolicyError::TtlOverMax { .. } => "config.ttl_over_max",
            PolicyError::TtlTooLong { .. } => "config.ttl_too_long",
            PolicyError::ZeroApprovals { .. } => "config.zero_approvals",
            PolicyError::LabelScopeMissing { .. } => "config.label_scope_missing",
            PolicyError::ProviderMissing { .. } => "config.provider_missing",
            PolicyError::InvalidPattern { .. } => "config.invalid_pattern",
            PolicyError::InvalidPrincipal { .. } => "config.invalid_principal",
            PolicyError::InvalidValue { .. } => "config.invalid_value",
            PolicyError::JwtReservedClaim { .. } => "config.jwt_reserved_claim",
            PolicyError::GrantRoleInvalid { .. } => "config.grant_role_invalid",
            PolicyError::SshPrincipalInvalid { .. } => "ssh.principal_invalid",
            PolicyError::SshExtensionUnknown { .. } => "ssh.extension_unknown",
            PolicyError::SshSourceAddressInvalid { .. } => "ssh.source_address_invalid",
            PolicyError::SshForceCommandInvalid { .. } => "ssh.force_command_invalid",
        }
    }

    /// Every id [`Self::id`] can return.
    pub const IDS: &'static [&'static str] = &[
        "config.too_large",
        "config.too_complex",
        "config.yaml",
        "config.duplicate_key",
        "config.unknown_key",
        "config.missing_key",
        "config.wrong_type",
        "config.version",
        "config.unknown_kind",
        "config.insecure_url",
        "config.invalid_duration",
        "config.ttl_over_max",
        "config.ttl_too_long",
        "config.zero_approvals",
        "config.label_scope_missing",
        "config.provider_missing",
        "config.invalid_pattern",
        "config.invalid_principal",
        "config.invalid_value",
        "config.jwt_reserved_claim",
        "config.grant_role_invalid",
        "ssh.principal_invalid",
        "ssh.extension_unknown",
        "ssh.source_address_invalid",
        "ssh.force_command_invalid",
    ];

    /// Where the problem is; `None` for a policy refused as a whole (too large).
    pub fn at(&self) -> Option<&At> {
        match self {
            PolicyError::TooLarge { .. } => None,
            PolicyError::TooComplex { at, .. }
            | PolicyError::Yaml { at, .. }
            | PolicyError::DuplicateKey { at }
            | PolicyError::UnknownKey { at, .. }
            | PolicyError::MissingKey { at, .. }
            | PolicyError::WrongType { at, .. }
            | PolicyError::UnsupportedVersion { at, .. }
            | PolicyError::UnknownKind { at, .. }
            | PolicyError::InsecureUrl { at, .. }
            | PolicyError::InvalidDuration { at, .. }
            | PolicyError::TtlOverMax { at, .. }
            | PolicyError::TtlTooLong { at, .. }
            | PolicyError::ZeroApprovals { at, .. }
            | PolicyError::LabelScopeMissing { at, .. }
            | PolicyError::ProviderMissing { at, .. }
            | PolicyError::InvalidPattern { at, .. }
            | PolicyError::InvalidPrincipal { at, .. }
            | PolicyError::InvalidValue { at, .. }
            | PolicyError::JwtReservedClaim { at, .. }
            | PolicyError::GrantRoleInvalid { at, .. }
            | PolicyError::SshPrincipalInvalid { at, .. }
            | PolicyError::SshExtensionUnknown { at, .. }
            | PolicyError::SshSourceAddressInvalid { at, .. }
            | PolicyError::SshForceCommandInvalid { at, .. } => Some(at),
        }
    }

    /// The key path the problem is about (empty when it is about the whole policy).
    pub fn path(&self) -> &str {
        self.at().map(|a| a.path.as_str()).unwrap_or("")
    }

    /// The 1-based line the problem is on, where known.
    pub fn line(&self) -> Option<usize> {
        self.at().and_then(|a| a.line)
    }
}

/// Reads and compiles a policy; the first problem found is the error.
pub fn load_policy(text: &str) -> Result<Policy, PolicyError> {
    load_policy_all_errors(text).map_err(|mut errors| {
        if errors.is_empty() {
            // Unreachable by construction; fail closed all the same.
            PolicyError::Yaml {
                at: At::default(),
                detail: "the policy could not be compiled".into(),
            }
        } else {
            errors.swap_remove(0)
        }
    })
}

/// Reads and compiles a policy, reporting every problem the compile step finds, in line
/// order (for `check --policy-file`). The list is never empty on error.
pub fn load_policy_all_errors(text: &str) -> Result<Policy, Vec<PolicyError>> {
    // SECURITY: refuse oversized input before any parsing (catalogue 91).
    if text.len() > MAX_POLICY_BYTES {
        return Err(vec![PolicyError::TooLarge {
            size: text.len(),
            limit: MAX_POLICY_BYTES,
        }]);
    }
    let blank = text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    });
    if blank {
        return Err(vec![PolicyError::Yaml {
            at: At::default(),
            detail: "the policy is empty".into(),
        }]);
    }
    let map = SourceMap::parse(text, yaml_options(DuplicateKeyPolicy::PassThrough))
        .map_err(|e| vec![yaml_error(&e, None)])?;

    // The version decides how to read the rest: check it before the raw types, so that a
    // version 2 policy is "unsupported version", not "unknown key".
    #[derive(Deserialize)]
    #[serde(expecting = "a policy mapping (version, identity, request, scopes, providers)")]
    struct VersionProbe {
        version: Option<Value>,
    }
    let probe: VersionProbe =
        serde_saphyr::from_str_with_options(text, yaml_options(DuplicateKeyPolicy::Error))
            .map_err(|e| vec![yaml_error(&e, Some(&map))])?;
    match &probe.version {
        None => {
            return Err(vec![PolicyError::MissingKey {
                at: At {
                    path: String::new(),
                    line: Some(1),
                },
                key: "version".into(),
            }]);
        }
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(other) => {
            return Err(vec![PolicyError::UnsupportedVersion {
                at: at(&map, "version"),
                found: quote(&other.to_string(), 32),
            }]);
        }
    }

    // Every unknown key at once (serde stops at the first), then the rest of the file
    // compiled without them, so that one run names every problem.
    if let Ok(mut doc) =
        serde_saphyr::from_str_with_options::<Value>(text, yaml_options(DuplicateKeyPolicy::Error))
    {
        let unknown = super::keys::unknown_keys(&doc);
        if !unknown.is_empty() {
            let mut errors: Vec<PolicyError> = unknown
                .iter()
                .map(|u| {
                    let entry = map.get(&u.path);
                    PolicyError::UnknownKey {
                        at: At {
                            path: u.path.clone(),
                            line: entry
                                .and_then(|e| e.key_pos.or(e.value_pos))
                                .map(|p| p.line),
                        },
                        key: clean(&u.key, 64),
                        expected: u.expected.clone(),
                    }
                })
                .collect();
            super::keys::remove(&mut doc, &unknown);
            // A document that only reads through the YAML reader's own rules (a number
            // where a string goes, ...) keeps its unknown keys as the whole answer.
            if let Ok(raw) = serde_json::from_value::<RawPolicy>(doc)
                && let Err(more) = compile(&raw, &map)
            {
                errors.extend(more);
            }
            errors.sort_by_key(|e| e.line().unwrap_or(usize::MAX));
            return Err(errors);
        }
    }

    let raw: RawPolicy =
        serde_saphyr::from_str_with_options(text, yaml_options(DuplicateKeyPolicy::Error))
            .map_err(|e| vec![yaml_error(&e, Some(&map))])?;
    compile(&raw, &map)
}

/// The reader's options. SECURITY: every limit here bounds time and memory on hostile input.
/// A policy has a few hundred nodes; the limits leave a wide margin above that.
///
/// - budget: one document; at most 20 000 nodes, 100 000 events, nesting depth 32, 1 000
///   anchors and aliases, 256 KiB of scalar text, 5 000 events recorded for anchors;
/// - aliases: at most 5 000 events replayed in total (an alias bomb fails at the limit:
///   9 levels of 9-fold aliases would expand to 387 million nodes), replay depth 16;
/// - the key map (read first) refuses a scalar over 8 KiB and a key over 256 bytes, so that
///   what aliases can multiply is bounded too (at most 5 000 copies of 8 KiB);
/// - the alias/anchor ratio heuristic is off: many scopes sharing one anchored block is
///   legitimate, and the replay limits bound the cost anyway;
/// - merge keys (`<<`) are refused: explicit keys silently override merged ones, so a
///   reviewer could not see a scope's effective settings in one place;
/// - booleans are YAML 1.2 only (`true`/`false`; `yes`, `no`, `on`, `off` are refused);
/// - unknown tags and tagged key names are refused; duplicate keys are refused (the key map
///   reads them, so that the duplicate's path and line can be named).
fn yaml_options(duplicate_keys: DuplicateKeyPolicy) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(MAX_POLICY_BYTES);
    budget.max_events = 100_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_recorded_anchor_events = 5_000;
    budget.max_recorded_anchor_bytes = MAX_POLICY_BYTES;
    budget.max_depth = 32;
    budget.flow_nesting_limit = 32;
    budget.max_documents = 1;
    budget.max_nodes = 20_000;
    budget.max_total_scalar_bytes = MAX_POLICY_BYTES;
    budget.max_merge_keys = 0;
    budget.max_inclusion_depth = 0;
    budget.enforce_alias_anchor_ratio = false;

    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = 5_000;
    alias_limits.max_replay_stack_depth = 16;

    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits = alias_limits;
    options.duplicate_keys = duplicate_keys;
    options.merge_keys = MergeKeyPolicy::Error;
    options.strict_booleans = true;
    options.reject_unsupported_tags = true;
    options.reject_tagged_field_names = true;
    options.legacy_octal_numbers = false;
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    options.with_snippet = false;
    options
}

/// Turns a serde-saphyr error into a [`PolicyError`] with the key path of its position.
fn yaml_error(error: &serde_saphyr::Error, map: Option<&SourceMap>) -> PolicyError {
    use serde_saphyr::Error as E;

    let pos = error.location().as_ref().and_then(Pos::from_location);
    let mut inner = error.without_snippet();
    if let E::AliasError { error, .. } = inner {
        inner = error.without_snippet();
    }
    let text = clean(&DefaultMessageFormatter.format_message(inner), 300);
    // Errors about a key (unknown, duplicate, missing under it) sit at a key; errors about a
    // value at the value. See SourceMap::at.
    let key_first = matches!(
        inner,
        E::SerdeUnknownField { .. }
            | E::DuplicateMappingKey { .. }
            | E::SerdeMissingField { .. }
            | E::Message { .. }
    );
    let entry = match (map, pos) {
        (Some(map), Some(pos)) => map.at(pos, key_first),
        _ => None,
    };
    let mut at = At {
        path: entry.map(|e| e.path.clone()).unwrap_or_default(),
        line: entry
            .and_then(|e| {
                if key_first {
                    e.key_pos.or(e.value_pos)
                } else {
                    e.value_pos.or(e.key_pos)
                }
            })
            .or(pos)
            .map(|p| p.line),
    };

    match inner {
        E::Budget {
            breach: serde_saphyr::budget::BudgetBreach::Documents { .. },
            ..
        }
        | E::MultipleDocuments { .. } => PolicyError::Yaml {
            at,
            detail: "the policy must be a single YAML document (a `---` starts another)".into(),
        },
        E::Message { msg, .. } if msg.starts_with(source::LIMIT_PREFIX) => {
            PolicyError::TooComplex {
                at,
                detail: clean(msg.trim_start_matches(source::LIMIT_PREFIX), 100),
            }
        }
        E::Budget { breach, .. } => {
            use serde_saphyr::budget::BudgetBreach as B;
            let detail = match breach {
                B::Nodes { .. } | B::Events { .. } => "too many nodes".to_string(),
                B::Depth { .. } => "nested too deeply".to_string(),
                B::Aliases { .. } | B::Anchors { .. } => "too many anchors or aliases".to_string(),
                B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
                    "aliases expand to too much content (an alias bomb?)".to_string()
                }
                B::ScalarBytes { .. } => "too much text".to_string(),
                _ => text,
            };
            PolicyError::TooComplex { at, detail }
        }
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => PolicyError::TooComplex {
            at,
            detail: "aliases expand to too much content (an alias bomb?)".into(),
        },
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            // The error may sit at the mapping's own key (a credential's keys are checked
            // after the mapping is read): name the unknown key's own path and line.
            if let (Some(map), Some(entry)) = (map, entry)
                && entry.key != *field
                && let Some(child) = map.children(&entry.path).find(|c| c.key == *field)
            {
                at = At {
                    path: child.path.clone(),
                    line: child.key_pos.or(child.value_pos).map(|p| p.line),
                };
            }
            let of_other_kind = at.path.ends_with(&format!("credential.{field}"))
                && [
                    CredentialKind::Jwt,
                    CredentialKind::Postgres,
                    CredentialKind::Ssh,
                ]
                .iter()
                .any(|k| k.keys().contains(&field.as_str()));
            let expected = if expected.is_empty() {
                "this mapping takes no keys".to_string()
            } else if of_other_kind {
                format!(
                    "it belongs to another credential kind; this kind takes: kind, {}",
                    expected.join(", ")
                )
            } else {
                match super::keys::did_you_mean(field, expected) {
                    Some(near) => format!(
                        "did you mean `{near}`? expected one of: {}",
                        expected.join(", ")
                    ),
                    None => format!("expected one of: {}", expected.join(", ")),
                }
            };
            PolicyError::UnknownKey {
                at,
                key: clean(field, 64),
                expected,
            }
        }
        E::SerdeMissingField { field, .. } => {
            // serde-saphyr puts this error at the last key read in the mapping (or, for the
            // credential's own checks, at the mapping's key): find the mapping that owns
            // the missing key among that entry and its ancestors.
            if let (Some(map), Some(entry)) = (map, entry)
                && let Some(owner) = missing_key_owner(map, entry, field)
            {
                at = At {
                    path: owner.path.clone(),
                    line: owner.key_pos.or(owner.value_pos).map(|p| p.line),
                };
            }
            PolicyError::MissingKey {
                at,
                key: (*field).to_string(),
            }
        }
        E::DuplicateMappingKey { .. } => PolicyError::DuplicateKey { at },
        E::SerdeUnknownVariant { variant, .. } => PolicyError::UnknownKind {
            at,
            kind: clean(variant, 64),
        },
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => PolicyError::WrongType {
            at,
            detail: format!(
                "expected {}, found {}",
                friendly_type(expected),
                clean(unexpected, 64)
            ),
        },
        E::InvalidScalar { ty, .. } => PolicyError::WrongType {
            at,
            detail: format!("expected {}", friendly_type(ty)),
        },
        E::InvalidBooleanStrict { .. } => PolicyError::WrongType {
            at,
            detail: "expected true or false (`yes`, `no`, `on` and `off` are not booleans here)"
                .into(),
        },
        E::NullIntoString { .. } => PolicyError::WrongType {
            at,
            detail: "expected a string, found nothing".into(),
        },
        E::SerdeInvalidLength { .. }
        | E::Unexpected { .. }
        | E::Message { .. }
        | E::NonFiniteFloat { .. }
        | E::QuotingRequired { .. }
        | E::TaggedScalarCannotDeserializeIntoString { .. } => {
            PolicyError::WrongType { at, detail: text }
        }
        E::Eof { .. } if map.is_none() => PolicyError::Yaml {
            at,
            detail: format!("{text} (is the policy empty?)"),
        },
        _ => {
            let detail = if text.contains("tab") {
                format!("{text}; indent with spaces")
            } else {
                text
            };
            PolicyError::Yaml { at, detail }
        }
    }
}

/// The mapping that should hold the required key `field`: `entry` or one of its ancestors,
/// recognised by where each required key of [`raw`] lives.
fn missing_key_owner<'a>(
    map: &'a SourceMap,
    entry: &'a source::Entry,
    field: &str,
) -> Option<&'a source::Entry> {
    let owner_key: &[&str] = match field {
        "required" => &["approvals"],
        "issuer" | "key_env" => &["jwt"],
        "admin_dsn_env" | "host" | "database" => &["postgres"],
        "ca_key_env" => &["ssh"],
        "kind" | "audience" | "grant_role" => &["credential"],
        _ => &[],
    };
    let mut candidate = Some(entry);
    while let Some(e) = candidate {
        let parent = e.parent.and_then(|i| map.entry(i));
        let owns = if matches!(field, "credential" | "approvals") {
            // A scope: a key directly under `scopes`.
            parent.is_some_and(|p| p.path == "scopes")
        } else {
            owner_key.contains(&e.key.as_str())
        };
        if owns {
            return Some(e);
        }
        candidate = parent;
    }
    None
}

/// serde's and serde-saphyr's names of expected types, in the policy's words.
fn friendly_type(expected: &str) -> String {
    match expected {
        "u8" | "u16" => "a whole number from 0 to 65535".into(),
        "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i32" | "i64" => "a whole number".into(),
        "bool" | "a boolean" => "true or false".into(),
        "a string" | "string" => "a string".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        other => clean(other, 80),
    }
}

/// Removes control characters (shown escaped) and bounds the length of text that may come
/// from the policy, before it goes into an error message.
fn clean(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Policy text shown in a message: cleaned and bounded.
fn quote(text: &str, max_chars: usize) -> String {
    clean(text, max_chars)
}

fn at(map: &SourceMap, path: &str) -> At {
    At {
        path: path.to_string(),
        line: map.line(path),
    }
}

/// Collects problems while compiling.
struct Ctx<'a> {
    map: &'a SourceMap,
    errors: Vec<PolicyError>,
}

impl Ctx<'_> {
    fn at(&self, path: &str) -> At {
        at(self.map, path)
    }

    /// `path` if the key is written, else `fallback` (the key is defaulted).
    fn at_or(&self, path: &str, fallback: &str) -> At {
        if self.map.get(path).is_some() {
            self.at(path)
        } else {
            self.at(fallback)
        }
    }

    fn push(&mut self, error: PolicyError) {
        self.errors.push(error);
    }

    fn invalid(&mut self, path: &str, detail: impl Into<String>) {
        let at = self.at(path);
        self.push(PolicyError::InvalidValue {
            at,
            detail: detail.into(),
        });
    }

    /// Checks a short single-line text: not empty, no control characters, at most `max`
    /// bytes. Reports under `path` and returns whether it passed.
    fn text(&mut self, path: &str, value: &str, what: &str, max: usize) -> bool {
        let problem = if value.trim().is_empty() {
            Some(format!("{what} is empty"))
        } else if value.chars().any(char::is_control) {
            Some(format!("{what} contains a control character"))
        } else if value.len() > max {
            Some(format!("{what} is longer than {max} bytes"))
        } else {
            None
        };
        match problem {
            Some(detail) => {
                self.invalid(path, detail);
                false
            }
            None => true,
        }
    }
}

fn compile(raw: &RawPolicy, map: &SourceMap) -> Result<Policy, Vec<PolicyError>> {
    let mut cx = Ctx {
        map,
        errors: Vec::new(),
    };

    // `scopes:` with no value reads as None; only an absent key is missing.
    if raw.scopes.is_none() && map.get("scopes").is_none() {
        cx.push(PolicyError::MissingKey {
            at: At {
                path: String::new(),
                line: Some(1),
            },
            key: "scopes".into(),
        });
    }
    let identity = compile_identity(&mut cx, raw.identity.as_ref());
    let scopes = compile_scopes(&mut cx, raw);
    let request = compile_request(&mut cx, raw.request.as_ref(), &scopes);
    let providers = compile_providers(&mut cx, raw.providers.as_ref());
    check_providers_present(&mut cx, &scopes, &providers);

    if cx.errors.is_empty() {
        Ok(Policy {
            identity,
            request,
            scopes,
            providers,
        })
    } else {
        // Stable: line order, then the order the checks ran in.
        cx.errors.sort_by_key(|e| e.line().unwrap_or(usize::MAX));
        Err(cx.errors)
    }
}

fn compile_identity(cx: &mut Ctx, raw: Option<&raw::RawIdentity>) -> IdentityRules {
    let empty = raw::RawIdentity::default();
    let raw = raw.unwrap_or(&empty);

    let issuer = raw.issuer.clone().unwrap_or_else(|| DEFAULT_ISSUER.into());
    if let Err(detail) = check_url(&issuer) {
        let at = cx.at_or("identity.issuer", "identity");
        cx.push(PolicyError::InsecureUrl { at, detail });
    }

    let audience = raw
        .audience
        .clone()
        .unwrap_or_else(|| DEFAULT_AUDIENCE.into());
    if cx.text("identity.audience", &audience, "the audience", 256)
        && audience.chars().any(char::is_whitespace)
    {
        cx.invalid("identity.audience", "the audience contains whitespace");
    }

    let mut claims = BTreeMap::new();
    for (claim, patterns) in raw.claims.iter().flatten() {
        let path = source::child(&source::child("identity", "claims"), claim);
        if !cx.text(&path, claim, "the claim name", 128) {
            continue;
        }
        if patterns.0.is_empty() {
            let at = cx.at(&path);
            cx.push(PolicyError::InvalidPattern {
                at,
                detail: "no pattern given; a claim needs at least one".into(),
            });
            continue;
        }
        let several = patterns.0.len() > 1 || cx.map.get(&source::item(&path, 0)).is_some();
        let mut globs = Vec::new();
        for (i, pattern) in patterns.0.iter().enumerate() {
            let item_path = if several {
                source::item(&path, i)
            } else {
                path.clone()
            };
            match compile_glob(pattern) {
                Ok(glob) => globs.push(glob),
                Err(detail) => {
                    let at = cx.at(&item_path);
                    cx.push(PolicyError::InvalidPattern { at, detail });
                }
            }
        }
        claims.insert(claim.clone(), globs);
    }

    IdentityRules {
        issuer,
        audience,
        claims,
    }
}

fn compile_glob(pattern: &str) -> Result<Glob, String> {
    if pattern.is_empty() {
        return Err("empty pattern; it would match only an empty claim".into());
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("pattern longer than {MAX_PATTERN_LEN} bytes"));
    }
    if pattern.chars().any(char::is_control) {
        return Err("pattern contains a control character".into());
    }
    Glob::new(pattern)
        .map_err(|e| format!("pattern does not compile: {}", clean(&e.to_string(), 200)))
}

fn compile_request(
    cx: &mut Ctx,
    raw: Option<&raw::RawRequest>,
    scopes: &BTreeMap<String, Scope>,
) -> RequestRules {
    let empty = raw::RawRequest::default();
    let raw = raw.unwrap_or(&empty);

    let trailer = raw
        .trailer
        .clone()
        .unwrap_or_else(|| DEFAULT_TRAILER.into());
    let scope_trailer = raw
        .scope_trailer
        .clone()
        .unwrap_or_else(|| DEFAULT_SCOPE_TRAILER.into());
    let mut trailers_ok = true;
    for (key, value) in [("trailer", &trailer), ("scope_trailer", &scope_trailer)] {
        if !is_trailer_key(value) {
            trailers_ok = false;
            let path = format!("request.{key}");
            let at = cx.at_or(&path, "request");
            cx.push(PolicyError::InvalidValue {
                at,
                detail: format!(
                    "`{}` is not a trailer key: letters, digits and `-`, starting with a letter \
                     or digit, at most 64 characters",
                    quote(value, 64)
                ),
            });
        }
    }
    // Git compares trailer keys without regard to case.
    if trailers_ok && trailer.eq_ignore_ascii_case(&scope_trailer) {
        let at = cx.at_or("request.scope_trailer", "request.trailer");
        cx.push(PolicyError::InvalidValue {
            at,
            detail: "`trailer` and `scope_trailer` must differ (trailer keys ignore case)".into(),
        });
    }

    let mut labels = BTreeMap::new();
    for (label, scope) in raw.labels.iter().flatten() {
        let path = source::child("request.labels", label);
        if !cx.text(&path, label, "the label", 100) {
            continue;
        }
        if !scopes.contains_key(scope) {
            // A scope that is defined but failed to compile is in the raw policy: only an
            // absent scope is reported here.
            if cx.map.get(&source::child("scopes", scope)).is_none() {
                let at = cx.at(&path);
                cx.push(PolicyError::LabelScopeMissing {
                    at,
                    label: quote(label, 100),
                    scope: quote(scope, 64),
                });
            }
            continue;
        }
        labels.insert(label.clone(), scope.clone());
    }

    let reason_pattern = match &raw.reason_pattern {
        None => None,
        Some(pattern) => match compile_reason_pattern(pattern) {
            Ok(regex) => Some(regex),
            Err(detail) => {
                let at = cx.at("request.reason_pattern");
                cx.push(PolicyError::InvalidPattern { at, detail });
                None
            }
        },
    };

    RequestRules {
        trailer,
        scope_trailer,
        labels,
        reason_pattern,
    }
}

fn is_trailer_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
        && key.len() <= 64
}

fn compile_reason_pattern(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.is_empty() {
        return Err("empty pattern; it matches every reason (remove the key instead)".into());
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("pattern longer than {MAX_PATTERN_LEN} bytes"));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|e| {
            // The regex crate's message shows the pattern with a caret under the problem, on
            // lines of their own: kept as lines (each cleaned), so the caret still points.
            let lines: Vec<String> = e
                .to_string()
                .lines()
                .take(8)
                .map(|l| clean(l, 300))
                .collect();
            format!("not a valid regular expression:\n{}", lines.join("\n"))
        })
}

fn compile_scopes(cx: &mut Ctx, raw: &RawPolicy) -> BTreeMap<String, Scope> {
    let mut scopes = BTreeMap::new();
    for (name, scope) in raw.scopes.iter().flatten() {
        let path = source::child("scopes", name);
        if !is_scope_name(name) {
            cx.invalid(
                &path,
                format!(
                    "`{}` is not a scope name: letters, digits, `.`, `_` and `-`, starting with \
                     a letter or digit, at most 64 characters",
                    quote(name, 64)
                ),
            );
            continue;
        }
        if let Some(compiled) = compile_scope(cx, &path, name, scope) {
            scopes.insert(name.clone(), compiled);
        }
    }
    scopes
}

/// Scope names travel in trailers, labels, inputs and outputs: keep them plain.
pub fn is_scope_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name.len() <= 64
}

fn compile_duration(cx: &mut Ctx, path: &str, text: &str) -> Option<Duration> {
    match duration::parse(text) {
        Ok(d) => Some(d),
        Err(reason) => {
            let at = cx.at(path);
            cx.push(PolicyError::InvalidDuration {
                at,
                value: quote(text, 32),
                reason,
            });
            None
        }
    }
}

fn compile_scope(cx: &mut Ctx, path: &str, name: &str, raw: &RawScope) -> Option<Scope> {
    let errors_before = cx.errors.len();
    let ttl_path = source::child(path, "ttl");
    let max_path = source::child(path, "max_ttl");

    let ttl = match &raw.ttl {
        Some(text) => compile_duration(cx, &ttl_path, text),
        None => Some(DEFAULT_TTL),
    };
    let max_ttl = match &raw.max_ttl {
        Some(text) => compile_duration(cx, &max_path, text),
        None => ttl,
    };
    if let (Some(ttl), Some(max_ttl)) = (ttl, max_ttl) {
        if ttl > max_ttl {
            let (at, detail) = if raw.ttl.is_some() {
                (
                    cx.at(&ttl_path),
                    format!(
                        "{} is above max_ttl {}",
                        duration::format(ttl),
                        duration::format(max_ttl)
                    ),
                )
            } else {
                (
                    cx.at(&max_path),
                    format!(
                        "{} is below the default ttl {}; set `ttl` too",
                        duration::format(max_ttl),
                        duration::format(ttl)
                    ),
                )
            };
            cx.push(PolicyError::TtlOverMax { at, detail });
        } else if max_ttl > MAX_TTL_CEILING {
            let at = if raw.max_ttl.is_some() {
                cx.at(&max_path)
            } else {
                cx.at(&ttl_path)
            };
            cx.push(PolicyError::TtlTooLong {
                at,
                value: duration::format(max_ttl),
                ceiling: duration::format(MAX_TTL_CEILING),
            });
        }
    }

    let approvals_path = source::child(path, "approvals");
    let required_path = source::child(&approvals_path, "required");
    if raw.approvals.required == 0 && !raw.break_glass {
        // SECURITY: no silent zero-approval scope (catalogue 93).
        let at = cx.at_or(&required_path, path);
        cx.push(PolicyError::ZeroApprovals {
            at,
            scope: name.to_string(),
        });
    }
    let from = compile_principals(
        cx,
        &source::child(&approvals_path, "from"),
        &raw.approvals.from,
        true,
    );
    let requesters = compile_principals(
        cx,
        &source::child(path, "requesters"),
        &raw.requesters,
        false,
    );

    let environments_path = source::child(path, "environments");
    for (i, environment) in raw.environments.iter().enumerate() {
        cx.text(
            &source::item(&environments_path, i),
            environment,
            "the environment name",
            255,
        );
    }

    let credential = compile_credential(cx, &source::child(path, "credential"), &raw.credential);

    if cx.errors.len() > errors_before {
        return None;
    }
    Some(Scope {
        name: name.to_string(),
        credential: credential?,
        ttl: ttl?,
        max_ttl: max_ttl?,
        approvals: ApprovalRules {
            required: raw.approvals.required,
            from,
            fresh: raw.approvals.fresh,
            strict: raw.approvals.strict,
        },
        requesters,
        environments: raw.environments.clone(),
        break_glass: raw.break_glass,
        allow_forks: raw.allow_forks,
    })
}

fn compile_principals(
    cx: &mut Ctx,
    path: &str,
    list: &[String],
    approvers: bool,
) -> Vec<Principal> {
    let mut out = Vec::new();
    for (i, text) in list.iter().enumerate() {
        match parse_principal(text, approvers) {
            Ok(principal) => {
                if !out.contains(&principal) {
                    out.push(principal);
                }
            }
            Err(detail) => {
                let at = cx.at(&source::item(path, i));
                cx.push(PolicyError::InvalidPrincipal { at, detail });
            }
        }
    }
    out
}

/// Reads `@org/team` as [`Principal::Team`] and a login as [`Principal::User`], both
/// lower-cased (GitHub compares logins and slugs without regard to case).
///
/// - A login is 1 to 39 characters of `[A-Za-z0-9-]`, not starting with `-` (GitHub's rule;
///   old accounts may have consecutive or trailing hyphens, so those are accepted).
/// - A login may end in `[bot]` (a GitHub App's account) only where `approvers` is false:
///   bots never count as approvers (contract §4), so naming one in `approvals.from` is a
///   mistake worth stopping.
/// - An organisation is a login without `[bot]`; a team slug is 1 to 100 characters of
///   `[A-Za-z0-9._-]`.
pub fn parse_principal(text: &str, approvers: bool) -> Result<Principal, String> {
    let shown = quote(text, 64);
    if let Some(rest) = text.strip_prefix('@') {
        let Some((org, team)) = rest.split_once('/') else {
            return Err(format!(
                "`{shown}` is not a team: write `@org/team` (a user is written without `@`)"
            ));
        };
        if !is_login(org) {
            return Err(format!(
                "`{shown}`: `{}` is not an organisation login",
                quote(org, 64)
            ));
        }
        let slug_ok = !team.is_empty()
            && team.len() <= 100
            && team
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !slug_ok {
            return Err(format!(
                "`{shown}`: `{}` is not a team slug (letters, digits, `.`, `_`, `-`)",
                quote(team, 100)
            ));
        }
        return Ok(Principal::Team {
            org: org.to_ascii_lowercase(),
            team: team.to_ascii_lowercase(),
        });
    }
    let (login, bot) = match text.strip_suffix("[bot]") {
        Some(login) => (login, true),
        None => (text, false),
    };
    if !is_login(login) {
        return Err(format!(
            "`{shown}` is not a GitHub login (1-39 letters, digits or `-`, optionally ending \
             in `[bot]`) nor a team (`@org/team`)"
        ));
    }
    if bot && approvers {
        return Err(format!("`{shown}` is a bot; bots never count as approvers"));
    }
    Ok(Principal::User(text.to_ascii_lowercase()))
}

fn is_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn compile_credential(cx: &mut Ctx, path: &str, raw: &RawCredential) -> Option<CredentialSpec> {
    let errors_before = cx.errors.len();
    let spec = match raw {
        RawCredential::Jwt { audience, claims } => {
            let audience_path = source::child(path, "audience");
            if cx.text(&audience_path, audience, "the audience", 256)
                && audience.chars().any(char::is_whitespace)
            {
                cx.invalid(&audience_path, "the audience contains whitespace");
            }
            let claims_path = source::child(path, "claims");
            for claim in claims.keys() {
                let claim_path = source::child(&claims_path, claim);
                if JWT_RESERVED_CLAIMS.contains(&claim.as_str()) {
                    let at = cx.at(&claim_path);
                    cx.push(PolicyError::JwtReservedClaim {
                        at,
                        claim: claim.clone(),
                    });
                } else {
                    cx.text(&claim_path, claim, "the claim name", 128);
                }
            }
            CredentialSpec::Jwt {
                audience: audience.clone(),
                claims: claims.clone(),
            }
        }
        RawCredential::Postgres {
            grant_role,
            connection_limit,
            database,
        } => {
            if let Err(detail) = check_grant_role(grant_role) {
                let at = cx.at(&source::child(path, "grant_role"));
                cx.push(PolicyError::GrantRoleInvalid { at, detail });
            }
            if !(1..=1000).contains(connection_limit) {
                cx.invalid(
                    &source::child(path, "connection_limit"),
                    format!("{connection_limit} is not between 1 and 1000"),
                );
            }
            if let Some(database) = database {
                cx.text(
                    &source::child(path, "database"),
                    database,
                    "the database name",
                    63,
                );
            }
            CredentialSpec::Postgres {
                grant_role: grant_role.clone(),
                connection_limit: *connection_limit,
                database: database.clone(),
            }
        }
        RawCredential::Ssh {
            principals,
            force_command,
            source_address,
            extensions,
        } => {
            compile_ssh(
                cx,
                path,
                principals,
                force_command.as_deref(),
                source_address,
                extensions,
            );
            CredentialSpec::Ssh {
                principals: principals.clone(),
                force_command: force_command.clone(),
                source_address: source_address.clone(),
                extensions: extensions.clone(),
            }
        }
    };
    (cx.errors.len() == errors_before).then_some(spec)
}

/// A plausible PostgreSQL role name: 1 to 63 bytes (NAMEDATALEN - 1), starting with a letter
/// or `_`, then letters, digits, `_`, `$`, `-` or `.`; not a name the grammar reserves.
/// Privileges (superuser, CREATEROLE) are checked against the live database at mint time.
fn check_grant_role(role: &str) -> Result<(), String> {
    let shown = quote(role, 64);
    let mut chars = role.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-' | '.'));
    if role.is_empty() {
        return Err("the grant role is empty".into());
    }
    if !first_ok || !rest_ok || role.len() > 63 {
        return Err(format!(
            "`{shown}` is not a role name: 1-63 characters, a letter or `_` first, then \
             letters, digits, `_`, `$`, `-` or `.`"
        ));
    }
    const RESERVED: &[&str] = &[
        "public",
        "none",
        "current_user",
        "current_role",
        "session_user",
        "user",
    ];
    if RESERVED.contains(&role.to_ascii_lowercase().as_str()) {
        return Err(format!("`{shown}` is a reserved name, not a role"));
    }
    Ok(())
}

fn compile_ssh(
    cx: &mut Ctx,
    path: &str,
    principals: &[String],
    force_command: Option<&str>,
    source_address: &[String],
    extensions: &[String],
) {
    let principals_path = source::child(path, "principals");
    if principals.is_empty() {
        // SECURITY: a certificate without principals is valid for every account on hosts
        // that trust the CA with `cert-authority` (contract §7, catalogue 78).
        let at = cx.at_or(&principals_path, path);
        cx.push(PolicyError::SshPrincipalInvalid {
            at,
            detail: "no principals; list the accounts the certificate is for".into(),
        });
    }
    for (i, principal) in principals.iter().enumerate() {
        let ok = !principal.is_empty()
            && principal.len() <= 256
            && principal
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            let at = cx.at(&source::item(&principals_path, i));
            cx.push(PolicyError::SshPrincipalInvalid {
                at,
                detail: format!(
                    "`{}` is not a principal: 1-256 characters of `[A-Za-z0-9._-]` (no `,`, no \
                     whitespace)",
                    quote(principal, 64)
                ),
            });
        }
    }

    if let Some(command) = force_command {
        let problem = if command.trim().is_empty() {
            Some("the command is empty")
        } else if command.chars().any(char::is_control) {
            Some("the command contains a control character (e.g. a newline)")
        } else if command.len() > 4096 {
            Some("the command is longer than 4096 bytes")
        } else {
            None
        };
        if let Some(detail) = problem {
            let at = cx.at(&source::child(path, "force_command"));
            cx.push(PolicyError::SshForceCommandInvalid {
                at,
                detail: detail.into(),
            });
        }
    }

    let source_path = source::child(path, "source_address");
    for (i, address) in source_address.iter().enumerate() {
        if let Err(detail) = check_source_address(address) {
            let at = cx.at(&source::item(&source_path, i));
            cx.push(PolicyError::SshSourceAddressInvalid { at, detail });
        }
    }

    let extensions_path = source::child(path, "extensions");
    for (i, extension) in extensions.iter().enumerate() {
        let item_path = source::item(&extensions_path, i);
        if !SSH_EXTENSIONS.contains(&extension.as_str()) {
            let at = cx.at(&item_path);
            cx.push(PolicyError::SshExtensionUnknown {
                at,
                name: quote(extension, 64),
                known: SSH_EXTENSIONS.join(", "),
            });
        } else if extensions[..i].contains(extension) {
            // OpenSSH refuses a certificate that names an extension twice.
            cx.invalid(
                &item_path,
                format!("extension `{extension}` is listed twice"),
            );
        }
    }
}

/// An IPv4 or IPv6 address, or a CIDR block whose host bits are zero (OpenSSH refuses a
/// block like `10.0.0.1/8`).
fn check_source_address(text: &str) -> Result<(), String> {
    let shown = quote(text, 64);
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return Err(format!(
            "`{shown}` is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)"
        ));
    };
    let Some(prefix) = prefix else {
        return Ok(());
    };
    let bits: u32 = if address.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = match prefix.parse::<u32>() {
        Ok(p) if p <= bits && prefix.bytes().all(|b| b.is_ascii_digit()) => p,
        _ => return Err(format!("`{shown}`: the prefix length must be 0 to {bits}")),
    };
    let host_bits_zero = match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shr(prefix).unwrap_or(0);
            u32::from(v4) & mask == 0
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shr(prefix).unwrap_or(0);
            u128::from(v6) & mask == 0
        }
    };
    if !host_bits_zero {
        return Err(format!(
            "`{shown}`: the address has bits set beyond the prefix; write the network address"
        ));
    }
    Ok(())
}

fn compile_providers(cx: &mut Ctx, raw: Option<&raw::RawProviders>) -> Providers {
    let Some(raw) = raw else {
        return Providers::default();
    };
    let mut providers = Providers::default();
    if let Some(jwt) = &raw.jwt {
        let ok_before = cx.errors.len();
        if let Err(detail) = check_url(&jwt.issuer) {
            let at = cx.at("providers.jwt.issuer");
            cx.push(PolicyError::InsecureUrl { at, detail });
        }
        env_name(cx, "providers.jwt.key_env", &jwt.key_env);
        if cx.errors.len() == ok_before {
            providers.jwt = Some(JwtProvider {
                issuer: jwt.issuer.clone(),
                key_env: jwt.key_env.clone(),
            });
        }
    }
    if let Some(pg) = &raw.postgres {
        let ok_before = cx.errors.len();
        env_name(cx, "providers.postgres.admin_dsn_env", &pg.admin_dsn_env);
        if cx.text("providers.postgres.host", &pg.host, "the host", 253)
            && pg.host.chars().any(char::is_whitespace)
        {
            cx.invalid("providers.postgres.host", "the host contains whitespace");
        }
        if pg.port == 0 {
            cx.invalid("providers.postgres.port", "port 0 is not a port");
        }
        cx.text(
            "providers.postgres.database",
            &pg.database,
            "the database name",
            63,
        );
        if cx.errors.len() == ok_before {
            providers.postgres = Some(PostgresProvider {
                admin_dsn_env: pg.admin_dsn_env.clone(),
                host: pg.host.clone(),
                port: pg.port,
                database: pg.database.clone(),
            });
        }
    }
    if let Some(ssh) = &raw.ssh
        && env_name(cx, "providers.ssh.ca_key_env", &ssh.ca_key_env)
    {
        providers.ssh = Some(SshProvider {
            ca_key_env: ssh.ca_key_env.clone(),
        });
    }
    providers
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 bytes.
fn env_name(cx: &mut Ctx, path: &str, name: &str) -> bool {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128;
    if !ok {
        cx.invalid(
            path,
            format!(
                "`{}` is not an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`)",
                quote(name, 64)
            ),
        );
    }
    ok
}

fn check_providers_present(cx: &mut Ctx, scopes: &BTreeMap<String, Scope>, providers: &Providers) {
    for scope in scopes.values() {
        let kind = scope.credential.kind();
        let configured = match kind {
            "jwt" => providers.jwt.is_some(),
            "postgres" => providers.postgres.is_some(),
            _ => providers.ssh.is_some(),
        };
        // A provider that is written but failed its own checks is reported there.
        let written = cx.map.get(&format!("providers.{kind}")).is_some();
        if !configured && !written {
            let scope_path = source::child("scopes", &scope.name);
            let kind_path = source::child(&source::child(&scope_path, "credential"), "kind");
            let at = cx.at_or(&kind_path, &scope_path);
            cx.push(PolicyError::ProviderMissing {
                at,
                scope: scope.name.clone(),
                kind: match kind {
                    "jwt" => CredentialKind::Jwt.as_str(),
                    "postgres" => CredentialKind::Postgres.as_str(),
                    _ => CredentialKind::Ssh.as_str(),
                },
            });
        }
    }
}

/// Checks an issuer URL before anything is fetched from it (contract §2) with the one URL
/// checker, [`crate::url_rules::check_issuer`]: `https`, or `http` only on a loopback host
/// (`127.0.0.0/8`, `::1`, `localhost`); no user info, query or fragment; a host and port
/// written plainly. Used for `identity.issuer` and `providers.jwt.issuer`.
fn check_url(url: &str) -> Result<(), String> {
    crate::url_rules::check_issuer(url)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
