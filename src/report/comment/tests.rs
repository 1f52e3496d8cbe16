use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::audit::{CredentialInfo, GrantId};
use crate::decide::{Approver, Requirement, RequirementId};
use crate::emit::escape::is_plain_token;
use crate::emit::test_support::{assert_same_structure, hostile_strings};
use crate::facts::UserRef;

const DOC: &str = "https://github.com/acme/prod-access/blob/v1/docs/requirements.md";
const SHA1: &str = "0123456789abcdef0123456789abcdef01234567";
const SHA2: &str = "fedcba9876543210fedcba9876543210fedcba98";
const FP: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn links() -> Links<'static> {
    Links {
        run_url: Some("https://github.com/acme/payments/actions/runs/4242/attempts/1"),
        repo_url: Some("https://github.com/acme/payments"),
        requirements_doc: DOC,
    }
}

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0)
        .single()
        .unwrap()
}

fn granted() -> AuditRecord {
    AuditRecord {
        grant_id: GrantId::new("pa-4242-1-db-read").unwrap(),
        run_id: 4242,
        run_attempt: 1,
        repository: "acme/payments".into(),
        scope: Some("db-read".into()),
        requester: UserRef::new("alice", Some(1)),
        reason: Some("INC-123: unstick the migration lock".into()),
        granted: true,
        break_glass: false,
        approvers: vec![
            Approver {
                user: UserRef::new("bob", Some(2)),
                sha: Some(SHA1.into()),
            },
            Approver {
                user: UserRef::new("carol", Some(3)),
                sha: Some(SHA1.into()),
            },
        ],
        ttl: Some(Duration::from_secs(900)),
        expires_at: Some(t(22, 15)),
        credential: Some(CredentialInfo {
            kind: "postgres".into(),
            fingerprint: FP.into(),
            detail: None,
        }),
        unmet: vec![],
        status: Status::Active,
        note: None,
    }
}

fn unmet(id: RequirementId, detail: &str) -> Requirement {
    Requirement {
        id,
        met: false,
        detail: detail.into(),
    }
}

fn denied() -> AuditRecord {
    AuditRecord {
        grant_id: GrantId::new("pa-4243-2-db-write").unwrap(),
        run_id: 4243,
        run_attempt: 2,
        scope: Some("db-write".into()),
        requester: UserRef::new("mallory", Some(666)),
        reason: Some("just checking".into()),
        granted: false,
        approvers: vec![],
        expires_at: None,
        credential: None,
        ttl: Some(Duration::from_secs(3600)),
        unmet: vec![
            unmet(
                RequirementId::ReasonPattern,
                "the reason does not match (INC|CHG)-[0-9]+",
            ),
            unmet(RequirementId::ApprovalsCount, "0 of 2 required approvals"),
            unmet(
                RequirementId::FreshApproval,
                "bob approved 0123456, but the head is now fedcba9",
            ),
            unmet(
                RequirementId::NotSelfApproved,
                "mallory approved their own request",
            ),
        ],
        ..granted()
    }
}

fn break_glass() -> AuditRecord {
    AuditRecord {
        grant_id: GrantId::new("pa-4244-1-api-admin").unwrap(),
        run_id: 4244,
        scope: Some("api-admin".into()),
        reason: Some("INC-9: payments API down, no approver awake".into()),
        break_glass: true,
        approvers: vec![],
        ttl: Some(Duration::from_secs(600)),
        expires_at: Some(t(22, 10)),
        credential: Some(CredentialInfo {
            kind: "jwt".into(),
            fingerprint: FP.into(),
            detail: None,
        }),
        ..granted()
    }
}

/// The run link of a record, as the grant flow builds it.
fn run_url(record: &AuditRecord) -> String {
    format!(
        "https://github.com/acme/payments/actions/runs/{}/attempts/{}",
        record.run_id, record.run_attempt
    )
}

fn render_with_own_links(record: &AuditRecord) -> String {
    let url = run_url(record);
    let links = Links {
        run_url: Some(&url),
        ..links()
    };
    render(record, &links)
}

#[test]
fn snapshot_granted() {
    insta::assert_snapshot!("granted", render(&granted(), &links()));
}

#[test]
fn snapshot_denied_with_several_unmet() {
    insta::assert_snapshot!("denied", render_with_own_links(&denied()));
}

#[test]
fn snapshot_break_glass() {
    let out = render_with_own_links(&break_glass());
    assert!(out.contains("BREAK-GLASS"));
    insta::assert_snapshot!("break_glass", out);
}

#[test]
fn snapshot_revoked() {
    let record = AuditRecord {
        status: Status::Revoked { at: t(22, 3) },
        ..granted()
    };
    let out = render_revoked(&record, &links(), t(22, 3));
    assert!(out.contains("access ended at 2026-11-23T22:03:00Z"));
    insta::assert_snapshot!("revoked", out);
}

#[test]
fn snapshot_revoke_failed() {
    let record = AuditRecord {
        status: Status::RevokeFailed {
            expires_at: t(22, 15),
        },
        ..granted()
    };
    let out = render_revoked(&record, &links(), t(22, 3));
    assert!(out.contains("revoke failed, expires at 2026-11-23T22:15:00Z"));
    insta::assert_snapshot!("revoke_failed", out);
}

#[test]
fn not_revocable_and_expired_say_when_access_ends() {
    let record = AuditRecord {
        scope: Some("host-shell".into()),
        credential: Some(CredentialInfo {
            kind: "ssh".into(),
            fingerprint: "SHA256:n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg".into(),
            detail: Some("serial 1234567890".into()),
        }),
        status: Status::NotRevocable {
            expires_at: t(22, 15),
            note: "hosts without the KRL accept the certificate until it expires".into(),
        },
        ..granted()
    };
    let out = render_revoked(&record, &links(), t(22, 3));
    assert!(
        out.contains(
            "**Status:** not revocable; expires at 2026-11-23T22:15:00Z. hosts without the KRL"
        ),
        "{out}"
    );
    assert!(out.contains("| Credential | ssh, SHA256:n4bQgYhMfWWaL\\+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg, serial 1234567890 |"), "{out}");
    let record = AuditRecord {
        status: Status::Expired,
        ..granted()
    };
    assert!(render(&record, &links()).contains("access ended at 2026-11-23T22:15:00Z (expired)"));
}

/// A reason, login, scope and requirement detail full of tricks: the snapshot shows each
/// one made inert (catalogue 73).
#[test]
fn snapshot_hostile_text() {
    let text = "@everyone @acme/sre <img src=x onerror=alert(1)> [x](javascript:alert(1)) \
                ![i](https://evil.test/i.png) a | b\n| --- |\n<!-- prod-access:grant id=forged run=1.1 scope=db-admin -->";
    let record = AuditRecord {
        reason: Some(text.into()),
        requester: UserRef::new("@everyone<b>", None),
        scope: Some("db-read | x".into()),
        approvers: vec![Approver {
            user: UserRef::new("[x](javascript:alert(1))", None),
            sha: Some("<img src=x>".into()),
        }],
        granted: false,
        unmet: vec![unmet(RequirementId::ScopeKnown, text)],
        ..denied()
    };
    let out = render_with_own_links(&record);
    // Our marker is the first line; the forged one in the reason is neither first nor raw.
    assert_eq!(find_marker(&out), Some(record.marker()));
    assert_eq!(record.marker().scope, "-");
    assert_eq!(out.matches("<!--").count(), 1);
    insta::assert_snapshot!("hostile_text", out);
}

#[test]
fn hostile_text_in_every_field_stays_inert() {
    let render_with = |text: &str| {
        let record = AuditRecord {
            reason: Some(text.into()),
            requester: UserRef::new(text, None),
            scope: Some(text.into()),
            repository: text.into(),
            approvers: vec![
                Approver {
                    user: UserRef::new(text, None),
                    sha: Some(SHA2.into()),
                },
                Approver {
                    user: UserRef::new(text, None),
                    sha: Some(text.into()),
                },
            ],
            credential: Some(CredentialInfo {
                kind: text.into(),
                fingerprint: text.into(),
                detail: Some(text.into()),
            }),
            status: Status::NotRevocable {
                expires_at: t(22, 15),
                note: text.into(),
            },
            note: Some(text.into()),
            unmet: vec![
                unmet(RequirementId::ScopeKnown, text),
                unmet(RequirementId::ApprovalsCount, text),
            ],
            ..granted()
        };
        render(&record, &links())
    };
    let baseline = render_with("SAFE");
    for hostile in hostile_strings() {
        let out = render_with(&hostile);
        // The marker line is checked on its own below; the body must keep its structure.
        let body = |s: &str| {
            s.split_once('\n')
                .map(|(_, b)| b.to_string())
                .unwrap_or_default()
        };
        assert_same_structure(&body(&baseline), &body(&out), &hostile);
        assert_eq!(out.matches("<!--").count(), 1);
        let marker = find_marker(&out).unwrap();
        let expected_scope = if is_plain_token(&hostile, 100) {
            hostile.as_str()
        } else {
            "-"
        };
        assert_eq!(marker.scope, expected_scope);
        assert_eq!(out.lines().next(), Some(marker.line().as_str()));
    }
}

#[test]
fn marker_round_trips_and_is_canonical() {
    let record = granted();
    let line = record.marker().line();
    assert_eq!(
        line,
        "<!-- prod-access:grant id=pa-4242-1-db-read run=4242.1 scope=db-read -->"
    );
    assert_eq!(
        find_marker(&render(&record, &links())),
        Some(record.marker())
    );
    assert_eq!(
        find_marker(&format!("{line}\r\nrest")),
        Some(record.marker())
    );
    assert_eq!(find_marker(&line), Some(record.marker()));
}

#[test]
fn only_an_exact_first_line_is_a_marker() {
    let line = granted().marker().line();
    for body in [
        format!("quoting: \n{line}"),
        format!("> {line}"),
        format!(" {line}"),
        format!("\u{feff}{line}"),
        format!("```\n{line}\n```"),
        line.replace("run=4242.1", "run=04242.1"),
        line.replace("run=4242.1", "run=4242"),
        line.replace("run=4242.1", "run=4242.1.1"),
        line.replace("run=4242.1", "run=-1.1"),
        line.replace(" scope=", "  scope="),
        line.replace("scope=db-read", "scope=db read"),
        line.replace("scope=db-read", "scope="),
        line.replace("id=pa-4242-1-db-read", "id="),
        line.replace("id=pa-4242-1-db-read", "id=a<b"),
        line.replace(" -->", " extra=1 -->"),
        line.replace(" -->", "-->"),
        line.replace("prod-access:grant", "prod-access:grants"),
        format!("{line} trailing"),
        line.replace("run=4242.1", "run=99999999999999999999999.1"),
        String::new(),
    ] {
        assert_eq!(find_marker(&body), None, "{body:?}");
    }
}

#[test]
fn grant_ids_are_plain_tokens() {
    assert!(GrantId::new("pa-1.2_3").is_ok());
    for bad in ["", "a b", "a-->", "a\nb", &"x".repeat(65)] {
        assert!(GrantId::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_huge_hostile_reason_is_truncated_and_scrubbed() {
    let reason = "\u{1b}[2J\u{202e}\0@everyone".repeat(10_000);
    let out = render(
        &AuditRecord {
            reason: Some(reason),
            ..granted()
        },
        &links(),
    );
    assert!(out.len() < 4_000, "{}", out.len());
    assert!(!out.contains('\u{1b}') && !out.contains('\u{202e}') && !out.contains('\0'));
    assert!(out.contains("(+"));
}

/// GitHub refuses a comment over 65,536 characters: the worst case (every requirement unmet
/// with a hostile detail, a thousand hostile approvers, hostile everything) stays under it.
#[test]
fn the_worst_case_comment_fits_in_a_github_comment() {
    let nasty = "|<&@#".repeat(20_000);
    let record = AuditRecord {
        reason: Some(nasty.clone()),
        requester: UserRef::new(nasty.clone(), None),
        scope: Some(nasty.clone()),
        repository: nasty.clone(),
        approvers: (0..1000)
            .map(|_| Approver {
                user: UserRef::new(nasty.clone(), None),
                sha: Some(nasty.clone()),
            })
            .collect(),
        credential: Some(CredentialInfo {
            kind: nasty.clone(),
            fingerprint: nasty.clone(),
            detail: Some(nasty.clone()),
        }),
        status: Status::NotRevocable {
            expires_at: t(22, 15),
            note: nasty.clone(),
        },
        note: Some(nasty.clone()),
        unmet: RequirementId::ALL
            .iter()
            .map(|id| unmet(*id, &nasty))
            .collect(),
        ..granted()
    };
    let out = render_revoked(&record, &links(), t(22, 3));
    assert!(out.chars().count() < 65_536, "{}", out.chars().count());
    assert!(out.contains(" and 980 more"));
}

/// Catalogue 94: `GITHUB_ENV` could not be written after the mint; the credential was revoked
/// and the comment is edited to say so.
#[test]
fn snapshot_revoked_because_env_could_not_be_written() {
    let record = AuditRecord {
        status: Status::Revoked { at: t(22, 1) },
        note: Some(
            "GITHUB_ENV could not be written; the credential was revoked and nothing was handed to the job"
                .into(),
        ),
        ..granted()
    };
    let out = render_revoked(&record, &links(), t(22, 1));
    assert!(out.contains("access ended at 2026-11-23T22:01:00Z"));
    insta::assert_snapshot!("revoked_env_unwritable", out);
}

#[test]
fn restatus_edits_only_our_granted_comment() {
    let body = render(&granted(), &links());
    let when = chrono::DateTime::parse_from_rfc3339("2026-11-23T22:03:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let status = Status::Revoked { at: when };
    let out = restatus(&body, "pa-4242-1-db-read", &status, None, when).unwrap();
    assert!(out.contains("**Status:** access ended at 2026-11-23T22:03:00Z (revoked)."));
    assert!(!out.contains("**Status:** active"));
    assert!(out.ends_with("_Updated by `prod-access revoke` at 2026-11-23T22:03:00Z._\n"));
    // Twice: one update line, not two.
    let again = restatus(&out, "pa-4242-1-db-read", &status, None, when).unwrap();
    assert_eq!(again.matches("_Updated by").count(), 1);
    // Another grant's id, a denial, or a body without our marker: untouched.
    assert!(restatus(&body, "pa-other", &status, None, when).is_none());
    assert!(
        restatus(
            "**Status:** active",
            "pa-4242-1-db-read",
            &status,
            None,
            when
        )
        .is_none()
    );
}
