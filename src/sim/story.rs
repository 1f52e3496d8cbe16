//! A whole label-request story on loopback: the simulated GitHub, the local OIDC issuer, a
//! policy, a PR, a runner directory and its environment. `prod-access demo` tells it, and
//! the end-to-end tests run the real `grant`/`revoke` against it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::forge::{
    ForgeSim, SimError, labeled_event_json, pull_json, review_json, run_json,
    run_pull_request_json, user_json,
};
use super::oidc::OidcIssuer;
use crate::credential::jwt_keys::{KeyAlg, SigningKey};
use crate::secret::Secret;

pub const REPO: &str = "acme/payments";
pub const REPO_ID: u64 = 2002;
pub const RUN_ID: u64 = 9_000_000_001;
/// The sha the token names (for `pull_request_target`, the base branch's head).
pub const BASE_SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
/// The PR's head.
pub const HEAD_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
pub const PR: u64 = 42;
pub const FORGE_TOKEN: &str = "ghs_demo0000000000000000000000000000000";
pub const LABEL: &str = "prod-access";
pub const REASON: &str = "INC-4711 reconcile double charges";

/// The policy of the story, with the issuer's URL filled in: approvals from the team
/// `@acme/sre` (which needs a team-capable token, see [`Approvers::Team`]).
pub fn policy(issuer: &str) -> String {
    policy_with(issuer, Approvers::Team)
}

/// Who the story's policy names as approvers, and so which token the simulated job has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approvers {
    /// `from: ["@acme/sre"]`, and the forge token can read the organisation's teams (a
    /// GitHub App installation token with `members: read`).
    Team,
    /// `from: [bob]`, and the forge token is the job's `GITHUB_TOKEN`, which cannot read
    /// teams (GitHub answers 404): the README's Quickstart.
    Users,
}

/// The policy of the story for `approvers`.
pub fn policy_with(issuer: &str, approvers: Approvers) -> String {
    let from = match approvers {
        Approvers::Team => r#"["@acme/sre"]"#,
        Approvers::Users => "[bob]",
    };
    format!(
        r#"version: 1
identity:
  issuer: {issuer}
  claims:
    repository: acme/payments
    job_workflow_ref: acme/payments/.github/workflows/prod-access.yml@refs/heads/main
request:
  labels: {{ prod-access: api-read, host-access: host-shell }}
  reason_pattern: 'INC-[0-9]+'
scopes:
  api-read:
    credential: {{ kind: jwt, audience: payments-api, claims: {{ role: reader }} }}
    ttl: 15m
    max_ttl: 1h
    approvals: {{ required: 1, from: {from} }}
    environments: [production]
  host-shell:
    credential: {{ kind: ssh, principals: [deploy], extensions: [permit-pty] }}
    ttl: 15m
    approvals: {{ required: 1, from: {from} }}
    environments: [production]
providers:
  jwt: {{ issuer: https://prod-access.demo.invalid, key_env: PROD_ACCESS_JWT_KEY }}
  ssh: {{ ca_key_env: PROD_ACCESS_SSH_CA_KEY }}
"#
    )
}

/// The running story.
pub struct Story {
    /// The label on the PR (the request): `prod-access` (jwt) or `host-access` (ssh).
    pub label: Mutex<String>,
    pub issuer: OidcIssuer,
    pub forge: ForgeSim,
    pub dir: PathBuf,
    pub jwt_key: Secret,
    pub signing_key: SigningKey,
}

impl Story {
    /// Starts both simulators and lays out the repository, the PR (labeled, not yet
    /// approved), the team, and a private working directory. The policy names the team
    /// `@acme/sre`, and the job's forge token can read teams ([`Approvers::Team`]).
    pub async fn start() -> Result<Self, SimError> {
        Self::start_with(Approvers::Team).await
    }

    /// [`Self::start`] with the approvers (and so the token) of `approvers`.
    pub async fn start_with(approvers: Approvers) -> Result<Self, SimError> {
        let issuer = OidcIssuer::start()
            .await
            .map_err(|e| SimError::Io(std::io::Error::other(e.to_string())))?;
        let mut claims = Map::new();
        claims.insert("event_name".into(), json!("pull_request_target"));
        claims.insert("actor".into(), json!("alice"));
        claims.insert("actor_id".into(), json!("1001"));
        claims.insert("sha".into(), json!(BASE_SHA));
        claims.insert("run_id".into(), json!(RUN_ID.to_string()));
        claims.insert("repository_id".into(), json!(REPO_ID.to_string()));
        issuer.set_claims(claims);
        let forge = ForgeSim::start(FORGE_TOKEN).await?;
        let policy = policy_with(issuer.issuer(), approvers);
        forge.with(|st| {
            let repo = st.add_repo(REPO, REPO_ID, "main");
            repo.files
                .entry("main".into())
                .or_default()
                .insert(".github/prod-access.yml".into(), policy);
            let alice = user_json("alice", 1001);
            let body = format!("Retries charged twice.\n\nProd-Access: {REASON}");
            let pull = pull_json(
                repo,
                PR,
                HEAD_SHA,
                "main",
                alice.clone(),
                &[LABEL],
                "open",
                false,
                Some(REPO_ID),
                Some(&body),
            );
            repo.pulls.insert(PR, pull);
            repo.reviews.insert(PR, Vec::new());
            repo.permissions.insert("alice".into(), "write".into());
            repo.permissions.insert("bob".into(), "write".into());
            repo.issue_events.insert(
                PR,
                vec![labeled_event_json(
                    1,
                    alice.clone(),
                    LABEL,
                    "2026-11-23T01:55:00Z",
                )],
            );
            let mut run = run_json(
                RUN_ID,
                "pull_request_target",
                BASE_SHA,
                1,
                alice.clone(),
                alice,
            );
            // The run is for PR 42 at its head (what binds the event file's PR to the run).
            run["pull_requests"] = json!([run_pull_request_json(repo, PR, HEAD_SHA, "main")]);
            repo.runs.insert(RUN_ID, run);
            st.team("acme/sre")
                .members
                .insert("bob".into(), "active".into());
            st.team_capable_token = approvers == Approvers::Team;
        });
        let dir = std::env::temp_dir().join(format!(
            "prod-access-demo-{}",
            &crate::emit::random_token()[..12]
        ));
        std::fs::create_dir(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let (signing_key, jwt_key) = SigningKey::generate(KeyAlg::Ed25519)
            .map_err(|e| SimError::Io(std::io::Error::other(e.to_string())))?;
        Ok(Self {
            label: Mutex::new(LABEL.to_string()),
            issuer,
            forge,
            dir,
            jwt_key,
            signing_key,
        })
    }

    /// bob (write permission, a member of @acme/sre) approves the PR's head.
    pub fn approve(&self) {
        self.forge.with(|st| {
            let reviews = st.repo(REPO).reviews.entry(PR).or_default();
            let id = 80 + reviews.len() as u64;
            reviews.push(review_json(
                id,
                user_json("bob", 1002),
                "APPROVED",
                HEAD_SHA,
                "2026-11-23T01:58:00Z",
            ));
        });
    }

    /// Puts `label` on the PR instead of the current one (added by alice, as the API shows).
    pub fn relabel(&self, label: &str) {
        if let Ok(mut l) = self.label.lock() {
            *l = label.to_string();
        }
        let alice = user_json("alice", 1001);
        self.forge.with(|st| {
            let repo = st.repo(REPO);
            if let Some(pr) = repo.pulls.get_mut(&PR) {
                pr["labels"] =
                    json!([{ "id": 2, "name": label, "color": "d73a4a", "default": false }]);
            }
            repo.issue_events.insert(
                PR,
                vec![labeled_event_json(2, alice, label, "2026-11-23T01:56:00Z")],
            );
        });
    }

    fn current_label(&self) -> String {
        self.label
            .lock()
            .map(|l| l.clone())
            .unwrap_or_else(|_| LABEL.to_string())
    }

    /// The `labeled` event payload GitHub would write to `GITHUB_EVENT_PATH`.
    pub fn event(&self) -> Value {
        let label = self.current_label();
        json!({
            "action": "labeled",
            "number": PR,
            "label": { "id": 1, "name": label, "color": "d73a4a" },
            "pull_request": {
                "number": PR,
                "state": "open",
                "title": "Fix double charge on retry",
                "body": format!("Retries charged twice.\n\nProd-Access: {REASON}"),
                "user": { "login": "alice", "id": 1001, "type": "User" },
                "labels": [{ "name": label }],
                "head": { "sha": HEAD_SHA, "ref": "fix-double-charge",
                          "repo": { "id": REPO_ID, "full_name": REPO, "fork": false } },
                "base": { "sha": BASE_SHA, "ref": "main",
                          "repo": { "id": REPO_ID, "full_name": REPO, "fork": false } }
            },
            "repository": { "id": REPO_ID, "full_name": REPO, "default_branch": "main" },
            "sender": { "login": "alice", "id": 1001, "type": "User" }
        })
    }

    /// A fresh runner directory for one step (`name`): the event file and empty runner files.
    pub fn step_dir(&self, name: &str) -> std::io::Result<PathBuf> {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir)?;
        let event = serde_json::to_vec_pretty(&self.event()).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("event.json"), event)?;
        for f in ["env", "output", "state", "summary.md"] {
            std::fs::write(dir.join(f), b"")?;
        }
        Ok(dir)
    }

    /// The environment the runner gives the step in `dir`.
    pub fn env(&self, dir: &Path) -> BTreeMap<String, String> {
        let p = |f: &str| dir.join(f).display().to_string();
        let mut env: BTreeMap<String, String> = [
            ("GITHUB_EVENT_NAME", "pull_request_target".to_string()),
            ("GITHUB_EVENT_PATH", p("event.json")),
            ("GITHUB_REPOSITORY", REPO.to_string()),
            ("GITHUB_API_URL", self.forge.api_url().to_string()),
            (
                "GITHUB_GRAPHQL_URL",
                format!("{}/graphql", self.forge.api_url()),
            ),
            ("GITHUB_SERVER_URL", "https://github.com".to_string()),
            ("GITHUB_RUN_ID", RUN_ID.to_string()),
            ("GITHUB_RUN_ATTEMPT", "1".to_string()),
            ("GITHUB_SHA", BASE_SHA.to_string()),
            ("GITHUB_REF", "refs/heads/main".to_string()),
            ("GITHUB_ACTOR", "alice".to_string()),
            ("GITHUB_ENV", p("env")),
            ("GITHUB_OUTPUT", p("output")),
            ("GITHUB_STATE", p("state")),
            ("GITHUB_STEP_SUMMARY", p("summary.md")),
            ("RUNNER_TEMP", dir.display().to_string()),
            ("GITHUB_TOKEN", FORGE_TOKEN.to_string()),
            ("PROD_ACCESS_JWT_KEY", self.jwt_key.expose().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(self.issuer.runner_env());
        env
    }

    /// The audit comments on the PR, oldest first.
    pub fn comments(&self) -> Vec<String> {
        self.forge.with(|st| {
            st.repo(REPO)
                .comments
                .get(&PR)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("body").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        })
    }
}

impl Drop for Story {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
