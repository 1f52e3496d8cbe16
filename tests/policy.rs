//! The policy language through the crate's public API: the shipped example, the committed
//! schema, the documented error ids, and the limits on hostile input.

use std::path::Path;
use std::time::Duration;

use prod_access::policy::{self, PolicyError, duration, load_policy, load_policy_all_errors};

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    match std::fs::read_to_string(&full) {
        Ok(text) => text,
        Err(e) => panic!("cannot read {}: {e}", full.display()),
    }
}

#[test]
fn shipped_example_is_valid() {
    let text = read("examples/policy.yml");
    let policy = match load_policy(&text) {
        Ok(policy) => policy,
        Err(e) => panic!("examples/policy.yml: {e}"),
    };
    assert!(policy.scopes.contains_key("db-read"));
    assert_eq!(policy.identity.issuer, policy::DEFAULT_ISSUER);
    assert_eq!(policy.scopes["db-read"].max_ttl, Duration::from_secs(3600));
    // The example points editors at the committed schema.
    assert!(
        text.starts_with(
            "# yaml-language-server: $schema=../schema/prod-access-policy.schema.json"
        )
    );
}

#[test]
fn committed_schema_is_json_and_current() {
    let text = read(policy::schema::SCHEMA_PATH);
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
    assert!(
        text == policy::schema::schema_json(),
        "refresh with UPDATE_SCHEMA=1 cargo test --lib policy::schema"
    );
}

#[test]
fn every_error_id_is_documented() {
    let docs = read("docs/policy.md");
    for id in PolicyError::IDS {
        assert!(
            docs.contains(&format!("| `{id}` |")),
            "docs/policy.md lacks a row for {id}"
        );
    }
}

#[test]
fn hostile_inputs_are_configuration_errors() {
    // 9 levels of 9-fold aliases.
    let mut bomb = String::from(
        "version: 1\nscopes: {}\nproviders:\n  ssh:\n    ca_key_env: &a0 [x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        bomb.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
    }
    let big = format!("version: 1\nscopes: {{}}\n{}", "#".repeat(10 * 1024 * 1024));
    for (text, id) in [
        (bomb.as_str(), "config.too_complex"),
        (big.as_str(), "config.too_large"),
        ("version: 1\nscopes:\n\tx: {}\n", "config.yaml"),
    ] {
        match load_policy_all_errors(text) {
            Ok(_) => panic!("accepted: {}", &text[..text.len().min(80)]),
            Err(errors) => {
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].id(), id, "{}", errors[0]);
            }
        }
    }
}

#[test]
fn request_ttl_uses_the_same_parser() {
    assert_eq!(duration::parse("1h30m"), Ok(Duration::from_secs(5400)));
    for bad in ["99999999999h", "-5m", "0s", "15", "1e3m", "999999h"] {
        assert!(duration::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(duration::format(Duration::from_secs(5400)), "1h30m");
}
