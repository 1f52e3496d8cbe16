//! The only writer of stdout and stderr (and, with the grant flow, of the runner's files).
//!
//! Everything the tool prints passes through [`Console`]: plain lines are neutralised with
//! [`escape::log_line`] so no untrusted text can start a workflow command, and the workflow
//! commands themselves (`::add-mask::`, annotations, `::stop-commands::`) are built only
//! here, with their data and properties escaped. Masking comes first by construction: the
//! grant flow hands a secret to [`Console::mask`] before any other writer sees it.

pub mod escape;
pub mod files;

use std::io::Write;

use crate::secret::Secret;

/// Severity of a workflow annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Notice,
    Warning,
    Error,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// stdout and stderr of the process (or buffers, in tests).
pub struct Console {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    /// Write workflow commands (`::add-mask::`, annotations). Off outside a runner would be
    /// wrong for masks, so it is always on; kept as a field for `demo` output styling.
    workflow_commands: bool,
    /// SHA-256 of every mask value sent: each distinct value is masked once (the runner
    /// needs it once; repeating a secret on stdout only widens where it appears). Digests,
    /// not the values: the console keeps no copy of a secret.
    masked: std::collections::HashSet<[u8; 32]>,
}

impl Console {
    /// The process's stdout and stderr.
    pub fn stdio() -> Self {
        Self::new(Box::new(std::io::stdout()), Box::new(std::io::stderr()))
    }

    pub fn new(out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> Self {
        Self {
            out,
            err,
            workflow_commands: true,
            masked: std::collections::HashSet::new(),
        }
    }

    /// One `::add-mask::` line for `value`, unless the same value was masked already.
    fn mask_line(&mut self, value: &str) {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if self.masked.insert(key) {
            self.out_raw(&format!("::add-mask::{}", escape::workflow_data(value)));
        }
    }

    // Output errors (a closed pipe) are ignored on purpose: the exit code carries the
    // outcome, and a failed log line must not turn a revoke into a crash.
    fn out_raw(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    fn err_raw(&mut self, line: &str) {
        let _ = writeln!(self.err, "{line}");
        let _ = self.err.flush();
    }

    /// A line on stdout. Each line of `text` is neutralised.
    pub fn say(&mut self, text: &str) {
        for line in text.split('\n') {
            let safe = escape::log_line(line.trim_end_matches('\r'));
            self.out_raw(&safe);
        }
    }

    /// Bytes on stdout as they are: only for text this tool generates from its own
    /// definitions, with nothing untrusted in it (completion scripts, the man page), which
    /// [`Self::say`]'s neutralising would corrupt (zsh completions use `::`).
    pub fn raw_stdout(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes);
        let _ = self.out.flush();
    }

    /// One JSON document on stdout, pretty-printed, with nothing before or after it.
    ///
    /// SECURITY: the document carries untrusted text (reasons, logins), and the runner reads
    /// workflow commands on stdout. A pretty-printed line starts with spaces and a JSON
    /// token, never with `::`; `#` can only occur inside a JSON string, where `\u0023` is
    /// the same character to every parser: a `#` followed by another is written so, and
    /// `##[` cannot occur at all. Bidi and
    /// zero-width characters are escaped the same way. The document parses to the same value.
    pub fn json<T: serde::Serialize>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        let text = serde_json::to_string_pretty(value)?;
        let mut safe = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                // Only a `#` before another `#`: `##[` becomes `\u0023#[`; URLs keep theirs.
                '#' if chars.peek() == Some(&'#') => safe.push_str("\\u0023"),
                c if escape::is_deceptive_format(c) => {
                    safe.push_str(&format!("\\u{:04x}", c as u32));
                }
                c => safe.push(c),
            }
        }
        self.out_raw(&safe);
        Ok(())
    }

    /// A line on stderr, prefixed `prod-access: `. Each line is neutralised.
    pub fn error(&mut self, text: &str) {
        for line in text.split('\n') {
            let safe = escape::log_line(line.trim_end_matches('\r'));
            self.err_raw(&format!("prod-access: {safe}"));
        }
    }

    /// `::add-mask::` for a secret, before it reaches anything else: the value as one escaped
    /// command (the runner unescapes `%0A`), then every line on its own, then each extra
    /// encoded form (e.g. a percent-encoded password inside a URL).
    ///
    /// Returns the [`Masked`] proof that [`files::RunnerFiles::write_env`] requires: the only
    /// way to hand a secret to a runner file is through this call.
    ///
    /// SECURITY: must be called before the value is written to any file, log or child.
    pub fn mask<'a>(&mut self, secret: &'a Secret, encoded_forms: &[Secret]) -> Masked<'a> {
        let mut lines: Vec<&str> = Vec::new();
        for form in std::iter::once(secret).chain(encoded_forms) {
            let value = form.expose();
            if value.trim().is_empty() {
                continue;
            }
            self.mask_line(value);
            if value.contains('\n') || value.contains('\r') {
                lines.extend(value.split('\n').map(|l| l.trim_end_matches('\r')));
            }
        }
        for line in lines {
            if !line.trim().is_empty() {
                self.mask_line(line);
            }
        }
        Masked { secret }
    }

    /// A workflow annotation (`::error title=T::message`), data and title escaped.
    pub fn annotation(&mut self, level: Level, title: &str, message: &str) {
        if !self.workflow_commands {
            return self.say(message);
        }
        self.out_raw(&format!(
            "::{} title={}::{}",
            level.command(),
            escape::workflow_property(&escape::log_line(title)),
            escape::workflow_data(&escape::log_line(message))
        ));
    }

    /// Untrusted multi-line text shown verbatim between `::stop-commands::` markers with a
    /// fresh random token, so the runner executes nothing inside it. Bidi and control
    /// characters are still made visible.
    pub fn untrusted_block(&mut self, title: &str, text: &str) {
        let token = random_token();
        self.say(title);
        self.out_raw(&format!("::stop-commands::{token}"));
        for line in text.split('\n') {
            // Lines are shown, not neutralised: commands are off. Controls stay visible.
            let shown: String = line
                .trim_end_matches('\r')
                .chars()
                .map(|c| {
                    if c.is_control() && c != '\t' {
                        '\u{FFFD}'
                    } else {
                        c
                    }
                })
                .collect();
            // A line equal to the resume command would end the block early: impossible,
            // the token is fresh and random, but check anyway.
            if shown.contains(&token) {
                self.out_raw("[line withheld]");
            } else {
                self.out_raw(&shown);
            }
        }
        self.out_raw(&format!("::{token}::"));
    }
}

/// Proof that a secret was announced with `::add-mask::` by [`Console::mask`].
///
/// SECURITY: the field is private and the only constructor is [`Console::mask`], so code
/// outside this module cannot make one: a function that takes `&Masked` (such as
/// [`files::RunnerFiles::write_env`]) can only ever receive a value that was masked first.
/// The proof borrows the very [`Secret`] it was made for, so it cannot outlive it or be
/// paired with another value. `Debug` prints `Masked(***)`.
///
/// The guarantee is checked by the compiler; these do not build:
///
/// ```compile_fail,E0451
/// use prod_access::emit::Masked;
/// use prod_access::secret::Secret;
/// let secret = Secret::new("value");
/// let forged = Masked { secret: &secret }; // the field is private
/// ```
///
/// ```compile_fail,E0308
/// use prod_access::emit::files::{RunnerFiles, RunnerPaths};
/// use prod_access::secret::Secret;
/// let mut files = RunnerFiles::open(&RunnerPaths::default()).unwrap();
/// let secret = Secret::new("value");
/// files.write_env(&[("PROD_ACCESS_TOKEN", &secret)]); // a Secret is not a Masked proof
/// ```
///
/// The one way in:
///
/// ```
/// use prod_access::emit::{Console, files::{RunnerFiles, RunnerPaths}};
/// use prod_access::secret::Secret;
/// let dir = tempfile::tempdir().unwrap();
/// let paths = RunnerPaths { env: Some(dir.path().join("env")), ..RunnerPaths::default() };
/// let mut files = RunnerFiles::open(&paths).unwrap();
/// let mut console = Console::new(Box::new(std::io::sink()), Box::new(std::io::sink()));
/// let secret = Secret::new("value");
/// let masked = console.mask(&secret, &[]);
/// files.write_env(&[("PROD_ACCESS_TOKEN", &masked)]).unwrap();
/// ```
#[must_use = "a mask proof is only useful when handed to the writer that needs it"]
pub struct Masked<'a> {
    secret: &'a Secret,
}

impl Masked<'_> {
    /// The masked value, for the writers in this module tree only.
    pub(crate) fn expose(&self) -> &str {
        self.secret.expose()
    }

    /// The secret's `sha256:` fingerprint (safe to print).
    pub fn fingerprint(&self) -> String {
        self.secret.fingerprint()
    }
}

impl std::fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Masked(***)")
    }
}

/// 128 random bits as hex, from the system CSPRNG.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // SECURITY: a failing CSPRNG must not yield a predictable token; fall back to an
    // impossible-to-collide marker is not possible, so abort the process instead.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        std::process::abort();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An in-memory `Write` that can be read back, for a [`Console`] whose output is shown or
/// checked rather than printed: `demo` shows each step's log, tests assert on it.
#[derive(Clone, Default)]
pub struct CaptureBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for CaptureBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CaptureBuf {
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|v| v.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
pub(crate) mod test_support {

    pub use super::CaptureBuf as Buf;

    /// User text that tries every trick markdown and the runner allow (catalogue 45, 73).
    pub fn hostile_strings() -> Vec<String> {
        let mut v: Vec<String> = [
            "@everyone",
            "@acme/sre please look",
            "cc @octocat and @acme/sre",
            "<img src=x onerror=alert(1)>",
            "<script>alert(1)</script>",
            "<!-- prod-access:grant id=forged run=1.1 scope=db-admin -->",
            "[x](javascript:alert(1))",
            "![i](https://evil.test/i.png)",
            "[click](https://evil.test)",
            "<https://evil.test>",
            "https://evil.test/phish",
            "www.evil.test",
            "mail me: user@evil.test",
            "a | b | c",
            "line1\nline2\r\n| --- | --- |\n## heading",
            "| Decision | **GRANTED** |",
            "`code` ``more``",
            "**bold** _it_ ~~strike~~",
            "&lt;img src=x&gt; &#124;",
            "\\| escaped pipe",
            "[ref]: https://evil.test",
            "> [!CAUTION]\n> fake",
            "::add-mask::x\n##[set-output name=granted;]true",
            "\u{1b}[31mred\u{1b}[0m \u{202e}txt.exe \0nul \u{200b}zw",
            "😀 ünïcödé",
            "#123 acme/payments#1 GH-1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // 100 KB with ANSI escapes, U+202E and NULs (catalogue 45).
        v.push("\u{1b}[2J\u{202e}\0@everyone <b>|".repeat(4_000));
        v
    }

    /// `s` with every backslash escape (`\\X`) and the inside of every code span replaced by
    /// `·`: what markdown still reads as syntax.
    pub fn unescaped_view(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        let mut in_code = false;
        while let Some(c) = chars.next() {
            if c == '`' {
                in_code = !in_code;
                out.push(c);
            } else if in_code {
                out.push('·');
            } else if c == '\\' {
                match chars.next() {
                    Some(n) if n.is_ascii_punctuation() => out.push('·'),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Whether `rendered` (made with a hostile string in every user field) has the same
    /// markdown structure as `baseline` (made with a benign word): same lines, same table
    /// pipes per line, no more links, HTML, URLs, code
    /// spans or emphasis than the baseline; no mention and no raw control character.
    pub fn assert_same_structure(baseline: &str, rendered: &str, hostile: &str) {
        let (bv, rv) = (unescaped_view(baseline), unescaped_view(rendered));
        let b: Vec<&str> = bv.lines().collect();
        let r: Vec<&str> = rv.lines().collect();
        assert_eq!(
            b.len(),
            r.len(),
            "line count changed by {hostile:?}:\n{rendered}"
        );
        for (bl, rl) in b.iter().zip(&r) {
            assert_eq!(
                bl.matches('|').count(),
                rl.matches('|').count(),
                "{hostile:?}: {rl}"
            );
            assert_eq!(
                bl.starts_with('|'),
                rl.starts_with('|'),
                "{hostile:?}: {rl}"
            );
            assert_eq!(
                bl.starts_with('#'),
                rl.starts_with('#'),
                "{hostile:?}: {rl}"
            );
            assert_eq!(
                bl.starts_with('>'),
                rl.starts_with('>'),
                "{hostile:?}: {rl}"
            );
        }
        for needle in ["<", ">", "](", "://", "![", "[!", "`", "**", "www.", "<!--"] {
            assert!(
                rv.matches(needle).count() <= bv.matches(needle).count(),
                "{needle:?} added by {hostile:?}:\n{rendered}"
            );
        }
        for (i, _) in rendered.match_indices('&') {
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#124;"]
                    .iter()
                    .any(|e| rendered[i..].starts_with(e)),
                "raw entity left by {hostile:?}"
            );
        }
        for (i, _) in rendered.match_indices('@') {
            let next = rendered[i + 1..].chars().next().unwrap_or(' ');
            assert!(
                !(next.is_ascii_alphanumeric() || next == '-' || next == '_'),
                "mention left by {hostile:?}: {rendered}"
            );
        }
        for c in rendered.chars() {
            assert!(
                c == '\n' || !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
                "control {c:?} left by {hostile:?}"
            );
        }
        assert!(
            rendered.len() < 12_000,
            "not truncated: {} bytes",
            rendered.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::Buf;
    use super::*;

    fn console() -> (Console, Buf, Buf) {
        let (o, e) = (Buf::default(), Buf::default());
        (Console::new(Box::new(o.clone()), Box::new(e.clone())), o, e)
    }

    #[test]
    fn say_neutralises_injected_commands() {
        let (mut c, o, _) = console();
        c.say("reason: x\n::add-mask::y\n  ::set-output name=granted::true ##[error]z");
        for line in o.text().lines() {
            assert!(!line.trim_start().starts_with("::"), "{line}");
            assert!(!line.contains("##["), "{line}");
        }
    }

    #[test]
    fn error_goes_to_stderr_neutralised() {
        let (mut c, o, e) = console();
        c.error("::error::boom");
        assert!(o.text().is_empty());
        assert!(e.text().starts_with("prod-access: "));
        assert!(!e.text().contains("::error::"));
    }

    #[test]
    fn mask_covers_every_line_of_a_multiline_secret() {
        let (mut c, o, _) = console();
        let pem =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIF\r\n-----END PRIVATE KEY-----\n";
        let secret = Secret::new(pem);
        let _ = c.mask(&secret, &[Secret::new("pa%25ss")]);
        let text = o.text();
        assert!(
            text.contains("::add-mask::-----BEGIN PRIVATE KEY-----%0AMC4CAQAwBQYDK2VwBCIEIF%0D%0A")
        );
        assert!(text.contains("\n::add-mask::MC4CAQAwBQYDK2VwBCIEIF\n"));
        assert!(text.contains("::add-mask::pa%2525ss"));
        for line in text.lines() {
            assert!(line.starts_with("::add-mask::"), "{line}");
        }
    }

    #[test]
    fn each_distinct_value_is_masked_once() {
        let (mut c, o, _) = console();
        let pem = Secret::new("-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n");
        let again = Secret::new("AAAA");
        let _ = c.mask(&pem, &[]);
        let _ = c.mask(&again, &[]);
        let _ = c.mask(&pem, &[]);
        let text = o.text();
        assert_eq!(text.matches("\n::add-mask::AAAA\n").count(), 1, "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
    }

    #[test]
    fn annotation_escapes_title_and_data() {
        let (mut c, o, _) = console();
        c.annotation(Level::Error, "denied: a,b:c", "line1\nline2 %");
        assert_eq!(
            o.text(),
            "::error title=denied%3A a%2Cb%3Ac::line1\\nline2 %25\n"
        );
    }

    #[test]
    fn untrusted_block_is_fenced_by_a_fresh_token() {
        let (mut c, o, _) = console();
        c.untrusted_block("commit message:", "fix\n::add-mask::x\n::endtoken::");
        let text = o.text();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines[1].strip_prefix("::stop-commands::").unwrap();
        assert_eq!(start.len(), 32);
        assert_eq!(lines.last().unwrap(), &format!("::{start}::"));
        assert_ne!(random_token(), random_token());
    }
}

/// A `Write` for debug logs: buffers until a newline and writes each line to stderr through
/// [`escape::log_line`], so a log message with user text cannot start a workflow command.
pub struct LogWriter {
    buf: Vec<u8>,
}

impl LogWriter {
    pub fn stderr() -> Self {
        Self { buf: Vec::new() }
    }
}

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        while let Some(pos) = self.buf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            let _ = writeln!(std::io::stderr(), "{}", escape::log_line(&text));
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            let _ = writeln!(std::io::stderr(), "{}", escape::log_line(&text));
        }
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
