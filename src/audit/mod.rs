//! The audit record of one grant (or denial) and the PR comment that shows it.
//!
//! Contract §6: the audit comment is part of the grant. `grant` writes it after masking and
//! before handing the credential to the job; `revoke` finds it again by its hidden marker
//! ([`marker::find_marker`], only on a comment the tool's own identity wrote) and edits it in
//! place ([`crate::report::comment::render_revoked`]). Denials get a comment too, listing what is missing.
//!
//! SECURITY: the record holds the credential's kind and fingerprint, never the secret. User
//! text (reason, logins, scope as requested, requirement details) is escaped when rendered,
//! and the marker holds only validated tokens.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub mod marker;

use crate::decide::{Approver, Decision, Requirement};

use crate::facts::UserRef;
pub use marker::{Marker, find_marker};

/// The grant id type is the credential layer's: one definition of what may name a grant
/// (marker, `GITHUB_STATE`, provider-side names).
pub use crate::credential::GrantId;

/// What was minted, as the audit may show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// `jwt`, `postgres`, `ssh`.
    pub kind: String,
    /// `sha256:<hex>` of the secret ([`crate::secret::Secret::fingerprint`]), or for `ssh`
    /// the certified key's `SHA256:` fingerprint.
    pub fingerprint: String,
    /// Extra facts a reader needs (e.g. `serial 123` of an SSH certificate).
    pub detail: Option<String>,
}

/// Where a grant stands. Shown at the top of the comment and updated on revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Minted and handed to the job; ends at the record's `expires_at` at the latest.
    Active,
    /// `revoke` ended it.
    Revoked { at: DateTime<Utc> },
    /// `revoke` failed: the credential stays valid until it expires.
    RevokeFailed { expires_at: DateTime<Utc> },
    /// It expired before `revoke` ran (a cancelled run; `sweep` found it).
    Expired,
    /// The credential kind cannot be revoked early (an SSH certificate without a KRL).
    NotRevocable {
        expires_at: DateTime<Utc>,
        note: String,
    },
    /// Granted by the decision, but minting failed: nothing exists.
    Failed,
}

/// One grant or denial, as the PR comment records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub grant_id: GrantId,
    pub run_id: u64,
    pub run_attempt: u32,
    /// `owner/name`, from the verified token.
    pub repository: String,
    /// The scope as resolved, or as requested when unknown (then user text).
    pub scope: Option<String>,
    pub requester: UserRef,
    pub reason: Option<String>,
    pub granted: bool,
    pub break_glass: bool,
    /// Approvals that counted, each with the sha it was given on.
    pub approvers: Vec<Approver>,
    pub ttl: Option<Duration>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `None` for a denial (nothing minted).
    pub credential: Option<CredentialInfo>,
    /// Every unmet requirement (a denial lists what is missing).
    pub unmet: Vec<Requirement>,
    pub status: Status,
    /// Why the grant ended early, where it did (e.g. "`GITHUB_ENV` could not be written; the
    /// credential was revoked", catalogue 94). Shown escaped under the status.
    pub note: Option<String>,
}

/// Where a record was made: facts from the verified token, not from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    pub run_id: u64,
    pub run_attempt: u32,
    /// `owner/name`.
    pub repository: String,
}

impl AuditRecord {
    /// The record of a decision before anything is minted: granted and break-glass as the
    /// decision says, its approvers, TTL and unmet requirements. The grant flow sets
    /// `expires_at` and `credential` after the mint.
    pub fn from_decision(
        decision: &Decision,
        grant_id: GrantId,
        run: RunFacts,
        reason: Option<&str>,
    ) -> Self {
        let granted = decision.granted();
        Self {
            grant_id,
            run_id: run.run_id,
            run_attempt: run.run_attempt,
            repository: run.repository,
            scope: decision.scope.clone(),
            requester: decision.requester.clone(),
            reason: reason.map(str::to_string),
            granted,
            break_glass: granted && decision.break_glass,
            approvers: decision.approvers.clone(),
            ttl: decision.ttl,
            expires_at: None,
            credential: None,
            unmet: decision.unmet().cloned().collect(),
            status: Status::Active,
            note: None,
        }
    }

    /// The marker that finds this record's comment again.
    pub fn marker(&self) -> Marker {
        Marker::for_record(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::RequirementId;

    #[test]
    fn a_record_from_a_denied_decision_lists_what_is_missing() {
        let decision = Decision {
            scope: Some("db-read".into()),
            requirements: vec![
                Requirement {
                    id: RequirementId::ScopeKnown,
                    met: true,
                    detail: "known".into(),
                },
                Requirement {
                    id: RequirementId::ApprovalsCount,
                    met: false,
                    detail: "0 of 1".into(),
                },
            ],
            approvers: vec![],
            ttl: Some(Duration::from_secs(900)),
            break_glass: true,
            requester: UserRef::new("alice", Some(1)),
        };
        let run = RunFacts {
            run_id: 1,
            run_attempt: 2,
            repository: "acme/payments".into(),
        };
        let id = GrantId::new("pa-1-2").unwrap();
        let record = AuditRecord::from_decision(&decision, id, run, Some("why"));
        assert!(!record.granted && !record.break_glass);
        assert_eq!(record.unmet.len(), 1);
        assert_eq!(record.unmet[0].id, RequirementId::ApprovalsCount);
        assert_eq!(
            record.marker().line(),
            "<!-- prod-access:grant id=pa-1-2 run=1.2 scope=db-read -->"
        );
    }
}
