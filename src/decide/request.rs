//! Resolving the request: event facts plus action inputs (in progress).
use crate::event::{EventRequest, Shape};
use crate::policy::Policy;
use serde::Serialize;
use std::time::Duration;

/// The request after inputs are applied and the label is mapped to its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub shape: Shape,
    /// `push`, `pull_request`, ... as the token names it.
    pub event_name: String,
    pub reason: Option<String>,
    /// The scope asked for: input `scope`, else the scope trailer, else the label's scope.
    pub scope: Option<String>,
    pub label: Option<String>,
    /// The PR whose approvals count (event, or input `pull-request` on a dispatch).
    pub pr_number: Option<u64>,
    /// The head sha the event names.
    pub head_sha: Option<String>,
    /// The requested lifetime (input `ttl`), already parsed.
    pub ttl: Option<Duration>,
    pub ambiguous: Vec<(String, Vec<String>)>,
}

/// Action inputs that shape the request (each from its flag or `INPUT_<NAME>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInputs {
    pub scope: Option<String>,
    pub reason: Option<String>,
    pub ttl: Option<Duration>,
    pub pull_request: Option<u64>,
}

pub fn resolve_request(
    event: EventRequest,
    _event_name: &str,
    _inputs: &RequestInputs,
    _policy: &Policy,
) -> Request {
    let _ = event;
    todo_request()
}

fn todo_request() -> Request {
    unimplemented!()
}
