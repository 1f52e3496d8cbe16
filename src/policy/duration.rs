//! Durations as the policy and the `ttl` input write them: `90s`, `15m`, `1h`, `1h30m`.
//!
//! The grammar is one to three groups of ASCII digits, each followed by a unit, the units in
//! the order `h`, `m`, `s` and each at most once:
//!
//! ```text
//! duration = [digits "h"] [digits "m"] [digits "s"]      (at least one group)
//! ```
//!
//! Everything else is refused: no sign (`-5m`), no bare number (`15`), no fraction (`1.5h`),
//! no exponent (`1e3m`), no whitespace, no `d`, no empty text. The result must be more than
//! zero and at most [`MAX`] (24 h). Arithmetic is checked, so a huge value
//! (`99999999999h`) is "too long", never a wrapped or unlimited one.
//!
//! SECURITY: this parser also reads the `ttl` input of a request, which anyone who can
//! trigger the workflow controls. Its errors never repeat the input text (the caller quotes
//! it once, escaped), and they say what was wrong without guessing what was meant.

use std::time::Duration;

/// The longest duration this parser returns: 24 h. The policy caps `max_ttl` lower
/// (see [`super::compile::MAX_TTL_CEILING`]); this bound only keeps arithmetic and
/// surprises out of the parser.
pub const MAX: Duration = Duration::from_secs(24 * 3600);

/// Longest text looked at. `1h59m59s` has 8 characters, `86400s` 6; anything far longer is
/// refused before it is scanned.
const MAX_TEXT_LEN: usize = 32;

/// Why a duration was refused. The message never contains the input text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("is empty; write a duration such as 15m, 1h or 1h30m")]
    Empty,
    #[error("has no unit; write s, m or h after the number, e.g. 15m")]
    MissingUnit,
    #[error(
        "is not a duration: expected whole numbers each followed by h, m or s, in that order \
         and each unit once (e.g. 90s, 15m, 1h30m); signs, fractions, exponents, spaces and \
         other units are not accepted"
    )]
    Invalid,
    #[error("must be longer than zero")]
    Zero,
    #[error("is longer than the maximum of 24h")]
    TooLong,
}

/// Parses `90s`, `15m`, `1h`, `1h30m`, `2h15m30s` (see the module docs for the grammar).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.len() > MAX_TEXT_LEN {
        // Either an absurd number of digits (too long) or not a duration at all.
        return Err(
            if text
                .bytes()
                .all(|b| b.is_ascii_digit() || b"hms".contains(&b))
            {
                DurationError::TooLong
            } else {
                DurationError::Invalid
            },
        );
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::MissingUnit);
    }

    let bytes = text.as_bytes();
    let mut total: u64 = 0;
    // Index into UNITS of the next unit allowed: units come in the order h, m, s, each once.
    const UNITS: [(u8, u64); 3] = [(b'h', 3600), (b'm', 60), (b's', 1)];
    let mut next_unit = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            // A unit without digits, a sign, a dot, a space, ...
            return Err(DurationError::Invalid);
        }
        let Some(&unit) = bytes.get(i) else {
            // Trailing digits after a group, e.g. `1h30`.
            return Err(DurationError::MissingUnit);
        };
        let Some(offset) = UNITS[next_unit..].iter().position(|(u, _)| *u == unit) else {
            return Err(DurationError::Invalid);
        };
        let (_, seconds_per_unit) = UNITS[next_unit + offset];
        next_unit += offset + 1;
        i += 1;

        // The digits are ASCII by construction; a value that does not fit u64 is too long.
        let digits = &text[start..i - 1];
        let value: u64 = digits.parse().map_err(|_| DurationError::TooLong)?;
        total = value
            .checked_mul(seconds_per_unit)
            .and_then(|s| total.checked_add(s))
            .ok_or(DurationError::TooLong)?;
        if next_unit == UNITS.len() && i < bytes.len() {
            // Something after the `s` group.
            return Err(DurationError::Invalid);
        }
    }

    if total == 0 {
        return Err(DurationError::Zero);
    }
    let duration = Duration::from_secs(total);
    if duration > MAX {
        return Err(DurationError::TooLong);
    }
    Ok(duration)
}

/// Formats a duration in the grammar [`parse`] reads, largest units first and zero groups
/// left out: `15m`, `1h30m`, `1m30s`, `2h`. Sub-second parts are dropped; zero is `0s`.
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (value, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if value > 0 {
            out.push_str(&value.to_string());
            out.push(unit);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn accepted() {
        let cases: &[(&str, u64)] = &[
            ("1s", 1),
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("1h30m", 5400),
            ("1h30s", 3630),
            ("2h15m30s", 8130),
            ("90m", 5400),
            ("0h15m", 900),
            ("015m", 900),
            ("24h", 86400),
            ("23h59m60s", 86400),
            ("86400s", 86400),
            ("1440m", 86400),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(secs(*want)), "{text}");
        }
    }

    #[test]
    fn refused() {
        use DurationError::*;
        let cases: &[(&str, DurationError)] = &[
            ("", Empty),
            ("0s", Zero),
            ("0h0m0s", Zero),
            ("00m", Zero),
            ("-5m", Invalid),
            ("+5m", Invalid),
            ("15", MissingUnit),
            ("0", MissingUnit),
            ("1h30", MissingUnit),
            ("1e3m", Invalid),
            ("1.5h", Invalid),
            ("1,5h", Invalid),
            (" 15m", Invalid),
            ("15m ", Invalid),
            ("15 m", Invalid),
            ("1h 30m", Invalid),
            ("15\u{a0}m", Invalid),
            ("15M", Invalid),
            ("1d", Invalid),
            ("15ms", Invalid),
            ("m", Invalid),
            ("h1", Invalid),
            ("30m1h", Invalid),
            ("1h1h", Invalid),
            ("1s1s", Invalid),
            ("1m1m", Invalid),
            ("1s5", Invalid),
            ("1s5m", Invalid),
            ("１５m", Invalid), // full-width digits are not ASCII digits
            ("99999999999h", TooLong),
            ("999999h", TooLong),
            ("25h", TooLong),
            ("24h1s", TooLong),
            ("86401s", TooLong),
            ("18446744073709551615s", TooLong),
            ("18446744073709551616s", TooLong),
            ("5124095576030432h", TooLong), // overflows u64 seconds when multiplied
            ("99999999999999999999999999999999999h", TooLong),
            ("1111111111111111111111111111111111111111x", Invalid),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Err(*want), "{text:?}");
        }
    }

    #[test]
    fn errors_do_not_repeat_the_input() {
        for text in [
            "-5m",
            "37",
            "",
            "1e3m",
            "99999999999h",
            "0s",
            "evil\n::set-output",
        ] {
            let message = parse(text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!message.is_empty(), "{text:?} must be refused");
            if !text.is_empty() {
                assert!(!message.contains(text), "{message} repeats {text:?}");
            }
        }
    }

    #[test]
    fn formats() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1s"),
            (90, "1m30s"),
            (900, "15m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (3630, "1h30s"),
            (8130, "2h15m30s"),
            (86400, "24h"),
        ];
        for (s, want) in cases {
            assert_eq!(format(secs(*s)), *want, "{s}");
        }
        assert_eq!(format(Duration::from_millis(1500)), "1s");
    }

    #[test]
    fn format_round_trips() {
        for s in [
            1, 59, 60, 61, 899, 900, 3599, 3600, 3601, 5400, 43200, 86399, 86400,
        ] {
            assert_eq!(parse(&format(secs(s))), Ok(secs(s)), "{s}");
        }
    }
}
