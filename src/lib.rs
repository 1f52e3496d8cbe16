//! prod-access: temporary, just-in-time production access from a CI step.
//!
//! # Architecture
//!
//! Data flow of `grant` (contract §6), one way:
//!
//! ```text
//! inputs + event file (hints) -> the waves (gather): forge answers and the job token fetched
//!   ahead by hints -> confirmed facts (facts: verified identity, repository, PR, reviews, run)
//!   -> decision (decide, pure: a typed Verdict) -> mint (credential) -> emit (mask first)
//!   -> audit (report: comment, summary) -> exit code (error)
//!   (any failure, panic or signal after the mint revokes first; every exit writes the trail)
//! ```
//!
//! Floors, imports only ever going down (no module circle):
//!
//! | floor | module | role |
//! | --- | --- | --- |
//! | top | [`commands`] | orchestration of each subcommand (`grant` keeps the one audit trail) |
//! | | [`cli`] | clap definitions; every input also read from `INPUT_<NAME>` |
//! | | [`error`] | the top-level error: module errors in, the one mapping to exit codes and help |
//! | | [`identity`] | the job token from the runner, verified against the policy's issuer |
//! | orchestration | [`gather`] | the evidence a decision needs, and the waves that fetch it ahead |
//! | rendering | [`report`] | one renderer: the decision on the console, the step summary, the PR comment |
//! | network edge | [`forge`] | the `Forge` trait, the GitHub REST client, the `Memo` of answers fetched ahead |
//! | | [`oidc`] | discovery, key sets, and job tokens verified by [`jose`] (RS256, `identity.*`) |
//! | | [`http`] | the one HTTP client (pinned roots, no redirects), capped reads |
//! | | [`credential`] | trait `Provider` (mint, revoke, sweep); one file per kind |
//! | | [`sim`] | loopback simulators (GitHub REST API, OIDC issuer) for `demo` and the tests |
//! | pure core | [`decide`] | the requirements as one table, each rule met or unmet; the `Verdict` |
//! | | [`event`] | the three request shapes from the event payload; git's trailer rules |
//! | | [`policy`] | policy v1: raw YAML -> compiled [`policy::Policy`]; JSON Schema |
//! | | [`jose`] | the one JWT/JWKS verifier, parameterised by algorithms (job tokens and `verify`) |
//! | | [`audit`] | the audit record and its hidden marker |
//! | | [`emit`] | the only writer of stdout, stderr and runner files; escaping of untrusted text |
//! | domain | [`facts`] | what a decision reads: identity, repository, PR, reviews, run, users by id |
//! | base | [`exit`], [`secret`], [`runner`], [`strict_json`], [`text`], [`url_rules`], [`no_dumps`] | exit classes, secrets, runner hints, duplicate-key-free JSON, RFC 3339 times and short shas, the URL rules (https or loopback, no userinfo, no parser differential), no core dumps |
//!
//! The decision core imports no I/O module ([`decide`] reads [`facts`], [`event`],
//! [`policy`] and [`runner`] hints only); async lives only at the network edge.

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
pub mod jose;
pub mod no_dumps;
pub mod oidc;
pub mod policy;
pub mod report;
pub mod runner;
pub mod secret;
pub mod sim;
pub mod strict_json;
pub mod text;
pub mod url_rules;
