//! Decision tests: one positive and one negative case per requirement (table), then the
//! attack-catalogue rows (named `<category>_<number>_...`), then the sentences.
//!
//! Tests that read trailers with git's rules (`crate::event::trailers::parse`) live in
//! `mod trailer_rules`.

use std::time::Duration;

use serde_json::json;

use super::check_trailers;
use super::test_support::*;
use crate::decide::RequirementId::{self, *};
use crate::event::trailers::Trailer;
use crate::facts::{LabelEvent, Membership, Permission, Review, ReviewState, UserRef};
use crate::policy::Principal;

type Mutation = fn(&mut Scenario);

struct Row {
    id: RequirementId,
    /// The baseline (granted as built) in which `id` applies.
    base: fn() -> Scenario,
    /// One change that must leave exactly `unmet` unmet.
    mutate: Mutation,
    unmet: &'static [RequirementId],
}

fn rows() -> Vec<Row> {
    let label = Scenario::label as fn() -> Scenario;
    vec![
        Row {
            id: RequestUnambiguous,
            base: label,
            mutate: |s| {
                s.request.ambiguous =
                    vec![("Prod-Access".into(), vec!["INC-1".into(), "INC-2".into()])]
            },
            unmet: &[RequestUnambiguous],
        },
        Row {
            id: ScopeKnown,
            base: label,
            mutate: |s| s.request.scope = Some("db-admin".into()),
            unmet: &[ScopeKnown],
        },
        Row {
            id: ReasonPresent,
            base: label,
            mutate: |s| s.request.reason = None,
            // the pattern cannot match a missing reason either
            unmet: &[ReasonPresent, ReasonPattern],
        },
        Row {
            id: ReasonPattern,
            base: label,
            mutate: |s| {
                s.request.reason = Some("just looking".into());
                s.pr_mut().body = Some("Prod-Access: just looking".into());
            },
            unmet: &[ReasonPattern],
        },
        Row {
            id: TtlWithinMax,
            base: label,
            mutate: |s| s.request.ttl = Some(Duration::from_secs(3 * 3600)),
            unmet: &[TtlWithinMax],
        },
        Row {
            id: RunnerEnvConsistent,
            base: label,
            mutate: |s| s.runner.repository = Some("evil/payments".into()),
            unmet: &[RunnerEnvConsistent],
        },
        Row {
            id: RepositoryIdentity,
            base: label,
            mutate: |s| s.evidence.repository_id = Some(456),
            unmet: &[RepositoryIdentity],
        },
        Row {
            id: IdentityClaims,
            base: label,
            // BIND 27: the workflow of a PR merge ref
            mutate: |s| {
                s.identity.claims.insert(
                    "job_workflow_ref".into(),
                    json!("acme/payments/.github/workflows/prod-access.yml@refs/pull/7/merge"),
                );
            },
            unmet: &[IdentityClaims],
        },
        Row {
            id: EnvironmentAllowed,
            base: label,
            mutate: |s| s.identity.environment = Some("staging".into()),
            unmet: &[EnvironmentAllowed],
        },
        Row {
            id: RunConsistent,
            base: label,
            mutate: |s| s.run_mut().head_sha = OLD.into(),
            unmet: &[RunConsistent],
        },
        Row {
            id: RequesterAllowed,
            base: label,
            mutate: |s| {
                s.scope_mut().requesters = vec![Principal::Team {
                    org: "acme".into(),
                    team: "backend".into(),
                }]
            },
            unmet: &[RequesterAllowed],
        },
        Row {
            id: PrFound,
            base: label,
            mutate: |s| s.evidence.pull_request = None,
            unmet: &[PrFound],
        },
        Row {
            id: PrState,
            base: label,
            mutate: |s| s.pr_mut().state = "closed".into(),
            unmet: &[PrState],
        },
        Row {
            id: NotFromFork,
            base: label,
            mutate: |s| s.pr_mut().from_fork = true,
            // a fork's run lists no PR: nothing binds it without `allow_forks` either
            unmet: &[RunConsistent, NotFromFork],
        },
        Row {
            id: HeadCurrent,
            base: label,
            mutate: |s| s.request.head_sha = Some(OLD.into()),
            unmet: &[HeadCurrent],
        },
        Row {
            id: PrRequestsScope,
            base: Scenario::dispatch_pr,
            mutate: |s| {
                s.pr_mut().labels = Vec::new();
                s.pr_mut().body = Some("Release: merge main.".into());
            },
            unmet: &[PrRequestsScope],
        },
        Row {
            id: LabelPresent,
            base: label,
            mutate: |s| s.pr_mut().labels = vec!["bug".into()],
            unmet: &[LabelPresent],
        },
        Row {
            id: LabelAddedByWriter,
            base: label,
            mutate: |s| {
                s.set_permission("mallory", Permission::Read);
                s.evidence.label_event = Some(LabelEvent {
                    label: "prod-access".into(),
                    actor: Some(user("mallory", 66)),
                    created_at: at(2),
                });
            },
            unmet: &[LabelAddedByWriter],
        },
        Row {
            id: FreshApproval,
            base: label,
            mutate: |s| {
                s.evidence.reviews = vec![review(100, alice(), ReviewState::Approved, OLD, 5)]
            },
            unmet: &[FreshApproval, ApprovalsCount],
        },
        Row {
            id: NotSelfApproved,
            base: label,
            mutate: |s| {
                s.set_membership("acme/sre", "dave", Membership::Active);
                s.evidence.reviews = vec![approve(100, dave(), 5)];
            },
            unmet: &[NotSelfApproved, ApprovalsCount],
        },
        Row {
            id: NotBotApproved,
            base: label,
            mutate: |s| {
                s.set_permission("renovate[bot]", Permission::Write);
                s.set_membership("acme/sre", "renovate[bot]", Membership::Active);
                s.evidence.reviews = vec![approve(100, user("renovate[bot]", 77), 5)];
            },
            unmet: &[NotBotApproved, ApprovalsCount],
        },
        Row {
            id: ApproverPermission,
            base: label,
            mutate: |s| s.set_permission("alice", Permission::Read),
            unmet: &[ApproverPermission, ApprovalsCount],
        },
        Row {
            id: ApproverInGroup,
            base: label,
            mutate: |s| s.set_membership("acme/sre", "alice", Membership::NotMember),
            unmet: &[ApproverInGroup, ApprovalsCount],
        },
        Row {
            id: ApprovalsCount,
            base: label,
            mutate: |s| s.evidence.reviews.clear(),
            unmet: &[ApprovalsCount],
        },
        Row {
            id: NoChangesRequested,
            base: label,
            mutate: |s| {
                s.evidence
                    .reviews
                    .push(review(101, bob(), ReviewState::ChangesRequested, HEAD, 6))
            },
            unmet: &[NoChangesRequested],
        },
        Row {
            id: NotAlreadyGranted,
            base: label,
            mutate: |s| s.evidence.already_granted = true,
            unmet: &[NotAlreadyGranted],
        },
    ]
}

#[test]
fn every_requirement_met_in_baseline_and_unmet_after_one_change() {
    for row in rows() {
        let base = (row.base)();
        let d = base.decide();
        assert_granted(&d);
        let r = d
            .requirement(row.id)
            .unwrap_or_else(|| panic!("{} not evaluated in its baseline", row.id));
        assert!(r.met, "{}: {}", row.id, r.detail);
        assert!(!r.detail.is_empty(), "{} has no detail", row.id);

        let mut s = base.clone();
        (row.mutate)(&mut s);
        let d = s.decide();
        assert_denied(&d, row.unmet);
        let r = d
            .requirement(row.id)
            .unwrap_or_else(|| panic!("{} not evaluated after the change", row.id));
        assert!(!r.detail.is_empty(), "{} has no detail", row.id);
    }
}

#[test]
fn the_table_covers_every_requirement() {
    let mut covered: Vec<RequirementId> = rows().iter().map(|r| r.id).collect();
    // trailer-present: `trailer_rules::trailer_present_met_and_unmet`, plus
    // `trailer_present_unmet_without_message` here.
    covered.push(TrailerPresent);
    covered.sort();
    let mut all = RequirementId::ALL.to_vec();
    all.sort();
    assert_eq!(covered, all);
}

#[test]
fn every_baseline_is_granted() {
    for (name, s) in [
        ("label", Scenario::label()),
        ("dispatch_pr", Scenario::dispatch_pr()),
        ("dispatch_deploy", Scenario::dispatch_deploy()),
    ] {
        let d = s.decide();
        assert!(d.granted(), "{name}: {:#?}", d.unmet().collect::<Vec<_>>());
    }
}

#[test]
fn requirements_are_reported_in_order_and_by_shape() {
    let evaluated = |s: Scenario| -> Vec<RequirementId> {
        s.decide().requirements.iter().map(|r| r.id).collect()
    };
    let all_but = |skip: &[RequirementId]| -> Vec<RequirementId> {
        RequirementId::ALL
            .iter()
            .copied()
            .filter(|id| !skip.contains(id))
            .collect()
    };
    assert_eq!(
        evaluated(Scenario::label()),
        all_but(&[PrRequestsScope, TrailerPresent])
    );
    assert_eq!(
        evaluated(Scenario::trailer_pr()),
        all_but(&[PrRequestsScope, LabelPresent, LabelAddedByWriter])
    );
    assert_eq!(
        evaluated(Scenario::trailer_push()),
        all_but(&[PrRequestsScope, LabelPresent, LabelAddedByWriter])
    );
    assert_eq!(
        evaluated(Scenario::dispatch_pr()),
        all_but(&[TrailerPresent, LabelPresent, LabelAddedByWriter])
    );
    assert_eq!(
        evaluated(Scenario::dispatch_deploy()),
        all_but(&[
            PrFound,
            PrState,
            NotFromFork,
            HeadCurrent,
            PrRequestsScope,
            TrailerPresent,
            LabelPresent,
            LabelAddedByWriter,
            FreshApproval,
        ])
    );
}

#[test]
fn granted_decision_carries_scope_ttl_approvers_and_requester() {
    let d = Scenario::label().decide();
    assert_granted(&d);
    assert_eq!(d.scope.as_deref(), Some("db-read"));
    assert_eq!(d.ttl, Some(Duration::from_secs(15 * 60)));
    assert_eq!(d.approvers.len(), 1);
    assert_eq!(d.approvers[0].user, alice());
    assert_eq!(d.approvers[0].sha.as_deref(), Some(HEAD));
    assert_eq!(d.requester, carol());
    assert!(!d.break_glass);

    let mut s = Scenario::label();
    s.request.ttl = Some(Duration::from_secs(3600));
    assert_eq!(s.decide().ttl, Some(Duration::from_secs(3600)));
}

#[test]
fn unknown_scope_stops_at_what_can_be_reported() {
    let mut s = Scenario::label();
    s.request.scope = Some("db-admin".into());
    let d = s.decide();
    assert_denied(&d, &[ScopeKnown]);
    assert_eq!(d.scope, None);
    assert_eq!(d.ttl, None);
    assert!(d.approvers.is_empty());
    for id in [
        TtlWithinMax,
        EnvironmentAllowed,
        RequesterAllowed,
        NotFromFork,
        FreshApproval,
        ApprovalsCount,
        NoChangesRequested,
    ] {
        assert!(
            d.requirement(id).is_none(),
            "{id} evaluated without a scope"
        );
    }
    assert!(detail(&d, ScopeKnown).contains("\"db-admin\" is not in the policy"));

    let mut s = Scenario::label();
    s.request.scope = None;
    let d = s.decide();
    assert_denied(&d, &[ScopeKnown]);
    assert!(detail(&d, ScopeKnown).contains("no scope was asked for"));
}

#[test]
fn missing_pr_stops_the_pr_requirements() {
    let mut s = Scenario::label();
    s.evidence.pull_request = None;
    let d = s.decide();
    assert_denied(&d, &[PrFound]);
    for id in [
        PrState,
        NotFromFork,
        HeadCurrent,
        LabelPresent,
        ApprovalsCount,
    ] {
        assert!(d.requirement(id).is_none(), "{id} evaluated without a PR");
    }
    assert!(detail(&d, PrFound).contains("#7 was not found"));
}

#[test]
fn another_pr_than_the_request_names_is_not_found() {
    let mut s = Scenario::label();
    s.pr_mut().number = 8;
    let d = s.decide();
    assert_denied(&d, &[PrFound]);
    assert_eq!(
        detail(&d, PrFound),
        "the request names #7, the API returned #8"
    );
}

// --- BIND, GHA: identity and runner ---------------------------------------------------

#[test]
fn bind_26_repository_of_another_name_or_another_id() {
    // The token is for evil/payments (its own id): the claim does not match the policy.
    let mut s = Scenario::label();
    s.identity.repository = "evil/payments".into();
    s.identity.repository_id = 999;
    s.identity
        .claims
        .insert("repository".into(), json!("evil/payments"));
    s.identity
        .claims
        .insert("repository_id".into(), json!("999"));
    s.runner.repository = Some("evil/payments".into());
    s.evidence.repository_id = Some(999);
    let d = s.decide();
    assert_denied(&d, &[IdentityClaims]);
    assert!(detail(&d, IdentityClaims).contains("\"evil/payments\", which matches none of"));

    // The name acme/payments now belongs to another repository.
    let mut s = Scenario::label();
    s.evidence.repository_id = Some(456);
    assert_denied(&s.decide(), &[RepositoryIdentity]);
    // The id was never read.
    let mut s = Scenario::label();
    s.evidence.repository_id = None;
    assert_denied(&s.decide(), &[RepositoryIdentity]);
}

#[test]
fn bind_28_dispatch_on_a_feature_branch_workflow() {
    let mut s = Scenario::dispatch_pr();
    s.policy = policy(); // binds the workflow on main only
    assert_denied(&s.decide(), &[IdentityClaims]);
}

#[test]
fn bind_29_environment_not_allowed() {
    let mut s = Scenario::label();
    s.identity.environment = Some("staging".into());
    let d = s.decide();
    assert_denied(&d, &[EnvironmentAllowed]);
    assert_eq!(
        detail(&d, EnvironmentAllowed),
        "environment staging is not one scope db-read allows (production)"
    );
    // no environment at all
    let mut s = Scenario::label();
    s.identity.environment = None;
    assert_denied(&s.decide(), &[EnvironmentAllowed]);
    // GitHub environment names are case-insensitive
    let mut s = Scenario::label();
    s.identity.environment = Some("Production".into());
    assert_granted(&s.decide());
}

#[test]
fn bind_30_non_string_claims() {
    let mut s = Scenario::label();
    s.identity
        .claims
        .insert("repository".into(), json!(["acme/payments"]));
    let d = s.decide();
    assert_denied(&d, &[IdentityClaims]);
    assert!(detail(&d, IdentityClaims).contains("claim format"));

    let mut s = Scenario::label();
    s.policy
        .identity
        .claims
        .insert("run_attempt".into(), vec![glob("*")]);
    assert_granted(&s.decide());
    s.identity.claims.insert("run_attempt".into(), json!(1));
    let d = s.decide();
    assert_denied(&d, &[IdentityClaims]);
    assert!(detail(&d, IdentityClaims).contains("`run_attempt` has the wrong claim format"));

    // a claim the policy names that the token lacks
    let mut s = Scenario::label();
    s.identity.claims.remove("job_workflow_ref");
    assert_denied(&s.decide(), &[IdentityClaims]);
}

#[test]
fn bind_31_runner_env_disagrees() {
    let mut s = Scenario::label();
    s.runner.repository = Some("evil/payments".into());
    s.runner.run_id = Some("43".into());
    let d = s.decide();
    assert_denied(&d, &[RunnerEnvConsistent]);
    assert_eq!(
        detail(&d, RunnerEnvConsistent),
        "the runner environment disagrees with the verified token: GITHUB_REPOSITORY is \
         \"evil/payments\", the token says \"acme/payments\"; GITHUB_RUN_ID is \"43\", the \
         token says \"42\""
    );
    // every hint is compared
    type Set = fn(&mut Scenario);
    let each: [(&str, Set); 5] = [
        ("GITHUB_RUN_ATTEMPT", |s| {
            s.runner.run_attempt = Some("2".into())
        }),
        ("GITHUB_SHA", |s| s.runner.sha = Some(OLD.into())),
        ("GITHUB_REF", |s| {
            s.runner.git_ref = Some("refs/heads/x".into())
        }),
        ("GITHUB_ACTOR", |s| s.runner.actor = Some("alice".into())),
        ("GITHUB_REPOSITORY", |s| {
            s.runner.repository = Some("acme/Payments".into())
        }),
    ];
    for (name, set) in each {
        let mut s = Scenario::label();
        set(&mut s);
        let d = s.decide();
        assert_denied(&d, &[RunnerEnvConsistent]);
        assert!(detail(&d, RunnerEnvConsistent).contains(name), "{name}");
    }
    // unset hints are not compared
    let mut s = Scenario::label();
    s.runner = Default::default();
    assert_granted(&s.decide());
}

#[test]
fn gha_32_event_name_env_disagrees() {
    let mut s = Scenario::label();
    s.runner.event_name = Some("push".into());
    let d = s.decide();
    assert_denied(&d, &[RunnerEnvConsistent]);
    assert!(detail(&d, RunnerEnvConsistent).contains("GITHUB_EVENT_NAME is \"push\""));
}

#[test]
fn gha_33_fork_label_request_denied_by_default() {
    let mut s = Scenario::label();
    s.pr_mut().from_fork = true;
    let d = s.decide();
    // GitHub lists no PR on a fork's run: nothing binds it either.
    assert_denied(&d, &[RunConsistent, NotFromFork]);
    // allowed only where the scope says so (carol added the label and started the run)
    s.scope_mut().allow_forks = true;
    assert_granted(&s.decide());
}

#[test]
fn a_fork_pr_binds_only_when_the_labeler_started_the_run() {
    let mut s = Scenario::label();
    s.pr_mut().from_fork = true;
    s.scope_mut().allow_forks = true;
    s.evidence.label_event.as_mut().unwrap().actor = Some(alice());
    let d = s.decide();
    assert_denied(&d, &[RunConsistent]);
    assert!(detail(&d, RunConsistent).contains("alice added it and carol started the run"));
    // the trailer shape has no label to bind a fork's PR through
    let mut s = Scenario::trailer_pr();
    s.pr_mut().from_fork = true;
    s.scope_mut().allow_forks = true;
    assert_denied(&s.decide(), &[RunConsistent]);
}

#[test]
fn the_run_must_list_the_pr_at_its_head() {
    let mut s = Scenario::label();
    s.auto_bind = false;
    s.evidence.pr_head_now = Some(HEAD.into());
    // no PR listed (not a fork): nothing binds the event file's PR
    let d = s.decide();
    assert_denied(&d, &[RunConsistent]);
    assert!(detail(&d, RunConsistent).contains("lists no pull request"));
    let run = s.evidence.run.as_mut().unwrap();
    // another PR listed
    run.pull_requests = vec![crate::facts::RunPullRequest {
        number: 8,
        head_sha: HEAD.into(),
    }];
    let d = s.decide();
    assert_denied(&d, &[RunConsistent]);
    assert!(detail(&d, RunConsistent).contains("the run is for #8"));
    // the PR listed, at an older head
    s.evidence.run.as_mut().unwrap().pull_requests = vec![crate::facts::RunPullRequest {
        number: 7,
        head_sha: OLD.into(),
    }];
    assert_denied(&s.decide(), &[RunConsistent]);
    // the PR listed at its head
    s.evidence.run.as_mut().unwrap().pull_requests = vec![crate::facts::RunPullRequest {
        number: 7,
        head_sha: HEAD.into(),
    }];
    assert_granted(&s.decide());
}

#[test]
fn a_head_that_moved_after_the_reviews_were_read_denies() {
    let mut s = Scenario::label();
    s.evidence.pr_head_now = Some(OLD.into());
    let d = s.decide();
    assert_denied(&d, &[HeadCurrent]);
    assert!(detail(&d, HeadCurrent).contains("moved"));
    // never read again: denied too
    s.auto_bind = false;
    s.evidence.pr_head_now = None;
    s.evidence.run.as_mut().unwrap().pull_requests = vec![crate::facts::RunPullRequest {
        number: 7,
        head_sha: HEAD.into(),
    }];
    assert_denied(&s.decide(), &[HeadCurrent]);
}

#[test]
fn a_dispatch_counts_a_pr_only_when_it_asks_for_the_scope() {
    let mut s = Scenario::dispatch_pr();
    assert_granted(&s.decide());
    s.pr_mut().labels = Vec::new();
    s.pr_mut().body = Some("Merge main into release.".into());
    let d = s.decide();
    assert_denied(&d, &[PrRequestsScope]);
    assert!(detail(&d, PrRequestsScope).contains("asks for nothing"));
    // a reason line in the body asks for the dispatch's scope
    s.pr_mut().body = Some(format!("Fix.\r\n\r\nProd-Access: {REASON}\r\n"));
    assert_granted(&s.decide());
    // ... or for the scope named beside it
    s.pr_mut().body = Some(format!(
        "Fix.\n\nProd-Access: {REASON}\nProd-Access-Scope: db-write\n"
    ));
    let d = s.decide();
    assert_denied(&d, &[PrRequestsScope]);
    assert!(detail(&d, PrRequestsScope).contains("\"db-write\", not for db-read"));
    // a reason trailer in the head commit asks too
    s.pr_mut().body = None;
    s.evidence.head_commit_message = Some(trailer_message());
    assert_granted(&s.decide());
    // a label that maps to another scope does not
    s.evidence.head_commit_message = None;
    s.pr_mut().labels = vec!["hotfix".into()];
    assert_denied(&s.decide(), &[PrRequestsScope]);
}

#[test]
fn an_approver_whose_login_changed_hands_has_no_permission() {
    let mut s = Scenario::label();
    s.evidence
        .permission_user_ids
        .insert("alice".into(), 999_999);
    let d = s.decide();
    assert_denied(&d, &[ApproverPermission, ApprovalsCount]);
    assert!(detail(&d, ApproverPermission).contains("now belongs to account 999999"));
}

#[test]
fn gha_35_rerun_after_close_or_dismissal() {
    let mut s = Scenario::label();
    s.set_attempt(2);
    assert_granted(&s.decide());
    s.pr_mut().state = "closed".into();
    assert_denied(&s.decide(), &[PrState]);

    let mut s = Scenario::label();
    s.set_attempt(2);
    s.evidence.reviews[0].state = ReviewState::Dismissed;
    assert_denied(&s.decide(), &[ApprovalsCount]);
}

#[test]
fn run_consistency() {
    type Set = fn(&mut Scenario);
    let cases: [(&str, Set); 6] = [
        ("run absent", |s| s.evidence.run = None),
        ("run id", |s| s.run_mut().id = 41),
        ("run event", |s| s.run_mut().event = "push".into()),
        ("run attempt", |s| s.run_mut().run_attempt = 2),
        ("event file name", |s| s.request.event_name = "push".into()),
        ("shape vs event", |s| {
            // a label request cannot come from a push
            s.identity.event_name = "push".into();
            s.identity.claims.insert("event_name".into(), json!("push"));
            s.runner.event_name = Some("push".into());
            s.request.event_name = "push".into();
            s.run_mut().event = "push".into();
        }),
    ];
    for (name, set) in cases {
        let mut s = Scenario::label();
        set(&mut s);
        let d = s.decide();
        assert!(!d.granted(), "{name}");
        assert!(
            d.requirement(RunConsistent).is_some_and(|r| !r.met),
            "{name}: {:?}",
            d.requirement(RunConsistent)
        );
    }
}

#[test]
fn run_head_for_pull_request_events_is_the_pr_head() {
    // `pull_request`: the token's sha is the test merge commit, the run's head is the PR head.
    let mut s = Scenario::label();
    s.identity.event_name = "pull_request".into();
    s.identity.sha = MERGE.into();
    s.request.event_name = "pull_request".into();
    s.run_mut().event = "pull_request".into();
    s.run_mut().head_sha = HEAD.into();
    s.runner.event_name = Some("pull_request".into());
    s.runner.sha = Some(MERGE.into());
    let d = s.decide();
    assert!(
        d.requirement(RunConsistent).is_some_and(|r| r.met),
        "{d:#?}"
    );
    // a run whose head is not the PR head the event names
    s.run_mut().head_sha = OLD.into();
    let d = s.decide();
    assert!(d.requirement(RunConsistent).is_some_and(|r| !r.met));
}

// --- REQ: the request ------------------------------------------------------------------

#[test]
fn req_41_reason_missing_empty_or_off_pattern() {
    for reason in [None, Some(""), Some("   ")] {
        let mut s = Scenario::label();
        s.request.reason = reason.map(str::to_string);
        let d = s.decide();
        assert_denied(&d, &[ReasonPresent, ReasonPattern]);
        assert!(detail(&d, ReasonPresent).starts_with("no reason given"));
    }
    let mut s = Scenario::dispatch_deploy();
    s.request.reason = Some("because".into());
    let d = s.decide();
    assert_denied(&d, &[ReasonPattern]);
    assert_eq!(
        detail(&d, ReasonPattern),
        "reason \"because\" does not match `(INC|CHG)-[0-9]+` (searched anywhere in the reason)"
    );
    // no pattern in the policy: any reason
    s.policy.request.reason_pattern = None;
    assert_granted(&s.decide());
}

#[test]
fn label_reason_must_still_be_in_the_pr_body() {
    let mut s = Scenario::label();
    s.pr_mut().body = Some("Prod-Access: INC-1 something else".into());
    let d = s.decide();
    assert_denied(&d, &[ReasonPresent]);
    assert!(detail(&d, ReasonPresent).contains("differs from the `Prod-Access:` line of #7"));
    // a reason from the input is not looked for in the body
    s.request.reason_source = Some(crate::decide::request::ReasonSource::Input);
    assert_granted(&s.decide());
}

#[test]
fn req_42_ttl_above_max_is_denied_never_shortened() {
    let mut s = Scenario::label();
    s.request.ttl = Some(Duration::from_secs(3 * 3600));
    let d = s.decide();
    assert_denied(&d, &[TtlWithinMax]);
    assert_eq!(d.ttl, None);
    assert_eq!(
        detail(&d, TtlWithinMax),
        "ttl 3h (requested) is above max_ttl 1h of scope db-read: denied, never shortened"
    );
    // a zero ttl grants nothing
    s.request.ttl = Some(Duration::ZERO);
    assert_denied(&s.decide(), &[TtlWithinMax]);
    // the scope's own ttl above its max (the compiler refuses it; the core too)
    let mut s = Scenario::label();
    s.scope_mut().ttl = Duration::from_secs(2 * 3600);
    assert_denied(&s.decide(), &[TtlWithinMax]);
}

#[test]
fn req_44_label_removed_before_the_job_ran() {
    let mut s = Scenario::label();
    s.pr_mut().labels.clear();
    let d = s.decide();
    assert_denied(&d, &[LabelPresent]);
    assert!(detail(&d, LabelPresent).contains("no longer on #7"));
}

#[test]
fn label_added_by_writer_variants() {
    type Set = fn(&mut Scenario);
    let cases: [(&str, Set); 5] = [
        ("no labeled event", |s| s.evidence.label_event = None),
        ("event for another label", |s| {
            if let Some(e) = s.evidence.label_event.as_mut() {
                e.label = "hotfix".into();
            }
        }),
        ("no actor", |s| {
            if let Some(e) = s.evidence.label_event.as_mut() {
                e.actor = None;
            }
        }),
        ("bot", |s| {
            s.set_permission("github-actions[bot]", Permission::Write);
            if let Some(e) = s.evidence.label_event.as_mut() {
                e.actor = Some(user("github-actions[bot]", 41898282));
            }
        }),
        ("permission not read", |s| {
            if let Some(e) = s.evidence.label_event.as_mut() {
                e.actor = Some(user("zed", 90));
            }
        }),
    ];
    for (name, set) in cases {
        let mut s = Scenario::label();
        set(&mut s);
        let d = s.decide();
        assert!(!d.granted(), "{name}");
        assert!(
            d.requirement(LabelAddedByWriter).is_some_and(|r| !r.met),
            "{name}"
        );
    }
}

#[test]
fn head_current_per_shape() {
    // dispatch with a PR: the PR moved on since the run started
    let mut s = Scenario::dispatch_pr();
    s.pr_mut().head_sha = OLD.into();
    let d = s.decide();
    // the approval on the old head is stale too
    assert_denied(&d, &[HeadCurrent, FreshApproval, ApprovalsCount]);
    assert!(detail(&d, HeadCurrent).contains("approvals count only for the code that runs"));

    // push: the event's head is not the token's sha
    let mut s = Scenario::trailer_push();
    assert!(s.decide().requirement(HeadCurrent).is_some_and(|r| r.met));
    s.request.head_sha = Some(OLD.into());
    assert!(s.decide().requirement(HeadCurrent).is_some_and(|r| !r.met));
}

#[test]
fn push_needs_a_pr_merged_into_the_pushed_branch() {
    let met_of = |s: &Scenario, id| s.decide().requirement(id).map(|r| r.met);
    let s = Scenario::trailer_push();
    assert_eq!(met_of(&s, PrFound), Some(true));
    assert_eq!(met_of(&s, PrState), Some(true));

    let mut open = Scenario::trailer_push();
    open.pr_mut().merged = false;
    open.pr_mut().state = "open".into();
    assert_eq!(met_of(&open, PrState), Some(false));

    let mut elsewhere = Scenario::trailer_push();
    elsewhere.pr_mut().base_ref = "develop".into();
    assert_eq!(met_of(&elsewhere, PrState), Some(false));

    let mut none = Scenario::trailer_push();
    none.evidence.pull_request = None;
    let d = none.decide();
    assert_eq!(d.requirement(PrFound).map(|r| r.met), Some(false));
    assert!(detail(&d, PrFound).contains("no pull request carried 9c1b7d4"));
}

#[test]
fn trailer_present_unmet_without_message() {
    let mut s = Scenario::trailer_pr();
    s.evidence.head_commit_message = None;
    let d = s.decide();
    assert!(!d.granted());
    assert_eq!(
        d.requirement(TrailerPresent).map(|r| r.met),
        Some(false),
        "{d:#?}"
    );
}

#[test]
fn check_trailers_on_parsed_trailers() {
    let s = Scenario::trailer_pr();
    let t = |k: &str, v: &str| Trailer {
        key: k.into(),
        value: v.into(),
    };
    let rules = &s.policy.request;
    // (trailers, ok?, detail contains)
    let cases: Vec<(Vec<Trailer>, bool, &str)> = vec![
        (
            vec![t("Prod-Access", REASON), t("Prod-Access-Scope", "db-read")],
            true,
            "and `Prod-Access-Scope: db-read`",
        ),
        (vec![], false, "no `Prod-Access:` trailer"),
        (
            vec![
                t("Prod-Access", "INC-1 other"),
                t("Prod-Access-Scope", "db-read"),
            ],
            false,
            "the request's reason is",
        ),
        (
            vec![
                t("Prod-Access", REASON),
                t("prod-access", "INC-2"),
                t("Prod-Access-Scope", "db-read"),
            ],
            false,
            "`Prod-Access` 2 times",
        ),
        (
            vec![t("Prod-Access", REASON), t("Prod-Access-Scope", "db-write")],
            false,
            "the request's scope is \"db-read\"",
        ),
        (
            vec![
                t("Prod-Access", REASON),
                t("Prod-Access-Scope", "db-read"),
                t("Prod-Access-Scope", "db-write"),
            ],
            false,
            "`Prod-Access-Scope` 2 times",
        ),
        // the request's scope came from the trailer, which the API's commit lacks
        (vec![t("Prod-Access", REASON)], false, "does not have"),
        (
            vec![
                t("Signed-off-by", "x"),
                t("Prod-Access", REASON),
                t("Prod-Access-Scope", "db-read"),
            ],
            true,
            "",
        ),
    ];
    for (i, (trailers, ok, needle)) in cases.into_iter().enumerate() {
        let got = check_trailers(&trailers, &s.request, rules);
        assert_eq!(got.is_ok(), ok, "case {i}: {got:?}");
        let text = match &got {
            Ok(t) | Err(t) => t,
        };
        assert!(text.contains(needle), "case {i}: {text}");
    }
    // a scope from the input needs no scope trailer
    let mut req = s.request.clone();
    req.scope_source = Some(crate::decide::request::ScopeSource::Input);
    assert!(check_trailers(&[t("Prod-Access", REASON)], &req, rules).is_ok());
}

// --- APPR: approvals -------------------------------------------------------------------

#[test]
fn appr_46_approval_on_an_old_sha() {
    let mut s = Scenario::label();
    s.evidence.reviews = vec![review(100, alice(), ReviewState::Approved, OLD, 5)];
    let d = s.decide();
    assert_denied(&d, &[FreshApproval, ApprovalsCount]);
    // a null commit is never fresh
    s.evidence.reviews[0].commit_id = None;
    assert_denied(&s.decide(), &[FreshApproval, ApprovalsCount]);
    // with fresh: false an old approval counts
    s.scope_mut().approvals.fresh = false;
    let d = s.decide();
    assert_granted(&d);
    assert!(detail(&d, FreshApproval).contains("`approvals.fresh` is false"));
}

#[test]
fn appr_47_author_or_requester_approves() {
    let mut s = Scenario::label();
    s.set_membership("acme/sre", "dave", Membership::Active);
    s.evidence.reviews = vec![approve(100, dave(), 5)];
    let d = s.decide();
    assert_denied(&d, &[NotSelfApproved, ApprovalsCount]);
    assert_eq!(
        detail(&d, NotSelfApproved),
        "not counted: dave is the PR author"
    );

    let mut s = Scenario::label();
    s.set_membership("acme/sre", "carol", Membership::Active);
    s.evidence.reviews = vec![approve(100, carol(), 5)];
    let d = s.decide();
    assert_denied(&d, &[NotSelfApproved, ApprovalsCount]);
    assert_eq!(
        detail(&d, NotSelfApproved),
        "not counted: carol is the requester"
    );
}

#[test]
fn appr_48_latest_opinion_wins_by_submitted_at() {
    use ReviewState::*;
    // (reviews in list order, granted?) — the later review is listed first on purpose
    let cases: Vec<(Vec<Review>, bool)> = vec![
        (
            vec![
                review(101, alice(), ChangesRequested, HEAD, 6),
                review(100, alice(), Approved, HEAD, 5),
            ],
            false,
        ),
        (
            vec![
                review(101, alice(), Approved, HEAD, 6),
                review(100, alice(), ChangesRequested, HEAD, 5),
            ],
            true,
        ),
        (
            vec![
                review(101, alice(), Commented, HEAD, 6),
                review(100, alice(), Approved, HEAD, 5),
            ],
            true,
        ),
    ];
    for (i, (reviews, granted)) in cases.into_iter().enumerate() {
        let mut s = Scenario::label();
        s.evidence.reviews = reviews;
        let d = s.decide();
        assert_eq!(
            d.granted(),
            granted,
            "case {i}: {:#?}",
            d.unmet().collect::<Vec<_>>()
        );
        if !granted {
            assert_denied(&d, &[ApprovalsCount, NoChangesRequested]);
        }
    }
}

#[test]
fn appr_49_only_dismissed_or_commented() {
    for state in [ReviewState::Dismissed, ReviewState::Commented] {
        let mut s = Scenario::label();
        s.evidence.reviews = vec![review(100, alice(), state.clone(), HEAD, 5)];
        let d = s.decide();
        assert_denied(&d, &[ApprovalsCount]);
        assert_eq!(
            detail(&d, ApprovalsCount),
            "needs 1 more approval from @acme/sre on 6dcb09b",
            "{state:?}"
        );
    }
}

#[test]
fn appr_50_outsider_reader_and_bot_login() {
    // outside the team
    let mut s = Scenario::label();
    s.evidence.reviews = vec![approve(100, bob(), 5)];
    let d = s.decide();
    assert_denied(&d, &[ApproverInGroup, ApprovalsCount]);
    assert!(detail(&d, ApproverInGroup).contains("bob is not in @acme/sre"));
    // read-only
    let mut s = Scenario::label();
    s.set_permission("alice", Permission::Read);
    let d = s.decide();
    assert_denied(&d, &[ApproverPermission, ApprovalsCount]);
    assert!(detail(&d, ApproverPermission).contains("alice has read permission"));
    // renovate[bot], even with write and in the team
    let mut s = Scenario::label();
    s.set_permission("renovate[bot]", Permission::Write);
    s.set_membership("acme/sre", "renovate[bot]", Membership::Active);
    s.evidence.reviews = vec![approve(100, user("renovate[bot]", 29139614), 5)];
    assert_denied(&s.decide(), &[NotBotApproved, ApprovalsCount]);
}

#[test]
fn appr_51_type_bot_never_counts() {
    for login in ["github-actions[bot]", "release-helper"] {
        let mut s = Scenario::label();
        s.set_permission(login, Permission::Write);
        s.set_membership("acme/sre", login, Membership::Active);
        let mut bot = user(login, 41898282);
        bot.bot = true;
        s.evidence.reviews = vec![approve(100, bot, 5)];
        let d = s.decide();
        assert_denied(&d, &[NotBotApproved, ApprovalsCount]);
        assert!(detail(&d, NotBotApproved).contains(&format!("{login} is a bot")));
    }
}

#[test]
fn appr_52_deleted_user_and_pending_reviews_are_ignored() {
    let mut s = Scenario::label();
    let mut deleted = review(90, alice(), ReviewState::ChangesRequested, HEAD, 9);
    deleted.user = None;
    let mut pending = review(91, alice(), ReviewState::Pending, HEAD, 9);
    pending.submitted_at = None;
    let pending_stamped = review(92, alice(), ReviewState::Pending, HEAD, 9);
    s.evidence
        .reviews
        .extend([deleted, pending, pending_stamped]);
    assert_granted(&s.decide());
    // and on their own they count for nothing
    let mut s = Scenario::label();
    let mut deleted = approve(90, alice(), 9);
    deleted.user = None;
    s.evidence.reviews = vec![deleted];
    assert_denied(&s.decide(), &[ApprovalsCount]);
}

#[test]
fn appr_53_maintain_grants_triage_denies() {
    let mut s = Scenario::label();
    s.set_permission("alice", Permission::from_api("maintain"));
    assert_granted(&s.decide());
    s.set_permission("alice", Permission::from_api("triage"));
    assert_denied(&s.decide(), &[ApproverPermission, ApprovalsCount]);
    s.set_permission("alice", Permission::from_api("admin"));
    assert_granted(&s.decide());
    // a permission that was never read is none
    s.evidence.permissions.remove("alice");
    let d = s.decide();
    assert_denied(&d, &[ApproverPermission, ApprovalsCount]);
    assert!(detail(&d, ApproverPermission).contains("permission of alice was not read"));
}

#[test]
fn appr_54_approved_dismissed_approved() {
    use ReviewState::*;
    let mut s = Scenario::label();
    s.evidence.reviews = vec![
        review(102, alice(), Approved, HEAD, 7),
        review(101, alice(), Dismissed, HEAD, 6),
        review(100, alice(), Approved, OLD, 5),
    ];
    assert_granted(&s.decide());
    // ending on DISMISSED removes the opinion
    s.evidence.reviews = vec![
        review(101, alice(), Dismissed, HEAD, 6),
        review(100, alice(), Approved, HEAD, 5),
    ];
    assert_denied(&s.decide(), &[ApprovalsCount]);
}

/// 250 reviews (3 pages of 100): noise, then the only valid approval, in any order.
#[test]
fn appr_55_many_reviews_in_any_order() {
    use ReviewState::*;
    let mut s = Scenario::label();
    let mut reviews = Vec::new();
    for i in 0..249u64 {
        let login = format!("user{}", i % 40);
        let who = user(&login, 1000 + i % 40);
        s.set_permission(&login, Permission::Read);
        let state = match i % 4 {
            0 => Commented,
            1 => Approved,
            2 => Dismissed,
            _ => ChangesRequested, // from readers: not blocking
        };
        reviews.push(review(1000 + i, who, state, HEAD, (i % 50) as u32));
    }
    reviews.push(approve(5000, alice(), 59));
    let orders: Vec<Vec<Review>> = {
        let forward = reviews.clone();
        let mut backward = reviews.clone();
        backward.reverse();
        // a fixed permutation: stride 97 over 250 (coprime)
        let shuffled = (0..reviews.len())
            .map(|k| reviews[(k * 97) % reviews.len()].clone())
            .collect();
        vec![forward, backward, shuffled]
    };
    let mut results = Vec::new();
    for (i, rs) in orders.into_iter().enumerate() {
        let mut s = s.clone();
        s.evidence.reviews = rs;
        let d = s.decide();
        assert_granted(&d);
        assert_eq!(d.approvers.len(), 1, "order {i}");
        assert_eq!(d.approvers[0].user, alice(), "order {i}");
        results.push(d);
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn appr_56_changes_requested_by_a_writer_outside_the_team() {
    let mut s = Scenario::label();
    s.evidence
        .reviews
        .push(review(101, bob(), ReviewState::ChangesRequested, HEAD, 6));
    let d = s.decide();
    assert_denied(&d, &[NoChangesRequested]);
    assert_eq!(
        detail(&d, NoChangesRequested),
        "bob requested changes on 6dcb09b"
    );
    // from a reader: not blocking
    s.set_permission("bob", Permission::Read);
    assert_granted(&s.decide());
    // from someone whose permission was not read: blocking (fail closed)
    s.evidence.permissions.remove("bob");
    assert_denied(&s.decide(), &[NoChangesRequested]);
}

#[test]
fn changes_requested_on_an_old_commit() {
    let mut s = Scenario::label();
    s.evidence
        .reviews
        .push(review(101, bob(), ReviewState::ChangesRequested, OLD, 6));
    // fresh: only changes requested on the head block
    assert_granted(&s.decide());
    // not fresh: anywhere
    s.scope_mut().approvals.fresh = false;
    assert_denied(&s.decide(), &[NoChangesRequested]);
    // a CHANGES_REQUESTED naming no commit blocks
    let mut s = Scenario::label();
    let mut cr = review(101, bob(), ReviewState::ChangesRequested, HEAD, 6);
    cr.commit_id = None;
    s.evidence.reviews.push(cr);
    assert_denied(&s.decide(), &[NoChangesRequested]);
}

#[test]
fn appr_57_strict_commit_author() {
    let mut s = Scenario::label();
    s.evidence.pr_commit_authors.push(alice());
    // not strict: a commit author may approve
    assert_granted(&s.decide());
    s.scope_mut().approvals.strict = true;
    let d = s.decide();
    assert_denied(&d, &[NotSelfApproved, ApprovalsCount]);
    assert!(detail(&d, NotSelfApproved).contains("alice authored a commit in the PR"));
}

#[test]
fn appr_58_removed_from_team_or_pending() {
    for m in [Membership::NotMember, Membership::Pending] {
        let mut s = Scenario::label();
        s.set_membership("acme/sre", "alice", m);
        let d = s.decide();
        assert_denied(&d, &[ApproverInGroup, ApprovalsCount]);
        if m == Membership::Pending {
            assert!(detail(&d, ApproverInGroup).contains("membership of @acme/sre is pending"));
        }
    }
    // a team that was not looked up is not a membership
    let mut s = Scenario::label();
    s.evidence.teams.clear();
    assert_denied(&s.decide(), &[ApproverInGroup, ApprovalsCount]);
    // a user named in `from` counts by login
    let mut s = Scenario::label();
    s.evidence.teams.clear();
    s.scope_mut().approvals.from = vec![sre(), Principal::User("alice".into())];
    assert_granted(&s.decide());
}

#[test]
fn appr_59_deployment_approvals_for_another_environment_or_rejected() {
    let mut s = Scenario::dispatch_deploy();
    s.evidence.deployment_reviews = vec![deployment(alice(), "approved", &["staging"])];
    let d = s.decide();
    assert_denied(&d, &[ApprovalsCount]);
    assert_eq!(
        detail(&d, ApprovalsCount),
        "needs 1 more deployment approval for environment production from @acme/sre; alice \
         approved environment staging, not production"
    );

    let mut s = Scenario::dispatch_deploy();
    s.evidence.deployment_reviews = vec![deployment(alice(), "rejected", &["production"])];
    assert_denied(&s.decide(), &[ApprovalsCount, NoChangesRequested]);

    // a rejection for the job's environment blocks an approval by someone else
    let mut s = Scenario::dispatch_deploy();
    s.evidence
        .deployment_reviews
        .push(deployment(bob(), "rejected", &["production"]));
    let d = s.decide();
    assert_denied(&d, &[NoChangesRequested]);
    assert_eq!(
        detail(&d, NoChangesRequested),
        "bob rejected the deployment to production"
    );
    // a rejection for another environment does not
    let mut s = Scenario::dispatch_deploy();
    s.evidence
        .deployment_reviews
        .push(deployment(bob(), "rejected", &["staging"]));
    assert_granted(&s.decide());
}

#[test]
fn appr_60_dispatcher_approves_own_deployment() {
    let mut s = Scenario::dispatch_deploy();
    s.set_membership("acme/sre", "carol", Membership::Active);
    s.evidence.deployment_reviews = vec![deployment(carol(), "approved", &["production"])];
    let d = s.decide();
    assert_denied(&d, &[NotSelfApproved, ApprovalsCount]);
    assert_eq!(
        detail(&d, NotSelfApproved),
        "not counted: carol is the requester"
    );
}

#[test]
fn deployment_approvals_are_screened_and_counted_once() {
    // the same user twice counts once
    let mut s = Scenario::dispatch_deploy();
    s.scope_mut().approvals.required = 2;
    s.evidence
        .deployment_reviews
        .push(deployment(alice(), "approved", &["production"]));
    assert_denied(&s.decide(), &[ApprovalsCount]);
    // bots, readers and outsiders do not count
    type Set = fn(&mut Scenario);
    let cases: [(Set, &[RequirementId]); 3] = [
        (
            |s| {
                let mut bot = user("deployer", 5);
                bot.bot = true;
                s.set_permission("deployer", Permission::Write);
                s.set_membership("acme/sre", "deployer", Membership::Active);
                s.evidence.deployment_reviews = vec![deployment(bot, "approved", &["production"])];
            },
            &[NotBotApproved, ApprovalsCount],
        ),
        (
            |s| s.set_permission("alice", Permission::Read),
            &[ApproverPermission, ApprovalsCount],
        ),
        (
            |s| {
                s.evidence.deployment_reviews = vec![deployment(bob(), "approved", &["production"])]
            },
            &[ApproverInGroup, ApprovalsCount],
        ),
    ];
    for (set, unmet) in cases {
        let mut s = Scenario::dispatch_deploy();
        set(&mut s);
        assert_denied(&s.decide(), unmet);
    }
    // environment names compare case-insensitively, and a user-less review is ignored
    let mut s = Scenario::dispatch_deploy();
    let mut ghost = deployment(bob(), "rejected", &["production"]);
    ghost.user = None;
    s.evidence.deployment_reviews = vec![deployment(alice(), "APPROVED", &["Production"]), ghost];
    assert_granted(&s.decide());
}

#[test]
fn deployment_without_environment_cannot_be_approved() {
    let mut s = Scenario::dispatch_deploy();
    s.identity.environment = None;
    s.scope_mut().environments.clear();
    let d = s.decide();
    assert_denied(&d, &[ApprovalsCount]);
    assert!(detail(&d, ApprovalsCount).contains("the job has no environment"));
}

#[test]
fn rename_matching_by_id() {
    // dave (id 40) renamed to dave2; another user (id 50) took the login "dave" and approves:
    // not the author.
    let mut s = Scenario::label();
    s.pr_mut().author = user("dave2", 40);
    s.set_permission("dave", Permission::Write);
    s.set_membership("acme/sre", "dave", Membership::Active);
    s.evidence.reviews = vec![approve(100, user("dave", 50), 5)];
    assert_granted(&s.decide());

    // the author's id under another login, or another case: the author
    for login in ["DAVE", "dave-renamed"] {
        let mut s = Scenario::label();
        s.set_permission(login, Permission::Write);
        s.set_membership("acme/sre", login, Membership::Active);
        s.evidence.reviews = vec![approve(100, user(login, 40), 5)];
        let d = s.decide();
        assert_denied(&d, &[NotSelfApproved, ApprovalsCount]);
        assert!(
            detail(&d, NotSelfApproved).contains("is the PR author"),
            "{login}"
        );
    }

    // the requester's id (from the token's actor_id) under another login
    let mut s = Scenario::label();
    s.set_permission("carol-old", Permission::Write);
    s.set_membership("acme/sre", "carol-old", Membership::Active);
    s.evidence.reviews = vec![approve(100, user("carol-old", 30), 5)];
    assert_denied(&s.decide(), &[NotSelfApproved, ApprovalsCount]);
}

#[test]
fn requester_via_triggering_actor_on_rerun() {
    // alice re-runs the job: she is a requester now, and her approval no longer counts
    let mut s = Scenario::label();
    s.set_attempt(2);
    s.run_mut().triggering_actor = Some(alice());
    let d = s.decide();
    assert_denied(&d, &[NotSelfApproved, ApprovalsCount]);
    assert_eq!(
        detail(&d, NotSelfApproved),
        "not counted: alice is the requester"
    );

    // a reader re-runs the job: not an allowed requester
    let mut s = Scenario::label();
    s.set_attempt(2);
    s.set_permission("eve", Permission::Read);
    s.run_mut().triggering_actor = Some(user("eve", 55));
    let d = s.decide();
    assert_denied(&d, &[RequesterAllowed]);
    assert!(detail(&d, RequesterAllowed).contains("re-run by eve has read permission"));

    // a re-run whose triggering actor is unknown
    let mut s = Scenario::label();
    s.set_attempt(2);
    s.run_mut().triggering_actor = None;
    assert_denied(&s.decide(), &[RequesterAllowed]);

    // requesters restricted to a team: both must be in it
    let mut s = Scenario::label();
    s.set_attempt(2);
    s.run_mut().triggering_actor = Some(bob());
    s.scope_mut().requesters = vec![Principal::User("carol".into())];
    let d = s.decide();
    assert_denied(&d, &[RequesterAllowed]);
    assert!(detail(&d, RequesterAllowed).contains("re-run by bob is not in carol"));
}

#[test]
fn bot_requester_is_refused() {
    let mut s = Scenario::label();
    let mut bot = carol();
    bot.bot = true;
    s.run_mut().actor = Some(bot.clone());
    s.run_mut().triggering_actor = Some(bot);
    let d = s.decide();
    assert_denied(&d, &[RequesterAllowed]);
    assert!(detail(&d, RequesterAllowed).contains("requester carol is a bot"));
}

#[test]
fn race_61_already_granted() {
    let mut s = Scenario::label();
    s.evidence.already_granted = true;
    let d = s.decide();
    assert_denied(&d, &[NotAlreadyGranted]);
    assert_eq!(
        detail(&d, NotAlreadyGranted),
        "run 42 attempt 1 already holds a grant for db-read"
    );
}

#[test]
fn break_glass_needs_no_approval() {
    let mut s = Scenario::dispatch_deploy();
    s.request.scope = Some("api-admin".into());
    s.evidence.deployment_reviews.clear();
    let d = s.decide();
    assert_granted(&d);
    assert!(d.break_glass);
    assert!(d.approvers.is_empty());
    assert!(detail(&d, ApprovalsCount).starts_with("break-glass"));
    // a rejection still blocks
    s.evidence
        .deployment_reviews
        .push(deployment(bob(), "rejected", &["production"]));
    assert_denied(&s.decide(), &[NoChangesRequested]);
    // required 0 without break_glass (refused by the compiler) is never granted
    let mut s = Scenario::label();
    s.scope_mut().approvals.required = 0;
    let d = s.decide();
    assert_denied(&d, &[ApprovalsCount]);
    assert!(!d.break_glass);
}

#[test]
fn two_approvals_required() {
    let mut s = Scenario::label();
    s.scope_mut().approvals.required = 2;
    let d = s.decide();
    assert_denied(&d, &[ApprovalsCount]);
    assert_eq!(
        detail(&d, ApprovalsCount),
        "needs 1 more approval from @acme/sre on 6dcb09b (counted: alice on 6dcb09b)"
    );
    s.set_membership("acme/sre", "bob", Membership::Active);
    s.evidence.reviews.push(approve(101, bob(), 6));
    let d = s.decide();
    assert_granted(&d);
    assert_eq!(
        d.approvers
            .iter()
            .map(|a| a.user.login.as_str())
            .collect::<Vec<_>>(),
        vec!["alice", "bob"]
    );
}

#[test]
fn a_discard_with_enough_other_approvals_is_met_with_a_note() {
    let mut s = Scenario::label();
    s.evidence
        .reviews
        .push(review(101, bob(), ReviewState::Approved, OLD, 6));
    let d = s.decide();
    assert_granted(&d);
    assert_eq!(
        detail(&d, FreshApproval),
        "not counted: bob approved an older commit (0d1a26e); enough other approvals count"
    );
}

// --- sentences -------------------------------------------------------------------------

#[test]
fn sentence_needs_one_more_approval() {
    let mut s = Scenario::label();
    s.evidence.reviews = vec![review(100, alice(), ReviewState::Approved, OLD, 5)];
    let d = s.decide();
    assert_eq!(
        detail(&d, ApprovalsCount),
        "needs 1 more approval from @acme/sre on 6dcb09b; alice approved an older commit \
         (0d1a26e)"
    );
    assert_eq!(
        detail(&d, FreshApproval),
        "not counted: alice approved an older commit (0d1a26e)"
    );
}

#[test]
fn sentence_ambiguity_names_every_value() {
    let mut s = Scenario::label();
    s.request.ambiguous = vec![(
        "Prod-Access".into(),
        vec!["INC-1 read".into(), "INC-2 write".into()],
    )];
    let d = s.decide();
    assert_eq!(
        detail(&d, RequestUnambiguous),
        "the request is ambiguous: `Prod-Access` has 2 values: \"INC-1 read\", \"INC-2 write\"; \
         give each once"
    );
}

#[test]
fn sentence_met_details() {
    let d = Scenario::label().decide();
    assert_eq!(
        detail(&d, ApprovalsCount),
        "1 of 1 approval required from @acme/sre: alice on 6dcb09b"
    );
    assert_eq!(
        detail(&d, ScopeKnown),
        "scope db-read (from label `prod-access`)"
    );
    assert_eq!(
        detail(&d, TtlWithinMax),
        "ttl 15m (the scope's ttl) is within max_ttl 1h"
    );
}

#[test]
fn fmt_duration_forms() {
    use super::fmt_duration;
    for (secs, want) in [
        (0, "0s"),
        (90, "1m30s"),
        (900, "15m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (3661, "1h1m1s"),
    ] {
        assert_eq!(fmt_duration(Duration::from_secs(secs)), want);
    }
}

#[test]
fn missing_ids_in_a_user_never_add_an_approval() {
    // an approval by a user without id is matched by login: the PR author's login
    let mut s = Scenario::label();
    s.set_membership("acme/sre", "dave", Membership::Active);
    s.evidence.reviews = vec![approve(100, UserRef::new("Dave", None), 5)];
    assert_denied(&s.decide(), &[NotSelfApproved, ApprovalsCount]);
}

/// Tests that need `crate::event::trailers::parse` (git's rules). Ignored until the parser
/// lands; run with `cargo test --lib decide -- --ignored`.
mod trailer_rules {
    use super::*;

    #[test]
    fn trailer_baselines_are_granted() {
        assert_granted(&Scenario::trailer_pr().decide());
        assert_granted(&Scenario::trailer_push().decide());
    }

    #[test]
    fn trailer_present_met_and_unmet() {
        let d = Scenario::trailer_pr().decide();
        assert_eq!(d.requirement(TrailerPresent).map(|r| r.met), Some(true));
        // (message, why)
        let cases = [
            (
                "Read the orders table\n\nNo trailer here.\n".to_string(),
                "no trailer",
            ),
            (
                // REQ 38: not in the last paragraph
                format!(
                    "Subject\n\nProd-Access: {REASON}\nProd-Access-Scope: db-read\n\nMore text.\n"
                ),
                "not in the last paragraph",
            ),
            (
                format!(
                    "Subject\n\nProd-Access: {REASON}\nProd-Access: INC-2 other\nProd-Access-Scope: db-read\n"
                ),
                "given twice",
            ),
            (
                "Subject\n\nProd-Access: INC-9 another reason\nProd-Access-Scope: db-read\n"
                    .to_string(),
                "another reason",
            ),
            (
                format!("Subject\n\nProd-Access: {REASON}\nProd-Access-Scope: db-write\n"),
                "another scope",
            ),
        ];
        for (message, why) in cases {
            for mut s in [Scenario::trailer_pr(), Scenario::trailer_push()] {
                s.evidence.head_commit_message = Some(message.clone());
                assert_denied(&s.decide(), &[TrailerPresent]);
                let _ = why;
            }
        }
    }

    #[test]
    fn trailer_duplicate_names_both_values() {
        let mut s = Scenario::trailer_pr();
        s.evidence.head_commit_message = Some(format!(
            "Subject\n\nProd-Access: {REASON}\nProd-Access: INC-2 other\nProd-Access-Scope: db-read\n"
        ));
        let d = s.decide();
        assert_eq!(
            detail(&d, TrailerPresent),
            format!("the head commit has `Prod-Access` 2 times: \"{REASON}\", \"INC-2 other\"")
        );
    }

    #[test]
    fn push_rules_on_a_granted_baseline() {
        let mut s = Scenario::trailer_push();
        s.pr_mut().merged = false;
        s.pr_mut().state = "open".into();
        assert_denied(&s.decide(), &[PrState]);

        let mut s = Scenario::trailer_push();
        s.request.head_sha = Some(OLD.into());
        assert_denied(&s.decide(), &[HeadCurrent]);

        // the approval is on the merged PR's head
        let mut s = Scenario::trailer_push();
        s.evidence.reviews = vec![review(100, alice(), ReviewState::Approved, OLD, 5)];
        assert_denied(&s.decide(), &[FreshApproval, ApprovalsCount]);
    }
}

#[test]
fn empty_shas_never_match() {
    // a PR head the forge did not give, and an approval naming an empty commit
    let mut s = Scenario::label();
    s.pr_mut().head_sha = String::new();
    s.request.head_sha = Some(String::new());
    s.evidence.reviews = vec![review(100, alice(), ReviewState::Approved, "", 5)];
    let d = s.decide();
    assert_denied(
        &d,
        &[RunConsistent, HeadCurrent, FreshApproval, ApprovalsCount],
    );
}

#[test]
fn an_unmapped_label_is_not_a_request_even_with_an_input_scope() {
    let mut s = Scenario::label();
    s.request.label = Some("bug".into());
    s.request.scope_source = Some(crate::decide::request::ScopeSource::Input);
    s.pr_mut().labels.push("bug".into());
    if let Some(e) = s.evidence.label_event.as_mut() {
        e.label = "bug".into();
    }
    let d = s.decide();
    assert_denied(&d, &[LabelPresent]);
    assert!(detail(&d, LabelPresent).contains("not a request label"));
}

#[test]
fn a_login_only_triggering_actor_still_excludes_its_namesakes() {
    // The run names the triggering actor "alice" without an id: alice (id 10) may not approve.
    let mut s = Scenario::label();
    s.set_attempt(2);
    s.run_mut().triggering_actor = Some(UserRef::new("Alice", None));
    assert_denied(&s.decide(), &[NotSelfApproved, ApprovalsCount]);
}

#[test]
fn a_verdict_grants_only_a_complete_decision() {
    use crate::decide::Verdict;
    let s = Scenario::label();
    let d = s.decide();
    match d.verdict(&s.policy) {
        Verdict::Granted { scope, ttl, .. } => {
            assert_eq!(scope.name, "db-read");
            assert_eq!(Some(ttl), d.ttl);
        }
        Verdict::Denied { unmet } => panic!("denied: {unmet:?}"),
    }
    // A scope the policy does not have, a missing TTL, an unmet requirement: denied.
    let mut other = s.policy.clone();
    other.scopes.clear();
    assert!(matches!(d.verdict(&other), Verdict::Denied { .. }));
    let mut no_ttl = d.clone();
    no_ttl.ttl = None;
    assert!(matches!(no_ttl.verdict(&s.policy), Verdict::Denied { .. }));
    let mut one_unmet = d.clone();
    one_unmet.requirements[0].met = false;
    match one_unmet.verdict(&s.policy) {
        Verdict::Denied { unmet } => assert_eq!(unmet.len(), 1),
        Verdict::Granted { .. } => panic!("granted with an unmet requirement"),
    }
}
