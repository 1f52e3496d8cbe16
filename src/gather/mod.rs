//! Gathering the facts of a decision: [`evidence`] asks exactly what the rules need, with
//! confirmed arguments; the waves below decide which of those questions to ask ahead, from
//! hints.

//!
//! `grant` reads its facts in three sequential round trips (plus the audit comment): the
//! questions it will ask are known, up to their arguments, from hints it has before any
//! answer: the event file (PR number, head sha, label), `GITHUB_RUN_ID`, `GITHUB_SHA`, the
//! inputs, and the unverified claims of the job token. [`first_wave`] lists what can be
//! asked at once from those; [`second_wave`] what the first answers make askable (the
//! permissions and team memberships of the users the answers name, the PR head read again
//! after the reviews). The job token is requested beside the first wave and verified beside
//! the second (its issuer comes from the policy the first wave read).
//!
//! The answers go into a [`Memo`]; the pipeline then runs as if nothing had been fetched,
//! asking with arguments it confirmed, and takes an answer only where its question equals
//! one asked here. SECURITY: nothing here decides anything; a wrong hint costs a round trip.

pub mod evidence;

pub use evidence::{gather_evidence, reparse_with_head_commit};

use serde_json::Value;

use crate::decide::approvals::latest_opinions;
use crate::decide::{RequestInputs, resolve_request};
use crate::event::{EventOutcome, RequestKeys, parse_event};
use crate::forge::{Ask, Forge, Memo, RepoRef};
use crate::policy::Policy;

/// What the job knows before any answer. Every field is a hint.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// `GITHUB_EVENT_NAME`.
    pub event_name: String,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<u64>,
    /// The PR the event names (`pull_request.number`), or the dispatch's `pull-request`.
    pub pr: Option<u64>,
    /// The label a `labeled` event added.
    pub label: Option<String>,
    /// The commit whose message may carry a trailer: the PR head the event names (a PR event
    /// other than `labeled`), the pushed head (push), the commit the run builds (dispatch
    /// with a PR).
    pub commit: Option<String>,
    /// A push: its PR is found through the commit.
    pub push: bool,
    /// A dispatch without a PR: the run's deployment approvals count.
    pub deployment: bool,
}

impl Hints {
    /// Reads the hints from the runner's event name, `GITHUB_RUN_ID`, `GITHUB_SHA`, the
    /// input `pull-request` and the event payload (read leniently: the pipeline parses it
    /// strictly later).
    pub fn read(
        event_name: &str,
        run_id: Option<&str>,
        sha: Option<&str>,
        pull_request_input: Option<u64>,
        payload: &[u8],
    ) -> Self {
        let v: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let text = |pointer: &str| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let number = |pointer: &str| match v.pointer(pointer) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let mut hints = Self {
            event_name: event_name.to_string(),
            run_id: run_id.and_then(|r| r.trim().parse().ok()),
            ..Self::default()
        };
        match event_name {
            "pull_request" | "pull_request_target" => {
                hints.pr = number("/pull_request/number");
                if text("/action").as_deref() == Some("labeled") {
                    hints.label = text("/label/name");
                } else {
                    hints.commit = text("/pull_request/head/sha");
                }
            }
            "push" => {
                hints.push = true;
                hints.commit = text("/after").or_else(|| sha.map(str::to_string));
            }
            "workflow_dispatch" => {
                hints.pr = pull_request_input
                    .or_else(|| number("/inputs/pull-request"))
                    .or_else(|| number("/inputs/pull_request"));
                hints.deployment = hints.pr.is_none();
                if hints.pr.is_some() {
                    hints.commit = sha.map(str::to_string);
                }
            }
            _ => {}
        }
        hints
    }
}

/// The first wave: the repository, the policy on the default branch, the run, the PR and
/// what hangs off it, the head commit's message, the identity the token posts as.
pub fn first_wave(repo: &RepoRef, policy_path: &str, hints: &Hints) -> Vec<Ask> {
    let mut asks = vec![
        Ask::Repository(repo.clone()),
        Ask::Policy(repo.clone(), policy_path.to_string(), None),
    ];
    if let Some(run_id) = hints.run_id {
        asks.push(Ask::Run(repo.clone(), run_id));
        if hints.deployment {
            asks.push(Ask::RunApprovals(repo.clone(), run_id));
        }
    }
    if let Some(n) = hints.pr {
        asks.extend(pr_asks(repo, n));
        if let Some(label) = &hints.label {
            asks.push(Ask::LabelEvent(repo.clone(), n, label.clone()));
        }
    }
    if let Some(sha) = &hints.commit {
        asks.push(Ask::CommitMessage(repo.clone(), sha.clone()));
        if hints.push {
            asks.push(Ask::CommitPulls(repo.clone(), sha.clone()));
        }
    }
    asks
}

fn pr_asks(repo: &RepoRef, n: u64) -> [Ask; 4] {
    [
        Ask::PullRequest(repo.clone(), n),
        Ask::Reviews(repo.clone(), n),
        Ask::Comments(repo.clone(), n),
        Ask::Viewer,
    ]
}

/// The second wave's questions, and the event as it parsed it (for the pipeline to take
/// when the token confirms the event name and the policy is the same).
#[derive(Debug, Default)]
pub struct SecondWave {
    pub asks: Vec<Ask>,
    pub event: Option<ParsedEvent>,
}

/// The event file parsed once: under which event name and request keys, and what it said.
#[derive(Debug, Clone)]
pub struct ParsedEvent {
    pub event_name: String,
    pub keys: RequestKeys,
    pub outcome: EventOutcome,
}

impl ParsedEvent {
    /// The outcome, if it was parsed as `event_name` with `keys`; else `None` (parse again).
    pub fn reuse(self, event_name: &str, keys: &RequestKeys) -> Option<EventOutcome> {
        (self.event_name == event_name && &self.keys == keys).then_some(self.outcome)
    }
}

/// The second wave, from the first one's answers: permissions of everyone they name (the
/// token's actor as its unverified claim says, the run's actors, the labeler, every
/// reviewer with an opinion), the team memberships the request's scope asks about, the PR
/// read again (after the reviews), its commit authors under `strict`. For a push, the
/// merged PR the commit belongs to and what hangs off it.
pub fn second_wave<F: Forge>(
    memo: &Memo<'_, F>,
    repo: &RepoRef,
    hints: &Hints,
    policy: Option<&Policy>,
    inputs: &RequestInputs,
    payload: &[u8],
    actor: Option<&str>,
) -> SecondWave {
    let mut wave = SecondWave::default();
    let Some(policy) = policy else {
        return wave;
    };
    let keys = RequestKeys::of(policy);
    let message = hints
        .commit
        .as_deref()
        .and_then(|sha| memo.peek_commit_message(repo, sha));
    let Ok(outcome) = parse_event(&hints.event_name, payload, &keys, message.as_deref()) else {
        return wave;
    };
    wave.event = Some(ParsedEvent {
        event_name: hints.event_name.clone(),
        keys,
        outcome: outcome.clone(),
    });
    let EventOutcome::Request(event) = outcome else {
        return wave;
    };
    let asks = &mut wave.asks;
    let request = resolve_request(event, &hints.event_name, inputs, policy);
    let scope = request.scope.as_ref().and_then(|s| policy.scopes.get(s));

    let mut pr = hints.pr;
    if hints.push
        && let Some(sha) = &hints.commit
    {
        // The merged PR the pushed commit came from, as the pipeline will pick it.
        let branch = hints.push_branch(payload);
        let merged: Vec<u64> = memo
            .peek_commit_pulls(repo, sha)
            .into_iter()
            .filter(|p| p.merged && Some(p.base_ref.as_str()) == branch.as_deref())
            .map(|p| p.number)
            .collect();
        if let [one] = merged.as_slice() {
            asks.extend(pr_asks(repo, *one));
        }
        pr = None;
    }

    let mut requesters: Vec<String> = actor.map(str::to_string).into_iter().collect();
    let mut approvers: Vec<String> = Vec::new();
    if let Some(run) = hints.run_id.and_then(|id| memo.peek_run(repo, id)) {
        requesters.extend(run.actor.map(|u| u.login));
        requesters.extend(run.triggering_actor.map(|u| u.login));
    }
    let mut others: Vec<String> = Vec::new();
    if let Some(n) = pr {
        approvers.extend(
            latest_opinions(&memo.peek_reviews(repo, n))
                .into_iter()
                .filter_map(|r| r.user.as_ref().map(|u| u.login.clone())),
        );
        if let Some(label) = &hints.label
            && let Some(actor) = memo.peek_label_event(repo, n, label).and_then(|e| e.actor)
        {
            others.push(actor.login);
        }
        // SECURITY: read again after the reviews were read (they were, in the first wave).
        asks.push(Ask::PullRequest(repo.clone(), n));
        if scope.is_some_and(|s| s.approvals.strict) {
            asks.push(Ask::PrCommitAuthors(repo.clone(), n));
        }
    }
    for login in requesters.iter().chain(&approvers).chain(&others) {
        asks.push(Ask::Permission(repo.clone(), login.to_ascii_lowercase()));
    }
    if let Some(scope) = scope {
        for (org, team, users) in evidence::team_questions(scope, &approvers, &requesters) {
            let (org, team) = (org.to_ascii_lowercase(), team.to_ascii_lowercase());
            asks.push(Ask::TeamVisible(org.clone(), team.clone()));
            for login in users {
                asks.push(Ask::TeamMembership(
                    org.clone(),
                    team.clone(),
                    login.to_ascii_lowercase(),
                ));
            }
        }
    }
    wave
}

impl Hints {
    /// The branch a push went to (`refs/heads/<branch>` of the payload's `ref`).
    fn push_branch(&self, payload: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(payload).ok()?;
        v.get("ref")?
            .as_str()?
            .strip_prefix("refs/heads/")
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoRef {
        RepoRef::parse("acme/payments").unwrap_or_else(|| panic!("repo"))
    }

    #[test]
    fn a_labeled_event_asks_for_the_pr_its_reviews_label_events_and_comments() {
        let payload = br#"{"action":"labeled","label":{"name":"hotfix"},
            "pull_request":{"number":42,"head":{"sha":"abc"}}}"#;
        let hints = Hints::read("pull_request_target", Some("7"), None, None, payload);
        assert_eq!(hints.pr, Some(42));
        assert_eq!(hints.label.as_deref(), Some("hotfix"));
        assert_eq!(hints.commit, None);
        let asks = first_wave(&repo(), ".github/prod-access.yml", &hints);
        for ask in [
            Ask::Run(repo(), 7),
            Ask::PullRequest(repo(), 42),
            Ask::Reviews(repo(), 42),
            Ask::Comments(repo(), 42),
            Ask::Viewer,
            Ask::LabelEvent(repo(), 42, "hotfix".into()),
            Ask::Policy(repo(), ".github/prod-access.yml".into(), None),
        ] {
            assert!(asks.contains(&ask), "{ask:?} missing from {asks:?}");
        }
    }

    #[test]
    fn a_parsed_event_serves_only_the_same_event_name_and_keys() {
        use crate::event::{EventOutcome, RequestKeys};
        let keys = RequestKeys::default();
        let parsed = || ParsedEvent {
            event_name: "pull_request_target".into(),
            keys: keys.clone(),
            outcome: EventOutcome::NoRequest { why: "x".into() },
        };
        assert!(parsed().reuse("pull_request_target", &keys).is_some());
        // the token names another event: parse again as that event
        assert!(parsed().reuse("push", &keys).is_none());
        let mut other = keys.clone();
        other.trailer = "Other-Key".into();
        assert!(parsed().reuse("pull_request_target", &other).is_none());
    }

    #[test]
    fn hints_that_do_not_parse_ask_for_less_never_for_something_else() {
        let hints = Hints::read("pull_request", Some("not-a-number"), None, None, b"[");
        assert_eq!((hints.run_id, hints.pr), (None, None));
        let asks = first_wave(&repo(), "p.yml", &hints);
        assert_eq!(asks.len(), 2, "{asks:?}");
    }

    #[test]
    fn a_dispatch_with_a_pr_asks_for_the_commit_the_run_builds() {
        let payload = br#"{"inputs":{"pull-request":"9","reason":"x"}}"#;
        let hints = Hints::read("workflow_dispatch", Some("1"), Some("def"), None, payload);
        assert_eq!((hints.pr, hints.commit.as_deref()), (Some(9), Some("def")));
        assert!(!hints.deployment);
        let none = Hints::read("workflow_dispatch", Some("1"), Some("def"), None, b"{}");
        assert!(none.deployment && none.commit.is_none());
        assert!(first_wave(&repo(), "p.yml", &none).contains(&Ask::RunApprovals(repo(), 1)));
    }
}
