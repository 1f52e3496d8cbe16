//! Fixtures from GitHub's own packages (see `tests/fixtures/npm/README.md`).
//!
//! - Webhook payloads from `@octokit/webhooks-examples`: [`webhook_examples`],
//!   [`webhook_example`], [`webhook_variants`].
//! - REST example responses from `@octokit/openapi`: [`openapi_example`] by operation id,
//!   and one accessor per endpoint prod-access reads ([`api_pull_request`], ...).
//! - Scenario builders that start from a real payload and change only what the scenario is
//!   about ([`labeled_event`], [`synchronize_event`], [`push_event`], [`dispatch_event`]),
//!   with [`set`] / [`remove`] for further edits by JSON pointer.
//!
//! A missing fixture folder fails the test with the command that installs it: these tests
//! never skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Value, json};

/// The command that installs the fixtures (CI runs it before `cargo test`).
pub const INSTALL_HINT: &str = "npm ci --prefix tests/fixtures/npm --no-audit --no-fund";

/// The API variant of the webhook examples used by default.
pub const DOTCOM: &str = "api.github.com";

/// `tests/fixtures/npm/node_modules/@octokit`, or a panic that says how to install it.
pub fn octokit_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npm/node_modules/@octokit");
    for package in ["webhooks-examples", "openapi"] {
        if !dir.join(package).join("package.json").is_file() {
            panic!(
                "fixture package @octokit/{package} is missing under {}: run `{INSTALL_HINT}` \
                 from the repository root (the tests never skip without it)",
                dir.display()
            );
        }
    }
    dir
}

fn load_json(path: &Path) -> Value {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; run `{INSTALL_HINT}`", path.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}; run `{INSTALL_HINT}`", path.display()))
}

fn version_of(package: &str) -> String {
    let v = load_json(&octokit_dir().join(package).join("package.json"));
    v["version"].as_str().unwrap_or("?").to_owned()
}

/// The installed versions, for messages: `(webhooks-examples, openapi)`.
pub fn versions() -> (String, String) {
    (version_of("webhooks-examples"), version_of("openapi"))
}

// ---------------------------------------------------------------------------------------
// Webhook examples
// ---------------------------------------------------------------------------------------

/// The API variants the package has examples for: `api.github.com`, `ghes-31`, ...
pub fn webhook_variants() -> Vec<String> {
    let dir = octokit_dir().join("webhooks-examples");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("index.json").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    out.sort();
    assert!(
        out.iter().any(|v| v == DOTCOM),
        "no {DOTCOM}/index.json in {}",
        dir.display()
    );
    out
}

/// The package's index for one variant: `[{name, description, actions, properties,
/// examples}]`. Every variant is read once per test binary (about 10 MB in all).
fn webhook_index(variant: &str) -> &'static Value {
    static INDEXES: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    let indexes = INDEXES.get_or_init(|| {
        let dir = octokit_dir().join("webhooks-examples");
        webhook_variants()
            .into_iter()
            .map(|v| {
                let index = load_json(&dir.join(&v).join("index.json"));
                (v, index)
            })
            .collect()
    });
    indexes
        .get(variant)
        .unwrap_or_else(|| panic!("no webhooks-examples variant {variant}"))
}

/// Every example payload of an event (`pull_request`, `push`, ...) for one API variant;
/// empty when the package has none for that event.
pub fn webhook_examples_in(variant: &str, event: &str) -> Vec<Value> {
    let index = webhook_index(variant);
    let entries = index
        .as_array()
        .unwrap_or_else(|| panic!("webhooks-examples {variant}/index.json is not an array"));
    entries
        .iter()
        .filter(|e| e["name"] == event)
        .flat_map(|e| e["examples"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Every `api.github.com` example payload of an event.
pub fn webhook_examples(event: &str) -> Vec<Value> {
    webhook_examples_in(DOTCOM, event)
}

/// The first `api.github.com` example of an event with that `action` (`None`: the first
/// example, for events without actions such as `push`). Panics if there is none.
pub fn webhook_example(event: &str, action: Option<&str>) -> Value {
    webhook_examples(event)
        .into_iter()
        .find(|e| action.is_none_or(|a| e["action"] == a))
        .unwrap_or_else(|| panic!("no {event} example with action {action:?} in webhooks-examples"))
}

// ---------------------------------------------------------------------------------------
// OpenAPI examples
// ---------------------------------------------------------------------------------------

/// `generated/api.github.com.json`, parsed once per test binary (13 MB).
pub fn openapi_spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| load_json(&octokit_dir().join("openapi/generated/api.github.com.json")))
}

/// `components.examples[name].value`.
pub fn openapi_component_example(name: &str) -> Value {
    let example = &openapi_spec()["components"]["examples"][name];
    match example.get("value") {
        Some(v) => v.clone(),
        None => panic!("no components.examples.{name}.value in @octokit/openapi"),
    }
}

/// The operation with that `operationId` (`pulls/get`): `(path, method, operation)`.
pub fn openapi_operation(operation_id: &str) -> (String, String, &'static Value) {
    let paths = openapi_spec()["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("@octokit/openapi has no paths"));
    for (path, item) in paths {
        let Some(methods) = item.as_object() else {
            continue;
        };
        for (method, op) in methods {
            if op.get("operationId").and_then(Value::as_str) == Some(operation_id) {
                return (path.clone(), method.clone(), op);
            }
        }
    }
    panic!("no operation {operation_id} in @octokit/openapi")
}

/// The example response of an operation: status 200, `application/json`, the example
/// named `example` (or the first one), with `$ref`s into `components.examples` resolved.
pub fn openapi_example_named(operation_id: &str, example: Option<&str>) -> Value {
    let (path, method, op) = openapi_operation(operation_id);
    let examples = op["responses"]["200"]["content"]["application/json"]["examples"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path}: no 200 application/json examples"));
    let chosen = match example {
        Some(name) => examples
            .get(name)
            .unwrap_or_else(|| panic!("{method} {path}: no example {name}")),
        None => examples
            .values()
            .next()
            .unwrap_or_else(|| panic!("{method} {path}: no example")),
    };
    match chosen.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/examples/")
                .unwrap_or_else(|| panic!("{method} {path}: unexpected $ref {r}"));
            openapi_component_example(name)
        }
        None => chosen
            .get("value")
            .cloned()
            .unwrap_or_else(|| panic!("{method} {path}: example without value")),
    }
}

/// The first 200 `application/json` example response of an operation (`pulls/get`).
pub fn openapi_example(operation_id: &str) -> Value {
    openapi_example_named(operation_id, None)
}

/// `GET /repos/{o}/{r}/pulls/{n}`.
pub fn api_pull_request() -> Value {
    openapi_example("pulls/get")
}

/// `GET /repos/{o}/{r}/pulls/{n}/reviews` (a list).
pub fn api_reviews() -> Value {
    openapi_example("pulls/list-reviews")
}

/// `GET /repos/{o}/{r}/collaborators/{u}/permission`.
pub fn api_collaborator_permission() -> Value {
    openapi_example("repos/get-collaborator-permission-level")
}

/// `GET /orgs/{org}/teams/{team}/memberships/{u}`.
pub fn api_team_membership() -> Value {
    openapi_example("teams/get-membership-for-user-in-org")
}

/// `GET /repos/{o}/{r}/issues/{n}/events` (a list).
pub fn api_issue_events() -> Value {
    openapi_example("issues/list-events")
}

/// `GET /repos/{o}/{r}/commits/{sha}`.
pub fn api_commit() -> Value {
    openapi_example("repos/get-commit")
}

/// `GET /repos/{o}/{r}/commits/{sha}/pulls` (a list).
pub fn api_commit_pulls() -> Value {
    openapi_example("repos/list-pull-requests-associated-with-commit")
}

/// `GET /repos/{o}/{r}/actions/runs/{run_id}`.
pub fn api_workflow_run() -> Value {
    openapi_example("actions/get-workflow-run")
}

/// `GET /repos/{o}/{r}/actions/runs/{run_id}/approvals` (a list).
pub fn api_run_approvals() -> Value {
    openapi_example("actions/get-reviews-for-run")
}

/// `GET /repos/{o}/{r}`.
pub fn api_repository() -> Value {
    openapi_example("repos/get")
}

/// `GET /repos/{o}/{r}/contents/{path}` for a file (base64 `content`).
pub fn api_content_file() -> Value {
    openapi_example_named("repos/get-content", Some("response-if-content-is-a-file"))
}

// ---------------------------------------------------------------------------------------
// Editing payloads
// ---------------------------------------------------------------------------------------

/// Sets the value at a JSON pointer (`/pull_request/head/sha`), creating the last key of
/// an object if needed. Panics if the parent does not exist: a scenario that edits a field
/// the example lacks is a broken scenario.
pub fn set(v: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = new;
        return;
    }
    let (parent, key) = pointer
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("bad JSON pointer {pointer:?}"));
    match v.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key.replace("~1", "/").replace("~0", "~"), new);
        }
        _ => panic!("no object at {parent:?} to set {key:?} in"),
    }
}

/// Removes the key at a JSON pointer; panics if it was not there.
pub fn remove(v: &mut Value, pointer: &str) -> Value {
    let (parent, key) = pointer
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("bad JSON pointer {pointer:?}"));
    match v.pointer_mut(parent) {
        Some(Value::Object(map)) => map
            .remove(key)
            .unwrap_or_else(|| panic!("no {key:?} at {parent:?}")),
        _ => panic!("no object at {parent:?}"),
    }
}

/// The payload as the runner writes it to `GITHUB_EVENT_PATH`.
pub fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_else(|e| panic!("serialise: {e}"))
}

/// A 40-hex sha made from a small number, distinct from the examples' shas.
pub fn sha(n: u32) -> String {
    format!("{n:040x}")
}

// ---------------------------------------------------------------------------------------
// Scenarios built from real payloads
// ---------------------------------------------------------------------------------------

/// The real `pull_request` `labeled` example with the label, body and head sha replaced
/// (`body: None` is a PR without description, as GitHub sends it: `null`).
pub fn labeled_event(label: &str, body: Option<&str>, head_sha: &str) -> Value {
    let mut v = webhook_example("pull_request", Some("labeled"));
    set(&mut v, "/label/name", json!(label));
    set(&mut v, "/pull_request/body", json!(body));
    set(&mut v, "/pull_request/head/sha", json!(head_sha));
    v
}

/// The real `pull_request` `synchronize` example with its head sha replaced.
pub fn synchronize_event(head_sha: &str) -> Value {
    let mut v = webhook_example("pull_request", Some("synchronize"));
    set(&mut v, "/pull_request/head/sha", json!(head_sha));
    v
}

/// The first real branch `push` example that carries a head commit, with the pushed commits
/// replaced: `older` messages first, then the head commit with `head_message`.
/// Shas are [`sha`]`(1..)`, the head's last; `after` follows the head.
pub fn push_event(head_message: &str, older: &[&str]) -> Value {
    let mut v = webhook_examples("push")
        .into_iter()
        .find(|e| {
            e["head_commit"].is_object()
                && e["deleted"] == false
                && e["ref"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("refs/heads/"))
        })
        .unwrap_or_else(|| panic!("no branch push example with a head commit"));
    let template = v["head_commit"].clone();
    let commit = |id: String, message: &str| {
        let mut c = template.clone();
        set(&mut c, "/id", json!(id));
        set(&mut c, "/tree_id", json!(sha(9999)));
        set(&mut c, "/message", json!(message));
        c
    };
    let mut commits: Vec<Value> = older
        .iter()
        .enumerate()
        .map(|(i, m)| commit(sha(i as u32 + 1), m))
        .collect();
    let head_id = sha(older.len() as u32 + 1);
    let head = commit(head_id.clone(), head_message);
    commits.push(head.clone());
    set(&mut v, "/commits", Value::Array(commits));
    set(&mut v, "/head_commit", head);
    set(&mut v, "/after", json!(head_id));
    v
}

/// The first real `push` example that deleted a ref (`deleted: true`, `head_commit: null`).
pub fn deleted_branch_push() -> Value {
    webhook_examples("push")
        .into_iter()
        .find(|e| e["deleted"] == true && e["head_commit"].is_null())
        .unwrap_or_else(|| panic!("no push example that deletes a ref"))
}

/// The real `workflow_dispatch` example with `inputs` replaced.
pub fn dispatch_event(inputs: Value) -> Value {
    let mut v = webhook_example("workflow_dispatch", None);
    set(&mut v, "/inputs", inputs);
    v
}

/// One item of `GET /repos/{o}/{r}/issues/{n}/events`, made a `labeled` event: the
/// example list holds only a `closed` event, so its first item is edited (`event`,
/// `label`, `actor`, `created_at`); every other field stays GitHub's.
pub fn api_labeled_issue_event(label: &str, actor: &str, actor_id: u64, created_at: &str) -> Value {
    let mut item = match api_issue_events() {
        Value::Array(items) => items
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("issues/list-events example is empty")),
        other => panic!("issues/list-events example is not a list: {other}"),
    };
    set(&mut item, "/event", json!("labeled"));
    set(
        &mut item,
        "/label",
        json!({"name": label, "color": "d73a4a"}),
    );
    set(&mut item, "/actor/login", json!(actor));
    set(&mut item, "/actor/id", json!(actor_id));
    set(&mut item, "/created_at", json!(created_at));
    item
}
