//! The rules: every requirement of a request, met or unmet, in [`RequirementId::ALL`] order.
//!
//! Which requirements apply depends on the request's shape (contract §3):
//!
//! | requirement | label | trailer (PR event) | trailer (push) | dispatch + PR | dispatch |
//! | --- | --- | --- | --- | --- | --- |
//! | request, identity, run, requester, replay | yes | yes | yes | yes | yes |
//! | `pr-found` `pr-state` `not-from-fork` | yes | yes | yes (merged) | yes | - |
//! | `head-current` | event head = PR head | event head = PR head | token sha = event head | PR head = token sha | - |
//! | `trailer-present` | - | yes | yes | - | - |
//! | `label-present` `label-added-by-writer` | yes | - | - | - | - |
//! | `fresh-approval` | yes | yes | yes | yes | - |
//! | other approval rules | PR reviews | PR reviews | PR reviews | PR reviews | deployment approvals |
//!
//! When the scope is unknown, the requirements that need it (ttl, environment, requester,
//! fork, approvals) are not evaluated and the decision has no scope: denied. When the pull
//! request was not found, the requirements that read it are not evaluated: `pr-found` denies.
//!
//! SECURITY: every check reads the verified identity and the evidence read from the API; the
//! request (built from the event file, a hint) is only ever compared with them.

use std::time::Duration;

use super::approvals::{
    self, ApprovalTally, ApprovalTarget, Screen, principal_match, same_sha, short_sha,
    tally_deployment, tally_reviews,
};
use super::request::{ReasonSource, Request, ScopeSource};
use super::{Decision, DecisionInput, Requirement, RequirementId};
use crate::event::Shape;
use crate::event::label::body_reason_lines;
use crate::event::trailers::{self, Trailer};
use crate::facts::VerifiedIdentity;
use crate::facts::{Evidence, PullRequest, UserRef};
use crate::policy::duration::format as fmt_duration;
use crate::policy::{Policy, RequestRules, Scope};
use crate::runner::RunnerHints;

/// Decides a request: every requirement that applies, met or unmet, each with a sentence.
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    let ctx = Context::new(input);
    let requirements = RequirementId::ALL
        .iter()
        .filter_map(|&id| {
            ctx.check(id)
                .map(|(met, detail)| Requirement { id, met, detail })
        })
        .collect();
    let (scope, ttl) = match ctx.scope {
        Some(scope) => (Some(scope.name.clone()), ctx.ttl_ok(scope)),
        None => (None, None),
    };
    Decision {
        scope,
        requirements,
        approvers: ctx
            .tally
            .as_ref()
            .map(|t| t.counted.clone())
            .unwrap_or_default(),
        ttl,
        break_glass: ctx
            .scope
            .is_some_and(|s| s.break_glass && s.approvals.required == 0),
        requester: ctx.requester.clone(),
    }
}

/// `Some((met, detail))` for a requirement that applies; `None` for one that does not.
pub(crate) type Check = Option<(bool, String)>;

/// The rule of one requirement (see the table in [`super`]).
pub(crate) type Rule = fn(&Context<'_>) -> Check;

fn met(detail: impl Into<String>) -> Check {
    Some((true, detail.into()))
}

fn unmet(detail: impl Into<String>) -> Check {
    Some((false, detail.into()))
}

fn is_pr_event(event_name: &str) -> bool {
    matches!(event_name, "pull_request" | "pull_request_target")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `"a", "b"`: values quoted, for sentences that name user text.
fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the approvals come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The reviews of a pull request.
    PullRequest,
    /// The run's deployment approvals (dispatch without `pull-request`).
    Deployment,
}

pub(crate) struct Context<'a> {
    policy: &'a Policy,
    request: &'a Request,
    identity: &'a VerifiedIdentity,
    evidence: &'a Evidence,
    runner: &'a RunnerHints,
    scope: Option<&'a Scope>,
    /// The token's actor (a bot if its login says so or the run names it `type: Bot`).
    requester: UserRef,
    source: Source,
    /// The trailer shape on a `push`: the PR is the one that carried the commit.
    push: bool,
    /// The evidence's PR, when it is the request's PR.
    pr: Option<&'a PullRequest>,
    tally: Option<ApprovalTally>,
}

impl<'a> Context<'a> {
    fn new(input: &DecisionInput<'a>) -> Self {
        let request = input.request;
        let identity = input.identity;
        let evidence = input.evidence;
        let scope = request
            .scope
            .as_ref()
            .and_then(|name| input.policy.scopes.get(name));

        let mut requester = identity.requester();
        let run = evidence.run.as_ref();
        if let Some(actor) = run.and_then(|r| r.actor.as_ref())
            && actor.same_as(&requester)
            && actor.is_bot()
        {
            requester.bot = true;
        }
        // Everyone who asked: the token's actor and the run's actor and triggering actor. Kept
        // apart unless identical: `same_as` is not transitive where an id is missing.
        let mut requesters = vec![requester.clone()];
        for u in run
            .into_iter()
            .flat_map(|r| [r.actor.as_ref(), r.triggering_actor.as_ref()])
            .flatten()
        {
            if !requesters
                .iter()
                .any(|r| r.id == u.id && r.login.eq_ignore_ascii_case(&u.login))
            {
                requesters.push(u.clone());
            }
        }

        let source = match request.shape {
            Shape::Dispatch if request.pr_number.is_none() => Source::Deployment,
            _ => Source::PullRequest,
        };
        let push = request.shape == Shape::Trailer && identity.event_name == "push";
        let pr = match (source, evidence.pull_request.as_ref()) {
            (Source::PullRequest, Some(pr)) => match request.pr_number {
                Some(n) if n == pr.number => Some(pr),
                None if push => Some(pr),
                _ => None,
            },
            _ => None,
        };

        let tally = scope.and_then(|scope| {
            let screen = Screen {
                rules: &scope.approvals,
                evidence,
                requesters: &requesters,
            };
            match source {
                Source::PullRequest => pr.map(|pr| tally_reviews(pr, &evidence.reviews, &screen)),
                Source::Deployment => Some(tally_deployment(
                    identity.environment.as_deref(),
                    &evidence.deployment_reviews,
                    &screen,
                )),
            }
        });

        Self {
            policy: input.policy,
            request,
            identity,
            evidence,
            runner: input.runner,
            scope,
            requester,
            source,
            push,
            pr,
            tally,
        }
    }

    fn check(&self, id: RequirementId) -> Check {
        (id.rule())(self)
    }

    // --- the request -------------------------------------------------------------------

    pub(crate) fn request_unambiguous(&self) -> Check {
        if self.request.ambiguous.is_empty() {
            return met("every request key has a single value");
        }
        let parts: Vec<String> = self
            .request
            .ambiguous
            .iter()
            .map(|(key, values)| {
                format!(
                    "`{key}` has {}: {}",
                    plural(values.len(), "value", "values"),
                    quoted(values)
                )
            })
            .collect();
        unmet(format!(
            "the request is ambiguous: {}; give each once",
            parts.join("; ")
        ))
    }

    pub(crate) fn scope_known(&self) -> Check {
        let known = || {
            self.policy
                .scopes
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (&self.request.scope, self.scope) {
            (Some(_), Some(scope)) => {
                let from = match self.request.scope_source {
                    Some(ScopeSource::Input) => "from input `scope`".to_string(),
                    Some(ScopeSource::Event) if self.request.shape == Shape::Trailer => {
                        format!("from trailer `{}`", self.policy.request.scope_trailer)
                    }
                    Some(ScopeSource::Event) => "from the dispatch input `scope`".to_string(),
                    Some(ScopeSource::Label) => format!(
                        "from label `{}`",
                        self.request.label.as_deref().unwrap_or_default()
                    ),
                    None => "requested".to_string(),
                };
                met(format!("scope {} ({from})", scope.name))
            }
            (Some(name), None) => unmet(format!(
                "scope \"{name}\" is not in the policy (known: {})",
                known()
            )),
            (None, _) => {
                let hint = match (self.request.shape, &self.request.label) {
                    (Shape::Label, Some(label)) => {
                        format!("label \"{label}\" is not mapped in `request.labels`")
                    }
                    (Shape::Trailer, _) => format!(
                        "add a `{}:` trailer or set input `scope`",
                        self.policy.request.scope_trailer
                    ),
                    _ => "set input `scope`".to_string(),
                };
                unmet(format!("no scope was asked for: {hint}"))
            }
        }
    }

    fn reason(&self) -> Option<&str> {
        self.request
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
    }

    pub(crate) fn reason_present(&self) -> Check {
        let Some(reason) = self.reason() else {
            let hint = match self.request.shape {
                Shape::Label => format!(
                    "add a `{}: <why>` line to the PR body or set input `reason`",
                    self.policy.request.trailer
                ),
                Shape::Trailer => format!(
                    "add a `{}: <why>` trailer to the head commit",
                    self.policy.request.trailer
                ),
                Shape::Dispatch => "fill in the `reason` input".to_string(),
            };
            return unmet(format!("no reason given: {hint}"));
        };
        // SECURITY: a label request's reason comes from the PR body in the event file (a hint);
        // it must still be in the body the API returns now.
        if self.request.shape == Shape::Label
            && self.request.reason_source == Some(ReasonSource::Event)
        {
            let Some(pr) = self.pr else {
                return met(format!(
                    "reason \"{reason}\" (not compared with the PR body: the PR was not found)"
                ));
            };
            // The whole value of the one reason line of the body as the API returns it: an
            // event file whose reason differs (even a part of it) is a disagreement.
            let lines = body_reason_lines(
                pr.body.as_deref().unwrap_or_default(),
                &self.policy.request.trailer,
            );
            match lines.as_slice() {
                [line] if line.trim() == reason => {}
                [line] => {
                    return unmet(format!(
                        "the event file's reason \"{reason}\" differs from the `{}:` line of \
                         #{}'s body as the API returns it now (\"{}\")",
                        self.policy.request.trailer,
                        pr.number,
                        line.trim()
                    ));
                }
                [] => {
                    return unmet(format!(
                        "the body of #{} as the API returns it now has no `{}:` line",
                        pr.number, self.policy.request.trailer
                    ));
                }
                _ => {
                    return unmet(format!(
                        "the body of #{} as the API returns it now has {} `{}:` lines",
                        pr.number,
                        lines.len(),
                        self.policy.request.trailer
                    ));
                }
            }
        }
        met(format!("reason \"{reason}\""))
    }

    pub(crate) fn reason_pattern(&self) -> Check {
        let Some(pattern) = &self.policy.request.reason_pattern else {
            return met("the policy sets no `reason_pattern`");
        };
        match self.reason() {
            None => unmet(format!("no reason to match against `{}`", pattern.as_str())),
            Some(reason) if pattern.is_match(reason) => met(format!(
                "reason \"{reason}\" matches `{}`",
                pattern.as_str()
            )),
            Some(reason) => unmet(format!(
                "reason \"{reason}\" does not match `{}` (searched anywhere in the reason)",
                pattern.as_str()
            )),
        }
    }

    /// The TTL the credential would get, if it is allowed.
    fn ttl_ok(&self, scope: &Scope) -> Option<Duration> {
        let ttl = self.request.ttl.unwrap_or(scope.ttl);
        (!ttl.is_zero() && ttl <= scope.max_ttl).then_some(ttl)
    }

    pub(crate) fn ttl_within_max(&self) -> Check {
        let scope = self.scope?;
        let (ttl, from) = match self.request.ttl {
            Some(t) => (t, "requested"),
            None => (scope.ttl, "the scope's ttl"),
        };
        let max = fmt_duration(scope.max_ttl);
        if ttl.is_zero() {
            unmet("a ttl of 0s grants nothing: ask for a positive ttl")
        } else if ttl > scope.max_ttl {
            // SECURITY: never shortened to fit; the requester asks again.
            unmet(format!(
                "ttl {} ({from}) is above max_ttl {max} of scope {}: denied, never shortened",
                fmt_duration(ttl),
                scope.name
            ))
        } else {
            met(format!(
                "ttl {} ({from}) is within max_ttl {max}",
                fmt_duration(ttl)
            ))
        }
    }

    // --- the identity ------------------------------------------------------------------

    pub(crate) fn runner_env_consistent(&self) -> Check {
        let id = self.identity;
        let h = self.runner;
        let pairs: [(&str, &Option<String>, String); 7] = [
            ("GITHUB_REPOSITORY", &h.repository, id.repository.clone()),
            ("GITHUB_RUN_ID", &h.run_id, id.run_id.to_string()),
            (
                "GITHUB_RUN_ATTEMPT",
                &h.run_attempt,
                id.run_attempt.to_string(),
            ),
            ("GITHUB_EVENT_NAME", &h.event_name, id.event_name.clone()),
            ("GITHUB_SHA", &h.sha, id.sha.clone()),
            ("GITHUB_REF", &h.git_ref, id.git_ref.clone()),
            ("GITHUB_ACTOR", &h.actor, id.actor.clone()),
        ];
        let mut same = Vec::new();
        let mut differ = Vec::new();
        for (name, hint, token) in pairs {
            match hint {
                None => {}
                Some(v) if *v == token => same.push(name),
                Some(v) => differ.push(format!("{name} is \"{v}\", the token says \"{token}\"")),
            }
        }
        if !differ.is_empty() {
            // SECURITY: an earlier step rewrote the environment, or the token is not this job's.
            unmet(format!(
                "the runner environment disagrees with the verified token: {}",
                differ.join("; ")
            ))
        } else if same.is_empty() {
            met("no runner variables are set to compare with the token")
        } else {
            met(format!("{} agree with the token", same.join(", ")))
        }
    }

    pub(crate) fn repository_identity(&self) -> Check {
        let id = self.identity;
        match self.evidence.repository_id {
            Some(api) if api == id.repository_id => {
                met(format!("{} has id {api}, as the token says", id.repository))
            }
            Some(api) => unmet(format!(
                "the token names {} with id {}, but the API says {} is now id {api} \
                 (renamed, or re-created under the same name)",
                id.repository, id.repository_id, id.repository
            )),
            None => unmet(format!(
                "the id of {} was not read from the API",
                id.repository
            )),
        }
    }

    pub(crate) fn identity_claims(&self) -> Check {
        let rules = &self.policy.identity.claims;
        if rules.is_empty() {
            return met("the policy binds no claims");
        }
        let mut bad = Vec::new();
        for (name, globs) in rules {
            let patterns = globs
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            match self.identity.claims.get(name) {
                None | Some(serde_json::Value::Null) => {
                    bad.push(format!("claim `{name}` is missing"));
                }
                Some(serde_json::Value::String(value)) => {
                    if !globs.iter().any(|g| g.matches(value)) {
                        bad.push(format!(
                            "claim `{name}` is \"{value}\", which matches none of: {patterns}"
                        ));
                    }
                }
                Some(other) => {
                    // SECURITY: never coerced (an array holding the right value, a number).
                    let kind = match other {
                        serde_json::Value::Bool(_) => "a boolean",
                        serde_json::Value::Number(_) => "a number",
                        serde_json::Value::Array(_) => "an array",
                        _ => "an object",
                    };
                    bad.push(format!(
                        "claim `{name}` has the wrong claim format: {kind}, not a string"
                    ));
                }
            }
        }
        if bad.is_empty() {
            let names = rules.keys().cloned().collect::<Vec<_>>().join(", ");
            met(format!("claims {names} match the policy"))
        } else {
            unmet(bad.join("; "))
        }
    }

    pub(crate) fn environment_allowed(&self) -> Check {
        let scope = self.scope?;
        if scope.environments.is_empty() {
            return met(format!("scope {} allows any environment", scope.name));
        }
        let allowed = scope.environments.join(", ");
        // GitHub environment names are case-insensitive.
        // See: <https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-deployments/managing-environments-for-deployment#creating-an-environment>
        match self.identity.environment.as_deref() {
            Some(env)
                if scope
                    .environments
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(env)) =>
            {
                met(format!(
                    "environment {env} is allowed for scope {}",
                    scope.name
                ))
            }
            Some(env) => unmet(format!(
                "environment {env} is not one scope {} allows ({allowed})",
                scope.name
            )),
            None => unmet(format!(
                "the job has no environment; scope {} needs one of: {allowed}",
                scope.name
            )),
        }
    }

    pub(crate) fn run_consistent(&self) -> Check {
        let id = self.identity;
        let mut bad = Vec::new();
        if self.request.event_name != id.event_name {
            bad.push(format!(
                "the event file is for {}, the token for {}",
                self.request.event_name, id.event_name
            ));
        }
        let shape_fits = match self.request.shape {
            Shape::Label => is_pr_event(&id.event_name),
            Shape::Trailer => id.event_name == "push" || is_pr_event(&id.event_name),
            Shape::Dispatch => id.event_name == "workflow_dispatch",
        };
        if !shape_fits {
            bad.push(format!(
                "a {:?} request cannot come from a {} event",
                self.request.shape, id.event_name
            ));
        }
        match &self.evidence.run {
            None => bad.push(format!("run {} was not read from the API", id.run_id)),
            Some(run) => {
                if run.id != id.run_id {
                    bad.push(format!(
                        "the API returned run {}, the token names run {}",
                        run.id, id.run_id
                    ));
                }
                if run.event != id.event_name {
                    bad.push(format!(
                        "the run's event is {}, the token's {}",
                        run.event, id.event_name
                    ));
                }
                // For `pull_request` the run's head_sha is the PR head, while the token's sha
                // is the test merge commit; for every other event the run builds the token's
                // sha (for `pull_request_target`, the base branch's head).
                // See: <https://docs.github.com/en/actions/writing-workflows/choosing-when-your-workflow-runs/events-that-trigger-workflows#pull_request>
                let (expected, what) = if id.event_name == "pull_request" {
                    (
                        self.request.head_sha.as_deref(),
                        "the PR head the event names",
                    )
                } else {
                    (Some(id.sha.as_str()), "the token's sha")
                };
                match expected {
                    Some(sha) if same_sha(&run.head_sha, sha) => {}
                    Some(sha) => bad.push(format!(
                        "the run's head is {}, {what} is {}",
                        short_sha(&run.head_sha),
                        short_sha(sha)
                    )),
                    None => bad.push(format!("the event names no head to compare with {what}")),
                }
                if run.run_attempt != id.run_attempt {
                    bad.push(format!(
                        "the run is at attempt {}, the token names attempt {}",
                        run.run_attempt, id.run_attempt
                    ));
                }
                if let Err(why) = self.run_binds_pr(run) {
                    bad.push(why);
                }
            }
        }
        if bad.is_empty() {
            met(format!(
                "run {} attempt {} ({}) matches the token",
                id.run_id, id.run_attempt, id.event_name
            ))
        } else {
            unmet(bad.join("; "))
        }
    }

    /// SECURITY: the PR of a PR event comes from the event file, which an earlier step can
    /// rewrite; under `pull_request_target` the token's sha is the base branch's, so it
    /// proves nothing about the PR. The run's own `pull_requests` must list the PR, at the
    /// head the PR has now. GitHub leaves that list empty for a PR from a fork: such a PR
    /// binds only where the scope allows forks and the run was started by whoever added the
    /// request label (the `labeled` event's actor is the run's triggering actor).
    fn run_binds_pr(&self, run: &crate::facts::RunInfo) -> Result<(), String> {
        let id = self.identity;
        let applies = is_pr_event(&id.event_name)
            && matches!(self.request.shape, Shape::Label | Shape::Trailer);
        let Some(n) = self.request.pr_number.filter(|_| applies) else {
            return Ok(());
        };
        // A PR the API did not return is `pr-found`'s denial; there is nothing to bind.
        let Some(head_now) = self
            .evidence
            .pull_request
            .as_ref()
            .filter(|p| p.number == n)
            .map(|p| p.head_sha.as_str())
        else {
            return Ok(());
        };
        let head_now = Some(head_now);
        if let Some(entry) = run.pull_requests.iter().find(|p| p.number == n) {
            return match head_now {
                Some(head) if !same_sha(&entry.head_sha, head) => Err(format!(
                    "the run is for #{n} at {}, but #{n}'s head is now {}",
                    short_sha(&entry.head_sha),
                    short_sha(head)
                )),
                _ => Ok(()),
            };
        }
        if !run.pull_requests.is_empty() {
            let listed: Vec<String> = run
                .pull_requests
                .iter()
                .map(|p| format!("#{}", p.number))
                .collect();
            return Err(format!(
                "the event file names #{n}, but the run is for {}",
                listed.join(", ")
            ));
        }
        // No PR listed: only a fork PR, under the scope's `allow_forks`, labeled by the
        // run's triggering actor.
        let fork = self
            .evidence
            .pull_request
            .as_ref()
            .is_some_and(|p| p.number == n && p.from_fork);
        let allowed = self.scope.is_some_and(|s| s.allow_forks);
        let labeler = self
            .evidence
            .label_event
            .as_ref()
            .and_then(|e| e.actor.as_ref());
        let trigger = run.triggering_actor.as_ref();
        match (fork, allowed, self.request.shape, labeler, trigger) {
            (true, true, Shape::Label, Some(l), Some(t)) if l.same_as(t) => Ok(()),
            (true, true, Shape::Label, Some(l), Some(t)) => Err(format!(
                "the run lists no pull request (a fork's): #{n} binds only when the run was \
                 started by whoever added the label, but {} added it and {} started the run",
                l.login, t.login
            )),
            (true, true, _, _, _) => Err(format!(
                "the run lists no pull request (a fork's): #{n} binds only through a label                  added by the run's triggering actor"
            )),
            _ => Err(format!(
                "the run lists no pull request, so nothing binds #{n} to it (the event file \
                 may have been rewritten)"
            )),
        }
    }

    pub(crate) fn requester_allowed(&self) -> Check {
        let scope = self.scope?;
        let mut who: Vec<(&UserRef, &str)> = vec![(&self.requester, "requester")];
        let mut bad = Vec::new();
        if let Some(run) = &self.evidence.run {
            let role = if run.run_attempt > 1 {
                "re-run by"
            } else {
                "triggering actor"
            };
            match &run.triggering_actor {
                Some(t) if !t.same_as(&self.requester) => who.push((t, role)),
                Some(_) => {}
                // SECURITY: a re-run whose triggering actor is unknown cannot be checked.
                None if run.run_attempt > 1 => bad.push(format!(
                    "attempt {} is a re-run and the run names no triggering actor",
                    run.run_attempt
                )),
                None => {}
            }
        }
        for (user, role) in &who {
            if user.is_bot() {
                bad.push(format!("{role} {} is a bot", user.login));
            }
            if let Err(why) = approvals::permission_check(user, self.evidence) {
                bad.push(format!("{role} {why}"));
            }
            if !scope.requesters.is_empty()
                && let Err(why) = principal_match(user, &scope.requesters, self.evidence)
            {
                bad.push(format!("{role} {why}"));
            }
        }
        let names = who
            .iter()
            .map(|(u, role)| format!("{role} {}", u.login))
            .collect::<Vec<_>>()
            .join(", ");
        if bad.is_empty() {
            let among = if scope.requesters.is_empty() {
                "write permission".to_string()
            } else {
                format!(
                    "write permission, in {}",
                    approvals::describe_from(&scope.requesters)
                )
            };
            met(format!(
                "{names} may request scope {} ({among})",
                scope.name
            ))
        } else {
            unmet(format!(
                "not allowed to request scope {}: {}",
                scope.name,
                bad.join("; ")
            ))
        }
    }

    // --- the pull request --------------------------------------------------------------

    pub(crate) fn pr_found(&self) -> Check {
        if self.source != Source::PullRequest {
            return None;
        }
        if let Some(pr) = self.pr {
            return met(format!("pull request #{} read from the API", pr.number));
        }
        match (self.evidence.pull_request.as_ref(), self.request.pr_number) {
            (Some(api), Some(n)) => unmet(format!(
                "the request names #{n}, the API returned #{}",
                api.number
            )),
            (Some(_), None) | (None, None) if !self.push => {
                unmet("the request names no pull request")
            }
            (_, Some(n)) => unmet(format!(
                "pull request #{n} was not found (does the token have `pull-requests: read`?)"
            )),
            (_, None) => unmet(format!(
                "no pull request carried {} (the API lists none for the commit)",
                short_sha(&self.identity.sha)
            )),
        }
    }

    pub(crate) fn pr_state(&self) -> Check {
        let pr = self.pr?;
        let n = pr.number;
        if self.push {
            let branch = self.identity.git_ref.strip_prefix("refs/heads/");
            return match branch {
                _ if !pr.merged => unmet(format!(
                    "#{n} is not merged: a push request counts only through a merged PR"
                )),
                Some(b) if b == pr.base_ref => met(format!("#{n} was merged into {b}")),
                Some(b) => unmet(format!(
                    "#{n} was merged into \"{}\", but this push is to {b}",
                    pr.base_ref
                )),
                None => unmet(format!(
                    "this push is to {}, not a branch",
                    self.identity.git_ref
                )),
            };
        }
        if pr.state == "open" && !pr.merged {
            met(format!("#{n} is open"))
        } else {
            let state = if pr.merged {
                "merged"
            } else {
                pr.state.as_str()
            };
            unmet(format!("#{n} is {state}, not open"))
        }
    }

    pub(crate) fn not_from_fork(&self) -> Check {
        let pr = self.pr?;
        let scope = self.scope?;
        match (pr.from_fork, scope.allow_forks) {
            (false, _) => met(format!("#{} comes from this repository", pr.number)),
            (true, true) => met(format!(
                "#{} comes from a fork, allowed by `allow_forks: true` on scope {}",
                pr.number, scope.name
            )),
            // SECURITY: a fork's code is not the repository's; refused unless the scope says so.
            (true, false) => unmet(format!(
                "#{} comes from a fork; scope {} does not set `allow_forks: true`",
                pr.number, scope.name
            )),
        }
    }

    pub(crate) fn head_current(&self) -> Check {
        let sha = self.identity.sha.as_str();
        if self.push {
            return match self.request.head_sha.as_deref() {
                Some(head) if same_sha(head, sha) => met(format!(
                    "the pushed head {} is the commit the token names",
                    short_sha(sha)
                )),
                Some(head) => unmet(format!(
                    "the event's head commit {} is not the commit the token names ({})",
                    short_sha(head),
                    short_sha(sha)
                )),
                None => unmet("the push event names no head commit"),
            };
        }
        let pr = self.pr?;
        let head = pr.head_sha.as_str();
        // SECURITY: the head is read again in the last wave, after the reviews: a push in
        // between means the approvals may be for code that no longer runs.
        match self.evidence.pr_head_now.as_deref() {
            Some(now) if same_sha(now, head) => {}
            Some(now) => {
                return unmet(format!(
                    "#{}'s head moved from {} to {} while the request was checked",
                    pr.number,
                    short_sha(head),
                    if now.is_empty() {
                        "(gone)"
                    } else {
                        short_sha(now)
                    }
                ));
            }
            None => {
                return unmet(format!(
                    "#{}'s head was not read again before the decision",
                    pr.number
                ));
            }
        }
        if self.request.shape == Shape::Dispatch {
            return if same_sha(head, sha) {
                met(format!(
                    "#{}'s head {} is the commit this run builds",
                    pr.number,
                    short_sha(head)
                ))
            } else {
                unmet(format!(
                    "#{}'s head is now {}, but this run builds {}: approvals count only for \
                     the code that runs",
                    pr.number,
                    short_sha(head),
                    short_sha(sha)
                ))
            };
        }
        match self.request.head_sha.as_deref() {
            Some(event) if same_sha(event, head) => met(format!(
                "the event's head {} is #{}'s head",
                short_sha(head),
                pr.number
            )),
            Some(event) => unmet(format!(
                "the event names head {}, but #{}'s head is now {} (pushed since?)",
                short_sha(event),
                pr.number,
                short_sha(head)
            )),
            None => unmet("the event names no head commit"),
        }
    }

    /// SECURITY: a dispatch that names a PR counts that PR's approvals only if the PR asked
    /// for this scope itself; otherwise any approved PR whose head is the commit (a
    /// main-to-release merge, say) would launder its approvals into production access.
    pub(crate) fn pr_requests_scope(&self) -> Check {
        if self.request.shape != Shape::Dispatch || self.source != Source::PullRequest {
            return None;
        }
        let pr = self.pr?;
        let scope = self.scope?;
        let rules = &self.policy.request;
        let n = pr.number;
        let mut asked_for: Vec<String> = Vec::new();
        for label in &pr.labels {
            if let Some(mapped) = rules.labels.get(label) {
                if *mapped == scope.name {
                    return met(format!(
                        "#{n} carries label `{label}`, which asks for {mapped}"
                    ));
                }
                asked_for.push(mapped.clone());
            }
        }
        // A reason line in the body or a reason trailer in the head commit asks for the scope
        // named beside it (the same body or message), else for the dispatch's scope.
        let body = pr.body.as_deref().unwrap_or_default();
        let body_asks = !body_reason_lines(body, &rules.trailer).is_empty();
        let body_scopes = body_reason_lines(body, &rules.scope_trailer);
        let parsed = self
            .evidence
            .head_commit_message
            .as_deref()
            .map(trailers::parse)
            .unwrap_or_default();
        let commit_asks = parsed
            .iter()
            .any(|t| t.key.eq_ignore_ascii_case(&rules.trailer));
        let commit_scopes: Vec<String> = parsed
            .iter()
            .filter(|t| t.key.eq_ignore_ascii_case(&rules.scope_trailer))
            .map(|t| t.value.clone())
            .collect();
        for (asks, scopes, place) in [
            (body_asks, body_scopes, "body"),
            (commit_asks, commit_scopes, "head commit"),
        ] {
            if !asks {
                continue;
            }
            let wanted = match scopes.as_slice() {
                [] => self.request.scope.clone().unwrap_or_default(),
                [one] => one.trim().to_string(),
                _ => {
                    asked_for.push(format!("several scopes in its {place}"));
                    continue;
                }
            };
            if wanted == scope.name {
                return met(format!(
                    "#{n}'s {place} asks for production access (`{}:`) for {wanted}",
                    rules.trailer
                ));
            }
            asked_for.push(wanted);
        }
        if asked_for.is_empty() {
            unmet(format!(
                "#{n} asks for nothing: no label that `request.labels` maps to {}, no `{}:` line \
                 in its body or head commit; its approvals do not count for this dispatch",
                scope.name, rules.trailer
            ))
        } else {
            unmet(format!(
                "#{n} asks for {}, not for {}; its approvals do not count for this dispatch",
                quoted(&asked_for),
                scope.name
            ))
        }
    }

    pub(crate) fn trailer_present(&self) -> Check {
        if self.request.shape != Shape::Trailer {
            return None;
        }
        let Some(message) = self.evidence.head_commit_message.as_deref() else {
            return unmet("the head commit's message was not read from the API");
        };
        let parsed = trailers::parse(message);
        match check_trailers(&parsed, self.request, &self.policy.request) {
            Ok(detail) => met(detail),
            Err(detail) => unmet(detail),
        }
    }

    pub(crate) fn label_present(&self) -> Check {
        if self.request.shape != Shape::Label {
            return None;
        }
        let pr = self.pr?;
        match self.request.label.as_deref() {
            // SECURITY: only a label the policy maps asks for access, whatever input `scope`.
            Some(label) if !self.policy.request.labels.contains_key(label) => unmet(format!(
                "label `{label}` is not a request label (`request.labels`)"
            )),
            Some(label) if pr.labels.iter().any(|l| l == label) => {
                met(format!("label `{label}` is on #{}", pr.number))
            }
            Some(label) => unmet(format!(
                "label `{label}` is no longer on #{} (removed before the job ran?)",
                pr.number
            )),
            None => unmet("the request names no label"),
        }
    }

    pub(crate) fn label_added_by_writer(&self) -> Check {
        if self.request.shape != Shape::Label {
            return None;
        }
        let Some(label) = self.request.label.as_deref() else {
            return unmet("the request names no label");
        };
        let event = match &self.evidence.label_event {
            Some(e) if e.label == label => e,
            Some(e) => {
                return unmet(format!(
                    "the issue events name label `{}`, not `{label}`",
                    e.label
                ));
            }
            None => {
                return unmet(format!(
                    "no `labeled` event for `{label}` was found in the issue events"
                ));
            }
        };
        let Some(actor) = event.actor.as_ref() else {
            return unmet(format!("the `labeled` event for `{label}` names no actor"));
        };
        if actor.is_bot() {
            return unmet(format!(
                "label `{label}` was added by a bot, {}",
                actor.login
            ));
        }
        match approvals::permission_check(actor, self.evidence) {
            Ok(()) => met(format!(
                "label `{label}` was added by {}, who has write permission",
                actor.login
            )),
            Err(why) => unmet(format!(
                "label `{label}` was added by {}: {why}",
                actor.login
            )),
        }
    }

    // --- approvals ---------------------------------------------------------------------

    pub(crate) fn approval_filter(&self, id: RequirementId) -> Check {
        let tally = self.tally.as_ref()?;
        let scope = self.scope?;
        let pr_head = match &tally.target {
            ApprovalTarget::PullRequest { head_sha, .. } => Some(head_sha.as_str()),
            ApprovalTarget::Deployment { .. } => None,
        };
        if id == RequirementId::FreshApproval && pr_head.is_none() {
            return None; // deployment approvals are for this run
        }
        let discards = tally.discarded_for(id);
        if discards.is_empty() {
            let ok = match id {
                RequirementId::FreshApproval if !scope.approvals.fresh => {
                    "`approvals.fresh` is false: approvals on any commit count".to_string()
                }
                RequirementId::FreshApproval => format!(
                    "no approval on an older commit (head {})",
                    short_sha(pr_head.unwrap_or_default())
                ),
                RequirementId::NotSelfApproved if scope.approvals.strict => {
                    "no approval by the PR author, the requester or a commit author".to_string()
                }
                RequirementId::NotSelfApproved => {
                    "no approval by the PR author or the requester".to_string()
                }
                RequirementId::NotBotApproved => "no approval by a bot".to_string(),
                RequirementId::ApproverPermission => {
                    "no approval by someone without write permission".to_string()
                }
                _ if scope.approvals.from.is_empty() => {
                    "`approvals.from` is empty: anyone with write permission".to_string()
                }
                _ => format!("no approval from outside {}", tally.from),
            };
            return met(ok);
        }
        let list = format!("not counted: {}", discards.join("; "));
        if tally.missing() > 0 {
            unmet(list)
        } else {
            met(format!("{list}; enough other approvals count"))
        }
    }

    pub(crate) fn approvals_count(&self) -> Check {
        let tally = self.tally.as_ref()?;
        let scope = self.scope?;
        let counted = tally
            .counted
            .iter()
            .map(|a| match &a.sha {
                Some(sha) => format!("{} on {}", a.user.login, short_sha(sha)),
                None => a.user.login.clone(),
            })
            .collect::<Vec<_>>();
        if tally.required == 0 {
            return if scope.break_glass {
                met(format!(
                    "break-glass: scope {} needs no approval (the audit marks it BREAK-GLASS)",
                    scope.name
                ))
            } else {
                // SECURITY: the policy compiler refuses this; never grant on it regardless.
                unmet(format!(
                    "scope {} requires 0 approvals without `break_glass: true`",
                    scope.name
                ))
            };
        }
        let missing = tally.missing();
        if missing == 0 {
            return met(format!(
                "{} of {} required from {}: {}",
                counted.len(),
                plural(scope.approvals.required as usize, "approval", "approvals"),
                tally.from,
                counted.join(", ")
            ));
        }
        let noun = if missing == 1 {
            "approval"
        } else {
            "approvals"
        };
        let mut sentence = match &tally.target {
            ApprovalTarget::PullRequest { head_sha, .. } => format!(
                "needs {} more {} from {} on {}",
                missing,
                noun,
                tally.from,
                short_sha(head_sha)
            ),
            ApprovalTarget::Deployment {
                environment: Some(env),
            } => format!(
                "needs {} more deployment {} for environment {env} from {}",
                missing, noun, tally.from
            ),
            ApprovalTarget::Deployment { environment: None } => format!(
                "needs {} more deployment {} from {}, but the job has no environment \
                 (set `environment:` on the job, or use input `pull-request`)",
                missing, noun, tally.from
            ),
        };
        if !counted.is_empty() {
            sentence.push_str(&format!(" (counted: {})", counted.join(", ")));
        }
        for why in tally.all_discards().into_iter().map(str::to_string) {
            sentence.push_str("; ");
            sentence.push_str(&why);
        }
        for note in &tally.ignored {
            sentence.push_str("; ");
            sentence.push_str(note);
        }
        unmet(sentence)
    }

    pub(crate) fn no_changes_requested(&self) -> Check {
        let tally = self.tally.as_ref()?;
        if tally.blockers.is_empty() {
            return met(match tally.target {
                ApprovalTarget::PullRequest { .. } => "no blocking change request",
                ApprovalTarget::Deployment { .. } => "no rejection of the deployment",
            });
        }
        unmet(
            tally
                .blockers
                .iter()
                .map(|b| b.detail.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    pub(crate) fn not_already_granted(&self) -> Check {
        let scope = self.request.scope.as_deref().unwrap_or("(no scope)");
        if self.evidence.already_granted {
            unmet(format!(
                "run {} attempt {} already holds a grant for {scope}",
                self.identity.run_id, self.identity.run_attempt
            ))
        } else {
            met(format!(
                "no earlier grant for run {} attempt {}",
                self.identity.run_id, self.identity.run_attempt
            ))
        }
    }
}

/// The trailer shape, read again from the head commit as the API returns it: exactly one
/// reason trailer equal to the request's reason, and, where the head commit has a scope
/// trailer, exactly one, equal to the request's scope. Keys compare case-insensitively, as git
/// matches trailer tokens, so `prod-access:` and `Prod-Access:` together are ambiguous.
pub fn check_trailers(
    parsed: &[Trailer],
    request: &Request,
    rules: &RequestRules,
) -> Result<String, String> {
    let values = |key: &str| -> Vec<String> {
        parsed
            .iter()
            .filter(|t| t.key.eq_ignore_ascii_case(key))
            .map(|t| t.value.trim().to_string())
            .collect()
    };
    let reasons = values(&rules.trailer);
    let scopes = values(&rules.scope_trailer);
    let key = &rules.trailer;
    let reason = match reasons.as_slice() {
        [] => {
            return Err(format!(
                "the head commit, as the API returns it, has no `{key}:` trailer in its last \
                 paragraph"
            ));
        }
        [one] => one,
        many => {
            return Err(format!(
                "the head commit has `{key}` {} times: {}",
                many.len(),
                quoted(many)
            ));
        }
    };
    if Some(reason.as_str()) != request.reason.as_deref().map(str::trim) {
        return Err(format!(
            "the head commit's `{key}:` is \"{reason}\", the request's reason is \"{}\"",
            request.reason.as_deref().unwrap_or_default()
        ));
    }
    let skey = &rules.scope_trailer;
    match scopes.as_slice() {
        [] if request.scope_source == Some(ScopeSource::Event) => Err(format!(
            "the request's scope comes from a `{skey}:` trailer the head commit does not have"
        )),
        [] => Ok(format!("the head commit has `{key}: {reason}`")),
        [one] if Some(one.as_str()) == request.scope.as_deref() => Ok(format!(
            "the head commit has `{key}: {reason}` and `{skey}: {one}`"
        )),
        [one] => Err(format!(
            "the head commit's `{skey}:` is \"{one}\", the request's scope is \"{}\"",
            request.scope.as_deref().unwrap_or_default()
        )),
        many => Err(format!(
            "the head commit has `{skey}` {} times: {}",
            many.len(),
            quoted(many)
        )),
    }
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests;
