//! `prod-access demo`: the whole story on this machine, with no account and no network.
//!
//! A PR labeled `prod-access` is first refused (no approval), then approved and granted, then
//! the post step revokes. Everything runs the real code (`grant`, `revoke`, the GitHub client,
//! the OIDC verifier, the `jwt` provider) against the loopback simulators of [`crate::sim`].
//! What each step printed and wrote is shown, with secrets withheld.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::InputArgs;
use crate::commands::grant::{self, Job};
use crate::credential::jwt_keys::jwks_document;
use crate::credential::jwt_verify::{PublicKeySet, TokenExpectations, verify_token};
use crate::emit::files::parse_runner_file;
use crate::emit::{CaptureBuf, Console};
use crate::error::{Error, ExitClass};
use crate::secret::Secret;
use crate::sim::story::{self, Story};

pub async fn run(console: &mut Console) -> Result<ExitClass, Error> {
    let sim_err = |e: crate::sim::forge::SimError| Error::Upstream(e.to_string());
    let story = Story::start().await.map_err(sim_err)?;
    console.say("prod-access demo: the whole flow on loopback; no account, no network.");
    console.say(&format!(
        "  simulated GitHub API: {}\n  local OIDC issuer:    {}",
        story.forge.api_url(),
        story.issuer.issuer()
    ));
    console.say(&format!(
        "  {}: PR #{} by alice, labeled `{}`; the policy (default branch) maps it to scope\n  \
         api-read: a jwt for payments-api, 15m, 1 approval from @acme/sre, environment production.",
        story::REPO,
        story::PR,
        story::LABEL
    ));

    console.say("\n== 1. The label is added. Nobody has approved yet.");
    let denied = step(&story, "1-denied", console, Step::Grant).await?;
    console.say(&format!("   exit code {} (denied)", denied.code.code()));
    show_summary(console, &denied.dir);
    show_comment(console, &story, "the audit comment on the PR (a denial)");

    console.say("\n== 2. bob (@acme/sre, write permission) approves the head commit 6dcb09b.");
    story.approve();
    let granted = step(&story, "2-granted", console, Step::Grant).await?;
    console.say(&format!("   exit code {} (granted)", granted.code.code()));
    let env_file = read(&granted.dir.join("env"))?;
    let env = parse_runner_file(&env_file, false).map_err(Error::Upstream)?;
    console.say("   GITHUB_ENV (values withheld here; the token is masked in every log):");
    for (k, v) in &env {
        if k == "PROD_ACCESS_TOKEN" {
            console.say(&format!("     {k} = <{} characters, masked>", v.len()));
        } else {
            console.say(&format!("     {k} = {v}"));
        }
    }
    console.say("   GITHUB_OUTPUT:");
    for (k, v) in
        parse_runner_file(&read(&granted.dir.join("output"))?, false).map_err(Error::Upstream)?
    {
        console.say(&format!("     {k} = {v}"));
    }
    show_summary(console, &granted.dir);
    show_comment(console, &story, "the audit comment on the PR (the grant)");

    // What a production service does with the token: `prod-access verify`.
    if let Some((_, token)) = env.iter().find(|(k, _)| k == "PROD_ACCESS_TOKEN") {
        let jwks = jwks_document(&[story.signing_key.public_jwk().clone()]);
        let keys = PublicKeySet::parse(&serde_json::to_vec(&jwks).unwrap_or_default())
            .map_err(Error::Upstream)?;
        let expect = TokenExpectations::new(
            "payments-api",
            Some("https://prod-access.demo.invalid".to_string()),
        );
        let token = Secret::new(token.clone());
        match verify_token(token.expose(), &keys, &expect, chrono::Utc::now().timestamp()) {
            Ok(claims) => console.say(&format!(
                "   payments-api verifies the token (`prod-access verify`): valid; sub={}, scope={}, approvers={}",
                claims.get("sub").and_then(|v| v.as_str()).unwrap_or("-"),
                claims.get("scope").and_then(|v| v.as_str()).unwrap_or("-"),
                claims.get("approvers").map(|v| v.to_string()).unwrap_or_default()
            )),
            Err(e) => console.say(&format!("   payments-api refuses the token: {e}")),
        }
    }

    console
        .say("\n== 3. The job ends; the post step runs `prod-access revoke` with the saved state.");
    let state =
        parse_runner_file(&read(&granted.dir.join("state"))?, false).map_err(Error::Upstream)?;
    let revoked = step(&story, "3-revoke", console, Step::Revoke(state)).await?;
    console.say(&format!("   exit code {}", revoked.code.code()));
    show_comment(console, &story, "the audit comment, edited in place");

    console.say("\n== 4. A second grant in the same run attempt is a replay.");
    let replay = step(&story, "4-replay", console, Step::Grant).await?;
    console.say(&format!(
        "   exit code {} (denied: not-already-granted)",
        replay.code.code()
    ));

    let requests = story.forge.requests();
    let mut by_route: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *by_route.entry(r.route.clone()).or_default() += 1;
    }
    console.say(&format!(
        "\n{} requests reached the simulated GitHub API:",
        requests.len()
    ));
    for (route, n) in by_route {
        console.say(&format!("  {n:>3}  {route}"));
    }
    console.say(
        "\nIn a workflow the same binary runs as the action's main step (grant) and post step\n\
         (revoke); see README.md for the workflow and examples/ for policies.",
    );
    Ok(ExitClass::Ok)
}

enum Step {
    Grant,
    Revoke(Vec<(String, String)>),
}

struct StepResult {
    code: ExitClass,
    dir: std::path::PathBuf,
}

/// Runs one step with its own runner directory and shows its log (stdout and stderr as the
/// runner would print them, neutralised here so the demo's own log executes nothing).
async fn step(
    story: &Story,
    name: &str,
    console: &mut Console,
    which: Step,
) -> Result<StepResult, Error> {
    let dir = story.step_dir(name).map_err(|e| Error::Io {
        path: name.into(),
        source: e,
    })?;
    let mut env = story.env(&dir);
    let command = match &which {
        Step::Grant => "grant",
        Step::Revoke(state) => {
            for (k, v) in state {
                env.insert(format!("STATE_{k}"), v.clone());
            }
            "revoke"
        }
    };
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
    console.say(&format!("   $ prod-access {command}"));
    for line in out.text().lines().chain(err.text().lines()) {
        // The demo's own log must not carry the token: a mask line shows its length only.
        match line.strip_prefix("::add-mask::") {
            Some(value) => console.say(&format!(
                "   | ::add-mask::<{} characters withheld here; the runner hides them from every later line>",
                value.len()
            )),
            None => console.say(&format!("   | {line}")),
        }
    }
    Ok(StepResult { code, dir })
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })
}

fn show_summary(console: &mut Console, dir: &Path) {
    if let Ok(text) = std::fs::read_to_string(dir.join("summary.md")) {
        console.say("   step summary:");
        for line in text.lines() {
            console.say(&format!("   > {line}"));
        }
    }
}

fn show_comment(console: &mut Console, story: &Story, title: &str) {
    if let Some(body) = story.comments().last() {
        console.say(&format!("   {title}:"));
        for line in body.lines() {
            console.say(&format!("   > {line}"));
        }
    }
}
