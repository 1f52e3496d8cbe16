//! `prod-access check`: the decision without minting.
//!
//! Modes:
//! - `--policy-file FILE`: validate a policy file (authoring) and print its scopes.
//! - `--policy-file FILE --scenario FILE`: an offline what-if. Token claims, forge evidence
//!   and the event come from the scenario file; nothing is verified and the output says so.
//! - online (the job token and the forge API) arrives with the grant flow.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::cli::{CheckArgs, IfNoRequest, Inputs};
use crate::decide::{Decision, DecisionInput, RequestInputs, decide, resolve_request};
use crate::emit::Console;
use crate::emit::escape::log_inline;
use crate::error::{Error, ExitClass};
use crate::event::{EventOutcome, RequestKeys, parse_event};
use crate::forge::Evidence;
use crate::oidc::VerifiedIdentity;
use crate::policy::{Policy, duration, load_policy_all_errors};
use crate::runner::RunnerHints;

/// Largest policy file read from disk (the compiler caps it again).
const MAX_POLICY_FILE: u64 = 1024 * 1024;
/// Largest scenario file.
const MAX_SCENARIO_FILE: u64 = 32 * 1024 * 1024;

/// An offline what-if: what the job token and the forge would say.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// `GITHUB_EVENT_NAME` (and the token's `event_name` unless `claims` says otherwise).
    pub event_name: String,
    /// The event payload, inline ...
    #[serde(default)]
    pub event: Option<Value>,
    /// ... or a path to it, relative to the scenario file.
    #[serde(default)]
    pub event_file: Option<PathBuf>,
    /// The claims the job token would carry.
    pub claims: Map<String, Value>,
    /// What the forge API would answer.
    #[serde(default)]
    pub evidence: Evidence,
    /// Runner variables (`GITHUB_REPOSITORY`, ...); default: none set.
    #[serde(default)]
    pub runner: Map<String, Value>,
    /// The time of the decision; default: now.
    #[serde(default)]
    pub now: Option<DateTime<Utc>>,
}

pub fn run(
    args: &CheckArgs,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExitClass, Error> {
    let inputs = args.inputs.resolve(env)?;
    let Some(policy_file) = &args.policy_file else {
        return run_online(args, &inputs, console, env);
    };
    let text = read_capped(policy_file, MAX_POLICY_FILE)?;
    let policy = load_policy_all_errors(&text).map_err(Error::PolicyErrors)?;
    match &args.scenario {
        None => {
            print_policy(console, policy_file, &policy);
            Ok(ExitClass::Ok)
        }
        Some(path) => run_scenario(path, &policy, &inputs, args.json, console),
    }
}

/// The decision `grant` would make in this job, read from the job token and the forge API;
/// nothing minted, nothing written to the runner's files.
fn run_online(
    args: &CheckArgs,
    inputs: &Inputs,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExitClass, Error> {
    use crate::commands::grant::{self, FlowConfig, Found, Runner};
    let runner = Runner::from_env(env)?;
    let config = FlowConfig::default();
    let forge = grant::github(&runner, inputs, &config)?;
    let found =
        crate::commands::block_on(grant::decide_online(&forge, &runner, inputs, env, &config))?;
    match found {
        Found::NoRequest(why) => {
            console.say(&format!(
                "no request in this event: {}",
                log_inline(&why, 200)
            ));
            Ok(match inputs.if_no_request {
                IfNoRequest::Skip => ExitClass::Ok,
                IfNoRequest::Fail => ExitClass::Denied,
            })
        }
        Found::Decided(d) => {
            if args.json {
                let text = serde_json::to_string_pretty(&d.decision)
                    .map_err(|e| Error::Usage(format!("cannot render the decision: {e}")))?;
                console.say(&text);
            } else {
                print_decision(console, &d.decision, "WOULD BE GRANTED");
            }
            Ok(if d.decision.granted() {
                ExitClass::Ok
            } else {
                ExitClass::Denied
            })
        }
    }
}

fn read_capped(path: &Path, max: u64) -> Result<String, Error> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(Error::Usage(format!(
            "{} is larger than {max} bytes",
            path.display()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{} is not valid UTF-8", path.display())))
}

fn print_policy(console: &mut Console, path: &Path, policy: &Policy) {
    console.say(&format!("policy {}: valid (version 1)", path.display()));
    console.say(&format!(
        "identity: issuer {}, audience {}",
        policy.identity.issuer, policy.identity.audience
    ));
    for (claim, globs) in &policy.identity.claims {
        let pats: Vec<&str> = globs.iter().map(|g| g.as_str()).collect();
        console.say(&format!("  claim {claim}: {}", pats.join(" | ")));
    }
    for (label, scope) in &policy.request.labels {
        console.say(&format!("label {label} -> scope {scope}"));
    }
    for scope in policy.scopes.values() {
        let from: Vec<String> = scope.approvals.from.iter().map(|p| p.display()).collect();
        console.say(&format!(
            "scope {}: {} credential, ttl {} (max {}), {} approval(s){}{}{}",
            scope.name,
            scope.credential.kind(),
            duration::format(scope.ttl),
            duration::format(scope.max_ttl),
            scope.approvals.required,
            if from.is_empty() {
                String::new()
            } else {
                format!(" from {}", from.join(", "))
            },
            if scope.environments.is_empty() {
                String::new()
            } else {
                format!(", environments {}", scope.environments.join(", "))
            },
            if scope.break_glass {
                ", BREAK-GLASS allowed"
            } else {
                ""
            },
        ));
    }
}

fn run_scenario(
    path: &Path,
    policy: &Policy,
    inputs: &Inputs,
    json: bool,
    console: &mut Console,
) -> Result<ExitClass, Error> {
    let text = read_capped(path, MAX_SCENARIO_FILE)?;
    let scenario: Scenario = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("scenario {}: {e}", path.display())))?;
    let payload = match (&scenario.event, &scenario.event_file) {
        (Some(v), None) => serde_json::to_vec(v)
            .map_err(|e| Error::Usage(format!("scenario {}: event: {e}", path.display())))?,
        (None, Some(rel)) => {
            let file = path.parent().unwrap_or(Path::new(".")).join(rel);
            crate::event::read_event_file(&file)?
        }
        _ => {
            return Err(Error::Usage(format!(
                "scenario {}: give exactly one of `event` and `event_file`",
                path.display()
            )));
        }
    };
    let identity = VerifiedIdentity::from_verified_claims(scenario.claims.clone())
        .map_err(|e| Error::Usage(format!("scenario {}: claims: {e}", path.display())))?;
    let runner = RunnerHints::from_lookup(|k| {
        scenario
            .runner
            .get(k)
            .and_then(|v| v.as_str().map(str::to_string))
    });
    let keys = RequestKeys {
        trailer: policy.request.trailer.clone(),
        scope_trailer: policy.request.scope_trailer.clone(),
        labels: policy.request.labels.keys().cloned().collect(),
    };
    console.say(&format!(
        "prod-access check: OFFLINE what-if from {}: token claims and forge evidence are NOT verified",
        path.display()
    ));
    let outcome = parse_event(
        &scenario.event_name,
        &payload,
        &keys,
        scenario.evidence.head_commit_message.as_deref(),
    )?;
    let event_request = match outcome {
        EventOutcome::Request(r) => r,
        EventOutcome::NoRequest { why } => {
            console.say(&format!(
                "no request in this event: {}",
                log_inline(&why, 200)
            ));
            return Ok(match inputs.if_no_request {
                IfNoRequest::Skip => ExitClass::Ok,
                IfNoRequest::Fail => ExitClass::Denied,
            });
        }
    };
    let request_inputs = RequestInputs {
        scope: inputs.scope.clone(),
        reason: inputs.reason.clone(),
        ttl: inputs.ttl,
        pull_request: inputs.pull_request,
    };
    let request = resolve_request(event_request, &scenario.event_name, &request_inputs, policy);
    let decision = decide(&DecisionInput {
        policy,
        request: &request,
        identity: &identity,
        evidence: &scenario.evidence,
        runner: &runner,
        now: scenario.now.unwrap_or_else(Utc::now),
    });
    if json {
        let text = serde_json::to_string_pretty(&decision)
            .map_err(|e| Error::Usage(format!("cannot render the decision: {e}")))?;
        console.say(&text);
    } else {
        print_decision(console, &decision, "WOULD BE GRANTED");
    }
    Ok(if decision.granted() {
        ExitClass::Ok
    } else {
        ExitClass::Denied
    })
}

/// The decision as text: a headline, then every requirement with `[x]`/`[ ]`; each unmet
/// requirement again on stderr with the docs anchor.
pub fn print_decision(console: &mut Console, decision: &Decision, granted_word: &str) {
    let verdict = if decision.granted() {
        granted_word
    } else {
        "DENIED"
    };
    console.say(&format!(
        "decision: {verdict}; scope {}; requester {}; ttl {}{}",
        decision
            .scope
            .as_deref()
            .map(|s| log_inline(s, 64))
            .unwrap_or_else(|| "-".into()),
        log_inline(&decision.requester.login, 64),
        decision
            .ttl
            .map(duration::format)
            .unwrap_or_else(|| "-".into()),
        if decision.break_glass {
            "; BREAK-GLASS"
        } else {
            ""
        },
    ));
    for r in &decision.requirements {
        console.say(&format!(
            "  [{}] {}: {}",
            if r.met { "x" } else { " " },
            r.id,
            log_inline(&r.detail, 500)
        ));
    }
    if !decision.approvers.is_empty() {
        let who: Vec<String> = decision
            .approvers
            .iter()
            .map(|a| match &a.sha {
                Some(sha) => format!("{} on {}", log_inline(&a.user.login, 64), short(sha)),
                None => log_inline(&a.user.login, 64),
            })
            .collect();
        console.say(&format!("approvers: {}", who.join(", ")));
    }
    for r in decision.unmet() {
        console.error(&format!(
            "denied: {}: {} (see docs/requirements.md#{})",
            r.id,
            log_inline(&r.detail, 500),
            r.id
        ));
    }
}

fn short(sha: &str) -> String {
    sha.chars().take(7).collect()
}
