//! The rules (in progress).
use super::{Decision, DecisionInput};
pub fn decide(_input: &DecisionInput<'_>) -> Decision {
    unimplemented!()
}
