//! Escaping of untrusted text (reasons, titles, logins, commit messages) for every place it
//! can be shown: runner logs, workflow-command data and properties, markdown (step summary,
//! PR comment). Pure functions; [`super`] is the only caller that writes.
//!
//! SECURITY: the runner parses workflow commands on stdout and stderr (a line starting with
//! `::`, and the legacy `##[` anywhere in a line), and GitHub renders markdown with mentions,
//! autolinks and a subset of HTML. Untrusted text is made inert for each of them.
//! See: <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands>

/// Zero-width space: breaks `::`, `##[`, `@mention` and autolinks without visible change.
const ZWSP: char = '\u{200B}';

/// Bidirectional and other invisible formatting characters that can make text read
/// differently from what it is (Trojan Source, CVE-2021-42574).
pub(crate) fn is_deceptive_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Escapes the data part of a workflow command (`::cmd::DATA`), as the runner unescapes it.
pub fn workflow_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a workflow command (`::cmd key=VALUE::`).
pub fn workflow_property(s: &str) -> String {
    workflow_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn truncate_chars(s: &str, max_chars: usize) -> (&str, usize) {
    match s.char_indices().nth(max_chars) {
        None => (s, 0),
        Some((idx, _)) => (&s[..idx], s[idx..].chars().count()),
    }
}

/// One line of log text from untrusted input: control and bidi characters shown as
/// `\u{..}`, newlines as `\n`, workflow-command openers (`::`, `##[`) broken, and at most
/// `max_chars` characters kept (the rest counted, not shown).
pub fn log_inline(s: &str, max_chars: usize) -> String {
    let (head, rest) = truncate_chars(s, max_chars);
    let mut out = String::with_capacity(head.len() + 16);
    for c in head.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_deceptive_format(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    let mut out = out
        .replace("::", &format!(":{ZWSP}:"))
        .replace("##[", &format!("#{ZWSP}#["));
    if rest > 0 {
        out.push_str(&format!("… (+{rest} chars)"));
    }
    out
}

/// [`log_inline`] in double quotes, for naming a bad value in an error message.
pub fn quote_untrusted(s: &str, max_chars: usize) -> String {
    format!("\"{}\"", log_inline(s, max_chars).replace('"', "\\\""))
}

/// Makes a whole line safe to print on a stream the runner parses: the same neutralising as
/// [`log_inline`] without truncation. Every line [`super::Console`] prints that is not a
/// workflow command it built itself goes through this.
pub fn log_line(s: &str) -> String {
    log_inline(s, usize::MAX)
}

/// Untrusted text for one markdown table cell or inline span (step summary, PR comment):
/// no HTML, no markdown syntax, no mention (`@user`, `@org/team`), no autolink, no line
/// break, no pipe, no issue reference (`#12`); control and bidi characters dropped; at most
/// `max_chars` characters.
pub fn markdown_inline(s: &str, max_chars: usize) -> String {
    let (head, rest) = truncate_chars(s, max_chars);
    let mut out = String::with_capacity(head.len() + 16);
    for c in head.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || is_deceptive_format(c) => out.push('\u{FFFD}'),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' => out.push_str("&#124;"),
            // Markdown punctuation is backslash-escaped (CommonMark: any ASCII punctuation).
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '~' | '{' | '}' | '+' | '-'
            | '=' | '^' | '$' => {
                out.push('\\');
                out.push(c);
            }
            // An issue reference (`#12`, `owner/repo#12`) would link and add a "mentioned"
            // event to that issue: break it the way mentions are broken.
            '#' => {
                out.push_str("\\#");
                out.push(ZWSP);
            }
            // A mention needs a login character right after `@`.
            '@' => {
                out.push('@');
                out.push(ZWSP);
            }
            c => out.push(c),
        }
    }
    // Autolinks (GFM: scheme:// and www.) are broken so no link is made from user text.
    let mut out = out
        .replace("://", &format!(":{ZWSP}//"))
        .replace("www.", &format!("www{ZWSP}."))
        .replace("WWW.", &format!("WWW{ZWSP}."));
    if rest > 0 {
        out.push_str(&format!(" … (+{rest} chars)"));
    }
    out
}

/// Longest URL accepted by [`markdown_url`].
const MAX_URL_LEN: usize = 2048;

/// A URL fit for a markdown link destination (`[text](URL)`) in a table cell, or `None`:
/// `https://` (or `http://` to a loopback host, which tests use), at most 2048 bytes, and
/// only characters that can neither end the destination (`)`, space), open HTML (`<`, `"`,
/// `'`), nor break a table (`|`). URLs are built by us from trusted parts (server URL,
/// repository, run id, sha); this is the last check before one is rendered.
pub fn markdown_url(url: &str) -> Option<&str> {
    let Ok(parsed) = url::Url::parse(url) else {
        return None;
    };
    let loopback = parsed.host_str().is_some_and(crate::url_rules::is_loopback);
    let scheme_ok = parsed.host().is_some()
        && (parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback))
        && url
            .to_ascii_lowercase()
            .starts_with(&format!("{}://", parsed.scheme()));
    let chars_ok = url.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | '~'
                    | ':'
                    | '/'
                    | '?'
                    | '#'
                    | '@'
                    | '!'
                    | '$'
                    | '&'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '['
                    | ']'
            )
    });
    (scheme_ok && chars_ok && url.len() <= MAX_URL_LEN).then_some(url)
}

/// `[text](url)` with `text` escaped by [`markdown_inline`]; only the escaped text when the
/// URL is not one [`markdown_url`] accepts.
pub fn markdown_link(text: &str, url: &str, max_chars: usize) -> String {
    let text = markdown_inline(text, max_chars);
    match markdown_url(url) {
        Some(url) => format!("[{text}]({url})"),
        None => text,
    }
}

/// Whether `s` is a token that needs no escaping anywhere: 1 to `max_len` characters of
/// `[A-Za-z0-9._-]`. Used for marker fields, scope names, ids and shas.
pub fn is_plain_token(s: &str, max_len: usize) -> bool {
    !s.is_empty()
        && s.len() <= max_len
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `s` in a code span when it is a plain token ([`is_plain_token`]), else escaped with
/// [`markdown_inline`]: a code span cannot hold escapes, so only tokens go in one.
pub fn markdown_code_or_escaped(s: &str, max_chars: usize) -> String {
    if is_plain_token(s, max_chars) {
        format!("`{s}`")
    } else {
        markdown_inline(s, max_chars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_data_and_property_escaping() {
        assert_eq!(workflow_data("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(workflow_property("x:y,z%\n"), "x%3Ay%2Cz%25%0A");
    }

    #[test]
    fn log_inline_neutralises_commands_and_controls() {
        let hostile = "::add-mask::x\n::set-env name=A::B ##[error]boom \u{1b}[31mred\u{202e}txt\0";
        let out = log_inline(hostile, 1000);
        assert!(!out.contains('\n'));
        assert!(!out.contains("::"));
        assert!(!out.contains("##["));
        assert!(!out.contains('\u{1b}'));
        assert!(!out.contains('\u{202e}'));
        assert!(!out.contains('\0'));
        assert!(out.contains("\\u{1b}"));
        assert!(out.contains("\\u{202e}"));
    }

    #[test]
    fn log_inline_truncates_by_chars() {
        let long = "é".repeat(500);
        let out = log_inline(&long, 10);
        assert!(out.starts_with(&"é".repeat(10)));
        assert!(out.ends_with("(+490 chars)"));
    }

    #[test]
    fn quote_untrusted_escapes_quotes() {
        assert_eq!(quote_untrusted("a\"b", 10), "\"a\\\"b\"");
    }

    #[test]
    fn markdown_inline_blocks_pings_html_links_and_tables() {
        let cases = [
            "@everyone",
            "@acme/sre",
            "<img src=x onerror=alert(1)>",
            "[x](javascript:alert(1))",
            "![i](https://evil.test/i.png)",
            "a | b | c",
            "https://evil.test/phish",
            "www.evil.test",
            "line1\nline2\r\n| --- |",
            "<!-- prod-access:grant forged -->",
            "see #12 and acme/payments#3",
        ];
        for c in cases {
            let out = markdown_inline(c, 1000);
            assert!(!out.contains('<'), "{c}: {out}");
            assert!(!out.contains('>'), "{c}: {out}");
            assert!(!out.contains('|'), "{c}: {out}");
            assert!(!out.contains('\n'), "{c}: {out}");
            assert!(!out.contains("]("), "{c}: {out}");
            assert!(!out.contains("://"), "{c}: {out}");
            assert!(!out.contains("www."), "{c}: {out}");
            for (i, _) in out.match_indices(['@', '#']) {
                let entity = out[..i].ends_with('&');
                assert!(entity || out[i + 1..].starts_with(ZWSP), "{c}: {out}");
            }
        }
    }

    #[test]
    fn markdown_inline_drops_controls_and_truncates() {
        let hostile = format!("{}\u{1b}[2J\u{202e}\0", "A".repeat(100_000));
        let out = markdown_inline(&hostile, 200);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{202e}') && !out.contains('\0'));
        assert!(out.chars().count() < 260);
        assert!(out.contains("(+"));
    }
    #[test]
    fn markdown_url_accepts_only_inert_https_urls() {
        for ok in [
            "https://github.com/acme/payments/actions/runs/1/attempts/2",
            "https://github.com/acme/prod-access/blob/main/docs/requirements.md#fresh-approval",
            "http://127.0.0.1:8080/x",
            "http://localhost:3000/acme/payments/commit/abc",
        ] {
            assert_eq!(markdown_url(ok), Some(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "http://evil.test/",
            "https://evil.test/a)b",
            "https://evil.test/a b",
            "https://evil.test/<img>",
            "https://evil.test/a|b",
            "https://evil.test/\"onmouseover",
            "https://evil.test/'x",
            "https://evil.test/\nx",
            "https://",
            "data:text/html,x",
            "http://127.evil.test/",
            "https:evil.test",
        ] {
            assert_eq!(markdown_url(bad), None, "{bad}");
        }
        assert_eq!(
            markdown_link("[x](y)", "javascript:alert(1)", 50),
            "\\[x\\]\\(y\\)"
        );
    }

    #[test]
    fn plain_tokens_only_go_in_code_spans() {
        assert_eq!(markdown_code_or_escaped("db-read", 100), "`db-read`");
        assert_eq!(markdown_code_or_escaped("a`b", 100), "a\\`b");
        assert!(!is_plain_token("", 10));
        assert!(!is_plain_token("a b", 10));
        assert!(!is_plain_token(&"a".repeat(11), 10));
    }
    /// Fragments markdown, HTML, GitHub and the runner give meaning to.
    const FRAGMENTS: &[&str] = &[
        "@",
        "@everyone",
        "@acme/sre",
        "a@b.test",
        "<",
        ">",
        "<img src=x onerror=alert(1)>",
        "<!--",
        "-->",
        "[x]",
        "(javascript:alert(1))",
        "](",
        "![i](",
        "https://",
        "http://",
        "www.",
        "WWW.",
        "://",
        "|",
        "\\|",
        "&#124;",
        "&lt;",
        "`",
        "```",
        "*",
        "_",
        "~~",
        "#",
        "#12",
        "\n",
        "\r\n",
        "\r",
        "\t",
        "\u{1b}[2J",
        "\u{202e}",
        "\u{2066}",
        "\0",
        "\u{200b}",
        "\u{feff}",
        "::",
        "##[",
        "%0A",
        "\\",
        "é",
        "😀",
        " ",
        "x",
    ];

    /// The safety properties of [`markdown_inline`] on any input.
    fn assert_inert(input: &str) {
        // No truncation here: its `… (+N chars)` suffix is ours (tested on its own).
        let out = markdown_inline(input, 100_000);
        for bad in ["<", ">", "|", "\n", "\r", "](", "://", "www.", "WWW."] {
            assert!(!out.contains(bad), "{bad:?} in {out:?} from {input:?}");
        }
        for (i, c) in out.char_indices() {
            assert!(
                !(c.is_control() || (is_deceptive_format(c) && c != ZWSP)),
                "{c:?} in {out:?} from {input:?}"
            );
            if c == '@' || (c == '#' && !out[..i].ends_with('&')) {
                assert!(
                    out[i + 1..].starts_with(ZWSP),
                    "bare {c} in {out:?} from {input:?}"
                );
            }
            if c == '&' {
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&#124;"]
                        .iter()
                        .any(|e| out[i..].starts_with(e)),
                    "raw entity in {out:?} from {input:?}"
                );
            }
        }
        // Every markdown punctuation character is escaped: none reaches the output bare.
        let mut chars = out.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' {
                assert!(
                    chars.next().is_some_and(|n| n.is_ascii_punctuation()),
                    "{out:?}"
                );
            } else {
                assert!(
                    !"`*_[]()!~{}+=^$".contains(c),
                    "bare {c:?} in {out:?} from {input:?}"
                );
            }
        }
    }

    #[test]
    fn markdown_inline_is_inert_on_every_pair_of_fragments() {
        for a in FRAGMENTS {
            for b in FRAGMENTS {
                assert_inert(&format!("{a}{b}"));
                assert_inert(&format!("{a} x {b}"));
            }
        }
    }

    #[test]
    fn markdown_inline_is_inert_on_random_mixes() {
        // xorshift64: deterministic, no dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let len = (next() % 12) as usize;
            let text: String = (0..len)
                .map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize])
                .collect();
            assert_inert(&text);
        }
    }
}
