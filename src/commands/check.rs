//! `prod-access check`: the decision without minting.
//!
//! Modes:
//! - `--policy-file FILE`: validate a policy file (authoring) and print its scopes.
//! - `--policy-file FILE --scenario FILE`: an offline what-if. Token claims, forge evidence
//!   and the event come from the scenario file; nothing is verified and the output says so.
//! - online (the job token and the forge API) arrives with the grant flow.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
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
use crate::report::console::print_decision;
use crate::runner::RunnerHints;

/// Largest scenario file.
const MAX_SCENARIO_FILE: usize = 32 * 1024 * 1024;

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
    let result = run_inner(args, console, env);
    // With --format json, stdout is one document whatever happened: an error is one too
    // (and is reported on stderr as well, as always).
    if args.json()
        && let Err(e) = &result
    {
        print_json(console, &CheckOutput::error(e))?;
    }
    result
}

fn run_inner(
    args: &CheckArgs,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExitClass, Error> {
    let inputs = args.resolve(env)?;
    let Some(policy_file) = &args.policy_file else {
        crate::commands::preflight(env, &inputs, true)?;
        return run_online(args, &inputs, console, env);
    };
    let text = read_policy_file(policy_file)?;
    let policy = load_policy_all_errors(&text).map_err(Error::PolicyErrors)?;
    let warnings = policy.warnings();
    for (id, warning) in &warnings {
        console.error(&format!("warning: {id}: {warning}"));
    }
    match &args.scenario {
        None if args.json() => {
            let mut out = CheckOutput::empty(DecisionWord::PolicyValid, true);
            out.warnings = warnings
                .iter()
                .map(|(id, message)| ProblemOut {
                    id: (*id).to_string(),
                    path: None,
                    line: None,
                    message: message.clone(),
                })
                .collect();
            print_json(console, &out)?;
            Ok(ExitClass::Ok)
        }
        None => {
            print_policy(console, policy_file, &policy);
            Ok(ExitClass::Ok)
        }
        Some(path) => run_scenario(path, &policy, &inputs, args.json(), console),
    }
}

/// The decision `grant` would make in this job, read from the job token and the forge API;
/// nothing minted. Like `grant`, every exit writes `requested` and `granted` (always `false`:
/// `check` grants nothing) to `GITHUB_OUTPUT` and a summary that says what happened
/// (contract §5), where the runner gives those files.
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
        crate::commands::block_on(grant::decide_online(&forge, &runner, inputs, env, &config));
    write_check_trail(&runner, console, &found);
    match found? {
        Found::NoRequest(why) => no_request(console, &why, inputs, args.json(), true),
        Found::Decided(d) => show(console, &d.decision, args.json(), true),
    }
}

/// `requested`/`granted` and the step summary of an online `check`. A runner file that
/// cannot be written is reported; the decision's exit code stands.
fn write_check_trail(
    runner: &crate::commands::grant::Runner,
    console: &mut Console,
    found: &Result<crate::commands::grant::Found, Error>,
) {
    use crate::commands::grant::Found;
    use crate::emit::escape::markdown_inline;
    let mut files = match crate::emit::files::RunnerFiles::open(&runner.paths) {
        Ok(files) => files,
        Err(e) => {
            console.error(&format!("the runner files could not be opened: {e}"));
            return;
        }
    };
    let (requested, summary) = match found {
        Ok(Found::NoRequest(why)) => (
            false,
            format!(
                "## prod-access check: no request\n\n{}\n",
                markdown_inline(why, 500)
            ),
        ),
        Ok(Found::Decided(d)) => {
            let verdict = if d.decision.granted() {
                "would be granted"
            } else {
                "would be denied"
            };
            let mut text = format!(
                "## prod-access check: {verdict} (nothing minted)\n\n| requirement | met | detail |\n| --- | --- | --- |\n"
            );
            for r in &d.decision.requirements {
                text.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    r.id,
                    if r.met { "yes" } else { "**no**" },
                    markdown_inline(&r.detail, 300)
                ));
            }
            (true, text)
        }
        Err(e) => (
            false,
            format!(
                "## prod-access check: failed\n\n{}\n",
                markdown_inline(&e.to_string(), 2000)
            ),
        ),
    };
    let requested = if requested { "true" } else { "false" };
    if let Err(e) = files.write_outputs(&[("requested", requested), ("granted", "false")]) {
        console.error(&format!("the outputs could not be written: {e}"));
    }
    if let Err(e) = files.append_summary(&summary) {
        console.error(&format!("the summary could not be written: {e}"));
    }
}

/// A local policy file, refused above the one policy size limit with the one message
/// (`config.too_large`) the compiler gives.
fn read_policy_file(path: &Path) -> Result<String, Error> {
    let limit = crate::policy::compile::MAX_POLICY_BYTES;
    match read_capped(path, limit) {
        Err(Error::Config {
            id: "config.file_too_large",
            ..
        }) => {
            let size = std::fs::metadata(path)
                .map(|m| m.len() as usize)
                .unwrap_or(limit + 1);
            Err(Error::PolicyErrors(vec![
                crate::policy::PolicyError::TooLarge { size, limit },
            ]))
        }
        other => other,
    }
}

/// A file as UTF-8 text, at most `max` bytes ([`super::read_file_capped`]).
fn read_capped(path: &Path, max: usize) -> Result<String, Error> {
    let mut bytes = super::read_file_capped(path, max)?;
    String::from_utf8(std::mem::take(&mut *bytes))
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
    let keys = RequestKeys::of(policy);
    let banner = format!(
        "check: OFFLINE what-if from {}: token claims and forge evidence are NOT verified",
        path.display()
    );
    // With --format json, stdout is the document alone: the warning goes to stderr.
    if json {
        console.error(&banner);
    } else {
        console.say(&format!("prod-access {banner}"));
    }
    let outcome = parse_event(
        &scenario.event_name,
        &payload,
        &keys,
        scenario.evidence.head_commit_message.as_deref(),
    )?;
    let event_request = match outcome {
        EventOutcome::Request(r) => r,
        EventOutcome::NoRequest { why } => {
            return no_request(console, &why, inputs, json, false);
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
    show(console, &decision, json, false)
}

/// Prints a decision (text or the JSON document) and returns its exit class.
fn show(
    console: &mut Console,
    decision: &Decision,
    json: bool,
    verified: bool,
) -> Result<ExitClass, Error> {
    if json {
        print_json(console, &CheckOutput::decided(decision, verified))?;
    } else {
        print_decision(console, decision, "WOULD BE GRANTED");
    }
    Ok(if decision.granted() {
        ExitClass::Ok
    } else {
        ExitClass::Denied
    })
}

fn no_request(
    console: &mut Console,
    why: &str,
    inputs: &Inputs,
    json: bool,
    verified: bool,
) -> Result<ExitClass, Error> {
    if json {
        print_json(console, &CheckOutput::no_request(why, verified))?;
    } else {
        console.say(&format!(
            "no request in this event: {}",
            log_inline(why, 200)
        ));
    }
    Ok(match inputs.if_no_request {
        IfNoRequest::Skip => ExitClass::Ok,
        IfNoRequest::Fail => ExitClass::Denied,
    })
}

fn print_json(console: &mut Console, output: &CheckOutput) -> Result<(), Error> {
    console.json(output).map_err(|e| Error::Config {
        id: "config.output",
        detail: format!("cannot render the decision as JSON: {e}"),
    })
}

/// Path of the committed schema of `check --format json`, relative to the crate root.
pub const OUTPUT_SCHEMA_PATH: &str = "schema/check-output.schema.json";

/// The schema of `check --format json` as pretty-printed JSON with a trailing newline.
pub fn output_schema_json() -> String {
    let schema = schemars::schema_for!(CheckOutput);
    format!("{:#}\n", schema.as_value())
}

/// What `check --format json` prints: one document, nothing before it on stdout.
/// Durations are strings in the policy's syntax (`"15m"`) and seconds.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "prod-access check output, version 1")]
pub struct CheckOutput {
    /// The version of this document's shape; a change that removes or renames a field
    /// raises it.
    pub version: u32,
    /// `granted`: every requirement met (`check` would exit 0); `denied`: at least one
    /// unmet (exit 1); `no-request`: the event asked for nothing (exit 0 with
    /// `if-no-request: skip`, 1 with `fail`).
    pub decision: DecisionWord,
    /// `false` for `--scenario`: the token claims and forge answers came from a file and
    /// were not verified.
    pub verified: bool,
    /// The scope the request resolved to.
    pub scope: Option<String>,
    /// The requester: the token's `actor`.
    pub requester: Option<UserOut>,
    /// The credential's lifetime, e.g. `"15m"`.
    pub ttl: Option<String>,
    /// The same lifetime in seconds.
    pub ttl_seconds: Option<u64>,
    /// Granted without approvals under `break_glass: true`.
    pub break_glass: bool,
    /// The ids of the unmet requirements, in the order checked.
    pub unmet: Vec<String>,
    /// Every requirement checked, met or unmet.
    pub requirements: Vec<RequirementOut>,
    /// The approvals that counted.
    pub approvers: Vec<ApproverOut>,
    /// Why there is no request (only with `decision: no-request`).
    pub no_request: Option<String>,
    /// What is allowed but probably not meant in the policy (`check --policy-file`).
    pub warnings: Vec<ProblemOut>,
    /// Why nothing was decided (only with `decision: error`; exit 2 or 3).
    pub error: Option<ErrorOut>,
    /// Every problem of an invalid policy, in line order (with `decision: error`).
    pub problems: Vec<ProblemOut>,
}

/// A problem or warning about the policy.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProblemOut {
    /// Stable id, e.g. `config.unknown_key` (docs/policy.md lists them).
    pub id: String,
    /// Key path, e.g. `scopes.db-read.ttl`.
    pub path: Option<String>,
    /// 1-based line in the policy file.
    pub line: Option<usize>,
    pub message: String,
}

/// An error that stopped the check.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorOut {
    /// Stable id, where the error has one.
    pub id: Option<String>,
    /// The process's exit code: 2 usage or configuration, 3 upstream, 1 a refused token.
    pub exit_code: i32,
    pub message: String,
    /// A next step, where there is one.
    pub help: Option<String>,
}

/// The verdict of [`CheckOutput`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionWord {
    /// Every requirement met: `check` exits 0.
    Granted,
    /// At least one requirement unmet: exit 1.
    Denied,
    /// The event asked for nothing.
    NoRequest,
    /// `--policy-file` alone: the policy is valid (exit 0); `warnings` may say more.
    PolicyValid,
    /// Nothing decided: `error` says why, `problems` lists a policy's problems.
    Error,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UserOut {
    pub login: String,
    /// The numeric id, where the forge gave one.
    pub id: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RequirementOut {
    /// The kebab-case id (`fresh-approval`), as in stderr, the summary and the docs.
    pub id: String,
    pub met: bool,
    /// A sentence a person understands. Holds user text: escape it before showing it.
    pub detail: String,
    /// The requirement's documentation.
    pub docs: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ApproverOut {
    pub login: String,
    pub id: Option<u64>,
    /// The commit approved (none for a deployment approval).
    pub sha: Option<String>,
}

impl CheckOutput {
    fn decided(d: &Decision, verified: bool) -> Self {
        Self {
            version: 1,
            decision: if d.granted() {
                DecisionWord::Granted
            } else {
                DecisionWord::Denied
            },
            verified,
            scope: d.scope.clone(),
            requester: Some(UserOut {
                login: d.requester.login.clone(),
                id: d.requester.id,
            }),
            ttl: d.ttl.map(duration::format),
            ttl_seconds: d.ttl.map(|t| t.as_secs()),
            break_glass: d.break_glass,
            unmet: d.unmet().map(|r| r.id.to_string()).collect(),
            requirements: d
                .requirements
                .iter()
                .map(|r| RequirementOut {
                    id: r.id.to_string(),
                    met: r.met,
                    detail: r.detail.clone(),
                    docs: format!("{}#{}", crate::report::REQUIREMENTS_DOC, r.id),
                })
                .collect(),
            approvers: d
                .approvers
                .iter()
                .map(|a| ApproverOut {
                    login: a.user.login.clone(),
                    id: a.user.id,
                    sha: a.sha.clone(),
                })
                .collect(),
            no_request: None,
            warnings: Vec::new(),
            error: None,
            problems: Vec::new(),
        }
    }

    fn empty(decision: DecisionWord, verified: bool) -> Self {
        Self {
            version: 1,
            decision,
            verified,
            scope: None,
            requester: None,
            ttl: None,
            ttl_seconds: None,
            break_glass: false,
            unmet: Vec::new(),
            requirements: Vec::new(),
            approvers: Vec::new(),
            no_request: None,
            warnings: Vec::new(),
            error: None,
            problems: Vec::new(),
        }
    }

    fn no_request(why: &str, verified: bool) -> Self {
        let mut out = Self::empty(DecisionWord::NoRequest, verified);
        out.no_request = Some(why.to_string());
        out
    }

    fn error(e: &Error) -> Self {
        let mut out = Self::empty(DecisionWord::Error, false);
        let policy_problems: Vec<&crate::policy::PolicyError> = match e {
            Error::PolicyErrors(list) => list.iter().collect(),
            Error::Policy(one) => vec![one],
            _ => Vec::new(),
        };
        out.problems = policy_problems
            .into_iter()
            .map(|p| ProblemOut {
                id: p.id().to_string(),
                path: p.at().map(|a| a.path.clone()).filter(|p| !p.is_empty()),
                line: p.line(),
                message: p.to_string(),
            })
            .collect();
        out.error = Some(ErrorOut {
            id: e.id().map(str::to_string),
            exit_code: e.exit_class().code(),
            message: e.to_string(),
            help: e.help(),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_output_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(OUTPUT_SCHEMA_PATH);
        let want = output_schema_json();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            if let Err(e) = std::fs::write(&path, &want) {
                panic!("cannot write {}: {e}", path.display());
            }
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{OUTPUT_SCHEMA_PATH} differs from the schema the code produces; refresh it with\n  \
             UPDATE_SCHEMA=1 cargo test --lib commands::check\nand commit the result"
        );
    }
}
