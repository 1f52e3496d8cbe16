//! Figures for the decision core: `cargo bench --bench core` prints the time per call of
//! policy compilation, trailer parsing, event parsing and the decision on large inputs.
//! Under `cargo test` (no `--bench` argument) each case runs once, as a smoke test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use prod_access::decide::{DecisionInput, RequestInputs, decide, resolve_request};
use prod_access::event::{EventOutcome, RequestKeys, parse_event, trailers};
use prod_access::forge::{Evidence, Permission, Review, ReviewState, UserRef};
use prod_access::oidc::VerifiedIdentity;
use prod_access::policy::load_policy;
use prod_access::runner::RunnerHints;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `f` repeatedly for about `budget` and prints the mean time per call.
fn bench(name: &str, full: bool, mut f: impl FnMut()) {
    if !full {
        f();
        println!("{name}: ok (smoke)");
        return;
    }
    f();
    let budget = Duration::from_millis(700);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    let per = start.elapsed() / u32::try_from(n).unwrap_or(u32::MAX);
    println!("{name:<48} {per:>12.2?} per call ({n} calls)");
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let policy_text = std::fs::read_to_string(root().join("examples/policy.yml")).unwrap();
    bench("policy: compile examples/policy.yml", full, || {
        black_box(load_policy(black_box(&policy_text)).unwrap());
    });

    let long_message = format!(
        "Fix\n\n{}\n\nProd-Access: INC-1\nSigned-off-by: a <a@b>\n",
        "word ".repeat(20_000)
    );
    bench("trailers: 100 KB message", full, || {
        black_box(trailers::parse(black_box(&long_message)));
    });

    let scenario: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/scenarios/label-approved.json")).unwrap(),
    )
    .unwrap();
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/scenarios/events/pr-labeled.json")).unwrap(),
    )
    .unwrap();
    event["pull_request"]["body"] =
        serde_json::json!(format!("{}\n\nProd-Access: INC-4711", "x".repeat(1 << 20)));
    let payload = serde_json::to_vec(&event).unwrap();
    let policy = load_policy(&policy_text).unwrap();
    let keys = RequestKeys {
        trailer: policy.request.trailer.clone(),
        scope_trailer: policy.request.scope_trailer.clone(),
        labels: policy.request.labels.keys().cloned().collect(),
    };
    bench("event: 1 MB pull_request_target payload", full, || {
        black_box(parse_event("pull_request_target", black_box(&payload), &keys, None).unwrap());
    });

    let identity =
        VerifiedIdentity::from_verified_claims(scenario["claims"].as_object().unwrap().clone())
            .unwrap();
    let mut evidence: Evidence = serde_json::from_value(scenario["evidence"].clone()).unwrap();
    let head = evidence.pull_request.as_ref().unwrap().head_sha.clone();
    // 2,500 reviews by 500 users, every state, the only valid approval last.
    let mut reviews = Vec::new();
    for i in 0..2_500u64 {
        let user = UserRef::new(format!("user{}", i % 500), Some(10_000 + i % 500));
        evidence.permissions.insert(user.key(), Permission::Write);
        reviews.push(Review {
            id: i,
            user: Some(user),
            state: match i % 4 {
                0 => ReviewState::Commented,
                1 => ReviewState::Dismissed,
                2 => ReviewState::Approved,
                _ => ReviewState::Pending,
            },
            commit_id: Some("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c".into()),
            submitted_at: Some(
                chrono::DateTime::from_timestamp(1_700_000_000 + i as i64, 0).unwrap(),
            ),
        });
    }
    reviews.extend(evidence.reviews.iter().cloned());
    evidence.reviews = reviews;
    let EventOutcome::Request(req) = parse_event(
        "pull_request_target",
        &std::fs::read(root().join("examples/scenarios/events/pr-labeled.json")).unwrap(),
        &keys,
        None,
    )
    .unwrap() else {
        panic!("the example carries a request");
    };
    let request = resolve_request(
        req,
        "pull_request_target",
        &RequestInputs::default(),
        &policy,
    );
    let runner = RunnerHints::default();
    let now = chrono::Utc::now();
    bench("decide: 2,500 reviews by 500 users", full, || {
        let d = decide(&DecisionInput {
            policy: &policy,
            request: &request,
            identity: &identity,
            evidence: &evidence,
            runner: &runner,
            now,
        });
        assert!(d.granted(), "{:?}", d.unmet().collect::<Vec<_>>());
        black_box(d);
    });
    let _ = head;
}
