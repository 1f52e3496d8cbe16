//! Figures for one whole `grant`: the real binary (the bench profile's: release, LTO) against
//! the loopback GitHub and OIDC simulators with a latency on every answer.
//!
//! `cargo bench --bench grant` prints, for 0, 20, 50 and 100 ms on every response and 1, 3
//! and 10 approving reviewers: the wall time (median of 5 after a warm-up), the requests
//! made, the critical path (sequential round trips, from the simulators' own start and end
//! times), user+sys CPU and peak RSS of the process, and the binary's size. `scripts/bench`
//! runs it and keeps the table in `docs/performance.md`. Under `cargo test` (no `--bench`)
//! one case runs once, as a smoke test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use prod_access::sim::forge::{review_json, user_json};
use prod_access::sim::story::{self, HEAD_SHA, PR, REPO, Story};
use prod_access::sim::{Span, critical_path};

const RUNS: usize = 5;

struct Run {
    wall: Duration,
    requests: usize,
    critical_path: usize,
    cpu: Duration,
}

/// `n` approving reviewers: bob, then r2..rn, each with write permission in @acme/sre.
fn reviewers(story: &Story, n: usize) {
    story.forge.with(|st| {
        let repo = st.repo(REPO);
        repo.reviews.insert(PR, Vec::new());
        for i in 1..=n {
            let (login, id) = if i == 1 {
                ("bob".to_string(), 1002)
            } else {
                (format!("r{i}"), 5000 + i as u64)
            };
            repo.permissions.insert(login.clone(), "write".into());
            repo.reviews.entry(PR).or_default().push(review_json(
                80 + i as u64,
                user_json(&login, id),
                "APPROVED",
                HEAD_SHA,
                "2026-11-23T01:58:00Z",
            ));
        }
        for i in 1..=n {
            let login = if i == 1 {
                "bob".to_string()
            } else {
                format!("r{i}")
            };
            st.team("acme/sre").members.insert(login, "active".into());
        }
    });
}

fn cpu_of_children() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

fn max_rss_of_children_kib() -> i64 {
    getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss()
}

/// One granted `grant`, from a clean PR (no earlier audit comment: not a replay).
fn grant_once(story: &Story, bin: &str, name: &str) -> Run {
    story.forge.with(|st| {
        st.repo(REPO).comments.clear();
    });
    story.forge.wire().clear();
    story.issuer.wire().clear();
    let dir = story.step_dir(name).unwrap();
    let cpu_before = cpu_of_children();
    let started = Instant::now();
    let out = Command::new(bin)
        .arg("grant")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(story.env(&dir))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let wall = started.elapsed();
    let cpu = cpu_of_children() - cpu_before;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut spans: Vec<Span> = story.forge.wire().spans();
    spans.extend(story.issuer.wire().spans());
    std::fs::remove_dir_all(&dir).ok();
    Run {
        wall,
        requests: spans.len(),
        critical_path: critical_path(&spans),
        cpu,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let bin = env!("CARGO_BIN_EXE_prod-access");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let story = rt.block_on(Story::start()).unwrap();
    if !full {
        reviewers(&story, 1);
        let run = grant_once(&story, bin, "smoke");
        println!(
            "grant: ok (smoke): {} requests, critical path {}",
            run.requests, run.critical_path
        );
        return;
    }
    let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    println!(
        "| latency | reviewers | wall ms (median of {RUNS}) | requests | critical path | CPU ms (user+sys) | peak RSS MiB |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in [1usize, 3, 10] {
        reviewers(&story, n);
        for latency_ms in [0u64, 20, 50, 100] {
            let latency = Duration::from_millis(latency_ms);
            story.forge.wire().set_latency(latency);
            story.issuer.wire().set_latency(latency);
            let _warm = grant_once(&story, bin, "warm-up");
            let runs: Vec<Run> = (0..RUNS)
                .map(|i| grant_once(&story, bin, &format!("run-{i}")))
                .collect();
            let wall = median(runs.iter().map(|r| r.wall).collect());
            let cpu = median(runs.iter().map(|r| r.cpu).collect());
            let requests = runs.iter().map(|r| r.requests).max().unwrap_or(0);
            let path = runs.iter().map(|r| r.critical_path).max().unwrap_or(0);
            let rss = max_rss_of_children_kib() as f64 / 1024.0;
            println!(
                "| {latency_ms} ms | {n} | {} | {requests} | {path} | {} | {rss:.1} |",
                ms(wall),
                ms(cpu)
            );
        }
    }
    println!();
    println!(
        "binary: {bin} ({size} bytes); label request granted for `jwt` scope `api-read` of `{}`",
        story::REPO
    );
}
