//! [`gather_evidence`]: read from the forge exactly what the decision rules need.
//!
//! | fact | when | from |
//! | --- | --- | --- |
//! | repository id, default branch | always | the [`Repository`] the caller read |
//! | run | always | `GET .../actions/runs/{run_id}` (run id from the token) |
//! | pull request | label, trailer on a PR event, dispatch with `pull-request` | `GET .../pulls/{n}` |
//! | pull request of a push | trailer on `push` | `GET .../commits/{sha}/pulls`: the merged PR whose base is the pushed branch, read again with `GET .../pulls/{n}` |
//! | head commit message | trailer | `GET .../commits/{sha}`: the PR head (PR events), the token's sha (push) |
//! | reviews | a PR | every page |
//! | commit authors | a PR and `strict: true` | every page |
//! | label event | label | every page of the issue events |
//! | deployment approvals | dispatch without PR | `GET .../actions/runs/{id}/approvals` |
//! | permissions | requester, run actor and triggering actor, label actor, every reviewer whose latest opinion is APPROVED or CHANGES_REQUESTED, every deployment reviewer | `GET .../collaborators/{u}/permission` |
//! | team memberships | each team of the scope's `approvals.from` (for approvers) and `requesters` (for requesters), checked visible first | `GET /orgs/{org}/teams/{slug}` then `.../memberships/{u}` |
//!
//! Independent requests run concurrently, at most [`CONCURRENCY`] at a time. Any failure
//! fails the whole gathering (fail closed); a PR that answers 404 is the one absence that is
//! not an error: `pull_request` stays `None`, a note says why, and the decision denies
//! (`pr-found`, with the permissions hint).

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::decide::Request;
use crate::decide::approvals::latest_opinions;
use crate::event::{EventOutcome, Shape};
use crate::facts::{Evidence, Membership, PullRequest, Repository, UserRef};
use crate::forge::{Forge, ForgeError, ForgeResult};
use crate::oidc::VerifiedIdentity;
use crate::policy::{Policy, Principal, Scope};

/// Most forge requests in flight at once during the per-user phase.
pub const CONCURRENCY: usize = 4;

/// Reads every fact the rules need for this request. See the module docs for what and when.
pub async fn gather_evidence<F: Forge>(
    forge: &F,
    repository: &Repository,
    request: &Request,
    identity: &VerifiedIdentity,
    policy: &Policy,
) -> ForgeResult<Evidence> {
    let repo = &repository.repo;
    let mut evidence = Evidence {
        default_branch: Some(repository.default_branch.clone()),
        repository_id: Some(repository.id),
        ..Evidence::default()
    };
    let scope = request.scope.as_ref().and_then(|s| policy.scopes.get(s));
    let is_push = request.shape == Shape::Trailer && identity.event_name == "push";
    let deployment = request.shape == Shape::Dispatch && request.pr_number.is_none();

    // Phase 1: the run, the PR (or the push's PR), the deployment approvals.
    let run = forge.run(repo, identity.run_id);
    let pr = async {
        if is_push {
            push_pull_request(forge, repository, identity).await
        } else if let Some(n) = request.pr_number {
            forge.pull_request(repo, n).await.map(|pr| (pr, Some(n)))
        } else {
            Ok((None, None))
        }
    };
    let approvals = async {
        if deployment {
            forge.run_approvals(repo, identity.run_id).await
        } else {
            Ok(Vec::new())
        }
    };
    let (run, (pr, asked), approvals) = tokio::try_join!(run, pr, approvals)?;
    evidence.run = Some(run);
    evidence.deployment_reviews = approvals;
    if pr.is_none()
        && let Some(n) = asked
    {
        evidence.notes.push(format!(
            "pull request #{n} answered 404: it does not exist, or the token cannot read it (the job needs `permissions: pull-requests: read`)"
        ));
    }

    // Phase 2: what hangs off the PR, and the head commit's message.
    let number = pr.as_ref().map(|p| p.number);
    let head_sha: Option<String> = match request.shape {
        Shape::Trailer if is_push => Some(identity.sha.clone()),
        Shape::Trailer => pr
            .as_ref()
            .map(|p| p.head_sha.clone())
            .or_else(|| request.head_sha.clone()),
        // A dispatch's PR must ask for the scope itself: its head commit may carry the ask.
        Shape::Dispatch => pr.as_ref().map(|p| p.head_sha.clone()),
        Shape::Label => None,
    };
    let strict = scope.is_some_and(|s| s.approvals.strict);
    let message = async {
        match &head_sha {
            Some(sha) => forge.commit_message(repo, sha).await.map(Some),
            None => Ok(None),
        }
    };
    let reviews = async {
        match number {
            Some(n) => forge.reviews(repo, n).await,
            None => Ok(Vec::new()),
        }
    };
    let authors = async {
        match number {
            Some(n) if strict => forge.pr_commit_authors(repo, n).await,
            _ => Ok(Vec::new()),
        }
    };
    let label_event = async {
        match (request.shape, number, request.label.as_deref()) {
            (Shape::Label, Some(n), Some(label)) => forge.latest_label_event(repo, n, label).await,
            _ => Ok(None),
        }
    };
    let (message, reviews, authors, label_event) =
        tokio::try_join!(message, reviews, authors, label_event)?;
    evidence.head_commit_message = message;
    evidence.reviews = reviews;
    evidence.pr_commit_authors = authors;
    evidence.label_event = label_event;
    evidence.pull_request = pr;

    // Phase 3: permissions and team memberships of everyone the rules look at.
    let mut requesters: Vec<UserRef> = vec![identity.requester()];
    if let Some(run) = &evidence.run {
        requesters.extend(run.actor.iter().cloned());
        requesters.extend(run.triggering_actor.iter().cloned());
    }
    let mut approvers: Vec<UserRef> = latest_opinions(&evidence.reviews)
        .into_iter()
        .filter_map(|r| r.user.clone())
        .collect();
    approvers.extend(
        evidence
            .deployment_reviews
            .iter()
            .filter_map(|d| d.user.clone()),
    );
    let mut need_permission: Vec<UserRef> = Vec::new();
    for u in requesters
        .iter()
        .chain(approvers.iter())
        .chain(evidence.label_event.iter().filter_map(|e| e.actor.as_ref()))
    {
        push_unique(&mut need_permission, u);
    }

    let mut pairs: Vec<(String, String, UserRef)> = Vec::new(); // (org, team, user)
    let mut teams: Vec<(String, String)> = Vec::new();
    if let Some(scope) = scope {
        for (org, team, users) in team_questions(scope, &approvers, &requesters) {
            if !teams.iter().any(|(o, t)| o == org && t == team) {
                teams.push((org.to_string(), team.to_string()));
            }
            for u in users {
                if !pairs
                    .iter()
                    .any(|(o, t, x)| o == org && t == team && x.key() == u.key())
                {
                    pairs.push((org.to_string(), team.to_string(), u.clone()));
                }
            }
        }
    }

    // Permissions, and (after each team is checked visible) memberships, concurrently.
    let permissions = stream::iter(need_permission.iter().map(|u| async move {
        Ok::<_, ForgeError>((u.key(), forge.permission(repo, &u.login).await?))
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<(String, crate::facts::PermissionAnswer)>>();
    // The PR head, read again after the reviews (beside the permissions: no extra round
    // trip). A push between the two reads denies (`head-current`).
    let head_again = async {
        match evidence.pull_request.as_ref() {
            Some(pr) if !is_push => forge
                .pull_request(repo, pr.number)
                .await
                .map(|again| Some(again.map(|p| p.head_sha).unwrap_or_default())),
            _ => Ok(None),
        }
    };
    let memberships = async {
        // SECURITY: every team is checked visible first (once); an invisible team is a
        // configuration error, never "not a member".
        stream::iter(
            teams
                .iter()
                .map(|(org, team)| forge.team_visible(org, team)),
        )
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
        stream::iter(pairs.iter().map(|(org, team, u)| async move {
            let m = forge.team_membership(org, team, &u.login).await?;
            Ok::<_, ForgeError>((format!("{org}/{team}").to_ascii_lowercase(), u.key(), m))
        }))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<(String, String, Membership)>>()
        .await
    };
    let (permissions, memberships, head_now) =
        tokio::try_join!(permissions, memberships, head_again)?;
    evidence.pr_head_now = head_now;
    for (login, answer) in permissions {
        // SECURITY: a permission answer that names no account cannot be tied to the user who
        // acted: it grants nothing.
        let permission = match answer.user_id {
            Some(id) => {
                evidence.permission_user_ids.insert(login.clone(), id);
                answer.permission
            }
            None => crate::facts::Permission::None,
        };
        evidence.permissions.insert(login, permission);
    }
    let mut by_team: BTreeMap<String, BTreeMap<String, Membership>> = BTreeMap::new();
    for (team, user, m) in memberships {
        by_team.entry(team).or_default().insert(user, m);
    }
    evidence.teams = by_team;
    Ok(evidence)
}

/// The teams a scope's rules name, each with the users checked against it: the teams of
/// `approvals.from` for the approvers, the teams of `requesters` for the requesters.
pub(crate) fn team_questions<'a, U>(
    scope: &'a Scope,
    approvers: &'a [U],
    requesters: &'a [U],
) -> Vec<(&'a str, &'a str, &'a [U])> {
    let mut out = Vec::new();
    for (principals, users) in [
        (&scope.approvals.from, approvers),
        (&scope.requesters, requesters),
    ] {
        for p in principals {
            if let Principal::Team { org, team } = p {
                out.push((org.as_str(), team.as_str(), users));
            }
        }
    }
    out
}

fn push_unique(list: &mut Vec<UserRef>, u: &UserRef) {
    if !list
        .iter()
        .any(|o| o.id == u.id && o.login.eq_ignore_ascii_case(&u.login))
    {
        list.push(u.clone());
    }
}

/// The PR that carried a pushed commit: among `commits/{sha}/pulls`, the merged PR whose base
/// is the pushed branch, read again in full. Several candidates deny (none is chosen).
async fn push_pull_request<F: Forge>(
    forge: &F,
    repository: &Repository,
    identity: &VerifiedIdentity,
) -> ForgeResult<(Option<PullRequest>, Option<u64>)> {
    let repo = &repository.repo;
    let Some(branch) = identity.git_ref.strip_prefix("refs/heads/") else {
        return Ok((None, None));
    };
    let pulls = forge.commit_pulls(repo, &identity.sha).await?;
    let candidates: Vec<&PullRequest> = pulls
        .iter()
        .filter(|p| p.merged && p.base_ref == branch)
        .collect();
    match candidates.as_slice() {
        [one] => forge
            .pull_request(repo, one.number)
            .await
            .map(|pr| (pr, Some(one.number))),
        // SECURITY: zero or several merged PRs for the commit: no PR, the decision denies.
        _ => Ok((None, None)),
    }
}

/// For a trailer request parsed without the head commit's message
/// ([`crate::event::EventRequest::head_commit_pending`]): reads the message of `head_sha`
/// from the API and parses the event again with it.
pub async fn reparse_with_head_commit<F: Forge>(
    forge: &F,
    repository: &Repository,
    event_name: &str,
    payload: &[u8],
    keys: &crate::event::RequestKeys,
    outcome: EventOutcome,
) -> Result<EventOutcome, crate::error::Error> {
    let head_sha = match &outcome {
        EventOutcome::Request(r) if r.head_commit_pending => r.head_sha.clone(),
        _ => return Ok(outcome),
    };
    let Some(sha) = head_sha else {
        return Err(crate::error::Error::Event(crate::event::EventError::Field(
            "pull_request.head.sha".into(),
        )));
    };
    let message = forge.commit_message(&repository.repo, &sha).await?;
    let reparsed = crate::event::parse_event(event_name, payload, keys, Some(&message))?;
    Ok(reparsed)
}
