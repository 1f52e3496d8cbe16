//! Tests of reading and compiling policies: one positive and one negative case per rule, and
//! the resource limits.

use super::*;
use crate::policy::Principal;

/// A valid policy with one scope of each kind, in which tests replace one line.
const BASE: &str = r#"version: 1
identity:
  claims:
    repository: acme/payments
request:
  labels: { prod-access: db-read }
scopes:
  db-read:
    credential: { kind: postgres, grant_role: app_readonly }
    ttl: 15m
    max_ttl: 1h
    approvals: { required: 1, from: ["@acme/sre", octocat] }
  api:
    credential: { kind: jwt, audience: payments-api }
    approvals: { required: 1 }
  shell:
    credential: { kind: ssh, principals: [deploy] }
    approvals: { required: 1 }
providers:
  jwt: { issuer: "https://prod-access.acme.dev", key_env: PROD_ACCESS_JWT_KEY }
  postgres: { admin_dsn_env: PG_ADMIN, host: db.acme.internal, database: app }
  ssh: { ca_key_env: SSH_CA }
"#;

/// BASE with the first line containing `from` replaced by `to` (which may span lines).
fn edit(from: &str, to: &str) -> String {
    let mut done = false;
    let mut out = String::new();
    for line in BASE.lines() {
        if !done && line.contains(from) {
            out.push_str(to);
            done = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(done, "BASE has no line containing {from:?}");
    out
}

/// 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no line contains {needle:?}"))
}

fn ok(text: &str) -> Policy {
    match load_policy(text) {
        Ok(policy) => policy,
        Err(e) => panic!("expected a valid policy, got {e}\n---\n{text}"),
    }
}

fn err(text: &str) -> PolicyError {
    match load_policy(text) {
        Ok(_) => panic!("expected an error\n---\n{text}"),
        Err(e) => e,
    }
}

/// Asserts id, path and line (the line of the first line containing `needle`).
#[track_caller]
fn assert_err(text: &str, id: &str, path: &str, needle: &str) -> PolicyError {
    let e = err(text);
    assert_eq!(e.id(), id, "{e}\n---\n{text}");
    assert_eq!(e.path(), path, "{e}");
    assert_eq!(e.line(), Some(line_of(text, needle)), "{e}\n---\n{text}");
    let message = e.to_string();
    assert!(message.starts_with(&format!("{id}: ")), "{message}");
    if !path.is_empty() {
        assert!(
            message.contains(&format!("{path} (line {})", line_of(text, needle))),
            "{message}"
        );
    }
    e
}

#[test]
fn base_is_valid() {
    let policy = ok(BASE);
    assert_eq!(policy.scopes.len(), 3);
}

#[test]
fn example_policy_loads() {
    let text = include_str!("../../../examples/policy.yml");
    let policy = ok(text);
    assert_eq!(
        policy.scopes.keys().collect::<Vec<_>>(),
        ["api-admin", "db-read", "db-write", "host-shell"]
    );
    let db_read = &policy.scopes["db-read"];
    assert_eq!(db_read.ttl, Duration::from_secs(15 * 60));
    assert_eq!(db_read.max_ttl, Duration::from_secs(3600));
    assert_eq!(
        db_read.approvals.from,
        vec![
            Principal::Team {
                org: "acme".into(),
                team: "sre".into()
            },
            Principal::User("octocat".into())
        ]
    );
    assert_eq!(db_read.environments, vec!["production".to_string()]);
    assert_eq!(
        db_read.credential,
        CredentialSpec::Postgres {
            grant_role: "app_readonly".into(),
            connection_limit: 2,
            database: None
        }
    );
    let admin = &policy.scopes["api-admin"];
    assert!(admin.break_glass);
    assert_eq!(admin.approvals.required, 0);
    assert_eq!(admin.max_ttl, admin.ttl);
    let CredentialSpec::Jwt { audience, claims } = &admin.credential else {
        panic!("api-admin is jwt");
    };
    assert_eq!(audience, "payments-api");
    assert_eq!(claims.get("role"), Some(&serde_json::json!("admin")));
    let shell = &policy.scopes["host-shell"];
    assert_eq!(
        shell.credential,
        CredentialSpec::Ssh {
            principals: vec!["deploy".into()],
            force_command: Some("/usr/local/bin/hotfix".into()),
            source_address: vec!["10.0.0.0/8".into()],
            extensions: vec!["permit-pty".into()],
        }
    );
    assert!(policy.scopes["db-write"].approvals.strict);
    assert_eq!(policy.request.labels["hotfix"], "db-write");
    let Some(reason) = policy.request.reason_pattern.as_ref() else {
        panic!("reason_pattern");
    };
    assert!(reason.is_match("fix INC-123 now"));
    assert!(!reason.is_match("because"));
    let refs = &policy.identity.claims["ref"];
    assert_eq!(refs.len(), 2);
    assert!(refs[1].matches("refs/tags/v1.2"));
    assert_eq!(
        policy.providers.postgres,
        Some(PostgresProvider {
            admin_dsn_env: "PROD_ACCESS_PG_ADMIN_DSN".into(),
            host: "db.acme.internal".into(),
            port: 5432,
            database: "app".into()
        })
    );
}

/// The example of contract §7, verbatim.
#[test]
fn contract_example_loads() {
    let text = r#"version: 1
identity:                       # checked on the verified OIDC token
  issuer: https://token.actions.githubusercontent.com   # default
  audience: prod-access                                  # default
  claims:                       # each listed claim must match one pattern (`*` glob)
    repository: acme/payments
    job_workflow_ref: acme/payments/.github/workflows/prod-access.yml@refs/heads/main
request:
  trailer: Prod-Access          # reason trailer key (default)
  scope_trailer: Prod-Access-Scope
  labels: { prod-access: db-read, hotfix: db-write }    # PR label -> scope
  reason_pattern: '(INC|CHG)-[0-9]+'                    # optional
scopes:
  db-read:
    credential: { kind: postgres, grant_role: app_readonly, connection_limit: 2 }
    ttl: 15m
    max_ttl: 1h
    approvals: { required: 1, from: ["@acme/sre", "octocat"], fresh: true }
    requesters: ["@acme/backend"]     # default: anyone with write permission
    environments: [production]        # OIDC `environment` claim must be one of these
  db-write:
    credential: { kind: postgres, grant_role: app_readwrite }
    approvals: { required: 2 }
  api-admin:
    credential: { kind: jwt, audience: payments-api, claims: { role: admin } }
    ttl: 10m
    approvals: { required: 0 }
    break_glass: true                 # allowed without approval; audit marks it BREAK-GLASS
providers:
  jwt: { issuer: https://prod-access.acme.dev, key_env: PROD_ACCESS_JWT_KEY }
  postgres: { admin_dsn_env: PROD_ACCESS_PG_ADMIN_DSN, host: db.acme.internal, port: 5432, database: app }
  ssh: { ca_key_env: PROD_ACCESS_SSH_CA_KEY }
"#;
    let policy = ok(text);
    assert_eq!(policy.scopes.len(), 3);
}

#[test]
fn defaults() {
    let policy = ok(r#"version: 1
scopes:
  s:
    credential: { kind: jwt, audience: api }
    approvals: { required: 1 }
providers:
  jwt: { issuer: "https://prod-access.acme.dev", key_env: K }
"#);
    assert_eq!(
        policy.identity.issuer,
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(policy.identity.audience, "prod-access");
    assert!(policy.identity.claims.is_empty());
    assert_eq!(policy.request.trailer, "Prod-Access");
    assert_eq!(policy.request.scope_trailer, "Prod-Access-Scope");
    assert!(policy.request.labels.is_empty());
    assert!(policy.request.reason_pattern.is_none());
    let s = &policy.scopes["s"];
    assert_eq!(s.name, "s");
    assert_eq!(s.ttl, Duration::from_secs(900));
    assert_eq!(s.max_ttl, Duration::from_secs(900));
    assert!(s.approvals.fresh);
    assert!(!s.approvals.strict);
    assert!(s.approvals.from.is_empty());
    assert!(s.requesters.is_empty());
    assert!(s.environments.is_empty());
    assert!(!s.break_glass);
    assert!(!s.allow_forks);
    assert_eq!(
        s.credential,
        CredentialSpec::Jwt {
            audience: "api".into(),
            claims: serde_json::Map::new()
        }
    );
    assert!(policy.providers.postgres.is_none());
    assert!(policy.providers.ssh.is_none());

    let pg = ok(&edit(
        "postgres: { admin_dsn_env",
        "  postgres: { admin_dsn_env: PG_ADMIN, host: h, database: app }",
    ));
    assert_eq!(pg.providers.postgres.map(|p| p.port), Some(5432));
    let CredentialSpec::Postgres {
        connection_limit, ..
    } = pg.scopes["db-read"].credential
    else {
        panic!("postgres");
    };
    assert_eq!(connection_limit, 2);
}

#[test]
fn max_ttl_defaults_to_ttl() {
    let text = edit("max_ttl: 1h", "");
    let s = &ok(&text).scopes["db-read"];
    assert_eq!(
        (s.ttl, s.max_ttl),
        (Duration::from_secs(900), Duration::from_secs(900))
    );
    let text = text.replace("ttl: 15m", "ttl: 45m");
    let s = &ok(&text).scopes["db-read"];
    assert_eq!(
        (s.ttl, s.max_ttl),
        (Duration::from_secs(2700), Duration::from_secs(2700))
    );
}

#[test]
fn scalar_forms_are_read_as_text() {
    let policy = ok(&edit(
        "repository: acme/payments",
        "    repository_id: 123456\n    ref_protected: true\n    ref: [refs/heads/main, \"refs/tags/*\"]\n    owner_id: 0123",
    ));
    let claims = &policy.identity.claims;
    assert!(claims["repository_id"][0].matches("123456"));
    assert!(claims["ref_protected"][0].matches("true"));
    assert!(claims["ref"][1].matches("refs/tags/v1"));
    assert!(claims["owner_id"][0].matches("0123"));
}

#[test]
fn booleans_and_flags() {
    let text = edit(
        "approvals: { required: 1, from",
        "    approvals: { required: 1, fresh: false, strict: true }\n    allow_forks: true\n    break_glass: true",
    );
    let s = &ok(&text).scopes["db-read"];
    assert!(!s.approvals.fresh);
    assert!(s.approvals.strict);
    assert!(s.allow_forks);
    assert!(s.break_glass);
}

#[test]
fn principals_are_parsed_and_lower_cased() {
    let text = edit(
        "approvals: { required: 1, from",
        "    approvals: { required: 1, from: [\"@Acme/SRE\", OctoCat, a-b-c, \"@acme/sre\"] }\n    requesters: [\"dependabot[bot]\", \"@acme/on.call_team\"]",
    );
    let s = &ok(&text).scopes["db-read"];
    assert_eq!(
        s.approvals.from,
        vec![
            Principal::Team {
                org: "acme".into(),
                team: "sre".into()
            },
            Principal::User("octocat".into()),
            Principal::User("a-b-c".into()),
        ]
    );
    assert_eq!(
        s.requesters,
        vec![
            Principal::User("dependabot[bot]".into()),
            Principal::Team {
                org: "acme".into(),
                team: "on.call_team".into()
            }
        ]
    );
}

#[test]
fn parse_principal_table() {
    let good: &[(&str, bool)] = &[
        ("octocat", true),
        ("a", true),
        ("A1-b2", true),
        ("old--login-", true),
        ("x23456789012345678901234567890123456789", true),
        ("@acme/sre", true),
        ("@acme/team_1.x-y", true),
        ("renovate[bot]", false),
    ];
    for (text, approvers) in good {
        assert!(parse_principal(text, *approvers).is_ok(), "{text}");
    }
    let bad: &[(&str, bool)] = &[
        ("", false),
        ("-octocat", false),
        ("octo cat", false),
        ("octo_cat", false),
        ("octo.cat", false),
        ("x234567890123456789012345678901234567890", false),
        ("@acme", false),
        ("@/sre", false),
        ("@acme/", false),
        ("@acme/sre/x", false),
        ("@ac me/sre", false),
        ("@acme[bot]/sre", false),
        ("acme/sre", false),
        ("renovate[bot]", true),
        ("[bot]", false),
        ("octocat\n", false),
        ("ｏctocat", false),
    ];
    for (text, approvers) in bad {
        assert!(parse_principal(text, *approvers).is_err(), "{text:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Negative cases: id, key path and line.

#[test]
fn unknown_keys_name_key_and_line() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (line in BASE to replace, replacement, path, needle for the line)
        ("version: 1", "version: 1\nextra: true", "extra", "extra:"),
        (
            "identity:",
            "identity:\n  isuer: x",
            "identity.isuer",
            "isuer:",
        ),
        (
            "labels:",
            "  labels: { prod-access: db-read }\n  trailers: X",
            "request.trailers",
            "trailers:",
        ),
        (
            "ttl: 15m",
            "    ttl: 15m\n    tttl: 15m",
            "scopes.db-read.tttl",
            "tttl:",
        ),
        (
            "approvals: { required: 1, from",
            "    approvals:\n      required: 1\n      form: [octocat]",
            "scopes.db-read.approvals.form",
            "form:",
        ),
        (
            "credential: { kind: postgres",
            "    credential:\n      kind: postgres\n      grant_role: r\n      bogus: 1",
            "scopes.db-read.credential.bogus",
            "bogus:",
        ),
        (
            "credential: { kind: jwt",
            "    credential:\n      kind: jwt\n      audience: a\n      principals: [deploy]",
            "scopes.api.credential.principals",
            "principals: [deploy]",
        ),
        (
            "credential: { kind: jwt",
            "    credential: { kind: jwt, audience: a, grant_role: r }",
            "scopes.api.credential.grant_role",
            "grant_role: r }",
        ),
        (
            "ssh: { ca_key_env",
            "  ssh: { ca_key_env: SSH_CA, ca_key_file: /x }",
            "providers.ssh.ca_key_file",
            "ca_key_file",
        ),
        (
            "jwt: { issuer",
            "  jwt:\n    issuer: \"https://x.test\"\n    key_env: K\n    algorithm: RS256",
            "providers.jwt.algorithm",
            "algorithm:",
        ),
        (
            "providers:",
            "providers:\n  aws: { role: x }",
            "providers.aws",
            "aws:",
        ),
    ];
    for (from, to, path, needle) in cases {
        let text = edit(from, to);
        let e = assert_err(&text, "config.unknown_key", path, needle);
        let key = path.rsplit('.').next().unwrap_or_default();
        assert!(
            e.to_string().contains(&format!("unknown key `{key}`")),
            "{e}"
        );
        let other_kind =
            path.contains("credential.principals") || path.contains("credential.grant_role");
        let hint = if other_kind {
            "another credential kind"
        } else {
            "expected one of:"
        };
        assert!(e.to_string().contains(hint), "{e}");
    }
}

#[test]
fn rule_violations() {
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        // (line to replace, replacement, id, path, needle)
        (
            "ttl: 15m",
            "    ttl: 3h",
            "config.ttl_over_max",
            "scopes.db-read.ttl",
            "ttl: 3h",
        ),
        (
            "max_ttl: 1h",
            "    max_ttl: 10m",
            "config.ttl_over_max",
            "scopes.db-read.ttl",
            "ttl: 15m",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: 1 }\n    max_ttl: 5m",
            "config.ttl_over_max",
            "scopes.api.max_ttl",
            "max_ttl: 5m",
        ),
        (
            "max_ttl: 1h",
            "    max_ttl: 13h",
            "config.ttl_too_long",
            "scopes.db-read.max_ttl",
            "max_ttl: 13h",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: 1 }\n    ttl: 12h1s",
            "config.ttl_too_long",
            "scopes.api.ttl",
            "ttl: 12h1s",
        ),
        (
            "ttl: 15m",
            "    ttl: 15",
            "config.invalid_duration",
            "scopes.db-read.ttl",
            "ttl: 15",
        ),
        (
            "max_ttl: 1h",
            "    max_ttl: 99999999999h",
            "config.invalid_duration",
            "scopes.db-read.max_ttl",
            "max_ttl: 9",
        ),
        (
            "ttl: 15m",
            "    ttl: 0s",
            "config.invalid_duration",
            "scopes.db-read.ttl",
            "ttl: 0s",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: 0 }",
            "config.zero_approvals",
            "scopes.api.approvals.required",
            "required: 0",
        ),
        (
            "labels:",
            "  labels: { prod-access: db-read, hotfix: db-write }",
            "config.label_scope_missing",
            "request.labels.hotfix",
            "hotfix",
        ),
        (
            "credential: { kind: jwt",
            "    credential: { kind: aws, role: x }",
            "config.unknown_kind",
            "scopes.api.credential.kind",
            "kind: aws",
        ),
        (
            "jwt: { issuer",
            "",
            "config.provider_missing",
            "scopes.api.credential.kind",
            "kind: jwt",
        ),
        (
            "ssh: { ca_key_env",
            "",
            "config.provider_missing",
            "scopes.shell.credential.kind",
            "kind: ssh",
        ),
        (
            "identity:",
            "identity:\n  issuer: http://token.actions.githubusercontent.com",
            "config.insecure_url",
            "identity.issuer",
            "issuer: http:",
        ),
        (
            "jwt: { issuer",
            "  jwt: { issuer: \"https://user@prod-access.acme.dev\", key_env: K }",
            "config.insecure_url",
            "providers.jwt.issuer",
            "user@",
        ),
        (
            "labels:",
            "  labels: { prod-access: db-read }\n  reason_pattern: '(INC'",
            "config.invalid_pattern",
            "request.reason_pattern",
            "reason_pattern",
        ),
        (
            "repository: acme/payments",
            "    repository: \"\"",
            "config.invalid_pattern",
            "identity.claims.repository",
            "repository:",
        ),
        (
            "repository: acme/payments",
            "    repository: [acme/a, \"\"]",
            "config.invalid_pattern",
            "identity.claims.repository[1]",
            "repository:",
        ),
        (
            "repository: acme/payments",
            "    repository: []",
            "config.invalid_pattern",
            "identity.claims.repository",
            "repository:",
        ),
        (
            "approvals: { required: 1, from",
            "    approvals: { required: 1, from: [\"@acme\"] }",
            "config.invalid_principal",
            "scopes.db-read.approvals.from[0]",
            "@acme\"]",
        ),
        (
            "approvals: { required: 1, from",
            "    approvals:\n      required: 1\n      from:\n        - octocat\n        - \"dependabot[bot]\"",
            "config.invalid_principal",
            "scopes.db-read.approvals.from[1]",
            "dependabot",
        ),
        (
            "approvals: { required: 1, from",
            "    approvals: { required: 1 }\n    requesters: [\"octo cat\"]",
            "config.invalid_principal",
            "scopes.db-read.requesters[0]",
            "octo cat",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: 1 }\n    environments: [production, \"\"]",
            "config.invalid_value",
            "scopes.api.environments[1]",
            "environments:",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh, principals: [\"deploy,root\"] }",
            "ssh.principal_invalid",
            "scopes.shell.credential.principals[0]",
            "deploy,root",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh, principals: [\"deploy root\"] }",
            "ssh.principal_invalid",
            "scopes.shell.credential.principals[0]",
            "deploy root",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh, principals: [\"\"] }",
            "ssh.principal_invalid",
            "scopes.shell.credential.principals[0]",
            "principals: [\"\"]",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh, principals: [] }",
            "ssh.principal_invalid",
            "scopes.shell.credential.principals",
            "principals: []",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh }",
            "ssh.principal_invalid",
            "scopes.shell.credential",
            "kind: ssh",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh, principals: [deploy], extensions: [permit-pty, permit-everything] }",
            "ssh.extension_unknown",
            "scopes.shell.credential.extensions[1]",
            "permit-everything",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh, principals: [deploy], extensions: [permit-pty, permit-pty] }",
            "config.invalid_value",
            "scopes.shell.credential.extensions[1]",
            "extensions",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh, principals: [deploy], source_address: [10.0.0.1/8] }",
            "ssh.source_address_invalid",
            "scopes.shell.credential.source_address[0]",
            "10.0.0.1/8",
        ),
        (
            "credential: { kind: ssh",
            "    credential: { kind: ssh, principals: [deploy], force_command: \"a\\nb\" }",
            "ssh.force_command_invalid",
            "scopes.shell.credential.force_command",
            "force_command",
        ),
        (
            "credential: { kind: postgres",
            "    credential: { kind: postgres, grant_role: \"\" }",
            "config.grant_role_invalid",
            "scopes.db-read.credential.grant_role",
            "grant_role: \"\"",
        ),
        (
            "credential: { kind: postgres",
            "    credential: { kind: postgres, grant_role: \"app; DROP ROLE x\" }",
            "config.grant_role_invalid",
            "scopes.db-read.credential.grant_role",
            "DROP",
        ),
        (
            "credential: { kind: postgres",
            "    credential: { kind: postgres, grant_role: public }",
            "config.grant_role_invalid",
            "scopes.db-read.credential.grant_role",
            "public",
        ),
        (
            "credential: { kind: postgres",
            "    credential: { kind: postgres, grant_role: r, connection_limit: 0 }",
            "config.invalid_value",
            "scopes.db-read.credential.connection_limit",
            "connection_limit: 0",
        ),
        (
            "credential: { kind: jwt",
            "    credential: { kind: jwt, audience: a, claims: { role: admin, exp: 9999999999 } }",
            "config.jwt_reserved_claim",
            "scopes.api.credential.claims.exp",
            "exp: 9",
        ),
        (
            "credential: { kind: jwt",
            "    credential: { kind: jwt, audience: \"\" }",
            "config.invalid_value",
            "scopes.api.credential.audience",
            "audience: \"\"",
        ),
        (
            "shell:",
            "  \"shell env\":",
            "config.invalid_value",
            "scopes.\"shell env\"",
            "shell env",
        ),
        (
            "labels:",
            "  labels: { prod-access: db-read }\n  trailer: \"Prod Access\"",
            "config.invalid_value",
            "request.trailer",
            "trailer:",
        ),
        (
            "labels:",
            "  labels: { prod-access: db-read }\n  scope_trailer: prod-access",
            "config.invalid_value",
            "request.scope_trailer",
            "scope_trailer",
        ),
        (
            "ssh: { ca_key_env",
            "  ssh: { ca_key_env: \"SSH CA\" }",
            "config.invalid_value",
            "providers.ssh.ca_key_env",
            "SSH CA",
        ),
        (
            "postgres: { admin_dsn_env",
            "  postgres: { admin_dsn_env: PG, host: h, database: app, port: 0 }",
            "config.invalid_value",
            "providers.postgres.port",
            "port: 0",
        ),
        (
            "identity:",
            "identity:\n  audience: \"prod access\"",
            "config.invalid_value",
            "identity.audience",
            "audience:",
        ),
    ];
    for (from, to, id, path, needle) in cases {
        let text = edit(from, to);
        assert_err(&text, id, path, needle);
    }
}

#[test]
fn ttl_over_max_message() {
    let text = edit("ttl: 15m", "    ttl: 3h");
    let e = err(&text);
    assert_eq!(
        e.to_string(),
        format!(
            "config.ttl_over_max: scopes.db-read.ttl (line {}): 3h is above max_ttl 1h",
            line_of(&text, "ttl: 3h")
        )
    );
}

#[test]
fn zero_approvals_allowed_with_break_glass() {
    let text = edit(
        "approvals: { required: 1 }",
        "    approvals: { required: 0 }\n    break_glass: true",
    );
    let policy = ok(&text);
    assert_eq!(policy.scopes["api"].approvals.required, 0);
    assert!(policy.scopes["api"].break_glass);
}

#[test]
fn loopback_http_issuer_is_allowed() {
    for issuer in [
        "http://127.0.0.1:8080",
        "http://127.9.9.9/oidc",
        "http://localhost:1234",
        "http://[::1]:99/x",
    ] {
        let text = edit("identity:", &format!("identity:\n  issuer: \"{issuer}\""));
        assert_eq!(ok(&text).identity.issuer, issuer);
    }
}

#[test]
fn source_address_table() {
    for good in [
        "10.0.0.0/8",
        "10.1.2.3",
        "192.168.0.0/16",
        "0.0.0.0/0",
        "2001:db8::/32",
        "::1",
        "10.1.2.3/32",
    ] {
        assert_eq!(check_source_address(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "10.0.0.1/8",
        "10.0.0.0/33",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "host.example",
        "10.0.0.0/8,1.2.3.4",
        " 10.0.0.0/8",
        "2001:db8::1/32",
        "::/129",
    ] {
        assert!(check_source_address(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn grant_role_table() {
    for good in [
        "app_readonly",
        "_x",
        "a$b",
        "app-read.only",
        "pg_read_all_data",
    ] {
        assert_eq!(check_grant_role(good), Ok(()), "{good}");
    }
    let long = "a".repeat(64);
    for bad in [
        "",
        "1app",
        "app role",
        "app\"x",
        "app;x",
        "PUBLIC",
        "current_user",
        long.as_str(),
    ] {
        assert!(check_grant_role(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn all_ssh_extensions_accepted() {
    let list = SSH_EXTENSIONS.join(", ");
    let text = edit(
        "credential: { kind: ssh",
        &format!(
            "    credential: {{ kind: ssh, principals: [deploy, ops.team_1], extensions: [{list}], source_address: [\"2001:db8::/32\", 192.0.2.7] }}"
        ),
    );
    let policy = ok(&text);
    let CredentialSpec::Ssh {
        extensions,
        principals,
        ..
    } = &policy.scopes["shell"].credential
    else {
        panic!("ssh");
    };
    assert_eq!(extensions.len(), SSH_EXTENSIONS.len());
    assert_eq!(
        principals,
        &vec!["deploy".to_string(), "ops.team_1".to_string()]
    );
}

#[test]
fn label_to_existing_scope_is_fine() {
    let text = edit(
        "labels:",
        "  labels: { prod-access: db-read, \"needs shell\": shell }",
    );
    let policy = ok(&text);
    assert_eq!(policy.request.labels["needs shell"], "shell");
}

// ---------------------------------------------------------------------------------------
// Reading: YAML problems, wrong types, limits.

#[test]
fn missing_keys() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("version: 1", "", "", ""),
        (
            "approvals: { required: 1 }",
            "    ttl: 5m",
            "scopes.api",
            "  api:",
        ),
        (
            "approvals: { required: 1, from",
            "    approvals: { from: [octocat] }",
            "scopes.db-read.approvals",
            "approvals: { from",
        ),
        (
            "credential: { kind: jwt",
            "    credential: { kind: jwt }",
            "scopes.api.credential",
            "credential: { kind: jwt }",
        ),
        (
            "credential: { kind: jwt",
            "    credential: { audience: a }",
            "scopes.api.credential",
            "credential: { audience",
        ),
        (
            "jwt: { issuer",
            "  jwt: { key_env: K }",
            "providers.jwt",
            "jwt: { key_env",
        ),
        ("jwt: { issuer", "  jwt: {}", "providers.jwt", "jwt: {}"),
        (
            "approvals: { required: 1 }",
            "    approvals: {}",
            "scopes.api.approvals",
            "approvals: {}",
        ),
        (
            "approvals: { required: 1, from",
            "    approvals:\n      from:\n        - octocat",
            "scopes.db-read.approvals",
            "approvals:",
        ),
        (
            "credential: { kind: jwt",
            "    environments: [production]",
            "scopes.api",
            "  api:",
        ),
        ("credential: { kind: ssh", "", "scopes.shell", "  shell:"),
        (
            "postgres: { admin_dsn_env",
            "  postgres:\n    admin_dsn_env: PG\n    database: app",
            "providers.postgres",
            "  postgres:",
        ),
    ];
    for (from, to, path, needle) in cases {
        let text = edit(from, to);
        let e = err(&text);
        assert_eq!(e.id(), "config.missing_key", "{e}");
        assert_eq!(e.path(), *path, "{e}");
        assert_eq!(e.line(), Some(line_of(&text, needle)), "{e}\n{text}");
    }
    let e = err("version: 1\n");
    assert_eq!((e.id(), e.line()), ("config.missing_key", Some(1)));
    assert!(e.to_string().contains("`scopes`"), "{e}");
}

#[test]
fn wrong_types_name_key_and_line() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "approvals: { required: 1 }",
            "    approvals:\n      required: \"two\"",
            "scopes.api.approvals.required",
            "required: \"two\"",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: two }",
            "scopes.api.approvals.required",
            "required: two",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: -1 }",
            "scopes.api.approvals.required",
            "required: -1",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: 1, fresh: yes }",
            "scopes.api.approvals.fresh",
            "fresh: yes",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: 1 }\n    break_glass: 1",
            "scopes.api.break_glass",
            "break_glass",
        ),
        (
            "approvals: { required: 1 }",
            "    approvals: { required: 1 }\n    requesters: octocat",
            "scopes.api.requesters",
            "requesters",
        ),
        (
            "credential: { kind: postgres",
            "    credential:\n      kind: postgres\n      grant_role: r\n      connection_limit: two",
            "scopes.db-read.credential.connection_limit",
            "connection_limit: two",
        ),
        (
            "credential: { kind: jwt",
            "    credential:\n      kind: jwt\n      audience:\n        x: 1",
            "scopes.api.credential.audience",
            "x: 1",
        ),
        (
            "postgres: { admin_dsn_env",
            "  postgres: { admin_dsn_env: PG, host: h, database: app, port: 70000 }",
            "providers.postgres.port",
            "port: 70000",
        ),
        (
            "repository: acme/payments",
            "    repository: { a: b }",
            "identity.claims.repository",
            "repository:",
        ),
        (
            "labels:",
            "  labels: [a, b]",
            "request.labels",
            "labels: [a",
        ),
        (
            "ssh: { ca_key_env",
            "  ssh: text",
            "providers.ssh",
            "ssh: text",
        ),
    ];
    for (from, to, path, needle) in cases {
        let text = edit(from, to);
        let e = assert_err(&text, "config.wrong_type", path, needle);
        assert!(
            !e.to_string().contains("Raw"),
            "internal type name leaked: {e}"
        );
    }
}

#[test]
fn version_must_be_one() {
    for (text, id) in [
        ("version: 2\nscopes: {}\n", "config.version"),
        ("version: 0\nscopes: {}\n", "config.version"),
        ("version: \"1\"\nscopes: {}\n", "config.version"),
        ("version: 2\nscopes: {}\nfuture_key: 1\n", "config.version"),
        ("scopes: {}\n", "config.missing_key"),
    ] {
        let e = err(text);
        assert_eq!(e.id(), id, "{e}");
        if id == "config.version" {
            assert_eq!(e.path(), "version");
            assert_eq!(e.line(), Some(1));
        }
    }
    assert!(ok("version: 1\nscopes: {}\n").scopes.is_empty());
    assert!(ok("version: 1\nscopes:\n").scopes.is_empty());
    assert!(
        ok("version: 1\nscopes: {}\nidentity:\nrequest: ~\nproviders:\n")
            .scopes
            .is_empty()
    );
}

#[test]
fn yaml_problems() {
    let cases: &[(&str, &str, Option<usize>)] = &[
        // tabs used for indentation
        ("version: 1\nscopes:\n\tdb: {}\n", "config.yaml", Some(3)),
        ("version: 1\nscopes: {\n", "config.yaml", None),
        ("version: 1\n---\nversion: 1\n", "config.yaml", None),
        ("", "config.yaml", None),
        ("# only a comment\n", "config.yaml", None),
        ("---\n...\n", "config.yaml", None),
        ("version: 1\nscopes: {}\nx: *nope\n", "config.yaml", Some(3)),
        ("version: 1\nscopes: !custom {}\n", "config.yaml", Some(2)),
        (
            "version: 1\nbase: &b {}\nscopes:\n  <<: *b\n",
            "config.yaml",
            Some(4),
        ),
        ("- version: 1\n", "config.wrong_type", Some(1)),
        ("just text\n", "config.wrong_type", Some(1)),
    ];
    for (text, id, line) in cases {
        let e = err(text);
        assert_eq!(e.id(), *id, "{text:?}: {e}");
        if let Some(line) = line {
            assert_eq!(e.line(), Some(*line), "{text:?}: {e}");
        }
    }
    let e = err("version: 1\nscopes:\n\tdb: {}\n");
    assert!(e.to_string().contains("tab"), "{e}");
}

#[test]
fn duplicate_keys_are_refused_with_path() {
    let text = edit("ttl: 15m", "    ttl: 15m\n    ttl: 1h");
    let e = err(&text);
    assert_eq!(e.id(), "config.duplicate_key", "{e}");
    assert_eq!(e.path(), "scopes.db-read.ttl");
    assert_eq!(e.line(), Some(line_of(&text, "ttl: 1h")));

    let text = edit("shell:", "  db-read:");
    let e = err(&text);
    assert_eq!(e.id(), "config.duplicate_key", "{e}");
    assert_eq!(e.path(), "scopes.db-read");
    assert_eq!(e.line(), Some(line_of(BASE, "shell:")));
}

#[test]
fn aliases_within_limits_work() {
    let text = r#"version: 1
common: &common
  required: 1
  from: ["@acme/sre"]
scopes:
  a:
    credential: { kind: jwt, audience: a }
    approvals: *common
  b:
    credential: { kind: jwt, audience: b }
    approvals: *common
providers:
  jwt: { issuer: "https://x.test", key_env: K }
"#;
    // `common` is not a policy key: the alias source must live somewhere that is one.
    assert_eq!(err(text).id(), "config.unknown_key");

    let text = r#"version: 1
scopes:
  a:
    credential: { kind: jwt, audience: a }
    approvals: &common { required: 1, from: ["@acme/sre"] }
  b:
    credential: { kind: jwt, audience: b }
    approvals: *common
providers:
  jwt: { issuer: "https://x.test", key_env: K }
"#;
    let policy = ok(text);
    assert_eq!(policy.scopes["b"].approvals.required, 1);
    assert_eq!(policy.scopes["b"].approvals.from.len(), 1);
}

/// 9 levels of 9-fold aliases: 9^9 = 387 420 489 nodes if expanded.
fn alias_bomb() -> String {
    let mut text = String::from(
        "version: 1\nscopes: {}\nproviders:\n  jwt:\n    issuer: &a0 [x, x, x, x, x, x, x, x, x]\n",
    );
    // Each level goes into a list item of a key the reader visits.
    let mut levels = String::new();
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        levels.push_str(&format!("    - &a{i} [{refs}]\n"));
    }
    text.push_str("    key_env:\n");
    text.push_str(&levels);
    text
}

#[test]
fn alias_bomb_is_refused() {
    let text = alias_bomb();
    assert!(text.len() < 2048);
    let e = err(&text);
    assert_eq!(e.id(), "config.too_complex", "{e}");
    // A variant with the bomb at the top level and the last level used as a value.
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("version: 1\nscopes: *a8\n");
    let e = err(&text);
    assert_eq!(e.id(), "config.too_complex", "{e}");
}

#[test]
fn ten_megabytes_are_refused_before_parsing() {
    let mut text = String::from("version: 1\nscopes: {}\n");
    text.push_str(
        &"# padding padding padding padding padding padding padding\n"
            .repeat(10 * 1024 * 1024 / 58),
    );
    assert!(text.len() > 10_000_000 - 100_000);
    let e = err(&text);
    assert_eq!(e.id(), "config.too_large");
    assert_eq!(e.line(), None);
    // Just under the cap is read (a comment-only tail).
    let mut text = String::from("version: 1\nscopes: {}\n");
    while text.len() + 40 < MAX_POLICY_BYTES {
        text.push_str("# padding padding padding padding pad\n");
    }
    assert!(ok(&text).scopes.is_empty());
    text.push_str(&"#".repeat(MAX_POLICY_BYTES - text.len() + 1));
    assert_eq!(err(&text).id(), "config.too_large");
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!(
        "version: 1\nscopes: {{}}\nx: {}{}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    let e = err(&text);
    assert!(
        matches!(e.id(), "config.too_complex" | "config.yaml"),
        "{e}"
    );
    let mut text = String::from("version: 1\nscopes: {}\nx:\n");
    for depth in 1..100 {
        text.push_str(&"  ".repeat(depth));
        text.push_str("a:\n");
    }
    let e = err(&text);
    assert_eq!(e.id(), "config.too_complex", "{e}");
}

#[test]
fn many_nodes_are_refused() {
    let mut text = String::from("version: 1\nscopes: {}\nx: [");
    text.push_str(&"1,".repeat(60_000));
    text.push_str("1]\n");
    assert!(text.len() < MAX_POLICY_BYTES);
    let e = err(&text);
    assert_eq!(e.id(), "config.too_complex", "{e}");
}

#[test]
fn all_errors_are_collected_in_line_order() {
    let text = edit("ttl: 15m", "    ttl: 3h");
    let text = text.replace(
        "approvals: { required: 1 }\n  shell",
        "approvals: { required: 0 }\n  shell",
    );
    let text = text.replace("principals: [deploy]", "principals: [\"a b\"]");
    let Err(errors) = load_policy_all_errors(&text) else {
        panic!("expected errors");
    };
    let ids: Vec<_> = errors.iter().map(PolicyError::id).collect();
    assert_eq!(
        ids,
        [
            "config.ttl_over_max",
            "config.zero_approvals",
            "ssh.principal_invalid"
        ]
    );
    let lines: Vec<_> = errors.iter().map(PolicyError::line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}

#[test]
fn messages_carry_no_control_characters() {
    let text = edit("shell:", "  \"a\\u001b[31mb\":");
    let e = err(&text);
    let message = e.to_string();
    assert!(!message.chars().any(char::is_control), "{message:?}");
    let text = edit("version: 1", "version: 1\n\"x\\ny\": 1");
    let message = err(&text).to_string();
    assert!(!message.chars().any(char::is_control), "{message:?}");
}

#[test]
fn ids_are_unique_and_listed() {
    let mut ids = PolicyError::IDS.to_vec();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), PolicyError::IDS.len());
    let docs = include_str!("../../../docs/policy.md");
    for id in PolicyError::IDS {
        assert!(
            docs.contains(&format!("`{id}`")),
            "docs/policy.md does not list {id}"
        );
    }
}

#[test]
fn long_values_and_keys_are_refused() {
    let long = "x".repeat(9 * 1024);
    let text = edit(
        "repository: acme/payments",
        &format!("    repository: {long}"),
    );
    let e = err(&text);
    assert_eq!(e.id(), "config.too_complex", "{e}");
    assert_eq!(e.line(), Some(line_of(&text, "repository:")));
    let key = "k".repeat(300);
    let text = edit(
        "repository: acme/payments",
        &format!("    ? {key}\n    : x"),
    );
    assert_eq!(err(&text).id(), "config.too_complex");
    // An alias multiplying a long value stays within the limits or is refused.
    let value = "v".repeat(8 * 1024);
    let mut text = edit(
        "approvals: { required: 1 }",
        &format!("    approvals: {{ required: 1 }}\n    environments: [&e {value}"),
    );
    text = text.replacen(
        &format!("&e {value}"),
        &format!("&e {value}{}]", ", *e".repeat(999)),
        1,
    );
    let e = err(&text);
    assert!(
        matches!(e.id(), "config.too_complex" | "config.invalid_value"),
        "{e}"
    );
}

#[test]
fn absurdly_long_paths_are_cut() {
    let mut text = String::from("x:\n");
    for depth in 1..30 {
        text.push_str(&"  ".repeat(depth));
        text.push_str(&format!("{}:\n", "k".repeat(200)));
    }
    text.push_str(&"  ".repeat(30));
    text.push_str("leaf: 1\n");
    let map = match SourceMap::parse(&text, yaml_options(DuplicateKeyPolicy::PassThrough)) {
        Ok(map) => map,
        Err(e) => panic!("{e}"),
    };
    let longest = map
        .entries()
        .iter()
        .map(|e| e.path.len())
        .max()
        .unwrap_or(0);
    assert!(longest <= 512 + '…'.len_utf8(), "{longest}");
    let last = map
        .entries()
        .last()
        .map(|e| e.path.clone())
        .unwrap_or_default();
    assert!(last.ends_with('…'), "{last}");
    assert!(map.get(&last).is_none());
    assert_eq!(map.line("x"), Some(1));
}
