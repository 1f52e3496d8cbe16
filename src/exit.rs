//! The exit classes of contract §5, and their codes: the one vocabulary every module's
//! error maps into (the top-level error's `exit_class` is the one place that chooses).

/// The exit classes of contract §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// 0: granted, would be granted, or no request with `if-no-request: skip`.
    Ok,
    /// 1: denied (a requirement unmet, or the job token failed verification).
    Denied,
    /// 2: usage or configuration error.
    Config,
    /// 3: an upstream failed or timed out; nothing granted.
    Upstream,
    /// `exec`: the exit code of the command it ran.
    Command(i32),
}

impl ExitClass {
    pub fn code(self) -> i32 {
        match self {
            ExitClass::Ok => 0,
            ExitClass::Denied => 1,
            ExitClass::Config => 2,
            ExitClass::Upstream => 3,
            ExitClass::Command(code) => code,
        }
    }
}
