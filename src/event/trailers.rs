//! Commit-message trailers, parsed with git's own rules (`git interpret-trailers --parse`).
//!
//! `--parse` means `--only-trailers --only-input --unfold`. This module reproduces what git
//! 2.47 does with a message on stdin and no trailer configuration (no `trailer.<name>.*`,
//! `trailer.separators` left at `:`, `core.commentChar` left at `#`). The rules, in the order
//! git applies them:
//!
//! 1. **Input.** A final newline is added when missing. Git works on C strings, so everything
//!    from the first NUL byte on is invisible.
//! 2. **End of the log message.** The first line starting with `---` followed by a space, tab,
//!    CR or LF is the patch divider: it and everything below are dropped. Then, within what is
//!    left: everything from the scissors line (`# ------------------------ >8
//!    ------------------------`, exactly, with LF) on is dropped, and so is a final run of
//!    comment lines (`#...`), empty lines (exactly `\n`) and old-style `Conflicts:` blocks
//!    (`Conflicts:` plus tab-indented paths). A run that starts at the very first byte of the
//!    message is not dropped (git uses offset 0 as "no run yet").
//! 3. **Title.** The first paragraph (up to the first blank line, skipping comment lines) is
//!    the title and is never part of the trailer block. A message with no blank line has no
//!    trailers.
//! 4. **Trailer block.** Scanning upwards from the last line, trailing blank lines are
//!    skipped, then lines are counted up to the next blank line: trailer lines
//!    (`token[ \t]*:...`, token = ASCII alphanumerics and `-`, non-empty), lines starting with
//!    a git-generated prefix (`Signed-off-by: `, `(cherry picked from commit `), comment lines
//!    (skipped), possible continuation lines (leading space, tab or CR) and other lines. The
//!    paragraph is the trailer block when it has a trailer and no other lines, or when it has
//!    a git-generated prefix and trailers ≥ 25% of trailers + other lines (continuation lines
//!    count as other lines unless a trailer line is above them). Blank means only spaces,
//!    tabs and CRs.
//! 5. **Lines.** A line starting with whitespace is appended to the previous line when that
//!    line has a separator (not at column 0); otherwise it stands alone. Comment lines and
//!    lines without a token before the separator (including `(cherry picked from commit
//!    ...)`) are not printed.
//! 6. **Key and value.** The key is the text before the first `:` and the value the text
//!    after it, both trimmed of spaces, tabs, CRs and LFs; in the value each line break and the
//!    whitespace after it become one space (`--unfold`).
//!
//! "Whitespace" is always git's: space, tab, CR and LF, never vertical tab, form feed or any
//! non-ASCII character, and letters and digits are ASCII only; `Prod‐Access` with U+2010 or
//! `Prod-Access：` with U+FF1A are not trailers.

/// One `key: value` trailer, as git prints it with `--parse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub key: String,
    pub value: String,
}

/// The comment character (`core.commentChar`, default `#`).
const COMMENT: u8 = b'#';
/// `trailer.separators` (default `:`).
const SEPARATORS: &[u8] = b":";
/// The scissors line of `git commit -v` and `--cleanup=scissors`, with the comment char.
const CUT_LINE: &[u8] = b"# ------------------------ >8 ------------------------\n";
/// Lines git itself writes; one of them lets a block be only 25% trailers.
const GIT_GENERATED_PREFIXES: [&[u8]; 2] = [b"Signed-off-by: ", b"(cherry picked from commit "];

/// Parses the trailers of a commit message exactly as `git interpret-trailers --parse` does.
pub fn parse(message: &str) -> Vec<Trailer> {
    let mut input = message.as_bytes().to_vec();
    // `strbuf_complete_line` on the whole input, then C-string semantics.
    if input.last().is_some_and(|&b| b != b'\n') {
        input.push(b'\n');
    }
    if let Some(nul) = input.iter().position(|&b| b == 0) {
        input.truncate(nul);
    }
    let buf = input.as_slice();

    let end = end_of_log_message(buf);
    let start = trailer_block_start(buf, end);
    let block = buf.get(start..end).unwrap_or_default();

    trailer_strings(block)
        .iter()
        .filter(|t| t.first() != Some(&COMMENT))
        .filter_map(|t| match find_separator(t) {
            Some(sep) if sep >= 1 => Some(Trailer {
                key: lossless(trim(&t[..sep])),
                value: lossless(&unfold(trim(&t[sep + 1..]))),
            }),
            _ => None,
        })
        .collect()
}

/// The values of every trailer whose key equals `key`, ignoring ASCII case, in message order
/// (as `git log --format='%(trailers:key=<key>,valueonly)'` selects them).
pub fn find<'a>(trailers: &'a [Trailer], key: &str) -> Vec<&'a str> {
    trailers
        .iter()
        .filter(|t| t.key.eq_ignore_ascii_case(key))
        .map(|t| t.value.as_str())
        .collect()
}

/// git's `isspace` (`sane_ctype`): space, tab, LF and CR only.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Bytes that may form a trailer token: ASCII letters, digits and `-`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Our slices only ever split the message at ASCII bytes, so they stay valid UTF-8; the lossy
/// conversion never replaces anything and avoids a panic path.
fn lossless(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Trims git whitespace on both ends (`strbuf_trim`).
fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s
        && is_space(*first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && is_space(*last)
    {
        s = rest;
    }
    s
}

/// Start of the line after the one containing `at` (or the end of the buffer).
fn next_line(buf: &[u8], at: usize) -> usize {
    match buf
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        Some(nl) => at + nl + 1,
        None => buf.len(),
    }
}

/// Start of the last line of `buf[..len]`; a final LF belongs to that line. `None` if empty.
fn last_line(buf: &[u8], len: usize) -> Option<usize> {
    match len {
        0 => None,
        1 => Some(0),
        _ => Some(
            buf[..len - 1]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |nl| nl + 1),
        ),
    }
}

/// A line of only spaces, tabs and CRs (or nothing) up to its LF or the end.
fn is_blank_line(line: &[u8]) -> bool {
    line.iter()
        .find(|&&b| !(b != b'\n' && is_space(b)))
        .is_none_or(|&b| b == b'\n')
}

/// `<token><optional spaces/tabs><separator>` or `<separator>` at the start of `line`: the
/// separator's offset. `None` when the line is not of that form.
fn find_separator(line: &[u8]) -> Option<usize> {
    let mut whitespace_found = false;
    for (i, &c) in line.iter().enumerate() {
        if SEPARATORS.contains(&c) {
            return Some(i);
        }
        if !whitespace_found && is_token_byte(c) {
            continue;
        }
        if i != 0 && (c == b' ' || c == b'\t') {
            whitespace_found = true;
            continue;
        }
        break;
    }
    None
}

/// Where the log message ends: before the `---` patch divider, the scissors line and the
/// trailing comment/empty-line/`Conflicts:` run.
fn end_of_log_message(buf: &[u8]) -> usize {
    let mut end = buf.len();
    let mut s = 0;
    while s < buf.len() {
        if buf[s..].starts_with(b"---") && buf.get(s + 3).is_some_and(|&b| is_space(b)) {
            end = s;
            break;
        }
        s = next_line(buf, s);
    }
    end - ignored_log_message_bytes(buf, end)
}

/// The offset of the scissors line, if it is in `buf[..len]` (`wt_status_locate_end`).
fn locate_end(buf: &[u8], len: usize) -> usize {
    if buf.starts_with(CUT_LINE) {
        return 0;
    }
    // The first "\n" + cut line anywhere in the message (git searches the whole string).
    let pattern_len = CUT_LINE.len() + 1;
    let found = buf
        .windows(pattern_len)
        .position(|w| w.first() == Some(&b'\n') && w[1..] == *CUT_LINE);
    match found {
        Some(p) if p < len => p + 1,
        _ => len,
    }
}

/// How many bytes at the end of `buf[..len]` are not log message (`ignored_log_message_bytes`).
fn ignored_log_message_bytes(buf: &[u8], len: usize) -> usize {
    let cutoff = locate_end(buf, len);
    let mut boc = 0; // beginning of the trailing run; 0 doubles as "no run"
    let mut in_old_conflicts_block = false;
    let mut bol = 0;
    while bol < cutoff {
        let next = match buf[bol..len].iter().position(|&b| b == b'\n') {
            Some(nl) => bol + nl + 1,
            None => len,
        };
        let line = &buf[bol..];
        if buf[bol..cutoff].first() == Some(&COMMENT) || line.first() == Some(&b'\n') {
            if boc == 0 {
                boc = bol;
            }
        } else if line.starts_with(b"Conflicts:\n") {
            in_old_conflicts_block = true;
            if boc == 0 {
                boc = bol;
            }
        } else if in_old_conflicts_block && line.first() == Some(&b'\t') {
            // a path in the conflicts block
        } else if boc != 0 {
            boc = 0;
            in_old_conflicts_block = false;
        }
        bol = next;
    }
    if boc != 0 { len - boc } else { len - cutoff }
}

/// Where the trailer block of `buf[..len]` starts, or `len` if there is none.
fn trailer_block_start(buf: &[u8], len: usize) -> usize {
    // The first paragraph is the title and cannot be trailers.
    let mut s = 0;
    while s < len {
        if buf[s..len].first() != Some(&COMMENT) && is_blank_line(&buf[s..]) {
            break;
        }
        s = next_line(buf, s);
    }
    let end_of_title = s;

    let mut only_spaces = true;
    let mut recognized_prefix = false;
    let mut trailer_lines = 0usize;
    let mut non_trailer_lines = 0usize;
    // Indented lines below the current one: continuations if a trailer is above them, else
    // counted as non-trailers.
    let mut possible_continuation_lines = 0usize;

    let mut cursor = last_line(buf, len);
    while let Some(bol) = cursor.filter(|&l| l >= end_of_title) {
        cursor = last_line(buf, bol);
        let line = &buf[bol..];

        if buf[bol..len].first() == Some(&COMMENT) {
            non_trailer_lines += possible_continuation_lines;
            possible_continuation_lines = 0;
            continue;
        }
        if is_blank_line(line) {
            if only_spaces {
                continue;
            }
            non_trailer_lines += possible_continuation_lines;
            let accepted = (recognized_prefix && trailer_lines * 3 >= non_trailer_lines)
                || (trailer_lines > 0 && non_trailer_lines == 0);
            return if accepted { next_line(buf, bol) } else { len };
        }
        only_spaces = false;

        if GIT_GENERATED_PREFIXES.iter().any(|p| line.starts_with(p)) {
            trailer_lines += 1;
            possible_continuation_lines = 0;
            recognized_prefix = true;
            continue;
        }

        let first_is_space = line.first().is_some_and(|&b| is_space(b));
        if find_separator(line).is_some_and(|sep| sep >= 1) && !first_is_space {
            trailer_lines += 1;
            possible_continuation_lines = 0;
            // (No configured trailers: nothing else makes a prefix "recognized".)
        } else if first_is_space {
            possible_continuation_lines += 1;
        } else {
            non_trailer_lines += 1 + possible_continuation_lines;
            possible_continuation_lines = 0;
        }
    }
    len
}

/// Splits the trailer block into lines (each keeping its LF) and glues indented lines onto a
/// preceding line that has a separator.
fn trailer_strings(block: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut last_is_trailer = false;
    for line in block.split_inclusive(|&b| b == b'\n') {
        if last_is_trailer
            && line.first().is_some_and(|&b| is_space(b))
            && let Some(prev) = out.last_mut()
        {
            prev.extend_from_slice(line);
            continue;
        }
        last_is_trailer = find_separator(line).is_some_and(|sep| sep >= 1);
        out.push(line.to_vec());
    }
    out
}

/// `--unfold`: each LF and the whitespace after it become one space, then trim.
fn unfold(val: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(val.len());
    let mut i = 0;
    while i < val.len() {
        let c = val[i];
        i += 1;
        if c == b'\n' {
            while i < val.len() && is_space(val[i]) {
                i += 1;
            }
            out.push(b' ');
        } else {
            out.push(c);
        }
    }
    trim(&out).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(message: &str) -> Vec<(String, String)> {
        parse(message)
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect()
    }

    fn kv(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    /// `(name, message, expected (key, value) pairs)`.
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    );

    #[test]
    fn table() {
        let cases: &[Case] = &[
            (
                "ordinary",
                "Subject\n\nBody.\n\nProd-Access: INC-1\n",
                &[("Prod-Access", "INC-1")],
            ),
            (
                "no final newline",
                "Subject\n\nProd-Access: INC-1",
                &[("Prod-Access", "INC-1")],
            ),
            ("only subject", "Prod-Access: INC-1\n", &[]),
            ("one paragraph", "Subject\nProd-Access: INC-1\n", &[]),
            (
                "leading blank line",
                "\nProd-Access: INC-1\n",
                &[("Prod-Access", "INC-1")],
            ),
            ("empty", "", &[]),
            ("blank only", "\n\n  \n", &[]),
            (
                "not last paragraph",
                "S\n\nProd-Access: INC-1\n\nThanks.\n",
                &[],
            ),
            (
                "in prose",
                "S\n\nPlease add Prod-Access: INC-1 here.\n",
                &[],
            ),
            (
                "CRLF",
                "S\r\n\r\nProd-Access: INC-1\r\n",
                &[("Prod-Access", "INC-1")],
            ),
            ("trailing blank lines", "S\n\nA: b\n\n\n  \n", &[("A", "b")]),
            (
                "duplicates kept",
                "S\n\nProd-Access: a\nProd-Access: b\n",
                &[("Prod-Access", "a"), ("Prod-Access", "b")],
            ),
            ("U+2010 hyphen", "S\n\nProd\u{2010}Access: INC-1\n", &[]),
            ("fullwidth colon", "S\n\nProd-Access\u{FF1A} INC-1\n", &[]),
            (
                "continuation",
                "S\n\nProd-Access: INC-1\n  db outage\n\tpager\n",
                &[("Prod-Access", "INC-1 db outage pager")],
            ),
            (
                "space before separator",
                "S\n\nProd-Access \t: x\n",
                &[("Prod-Access", "x")],
            ),
            ("tab after separator", "S\n\nA:\tb\n", &[("A", "b")]),
            ("empty value", "S\n\nA:\n", &[("A", "")]),
            ("colon in value", "S\n\nA: b: c\n", &[("A", "b: c")]),
            (
                "url is a trailer",
                "S\n\nhttps://example.com/x\n",
                &[("https", "//example.com/x")],
            ),
            ("underscore", "S\n\nProd_Access: x\n", &[]),
            ("dot", "S\n\nProd.Access: x\n", &[]),
            ("two-word key", "S\n\nProd Access: x\n", &[]),
            ("leading colon", "S\n\n: x\n", &[]),
            (
                "25% with sign-off",
                "S\n\nA: b\nSigned-off-by: c\nx\ny\nz\nw\nv\nu\n",
                &[("A", "b"), ("Signed-off-by", "c")],
            ),
            (
                "under 25% with sign-off",
                "S\n\nA: b\nSigned-off-by: c\nx\ny\nz\nw\nv\nu\nt\n",
                &[],
            ),
            ("mixed without sign-off", "S\n\nA: b\nx\n", &[]),
            (
                "cherry-pick line not printed",
                "S\n\nA: b\n(cherry picked from commit 0123)\nx\n",
                &[("A", "b")],
            ),
            ("patch divider", "S\n\nA: b\n--- \nB: c\n", &[("A", "b")]),
            ("divider needs whitespace", "S\n\nA: b\n---x\n", &[]),
            ("divider on first line", "---\n\nA: b\n", &[]),
            ("comment lines", "S\n\nA: b\n# c: d\n#\n", &[("A", "b")]),
            (
                "scissors",
                "S\n\nA: b\n# ------------------------ >8 ------------------------\nB: c\n",
                &[("A", "b")],
            ),
            (
                "conflicts block",
                "S\n\nA: b\nConflicts:\n\tsrc/x.rs\n",
                &[("A", "b")],
            ),
            ("vertical tab is not space", "S\n\nA: b\n\u{b}\n", &[]),
            ("NUL ends the message", "S\n\nA: b\0\nB: c\n", &[("A", "b")]),
            (
                "CR inside folded value",
                "S\n\nA: b\r\n c\r\n",
                &[("A", "b\r c")],
            ),
            (
                "indented line after non-trailer",
                "S\n\nSigned-off-by: a\nx\n y: z\n",
                &[("Signed-off-by", "a")],
            ),
            (
                "key case kept",
                "S\n\nprod-ACCESS: x\n",
                &[("prod-ACCESS", "x")],
            ),
        ];
        for (name, message, want) in cases {
            assert_eq!(pairs(message), kv(want), "case {name}: {message:?}");
        }
    }

    #[test]
    fn find_is_case_insensitive_and_exact() {
        // As `git log --format='%(trailers:key=Prod-Access,valueonly)'` selects (checked
        // against git 2.47): whole key, ASCII case ignored, no prefix match.
        let t = parse(
            "S\n\nprod-access: a\nProd-Access-Scope: s\nPROD-ACCESS : b\nProd-Access-: c\nProd: d\n",
        );
        assert_eq!(find(&t, "Prod-Access"), vec!["a", "b"]);
        assert_eq!(find(&t, "Prod-Access-Scope"), vec!["s"]);
        assert_eq!(find(&t, "Prod"), vec!["d"]);
        assert_eq!(find(&t, "Prod-Access-"), vec!["c"]);
        assert!(find(&t, "Prod-Acc").is_empty());
    }

    #[test]
    fn long_line() {
        let long = "x".repeat(20_000);
        let t = parse(&format!("S\n\nProd-Access: {long}\n"));
        assert_eq!(find(&t, "Prod-Access"), vec![long.as_str()]);
    }
}
