//! The bypasses an attacker in an earlier step of the job (or in another job of the run)
//! tried, each closed, each through the real binary against the simulated GitHub and OIDC
//! issuer. Every test is named after what it stops; `docs/security.md` has the table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod steps;

use std::path::Path;
use std::time::{Duration, Instant};

use prod_access::sim::forge::{
    Fault, FaultKind, bot_json, comment_json, pull_json, review_json, user_json,
};
use prod_access::sim::story::{self, BASE_SHA, HEAD_SHA, PR, REASON, REPO, REPO_ID, RUN_ID, Story};
use serde_json::{Map, Value, json};
use steps::*;

const POST_COMMENT: &str = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";
const GET_PULL: &str = "GET /repos/{owner}/{repo}/pulls/{pull_number}";

fn claims(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn write_event(dir: &Path, event: &Value) {
    std::fs::write(dir.join("event.json"), serde_json::to_vec(event).unwrap()).unwrap();
}

fn comments_on(story: &Story, pr: u64) -> Vec<String> {
    story.forge.with(|st| {
        st.repo(REPO)
            .comments
            .get(&pr)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["body"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn expect(step: &Step, code: i32) {
    assert_eq!(
        step.code, code,
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        step.stdout, step.stderr
    );
}

fn kill(child: &std::process::Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

/// Waits (at most 20 s) until the simulated GitHub has seen `n` calls of `route`.
fn wait_for_hits(story: &Story, route: &str, n: usize) {
    let start = Instant::now();
    while story.forge.hits(route) < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no {route} after 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// --- 1. the run binds its PR ---------------------------------------------------------------

/// PR 77: approved by bob on its head, labeled, with a reason: everything but being this
/// run's PR.
fn add_approved_pr_77(story: &Story) -> String {
    let head = "7777777777777777777777777777777777777777".to_string();
    story.forge.with(|st| {
        let repo = st.repo(REPO);
        let body = format!("Other work.\n\nProd-Access: {REASON}");
        let pull = pull_json(
            repo,
            77,
            &head,
            "main",
            user_json("alice", 1001),
            &[story::LABEL],
            "open",
            false,
            Some(REPO_ID),
            Some(&body),
        );
        repo.pulls.insert(77, pull);
        repo.reviews.insert(
            77,
            vec![review_json(
                90,
                user_json("bob", 1002),
                "APPROVED",
                &head,
                "2026-11-23T01:58:00Z",
            )],
        );
        repo.issue_events.insert(
            77,
            vec![prod_access::sim::forge::labeled_event_json(
                5,
                user_json("alice", 1001),
                story::LABEL,
                "2026-11-23T01:55:00Z",
            )],
        );
    });
    head
}

#[test]
fn an_event_file_rewritten_to_another_approved_pr_is_denied_and_not_commented_on() {
    let rt = runtime();
    let story = start(&rt);
    let head = add_approved_pr_77(&story);
    let step = run(&story, "pr-77", &["grant"], |_, dir| {
        let mut event = story.event();
        event["number"] = json!(77);
        event["pull_request"]["number"] = json!(77);
        event["pull_request"]["head"]["sha"] = json!(head);
        write_event(dir, &event);
    });
    expect(&step, 1);
    assert!(step.stderr.contains("run-consistent"), "{}", step.stderr);
    assert_nothing_handed_over(&step);
    assert!(
        comments_on(&story, 77).is_empty(),
        "the audit comment landed on a PR that is not the run's"
    );
}

#[test]
fn a_run_that_lists_no_pr_binds_nothing() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.forge.with(|st| {
        st.repo(REPO).runs.get_mut(&RUN_ID).unwrap()["pull_requests"] = json!([]);
    });
    let step = grant(&story, "no-pr");
    expect(&step, 1);
    assert!(step.stderr.contains("run-consistent"), "{}", step.stderr);
    assert_nothing_handed_over(&step);
}

/// A PR from a fork: GitHub leaves the run's `pull_requests` empty. Granted only where the
/// scope allows forks, and only when the label was added by the run's triggering actor.
#[test]
fn a_fork_pr_binds_only_through_the_triggering_actor_who_added_the_label() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.forge.with(|st| {
        let repo = st.repo(REPO);
        let policy = story::policy(story.issuer.issuer()).replacen(
            "    environments: [production]\n",
            "    environments: [production]\n    allow_forks: true\n",
            1,
        );
        repo.files
            .get_mut("main")
            .unwrap()
            .insert(".github/prod-access.yml".into(), policy);
        repo.pulls.get_mut(&PR).unwrap()["head"]["repo"] =
            json!({ "id": 9999, "name": "payments", "full_name": "fork/payments" });
        repo.runs.get_mut(&RUN_ID).unwrap()["pull_requests"] = json!([]);
        // The label was added by bob (write), but the run was triggered by alice.
        repo.issue_events.get_mut(&PR).unwrap()[0]["actor"] = user_json("bob", 1002);
    });
    let step = grant(&story, "fork-other-labeler");
    expect(&step, 1);
    assert!(step.stderr.contains("run-consistent"), "{}", step.stderr);
    assert_nothing_handed_over(&step);

    story.forge.with(|st| {
        st.repo(REPO).issue_events.get_mut(&PR).unwrap()[0]["actor"] = user_json("alice", 1001);
    });
    let step = grant(&story, "fork-triggering-labeler");
    expect(&step, 0);
    assert_token_contained(&step, &story);
}

// --- 2. a dispatch cannot launder another PR's approvals -----------------------------------

/// A `workflow_dispatch` run on the PR's head commit, naming PR 42 (approved by bob).
fn dispatch_story(rt: &tokio::runtime::Runtime) -> Story {
    let story = start(rt);
    story.approve();
    story.issuer.set_claims(claims(&[
        ("event_name", json!("workflow_dispatch")),
        ("sha", json!(HEAD_SHA)),
    ]));
    story.forge.with(|st| {
        let repo = st.repo(REPO);
        let run = repo.runs.get_mut(&RUN_ID).unwrap();
        run["event"] = json!("workflow_dispatch");
        run["head_sha"] = json!(HEAD_SHA);
        run["pull_requests"] = json!([]);
        repo.commits.insert(
            HEAD_SHA.into(),
            prod_access::sim::forge::commit_json(HEAD_SHA, "Merge main into release", None, None),
        );
        // An ordinary PR: no request label, no reason line.
        let pr = repo.pulls.get_mut(&PR).unwrap();
        pr["labels"] = json!([]);
        pr["body"] = json!("Release 2026.12: merge main into release.");
    });
    story
}

fn dispatch(story: &Story, name: &str) -> Step {
    run(story, name, &["grant"], |env, dir| {
        env.insert("GITHUB_EVENT_NAME".into(), "workflow_dispatch".into());
        env.insert("GITHUB_SHA".into(), HEAD_SHA.into());
        write_event(
            dir,
            &json!({
                "inputs": { "reason": REASON, "scope": "api-read", "pull-request": PR.to_string() },
                "ref": "refs/heads/main",
                "repository": { "id": REPO_ID, "full_name": REPO, "default_branch": "main" },
                "sender": { "login": "alice", "id": 1001, "type": "User" },
                "workflow": ".github/workflows/prod-access.yml"
            }),
        );
    })
}

#[test]
fn a_dispatch_naming_an_approved_pr_that_never_asked_is_denied() {
    let rt = runtime();
    let story = dispatch_story(&rt);
    let step = dispatch(&story, "laundered");
    expect(&step, 1);
    assert!(step.stderr.contains("pr-requests-scope"), "{}", step.stderr);
    assert_nothing_handed_over(&step);

    // The PR asks for another scope: still not this one.
    story.forge.with(|st| {
        st.repo(REPO).pulls.get_mut(&PR).unwrap()["body"] =
            json!("Fix.\n\nProd-Access: INC-1 shell\nProd-Access-Scope: host-shell");
    });
    let step = dispatch(&story, "other-scope");
    expect(&step, 1);
    assert!(step.stderr.contains("pr-requests-scope"), "{}", step.stderr);

    // The PR asks for this scope in its body: granted.
    story.forge.with(|st| {
        st.repo(REPO).pulls.get_mut(&PR).unwrap()["body"] =
            json!(format!("Fix.\n\nProd-Access: {REASON}"));
    });
    let step = dispatch(&story, "asked");
    expect(&step, 0);
    assert_token_contained(&step, &story);
}

// --- 3. nothing minted outlives a signal or a panic ----------------------------------------

#[test]
fn a_signal_while_the_audit_comment_is_posted_revokes_before_exit() {
    use rustix::process::Signal;
    for (signal, code) in [(Signal::TERM, 143), (Signal::INT, 130), (Signal::HUP, 129)] {
        let rt = runtime();
        let story = start(&rt);
        story.approve();
        story.forge.add_fault(Fault::new(
            POST_COMMENT,
            FaultKind::Delay(Duration::from_secs(30)),
        ));
        let (child, dir) = spawn(&story, "signal", &["grant"], |_, _| {});
        wait_for_hits(&story, POST_COMMENT, 1);
        kill(&child, signal);
        let step = finish(child, dir);
        assert_eq!(
            step.code, code,
            "{signal:?}\n{}\n{}",
            step.stdout, step.stderr
        );
        assert!(
            step.stdout.contains("not revocable; expires at"),
            "{signal:?}: no revoke after the signal:\n{}\n{}",
            step.stdout,
            step.stderr
        );
        assert_nothing_handed_over(&step);
        assert_eq!(
            step.pairs("output").get("granted").map(String::as_str),
            Some("false")
        );
        // Every exit says what happened (contract §5): here, after the mint.
        let summary = step.file("summary.md");
        assert!(
            summary.contains("NOT GRANTED (stopped by a signal after the mint)")
                && summary.contains("not revocable; expires at"),
            "{summary}"
        );
    }
}

#[test]
fn a_panic_after_the_mint_revokes_before_exit() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let (child, dir) = spawn(&story, "panic", &["grant"], |env, _| {
        env.insert("PROD_ACCESS_FAULT".into(), "panic-after-mint".into());
    });
    let step = finish(child, dir);
    expect(&step, 3);
    assert!(
        step.stdout.contains("not revocable; expires at"),
        "{}\n{}",
        step.stdout,
        step.stderr
    );
    assert_nothing_handed_over(&step);
    let comment = story.comments().last().cloned().unwrap_or_default();
    assert!(!comment.contains("**Status:** active"), "{comment}");
}

#[test]
fn core_dumps_are_off_before_any_secret_exists() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let dir = story.step_dir("core").unwrap();
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -c unlimited && exec \"$@\"",
            "sh",
            env!("CARGO_BIN_EXE_prod-access"),
            "exec",
            "--",
            "sh",
            "-c",
            "echo core-limit=$(ulimit -c)",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(story.env(&dir))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == "core-limit=0"),
        "the command inherited core dumps:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- 4. revoke acts only on its own run ----------------------------------------------------

#[test]
fn revoke_with_another_runs_state_leaves_that_grant_alone() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let granted = grant(&story, "run-a");
    expect(&granted, 0);
    let state = granted.pairs("state");
    // A later run's post step, with run A's state forged into it.
    story
        .issuer
        .set_claims(claims(&[("run_id", json!((RUN_ID + 5).to_string()))]));
    let step = run(&story, "run-b-post", &["revoke"], |env, _| {
        env.insert("GITHUB_RUN_ID".into(), (RUN_ID + 5).to_string());
        for (k, v) in &state {
            env.insert(format!("STATE_{k}"), v.clone());
        }
    });
    expect(&step, 1);
    assert!(step.stderr.contains("left alone"), "{}", step.stderr);
    let comment = story.comments().last().unwrap().clone();
    assert!(
        comment.contains("**Status:** active"),
        "run A's comment was edited by run B: {comment}"
    );
}

// --- 5. marker comments count only when the tool wrote them --------------------------------

fn planted(story: &Story, author: Value) {
    let marker = format!(
        "<!-- prod-access:grant id=pa-{RUN_ID}-1-deadbeef run={RUN_ID}.1 scope=api-read -->\n\
         **Status:** active\n"
    );
    story.forge.with(|st| {
        st.repo(REPO)
            .comments
            .entry(PR)
            .or_default()
            .push(comment_json(7, author, &marker));
    });
}

#[test]
fn a_marker_planted_by_another_bot_is_not_the_tools_own() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    planted(&story, bot_json("evil[bot]", 666));
    let step = grant(&story, "planted");
    expect(&step, 0);
    assert_token_contained(&step, &story);
}

#[test]
fn with_a_user_token_the_tools_own_comments_still_count() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story
        .forge
        .with(|st| st.viewer = Some(user_json("deploy-user", 5555)));
    let first = grant(&story, "job-1");
    expect(&first, 0);
    // Another job of the same run attempt: no PROD_ACCESS_GRANTS in its env.
    let second = grant(&story, "job-2");
    expect(&second, 1);
    assert!(
        second.stderr.contains("not-already-granted"),
        "{}",
        second.stderr
    );
    assert_nothing_handed_over(&second);
}

// --- 6. a comment POST that lands but fails ------------------------------------------------

#[test]
fn a_comment_post_that_landed_but_failed_is_found_and_edited() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story
        .forge
        .add_fault(Fault::new(POST_COMMENT, FaultKind::AfterLanding(502)).times(1));
    let step = grant(&story, "landed");
    expect(&step, 3);
    assert_nothing_handed_over(&step);
    let comments = story.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        !comments[0].contains("**Status:** active"),
        "the landed comment still says active: {}",
        comments[0]
    );
    assert!(comments[0].contains("not revocable"), "{}", comments[0]);
}

// --- 7. ids bind the approvers -------------------------------------------------------------

#[test]
fn an_approver_login_that_changed_hands_does_not_count() {
    let rt = runtime();
    let story = start(&rt);
    story.approve(); // bob, id 1002
    story.forge.with(|st| {
        st.user_ids.insert("bob".into(), 2002);
    });
    let step = grant(&story, "renamed");
    expect(&step, 1);
    assert!(
        step.stderr.contains("approver-permission"),
        "{}",
        step.stderr
    );
    assert_nothing_handed_over(&step);
}

// --- 8. the head is read again in the last wave --------------------------------------------

#[test]
fn a_head_pushed_after_the_reviews_were_read_denies() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let moved = story.forge.with(|st| {
        let mut pr = st.repo(REPO).pulls[&PR].clone();
        pr["head"]["sha"] = json!("8888888888888888888888888888888888888888");
        pr
    });
    story.forge.add_fault(
        Fault::new(
            GET_PULL,
            FaultKind::Status {
                status: 200,
                headers: Vec::new(),
                body: moved,
            },
        )
        .after(1),
    );
    let step = grant(&story, "moved");
    expect(&step, 1);
    assert!(step.stderr.contains("head-current"), "{}", step.stderr);
    assert_nothing_handed_over(&step);
    assert!(story.forge.hits(GET_PULL) >= 2, "the PR was read once");
}

// --- 9. one grant per run attempt and scope, as far as local mode can see ------------------

#[test]
fn two_jobs_granting_at_once_get_one_credential() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.forge.add_fault(
        Fault::new(POST_COMMENT, FaultKind::Delay(Duration::from_millis(1500))).times(2),
    );
    let a = spawn(&story, "job-a", &["grant"], |_, _| {});
    let b = spawn(&story, "job-b", &["grant"], |_, _| {});
    let a = finish(a.0, a.1);
    let b = finish(b.0, b.1);
    let granted = [&a, &b].iter().filter(|s| s.code == 0).count();
    assert_eq!(
        granted, 1,
        "a:\n{}\n{}\nb:\n{}\n{}",
        a.stdout, a.stderr, b.stdout, b.stderr
    );
    let loser = if a.code == 0 { &b } else { &a };
    expect(loser, 1);
    assert!(
        loser.stderr.contains("not-already-granted"),
        "{}",
        loser.stderr
    );
    assert_nothing_handed_over(loser);
}

// --- 10. smaller ---------------------------------------------------------------------------

#[test]
fn each_mask_value_is_written_once() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let step = grant(&story, "masks");
    expect(&step, 0);
    assert_masks_once(&step);
}

#[test]
fn a_label_reason_must_be_the_whole_body_line_not_a_part_of_it() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let step = run(&story, "part", &["grant"], |_, dir| {
        let mut event = story.event();
        // The API's body says "Prod-Access: INC-4711 reconcile double charges".
        event["pull_request"]["body"] = json!("Prod-Access: INC-4711");
        write_event(dir, &event);
    });
    expect(&step, 1);
    assert!(step.stderr.contains("reason-present"), "{}", step.stderr);
    assert_nothing_handed_over(&step);
}

#[test]
fn a_pr_edited_or_unlabeled_does_not_start_a_trailer_request() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.forge.with(|st| {
        st.repo(REPO).commits.insert(
            HEAD_SHA.into(),
            prod_access::sim::forge::commit_json(
                HEAD_SHA,
                &format!("Fix\n\nProd-Access: {REASON}\nProd-Access-Scope: api-read"),
                None,
                None,
            ),
        );
    });
    for action in ["edited", "unlabeled", "assigned"] {
        let step = run(&story, action, &["grant"], |_, dir| {
            let mut event = story.event();
            event["action"] = json!(action);
            write_event(dir, &event);
        });
        expect(&step, 0);
        assert_eq!(
            step.pairs("output").get("requested").map(String::as_str),
            Some("false"),
            "{action}: {}",
            step.stdout
        );
    }
    // `synchronize` (new commits) does.
    let step = run(&story, "synchronize", &["grant"], |_, dir| {
        let mut event = story.event();
        event["action"] = json!("synchronize");
        write_event(dir, &event);
    });
    assert_eq!(
        step.pairs("output").get("requested").map(String::as_str),
        Some("true"),
        "{}\n{}",
        step.stdout,
        step.stderr
    );
    let _ = BASE_SHA;
}

#[test]
fn the_ssh_audit_comment_names_the_certificate_serial_in_decimal() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.relabel("host-access");
    let ca = steps::ssh_ca_key();
    let step = run(&story, "ssh", &["grant"], |env, _| {
        env.insert("PROD_ACCESS_SSH_CA_KEY".into(), ca.clone());
    });
    expect(&step, 0);
    assert_masks_once(&step);
    let handle: Value = serde_json::from_str(step.pairs("state").get("handle").unwrap()).unwrap();
    let serial = handle["data"]["serial"]
        .as_str()
        .map(str::to_string)
        .or_else(|| handle["data"]["serial"].as_u64().map(|n| n.to_string()))
        .unwrap_or_else(|| panic!("no serial in the handle: {handle}"));
    let comment = story.comments().last().unwrap().clone();
    assert!(
        comment.contains(&format!("serial {serial}")),
        "no decimal serial {serial} in the comment: {comment}"
    );
}
