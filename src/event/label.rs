//! label events (in progress).
use super::{EventError, EventOutcome, RequestKeys};
pub fn parse_pull_request(
    _v: &serde_json::Value,
    _k: &RequestKeys,
    _m: Option<&str>,
) -> Result<EventOutcome, EventError> {
    Err(EventError::Field("unimplemented".into()))
}
