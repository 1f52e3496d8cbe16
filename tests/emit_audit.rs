//! The emission sequence of `grant` (contract §6) through the public API: mask, audit
//! comment, `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STATE`, step summary. Checks that every
//! `::add-mask::` line comes first and that no secret, nor any line of one, appears anywhere
//! but on a mask line and in `GITHUB_ENV` (catalogue 34, 74).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use prod_access::audit::{AuditRecord, CredentialInfo, GrantId, Status};
use prod_access::decide::Approver;
use prod_access::emit::Console;
use prod_access::emit::files::{FilesError, RunnerFiles, RunnerPaths};
use prod_access::forge::UserRef;
use prod_access::report::summary::{Links, Outcome, SummaryView, render_summary};
use prod_access::secret::Secret;

use prod_access::emit::CaptureBuf as Buf;

/// The runner's `EnvFileKeyValuePairs` on Linux.
fn runner_parse(text: &str) -> Vec<(String, String)> {
    prod_access::emit::files::parse_runner_file(text, false).expect("the runner can read the file")
}

fn scrub_delimiters(text: &str) -> String {
    let re = regex::Regex::new("ghadelimiter_[0-9a-f]{32}").unwrap();
    re.replace_all(text, "ghadelimiter_[RANDOM]").into_owned()
}

const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
QyNTUxOQAAACDZ2wTjH0v3m3zUuYqxnVwJcVbQvN1y8mT0dOq1kZxJqQAAAJhZ0pW0WdKV\n\
EOF\n\
-----END OPENSSH PRIVATE KEY-----\n";

#[test]
fn full_grant_sequence_masks_first_and_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RunnerPaths {
        env: Some(dir.path().join("env")),
        output: Some(dir.path().join("output")),
        state: Some(dir.path().join("state")),
        step_summary: Some(dir.path().join("summary")),
    };
    let (out, err) = (Buf::default(), Buf::default());
    let mut console = Console::new(Box::new(out.clone()), Box::new(err.clone()));
    let mut files = RunnerFiles::open(&paths).unwrap();

    // Mint (stand-ins for the providers' values).
    let password = Secret::new("p@ss:w/rd%EOF\nEOF");
    let url_password = Secret::new("p%40ss%3Aw%2Frd%25EOF%0AEOF");
    let database_url = Secret::new(format!(
        "postgres://pa_4242:{}@db.acme.internal:5432/app",
        url_password.expose()
    ));
    let token = Secret::new("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl");
    let key = Secret::new(PEM);

    // 1. Mask, before anything else.
    let m_password = console.mask(&password, std::slice::from_ref(&url_password));
    let m_url = console.mask(&database_url, &[]);
    let m_token = console.mask(&token, &[]);
    let m_key = console.mask(&key, &[]);

    // 2. The audit record (the comment body the forge would receive).
    let links = Links {
        run_url: Some("https://github.com/acme/payments/actions/runs/4242/attempts/1"),
        repo_url: Some("https://github.com/acme/payments"),
        requirements_doc: "https://github.com/acme/prod-access/blob/v1/docs/requirements.md",
    };
    let expires = Utc
        .with_ymd_and_hms(2026, 11, 23, 22, 15, 0)
        .single()
        .unwrap();
    let approvers = vec![Approver {
        user: UserRef::new("bob", Some(2)),
        sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
    }];
    let record = AuditRecord {
        grant_id: GrantId::new("pa-4242-1-db-read").unwrap(),
        run_id: 4242,
        run_attempt: 1,
        repository: "acme/payments".into(),
        scope: Some("db-read".into()),
        requester: UserRef::new("alice", Some(1)),
        reason: Some("INC-1".into()),
        granted: true,
        break_glass: false,
        approvers: approvers.clone(),
        ttl: Some(Duration::from_secs(900)),
        expires_at: Some(expires),
        credential: Some(CredentialInfo {
            kind: "postgres".into(),
            fingerprint: m_password.fingerprint(),
            detail: None,
        }),
        unmet: vec![],
        status: Status::Active,
        note: None,
    };
    let comment = prod_access::report::comment::render(&record, &links);
    let revoked = prod_access::report::comment::render_revoked(
        &AuditRecord {
            status: Status::Revoked { at: expires },
            ..record.clone()
        },
        &links,
        expires,
    );

    // 3-6. Runner files, then a log line.
    files
        .write_env(&[
            ("PGPASSWORD", &m_password),
            ("DATABASE_URL", &m_url),
            ("PROD_ACCESS_TOKEN", &m_token),
            ("PROD_ACCESS_SSH_KEY", &m_key),
        ])
        .unwrap();
    files
        .write_outputs(&[
            ("requested", "true"),
            ("granted", "true"),
            ("grant-id", "pa-4242-1-db-read"),
            ("scope", "db-read"),
            ("expires-at", "2026-11-23T22:15:00Z"),
            ("approvers", "bob"),
        ])
        .unwrap();
    files
        .write_state(&[("grant-id", "pa-4242-1-db-read"), ("scope", "db-read")])
        .unwrap();
    let requester = UserRef::new("alice", Some(1));
    let summary = render_summary(&SummaryView {
        outcome: Outcome::Granted,
        scope: Some("db-read"),
        requester: &requester,
        reason: Some("INC-1"),
        ttl: Some(Duration::from_secs(900)),
        expires_at: Some(expires),
        approvers: &approvers,
        grant_id: Some("pa-4242-1-db-read"),
        fingerprint: Some(&m_password.fingerprint()),
        links: &links,
        unmet: vec![],
    });
    files.append_summary(&summary).unwrap();
    console.say("granted db-read until 2026-11-23T22:15:00Z");
    console.error("audit comment written");

    let read =
        |p: &Option<std::path::PathBuf>| std::fs::read_to_string(p.as_ref().unwrap()).unwrap();
    let (env, output, state, summary_file) = (
        read(&paths.env),
        read(&paths.output),
        read(&paths.state),
        read(&paths.step_summary),
    );
    let (stdout, stderr) = (out.text(), err.text());

    // Masks come first: every stdout line up to the last mask is a mask.
    let lines: Vec<&str> = stdout.lines().collect();
    let first_other = lines
        .iter()
        .position(|l| !l.starts_with("::add-mask::"))
        .unwrap();
    assert!(first_other > 0);
    assert!(
        lines[first_other..]
            .iter()
            .all(|l| !l.starts_with("::add-mask::"))
    );
    let masks: Vec<&str> = lines[..first_other]
        .iter()
        .map(|l| l.strip_prefix("::add-mask::").unwrap())
        .collect();

    // Catalogue 74: every non-blank line of every secret is masked on its own, and the
    // whole value too (escaped, as the runner unescapes it).
    for secret in [&password, &url_password, &database_url, &token, &key] {
        let value = secret.expose();
        let escaped = value
            .replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A");
        assert!(masks.contains(&escaped.as_str()), "whole value not masked");
        for line in value.lines().filter(|l| !l.trim().is_empty()) {
            let escaped = line.replace('%', "%25");
            assert!(
                masks.contains(&escaped.as_str()),
                "line {line:?} not masked"
            );
        }
    }

    // GITHUB_ENV holds exactly the four variables, values intact (catalogue 34).
    assert_eq!(
        runner_parse(&env),
        vec![
            ("PGPASSWORD".into(), password.expose().to_string()),
            ("DATABASE_URL".into(), database_url.expose().to_string()),
            ("PROD_ACCESS_TOKEN".into(), token.expose().to_string()),
            ("PROD_ACCESS_SSH_KEY".into(), key.expose().to_string()),
        ]
    );
    assert_eq!(runner_parse(&output).len(), 6);
    assert_eq!(runner_parse(&state).len(), 2);

    // No secret, nor a line of one, anywhere else.
    let non_mask_stdout = lines[first_other..].join("\n");
    for (place, text) in [
        ("stdout after masks", non_mask_stdout.as_str()),
        ("stderr", stderr.as_str()),
        ("GITHUB_OUTPUT", output.as_str()),
        ("GITHUB_STATE", state.as_str()),
        ("GITHUB_STEP_SUMMARY", summary_file.as_str()),
        ("comment", comment.as_str()),
        ("revoked comment", revoked.as_str()),
    ] {
        for secret in [&password, &url_password, &database_url, &token, &key] {
            for line in secret.expose().lines().filter(|l| l.len() >= 8) {
                assert!(!text.contains(line), "a secret line is in {place}");
            }
        }
    }
    assert!(comment.contains(&m_password.fingerprint()));

    insta::assert_snapshot!(scrub_delimiters(&env), @r"
    PGPASSWORD<<ghadelimiter_[RANDOM]
    p@ss:w/rd%EOF
    EOF
    ghadelimiter_[RANDOM]
    DATABASE_URL<<ghadelimiter_[RANDOM]
    postgres://pa_4242:p%40ss%3Aw%2Frd%25EOF%0AEOF@db.acme.internal:5432/app
    ghadelimiter_[RANDOM]
    PROD_ACCESS_TOKEN<<ghadelimiter_[RANDOM]
    eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl
    ghadelimiter_[RANDOM]
    PROD_ACCESS_SSH_KEY<<ghadelimiter_[RANDOM]
    -----BEGIN OPENSSH PRIVATE KEY-----
    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
    QyNTUxOQAAACDZ2wTjH0v3m3zUuYqxnVwJcVbQvN1y8mT0dOq1kZxJqQAAAJhZ0pW0WdKV
    EOF
    -----END OPENSSH PRIVATE KEY-----

    ghadelimiter_[RANDOM]
    ");
}

/// Catalogue 94: the caller learns that `GITHUB_ENV` cannot be written, with which file and
/// path, and no secret in the error.
#[test]
fn unwritable_env_is_reported_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: not writable as a file, for root as well.
    let path = dir.path().join("env");
    std::fs::create_dir(&path).unwrap();
    let err = RunnerFiles::open(&RunnerPaths {
        env: Some(path.clone()),
        ..RunnerPaths::default()
    })
    .unwrap_err();
    assert!(matches!(err, FilesError::NotRegular { .. }));
    assert!(err.to_string().contains("GITHUB_ENV"));
    assert!(err.to_string().contains(&path.display().to_string()));
}

/// Catalogue 94 at the top level: a runner file that cannot be written is exit 3 (nothing
/// granted); a bad variable name from the configuration is exit 2.
#[test]
fn runner_file_errors_map_to_exit_codes() {
    use prod_access::error::{Error, ExitClass};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env");
    std::fs::create_dir(&path).unwrap();
    let err: Error = RunnerFiles::open(&RunnerPaths {
        env: Some(path),
        ..RunnerPaths::default()
    })
    .unwrap_err()
    .into();
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert!(err.help().is_some());

    let mut files = RunnerFiles::open(&RunnerPaths {
        env: Some(dir.path().join("env2")),
        ..RunnerPaths::default()
    })
    .unwrap();
    let mut console = Console::new(Box::new(std::io::sink()), Box::new(std::io::sink()));
    let secret = Secret::new("value");
    let masked = console.mask(&secret, &[]);
    let err: Error = files
        .write_env(&[("LD_PRELOAD", &masked)])
        .unwrap_err()
        .into();
    assert_eq!(err.exit_class(), ExitClass::Config);
    assert!(!err.to_string().contains("value"));
}

/// Catalogue 45 on the console: a 100 KB reason with ANSI escapes, U+202E and NULs, logged,
/// leaves no raw escape byte on stdout or stderr and starts no workflow command.
#[test]
fn a_hostile_reason_logged_leaves_no_raw_escape_bytes() {
    let (out, err) = (Buf::default(), Buf::default());
    let mut console = Console::new(Box::new(out.clone()), Box::new(err.clone()));
    let reason = "\u{1b}[2J\u{202e}\0::add-mask::x\n##[error]y ".repeat(5_000);
    assert!(reason.len() > 100_000);
    console.say(&format!("reason: {reason}"));
    console.error(&format!("denied: {reason}"));
    for text in [out.text(), err.text()] {
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\0'));
        for line in text.lines() {
            let body = line.strip_prefix("prod-access: ").unwrap_or(line);
            assert!(!body.trim_start().starts_with("::"), "{line}");
            assert!(!line.contains("##["), "{line}");
        }
    }
}

#[test]
fn runner_paths_come_from_the_lookup_given() {
    let paths = RunnerPaths::from_lookup(|name| match name {
        "GITHUB_ENV" => Some("/r/env".into()),
        "GITHUB_OUTPUT" => Some(String::new()),
        "GITHUB_STATE" => Some("/r/state".into()),
        _ => None,
    });
    assert_eq!(paths.env.as_deref(), Some(std::path::Path::new("/r/env")));
    assert_eq!(paths.output, None);
    assert_eq!(
        paths.state.as_deref(),
        Some(std::path::Path::new("/r/state"))
    );
    assert_eq!(paths.step_summary, None);
}
