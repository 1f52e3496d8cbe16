//! Every unknown key of a policy at once, each with a "did you mean" where a known key is
//! a near miss.
//!
//! serde stops at the first unknown key, so an author fixing a policy would see one key per
//! run. This pass walks the document (read as a JSON value) beside the JSON Schema that
//! [`super::schema`] generates from [`super::raw`] (the same types serde reads, so the two
//! cannot disagree on which keys exist; the binary carries the committed copy, which tests
//! keep equal to the generated one), and names each key the schema does not know. The
//! caller then drops those keys and compiles the rest, so the other problems of the file are
//! reported in the same run.

use std::sync::OnceLock;

use serde_json::Value;

use super::source;

/// An unknown key: where it is and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownKey {
    /// Key path as [`source::child`] builds it.
    pub path: String,
    /// The keys from the document root to it (for removing it from the value).
    pub segments: Vec<String>,
    pub key: String,
    /// The hint: "did you mean ...? expected one of: ...".
    pub expected: String,
}

/// The committed schema ([`super::schema::SCHEMA_PATH`]), compiled in. It is the generated one
/// byte for byte (`policy::schema`'s drift test, and [`tests::the_embedded_schema_is_generated`]
/// here), so schemars and the generator stay out of the binary.
const EMBEDDED_SCHEMA: &str = include_str!("../../schema/prod-access-policy.schema.json");

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    // Unparsable cannot happen (tested); if it did, no hints: serde still refuses the key.
    SCHEMA.get_or_init(|| serde_json::from_str(EMBEDDED_SCHEMA).unwrap_or(Value::Null))
}

/// The schema `node` names, following a local `$ref` (`#/$defs/Name`).
fn resolve(node: &Value) -> &Value {
    let mut node = node;
    // Bounded: the generated schema has no chains of references.
    for _ in 0..8 {
        let Some(name) = node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        else {
            break;
        };
        match schema().get("$defs").and_then(|d| d.get(name)) {
            Some(def) => node = def,
            None => break,
        }
    }
    node
}

/// Every unknown key of `doc`, in document order of the walk.
pub(crate) fn unknown_keys(doc: &Value) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    walk(schema(), doc, "", &mut Vec::new(), &mut out);
    out
}

/// Removes the keys found by [`unknown_keys`] from `doc`.
pub(crate) fn remove(doc: &mut Value, unknown: &[UnknownKey]) {
    for u in unknown {
        let Some((last, parents)) = u.segments.split_last() else {
            continue;
        };
        let pointer: String = parents
            .iter()
            .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
            .collect();
        if let Some(map) = doc.pointer_mut(&pointer).and_then(Value::as_object_mut) {
            map.remove(last);
        }
    }
}

fn walk(
    node: &Value,
    doc: &Value,
    path: &str,
    segments: &mut Vec<String>,
    out: &mut Vec<UnknownKey>,
) {
    let Some(map) = doc.as_object() else {
        return;
    };
    let node = resolve(node);
    // An optional mapping is `anyOf: [mapping, null]`; a credential is `oneOf` several
    // mappings, told apart by `kind`: check against that one.
    let alternatives: Vec<&Value> = match node
        .get("oneOf")
        .or_else(|| node.get("anyOf"))
        .and_then(Value::as_array)
    {
        Some(list) => list.iter().map(resolve).collect(),
        None => vec![node],
    };
    let variants: Vec<&Value> = alternatives
        .into_iter()
        .filter(|v| v.get("properties").is_some() || v.get("additionalProperties").is_some())
        .collect();
    let chosen: Vec<&Value> = if variants.len() > 1 {
        let kind = map.get("kind").and_then(Value::as_str);
        let Some(v) = variants.iter().find(|v| {
            v.pointer("/properties/kind/const").and_then(Value::as_str) == kind && kind.is_some()
        }) else {
            // No or an unknown kind: compile names that problem.
            return;
        };
        vec![*v]
    } else {
        variants.clone()
    };
    for v in &chosen {
        let props = v.get("properties").and_then(Value::as_object);
        let extra = v.get("additionalProperties");
        for (key, value) in map {
            let child = source::child(path, key);
            segments.push(key.clone());
            if let Some(sub) = props.and_then(|p| p.get(key)) {
                walk(sub, value, &child, segments, out);
            } else {
                match extra {
                    Some(Value::Object(sub)) => {
                        walk(&Value::Object(sub.clone()), value, &child, segments, out);
                    }
                    Some(Value::Bool(false)) => {
                        let known: Vec<&str> = props
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        out.push(UnknownKey {
                            path: child,
                            segments: segments.clone(),
                            key: key.clone(),
                            expected: hint(key, &known, &variants, v),
                        });
                    }
                    // `additionalProperties: true` or absent: a free mapping (jwt claims).
                    _ => {}
                }
            }
            segments.pop();
        }
    }
}

/// "did you mean `max_ttl`? expected one of: ..." or, for a key of another credential kind,
/// which keys this kind takes.
fn hint(key: &str, known: &[&str], variants: &[&Value], chosen: &Value) -> String {
    let of_other_kind = variants.len() > 1
        && variants.iter().any(|v| {
            !std::ptr::eq(*v, chosen)
                && v.get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| p.contains_key(key))
        });
    let mut ordered: Vec<&str> = known.to_vec();
    // `kind` first, as a credential is written.
    ordered.sort_by_key(|k| (*k != "kind", *k));
    let list = ordered.join(", ");
    if known.is_empty() {
        return "this mapping takes no keys".into();
    }
    if of_other_kind {
        return format!("it belongs to another credential kind; this kind takes: {list}");
    }
    match did_you_mean(key, known) {
        Some(near) => format!("did you mean `{near}`? expected one of: {list}"),
        None => format!("expected one of: {list}"),
    }
}

/// The known key closest to `key`, if it is a near miss: the same key in another case or
/// with `-` for `_`, or at most two edits away (one for keys of up to four characters).
pub(crate) fn did_you_mean<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let key_n = norm(key);
    let max = if key_n.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (distance(&key_n, &norm(k)), *k))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance where swapping two neighbouring characters is one edit (`form` -> `from`).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_embedded_schema_is_generated() {
        assert_eq!(EMBEDDED_SCHEMA, super::super::schema::schema_json());
        assert!(schema().get("$defs").is_some());
    }

    #[test]
    fn near_misses_are_suggested() {
        let known = ["ttl", "max_ttl", "approvals", "credential"];
        assert_eq!(did_you_mean("max-ttl", &known), Some("max_ttl"));
        assert_eq!(did_you_mean("maxttl", &known), Some("max_ttl"));
        assert_eq!(did_you_mean("max_tll", &known), Some("max_ttl"));
        assert_eq!(did_you_mean("aprovals", &known), Some("approvals"));
        assert_eq!(did_you_mean("TTL", &known), Some("ttl"));
        assert_eq!(did_you_mean("owner", &known), None);
        assert_eq!(did_you_mean("tt", &known), Some("ttl"));
        assert_eq!(did_you_mean("x", &known), None);
        assert_eq!(
            did_you_mean("form", &["fresh", "from", "required"]),
            Some("from")
        );
    }

    #[test]
    fn every_unknown_key_is_found_and_free_mappings_are_not_checked() {
        let doc = json!({
            "version": 1,
            "identty": {},
            "identity": { "claims": { "anything": "x" }, "isuer": "x" },
            "scopes": {
                "db": {
                    "credential": { "kind": "jwt", "audience": "a", "claims": { "free": 1 }, "bogus": 1 },
                    "max-ttl": "1h",
                    "approvals": { "required": 1, "form": [] }
                }
            }
        });
        let found = unknown_keys(&doc);
        let paths: Vec<&str> = found.iter().map(|u| u.path.as_str()).collect();
        for p in [
            "identty",
            "identity.isuer",
            "scopes.db.credential.bogus",
            "scopes.db.max-ttl",
            "scopes.db.approvals.form",
        ] {
            assert!(paths.contains(&p), "{p} not in {paths:?}");
        }
        assert_eq!(found.len(), 5, "{paths:?}");
        let ttl = found.iter().find(|u| u.key == "max-ttl").unwrap();
        assert!(
            ttl.expected.starts_with("did you mean `max_ttl`?"),
            "{ttl:?}"
        );
        let mut cleaned = doc.clone();
        remove(&mut cleaned, &found);
        assert!(unknown_keys(&cleaned).is_empty());
        assert_eq!(cleaned["scopes"]["db"]["credential"]["claims"]["free"], 1);
    }
}
