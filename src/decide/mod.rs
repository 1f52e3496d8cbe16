//! The decision core: pure and synchronous.
//!
//! [`decide`] maps (compiled policy, request, verified identity, forge evidence, runner hints,
//! now) to a [`Decision`] that lists every requirement it checked, met or unmet, each with a
//! kebab-case [`RequirementId`] and a sentence a person understands. No I/O happens here:
//! everything the rules need is gathered before, so every rule has a table test.
//!
//! SECURITY: a decision grants only when it checked at least one requirement and every one
//! it checked is met ([`Decision::granted`]); anything the evidence does not show denies.

pub mod approvals;
pub mod request;
pub mod rules;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::Shape;
use crate::facts::VerifiedIdentity;
use crate::facts::{Evidence, UserRef};
use crate::policy::Policy;
use crate::runner::RunnerHints;

pub use request::{ReasonSource, Request, RequestInputs, ScopeSource, resolve_request};
pub use rules::decide;

/// Every requirement a decision can check. The kebab-case id (`as_str`) appears unchanged in
/// stderr, the step summary, the PR comment and the anchor in `docs/requirements.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequirementId {
    /// The request is not ambiguous (no request key given twice).
    RequestUnambiguous,
    /// The requested scope (from label, trailer or input) exists in the policy.
    ScopeKnown,
    /// A reason was given.
    ReasonPresent,
    /// The reason matches `request.reason_pattern`.
    ReasonPattern,
    /// The requested TTL is at most the scope's `max_ttl`.
    TtlWithinMax,
    /// The runner's environment variables agree with the verified token.
    RunnerEnvConsistent,
    /// The token's repository id is the id of the repository it names.
    RepositoryIdentity,
    /// Every claim the policy names matches one of its patterns.
    IdentityClaims,
    /// The token's `environment` is one the scope allows.
    EnvironmentAllowed,
    /// The run, read again from the API, matches the token (event, head sha, attempt).
    RunConsistent,
    /// The requester (token actor, and a re-run's triggering actor) may request this scope.
    RequesterAllowed,
    /// The pull request whose approvals count was found.
    PrFound,
    /// The pull request is in the state the shape needs (open; merged for a push).
    PrState,
    /// The pull request does not come from a fork (unless `allow_forks`).
    NotFromFork,
    /// The approvals are for the code that runs: the PR head is the sha the event/run names.
    HeadCurrent,
    /// A PR named by a dispatch asks for this scope itself (a mapped label, or a
    /// `Prod-Access:` line in its body or head commit).
    PrRequestsScope,
    /// The request's trailer is in the head commit as the API returns it.
    TrailerPresent,
    /// The request label is still on the PR.
    LabelPresent,
    /// The request label was last added by someone with write permission.
    LabelAddedByWriter,
    /// Approvals are on the PR's current head sha.
    FreshApproval,
    /// No approval by the PR author, the requester, or (strict) a commit author.
    NotSelfApproved,
    /// Approvals from bots never count.
    NotBotApproved,
    /// Approvers hold write permission or higher.
    ApproverPermission,
    /// Approvers are among the scope's `approvals.from`.
    ApproverInGroup,
    /// Enough valid approvals.
    ApprovalsCount,
    /// No blocking CHANGES_REQUESTED from someone with write permission.
    NoChangesRequested,
    /// No grant for this run attempt and scope exists already.
    NotAlreadyGranted,
}

impl RequirementId {
    /// Every id, in report order.
    pub const ALL: [RequirementId; 27] = [
        RequirementId::RequestUnambiguous,
        RequirementId::ScopeKnown,
        RequirementId::ReasonPresent,
        RequirementId::ReasonPattern,
        RequirementId::TtlWithinMax,
        RequirementId::RunnerEnvConsistent,
        RequirementId::RepositoryIdentity,
        RequirementId::IdentityClaims,
        RequirementId::EnvironmentAllowed,
        RequirementId::RunConsistent,
        RequirementId::RequesterAllowed,
        RequirementId::PrFound,
        RequirementId::PrState,
        RequirementId::NotFromFork,
        RequirementId::HeadCurrent,
        RequirementId::PrRequestsScope,
        RequirementId::TrailerPresent,
        RequirementId::LabelPresent,
        RequirementId::LabelAddedByWriter,
        RequirementId::FreshApproval,
        RequirementId::NotSelfApproved,
        RequirementId::NotBotApproved,
        RequirementId::ApproverPermission,
        RequirementId::ApproverInGroup,
        RequirementId::ApprovalsCount,
        RequirementId::NoChangesRequested,
        RequirementId::NotAlreadyGranted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequirementId::RequestUnambiguous => "request-unambiguous",
            RequirementId::ScopeKnown => "scope-known",
            RequirementId::ReasonPresent => "reason-present",
            RequirementId::ReasonPattern => "reason-pattern",
            RequirementId::TtlWithinMax => "ttl-within-max",
            RequirementId::RunnerEnvConsistent => "runner-env-consistent",
            RequirementId::RepositoryIdentity => "repository-identity",
            RequirementId::IdentityClaims => "identity-claims",
            RequirementId::EnvironmentAllowed => "environment-allowed",
            RequirementId::RunConsistent => "run-consistent",
            RequirementId::RequesterAllowed => "requester-allowed",
            RequirementId::PrFound => "pr-found",
            RequirementId::PrState => "pr-state",
            RequirementId::NotFromFork => "not-from-fork",
            RequirementId::HeadCurrent => "head-current",
            RequirementId::PrRequestsScope => "pr-requests-scope",
            RequirementId::TrailerPresent => "trailer-present",
            RequirementId::LabelPresent => "label-present",
            RequirementId::LabelAddedByWriter => "label-added-by-writer",
            RequirementId::FreshApproval => "fresh-approval",
            RequirementId::NotSelfApproved => "not-self-approved",
            RequirementId::NotBotApproved => "not-bot-approved",
            RequirementId::ApproverPermission => "approver-permission",
            RequirementId::ApproverInGroup => "approver-in-group",
            RequirementId::ApprovalsCount => "approvals-count",
            RequirementId::NoChangesRequested => "no-changes-requested",
            RequirementId::NotAlreadyGranted => "not-already-granted",
        }
    }
}

impl std::fmt::Display for RequirementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One checked requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub id: RequirementId,
    pub met: bool,
    /// A sentence a person understands. May contain user text (logins, reasons): escape it
    /// before it reaches a log, a summary or a comment.
    pub detail: String,
}

/// A counted approval: who, and the sha they approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approver {
    pub user: UserRef,
    /// The commit the approval was given on (`None` for deployment approvals).
    pub sha: Option<String>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The scope the request resolved to, if it did.
    pub scope: Option<String>,
    pub requirements: Vec<Requirement>,
    /// Approvals that counted, in the order they were given.
    pub approvers: Vec<Approver>,
    /// The lifetime the credential would get (the request's TTL, else the scope's).
    pub ttl: Option<Duration>,
    /// Granted without approvals under `break_glass: true`.
    pub break_glass: bool,
    /// The requester (the token's actor).
    pub requester: UserRef,
}

impl Decision {
    /// SECURITY: granted only if something was checked and everything checked is met.
    pub fn granted(&self) -> bool {
        self.scope.is_some()
            && self.ttl.is_some()
            && !self.requirements.is_empty()
            && self.requirements.iter().all(|r| r.met)
    }

    pub fn unmet(&self) -> impl Iterator<Item = &Requirement> {
        self.requirements.iter().filter(|r| !r.met)
    }

    pub fn requirement(&self, id: RequirementId) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }
}

/// Everything [`decide`] reads.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    pub policy: &'a Policy,
    pub request: &'a Request,
    pub identity: &'a VerifiedIdentity,
    pub evidence: &'a Evidence,
    pub runner: &'a RunnerHints,
    pub now: DateTime<Utc>,
}

/// The shape a request came in, re-exported for callers of the decision core.
pub type RequestShape = Shape;
