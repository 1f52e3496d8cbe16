//! The PR audit comment: rendering, the hidden marker, and the edit on revoke.
//!
//! The first line of every comment is the marker
//! `<!-- prod-access:grant id=<grant id> run=<run id>.<attempt> scope=<scope> -->`, built only
//! from validated tokens ([`Marker`]). [`find_marker`] accepts exactly that line, in its
//! canonical form, as the first line of a body; anything user text can produce is escaped
//! (`<` becomes `&lt;`), so no user text can forge it in our own comment.
//!
//! SECURITY: anyone can post a comment whose first line is a copy of our marker. A marker is
//! ours only on a comment written by the account the tool posts as: callers check
//! [`crate::facts::Viewer::wrote`] before editing a comment or trusting what it says.

use chrono::{DateTime, Utc};

pub use crate::audit::marker::{Marker, find_marker};
use crate::audit::{AuditRecord, Status};
use crate::emit::escape::{markdown_inline, markdown_link};
use crate::report::summary::Links;
use crate::report::summary::{
    self, BREAK_GLASS_CALLOUT, Outcome, REASON_MAX_CHARS, SHORT_MAX_CHARS, approvers, facts_table,
    fingerprint, login, unmet_table,
};
use crate::text::rfc3339;

fn expiry(record: &AuditRecord) -> String {
    expiry_text(record.expires_at)
}

fn expiry_text(expires_at: Option<DateTime<Utc>>) -> String {
    expires_at.map_or_else(|| "an unknown time".into(), rfc3339)
}

/// One status sentence for a granted record, in the catalogue's words ("access ended at T",
/// "revoke failed, expires at T", "not revocable; expires at T").
fn status_line(record: &AuditRecord) -> String {
    status_text(&record.status, record.expires_at)
}

fn status_text(status: &Status, expires_at: Option<DateTime<Utc>>) -> String {
    match status {
        Status::Active => format!(
            "**Status:** active; expires at {}.",
            expiry_text(expires_at)
        ),
        Status::Revoked { at } => {
            format!("**Status:** access ended at {} (revoked).", rfc3339(*at))
        }
        Status::RevokeFailed { expires_at } => format!(
            "**Status:** revoke failed, expires at {}: the credential stays valid until then.",
            rfc3339(*expires_at)
        ),
        Status::Expired => format!(
            "**Status:** access ended at {} (expired).",
            expiry_text(expires_at)
        ),
        Status::Failed => {
            "**Status:** failed: the credential could not be minted; nothing was granted."
                .to_string()
        }
        Status::NotRevocable { expires_at, note } => format!(
            "**Status:** not revocable; expires at {}. {}",
            rfc3339(*expires_at),
            markdown_inline(note, REASON_MAX_CHARS)
        ),
    }
}

/// Whether a comment of ours records a credential that was minted (active, revoked, expired,
/// not revocable, revoke failed): not a denial, and not a grant decision whose mint failed.
/// A replay check counts only these.
pub fn records_a_mint(body: &str) -> bool {
    body.lines()
        .find(|l| l.starts_with("**Status:** "))
        .is_some_and(|l| {
            !l.starts_with("**Status:** denied") && !l.starts_with("**Status:** failed")
        })
}

/// The body of one of our comments with its status changed, for `revoke`: `revoke` holds
/// only untrusted state, not the record, so it edits the status line of the comment this
/// tool wrote and appends when. `None` when the body is not a granted comment of ours for
/// `grant_id` (a marker on the first line, exactly one status line).
pub fn restatus(
    body: &str,
    grant_id: &str,
    status: &Status,
    expires_at: Option<DateTime<Utc>>,
    when: DateTime<Utc>,
) -> Option<String> {
    let marker = find_marker(body)?;
    if marker.grant_id.as_str() != grant_id {
        return None;
    }
    let status_lines = body
        .lines()
        .filter(|l| l.starts_with("**Status:** "))
        .count();
    if status_lines != 1 || body.contains("**Status:** denied") {
        return None;
    }
    let mut out = String::with_capacity(body.len() + 128);
    for line in body.lines() {
        if line.starts_with("_Updated by `prod-access revoke` at ") {
            continue;
        }
        if line.starts_with("**Status:** ") {
            out.push_str(&status_text(status, expires_at));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push_str(&format!(
        "\n\n_Updated by `prod-access revoke` at {}._\n",
        rfc3339(when)
    ));
    Some(out)
}

/// The audit comment for a record: marker, headline, status, a table of facts, and for a
/// denial every unmet requirement linked to its documentation.
pub fn render(record: &AuditRecord, links: &Links<'_>) -> String {
    let outcome = Outcome::from_flags(record.granted, record.break_glass);
    let mut out = record.marker().line();
    out.push('\n');
    let icon = match outcome {
        Outcome::Granted => "🔓",
        Outcome::Denied => "⛔",
        Outcome::BreakGlass => "🚨",
    };
    out.push_str(&format!(
        "## {icon} prod-access: {} for {}\n\n",
        outcome.label(),
        summary::scope(record.scope.as_deref())
    ));
    if outcome == Outcome::BreakGlass {
        out.push_str(BREAK_GLASS_CALLOUT);
    }
    if record.granted {
        out.push_str(&status_line(record));
        out.push_str("\n\n");
    } else {
        out.push_str("**Status:** denied; nothing was minted.\n\n");
    }
    if let Some(note) = &record.note {
        out.push_str(&format!(
            "**Note:** {}\n\n",
            markdown_inline(note, REASON_MAX_CHARS)
        ));
    }

    let mut rows: Vec<(&str, String)> = vec![
        ("Requester", login(&record.requester)),
        ("Reason", summary::reason(record.reason.as_deref())),
        ("Scope", summary::scope(record.scope.as_deref())),
        (
            "Repository",
            markdown_inline(&record.repository, SHORT_MAX_CHARS),
        ),
    ];
    if let Some(ttl) = record.ttl {
        rows.push(("TTL", crate::policy::duration::format(ttl)));
    }
    if record.granted {
        rows.push(("Expires at", expiry(record)));
    }
    rows.push(("Approvers", approvers(links, &record.approvers)));
    let run_text = format!("run {}, attempt {}", record.run_id, record.run_attempt);
    rows.push((
        "Run",
        match links.run_url {
            Some(url) => markdown_link(&run_text, url, SHORT_MAX_CHARS),
            None => run_text,
        },
    ));
    if let Some(cred) = &record.credential {
        let mut cell = format!(
            "{}, {}",
            markdown_inline(&cred.kind, SHORT_MAX_CHARS),
            fingerprint(&cred.fingerprint)
        );
        if let Some(detail) = &cred.detail {
            cell.push_str(&format!(", {}", markdown_inline(detail, SHORT_MAX_CHARS)));
        }
        rows.push(("Credential", cell));
    }
    // A denial minted nothing: its id lives in the hidden marker only (to find the comment
    // again), not among the facts, where it would read as a grant.
    if record.granted {
        rows.push(("Grant id", format!("`{}`", record.grant_id)));
    }
    out.push_str(&facts_table(&rows));
    if !record.unmet.is_empty() {
        out.push_str(&format!(
            "\n### Missing for this request ({})\n\n",
            record.unmet.len()
        ));
        let unmet: Vec<_> = record.unmet.iter().collect();
        out.push_str(&unmet_table(links, &unmet));
    }
    out
}

/// The comment edited in place once `revoke` ran (`record.status` says how it ended:
/// "access ended at T", "revoke failed, expires at T", "not revocable; expires at T"),
/// with the time of the edit.
pub fn render_revoked(record: &AuditRecord, links: &Links<'_>, when: DateTime<Utc>) -> String {
    let mut out = render(record, links);
    out.push_str(&format!(
        "\n_Updated by `prod-access revoke` at {}._\n",
        rfc3339(when)
    ));
    out
}

#[cfg(test)]
mod tests;
