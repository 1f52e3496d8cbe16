//! Command-line interface: clap definitions and the resolution of action inputs.
//!
//! Two steps, as in ripgrep: clap fills [`Cli`] with raw strings and no I/O; then
//! [`InputArgs::resolve`] applies the action's `INPUT_<NAME>` variables (a flag wins over the
//! environment), parses and validates every value, and returns [`Inputs`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::Error;
use crate::policy::{DEFAULT_AUDIENCE, DEFAULT_POLICY_PATH, duration};
use crate::secret::Secret;

#[derive(Debug, Parser)]
#[command(
    name = "prod-access",
    version = env!("PROD_ACCESS_VERSION"),
    about = "Temporary, just-in-time production access from a CI step",
    long_about = "Temporary, just-in-time production access from a CI step.\n\n\
        An engineer asks for access with a `Prod-Access: reason` commit trailer, a PR label or a \
        workflow_dispatch; prod-access proves who asks from the job's OIDC token, checks the \
        policy from the default branch and the approvals on the exact head commit, mints a \
        short-lived credential, masks it, hands it to the job, writes the audit trail, and \
        revokes it when the job ends.\n\nExit codes: 0 granted (or no request), 1 denied, \
        2 usage or configuration error, 3 upstream failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job: collect the request, verify identity and approvals, mint the
    /// credential, emit it, write the audit record.
    Grant(GrantArgs),
    /// The post step: revoke what `grant` minted in this job (idempotent).
    Revoke(RevokeArgs),
    /// The same decision as `grant`, nothing minted: prints every requirement met or unmet.
    /// With `--policy-file` alone it validates a policy file for authoring.
    Check(CheckArgs),
    /// For CI without env files: grant, run CMD with the credential in its environment
    /// only, revoke when it exits. The exit code is CMD's.
    Exec(ExecArgs),
    /// Make a signing key for the `jwt` credential (0600, never overwrites).
    Keygen(KeygenArgs),
    /// Print the public JWKS of a `jwt` signing key.
    Jwks(JwksArgs),
    /// Verify a `jwt` credential as a production service would (exit 0 valid, 1 invalid).
    Verify(VerifyArgs),
    /// Revoke every expired credential a provider still holds (for a scheduled job).
    Sweep(SweepArgs),
    /// The whole flow on this machine with no account anywhere: loopback forge simulator,
    /// local OIDC issuer, `jwt` credential.
    Demo(DemoArgs),
    /// Print a shell completion script, e.g. `prod-access completions bash > /etc/bash_completion.d/prod-access`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `prod-access man > prod-access.1`.
    Man(ManArgs),
}

/// The action inputs of contract §2, all of them: what `grant` and `exec` read. Each is also
/// read from `INPUT_<NAME>` (a flag wins). The other subcommands take only the inputs they
/// use ([`ForgeInputs`], [`RequestInputArgs`]) and ignore every other `INPUT_*` variable:
/// the Action sets all of them for both its main (`grant`) and post (`revoke`) steps.
#[derive(Debug, Clone, Default, Args)]
pub struct InputArgs {
    #[command(flatten)]
    pub forge: ForgeInputs,
    #[command(flatten)]
    pub request: RequestInputArgs,
    /// Decide and report, mint nothing (true/false) [env: INPUT_DRY-RUN]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub dry_run: Option<String>,
}

/// The inputs every command that reads the forge uses: who it talks as, and where the policy is.
#[derive(Debug, Clone, Default, Args)]
pub struct ForgeInputs {
    /// Token for the forge API [env: INPUT_GITHUB-TOKEN, then GITHUB_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub github_token: Option<String>,
    /// Path of the policy file in the repository, read from the default branch [env:
    /// INPUT_POLICY] [default: .github/prod-access.yml]
    #[arg(long, value_name = "PATH")]
    pub policy: Option<String>,
    /// Audience asked for on the job's OIDC token [env: INPUT_AUDIENCE] [default:
    /// prod-access]
    #[arg(long)]
    pub audience: Option<String>,
}

/// The inputs that shape a request: what `grant`, `exec` and `check` decide on.
#[derive(Debug, Clone, Default, Args)]
pub struct RequestInputArgs {
    /// Name of a scope in the policy [env: INPUT_SCOPE] [default: from trailer or label]
    #[arg(long)]
    pub scope: Option<String>,
    /// Why access is needed [env: INPUT_REASON] [default: from trailer, PR body line or
    /// dispatch input]
    #[arg(long)]
    pub reason: Option<String>,
    /// Requested lifetime, e.g. 15m, 1h [env: INPUT_TTL] [default: the scope's ttl]
    #[arg(long)]
    pub ttl: Option<String>,
    /// PR whose approvals count (workflow_dispatch) [env: INPUT_PULL-REQUEST]
    #[arg(long, value_name = "NUMBER")]
    pub pull_request: Option<String>,
    /// When the event carries no request: `skip` (exit 0, requested=false) or `fail` (exit
    /// 1) [env: INPUT_IF-NO-REQUEST] [default: skip]
    #[arg(long, value_name = "skip|fail")]
    pub if_no_request: Option<String>,
}

/// Every action input, as named in `action.yml`.
pub const ALL_INPUTS: [&str; 9] = [
    "github-token",
    "scope",
    "reason",
    "ttl",
    "policy",
    "audience",
    "pull-request",
    "dry-run",
    "if-no-request",
];
/// The inputs `revoke` and `sweep` read.
pub const FORGE_INPUTS: [&str; 3] = ["github-token", "policy", "audience"];
/// The inputs `check` reads: all but `dry-run` (a check never mints).
pub const CHECK_INPUTS: [&str; 8] = [
    "github-token",
    "scope",
    "reason",
    "ttl",
    "policy",
    "audience",
    "pull-request",
    "if-no-request",
];

#[derive(Debug, Clone, Args)]
pub struct GrantArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub forge: ForgeInputs,
}

impl RevokeArgs {
    /// The inputs `revoke` reads, with every other `INPUT_*` variable ignored.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Inputs, Error> {
        InputArgs {
            forge: self.forge.clone(),
            ..Default::default()
        }
        .resolve_only(&FORGE_INPUTS, env)
    }
}

/// How `check` prints the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document on stdout (schema/check-output.schema.json).
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub forge: ForgeInputs,
    #[command(flatten)]
    pub request: RequestInputArgs,
    /// Read the policy from this local file instead of the default branch (for authoring).
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,
    /// Offline what-if: a JSON file with token claims, forge evidence and the event, used
    /// instead of the OIDC token and the forge API. Needs `--policy-file`. Nothing is
    /// verified: the output says so.
    #[arg(long, value_name = "FILE", requires = "policy_file")]
    pub scenario: Option<PathBuf>,
    /// Output format: `text`, or `json` (one JSON document on stdout, nothing before it).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Same as `--format json` (kept for scripts written before `--format`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl CheckArgs {
    /// The inputs `check` reads (all but `dry-run`), every other `INPUT_*` ignored.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Inputs, Error> {
        InputArgs {
            forge: self.forge.clone(),
            request: self.request.clone(),
            dry_run: None,
        }
        .resolve_only(&CHECK_INPUTS, env)
    }

    /// `--format json` or its alias `--json`.
    pub fn json(&self) -> bool {
        self.json || self.format == OutputFormat::Json
    }
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// The command to run with the credential in its environment.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Key algorithm.
    #[arg(long, value_name = "ed25519|p256", default_value = "ed25519")]
    pub alg: String,
    /// Where to write the PKCS#8 PEM private key (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the public JWKS to this file (must not exist). Without it the JWKS goes to
    /// stdout; with it, stdout stays empty.
    #[arg(long, value_name = "FILE")]
    pub jwks_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct JwksArgs {
    /// A PKCS#8 PEM private key file; default: the PEM in the env variable `--key-env` names.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Environment variable holding the PEM.
    #[arg(long, value_name = "NAME", default_value = "PROD_ACCESS_JWT_KEY")]
    pub key_env: String,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The token to verify ("-" reads it from stdin).
    #[arg(value_name = "TOKEN")]
    pub token: String,
    /// The public JWKS file (from `prod-access jwks`).
    #[arg(long, value_name = "FILE")]
    pub jwks: PathBuf,
    /// The audience this service accepts.
    #[arg(long)]
    pub audience: String,
    /// The issuer this service accepts.
    #[arg(long)]
    pub issuer: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub forge: ForgeInputs,
    /// A local policy file naming the providers to sweep (default: the policy on the
    /// repository's default branch, read through the forge API).
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,
}

impl SweepArgs {
    /// The inputs `sweep` reads, every other `INPUT_*` ignored.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Inputs, Error> {
        InputArgs {
            forge: self.forge.clone(),
            ..Default::default()
        }
        .resolve_only(&FORGE_INPUTS, env)
    }
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {}

/// What to do when the event carries no request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNoRequest {
    Skip,
    Fail,
}

/// Resolved, validated inputs.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub github_token: Option<Secret>,
    pub scope: Option<String>,
    pub reason: Option<String>,
    pub ttl: Option<Duration>,
    pub policy: String,
    pub audience: String,
    pub pull_request: Option<u64>,
    pub dry_run: bool,
    pub if_no_request: IfNoRequest,
}

/// The `INPUT_<NAME>` variable of an action input: upper-cased, spaces to `_`, hyphens kept.
pub fn input_env_name(input: &str) -> String {
    format!("INPUT_{}", input.replace(' ', "_").to_uppercase())
}

impl InputArgs {
    /// Applies `INPUT_*` (then `GITHUB_TOKEN` for the token) under the flags and validates.
    /// An empty variable counts as unset: the runner sets every declared input, empty when
    /// the workflow gives none.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Inputs, Error> {
        self.resolve_only(&ALL_INPUTS, env)
    }

    /// [`Self::resolve`] reading only the inputs named in `used`: the others take their
    /// defaults, and their `INPUT_*` variables are not read (so not validated either).
    pub fn resolve_only(
        &self,
        used: &[&str],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Inputs, Error> {
        let get = |flag: &Option<String>, input: &str| -> Option<String> {
            if !used.contains(&input) {
                return None;
            }
            flag.clone()
                .or_else(|| env(&input_env_name(input)))
                .filter(|v| !v.trim().is_empty())
        };
        let (f, r) = (&self.forge, &self.request);
        let github_token = get(&f.github_token, "github-token")
            .or_else(|| env("GITHUB_TOKEN").filter(|v| !v.trim().is_empty()))
            .map(|t| Secret::new(t.trim()));
        let scope = get(&r.scope, "scope").map(|s| s.trim().to_string());
        if let Some(s) = &scope
            && !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::Usage(format!(
                "input `scope` must be a scope name ([A-Za-z0-9._-]), got {}",
                crate::emit::escape::quote_untrusted(s, 64)
            )));
        }
        let reason = get(&r.reason, "reason");
        let ttl = match get(&r.ttl, "ttl") {
            None => None,
            Some(t) => Some(duration::parse(t.trim()).map_err(|e| {
                Error::Usage(format!(
                    "request.ttl_invalid: input `ttl` {}: {e}",
                    crate::emit::escape::quote_untrusted(&t, 32)
                ))
            })?),
        };
        let policy = get(&f.policy, "policy").unwrap_or_else(|| DEFAULT_POLICY_PATH.into());
        validate_repo_path(&policy)?;
        let audience = get(&f.audience, "audience").unwrap_or_else(|| DEFAULT_AUDIENCE.into());
        let pull_request = match get(&r.pull_request, "pull-request") {
            None => None,
            Some(p) => Some(parse_pr_number(p.trim())?),
        };
        let dry_run = match get(&self.dry_run, "dry-run").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(Error::Usage(format!(
                    "input `dry-run` must be true or false, got {}",
                    crate::emit::escape::quote_untrusted(other, 32)
                )));
            }
        };
        let if_no_request = match get(&r.if_no_request, "if-no-request")
            .as_deref()
            .map(str::trim)
        {
            None | Some("skip") => IfNoRequest::Skip,
            Some("fail") => IfNoRequest::Fail,
            Some(other) => {
                return Err(Error::Usage(format!(
                    "input `if-no-request` must be skip or fail, got {}",
                    crate::emit::escape::quote_untrusted(other, 32)
                )));
            }
        };
        Ok(Inputs {
            github_token,
            scope,
            reason,
            ttl,
            policy,
            audience,
            pull_request,
            dry_run,
            if_no_request,
        })
    }
}

fn parse_pr_number(p: &str) -> Result<u64, Error> {
    let bad = || {
        Error::Usage(format!(
            "input `pull-request` must be a PR number, got {}",
            crate::emit::escape::quote_untrusted(p, 32)
        ))
    };
    if p.is_empty() || p.len() > 12 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match p.parse::<u64>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

/// SECURITY: the policy path is a path inside the repository, read through the contents
/// API: no absolute paths, no `..`, no empty segments, no URL syntax.
fn validate_repo_path(path: &str) -> Result<(), Error> {
    let ok = !path.is_empty()
        && path.len() <= 255
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "input `policy` must be a relative path inside the repository, got {}",
            crate::emit::escape::quote_untrusted(path, 64)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn input_names_keep_hyphens() {
        assert_eq!(input_env_name("github-token"), "INPUT_GITHUB-TOKEN");
        assert_eq!(input_env_name("if-no-request"), "INPUT_IF-NO-REQUEST");
        assert_eq!(input_env_name("my input"), "INPUT_MY_INPUT");
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let i = InputArgs::default().resolve(&env(&[])).unwrap();
        assert_eq!(i.policy, ".github/prod-access.yml");
        assert_eq!(i.audience, "prod-access");
        assert!(!i.dry_run);
        assert_eq!(i.if_no_request, IfNoRequest::Skip);
        assert!(i.github_token.is_none());
    }

    #[test]
    fn env_inputs_are_read_and_empty_counts_as_unset() {
        let e = env(&[
            ("INPUT_SCOPE", "db-read"),
            ("INPUT_TTL", "30m"),
            ("INPUT_PULL-REQUEST", "42"),
            ("INPUT_DRY-RUN", "true"),
            ("INPUT_IF-NO-REQUEST", "fail"),
            ("INPUT_REASON", ""),
            ("INPUT_GITHUB-TOKEN", ""),
            ("GITHUB_TOKEN", "ghs_fallback"),
        ]);
        let i = InputArgs::default().resolve(&e).unwrap();
        assert_eq!(i.scope.as_deref(), Some("db-read"));
        assert_eq!(i.ttl, Some(Duration::from_secs(1800)));
        assert_eq!(i.pull_request, Some(42));
        assert!(i.dry_run);
        assert_eq!(i.if_no_request, IfNoRequest::Fail);
        assert_eq!(i.reason, None);
        assert_eq!(i.github_token.unwrap().expose(), "ghs_fallback");
    }

    #[test]
    fn flag_wins_over_env() {
        let args = InputArgs {
            request: RequestInputArgs {
                scope: Some("api-admin".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let i = args.resolve(&env(&[("INPUT_SCOPE", "db-read")])).unwrap();
        assert_eq!(i.scope.as_deref(), Some("api-admin"));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let cases: &[(&str, &str)] = &[
            ("INPUT_TTL", "0s"),
            ("INPUT_TTL", "-5m"),
            ("INPUT_TTL", "15"),
            ("INPUT_TTL", "1e3m"),
            ("INPUT_TTL", "99999999999h"),
            ("INPUT_PULL-REQUEST", "12abc"),
            ("INPUT_PULL-REQUEST", "0"),
            ("INPUT_PULL-REQUEST", "-1"),
            ("INPUT_DRY-RUN", "yes"),
            ("INPUT_IF-NO-REQUEST", "maybe"),
            ("INPUT_POLICY", "/etc/passwd"),
            ("INPUT_POLICY", ".github/../secrets.yml"),
            ("INPUT_POLICY", "https://evil.test/p.yml"),
            ("INPUT_SCOPE", "db read; rm"),
        ];
        for (k, v) in cases {
            let err = InputArgs::default().resolve(&env(&[(k, v)])).unwrap_err();
            assert_eq!(err.exit_class().code(), 2, "{k}={v}: {err}");
        }
    }

    #[test]
    fn token_is_never_printed_by_debug() {
        let i = InputArgs::default()
            .resolve(&env(&[("INPUT_GITHUB-TOKEN", "ghs_supersecret")]))
            .unwrap();
        assert!(!format!("{i:?}").contains("supersecret"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
