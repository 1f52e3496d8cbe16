//! Rendering of one decision and its audit record, in the three places a reader finds it:
//! the console ([`console`]), the step summary ([`summary`]) and the PR comment
//! ([`comment`], with its hidden marker and the edit on revoke). Text from users is escaped
//! here; writing is [`crate::emit`]'s.

pub mod comment;
pub mod console;
pub mod summary;

/// Where docs links in summaries and comments point.
pub const REQUIREMENTS_DOC: &str =
    "https://github.com/prod-access/prod-access/blob/main/docs/requirements.md";
