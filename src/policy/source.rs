//! Where each key of the policy text sits: key paths (`scopes.db-read.ttl`) and their lines.
//!
//! serde-saphyr reports a line and column with each error, but not the key path, and the
//! compile step needs the line of keys whose values it checks. This module reads the same
//! text (with the same budget) into a tree of [`Spanned`] nodes and flattens it into a list
//! of entries in document order, each with its key path, the position of its key and the
//! position of its value. From that list an error's position maps back to a key path, and a
//! key path maps to its line.
//!
//! Inside a value copied by an alias (`*name`), every node reports the alias's position:
//! that is where the value is used.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// Longest scalar value accepted (8 KiB). No policy value comes near it; the cap bounds the
/// memory an alias can multiply (each replay of a scalar is a new string in the raw types).
pub(crate) const MAX_SCALAR_BYTES: usize = 8 * 1024;

/// Longest mapping key accepted (256 bytes).
pub(crate) const MAX_KEY_BYTES: usize = 256;

/// Longest key path kept. A longer path (only possible in absurdly nested input) is cut,
/// shown with `…` and not indexed: it still names the place of an error, but a lookup by
/// path finds nothing rather than a wrong line. SECURITY: without the cap, a long chain of
/// keys above a wide mapping would be copied into every entry below it.
const MAX_PATH_BYTES: usize = 512;

/// Prefix of the errors this module raises for its own limits, so that the caller can tell
/// them from other custom errors.
pub(crate) const LIMIT_PREFIX: &str = "limit: ";

/// A line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub fn from_location(location: &Location) -> Option<Pos> {
        let (line, column) = (location.line(), location.column());
        (line > 0).then_some(Pos {
            line: usize::try_from(line).unwrap_or(usize::MAX),
            column: usize::try_from(column).unwrap_or(usize::MAX),
        })
    }
}

/// One key (or sequence item) of the document.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Key path as [`child`] and [`item`] build it; empty for the document itself.
    pub path: String,
    /// The key's text (for a sequence item: its index).
    pub key: String,
    /// Number of segments in the path.
    pub depth: usize,
    /// Position of the key; `None` for sequence items and the document.
    pub key_pos: Option<Pos>,
    /// Position of the value.
    pub value_pos: Option<Pos>,
    /// Index of the parent entry; `None` for the document.
    pub parent: Option<usize>,
}

/// The flattened document: entries in document order and an index by path.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    entries: Vec<Entry>,
    by_path: HashMap<String, usize>,
}

/// Appends a mapping key to a path: `scopes` + `db-read` = `scopes.db-read`. Keys that are
/// not plain (`[A-Za-z0-9_-]+`) are quoted and escaped: `request.labels."needs review"`.
pub(crate) fn child(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if plain {
        key.to_string()
    } else {
        format!("\"{}\"", key.escape_debug())
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// Appends a sequence index to a path: `approvals.from` + 1 = `approvals.from[1]`.
pub(crate) fn item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

impl SourceMap {
    /// Reads `text` with `options`. Fails where the YAML itself is unreadable or over budget.
    pub fn parse(text: &str, options: serde_saphyr::Options) -> Result<Self, serde_saphyr::Error> {
        let root: Spanned<Node> = serde_saphyr::from_str_with_options(text, options)?;
        let mut map = SourceMap::default();
        map.push(
            Entry {
                path: String::new(),
                key: String::new(),
                depth: 0,
                key_pos: None,
                value_pos: Pos::from_location(&root.referenced),
                parent: None,
            },
            &root.value,
        );
        Ok(map)
    }

    fn push(&mut self, mut entry: Entry, node: &Node) {
        let index = self.entries.len();
        if entry.path.len() > MAX_PATH_BYTES {
            let mut cut = MAX_PATH_BYTES;
            while !entry.path.is_char_boundary(cut) {
                cut -= 1;
            }
            entry.path.truncate(cut);
            entry.path.push('…');
        } else {
            // The first entry of a path wins: a later duplicate is an error anyway.
            self.by_path.entry(entry.path.clone()).or_insert(index);
        }
        let (path, depth) = (entry.path.clone(), entry.depth);
        self.entries.push(entry);
        match node {
            Node::Scalar => {}
            Node::Map(pairs) => {
                for (key, value) in pairs {
                    self.push(
                        Entry {
                            path: child(&path, &key.value),
                            key: key.value.0.clone(),
                            depth: depth + 1,
                            key_pos: Pos::from_location(&key.referenced),
                            value_pos: Pos::from_location(&value.referenced),
                            parent: Some(index),
                        },
                        &value.value,
                    );
                }
            }
            Node::Seq(items) => {
                for (i, value) in items.iter().enumerate() {
                    self.push(
                        Entry {
                            path: item(&path, i),
                            key: i.to_string(),
                            depth: depth + 1,
                            key_pos: None,
                            value_pos: Pos::from_location(&value.referenced),
                            parent: Some(index),
                        },
                        &value.value,
                    );
                }
            }
        }
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn entry(&self, index: usize) -> Option<&Entry> {
        self.entries.get(index)
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.by_path.get(path).and_then(|i| self.entries.get(*i))
    }

    /// The line of the key at `path` (of the value for a sequence item), if the key exists.
    pub fn line(&self, path: &str) -> Option<usize> {
        self.get(path)
            .and_then(|e| e.key_pos.or(e.value_pos))
            .map(|p| p.line)
    }

    /// The keys directly under `path`, in document order.
    pub fn children<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a Entry> + 'a {
        let parent = self.by_path.get(path).copied();
        self.entries
            .iter()
            .filter(move |e| parent.is_some() && e.parent == parent)
    }

    /// The entry an error at `pos` is about. `key_first`: the error is about a key (unknown,
    /// duplicate, missing under it); otherwise about a value (wrong type). A block mapping
    /// starts where its first key starts, so the same position can be both the value of one
    /// entry and the key of its first child; the error's kind decides. Among several matches
    /// the deepest wins.
    pub fn at(&self, pos: Pos, key_first: bool) -> Option<&Entry> {
        let by_key = || {
            self.entries
                .iter()
                .filter(|e| e.key_pos == Some(pos))
                .max_by_key(|e| e.depth)
        };
        let by_value = || {
            self.entries
                .iter()
                .filter(|e| e.value_pos == Some(pos))
                .max_by_key(|e| e.depth)
        };
        if key_first {
            by_key().or_else(by_value)
        } else {
            by_value().or_else(by_key)
        }
    }
}

fn scalar_len<E: de::Error>(len: usize) -> Result<Node, E> {
    if len > MAX_SCALAR_BYTES {
        return Err(E::custom(format!(
            "{LIMIT_PREFIX}a value is longer than {MAX_SCALAR_BYTES} bytes"
        )));
    }
    Ok(Node::Scalar)
}

fn key_len<E: de::Error>(len: usize) -> Result<(), E> {
    if len > MAX_KEY_BYTES {
        return Err(E::custom(format!(
            "{LIMIT_PREFIX}a key is longer than {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

/// A node of the document, with just the structure the map needs.
#[derive(Debug)]
enum Node {
    Scalar,
    Map(Vec<(Spanned<KeyText>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_char<E>(self, _: char) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        scalar_len(v.len())
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        scalar_len(v.len())
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut pairs = Vec::new();
        while let Some(pair) = map.next_entry()? {
            pairs.push(pair);
        }
        Ok(Node::Map(pairs))
    }
}

/// A mapping key as text. Scalars keep their text; a collection used as a key (which no
/// policy key is) becomes a placeholder, so that the serde error about it still gets a path.
#[derive(Debug)]
struct KeyText(String);

impl std::ops::Deref for KeyText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = KeyText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }
    fn visit_char<E>(self, v: char) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
        key_len(v.len())?;
        Ok(KeyText(v.to_string()))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<KeyText, E> {
        key_len(v.len())?;
        Ok(KeyText(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E>(self) -> Result<KeyText, E> {
        Ok(KeyText("~".into()))
    }
    fn visit_none<E>(self) -> Result<KeyText, E> {
        Ok(KeyText("~".into()))
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<KeyText, D::Error> {
        KeyText::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyText, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(KeyText("<sequence>".into()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyText, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(KeyText("<mapping>".into()))
    }
}
