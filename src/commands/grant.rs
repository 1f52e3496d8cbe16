//! `prod-access grant` (and the online `check`): the whole flow of contract §6.
//!
//! ```text
//! runner env (hints) -> forge: repository, policy from the default branch
//!   -> verified OIDC identity (issuer and audience from that policy)
//!   -> event -> request -> evidence from the forge -> decision (pure)
//!   -> grant: mint -> mask -> audit comment -> GITHUB_ENV -> outputs -> state -> summary
//! ```
//!
//! SECURITY: every failure after the mint revokes before it returns (exit 3); nothing reaches
//! `GITHUB_ENV` before the mask lines and the audit comment exist.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use futures_util::FutureExt as _;

use crate::audit::{AuditRecord, CredentialInfo, GrantId, RunFacts, Status};
use crate::cli::{IfNoRequest, Inputs};
use crate::credential::{
    AnyProvider, GrantContext, Minted, Provider, RevokeHandle, RevokeOutcome, revoke_keyless,
};
use crate::decide::{Decision, DecisionInput, Request, RequestInputs, decide, resolve_request};
use crate::decide::{RequirementId, Verdict};
use crate::emit::escape::log_inline;
use crate::emit::files::{RunnerFiles, RunnerPaths};
use crate::emit::{Console, Level, Masked};
use crate::error::{Error, ExitClass};
use crate::event::Shape;
use crate::event::{EventOutcome, RequestKeys, parse_event, read_event_file};
use crate::forge::{
    Comment, Evidence, Forge, ForgeConfig, GitHub, Memo, RepoRef, Repository, Viewer,
};
use crate::gather;
use crate::gather::{gather_evidence, reparse_with_head_commit};
use crate::identity::{
    IdentityInputs, request_job_token, unverified_claim, verified_identity_with, verify_job_token,
};
use crate::oidc::fetch::{FetchConfig, JwksCache, OidcClient};
use crate::oidc::{REQUEST_TOKEN_VAR, REQUEST_URL_VAR, VerifiedIdentity};
use crate::policy::{Policy, load_policy};
use crate::report::comment::{find_marker, records_a_mint, render, restatus};
use crate::report::console::print_decision;
use crate::report::summary::{Links, SummaryView, render_summary};
use crate::runner::RunnerHints;
use crate::secret::Secret;
use crate::text::rfc3339;

use crate::report::REQUIREMENTS_DOC;

/// The variable a grant adds to `GITHUB_ENV` so a second `grant` for the same run attempt
/// and scope in this job is refused (`not-already-granted`). Forging it can only deny.
pub const GRANTS_VAR: &str = "PROD_ACCESS_GRANTS";

/// The runner's environment as this flow reads it: untrusted hints and file paths.
#[derive(Debug, Clone)]
pub struct Runner {
    pub event_name: String,
    pub event_path: PathBuf,
    pub repo: RepoRef,
    pub api_url: String,
    /// `GITHUB_GRAPHQL_URL`: used only on the API's origin (see [`GitHub::with_graphql_hint`]).
    pub graphql_url: Option<String>,
    pub server_url: String,
    pub paths: RunnerPaths,
    pub hints: RunnerHints,
}

impl Runner {
    /// Reads the runner's variables; a missing one is exit 2 before any request.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |var| env(var).filter(|v: &String| !v.trim().is_empty());
        let what = "the runner's environment";
        let event_name = get("GITHUB_EVENT_NAME").ok_or(Error::MissingEnv {
            what,
            var: "GITHUB_EVENT_NAME",
        })?;
        let event_path = get("GITHUB_EVENT_PATH").ok_or(Error::MissingEnv {
            what,
            var: "GITHUB_EVENT_PATH",
        })?;
        let repository = get("GITHUB_REPOSITORY").ok_or(Error::MissingEnv {
            what,
            var: "GITHUB_REPOSITORY",
        })?;
        let repo = RepoRef::parse(&repository).ok_or_else(|| {
            Error::Usage(format!(
                "GITHUB_REPOSITORY must be owner/name, got {}",
                crate::emit::escape::quote_untrusted(&repository, 80)
            ))
        })?;
        Ok(Self {
            event_name,
            event_path: PathBuf::from(event_path),
            repo,
            api_url: get("GITHUB_API_URL")
                .unwrap_or_else(|| crate::forge::github::DEFAULT_API_URL.into()),
            graphql_url: get("GITHUB_GRAPHQL_URL"),
            server_url: get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            paths: RunnerPaths::from_lookup(env),
            hints: RunnerHints::from_lookup(env),
        })
    }

    fn repo_url(&self) -> String {
        format!("{}/{}", self.server_url.trim_end_matches('/'), self.repo)
    }

    fn run_url(&self, identity: &VerifiedIdentity) -> String {
        format!(
            "{}/actions/runs/{}/attempts/{}",
            self.repo_url(),
            identity.run_id,
            identity.run_attempt
        )
    }
}

/// Knobs for tests and `demo`: deadlines and the clock.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    pub forge: ForgeConfig,
    pub oidc: FetchConfig,
    /// The clock of the grant (tests move it; production reads the system clock).
    pub now: fn() -> DateTime<Utc>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            forge: ForgeConfig::default(),
            oidc: FetchConfig::default(),
            now: Utc::now,
        }
    }
}

/// Everything the decision was made from.
pub struct Decided {
    pub policy: Policy,
    pub repository: Repository,
    pub identity: VerifiedIdentity,
    pub request: Request,
    pub evidence: Evidence,
    pub decision: Decision,
    /// The PR's comments when a PR is involved (for the replay check and the audit).
    pub comments: Vec<Comment>,
    /// The account the forge token acts as, when a PR is involved: only its comments are
    /// the tool's own.
    pub viewer: Option<Viewer>,
}

impl Decided {
    /// The PR the audit comment goes on: the evidence's PR, only once it is bound to this
    /// run. SECURITY: a PR the event file names but the run does not (`run-consistent`), or a
    /// dispatch's PR whose head is not the commit that runs (`head-current`), gets no comment.
    pub fn audit_pr(&self) -> Option<u64> {
        let pr = self.evidence.pull_request.as_ref()?;
        let ok = |id| self.decision.requirement(id).is_none_or(|r| r.met);
        let bound = ok(RequirementId::RunConsistent)
            && (self.request.shape != Shape::Dispatch || ok(RequirementId::HeadCurrent));
        bound.then_some(pr.number)
    }
}

/// What the waves prepared for [`verified_job`]: the policy parsed (with the text it was
/// parsed from) and the job token verified against it.
pub struct Prepared {
    pub policy: Option<(String, Policy)>,
    pub identity: Option<PreparedIdentity>,
}

/// A job token requested and verified ahead (the waves), with what it was verified against.
pub struct PreparedIdentity {
    pub issuer: String,
    pub audience: String,
    pub identity: Result<VerifiedIdentity, Error>,
}

/// SECURITY: without the runner's token request variables there is no identity: exit 2
/// (with the `id-token: write` hint) before any request.
fn require_token_env(env: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
    for var in [REQUEST_URL_VAR, REQUEST_TOKEN_VAR] {
        if env(var).filter(|v| !v.is_empty()).is_none() {
            return Err(Error::MissingEnv {
                what: "the job's OIDC token",
                var,
            });
        }
    }
    Ok(())
}

/// The identity, repository and policy of a job: the policy from the default branch of the
/// repository the runner names, and a fresh job token verified against it, which must name
/// that same repository.
pub struct JobFacts {
    pub repository: Repository,
    pub policy: Policy,
    pub identity: VerifiedIdentity,
}

/// What the decision step found.
pub enum Found {
    NoRequest(String),
    Decided(Box<Decided>),
}

/// Reads everything and decides. Shared by `grant` and the online `check`.
pub async fn decide_online<F: Forge>(
    forge: &F,
    runner: &Runner,
    inputs: &Inputs,
    env: &dyn Fn(&str) -> Option<String>,
    config: &FlowConfig,
) -> Result<Found, Error> {
    // SECURITY: without a token request URL there is no identity; fail before any request.
    require_token_env(env)?;
    // The event file: hints for the waves, then parsed as the token's event.
    let payload = read_event_file(&runner.event_path)?;
    let request_inputs = RequestInputs {
        scope: inputs.scope.clone(),
        reason: inputs.reason.clone(),
        ttl: inputs.ttl,
        pull_request: inputs.pull_request,
    };
    let hints = gather::Hints::read(
        &runner.event_name,
        runner.hints.run_id.as_deref(),
        runner.hints.sha.as_deref(),
        inputs.pull_request,
        &payload,
    );
    let memo = Memo::new(forge);
    let client = OidcClient::new(config.oidc.clone())
        .map_err(|e| Error::from(crate::oidc::OidcError::from(e)))?;

    // Wave 1: the job token (for the input's audience) beside everything the hints name.
    let (token, ()) = tokio::join!(
        request_job_token(&client, env, &inputs.audience),
        memo.prefetch(gather::first_wave(&runner.repo, &inputs.policy, &hints))
    );
    // Wave 2: the token verified against the policy's issuer (discovery beside the key set)
    // beside the permissions, memberships and the PR read again.
    // The policy, parsed once: the pipeline takes this parse when its text is the same.
    let policy_hint: Option<(String, Policy)> = memo
        .peek_policy(&runner.repo, &inputs.policy)
        .and_then(|text| load_policy(&text).ok().map(|policy| (text, policy)));
    let actor = token
        .as_ref()
        .ok()
        .and_then(|t| unverified_claim(t, "actor"));
    let second = gather::second_wave(
        &memo,
        &runner.repo,
        &hints,
        policy_hint.as_ref().map(|(_, policy)| policy),
        &request_inputs,
        &payload,
        actor.as_deref(),
    );
    let verify = async {
        let (_, policy) = policy_hint.as_ref()?;
        let (issuer, audience) = (&policy.identity.issuer, &policy.identity.audience);
        let identity = async {
            // A policy whose audience differs from the input's needs a token for its own.
            let token = if *audience == inputs.audience {
                token?
            } else {
                request_job_token(&client, env, audience).await?
            };
            let now = (config.now)().timestamp();
            verify_job_token(&client, JwksCache::global(), &token, issuer, audience, now).await
        }
        .await;
        Some(PreparedIdentity {
            issuer: issuer.clone(),
            audience: audience.clone(),
            identity,
        })
    };
    let parsed_event = second.event;
    let (identity, ()) = tokio::join!(verify, memo.prefetch(second.asks));
    let prepared = Prepared {
        policy: policy_hint,
        identity,
    };

    // The pipeline, asking with confirmed arguments; the answers above serve where they fit.
    let forge = &memo;
    let JobFacts {
        repository,
        policy,
        identity,
    } = verified_job(forge, runner, inputs, env, config, Some(prepared)).await?;

    let keys = RequestKeys::of(&policy);
    // Parsed once: the second wave's parse serves when the token confirms its event name and
    // the policy's keys are the same; else the event is parsed as the token's event.
    let outcome = match parsed_event.and_then(|p| p.reuse(&identity.event_name, &keys)) {
        Some(outcome) => outcome,
        None => parse_event(&identity.event_name, &payload, &keys, None)?,
    };
    let outcome = reparse_with_head_commit(
        forge,
        &repository,
        &identity.event_name,
        &payload,
        &keys,
        outcome,
    )
    .await?;
    let event_request = match outcome {
        EventOutcome::Request(r) => r,
        EventOutcome::NoRequest { why } => return Ok(Found::NoRequest(why)),
    };
    let request = resolve_request(
        event_request,
        &identity.event_name,
        &request_inputs,
        &policy,
    );
    let mut evidence = gather_evidence(forge, &repository, &request, &identity, &policy).await?;
    let (comments, viewer) = match &evidence.pull_request {
        Some(pr) => {
            let (comments, viewer) =
                tokio::try_join!(forge.comments(&runner.repo, pr.number), forge.viewer())?;
            (comments, Some(viewer))
        }
        None => (Vec::new(), None),
    };
    evidence.already_granted = already_granted(
        &comments,
        viewer.as_ref(),
        &identity,
        request.scope.as_deref(),
        env,
    );
    let decision = decide(&DecisionInput {
        policy: &policy,
        request: &request,
        identity: &identity,
        evidence: &evidence,
        runner: &runner.hints,
        now: (config.now)(),
    });
    Ok(Found::Decided(Box::new(Decided {
        policy,
        repository,
        identity,
        request,
        evidence,
        decision,
        comments,
        viewer,
    })))
}

/// Reads the policy from the default branch and verifies a fresh job token against it.
/// Shared by `grant`, the online `check` and `revoke`.
pub async fn verified_job<F: Forge>(
    forge: &F,
    runner: &Runner,
    inputs: &Inputs,
    env: &dyn Fn(&str) -> Option<String>,
    config: &FlowConfig,
    prepared: Option<Prepared>,
) -> Result<JobFacts, Error> {
    let (parsed, prepared) = match prepared {
        Some(p) => (p.policy, p.identity),
        None => (None, None),
    };
    // SECURITY: without a token request URL there is no identity; fail before any request.
    require_token_env(env)?;
    // The repository named by the runner only locates the policy; the verified token must
    // name the same repository (checked below) before anything it says is used.
    let repository = forge.repository(&runner.repo).await?;
    let policy_text = forge
        .policy_file(&runner.repo, &inputs.policy, None)
        .await?;
    let policy = match parsed {
        Some((text, policy)) if text == policy_text => policy,
        _ => load_policy(&policy_text)?,
    };
    if inputs.audience != policy.identity.audience
        && inputs.audience != crate::policy::DEFAULT_AUDIENCE
    {
        return Err(Error::Config {
            id: "config.audience_mismatch",
            detail: format!(
                "input `audience` is {} but the policy's identity.audience is {}",
                log_inline(&inputs.audience, 80),
                log_inline(&policy.identity.audience, 80)
            ),
        });
    }
    let identity = match prepared {
        // Verified ahead against this very policy's issuer and audience.
        Some(p) if p.issuer == policy.identity.issuer && p.audience == policy.identity.audience => {
            p.identity?
        }
        _ => {
            let identity_inputs =
                IdentityInputs::from_env(env, &policy.identity.issuer, &policy.identity.audience)?;
            let client = OidcClient::new(config.oidc.clone())
                .map_err(|e| Error::from(crate::oidc::OidcError::from(e)))?;
            let now_fn = config.now;
            verified_identity_with(&client, JwksCache::global(), identity_inputs, &|| {
                now_fn().timestamp()
            })
            .await?
        }
    };
    if identity.repository != runner.repo.to_string() {
        // SECURITY: the policy was read from the repository the runner named; it must be
        // the one the token was issued for.
        return Err(Error::Identity {
            id: "identity.env_mismatch",
            detail: format!(
                "GITHUB_REPOSITORY is {} but the job token was issued for {}",
                log_inline(&runner.repo.to_string(), 100),
                log_inline(&identity.repository, 100)
            ),
        });
    }
    Ok(JobFacts {
        repository,
        policy,
        identity,
    })
}

/// A grant for this run attempt and scope exists: a granted audit comment the tool wrote on
/// the PR (any job of the run attempt), or the grant list an earlier `grant` of this job put
/// in `GITHUB_ENV`.
fn already_granted(
    comments: &[Comment],
    viewer: Option<&Viewer>,
    identity: &VerifiedIdentity,
    scope: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> bool {
    let Some(scope) = scope else { return false };
    let key = grants_key(identity, scope);
    let in_env = env(GRANTS_VAR).is_some_and(|v| v.split(',').any(|k| k == key));
    let on_pr = viewer.is_some_and(|v| first_grant_comment(comments, v, identity, scope).is_some());
    in_env || on_pr
}

/// The first audit comment the tool wrote for a credential minted for this run attempt and
/// scope (lowest id). SECURITY: a marker counts only on a comment by the account the
/// tool posts as ([`Viewer::wrote`]): anyone else can copy a marker.
fn first_grant_comment(
    comments: &[Comment],
    viewer: &Viewer,
    identity: &VerifiedIdentity,
    scope: &str,
) -> Option<u64> {
    comments
        .iter()
        .filter(|c| {
            viewer.wrote(c.author.as_ref())
                && records_a_mint(&c.body)
                && find_marker(&c.body).is_some_and(|m| {
                    m.run_id == identity.run_id
                        && m.run_attempt == identity.run_attempt
                        && m.scope == scope
                })
        })
        .map(|c| c.id)
        .min()
}

fn grants_key(identity: &VerifiedIdentity, scope: &str) -> String {
    format!("{}.{}:{}", identity.run_id, identity.run_attempt, scope)
}

/// `grant`: decide, then mint, mask, audit and hand over.
/// How the credential reaches the job.
#[derive(Debug, Clone, Copy)]
pub enum Handoff<'a> {
    /// `grant`: `GITHUB_ENV` for the later steps of the job.
    RunnerFiles,
    /// `exec`: the environment of this command only; revoked when it exits.
    Exec(&'a [String]),
}

pub async fn grant<F: Forge>(
    forge: &F,
    runner: &Runner,
    inputs: &Inputs,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
    config: &FlowConfig,
    handoff: Handoff<'_>,
) -> Result<ExitClass, Error> {
    // SECURITY: SIGINT, SIGTERM and SIGHUP are caught before anything is minted, so that one
    // arriving at any point is not the default "die now" (which would leave a credential
    // alive with nothing in GITHUB_STATE to revoke it).
    let mut signals = StopSignals::catch()?;
    // Opened first: a runner file that cannot be written fails before anything is minted.
    let mut files = RunnerFiles::open(&runner.paths)?;
    let mut trail = Trail::default();
    let job = GrantJob {
        forge,
        runner,
        inputs,
        env,
        config,
        handoff,
    };
    let result = job
        .steps(console, &mut files, &mut signals, &mut trail)
        .await;
    trail
        .finish(forge, runner, console, &mut files, &result)
        .await;
    result
}

/// What one `grant` (or `exec`) works with.
struct GrantJob<'a, F: Forge> {
    forge: &'a F,
    runner: &'a Runner,
    inputs: &'a Inputs,
    env: &'a dyn Fn(&str) -> Option<String>,
    config: &'a FlowConfig,
    handoff: Handoff<'a>,
}

/// The audit trail of one `grant`: filled as the pipeline goes, finished by one call with
/// the outcome ([`Trail::finish`]) on every exit, so that refusals, upstream failures and
/// signals write `requested`/`granted`, a summary that says what happened, and the PR
/// comment where a PR is bound to the run (contract §5, last paragraph).
#[derive(Default)]
struct Trail {
    /// The event carried a request (known once it is parsed).
    requested: bool,
    /// The path that ended wrote the outputs, the summary and the comment itself (granted,
    /// denied, dry run, no request, a hand-over that failed and revoked).
    written: bool,
    /// A granted decision about to be minted: the PR it binds, and its comment if the mint
    /// fails.
    minting: Option<(u64, String)>,
}

impl Trail {
    async fn finish<F: Forge>(
        &self,
        forge: &F,
        runner: &Runner,
        console: &mut Console,
        files: &mut RunnerFiles,
        result: &Result<ExitClass, Error>,
    ) {
        let Err(err) = result else { return };
        if self.written {
            return;
        }
        let requested = if self.requested { "true" } else { "false" };
        if let Err(e) = files.write_outputs(&[("requested", requested), ("granted", "false")]) {
            console.error(&format!("the outputs could not be written: {e}"));
        }
        let what = match err {
            Error::Stopped { .. } => "stopped by a signal before anything was handed over",
            _ if err.exit_class() == ExitClass::Denied => "refused",
            _ => "failed",
        };
        let summary = not_granted_summary(
            what,
            &err.to_string(),
            "Nothing was granted: no credential exists.",
        );
        if let Err(e) = files.append_summary(&summary) {
            console.error(&format!("the summary could not be written: {e}"));
        }
        if let Some((pr, body)) = &self.minting
            && let Err(e) = forge.create_comment(&runner.repo, *pr, body).await
        {
            console.error(&format!("the audit comment could not be written: {e}"));
        }
    }
}

/// The step summary of a grant that did not happen, or ended early: what happened, the error
/// (escaped), and what became of any credential.
fn not_granted_summary(what: &str, detail: &str, ending: &str) -> String {
    format!(
        "## prod-access: NOT GRANTED ({what})\n\n{}\n\n{ending}\n",
        crate::emit::escape::markdown_inline(detail, 2000)
    )
}

impl<F: Forge> GrantJob<'_, F> {
    async fn steps(
        &self,
        console: &mut Console,
        files: &mut RunnerFiles,
        signals: &mut StopSignals,
        trail: &mut Trail,
    ) -> Result<ExitClass, Error> {
        let Self {
            forge,
            runner,
            inputs,
            env,
            config,
            handoff,
        } = *self;
        let found = tokio::select! {
            biased;
            code = signals.recv() => {
                console.say("prod-access: stopped by a signal; nothing was minted");
                return Err(Error::Stopped { code });
            }
            found = decide_online(forge, runner, inputs, env, config) => found?,
        };
        let d = match found {
            Found::NoRequest(why) => {
                console.say(&format!(
                    "prod-access: no request in this event: {}",
                    log_inline(&why, 200)
                ));
                files.write_outputs(&[("requested", "false"), ("granted", "false")])?;
                trail.written = true;
                return Ok(match inputs.if_no_request {
                    IfNoRequest::Skip => ExitClass::Ok,
                    IfNoRequest::Fail => ExitClass::Denied,
                });
            }
            Found::Decided(d) => d,
        };
        trail.requested = true;
        let repo_url = runner.repo_url();
        let run_url = runner.run_url(&d.identity);
        let links = Links {
            run_url: Some(&run_url),
            repo_url: Some(&repo_url),
            requirements_doc: REQUIREMENTS_DOC,
        };
        let word = if inputs.dry_run {
            "WOULD BE GRANTED (dry run)"
        } else {
            "GRANTED"
        };
        print_decision(console, &d.decision, word);
        let reason = d.request.reason.as_deref();
        let grant_id = new_grant_id(&d.identity)?;
        let run = RunFacts {
            run_id: d.identity.run_id,
            run_attempt: d.identity.run_attempt,
            repository: d.identity.repository.clone(),
        };
        let pr_number = d.audit_pr();

        let (scope, ttl) = match d.decision.verdict(&d.policy) {
            Verdict::Granted { scope, ttl, .. } => (scope, ttl),
            Verdict::Denied { unmet } => {
                for r in unmet {
                    console.annotation(
                        Level::Error,
                        &format!("prod-access denied: {}", r.id),
                        &r.detail,
                    );
                }
                let record = AuditRecord::from_decision(&d.decision, grant_id, run, reason);
                let summary =
                    render_summary(&SummaryView::from_decision(&d.decision, reason, &links));
                files.append_summary(&summary)?;
                files.write_outputs(&[("requested", "true"), ("granted", "false")])?;
                trail.written = true;
                if let Some(n) = pr_number {
                    // The denial is already the safe outcome: a comment that cannot be written is
                    // reported, and the exit code stays "denied".
                    if let Err(e) = forge
                        .create_comment(&runner.repo, n, &render(&record, &links))
                        .await
                    {
                        console.error(&format!("the denial comment could not be written: {e}"));
                    }
                }
                return Ok(ExitClass::Denied);
            }
        };
        if inputs.dry_run {
            console.say("prod-access: dry run: would be granted; nothing minted");
            files.write_outputs(&[("requested", "true"), ("granted", "false")])?;
            trail.written = true;
            return Ok(ExitClass::Ok);
        }
        let scope_name = scope.name.clone();
        // Should the provider or the mint fail, the bound PR says so (the trail posts it).
        if let Some(n) = pr_number {
            let mut record = AuditRecord::from_decision(&d.decision, grant_id.clone(), run, reason);
            record.status = Status::Failed;
            trail.minting = Some((n, render(&record, &links)));
        }
        let provider = AnyProvider::for_scope(&d.policy, scope, env)?;
        let approvers: Vec<String> = d
            .decision
            .approvers
            .iter()
            .map(|a| a.user.login.clone())
            .collect();
        let ctx = GrantContext {
            grant_id: &grant_id,
            scope,
            requester: &d.identity.actor,
            reason: reason.unwrap_or_default(),
            approvers: &approvers,
            repository: &d.identity.repository,
            run_url: &run_url,
            ttl,
            now: (config.now)(),
        };
        // The mint itself is not cancelled: a signal that arrives meanwhile waits in `signals`
        // and wins the `biased` select below, before anything is handed over.
        let minted = provider.mint(&ctx).await?;
        trail.minting = None;
        // A fault for the tests (debug builds only): a panic after the mint.
        let inject_panic = cfg!(debug_assertions)
            && env("PROD_ACCESS_FAULT").as_deref() == Some("panic-after-mint");
        let ender = GrantEnd {
            forge,
            runner,
            provider: &provider,
            minted: &minted,
            grant_id: &grant_id,
            pr_number,
            viewer: d.viewer.as_ref(),
            config,
        };

        let audit = AuditTarget {
            forge,
            runner,
            d: &d,
            grant_id: &grant_id,
            pr_number,
            links: &links,
            reason,
        };
        if let Handoff::Exec(command) = handoff {
            let prepared = guarded(
                signals,
                inject_panic,
                prepare_exec(console, &audit, &minted),
            )
            .await;
            // The command runs, or the grant ended and revoked: either path tells its own trail.
            trail.written = true;
            let comment_id = match prepared {
                PostMint::Done(comment_id) => comment_id,
                other => return ender.after_failure(console, files, other).await,
            };
            let result = run_command(console, &minted, &grant_id, command, signals).await;
            let revoked = ender.end(console, comment_id).await;
            return match (result, revoked) {
                (Err(e), _) => Err(e),
                // SECURITY: a credential that outlives the command is worth a loud failure.
                (Ok(_), Err(e)) => Err(e.into()),
                (Ok(code), Ok(_)) => Ok(ExitClass::Command(code)),
            };
        }
        // This job's grants, so a second `grant` for the same run attempt and scope is refused.
        let key = grants_key(&d.identity, &scope_name);
        let grants = match env(GRANTS_VAR).filter(|v| !v.trim().is_empty()) {
            Some(earlier) => format!("{earlier},{key}"),
            None => key,
        };
        // From here on every failure, panic or signal revokes first.
        let handed = guarded(
            signals,
            inject_panic,
            hand_over(console, files, &audit, &minted, &grants),
        )
        .await;
        // Granted and handed over, or ended and revoked: either path wrote its own trail.
        trail.written = true;
        match handed {
            PostMint::Done(()) => Ok(ExitClass::Ok),
            other => ender.after_failure(console, files, other).await,
        }
    }
}

/// How the part after the mint ended.
enum PostMint<T> {
    Done(T),
    /// An error, and the id of the audit comment if one was written.
    Failed(Error, Option<u64>),
    Panicked,
    /// Stopped by a signal: the exit code (128 + signal).
    Signal(i32),
}

/// Runs the part after the mint so that it cannot end without the caller knowing: an error,
/// a panic (`catch_unwind`: the release profile keeps unwinding for this) or a signal each
/// come back as a [`PostMint`], and the caller revokes.
async fn guarded<T>(
    signals: &mut StopSignals,
    inject_panic: bool,
    step: impl std::future::Future<Output = Result<T, (Error, Option<u64>)>>,
) -> PostMint<T> {
    let step = std::panic::AssertUnwindSafe(async {
        if inject_panic {
            panic!("injected fault: a panic after the mint");
        }
        step.await
    })
    .catch_unwind();
    tokio::select! {
        biased;
        code = signals.recv() => PostMint::Signal(code),
        outcome = step => match outcome {
            Ok(Ok(value)) => PostMint::Done(value),
            Ok(Err((err, comment_id))) => PostMint::Failed(err, comment_id),
            Err(_) => PostMint::Panicked,
        },
    }
}

/// Where a grant's audit comment goes, and what it says.
struct AuditTarget<'a, F: Forge> {
    forge: &'a F,
    runner: &'a Runner,
    d: &'a Decided,
    grant_id: &'a GrantId,
    pr_number: Option<u64>,
    links: &'a Links<'a>,
    reason: Option<&'a str>,
}

impl<F: Forge> AuditTarget<'_, F> {
    /// Posts the granted audit comment (when a PR is known), then looks again: another job
    /// of this run attempt that was granted the same scope first makes this grant a replay
    /// (local mode has no atomic record; the comments are the one shared place it can see).
    /// Returns the comment's id; an error carries the id when the comment was written.
    async fn post(&self, minted: &Minted) -> Result<Option<u64>, (Error, Option<u64>)> {
        let Some(n) = self.pr_number else {
            return Ok(None);
        };
        let record = granted_record(self.d, minted, self.grant_id, self.reason);
        let comment = self
            .forge
            .create_comment(&self.runner.repo, n, &render(&record, self.links))
            .await
            .map_err(|e| (Error::from(e), None))?;
        let (Some(viewer), Some(scope)) =
            (self.d.viewer.as_ref(), self.d.decision.scope.as_deref())
        else {
            return Ok(Some(comment.id));
        };
        let comments = self
            .forge
            .comments(&self.runner.repo, n)
            .await
            .map_err(|e| (Error::from(e), Some(comment.id)))?;
        match first_grant_comment(&comments, viewer, &self.d.identity, scope) {
            Some(first) if first < comment.id => Err((
                Error::Denied(format!(
                    "{}: another job of run {} attempt {} was granted {scope} first (comment {first})",
                    RequirementId::NotAlreadyGranted,
                    self.d.identity.run_id,
                    self.d.identity.run_attempt
                )),
                Some(comment.id),
            )),
            _ => Ok(Some(comment.id)),
        }
    }
}

/// What ends a minted grant: revoke, then the audit comment edited to say so.
struct GrantEnd<'a, F: Forge> {
    forge: &'a F,
    runner: &'a Runner,
    provider: &'a AnyProvider,
    minted: &'a Minted,
    grant_id: &'a GrantId,
    pr_number: Option<u64>,
    viewer: Option<&'a Viewer>,
    config: &'a FlowConfig,
}

impl<F: Forge> GrantEnd<'_, F> {
    /// Revokes and puts the outcome on the audit comment: the one with `comment_id`, or,
    /// when the POST did not answer, the one it finds by the grant's marker among the
    /// comments the tool wrote (a POST that failed or timed out may have landed).
    async fn end(
        &self,
        console: &mut Console,
        comment_id: Option<u64>,
    ) -> Result<RevokeOutcome, crate::credential::CredentialError> {
        let outcome = self.provider.revoke(&self.minted.handle).await;
        let status = match &outcome {
            Ok(RevokeOutcome::NotRevocable { expires_at, note }) => Status::NotRevocable {
                expires_at: *expires_at,
                note: note.clone(),
            },
            Ok(_) => Status::Revoked {
                at: (self.config.now)(),
            },
            Err(_) => Status::RevokeFailed {
                expires_at: self.minted.expires_at,
            },
        };
        match &outcome {
            Ok(o) => console.say(&format!("prod-access: {}", o.describe())),
            Err(e) => console.error(&format!("revoking failed: {e}")),
        }
        let (Some(n), Some(viewer)) = (self.pr_number, self.viewer) else {
            return outcome;
        };
        let comments = match self.forge.comments(&self.runner.repo, n).await {
            Ok(c) => c,
            Err(e) => {
                console.error(&format!("the audit comment could not be read again: {e}"));
                return outcome;
            }
        };
        let ours = comments.iter().find(|c| {
            comment_id.is_none_or(|id| c.id == id)
                && viewer.wrote(c.author.as_ref())
                && find_marker(&c.body).is_some_and(|m| m.grant_id == *self.grant_id)
        });
        if let Some(c) = ours
            && let Some(body) = restatus(
                &c.body,
                self.grant_id.as_str(),
                &status,
                Some(self.minted.expires_at),
                (self.config.now)(),
            )
            && let Err(e) = self
                .forge
                .update_comment(&self.runner.repo, c.id, &body)
                .await
        {
            console.error(&format!("the audit comment could not be updated: {e}"));
        }
        outcome
    }

    /// The end of a grant whose hand-over failed, panicked or was stopped by a signal:
    /// revoke, say so in the outputs, and return the exit.
    async fn after_failure<T>(
        &self,
        console: &mut Console,
        files: &mut RunnerFiles,
        how: PostMint<T>,
    ) -> Result<ExitClass, Error> {
        let (result, comment_id, what, detail) = match how {
            PostMint::Done(_) => return Ok(ExitClass::Ok),
            PostMint::Failed(err, comment_id) => {
                console.error(&format!("the grant failed after the mint: {err}"));
                let detail = err.to_string();
                (Err(err), comment_id, "failed after the mint", detail)
            }
            PostMint::Panicked => {
                console.error("prod-access: internal error after the mint; revoking");
                let detail = "internal error (a panic) after the mint";
                (
                    Err(Error::Upstream(format!(
                        "{detail}; the credential was revoked"
                    ))),
                    None,
                    "failed after the mint",
                    detail.to_string(),
                )
            }
            PostMint::Signal(code) => {
                console.say("prod-access: stopped by a signal after the mint; revoking");
                (
                    Ok(ExitClass::Command(code)),
                    None,
                    "stopped by a signal after the mint",
                    format!("exit {code}"),
                )
            }
        };
        let ending = match self.end(console, comment_id).await {
            Ok(outcome) => format!("The credential: {}.", outcome.describe()),
            Err(e) => format!(
                "Revoking the credential failed ({e}); it expires at {}.",
                rfc3339(self.minted.expires_at)
            ),
        };
        // Later steps gate on this output: whatever was written before, it ends false.
        if let Err(e) = files.write_outputs(&[("requested", "true"), ("granted", "false")]) {
            console.error(&format!("the outputs could not be written: {e}"));
        }
        if let Err(e) = files.append_summary(&not_granted_summary(what, &detail, &ending)) {
            console.error(&format!("the summary could not be written: {e}"));
        }
        result
    }
}

/// Masks, the audit comment, the credential files: everything before the command runs.
/// Returns the comment written, if any.
async fn prepare_exec<F: Forge>(
    console: &mut Console,
    audit: &AuditTarget<'_, F>,
    minted: &Minted,
) -> Result<Option<u64>, (Error, Option<u64>)> {
    let _masked = mask_minted(console, minted);
    let comment_id = audit.post(minted).await?;
    minted
        .write_files()
        .map_err(|e| (Error::from(e), comment_id))?;
    Ok(comment_id)
}

/// Runs `command` with the credential in its environment only (never in ours, never in a
/// runner file). SIGINT, SIGTERM and SIGHUP end the command; the caller revokes in every
/// case. Returns the command's exit code (128 + signal when a signal ended it).
async fn run_command(
    console: &mut Console,
    minted: &Minted,
    grant_id: &GrantId,
    command: &[String],
    signals: &mut StopSignals,
) -> Result<i32, Error> {
    let Some((program, args)) = command.split_first() else {
        return Err(Error::Usage("exec needs a command after --".into()));
    };
    let mut child = tokio::process::Command::new(program);
    child.args(args).kill_on_drop(true);
    for (name, secret) in &minted.env {
        child.env(name, secret.expose());
    }
    for (name, value) in &minted.public_env {
        child.env(name, value);
    }
    let mut child = child
        .spawn()
        .map_err(|e| Error::Usage(format!("cannot run {}: {e}", log_inline(program, 200))))?;
    console.say(&format!(
        "prod-access: running the command with the credential (grant {grant_id}, until {})",
        rfc3339(minted.expires_at)
    ));
    Ok(wait_or_signal(&mut child, signals).await)
}

/// SIGINT, SIGTERM and SIGHUP, caught from the start of `grant` and `exec` so that one
/// arriving while the credential is minted, handed over or used is not the default "die
/// now" (which would skip the revoke): it is held, and ends the grant as soon as it is read.
pub struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub fn catch() -> Result<Self, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        let catch =
            |kind| signal(kind).map_err(|e| Error::Upstream(format!("cannot catch signals: {e}")));
        Ok(Self {
            int: catch(SignalKind::interrupt())?,
            term: catch(SignalKind::terminate())?,
            hup: catch(SignalKind::hangup())?,
        })
    }

    /// The next signal, as its exit code: 130 (INT), 143 (TERM), 129 (HUP).
    pub async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => 130,
            _ = self.term.recv() => 143,
            _ = self.hup.recv() => 129,
        }
    }
}

/// Waits for the child; on a stop signal to us, ends it and reports 128 + signal.
async fn wait_or_signal(child: &mut tokio::process::Child, signals: &mut StopSignals) -> i32 {
    tokio::select! {
        status = child.wait() => exit_code(status),
        code = signals.recv() => { let _ = child.kill().await; code }
    }
}

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => 1,
    }
}

/// `::add-mask::` for every secret of a minted credential and every further form of it,
/// before anything else sees them; the proofs for the secret variables.
fn mask_minted<'m>(console: &mut Console, minted: &'m Minted) -> Vec<(&'m str, Masked<'m>)> {
    let masked = minted
        .env
        .iter()
        .map(|(name, secret)| (name.as_str(), console.mask(secret, &[])))
        .collect();
    for form in &minted.mask_forms {
        let _ = console.mask(form, &[]);
    }
    masked
}

/// The audit record of a grant once minted.
fn granted_record(
    d: &Decided,
    minted: &Minted,
    grant_id: &GrantId,
    reason: Option<&str>,
) -> AuditRecord {
    let mut record = AuditRecord::from_decision(
        &d.decision,
        grant_id.clone(),
        RunFacts {
            run_id: d.identity.run_id,
            run_attempt: d.identity.run_attempt,
            repository: d.identity.repository.clone(),
        },
        reason,
    );
    record.expires_at = Some(minted.expires_at);
    record.credential = Some(CredentialInfo {
        kind: minted.handle.kind.clone(),
        fingerprint: minted.fingerprint.clone(),
        detail: minted.audit_detail(),
    });
    record
}

/// Mask, audit comment, `GITHUB_ENV`, outputs, state, summary (contract §6 order). On error,
/// returns the error and the id of the comment if one was written, so the caller can revoke
/// and edit it.
async fn hand_over<F: Forge>(
    console: &mut Console,
    files: &mut RunnerFiles,
    audit: &AuditTarget<'_, F>,
    minted: &Minted,
    grants: &str,
) -> Result<(), (Error, Option<u64>)> {
    let d = audit.d;
    // 1. Masks, before the value reaches anything else.
    let masked = mask_minted(console, minted);
    // 2. The audit record (and the check that no other job was granted first).
    let comment_id = audit.post(minted).await?;
    let fail = |e: Error| (e, comment_id);
    // 2b. Credential files (ssh key and certificate), now that their lines are masked.
    minted.write_files().map_err(|e| fail(e.into()))?;
    // 3. GITHUB_ENV: the secrets (with their mask proof), then the public variables.
    let pairs: Vec<(&str, &Masked<'_>)> = masked.iter().map(|(n, m)| (*n, m)).collect();
    files.write_env(&pairs).map_err(|e| fail(e.into()))?;
    let scope = d.decision.scope.clone().unwrap_or_default();
    let mut public: Vec<(&str, &str)> = minted
        .public_env
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    public.push((GRANTS_VAR, grants));
    files
        .write_public_env(&public)
        .map_err(|e| fail(e.into()))?;
    // 4. Outputs.
    let approvers: Vec<&str> = d
        .decision
        .approvers
        .iter()
        .map(|a| a.user.login.as_str())
        .collect();
    let approvers = approvers.join(",");
    let expires = rfc3339(minted.expires_at);
    files
        .write_outputs(&[
            ("requested", "true"),
            ("granted", "true"),
            ("grant-id", audit.grant_id.as_str()),
            ("scope", &scope),
            ("expires-at", &expires),
            ("approvers", &approvers),
        ])
        .map_err(|e| fail(e.into()))?;
    // 5. State for `revoke`: no secret.
    let handle = minted.handle.to_state().map_err(|e| fail(e.into()))?;
    let pr = audit.pr_number.map(|n| n.to_string()).unwrap_or_default();
    let comment = comment_id.map(|n| n.to_string()).unwrap_or_default();
    files
        .write_state(&[("handle", &handle), ("pr", &pr), ("comment", &comment)])
        .map_err(|e| fail(e.into()))?;
    // 6. Summary.
    let mut view = SummaryView::from_decision(&d.decision, audit.reason, audit.links);
    view.expires_at = Some(minted.expires_at);
    view.grant_id = Some(audit.grant_id.as_str());
    view.fingerprint = Some(&minted.fingerprint);
    files
        .append_summary(&render_summary(&view))
        .map_err(|e| fail(e.into()))?;
    console.say(&format!(
        "prod-access: granted {} until {} (grant {}, credential {})",
        scope, expires, audit.grant_id, minted.fingerprint
    ));
    Ok(())
}

/// `pa-<run>-<attempt>-<random>`: unique per grant, readable in a role or file name.
fn new_grant_id(identity: &VerifiedIdentity) -> Result<GrantId, Error> {
    let random = &crate::emit::random_token()[..8];
    Ok(GrantId::new(&format!(
        "pa-{}-{}-{random}",
        identity.run_id, identity.run_attempt
    ))?)
}

/// `revoke`: acts only on what it can prove `grant` minted for this job.
///
/// SECURITY: `STATE_*` is untrusted (an earlier step can forge it). The run is the one a
/// fresh job token names (run id and attempt), never the environment or the state: a
/// saved grant id of another run is left alone, exit 1. Providers prove ownership again
/// (name prefix, grant id) before they act, and the comment edited is the tool's own
/// (written by the account the token acts as) with this grant's marker.
pub async fn revoke<F: Forge>(
    forge: &F,
    runner: &Runner,
    inputs: &Inputs,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
    config: &FlowConfig,
) -> Result<ExitClass, Error> {
    let state = |name: &str| env(&format!("STATE_{name}")).filter(|v| !v.trim().is_empty());
    let Some(handle_text) = state("handle") else {
        console.say("prod-access: nothing was granted in this job; nothing to revoke");
        return Ok(ExitClass::Ok);
    };
    let handle = RevokeHandle::from_state(&handle_text)?;
    let job = verified_job(forge, runner, inputs, env, config, None).await?;
    let ours = format!("pa-{}-{}-", job.identity.run_id, job.identity.run_attempt);
    if !handle.grant_id.as_str().starts_with(&ours) {
        return Err(Error::Denied(format!(
            "the saved grant {} is not of this run (run {} attempt {}, from a fresh job token): left alone",
            handle.grant_id, job.identity.run_id, job.identity.run_attempt
        )));
    }
    let outcome = match revoke_keyless(&handle, env) {
        Some(outcome) => outcome,
        None => {
            // The provider's secrets are needed (e.g. the admin DSN): its configuration comes
            // from the policy on the default branch, never from the state.
            let Some(scope) = job
                .policy
                .scopes
                .values()
                .find(|s| s.credential.kind() == handle.kind)
            else {
                return Err(Error::Config {
                    id: "config.provider_missing",
                    detail: format!("the policy has no scope of kind {}", handle.kind),
                });
            };
            let provider = AnyProvider::for_scope(&job.policy, scope, env)?;
            provider.revoke(&handle).await
        }
    };
    let now = (config.now)();
    let (status, result) = match outcome {
        Ok(o) => {
            console.say(&format!("prod-access: {}", o.describe()));
            let status = match o {
                RevokeOutcome::NotRevocable { expires_at, note } => {
                    Status::NotRevocable { expires_at, note }
                }
                _ => Status::Revoked { at: now },
            };
            (status, Ok(ExitClass::Ok))
        }
        Err(e) => (
            Status::RevokeFailed {
                expires_at: handle.expires_at,
            },
            Err(Error::from(e)),
        ),
    };
    if let Some(pr) = state("pr").and_then(|p| p.parse::<u64>().ok()) {
        let (comments, viewer) =
            tokio::try_join!(forge.comments(&runner.repo, pr), forge.viewer())?;
        let ours = comments.iter().find(|c| {
            viewer.wrote(c.author.as_ref())
                && find_marker(&c.body).is_some_and(|m| m.grant_id == handle.grant_id)
        });
        if let Some(c) = ours
            && let Some(body) = restatus(
                &c.body,
                handle.grant_id.as_str(),
                &status,
                Some(handle.expires_at),
                now,
            )
        {
            forge.update_comment(&runner.repo, c.id, &body).await?;
        }
    }
    result
}

/// One job's inputs, runner view, settings and GitHub client: what `grant`, `exec`,
/// `revoke` and the online `check` start from.
pub struct Job {
    pub inputs: Inputs,
    pub runner: Runner,
    pub config: FlowConfig,
    pub forge: GitHub,
}

impl Job {
    pub fn from_env(
        args: &crate::cli::InputArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        Self::from_parts(args.resolve(env)?, env)
    }

    pub fn from_parts(inputs: Inputs, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let runner = Runner::from_env(env)?;
        let config = FlowConfig::default();
        let forge = github(&runner, &inputs, &config)?;
        Ok(Self {
            inputs,
            runner,
            config,
            forge,
        })
    }

    pub async fn grant(
        &self,
        console: &mut Console,
        env: &dyn Fn(&str) -> Option<String>,
        handoff: Handoff<'_>,
    ) -> Result<ExitClass, Error> {
        grant(
            &self.forge,
            &self.runner,
            &self.inputs,
            console,
            env,
            &self.config,
            handoff,
        )
        .await
    }
}

/// Builds the GitHub client from inputs and the runner's environment.
pub fn github(runner: &Runner, inputs: &Inputs, config: &FlowConfig) -> Result<GitHub, Error> {
    let Some(token) = &inputs.github_token else {
        return Err(Error::MissingEnv {
            what: "the forge API token (input `github-token`)",
            var: "GITHUB_TOKEN",
        });
    };
    Ok(GitHub::new(
        &runner.api_url,
        Secret::new(token.expose()),
        config.forge.clone(),
    )?
    .with_graphql_hint(runner.graphql_url.as_deref()))
}
