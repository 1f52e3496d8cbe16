//! Reading the request out of the event.
//!
//! Pure functions from the event payload (and, for the trailer shape, the head commit's
//! message) to an [`EventRequest`]: the three shapes of contract §3. The event file is a
//! hint: every fact it gives is read again from the forge before a decision.
//!
//! | event | shape | module |
//! | --- | --- | --- |
//! | `pull_request`, `pull_request_target` `labeled` with a policy label | label | [`label`] |
//! | `pull_request`, `pull_request_target` `opened`, `reopened`, `synchronize` | trailer | [`label`] |
//! | `pull_request`, `pull_request_target`, any other action | no request | [`label`] |
//! | `push` | trailer (head commit only) | [`push`] |
//! | `workflow_dispatch` | dispatch | [`dispatch`] |
//! | anything else (`pull_request_review`, `schedule`, ...) | [`EventError::UnsupportedEvent`] | |
//!
//! Untrusted text (reasons, scopes, labels, logins) is kept verbatim here, whatever its
//! length or bytes: escaping and truncation happen where it is printed. Memory stays
//! bounded by [`MAX_EVENT_BYTES`]: the payload is refused above it before it is parsed,
//! and nothing here copies more than the payload holds. `why` texts of
//! [`EventOutcome::NoRequest`] and error messages never contain text from the payload.

pub mod dispatch;
mod json;
pub mod label;
pub mod push;
pub mod trailers;

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::facts::UserRef;
use trailers::Trailer;

/// Which of the three request shapes an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// A PR label mapped to a scope (`pull_request_target`/`pull_request` `labeled`).
    Label,
    /// A `Prod-Access:` trailer in the head commit (`push`, or any PR event).
    Trailer,
    /// A `workflow_dispatch` with a `reason` input.
    Dispatch,
}

/// The request as the event describes it (untrusted hints, checked later against the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRequest {
    pub shape: Shape,
    /// The reason, if the event carries one (PR body line, trailer, dispatch input).
    pub reason: Option<String>,
    /// An explicit scope name (scope trailer, dispatch input `scope`).
    pub scope: Option<String>,
    /// The label that asked (label shape).
    pub label: Option<String>,
    /// The PR whose approvals count, where the event names one.
    pub pr_number: Option<u64>,
    /// The head sha the event names (PR head, or the pushed head commit).
    pub head_sha: Option<String>,
    /// The event's `sender` (a hint; the requester is the token's actor).
    pub sender: Option<UserRef>,
    /// Request keys that appear more than once (`Prod-Access: a` and `Prod-Access: b`):
    /// `(key, values)`. Ambiguous requests are denied, naming every value. The key is
    /// spelled as the policy spells it (`Prod-Access`, or `pull-request` for a dispatch that
    /// names two different PRs); the values are verbatim (trimmed). When a key is ambiguous
    /// its field (`reason`, `scope`, `pr_number`) is `None`.
    pub ambiguous: Vec<(String, Vec<String>)>,
    /// Trailer shape on a `pull_request`/`pull_request_target` event parsed without the
    /// head commit's message (`head_commit_message: None`): the trailers were **not looked
    /// for**, so `reason`, `scope` and `ambiguous` are empty for that reason and say nothing.
    /// The caller reads the message of `head_sha` from the API and parses again with it
    /// (which may then answer [`EventOutcome::NoRequest`]). Always `false` for other shapes
    /// and for `push`, whose payload carries the message.
    ///
    /// SECURITY: a consumer that ignores this flag still fails closed: a request without a
    /// reason is denied (`reason-present`), and the trailer is checked against the API.
    pub head_commit_pending: bool,
}

impl EventRequest {
    /// An empty request of a shape: every field `None`/empty. Build test values with
    /// `EventRequest { reason: Some(..), ..EventRequest::new(Shape::Label) }` so that new
    /// fields do not break them.
    pub fn new(shape: Shape) -> Self {
        Self {
            shape,
            reason: None,
            scope: None,
            label: None,
            pr_number: None,
            head_sha: None,
            sender: None,
            ambiguous: Vec::new(),
            head_commit_pending: false,
        }
    }
}

/// What the event names, keyed by event name: read by [`parse_event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum EventOutcome {
    /// The event asks for access.
    Request(EventRequest),
    /// A supported event that carries no request (e.g. no trailer, a label not in the
    /// policy): `if-no-request` decides what happens.
    NoRequest { why: String },
}

/// Settings from the policy that event parsing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKeys {
    /// The reason trailer key (`Prod-Access`).
    pub trailer: String,
    /// The scope trailer key (`Prod-Access-Scope`).
    pub scope_trailer: String,
    /// Labels that ask for access (the keys of `request.labels`).
    pub labels: Vec<String>,
}

impl RequestKeys {
    /// The keys a policy's `request` section names.
    pub fn of(policy: &crate::policy::Policy) -> Self {
        Self {
            trailer: policy.request.trailer.clone(),
            scope_trailer: policy.request.scope_trailer.clone(),
            labels: policy.request.labels.keys().cloned().collect(),
        }
    }
}

impl Default for RequestKeys {
    fn default() -> Self {
        Self {
            trailer: "Prod-Access".into(),
            scope_trailer: "Prod-Access-Scope".into(),
            labels: Vec::new(),
        }
    }
}

/// Malformed or unsupported events: exit 2.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("GITHUB_EVENT_NAME is not set")]
    MissingEventName,
    #[error(
        "event `{0}` is not supported (supported: pull_request, pull_request_target, push, workflow_dispatch)"
    )]
    UnsupportedEvent(String),
    #[error("the event file {path} cannot be read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the event file is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the event file is not valid JSON: {0}")]
    Json(String),
    #[error("the event payload lacks `{0}` or it has the wrong type")]
    Field(String),
    /// Valid JSON whose top level is not an object (`null`, an array, a string, ...).
    #[error("the event payload is not a JSON object")]
    NotAnObject,
    /// Two fields of the payload that must agree do not (`number` and
    /// `pull_request.number`): the file was edited, or is not what GitHub sent.
    #[error("the event payload is inconsistent: {0}")]
    Inconsistent(String),
}

/// Largest event payload read (GitHub caps webhook payloads at 25 MB).
pub const MAX_EVENT_BYTES: usize = 25 * 1024 * 1024;

/// Parses an event payload (already read into memory, see [`read_event_file`]) for the
/// named event.
///
/// The name is checked first (`""` -> [`EventError::MissingEventName`], anything but
/// `pull_request`, `pull_request_target`, `push` and `workflow_dispatch` ->
/// [`EventError::UnsupportedEvent`]), then the size, then the JSON (strict: duplicate keys
/// are refused).
///
/// For the trailer shape on PR events the head commit message is not in the payload:
/// `head_commit_message` supplies it (read from the API by the caller). Without it, the
/// answer is a trailer request with [`EventRequest::head_commit_pending`] set: read the
/// message of its `head_sha` and call again with it. `push` and `workflow_dispatch` ignore
/// the argument (a push carries its head commit's message; the API's copy is compared later).
pub fn parse_event(
    event_name: &str,
    payload: &[u8],
    keys: &RequestKeys,
    head_commit_message: Option<&str>,
) -> Result<EventOutcome, EventError> {
    // The name first: an unsupported event is refused whatever its payload holds.
    match event_name {
        "pull_request" | "pull_request_target" | "push" | "workflow_dispatch" => {}
        "" => return Err(EventError::MissingEventName),
        other => return Err(EventError::UnsupportedEvent(other.to_string())),
    }
    if payload.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge {
            max: MAX_EVENT_BYTES,
        });
    }
    let value = json::parse_strict(payload)?;
    match event_name {
        "push" => push::parse_push(&value, keys),
        "workflow_dispatch" => dispatch::parse_dispatch(&value),
        _ => label::parse_pull_request(&value, keys, head_commit_message),
    }
}

/// Reads the event file (`GITHUB_EVENT_PATH`), refusing one larger than
/// [`MAX_EVENT_BYTES`] without reading it whole.
///
/// SECURITY: the size is checked on the opened file's metadata, and the read itself is
/// capped with `take`, so a file that grows after the check, a FIFO or a device cannot make
/// us allocate more than the cap (plus one byte). Anything but a regular file is refused.
pub fn read_event_file(path: &Path) -> Result<Vec<u8>, EventError> {
    let read_err = |source: std::io::Error| EventError::Read {
        path: path.display().to_string(),
        source,
    };
    let too_large = EventError::TooLarge {
        max: MAX_EVENT_BYTES,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(read_err(std::io::Error::other("not a regular file")));
    }
    if meta.len() > MAX_EVENT_BYTES as u64 {
        return Err(too_large);
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_EVENT_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() > MAX_EVENT_BYTES {
        return Err(too_large);
    }
    Ok(buf)
}

/// The values of the two request keys found in one place: the trailers of a commit
/// message, or the lines of a PR body.
#[derive(Debug, Default)]
pub(crate) struct KeyValues {
    reasons: Vec<String>,
    scopes: Vec<String>,
}

impl KeyValues {
    /// Trailers whose key equals the reason or scope key, ignoring ASCII case only (as
    /// git compares trailer keys).
    ///
    /// SECURITY: ASCII-only case folding: with Unicode folding, `Prod-Acceſſ` (U+017F,
    /// whose upper case is `S`) or a Kelvin sign would match; a homoglyph never does.
    pub(crate) fn from_trailers(trailers: &[Trailer], keys: &RequestKeys) -> Self {
        let mut out = Self::default();
        for t in trailers {
            let key = t.key.trim();
            if key_matches(key, &keys.trailer) {
                out.reasons.push(t.value.trim().to_owned());
            } else if key_matches(key, &keys.scope_trailer) {
                out.scopes.push(t.value.trim().to_owned());
            }
        }
        out
    }

    /// Whether either key appears at all: the event then carries a request, even if its
    /// value is empty (a request with no reason is denied, not ignored).
    pub(crate) fn present(&self) -> bool {
        !self.reasons.is_empty() || !self.scopes.is_empty()
    }

    /// Sets `reason` and `scope` (a single non-empty value) or records the key as
    /// ambiguous (two or more occurrences, whatever their values).
    pub(crate) fn apply(self, req: &mut EventRequest, keys: &RequestKeys) {
        req.reason = single(self.reasons, &keys.trailer, &mut req.ambiguous);
        req.scope = single(self.scopes, &keys.scope_trailer, &mut req.ambiguous);
    }

    /// A reason line of a PR body (the label shape has no scope line: the label's scope).
    pub(crate) fn push_reason(&mut self, value: String) {
        self.reasons.push(value);
    }

    /// Like [`KeyValues::apply`], for the reason only.
    pub(crate) fn apply_reason(self, req: &mut EventRequest, keys: &RequestKeys) {
        req.reason = single(self.reasons, &keys.trailer, &mut req.ambiguous);
    }
}

/// An ASCII-case-insensitive key comparison; an empty key never matches.
pub(crate) fn key_matches(found: &str, key: &str) -> bool {
    !key.is_empty() && found.eq_ignore_ascii_case(key)
}

fn single(
    mut values: Vec<String>,
    key: &str,
    ambiguous: &mut Vec<(String, Vec<String>)>,
) -> Option<String> {
    match values.len() {
        0 => None,
        1 => values.pop().filter(|v| !v.is_empty()),
        _ => {
            ambiguous.push((key.to_owned(), values));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(name: &str, payload: &[u8]) -> Result<EventOutcome, EventError> {
        parse_event(name, payload, &RequestKeys::default(), None)
    }

    #[test]
    fn event_names() {
        assert!(matches!(
            parse("", b"{}"),
            Err(EventError::MissingEventName)
        ));
        for name in [
            "pull_request_review",
            "issue_comment",
            "schedule",
            "merge_group",
            "PUSH",
            "push ",
        ] {
            // Refused by name, whatever the payload.
            assert!(
                matches!(parse(name, b"\xff"), Err(EventError::UnsupportedEvent(n)) if n == name),
                "{name}"
            );
        }
        let dispatch = parse("workflow_dispatch", br#"{"inputs": {"reason": "INC-1"}}"#);
        assert!(
            matches!(dispatch, Ok(EventOutcome::Request(r)) if r.reason.as_deref() == Some("INC-1"))
        );
    }

    #[test]
    fn malformed_payloads_are_clean_errors() {
        // (payload, expected error kind)
        let cases: &[(&[u8], &str)] = &[
            (b"", "json"),
            (b"{\"action\": \"labe", "json"),
            (b"{\"action\": \"\xc3\x28\"}", "json"),
            (b"\xef\xbb\xbf{}", "json"),
            (b"{\"a\":1,\"a\":1}", "json"),
            (b"null", "object"),
            (b"[]", "object"),
            (b"\"push\"", "object"),
            (b"42", "object"),
            (b"{}", "field"),
        ];
        for name in [
            "pull_request",
            "pull_request_target",
            "push",
            "workflow_dispatch",
        ] {
            for (payload, want) in cases {
                let kind = match parse(name, payload) {
                    Err(EventError::Json(_)) => "json",
                    Err(EventError::NotAnObject) => "object",
                    Err(EventError::Field(_)) => "field",
                    // `{}` is a dispatch without inputs, and a push without a head commit.
                    Ok(_) if name == "push" || name == "workflow_dispatch" => "field",
                    other => panic!("{name} {payload:?}: {other:?}"),
                };
                assert_eq!(kind, *want, "{name} {payload:?}");
            }
        }
    }

    #[test]
    fn oversized_payload_is_refused_before_parsing() {
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(matches!(
            parse("push", &big),
            Err(EventError::TooLarge { .. })
        ));
    }

    #[test]
    fn read_event_file_caps_the_size() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;

        let ok = dir.path().join("event.json");
        std::fs::File::create(&ok)?.write_all(b"{\"inputs\": {}}")?;
        assert_eq!(read_event_file(&ok)?, b"{\"inputs\": {}}");

        // Sparse: no disk space used, and never read.
        let big = dir.path().join("big.json");
        std::fs::File::create(&big)?.set_len(MAX_EVENT_BYTES as u64 + 1)?;
        assert!(matches!(
            read_event_file(&big),
            Err(EventError::TooLarge { .. })
        ));

        let exact = dir.path().join("exact.json");
        std::fs::File::create(&exact)?.set_len(MAX_EVENT_BYTES as u64)?;
        assert_eq!(read_event_file(&exact)?.len(), MAX_EVENT_BYTES);

        let missing = dir.path().join("missing.json");
        assert!(matches!(
            read_event_file(&missing),
            Err(EventError::Read { .. })
        ));
        assert!(matches!(
            read_event_file(dir.path()),
            Err(EventError::Read { .. })
        ));
        #[cfg(unix)]
        assert!(matches!(
            read_event_file(Path::new("/dev/zero")),
            Err(EventError::Read { .. })
        ));
        Ok(())
    }

    #[test]
    fn new_request_is_empty() {
        let r = EventRequest::new(Shape::Dispatch);
        assert_eq!(
            (
                r.reason,
                r.scope,
                r.label,
                r.pr_number,
                r.head_sha,
                r.sender
            ),
            (None, None, None, None, None, None)
        );
        assert!(r.ambiguous.is_empty() && !r.head_commit_pending);
    }
}
