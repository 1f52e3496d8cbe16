//! Strict JSON reading for event payloads.
//!
//! The payload is parsed once into a [`serde_json::Value`] that refuses duplicate object
//! keys, then read into the typed structs of each event module (`#[derive(Deserialize)]`,
//! GitHub's webhook shapes, only the fields prod-access reads) by [`read`], which reports
//! the JSON path of a missing or mistyped field (`pull_request.number`). Nothing here panics
//! on any input.
//!
//! Conventions: an optional field (`Option`) that is absent or `null` is `None`; a field of
//! the wrong type is always an error, never `None`; fields a struct does not name are
//! ignored (GitHub adds fields); a struct is read from a JSON object only ([`object`]).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::EventError;
use crate::facts::UserRef;

/// Parses a payload, refusing duplicate object keys.
///
/// SECURITY: `serde_json::Value` silently keeps the last of two equal keys, while other
/// readers may keep the first: a payload with `"label": ...` twice could mean one thing
/// to us and another to the next reader. GitHub never sends duplicates, so we refuse
/// them. serde_json's recursion limit (128) stops deep nesting before the stack does.
pub(crate) fn parse_strict(payload: &[u8]) -> Result<Value, EventError> {
    crate::strict_json::parse(payload).map_err(|e| EventError::Json(e.to_string()))
}

/// Reads a parsed payload, which must be a JSON object, into `T`.
///
/// A missing or mistyped field is [`EventError::Field`] with its path. The path is made of
/// the struct's own field names only (serde reads no other key), so it never holds payload
/// text; serde's message, which may quote a value, is dropped.
pub(crate) fn read<'de, T: Deserialize<'de>>(v: &'de Value) -> Result<T, EventError> {
    if !v.is_object() {
        return Err(EventError::NotAnObject);
    }
    serde_path_to_error::deserialize(v).map_err(|e| EventError::Field(field_path(&e)))
}

/// `parent.key` of the field an error is about. serde reports a missing field at the
/// object that lacks it (`missing field `number``, our own field name): the name is added.
fn field_path(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let mut keys: Vec<&str> = e
        .path()
        .iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let message = e.inner().to_string();
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        keys.push(missing);
    }
    keys.join(".")
}

/// `deserialize_with` for a struct field: the value must be a JSON object.
///
/// SECURITY: a derived struct also accepts an array, its items taken as the fields in
/// order; `"pull_request": [7, ...]` is not what GitHub sends, and is a type error.
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(ObjectVisitor(PhantomData))
}

/// [`object`] for an optional field (with `#[serde(default)]`): absent or `null` -> `None`.
pub(crate) fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Object<T>(T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            object(deserializer).map(Object)
        }
    }

    Ok(Option::<Object<T>>::deserialize(deserializer)?.map(|Object(t)| t))
}

/// A GitHub user object as webhooks send it (`sender`).
#[derive(serde::Deserialize)]
struct User {
    login: String,
    id: Option<u64>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `deserialize_with` for an optional user field (with `#[serde(default)]`): `login` is
/// required, `id` and `type` optional; absent or `null` -> `None`.
pub(crate) fn user<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<UserRef>, D::Error> {
    Ok(optional_object::<D, User>(deserializer)?.map(|u| UserRef {
        bot: u.kind.as_deref() == Some("Bot"),
        login: u.login,
        id: u.id,
    }))
}

/// A commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits, as GitHub writes them.
pub(crate) fn is_commit_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A string field that must be a commit id (see [`is_commit_sha`]).
#[derive(Debug, serde::Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct CommitSha(String);

impl TryFrom<String> for CommitSha {
    type Error = &'static str;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if is_commit_sha(&s) {
            Ok(Self(s))
        } else {
            Err("not a commit id (40 or 64 lower-case hex digits)")
        }
    }
}

impl CommitSha {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
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

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Root {
        #[serde(deserialize_with = "object")]
        pr: Pr,
        #[serde(default, deserialize_with = "optional_object")]
        nope: Option<Pr>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Pr {
        number: u64,
        head: CommitSha,
        n: String,
        missing: String,
        opt: Option<String>,
        absent: Option<u64>,
    }

    fn path_of(v: Value) -> String {
        match read::<Root>(&v) {
            Err(EventError::Field(p)) => p,
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn reading_names_the_path() {
        let sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
        let good = || {
            json!({"pr": {"number": 2, "head": sha, "n": "x", "missing": "y", "opt": null,
                          "other": [1, {"x": null}]},
                   "more": true})
        };
        let Ok(root) = read::<Root>(&good()) else {
            panic!("good")
        };
        assert_eq!(root.pr.head.as_str(), sha);
        assert_eq!((root.pr.opt, root.pr.absent), (None, None));
        assert!(root.nope.is_none());

        let cases = [
            ("/pr/number", json!("2"), "pr.number"),
            ("/pr/head", json!("abc"), "pr.head"),
            ("/pr/n", json!(null), "pr.n"),
            ("/pr/opt", json!(1), "pr.opt"),
            ("/pr", json!(null), "pr"),
            ("/pr", json!([2, sha, "x", "y", null, null]), "pr"),
        ];
        for (pointer, bad, path) in cases {
            let mut v = good();
            match v.pointer_mut(pointer) {
                Some(slot) => *slot = bad,
                None => panic!("{pointer}"),
            }
            assert_eq!(path_of(v), path, "{pointer}");
        }
        let mut v = good();
        v["pr"].as_object_mut().map(|o| o.remove("missing"));
        assert_eq!(path_of(v), "pr.missing");
        let mut v = good();
        v["nope"] = json!({"number": 1});
        assert_eq!(path_of(v), "nope.head");
        let mut v = good();
        v["nope"] = json!("x");
        assert_eq!(path_of(v), "nope");
        assert_eq!(path_of(json!({})), "pr");
        assert!(matches!(
            read::<Root>(&json!([good()])),
            Err(EventError::NotAnObject)
        ));
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
            assert_eq!(CommitSha::try_from(s.to_owned()).is_ok(), ok, "{s}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Users {
        #[serde(default, deserialize_with = "user")]
        sender: Option<UserRef>,
    }

    fn sender(v: Value) -> Result<Option<UserRef>, EventError> {
        read::<Users>(&json!({ "sender": v })).map(|u| u.sender)
    }

    #[test]
    fn users() {
        let bot = sender(json!({"login": "dependabot[bot]", "id": 49699333, "type": "Bot"}));
        assert_eq!(
            bot.ok().flatten(),
            Some(UserRef {
                login: "dependabot[bot]".into(),
                id: Some(49699333),
                bot: true
            })
        );
        let human = sender(json!({"login": "octocat", "id": 1, "type": "User"}));
        assert_eq!(
            human.ok().flatten().map(|u| (u.bot, u.id)),
            Some((false, Some(1)))
        );
        let bare = sender(json!({"login": "octocat"}));
        assert_eq!(bare.ok().flatten(), Some(UserRef::new("octocat", None)));
        for (bad, path) in [
            (json!({"login": "x", "id": "1"}), "sender.id"),
            (json!({"login": "x", "id": -1}), "sender.id"),
            (json!({"login": "x", "type": 1}), "sender.type"),
            (json!({"id": 1}), "sender.login"),
            (json!(["x", 1, "User"]), "sender"),
            (json!("x"), "sender"),
        ] {
            assert!(
                matches!(sender(bad.clone()), Err(EventError::Field(p)) if p == path),
                "{bad}"
            );
        }
        assert!(matches!(sender(json!(null)), Ok(None)));
        assert!(matches!(
            read::<Users>(&json!({})),
            Ok(Users { sender: None })
        ));
    }
}
