//! `pull_request` and `pull_request_target` events: the label shape, and the trailer shape
//! for every other action.
//!
//! - `labeled` with a label that is a key of the policy's `request.labels` (compared
//!   exactly, as the policy spells it): a [`Shape::Label`] request. The reason is the PR
//!   body's reason line (see [`body_reason_lines`]); the scope is left `None` (the label
//!   maps to it).
//! - `labeled` with any other label: [`EventOutcome::NoRequest`] (the trailer is not looked
//!   for: adding an unrelated label must not start a request).
//! - any other action (`opened`, `synchronize`, `reopened`, `unlabeled`, ...): the
//!   [`Shape::Trailer`] request of the PR's head commit. Its message is not in the payload:
//!   with `head_commit_message`, the trailers decide (no request key -> `NoRequest`);
//!   without it, a trailer request with [`EventRequest::head_commit_pending`] set.
//!
//! Every shape takes the PR number from `pull_request.number` (which must equal the
//! top-level `number` when present), the head sha from `pull_request.head.sha`, and the
//! sender from `sender`.

use std::num::NonZeroU64;

use serde::Deserialize;
use serde_json::Value;

use super::json::{self, CommitSha};
use super::trailers;
use super::{EventError, EventOutcome, EventRequest, KeyValues, RequestKeys, Shape, key_matches};
use crate::facts::UserRef;

/// The PR actions that can start a trailer request: the PR was opened or reopened, or new
/// commits were pushed to it.
pub const TRAILER_ACTIONS: [&str; 3] = ["opened", "reopened", "synchronize"];

/// The parts of a `pull_request` / `pull_request_target` payload read here.
#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    /// The top-level copy of `pull_request.number`: must agree when present.
    number: Option<u64>,
    #[serde(deserialize_with = "json::object")]
    pull_request: PullRequest,
    /// The label added (`labeled`) or removed (`unlabeled`).
    #[serde(default, deserialize_with = "json::optional_object")]
    label: Option<Label>,
    #[serde(default, deserialize_with = "json::user")]
    sender: Option<UserRef>,
}

#[derive(Deserialize)]
struct PullRequest {
    /// A JSON integer of at least 1 (`7`, not `"7"`, `7.0`, `0` or `-7`).
    number: NonZeroU64,
    body: Option<String>,
    #[serde(deserialize_with = "json::object")]
    head: Head,
}

#[derive(Deserialize)]
struct Head {
    sha: CommitSha,
}

#[derive(Deserialize)]
struct Label {
    name: String,
}

/// Parses a `pull_request` / `pull_request_target` payload (see the module docs).
pub fn parse_pull_request(
    v: &Value,
    keys: &RequestKeys,
    head_commit_message: Option<&str>,
) -> Result<EventOutcome, EventError> {
    let event: PullRequestEvent = json::read(v)?;
    let number = event.pull_request.number.get();
    if let Some(top) = event.number
        && top != number
    {
        return Err(EventError::Inconsistent(
            "`number` differs from `pull_request.number`".into(),
        ));
    }
    let head_sha = event.pull_request.head.sha.into_string();
    let sender = event.sender;

    if event.action == "labeled" {
        let Some(Label { name }) = event.label else {
            return Err(EventError::Field("label".into()));
        };
        // SECURITY: exact comparison with the policy's spelling; the label name is never
        // echoed in `why` (untrusted text).
        if !keys.labels.contains(&name) {
            return Ok(EventOutcome::NoRequest {
                why: if keys.labels.is_empty() {
                    "a label was added, and the policy names no request labels (request.labels)"
                        .into()
                } else {
                    format!(
                        "the label added is not one of the policy's request labels ({})",
                        keys.labels.join(", ")
                    )
                },
            });
        }
        let mut req = EventRequest {
            label: Some(name),
            pr_number: Some(number),
            head_sha: Some(head_sha),
            sender,
            ..EventRequest::new(Shape::Label)
        };
        let body = event.pull_request.body.unwrap_or_default();
        let mut found = KeyValues::default();
        for value in body_reason_lines(&body, &keys.trailer) {
            found.push_reason(value);
        }
        found.apply_reason(&mut req, keys);
        return Ok(EventOutcome::Request(req));
    }

    // SECURITY: a trailer request is made by pushing a commit: only the actions that bring
    // a new head (or the PR itself) ask. `edited`, `unlabeled`, `assigned` and the rest can
    // be done by someone who never asked, and must not start a request in their name.
    if !TRAILER_ACTIONS.contains(&event.action.as_str()) {
        return Ok(EventOutcome::NoRequest {
            why: format!(
                "a pull request event with this action does not ask for access (a trailer \
                 request comes with one of: {})",
                TRAILER_ACTIONS.join(", ")
            ),
        });
    }
    let mut req = EventRequest {
        pr_number: Some(number),
        head_sha: Some(head_sha),
        sender,
        ..EventRequest::new(Shape::Trailer)
    };
    let Some(message) = head_commit_message else {
        req.head_commit_pending = true;
        return Ok(EventOutcome::Request(req));
    };
    let found = KeyValues::from_trailers(&trailers::parse(message), keys);
    if !found.present() {
        return Ok(EventOutcome::NoRequest {
            why: format!(
                "the head commit of the pull request has no `{}` or `{}` trailer",
                keys.trailer, keys.scope_trailer
            ),
        });
    }
    found.apply(&mut req, keys);
    Ok(EventOutcome::Request(req))
}

/// The values of the reason lines of a PR body, in order (two or more is ambiguous).
///
/// The rule, precisely:
/// 1. HTML comments (`<!-- ... -->`, an unterminated one running to the end) are removed
///    first: GitHub does not render them, and a reason reviewers cannot see does not count.
///    PR templates often hold a commented-out example line.
/// 2. The body is split into lines at `\n`; a trailing `\r` is removed (GitHub stores
///    bodies typed in the browser with `\r\n`).
/// 3. A line is a reason line when it starts, at its first byte (no indentation, quote or
///    list marker), with the reason key (`request.trailer`, ASCII case-insensitive), then
///    optional spaces or tabs, then `:`. Its value is the rest of the line with surrounding
///    whitespace trimmed; it may be empty.
///
/// Markdown is otherwise not interpreted (a line inside a fenced code block counts).
pub fn body_reason_lines(body: &str, key: &str) -> Vec<String> {
    strip_html_comments(body)
        .split('\n')
        .filter_map(|line| line_value(line.strip_suffix('\r').unwrap_or(line), key))
        .collect()
}

/// `Key: value` at the start of a line -> `value` (trimmed).
fn line_value(line: &str, key: &str) -> Option<String> {
    let prefix = line.get(..key.len())?;
    if !key_matches(prefix, key) {
        return None;
    }
    let rest = line.get(key.len()..)?.trim_start_matches([' ', '\t']);
    let value = rest.strip_prefix(':')?;
    Some(value.trim().to_owned())
}

fn strip_html_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 4..];
        match after.find("-->") {
            Some(end) => rest = &after[end + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

    fn keys() -> RequestKeys {
        RequestKeys {
            labels: vec!["prod-access".into(), "hotfix".into()],
            ..RequestKeys::default()
        }
    }

    fn payload(action: &str, label: Option<&str>, body: Option<&str>) -> Value {
        let mut v = json!({
            "action": action,
            "number": 7,
            "pull_request": {
                "number": 7,
                "body": body,
                "head": {"sha": SHA, "ref": "fix"},
            },
            "sender": {"login": "octocat", "id": 1, "type": "User"},
        });
        if let Some(l) = label {
            v["label"] = json!({"name": l});
        }
        v
    }

    fn parse(v: &Value, msg: Option<&str>) -> Result<EventOutcome, EventError> {
        parse_pull_request(v, &keys(), msg)
    }

    fn request(out: Result<EventOutcome, EventError>) -> EventRequest {
        match out {
            Ok(EventOutcome::Request(r)) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn label_in_policy_is_a_label_request() {
        let v = payload(
            "labeled",
            Some("prod-access"),
            Some("Fix.\r\n\r\nProd-Access: INC-42 db\r\n"),
        );
        let r = request(parse(&v, None));
        assert_eq!(
            r,
            EventRequest {
                reason: Some("INC-42 db".into()),
                label: Some("prod-access".into()),
                pr_number: Some(7),
                head_sha: Some(SHA.into()),
                sender: Some(UserRef::new("octocat", Some(1))),
                ..EventRequest::new(Shape::Label)
            }
        );
    }

    #[test]
    fn label_shape_ignores_the_head_commit_message() {
        let v = payload("labeled", Some("hotfix"), None);
        let r = request(parse(
            &v,
            Some("x\n\nProd-Access: from trailer\nProd-Access-Scope: s"),
        ));
        assert_eq!((r.shape, r.reason, r.scope), (Shape::Label, None, None));
        assert!(!r.head_commit_pending);
    }

    #[test]
    fn labels_that_do_not_ask() {
        for label in ["bug", "Prod-Access", "prod-access ", "prod‐access"] {
            let v = payload("labeled", Some(label), Some("Prod-Access: x"));
            match parse(&v, Some("x\n\nProd-Access: y")) {
                Ok(EventOutcome::NoRequest { why }) => {
                    assert!(why.contains("prod-access, hotfix"), "{why}");
                    assert!(!why.contains(label) || label == "prod-access ", "{why}");
                }
                other => panic!("{label:?}: {other:?}"),
            }
        }
        let v = payload("labeled", Some("prod-access"), None);
        let none = parse_pull_request(&v, &RequestKeys::default(), None);
        assert!(matches!(none, Ok(EventOutcome::NoRequest { .. })));
    }

    #[test]
    fn body_reason_table() {
        let k = "Prod-Access";
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("Prod-Access: INC-1", &["INC-1"]),
            ("prod-access:INC-1", &["INC-1"]),
            ("PROD-ACCESS \t :  INC-1  ", &["INC-1"]),
            ("intro\r\nProd-Access: INC-1\r\nmore", &["INC-1"]),
            ("Prod-Access:", &[""]),
            ("Prod-Access: a\nProd-Access: b", &["a", "b"]),
            ("Prod-Access: a\nProd-Access: a", &["a", "a"]),
            (" Prod-Access: indented", &[]),
            ("> Prod-Access: quoted", &[]),
            ("- Prod-Access: listed", &[]),
            ("**Prod-Access:** bold", &[]),
            ("Prod-Access-Scope: db", &[]),
            ("Prod-Access INC-1", &[]),
            ("Prod‐Access: U+2010 hyphen", &[]),
            ("Prod-Acceſſ: long s", &[]),
            (
                "Prod-Access: shown\n<!--\nProd-Access: hidden\n-->",
                &["shown"],
            ),
            (
                "<!-- Prod-Access: template --> \nProd-Access: real",
                &["real"],
            ),
            (
                "Prod-Access: real\n<!-- unterminated\nProd-Access: hidden",
                &["real"],
            ),
            (
                "<!---->Prod-Access: after an empty comment",
                &["after an empty comment"],
            ),
            ("Prod-Access: a <!-- b --> c", &["a  c"]),
            ("Pr", &[]),
            ("é", &[]),
        ];
        for (body, want) in cases {
            assert_eq!(body_reason_lines(body, k), *want, "{body:?}");
        }
        assert!(body_reason_lines("Prod-Access: x\n: y", "").is_empty());
    }

    #[test]
    fn duplicated_body_line_is_ambiguous() {
        let v = payload(
            "labeled",
            Some("prod-access"),
            Some("Prod-Access: INC-1\nprod-access: INC-2"),
        );
        let r = request(parse(&v, None));
        assert_eq!(r.reason, None);
        assert_eq!(
            r.ambiguous,
            vec![(
                "Prod-Access".to_string(),
                vec!["INC-1".to_string(), "INC-2".to_string()]
            )]
        );
    }

    #[test]
    fn long_and_odd_reasons_are_kept_verbatim() {
        let reason = format!("INC-1 \u{1b}[31m\u{202e}\0 {}", "x".repeat(100_000));
        let v = payload(
            "labeled",
            Some("prod-access"),
            Some(&format!("Prod-Access: {reason}")),
        );
        assert_eq!(request(parse(&v, None)).reason, Some(reason));
    }

    #[test]
    fn actions_that_bring_a_head_do_not_ask_otherwise() {
        let msg = "Fix the index\n\nbody\n\nProd-Access: INC-9\nProd-Access-Scope: db-read\n";
        for action in [
            "unlabeled",
            "edited",
            "closed",
            "assigned",
            "review_requested",
        ] {
            let v = payload(action, Some("prod-access"), Some("Prod-Access: body"));
            for message in [None, Some(msg)] {
                assert!(
                    matches!(parse(&v, message), Ok(EventOutcome::NoRequest { .. })),
                    "{action}"
                );
            }
        }
    }

    #[test]
    fn new_heads_are_the_trailer_shape() {
        for action in TRAILER_ACTIONS {
            let v = payload(action, Some("prod-access"), Some("Prod-Access: body"));
            let pending = request(parse(&v, None));
            assert_eq!(
                pending,
                EventRequest {
                    pr_number: Some(7),
                    head_sha: Some(SHA.into()),
                    sender: Some(UserRef::new("octocat", Some(1))),
                    head_commit_pending: true,
                    ..EventRequest::new(Shape::Trailer)
                },
                "{action}"
            );

            let msg = "Fix the index\n\nbody\n\nProd-Access: INC-9\nProd-Access-Scope: db-read\n";
            let r = request(parse(&v, Some(msg)));
            assert_eq!(
                (
                    r.shape,
                    r.reason.as_deref(),
                    r.scope.as_deref(),
                    r.head_commit_pending
                ),
                (Shape::Trailer, Some("INC-9"), Some("db-read"), false),
                "{action}"
            );

            let none = parse(&v, Some("Fix the index\n\nSigned-off-by: A <a@b.c>"));
            assert!(
                matches!(none, Ok(EventOutcome::NoRequest { .. })),
                "{action}"
            );
        }
    }

    #[test]
    fn trailer_keys_case_and_duplicates() {
        let v = payload("synchronize", None, None);
        let r = request(parse(&v, Some("x\n\nprod-access: a\nPROD-ACCESS-SCOPE: s")));
        assert_eq!(
            (r.reason.as_deref(), r.scope.as_deref()),
            (Some("a"), Some("s"))
        );

        let r = request(parse(
            &v,
            Some("x\n\nProd-Access: a\nProd-Access: b\nProd-Access-Scope: s"),
        ));
        assert_eq!((r.reason, r.scope.as_deref()), (None, Some("s")));
        assert_eq!(
            r.ambiguous,
            vec![("Prod-Access".into(), vec!["a".into(), "b".into()])]
        );

        let r = request(parse(
            &v,
            Some("x\n\nProd-Access-Scope: s\nProd-Access-Scope: t"),
        ));
        assert_eq!(
            r.ambiguous,
            vec![("Prod-Access-Scope".into(), vec!["s".into(), "t".into()])]
        );

        // A scope trailer alone is a request (with no reason: denied later, not ignored).
        let r = request(parse(&v, Some("x\n\nProd-Access-Scope: s")));
        assert_eq!((r.reason, r.scope.as_deref()), (None, Some("s")));
        // An empty value: a request without a reason.
        let r = request(parse(&v, Some("x\n\nProd-Access:")));
        assert_eq!((r.reason, r.scope), (None, None));
        // Homoglyph keys never match.
        for msg in [
            "x\n\nProd‐Access: a",
            "x\n\nProd-Acceſſ: a",
            "x\n\nProd-Access\u{200b}: a",
        ] {
            assert!(
                matches!(parse(&v, Some(msg)), Ok(EventOutcome::NoRequest { .. })),
                "{msg:?}"
            );
        }
    }

    #[test]
    fn wrong_types_name_their_path() {
        let base = payload("labeled", Some("prod-access"), None);
        let cases: &[(&str, Value, &str)] = &[
            ("/action", json!(5), "action"),
            ("/pull_request", json!("7"), "pull_request"),
            ("/pull_request", json!(null), "pull_request"),
            ("/pull_request/number", json!("7"), "pull_request.number"),
            ("/pull_request/number", json!(-7), "pull_request.number"),
            ("/pull_request/number", json!(7.5), "pull_request.number"),
            ("/pull_request/number", json!(0), "pull_request.number"),
            ("/pull_request/head", json!([]), "pull_request.head"),
            (
                "/pull_request/head/sha",
                json!(null),
                "pull_request.head.sha",
            ),
            (
                "/pull_request/head/sha",
                json!("main"),
                "pull_request.head.sha",
            ),
            (
                "/pull_request/head/sha",
                json!(SHA.to_uppercase()),
                "pull_request.head.sha",
            ),
            (
                "/pull_request/body",
                json!({"text": "x"}),
                "pull_request.body",
            ),
            ("/label", json!("prod-access"), "label"),
            ("/label/name", json!(["prod-access"]), "label.name"),
            ("/sender", json!("octocat"), "sender"),
            ("/sender/login", json!(null), "sender.login"),
            ("/sender/id", json!("1"), "sender.id"),
            ("/sender/type", json!(true), "sender.type"),
            // Objects only: an array is not read by position.
            (
                "/pull_request",
                json!([7, null, {"sha": SHA}]),
                "pull_request",
            ),
            ("/pull_request/head", json!([SHA]), "pull_request.head"),
            ("/label", json!(["prod-access"]), "label"),
            ("/sender", json!(["octocat", 1, "User"]), "sender"),
        ];
        for (pointer, bad, path) in cases {
            let mut v = base.clone();
            match v.pointer_mut(pointer) {
                Some(slot) => *slot = bad.clone(),
                None => panic!("{pointer}"),
            }
            match parse(&v, None) {
                Err(EventError::Field(p)) => assert_eq!(p, *path, "{pointer}"),
                other => panic!("{pointer}: {other:?}"),
            }
        }
        let mut v = base.clone();
        v["number"] = json!(8);
        assert!(matches!(parse(&v, None), Err(EventError::Inconsistent(_))));
        assert!(matches!(
            parse(&json!([base]), None),
            Err(EventError::NotAnObject)
        ));
        assert!(matches!(
            parse(&json!(null), None),
            Err(EventError::NotAnObject)
        ));
    }

    #[test]
    fn missing_fields_name_their_path() {
        let base = payload("labeled", Some("prod-access"), None);
        for (pointer, key, path) in [
            ("", "action", "action"),
            ("", "pull_request", "pull_request"),
            ("", "label", "label"),
            ("/pull_request", "number", "pull_request.number"),
            ("/pull_request", "head", "pull_request.head"),
            ("/pull_request/head", "sha", "pull_request.head.sha"),
            ("/label", "name", "label.name"),
            ("/sender", "login", "sender.login"),
        ] {
            let mut v = base.clone();
            v.pointer_mut(pointer)
                .and_then(Value::as_object_mut)
                .map(|o| o.remove(key));
            match parse(&v, None) {
                Err(EventError::Field(p)) => assert_eq!(p, path, "{pointer}/{key}"),
                other => panic!("{pointer}/{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn bot_sender_and_missing_optional_fields() {
        let mut v = payload("opened", None, None);
        v["sender"] = json!({"login": "renovate[bot]", "id": 29139614, "type": "Bot"});
        v.as_object_mut().map(|o| o.remove("number"));
        let r = request(parse(&v, None));
        assert_eq!(r.sender.map(|s| s.bot), Some(true));
        v["sender"] = json!(null);
        assert_eq!(request(parse(&v, None)).sender, None);
    }
}
