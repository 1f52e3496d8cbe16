use super::*;
use crate::emit::Console;
use crate::emit::test_support::Buf;
use crate::secret::Secret;

fn console() -> (Console, Buf) {
    let out = Buf::default();
    (
        Console::new(Box::new(out.clone()), Box::new(Buf::default())),
        out,
    )
}

fn paths(dir: &Path) -> RunnerPaths {
    RunnerPaths {
        env: Some(dir.join("env")),
        output: Some(dir.join("output")),
        state: Some(dir.join("state")),
        step_summary: Some(dir.join("summary")),
    }
}

fn read(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// Values that try to end the heredoc early or smuggle a second variable (catalogue 34).
fn hostile_values() -> Vec<String> {
    vec![
        "plain".into(),
        "EOF".into(),
        "first\nEOF\nINJECTED=1".into(),
        "a\nghadelimiter_\nghadelimiter_00000000000000000000000000000000\nEVIL=1".into(),
        "crlf\r\nEOF\r\nINJECTED=2\r\nlast".into(),
        "FOO<<EOF\nBAR=1\nEOF".into(),
        "NAME=value".into(),
        "trailing newline\n".into(),
        "\n\nx\n\n".into(),
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIF\n-----END PRIVATE KEY-----\n".into(),
        "%0A::set-env name=X::y\n##[set-output name=granted;]true".into(),
        "é\u{202e}\u{1b}[2J".into(),
    ]
}

#[test]
fn env_heredocs_parse_back_to_exactly_the_expected_keys() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    let (mut c, _) = console();
    let values = hostile_values();
    let secrets: Vec<Secret> = values.iter().map(Secret::new).collect();
    let names: Vec<String> = (0..secrets.len())
        .map(|i| format!("PROD_ACCESS_V{i}"))
        .collect();
    let masked: Vec<Masked<'_>> = secrets.iter().map(|s| c.mask(s, &[])).collect();
    let vars: Vec<(&str, &Masked<'_>)> = names
        .iter()
        .map(|n| n.as_str())
        .zip(masked.iter())
        .collect();
    files.write_env(&vars).unwrap();

    let text = read(&p.env);
    for windows in [false, true] {
        let parsed = parse_runner_file(&text, windows).unwrap();
        let expected: Vec<(String, String)> =
            names.iter().cloned().zip(values.iter().cloned()).collect();
        assert_eq!(parsed, expected, "windows={windows}\n{text}");
    }
}

#[test]
fn a_value_holding_an_earlier_delimiter_stays_one_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    files.write_outputs(&[("first", "one")]).unwrap();
    let text = read(&p.output);
    let delimiter = text.lines().last().unwrap().to_string();
    assert!(delimiter.starts_with("ghadelimiter_") && delimiter.len() == 13 + 32);
    let hostile = format!("x\n{delimiter}\ninjected=1\n{delimiter}");
    files.write_outputs(&[("second", &hostile)]).unwrap();
    let text = read(&p.output);
    let parsed = parse_runner_file(&text, false).unwrap();
    assert_eq!(
        parsed,
        vec![
            ("first".into(), "one".into()),
            ("second".into(), hostile.clone())
        ]
    );
    // Every heredoc got its own delimiter.
    let delimiters: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ghadelimiter_"))
        .collect();
    assert_ne!(delimiters[0], delimiters.last().copied().unwrap());
}

#[test]
fn outputs_and_state_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    let outputs = [
        ("requested", "true"),
        ("granted", "true"),
        ("grant-id", "g-01"),
        ("scope", "db-read"),
        ("expires-at", "2026-11-23T22:15:00Z"),
        ("approvers", "alice,bob"),
    ];
    files.write_outputs(&outputs).unwrap();
    let state = [("grant_id", "g-01"), ("reason", "line 1\r\nEOF\r\nx=1")];
    files.write_state(&state).unwrap();
    for windows in [false, true] {
        let got = parse_runner_file(&read(&p.output), windows).unwrap();
        let want: Vec<(String, String)> = outputs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
        let got = parse_runner_file(&read(&p.state), windows).unwrap();
        let want: Vec<(String, String)> = state
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn the_file_format_is_the_documented_heredoc() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    files.write_outputs(&[("granted", "false")]).unwrap();
    let text = read(&p.output);
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 4, "{text}");
    let delimiter = lines[0].strip_prefix("granted<<").unwrap();
    assert!(delimiter.starts_with("ghadelimiter_"));
    assert!(delimiter[13..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(lines[1], "false");
    assert_eq!(lines[2], delimiter);
    assert_eq!(lines[3], "");
}

#[test]
fn bad_and_dangerous_env_names_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    let (mut c, _) = console();
    let secret = Secret::new("s3cr3t-value");
    let m = c.mask(&secret, &[]);
    for name in [
        "",
        "1A",
        "A-B",
        "A=B",
        "A<<B",
        "A B",
        "A\nB",
        "É",
        "PATH",
        "path",
        "Path",
        "HOME",
        "ENV",
        "BASH_ENV",
        "NODE_OPTIONS",
        "LD_PRELOAD",
        "ld_library_path",
        "DYLD_INSERT_LIBRARIES",
        "GITHUB_TOKEN",
        "GITHUB_ENV",
        "RUNNER_TEMP",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "INPUT_SCOPE",
        "STATE_grant",
        "GIT_SSH_COMMAND",
        "JAVA_TOOL_OPTIONS",
        "HTTPS_PROXY",
        "https_proxy",
    ] {
        let err = files
            .write_env(&[("PROD_ACCESS_OK", &m), (name, &m)])
            .unwrap_err();
        assert!(
            matches!(err, FilesError::InvalidName { .. }),
            "{name:?}: {err}"
        );
        assert!(!err.to_string().contains("s3cr3t"));
    }
    assert_eq!(read(&p.env), "");
    files
        .write_env(&[
            ("PROD_ACCESS_TOKEN", &m),
            ("PGPASSWORD", &m),
            ("DATABASE_URL", &m),
        ])
        .unwrap();
    assert_eq!(parse_runner_file(&read(&p.env), false).unwrap().len(), 3);
}

#[test]
fn output_and_state_names_allow_hyphens_but_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    files
        .write_outputs(&[("grant-id", "x"), ("expires-at", "y")])
        .unwrap();
    for name in ["-x", "", "a b", "a=b", "a<<b", "a\nb", "a:b"] {
        assert!(files.write_outputs(&[(name, "v")]).is_err(), "{name:?}");
        assert!(files.write_state(&[(name, "v")]).is_err(), "{name:?}");
    }
}

#[test]
fn a_value_ending_in_carriage_return_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = RunnerFiles::open(&paths(dir.path())).unwrap();
    let err = files.write_state(&[("a", "x\r")]).unwrap_err();
    assert!(matches!(err, FilesError::UnsafeValue { .. }));
}

#[test]
fn missing_env_or_state_is_an_error_missing_output_or_summary_is_not() {
    let mut files = RunnerFiles::open(&RunnerPaths::default()).unwrap();
    let (mut c, _) = console();
    let secret = Secret::new("v");
    let m = c.mask(&secret, &[]);
    assert!(matches!(
        files.write_env(&[("PROD_ACCESS_TOKEN", &m)]),
        Err(FilesError::NotConfigured {
            file: FileKind::Env
        })
    ));
    assert!(matches!(
        files.write_state(&[("a", "b")]),
        Err(FilesError::NotConfigured {
            file: FileKind::State
        })
    ));
    files.write_outputs(&[("granted", "false")]).unwrap();
    files.append_summary("# x").unwrap();
}

/// Catalogue 94: a `GITHUB_ENV` that cannot be written is an error (the caller revokes and
/// exits 3), never a silent skip.
#[test]
fn read_only_env_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env");
    std::fs::write(&path, "").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    // Root ignores file modes; a procfs file refuses an append open for everyone.
    let root_can_write = OpenOptions::new().append(true).open(&path).is_ok();
    let path = if root_can_write {
        PathBuf::from("/proc/version")
    } else {
        path
    };
    let opened = RunnerFiles::open(&RunnerPaths {
        env: Some(path.clone()),
        ..RunnerPaths::default()
    });
    let err = match opened {
        // Refused at open (the usual case, found before anything is minted) ...
        Err(err) => err,
        // ... or, where the open succeeds (procfs as root), at the write.
        Ok(mut files) => {
            let (mut c, _) = console();
            let secret = Secret::new("v");
            let m = c.mask(&secret, &[]);
            files.write_env(&[("PROD_ACCESS_TOKEN", &m)]).unwrap_err()
        }
    };
    match &err {
        FilesError::Open { file, path: p, .. } | FilesError::Write { file, path: p, .. } => {
            assert_eq!(*file, FileKind::Env);
            assert_eq!(p, &path);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains(" GITHUB_ENV at "), "{err}");
}

#[cfg(unix)]
#[test]
fn symlinks_and_non_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    for path in [link, dangling, dir.path().to_path_buf()] {
        let err = RunnerFiles::open(&RunnerPaths {
            env: Some(path.clone()),
            ..RunnerPaths::default()
        })
        .unwrap_err();
        assert!(
            matches!(err, FilesError::NotRegular { .. }),
            "{path:?}: {err}"
        );
    }
    assert!(!dir.path().join("nowhere").exists());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
}

#[cfg(unix)]
#[test]
fn a_missing_file_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    files.write_state(&[("a", "b")]).unwrap();
    let mode = std::fs::metadata(p.state.as_ref().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn existing_content_is_kept_and_a_missing_newline_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    std::fs::write(p.output.as_ref().unwrap(), "earlier=1").unwrap();
    std::fs::write(p.step_summary.as_ref().unwrap(), "# before\n").unwrap();
    let mut files = RunnerFiles::open(&p).unwrap();
    files.write_outputs(&[("granted", "true")]).unwrap();
    files.append_summary("| a |").unwrap();
    let parsed = parse_runner_file(&read(&p.output), false).unwrap();
    assert_eq!(
        parsed,
        vec![
            ("earlier".into(), "1".into()),
            ("granted".into(), "true".into())
        ]
    );
    assert_eq!(read(&p.step_summary), "# before\n| a |\n");
}

#[test]
fn an_unterminated_heredoc_already_in_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env");
    std::fs::write(&path, "OTHER<<EOF\nstill open\n").unwrap();
    let err = RunnerFiles::open(&RunnerPaths {
        env: Some(path.clone()),
        ..RunnerPaths::default()
    })
    .unwrap_err();
    assert!(matches!(err, FilesError::UnterminatedHeredoc { .. }));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "OTHER<<EOF\nstill open\n"
    );
    // A closed one is fine.
    std::fs::write(&path, "OTHER<<EOF\nvalue\nEOF\nA=b=c\n").unwrap();
    RunnerFiles::open(&RunnerPaths {
        env: Some(path),
        ..RunnerPaths::default()
    })
    .unwrap();
}

#[test]
fn heredoc_open_at_end_model() {
    assert!(!heredoc_open_at_end(""));
    assert!(!heredoc_open_at_end("A=1\nB<<X\nv\nX\n"));
    assert!(heredoc_open_at_end("A=1\nB<<X\nv\n"));
    assert!(!heredoc_open_at_end("A=x<<y\n"));
    assert!(heredoc_open_at_end("A<<x=y\nv\n"));
}

#[test]
fn the_parser_model_agrees_with_the_runner_on_known_cases() {
    // Cases from the runner's own tests (SetEnvFileCommandL0): `=` before `<<` is a plain
    // line; a heredoc keeps inner blank lines; an unterminated heredoc is an error.
    assert_eq!(
        parse_runner_file("MY_ENV=my value<<EOF\n", false).unwrap(),
        vec![("MY_ENV".into(), "my value<<EOF".into())]
    );
    assert_eq!(
        parse_runner_file("MY_ENV<<EOF\n\nline two\n\nEOF\n", false).unwrap(),
        vec![("MY_ENV".into(), "\nline two\n".into())]
    );
    assert!(parse_runner_file("MY_ENV<<EOF\nvalue\n", false).is_err());
    assert!(parse_runner_file("JUST_TEXT\n", false).is_err());
}

#[test]
fn blank_or_nul_secrets_are_refused_for_env() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    let (mut c, out) = console();
    for value in ["", " ", "\n\r\n\t", "a\0b"] {
        let secret = Secret::new(value);
        let m = c.mask(&secret, &[]);
        let err = files.write_env(&[("PROD_ACCESS_TOKEN", &m)]).unwrap_err();
        assert!(
            matches!(err, FilesError::UnsafeValue { .. }),
            "{value:?}: {err}"
        );
    }
    assert_eq!(read(&p.env), "");
    // Outputs and state may be empty.
    files.write_outputs(&[("approvers", "")]).unwrap();
    assert_eq!(
        parse_runner_file(&read(&p.output), false).unwrap(),
        vec![("approvers".into(), String::new())]
    );
    assert!(!out.text().contains("::add-mask::\n"));
}

#[test]
fn a_name_given_twice_in_a_batch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    let mut files = RunnerFiles::open(&p).unwrap();
    let (mut c, _) = console();
    let secret = Secret::new("value-1");
    let m = c.mask(&secret, &[]);
    assert!(files.write_env(&[("PGUSER", &m), ("pguser", &m)]).is_err());
    assert!(
        files
            .write_outputs(&[("granted", "true"), ("granted", "false")])
            .is_err()
    );
    assert_eq!(read(&p.env), "");
    assert_eq!(read(&p.output), "");
}
