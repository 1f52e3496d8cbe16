//! The top-level error and the one place that maps outcomes to exit codes (contract §5).

use crate::event::EventError;
use crate::policy::PolicyError;

/// The exit classes of contract §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// 0: granted, would be granted, or no request with `if-no-request: skip`.
    Ok = 0,
    /// 1: denied (a requirement unmet, or the job token failed verification).
    Denied = 1,
    /// 2: usage or configuration error.
    Config = 2,
    /// 3: an upstream failed or timed out; nothing granted.
    Upstream = 3,
}

impl ExitClass {
    pub fn code(self) -> i32 {
        self as i32
    }
}

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
    #[error("`{command}` is not available yet: {why}")]
    NotYetAvailable {
        command: &'static str,
        why: &'static str,
    },
    #[error("denied: {0}")]
    Denied(String),
    #[error("upstream: {0}")]
    Upstream(String),
}

impl Error {
    pub fn exit_class(&self) -> ExitClass {
        match self {
            Error::Usage(_)
            | Error::MissingEnv { .. }
            | Error::Event(_)
            | Error::Policy(_)
            | Error::PolicyErrors(_)
            | Error::Io { .. }
            | Error::NotYetAvailable { .. } => ExitClass::Config,
            Error::Denied(_) => ExitClass::Denied,
            Error::Upstream(_) => ExitClass::Upstream,
        }
    }

    /// A concrete next step for the person reading the log, where there is one.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::MissingEnv { var, .. } if var.starts_with("ACTIONS_ID_TOKEN") => Some(
                "the job needs `permissions: id-token: write`; fork PRs get no OIDC token".into(),
            ),
            Error::MissingEnv { .. } => {
                Some("run inside a GitHub Actions job, or pass the value as a flag".into())
            }
            Error::Policy(_) | Error::PolicyErrors(_) => Some(
                "see docs/policy.md; `prod-access check --policy-file FILE` validates a policy locally"
                    .into(),
            ),
            Error::Event(EventError::UnsupportedEvent(_)) => Some(
                "trigger the job on pull_request_target, pull_request, push or workflow_dispatch".into(),
            ),
            _ => None,
        }
    }
}
