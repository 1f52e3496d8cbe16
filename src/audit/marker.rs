//! The hidden first line of every audit comment,
//! `<!-- prod-access:grant id=<grant id> run=<run id>.<attempt> scope=<scope> -->`: built only
//! from validated tokens, found again only in its exact canonical form (user text is escaped
//! in comments, so it cannot produce one). SECURITY: it says nothing about who wrote the
//! comment: see [`crate::facts::Viewer::wrote`].

use super::{AuditRecord, GrantId};
use crate::emit::escape::is_plain_token;

const MARKER_PREFIX: &str = "<!-- prod-access:grant id=";
const MARKER_SUFFIX: &str = " -->";
/// Longest scope name a marker carries.
const MARKER_SCOPE_MAX_LEN: usize = 100;
/// The marker's scope when the record's scope is unknown or not a plain token.
const NO_SCOPE: &str = "-";

/// The hidden first line of an audit comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub grant_id: GrantId,
    pub run_id: u64,
    pub run_attempt: u32,
    /// The scope name, or `-` when the request named none that is a plain token.
    pub scope: String,
}

impl Marker {
    pub fn for_record(record: &AuditRecord) -> Self {
        let scope = record
            .scope
            .as_deref()
            .filter(|s| is_plain_token(s, MARKER_SCOPE_MAX_LEN))
            .unwrap_or(NO_SCOPE)
            .to_string();
        Self {
            grant_id: record.grant_id.clone(),
            run_id: record.run_id,
            run_attempt: record.run_attempt,
            scope,
        }
    }

    /// The marker line, without a newline.
    pub fn line(&self) -> String {
        format!(
            "{MARKER_PREFIX}{} run={}.{} scope={}{MARKER_SUFFIX}",
            self.grant_id, self.run_id, self.run_attempt, self.scope
        )
    }
}

/// The marker on the first line of `body`, if that line is exactly one in our format (canonical:
/// re-rendering it gives the same line). A marker anywhere else, or with extra spaces,
/// leading zeros or unknown fields, is not ours.
///
/// SECURITY: this says nothing about who wrote the comment; see [`crate::facts::Viewer::wrote`].
pub fn find_marker(body: &str) -> Option<Marker> {
    let first = body.split('\n').next()?;
    let first = first.strip_suffix('\r').unwrap_or(first);
    let rest = first
        .strip_prefix(MARKER_PREFIX)?
        .strip_suffix(MARKER_SUFFIX)?;
    let mut parts = rest.split(' ');
    let (id, run, scope) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let grant_id = GrantId::new(id).ok()?;
    let (run_id, attempt) = run.strip_prefix("run=")?.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(run_id) || !digits(attempt) {
        return None;
    }
    let scope = scope.strip_prefix("scope=")?;
    if !is_plain_token(scope, MARKER_SCOPE_MAX_LEN) {
        return None;
    }
    let marker = Marker {
        grant_id,
        run_id: run_id.parse().ok()?,
        run_attempt: attempt.parse().ok()?,
        scope: scope.to_string(),
    };
    (marker.line() == first).then_some(marker)
}
