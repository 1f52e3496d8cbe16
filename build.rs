//! Puts the commit into `--version`: `PROD_ACCESS_VERSION` = "<cargo version> (<commit>)".
//! A build without git or outside a checkout (a source tarball) says "unknown".
//! A static x86_64 musl binary (the release's) is linked with packed relative relocations.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn main() {
    // Only this crate's own checkout counts: a source tarball unpacked inside some other
    // repository must not take that repository's commit.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let own = git(&["rev-parse", "--show-toplevel"]).is_some_and(|top| {
        std::fs::canonicalize(&top).ok() == std::fs::canonicalize(&manifest).ok()
    });
    let commit = own
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=PROD_ACCESS_VERSION={version} ({commit})");
    println!("cargo:rerun-if-changed=build.rs");
    // A static-pie binary relocates itself at start: every pointer in its data needs a
    // relative relocation, 24 bytes each as RELA (about 400 KB here). DT_RELR packs them into
    // bitmaps (GNU ld 2.38+; musl's static-pie start code applies them since 1.2.4, Rust ships
    // 1.2.5): the same addresses, still position-independent (ASLR), still RELRO. Only x86_64
    // for now: the aarch64 release is linked by the arm runner's binutils, not yet tried there.
    let cfg = |name: &str| std::env::var(name).unwrap_or_default();
    if cfg("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && cfg("CARGO_CFG_TARGET_ENV") == "musl"
        && cfg("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // Rebuilt when HEAD moves: the HEAD file, and the branch it names.
    // (A path that does not exist would rerun this script on every build: skipped.)
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for path in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        if let Some(p) = git(&["rev-parse", "--git-path", path])
            && std::path::Path::new(&p).exists()
        {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
