//! The runner's file commands: `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STATE` and
//! `GITHUB_STEP_SUMMARY`, written append-only.
//!
//! Every `name=value` pair is written in the heredoc form the runner reads
//! (`NAME<<DELIM\nVALUE\nDELIM\n`) with a fresh random delimiter per value, checked absent
//! from the value and the name: a value cannot end its own heredoc early, so it cannot add a
//! variable (catalogue 34). Names are validated before anything is written, and a batch is
//! written with one `write_all` after every check passed, so a refused batch leaves nothing.
//! See: <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#multiline-strings>
//! and the runner's parser (`EnvFileKeyValuePairs` in `src/Runner.Worker/FileCommandManager.cs`
//! of actions/runner): a line `NAME=VALUE`, or `NAME<<DELIM` then lines up to one equal to
//! `DELIM` (on Windows runners a line also ends at `\r\n`).
//!
//! Secrets reach `GITHUB_ENV` only through [`RunnerFiles::write_env`], which takes a
//! [`Masked`] proof that only [`super::Console::mask`] can make. Outputs and state take
//! `&str`: a [`crate::secret::Secret`] cannot be passed there without an explicit `expose()`.
//!
//! Files are opened for append and never truncated or created over something else:
//! SECURITY: the runner creates each file as a fresh regular file for the step, so anything
//! else at the path (a symlink an earlier step planted, a FIFO, a device) is refused rather
//! than followed: the path is checked with `lstat`, opened, and the open file must be the
//! same regular file (`dev`/`ino`). A missing file is created with `O_EXCL` (which never
//! follows a symlink) and mode 0600, for runs outside a runner (`demo`, tests).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{Masked, random_token};

/// How many fresh delimiters to try before giving up on a value that (impossibly) contains
/// every one of them.
const DELIMITER_ATTEMPTS: usize = 8;

/// Longest accepted name of a variable, output or state entry.
const MAX_NAME_LEN: usize = 128;

/// Which runner file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Env,
    Output,
    State,
    StepSummary,
}

impl FileKind {
    /// The variable that names the file.
    pub fn variable(self) -> &'static str {
        match self {
            FileKind::Env => "GITHUB_ENV",
            FileKind::Output => "GITHUB_OUTPUT",
            FileKind::State => "GITHUB_STATE",
            FileKind::StepSummary => "GITHUB_STEP_SUMMARY",
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.variable())
    }
}

/// A failure to write a runner file. No variant carries a value: only names and paths.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot open {file} at {}: {source}", path.display())]
    Open {
        file: FileKind,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {file} at {}: {source}", path.display())]
    Write {
        file: FileKind,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} at {} is not a regular file ({what}); refusing to write through it", path.display())]
    NotRegular {
        file: FileKind,
        path: PathBuf,
        what: &'static str,
    },
    #[error(
        "{file} at {} ends inside an unterminated multi-line value; refusing to append",
        path.display()
    )]
    UnterminatedHeredoc { file: FileKind, path: PathBuf },
    #[error("{file} is not set: the runner gives every step this file")]
    NotConfigured { file: FileKind },
    #[error("`{name}` is not a valid name for {file}: {why}")]
    InvalidName {
        file: FileKind,
        name: String,
        why: &'static str,
    },
    #[error("the value of `{name}` for {file} cannot be written safely: {why}")]
    UnsafeValue {
        file: FileKind,
        name: String,
        why: &'static str,
    },
}

/// The runner's file paths, given explicitly (from [`crate::runner`] or a test), never read
/// from the environment here. Each is optional: outside a runner none is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerPaths {
    pub env: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
}

impl RunnerPaths {
    /// Reads the four paths from a variable lookup (the process environment in production).
    /// Empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let path = |kind: FileKind| {
            get(kind.variable())
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            env: path(FileKind::Env),
            output: path(FileKind::Output),
            state: path(FileKind::State),
            step_summary: path(FileKind::StepSummary),
        }
    }
}

/// One open runner file.
struct RunnerFile {
    kind: FileKind,
    path: PathBuf,
    file: File,
}

impl RunnerFile {
    fn append(&mut self, bytes: &[u8]) -> Result<(), FilesError> {
        let wrap = |source| FilesError::Write {
            file: self.kind,
            path: self.path.clone(),
            source,
        };
        self.file.write_all(bytes).map_err(wrap)?;
        self.file.flush().map_err(wrap)?;
        Ok(())
    }
}

/// The runner's files, opened for append.
pub struct RunnerFiles {
    env: Option<RunnerFile>,
    output: Option<RunnerFile>,
    state: Option<RunnerFile>,
    step_summary: Option<RunnerFile>,
}

impl std::fmt::Debug for RunnerFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = |f: &Option<RunnerFile>| f.as_ref().map(|f| f.path.clone());
        f.debug_struct("RunnerFiles")
            .field("env", &path(&self.env))
            .field("output", &path(&self.output))
            .field("state", &path(&self.state))
            .field("step_summary", &path(&self.step_summary))
            .finish()
    }
}

impl RunnerFiles {
    /// Opens every file that `paths` names, for append. Opening up front means an
    /// unwritable file (a read-only `GITHUB_ENV`, catalogue 94) is found before anything is
    /// minted; a write can still fail later and returns [`FilesError`] too.
    pub fn open(paths: &RunnerPaths) -> Result<Self, FilesError> {
        let open = |kind: FileKind, path: &Option<PathBuf>| {
            path.as_deref().map(|p| open_append(kind, p)).transpose()
        };
        Ok(Self {
            env: open(FileKind::Env, &paths.env)?,
            output: open(FileKind::Output, &paths.output)?,
            state: open(FileKind::State, &paths.state)?,
            step_summary: open(FileKind::StepSummary, &paths.step_summary)?,
        })
    }

    /// Writes the credential's variables to `GITHUB_ENV`, each in heredoc form with a fresh
    /// delimiter. Every value must come with the proof that it was masked.
    ///
    /// SECURITY: all names and values are checked before the first byte is written; on any
    /// error nothing of the batch is written. A missing `GITHUB_ENV` is an error: the caller
    /// revokes.
    pub fn write_env(&mut self, vars: &[(&str, &Masked<'_>)]) -> Result<(), FilesError> {
        let kind = FileKind::Env;
        let file = self
            .env
            .as_mut()
            .ok_or(FilesError::NotConfigured { file: kind })?;
        // The batch holds secret values: wiped from memory once written.
        let mut text = Zeroizing::new(String::new());
        for (i, (name, value)) in vars.iter().enumerate() {
            validate_env_name(name)?;
            if vars[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(FilesError::InvalidName {
                    file: kind,
                    name: name.to_string(),
                    why: "it is given twice",
                });
            }
            let unsafe_value = |why| FilesError::UnsafeValue {
                file: kind,
                name: name.to_string(),
                why,
            };
            // SECURITY: the runner masks no blank value (and `Console::mask` sends none), so
            // a blank secret would show in every later log; a NUL cannot be in an
            // environment variable and would be cut or refused by whatever spawns the
            // next process. Both are provider bugs: refuse rather than hand them on.
            if value.expose().trim().is_empty() {
                return Err(unsafe_value(
                    "it is blank, and a blank value cannot be masked",
                ));
            }
            if value.expose().contains('\0') {
                return Err(unsafe_value("it contains a NUL character"));
            }
            push_heredoc(&mut text, kind, name, value.expose())?;
        }
        file.append(text.as_bytes())
    }

    /// Non-secret variables for later steps (file paths, the grant id). Plain `&str`, so
    /// nothing secret can come here: secrets go through [`Self::write_env`] with their
    /// mask proof. Names are checked as for secrets.
    pub fn write_public_env(&mut self, pairs: &[(&str, &str)]) -> Result<(), FilesError> {
        for (name, _) in pairs {
            validate_env_name(name)?;
        }
        write_pairs(self.env.as_mut(), FileKind::Env, pairs, true)
    }

    /// Writes step outputs (`requested`, `granted`, `grant-id`, `scope`, `expires-at`,
    /// `approvers`). Never secrets: the values are plain `&str`. Without `GITHUB_OUTPUT`
    /// (outside a runner) nothing is written.
    pub fn write_outputs(&mut self, pairs: &[(&str, &str)]) -> Result<(), FilesError> {
        write_pairs(self.output.as_mut(), FileKind::Output, pairs, false)
    }

    /// Writes what the post step needs to `GITHUB_STATE`. Never secrets. A missing
    /// `GITHUB_STATE` is an error: `revoke` could not find the grant.
    pub fn write_state(&mut self, pairs: &[(&str, &str)]) -> Result<(), FilesError> {
        write_pairs(self.state.as_mut(), FileKind::State, pairs, true)
    }

    /// Appends markdown to the step summary (see [`crate::report::summary`]). Without
    /// `GITHUB_STEP_SUMMARY` nothing is written.
    pub fn append_summary(&mut self, markdown: &str) -> Result<(), FilesError> {
        let Some(file) = self.step_summary.as_mut() else {
            return Ok(());
        };
        let mut text = markdown.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        file.append(text.as_bytes())
    }
}

fn write_pairs(
    file: Option<&mut RunnerFile>,
    kind: FileKind,
    pairs: &[(&str, &str)],
    required: bool,
) -> Result<(), FilesError> {
    let Some(file) = file else {
        return if required {
            Err(FilesError::NotConfigured { file: kind })
        } else {
            Ok(())
        };
    };
    let mut text = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        validate_key_name(kind, name)?;
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(FilesError::InvalidName {
                file: kind,
                name: name.to_string(),
                why: "it is given twice",
            });
        }
        push_heredoc(&mut text, kind, name, value)?;
    }
    file.append(text.as_bytes())
}

/// `NAME<<DELIM\nVALUE\nDELIM\n`, with a delimiter that occurs in neither name nor value.
fn push_heredoc(
    out: &mut String,
    kind: FileKind,
    name: &str,
    value: &str,
) -> Result<(), FilesError> {
    let unsafe_value = |why| FilesError::UnsafeValue {
        file: kind,
        name: name.to_string(),
        why,
    };
    // On a Windows runner a line also ends at `\r\n`: a value ending in `\r` would lose it
    // and a line `DELIM\r` would close the heredoc. The delimiter check below covers the
    // second; the first would silently change a credential, so refuse it.
    if value.ends_with('\r') {
        return Err(unsafe_value("it ends with a carriage return"));
    }
    for _ in 0..DELIMITER_ATTEMPTS {
        let delimiter = format!("ghadelimiter_{}", random_token());
        // SECURITY: a value holding the delimiter anywhere (not only as a whole line) is
        // never written with it, whatever the line-ending rules of the runner's platform.
        if value.contains(&delimiter) || name.contains(&delimiter) {
            continue;
        }
        out.push_str(name);
        out.push_str("<<");
        out.push_str(&delimiter);
        out.push('\n');
        out.push_str(value);
        out.push('\n');
        out.push_str(&delimiter);
        out.push('\n');
        return Ok(());
    }
    Err(unsafe_value("it contains every delimiter tried"))
}

/// Names the runner's parser reads back as exactly this name: `[A-Za-z_][A-Za-z0-9_]*` for
/// variables; outputs and state also allow `-` after the first character (`grant-id`).
fn check_name_shape(kind: FileKind, name: &str, allow_hyphen: bool) -> Result<(), FilesError> {
    let invalid = |why| FilesError::InvalidName {
        file: kind,
        name: super::escape::log_inline(name, 80),
        why,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        Some(_) => return Err(invalid("it must start with a letter or `_`")),
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("it is too long"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (allow_hyphen && c == '-')) {
        return Err(invalid(if allow_hyphen {
            "only letters, digits, `_` and `-` are allowed"
        } else {
            "only letters, digits and `_` are allowed"
        }));
    }
    Ok(())
}

/// Variables that change how later steps run programs, find files or trust servers, or that
/// the runner owns. Compared case-insensitively (Windows environments are).
const DENIED_ENV_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "SHELL",
    "USER",
    "LOGNAME",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "IFS",
    "CDPATH",
    "GLOBIGNORE",
    "TMPDIR",
    "TMP",
    "TEMP",
    "CI",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONINSPECT",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "GCONV_PATH",
    "LOCPATH",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSH_AUTH_SOCK",
    "RUSTC_WRAPPER",
    "RUSTFLAGS",
    "DOTNET_STARTUP_HOOKS",
    "CORECLR_PROFILER",
    "CORECLR_ENABLE_PROFILING",
];

/// Prefixes of variables the runner owns or that load code.
const DENIED_ENV_PREFIXES: &[&str] = &[
    "GITHUB_",
    "RUNNER_",
    "ACTIONS_",
    "INPUT_",
    "STATE_",
    "LD_",
    "DYLD_",
    "GIT_",
    "NPM_CONFIG_",
    "BASH_FUNC_",
    "MALLOC_",
    "GLIBC_",
    "CARGO_",
];

/// Whether `GITHUB_ENV` may set `name` for later steps.
pub fn validate_env_name(name: &str) -> Result<(), FilesError> {
    check_name_shape(FileKind::Env, name, false)?;
    let upper = name.to_ascii_uppercase();
    // SECURITY: a configured variable name must not hijack later steps (`LD_PRELOAD`,
    // `NODE_OPTIONS`, `BASH_ENV`, `PATH`) or override what the runner provides.
    if DENIED_ENV_NAMES.contains(&upper.as_str())
        || DENIED_ENV_PREFIXES.iter().any(|p| upper.starts_with(p))
    {
        return Err(FilesError::InvalidName {
            file: FileKind::Env,
            name: name.to_string(),
            why: "later steps would run differently with it (denied name)",
        });
    }
    Ok(())
}

fn validate_key_name(kind: FileKind, name: &str) -> Result<(), FilesError> {
    check_name_shape(kind, name, true)
}

fn open_append(kind: FileKind, path: &Path) -> Result<RunnerFile, FilesError> {
    let open_err = |source| FilesError::Open {
        file: kind,
        path: path.to_path_buf(),
        source,
    };
    let not_regular = |what| FilesError::NotRegular {
        file: kind,
        path: path.to_path_buf(),
        what,
    };
    let file = match std::fs::symlink_metadata(path) {
        Ok(before) => {
            if before.file_type().is_symlink() {
                return Err(not_regular("a symbolic link"));
            }
            if !before.is_file() {
                return Err(not_regular("not a plain file"));
            }
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(path)
                .map_err(open_err)?;
            let after = file.metadata().map_err(open_err)?;
            if !after.is_file() || !same_file(&before, &after) {
                // Swapped between the check and the open.
                return Err(not_regular("replaced while being opened"));
            }
            file
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut options = OpenOptions::new();
            options.read(true).append(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            options.open(path).map_err(open_err)?
        }
        Err(e) => return Err(open_err(e)),
    };
    let mut file = RunnerFile {
        kind,
        path: path.to_path_buf(),
        file,
    };
    if kind != FileKind::StepSummary {
        check_tail(&mut file)?;
    }
    Ok(file)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Without inode numbers in std, the `lstat` check before the open is the only guard.
#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

/// What is already in a key-value file must end cleanly: a last line without its newline
/// would swallow our first name, and an unterminated heredoc would swallow all we append
/// (the value of someone else's variable would then hold our credential). A missing final
/// newline is repaired; an open heredoc is refused.
fn check_tail(file: &mut RunnerFile) -> Result<(), FilesError> {
    let read_err = |source| FilesError::Open {
        file: file.kind,
        path: file.path.clone(),
        source,
    };
    let mut text = Vec::new();
    file.file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    file.file.read_to_end(&mut text).map_err(read_err)?;
    let text = String::from_utf8_lossy(&text);
    if heredoc_open_at_end(&text) {
        return Err(FilesError::UnterminatedHeredoc {
            file: file.kind,
            path: file.path.clone(),
        });
    }
    if !text.is_empty() && !text.ends_with('\n') {
        file.append(b"\n")?;
    }
    Ok(())
}

/// Whether the runner's parser, reading `text`, would still be inside a heredoc at its end.
fn heredoc_open_at_end(text: &str) -> bool {
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        let (eq, heredoc) = (line.find('='), line.find("<<"));
        let opens = match (eq, heredoc) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(e), Some(h)) => h < e,
        };
        if !opens {
            continue;
        }
        let delimiter = line.split_once("<<").map(|(_, d)| d).unwrap_or_default();
        let delimiter = delimiter.strip_suffix('\r').unwrap_or(delimiter);
        if !lines.any(|l| l == delimiter || l.strip_suffix('\r') == Some(delimiter)) {
            return true;
        }
    }
    false
}

/// What the runner reads back from a file that [`RunnerFiles`] wrote: a model of its parser for `GITHUB_ENV`, `GITHUB_OUTPUT` and `GITHUB_STATE`
/// (`EnvFileKeyValuePairs` in actions/runner `src/Runner.Worker/FileCommandManager.cs`):
/// lines end at `\n` (and at `\r\n` on Windows); an empty line is skipped; a line is
/// `NAME=VALUE` when `=` comes before any `<<`, else `NAME<<DELIM` followed by value lines
/// up to a line equal to `DELIM`; the value is the text between, without the newline that
/// ends its last line.
pub fn parse_runner_file(text: &str, windows: bool) -> Result<Vec<(String, String)>, String> {
    fn read_line<'t>(text: &'t str, index: &mut usize, windows: bool) -> Option<(&'t str, usize)> {
        if *index >= text.len() {
            return None;
        }
        let start = *index;
        let Some(lf) = text[start..].find('\n').map(|i| i + start) else {
            *index = text.len();
            return Some((&text[start..], 0));
        };
        if windows
            && let Some(crlf) = text[start..].find("\r\n").map(|i| i + start)
            && crlf < lf
        {
            *index = crlf + 2;
            return Some((&text[start..crlf], 2));
        }
        *index = lf + 1;
        Some((&text[start..lf], 1))
    }

    let mut pairs = Vec::new();
    let mut index = 0;
    while let Some((line, _)) = read_line(text, &mut index, windows) {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let hd = line.find("<<");
        match (eq, hd) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (k, v) = line.split_at(e);
                pairs.push((k.to_string(), v[1..].to_string()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("invalid format {line:?}"));
                }
                let start = index;
                let mut end = index;
                loop {
                    match read_line(text, &mut index, windows) {
                        None => return Err(format!("delimiter {delimiter:?} not found")),
                        Some((l, _)) if l == delimiter => break,
                        Some((_, 0)) => return Err("EOF marker missing new line".into()),
                        Some((_, nl)) => end = index - nl,
                    }
                }
                let value = if end > start { &text[start..end] } else { "" };
                pairs.push((name.to_string(), value.to_string()));
            }
            _ => return Err(format!("invalid format {line:?}")),
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests;
