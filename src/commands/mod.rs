//! Orchestration of each subcommand, and the one place outcomes become exit codes.
//!
//! [`main_entry`] parses the command line, runs the command, reports an error once (with a
//! `help:` line) and returns the exit code of contract §5. Commands return
//! `Result<ExitClass, Error>`; nothing else exits the process.

pub mod check;
pub mod demo;
pub mod grant;
pub mod keys;
pub mod sweep;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::emit::Console;
use crate::error::{Error, ExitClass};

/// Parses the process arguments, runs, and returns the exit code.
pub fn main_entry() -> i32 {
    // SECURITY: before any argument, file or environment variable is read.
    if let Err(e) = crate::no_dumps::disable() {
        let mut console = Console::stdio();
        console.error(&format!("error: cannot turn core dumps off: {e}"));
        return ExitClass::Upstream.code();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are successes printed by clap; everything else is usage.
            let code = if e.use_stderr() {
                ExitClass::Config.code()
            } else {
                0
            };
            let _ = e.print();
            return code;
        }
    };
    init_tracing();
    let mut console = Console::stdio();
    let env = |name: &str| std::env::var(name).ok();
    match run(cli.command, &mut console, &env) {
        Ok(class) => class.code(),
        Err(err) => {
            report(&mut console, &err);
            err.exit_class().code()
        }
    }
}

/// Runs one command with an explicit environment lookup (tests pass their own).
pub fn run(
    command: Command,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExitClass, Error> {
    match command {
        Command::Check(args) => check::run(&args, console, env),
        Command::Grant(args) => {
            preflight(env, &args.inputs.resolve(env)?, true)?;
            let job = grant::Job::from_env(&args.inputs, env)?;
            block_on(job.grant(console, env, grant::Handoff::RunnerFiles))
        }
        Command::Revoke(args) => {
            let inputs = args.resolve(env)?;
            if env("STATE_handle")
                .filter(|v| !v.trim().is_empty())
                .is_none()
            {
                console.say("prod-access: nothing was granted in this job; nothing to revoke");
                return Ok(ExitClass::Ok);
            }
            // A fresh job token names the run whose grant may be revoked: OIDC too.
            preflight(env, &inputs, true)?;
            let job = grant::Job::from_parts(inputs, env)?;
            block_on(grant::revoke(
                &job.forge,
                &job.runner,
                &job.inputs,
                console,
                env,
                &job.config,
            ))
        }
        Command::Demo(_) => block_on(demo::run(console)),
        Command::Keygen(args) => keys::keygen(&args, console),
        Command::Jwks(args) => keys::jwks(&args, console, env),
        Command::Verify(args) => keys::verify(&args, console),
        Command::Exec(args) => {
            preflight(env, &args.inputs.resolve(env)?, true)?;
            let job = grant::Job::from_env(&args.inputs, env)?;
            block_on(job.grant(console, env, grant::Handoff::Exec(&args.command)))
        }
        Command::Sweep(args) => {
            if args.policy_file.is_none() {
                preflight(env, &args.resolve(env)?, false)?;
            }
            block_on(sweep::run(&args, console, env))
        }
        Command::Completions(args) => {
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "prod-access", &mut out);
            console.raw_stdout(&out);
            Ok(ExitClass::Ok)
        }
        Command::Man(_) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| Error::Usage(format!("cannot render the man page: {e}")))?;
            console.raw_stdout(&out);
            Ok(ExitClass::Ok)
        }
    }
}

/// The runner's variables a job command reads, named all at once when missing (with the
/// flag that stands in, where there is one), before any network call.
pub(crate) fn preflight(
    env: &dyn Fn(&str) -> Option<String>,
    inputs: &crate::cli::Inputs,
    oidc: bool,
) -> Result<(), Error> {
    let set = |var: &str| env(var).is_some_and(|v| !v.trim().is_empty());
    let mut missing: Vec<String> = [
        "GITHUB_EVENT_NAME",
        "GITHUB_EVENT_PATH",
        "GITHUB_REPOSITORY",
    ]
    .into_iter()
    .chain(
        [crate::oidc::REQUEST_URL_VAR, crate::oidc::REQUEST_TOKEN_VAR]
            .into_iter()
            .filter(|_| oidc),
    )
    .filter(|v| !set(v))
    .map(str::to_string)
    .collect();
    if inputs.github_token.is_none() {
        missing.push("GITHUB_TOKEN (or --github-token)".into());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingEnvAll(missing))
    }
}

/// Runs a future on a fresh single-threaded runtime: the network edge is async, the rest
/// of the tool is not.
pub fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Upstream(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(future)
}

/// Prints an error once, with its help line.
pub fn report(console: &mut Console, err: &Error) {
    let message = format!("error: {err}");
    console.error(&message);
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let cause = s.to_string();
        // Variants that wrap an error already show it in their own message.
        if !message.contains(&cause) {
            console.error(&format!("  caused by: {cause}"));
        }
        source = s.source();
    }
    if let Some(help) = err.help() {
        console.error(&format!("help: {help}"));
    }
}

/// Reads a file the caller names, at most `cap` bytes: a larger one is refused as
/// `config.file_too_large` (no unbounded reads, e.g. of `/dev/zero`). The one capped file
/// reader of the commands (HTTP bodies: [`crate::http::read_capped`]).
pub(crate) fn read_file_capped(
    path: &std::path::Path,
    cap: usize,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(io)?;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    file.take(cap as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() > cap {
        return Err(Error::Config {
            id: "config.file_too_large",
            detail: format!("{}: more than {cap} bytes", path.display()),
        });
    }
    Ok(buf)
}

/// Debug logs go to stderr through the same neutralising as every other line; off unless
/// `PROD_ACCESS_LOG` sets a filter (e.g. `PROD_ACCESS_LOG=debug`).
fn init_tracing() {
    let Ok(filter) = std::env::var("PROD_ACCESS_LOG") else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(crate::emit::LogWriter::stderr)
        .try_init();
}
