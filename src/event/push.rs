//! `push` events: the trailer shape, from the **head commit** only.
//!
//! - `deleted: true` (a branch or tag deleted; `head_commit` is `null`): no request.
//! - no `head_commit` (nothing to build): no request.
//! - the head commit's message (`head_commit.message`) has a reason or scope trailer (git's
//!   rules, [`super::trailers::parse`]; keys compared ASCII case-insensitively): a
//!   [`Shape::Trailer`] request with the head sha `head_commit.id`. A key given twice is
//!   ambiguous, naming both values.
//! - otherwise no request. SECURITY: trailers of the other pushed commits (`commits[]`)
//!   never count: approvals are for the code that runs, which is the head commit's.
//!
//! For a branch push, `after` must equal `head_commit.id`. (For an annotated tag, `after`
//! is the tag object, so it is not compared.) The PR whose approvals count is found later
//! from the head sha (`GET /repos/{o}/{r}/commits/{sha}/pulls`).

use serde::Deserialize;
use serde_json::Value;

use super::json::{self, CommitSha};
use super::trailers;
use super::{EventError, EventOutcome, EventRequest, KeyValues, RequestKeys, Shape};
use crate::facts::UserRef;

/// The parts of a `push` payload read here.
#[derive(Deserialize)]
struct PushEvent {
    deleted: Option<bool>,
    /// `null` when the push deleted a ref.
    #[serde(default, deserialize_with = "json::optional_object")]
    head_commit: Option<HeadCommit>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    after: Option<String>,
    #[serde(default, deserialize_with = "json::user")]
    sender: Option<UserRef>,
}

#[derive(Deserialize)]
struct HeadCommit {
    id: CommitSha,
    message: String,
}

/// Parses a `push` payload (see the module docs).
pub fn parse_push(v: &Value, keys: &RequestKeys) -> Result<EventOutcome, EventError> {
    let event: PushEvent = json::read(v)?;
    if event.deleted == Some(true) {
        return Ok(EventOutcome::NoRequest {
            why: "the push deleted a branch or tag".into(),
        });
    }
    let Some(head) = event.head_commit else {
        return Ok(EventOutcome::NoRequest {
            why: "the push has no head commit".into(),
        });
    };
    let is_branch = event.git_ref.is_some_and(|r| r.starts_with("refs/heads/"));
    if let Some(after) = event.after
        && is_branch
        && after != head.id.as_str()
    {
        return Err(EventError::Inconsistent(
            "`after` differs from `head_commit.id` on a branch push".into(),
        ));
    }

    let found = KeyValues::from_trailers(&trailers::parse(&head.message), keys);
    if !found.present() {
        return Ok(EventOutcome::NoRequest {
            why: format!(
                "the head commit has no `{}` or `{}` trailer (only the head commit's trailers count)",
                keys.trailer, keys.scope_trailer
            ),
        });
    }
    let mut req = EventRequest {
        head_sha: Some(head.id.into_string()),
        sender: event.sender,
        ..EventRequest::new(Shape::Trailer)
    };
    found.apply(&mut req, keys);
    Ok(EventOutcome::Request(req))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEAD: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    const OLDER: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";

    fn push(head_message: &str, older_message: &str) -> Value {
        json!({
            "ref": "refs/heads/main",
            "before": OLDER,
            "after": HEAD,
            "deleted": false,
            "commits": [
                {"id": OLDER, "message": older_message},
                {"id": HEAD, "message": head_message},
            ],
            "head_commit": {"id": HEAD, "message": head_message},
            "sender": {"login": "octocat", "id": 1, "type": "User"},
        })
    }

    fn parse(v: &Value) -> Result<EventOutcome, EventError> {
        parse_push(v, &RequestKeys::default())
    }

    #[test]
    fn head_commit_trailer_is_a_request() {
        let v = push(
            "Fix\n\nProd-Access: INC-7\nProd-Access-Scope: db-read",
            "older",
        );
        let Ok(EventOutcome::Request(r)) = parse(&v) else {
            panic!("expected a request")
        };
        assert_eq!(
            r,
            EventRequest {
                reason: Some("INC-7".into()),
                scope: Some("db-read".into()),
                head_sha: Some(HEAD.into()),
                sender: Some(UserRef::new("octocat", Some(1))),
                ..EventRequest::new(Shape::Trailer)
            }
        );
    }

    #[test]
    fn no_request_cases() {
        let mut deleted = push("Fix\n\nProd-Access: INC-7", "");
        deleted["deleted"] = json!(true);
        deleted["head_commit"] = json!(null);
        deleted["after"] = json!("0000000000000000000000000000000000000000");
        let mut deleted_with_commit = push("Fix\n\nProd-Access: INC-7", "");
        deleted_with_commit["deleted"] = json!(true);
        let mut no_head = push("", "");
        no_head.as_object_mut().map(|o| o.remove("head_commit"));
        let cases = [
            (
                "only a non-head commit asks",
                push("Fix", "Old\n\nProd-Access: INC-7"),
            ),
            ("no trailer", push("Fix\n\nSigned-off-by: A <a@b.c>", "")),
            ("deleted branch", deleted),
            ("deleted with a head commit", deleted_with_commit),
            ("no head commit", no_head),
        ];
        for (name, v) in cases {
            assert!(
                matches!(parse(&v), Ok(EventOutcome::NoRequest { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_ambiguous() {
        let v = push("Fix\n\nProd-Access: INC-7\nprod-access: INC-8", "");
        let Ok(EventOutcome::Request(r)) = parse(&v) else {
            panic!("expected a request")
        };
        assert_eq!(r.reason, None);
        assert_eq!(
            r.ambiguous,
            vec![("Prod-Access".into(), vec!["INC-7".into(), "INC-8".into()])]
        );
    }

    #[test]
    fn wrong_types_and_inconsistencies() {
        let base = push("Fix\n\nProd-Access: INC-7", "");
        let cases: &[(&str, Value, &str)] = &[
            ("/deleted", json!("false"), "deleted"),
            ("/head_commit", json!("x"), "head_commit"),
            ("/head_commit/id", json!(null), "head_commit.id"),
            ("/head_commit/id", json!(7), "head_commit.id"),
            ("/head_commit/id", json!("HEAD"), "head_commit.id"),
            ("/head_commit/message", json!(null), "head_commit.message"),
            (
                "/head_commit/message",
                json!(["Fix"]),
                "head_commit.message",
            ),
            ("/ref", json!(1), "ref"),
            ("/after", json!(false), "after"),
            ("/sender", json!([]), "sender"),
            ("/head_commit", json!([HEAD, "Fix"]), "head_commit"),
            ("/sender", json!(["octocat", 1, "User"]), "sender"),
        ];
        for (pointer, bad, path) in cases {
            let mut v = base.clone();
            match v.pointer_mut(pointer) {
                Some(slot) => *slot = bad.clone(),
                None => panic!("{pointer}"),
            }
            match parse(&v) {
                Err(EventError::Field(p)) => assert_eq!(p, *path, "{pointer}"),
                other => panic!("{pointer}: {other:?}"),
            }
        }
        for key in ["id", "message"] {
            let mut v = base.clone();
            v["head_commit"].as_object_mut().map(|o| o.remove(key));
            assert!(
                matches!(parse(&v), Err(EventError::Field(p)) if p == format!("head_commit.{key}")),
                "{key}"
            );
        }
        let mut v = base.clone();
        v["after"] = json!(OLDER);
        assert!(matches!(parse(&v), Err(EventError::Inconsistent(_))));
        // An annotated tag: `after` is the tag object, not the commit.
        v["ref"] = json!("refs/tags/v1");
        assert!(matches!(parse(&v), Ok(EventOutcome::Request(_))));
        assert!(matches!(
            parse(&json!("push")),
            Err(EventError::NotAnObject)
        ));
    }
}
