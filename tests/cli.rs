//! The binary's surface: help, version, exit codes for usage errors and for commands that
//! belong to later work, and no panic on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::Cli;

const SUBCOMMANDS: [&str; 11] = [
    "grant",
    "revoke",
    "check",
    "exec",
    "keygen",
    "jwks",
    "verify",
    "sweep",
    "demo",
    "completions",
    "man",
];

#[test]
fn help_lists_every_subcommand_and_exit_codes() {
    let run = Cli::new(&["--help"]).run();
    run.expect_code(0);
    for sub in SUBCOMMANDS {
        assert!(run.stdout.contains(sub), "--help lacks {sub}");
    }
    assert!(run.stdout.contains("Exit codes"));
}

#[test]
fn every_subcommand_has_help() {
    for sub in SUBCOMMANDS {
        let run = Cli::new(&[sub, "--help"]).run();
        run.expect_code(0);
        assert!(
            run.stdout.contains("Usage: prod-access"),
            "{sub}: {}",
            run.stdout
        );
    }
}

#[test]
fn version_prints_the_cargo_version_and_the_commit() {
    let run = Cli::new(&["--version"]).run();
    run.expect_code(0);
    // `prod-access 0.1.0 (1a2b3c4d5e6f)`, or `(unknown)` for a build outside git.
    let re = regex::Regex::new(r"^prod-access (\S+) \(([0-9a-f]{12}|unknown)\)$").unwrap();
    let caps = re
        .captures(run.stdout.trim())
        .unwrap_or_else(|| panic!("--version: {}", run.stdout));
    assert_eq!(&caps[1], env!("CARGO_PKG_VERSION"));
}

#[test]
fn each_subcommand_accepts_only_its_own_flags() {
    for args in [
        &["revoke", "--ttl", "5m"][..],
        &["revoke", "--dry-run"],
        &["revoke", "--reason", "x"],
        &["revoke", "--scope", "db"],
        &["sweep", "--pull-request", "3"],
        &["sweep", "--if-no-request", "fail"],
        &["check", "--dry-run", "--policy-file", "p.yml"],
        &["keygen", "--out", "k.pem", "--github-token", "t"],
        &["jwks", "--policy", "p.yml"],
        &["demo", "--scope", "db"],
    ] {
        let run = Cli::new(args).run();
        run.expect_code(2);
        assert!(
            run.stderr.contains("unexpected argument"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn input_variables_a_subcommand_does_not_read_are_ignored() {
    // The Action sets every INPUT_* for its post step too: revoke reads only its own.
    let run = Cli::new(&["revoke"])
        .env("INPUT_TTL", "not-a-duration")
        .env("INPUT_DRY-RUN", "maybe")
        .env("INPUT_PULL-REQUEST", "abc")
        .env("INPUT_IF-NO-REQUEST", "never")
        .env("INPUT_SCOPE", "db read; rm")
        .run();
    run.expect_code(0);
    assert!(run.stdout.contains("nothing to revoke"), "{}", run.stdout);
    // ... while the inputs it reads are still checked.
    Cli::new(&["revoke"])
        .env("INPUT_POLICY", "/etc/passwd")
        .run()
        .expect_code(2);
    // check never mints: `dry-run` is not its input, and its variable is ignored.
    let cli = Cli::new(&["check", "--policy-file", "p.yml"]).env("INPUT_DRY-RUN", "maybe");
    cli.file(
        "p.yml",
        std::fs::read(harness::repo_root().join("examples/policy.yml")).unwrap(),
    );
    cli.run().expect_code(0);
}

#[test]
fn help_shows_the_environment_fallback_of_every_input() {
    let run = Cli::new(&["grant", "--help"]).run();
    run.expect_code(0);
    for input in [
        "GITHUB-TOKEN",
        "SCOPE",
        "REASON",
        "TTL",
        "POLICY",
        "AUDIENCE",
        "PULL-REQUEST",
        "DRY-RUN",
        "IF-NO-REQUEST",
    ] {
        // wrap_help may break `[env:` and the name apart; the name itself stays whole.
        assert!(
            run.stdout.contains(&format!("INPUT_{input}]"))
                || run.stdout.contains(&format!("INPUT_{input},")),
            "grant --help lacks INPUT_{input}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn a_missing_runner_environment_is_named_all_at_once_with_the_flag() {
    let run = Cli::new(&["grant"]).run();
    run.expect_code(2);
    let first = run
        .stderr
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or_default();
    for var in [
        "GITHUB_EVENT_NAME",
        "GITHUB_EVENT_PATH",
        "GITHUB_REPOSITORY",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "GITHUB_TOKEN (or --github-token)",
    ] {
        assert!(first.contains(var), "{var} not named in: {}", run.stderr);
    }
    // With the token given as a flag, it is no longer missing.
    let run = Cli::new(&["grant", "--github-token", "ghs_x"])
        .env("GITHUB_EVENT_NAME", "push")
        .run();
    run.expect_code(2);
    assert!(!run.stderr.contains("GITHUB_TOKEN"), "{}", run.stderr);
    assert!(!run.stderr.contains("GITHUB_EVENT_NAME"), "{}", run.stderr);
    assert!(
        run.stderr.contains("GITHUB_EVENT_PATH, GITHUB_REPOSITORY"),
        "{}",
        run.stderr
    );
}

#[test]
fn revoke_with_state_outside_a_runner_names_everything_it_needs() {
    // revoke asks for a fresh job token (the run whose grant it may revoke): OIDC included.
    let run = Cli::new(&["revoke"])
        .env("STATE_handle", "jwt:pa-1-1-x")
        .run();
    run.expect_code(2);
    for var in [
        "GITHUB_EVENT_NAME",
        "GITHUB_REPOSITORY",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "GITHUB_TOKEN (or --github-token)",
    ] {
        assert!(run.stderr.contains(var), "{var}: {}", run.stderr);
    }
}

#[test]
fn completions_and_the_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = Cli::new(&["completions", shell]).run();
        run.expect_code(0);
        assert!(run.stdout.contains("prod-access"), "{shell}");
        assert!(run.stdout.contains("github-token"), "{shell}");
    }
    // zsh completions use `::` in their specs: printed as generated, not neutralised.
    let zsh = Cli::new(&["completions", "zsh"]).run();
    assert!(!zsh.stdout.contains('\u{200B}'));
    Cli::new(&["completions", "tcsh"]).run().expect_code(2);
    let man = Cli::new(&["man"]).run();
    man.expect_code(0);
    assert!(man.stdout.contains(".TH prod-access 1"), "{}", man.stdout);
    assert!(man.stdout.contains("keygen"));
}

#[test]
fn no_colour_off_a_terminal_or_with_no_color() {
    // Off a terminal (as in CI logs, which the runner parses) nothing is coloured.
    let run = Cli::new(&["grant", "--bogus"]).run();
    run.expect_code(2);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    // NO_COLOR wins even over a forced colour.
    let run = Cli::new(&["grant", "--bogus"])
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .run();
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    let run = Cli::new(&["--help"])
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .run();
    assert!(!run.stdout.contains('\x1b'));
}

#[test]
fn unknown_flags_and_subcommands_are_usage_errors() {
    Cli::new(&["grant", "--no-such-flag"]).run().expect_code(2);
    Cli::new(&["frobnicate"]).run().expect_code(2);
    Cli::new(&[]).run().expect_code(2);
}

#[test]
fn runner_commands_outside_a_runner_name_the_missing_variable() {
    for args in [&["exec", "--", "true"][..], &["sweep"]] {
        let run = Cli::new(args).run();
        run.expect_code(2);
        assert!(run.stderr.contains("GITHUB_"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn bad_inputs_from_env_are_usage_errors_without_echoing_commands() {
    for (k, v) in [
        ("INPUT_TTL", "999999h"),
        ("INPUT_TTL", "-5m"),
        ("INPUT_PULL-REQUEST", "::add-mask::x"),
        ("INPUT_IF-NO-REQUEST", "##[error]x"),
    ] {
        let cli = Cli::new(&["check", "--policy-file", "p.yml"]).env(k, v);
        cli.file("p.yml", "version: 1\n");
        let run = cli.run();
        run.expect_code(2);
        run.assert_no_injected_commands(&[]);
    }
}

#[test]
fn online_check_outside_a_runner_names_the_missing_variable() {
    let run = Cli::new(&["check"]).run();
    run.expect_code(2);
    assert!(run.stderr.contains("GITHUB_EVENT_NAME"), "{}", run.stderr);
}

#[test]
fn scenario_requires_a_policy_file() {
    Cli::new(&["check", "--scenario", "s.json"])
        .run()
        .expect_code(2);
}

#[test]
fn grant_outside_a_runner_is_a_config_error_naming_the_variable() {
    let run = Cli::new(&["grant"]).run();
    run.expect_code(2);
    assert!(run.stderr.contains("GITHUB_EVENT_NAME"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn revoke_with_nothing_granted_is_a_no_op() {
    let run = Cli::new(&["revoke"]).run();
    run.expect_code(0);
    assert!(run.stdout.contains("nothing to revoke"));
}

#[test]
fn demo_tells_the_whole_story_without_showing_the_token() {
    let run = Cli::new(&["demo"]).run();
    run.expect_code(0);
    for step in [
        "(denied)",
        "(granted)",
        "not revocable; expires at",
        "not-already-granted",
    ] {
        assert!(
            run.stdout.contains(step),
            "demo lacks {step}:\n{}",
            run.stdout
        );
    }
    run.assert_no_injected_commands(&[]);
    // A screen per act: the policy, the one unmet requirement, the masked log, the
    // comment as it reads, an ending that is true (issue 14, item 4).
    let lines = run.stdout.lines().count();
    assert!(lines <= 70, "{lines} lines:\n{}", run.stdout);
    assert!(
        run.stdout
            .contains("approvals: { required: 1, from: [bob] }")
    );
    assert!(
        !run.stdout.contains("[x]"),
        "requirement lists are counted, not printed"
    );
    assert!(
        run.stdout.contains("24 of 25 requirements met"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.matches("approvals-count").count() <= 2,
        "{}",
        run.stdout
    );
    for raw in ["%3A", "\u{200b}", "\\u{200b}", "<!--", "| ---", "\\-"] {
        assert!(
            !run.stdout.contains(raw),
            "{raw:?} shown raw:\n{}",
            run.stdout
        );
    }
    let denial = &run.stdout[..run.stdout.find("== 2.").unwrap()];
    assert!(!denial.contains("Grant id"), "{denial}");
    assert!(run.stdout.contains("(add-mask: ***"), "{}", run.stdout);
    assert!(run.stdout.contains("stays valid until"), "{}", run.stdout);
    // A JWT is three base64url segments; none of the demo's output may carry one.
    let jwt =
        regex::Regex::new(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}")
            .unwrap();
    assert!(!jwt.is_match(&run.stdout), "the demo printed a token");
    assert!(!run.stdout.contains("PRIVATE KEY"));
}
