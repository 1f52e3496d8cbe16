//! Strict JSON reading for event payloads.
//!
//! The payload is parsed into a [`serde_json::Value`] that refuses duplicate object keys,
//! then read with typed accessors that report the JSON path of a missing or mistyped field
//! (`pull_request.number`). Nothing here panics on any input.
//!
//! Conventions: an optional field that is absent or `null` is `None`; a field of the wrong
//! type is always an error, never `None`.

use serde_json::{Map, Value};

use super::EventError;
use crate::forge::UserRef;

/// Parses a payload, refusing duplicate object keys.
///
/// SECURITY: `serde_json::Value` silently keeps the last of two equal keys, while other
/// readers may keep the first: a payload with `"label": ...` twice could mean one thing
/// to us and another to the next reader. GitHub never sends duplicates, so we refuse
/// them. serde_json's recursion limit (128) stops deep nesting before the stack does.
pub(crate) fn parse_strict(payload: &[u8]) -> Result<Value, EventError> {
    crate::strict_json::parse(payload).map_err(|e| EventError::Json(e.to_string()))
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The payload's top level, which must be an object.
pub(crate) fn root(v: &Value) -> Result<&Map<String, Value>, EventError> {
    v.as_object().ok_or(EventError::NotAnObject)
}

/// A field that is absent or `null` is `None`.
fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn field_err(parent: &str, key: &str) -> EventError {
    EventError::Field(join(parent, key))
}

pub(crate) fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, EventError> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_object()
            .map(Some)
            .ok_or_else(|| field_err(parent, key)),
    }
}

pub(crate) fn req_object<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a Map<String, Value>, EventError> {
    opt_object(obj, parent, key)?.ok_or_else(|| field_err(parent, key))
}

pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<&'a str>, EventError> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| field_err(parent, key)),
    }
}

pub(crate) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a str, EventError> {
    opt_str(obj, parent, key)?.ok_or_else(|| field_err(parent, key))
}

pub(crate) fn opt_bool(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<bool>, EventError> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or_else(|| field_err(parent, key)),
    }
}

/// A JSON unsigned integer (`12`, not `"12"`, `12.0` or `-1`).
pub(crate) fn opt_u64(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<u64>, EventError> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| field_err(parent, key)),
    }
}

pub(crate) fn req_u64(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<u64, EventError> {
    opt_u64(obj, parent, key)?.ok_or_else(|| field_err(parent, key))
}

/// A pull-request number: a JSON integer of at least 1.
pub(crate) fn req_pr_number(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<u64, EventError> {
    match req_u64(obj, parent, key)? {
        0 => Err(field_err(parent, key)),
        n => Ok(n),
    }
}

/// A commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits, as GitHub writes them.
pub(crate) fn is_commit_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A required commit id (see [`is_commit_sha`]).
pub(crate) fn req_sha(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<String, EventError> {
    let s = req_str(obj, parent, key)?;
    if is_commit_sha(s) {
        Ok(s.to_owned())
    } else {
        Err(field_err(parent, key))
    }
}

/// A GitHub user object (`login`, `id`, `type`), absent or `null` -> `None`.
pub(crate) fn opt_user(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<UserRef>, EventError> {
    let path = join(parent, key);
    let Some(user) = opt_object(obj, parent, key)? else {
        return Ok(None);
    };
    let login = req_str(user, &path, "login")?;
    let id = opt_u64(user, &path, "id")?;
    let kind = opt_str(user, &path, "type")?;
    Ok(Some(UserRef {
        login: login.to_owned(),
        id,
        bot: kind == Some("Bot"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_parse_accepts_plain_json() {
        let v = parse_strict(br#"{"a": [1, -2, 3.5, "x", null, true], "b": {"c": {}}}"#);
        assert_eq!(
            v.ok(),
            Some(json!({"a": [1, -2, 3.5, "x", null, true], "b": {"c": {}}}))
        );
    }

    #[test]
    fn strict_parse_refuses_bad_input() {
        let deep = "[".repeat(100_000);
        let cases: &[(&str, &[u8])] = &[
            ("empty", b""),
            ("whitespace", b"  \n"),
            ("truncated", br#"{"action": "labeled", "pull_"#),
            ("trailing garbage", br#"{} {}"#),
            ("duplicate key", br#"{"a": 1, "a": 2}"#),
            (
                "nested duplicate key",
                br#"{"x": {"label": 1, "label": 2}}"#,
            ),
            ("non-UTF-8 in a string", b"{\"a\": \"\xff\xfe\"}"),
            ("non-UTF-8 outside a string", b"\xff{}"),
            ("lone surrogate escape", br#"{"a": "\ud800"}"#),
            ("deep nesting", deep.as_bytes()),
        ];
        for (name, input) in cases {
            assert!(
                matches!(parse_strict(input), Err(EventError::Json(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn duplicate_key_error_does_not_echo_the_key() {
        let Err(EventError::Json(msg)) = parse_strict(br#"{"::warning::x": 1, "::warning::x": 2}"#)
        else {
            panic!("expected a JSON error");
        };
        assert!(!msg.contains("::"), "{msg}");
    }

    #[test]
    fn accessors_name_the_path() {
        let v = json!({"pr": {"number": "2", "head": {"sha": "abc"}, "n": null}});
        let Some(root) = v.as_object() else {
            panic!("object")
        };
        let pr = req_object(root, "", "pr");
        let Ok(pr) = pr else { panic!("pr") };
        let cases = [
            (req_u64(pr, "pr", "number").err(), "pr.number"),
            (req_sha(pr, "pr", "head").err(), "pr.head"),
            (req_str(pr, "pr", "n").err(), "pr.n"),
            (req_str(pr, "pr", "missing").err(), "pr.missing"),
            (req_object(root, "", "nope").err(), "nope"),
        ];
        for (err, path) in cases {
            match err {
                Some(EventError::Field(p)) => assert_eq!(p, path),
                other => panic!("{path}: {other:?}"),
            }
        }
        assert!(matches!(opt_str(pr, "pr", "n"), Ok(None)));
        assert!(matches!(opt_u64(pr, "pr", "absent"), Ok(None)));
    }

    #[test]
    fn commit_sha_shape() {
        for (s, ok) in [
            ("ec26c3e57ca3a959ca5aad62de7213c562f8c821", true),
            (&"a".repeat(64)[..], true),
            ("EC26C3E57CA3A959CA5AAD62DE7213C562F8C821", false),
            ("ec26c3e", false),
            ("ec26c3e57ca3a959ca5aad62de7213c562f8c82g", false),
            ("", false),
        ] {
            assert_eq!(is_commit_sha(s), ok, "{s}");
        }
    }

    #[test]
    fn users() {
        let v = json!({
            "sender": {"login": "dependabot[bot]", "id": 49699333, "type": "Bot"},
            "human": {"login": "octocat", "id": 1, "type": "User"},
            "bad": {"login": "x", "id": "1"},
            "gone": null
        });
        let Some(root) = v.as_object() else {
            panic!("object")
        };
        let bot = opt_user(root, "", "sender").ok().flatten();
        assert_eq!(
            bot,
            Some(UserRef {
                login: "dependabot[bot]".into(),
                id: Some(49699333),
                bot: true
            })
        );
        let human = opt_user(root, "", "human").ok().flatten();
        assert_eq!(human.map(|u| (u.bot, u.id)), Some((false, Some(1))));
        assert!(matches!(opt_user(root, "", "bad"), Err(EventError::Field(p)) if p == "bad.id"));
        assert!(matches!(opt_user(root, "", "gone"), Ok(None)));
    }
}
