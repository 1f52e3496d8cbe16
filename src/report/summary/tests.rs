use chrono::TimeZone;

use super::*;
use crate::decide::RequirementId;
use crate::emit::test_support::{assert_same_structure, hostile_strings};

const DOC: &str = "https://github.com/acme/prod-access/blob/v1/docs/requirements.md";
const SHA1: &str = "0123456789abcdef0123456789abcdef01234567";
const SHA2: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn links() -> Links<'static> {
    Links {
        run_url: Some("https://github.com/acme/payments/actions/runs/4242/attempts/1"),
        repo_url: Some("https://github.com/acme/payments"),
        requirements_doc: DOC,
    }
}

fn expires() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 22, 15, 0)
        .single()
        .unwrap()
}

fn approver(login: &str, sha: Option<&str>) -> Approver {
    Approver {
        user: UserRef::new(login, Some(7)),
        sha: sha.map(str::to_string),
    }
}

fn req(id: RequirementId, detail: &str) -> Requirement {
    Requirement {
        id,
        met: false,
        detail: detail.to_string(),
    }
}

#[test]
fn granted_summary() {
    let links = links();
    let requester = UserRef::new("alice", Some(1));
    let approvers = [approver("bob", Some(SHA1)), approver("carol", None)];
    let view = SummaryView {
        outcome: Outcome::Granted,
        scope: Some("db-read"),
        requester: &requester,
        reason: Some("INC-123: rotate the stuck migration lock"),
        ttl: Some(Duration::from_secs(900)),
        expires_at: Some(expires()),
        approvers: &approvers,
        grant_id: Some("pa-4242-1-db-read"),
        fingerprint: Some(
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        links: &links,
        unmet: vec![],
    };
    insta::assert_snapshot!(render_summary(&view), @r"
    ## prod-access: GRANTED

    | | |
    | --- | --- |
    | Decision | **GRANTED** |
    | Scope | `db-read` |
    | Requester | alice |
    | Reason | INC\-123: rotate the stuck migration lock |
    | TTL | 15m |
    | Expires at | 2026-11-23T22:15:00Z |
    | Approvers | bob on [0123456](https://github.com/acme/payments/commit/0123456789abcdef0123456789abcdef01234567), carol (deployment approval) |
    | Run | [workflow run](https://github.com/acme/payments/actions/runs/4242/attempts/1) |
    | Grant id | `pa-4242-1-db-read` |
    | Credential fingerprint | `sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad` |
    ");
}

#[test]
fn denied_summary_lists_every_unmet_requirement() {
    let links = links();
    let requester = UserRef::new("mallory", Some(666));
    let unmet = [
        req(RequirementId::ApprovalsCount, "0 of 1 required approvals"),
        req(
            RequirementId::FreshApproval,
            "bob approved 0123456, head is fedcba9",
        ),
        req(
            RequirementId::NotSelfApproved,
            "mallory approved their own request",
        ),
    ];
    let view = SummaryView {
        outcome: Outcome::Denied,
        scope: Some("db-write"),
        requester: &requester,
        reason: Some("need it"),
        ttl: Some(Duration::from_secs(3600)),
        expires_at: None,
        approvers: &[],
        grant_id: None,
        fingerprint: None,
        links: &links,
        unmet: unmet.iter().collect(),
    };
    insta::assert_snapshot!(render_summary(&view), @r"
    ## prod-access: DENIED

    | | |
    | --- | --- |
    | Decision | **DENIED** |
    | Scope | `db-write` |
    | Requester | mallory |
    | Reason | need it |
    | TTL | 1h |
    | Approvers | none |
    | Run | [workflow run](https://github.com/acme/payments/actions/runs/4242/attempts/1) |

    ### Unmet requirements (3)

    | Requirement | Detail |
    | --- | --- |
    | [approvals\-count](https://github.com/acme/prod-access/blob/v1/docs/requirements.md#approvals-count) | 0 of 1 required approvals |
    | [fresh\-approval](https://github.com/acme/prod-access/blob/v1/docs/requirements.md#fresh-approval) | bob approved 0123456, head is fedcba9 |
    | [not\-self\-approved](https://github.com/acme/prod-access/blob/v1/docs/requirements.md#not-self-approved) | mallory approved their own request |
    ");
}

#[test]
fn break_glass_summary_is_marked() {
    let links = links();
    let requester = UserRef::new("alice", Some(1));
    let view = SummaryView {
        outcome: Outcome::BreakGlass,
        scope: Some("api-admin"),
        requester: &requester,
        reason: Some("INC-9: outage"),
        ttl: Some(Duration::from_secs(600)),
        expires_at: Some(expires()),
        approvers: &[],
        grant_id: Some("pa-1"),
        fingerprint: Some("sha256:00"),
        links: &links,
        unmet: vec![],
    };
    let out = render_summary(&view);
    assert!(out.starts_with("## prod-access: BREAK-GLASS\n\n> [!CAUTION]\n> **BREAK-GLASS**"));
    assert!(out.contains("| Decision | **BREAK-GLASS** |"));
}

#[test]
fn outcome_follows_the_decision() {
    let mut d = Decision {
        scope: Some("s".into()),
        requirements: vec![Requirement {
            id: RequirementId::ScopeKnown,
            met: true,
            detail: String::new(),
        }],
        approvers: vec![],
        ttl: Some(Duration::from_secs(60)),
        break_glass: true,
        requester: UserRef::new("a", None),
    };
    assert_eq!(Outcome::of(&d), Outcome::BreakGlass);
    d.break_glass = false;
    assert_eq!(Outcome::of(&d), Outcome::Granted);
    d.requirements[0].met = false;
    d.break_glass = true;
    assert_eq!(Outcome::of(&d), Outcome::Denied);
    let links = links();
    let view = SummaryView::from_decision(&d, Some("r"), &links);
    assert_eq!(view.unmet.len(), 1);
}

/// Every user-controlled field holding hostile text renders with the same markdown
/// structure as a benign word: no ping, HTML, link, image or broken table (catalogue 45, 73).
#[test]
fn hostile_text_in_every_field_stays_inert() {
    let links = links();
    let render = |text: &str| {
        let requester = UserRef::new(text, Some(1));
        let approvers = [approver(text, Some(SHA2)), approver(text, Some(text))];
        let unmet = [
            req(RequirementId::ScopeKnown, text),
            req(RequirementId::ApprovalsCount, text),
        ];
        render_summary(&SummaryView {
            outcome: Outcome::Denied,
            scope: Some(text),
            requester: &requester,
            reason: Some(text),
            ttl: Some(Duration::from_secs(900)),
            expires_at: Some(expires()),
            approvers: &approvers,
            grant_id: Some(text),
            fingerprint: Some(text),
            links: &links,
            unmet: unmet.iter().collect(),
        })
    };
    let baseline = render("SAFE");
    for hostile in hostile_strings() {
        assert_same_structure(&baseline, &render(&hostile), &hostile);
    }
}

#[test]
fn a_huge_reason_is_truncated_and_scrubbed() {
    let links = links();
    let requester = UserRef::new("alice", None);
    let reason = "\u{1b}[2J\u{202e}\0x".repeat(25_000);
    let out = render_summary(&SummaryView {
        outcome: Outcome::Denied,
        scope: None,
        requester: &requester,
        reason: Some(&reason),
        ttl: None,
        expires_at: None,
        approvers: &[],
        grant_id: None,
        fingerprint: None,
        links: &links,
        unmet: vec![],
    });
    assert!(out.len() < 3_000, "{}", out.len());
    assert!(out.contains("(+"));
    assert!(!out.contains('\u{1b}') && !out.contains('\u{202e}') && !out.contains('\0'));
    assert!(out.contains("| Scope | not resolved |"));
}

#[test]
fn links_that_are_not_inert_urls_are_not_rendered() {
    let bad = Links {
        run_url: Some("javascript:alert(1)"),
        repo_url: Some("https://evil.test/x)y"),
        requirements_doc: "https://evil.test/<x>",
    };
    let requester = UserRef::new("alice", None);
    let approvers = [approver("bob", Some(SHA1))];
    let unmet = [req(RequirementId::ApprovalsCount, "d")];
    let out = render_summary(&SummaryView {
        outcome: Outcome::Denied,
        scope: None,
        requester: &requester,
        reason: None,
        ttl: None,
        expires_at: None,
        approvers: &approvers,
        grant_id: None,
        fingerprint: None,
        links: &bad,
        unmet: unmet.iter().collect(),
    });
    assert!(!out.contains("]("), "{out}");
    assert!(!out.contains("javascript"), "{out}");
    assert!(!out.contains("evil"), "{out}");
}

/// The hostile strings of catalogue 73 in the reason, a login and a requirement detail: the
/// snapshot shows each made inert.
#[test]
fn snapshot_hostile_summary() {
    let links = links();
    let text = "@everyone @acme/sre <img src=x onerror=alert(1)> [x](javascript:alert(1)) \
                ![i](https://evil.test/i.png) a | b\n| --- |\n<!-- prod-access:grant id=forged run=1.1 scope=db-admin -->";
    let requester = UserRef::new("@everyone<b>", None);
    let approvers = [approver("[x](javascript:alert(1))", Some("<img src=x>"))];
    let unmet = [req(RequirementId::ScopeKnown, text)];
    let out = render_summary(&SummaryView {
        outcome: Outcome::Denied,
        scope: Some("db-read | x"),
        requester: &requester,
        reason: Some(text),
        ttl: None,
        expires_at: None,
        approvers: &approvers,
        grant_id: None,
        fingerprint: None,
        links: &links,
        unmet: unmet.iter().collect(),
    });
    insta::assert_snapshot!("hostile_summary", out);
}
