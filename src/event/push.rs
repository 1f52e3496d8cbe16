//! push events (in progress).
use super::{EventError, EventOutcome, RequestKeys};
pub fn parse_push(_v: &serde_json::Value, _k: &RequestKeys) -> Result<EventOutcome, EventError> {
    Err(EventError::Field("unimplemented".into()))
}
