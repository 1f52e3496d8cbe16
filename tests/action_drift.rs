//! Drift between the GitHub Action's metadata (`action.yml`) and the binary: the inputs it
//! declares are exactly the flags `grant` reads (`InputArgs`, through clap's
//! `CommandFactory`), `revoke` takes exactly its part of them, with the binary's defaults; the outputs are exactly those `grant`
//! writes; it stays a node action with an always-run `post` step and nothing pasted into a
//! shell (attack catalogue row 36). The examples are checked too: every policy validates,
//! every `with:` key of the action is an input, and no `run:` interpolates `${{ }}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use serde::Deserialize;

use prod_access::cli::{ALL_INPUTS, CHECK_INPUTS, Cli, FORGE_INPUTS, input_env_name};
use prod_access::policy::{DEFAULT_AUDIENCE, DEFAULT_POLICY_PATH};

/// The outputs of contract §6.
const CONTRACT_OUTPUTS: [&str; 6] = [
    "requested",
    "granted",
    "grant-id",
    "scope",
    "expires-at",
    "approvers",
];

#[derive(Debug, Deserialize)]
struct Action {
    name: String,
    description: String,
    inputs: BTreeMap<String, Input>,
    outputs: BTreeMap<String, Output>,
    runs: Runs,
}

#[derive(Debug, Deserialize)]
struct Input {
    description: String,
    #[serde(default)]
    default: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Output {
    description: String,
}

#[derive(Debug, Deserialize)]
struct Runs {
    using: String,
    main: String,
    post: Option<String>,
    #[serde(rename = "post-if")]
    post_if: Option<String>,
    steps: Option<serde_json::Value>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn action() -> Action {
    serde_saphyr::from_str(&read(&root().join("action.yml"))).expect("action.yml parses")
}

/// The long flags of a subcommand, without clap's own.
fn flags(sub: &str) -> BTreeSet<String> {
    let cmd = Cli::command();
    let sub = cmd.find_subcommand(sub).expect("subcommand");
    sub.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help" && *l != "version")
        .map(str::to_string)
        .collect()
}

#[test]
fn inputs_are_exactly_the_flags_grant_reads_and_revoke_takes_its_own_part() {
    let declared: BTreeSet<String> = action().inputs.keys().cloned().collect();
    assert_eq!(
        declared,
        flags("grant"),
        "action.yml inputs vs `grant` flags"
    );
    let all: BTreeSet<String> = ALL_INPUTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(declared, all, "action.yml inputs vs cli::ALL_INPUTS");
    // The post step gets every INPUT_* too; `revoke` takes (and reads) only these, and
    // each of them is an input of the action.
    let revoke: BTreeSet<String> = FORGE_INPUTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        flags("revoke"),
        revoke,
        "`revoke` flags vs cli::FORGE_INPUTS"
    );
    assert!(revoke.is_subset(&declared));
    let check: BTreeSet<String> = CHECK_INPUTS.iter().map(|s| s.to_string()).collect();
    assert!(
        check.is_subset(&flags("check")),
        "`check` flags lack an input it reads"
    );
    assert!(check.is_subset(&declared));
    for name in &declared {
        // The runner's INPUT_<NAME> is what InputArgs reads: hyphens kept, no spaces.
        assert!(!name.contains(' '), "{name}: a space would become `_`");
        assert_eq!(
            input_env_name(name),
            format!("INPUT_{}", name.to_uppercase())
        );
    }
}

#[test]
fn input_defaults_are_the_binary_defaults() {
    let a = action();
    let default = |n: &str| a.inputs[n].default.clone().unwrap_or_default();
    assert_eq!(default("github-token"), "${{ github.token }}");
    assert_eq!(default("policy"), DEFAULT_POLICY_PATH);
    assert_eq!(default("audience"), DEFAULT_AUDIENCE);
    assert_eq!(default("dry-run"), "false");
    assert_eq!(default("if-no-request"), "skip");
    // Empty counts as unset for the binary: the scope's ttl, the trailer's reason ...
    for n in ["scope", "reason", "ttl", "pull-request"] {
        assert_eq!(default(n), "", "{n}");
    }
    for (n, i) in &a.inputs {
        assert!(
            !i.description.trim().is_empty(),
            "input {n} has no description"
        );
    }
    assert!(!a.name.is_empty() && !a.description.is_empty());
}

/// The names `grant` writes with `write_outputs(&[("name", ...), ...])`, read from the source.
fn outputs_written_by_grant() -> BTreeSet<String> {
    let src = read(&root().join("src/commands/grant.rs"));
    let mut names = BTreeSet::new();
    for call in src.split("write_outputs(&[").skip(1) {
        let list = &call[..call.find("])").expect("end of the output list")];
        // Each item is a tuple whose first element is the output's name as a literal.
        for item in list.split("(\"").skip(1) {
            let name = &item[..item.find('"').expect("a string literal name")];
            names.insert(name.to_string());
        }
    }
    names
}

#[test]
fn outputs_are_exactly_those_grant_writes() {
    let declared: BTreeSet<String> = action().outputs.keys().cloned().collect();
    let contract: BTreeSet<String> = CONTRACT_OUTPUTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(declared, contract, "action.yml outputs vs contract §6");
    assert_eq!(
        outputs_written_by_grant(),
        contract,
        "src/commands/grant.rs outputs vs contract §6"
    );
    for (n, o) in action().outputs {
        assert!(
            !o.description.trim().is_empty(),
            "output {n} has no description"
        );
    }
}

#[test]
fn it_is_a_node_action_whose_post_step_always_revokes() {
    let runs = action().runs;
    assert_eq!(runs.using, "node24");
    assert_eq!(runs.main, "action/main.js");
    assert_eq!(runs.post.as_deref(), Some("action/post.js"));
    assert_eq!(runs.post_if.as_deref(), Some("always()"));
    assert!(runs.steps.is_none(), "not composite: no steps, no run:");
    for f in [
        &runs.main,
        "action/post.js",
        "action/lib.js",
        "action/checksums.json",
    ] {
        assert!(root().join(f).is_file(), "{f} missing");
    }
    // The only expression in action.yml is the token's default: nothing reaches a shell.
    let text = read(&root().join("action.yml"));
    assert_eq!(
        text.matches("${{").count(),
        1,
        "unexpected ${{{{ }}}} in action.yml"
    );
    assert!(
        !text.lines().any(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l.starts_with("run:") || l.starts_with("shell:")
        }),
        "action.yml has a run:"
    );
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_policy_validates() {
    let policies = yaml_files("examples/policies");
    assert!(policies.len() >= 4, "a policy per example workflow");
    for p in policies {
        let out = Command::new(env!("CARGO_BIN_EXE_prod-access"))
            .args(["check", "--policy-file"])
            .arg(&p)
            .env_clear()
            .output()
            .expect("run prod-access");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}{}",
            p.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn example_workflows_use_declared_inputs_and_never_interpolate_into_run() {
    let inputs: BTreeSet<String> = action().inputs.keys().cloned().collect();
    let mut files = yaml_files("examples/workflows");
    assert!(files.len() >= 4);
    if root().join(".github/workflows").is_dir() {
        files.extend(yaml_files(".github/workflows"));
    }
    let mut uses_action = 0;
    for f in files {
        let wf: serde_json::Value = serde_saphyr::from_str(&read(&f)).expect("workflow parses");
        let jobs = wf["jobs"].as_object().expect("jobs");
        for (job, j) in jobs {
            for step in j["steps"].as_array().into_iter().flatten() {
                if let Some(run) = step["run"].as_str() {
                    assert!(
                        !run.contains("${{"),
                        "{} job {job}: `${{{{ }}}}` inside run: {run}",
                        f.display()
                    );
                }
                let uses = step["uses"].as_str().unwrap_or_default();
                if let Some(rest) = uses.strip_prefix("prod-access/prod-access@") {
                    uses_action += 1;
                    assert!(
                        rest.len() == 40 && rest.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{}: pin the action by full commit sha",
                        f.display()
                    );
                    for key in step["with"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k)
                    {
                        assert!(inputs.contains(key), "{}: unknown input {key}", f.display());
                    }
                } else if !uses.is_empty() && !uses.starts_with("./") {
                    let sha = uses.rsplit('@').next().unwrap_or_default();
                    assert!(
                        sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{}: {uses} is not pinned by full commit sha",
                        f.display()
                    );
                }
            }
        }
    }
    assert!(
        uses_action >= 3,
        "the label, trailer and dispatch examples use the action"
    );
}
