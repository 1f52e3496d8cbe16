//! `prod-access demo`: the whole story on this machine, with no account and no network.
//!
//! A PR labeled `prod-access` is first refused (no approval), then approved and granted, then
//! the post step revokes. Everything runs the real code (`grant`, `revoke`, the GitHub client,
//! the OIDC verifier, the `jwt` provider) against the loopback simulators of [`crate::sim`].
//! What each step printed and wrote is shown, with secrets withheld.

use std::path::Path;

use crate::cli::InputArgs;
use crate::commands::grant::{self, Job};
use crate::credential::jwt_keys::jwks_document;
use crate::credential::jwt_verify::{Expectations, parse_jwks, verify_token};
use crate::emit::files::parse_runner_file;
use crate::emit::{CaptureBuf, Console};
use crate::error::{Error, ExitClass};
use crate::secret::Secret;
use crate::sim::story::{self, Approvers, Story};

pub async fn run(console: &mut Console) -> Result<ExitClass, Error> {
    let sim_err = |e: crate::sim::forge::SimError| Error::Upstream(e.to_string());
    // The README's Quickstart: approvers named by login, the job's GITHUB_TOKEN (which
    // GitHub does not let read organisation teams; the simulator answers as GitHub does).
    let story = Story::start_with(Approvers::Users).await.map_err(sim_err)?;
    console.say(
        "prod-access demo: one pull request, from the label to the credential's expiry.\n\
         Everything runs on this machine: a simulated GitHub API and OIDC issuer on loopback,\n\
         the real `grant` and `revoke`, a `jwt` credential. No account, no network.",
    );

    console.say(&format!(
        "\n== The policy that applies: .github/prod-access.yml on the default branch of {}",
        story::REPO
    ));
    for line in policy_excerpt(&story::policy_with(story.issuer.issuer(), Approvers::Users)) {
        console.say(&format!("   {line}"));
    }

    console.say(&format!(
        "\n== 1. alice labels PR #{} `{}`; its body says \"Prod-Access: {}\".\n   \
         Nobody has approved it yet.",
        story::PR,
        story::LABEL,
        story::REASON
    ));
    let denied = step(&story, "1-denied", Step::Grant).await?;
    console.say(&format!(
        "   $ prod-access grant   -> exit {} (denied)",
        denied.code.code()
    ));
    let (met, total) = denied.requirements();
    console.say(&format!(
        "   {met} of {total} requirements met; the one missing (stderr, the summary, the comment):"
    ));
    for line in denied.err.lines() {
        if let Some(rest) = line.strip_prefix("prod-access: denied: ") {
            console.say(&format!(
                "     {}",
                rest.split(" (see ").next().unwrap_or(rest)
            ));
        }
    }
    show_comment(console, &story, "The audit comment on the PR", true);

    console.say(
        "\n== 2. bob (write permission) approves the head commit 6dcb09b; the job runs again.",
    );
    story.approve();
    let granted = step(&story, "2-granted", Step::Grant).await?;
    console.say(&format!(
        "   $ prod-access grant   -> exit {} (granted)",
        granted.code.code()
    ));
    let (met, total) = granted.requirements();
    console.say(&format!(
        "   The step's log as the runner shows it ({met} of {total} requirements met; the mask\n   \
         is registered before the token reaches any file, so the runner prints *** for it):"
    ));
    for line in granted.out.lines().chain(granted.err.lines()) {
        if line.trim_start().starts_with('[') || line.trim_start().starts_with("[x]") {
            continue;
        }
        if let Some(shown) = runner_view(line) {
            console.say(&format!("     {shown}"));
        }
    }
    let env_file = read(&granted.dir.join("env"))?;
    let env = parse_runner_file(&env_file, false).map_err(Error::Upstream)?;
    let outputs =
        parse_runner_file(&read(&granted.dir.join("output"))?, false).map_err(Error::Upstream)?;
    let token_len = env
        .iter()
        .find(|(k, _)| k == "PROD_ACCESS_TOKEN")
        .map(|(_, v)| v.len())
        .unwrap_or(0);
    let expires_at = outputs
        .iter()
        .find(|(k, _)| k == "expires-at")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let shown: Vec<String> = outputs
        .iter()
        .filter(|(k, _)| k != "requested")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    console.say(&format!(
        "   Later steps get PROD_ACCESS_TOKEN ({token_len} characters, masked) in their environment,\n   \
         and the outputs {}.",
        shown.join(" ")
    ));
    show_comment(console, &story, "The audit comment on the PR", false);

    // What a production service does with the token: `prod-access verify`.
    if let Some((_, token)) = env.iter().find(|(k, _)| k == "PROD_ACCESS_TOKEN") {
        let jwks = jwks_document(&[story.signing_key.public_jwk().clone()]);
        let keys = parse_jwks(&serde_json::to_vec(&jwks).unwrap_or_default())
            .map_err(|e| Error::Upstream(e.to_string()))?;
        let expect = Expectations::for_audience(
            "payments-api",
            Some("https://prod-access.demo.invalid".to_string()),
        );
        let token = Secret::new(token.clone());
        match verify_token(token.expose(), &keys, &expect, chrono::Utc::now().timestamp()) {
            Ok(claims) => console.say(&format!(
                "   payments-api checks it as `prod-access verify` does: valid; sub={}, scope={}, role={}.",
                claims.get("sub").and_then(|v| v.as_str()).unwrap_or("-"),
                claims.get("scope").and_then(|v| v.as_str()).unwrap_or("-"),
                claims.get("role").and_then(|v| v.as_str()).unwrap_or("-"),
            )),
            Err(e) => console.say(&format!("   payments-api refuses the token: {e}")),
        }
    }

    console.say("\n== 3. The job ends; the action's post step runs `prod-access revoke`.");
    let state =
        parse_runner_file(&read(&granted.dir.join("state"))?, false).map_err(Error::Upstream)?;
    let revoked = step(&story, "3-revoke", Step::Revoke(state)).await?;
    console.say(&format!(
        "   $ prod-access revoke   -> exit {}",
        revoked.code.code()
    ));
    console.say(&format!(
        "   A JWT is a bearer token: nothing can recall it. This one stays valid until\n   \
         {expires_at}, its 15 minutes, and the comment now says so:"
    ));
    if let Some(body) = story.comments().last() {
        for line in markdown_text(body)
            .iter()
            .filter(|l| l.starts_with("Status:"))
        {
            console.say(&format!("     {line}"));
        }
    }
    console.say(
        "   (A `postgres` credential is dropped at this point instead; see docs/postgres.md.)",
    );

    console.say("\n== 4. Someone re-runs `grant` in the same job.");
    let replay = step(&story, "4-replay", Step::Grant).await?;
    for line in replay.err.lines() {
        if let Some(rest) = line.strip_prefix("prod-access: denied: ") {
            console.say(&format!(
                "   $ prod-access grant   -> exit {}: {}",
                replay.code.code(),
                rest.split(" (see ").next().unwrap_or(rest)
            ));
        }
    }

    let requests = story.forge.requests();
    let with_token = requests.iter().filter(|r| r.authorized).count();
    console.say(&format!(
        "\n{} requests reached the simulated GitHub API, {with_token} with the job's GITHUB_TOKEN.\n\
         In a workflow the same binary is the action's main step (grant) and post step (revoke):\n\
         README.md has the workflow, examples/ the policies.",
        requests.len()
    ));
    Ok(ExitClass::Ok)
}

/// The lines of the story's policy a reader needs for this request: the label map and the
/// reason rule, and the scope the label names.
fn policy_excerpt(policy: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut section, mut this_scope) = ("", false);
    for line in policy.lines() {
        if !line.starts_with(' ') {
            section = line;
            if section == "request:" || section == "scopes:" {
                out.push(line.to_string());
            }
            continue;
        }
        match section {
            "request:" => out.push(line.to_string()),
            "scopes:" => {
                if !line.starts_with("   ") {
                    this_scope = line.trim_start().starts_with("api-read:");
                }
                if this_scope {
                    out.push(line.to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// How the runner shows a line of a step's log: workflow commands it consumes are shown as
/// their effect, and `::add-mask::VALUE` with the value already masked.
fn runner_view(line: &str) -> Option<String> {
    let Some(rest) = line.strip_prefix("::") else {
        return Some(line.to_string());
    };
    let (command, data) = rest.split_once("::").unwrap_or((rest, ""));
    let (name, props) = command.split_once(' ').unwrap_or((command, ""));
    let unescape = |s: &str| {
        s.replace("%0A", " ")
            .replace("%0D", "")
            .replace("%3A", ":")
            .replace("%2C", ",")
            .replace("%25", "%")
    };
    match name {
        "add-mask" => Some("(add-mask: ***; hidden from every later line)".to_string()),
        "error" | "warning" | "notice" => {
            let title = props
                .strip_prefix("title=")
                .map(|t| format!("{}: ", unescape(t)))
                .unwrap_or_default();
            let level = match name {
                "error" => "Error",
                "warning" => "Warning",
                _ => "Notice",
            };
            Some(format!("{level}: {title}{}", unescape(data)))
        }
        // `::stop-commands::` and its end marker are not shown by the runner.
        _ => None,
    }
}

enum Step {
    Grant,
    Revoke(Vec<(String, String)>),
}

struct StepResult {
    code: ExitClass,
    dir: std::path::PathBuf,
    /// What the step wrote to stdout and stderr.
    out: String,
    err: String,
}

impl StepResult {
    /// Requirements met, and checked, as the decision lines (`  [x] id: ...`) show them.
    fn requirements(&self) -> (usize, usize) {
        let lines: Vec<&str> = self
            .out
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("[x] ") || l.starts_with("[ ] "))
            .collect();
        (
            lines.iter().filter(|l| l.starts_with("[x]")).count(),
            lines.len(),
        )
    }
}

/// Runs one step with its own runner directory and keeps what it printed.
async fn step(story: &Story, name: &str, which: Step) -> Result<StepResult, Error> {
    let dir = story.step_dir(name).map_err(|e| Error::Io {
        path: name.into(),
        source: e,
    })?;
    let mut env = story.env(&dir);
    if let Step::Revoke(state) = &which {
        for (k, v) in state {
            env.insert(format!("STATE_{k}"), v.clone());
        }
    }
    // The replay step runs in the same job as the grant: its GITHUB_ENV carries over.
    if name.starts_with("4-") {
        let earlier = read(&story.dir.join("2-granted").join("env"))?;
        for (k, v) in parse_runner_file(&earlier, false).map_err(Error::Upstream)? {
            if k == grant::GRANTS_VAR {
                env.insert(k, v);
            }
        }
    }
    let lookup = |k: &str| env.get(k).cloned();
    let job = Job::from_env(&InputArgs::default(), &lookup)?;
    let (out, err) = (CaptureBuf::default(), CaptureBuf::default());
    let mut step_console = Console::new(Box::new(out.clone()), Box::new(err.clone()));
    let result = match which {
        Step::Grant => {
            job.grant(&mut step_console, &lookup, grant::Handoff::RunnerFiles)
                .await
        }
        Step::Revoke(_) => {
            grant::revoke(
                &job.forge,
                &job.runner,
                &job.inputs,
                &mut step_console,
                &lookup,
                &job.config,
            )
            .await
        }
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            crate::commands::report(&mut step_console, &e);
            e.exit_class()
        }
    };
    Ok(StepResult {
        code,
        dir,
        out: out.text(),
        err: err.text(),
    })
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })
}

/// The last audit comment, as GitHub renders it (as text: no markdown, no escapes).
/// `brief`: the headline, the status and what is missing only.
fn show_comment(console: &mut Console, story: &Story, title: &str, brief: bool) {
    let Some(body) = story.comments().last().cloned() else {
        return;
    };
    console.say(&format!("   {title}:"));
    let mut missing = false;
    for line in markdown_text(&body) {
        if brief {
            missing |= line.starts_with("Missing");
            let headline = line.contains("prod-access:");
            if !(headline || line.starts_with("Status:") || missing) {
                continue;
            }
        }
        console.say(&format!("     {line}"));
    }
}

/// Markdown of a comment or summary as the reader sees it: no hidden marker, tables as
/// `key: value` lines, links as their text, escapes and zero-width spaces removed.
fn markdown_text(markdown: &str) -> Vec<String> {
    let link = regex::Regex::new(r"\[([^\]]*)\]\([^)]*\)").ok();
    let mut out = Vec::new();
    let lines: Vec<&str> = markdown.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        // A table's header row is the one above its `| --- |` line.
        let header = lines
            .get(i + 1)
            .is_some_and(|next| next.starts_with("| ---"));
        if line.is_empty() || line.starts_with("<!--") || line.starts_with("| ---") || header {
            continue;
        }
        let mut text = line.trim_start_matches('#').trim().to_string();
        if let Some(re) = &link {
            text = re.replace_all(&text, "$1").into_owned();
        }
        text = text
            .replace('\u{200B}', "")
            .replace("**", "")
            .replace('`', "");
        if text.len() > 2 && text.starts_with('_') && text.ends_with('_') {
            text = text[1..text.len() - 1].to_string();
        }
        let mut unescaped = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_punctuation()) {
                continue;
            }
            unescaped.push(c);
        }
        let text = unescaped;
        if let Some(cells) = text.strip_prefix('|').and_then(|t| t.strip_suffix('|')) {
            let cells: Vec<&str> = cells.split('|').map(str::trim).collect();
            if cells.len() == 2 {
                out.push(format!("{}: {}", cells[0], cells[1]));
                continue;
            }
            out.push(cells.join("  "));
            continue;
        }
        out.push(text);
    }
    out
}
