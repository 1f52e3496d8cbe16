//! `workflow_dispatch` events: the dispatch shape.
//!
//! The request comes from the dispatch's `inputs` (absent or `null` when the workflow
//! declares none):
//! - `reason`, `scope`: strings, surrounding whitespace trimmed, empty -> `None`; any other
//!   JSON type is an error (`inputs.reason`).
//! - `pull-request` (or `pull_request`): the PR whose approvals count, see
//!   [`parse_pr_number`]. If both spellings are given with different numbers, the request
//!   is ambiguous (`pull-request`, both values) and `pr_number` is `None`.
//!
//! A dispatch is always a request, even with no `reason` and no `scope`: the workflow ran
//! prod-access on purpose, and the reason and scope may still come from the action's own
//! `reason`/`scope` inputs (applied later, in `decide::resolve_request`). A dispatch left
//! without a reason is then denied (`reason-present`) rather than skipped, so a person who
//! pressed "Run workflow" sees why nothing was granted.
//!
//! The payload names no commit (only `ref`): `head_sha` is `None`; the sha the run builds
//! is the token's.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde_json::Value;

use super::json;
use super::{EventError, EventOutcome, EventRequest, Shape};
use crate::facts::UserRef;

/// The parts of a `workflow_dispatch` payload read here.
#[derive(Deserialize)]
struct DispatchEvent {
    /// Absent or `null` when the workflow declares no inputs.
    #[serde(default, deserialize_with = "json::optional_object")]
    inputs: Option<Inputs>,
    #[serde(default, deserialize_with = "json::user")]
    sender: Option<UserRef>,
}

/// The inputs prod-access reads; a workflow's other inputs are ignored.
#[derive(Default, Deserialize)]
struct Inputs {
    reason: Option<String>,
    scope: Option<String>,
    #[serde(rename = "pull-request", default, deserialize_with = "pr_input")]
    pull_request_dashed: Option<u64>,
    #[serde(rename = "pull_request", default, deserialize_with = "pr_input")]
    pull_request_snake: Option<u64>,
}

/// Parses a `workflow_dispatch` payload (see the module docs).
pub fn parse_dispatch(v: &Value) -> Result<EventOutcome, EventError> {
    let event: DispatchEvent = json::read(v)?;
    let inputs = event.inputs.unwrap_or_default();
    let mut req = EventRequest {
        reason: text_input(inputs.reason),
        scope: text_input(inputs.scope),
        sender: event.sender,
        ..EventRequest::new(Shape::Dispatch)
    };
    req.pr_number = match (inputs.pull_request_dashed, inputs.pull_request_snake) {
        (Some(a), Some(b)) if a != b => {
            req.ambiguous
                .push(("pull-request".into(), vec![a.to_string(), b.to_string()]));
            None
        }
        (a, b) => a.or(b),
    };
    Ok(EventOutcome::Request(req))
}

/// A string input, trimmed; absent, `null` or blank -> `None`.
fn text_input(value: Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `deserialize_with` for a PR-number input (with `#[serde(default)]`): a string (GitHub
/// sends every non-boolean input as one) read by [`parse_pr_number`], or a JSON integer of
/// at least 1; absent, `null` or `""` -> `None`; anything else is an error.
fn pr_input<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct PrInput;

    impl<'a> Visitor<'a> for PrInput {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a pull request number")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            if s.is_empty() {
                return Ok(None);
            }
            // The input is not quoted back: the error says only what was wanted.
            parse_pr_number(s)
                .map(Some)
                .ok_or_else(|| E::invalid_value(Unexpected::Other("string"), &self))
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            match n {
                0 => Err(E::invalid_value(Unexpected::Unsigned(n), &self)),
                n => Ok(Some(n)),
            }
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            match u64::try_from(n) {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::invalid_value(Unexpected::Signed(n), &self)),
            }
        }
    }

    deserializer.deserialize_any(PrInput)
}

/// A PR number as a dispatch input gives it: ASCII digits only (no sign, space, `#`,
/// exponent or leading zero), at least 1, at most 19 digits (so it fits a `u64`).
///
/// SECURITY: strict on purpose: `"12abc"` or `"#12"` is an error, never PR 12.
pub fn parse_pr_number(s: &str) -> Option<u64> {
    let digits_only = !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dispatch(inputs: Value) -> Value {
        json!({
            "inputs": inputs,
            "ref": "refs/heads/main",
            "sender": {"login": "octocat", "id": 1, "type": "User"},
            "workflow": ".github/workflows/prod-access.yml",
        })
    }

    fn request(v: &Value) -> EventRequest {
        match parse_dispatch(v) {
            Ok(EventOutcome::Request(r)) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn inputs_become_the_request() {
        let r = request(&dispatch(json!({
            "reason": "  INC-5 rotate keys ",
            "scope": "db-read",
            "pull-request": "42",
            "dry-run": true,
        })));
        assert_eq!(
            r,
            EventRequest {
                reason: Some("INC-5 rotate keys".into()),
                scope: Some("db-read".into()),
                pr_number: Some(42),
                sender: Some(UserRef::new("octocat", Some(1))),
                ..EventRequest::new(Shape::Dispatch)
            }
        );
    }

    #[test]
    fn empty_inputs_are_a_request_without_reason() {
        for inputs in [
            json!({}),
            json!(null),
            json!({"reason": "", "scope": " ", "pull-request": ""}),
        ] {
            let r = request(&dispatch(inputs.clone()));
            assert_eq!(
                (r.reason, r.scope, r.pr_number),
                (None, None, None),
                "{inputs}"
            );
            assert_eq!(r.shape, Shape::Dispatch);
        }
        let mut no_inputs = dispatch(json!({}));
        no_inputs.as_object_mut().map(|o| o.remove("inputs"));
        assert_eq!(request(&no_inputs).reason, None);
    }

    #[test]
    fn pr_number_spellings() {
        let cases = [
            (json!({"pull_request": "7"}), Some(7), 0),
            (json!({"pull-request": 7}), Some(7), 0),
            (
                json!({"pull-request": "7", "pull_request": "7"}),
                Some(7),
                0,
            ),
            (json!({"pull-request": "7", "pull_request": ""}), Some(7), 0),
            (json!({"pull-request": "7", "pull_request": "8"}), None, 1),
        ];
        for (inputs, want, ambiguous) in cases {
            let r = request(&dispatch(inputs.clone()));
            assert_eq!(
                (r.pr_number, r.ambiguous.len()),
                (want, ambiguous),
                "{inputs}"
            );
        }
    }

    #[test]
    fn pr_number_is_strict() {
        for (s, want) in [
            ("1", Some(1)),
            ("42", Some(42)),
            ("9223372036854775807", Some(9_223_372_036_854_775_807)),
            ("0", None),
            ("007", None),
            ("-1", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("#1", None),
            ("1e3", None),
            ("1.0", None),
            ("12abc", None),
            ("0x10", None),
            ("١٢", None),
            ("99999999999999999999", None),
            ("", None),
        ] {
            assert_eq!(parse_pr_number(s), want, "{s:?}");
        }
    }

    #[test]
    fn bad_inputs_name_their_path() {
        let cases = [
            (json!({"pull-request": "12abc"}), "inputs.pull-request"),
            (json!({"pull-request": "0"}), "inputs.pull-request"),
            (json!({"pull_request": -3}), "inputs.pull_request"),
            (json!({"pull_request": 3.5}), "inputs.pull_request"),
            (json!({"pull-request": true}), "inputs.pull-request"),
            (json!({"pull-request": ["1"]}), "inputs.pull-request"),
            (json!({"reason": true}), "inputs.reason"),
            (json!({"reason": 5}), "inputs.reason"),
            (json!({"scope": {"name": "db"}}), "inputs.scope"),
            (json!("reason=x"), "inputs"),
            (json!([]), "inputs"),
            (json!(["why", "db-read", "7"]), "inputs"),
        ];
        for (inputs, path) in cases {
            match parse_dispatch(&dispatch(inputs.clone())) {
                Err(EventError::Field(p)) => assert_eq!(p, path, "{inputs}"),
                other => panic!("{inputs}: {other:?}"),
            }
        }
        let mut v = dispatch(json!({}));
        v["sender"] = json!({"login": 1});
        assert!(matches!(parse_dispatch(&v), Err(EventError::Field(p)) if p == "sender.login"));
        assert!(matches!(
            parse_dispatch(&json!(1)),
            Err(EventError::NotAnObject)
        ));
    }
}
