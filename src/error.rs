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
    /// The forge failed or refused; its kind decides the exit class. The source is kept.
    #[error("{}", forge_message(.0))]
    Forge(#[from] ForgeError),
    /// The job token could not be had (exit 3), or was refused (exit 1), or the issuer's
    /// configuration is wrong (exit 2). The source is kept.
    #[error("{}: {}", .0.id(), .0.detail())]
    Oidc(#[from] OidcError),
}

/// A forge error as the one error line says it: configuration errors with their help inline
/// (`config.team_invisible: GET /orgs/{org}/teams/{team_slug}: ... (help)`), the rest as an
/// upstream failure naming the endpoint (never the token, never a body).
fn forge_message(e: &ForgeError) -> String {
    match (e.exit_class(), e.help()) {
        (ExitClass::Config, Some(help)) => {
            format!("{}: {}: {} ({help})", e.id(), e.endpoint, e.detail)
        }
        (ExitClass::Config, None) => format!("{}: {}: {}", e.id(), e.endpoint, e.detail),
        _ => format!("upstream: {e}"),
    }
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
            Error::Forge(e) => e.exit_class(),
            // A token that does not verify is a denial, whatever else the class says.
            Error::Oidc(e) => match e.exit_class() {
                ExitClass::Config => ExitClass::Config,
                ExitClass::Upstream => ExitClass::Upstream,
                ExitClass::Denied | ExitClass::Ok | ExitClass::Command(_) => ExitClass::Denied,
            },
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
            Error::Forge(e) => Some(e.id()),
            Error::Oidc(e) => Some(e.id()),
            _ => None,
        }
    }

    /// A concrete next step for the person reading the log, where there is one.
    pub fn help(&self) -> Option<String> {
        match self {
            // Configuration errors of the forge carry their help in the message.
            Error::Forge(e) if e.exit_class() == ExitClass::Config => None,
            Error::Forge(e) => e.help().map(str::to_string),
            Error::Oidc(e) if e.id() == "identity.kid_unknown" => Some(
                "the token names a key the issuer does not publish: check the policy's identity.issuer"
                    .into(),
            ),
            Error::Oidc(e) if e.exit_class() == ExitClass::Upstream => Some(
                "the OIDC issuer or the runner's token service failed; nothing was granted, re-run the job"
                    .into(),
            ),
            Error::Oidc(e) if e.id().starts_with("identity.") => Some(
                "the job's OIDC token was refused; see docs for the identity requirement named above"
                    .into(),
            ),
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

#[cfg(test)]
mod forge_and_oidc_errors {
    use super::*;
    use crate::forge::ForgeErrorKind;

    #[test]
    fn forge_errors_keep_their_source_kind_and_message() {
        let upstream = Error::from(
            ForgeError::new(
                ForgeErrorKind::Status,
                "GET /repos/{owner}/{repo}",
                "GitHub answered 502",
            )
            .with_status(502),
        );
        assert_eq!(upstream.exit_class(), ExitClass::Upstream);
        assert_eq!(upstream.id(), Some("forge.status"));
        assert_eq!(
            upstream.to_string(),
            "upstream: forge.status: GET /repos/{owner}/{repo}: GitHub answered 502"
        );
        let source = std::error::Error::source(&upstream).expect("the forge error is kept");
        assert_eq!(
            source.downcast_ref::<ForgeError>().map(|e| e.status),
            Some(Some(502))
        );
        assert!(upstream.help().is_some());

        let config = Error::from(ForgeError::new(
            ForgeErrorKind::TeamInvisible,
            "GET /orgs/{org}/teams/{team_slug}",
            "acme/sre answered 404",
        ));
        assert_eq!(config.exit_class(), ExitClass::Config);
        assert!(config.to_string().starts_with(
            "config.team_invisible: GET /orgs/{org}/teams/{team_slug}: acme/sre answered 404 ("
        ));
        assert_eq!(config.help(), None, "the help is in the message");
    }
}
