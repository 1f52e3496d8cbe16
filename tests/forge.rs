//! The GitHub client through the simulated GitHub API (`prod_access::sim::forge`): evidence
//! for each request shape, pagination, teams, and the FAULT rows of the attack catalogue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use chrono::Utc;
use prod_access::decide::{DecisionInput, RequestInputs, RequirementId, decide, resolve_request};
use prod_access::error::ExitClass;
use prod_access::event::{EventRequest, Shape};
use prod_access::forge::{
    Evidence, Forge, ForgeConfig, ForgeError, GitHub, Membership, Permission, RepoRef, Repository,
};
use prod_access::gather::gather_evidence;
use prod_access::oidc::VerifiedIdentity;
use prod_access::policy::{Policy, load_policy};
use prod_access::runner::RunnerHints;
use prod_access::secret::Secret;
use prod_access::sim::forge::{
    Fault, FaultKind, ForgeSim, SimRepo, approval_json, commit_json, labeled_event_json, pull_json,
    review_json, run_json, run_pull_request_json, user_json,
};
use serde_json::{Map, Value, json};

const TOKEN: &str = "ghs_simTOKENvalue0123456789abcdef";
const REPO: &str = "acme/payments";
const REPO_ID: u64 = 123;
const RUN_ID: u64 = 42;
const PR: u64 = 7;
const HEAD: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
const BASE: &str = "ffac537e6cbbf934b08745a378932722df287a53";
const MERGE: &str = "9c1b7d4a1f0e2b3c4d5e6f708192a3b4c5d6e7f8";
const REASON: &str = "INC-42 read the orders table";
const POLICY_PATH: &str = ".github/prod-access.yml";

const POLICY: &str = r#"version: 1
identity:
  claims:
    repository: acme/payments
request:
  labels: { prod-access: db-read }
scopes:
  db-read:
    credential: { kind: postgres, grant_role: app_readonly, connection_limit: 2 }
    ttl: 15m
    max_ttl: 1h
    approvals: { required: 1, from: ["@acme/sre"] }
    requesters: ["@acme/backend"]
  db-write:
    credential: { kind: postgres, grant_role: app_readwrite, connection_limit: 1 }
    ttl: 15m
    max_ttl: 30m
    approvals: { required: 1, strict: true }
providers:
  postgres: { admin_dsn_env: PG_ADMIN_DSN, host: db.acme.internal, port: 5432, database: app }
"#;

fn alice() -> Value {
    user_json("alice", 10)
}
fn carol() -> Value {
    user_json("carol", 30)
}
fn dave() -> Value {
    user_json("dave", 40)
}

fn test_config() -> ForgeConfig {
    ForgeConfig {
        deadline: Duration::from_secs(10),
        request_timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
        ..ForgeConfig::default()
    }
}

fn repo_ref() -> RepoRef {
    RepoRef::parse(REPO).unwrap()
}

/// A sim with the repository, the policy on `trunk`, PR #7 labelled and approved by alice
/// (active @acme/sre member), requester carol (active @acme/backend member).
async fn sim() -> ForgeSim {
    let sim = ForgeSim::start(TOKEN).await.unwrap();
    sim.with(|s| {
        let r = s.add_repo(REPO, REPO_ID, "trunk");
        r.files
            .entry("trunk".into())
            .or_default()
            .insert(POLICY_PATH.into(), POLICY.into());
        let pr = pull_json(
            r,
            PR,
            HEAD,
            "trunk",
            dave(),
            &["prod-access"],
            "open",
            false,
            Some(REPO_ID),
            Some(&format!("Prod-Access: {REASON}")),
        );
        r.pulls.insert(PR, pr);
        r.reviews.insert(
            PR,
            vec![review_json(
                80,
                alice(),
                "APPROVED",
                HEAD,
                "2026-11-23T10:00:00Z",
            )],
        );
        r.issue_events.insert(
            PR,
            vec![labeled_event_json(
                1,
                carol(),
                "prod-access",
                "2026-11-23T10:05:00Z",
            )],
        );
        for (login, p) in [("alice", "write"), ("carol", "write"), ("dave", "write")] {
            r.permissions.insert(login.into(), p.into());
        }
        // The policy names teams: the token is one that can read them.
        s.team_capable_token = true;
        s.team("acme/sre")
            .members
            .insert("alice".into(), "active".into());
        s.team("acme/backend")
            .members
            .insert("carol".into(), "active".into());
    });
    sim
}

/// The run, for PR events listing PR #7 at its current head, as GitHub binds a PR's run.
fn set_run(sim: &ForgeSim, event: &str, head_sha: &str) {
    sim.with(|s| {
        let r = s.repo(REPO);
        let mut run = run_json(RUN_ID, event, head_sha, 1, carol(), carol());
        if matches!(event, "pull_request" | "pull_request_target")
            && let Some(pr) = r.pulls.get(&PR)
        {
            let head = pr["head"]["sha"].as_str().unwrap_or_default().to_string();
            run["pull_requests"] = json!([run_pull_request_json(r, PR, &head, "trunk")]);
        }
        r.runs.insert(RUN_ID, run);
    });
}

fn identity(event: &str, git_ref: &str, sha: &str, environment: Option<&str>) -> VerifiedIdentity {
    let mut c = Map::new();
    for (k, v) in [
        ("repository", REPO),
        ("repository_owner", "acme"),
        ("actor", "carol"),
        ("actor_id", "30"),
        ("event_name", event),
        ("ref", git_ref),
        ("sha", sha),
        (
            "job_workflow_ref",
            "acme/payments/.github/workflows/prod-access.yml@refs/heads/trunk",
        ),
    ] {
        c.insert(k.into(), json!(v));
    }
    c.insert("repository_id".into(), json!(REPO_ID.to_string()));
    c.insert("run_id".into(), json!(RUN_ID.to_string()));
    c.insert("run_attempt".into(), json!("1"));
    if let Some(e) = environment {
        c.insert("environment".into(), json!(e));
    }
    VerifiedIdentity::from_verified_claims(c).unwrap()
}

fn client(sim: &ForgeSim, config: ForgeConfig) -> GitHub {
    GitHub::new(sim.api_url(), Secret::new(TOKEN), config).unwrap()
}

/// Repository, policy from the default branch, then the evidence: what `grant` reads.
async fn read_all(
    gh: &GitHub,
    request: &EventRequest,
    event: &str,
    id: &VerifiedIdentity,
) -> Result<(Policy, prod_access::decide::Request, Evidence), ForgeError> {
    let repo: Repository = gh.repository(&repo_ref()).await?;
    let text = gh
        .policy_file(&repo_ref(), POLICY_PATH, Some(&repo.default_branch))
        .await?;
    let policy = load_policy(&text).unwrap();
    let req = resolve_request(request.clone(), event, &RequestInputs::default(), &policy);
    let ev = gather_evidence(gh, &repo, &req, id, &policy).await?;
    Ok((policy, req, ev))
}

fn decision_of(
    policy: &Policy,
    req: &prod_access::decide::Request,
    id: &VerifiedIdentity,
    ev: &Evidence,
) -> prod_access::decide::Decision {
    decide(&DecisionInput {
        policy,
        request: req,
        identity: id,
        evidence: ev,
        runner: &RunnerHints::default(),
        now: Utc::now(),
    })
}

fn assert_granted(d: &prod_access::decide::Decision) {
    let unmet: Vec<String> = d
        .unmet()
        .map(|r| format!("{}: {}", r.id, r.detail))
        .collect();
    assert!(d.granted(), "not granted: {unmet:#?}");
}

fn label_request() -> EventRequest {
    EventRequest {
        reason: Some(REASON.into()),
        label: Some("prod-access".into()),
        pr_number: Some(PR),
        head_sha: Some(HEAD.into()),
        ..EventRequest::new(Shape::Label)
    }
}

/// A label request, granted; returns the sim for further checks.
async fn label_grant() -> (ForgeSim, Evidence) {
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, test_config());
    let (policy, req, ev) = read_all(&gh, &label_request(), "pull_request_target", &id)
        .await
        .unwrap();
    assert_granted(&decision_of(&policy, &req, &id, &ev));
    (sim, ev)
}

fn assert_token_hygiene(sim: &ForgeSim, err: Option<&ForgeError>) {
    for r in sim.requests() {
        assert!(!r.token_elsewhere, "token outside Authorization: {r:?}");
    }
    if let Some(e) = err {
        let text = format!("{e} {e:?} {}", prod_access::error::Error::from(e.clone()));
        assert!(!text.contains(TOKEN), "token in error text: {text}");
    }
}

#[tokio::test]
async fn label_request_evidence_is_read_from_the_api_and_grants() {
    let (sim, ev) = label_grant().await;
    assert_eq!(ev.repository_id, Some(REPO_ID));
    assert_eq!(ev.default_branch.as_deref(), Some("trunk"));
    let pr = ev.pull_request.as_ref().unwrap();
    assert_eq!((pr.number, pr.head_sha.as_str()), (PR, HEAD));
    assert_eq!(pr.author.login, "dave");
    assert!(!pr.from_fork && !pr.merged && pr.labels == ["prod-access"]);
    assert_eq!(ev.reviews.len(), 1);
    assert_eq!(
        ev.label_event
            .as_ref()
            .unwrap()
            .actor
            .as_ref()
            .unwrap()
            .login,
        "carol"
    );
    assert_eq!(ev.permissions.get("alice"), Some(&Permission::Write));
    assert_eq!(ev.permissions.get("carol"), Some(&Permission::Write));
    assert_eq!(ev.teams["acme/sre"]["alice"], Membership::Active);
    assert_eq!(ev.teams["acme/backend"]["carol"], Membership::Active);
    assert!(ev.head_commit_message.is_none() && ev.deployment_reviews.is_empty());

    // Every request carried the token in Authorization, and nowhere else.
    let log = sim.requests();
    assert!(log.iter().all(|r| r.authorized && !r.token_elsewhere));
    // The request count of a granted label request (reads only, before the audit comment):
    // repo, policy, run, PR, reviews, issue events, 2 permissions (carol, alice),
    // 2 team checks (@acme/sre, @acme/backend), 2 memberships, and the PR again (its head,
    // read after the reviews, beside the permissions).
    let routes: Vec<&str> = log.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(log.len(), 13, "{routes:#?}");
    assert_eq!(sim.hits("GET /repos/{owner}/{repo}/pulls/{pull_number}"), 2);
    assert_eq!(ev.pr_head_now.as_deref(), Some(HEAD));
    assert_eq!(ev.permission_user_ids.get("alice"), Some(&10));
}

#[tokio::test]
async fn trailer_on_push_finds_the_merged_pr_through_commit_pulls() {
    let sim = sim().await;
    let message =
        format!("Merge pull request #7\n\nProd-Access: {REASON}\nProd-Access-Scope: db-read\n");
    sim.with(|s| {
        let r = s.repo(REPO);
        let merged = pull_json(
            r,
            PR,
            HEAD,
            "trunk",
            dave(),
            &[],
            "closed",
            true,
            Some(REPO_ID),
            None,
        );
        r.pulls.insert(PR, merged);
        // Another PR carrying the commit, not merged into trunk: ignored.
        let other = pull_json(
            r,
            9,
            HEAD,
            "release",
            dave(),
            &[],
            "open",
            false,
            Some(REPO_ID),
            None,
        );
        r.pulls.insert(9, other);
        r.commit_pulls.insert(MERGE.into(), vec![9, PR]);
        r.commits.insert(
            MERGE.into(),
            commit_json(MERGE, &message, Some(carol()), Some(carol())),
        );
    });
    set_run(&sim, "push", MERGE);
    let id = identity("push", "refs/heads/trunk", MERGE, None);
    let gh = client(&sim, test_config());
    let event = EventRequest {
        reason: Some(REASON.into()),
        scope: Some("db-read".into()),
        head_sha: Some(MERGE.into()),
        ..EventRequest::new(Shape::Trailer)
    };
    let (policy, req, ev) = read_all(&gh, &event, "push", &id).await.unwrap();
    assert_eq!(ev.head_commit_message.as_deref(), Some(message.as_str()));
    let pr = ev.pull_request.as_ref().unwrap();
    assert!(pr.merged && pr.number == PR && pr.base_ref == "trunk");
    assert_eq!(
        sim.hits("GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
        1
    );
    assert_granted(&decision_of(&policy, &req, &id, &ev));
    assert_token_hygiene(&sim, None);
}

#[tokio::test]
async fn dispatch_with_pull_request_reads_that_pr() {
    let sim = sim().await;
    set_run(&sim, "workflow_dispatch", HEAD);
    // Its head commit is read too (a `Prod-Access:` trailer there asks for the scope).
    sim.with(|s| {
        s.repo(REPO)
            .commits
            .insert(HEAD.into(), commit_json(HEAD, "Fix the index", None, None));
    });
    let id = identity("workflow_dispatch", "refs/heads/trunk", HEAD, None);
    let gh = client(&sim, test_config());
    let event = EventRequest {
        reason: Some(REASON.into()),
        scope: Some("db-read".into()),
        pr_number: Some(PR),
        ..EventRequest::new(Shape::Dispatch)
    };
    let (policy, req, ev) = read_all(&gh, &event, "workflow_dispatch", &id)
        .await
        .unwrap();
    assert_eq!(ev.pull_request.as_ref().unwrap().number, PR);
    assert_eq!(
        sim.hits("GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals"),
        0
    );
    assert_granted(&decision_of(&policy, &req, &id, &ev));
}

#[tokio::test]
async fn dispatch_without_pr_reads_deployment_approvals() {
    let sim = sim().await;
    set_run(&sim, "workflow_dispatch", HEAD);
    sim.with(|s| {
        s.repo(REPO).approvals.insert(
            RUN_ID,
            vec![approval_json(alice(), "approved", &["production"], "ok")],
        );
    });
    let id = identity(
        "workflow_dispatch",
        "refs/heads/trunk",
        HEAD,
        Some("production"),
    );
    let gh = client(&sim, test_config());
    let event = EventRequest {
        reason: Some(REASON.into()),
        scope: Some("db-read".into()),
        ..EventRequest::new(Shape::Dispatch)
    };
    let (policy, req, ev) = read_all(&gh, &event, "workflow_dispatch", &id)
        .await
        .unwrap();
    assert!(ev.pull_request.is_none());
    assert_eq!(ev.deployment_reviews.len(), 1);
    assert_eq!(ev.deployment_reviews[0].environments, ["production"]);
    assert_eq!(ev.permissions.get("alice"), Some(&Permission::Write));
    assert_eq!(ev.teams["acme/sre"]["alice"], Membership::Active);
    assert_granted(&decision_of(&policy, &req, &id, &ev));
}

/// Catalogue 55: 250 reviews over 3 pages; the only valid approval is on page 3.
#[tokio::test]
async fn catalogue_55_every_next_page_is_followed() {
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    sim.with(|s| {
        let mut reviews = Vec::new();
        for i in 0..249u64 {
            reviews.push(review_json(
                1_000 + i,
                user_json(&format!("commenter{i}"), 5_000 + i),
                "COMMENTED",
                HEAD,
                "2026-11-23T09:00:00Z",
            ));
        }
        reviews.push(review_json(
            9_999,
            alice(),
            "APPROVED",
            HEAD,
            "2026-11-23T10:00:00Z",
        ));
        s.repo(REPO).reviews.insert(PR, reviews);
    });
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, test_config());
    let (policy, req, ev) = read_all(&gh, &label_request(), "pull_request_target", &id)
        .await
        .unwrap();
    assert_eq!(ev.reviews.len(), 250);
    let pages: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.route == "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews")
        .collect();
    assert_eq!(pages.len(), 3);
    // Pages 2 and 3 come from GitHub-style `Link`s that name the repository by id.
    assert!(
        pages[1..]
            .iter()
            .all(|p| p.path.starts_with("/repositories/123/"))
    );
    assert!(
        pages
            .iter()
            .all(|p| p.query.as_deref().unwrap().contains("per_page=100"))
    );
    assert_granted(&decision_of(&policy, &req, &id, &ev));
}

#[tokio::test]
async fn teams_are_invisible_to_the_jobs_github_token_as_on_github() {
    // Without a team-capable token the simulator answers team lookups as GitHub answers
    // the job's GITHUB_TOKEN: 404, which is a configuration error naming the token kind.
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    sim.with(|s| s.team_capable_token = false);
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, test_config());
    let err = read_all(&gh, &label_request(), "pull_request_target", &id)
        .await
        .unwrap_err();
    assert_eq!(err.exit_class(), ExitClass::Config);
    assert_eq!(err.id(), "config.team_invisible");
    assert!(err.detail.contains("read:org"), "{err}");
}

#[tokio::test]
async fn invisible_team_is_a_config_error_naming_the_token_kind() {
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    sim.with(|s| s.team("acme/sre").visible = false);
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, test_config());
    let err = read_all(&gh, &label_request(), "pull_request_target", &id)
        .await
        .unwrap_err();
    assert_eq!(err.exit_class(), ExitClass::Config);
    assert_eq!(err.id(), "config.team_invisible");
    assert!(err.detail.contains("@acme/sre"), "{err}");
    assert!(
        err.detail.contains("read:org") && err.detail.contains("GitHub App"),
        "{err}"
    );
    let top = prod_access::error::Error::from(err.clone());
    assert_eq!(top.exit_class(), ExitClass::Config);
    // Never asked for a membership of a team it cannot see.
    assert_eq!(
        sim.hits("GET /orgs/{org}/teams/{team_slug}/memberships/{username}"),
        0
    );
    assert_token_hygiene(&sim, Some(&err));
}

#[tokio::test]
async fn pending_membership_is_read_and_does_not_count() {
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    sim.with(|s| {
        s.team("acme/sre")
            .members
            .insert("alice".into(), "pending".into());
    });
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, test_config());
    let (policy, req, ev) = read_all(&gh, &label_request(), "pull_request_target", &id)
        .await
        .unwrap();
    assert_eq!(ev.teams["acme/sre"]["alice"], Membership::Pending);
    let d = decision_of(&policy, &req, &id, &ev);
    assert!(!d.granted());
    assert!(!d.requirement(RequirementId::ApproverInGroup).unwrap().met);
}

#[tokio::test]
async fn catalogue_58_removed_from_team_is_not_a_member() {
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    sim.with(|s| {
        s.team("acme/sre").members.remove("alice");
    });
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, test_config());
    let (policy, req, ev) = read_all(&gh, &label_request(), "pull_request_target", &id)
        .await
        .unwrap();
    assert_eq!(ev.teams["acme/sre"]["alice"], Membership::NotMember);
    let d = decision_of(&policy, &req, &id, &ev);
    assert!(!d.requirement(RequirementId::ApproverInGroup).unwrap().met);
}

/// Runs the label flow with `fault` installed; returns the error (or panics on success).
async fn label_flow_fails(fault: Fault, config: ForgeConfig) -> (ForgeSim, ForgeError) {
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    sim.add_fault(fault);
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, config);
    let err = match read_all(&gh, &label_request(), "pull_request_target", &id).await {
        Ok(_) => panic!("expected a failure"),
        Err(e) => e,
    };
    assert_token_hygiene(&sim, Some(&err));
    (sim, err)
}

const REVIEWS: &str = "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews";

#[tokio::test]
async fn catalogue_63_reviews_500_fails_after_bounded_retries() {
    let (sim, err) = label_flow_fails(Fault::status(REVIEWS, 500), test_config()).await;
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert_eq!(err.endpoint, REVIEWS);
    assert_eq!(sim.hits(REVIEWS), 4, "1 try + 3 retries");
}

#[tokio::test]
async fn catalogue_63_malformed_json_fails() {
    let (_, err) =
        label_flow_fails(Fault::new(REVIEWS, FaultKind::MalformedJson), test_config()).await;
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert_eq!(err.id(), "forge.body");
    assert!(err.detail.contains("malformed JSON"), "{err}");
}

#[tokio::test]
async fn catalogue_63_retry_after_1_then_200_grants() {
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    sim.add_fault(Fault::retry_after(REVIEWS, 429, 1).times(1));
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, test_config());
    let (policy, req, ev) = read_all(&gh, &label_request(), "pull_request_target", &id)
        .await
        .unwrap();
    assert_eq!(sim.hits(REVIEWS), 2);
    assert_granted(&decision_of(&policy, &req, &id, &ev));
}

#[tokio::test]
async fn catalogue_63_hard_rate_limit_fails_at_once_with_the_reset_time() {
    let reset = 4_102_444_800; // 2100-01-01T00:00:00Z
    let (sim, err) =
        label_flow_fails(Fault::rate_limit_exhausted(REVIEWS, reset), test_config()).await;
    assert_eq!(err.id(), "forge.rate_limited");
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert!(err.detail.contains("2100-01-01T00:00:00Z"), "{err}");
    assert_eq!(sim.hits(REVIEWS), 1, "no retry against an exhausted limit");
}

#[tokio::test]
async fn catalogue_64_retry_after_3600_fails_promptly_naming_endpoint() {
    let (sim, err) = label_flow_fails(Fault::retry_after(REVIEWS, 429, 3600), test_config()).await;
    assert_eq!(err.id(), "forge.rate_limited");
    assert_eq!(err.endpoint, REVIEWS);
    let text = err.to_string();
    assert!(
        text.contains(REVIEWS) && text.contains("retry after"),
        "{text}"
    );
    assert_eq!(sim.hits(REVIEWS), 1);
}

#[tokio::test]
async fn catalogue_65_secondary_rate_limit_bounded_retries_then_fail() {
    let (sim, err) = label_flow_fails(Fault::secondary_rate_limit(REVIEWS), test_config()).await;
    assert_eq!(err.id(), "forge.rate_limited");
    assert!(err.detail.contains("secondary"), "{err}");
    assert_eq!(sim.hits(REVIEWS), 4);
}

/// Catalogue 66: 502, 503, 504 on each endpoint in turn fail the whole flow.
#[tokio::test]
async fn catalogue_66_gateway_errors_on_each_endpoint_fail() {
    let endpoints = [
        "GET /repos/{owner}/{repo}",
        "GET /repos/{owner}/{repo}/contents/{path}",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        REVIEWS,
        "GET /repos/{owner}/{repo}/issues/{issue_number}/events",
        "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
        "GET /orgs/{org}/teams/{team_slug}",
        "GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}",
    ];
    let config = ForgeConfig {
        max_retries: 1,
        backoff: Duration::from_millis(1),
        ..test_config()
    };
    for status in [502, 503, 504] {
        for endpoint in endpoints {
            let (sim, err) =
                label_flow_fails(Fault::status(endpoint, status), config.clone()).await;
            assert_eq!(err.exit_class(), ExitClass::Upstream, "{endpoint} {status}");
            assert_eq!(err.endpoint, endpoint);
            assert_eq!(err.status, Some(status));
            // Tried twice (1 retry); per-user endpoints run concurrently for several users
            // and the first failure cancels the others.
            let hits = sim.hits(endpoint);
            assert!(hits >= 2, "{endpoint}: {hits}");
        }
    }
    // The trailer and dispatch endpoints, and the comment endpoints, directly.
    let sim = sim().await;
    set_run(&sim, "workflow_dispatch", HEAD);
    let gh = client(&sim, config.clone());
    let r = repo_ref();
    for status in [502, 503, 504] {
        sim.clear_faults();
        for e in [
            "GET /repos/{owner}/{repo}/commits/{ref}",
            "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls",
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/commits",
            "GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals",
            "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
            "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
            "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}",
        ] {
            sim.add_fault(Fault::status(e, status));
        }
        let errs = [
            gh.commit_message(&r, MERGE).await.unwrap_err(),
            gh.commit_pulls(&r, MERGE).await.unwrap_err(),
            gh.pr_commit_authors(&r, PR).await.unwrap_err(),
            gh.run_approvals(&r, RUN_ID).await.unwrap_err(),
            gh.comments(&r, PR).await.unwrap_err(),
            gh.create_comment(&r, PR, "audit").await.unwrap_err(),
            gh.update_comment(&r, 1, "audit").await.unwrap_err(),
        ];
        for e in errs {
            assert_eq!(e.exit_class(), ExitClass::Upstream, "{e}");
            assert_eq!(e.status, Some(status), "{e}");
        }
    }
    assert!(sim.state().repos[REPO].comments.is_empty());
    assert_token_hygiene(&sim, None);
}

#[tokio::test]
async fn catalogue_67_hanging_endpoint_fails_at_the_global_deadline() {
    let config = ForgeConfig {
        deadline: Duration::from_millis(1500),
        ..test_config()
    };
    let (_, err) = label_flow_fails(
        Fault::new(REVIEWS, FaultKind::Delay(Duration::from_secs(120))),
        config,
    )
    .await;
    assert_eq!(err.id(), "forge.deadline");
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert_eq!(err.endpoint, REVIEWS);
}

#[tokio::test]
async fn catalogue_68_truncated_body_fails() {
    let (_, err) = label_flow_fails(Fault::new(REVIEWS, FaultKind::Truncated), test_config()).await;
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert!(
        matches!(err.id(), "forge.transport" | "forge.body"),
        "{err}"
    );
}

#[tokio::test]
async fn catalogue_68_html_body_fails() {
    let (_, err) = label_flow_fails(Fault::new(REVIEWS, FaultKind::Html), test_config()).await;
    assert_eq!(err.id(), "forge.body");
    assert!(err.detail.contains("HTML"), "{err}");
}

#[tokio::test]
async fn catalogue_69_pr_404_denies_pr_found_with_a_permissions_hint() {
    let sim = sim().await;
    set_run(&sim, "pull_request_target", BASE);
    sim.with(|s| {
        s.repo(REPO).pulls.remove(&PR);
    });
    let id = identity("pull_request_target", "refs/heads/trunk", BASE, None);
    let gh = client(&sim, test_config());
    let (policy, req, ev) = read_all(&gh, &label_request(), "pull_request_target", &id)
        .await
        .unwrap();
    assert!(ev.pull_request.is_none());
    assert!(ev.notes.iter().any(|n| n.contains("pull-requests: read")));
    let d = decision_of(&policy, &req, &id, &ev);
    assert!(!d.granted());
    let found = d.requirement(RequirementId::PrFound).unwrap();
    assert!(
        !found.met && found.detail.contains("pull-requests: read"),
        "{found:?}"
    );
}

#[tokio::test]
async fn catalogue_72_insecure_api_url_is_refused_before_any_request() {
    for url in [
        "http://example.invalid",
        "ftp://api.github.com",
        "https://user:pw@api.github.com",
    ] {
        let err = GitHub::new(url, Secret::new(TOKEN), test_config()).unwrap_err();
        assert_eq!(err.id(), "config.insecure_url", "{url}");
        assert_eq!(err.exit_class(), ExitClass::Config);
        let top = prod_access::error::Error::from(err);
        assert_eq!(top.exit_class(), ExitClass::Config);
        assert_eq!(top.id(), Some("config.insecure_url"));
    }
}

#[tokio::test]
async fn catalogue_92_policy_is_read_from_the_default_branch_trunk() {
    let sim = sim().await;
    sim.with(|s| {
        s.repo(REPO)
            .files
            .entry("feature".into())
            .or_default()
            .insert(
                POLICY_PATH.into(),
                "version: 1\nscopes: {}\n# the PR's copy\n".into(),
            );
    });
    let gh = client(&sim, test_config());
    let repo = gh.repository(&repo_ref()).await.unwrap();
    assert_eq!(repo.default_branch, "trunk");
    let text = gh
        .policy_file(&repo_ref(), POLICY_PATH, Some(&repo.default_branch))
        .await
        .unwrap();
    assert_eq!(text, POLICY);
    let log = sim.requests();
    let contents: Vec<_> = log
        .iter()
        .filter(|r| r.route == "GET /repos/{owner}/{repo}/contents/{path}")
        .collect();
    assert_eq!(contents.len(), 1);
    assert_eq!(
        contents[0].path,
        "/repos/acme/payments/contents/.github/prod-access.yml"
    );
    assert_eq!(contents[0].query.as_deref(), Some("ref=trunk"));

    // Missing on the default branch: a configuration error naming the branch.
    let err = gh
        .policy_file(&repo_ref(), ".github/other.yml", Some("trunk"))
        .await
        .unwrap_err();
    assert_eq!(err.id(), "config.policy_not_found");
    assert_eq!(err.exit_class(), ExitClass::Config);
    assert!(err.detail.contains("not found on trunk"), "{err}");
}

#[tokio::test]
async fn oversized_policy_is_refused() {
    let sim = sim().await;
    sim.with(|s| {
        s.repo(REPO)
            .files
            .entry("trunk".into())
            .or_default()
            .insert("big.yml".into(), "#".repeat(300 * 1024));
    });
    let gh = client(&sim, test_config());
    let err = gh
        .policy_file(&repo_ref(), "big.yml", Some("trunk"))
        .await
        .unwrap_err();
    assert_eq!(err.exit_class(), ExitClass::Config);
    assert!(err.detail.contains("larger than"), "{err}");
}

#[tokio::test]
async fn comments_are_listed_created_and_updated() {
    let sim = sim().await;
    let gh = client(&sim, test_config());
    let r = repo_ref();
    let created = gh.create_comment(&r, PR, "granted: db-read").await.unwrap();
    let updated = gh
        .update_comment(&r, created.id, "granted: db-read (revoked)")
        .await
        .unwrap();
    assert_eq!(updated.id, created.id);
    let listed = gh.comments(&r, PR).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].body, "granted: db-read (revoked)");
    assert!(listed[0].author.as_ref().unwrap().is_bot());
    let stored = &sim.state().repos[REPO].comments[&PR];
    assert_eq!(stored[0]["body"], "granted: db-read (revoked)");
    assert_token_hygiene(&sim, None);
}

#[tokio::test]
async fn strict_scope_reads_pr_commit_authors_and_head_commit_on_pr_trailer() {
    let sim = sim().await;
    set_run(&sim, "pull_request", HEAD);
    let message = format!("Fix\n\nProd-Access: {REASON}\nProd-Access-Scope: db-write\n");
    sim.with(|s| {
        let r = s.repo(REPO);
        r.commits.insert(
            HEAD.into(),
            commit_json(
                HEAD,
                &message,
                Some(dave()),
                Some(user_json("web-flow", 19864447)),
            ),
        );
        r.pr_commits.insert(
            PR,
            vec![commit_json(
                HEAD,
                &message,
                Some(dave()),
                Some(user_json("web-flow", 19864447)),
            )],
        );
    });
    let id = identity("pull_request", "refs/pull/7/merge", MERGE, None);
    let gh = client(&sim, test_config());
    let event = EventRequest {
        reason: Some(REASON.into()),
        scope: Some("db-write".into()),
        pr_number: Some(PR),
        head_sha: Some(HEAD.into()),
        ..EventRequest::new(Shape::Trailer)
    };
    let (_, _, ev) = read_all(&gh, &event, "pull_request", &id).await.unwrap();
    assert_eq!(ev.head_commit_message.as_deref(), Some(message.as_str()));
    let logins: Vec<&str> = ev
        .pr_commit_authors
        .iter()
        .map(|u| u.login.as_str())
        .collect();
    assert_eq!(logins, ["dave", "web-flow"]);
}

#[tokio::test]
async fn unknown_route_answers_501_and_bad_token_401() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{}/user", sim.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 501);
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["message"], "GET /user not implemented");
    let gh = GitHub::new(sim.api_url(), Secret::new("wrong"), test_config()).unwrap();
    let err = gh.repository(&repo_ref()).await.unwrap_err();
    assert_eq!(err.status, Some(401));
    assert_eq!(err.exit_class(), ExitClass::Upstream);
}

/// The simulator's shapes carry the keys of `@octokit/openapi`'s examples that the client
/// reads, with the same JSON types.
#[test]
fn sim_shapes_follow_the_openapi_examples() {
    use common::fixtures as fx;
    let r = SimRepo {
        id: 1,
        owner: "octocat".into(),
        name: "Hello-World".into(),
        default_branch: "main".into(),
        ..SimRepo::default()
    };
    let pr = pull_json(
        &r,
        1,
        HEAD,
        "main",
        user_json("octocat", 1),
        &["bug"],
        "open",
        false,
        Some(1),
        None,
    );
    let checks: Vec<(Value, Value, &[&str])> = vec![
        (
            fx::api_pull_request(),
            pr,
            &[
                "/number",
                "/state",
                "/merged",
                "/user/login",
                "/user/id",
                "/user/type",
                "/labels/0/name",
                "/head/sha",
                "/head/repo/id",
                "/base/ref",
                "/base/repo/id",
                "/title",
                "/body",
            ],
        ),
        (
            fx::api_reviews()[0].clone(),
            review_json(
                1,
                user_json("octocat", 1),
                "APPROVED",
                HEAD,
                "2019-11-17T17:43:43Z",
            ),
            &[
                "/id",
                "/user/login",
                "/state",
                "/commit_id",
                "/submitted_at",
            ],
        ),
        (
            fx::api_issue_events()[0].clone(),
            labeled_event_json(1, user_json("octocat", 1), "bug", "2011-04-14T16:00:49Z"),
            &["/id", "/event", "/actor/login", "/created_at"],
        ),
        (
            fx::api_commit(),
            commit_json(
                HEAD,
                "m",
                Some(user_json("octocat", 1)),
                Some(user_json("octocat", 1)),
            ),
            &["/sha", "/commit/message", "/author/login", "/committer/id"],
        ),
        (
            fx::api_workflow_run(),
            run_json(
                1,
                "push",
                HEAD,
                1,
                user_json("octocat", 1),
                user_json("octocat", 1),
            ),
            &[
                "/id",
                "/event",
                "/head_sha",
                "/run_attempt",
                "/actor/login",
                "/triggering_actor/login",
            ],
        ),
        (
            fx::api_run_approvals()[0].clone(),
            approval_json(user_json("octocat", 1), "approved", &["staging"], "ok"),
            &["/state", "/comment", "/user/login", "/environments/0/name"],
        ),
    ];
    for (example, ours, pointers) in checks {
        for p in pointers {
            let (a, b) = (example.pointer(p), ours.pointer(p));
            let kind = |v: Option<&Value>| match v {
                None => "absent",
                Some(Value::Null) => "null",
                Some(Value::String(_)) => "string",
                Some(Value::Number(_)) => "number",
                Some(Value::Bool(_)) => "bool",
                Some(Value::Array(_)) => "array",
                Some(Value::Object(_)) => "object",
            };
            assert!(b.is_some(), "sim shape lacks {p}");
            if a.is_some() && !matches!(a, Some(Value::Null)) && !matches!(b, Some(Value::Null)) {
                assert_eq!(kind(a), kind(b), "{p}: example {a:?}, sim {b:?}");
            }
        }
    }
    // The API shapes parse with the real client too: the openapi examples served as-is.
    assert_eq!(fx::api_collaborator_permission()["permission"], "admin");
    assert!(fx::api_team_membership()["state"].is_string());
    assert!(fx::api_content_file()["content"].is_string());
    assert_eq!(fx::api_repository()["default_branch"], "master");
}

#[tokio::test]
async fn catalogue_71_comment_post_500_fails_without_a_retry() {
    let sim = sim().await;
    sim.add_fault(Fault::status(
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
        500,
    ));
    let gh = client(&sim, test_config());
    let err = gh
        .create_comment(&repo_ref(), PR, "audit")
        .await
        .unwrap_err();
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert_eq!(err.status, Some(500));
    // A POST that may have landed is never repeated (no duplicate audit comment).
    assert_eq!(
        sim.hits("POST /repos/{owner}/{repo}/issues/{issue_number}/comments"),
        1
    );
    assert_token_hygiene(&sim, Some(&err));
}

#[tokio::test]
async fn policy_path_with_dot_segments_is_refused_without_a_request() {
    let sim = sim().await;
    let gh = client(&sim, test_config());
    for path in ["../../orgs/acme", ".github/../x.yml", "/abs.yml", ""] {
        let err = gh
            .policy_file(&repo_ref(), path, Some("trunk"))
            .await
            .unwrap_err();
        assert_eq!(err.exit_class(), ExitClass::Config, "{path}");
    }
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn pending_head_commit_is_read_and_the_event_parsed_again() {
    use prod_access::event::{EventOutcome, RequestKeys, parse_event};
    let sim = sim().await;
    let message = format!("Fix\n\nProd-Access: {REASON}\nProd-Access-Scope: db-read\n");
    sim.with(|s| {
        s.repo(REPO).commits.insert(
            HEAD.into(),
            commit_json(HEAD, &message, Some(dave()), Some(dave())),
        );
    });
    let payload = common::fixtures::synchronize_event(HEAD);
    let payload = common::fixtures::bytes(&payload);
    let keys = RequestKeys::default();
    let first = parse_event("pull_request", &payload, &keys, None).unwrap();
    assert!(matches!(&first, EventOutcome::Request(r) if r.head_commit_pending));
    let gh = client(&sim, test_config());
    let repo = gh.repository(&repo_ref()).await.unwrap();
    let again = prod_access::gather::reparse_with_head_commit(
        &gh,
        &repo,
        "pull_request",
        &payload,
        &keys,
        first,
    )
    .await
    .unwrap();
    match again {
        EventOutcome::Request(r) => {
            assert!(!r.head_commit_pending);
            assert_eq!(r.reason.as_deref(), Some(REASON));
            assert_eq!(r.scope.as_deref(), Some("db-read"));
        }
        other => panic!("expected a request, got {other:?}"),
    }
    assert_eq!(sim.hits("GET /repos/{owner}/{repo}/commits/{ref}"), 1);
}

#[tokio::test]
async fn more_pages_than_the_bound_fail_instead_of_truncating() {
    let sim = sim().await;
    sim.with(|s| {
        let reviews = (0..250u64)
            .map(|i| review_json(i + 1, alice(), "COMMENTED", HEAD, "2026-11-23T09:00:00Z"))
            .collect();
        s.repo(REPO).reviews.insert(PR, reviews);
    });
    let config = ForgeConfig {
        max_pages: 2,
        ..test_config()
    };
    let gh = client(&sim, config);
    let err = gh.reviews(&repo_ref(), PR).await.unwrap_err();
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert!(err.detail.contains("more than 2 pages"), "{err}");
}

#[tokio::test]
async fn a_body_above_the_cap_fails() {
    let sim = sim().await;
    let config = ForgeConfig {
        body_cap: 256,
        ..test_config()
    };
    let gh = client(&sim, config);
    let err = gh.pull_request(&repo_ref(), PR).await.unwrap_err();
    assert_eq!(err.id(), "forge.body");
    assert!(err.detail.contains("larger than 256 bytes"), "{err}");
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let sim = sim().await;
    sim.add_fault(Fault::new(
        "GET /repos/{owner}/{repo}",
        FaultKind::Status {
            status: 301,
            headers: vec![(
                "location".into(),
                format!("{}/repos/elsewhere/moved", sim.api_url()),
            )],
            body: json!({ "message": "Moved Permanently" }),
        },
    ));
    let gh = client(&sim, test_config());
    let err = gh.repository(&repo_ref()).await.unwrap_err();
    assert_eq!(err.status, Some(301));
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert_eq!(sim.requests().len(), 1, "the Location was not requested");
}

#[tokio::test]
async fn a_next_link_off_the_api_base_is_not_followed() {
    let sim = sim().await;
    sim.add_fault(Fault::new(
        REVIEWS,
        FaultKind::Status {
            status: 200,
            headers: vec![(
                "link".into(),
                "<https://evil.example/steal?page=2>; rel=\"next\"".into(),
            )],
            body: json!([]),
        },
    ));
    let gh = client(&sim, test_config());
    let err = gh.reviews(&repo_ref(), PR).await.unwrap_err();
    assert_eq!(err.id(), "forge.body");
    assert!(err.detail.contains("leaves the API base URL"), "{err}");
}

#[tokio::test]
async fn absurd_retry_after_and_reset_values_fail_without_panicking() {
    for fault in [
        Fault::retry_after(REVIEWS, 429, u64::MAX),
        Fault::retry_after(REVIEWS, 403, 99_999_999_999_999_999),
        Fault::rate_limit_exhausted(REVIEWS, i64::MAX),
    ] {
        let (_, err) = label_flow_fails(fault, test_config()).await;
        assert_eq!(err.id(), "forge.rate_limited", "{err}");
    }
}
