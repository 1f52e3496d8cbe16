//! Counting approvals (contract §4).
//!
//! Two sources: the reviews of a pull request ([`tally_reviews`]) and, for a dispatch without a
//! PR, the run's deployment approvals ([`tally_deployment`]). Both produce an
//! [`ApprovalTally`]: the approvals that count, every approval that was discarded with the
//! requirement that discarded it and a sentence saying why, and every opinion that blocks the
//! grant whatever the count.
//!
//! Pull-request reviews:
//!
//! 1. Per reviewer, only the latest opinion counts ([`latest_opinions`]): the latest review by
//!    `submitted_at` (ties broken by the higher review id) among APPROVED, CHANGES_REQUESTED and
//!    DISMISSED. DISMISSED removes the opinion; COMMENTED and PENDING never count and never
//!    override; a review without user (deleted account) or without `submitted_at` (pending) is
//!    ignored. Reviewers are matched with [`UserRef::same_as`] (numeric id where both sides
//!    have one), so a renamed login keeps its history.
//! 2. Each latest APPROVED is screened: fresh (its `commit_id` is the PR head; `null` is never
//!    fresh) when `fresh: true`; not the PR author, a requester (token actor, the run's actor
//!    and triggering actor) or, with `strict: true`, a commit author; not a bot; write
//!    permission; in `from` when it is non-empty (a login, or `active` team membership).
//! 3. A latest CHANGES_REQUESTED from someone with write permission, on the head (anywhere
//!    when `fresh: false`), blocks, whoever gave it.
//!
//! See: <https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request>

use chrono::{DateTime, Utc};

use super::{Approver, RequirementId};
use crate::facts::{
    DeploymentReview, Evidence, Membership, PullRequest, Review, ReviewState, UserRef,
};
use crate::policy::{ApprovalRules, Principal};

/// Whether two commit shas are the same commit. SECURITY: an empty sha (a fact the forge did
/// not give) never matches, not even another empty one.
pub fn same_sha(a: &str, b: &str) -> bool {
    !a.is_empty() && a == b
}

pub use crate::text::short_sha;

/// What the approvals are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalTarget {
    /// Reviews of a pull request whose current head is `head_sha`.
    PullRequest { number: u64, head_sha: String },
    /// Deployment approvals of the run for the job's environment (`None`: the job has none).
    Deployment { environment: Option<String> },
}

/// One approval that did not count, with every reason it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    pub user: UserRef,
    /// The commit the approval was given on (`None` for deployment approvals).
    pub sha: Option<String>,
    /// Each requirement that discarded it, with a sentence naming the user.
    pub reasons: Vec<(RequirementId, String)>,
}

/// An opinion that blocks the grant whatever the count (`no-changes-requested`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub user: UserRef,
    pub sha: Option<String>,
    pub detail: String,
}

/// The result of counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalTally {
    pub target: ApprovalTarget,
    /// `approvals.required` of the scope.
    pub required: u32,
    /// Who may approve, as the policy writes it (`@acme/sre or octocat`), or "anyone with
    /// write permission".
    pub from: String,
    /// Approvals that count, in the order they were given.
    pub counted: Vec<Approver>,
    pub discarded: Vec<Discarded>,
    pub blockers: Vec<Blocker>,
    /// Opinions that were not approvals for this target (another environment, an unknown
    /// state): for the explanation only.
    pub ignored: Vec<String>,
}

impl ApprovalTally {
    /// How many more approvals are needed (0 when enough count).
    pub fn missing(&self) -> usize {
        usize::try_from(self.required)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.counted.len())
    }

    /// Sentences of the approvals discarded by `id`.
    pub fn discarded_for(&self, id: RequirementId) -> Vec<&str> {
        self.discarded
            .iter()
            .flat_map(|d| d.reasons.iter())
            .filter(|(r, _)| *r == id)
            .map(|(_, s)| s.as_str())
            .collect()
    }

    /// Every sentence of every discarded approval, in order.
    pub fn all_discards(&self) -> Vec<&str> {
        self.discarded
            .iter()
            .flat_map(|d| d.reasons.iter().map(|(_, s)| s.as_str()))
            .collect()
    }
}

/// Who the screening needs to know about, besides the evidence.
#[derive(Debug, Clone, Copy)]
pub struct Screen<'a> {
    pub rules: &'a ApprovalRules,
    pub evidence: &'a Evidence,
    /// The requester (token actor) and the run's actor and triggering actor: none may approve.
    pub requesters: &'a [UserRef],
}

fn is_opinion(state: &ReviewState) -> bool {
    matches!(
        state,
        ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
    )
}

/// Each reviewer's latest opinion (APPROVED or CHANGES_REQUESTED; a latest DISMISSED removes
/// the reviewer's opinion), sorted by the time it was given. Independent of list order.
///
/// SECURITY: a review is overridden by any later opinion of a user [`UserRef::same_as`] its
/// author, so where ids are missing a login match is enough to override (never to add).
pub fn latest_opinions(reviews: &[Review]) -> Vec<&Review> {
    let mut opinions: Vec<(&Review, &UserRef, DateTime<Utc>)> = reviews
        .iter()
        .filter(|r| is_opinion(&r.state))
        .filter_map(|r| Some((r, r.user.as_ref()?, r.submitted_at?)))
        .collect();
    // Latest first: by time, then by review id (GitHub's ids grow).
    opinions.sort_by_key(|o| std::cmp::Reverse((o.2, o.0.id)));
    let mut seen: Vec<&UserRef> = Vec::new();
    let mut latest: Vec<&Review> = Vec::new();
    for (review, user, _) in opinions {
        // Overridden when any later opinion's author is the same user.
        let overridden = seen.iter().any(|u| u.same_as(user));
        // Every distinct (id, login) of a later opinion is kept, even when overridden: `same_as`
        // is not transitive where ids are missing.
        if !seen
            .iter()
            .any(|u| u.id == user.id && u.login.eq_ignore_ascii_case(&user.login))
        {
            seen.push(user);
        }
        if !overridden && review.state != ReviewState::Dismissed {
            latest.push(review);
        }
    }
    latest.reverse();
    latest
}

/// `@acme/sre or octocat`, or "anyone with write permission" when `from` is empty.
pub fn describe_from(from: &[Principal]) -> String {
    if from.is_empty() {
        "anyone with write permission".to_string()
    } else {
        from.iter()
            .map(Principal::display)
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// Whether `user` is one of `principals`: a login (case-insensitive), or an `active` member
/// of a team. Returns `Err` with a sentence when not.
///
/// SECURITY: pending membership, "not a member" and a team that was not looked up all mean
/// no.
pub fn principal_match(
    user: &UserRef,
    principals: &[Principal],
    evidence: &Evidence,
) -> Result<(), String> {
    let mut notes = Vec::new();
    for p in principals {
        match p {
            Principal::User(login) => {
                if user.login.eq_ignore_ascii_case(login) {
                    return Ok(());
                }
            }
            Principal::Team { .. } => {
                let Some(key) = p.team_key() else { continue };
                match evidence.membership(&key, user) {
                    Some(Membership::Active) => return Ok(()),
                    Some(Membership::Pending) => {
                        notes.push(format!("membership of {} is pending", p.display()));
                    }
                    Some(Membership::NotMember) => {}
                    None => notes.push(format!("membership of {} was not read", p.display())),
                }
            }
        }
    }
    let mut sentence = format!("{} is not in {}", user.login, describe_from(principals));
    if !notes.is_empty() {
        sentence.push_str(&format!(" ({})", notes.join(", ")));
    }
    Err(sentence)
}

/// Write permission, or a sentence saying why not. A permission that was not read is none.
pub fn permission_check(user: &UserRef, evidence: &Evidence) -> Result<(), String> {
    if let Some(now) = evidence.login_changed_hands(user) {
        return Err(format!(
            "the login {} now belongs to account {now}, not to account {} who acted here (write needed)",
            user.login,
            user.id.unwrap_or_default()
        ));
    }
    match evidence.permissions.get(&user.key()) {
        Some(p) if p.can_write() => Ok(()),
        Some(p) => Err(format!(
            "{} has {} permission (write needed)",
            user.login,
            permission_name(*p)
        )),
        None => Err(format!(
            "the permission of {} was not read (write needed)",
            user.login
        )),
    }
}

fn permission_name(p: crate::facts::Permission) -> &'static str {
    match p {
        crate::facts::Permission::None => "no",
        crate::facts::Permission::Read => "read",
        crate::facts::Permission::Write => "write",
        crate::facts::Permission::Admin => "admin",
    }
}

/// The reasons an approval by `user` does not count, apart from freshness. `pr_author` is
/// `None` for deployment approvals.
fn screen_user(
    user: &UserRef,
    pr_author: Option<&UserRef>,
    screen: &Screen<'_>,
) -> Vec<(RequirementId, String)> {
    let mut reasons = Vec::new();
    // SECURITY: self-approval, matched by id where the forge gives one.
    if pr_author.is_some_and(|a| a.same_as(user)) {
        reasons.push((
            RequirementId::NotSelfApproved,
            format!("{} is the PR author", user.login),
        ));
    } else if screen.requesters.iter().any(|r| r.same_as(user)) {
        reasons.push((
            RequirementId::NotSelfApproved,
            format!("{} is the requester", user.login),
        ));
    } else if screen.rules.strict
        && screen
            .evidence
            .pr_commit_authors
            .iter()
            .any(|a| a.same_as(user))
    {
        reasons.push((
            RequirementId::NotSelfApproved,
            format!("{} authored a commit in the PR (strict)", user.login),
        ));
    }
    if user.is_bot() {
        reasons.push((
            RequirementId::NotBotApproved,
            format!("{} is a bot", user.login),
        ));
    }
    if let Err(why) = permission_check(user, screen.evidence) {
        reasons.push((RequirementId::ApproverPermission, why));
    }
    if !screen.rules.from.is_empty()
        && let Err(why) = principal_match(user, &screen.rules.from, screen.evidence)
    {
        reasons.push((RequirementId::ApproverInGroup, why));
    }
    reasons
}

/// Counts the reviews of `pr` under `screen.rules`.
pub fn tally_reviews(pr: &PullRequest, reviews: &[Review], screen: &Screen<'_>) -> ApprovalTally {
    let head = pr.head_sha.as_str();
    let mut tally = ApprovalTally {
        target: ApprovalTarget::PullRequest {
            number: pr.number,
            head_sha: pr.head_sha.clone(),
        },
        required: screen.rules.required,
        from: describe_from(&screen.rules.from),
        counted: Vec::new(),
        discarded: Vec::new(),
        blockers: Vec::new(),
        ignored: Vec::new(),
    };
    for review in latest_opinions(reviews) {
        let Some(user) = review.user.as_ref() else {
            continue;
        };
        let sha = review.commit_id.clone();
        let on_head = sha.as_deref().is_some_and(|s| same_sha(s, head));
        match review.state {
            ReviewState::Approved => {
                let mut reasons = Vec::new();
                if screen.rules.fresh && !on_head {
                    let why = match sha.as_deref() {
                        Some(s) => {
                            format!("{} approved an older commit ({})", user.login, short_sha(s))
                        }
                        None => format!("{}'s approval names no commit", user.login),
                    };
                    reasons.push((RequirementId::FreshApproval, why));
                }
                reasons.extend(screen_user(user, Some(&pr.author), screen));
                if reasons.is_empty() {
                    tally.counted.push(Approver {
                        user: user.clone(),
                        sha,
                    });
                } else {
                    tally.discarded.push(Discarded {
                        user: user.clone(),
                        sha,
                        reasons,
                    });
                }
            }
            ReviewState::ChangesRequested => {
                // SECURITY: a CHANGES_REQUESTED with no commit is treated as on the head, and
                // one from a user whose permission was not read as from a writer.
                let relevant = !screen.rules.fresh || on_head || sha.is_none();
                let permission = screen.evidence.permissions.get(&user.key()).copied();
                let writer = permission.is_none_or(|p| p.can_write());
                if relevant && writer {
                    let at = match sha.as_deref() {
                        Some(s) => format!("on {}", short_sha(s)),
                        None => "on no named commit".to_string(),
                    };
                    let perm_note = if permission.is_none() {
                        " (permission not read)"
                    } else {
                        ""
                    };
                    tally.blockers.push(Blocker {
                        user: user.clone(),
                        sha: sha.clone(),
                        detail: format!("{} requested changes {at}{perm_note}", user.login),
                    });
                } else if !writer {
                    tally.ignored.push(format!(
                        "{} requested changes without write permission",
                        user.login
                    ));
                } else {
                    tally.ignored.push(format!(
                        "{} requested changes on an older commit ({})",
                        user.login,
                        sha.as_deref().map(short_sha).unwrap_or("none")
                    ));
                }
            }
            _ => {}
        }
    }
    tally
}

/// Counts the run's deployment approvals for the job's `environment`.
///
/// Only `approved` reviews whose `environments` include the job's environment count (GitHub
/// environment names are case-insensitive); a `rejected` review for it blocks. Each user
/// counts once.
///
/// See: <https://docs.github.com/en/rest/actions/workflow-runs#get-the-review-history-for-a-workflow-run>
pub fn tally_deployment(
    environment: Option<&str>,
    reviews: &[DeploymentReview],
    screen: &Screen<'_>,
) -> ApprovalTally {
    let mut tally = ApprovalTally {
        target: ApprovalTarget::Deployment {
            environment: environment.map(str::to_string),
        },
        required: screen.rules.required,
        from: describe_from(&screen.rules.from),
        counted: Vec::new(),
        discarded: Vec::new(),
        blockers: Vec::new(),
        ignored: Vec::new(),
    };
    // Users already counted or discarded, so that two approvals by one user count once.
    let mut done: Vec<UserRef> = Vec::new();
    let mut unnamed = 0usize;
    for review in reviews {
        let Some(user) = review.user.as_ref() else {
            unnamed += 1;
            continue;
        };
        let for_job = environment.is_some_and(|env| {
            review
                .environments
                .iter()
                .any(|e| e.eq_ignore_ascii_case(env))
        });
        let state = review.state.to_ascii_lowercase();
        if !for_job {
            let envs = review.environments.join(", ");
            let job = environment.unwrap_or("(the job has no environment)");
            tally.ignored.push(format!(
                "{} {} environment {envs}, not {job}",
                user.login,
                if state == "approved" {
                    "approved"
                } else {
                    "reviewed"
                }
            ));
            continue;
        }
        match state.as_str() {
            "approved" => {
                if done.iter().any(|u| u.same_as(user)) {
                    continue;
                }
                done.push(user.clone());
                let reasons = screen_user(user, None, screen);
                if reasons.is_empty() {
                    tally.counted.push(Approver {
                        user: user.clone(),
                        sha: None,
                    });
                } else {
                    tally.discarded.push(Discarded {
                        user: user.clone(),
                        sha: None,
                        reasons,
                    });
                }
            }
            "rejected" => tally.blockers.push(Blocker {
                user: user.clone(),
                sha: None,
                detail: format!(
                    "{} rejected the deployment to {}",
                    user.login,
                    environment.unwrap_or_default()
                ),
            }),
            other => tally.ignored.push(format!(
                "{} left a deployment review in state \"{other}\"",
                user.login
            )),
        }
    }
    if unnamed > 0 {
        tally
            .ignored
            .push(format!("{unnamed} deployment review(s) by a deleted user"));
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Permission;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn at(minute: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, minute, 0).single()
    }

    fn review(id: u64, login: &str, uid: u64, state: ReviewState, minute: u32) -> Review {
        Review {
            id,
            user: Some(UserRef::new(login, Some(uid))),
            state,
            commit_id: Some("head".into()),
            submitted_at: at(minute),
        }
    }

    fn ids(v: &[&Review]) -> Vec<u64> {
        v.iter().map(|r| r.id).collect()
    }

    #[test]
    fn latest_opinion_per_user() {
        use ReviewState::*;
        // (reviews, ids of the latest opinions)
        let cases: Vec<(Vec<Review>, Vec<u64>)> = vec![
            // APPROVED then CHANGES_REQUESTED: the CR wins
            (
                vec![
                    review(1, "alice", 1, Approved, 1),
                    review(2, "alice", 1, ChangesRequested, 2),
                ],
                vec![2],
            ),
            // by submitted_at, not list order
            (
                vec![
                    review(2, "alice", 1, ChangesRequested, 1),
                    review(1, "alice", 1, Approved, 2),
                ],
                vec![1],
            ),
            // COMMENTED never overrides
            (
                vec![
                    review(1, "alice", 1, Approved, 1),
                    review(2, "alice", 1, Commented, 2),
                ],
                vec![1],
            ),
            // DISMISSED removes; a later APPROVED counts again
            (
                vec![
                    review(1, "alice", 1, Dismissed, 1),
                    review(2, "alice", 1, Approved, 3),
                ],
                vec![2],
            ),
            (vec![review(1, "alice", 1, Dismissed, 1)], vec![]),
            (vec![review(1, "alice", 1, Commented, 1)], vec![]),
            (vec![review(1, "alice", 1, Pending, 1)], vec![]),
            // ties broken by review id
            (
                vec![
                    review(9, "alice", 1, ChangesRequested, 1),
                    review(8, "alice", 1, Approved, 1),
                ],
                vec![9],
            ),
            // renamed login, same id: one reviewer
            (
                vec![
                    review(1, "alice", 1, Approved, 1),
                    review(2, "alice-renamed", 1, ChangesRequested, 2),
                ],
                vec![2],
            ),
            // same login, different ids (login re-registered): two reviewers
            (
                vec![
                    review(1, "alice", 1, Approved, 1),
                    review(2, "alice", 2, Approved, 2),
                ],
                vec![1, 2],
            ),
        ];
        for (i, (reviews, want)) in cases.into_iter().enumerate() {
            assert_eq!(ids(&latest_opinions(&reviews)), want, "case {i}");
            let mut reversed = reviews.clone();
            reversed.reverse();
            assert_eq!(ids(&latest_opinions(&reversed)), want, "case {i} reversed");
        }
    }

    #[test]
    fn ignores_deleted_users_and_unsubmitted_reviews() {
        let mut deleted = review(1, "x", 1, ReviewState::Approved, 1);
        deleted.user = None;
        let mut pending = review(2, "bob", 2, ReviewState::Approved, 1);
        pending.submitted_at = None;
        assert!(latest_opinions(&[deleted, pending]).is_empty());
    }

    #[test]
    fn missing_id_overrides_by_login_but_never_adds() {
        // A later CHANGES_REQUESTED by "alice" without an id overrides alice (id 1).
        let mut cr = review(2, "Alice", 0, ReviewState::ChangesRequested, 2);
        cr.user = Some(UserRef::new("Alice", None));
        let reviews = vec![review(1, "alice", 1, ReviewState::Approved, 1), cr];
        assert_eq!(ids(&latest_opinions(&reviews)), vec![2]);
    }

    #[test]
    fn same_as_is_not_transitive_so_every_later_author_overrides() {
        // alice#1 (latest), "alice" without id (middle), alice#2 (earliest): the middle one is
        // the same login as alice#2, so alice#2's approval is overridden.
        let mut middle = review(2, "alice", 0, ReviewState::ChangesRequested, 2);
        middle.user = Some(UserRef::new("alice", None));
        let reviews = vec![
            review(3, "alice", 1, ReviewState::Approved, 3),
            middle,
            review(1, "alice", 2, ReviewState::Approved, 1),
        ];
        assert_eq!(ids(&latest_opinions(&reviews)), vec![3]);
    }

    #[test]
    fn principal_match_rules() {
        let mut ev = Evidence::default();
        let team = |m| BTreeMap::from([("alice".to_string(), m)]);
        let sre = Principal::Team {
            org: "acme".into(),
            team: "sre".into(),
        };
        let alice = UserRef::new("Alice", Some(1));
        // (membership, matches?)
        for (m, want) in [
            (Some(Membership::Active), true),
            (Some(Membership::Pending), false),
            (Some(Membership::NotMember), false),
            (None, false),
        ] {
            ev.teams.clear();
            if let Some(m) = m {
                ev.teams.insert("acme/sre".into(), team(m));
            }
            assert_eq!(
                principal_match(&alice, std::slice::from_ref(&sre), &ev).is_ok(),
                want,
                "{m:?}"
            );
        }
        // a user principal matches the login case-insensitively
        assert!(principal_match(&alice, &[Principal::User("alice".into())], &ev).is_ok());
        assert!(principal_match(&alice, &[Principal::User("alicex".into())], &ev).is_err());
    }

    #[test]
    fn permission_from_api() {
        let alice = UserRef::new("alice", Some(1));
        for (api, ok) in [
            ("admin", true),
            ("maintain", true),
            ("write", true),
            ("triage", false),
            ("read", false),
            ("none", false),
            ("custom-thing", false),
        ] {
            let mut ev = Evidence::default();
            ev.permissions
                .insert("alice".into(), Permission::from_api(api));
            assert_eq!(permission_check(&alice, &ev).is_ok(), ok, "{api}");
        }
        assert!(permission_check(&alice, &Evidence::default()).is_err());
    }
}
