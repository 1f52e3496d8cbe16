//! The README is tested: every YAML block in it is a file of `examples/` (linted by
//! `scripts/lint-workflows`, validated by `tests/action_drift.rs`) or an excerpt of one, so
//! the Quickstart a reader copies is the one CI checks; its links stay inside the
//! repository; the two set-up commands it promises are there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// A fenced block: its info string, its text, and the marker comment above it, if any.
struct Block {
    lang: String,
    text: String,
    marker: Option<String>,
    line: usize,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            let indent = lines[i].len() - trimmed.len();
            let start = i;
            let mut text = String::new();
            i += 1;
            while i < lines.len() && lines[i].trim_start() != "```" {
                text.push_str(lines[i].get(indent..).unwrap_or(lines[i].trim_start()));
                text.push('\n');
                i += 1;
            }
            let marker = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
                .filter(|l| l.starts_with("<!--"));
            out.push(Block {
                lang: lang.trim().to_string(),
                text,
                marker,
                line: start + 1,
            });
        }
        i += 1;
    }
    out
}

fn marked_path(marker: &str, kind: &str) -> Option<String> {
    marker
        .strip_prefix(&format!("<!-- {kind}: "))
        .and_then(|m| m.strip_suffix(" -->"))
        .map(str::to_string)
}

#[test]
fn every_yaml_block_is_an_example_file_or_an_excerpt_of_one() {
    let text = readme();
    let yaml: Vec<Block> = blocks(&text)
        .into_iter()
        .filter(|b| b.lang == "yaml" || b.lang == "yml")
        .collect();
    assert!(
        yaml.len() >= 3,
        "the Quickstart's policy and workflow, the teams step"
    );
    let mut whole_files = Vec::new();
    for b in &yaml {
        let marker = b.marker.as_deref().unwrap_or_else(|| {
            panic!(
                "README.md line {}: a yaml block without `<!-- file: examples/... -->` or \
                 `<!-- excerpt: examples/... -->` above it is not tested",
                b.line
            )
        });
        if let Some(path) = marked_path(marker, "file") {
            assert!(path.starts_with("examples/"), "{path}");
            let file = std::fs::read_to_string(root().join(&path)).unwrap();
            assert!(
                b.text == file,
                "README.md line {}: the block differs from {path}; copy the file into the README",
                b.line
            );
            whole_files.push(path);
        } else if let Some(path) = marked_path(marker, "excerpt") {
            assert!(path.starts_with("examples/"), "{path}");
            let file = std::fs::read_to_string(root().join(&path)).unwrap();
            assert!(
                b.text.lines().count() >= 3 && file.contains(&b.text),
                "README.md line {}: the block is not a run of whole lines of {path}",
                b.line
            );
        } else {
            panic!("README.md line {}: unknown marker {marker}", b.line);
        }
    }
    // The Quickstart is a workflow and its policy, both whole.
    assert!(
        whole_files
            .iter()
            .any(|p| p.starts_with("examples/workflows/"))
    );
    assert!(
        whole_files
            .iter()
            .any(|p| p.starts_with("examples/policies/"))
    );
}

#[test]
fn the_quickstart_policy_names_no_team_the_default_token_cannot_read() {
    // The Quickstart promises one secret: with the job's GITHUB_TOKEN, a team rule is exit 2.
    let text = readme();
    let policy = blocks(&text)
        .into_iter()
        .find(|b| {
            b.marker
                .as_deref()
                .and_then(|m| marked_path(m, "file"))
                .is_some_and(|p| p.starts_with("examples/policies/"))
        })
        .unwrap();
    assert!(!policy.text.contains("\"@"), "{}", policy.text);
    let workflow = blocks(&text)
        .into_iter()
        .find(|b| {
            b.marker
                .as_deref()
                .and_then(|m| marked_path(m, "file"))
                .is_some_and(|p| p.starts_with("examples/workflows/"))
        })
        .unwrap();
    assert!(
        !workflow.text.contains("github-token:"),
        "the Quickstart uses the default token"
    );
    assert_eq!(
        workflow.text.matches("secrets.").count(),
        1,
        "one secret:\n{}",
        workflow.text
    );
}

/// Files another change of issue 14 adds (project files); a link to one is fine before it
/// lands, and checked like any other once it exists.
const ADDED_ELSEWHERE: [&str; 6] = [
    "LICENSE",
    "SECURITY.md",
    "CHANGELOG.md",
    "CONTRIBUTING.md",
    "docs/README.md",
    "docs/troubleshooting.md",
];

#[test]
fn links_stay_inside_the_repository() {
    let text = readme();
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut n = 0;
    for cap in link.captures_iter(&text) {
        let target = &cap[1];
        n += 1;
        if let Some(anchor) = target.strip_prefix('#') {
            let heading = text.lines().any(|l| {
                l.starts_with('#')
                    && l.trim_start_matches('#')
                        .trim()
                        .to_lowercase()
                        .replace(' ', "-")
                        .chars()
                        .filter(|c| c.is_alphanumeric() || *c == '-')
                        .collect::<String>()
                        == anchor
            });
            assert!(heading, "README.md links to a missing heading #{anchor}");
            continue;
        }
        assert!(
            !target.contains("://") && !target.starts_with('/') && !target.contains(".."),
            "README.md links outside the repository: {target}"
        );
        let path = target.split('#').next().unwrap_or(target);
        assert!(
            Path::new(&root().join(path)).exists() || ADDED_ELSEWHERE.contains(&path),
            "README.md links to a missing file: {path}"
        );
    }
    assert!(n > 10);
}

#[test]
fn the_two_set_up_commands_are_there() {
    let text = readme();
    let sh: String = blocks(&text)
        .into_iter()
        .filter(|b| b.lang == "sh")
        .map(|b| b.text)
        .collect();
    assert!(sh.contains("cargo run --quiet -- demo"));
    assert!(sh.contains("scripts/test"));
    assert!(root().join("scripts/test").is_file());
    // What the README is about comes first; status and contributor commands after.
    let quickstart = text.find("## Quickstart").unwrap();
    let status = text.find("## Status").unwrap();
    let contributing = text.find("## Contributing").unwrap();
    assert!(quickstart < status && status < contributing);
}
