//! A loopback GitHub REST API: the endpoints [`crate::forge::GitHub`] calls, in GitHub's
//! JSON shapes, over real HTTP, so the real client runs against it unchanged.
//!
//! [`ForgeSim::start`] binds `127.0.0.1:0` and serves, from a mutable [`SimState`]:
//!
//! | route | state |
//! | --- | --- |
//! | `GET /repos/{owner}/{repo}` | [`SimRepo::id`], [`SimRepo::default_branch`] |
//! | `GET /repos/{owner}/{repo}/contents/{path}?ref=` | [`SimRepo::files`] per ref (`ref` absent: the default branch) |
//! | `GET /repos/{owner}/{repo}/pulls/{pull_number}` | [`SimRepo::pulls`] |
//! | `GET .../pulls/{pull_number}/reviews`, `.../commits` | [`SimRepo::reviews`], [`SimRepo::pr_commits`] (paged) |
//! | `GET /repos/{owner}/{repo}/collaborators/{username}/permission` | [`SimRepo::permissions`] (absent: 404) |
//! | `GET /orgs/{org}/teams/{team_slug}`, `.../memberships/{username}` | [`SimState::teams`] (an invisible team, or any team without [`SimState::team_capable_token`]: 404 for both) |
//! | `GET /repos/{owner}/{repo}/issues/{issue_number}/events` | [`SimRepo::issue_events`] (paged) |
//! | `GET /repos/{owner}/{repo}/commits/{ref}` | [`SimRepo::commits`] |
//! | `GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls` | [`SimRepo::commit_pulls`] (PR numbers; paged) |
//! | `GET /repos/{owner}/{repo}/actions/runs/{run_id}`, `.../approvals` | [`SimRepo::runs`], [`SimRepo::approvals`] |
//! | `GET`, `POST /repos/{owner}/{repo}/issues/{issue_number}/comments`, `PATCH .../issues/comments/{comment_id}` | [`SimRepo::comments`] |
//!
//! Lists honour `per_page` (default 30, at most 100) and `page`, and answer real `Link`
//! headers. Every request is logged ([`LoggedRequest`]): route, path, query, whether the
//! `Authorization` header held the token, and whether the token appeared anywhere else.
//! A wrong or missing token answers 401. Anything else answers `501 METHOD PATH not
//! implemented`. [`Fault`]s break chosen routes: a status with headers (`Retry-After`,
//! rate-limit headers), a delay, a truncated body, HTML, malformed JSON; for the first N
//! calls or always.
//!
//! The JSON shapes follow `@octokit/openapi`'s examples (the fields the client reads and
//! their neighbours); `tests/forge.rs` checks each builder's keys against those examples.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The simulator's failures (binding a port).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulated GitHub: {0}")]
    Io(#[from] std::io::Error),
}

/// One repository's state. Objects are stored in GitHub's JSON shapes (see the builders).
#[derive(Debug, Clone, Default)]
pub struct SimRepo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    /// ref (branch name) -> path -> contents.
    pub files: BTreeMap<String, BTreeMap<String, String>>,
    pub pulls: BTreeMap<u64, Value>,
    pub reviews: BTreeMap<u64, Vec<Value>>,
    pub pr_commits: BTreeMap<u64, Vec<Value>>,
    /// sha -> commit object.
    pub commits: BTreeMap<String, Value>,
    /// sha -> numbers of the PRs associated with the commit.
    pub commit_pulls: BTreeMap<String, Vec<u64>>,
    /// lower-cased login -> `admin`/`maintain`/`write`/`triage`/`read`/`none`; absent: 404.
    pub permissions: BTreeMap<String, String>,
    pub issue_events: BTreeMap<u64, Vec<Value>>,
    pub runs: BTreeMap<u64, Value>,
    pub approvals: BTreeMap<u64, Vec<Value>>,
    /// issue number -> comments.
    pub comments: BTreeMap<u64, Vec<Value>>,
}

/// An `@org/team`.
#[derive(Debug, Clone)]
pub struct SimTeam {
    /// `false`: the token cannot see the team (404, as for `GITHUB_TOKEN`).
    pub visible: bool,
    /// lower-cased login -> `active` or `pending`.
    pub members: BTreeMap<String, String>,
}

impl Default for SimTeam {
    fn default() -> Self {
        Self {
            visible: true,
            members: BTreeMap::new(),
        }
    }
}

/// Everything the simulator serves.
#[derive(Debug, Clone, Default)]
pub struct SimState {
    /// `owner/name` lower-cased -> repository.
    pub repos: BTreeMap<String, SimRepo>,
    /// `org/slug` lower-cased -> team.
    pub teams: BTreeMap<String, SimTeam>,
    /// The token can read the organisation's teams (a GitHub App installation token with
    /// `members: read`, or a token with `read:org`). Off by default: the simulated token is
    /// then the job's `GITHUB_TOKEN`, for which GitHub answers 404 to every team lookup.
    pub team_capable_token: bool,
    pub next_comment_id: u64,
    /// lower-cased login -> numeric id, as GitHub knows each account now. A login missing
    /// here takes the id the other objects the simulator serves give it (reviews, PRs,
    /// events, runs), so a login that "changed hands" is a different id here.
    pub user_ids: BTreeMap<String, u64>,
    /// The account the token acts as: GraphQL `viewer`, and the author of every comment it
    /// posts. `None`: `github-actions[bot]` (id 41898282), as for `GITHUB_TOKEN`.
    pub viewer: Option<Value>,
}

/// `github-actions[bot]`, the account `GITHUB_TOKEN` acts as.
pub fn actions_bot() -> Value {
    bot_json("github-actions[bot]", 41898282)
}

impl SimState {
    /// The account the token acts as (see [`SimState::viewer`]).
    pub fn viewer(&self) -> Value {
        self.viewer.clone().unwrap_or_else(actions_bot)
    }

    /// The id GitHub gives `login` now: [`SimState::user_ids`], else the id any object the
    /// simulator holds names for that login, else a stable id made from the login.
    pub fn user_id(&self, login: &str) -> u64 {
        let key = login.to_ascii_lowercase();
        if let Some(id) = self.user_ids.get(&key) {
            return *id;
        }
        fn find(v: &Value, login: &str) -> Option<u64> {
            match v {
                Value::Object(m) => {
                    if let (Some(Value::String(l)), Some(id)) =
                        (m.get("login"), m.get("id").and_then(Value::as_u64))
                        && l.eq_ignore_ascii_case(login)
                    {
                        return Some(id);
                    }
                    m.values().find_map(|x| find(x, login))
                }
                Value::Array(a) => a.iter().find_map(|x| find(x, login)),
                _ => None,
            }
        }
        for repo in self.repos.values() {
            let found = repo
                .reviews
                .values()
                .flatten()
                .chain(repo.pulls.values())
                .chain(repo.issue_events.values().flatten())
                .chain(repo.runs.values())
                .chain(repo.approvals.values().flatten())
                .chain(repo.pr_commits.values().flatten())
                .find_map(|v| find(v, login));
            if let Some(id) = found {
                return id;
            }
        }
        // Stable, and far from the ids the scenarios use.
        key.bytes().fold(7_000_000_000u64, |h, b| {
            h.wrapping_mul(31).wrapping_add(u64::from(b))
        })
    }
}

impl SimState {
    /// Adds (or replaces) a repository and returns it for editing.
    pub fn add_repo(&mut self, full_name: &str, id: u64, default_branch: &str) -> &mut SimRepo {
        let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
        let key = full_name.to_ascii_lowercase();
        self.repos.insert(
            key.clone(),
            SimRepo {
                id,
                owner: owner.to_string(),
                name: name.to_string(),
                default_branch: default_branch.to_string(),
                ..SimRepo::default()
            },
        );
        self.repos.entry(key).or_default()
    }

    /// The repository, created empty if missing.
    pub fn repo(&mut self, full_name: &str) -> &mut SimRepo {
        self.repos
            .entry(full_name.to_ascii_lowercase())
            .or_default()
    }

    /// The team, created visible and empty if missing.
    pub fn team(&mut self, org_team: &str) -> &mut SimTeam {
        self.teams
            .entry(org_team.trim_start_matches('@').to_ascii_lowercase())
            .or_default()
    }
}

/// How a matched route is broken.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer this status, these headers and this JSON body.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: Value,
    },
    /// Wait, then answer normally.
    Delay(Duration),
    /// 200 with a `Content-Length` larger than the body, then close the connection.
    Truncated,
    /// 200 with an HTML page.
    Html,
    /// 200 with `application/json` that is not JSON.
    MalformedJson,
    /// The request takes effect (a comment is created), then this status is answered, as
    /// when a gateway times out after the backend did the work.
    AfterLanding(u16),
}

/// A fault on a route (`GET /repos/{owner}/{repo}/pulls/{pull_number}` as the client's
/// endpoint templates spell it, or `*` for every route).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub route: String,
    pub kind: FaultKind,
    /// `Some(n)`: only the next n matching calls; `None`: always.
    pub times: Option<usize>,
    /// The first `skip` matching calls are answered normally (and not counted in `times`).
    pub skip: usize,
}

impl Fault {
    pub fn new(route: &str, kind: FaultKind) -> Self {
        Self {
            route: route.to_string(),
            kind,
            times: None,
            skip: 0,
        }
    }

    /// `status` with a `{"message": ...}` body.
    pub fn status(route: &str, status: u16) -> Self {
        Self::new(
            route,
            FaultKind::Status {
                status,
                headers: Vec::new(),
                body: json!({ "message": format!("simulated {status}") }),
            },
        )
    }

    /// 429 (or `status`) with `Retry-After: secs`.
    pub fn retry_after(route: &str, status: u16, secs: u64) -> Self {
        Self::new(
            route,
            FaultKind::Status {
                status,
                headers: vec![("retry-after".into(), secs.to_string())],
                body: json!({ "message": "API rate limit exceeded" }),
            },
        )
    }

    /// The primary rate limit: 403, `x-ratelimit-remaining: 0`, reset at `reset` (epoch s).
    pub fn rate_limit_exhausted(route: &str, reset: i64) -> Self {
        Self::new(
            route,
            FaultKind::Status {
                status: 403,
                headers: vec![
                    ("x-ratelimit-limit".into(), "5000".into()),
                    ("x-ratelimit-remaining".into(), "0".into()),
                    ("x-ratelimit-used".into(), "5000".into()),
                    ("x-ratelimit-reset".into(), reset.to_string()),
                    ("x-ratelimit-resource".into(), "core".into()),
                ],
                body: json!({
                    "message": "API rate limit exceeded for installation ID 1.",
                    "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
                }),
            },
        )
    }

    /// A secondary rate limit: 403 with GitHub's message and no `Retry-After`.
    pub fn secondary_rate_limit(route: &str) -> Self {
        Self::new(
            route,
            FaultKind::Status {
                status: 403,
                headers: Vec::new(),
                body: json!({
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/resources-in-the-rest-api#secondary-rate-limits"
                }),
            },
        )
    }

    /// Only the next `n` matching calls.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    /// Answers the first `n` matching calls normally; the fault applies from call `n + 1`.
    pub fn after(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// The route template (`GET /repos/{owner}/{repo}`), or `METHOD PATH` when unknown.
    pub route: String,
    pub path: String,
    pub query: Option<String>,
    /// `Authorization: Bearer <the token>`.
    pub authorized: bool,
    /// The token appeared in the path, query, another header or the body.
    pub token_elsewhere: bool,
}

struct Shared {
    token: String,
    base: String,
    state: Mutex<SimState>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<LoggedRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running simulated GitHub API. Dropping it stops accepting connections.
pub struct ForgeSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    wire: Arc<super::Wire>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ForgeSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeSim")
            .field("base", &self.shared.base)
            .finish_non_exhaustive()
    }
}

impl Drop for ForgeSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ForgeSim {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime; requests must carry
    /// `Authorization: Bearer <token>`.
    pub async fn start(token: &str) -> Result<Self, SimError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            token: token.to_string(),
            base: format!("http://{addr}"),
            state: Mutex::new(SimState {
                next_comment_id: 1_000_000,
                ..SimState::default()
            }),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        });
        let wire = Arc::new(super::Wire::default());
        let task = super::serve(
            listener,
            Arc::clone(&shared),
            Arc::clone(&wire),
            |shared, req| async move { handle(&shared, req).await },
        );
        Ok(Self {
            addr,
            shared,
            wire,
            task,
        })
    }

    /// `GITHUB_API_URL` for this simulator (`http://127.0.0.1:PORT`).
    pub fn api_url(&self) -> &str {
        &self.shared.base
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The latency and timeline of this simulator's answers.
    pub fn wire(&self) -> &super::Wire {
        &self.wire
    }

    /// Edits the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// A copy of the state (e.g. to read the comments written).
    pub fn state(&self) -> SimState {
        lock(&self.shared.state).clone()
    }

    pub fn add_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// How many requests hit `route`.
    pub fn hits(&self, route: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.route == route)
            .count()
    }
}

// --- shapes ---------------------------------------------------------------------------------

/// A user (`simple-user`), `type: User`.
pub fn user_json(login: &str, id: u64) -> Value {
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_sim{id}"),
        "avatar_url": format!("https://github.com/images/error/{login}_happy.gif"),
        "gravatar_id": "",
        "url": format!("https://api.github.com/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "type": "User",
        "site_admin": false
    })
}

/// A bot user (`type: Bot`).
pub fn bot_json(login: &str, id: u64) -> Value {
    let mut u = user_json(login, id);
    u["type"] = json!("Bot");
    u
}

fn repo_min(r: &SimRepo) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("R_sim{}", r.id),
        "name": r.name,
        "full_name": format!("{}/{}", r.owner, r.name),
        "private": false,
        "owner": user_json(&r.owner, r.id + 1),
        "html_url": format!("https://github.com/{}/{}", r.owner, r.name),
        "default_branch": r.default_branch,
    })
}

/// A pull request (`pull-request`). `head_repo`: `Some(id)` of the head repository
/// (`None`: deleted, as GitHub answers `null`); the base repository is `r`.
#[allow(clippy::too_many_arguments)]
pub fn pull_json(
    r: &SimRepo,
    number: u64,
    head_sha: &str,
    base_ref: &str,
    author: Value,
    labels: &[&str],
    state: &str,
    merged: bool,
    head_repo: Option<u64>,
    body: Option<&str>,
) -> Value {
    let base = repo_min(r);
    let head_repo_json = match head_repo {
        Some(id) if id == r.id => base.clone(),
        Some(id) => {
            json!({ "id": id, "name": r.name, "full_name": format!("fork-{id}/{}", r.name) })
        }
        None => Value::Null,
    };
    let merged_at = merged.then_some("2011-01-26T19:01:12Z");
    json!({
        "url": format!("https://api.github.com/repos/{}/{}/pulls/{number}", r.owner, r.name),
        "id": number + 1_000,
        "node_id": format!("PR_sim{number}"),
        "number": number,
        "state": state,
        "locked": false,
        "title": format!("PR {number}"),
        "user": author,
        "body": body,
        "labels": labels.iter().enumerate().map(|(i, l)| json!({
            "id": 208045946 + i as u64, "node_id": "LA_sim", "url": "", "name": l,
            "description": "", "color": "f29513", "default": false
        })).collect::<Vec<_>>(),
        "created_at": "2011-01-26T19:01:12Z",
        "updated_at": "2011-01-26T19:01:12Z",
        "closed_at": merged_at,
        "merged_at": merged_at,
        "merge_commit_sha": merged.then_some("e5bd3914e2e596debea16f433f57875b5b90bcd6"),
        "draft": false,
        "head": {
            "label": format!("{}:feature", r.owner),
            "ref": "feature",
            "sha": head_sha,
            "user": user_json(&r.owner, r.id + 1),
            "repo": head_repo_json,
        },
        "base": {
            "label": format!("{}:{base_ref}", r.owner),
            "ref": base_ref,
            "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
            "user": user_json(&r.owner, r.id + 1),
            "repo": base,
        },
        "author_association": "MEMBER",
        "merged": merged,
        "mergeable": true,
        "merged_by": if merged { user_json("merger", 999) } else { Value::Null },
        "comments": 0,
        "commits": 1,
        "additions": 1,
        "deletions": 0,
        "changed_files": 1
    })
}

/// A review (`pull-request-review`). `state`: `APPROVED`, `CHANGES_REQUESTED`, ...
pub fn review_json(
    id: u64,
    user: Value,
    state: &str,
    commit_id: &str,
    submitted_at: &str,
) -> Value {
    json!({
        "id": id,
        "node_id": format!("PRR_sim{id}"),
        "user": user,
        "body": "",
        "state": state,
        "html_url": "https://github.com/octocat/Hello-World/pull/12#pullrequestreview-80",
        "pull_request_url": "https://api.github.com/repos/octocat/Hello-World/pulls/12",
        "_links": {},
        "submitted_at": submitted_at,
        "commit_id": commit_id,
        "author_association": "COLLABORATOR"
    })
}

/// A commit (`commit`, as `GET /repos/{o}/{r}/commits/{ref}` and the PR commits list give it).
pub fn commit_json(
    sha: &str,
    message: &str,
    author: Option<Value>,
    committer: Option<Value>,
) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/octocat/Hello-World/commits/{sha}"),
        "sha": sha,
        "node_id": format!("C_sim{}", &sha[..sha.len().min(7)]),
        "html_url": format!("https://github.com/octocat/Hello-World/commit/{sha}"),
        "comments_url": "",
        "commit": {
            "url": "",
            "author": { "name": "Monalisa Octocat", "email": "support@github.com", "date": "2011-04-14T16:00:49Z" },
            "committer": { "name": "Monalisa Octocat", "email": "support@github.com", "date": "2011-04-14T16:00:49Z" },
            "message": message,
            "tree": { "url": "", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e" },
            "comment_count": 0,
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null }
        },
        "author": author,
        "committer": committer,
        "parents": []
    })
}

/// An issue event `labeled` (`issue-event`).
pub fn labeled_event_json(id: u64, actor: Value, label: &str, created_at: &str) -> Value {
    json!({
        "id": id,
        "node_id": format!("LE_sim{id}"),
        "url": "",
        "actor": actor,
        "event": "labeled",
        "commit_id": null,
        "commit_url": null,
        "created_at": created_at,
        "label": { "name": label, "color": "f29513" },
        "performed_via_github_app": null
    })
}

/// A workflow run (`workflow-run`).
pub fn run_json(
    id: u64,
    event: &str,
    head_sha: &str,
    attempt: u32,
    actor: Value,
    triggering: Value,
) -> Value {
    json!({
        "id": id,
        "name": "prod-access",
        "node_id": format!("WFR_sim{id}"),
        "head_branch": "main",
        "head_sha": head_sha,
        "path": ".github/workflows/prod-access.yml@main",
        "run_number": 562,
        "run_attempt": attempt,
        "event": event,
        "status": "in_progress",
        "conclusion": null,
        "workflow_id": 159038,
        "url": "",
        "html_url": "",
        "pull_requests": [],
        "created_at": "2020-01-22T19:33:08Z",
        "updated_at": "2020-01-22T19:33:08Z",
        "actor": actor,
        "triggering_actor": triggering,
        "run_started_at": "2020-01-22T19:33:08Z"
    })
}

/// One entry of a run's `pull_requests` (`pull-request-minimal`): the PR the run is for,
/// with the head GitHub recorded for it. `repo` is the base repository (GitHub leaves the
/// list empty for a PR from a fork).
pub fn run_pull_request_json(r: &SimRepo, number: u64, head_sha: &str, base_ref: &str) -> Value {
    let repo = json!({ "id": r.id, "url": format!("https://api.github.com/repos/{}/{}", r.owner, r.name), "name": r.name });
    json!({
        "id": number + 1_000,
        "number": number,
        "url": format!("https://api.github.com/repos/{}/{}/pulls/{number}", r.owner, r.name),
        "head": { "ref": "feature", "sha": head_sha, "repo": repo.clone() },
        "base": { "ref": base_ref, "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b", "repo": repo }
    })
}

/// A deployment review of a run (`environment-approvals`). `state`: `approved`/`rejected`.
pub fn approval_json(user: Value, state: &str, environments: &[&str], comment: &str) -> Value {
    json!({
        "environments": environments.iter().enumerate().map(|(i, e)| json!({
            "id": 161088068 + i as u64, "node_id": "EN_sim", "name": e, "url": "", "html_url": "",
            "created_at": "2020-11-23T22:00:40Z", "updated_at": "2020-11-23T22:00:40Z"
        })).collect::<Vec<_>>(),
        "state": state,
        "user": user,
        "comment": comment
    })
}

/// An issue comment (`issue-comment`).
pub fn comment_json(id: u64, user: Value, body: &str) -> Value {
    json!({
        "id": id,
        "node_id": format!("IC_sim{id}"),
        "url": "",
        "html_url": "",
        "body": body,
        "user": user,
        "created_at": "2011-04-14T16:00:49Z",
        "updated_at": "2011-04-14T16:00:49Z",
        "issue_url": "",
        "author_association": "COLLABORATOR"
    })
}

// --- serving --------------------------------------------------------------------------------

/// A response body. `Raw` has no size hint, so a `Content-Length` header set by hand wins
/// (for the truncated-body fault).
enum SimBody {
    Full(Option<Bytes>),
    Raw(Option<Bytes>),
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            SimBody::Full(b) | SimBody::Raw(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SimBody::Full(b) | SimBody::Raw(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            SimBody::Full(None) => SizeHint::with_exact(0),
            SimBody::Raw(_) => SizeHint::default(),
        }
    }
}

fn respond(status: u16, body: &Value) -> Response<SimBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(SimBody::Full(Some(Bytes::from(bytes))));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn message(status: u16, text: &str) -> Response<SimBody> {
    respond(
        status,
        &json!({ "message": text, "documentation_url": "https://docs.github.com/rest", "status": status.to_string() }),
    )
}

fn not_found() -> Response<SimBody> {
    message(404, "Not Found")
}

fn set_header(resp: &mut Response<SimBody>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        hyper::header::HeaderName::from_bytes(name.as_bytes()),
        hyper::header::HeaderValue::from_str(value),
    ) {
        resp.headers_mut().append(n, v);
    }
}

/// Percent-decodes a path segment.
fn decode(segment: &str) -> String {
    ::url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    ::url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A page of `items` with GitHub's `Link` header.
fn paged(shared: &Shared, path: &str, query: Option<&str>, items: &[Value]) -> Response<SimBody> {
    let per_page = query_param(query, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query_param(query, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let mut resp = respond(200, &Value::Array(slice));
    let link = |p: usize, rel: &str| {
        format!(
            "<{}{path}?per_page={per_page}&page={p}>; rel=\"{rel}\"",
            shared.base
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
        links.push(link(1, "first"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if !links.is_empty() {
        set_header(&mut resp, "link", &links.join(", "));
    }
    resp
}

/// The route template of a request, as the client's endpoints name it.
fn route_of(method: &str, seg: &[String]) -> Option<&'static str> {
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    Some(match (method, s.as_slice()) {
        ("GET", ["repos", _, _]) => "GET /repos/{owner}/{repo}",
        ("GET", ["repos", _, _, "contents", _, ..]) => "GET /repos/{owner}/{repo}/contents/{path}",
        ("GET", ["repos", _, _, "pulls", _]) => "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        ("GET", ["repos", _, _, "pulls", _, "reviews"]) => {
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews"
        }
        ("GET", ["repos", _, _, "pulls", _, "commits"]) => {
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/commits"
        }
        ("GET", ["repos", _, _, "collaborators", _, "permission"]) => {
            "GET /repos/{owner}/{repo}/collaborators/{username}/permission"
        }
        ("GET", ["orgs", _, "teams", _]) => "GET /orgs/{org}/teams/{team_slug}",
        ("GET", ["orgs", _, "teams", _, "memberships", _]) => {
            "GET /orgs/{org}/teams/{team_slug}/memberships/{username}"
        }
        ("GET", ["repos", _, _, "issues", _, "events"]) => {
            "GET /repos/{owner}/{repo}/issues/{issue_number}/events"
        }
        ("GET", ["repos", _, _, "commits", _]) => "GET /repos/{owner}/{repo}/commits/{ref}",
        ("GET", ["repos", _, _, "commits", _, "pulls"]) => {
            "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls"
        }
        ("GET", ["repos", _, _, "actions", "runs", _]) => {
            "GET /repos/{owner}/{repo}/actions/runs/{run_id}"
        }
        ("GET", ["repos", _, _, "actions", "runs", _, "approvals"]) => {
            "GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals"
        }
        ("GET", ["repos", _, _, "issues", _, "comments"]) => {
            "GET /repos/{owner}/{repo}/issues/{issue_number}/comments"
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
        }
        ("PATCH", ["repos", _, _, "issues", "comments", _]) => {
            "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"
        }
        ("POST", ["graphql"]) => "POST /graphql",
        _ => return None,
    })
}

async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<SimBody> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let expected = format!("Bearer {}", shared.token);
    let authorized = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    let mut token_elsewhere = !shared.token.is_empty()
        && (req.uri().to_string().contains(&shared.token)
            || req.headers().iter().any(|(name, v)| {
                name != hyper::header::AUTHORIZATION
                    && String::from_utf8_lossy(v.as_bytes()).contains(&shared.token)
            }));
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if !shared.token.is_empty() && String::from_utf8_lossy(&body).contains(&shared.token) {
        token_elsewhere = true;
    }
    let mut segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    // `/repositories/{id}/...`, the form GitHub's own `Link` headers use, names a repository
    // by id.
    if segments.len() >= 2 && segments[0] == "repositories" {
        let by_id = lock(&shared.state)
            .repos
            .values()
            .find(|r| r.id.to_string() == segments[1])
            .map(|r| (r.owner.clone(), r.name.clone()));
        if let Some((owner, name)) = by_id {
            let mut rewritten = vec!["repos".to_string(), owner, name];
            rewritten.extend(segments.drain(2..));
            segments = rewritten;
        }
    }
    let route = route_of(&method, &segments);
    lock(&shared.log).push(LoggedRequest {
        method: method.clone(),
        route: route.map_or_else(|| format!("{method} {path}"), str::to_string),
        path: path.clone(),
        query: query.clone(),
        authorized,
        token_elsewhere,
    });
    let Some(route) = route else {
        return message(501, &format!("{method} {path} not implemented"));
    };
    if !authorized {
        return message(401, "Bad credentials");
    }

    // Faults: the first matching one with calls left.
    let fault = {
        let mut faults = lock(&shared.faults);
        let mut chosen = None;
        for f in faults.iter_mut() {
            if f.route != "*" && f.route != route {
                continue;
            }
            if f.skip > 0 {
                f.skip -= 1;
                continue;
            }
            match &mut f.times {
                Some(0) => continue,
                Some(n) => *n -= 1,
                None => {}
            }
            chosen = Some(f.kind.clone());
            break;
        }
        chosen
    };
    match fault {
        Some(FaultKind::Status {
            status,
            headers,
            body,
        }) => {
            let mut resp = respond(status, &body);
            for (k, v) in &headers {
                set_header(&mut resp, k, v);
            }
            return resp;
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultKind::Truncated) => {
            let mut resp =
                Response::new(SimBody::Raw(Some(Bytes::from_static(b"[{\"id\": 1, \"us"))));
            set_header(&mut resp, "content-type", "application/json; charset=utf-8");
            set_header(&mut resp, "content-length", "4096");
            return resp;
        }
        Some(FaultKind::Html) => {
            let mut resp = Response::new(SimBody::Full(Some(Bytes::from_static(
                b"<!DOCTYPE html><html><head><title>Unicorn!</title></head><body>No server is currently available to service your request.</body></html>",
            ))));
            set_header(&mut resp, "content-type", "text/html; charset=utf-8");
            return resp;
        }
        Some(FaultKind::MalformedJson) => {
            let mut resp = Response::new(SimBody::Full(Some(Bytes::from_static(
                b"[{\"id\": 1, \"state\": \"APPROVED\",, ]",
            ))));
            set_header(&mut resp, "content-type", "application/json; charset=utf-8");
            return resp;
        }
        Some(FaultKind::AfterLanding(status)) => {
            let _landed = serve(shared, route, &segments, query.as_deref(), &body);
            return message(
                status,
                &format!("simulated {status} after the request landed"),
            );
        }
        None => {}
    }
    serve(shared, route, &segments, query.as_deref(), &body)
}

fn serve(
    shared: &Shared,
    route: &str,
    seg: &[String],
    query: Option<&str>,
    body: &[u8],
) -> Response<SimBody> {
    let mut state = lock(&shared.state);
    if route == "POST /graphql" {
        // Only the query the client sends: `viewer { login databaseId }`.
        let query = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("query").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        if !query.contains("viewer") {
            return respond(
                200,
                &json!({ "errors": [{ "message": "simulated: only `viewer` is implemented" }] }),
            );
        }
        let viewer = state.viewer();
        return respond(
            200,
            &json!({ "data": { "viewer": { "login": viewer["login"], "databaseId": viewer["id"] } } }),
        );
    }
    if seg[0] == "orgs" {
        let key = format!("{}/{}", seg[1], seg[3]).to_ascii_lowercase();
        let Some(team) = state
            .teams
            .get(&key)
            .filter(|t| t.visible && state.team_capable_token)
        else {
            return not_found();
        };
        if seg.len() == 4 {
            return respond(
                200,
                &json!({ "id": 1, "node_id": "T_sim", "name": seg[3], "slug": seg[3],
                          "privacy": "closed", "permission": "pull",
                          "organization": { "login": seg[1] } }),
            );
        }
        return match team.members.get(&seg[5].to_ascii_lowercase()) {
            Some(s) => respond(200, &json!({ "url": "", "role": "member", "state": s })),
            None => not_found(),
        };
    }
    let repo_key = format!("{}/{}", seg[1], seg[2]).to_ascii_lowercase();
    let next_id = state.next_comment_id;
    let viewer = state.viewer();
    // The id GitHub names in a permission answer: the account that holds the login now.
    let login_id = if route == "GET /repos/{owner}/{repo}/collaborators/{username}/permission" {
        state.user_id(&seg[4])
    } else {
        0
    };
    let Some(repo) = state.repos.get_mut(&repo_key) else {
        return not_found();
    };
    let num = |i: usize| seg.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // Next-page links name the repository by id, as GitHub's do.
    let rest = seg[3..].join("/");
    let link_path = format!("/repositories/{}/{rest}", repo.id);
    let list =
        |items: Option<&Vec<Value>>| paged(shared, &link_path, query, items.map_or(&[][..], |v| v));
    match route {
        "GET /repos/{owner}/{repo}" => {
            let mut r = repo_min(repo);
            r["description"] = json!("This your first repo!");
            r["fork"] = json!(false);
            r["visibility"] = json!("public");
            respond(200, &r)
        }
        "GET /repos/{owner}/{repo}/contents/{path}" => {
            let file_path = seg[4..].join("/");
            let git_ref = query_param(query, "ref").unwrap_or_else(|| repo.default_branch.clone());
            let Some(text) = repo.files.get(&git_ref).and_then(|f| f.get(&file_path)) else {
                return not_found();
            };
            let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            let wrapped: Vec<String> = b64
                .as_bytes()
                .chunks(60)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            let name = file_path.rsplit('/').next().unwrap_or("");
            respond(
                200,
                &json!({
                    "type": "file", "encoding": "base64", "size": text.len(), "name": name,
                    "path": file_path, "content": wrapped.join("\n") + "\n",
                    "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
                    "url": "", "git_url": "", "html_url": "", "download_url": "",
                    "_links": {}
                }),
            )
        }
        "GET /repos/{owner}/{repo}/pulls/{pull_number}" => match repo.pulls.get(&num(4)) {
            Some(p) => respond(200, p),
            None => not_found(),
        },
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews" => {
            if !repo.pulls.contains_key(&num(4)) {
                return not_found();
            }
            list(repo.reviews.get(&num(4)))
        }
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/commits" => {
            if !repo.pulls.contains_key(&num(4)) {
                return not_found();
            }
            list(repo.pr_commits.get(&num(4)))
        }
        "GET /repos/{owner}/{repo}/collaborators/{username}/permission" => {
            match repo.permissions.get(&seg[4].to_ascii_lowercase()) {
                Some(p) => {
                    let role = match p.as_str() {
                        "admin" => "admin",
                        "maintain" => "maintain",
                        "write" => "write",
                        "triage" => "triage",
                        "read" => "read",
                        _ => "none",
                    };
                    respond(
                        200,
                        &json!({ "permission": p, "role_name": role, "user": user_json(&seg[4], login_id) }),
                    )
                }
                None => message(404, &format!("{} is not a user", seg[4])),
            }
        }
        "GET /repos/{owner}/{repo}/issues/{issue_number}/events" => {
            list(repo.issue_events.get(&num(4)))
        }
        "GET /repos/{owner}/{repo}/commits/{ref}" => match repo.commits.get(&seg[4]) {
            Some(c) => respond(200, c),
            None => message(422, &format!("No commit found for SHA: {}", seg[4])),
        },
        "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls" => {
            let pulls: Vec<Value> = repo
                .commit_pulls
                .get(&seg[4])
                .map(|ns| {
                    ns.iter()
                        .filter_map(|n| repo.pulls.get(n).cloned())
                        .collect()
                })
                .unwrap_or_default();
            list(Some(&pulls))
        }
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}" => match repo.runs.get(&num(5)) {
            Some(r) => respond(200, r),
            None => not_found(),
        },
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals" => {
            if !repo.runs.contains_key(&num(5)) {
                return not_found();
            }
            respond(
                200,
                &Value::Array(repo.approvals.get(&num(5)).cloned().unwrap_or_default()),
            )
        }
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments" => {
            list(repo.comments.get(&num(4)))
        }
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments" => {
            let Some(text) = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("body").and_then(Value::as_str).map(str::to_string))
            else {
                return message(422, "Invalid request: body is required");
            };
            let c = comment_json(next_id, viewer, &text);
            repo.comments.entry(num(4)).or_default().push(c.clone());
            state.next_comment_id += 1;
            respond(201, &c)
        }
        "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}" => {
            let Some(text) = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("body").and_then(Value::as_str).map(str::to_string))
            else {
                return message(422, "Invalid request: body is required");
            };
            let id = num(5);
            for c in repo.comments.values_mut().flatten() {
                if c.get("id").and_then(Value::as_u64) == Some(id) {
                    c["body"] = json!(text);
                    return respond(200, c);
                }
            }
            not_found()
        }
        _ => message(501, &format!("{route} not implemented")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_are_paged_with_link_headers() {
        let sim = ForgeSim::start("tok").await.expect("start");
        sim.with(|s| {
            let r = s.add_repo("acme/payments", 1, "main");
            r.pulls.insert(7, json!({"number": 7}));
            r.reviews.insert(
                7,
                (0..5u64)
                    .map(|i| review_json(i, user_json("a", 1), "COMMENTED", "s", "t"))
                    .collect(),
            );
        });
        let http = reqwest::Client::new();
        let url = format!(
            "{}/repos/acme/payments/pulls/7/reviews?per_page=2&page=2",
            sim.api_url()
        );
        let resp = http
            .get(&url)
            .header("authorization", "Bearer tok")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 200);
        let link = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            link.contains("/repositories/1/pulls/7/reviews?per_page=2&page=3>; rel=\"next\""),
            "{link}"
        );
        assert!(link.contains("page=1>; rel=\"prev\""), "{link}");
        let body: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
        assert_eq!(body.as_array().map(Vec::len), Some(2));
        assert_eq!(body[0]["id"], 2);
        let log = sim.requests();
        assert_eq!(log.len(), 1);
        assert!(log[0].authorized && !log[0].token_elsewhere);
        assert_eq!(
            log[0].route,
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews"
        );
    }

    #[tokio::test]
    async fn faults_apply_to_the_first_n_calls() {
        let sim = ForgeSim::start("tok").await.expect("start");
        sim.with(|s| {
            s.add_repo("acme/payments", 1, "main");
        });
        sim.add_fault(Fault::status("GET /repos/{owner}/{repo}", 503).times(1));
        let http = reqwest::Client::new();
        let url = format!("{}/repos/acme/payments", sim.api_url());
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let r = http
                .get(&url)
                .header("authorization", "Bearer tok")
                .send()
                .await
                .expect("send");
            statuses.push(r.status().as_u16());
        }
        assert_eq!(statuses, [503, 200]);
    }
}
