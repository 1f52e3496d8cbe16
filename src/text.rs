//! Small renderings every layer shares: a time in RFC 3339 and a short commit sha.
//!
//! They live at the bottom of the module tree (this module imports only `chrono`), so the
//! decision core, the reports, the credentials and the forge client all print a time or a
//! sha the same way without importing one another. Durations are printed by
//! [`crate::policy::duration::format`], beside the parser of the same grammar.

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 in UTC, whole seconds, `Z`: `2026-05-09T07:29:33Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The first 7 characters of a sha, as GitHub shows it; the whole text when shorter. Never
/// more than 7 characters, whatever the input (it may be untrusted).
pub fn short_sha(sha: &str) -> &str {
    match sha.char_indices().nth(7) {
        Some((end, _)) => &sha[..end],
        None => sha,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn rfc3339_is_utc_whole_seconds() {
        let t = Utc.timestamp_opt(1_778_311_773, 999_000_000).unwrap();
        assert_eq!(rfc3339(t), "2026-05-09T07:29:33Z");
    }

    #[test]
    fn short_sha_is_bounded_and_safe_on_any_input() {
        assert_eq!(
            short_sha("6dcb09b5b57875f334f61aebed695e2e4193db5e"),
            "6dcb09b"
        );
        assert_eq!(short_sha("abc"), "abc");
        assert_eq!(short_sha(""), "");
        assert_eq!(short_sha("é"), "é");
        // A multi-byte character across byte 7 must not panic or return the whole text.
        assert_eq!(short_sha("abcdefééééé"), "abcdefé");
    }
}
