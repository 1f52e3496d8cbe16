//! The top-level error and the one place that maps outcomes to exit codes (contract §5).

use crate::credential::CredentialError;
use crate::emit::files::FilesError;
use crate::event::EventError;
use crate::forge::ForgeError;
use crate::oidc::OidcError;
use crate::policy::PolicyError;
use crate::url_rules::UrlError;

pub use crate::exit::ExitClass;

/// Every way a command can fail. `main` maps it once to a message, a help line and an exit
/// code; nothing else exits the process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("usage: {0}")]
    Usage(String),
    #[error("{what}: missing environment variable {var}")]
    MissingEnv {
        what: &'static str,
        var: &'static str,
    },
    /// Every missing variable at once, each with the flag that stands in for it, if any.
    #[error("missing environment: {}", .0.join(", "))]
    MissingEnvAll(Vec<String>),
    #[error("{0}")]
    Event(#[from] EventError),
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    #[error("policy: {} problem(s):\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    PolicyErrors(Vec<PolicyError>),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("denied: {0}")]
    Denied(String),
    #[error("upstream: {0}")]
    Upstream(String),
    /// The job's OIDC token does not verify (`identity.*`): a denial.
    #[error("{id}: {detail}")]
    Identity { id: &'static str, detail: String },
    /// The OIDC issuer, its key set or the runner's token service failed or timed out.
    #[error("{id}: {detail}")]
    IdentityUpstream { id: &'static str, detail: String },
    /// A URL from the configuration or the runner is refused (`config.insecure_url`).
    #[error("config.insecure_url: {what}: {source}")]
    InsecureUrl {
        what: String,
        #[source]
        source: UrlError,
    },
    /// A configuration error with a stable id.
    #[error("{id}: {detail}")]
    Config { id: &'static str, detail: String },
    /// A credential could not be minted, revoked or swept (exit 2 or 3 by its kind).
    #[error("{0}")]
    Credential(#[from] CredentialError),
    /// A `jwt` credential given to `prod-access verify` does not verify (`jwt.*`): exit 1.
    #[error("{id}: {detail}")]
    TokenRefused { id: &'static str, detail: String },
    /// A runner file (`GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STATE`, the step summary)
    /// could not be written. After a mint the caller revokes first (catalogue 94).
    #[error("{0}")]
    RunnerFiles(#[from] FilesError),
    /// SIGINT, SIGTERM or SIGHUP ended the command; the exit code is 128 + the signal.
    #[error("stopped by a signal (exit {code}); nothing was handed over")]
    Stopped { code: i32 },
}

impl Error {
    pub fn exit_class(&self) -> ExitClass {
        match self {
            Error::Usage(_)
            | Error::MissingEnv { .. }
            | Error::MissingEnvAll(_)
            | Error::Event(_)
            | Error::Policy(_)
            | Error::PolicyErrors(_)
            | Error::Io { .. }
            | Error::InsecureUrl { .. }
            | Error::Config { .. } => ExitClass::Config,
            Error::Denied(_) | Error::Identity { .. } | Error::TokenRefused { .. } => {
                ExitClass::Denied
            }
            Error::Credential(e) => e.exit_class(),
            Error::Upstream(_) | Error::IdentityUpstream { .. } => ExitClass::Upstream,
            // A name that is invalid or denied comes from the configuration; a file that is
            // missing from a runner, or cannot be written, or a value that cannot be written
            // safely, is a failure of the environment: nothing granted (exit 3).
            Error::RunnerFiles(FilesError::InvalidName { .. }) => ExitClass::Config,
            Error::RunnerFiles(_) => ExitClass::Upstream,
            Error::Stopped { code } => ExitClass::Command(*code),
        }
    }

    /// The stable requirement id, where the error has one.
    pub fn id(&self) -> Option<&'static str> {
        match self {
            Error::Identity { id, .. }
            | Error::IdentityUpstream { id, .. }
            | Error::Config { id, .. }
            | Error::TokenRefused { id, .. } => Some(id),
            Error::Credential(e) => Some(e.id()),
            Error::InsecureUrl { .. } => Some(crate::url_rules::INSECURE_URL_ID),
            _ => None,
        }
    }

    /// A concrete next step for the person reading the log, where there is one.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::MissingEnv { var, .. } if var.starts_with("ACTIONS_ID_TOKEN") => Some(
                "the job needs permissions: id-token: write; fork PRs get no OIDC token".into(),
            ),
            Error::MissingEnv { .. } => {
                Some("run inside a GitHub Actions job, or pass the value as a flag".into())
            }
            Error::MissingEnvAll(vars) => {
                let mut help = String::from(
                    "the runner sets these in a GitHub Actions job; outside CI, \
                     `prod-access check --policy-file FILE --scenario FILE` decides offline and \
                     `prod-access demo` runs the whole flow on loopback",
                );
                if vars.iter().any(|v| v.starts_with("ACTIONS_ID_TOKEN")) {
                    help.push_str(
                        "; the job needs permissions: id-token: write; fork PRs get no OIDC token",
                    );
                }
                Some(help)
            }
            Error::Policy(_) | Error::PolicyErrors(_) => Some(format!(
                "see {}/policy.md; `prod-access check --policy-file FILE` validates a policy locally",
                crate::policy::DOCS_URL
            )),
            Error::InsecureUrl { .. } => Some(
                "use https (plain http only to 127.0.0.1, ::1 or localhost), without user:password@ or a #fragment"
                    .into(),
            ),
            Error::Identity { id, .. } if *id == "identity.kid_unknown" => Some(
                "the token names a key the issuer does not publish: check the policy's identity.issuer"
                    .into(),
            ),
            Error::Identity { id, .. } if id.starts_with("identity.") => Some(
                "the job's OIDC token was refused; see docs for the identity requirement named above"
                    .into(),
            ),
            Error::IdentityUpstream { .. } => Some(
                "the OIDC issuer or the runner's token service failed; nothing was granted, re-run the job"
                    .into(),
            ),
            Error::Credential(CredentialError::Config { id, .. })
                if id.starts_with("config.jwt_key") =>
            {
                Some("make a key with `prod-access keygen --out FILE` and store the file's content in the secret the provider's key_env names".into())
            }
            Error::TokenRefused { id, .. } if *id == "jwt.kid_unknown" => Some(
                "the token's kid is not in this JWKS: publish the output of `prod-access jwks` for the key that signs".into(),
            ),
            Error::RunnerFiles(FilesError::InvalidName { .. }) => Some(
                "variable names are letters, digits and `_`, and may not be one that changes how \
                 later steps run (PATH, LD_*, NODE_OPTIONS, GITHUB_*, ...)"
                    .into(),
            ),
            Error::RunnerFiles(_) => Some(
                "the runner's files must be writable regular files; any credential minted was \
                 revoked and nothing was handed to the job"
                    .into(),
            ),
            Error::Event(EventError::UnsupportedEvent(_)) => Some(
                "trigger the job on pull_request_target, pull_request, push or workflow_dispatch".into(),
            ),
            _ => None,
        }
    }
}

impl From<OidcError> for Error {
    fn from(e: OidcError) -> Self {
        let (id, detail) = (e.id(), e.detail().to_string());
        match e.exit_class() {
            ExitClass::Denied | ExitClass::Ok | ExitClass::Command(_) => {
                Error::Identity { id, detail }
            }
            ExitClass::Upstream => Error::IdentityUpstream { id, detail },
            ExitClass::Config => Error::Config { id, detail },
        }
    }
}

impl From<ForgeError> for Error {
    fn from(e: ForgeError) -> Self {
        match e.exit_class() {
            ExitClass::Config => Error::Config {
                id: e.id(),
                detail: match e.help() {
                    Some(help) => format!("{}: {} ({help})", e.endpoint, e.detail),
                    None => format!("{}: {}", e.endpoint, e.detail),
                },
            },
            _ => Error::Upstream(e.to_string()),
        }
    }
}
