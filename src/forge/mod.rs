//! The forge: the only module that talks to the forge API (GitHub now, others later).
//!
//! - [`crate::facts`]: the forge-neutral facts the decision core reads ([`Evidence`]),
//!   re-exported here for the clients that fill them.
//! - [`Forge`]: the questions the tool asks a forge, answered in those neutral models.
//! - [`github`]: the GitHub REST implementation (reqwest from [`crate::http`]: pinned roots,
//!   no redirects; size-capped bodies; bounded retries; one deadline for everything).
//!
//! SECURITY: every failure here fails closed. A [`ForgeError`] is exit 3 (upstream), except
//! configuration errors (a team the token cannot see, the policy missing on the default
//! branch, an insecure API URL), which are exit 2. Error text names the endpoint as a
//! method and path template (`GET /repos/{owner}/{repo}/pulls/{pull_number}`), never the
//! token, never a response body.

pub mod github;
pub mod memo;

use std::future::Future;

pub use crate::facts::*;
pub use github::{ForgeConfig, GitHub};
pub use memo::{Ask, Memo};

use crate::exit::ExitClass;

/// What failed. Each kind has one id and one exit class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeErrorKind {
    /// The API URL is refused (`config.insecure_url`, exit 2); no request was made.
    InsecureUrl,
    /// A team named by the policy is invisible to the token (exit 2).
    TeamInvisible,
    /// The policy file is not on the default branch (exit 2).
    PolicyNotFound,
    /// The policy file is too large, not a file, or not base64 (exit 2).
    PolicyUnreadable,
    /// The forge answered 404 where the object must exist (exit 3).
    NotFound,
    /// An unexpected status (4xx, 5xx after retries, a redirect) (exit 3).
    Status,
    /// Rate limited: the reset is too far away or retries were used up (exit 3).
    RateLimited,
    /// The global deadline passed (exit 3).
    Deadline,
    /// Connection, TLS, reset or timeout of one request (exit 3).
    Transport,
    /// The body was too large, truncated, not JSON or not the expected shape (exit 3).
    Body,
    /// The HTTP client could not be built (exit 3).
    Client,
}

impl ForgeErrorKind {
    pub fn id(self) -> &'static str {
        match self {
            Self::InsecureUrl => crate::url_rules::INSECURE_URL_ID,
            Self::TeamInvisible => "config.team_invisible",
            Self::PolicyNotFound => "config.policy_not_found",
            Self::PolicyUnreadable => "config.policy_unreadable",
            Self::NotFound => "forge.not_found",
            Self::Status => "forge.status",
            Self::RateLimited => "forge.rate_limited",
            Self::Deadline => "forge.deadline",
            Self::Transport => "forge.transport",
            Self::Body => "forge.body",
            Self::Client => "forge.http_client",
        }
    }

    pub fn exit_class(self) -> ExitClass {
        match self {
            Self::InsecureUrl
            | Self::TeamInvisible
            | Self::PolicyNotFound
            | Self::PolicyUnreadable => ExitClass::Config,
            Self::NotFound
            | Self::Status
            | Self::RateLimited
            | Self::Deadline
            | Self::Transport
            | Self::Body
            | Self::Client => ExitClass::Upstream,
        }
    }
}

/// A forge failure: kind, the endpoint (method and path template), and a detail that holds
/// no secret and no response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeError {
    pub kind: ForgeErrorKind,
    /// `GET /repos/{owner}/{repo}/pulls/{pull_number}`; empty when no endpoint was involved.
    pub endpoint: String,
    pub detail: String,
    /// The HTTP status, when one was received.
    pub status: Option<u16>,
}

impl ForgeError {
    pub fn new(kind: ForgeErrorKind, endpoint: &str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            endpoint: endpoint.to_string(),
            detail: detail.into(),
            status: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn id(&self) -> &'static str {
        self.kind.id()
    }

    pub fn exit_class(&self) -> ExitClass {
        self.kind.exit_class()
    }

    /// A concrete next step, where there is one.
    pub fn help(&self) -> Option<&'static str> {
        match self.kind {
            ForgeErrorKind::TeamInvisible => Some(
                "team rules need a GitHub App installation token or a token with `read:org` as `github-token`; the job's GITHUB_TOKEN cannot read teams",
            ),
            ForgeErrorKind::PolicyNotFound => Some(
                "commit the policy to the default branch (`prod-access check --policy-file FILE` validates it locally)",
            ),
            ForgeErrorKind::InsecureUrl => Some(
                "GITHUB_API_URL must be https (plain http only to 127.0.0.1, ::1 or localhost)",
            ),
            ForgeErrorKind::RateLimited
            | ForgeErrorKind::Deadline
            | ForgeErrorKind::Status
            | ForgeErrorKind::Transport
            | ForgeErrorKind::Body
            | ForgeErrorKind::NotFound => {
                Some("the GitHub API failed; nothing was granted, re-run the job")
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for ForgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.endpoint.is_empty() {
            write!(f, "{}: {}", self.id(), self.detail)
        } else {
            write!(f, "{}: {}: {}", self.id(), self.endpoint, self.detail)
        }
    }
}

impl std::error::Error for ForgeError {}

/// Shorthand for the futures the trait returns.
pub type ForgeResult<T> = Result<T, ForgeError>;

/// The questions the tool asks a forge. Every answer is read from the API now.
///
/// Implementations fail closed: an answer that cannot be read completely (a page missing,
/// a truncated body) is an error, never a shorter list.
pub trait Forge: Sync {
    /// `GET /repos/{owner}/{repo}`.
    fn repository(&self, repo: &RepoRef) -> impl Future<Output = ForgeResult<Repository>> + Send;

    /// The policy file at `git_ref`, or, with `None`, on the default branch (the contents
    /// API without `ref` reads the default branch). 404 is
    /// [`ForgeErrorKind::PolicyNotFound`]; more than 256 KiB is
    /// [`ForgeErrorKind::PolicyUnreadable`].
    fn policy_file(
        &self,
        repo: &RepoRef,
        path: &str,
        git_ref: Option<&str>,
    ) -> impl Future<Output = ForgeResult<String>> + Send;

    /// The pull request; `None` when the forge answers 404 (missing, or invisible to the token).
    fn pull_request(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> impl Future<Output = ForgeResult<Option<PullRequest>>> + Send;

    /// Every review of the PR, every page.
    fn reviews(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> impl Future<Output = ForgeResult<Vec<Review>>> + Send;

    /// The authors and committers (GitHub accounts) of every commit of the PR, every page.
    fn pr_commit_authors(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> impl Future<Output = ForgeResult<Vec<UserRef>>> + Send;

    /// The user's repository permission and the id of the account that holds the login
    /// now; a user the forge does not know has none.
    fn permission(
        &self,
        repo: &RepoRef,
        login: &str,
    ) -> impl Future<Output = ForgeResult<PermissionAnswer>> + Send;

    /// The account the token acts as (GraphQL `viewer`): the author of the tool's comments.
    fn viewer(&self) -> impl Future<Output = ForgeResult<Viewer>> + Send;

    /// Whether the token can see `@org/team`: `Ok(())`, or [`ForgeErrorKind::TeamInvisible`].
    fn team_visible(&self, org: &str, team: &str) -> impl Future<Output = ForgeResult<()>> + Send;

    /// The user's membership of a team the token can see.
    fn team_membership(
        &self,
        org: &str,
        team: &str,
        login: &str,
    ) -> impl Future<Output = ForgeResult<Membership>> + Send;

    /// The latest `labeled` event for `label` on the issue/PR, every page read.
    fn latest_label_event(
        &self,
        repo: &RepoRef,
        number: u64,
        label: &str,
    ) -> impl Future<Output = ForgeResult<Option<LabelEvent>>> + Send;

    /// The full message of a commit.
    fn commit_message(
        &self,
        repo: &RepoRef,
        sha: &str,
    ) -> impl Future<Output = ForgeResult<String>> + Send;

    /// The pull requests associated with a commit (every page).
    fn commit_pulls(
        &self,
        repo: &RepoRef,
        sha: &str,
    ) -> impl Future<Output = ForgeResult<Vec<PullRequest>>> + Send;

    /// The workflow run.
    fn run(&self, repo: &RepoRef, run_id: u64)
    -> impl Future<Output = ForgeResult<RunInfo>> + Send;

    /// The run's deployment approvals.
    fn run_approvals(
        &self,
        repo: &RepoRef,
        run_id: u64,
    ) -> impl Future<Output = ForgeResult<Vec<DeploymentReview>>> + Send;

    /// Every comment of the issue/PR, every page.
    fn comments(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> impl Future<Output = ForgeResult<Vec<Comment>>> + Send;

    fn create_comment(
        &self,
        repo: &RepoRef,
        number: u64,
        body: &str,
    ) -> impl Future<Output = ForgeResult<Comment>> + Send;

    fn update_comment(
        &self,
        repo: &RepoRef,
        comment_id: u64,
        body: &str,
    ) -> impl Future<Output = ForgeResult<Comment>> + Send;
}
