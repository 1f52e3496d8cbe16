//! The facts a decision reads: the domain, below everything that fetches them.
//!
//! Forge-neutral models (users, PRs, reviews, runs, permissions: [`Evidence`]) and the
//! verified job identity ([`identity::VerifiedIdentity`]). No I/O here; the forge clients
//! and the OIDC layer fill these, the decision core reads them.
//!
//! Every fact here is read from the forge API (never from the event file, which an
//! earlier step of the job can rewrite). The forge client fills these; the decision core
//! in [`crate::decide`] reads them and nothing else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod identity;

pub use identity::{ClaimsError, VerifiedIdentity};

/// A user as the forge names it. `id` is the stable numeric id: logins can be renamed and
/// re-registered, so identity comparisons use the id wherever both sides have one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub login: String,
    #[serde(default)]
    pub id: Option<u64>,
    /// `type: Bot` on GitHub. Logins ending in `[bot]` are treated as bots too, see
    /// [`UserRef::is_bot`].
    #[serde(default)]
    pub bot: bool,
}

impl UserRef {
    pub fn new(login: impl Into<String>, id: Option<u64>) -> Self {
        Self {
            login: login.into(),
            id,
            bot: false,
        }
    }

    /// SECURITY: bots never approve and never request; a `[bot]` suffix counts as a bot even
    /// where the API forgot `type: Bot`.
    pub fn is_bot(&self) -> bool {
        self.bot || self.login.to_ascii_lowercase().ends_with("[bot]")
    }

    /// Same person? By id when both sides carry one, else by login (case-insensitive, as
    /// GitHub logins are).
    pub fn same_as(&self, other: &UserRef) -> bool {
        match (self.id, other.id) {
            (Some(a), Some(b)) => a == b,
            _ => self.login.eq_ignore_ascii_case(&other.login),
        }
    }

    /// Lower-cased login: the key of per-user maps in [`Evidence`].
    pub fn key(&self) -> String {
        self.login.to_ascii_lowercase()
    }
}

/// The state of one pull-request review, as GitHub reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    /// `None` for a review by a deleted user (GitHub answers `user: null`).
    pub user: Option<UserRef>,
    pub state: ReviewState,
    /// The commit the review was made on; `None` is never fresh.
    pub commit_id: Option<String>,
    /// `None` for a pending review (not submitted).
    pub submitted_at: Option<DateTime<Utc>>,
}

/// Repository permission of a user, from
/// `GET /repos/{o}/{r}/collaborators/{u}/permission` (its `permission` field, which maps
/// custom and `maintain`/`triage` roles onto admin/write/read/none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Read,
    Write,
    Admin,
}

impl Permission {
    /// `write`, `maintain` and `admin` can write; `triage`, `read` and anything unknown
    /// cannot. SECURITY: an unknown value is `None`.
    pub fn from_api(permission: &str) -> Self {
        match permission {
            "admin" => Permission::Admin,
            "write" | "maintain" => Permission::Write,
            "read" | "triage" => Permission::Read,
            _ => Permission::None,
        }
    }

    pub fn can_write(self) -> bool {
        self >= Permission::Write
    }
}

/// Membership of a user in an `@org/team`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Membership {
    Active,
    /// Invited, not accepted: does not count.
    Pending,
    NotMember,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub head_sha: String,
    /// The branch the PR targets.
    #[serde(default)]
    pub base_ref: String,
    pub author: UserRef,
    #[serde(default)]
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    #[serde(default)]
    pub merged: bool,
    /// Head repository differs from the base repository (or was deleted).
    #[serde(default)]
    pub from_fork: bool,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub title: String,
}

/// The latest `labeled` event for the request label, from the issue events API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEvent {
    pub label: String,
    pub actor: Option<UserRef>,
    pub created_at: Option<DateTime<Utc>>,
}

/// One approval or rejection of a deployment to an environment, from
/// `GET /repos/{o}/{r}/actions/runs/{run_id}/approvals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentReview {
    pub user: Option<UserRef>,
    /// `approved` or `rejected`.
    pub state: String,
    pub environments: Vec<String>,
    #[serde(default)]
    pub comment: String,
}

/// The workflow run, from `GET /repos/{o}/{r}/actions/runs/{run_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: u64,
    pub event: String,
    pub head_sha: String,
    pub run_attempt: u32,
    pub actor: Option<UserRef>,
    pub triggering_actor: Option<UserRef>,
    /// The PRs GitHub says this run is for (`pull_requests`): what binds the event file's PR
    /// to the run. Empty for a PR from a fork.
    #[serde(default)]
    pub pull_requests: Vec<RunPullRequest>,
}

/// One entry of a run's `pull_requests`: the PR and the head GitHub recorded for the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPullRequest {
    pub number: u64,
    pub head_sha: String,
}

/// `GET /repos/{o}/{r}/collaborators/{u}/permission`: the permission and the id of the
/// account that holds the login now (`user.id`; `None` when GitHub named no user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionAnswer {
    pub permission: Permission,
    pub user_id: Option<u64>,
}

/// The account the forge token acts as (GraphQL `viewer`): the author of the tool's own
/// audit comments, and so the only author whose marker comments count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub login: String,
    pub id: u64,
}

impl Viewer {
    /// SECURITY: a comment is the tool's own only when its author is this account: same
    /// numeric id and same login (a bot flag, a login alone or the comment's text prove
    /// nothing).
    pub fn wrote(&self, author: Option<&UserRef>) -> bool {
        author.is_some_and(|a| a.id == Some(self.id) && a.login.eq_ignore_ascii_case(&self.login))
    }
}

/// Everything read from the forge for one decision. Absent facts deny: a reviewer whose
/// permission is missing here has no permission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The default branch, as `GET /repos/{o}/{r}` names it.
    #[serde(default)]
    pub default_branch: Option<String>,
    /// The repository id, as `GET /repos/{o}/{r}` returns it for the token's repository.
    #[serde(default)]
    pub repository_id: Option<u64>,
    /// The run, read again from the API with the run id from the token.
    #[serde(default)]
    pub run: Option<RunInfo>,
    /// The message of the commit the run builds, from `GET /repos/{o}/{r}/commits/{sha}`.
    #[serde(default)]
    pub head_commit_message: Option<String>,
    /// The pull request whose approvals count, read from the API now.
    #[serde(default)]
    pub pull_request: Option<PullRequest>,
    /// Every review of that PR, every page.
    #[serde(default)]
    pub reviews: Vec<Review>,
    /// Authors (and committers) of every commit in the PR, for `strict: true`.
    #[serde(default)]
    pub pr_commit_authors: Vec<UserRef>,
    /// The latest `labeled` event for the request label.
    #[serde(default)]
    pub label_event: Option<LabelEvent>,
    /// Deployment approvals of the run (dispatch without a PR).
    #[serde(default)]
    pub deployment_reviews: Vec<DeploymentReview>,
    /// Repository permission per user, keyed by lower-cased login.
    #[serde(default)]
    pub permissions: BTreeMap<String, Permission>,
    /// The account id each permission answer named for the login (lower-cased login ->
    /// `user.id`). A user whose own id differs (the login changed hands between the two
    /// answers) has no permission.
    #[serde(default)]
    pub permission_user_ids: BTreeMap<String, u64>,
    /// The PR's head as read again in the last wave, after the reviews: a head that moved
    /// in between denies (`head-current`).
    #[serde(default)]
    pub pr_head_now: Option<String>,
    /// Team membership, keyed by `org/team` (lower-case, no `@`) then lower-cased login.
    #[serde(default)]
    pub teams: BTreeMap<String, BTreeMap<String, Membership>>,
    /// A grant for this run attempt and scope exists already (replay).
    #[serde(default)]
    pub already_granted: bool,
    /// Facts about absences the forge reported (e.g. a PR that answered 404 and why that may
    /// be), for the report. Never read by the rules: an absence denies on its own.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Evidence {
    pub fn permission_of(&self, user: &UserRef) -> Permission {
        if self.login_changed_hands(user).is_some() {
            return Permission::None;
        }
        self.permissions
            .get(&user.key())
            .copied()
            .unwrap_or(Permission::None)
    }

    /// `Some(id now)` when the permission answer for this login named another account than
    /// `user` carries. SECURITY: permissions and memberships are keyed by login; the id
    /// binds the login to the account that reviewed, labeled or asked.
    pub fn login_changed_hands(&self, user: &UserRef) -> Option<u64> {
        match (user.id, self.permission_user_ids.get(&user.key())) {
            (Some(id), Some(now)) if *now != id => Some(*now),
            _ => None,
        }
    }

    /// `Some(Membership)` when the forge answered for this team and user; `None` when the
    /// team was never looked up (the decision then treats the user as not a member).
    pub fn membership(&self, team: &str, user: &UserRef) -> Option<Membership> {
        self.teams
            .get(&team.trim_start_matches('@').to_ascii_lowercase())
            .and_then(|m| m.get(&user.key()))
            .copied()
    }
}

/// `owner/name` of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    /// Parses `owner/name` (exactly one `/`, both parts non-empty).
    pub fn parse(full: &str) -> Option<Self> {
        let (owner, name) = full.split_once('/')?;
        if owner.is_empty() || name.is_empty() || name.contains('/') {
            return None;
        }
        Some(Self {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// `GET /repos/{owner}/{repo}`: what the tool uses of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub repo: RepoRef,
    pub id: u64,
    pub default_branch: String,
}

/// An issue (or PR) comment, for the audit comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub author: Option<UserRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_viewer_wrote_only_comments_by_its_own_account() {
        let me = Viewer {
            login: "github-actions[bot]".into(),
            id: 41898282,
        };
        let mut bot = UserRef::new("GitHub-Actions[bot]", Some(41898282));
        bot.bot = true;
        assert!(me.wrote(Some(&bot)));
        // another account with the same login, a look-alike bot, no author
        assert!(!me.wrote(Some(&UserRef::new("github-actions[bot]", Some(1)))));
        assert!(!me.wrote(Some(&UserRef::new("evil[bot]", Some(41898282)))));
        assert!(!me.wrote(Some(&UserRef::new("github-actions[bot]", None))));
        assert!(!me.wrote(None));
    }
}
