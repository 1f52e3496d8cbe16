//! The steps of a story: the real binary run as one workflow step against the simulated
//! GitHub and OIDC issuer of [`prod_access::sim::story`], with the invariants every step
//! that handles a credential must hold. `mod steps;` in a test file.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use prod_access::emit::files::parse_runner_file;
use prod_access::sim::story::Story;

pub struct Step {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
}

impl Step {
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
    pub fn pairs(&self, name: &str) -> BTreeMap<String, String> {
        parse_runner_file(&self.file(name), false)
            .unwrap()
            .into_iter()
            .collect()
    }
    pub fn token(&self) -> Option<String> {
        self.pairs("env").get("PROD_ACCESS_TOKEN").cloned()
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn start(rt: &tokio::runtime::Runtime) -> Story {
    rt.block_on(Story::start()).expect("the simulators start")
}

/// Runs the binary for one step in its own runner directory.
pub fn run(
    story: &Story,
    name: &str,
    args: &[&str],
    edit: impl FnOnce(&mut BTreeMap<String, String>, &Path),
) -> Step {
    let dir = story.step_dir(name).unwrap();
    let mut env = story.env(&dir);
    edit(&mut env, &dir);
    let out = Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let step = Step {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    };
    assert!(!step.stderr.contains("panicked"), "{}", step.stderr);
    step
}

/// Starts the binary for one step without waiting (for signals and concurrent jobs).
pub fn spawn(
    story: &Story,
    name: &str,
    args: &[&str],
    edit: impl FnOnce(&mut BTreeMap<String, String>, &Path),
) -> (std::process::Child, PathBuf) {
    let dir = story.step_dir(name).unwrap();
    let mut env = story.env(&dir);
    edit(&mut env, &dir);
    let child = Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, dir)
}

/// Waits for a spawned step. A signal that killed the process is `128 + signal`, as a
/// shell reports it.
pub fn finish(child: std::process::Child, dir: PathBuf) -> Step {
    use std::os::unix::process::ExitStatusExt;
    let out = child.wait_with_output().unwrap();
    Step {
        code: out
            .status
            .code()
            .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    }
}

/// Each distinct `::add-mask::` value is written once.
pub fn assert_masks_once(step: &Step) {
    let mut seen = std::collections::BTreeSet::new();
    for line in step
        .stdout
        .lines()
        .filter(|l| l.starts_with("::add-mask::"))
    {
        assert!(seen.insert(line), "mask written twice: {line}");
    }
}

pub fn grant(story: &Story, name: &str) -> Step {
    run(story, name, &["grant"], |_, _| {})
}

/// The token appears on stdout only on its mask line, which precedes every other line that
/// could show it, and nowhere else but GITHUB_ENV.
pub fn assert_token_contained(step: &Step, story: &Story) {
    let token = step.token().expect("a token in GITHUB_ENV");
    let mut lines = step.stdout.lines();
    let mask = format!("::add-mask::{token}");
    assert!(
        lines.any(|l| l == mask),
        "no mask line for the token:\n{}",
        step.stdout
    );
    let on_stdout = step.stdout.lines().filter(|l| l.contains(&token)).count();
    assert_eq!(on_stdout, 1, "the token is on stdout beyond its mask line");
    let signature = token.rsplit('.').next().unwrap();
    for (what, text) in [
        ("stderr", step.stderr.clone()),
        ("outputs", step.file("output")),
        ("state", step.file("state")),
        ("summary", step.file("summary.md")),
        ("comments", story.comments().join("\n")),
    ] {
        assert!(
            !text.contains(signature),
            "the token's signature is in {what}"
        );
    }
}

pub fn assert_nothing_handed_over(step: &Step) {
    assert_eq!(step.token(), None, "a token reached GITHUB_ENV");
    assert_ne!(
        step.pairs("output").get("granted").map(String::as_str),
        Some("true")
    );
}

/// A fresh unencrypted Ed25519 CA key from `ssh-keygen`.
pub fn ssh_ca_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test-ca", "-f"])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen failed");
    std::fs::read_to_string(path).unwrap()
}
