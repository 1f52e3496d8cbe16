//! Core dumps off before any secret exists (contract §5).
//!
//! A crash of a process that holds a signing key, an admin DSN or a minted credential must
//! not leave them in a core file, nor let another process of the same user read them through
//! `ptrace` or `/proc/<pid>/mem`. [`disable`] sets `RLIMIT_CORE` to 0 (soft and hard, so a
//! command `exec` runs inherits it too) and marks the process not dumpable. It is the first
//! thing [`crate::commands::main_entry`] does.

/// SECURITY: called before anything is read or parsed. Both calls only lower privileges and
/// do not fail on Linux; a failure is reported and the command does not run.
pub fn disable() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_core_limit_is_zero_after_disable() {
        super::disable().expect("lowering limits cannot fail");
        let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
    }
}
