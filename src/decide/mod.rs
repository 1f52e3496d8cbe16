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

/// Every requirement a decision can check, as one table (in report order): the variant, its
/// kebab-case id (`as_str`: the same text in stderr, the step summary, the PR comment and the
/// anchor in `docs/requirements.md`), the rule that checks it (in [`rules`]), and one line of
/// what it checks. Adding a requirement is adding a row here, its rule, and its docs.
macro_rules! requirements {
    ($( $variant:ident = $id:literal, check: $check:expr, what: $what:literal; )*) => {
        /// A requirement's identity. See [`RequirementId::what`] for each one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum RequirementId {
            $( #[doc = $what] $variant, )*
        }

        impl RequirementId {
            /// Every id, in report order.
            pub const ALL: &'static [RequirementId] = &[ $( RequirementId::$variant, )* ];

            /// The kebab-case id, also the docs anchor.
            pub fn as_str(self) -> &'static str {
                match self { $( RequirementId::$variant => $id, )* }
            }

            /// One line of what the requirement checks.
            pub fn what(self) -> &'static str {
                match self { $( RequirementId::$variant => $what, )* }
            }

            /// The rule that checks it: `None` where it does not apply to the request.
            pub(crate) fn rule(self) -> rules::Rule {
                match self { $( RequirementId::$variant => $check, )* }
            }
        }
    };
}

requirements! {
    RequestUnambiguous = "request-unambiguous", check: |c| c.request_unambiguous(),
        what: "The request is not ambiguous (no request key given twice).";
    ScopeKnown = "scope-known", check: |c| c.scope_known(),
        what: "The requested scope (from label, trailer or input) exists in the policy.";
    ReasonPresent = "reason-present", check: |c| c.reason_present(),
        what: "A reason was given.";
    ReasonPattern = "reason-pattern", check: |c| c.reason_pattern(),
        what: "The reason matches `request.reason_pattern`.";
    TtlWithinMax = "ttl-within-max", check: |c| c.ttl_within_max(),
        what: "The requested TTL is at most the scope's `max_ttl`.";
    RunnerEnvConsistent = "runner-env-consistent", check: |c| c.runner_env_consistent(),
        what: "The runner's environment variables agree with the verified token.";
    RepositoryIdentity = "repository-identity", check: |c| c.repository_identity(),
        what: "The token's repository id is the id of the repository it names.";
    IdentityClaims = "identity-claims", check: |c| c.identity_claims(),
        what: "Every claim the policy names matches one of its patterns.";
    EnvironmentAllowed = "environment-allowed", check: |c| c.environment_allowed(),
        what: "The token's `environment` is one the scope allows.";
    RunConsistent = "run-consistent", check: |c| c.run_consistent(),
        what: "The run, read again from the API, matches the token (event, head sha, attempt) and lists the PR of a PR event at its head.";
    RequesterAllowed = "requester-allowed", check: |c| c.requester_allowed(),
        what: "The requester (token actor, and a re-run's triggering actor) may request this scope.";
    PrFound = "pr-found", check: |c| c.pr_found(),
        what: "The pull request whose approvals count was found.";
    PrState = "pr-state", check: |c| c.pr_state(),
        what: "The pull request is in the state the shape needs (open; merged for a push).";
    NotFromFork = "not-from-fork", check: |c| c.not_from_fork(),
        what: "The pull request does not come from a fork (unless `allow_forks`).";
    HeadCurrent = "head-current", check: |c| c.head_current(),
        what: "The approvals are for the code that runs: the PR head is the sha the event/run names, and did not move while the request was checked.";
    PrRequestsScope = "pr-requests-scope", check: |c| c.pr_requests_scope(),
        what: "A PR named by a dispatch asks for this scope itself (a mapped label, or a `Prod-Access:` line in its body or head commit).";
    TrailerPresent = "trailer-present", check: |c| c.trailer_present(),
        what: "The request's trailer is in the head commit as the API returns it.";
    LabelPresent = "label-present", check: |c| c.label_present(),
        what: "The request label is still on the PR.";
    LabelAddedByWriter = "label-added-by-writer", check: |c| c.label_added_by_writer(),
        what: "The request label was last added by someone with write permission.";
    FreshApproval = "fresh-approval", check: |c| c.approval_filter(RequirementId::FreshApproval),
        what: "Approvals are on the PR's current head sha.";
    NotSelfApproved = "not-self-approved", check: |c| c.approval_filter(RequirementId::NotSelfApproved),
        what: "No approval by the PR author, the requester, or (strict) a commit author.";
    NotBotApproved = "not-bot-approved", check: |c| c.approval_filter(RequirementId::NotBotApproved),
        what: "Approvals from bots never count.";
    ApproverPermission = "approver-permission", check: |c| c.approval_filter(RequirementId::ApproverPermission),
        what: "Approvers hold write permission or higher.";
    ApproverInGroup = "approver-in-group", check: |c| c.approval_filter(RequirementId::ApproverInGroup),
        what: "Approvers are among the scope's `approvals.from`.";
    ApprovalsCount = "approvals-count", check: |c| c.approvals_count(),
        what: "Enough valid approvals.";
    NoChangesRequested = "no-changes-requested", check: |c| c.no_changes_requested(),
        what: "No blocking CHANGES_REQUESTED from someone with write permission.";
    NotAlreadyGranted = "not-already-granted", check: |c| c.not_already_granted(),
        what: "No grant for this run attempt and scope exists already.";
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

    /// The outcome, typed: a grant carries the policy's scope and the lifetime, so nothing
    /// after the decision looks the scope up again or guards a missing TTL.
    pub fn verdict<'a>(&'a self, policy: &'a Policy) -> Verdict<'a> {
        let scope = self.scope.as_ref().and_then(|s| policy.scopes.get(s));
        match (self.granted(), scope, self.ttl) {
            (true, Some(scope), Some(ttl)) => Verdict::Granted {
                scope,
                ttl,
                approvers: &self.approvers,
                break_glass: self.break_glass,
            },
            // SECURITY: anything but a complete grant is a denial.
            _ => Verdict::Denied {
                unmet: self.unmet().collect(),
            },
        }
    }
}

/// A [`Decision`] as the pipeline acts on it ([`Decision::verdict`]).
#[derive(Debug)]
pub enum Verdict<'a> {
    Granted {
        scope: &'a crate::policy::Scope,
        ttl: Duration,
        approvers: &'a [Approver],
        break_glass: bool,
    },
    Denied {
        unmet: Vec<&'a Requirement>,
    },
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
