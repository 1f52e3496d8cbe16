//! The binary's surface: help, version, exit codes for usage errors and for commands that
//! belong to later work, and no panic on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::Cli;

const SUBCOMMANDS: [&str; 9] = [
    "grant", "revoke", "check", "exec", "keygen", "jwks", "verify", "sweep", "demo",
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
fn version_prints_the_cargo_version() {
    let run = Cli::new(&["--version"]).run();
    run.expect_code(0);
    assert_eq!(
        run.stdout.trim(),
        format!("prod-access {}", env!("CARGO_PKG_VERSION"))
    );
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
    // A JWT is three base64url segments; none of the demo's output may carry one.
    let jwt =
        regex::Regex::new(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}")
            .unwrap();
    assert!(!jwt.is_match(&run.stdout), "the demo printed a token");
    assert!(!run.stdout.contains("PRIVATE KEY"));
}
