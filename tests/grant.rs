//! `grant` and `revoke` end to end: the real binary against the simulated GitHub and the
//! local OIDC issuer (the story `prod-access demo` tells). Every test that mints checks that
//! the token appears only on its `::add-mask::` line and in `GITHUB_ENV`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod steps;

use prod_access::sim::forge::{Fault, FaultKind};
use prod_access::sim::story;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use steps::*;

#[test]
fn label_request_denied_without_approval_then_granted_after_one() {
    let rt = runtime();
    let story = start(&rt);
    let denied = grant(&story, "denied");
    assert_eq!(denied.code, 1, "{}\n{}", denied.stdout, denied.stderr);
    assert!(denied.stderr.contains("denied: approvals-count"));
    assert_nothing_handed_over(&denied);
    assert_eq!(
        denied.pairs("output").get("requested").map(String::as_str),
        Some("true")
    );
    assert!(denied.file("summary.md").contains("DENIED"));
    assert!(
        story
            .comments()
            .last()
            .unwrap()
            .contains("**Status:** denied")
    );

    story.approve();
    let before = story.forge.requests().len();
    let issuer_before = story.issuer.all_hits();
    let granted = grant(&story, "granted");
    assert_eq!(granted.code, 0, "{}\n{}", granted.stdout, granted.stderr);
    assert_token_contained(&granted, &story);
    // The forge requests of one granted label request (the note on the issue cites it):
    // repository, policy, run, PR, reviews, label events, 2 permissions, the PR again (its
    // head, after the reviews), team visible, membership, comments (replay check) and the
    // identity the tool posts as (GraphQL `viewer`), the comment POST, and the comments
    // again (did another job of this run attempt get there first?).
    let mut requests: Vec<String> = story.forge.requests()[before..]
        .iter()
        .map(|r| r.route.clone())
        .collect();
    requests.sort();
    let mut expected = vec![
        "GET /repos/{owner}/{repo}",
        "GET /repos/{owner}/{repo}/contents/{path}",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        "GET /repos/{owner}/{repo}/issues/{issue_number}/events",
        "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
        "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
        "GET /orgs/{org}/teams/{team_slug}",
        "GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "POST /graphql",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
    ];
    expected.sort_unstable();
    assert_eq!(requests, expected);
    // And of the issuer: one token, one discovery, one key set (fetched beside discovery at
    // GitHub's path, and used because discovery names it): no request made twice.
    let issuer: Vec<(String, usize)> = story
        .issuer
        .all_hits()
        .into_iter()
        .map(|(path, n)| {
            let earlier = issuer_before.get(&path).copied().unwrap_or(0);
            (path, n - earlier)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        issuer,
        [
            ("/.well-known/jwks".to_string(), 1),
            ("/.well-known/openid-configuration".to_string(), 1),
            ("/token".to_string(), 1),
        ]
    );
    let out = granted.pairs("output");
    assert_eq!(out.get("granted").map(String::as_str), Some("true"));
    assert_eq!(out.get("scope").map(String::as_str), Some("api-read"));
    assert_eq!(out.get("approvers").map(String::as_str), Some("bob"));
    assert!(out.get("grant-id").unwrap().starts_with("pa-9000000001-1-"));
    assert!(out.get("expires-at").unwrap().ends_with('Z'));
    let comment = story.comments().last().unwrap().clone();
    assert!(comment.starts_with("<!-- prod-access:grant id=pa-9000000001-1-"));
    assert!(comment.contains("**Status:** active"));
    assert!(comment.contains("bob on [6dcb09b]"));
    // The state holds what revoke needs and no secret.
    let state = granted.pairs("state");
    assert!(state.contains_key("handle") && state.contains_key("pr"));
}

#[test]
fn race_61_a_second_grant_in_the_same_job_is_a_replay() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let first = grant(&story, "first");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let grants = first
        .pairs("env")
        .get("PROD_ACCESS_GRANTS")
        .cloned()
        .unwrap();
    let second = run(&story, "second", &["grant"], |env, _| {
        env.insert("PROD_ACCESS_GRANTS".into(), grants);
    });
    assert_eq!(second.code, 1);
    assert!(
        second.stderr.contains("not-already-granted"),
        "{}",
        second.stderr
    );
    assert_nothing_handed_over(&second);
    // Without the variable (another job of the same run attempt), the PR comment tells.
    let third = grant(&story, "third");
    assert_eq!(third.code, 1);
    assert!(third.stderr.contains("not-already-granted"));
}

#[test]
fn revoke_85_is_truthful_idempotent_and_a_no_op_without_state() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let granted = grant(&story, "granted");
    assert_eq!(granted.code, 0);
    let state = granted.pairs("state");
    for name in ["revoke-1", "revoke-2"] {
        let revoked = run(&story, name, &["revoke"], |env, _| {
            // The post step needs no signing key to end a jwt grant.
            env.remove("PROD_ACCESS_JWT_KEY");
            for (k, v) in &state {
                env.insert(format!("STATE_{k}"), v.clone());
            }
        });
        assert_eq!(revoked.code, 0, "{}", revoked.stderr);
        assert!(revoked.stdout.contains("not revocable; expires at"));
    }
    let comment = story.comments().last().unwrap().clone();
    assert!(comment.contains("**Status:** not revocable; expires at"));
    assert_eq!(comment.matches("_Updated by").count(), 1);
    let nothing = run(&story, "nothing", &["revoke"], |_, _| {});
    assert_eq!(nothing.code, 0);
    assert!(nothing.stdout.contains("nothing to revoke"));
}

#[test]
fn revoke_refuses_a_forged_state() {
    let rt = runtime();
    let story = start(&rt);
    let forged = run(&story, "forged", &["revoke"], |env, _| {
        env.insert(
            "STATE_handle".into(),
            r#"{"kind":"jwt","grant_id":"../../etc","expires_at":"2026-01-01T00:00:00Z"}"#.into(),
        );
    });
    assert_eq!(forged.code, 2, "{}", forged.stderr);
}

#[test]
fn fault_71_comment_post_fails_nothing_handed_over() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.forge.add_fault(Fault::status(
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
        500,
    ));
    let step = grant(&story, "comment-500");
    assert_eq!(step.code, 3, "{}\n{}", step.stdout, step.stderr);
    assert_nothing_handed_over(&step);
    assert!(
        step.file("summary.md")
            .contains("NOT GRANTED (failed after the mint)"),
        "{}",
        step.file("summary.md")
    );
    let log = format!("{}{}", step.stdout, step.stderr);
    assert!(
        log.contains("revoked") || log.contains("not revocable"),
        "{log}"
    );
}

#[test]
fn gha_94_unwritable_github_env_revokes_and_exits_3() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let step = run(&story, "ro-env", &["grant"], |env, _| {
        env.insert("GITHUB_ENV".into(), "/proc/version".into());
    });
    assert_eq!(step.code, 3, "{}\n{}", step.stdout, step.stderr);
    // Non-root: the file fails to open before anything is minted. Root can open it, so
    // the write fails after the mint: the credential is revoked and the comment edited.
    if let Some(comment) = story.comments().last() {
        assert!(!comment.contains("**Status:** active"), "{comment}");
        assert!(comment.contains("**Status:** not revocable") || comment.contains("revoked"));
    }
}

#[test]
fn jwt_21_no_token_request_variables_exit_2_with_no_api_call() {
    let rt = runtime();
    let story = start(&rt);
    let step = run(&story, "no-oidc", &["grant"], |env, _| {
        env.remove("ACTIONS_ID_TOKEN_REQUEST_URL");
    });
    assert_eq!(step.code, 2);
    assert!(
        step.stderr
            .contains("permissions: id-token: write; fork PRs get no OIDC token"),
        "{}",
        step.stderr
    );
    assert!(story.forge.requests().is_empty(), "API calls were made");
}

#[test]
fn bind_31_32_environment_that_disagrees_with_the_token_denies() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    for (var, value) in [("GITHUB_RUN_ID", "1"), ("GITHUB_EVENT_NAME", "push")] {
        let step = run(&story, var, &["grant"], |env, _| {
            env.insert(var.into(), value.into());
        });
        assert_eq!(step.code, 1, "{var}: {}", step.stderr);
        assert!(
            step.stderr.contains("runner-env-consistent"),
            "{var}: {}",
            step.stderr
        );
        assert_nothing_handed_over(&step);
    }
    let step = run(&story, "repo", &["grant"], |env, _| {
        env.insert("GITHUB_REPOSITORY".into(), "evil/payments".into());
    });
    assert_ne!(step.code, 0);
    assert_nothing_handed_over(&step);
}

#[test]
fn fault_72_insecure_api_url_is_a_config_error() {
    let rt = runtime();
    let story = start(&rt);
    let step = run(&story, "insecure", &["grant"], |env, _| {
        env.insert("GITHUB_API_URL".into(), "http://example.invalid".into());
    });
    assert_eq!(step.code, 2, "{}", step.stderr);
    assert!(
        step.stderr.contains("config.insecure_url") || step.stderr.contains("https"),
        "{}",
        step.stderr
    );
}

/// Row 70: GraphQL answers 200 with `errors` and partial `data` (the `viewer` question).
#[test]
fn fault_70_graphql_errors_with_partial_data_fail() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.forge.add_fault(Fault::new(
        "POST /graphql",
        FaultKind::Status {
            status: 200,
            headers: vec![],
            body: serde_json::json!({
                "data": { "viewer": { "login": "github-actions[bot]", "databaseId": 41898282 } },
                "errors": [{ "message": "Something went wrong while executing your query." }]
            }),
        },
    ));
    let step = grant(&story, "graphql-errors");
    assert_eq!(step.code, 3, "{}", step.stderr);
    assert!(step.stderr.contains("POST /graphql"), "{}", step.stderr);
    assert_nothing_handed_over(&step);
    assert!(
        !step.stdout.contains("::add-mask::"),
        "minted before the failure"
    );
}

#[test]
fn fault_66_gateway_errors_on_each_endpoint_fail_closed() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    for route in [
        "GET /repos/{owner}/{repo}/contents/{path}",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
        "GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}",
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "POST /graphql",
    ] {
        story.forge.clear_faults();
        story.forge.add_fault(Fault::new(
            route,
            FaultKind::Status {
                status: 503,
                headers: vec![],
                body: serde_json::json!({"message": "unavailable"}),
            },
        ));
        let step = grant(&story, &format!("fault-{}", route.len()));
        assert_eq!(step.code, 3, "{route}: {}", step.stderr);
        assert_nothing_handed_over(&step);
        assert!(
            !step.stdout.contains("::add-mask::"),
            "{route}: minted before the failure"
        );
    }
}

#[test]
fn req_45_audit_73_hostile_reason_is_inert_everywhere() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let hostile = "INC-1 ::add-mask::x ##[error]y @everyone @acme/sre <img src=x onerror=alert(1)> \
                   [x](javascript:alert(1)) | pipe \u{1b}[31m red \u{202e} rtl";
    let body = format!("fix\n\nProd-Access: {hostile}");
    story.forge.with(|st| {
        st.repo(story::REPO).pulls.get_mut(&story::PR).unwrap()["body"] = serde_json::json!(body);
    });
    let step = run(&story, "hostile", &["grant"], |_, dir| {
        let mut event = story.event();
        event["pull_request"]["body"] = serde_json::json!(body);
        std::fs::write(dir.join("event.json"), serde_json::to_vec(&event).unwrap()).unwrap();
    });
    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
    assert_token_contained(&step, &story);
    for line in step.stdout.lines().chain(step.stderr.lines()) {
        let t = line.trim_start();
        if t.starts_with("::") {
            assert!(
                t.starts_with("::add-mask::") || t.starts_with("::error "),
                "{line}"
            );
        }
        assert!(!line.contains("##["), "{line}");
        assert!(
            !line.contains('\u{1b}') && !line.contains('\u{202e}'),
            "{line}"
        );
    }
    for (what, text) in [
        ("summary", step.file("summary.md")),
        ("comment", story.comments().join("\n")),
    ] {
        assert!(!text.contains("<img"), "{what}");
        assert!(!text.contains("@everyone"), "{what}: a ping");
        assert!(!text.contains("](javascript"), "{what}: a link");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{what}"
        );
    }
}

#[test]
fn online_check_decides_like_grant_and_mints_nothing() {
    let rt = runtime();
    let story = start(&rt);
    let denied = run(&story, "check-denied", &["check"], |_, _| {});
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    assert!(denied.stdout.contains("[ ] approvals-count"));
    story.approve();
    let ok = run(&story, "check-ok", &["check"], |_, _| {});
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("WOULD BE GRANTED"));
    assert!(!ok.stdout.contains("::add-mask::"));
    assert!(ok.file("env").is_empty(), "check hands nothing to the job");
    // Contract §5: every exit of `check` writes requested/granted (never true) and a summary.
    let out = ok.pairs("output");
    assert_eq!(out.get("requested").map(String::as_str), Some("true"));
    assert_eq!(out.get("granted").map(String::as_str), Some("false"));
    assert!(
        ok.file("summary.md")
            .contains("would be granted (nothing minted)")
    );
    assert!(denied.file("summary.md").contains("would be denied"));
    assert!(story.comments().is_empty(), "check writes no comment");
}

#[test]
fn revoke_87_exec_runs_the_command_with_the_credential_then_revokes() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let script =
        r#"test -n "$PROD_ACCESS_TOKEN" && test "${PROD_ACCESS_TOKEN%%.*}" != "" && exit 7"#;
    let step = run(
        &story,
        "exec",
        &["exec", "--", "sh", "-c", script],
        |_, _| {},
    );
    assert_eq!(
        step.code, 7,
        "the command's exit code:\n{}\n{}",
        step.stdout, step.stderr
    );
    assert!(step.file("env").is_empty(), "exec never writes GITHUB_ENV");
    assert!(
        step.stdout.contains("not revocable; expires at"),
        "{}",
        step.stdout
    );
    let comment = story.comments().last().unwrap().clone();
    assert!(comment.contains("**Status:** not revocable"), "{comment}");

    // Same run attempt and scope as the first exec: a replay.
    let again = run(&story, "exec-again", &["exec", "--", "true"], |_, _| {});
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("not-already-granted"),
        "{}",
        again.stderr
    );

    // A failing command (a fresh run): its exit code, and the credential ends all the same.
    let story = start(&rt);
    story.approve();
    let failed = run(&story, "exec-false", &["exec", "--", "false"], |_, _| {});
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains("not revocable; expires at"),
        "{}",
        failed.stdout
    );
    assert!(failed.file("env").is_empty());
}

#[test]
fn exec_ends_the_command_and_the_grant_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    let dir = story.step_dir("exec-term").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .args(["exec", "--", "sleep", "120"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(story.env(&dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut log = String::new();
    // Wait until the command runs, then stop prod-access as a cancelled job would.
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "exec ended early:\n{log}"
        );
        log.push_str(&line);
        if line.contains("running the command") {
            break;
        }
    }
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(status.code(), Some(143), "{log}{rest}");
    assert!(
        rest.contains("not revocable; expires at"),
        "the grant was not ended:\n{rest}"
    );
}

#[test]
fn sweep_of_a_jwt_only_policy_has_nothing_to_remove() {
    let rt = runtime();
    let story = start(&rt);
    let dir = story.step_dir("sweep").unwrap();
    std::fs::write(dir.join("policy.yml"), story::policy(story.issuer.issuer())).unwrap();
    let policy = dir.join("policy.yml").display().to_string();
    let step = run(
        &story,
        "sweep",
        &["sweep", "--policy-file", &policy],
        |_, _| {},
    );
    assert_eq!(step.code, 0, "{}", step.stderr);
    assert!(
        step.stdout.contains("sweep jwt: removed 0"),
        "{}",
        step.stdout
    );
}

/// A CA key as `ssh-keygen` makes it (OpenSSH text, Ed25519, unencrypted).
#[test]
fn ssh_label_request_grants_a_certificate_masked_line_by_line_and_revoke_removes_it() {
    use std::os::unix::fs::PermissionsExt;
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.relabel("host-access");
    let ca = ssh_ca_key();
    let step = run(&story, "ssh", &["grant"], |env, _| {
        env.insert("PROD_ACCESS_SSH_CA_KEY".into(), ca.clone());
    });
    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
    let env = step.pairs("env");
    let key_path = PathBuf::from(env.get("PROD_ACCESS_SSH_KEY").unwrap());
    let cert_path = PathBuf::from(env.get("PROD_ACCESS_SSH_CERT").unwrap());
    assert!(key_path.starts_with(&step.dir), "under RUNNER_TEMP");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&cert_path), 0o600);
    assert_eq!(mode(key_path.parent().unwrap()), 0o700);
    // Every line of the private key is masked before anything else shows it, and shows
    // nowhere but on its mask line.
    let key = std::fs::read_to_string(&key_path).unwrap();
    for line in key
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
    {
        assert!(
            step.stdout.contains(&format!("::add-mask::{line}")),
            "unmasked key line"
        );
        // The whole key is also masked as one escaped value (`%0A` between lines): that is a
        // mask line too. No other line may show it.
        let shown = step
            .stdout
            .lines()
            .filter(|l| l.contains(line) && !l.starts_with("::add-mask::"))
            .count();
        assert_eq!(shown, 0, "a key line outside its mask lines");
        for text in [
            &step.stderr,
            &step.file("summary.md"),
            &step.file("output"),
            &step.file("state"),
        ] {
            assert!(!text.contains(line));
        }
        assert!(!story.comments().join("\n").contains(line));
    }
    // The CA key never shows. (Its first base64 line, `openssh-key-v1` and the cipher
    // names, is the same in every unencrypted Ed25519 key, the user key included: skipped.)
    for line in ca
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .filter(|l| !key.contains(l))
    {
        assert!(
            !step.stdout.contains(line) && !step.stderr.contains(line),
            "the CA key leaked: {line}"
        );
    }
    let listing = Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(&cert_path)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing.contains("deploy") && listing.contains("permit-pty"),
        "{listing}"
    );
    let comment = story.comments().last().unwrap().clone();
    assert!(
        comment.contains("ssh, `SHA256:") || comment.contains("ssh,"),
        "{comment}"
    );

    // The post step: no CA key needed; the files go; the serial is printed for a KRL.
    let state = step.pairs("state");
    let revoked = run(&story, "ssh-revoke", &["revoke"], |env, _| {
        env.insert("RUNNER_TEMP".into(), step.dir.display().to_string());
        for (k, v) in &state {
            env.insert(format!("STATE_{k}"), v.clone());
        }
    });
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert!(revoked.stdout.contains("serial: "), "{}", revoked.stdout);
    assert!(
        !key_path.exists() && !cert_path.exists(),
        "credential files remain (89)"
    );
}

#[test]
fn ssh_exec_hands_the_key_to_the_command_only_and_removes_it_after() {
    let rt = runtime();
    let story = start(&rt);
    story.approve();
    story.relabel("host-access");
    let ca = ssh_ca_key();
    let script = r#"test -f "$PROD_ACCESS_SSH_KEY" && test -f "$PROD_ACCESS_SSH_CERT" && echo "$PROD_ACCESS_SSH_KEY" > "$RUNNER_TEMP/seen" && exit 5"#;
    let step = run(
        &story,
        "ssh-exec",
        &["exec", "--", "sh", "-c", script],
        |env, _| {
            env.insert("PROD_ACCESS_SSH_CA_KEY".into(), ca.clone());
        },
    );
    assert_eq!(step.code, 5, "{}\n{}", step.stdout, step.stderr);
    let seen = std::fs::read_to_string(step.dir.join("seen")).unwrap();
    assert!(
        !Path::new(seen.trim()).exists(),
        "the key file outlived the command"
    );
    assert!(step.file("env").is_empty());
}
