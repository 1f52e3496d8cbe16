//! Builders for decision tests: a compiled policy built by hand (the YAML compiler is written
//! elsewhere) and one baseline scenario per request shape, each granted as built.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};

use crate::decide::request::{ReasonSource, Request, ScopeSource};
use crate::decide::{Decision, DecisionInput, RequirementId, decide};
use crate::event::Shape;
use crate::facts::VerifiedIdentity;
use crate::facts::{
    DeploymentReview, Evidence, LabelEvent, Membership, Permission, PullRequest, Review,
    ReviewState, RunInfo, UserRef,
};
use crate::policy::{
    ApprovalRules, CredentialSpec, Glob, IdentityRules, Policy, Principal, Providers, RequestRules,
    Scope,
};
use crate::runner::RunnerHints;

/// The PR's current head.
pub const HEAD: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
/// An older commit of the PR.
pub const OLD: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
/// The base branch's head (what a `pull_request_target` run builds).
pub const BASE: &str = "ffac537e6cbbf934b08745a378932722df287a53";
/// A merge commit (a `pull_request` test merge, or the commit a push lands).
pub const MERGE: &str = "9c1b7d4a1f0e2b3c4d5e6f708192a3b4c5d6e7f8";

pub const REPO_ID: u64 = 123;
pub const RUN_ID: u64 = 42;
pub const WORKFLOW: &str = "acme/payments/.github/workflows/prod-access.yml@refs/heads/main";
pub const REASON: &str = "INC-42 read the orders table";

pub fn user(login: &str, id: u64) -> UserRef {
    UserRef::new(login, Some(id))
}
/// The approver: an active member of @acme/sre with write permission.
pub fn alice() -> UserRef {
    user("alice", 10)
}
/// A writer outside @acme/sre.
pub fn bob() -> UserRef {
    user("bob", 20)
}
/// The requester (token actor; the labeler; the pusher; the dispatcher).
pub fn carol() -> UserRef {
    user("carol", 30)
}
/// The PR author.
pub fn dave() -> UserRef {
    user("dave", 40)
}

pub fn sre() -> Principal {
    Principal::Team {
        org: "acme".into(),
        team: "sre".into(),
    }
}

pub fn glob(p: &str) -> Glob {
    match Glob::new(p) {
        Ok(g) => g,
        Err(e) => panic!("bad glob {p}: {e}"),
    }
}

pub fn scope(name: &str, required: u32, from: Vec<Principal>) -> Scope {
    Scope {
        name: name.into(),
        credential: CredentialSpec::Postgres {
            grant_role: "app_readonly".into(),
            connection_limit: 2,
            database: None,
        },
        ttl: Duration::from_secs(15 * 60),
        max_ttl: Duration::from_secs(3600),
        approvals: ApprovalRules {
            required,
            from,
            fresh: true,
            strict: false,
        },
        requesters: Vec::new(),
        environments: vec!["production".into()],
        break_glass: false,
        allow_forks: false,
    }
}

/// db-read: 1 approval from @acme/sre, production only. db-write: 2 from @acme/sre, strict.
/// api-admin: break-glass, no approval.
pub fn policy() -> Policy {
    let mut db_write = scope("db-write", 2, vec![sre()]);
    db_write.approvals.strict = true;
    let mut api_admin = scope("api-admin", 0, Vec::new());
    api_admin.break_glass = true;
    api_admin.environments = Vec::new();
    api_admin.credential = CredentialSpec::Jwt {
        audience: "payments-api".into(),
        claims: Map::new(),
    };
    Policy {
        identity: IdentityRules {
            issuer: crate::policy::DEFAULT_ISSUER.into(),
            audience: crate::policy::DEFAULT_AUDIENCE.into(),
            claims: BTreeMap::from([
                ("repository".to_string(), vec![glob("acme/payments")]),
                ("job_workflow_ref".to_string(), vec![glob(WORKFLOW)]),
            ]),
        },
        request: RequestRules {
            trailer: "Prod-Access".into(),
            scope_trailer: "Prod-Access-Scope".into(),
            labels: BTreeMap::from([
                ("prod-access".to_string(), "db-read".to_string()),
                ("hotfix".to_string(), "db-write".to_string()),
            ]),
            reason_pattern: regex::Regex::new("(INC|CHG)-[0-9]+").ok(),
        },
        scopes: [scope("db-read", 1, vec![sre()]), db_write, api_admin]
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect(),
        providers: Providers::default(),
    }
}

pub fn at(minute: u32) -> Option<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, minute, 0).single()
}

pub fn review(id: u64, who: UserRef, state: ReviewState, sha: &str, minute: u32) -> Review {
    Review {
        id,
        user: Some(who),
        state,
        commit_id: Some(sha.into()),
        submitted_at: at(minute),
    }
}

pub fn approve(id: u64, who: UserRef, minute: u32) -> Review {
    review(id, who, ReviewState::Approved, HEAD, minute)
}

/// One decision's inputs, owned, so a test can mutate any of them.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub policy: Policy,
    pub request: Request,
    pub identity: VerifiedIdentity,
    pub evidence: Evidence,
    pub runner: RunnerHints,
    pub now: DateTime<Utc>,
    /// As the forge would show it for an untouched run: [`Scenario::decide`] lists the PR in
    /// the run's `pull_requests` (PR events) and reads its head again unchanged, at whatever
    /// head the test set. `false` leaves `run.pull_requests` and `pr_head_now` as the test
    /// set them (the binding and moved-head tests).
    pub auto_bind: bool,
}

fn identity(event: &str, git_ref: &str, sha: &str) -> VerifiedIdentity {
    let mut claims = Map::new();
    for (k, v) in [
        ("repository", "acme/payments"),
        ("repository_owner", "acme"),
        ("actor", "carol"),
        ("event_name", event),
        ("ref", git_ref),
        ("sha", sha),
        ("environment", "production"),
        ("job_workflow_ref", WORKFLOW),
    ] {
        claims.insert(k.into(), Value::String(v.into()));
    }
    for (k, v) in [
        ("repository_id", REPO_ID),
        ("actor_id", 30),
        ("run_id", RUN_ID),
        ("run_attempt", 1),
    ] {
        claims.insert(k.into(), json!(v.to_string()));
    }
    match VerifiedIdentity::from_verified_claims(claims) {
        Ok(id) => id,
        Err(e) => panic!("test identity: {e}"),
    }
}

fn runner_for(id: &VerifiedIdentity) -> RunnerHints {
    RunnerHints {
        repository: Some(id.repository.clone()),
        run_id: Some(id.run_id.to_string()),
        run_attempt: Some(id.run_attempt.to_string()),
        event_name: Some(id.event_name.clone()),
        sha: Some(id.sha.clone()),
        git_ref: Some(id.git_ref.clone()),
        actor: Some(id.actor.clone()),
    }
}

fn pull_request(labels: &[&str]) -> PullRequest {
    PullRequest {
        number: 7,
        head_sha: HEAD.into(),
        base_ref: "main".into(),
        author: dave(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        state: "open".into(),
        merged: false,
        from_fork: false,
        body: Some(format!(
            "Reads the orders table.\r\n\r\nProd-Access: {REASON}\r\n"
        )),
        title: "Investigate INC-42".into(),
    }
}

fn evidence(run_event: &str, run_head: &str) -> Evidence {
    Evidence {
        default_branch: Some("main".into()),
        repository_id: Some(REPO_ID),
        run: Some(RunInfo {
            id: RUN_ID,
            event: run_event.into(),
            head_sha: run_head.into(),
            run_attempt: 1,
            actor: Some(carol()),
            triggering_actor: Some(carol()),
            pull_requests: Vec::new(),
        }),
        head_commit_message: None,
        pull_request: Some(pull_request(&["prod-access"])),
        reviews: vec![approve(100, alice(), 5)],
        pr_commit_authors: vec![dave()],
        label_event: None,
        deployment_reviews: Vec::new(),
        permissions: BTreeMap::from([
            ("alice".to_string(), Permission::Write),
            ("bob".to_string(), Permission::Write),
            ("carol".to_string(), Permission::Write),
            ("dave".to_string(), Permission::Write),
        ]),
        teams: BTreeMap::from([(
            "acme/sre".to_string(),
            BTreeMap::from([("alice".to_string(), Membership::Active)]),
        )]),
        already_granted: false,
        notes: Vec::new(),
        permission_user_ids: BTreeMap::new(),
        pr_head_now: None,
    }
}

fn request(shape: Shape, event: &str) -> Request {
    Request {
        shape,
        event_name: event.into(),
        reason: Some(REASON.into()),
        scope: Some("db-read".into()),
        label: None,
        pr_number: Some(7),
        head_sha: Some(HEAD.into()),
        ttl: None,
        ambiguous: Vec::new(),
        scope_source: Some(ScopeSource::Event),
        reason_source: Some(ReasonSource::Event),
    }
}

/// The head commit of the trailer scenarios, as the API returns it.
pub fn trailer_message() -> String {
    format!(
        "Read the orders table for INC-42\n\nBody text.\n\nProd-Access: {REASON}\nProd-Access-Scope: db-read\n"
    )
}

impl Scenario {
    /// Label request (`pull_request_target` `labeled`): label `prod-access` (scope db-read)
    /// added by carol on dave's PR #7, approved on its head by alice (@acme/sre, write).
    pub fn label() -> Self {
        let identity = identity("pull_request_target", "refs/heads/main", BASE);
        let mut evidence = evidence("pull_request_target", BASE);
        evidence.label_event = Some(LabelEvent {
            label: "prod-access".into(),
            actor: Some(carol()),
            created_at: at(1),
        });
        let mut request = request(Shape::Label, "pull_request_target");
        request.label = Some("prod-access".into());
        request.scope_source = Some(ScopeSource::Label);
        Self::assemble(request, identity, evidence)
    }

    /// Trailer request on a PR event (`pull_request_target` `synchronize`): the head commit of
    /// #7 carries `Prod-Access:` and `Prod-Access-Scope: db-read`.
    pub fn trailer_pr() -> Self {
        let identity = identity("pull_request_target", "refs/heads/main", BASE);
        let mut evidence = evidence("pull_request_target", BASE);
        evidence.head_commit_message = Some(trailer_message());
        Self::assemble(
            request(Shape::Trailer, "pull_request_target"),
            identity,
            evidence,
        )
    }

    /// Trailer request on a `push` to main: the pushed commit MERGE came through #7, merged.
    pub fn trailer_push() -> Self {
        let identity = identity("push", "refs/heads/main", MERGE);
        let mut evidence = evidence("push", MERGE);
        evidence.head_commit_message = Some(trailer_message());
        if let Some(pr) = evidence.pull_request.as_mut() {
            pr.state = "closed".into();
            pr.merged = true;
        }
        let mut request = request(Shape::Trailer, "push");
        request.pr_number = None;
        request.head_sha = Some(MERGE.into());
        Self::assemble(request, identity, evidence)
    }

    /// Dispatch with input `pull-request: 7`, run on #7's head (branch fix-orders; the policy
    /// binds the workflow on any branch).
    pub fn dispatch_pr() -> Self {
        let mut identity = identity("workflow_dispatch", "refs/heads/fix-orders", HEAD);
        let wf = "acme/payments/.github/workflows/prod-access.yml@refs/heads/fix-orders";
        identity.job_workflow_ref = wf.into();
        identity
            .claims
            .insert("job_workflow_ref".into(), Value::String(wf.into()));
        let evidence = evidence("workflow_dispatch", HEAD);
        let mut request = request(Shape::Dispatch, "workflow_dispatch");
        request.head_sha = None;
        let mut s = Self::assemble(request, identity, evidence);
        s.policy.identity.claims.insert(
            "job_workflow_ref".into(),
            vec![glob(
                "acme/payments/.github/workflows/prod-access.yml@refs/heads/*",
            )],
        );
        s
    }

    /// Dispatch on main without a PR: alice approved the deployment to production.
    pub fn dispatch_deploy() -> Self {
        let identity = identity("workflow_dispatch", "refs/heads/main", BASE);
        let mut evidence = evidence("workflow_dispatch", BASE);
        evidence.pull_request = None;
        evidence.reviews = Vec::new();
        evidence.pr_commit_authors = Vec::new();
        evidence.deployment_reviews = vec![deployment(alice(), "approved", &["production"])];
        let mut request = request(Shape::Dispatch, "workflow_dispatch");
        request.pr_number = None;
        request.head_sha = None;
        Self::assemble(request, identity, evidence)
    }

    fn assemble(request: Request, identity: VerifiedIdentity, evidence: Evidence) -> Self {
        let runner = runner_for(&identity);
        Self {
            policy: policy(),
            request,
            identity,
            evidence,
            runner,
            auto_bind: true,
            now: Utc
                .with_ymd_and_hms(2026, 5, 1, 13, 0, 0)
                .single()
                .unwrap_or_default(),
        }
    }

    /// The evidence as [`Scenario::decide`] passes it (see [`Scenario::auto_bind`]).
    pub fn bound_evidence(&self) -> Evidence {
        let mut evidence = self.evidence.clone();
        if self.auto_bind
            && let Some(pr) = evidence.pull_request.clone()
        {
            if evidence.pr_head_now.is_none() {
                evidence.pr_head_now = Some(pr.head_sha.clone());
            }
            let pr_event = matches!(
                self.identity.event_name.as_str(),
                "pull_request" | "pull_request_target"
            );
            if let Some(run) = evidence.run.as_mut()
                && pr_event
                && run.pull_requests.is_empty()
                && !pr.from_fork
            {
                run.pull_requests.push(crate::facts::RunPullRequest {
                    number: pr.number,
                    head_sha: pr.head_sha.clone(),
                });
            }
        }
        evidence
    }

    pub fn decide(&self) -> Decision {
        let evidence = self.bound_evidence();
        decide(&DecisionInput {
            policy: &self.policy,
            request: &self.request,
            identity: &self.identity,
            evidence: &evidence,
            runner: &self.runner,
            now: self.now,
        })
    }

    /// The requested scope, to tighten or loosen it.
    pub fn scope_mut(&mut self) -> &mut Scope {
        let name = self.request.scope.clone().unwrap_or_default();
        match self.policy.scopes.get_mut(&name) {
            Some(s) => s,
            None => panic!("scenario scope {name} missing"),
        }
    }

    pub fn pr_mut(&mut self) -> &mut PullRequest {
        match self.evidence.pull_request.as_mut() {
            Some(pr) => pr,
            None => panic!("scenario has no PR"),
        }
    }

    pub fn run_mut(&mut self) -> &mut RunInfo {
        match self.evidence.run.as_mut() {
            Some(run) => run,
            None => panic!("scenario has no run"),
        }
    }

    pub fn set_permission(&mut self, login: &str, p: Permission) {
        self.evidence.permissions.insert(login.to_lowercase(), p);
    }

    pub fn set_membership(&mut self, team: &str, login: &str, m: Membership) {
        self.evidence
            .teams
            .entry(team.into())
            .or_default()
            .insert(login.to_lowercase(), m);
    }

    /// Sets the token's run attempt everywhere it appears (token, claims, env, run).
    pub fn set_attempt(&mut self, attempt: u32) {
        self.identity.run_attempt = attempt;
        self.identity
            .claims
            .insert("run_attempt".into(), json!(attempt.to_string()));
        self.runner.run_attempt = Some(attempt.to_string());
        self.run_mut().run_attempt = attempt;
    }
}

pub fn deployment(who: UserRef, state: &str, envs: &[&str]) -> DeploymentReview {
    DeploymentReview {
        user: Some(who),
        state: state.into(),
        environments: envs.iter().map(|e| e.to_string()).collect(),
        comment: String::new(),
    }
}

/// The ids of the unmet requirements.
pub fn unmet_ids(d: &Decision) -> Vec<RequirementId> {
    d.unmet().map(|r| r.id).collect()
}

/// Asserts a granted decision, printing every unmet requirement otherwise.
#[track_caller]
pub fn assert_granted(d: &Decision) {
    let unmet: Vec<String> = d
        .unmet()
        .map(|r| format!("{}: {}", r.id, r.detail))
        .collect();
    assert!(d.granted(), "expected granted, unmet: {unmet:#?}");
}

/// Asserts a denial where exactly `ids` are unmet.
#[track_caller]
pub fn assert_denied(d: &Decision, ids: &[RequirementId]) {
    assert!(!d.granted(), "expected denied");
    let mut want = ids.to_vec();
    want.sort();
    let mut got = unmet_ids(d);
    got.sort();
    let details: Vec<String> = d
        .unmet()
        .map(|r| format!("{}: {}", r.id, r.detail))
        .collect();
    assert_eq!(got, want, "unmet: {details:#?}");
}

/// The detail of a requirement, or a panic naming it.
#[track_caller]
pub fn detail(d: &Decision, id: RequirementId) -> String {
    match d.requirement(id) {
        Some(r) => r.detail.clone(),
        None => panic!("{id} was not evaluated"),
    }
}
