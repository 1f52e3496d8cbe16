//! A typed view of the runner's environment.
//!
//! SECURITY: everything here is a hint. An earlier step of the job can rewrite `GITHUB_ENV`
//! and so every variable below; trusted facts come from the verified OIDC token. These
//! values are read only to be compared with the token (a disagreement denies) and to find
//! the runner's files.

use std::collections::BTreeMap;

/// The runner-provided variables that name facts the token also names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerHints {
    pub repository: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub event_name: Option<String>,
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    pub actor: Option<String>,
}

impl RunnerHints {
    /// Reads the hints from a variable lookup (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let nonempty = |name: &str| get(name).filter(|v| !v.is_empty());
        Self {
            repository: nonempty("GITHUB_REPOSITORY"),
            run_id: nonempty("GITHUB_RUN_ID"),
            run_attempt: nonempty("GITHUB_RUN_ATTEMPT"),
            event_name: nonempty("GITHUB_EVENT_NAME"),
            sha: nonempty("GITHUB_SHA"),
            git_ref: nonempty("GITHUB_REF"),
            actor: nonempty("GITHUB_ACTOR"),
        }
    }

    /// Pairs of (variable, value) that are set, for reports.
    pub fn as_map(&self) -> BTreeMap<&'static str, &str> {
        [
            ("GITHUB_REPOSITORY", &self.repository),
            ("GITHUB_RUN_ID", &self.run_id),
            ("GITHUB_RUN_ATTEMPT", &self.run_attempt),
            ("GITHUB_EVENT_NAME", &self.event_name),
            ("GITHUB_SHA", &self.sha),
            ("GITHUB_REF", &self.git_ref),
            ("GITHUB_ACTOR", &self.actor),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}
