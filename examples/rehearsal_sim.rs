//! The loopback GitHub API and OIDC issuer for `scripts/release-rehearsal`: the story that
//! `prod-access demo` tells (PR #42 labeled `prod-access`, approved by bob of @acme/sre),
//! served for a binary that runs elsewhere, here the release binary that the action's node
//! shim downloaded and verified.
//!
//! ```text
//! cargo run --example rehearsal_sim
//! ```
//!
//! Prints one JSON line on stdout: the runner environment of the main step (`main`) and of
//! the post step (`post`), each with its own runner files in a private folder. Then it
//! serves until its standard input closes, and prints a second JSON line: the audit comments
//! on the PR, oldest first, and how many requests reached the simulated API.
//!
//! Not part of the binary: the simulators live in the library (`prod_access::sim`) and this
//! example is only built for the rehearsal (and by `cargo clippy --all-targets`).

use std::io::Read as _;
use std::process::ExitCode;

use prod_access::sim::story::Story;
use serde_json::json;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("tokio runtime: {e}")),
    };
    let story = match runtime.block_on(Story::start()) {
        Ok(story) => story,
        Err(e) => return fail(&format!("the simulators did not start: {e}")),
    };
    story.approve();
    let mut steps = serde_json::Map::new();
    for name in ["main", "post"] {
        match story.step_dir(name) {
            Ok(dir) => {
                steps.insert(name.into(), json!(story.env(&dir)));
            }
            Err(e) => return fail(&format!("step folder {name}: {e}")),
        }
    }
    say(&serde_json::Value::Object(steps));

    // The simulators run on the runtime's worker threads while this thread waits for EOF.
    let mut sink = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut sink) {
        return fail(&format!("stdin: {e}"));
    }
    say(&json!({
        "comments": story.comments(),
        "requests": story.forge.requests().len(),
    }));
    drop(story);
    runtime.shutdown_background();
    ExitCode::SUCCESS
}

/// One JSON line on stdout (the rehearsal's driver reads it).
fn say(value: &serde_json::Value) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

fn fail(message: &str) -> ExitCode {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "rehearsal_sim: {message}");
    ExitCode::FAILURE
}
