//! The JSON Schema of the policy file, generated from [`super::raw`].
//!
//! The committed copy, `schema/prod-access-policy.schema.json`, is what editors use (e.g.
//! with a `# yaml-language-server: $schema=...` comment); a test fails when it differs from
//! what the code produces. Refresh it with
//! `UPDATE_SCHEMA=1 cargo test --lib policy::schema`. The binary does not run this generator:
//! [`super::keys`] compiles the committed copy in (schemars is a build of the schema files
//! and of the tests, not of the binary).
//!
//! The schema describes the shape (keys, types, defaults, descriptions). Rules between keys
//! (`ttl` at most `max_ttl`, labels naming existing scopes, ...) are checked only by
//! [`super::compile`]: a policy the schema accepts can still be refused.

use super::raw::RawPolicy;

/// Path of the committed schema, relative to the crate root.
pub const SCHEMA_PATH: &str = "schema/prod-access-policy.schema.json";

/// The schema as pretty-printed JSON with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(RawPolicy);
    format!("{:#}\n", schema.as_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
        let want = schema_json();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            if let Err(e) = std::fs::write(&path, &want) {
                panic!("cannot write {}: {e}", path.display());
            }
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{SCHEMA_PATH} differs from the schema the code produces; refresh it with\n  \
             UPDATE_SCHEMA=1 cargo test --lib policy::schema\nand commit the result"
        );
    }

    #[test]
    fn schema_describes_the_policy() {
        let schema: serde_json::Value = match serde_json::from_str(&schema_json()) {
            Ok(schema) => schema,
            Err(e) => panic!("the schema is not JSON: {e}"),
        };
        let text = schema.to_string();
        for key in [
            "version",
            "identity",
            "scopes",
            "providers",
            "break_glass",
            "allow_forks",
            "reason_pattern",
            "connection_limit",
            "force_command",
            "ca_key_env",
        ] {
            assert!(text.contains(&format!("\"{key}\"")), "{key} missing");
        }
        assert_eq!(schema["required"], serde_json::json!(["version", "scopes"]));
        assert_eq!(schema["additionalProperties"], serde_json::json!(false));
        assert!(schema_json().ends_with("}\n"));
    }
}
