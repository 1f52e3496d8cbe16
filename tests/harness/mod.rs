//! Test harness: runs the real `prod-access` binary in a scrubbed environment with a fresh
//! temp directory, and checks the invariants every run must hold.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A builder for one invocation of the binary.
pub struct Cli {
    args: Vec<String>,
    env: BTreeMap<String, String>,
    pub dir: tempfile::TempDir,
}

impl Cli {
    pub fn new(args: &[&str]) -> Self {
        Self {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: BTreeMap::new(),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.insert(k.to_string(), v.into());
        self
    }

    /// Writes a file in the run's temp dir and returns its path.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, contents).expect("write");
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_prod-access"))
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .envs(&self.env)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run prod-access");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        run.assert_no_panic();
        run
    }
}

impl Run {
    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked at") && !self.stderr.contains("RUST_BACKTRACE"),
            "the binary panicked:\n{}",
            self.stderr
        );
        assert_ne!(self.code, 101, "exit 101 is a panic:\n{}", self.stderr);
    }

    /// No line of stdout or stderr could start a workflow command except the ones the
    /// tool builds itself (`allowed` prefixes, e.g. `::add-mask::`).
    pub fn assert_no_injected_commands(&self, allowed: &[&str]) {
        for line in self.stdout.lines().chain(self.stderr.lines()) {
            let t = line.trim_start();
            if t.starts_with("::") {
                assert!(
                    allowed.iter().any(|a| t.starts_with(a)),
                    "unexpected workflow command: {line}"
                );
            }
            assert!(!line.contains("##["), "legacy workflow command: {line}");
        }
    }

    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The repository root (for shipped examples).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
