//! Event parsing against GitHub's own payloads (`@octokit/webhooks-examples`) and REST
//! example responses (`@octokit/openapi`); see `tests/fixtures/npm/README.md`.
//!
//! Needs `npm ci --prefix tests/fixtures/npm --no-audit --no-fund` first: without the
//! fixtures every test here fails with that hint (never skips).

mod common;

use common::fixtures::{self, bytes, set, sha};
use prod_access::event::{
    EventError, EventOutcome, EventRequest, RequestKeys, Shape, parse_event, read_event_file,
};
use prod_access::forge::{Permission, Review, ReviewState, RunInfo, UserRef};
use serde_json::{Value, json};

const PR_EVENTS: [&str; 2] = ["pull_request", "pull_request_target"];

fn keys() -> RequestKeys {
    RequestKeys {
        labels: vec!["prod-access".into(), "hotfix".into()],
        ..RequestKeys::default()
    }
}

fn parse(
    event: &str,
    v: &Value,
    head_commit_message: Option<&str>,
) -> Result<EventOutcome, EventError> {
    parse_event(event, &bytes(v), &keys(), head_commit_message)
}

fn request(out: Result<EventOutcome, EventError>) -> EventRequest {
    match out {
        Ok(EventOutcome::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn no_request(out: Result<EventOutcome, EventError>) -> String {
    match out {
        Ok(EventOutcome::NoRequest { why }) => why,
        other => panic!("expected no request, got {other:?}"),
    }
}

fn field_error(out: Result<EventOutcome, EventError>) -> String {
    match out {
        Err(EventError::Field(path)) => path,
        other => panic!("expected a field error, got {other:?}"),
    }
}

/// The sender of every example (`Codertocat` in the dotcom examples).
fn sender_of(v: &Value) -> UserRef {
    UserRef {
        login: v["sender"]["login"].as_str().unwrap_or_default().to_owned(),
        id: v["sender"]["id"].as_u64(),
        bot: v["sender"]["type"] == "Bot",
    }
}

// ---------------------------------------------------------------------------------------
// Every example parses
// ---------------------------------------------------------------------------------------

/// `(variant, event) -> number of examples`, for every variant of the package.
fn count(event: &str) -> Vec<(String, usize)> {
    fixtures::webhook_variants()
        .into_iter()
        .map(|variant| {
            let n = fixtures::webhook_examples_in(&variant, event).len();
            (variant, n)
        })
        .collect()
}

#[test]
fn fixture_counts() {
    // The pinned versions hold at least these on api.github.com; a refresh that loses
    // examples should be noticed.
    for (event, at_least) in [
        ("pull_request", 20),
        ("push", 5),
        ("workflow_dispatch", 1),
        ("pull_request_review", 1),
    ] {
        let n = fixtures::webhook_examples(event).len();
        assert!(
            n >= at_least,
            "{event}: {n} examples, expected >= {at_least}"
        );
    }
    for action in ["labeled", "opened", "synchronize", "unlabeled"] {
        fixtures::webhook_example("pull_request", Some(action));
    }
}

#[test]
#[allow(clippy::print_stderr)]
fn report_example_counts() {
    let (hooks, openapi) = fixtures::versions();
    eprintln!("@octokit/webhooks-examples {hooks}, @octokit/openapi {openapi}");
    for event in [
        "pull_request",
        "pull_request_target",
        "push",
        "workflow_dispatch",
        "pull_request_review",
    ] {
        eprintln!("{event}: {:?}", count(event));
    }
}

#[test]
fn every_pull_request_example_parses() {
    let mut total = 0;
    for variant in fixtures::webhook_variants() {
        // The package has no `pull_request_target` examples: its payload is the
        // `pull_request` one, so those are parsed under both names.
        let mut examples = fixtures::webhook_examples_in(&variant, "pull_request_target");
        examples.extend(fixtures::webhook_examples_in(&variant, "pull_request"));
        for (i, ex) in examples.iter().enumerate() {
            let what = format!("{variant} pull_request #{i} ({})", ex["action"]);
            let number = ex["pull_request"]["number"].as_u64();
            let head_sha = ex["pull_request"]["head"]["sha"]
                .as_str()
                .map(str::to_owned);
            for event in PR_EVENTS {
                for message in [None, Some("Update README\n\nSigned-off-by: A <a@b.c>\n")] {
                    match parse(event, ex, message) {
                        Ok(EventOutcome::Request(r)) => {
                            assert_eq!(r.pr_number, number, "{what}");
                            assert_eq!(r.head_sha, head_sha, "{what}");
                            assert_eq!(r.sender, Some(sender_of(ex)), "{what}");
                            // Only a message-less trailer request: the labels in the
                            // examples (`bug`) are not request labels.
                            assert_eq!(r.shape, Shape::Trailer, "{what}");
                            assert!(r.head_commit_pending && message.is_none(), "{what}");
                        }
                        Ok(EventOutcome::NoRequest { .. }) => {}
                        Err(e) => panic!("{what} as {event}: {e}"),
                    }
                }
            }
            total += 1;
        }
    }
    assert!(total >= 20, "{total}");
}

#[test]
fn every_push_example_parses() {
    for variant in fixtures::webhook_variants() {
        for (i, ex) in fixtures::webhook_examples_in(&variant, "push")
            .iter()
            .enumerate()
        {
            // None of the examples has a `Prod-Access` trailer.
            let why = no_request(parse("push", ex, None));
            assert!(!why.is_empty(), "{variant} push #{i}");
        }
    }
}

#[test]
fn every_workflow_dispatch_example_parses() {
    for variant in fixtures::webhook_variants() {
        for (i, ex) in fixtures::webhook_examples_in(&variant, "workflow_dispatch")
            .iter()
            .enumerate()
        {
            let r = request(parse("workflow_dispatch", ex, None));
            assert_eq!(r.shape, Shape::Dispatch, "{variant} #{i}");
            assert_eq!(
                (r.reason, r.scope, r.pr_number),
                (None, None, None),
                "{variant} #{i}"
            );
            assert_eq!(r.sender, Some(sender_of(ex)), "{variant} #{i}");
        }
    }
}

/// `pull_request_review` is not a trigger prod-access supports (a review is evidence, read
/// from the API; it asks for nothing): a clean `UnsupportedEvent`. Its payload still maps
/// onto the forge's `Review` model, which the forge client fills from the REST API.
#[test]
fn pull_request_review_is_unsupported_but_maps_onto_the_review_model() {
    let mut seen = 0;
    for variant in fixtures::webhook_variants() {
        for ex in fixtures::webhook_examples_in(&variant, "pull_request_review") {
            match parse("pull_request_review", &ex, None) {
                Err(EventError::UnsupportedEvent(name)) => assert_eq!(name, "pull_request_review"),
                other => panic!("{variant}: {other:?}"),
            }
            let r = &ex["review"];
            // Webhooks spell states in lower case (`approved`), the REST API in upper case.
            let state = r["state"].as_str().unwrap_or_default().to_ascii_uppercase();
            let model = json!({
                "id": r["id"],
                "user": {"login": r["user"]["login"], "id": r["user"]["id"], "bot": r["user"]["type"] == "Bot"},
                "state": state,
                "commit_id": r["commit_id"],
                "submitted_at": r["submitted_at"],
            });
            let review: Review = serde_json::from_value(model)
                .unwrap_or_else(|e| panic!("{variant}: review does not fit the model: {e}"));
            assert_ne!(review.state, ReviewState::Unknown, "{variant}: {state}");
            assert_eq!(
                review.commit_id.as_deref(),
                r["commit_id"].as_str(),
                "{variant}"
            );
            assert!(review.submitted_at.is_some(), "{variant}");
            assert!(review.user.is_some_and(|u| u.id.is_some()), "{variant}");
            seen += 1;
        }
    }
    assert!(seen >= 4, "{seen}");
}

// ---------------------------------------------------------------------------------------
// REST example responses
// ---------------------------------------------------------------------------------------

fn has(v: &Value, pointers: &[&str], what: &str) {
    for p in pointers {
        assert!(
            v.pointer(p).is_some_and(|x| !x.is_null()),
            "{what}: no {p} in the example"
        );
    }
}

fn first(v: Value, what: &str) -> Value {
    match v {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => panic!("{what}: expected a non-empty list, got {other}"),
    }
}

#[test]
fn openapi_examples_load_with_the_fields_we_read() {
    has(
        &fixtures::api_pull_request(),
        &[
            "/number",
            "/state",
            "/body",
            "/head/sha",
            "/head/repo/full_name",
            "/base/ref",
            "/base/repo/full_name",
            "/user/login",
            "/user/id",
            "/labels/0/name",
            "/merged",
        ],
        "pulls/get",
    );
    has(
        &fixtures::api_collaborator_permission(),
        &["/permission", "/user/login"],
        "collaborator permission",
    );
    has(
        &fixtures::api_team_membership(),
        &["/state", "/role"],
        "team membership",
    );
    has(
        &first(fixtures::api_issue_events(), "issue events"),
        &["/event", "/actor/login", "/actor/id", "/created_at"],
        "issue events",
    );
    let labeled =
        fixtures::api_labeled_issue_event("prod-access", "octocat", 1, "2026-01-02T03:04:05Z");
    has(
        &labeled,
        &[
            "/event",
            "/label/name",
            "/actor/login",
            "/actor/id",
            "/created_at",
        ],
        "issue events: labeled",
    );
    has(
        &fixtures::api_commit(),
        &["/sha", "/commit/message", "/parents/0/sha"],
        "commit",
    );
    has(
        &first(fixtures::api_commit_pulls(), "commit pulls"),
        &["/number", "/head/sha", "/state"],
        "commit pulls",
    );
    has(
        &fixtures::api_workflow_run(),
        &[
            "/id",
            "/event",
            "/head_sha",
            "/run_attempt",
            "/actor/login",
            "/triggering_actor/login",
        ],
        "workflow run",
    );
    has(
        &first(fixtures::api_run_approvals(), "run approvals"),
        &["/state", "/environments/0/name", "/user/login", "/comment"],
        "run approvals",
    );
    has(
        &fixtures::api_repository(),
        &["/id", "/full_name", "/default_branch"],
        "repository",
    );
    has(
        &fixtures::api_content_file(),
        &["/type", "/encoding", "/content", "/sha"],
        "content file",
    );
}

#[test]
fn openapi_examples_fit_the_forge_models() {
    let reviews: Vec<Review> = serde_json::from_value(fixtures::api_reviews())
        .unwrap_or_else(|e| panic!("reviews list does not fit the model: {e}"));
    assert!(!reviews.is_empty());
    assert!(reviews.iter().all(|r| r.state != ReviewState::Unknown));

    let run: RunInfo = serde_json::from_value(fixtures::api_workflow_run())
        .unwrap_or_else(|e| panic!("workflow run does not fit the model: {e}"));
    assert!(run.id > 0 && run.run_attempt >= 1);
    assert!(run.triggering_actor.is_some());

    let permission = fixtures::api_collaborator_permission()["permission"]
        .as_str()
        .map(Permission::from_api);
    assert_eq!(permission, Some(Permission::Admin));
}

// ---------------------------------------------------------------------------------------
// Label shape, built from the real `labeled` example
// ---------------------------------------------------------------------------------------

#[test]
fn label_request_from_the_real_labeled_example() {
    let head = sha(42);
    for event in PR_EVENTS {
        let v = fixtures::labeled_event(
            "prod-access",
            Some("Rebuild the index.\r\n\r\nProd-Access: INC-1234 stuck migration\r\n"),
            &head,
        );
        let r = request(parse(event, &v, None));
        assert_eq!(
            r,
            EventRequest {
                reason: Some("INC-1234 stuck migration".into()),
                label: Some("prod-access".into()),
                pr_number: v["pull_request"]["number"].as_u64(),
                head_sha: Some(head.clone()),
                sender: Some(sender_of(&v)),
                ..EventRequest::new(Shape::Label)
            },
            "{event}"
        );
    }
}

#[test]
fn label_request_edge_cases() {
    let head = sha(42);
    // A label the policy does not name.
    for label in ["bug", "Prod-Access", "prod-access-2"] {
        no_request(parse(
            "pull_request_target",
            &fixtures::labeled_event(label, Some("Prod-Access: x"), &head),
            None,
        ));
    }
    // No description: a request without a reason (denied later, `reason-present`).
    let r = request(parse(
        "pull_request_target",
        &fixtures::labeled_event("hotfix", None, &head),
        None,
    ));
    assert_eq!((r.reason, r.label.as_deref()), (None, Some("hotfix")));
    // Two reason lines: ambiguous, both named.
    let v = fixtures::labeled_event(
        "hotfix",
        Some("Prod-Access: INC-1\n\nprod-access: INC-2"),
        &head,
    );
    let r = request(parse("pull_request_target", &v, None));
    assert_eq!(r.reason, None);
    assert_eq!(
        r.ambiguous,
        vec![("Prod-Access".into(), vec!["INC-1".into(), "INC-2".into()])]
    );
    // A reason hidden in an HTML comment does not count.
    let v = fixtures::labeled_event(
        "hotfix",
        Some("<!--\nProd-Access: hidden\n-->\nProd-Access: INC-3"),
        &head,
    );
    assert_eq!(
        request(parse("pull_request", &v, None)).reason.as_deref(),
        Some("INC-3")
    );
    // A bot that adds the label is recorded as a bot.
    let mut v = fixtures::labeled_event("hotfix", Some("Prod-Access: INC-4"), &head);
    set(&mut v, "/sender/login", json!("github-actions[bot]"));
    set(&mut v, "/sender/type", json!("Bot"));
    assert!(
        request(parse("pull_request", &v, None))
            .sender
            .is_some_and(|s| s.bot)
    );
}

// ---------------------------------------------------------------------------------------
// Trailer shape on PR events
// ---------------------------------------------------------------------------------------

#[test]
fn pr_trailer_shape_without_the_message_is_pending() {
    let head = sha(7);
    let v = fixtures::synchronize_event(&head);
    for event in PR_EVENTS {
        let r = request(parse(event, &v, None));
        assert_eq!(
            r,
            EventRequest {
                pr_number: v["pull_request"]["number"].as_u64(),
                head_sha: Some(head.clone()),
                sender: Some(sender_of(&v)),
                head_commit_pending: true,
                ..EventRequest::new(Shape::Trailer)
            }
        );
    }
}

#[test]
fn pr_trailer_shape_without_a_trailer_is_no_request() {
    let v = fixtures::synchronize_event(&sha(7));
    for message in ["Fix", "Fix\n\nProd-Access is needed here, see INC-1.", ""] {
        no_request(parse("pull_request", &v, Some(message)));
    }
}

#[test]
fn pr_trailer_shape_with_the_message() {
    let v = fixtures::synchronize_event(&sha(7));
    let message =
        "Fix the index\n\nLonger text.\n\nProd-Access: INC-9\nProd-Access-Scope: db-read\n";
    let r = request(parse("pull_request_target", &v, Some(message)));
    assert_eq!(
        (
            r.shape,
            r.reason.as_deref(),
            r.scope.as_deref(),
            r.head_commit_pending
        ),
        (Shape::Trailer, Some("INC-9"), Some("db-read"), false)
    );
    let r = request(parse(
        "pull_request",
        &v,
        Some("Fix\n\nProd-Access: a\nProd-Access: b\n"),
    ));
    assert_eq!(
        r.ambiguous,
        vec![("Prod-Access".into(), vec!["a".into(), "b".into()])]
    );
}

// ---------------------------------------------------------------------------------------
// Push, built from the real push examples
// ---------------------------------------------------------------------------------------

#[test]
fn deleted_branch_is_no_request() {
    let v = fixtures::deleted_branch_push();
    no_request(parse("push", &v, None));
}

/// Catalogue row 37: `Prod-Access:` only in a non-head commit -> no request.
#[test]
fn row_37_trailer_only_in_a_non_head_commit() {
    let v = fixtures::push_event(
        "Merge the fix\n\nSigned-off-by: A <a@b.c>\n",
        &["Fix the index\n\nProd-Access: INC-1\nProd-Access-Scope: db-write\n"],
    );
    let why = no_request(parse("push", &v, None));
    assert!(why.contains("head commit"), "{why}");
}

/// Catalogue row 38: the trailer is not in the last paragraph -> no request.
#[test]
fn row_38_trailer_not_in_the_last_paragraph() {
    let v = fixtures::push_event(
        "Fix the index\n\nProd-Access: INC-1\n\nThe body goes on after the line.\n",
        &[],
    );
    no_request(parse("push", &v, None));
}

/// Catalogue row 39: a homoglyph key (`Prod‐Access`, U+2010) -> no request, even in a
/// paragraph git accepts as trailers.
#[test]
fn row_39_homoglyph_key() {
    for key in [
        "Prod\u{2010}Access",
        "Prod\u{2011}Access",
        "Prod-Acce\u{17f}\u{17f}",
        "Prod-Access\u{200b}",
    ] {
        let v = fixtures::push_event(
            &format!("Fix\n\n{key}: INC-1\nSigned-off-by: A <a@b.c>\n"),
            &[],
        );
        no_request(parse("push", &v, None));
    }
}

/// Catalogue row 40: an indented continuation line is folded, as git folds it.
#[test]
fn row_40_continuation_line_is_folded() {
    let v = fixtures::push_event(
        "Fix\n\nProd-Access: INC-1\n  database migration\n\tstuck\n",
        &[],
    );
    let r = request(parse("push", &v, None));
    assert_eq!(r.reason.as_deref(), Some("INC-1 database migration stuck"));
}

/// The positive twins of rows 37-39: the same trailers, where git finds them, ask.
#[test]
fn head_commit_trailer_asks() {
    let v = fixtures::push_event(
        "Fix the index\n\nProd-Access: INC-1\nProd-Access-Scope: db-write\n",
        &["Older\n\nProd-Access: ignored\n"],
    );
    let r = request(parse("push", &v, None));
    assert_eq!(
        r,
        EventRequest {
            reason: Some("INC-1".into()),
            scope: Some("db-write".into()),
            head_sha: v["head_commit"]["id"].as_str().map(str::to_owned),
            sender: Some(sender_of(&v)),
            ..EventRequest::new(Shape::Trailer)
        }
    );
    let v = fixtures::push_event("Fix\n\nProd-Access: INC-1\nSigned-off-by: A <a@b.c>\n", &[]);
    assert_eq!(
        request(parse("push", &v, None)).reason.as_deref(),
        Some("INC-1")
    );
    let v = fixtures::push_event("Fix\n\nprod-access: x\nProd-Access: y\n", &[]);
    assert_eq!(
        request(parse("push", &v, None)).ambiguous,
        vec![("Prod-Access".into(), vec!["x".into(), "y".into()])]
    );
}

#[test]
fn push_payload_errors() {
    let base = fixtures::push_event("Fix\n\nProd-Access: INC-1\n", &[]);
    let mut v = base.clone();
    set(&mut v, "/head_commit/id", json!(12));
    assert_eq!(field_error(parse("push", &v, None)), "head_commit.id");
    let mut v = base.clone();
    set(&mut v, "/head_commit/message", json!(null));
    assert_eq!(field_error(parse("push", &v, None)), "head_commit.message");
    let mut v = base.clone();
    set(&mut v, "/after", json!(sha(999)));
    assert!(matches!(
        parse("push", &v, None),
        Err(EventError::Inconsistent(_))
    ));
}

// ---------------------------------------------------------------------------------------
// workflow_dispatch, built from the real example
// ---------------------------------------------------------------------------------------

#[test]
fn dispatch_inputs() {
    let v = fixtures::dispatch_event(json!({
        "reason": "INC-77 rotate",
        "scope": "db-read",
        "pull-request": "12",
        "dry-run": false,
    }));
    let r = request(parse("workflow_dispatch", &v, None));
    assert_eq!(
        r,
        EventRequest {
            reason: Some("INC-77 rotate".into()),
            scope: Some("db-read".into()),
            pr_number: Some(12),
            sender: Some(sender_of(&v)),
            ..EventRequest::new(Shape::Dispatch)
        }
    );
    for bad in ["12abc", "#12", "-1", "0", "1e2", " 12"] {
        let v = fixtures::dispatch_event(json!({"reason": "x", "pull-request": bad}));
        assert_eq!(
            field_error(parse("workflow_dispatch", &v, None)),
            "inputs.pull-request",
            "{bad}"
        );
    }
    let v = fixtures::dispatch_event(json!({"reason": false}));
    assert_eq!(
        field_error(parse("workflow_dispatch", &v, None)),
        "inputs.reason"
    );
}

// ---------------------------------------------------------------------------------------
// Wrong types and malformed files, from real payloads
// ---------------------------------------------------------------------------------------

#[test]
fn wrong_types_in_a_real_payload() {
    let base = fixtures::labeled_event("prod-access", Some("Prod-Access: x"), &sha(1));
    let cases = [
        ("/pull_request", json!([]), "pull_request"),
        ("/pull_request/number", json!("2"), "pull_request.number"),
        ("/pull_request/head", json!("main"), "pull_request.head"),
        (
            "/pull_request/head/sha",
            json!(null),
            "pull_request.head.sha",
        ),
        ("/label/name", json!(7), "label.name"),
        ("/sender/id", json!("21031067"), "sender.id"),
    ];
    for (pointer, bad, path) in cases {
        let mut v = base.clone();
        set(&mut v, pointer, bad);
        for event in PR_EVENTS {
            assert_eq!(
                field_error(parse(event, &v, None)),
                path,
                "{event} {pointer}"
            );
        }
    }
}

#[test]
fn malformed_files() {
    let good = bytes(&fixtures::labeled_event(
        "prod-access",
        Some("Prod-Access: x"),
        &sha(1),
    ));
    let truncated = &good[..good.len() / 2];
    // A byte that is not UTF-8 inside the body string.
    let mut non_utf8 = good.clone();
    let at = good
        .windows(12)
        .position(|w| w == b"Prod-Access:")
        .unwrap_or(0);
    non_utf8[at] = 0xff;
    let json_errors: [&[u8]; 4] = [truncated, &non_utf8, b"", b"{\"action\": \"labeled\",}"];
    for payload in json_errors {
        for event in ["pull_request", "push", "workflow_dispatch"] {
            let out = parse_event(event, payload, &keys(), None);
            assert!(matches!(out, Err(EventError::Json(_))), "{event}: {out:?}");
        }
    }
    for payload in [&b"null"[..], b"[]", b"[{}]", b"\"x\"", b"true"] {
        let out = parse_event("pull_request_target", payload, &keys(), None);
        assert!(matches!(out, Err(EventError::NotAnObject)), "{out:?}");
    }
}

#[test]
fn read_event_file_then_parse() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("event.json");
    let v = fixtures::labeled_event("hotfix", Some("Prod-Access: INC-5"), &sha(3));
    std::fs::write(&path, bytes(&v))?;
    let payload = read_event_file(&path)?;
    let r = request(parse_event("pull_request_target", &payload, &keys(), None));
    assert_eq!(
        (r.label.as_deref(), r.reason.as_deref()),
        (Some("hotfix"), Some("INC-5"))
    );
    Ok(())
}
