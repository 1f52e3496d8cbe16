//! Differential test: `prod_access::event::trailers::parse` against the real
//! `git interpret-trailers --parse`, on every message in `tests/fixtures/trailers/`.
//!
//! Not skippable: if `git` cannot be run, the test fails. Set `PROD_ACCESS_TEST_GIT` to use a
//! git other than the one on `PATH`. Git runs hermetically: empty environment, no system,
//! global or repository configuration, `HOME` and the working directory in a fresh temp dir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use prod_access::event::trailers;

/// The corpus must not shrink silently.
const MIN_CORPUS: usize = 80;

type Pairs = Vec<(String, String)>;

struct Git {
    program: String,
    home: tempfile::TempDir,
}

impl Git {
    fn new() -> Self {
        let program = std::env::var("PROD_ACCESS_TEST_GIT").unwrap_or_else(|_| "git".into());
        let home = tempfile::tempdir().unwrap();
        let git = Self { program, home };
        // Fails (does not skip) when git is missing, and proves no configuration is visible.
        let out = git
            .command(&["config", "--list", "--show-origin"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}; git is required", git.program));
        assert!(out.status.success(), "git config --list failed: {out:?}");
        assert!(
            out.stdout.is_empty(),
            "git sees configuration, the test is not hermetic:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        git
    }

    fn command(&self, args: &[&str]) -> Command {
        let home = self.home.path();
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CEILING_DIRECTORIES", home)
            .env("LC_ALL", "C")
            .current_dir(home);
        cmd
    }

    /// `git interpret-trailers --parse` on `message` (exact bytes on stdin).
    fn parse(&self, message: &[u8]) -> Pairs {
        let mut child = self
            .command(&["interpret-trailers", "--parse"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}; git is required", self.program));
        let mut stdin = child.stdin.take().unwrap();
        let input = message.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "git interpret-trailers failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        parse_git_output(&text)
    }
}

/// Git prints one `key: value` per trailer (with `--parse`, every key ends in an ASCII
/// alphanumeric or `-`, so the first `:` is the separator). Lines are split on LF only: a
/// value may contain CR. A line of another form is kept whole so that it shows as a mismatch.
fn parse_git_output(text: &str) -> Pairs {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return Vec::new();
    }
    body.split('\n')
        .map(|line| match line.split_once(':') {
            Some((key, rest)) if rest.starts_with(' ') => (key.to_string(), rest[1..].to_string()),
            _ => ("<unparsed git output line>".to_string(), line.to_string()),
        })
        .collect()
}

fn ours(message: &str) -> Pairs {
    trailers::parse(message)
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect()
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trailers");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

/// Short, escaped rendering of a result for the failure report.
fn show(pairs: &Pairs) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = if v.chars().count() > 120 {
                format!(
                    "{}…({} chars)",
                    v.chars().take(120).collect::<String>(),
                    v.len()
                )
            } else {
                v.clone()
            };
            format!("({k:?}, {v:?})")
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn compare(git: &Git, name: &str, message: &str, failures: &mut Vec<String>) {
    let want = git.parse(message.as_bytes());
    let got = ours(message);
    if want != got {
        failures.push(format!(
            "{name}\n  git:  {}\n  ours: {}",
            show(&want),
            show(&got)
        ));
    }
}

#[test]
fn parse_matches_git_interpret_trailers_on_the_corpus() {
    let git = Git::new();
    let files = fixtures();
    assert!(
        files.len() >= MIN_CORPUS,
        "corpus has {} messages, expected at least {MIN_CORPUS}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        assert!(!bytes.contains(&0), "{name}: fixtures are NUL-free");
        let message = String::from_utf8(bytes)
            .unwrap_or_else(|e| panic!("{name}: fixtures must be UTF-8 (parse takes &str): {e}"));
        compare(&git, &name, &message, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} messages differ from git:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Messages that are awkward as fixture files (NUL bytes, sizes), built in code.
#[test]
fn parse_matches_git_interpret_trailers_on_generated_messages() {
    let git = Git::new();
    let many_lines: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    let cases: Vec<(&str, String)> = vec![
        ("nul-after-trailer", "S\n\nProd-Access: a\0\nB: c\n".into()),
        ("nul-hides-trailer", "S\n\nx\0\nProd-Access: a\n".into()),
        ("nul-in-value", "S\n\nProd-Access: INC-1\0evil\n".into()),
        ("nul-first", "\0S\n\nProd-Access: a\n".into()),
        (
            "long-value-100k",
            format!("S\n\nProd-Access: {}\n", "z".repeat(100_000)),
        ),
        (
            "many-lines-then-trailer",
            format!("S\n\n{many_lines}\nProd-Access: a\n"),
        ),
        (
            "many-continuations",
            format!("S\n\nProd-Access: a\n{}", "  more\n".repeat(2000)),
        ),
    ];
    let mut failures = Vec::new();
    for (name, message) in &cases {
        compare(&git, name, message, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} generated messages differ from git:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
