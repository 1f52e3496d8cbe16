//! dispatch events (in progress).
use super::{EventError, EventOutcome};
pub fn parse_dispatch(_v: &serde_json::Value) -> Result<EventOutcome, EventError> {
    Err(EventError::Field("unimplemented".into()))
}
