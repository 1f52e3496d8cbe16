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
    stdin: Option<Vec<u8>>,
    pub dir: tempfile::TempDir,
}

impl Cli {
    pub fn new(args: &[&str]) -> Self {
        Self {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: BTreeMap::new(),
            stdin: None,
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

    /// Bytes for the binary's stdin (default: none, stdin is /dev/null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
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
        let mut command = Command::new(env!("CARGO_BIN_EXE_prod-access"));
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .envs(&self.env)
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = match &self.stdin {
            None => command
                .stdin(Stdio::null())
                .output()
                .expect("run prod-access"),
            Some(bytes) => {
                use std::io::Write as _;
                let mut child = command
                    .stdin(Stdio::piped())
                    .spawn()
                    .expect("run prod-access");
                let mut pipe = child.stdin.take().expect("stdin pipe");
                // A binary that exits before reading all of stdin closes the pipe: fine.
                let _ = pipe.write_all(bytes);
                drop(pipe);
                child.wait_with_output().expect("wait for prod-access")
            }
        };
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
