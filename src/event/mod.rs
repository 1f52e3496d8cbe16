//! Reading the request out of the event.
//!
//! Pure functions from the event payload (and, for the trailer shape, the head commit's
//! message) to an [`EventRequest`]: the three shapes of contract §3. The event file is a
//! hint: every fact it gives is read again from the forge before a decision.

pub mod dispatch;
pub mod label;
pub mod push;
pub mod trailers;

use serde::Serialize;

use crate::forge::UserRef;

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
    /// `(key, values)`. Ambiguous requests are denied, naming every value.
    pub ambiguous: Vec<(String, Vec<String>)>,
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
}

/// Largest event payload read (GitHub caps webhook payloads at 25 MB).
pub const MAX_EVENT_BYTES: usize = 25 * 1024 * 1024;

/// Parses an event payload (already read into memory) for the named event.
/// For the trailer shape on PR events the head commit message is not in the payload:
/// `head_commit_message` supplies it (read from the API by the caller), else only the
/// event-level facts are returned and the trailer is looked for later.
pub fn parse_event(
    event_name: &str,
    payload: &[u8],
    keys: &RequestKeys,
    head_commit_message: Option<&str>,
) -> Result<EventOutcome, EventError> {
    if payload.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge {
            max: MAX_EVENT_BYTES,
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| EventError::Json(e.to_string()))?;
    match event_name {
        "pull_request" | "pull_request_target" => {
            label::parse_pull_request(&value, keys, head_commit_message)
        }
        "push" => push::parse_push(&value, keys),
        "workflow_dispatch" => dispatch::parse_dispatch(&value),
        "" => Err(EventError::MissingEventName),
        other => Err(EventError::UnsupportedEvent(other.to_string())),
    }
}

/// Reads an event file, refusing one larger than [`MAX_EVENT_BYTES`] without reading it whole.
pub fn read_event_file(path: &std::path::Path) -> Result<Vec<u8>, EventError> {
    use std::io::Read;
    let err = |source| EventError::Read {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let mut bytes = Vec::new();
    file.take(MAX_EVENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge {
            max: MAX_EVENT_BYTES,
        });
    }
    Ok(bytes)
}
