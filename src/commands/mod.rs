//! Orchestration of each subcommand (in progress).
pub fn main_entry() -> i32 {
    2
}
