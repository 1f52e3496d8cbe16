//! One audit trail on every exit (contract §5, last paragraph): refusals, upstream
//! failures, a failed mint and a signal each write `requested`/`granted`, a summary that says
//! what happened, and the PR comment where a PR is bound to the run. Through the real binary
//! against the simulated GitHub and OIDC issuer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod steps;

use std::time::{Duration, Instant};

use prod_access::sim::forge::{Fault, FaultKind};
use serde_json::{Map, Value};
use steps::*;

fn outputs(step: &Step) -> (Option<String>, Option<String>) {
    let out = step.pairs("output");
    (out.get("requested").cloned(), out.get("granted").cloned())
}

#[test]
fn an_identity_refusal_writes_the_outputs_and_a_summary_and_no_comment() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let mut claims = Map::new();
    claims.insert("aud".into(), Value::String("sts.amazonaws.com".into()));
    story.issuer.set_claims(claims);
    let step = grant(&story, "refused");
    assert_eq!(step.code, 1, "{}", step.stderr);
    assert_eq!(outputs(&step), (Some("false".into()), Some("false".into())));
    let summary = step.file("summary.md");
    assert!(summary.contains("NOT GRANTED (refused)"), "{summary}");
    assert!(summary.contains("identity.audience"), "{summary}");
    assert!(
        story.comments().is_empty(),
        "no PR is bound before the identity is"
    );
}

#[test]
fn a_forge_failure_writes_the_outputs_and_a_summary() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.forge.add_fault(Fault::status(
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        500,
    ));
    let step = grant(&story, "forge-down");
    assert_eq!(step.code, 3, "{}", step.stderr);
    assert_eq!(outputs(&step).1.as_deref(), Some("false"));
    let summary = step.file("summary.md");
    assert!(summary.contains("NOT GRANTED (failed)"), "{summary}");
    assert!(summary.contains("reviews"), "{summary}");
    assert_nothing_handed_over(&step);
}

#[test]
fn a_mint_that_fails_after_a_grant_decision_says_so_on_the_pr() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let step = run(&story, "no-key", &["grant"], |env, _| {
        env.remove("PROD_ACCESS_JWT_KEY");
    });
    assert_eq!(step.code, 2, "{}", step.stderr);
    assert_eq!(outputs(&step), (Some("true".into()), Some("false".into())));
    assert!(step.file("summary.md").contains("NOT GRANTED (failed)"));
    let comment = story.comments().last().cloned().unwrap_or_default();
    assert!(
        comment.contains("**Status:** failed: the credential could not be minted"),
        "{comment}"
    );
    assert_nothing_handed_over(&step);
}

#[test]
fn a_signal_before_the_mint_writes_the_trail() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.forge.add_fault(Fault::new(
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        FaultKind::Delay(Duration::from_secs(30)),
    ));
    let (child, dir) = spawn(&story, "sigterm-early", &["grant"], |_, _| {});
    let started = Instant::now();
    while story
        .forge
        .hits("GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews")
        == 0
    {
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let step = finish(child, dir);
    assert_eq!(step.code, 143, "{}\n{}", step.stdout, step.stderr);
    assert_eq!(outputs(&step).1.as_deref(), Some("false"));
    let summary = step.file("summary.md");
    assert!(summary.contains("stopped by a signal"), "{summary}");
    assert!(
        !step.stdout.contains("::add-mask::"),
        "minted after the signal"
    );
}

/// A comment that says the mint failed records no credential: the same run attempt may try
/// again (a denial likewise), and is not refused as a replay.
#[test]
fn a_failed_mint_is_not_a_grant_to_replay() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let failed = run(&story, "no-key", &["grant"], |env, _| {
        env.remove("PROD_ACCESS_JWT_KEY");
    });
    assert_eq!(failed.code, 2, "{}", failed.stderr);
    let again = grant(&story, "with-key");
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_token_contained(&again, &story);
}
