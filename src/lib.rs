//! prod-access: temporary, just-in-time production access from a CI step.
//!
//! # Architecture
//!
//! Data flow of `grant` (contract §6):
//!
//! ```text
//! inputs + event (hints) -> verified OIDC identity -> policy from the default branch
//!   -> request -> evidence from the forge -> decision (pure) -> mint -> emit (mask first)
//!   -> audit -> exit code          (any failure after the mint revokes first)
//! ```
//!
//! | module | role |
//! | --- | --- |
//! | [`cli`] | clap definitions; every input also read from `INPUT_<NAME>` |
//! | [`exit`] | the exit classes of contract §5 and their codes |
//! | [`error`] | the top-level error and the one mapping to exit codes 0/1/2/3 |
//! | [`secret`] | [`secret::Secret`]: redacted, zeroized, fingerprinted |
//! | [`report`] | one renderer: the decision on the console, the step summary, the PR comment |
//! | [`runner`] | the runner's environment as untrusted hints |
//! | [`event`] | the three request shapes from the event payload; git's trailer rules |
//! | [`identity`] | the job token from the runner, verified against the policy's issuer |
//! | [`oidc`] | the verified job identity |
//! | [`facts`] | the domain: what a decision reads (identity, repository, PR, reviews, run), no I/O |
//! | [`forge`] | forge-neutral facts, the `Forge` trait, the GitHub REST client, evidence gathering |
//! | [`gather`] | the waves: which forge questions to ask ahead, from hints |
//! | [`http`] | the one HTTP client builder: pinned roots, no redirects |
//! | [`no_dumps`] | core dumps off before any secret exists |
//! | [`policy`] | policy v1: raw YAML -> compiled [`policy::Policy`]; JSON Schema |
//! | [`decide`] | the pure decision core: requirements met or unmet |
//! | [`credential`] | trait `Provider` (mint, revoke, sweep); one file per kind (`jwt`) |
//! | [`emit`] | the only writer of stdout, stderr and runner files; escaping of untrusted text |
//! | [`audit`] | the audit record and the PR comment (hidden marker, edit on revoke) |
//! | [`commands`] | orchestration of each subcommand |
//! | [`sim`] | loopback simulators (GitHub REST API, OIDC issuer) shared by `demo` and the tests |
//!
//! The decision core ([`event`], [`policy`], [`decide`], [`emit::escape`]) is synchronous and
//! does no I/O; async lives only at the network edge.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod credential;
pub mod decide;
pub mod emit;
pub mod error;
pub mod event;
pub mod exit;
pub mod facts;
pub mod forge;
pub mod gather;
pub mod http;
pub mod identity;
pub mod no_dumps;
pub mod oidc;
pub mod policy;
pub mod report;
pub mod runner;
pub mod secret;
pub mod sim;
pub mod strict_json;
