//! `prod-access check` through the real binary: policy validation and offline decisions on
//! the shipped examples, and hostile input that must neither panic nor inject commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::{Cli, repo_root};
use serde_json::{Value, json};

fn example(path: &str) -> String {
    repo_root().join(path).display().to_string()
}

fn scenario(name: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join("examples/scenarios").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Writes a scenario with its event inlined into the run's temp dir.
fn write_scenario(cli: &Cli, mut s: Value) -> String {
    if let Some(rel) = s
        .get("event_file")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        let ev = std::fs::read_to_string(repo_root().join("examples/scenarios").join(rel)).unwrap();
        s["event"] = serde_json::from_str(&ev).unwrap();
        s.as_object_mut().unwrap().remove("event_file");
    }
    cli.file("scenario.json", serde_json::to_vec_pretty(&s).unwrap())
        .display()
        .to_string()
}

fn check(s: Value) -> harness::Run {
    let cli = Cli::new(&["check", "--policy-file", &example("examples/policy.yml")]);
    let path = write_scenario(&cli, s);
    cli.arg("--scenario").arg(path).run()
}

#[test]
fn shipped_policy_is_valid() {
    let run = Cli::new(&["check", "--policy-file", &example("examples/policy.yml")]).run();
    run.expect_code(0);
    assert!(run.stdout.contains("valid (version 1)"));
    assert!(run.stdout.contains("scope db-read: postgres credential"));
}

#[test]
fn approved_label_request_would_be_granted() {
    let run = check(scenario("label-approved.json"));
    run.expect_code(0);
    assert!(
        run.stdout.contains("NOT verified"),
        "offline mode must say so"
    );
    assert!(
        run.stdout
            .contains("decision: WOULD BE GRANTED; scope db-read")
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn stale_approval_is_denied_with_requirement_ids() {
    let run = check(scenario("label-stale-approval.json"));
    run.expect_code(1);
    assert!(
        run.stderr.contains("denied: fresh-approval:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("denied: approvals-count:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("docs/requirements.md#approvals-count"));
}

#[test]
fn json_output_lists_requirements() {
    let cli = Cli::new(&[
        "check",
        "--json",
        "--policy-file",
        &example("examples/policy.yml"),
    ]);
    let path = write_scenario(&cli, scenario("label-approved.json"));
    let run = cli.arg("--scenario").arg(path).run();
    run.expect_code(0);
    // `--json` is the alias of `--format json`: stdout is the document alone.
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["scope"], "db-read");
    assert!(v["requirements"].as_array().unwrap().len() > 10);
}

fn check_json(s: Value) -> (harness::Run, Value) {
    let cli = Cli::new(&[
        "check",
        "--format",
        "json",
        "--policy-file",
        &example("examples/policy.yml"),
    ]);
    let path = write_scenario(&cli, s);
    let run = cli.arg("--scenario").arg(path).run();
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", run.stdout));
    (run, v)
}

#[test]
fn format_json_is_one_document_with_a_decision_and_string_durations() {
    let (run, v) = check_json(scenario("label-approved.json"));
    run.expect_code(0);
    assert_eq!(v["decision"], "granted");
    assert_eq!(v["verified"], false);
    assert_eq!(v["ttl"], "15m");
    assert_eq!(v["ttl_seconds"], 900);
    assert_eq!(v["unmet"], json!([]));
    // The offline warning is still given, on stderr.
    assert!(run.stderr.contains("NOT verified"), "{}", run.stderr);

    let (run, v) = check_json(scenario("label-stale-approval.json"));
    run.expect_code(1);
    assert_eq!(v["decision"], "denied");
    assert!(
        v["unmet"]
            .as_array()
            .unwrap()
            .contains(&json!("approvals-count")),
        "{v:#}"
    );
    let req = v["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "approvals-count")
        .unwrap();
    assert_eq!(req["met"], false);
    assert!(req["docs"].as_str().unwrap().starts_with("https://"));
}

#[test]
fn format_json_matches_the_committed_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schema/check-output.schema.json")).unwrap(),
    )
    .unwrap();
    let (_, v) = check_json(scenario("label-stale-approval.json"));
    let props = schema["properties"].as_object().unwrap();
    let doc = v.as_object().unwrap();
    for key in schema["required"].as_array().unwrap() {
        assert!(doc.contains_key(key.as_str().unwrap()), "{key} missing");
    }
    for key in doc.keys() {
        assert!(props.contains_key(key), "{key} is not in the schema");
    }
    // `enum: [...]`, or `oneOf: [{const: ...}, ...]` when the variants are documented.
    let def = &schema["$defs"]["DecisionWord"];
    let mut words: Vec<&str> = def["enum"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for alt in def["oneOf"].as_array().into_iter().flatten() {
        words.extend(alt["const"].as_str());
        words.extend(
            alt["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
    }
    for word in ["granted", "denied", "no-request", "policy-valid", "error"] {
        assert!(words.contains(&word), "{word} not in the schema: {words:?}");
    }
    assert!(
        words.contains(&v["decision"].as_str().unwrap()),
        "{words:?}"
    );
}

#[test]
fn format_json_carries_hostile_text_exactly_without_commands() {
    let mut s = scenario("label-stale-approval.json");
    let reason = "Prod-Access: INC-1 ::add-mask::x ##[error]y \u{202e}";
    s["evidence"]["pull_request"]["body"] = json!(format!("fix\n\n{reason}"));
    s["evidence"]["reviews"][0]["user"]["login"] = json!("::warning::pwn##[error]y");
    let (run, v) = check_json(s);
    run.expect_code(1);
    run.assert_no_injected_commands(&[]);
    assert!(!run.stdout.contains('\u{202e}'));
    // The document still says exactly what the reviewer's login was.
    assert!(v.to_string().contains("::warning::pwn##[error]y"), "{v:#}");
}

#[test]
fn hostile_reason_is_neutralised_on_both_streams() {
    let mut s = scenario("label-stale-approval.json");
    let reason = "Prod-Access: INC-1 ::add-mask::x ##[error]y \u{1b}[31m \u{202e}";
    s["evidence"]["pull_request"]["body"] = json!(format!("fix\n\n{reason}"));
    s["evidence"]["reviews"][0]["user"]["login"] = json!("::warning::pwn");
    let run = check(s);
    run.expect_code(1);
    run.assert_no_injected_commands(&[]);
    assert!(!run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'));
    assert!(!run.stdout.contains('\u{202e}') && !run.stderr.contains('\u{202e}'));
}

#[test]
fn no_request_is_skip_by_default_and_fail_on_request() {
    let mut s = scenario("label-approved.json");
    s["event_name"] = json!("push");
    s["event"] = json!({
        "ref": "refs/heads/main", "before": "0000000000000000000000000000000000000000",
        "after": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "deleted": false,
        "head_commit": {"id": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "message": "plain commit"},
        "commits": [], "repository": {"full_name": "acme/payments"}, "sender": {"login": "alice", "id": 1001}
    });
    s.as_object_mut().unwrap().remove("event_file");
    let run = check(s.clone());
    run.expect_code(0);
    assert!(run.stdout.contains("no request in this event"));
    let cli = Cli::new(&["check", "--policy-file", &example("examples/policy.yml")])
        .env("INPUT_IF-NO-REQUEST", "fail");
    let path = write_scenario(&cli, s);
    cli.arg("--scenario").arg(path).run().expect_code(1);
}

#[test]
fn malformed_event_and_scenario_are_config_errors() {
    for bad_event in [json!("not an object"), json!(null), json!([1, 2])] {
        let mut s = scenario("label-approved.json");
        s["event"] = bad_event;
        s.as_object_mut().unwrap().remove("event_file");
        check(s).expect_code(2);
    }
    let cli = Cli::new(&["check", "--policy-file", &example("examples/policy.yml")]);
    let p = cli.file("s.json", b"{\"event_name\": \"push\", \"claims\": {\xff}");
    cli.arg("--scenario")
        .arg(p.display().to_string())
        .run()
        .expect_code(2);
    let mut s = scenario("label-approved.json");
    s["event_name"] = json!("issue_comment");
    let run = check(s);
    run.expect_code(2);
    assert!(run.stderr.contains("not supported"));
}

#[test]
fn policy_errors_name_key_and_line_and_exit_2() {
    let cli = Cli::new(&["check", "--policy-file", "p.yml"]);
    cli.file(
        "p.yml",
        "version: 1\nscopes:\n  a:\n    credential: {kind: jwt, audience: x}\n    ttl: 3h\n    max_ttl: 1h\n    approvals: {required: 0}\n",
    );
    let run = cli.run();
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("config.ttl_over_max: scopes.a.ttl (line 5)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("config.zero_approvals"),
        "{}",
        run.stderr
    );
}

#[test]
fn alias_bomb_policy_is_refused() {
    let mut y = String::from("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let prev = format!("*a{}", i - 1);
        y.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
    }
    let cli = Cli::new(&["check", "--policy-file", "p.yml"]);
    cli.file("p.yml", y);
    cli.run().expect_code(2);
}

#[test]
fn every_requirement_id_has_an_anchor_in_both_docs() {
    let policy = std::fs::read_to_string(repo_root().join("docs/policy.md")).unwrap();
    let reqs = std::fs::read_to_string(repo_root().join("docs/requirements.md")).unwrap();
    for id in prod_access::decide::RequirementId::ALL {
        assert!(
            policy.contains(&format!("\n### {id}\n")),
            "docs/policy.md lacks {id}"
        );
        assert!(
            reqs.contains(&format!("\n## {id}\n")),
            "docs/requirements.md lacks {id}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Policy authoring: `check --policy-file` names every problem at once.
// ---------------------------------------------------------------------------------------

const AUTHORING_POLICY: &str = "version: 1
identity:
  claims:
    repository: acme/payments
    job_workflow_ref: acme/payments/.github/workflows/prod-access.yml@refs/heads/main
scopes:
  db:
    credential: { kind: jwt, audience: payments-api, claimz: {} }
    ttl: 3h
    max-ttl: 1h
    approvals: { required: 1, form: [octocat] }
providers:
  jwt: { issuer: https://prod-access.acme.dev, key_env: K }
";

#[test]
fn every_problem_of_a_policy_is_named_in_one_run_with_near_misses() {
    let cli = Cli::new(&["check", "--policy-file", "p.yml"]);
    cli.file("p.yml", AUTHORING_POLICY);
    let run = cli.run();
    run.expect_code(2);
    for needle in [
        "config.unknown_key: scopes.db.credential.claimz (line 8): unknown key `claimz`; did you mean `claims`?",
        "config.unknown_key: scopes.db.max-ttl (line 10): unknown key `max-ttl`; did you mean `max_ttl`?",
        "config.unknown_key: scopes.db.approvals.form (line 11): unknown key `form`; did you mean `from`?",
    ] {
        assert!(run.stderr.contains(needle), "{needle}\n{}", run.stderr);
    }
    assert!(
        run.stderr.contains("policy: 3 problem(s)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("https://github.com/prod-access/prod-access/blob/main/docs/policy.md"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_keys_and_rule_errors_are_reported_together() {
    let text = AUTHORING_POLICY.replace("ttl: 3h", "ttl: 3h\n    max_ttl: 1h");
    let cli = Cli::new(&["check", "--policy-file", "p.yml"]);
    cli.file("p.yml", text);
    let run = cli.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("policy: 4 problem(s)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("config.ttl_over_max"), "{}", run.stderr);
}

#[test]
fn a_regex_error_keeps_its_caret_under_the_problem() {
    let text = AUTHORING_POLICY
        .replace(", claimz: {}", "")
        .replace("max-ttl", "max_ttl")
        .replace("ttl: 3h", "ttl: 15m")
        .replace("form:", "from:")
        .replace(
            "scopes:",
            "request:\n  reason_pattern: 'INC-[0-9]+(x'\nscopes:",
        );
    let cli = Cli::new(&["check", "--policy-file", "p.yml"]);
    cli.file("p.yml", text);
    let run = cli.run();
    run.expect_code(2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.ends_with("INC-[0-9]+(x"))
        .unwrap_or_else(|| panic!("the pattern is not on a line of its own:\n{}", run.stderr));
    let caret = lines[i + 1].find('^').expect("a caret line");
    assert_eq!(
        lines[i].char_indices().nth(caret).map(|(_, c)| c),
        Some('('),
        "{}",
        run.stderr
    );
}

#[test]
fn one_size_limit_with_one_message() {
    let limit = 256 * 1024;
    for size in [limit + 1, 2 * 1024 * 1024] {
        let cli = Cli::new(&["check", "--policy-file", "p.yml"]);
        let mut text = String::from("version: 1\nscopes: {}\n");
        text.push_str(&"#".repeat(size - text.len()));
        cli.file("p.yml", &text);
        let run = cli.run();
        run.expect_code(2);
        assert!(
            run.stderr.contains(&format!(
                "config.too_large: the policy is {size} bytes, more than the limit of {limit} bytes"
            )),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_policy_without_identity_claims_is_valid_with_a_warning() {
    let text = AUTHORING_POLICY
        .replace(", claimz: {}", "")
        .replace("max-ttl", "max_ttl")
        .replace("ttl: 3h", "ttl: 15m")
        .replace("form:", "from:");
    let start = text.find("identity:").unwrap();
    let end = text.find("scopes:").unwrap();
    let without = format!("{}{}", &text[..start], &text[end..]);
    let cli = Cli::new(&["check", "--policy-file", "p.yml"]);
    cli.file("p.yml", &without);
    let run = cli.run();
    run.expect_code(0);
    assert!(
        run.stderr.contains("warning: policy.no_identity_claims"),
        "{}",
        run.stderr
    );
    let cli = Cli::new(&["check", "--policy-file", "p.yml"]);
    cli.file("p.yml", &text);
    let run = cli.run();
    run.expect_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn format_json_is_one_document_for_every_outcome() {
    // A valid policy alone.
    let run = Cli::new(&[
        "check",
        "--format",
        "json",
        "--policy-file",
        &example("examples/policy.yml"),
    ])
    .run();
    run.expect_code(0);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["decision"], "policy-valid");
    assert_eq!(v["warnings"], json!([]));

    // An invalid policy: every problem, with its line.
    let cli = Cli::new(&["check", "--format", "json", "--policy-file", "p.yml"]);
    cli.file("p.yml", AUTHORING_POLICY);
    let run = cli.run();
    run.expect_code(2);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["decision"], "error");
    assert_eq!(v["error"]["exit_code"], 2);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 3, "{v:#}");
    assert_eq!(problems[0]["id"], "config.unknown_key");
    assert_eq!(problems[0]["line"], 8);
    assert_eq!(problems[0]["path"], "scopes.db.credential.claimz");

    // Online outside a runner: the missing variables, as an error document.
    let run = Cli::new(&["check", "--format", "json"]).run();
    run.expect_code(2);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["decision"], "error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("GITHUB_EVENT_NAME, GITHUB_EVENT_PATH"),
        "{v:#}"
    );
    // stderr still says it for people.
    assert!(run.stderr.contains("GITHUB_EVENT_NAME"));
}
