//! `prod-access sweep`: revoke every expired credential a provider still holds. For a
//! scheduled workflow: a cancelled run skips its post step, so its credential is left to
//! expire; `sweep` removes what a provider keeps after expiry (PostgreSQL roles).

use chrono::Utc;

use crate::cli::SweepArgs;
use crate::commands::grant::Job;
use crate::credential::{AnyProvider, Provider, SweepReport, sweep_keyless};
use crate::emit::Console;
use crate::error::{Error, ExitClass};
use crate::forge::Forge;
use crate::policy::{Policy, load_policy};

pub async fn run(
    args: &SweepArgs,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExitClass, Error> {
    let policy = match &args.policy_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
                path: path.display().to_string(),
                source: e,
            })?;
            load_policy(&text)?
        }
        None => {
            let job = Job::from_parts(args.resolve(env)?, env)?;
            let repository = job.forge.repository(&job.runner.repo).await?;
            let text = job
                .forge
                .policy_file(
                    &job.runner.repo,
                    &job.inputs.policy,
                    Some(&repository.default_branch),
                )
                .await?;
            load_policy(&text)?
        }
    };
    sweep_policy(&policy, console, env).await
}

/// Sweeps every credential kind the policy's scopes use, once per kind.
pub async fn sweep_policy(
    policy: &Policy,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExitClass, Error> {
    let mut kinds: Vec<&str> = Vec::new();
    let mut failed = None;
    for scope in policy.scopes.values() {
        let kind = scope.credential.kind();
        if kinds.contains(&kind) {
            continue;
        }
        kinds.push(kind);
        if let Some(report) = sweep_keyless(kind) {
            print_report(console, kind, &report);
            continue;
        }
        let provider = match AnyProvider::for_scope(policy, scope, env) {
            Ok(p) => p,
            Err(e) => {
                console.error(&format!("sweep {kind}: {e}"));
                failed.get_or_insert(Error::from(e));
                continue;
            }
        };
        match provider.sweep(Utc::now()).await {
            Ok(report) => print_report(console, kind, &report),
            Err(e) => {
                console.error(&format!("sweep {kind}: {e}"));
                failed.get_or_insert(Error::from(e));
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(ExitClass::Ok),
    }
}

fn print_report(console: &mut Console, kind: &str, report: &SweepReport) {
    console.say(&format!(
        "sweep {kind}: removed {}, kept {} live",
        report.removed.len(),
        report.kept
    ));
    for id in &report.removed {
        console.say(&format!("  removed {id}"));
    }
    for note in &report.notes {
        console.say(&format!("  {note}"));
    }
}
