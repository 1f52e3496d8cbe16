//! The step summary (`GITHUB_STEP_SUMMARY`): a markdown table of the decision.
//!
//! SECURITY: every string a user controls (reason, logins, scope as requested, requirement
//! details) goes through [`markdown_inline`] and is truncated, so it can neither ping, nor
//! inject HTML, links or images, nor break the table (catalogue 45, 73). Links are built
//! only from trusted parts and checked with [`crate::emit::escape::markdown_url`]. The credential appears only as
//! its fingerprint.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::decide::{Approver, Decision, Requirement};
use crate::emit::escape::{
    is_plain_token, markdown_code_or_escaped, markdown_inline, markdown_link,
};
use crate::facts::UserRef;
use crate::text::rfc3339;

/// Longest reason shown, in characters.
pub const REASON_MAX_CHARS: usize = 300;
/// Longest login, scope or other short field shown, in characters.
pub const SHORT_MAX_CHARS: usize = 100;
/// Longest requirement detail shown, in characters.
pub const DETAIL_MAX_CHARS: usize = 300;

/// The outcome line of a summary or comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    Denied,
    /// Granted without approvals under `break_glass: true`.
    BreakGlass,
}

impl Outcome {
    /// From a decision: break-glass only when it granted.
    pub fn of(decision: &Decision) -> Self {
        Self::from_flags(decision.granted(), decision.break_glass)
    }

    /// Break-glass only when granted.
    pub fn from_flags(granted: bool, break_glass: bool) -> Self {
        match (granted, break_glass) {
            (true, true) => Outcome::BreakGlass,
            (true, false) => Outcome::Granted,
            (false, _) => Outcome::Denied,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Granted => "GRANTED",
            Outcome::Denied => "DENIED",
            Outcome::BreakGlass => "BREAK-GLASS",
        }
    }
}

/// What the summary shows. Borrowed; built by the grant flow after the decision (and the
/// mint, for a grant).
#[derive(Debug, Clone)]
pub struct SummaryView<'a> {
    pub outcome: Outcome,
    /// The scope as resolved or as requested (user text when unknown).
    pub scope: Option<&'a str>,
    pub requester: &'a UserRef,
    pub reason: Option<&'a str>,
    pub ttl: Option<Duration>,
    pub expires_at: Option<DateTime<Utc>>,
    pub approvers: &'a [Approver],
    pub grant_id: Option<&'a str>,
    /// The credential's `sha256:` fingerprint, never the secret.
    pub fingerprint: Option<&'a str>,
    pub links: &'a Links<'a>,
    /// Unmet requirements (all of them, for a denial).
    pub unmet: Vec<&'a Requirement>,
}

impl<'a> SummaryView<'a> {
    /// The parts a decision knows; the grant flow fills in expiry, grant id and fingerprint.
    pub fn from_decision(
        decision: &'a Decision,
        reason: Option<&'a str>,
        links: &'a Links<'a>,
    ) -> Self {
        Self {
            outcome: Outcome::of(decision),
            scope: decision.scope.as_deref(),
            requester: &decision.requester,
            reason,
            ttl: decision.ttl,
            expires_at: None,
            approvers: &decision.approvers,
            grant_id: None,
            fingerprint: None,
            links,
            unmet: decision.unmet().collect(),
        }
    }
}

/// Where links point. All trusted configuration, never user text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Links<'a> {
    /// The run (`{server}/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}`).
    pub run_url: Option<&'a str>,
    /// The repository's web URL (`{server}/{owner}/{repo}`); commits are `{repo_url}/commit/{sha}`.
    pub repo_url: Option<&'a str>,
    /// `docs/requirements.md` as a web page; requirement ids are its anchors.
    pub requirements_doc: &'a str,
}

/// A login, escaped.
pub(crate) fn login(user: &UserRef) -> String {
    markdown_inline(&user.login, SHORT_MAX_CHARS)
}

/// A commit sha as a short link to the commit, or escaped text when it is not hex.
pub(crate) fn commit(links: &Links<'_>, sha: &str) -> String {
    let hex = (7..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        return markdown_inline(sha, 12);
    }
    let short = crate::text::short_sha(sha);
    match links.repo_url {
        Some(repo) => markdown_link(short, &format!("{repo}/commit/{sha}"), 7),
        None => format!("`{short}`"),
    }
}

/// At most this many approvers are listed; the rest are counted. Keeps a comment under
/// GitHub's 65,536-character limit whatever the evidence holds.
pub const APPROVERS_SHOWN: usize = 20;

/// `alice on abc1234, bob (deployment approval)`.
pub(crate) fn approvers(links: &Links<'_>, approvers: &[Approver]) -> String {
    if approvers.is_empty() {
        return "none".into();
    }
    let mut out = approvers
        .iter()
        .take(APPROVERS_SHOWN)
        .map(|a| match &a.sha {
            Some(sha) => format!("{} on {}", login(&a.user), commit(links, sha)),
            None => format!("{} (deployment approval)", login(&a.user)),
        })
        .collect::<Vec<_>>()
        .join(", ");
    if approvers.len() > APPROVERS_SHOWN {
        out.push_str(&format!(" and {} more", approvers.len() - APPROVERS_SHOWN));
    }
    out
}

/// The requirement id linked to its anchor in the requirements doc.
pub(crate) fn requirement_link(links: &Links<'_>, req: &Requirement) -> String {
    let id = req.id.as_str();
    let url = format!("{}#{id}", links.requirements_doc);
    markdown_link(id, &url, SHORT_MAX_CHARS)
}

pub(crate) fn scope(scope: Option<&str>) -> String {
    scope.map_or_else(
        || "not resolved".into(),
        |s| markdown_code_or_escaped(s, SHORT_MAX_CHARS),
    )
}

pub(crate) fn reason(reason: Option<&str>) -> String {
    match reason {
        Some(r) if !r.trim().is_empty() => markdown_inline(r, REASON_MAX_CHARS),
        _ => "none given".into(),
    }
}

pub(crate) fn fingerprint(fp: &str) -> String {
    let hex_ok = fp
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex_ok || is_plain_token(fp, SHORT_MAX_CHARS) {
        format!("`{fp}`")
    } else {
        markdown_inline(fp, SHORT_MAX_CHARS)
    }
}

pub(crate) fn run(links: &Links<'_>) -> String {
    match links.run_url {
        Some(url) => markdown_link("workflow run", url, SHORT_MAX_CHARS),
        None => "not known".into(),
    }
}

/// The prominent call-out of a break-glass grant.
pub(crate) const BREAK_GLASS_CALLOUT: &str = "> [!CAUTION]\n> **BREAK-GLASS**: granted without \
     approvals under `break_glass: true`. Review this access after the fact.\n\n";

/// A two-column table of (label, already escaped value) rows.
pub(crate) fn facts_table(rows: &[(&str, String)]) -> String {
    let mut out = String::from("| | |\n| --- | --- |\n");
    for (k, v) in rows {
        out.push_str(&format!("| {k} | {v} |\n"));
    }
    out
}

/// The unmet requirements as a table, one row each.
pub(crate) fn unmet_table(links: &Links<'_>, unmet: &[&Requirement]) -> String {
    let mut out = String::from("| Requirement | Detail |\n| --- | --- |\n");
    for req in unmet {
        out.push_str(&format!(
            "| {} | {} |\n",
            requirement_link(links, req),
            markdown_inline(&req.detail, DETAIL_MAX_CHARS)
        ));
    }
    out
}

/// The step summary for a decision.
pub fn render_summary(view: &SummaryView<'_>) -> String {
    let links = view.links;
    let mut out = format!("## prod-access: {}\n\n", view.outcome.label());
    if view.outcome == Outcome::BreakGlass {
        out.push_str(BREAK_GLASS_CALLOUT);
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("Decision", format!("**{}**", view.outcome.label())),
        ("Scope", scope(view.scope)),
        ("Requester", login(view.requester)),
        ("Reason", reason(view.reason)),
    ];
    if let Some(ttl) = view.ttl {
        rows.push(("TTL", crate::policy::duration::format(ttl)));
    }
    if let Some(t) = view.expires_at {
        rows.push(("Expires at", rfc3339(t)));
    }
    rows.push(("Approvers", approvers(links, view.approvers)));
    rows.push(("Run", run(links)));
    if let Some(id) = view.grant_id {
        rows.push(("Grant id", markdown_code_or_escaped(id, SHORT_MAX_CHARS)));
    }
    if let Some(fp) = view.fingerprint {
        rows.push(("Credential fingerprint", fingerprint(fp)));
    }
    out.push_str(&facts_table(&rows));
    if !view.unmet.is_empty() {
        out.push_str(&format!(
            "\n### Unmet requirements ({})\n\n",
            view.unmet.len()
        ));
        out.push_str(&unmet_table(links, &view.unmet));
    }
    out
}

#[cfg(test)]
mod tests;
