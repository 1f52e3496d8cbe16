//! The `jwt` credential end to end through the real binary: `keygen` (catalogue row 81),
//! `jwks`, and `verify` of tokens minted by the provider (catalogue row 80), for Ed25519 and
//! P-256 keys. Every run also checks that no line of the private key reaches stdout or
//! stderr.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use harness::{Cli, Run};
use prod_access::credential::jwt::JwtIssuer;
use prod_access::credential::{GrantContext, GrantId, Provider};
use prod_access::policy::{JwtProvider, Scope, load_policy};
use serde_json::{Map, Value, json};

const ISS: &str = "https://prod-access.acme.dev";
const AUD: &str = "payments-api";
const ALGS: [&str; 2] = ["ed25519", "p256"];

const POLICY: &str = "version: 1
scopes:
  api-admin:
    credential: { kind: jwt, audience: payments-api, claims: { role: admin } }
    ttl: 10m
    approvals: { required: 1 }
providers:
  jwt: { issuer: https://prod-access.acme.dev, key_env: PROD_ACCESS_JWT_KEY }
";

/// A key made by `prod-access keygen`.
struct Key {
    pem: String,
    /// `prod-access keygen`'s stdout: the public JWKS.
    jwks: String,
    kid: String,
    jwk: Value,
}

fn keygen(alg: &str) -> Key {
    let cli = Cli::new(&["keygen", "--alg", alg, "--out", "key.pem"]);
    let run = cli.run();
    run.expect_code(0);
    let path = cli.path().join("key.pem");
    let pem = std::fs::read_to_string(&path).unwrap();
    assert_no_key(&run, &pem);
    let jwks: Value = serde_json::from_str(&run.stdout).unwrap();
    let jwk = jwks["keys"][0].clone();
    Key {
        pem,
        jwks: run.stdout.clone(),
        kid: jwk["kid"].as_str().unwrap().to_string(),
        jwk,
    }
}

/// SECURITY: no line of the PEM (not even its base64 body) in any output.
fn assert_no_key(run: &Run, pem: &str) {
    for line in pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
    {
        assert!(!run.stdout.contains(line), "key line on stdout");
        assert!(!run.stderr.contains(line), "key line on stderr");
    }
    assert!(!run.stdout.contains("PRIVATE KEY") && !run.stderr.contains("PRIVATE KEY"));
}

fn scope() -> Scope {
    load_policy(POLICY).unwrap().scopes["api-admin"].clone()
}

/// A token minted by the provider, with the grant clock at `now` and a ttl of 10 minutes.
fn mint(key: &Key, now: DateTime<Utc>) -> String {
    mint_with_reason(key, now, "INC-7 ledger repair")
}

fn mint_with_reason(key: &Key, now: DateTime<Utc>, reason: &str) -> String {
    let provider = JwtProvider {
        issuer: ISS.into(),
        key_env: "PROD_ACCESS_JWT_KEY".into(),
    };
    let pem = key.pem.clone();
    let issuer = JwtIssuer::from_env(&provider, &move |k| {
        (k == "PROD_ACCESS_JWT_KEY").then(|| pem.clone())
    })
    .unwrap();
    let id = GrantId::new("run-7-1-api-admin").unwrap();
    let scope = scope();
    let approvers = vec!["alice".to_string()];
    let ctx = GrantContext {
        grant_id: &id,
        scope: &scope,
        requester: "octocat",
        reason,
        approvers: &approvers,
        repository: "acme/payments",
        run_url: "https://github.com/acme/payments/actions/runs/7",
        ttl: Duration::from_secs(600),
        now,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let minted = rt.block_on(issuer.mint(&ctx)).unwrap();
    minted.env[0].1.expose().to_string()
}

fn fresh(key: &Key) -> String {
    mint(key, Utc::now())
}

/// `verify TOKEN --jwks jwks.json --audience AUD --issuer ISS` with the given JWKS text.
fn verify_with(token: &str, jwks: &str, audience: &str) -> Run {
    let cli = Cli::new(&[
        "verify",
        token,
        "--jwks",
        "jwks.json",
        "--audience",
        audience,
        "--issuer",
        ISS,
    ]);
    cli.file("jwks.json", jwks);
    cli.run()
}

fn verify(token: &str, key: &Key) -> Run {
    verify_with(token, &key.jwks, AUD)
}

/// Exit 1 naming the requirement, nothing on stdout.
fn refused(run: &Run, id: &str) {
    run.expect_code(1);
    assert!(
        run.stderr.contains(id),
        "expected {id} in stderr: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    run.assert_no_injected_commands(&[]);
}

fn segments(token: &str) -> (Map<String, Value>, Map<String, Value>, String) {
    let mut it = token.split('.');
    let h = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    let p = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&h).unwrap(),
        serde_json::from_slice(&p).unwrap(),
        it.next().unwrap().to_string(),
    )
}

fn enc(v: &Map<String, Value>) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn hs256(header: &Map<String, Value>, payload: &Map<String, Value>, key: &[u8]) -> String {
    let input = format!("{}.{}", enc(header), enc(payload));
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

// ---------------------------------------------------------------------------------------
// keygen (catalogue row 81)
// ---------------------------------------------------------------------------------------

#[test]
fn keygen_writes_0600_and_prints_the_public_jwks() {
    for alg in ALGS {
        let cli = Cli::new(&["keygen", "--alg", alg, "--out", "key.pem"]);
        let run = cli.run();
        run.expect_code(0);
        let path = cli.path().join("key.pem");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{alg}");
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_no_key(&run, &pem);
        run.assert_no_injected_commands(&[]);
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(doc["keys"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn keygen_is_0600_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" keygen --out k.pem")
        .arg(env!("CARGO_BIN_EXE_prod-access"))
        .current_dir(dir.path())
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mode = std::fs::metadata(dir.path().join("k.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn keygen_refuses_an_existing_file() {
    let cli = Cli::new(&["keygen", "--out", "key.pem"]);
    let path = cli.file("key.pem", "keep me");
    let run = cli.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("config.keygen_path_exists"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[test]
fn keygen_jwks_out_writes_both_files_and_a_second_run_keeps_both() {
    let cli = Cli::new(&["keygen", "--out", "key.pem", "--jwks-out", "jwks.json"]);
    let run = cli.run();
    run.expect_code(0);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let jwks_path = cli.path().join("jwks.json");
    let jwks = std::fs::read_to_string(&jwks_path).unwrap();
    let doc: Value = serde_json::from_str(&jwks).unwrap();
    assert!(doc["keys"][0]["kid"].is_string());
    let pem = std::fs::read_to_string(cli.path().join("key.pem")).unwrap();
    assert_no_key(&run, &pem);
    // Run twice: refused before anything is written; both files as they were.
    let again = cli.run();
    again.expect_code(2);
    assert!(again.stderr.contains("config.keygen_path_exists"));
    assert_eq!(std::fs::read_to_string(&jwks_path).unwrap(), jwks);
    assert_eq!(
        std::fs::read_to_string(cli.path().join("key.pem")).unwrap(),
        pem
    );
    // Only the JWKS path exists: nothing written either, no key left behind.
    let cli = Cli::new(&["keygen", "--out", "new.pem", "--jwks-out", "jwks.json"]);
    cli.file("jwks.json", "keep me");
    cli.run().expect_code(2);
    assert!(!cli.path().join("new.pem").exists());
    assert_eq!(
        std::fs::read_to_string(cli.path().join("jwks.json")).unwrap(),
        "keep me"
    );
}

#[test]
fn keygen_run_twice_into_a_redirect_says_how_to_get_the_jwks_back() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" keygen --out key.pem > jwks.json")
            .arg(env!("CARGO_BIN_EXE_prod-access"))
            .current_dir(dir.path())
            .env_clear()
            .output()
            .unwrap()
    };
    assert_eq!(run().status.code(), Some(0));
    let second = run();
    assert_eq!(second.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("config.keygen_path_exists"), "{stderr}");
    assert!(stderr.contains("prod-access jwks --key"), "{stderr}");
    assert!(stderr.contains("--jwks-out"), "{stderr}");
}

#[test]
fn verify_names_a_private_key_given_as_the_jwks() {
    let key = keygen("ed25519");
    let cli = Cli::new(&["verify", "x.y.z", "--jwks", "key.pem", "--audience", AUD]);
    cli.file("key.pem", &key.pem);
    let run = cli.run();
    run.expect_code(2);
    assert!(
        run.stderr.contains("is a PEM private key, not a JWKS"),
        "{}",
        run.stderr
    );
    assert_no_key(&run, &key.pem);
}

#[test]
fn keygen_refuses_a_symlink_to_a_file() {
    let cli = Cli::new(&["keygen", "--out", "link.pem"]);
    let target = cli.file("target.pem", "keep me");
    std::os::unix::fs::symlink(&target, cli.path().join("link.pem")).unwrap();
    let run = cli.run();
    run.expect_code(2);
    assert!(run.stderr.contains("config.keygen_path_exists"));
    assert!(run.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
}

#[test]
fn keygen_refuses_a_dangling_symlink() {
    let cli = Cli::new(&["keygen", "--alg", "p256", "--out", "link.pem"]);
    let target = cli.path().join("elsewhere.pem");
    std::os::unix::fs::symlink(&target, cli.path().join("link.pem")).unwrap();
    let run = cli.run();
    run.expect_code(2);
    assert!(run.stderr.contains("config.keygen_path_exists"));
    assert!(run.stdout.is_empty());
    assert!(
        !target.exists(),
        "the dangling symlink was followed: a key was created at its target"
    );
}

#[test]
fn keygen_refuses_a_directory_and_an_unknown_alg() {
    let cli = Cli::new(&["keygen", "--out", "d"]);
    std::fs::create_dir(cli.path().join("d")).unwrap();
    cli.run().expect_code(2);
    let cli = Cli::new(&["keygen", "--alg", "rsa", "--out", "k.pem"]);
    cli.run().expect_code(2);
    assert!(!cli.path().join("k.pem").exists());
}

// ---------------------------------------------------------------------------------------
// jwks
// ---------------------------------------------------------------------------------------

#[test]
fn jwks_output_shape() {
    for (alg, kty, crv, jws) in [
        ("ed25519", "OKP", "Ed25519", "EdDSA"),
        ("p256", "EC", "P-256", "ES256"),
    ] {
        let key = keygen(alg);
        // From a file and from the environment: the same document as keygen printed.
        let cli = Cli::new(&["jwks", "--key", "k.pem"]);
        cli.file("k.pem", &key.pem);
        let from_file = cli.run();
        from_file.expect_code(0);
        assert_no_key(&from_file, &key.pem);
        let from_env = Cli::new(&["jwks"])
            .env("PROD_ACCESS_JWT_KEY", &key.pem)
            .run();
        from_env.expect_code(0);
        assert_no_key(&from_env, &key.pem);
        let other_env = Cli::new(&["jwks", "--key-env", "MY_KEY"])
            .env("MY_KEY", &key.pem)
            .run();
        other_env.expect_code(0);
        assert_eq!(from_file.stdout, key.jwks);
        assert_eq!(from_env.stdout, key.jwks);
        assert_eq!(other_env.stdout, key.jwks);

        let doc: Value = serde_json::from_str(&key.jwks).unwrap();
        let keys = doc["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let k = keys[0].as_object().unwrap();
        let mut names: Vec<&str> = k.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut want = vec!["alg", "crv", "kid", "kty", "use", "x"];
        if kty == "EC" {
            want.push("y");
        }
        want.sort_unstable();
        assert_eq!(names, want, "{alg}: no private member, nothing extra");
        assert_eq!(k["kty"], kty);
        assert_eq!(k["crv"], crv);
        assert_eq!(k["alg"], jws);
        assert_eq!(k["use"], "sig");
        for c in ["x", "y"].iter().filter(|c| k.contains_key(**c)) {
            let bytes = URL_SAFE_NO_PAD.decode(k[*c].as_str().unwrap()).unwrap();
            assert_eq!(bytes.len(), 32);
        }
        // kid: RFC 7638 thumbprint of the public key.
        let canonical = match kty {
            "EC" => format!(
                r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
                k["x"], k["y"]
            ),
            _ => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, k["x"]),
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        assert_eq!(k["kid"], URL_SAFE_NO_PAD.encode(digest.as_ref()));
        // Every minted token carries that kid.
        let (h, _, _) = segments(&fresh(&key));
        assert_eq!(h["kid"], key.kid);
        assert_eq!(h["alg"], jws);
    }
}

#[test]
fn jwks_refuses_missing_or_bad_keys_without_echoing_them() {
    let run = Cli::new(&["jwks"]).run();
    run.expect_code(2);
    assert!(run.stderr.contains("PROD_ACCESS_JWT_KEY"), "{}", run.stderr);

    let bad = "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIALxx\n-----END PRIVATE KEY-----\n";
    let run = Cli::new(&["jwks"]).env("PROD_ACCESS_JWT_KEY", bad).run();
    run.expect_code(2);
    assert!(run.stderr.contains("config.jwt_key_invalid"));
    assert!(!run.stdout.contains("TOPSECRET") && !run.stderr.contains("TOPSECRET"));

    let cli = Cli::new(&["jwks", "--key", "k.pem"]);
    cli.file("k.pem", bad);
    let run = cli.run();
    run.expect_code(2);
    assert!(!run.stdout.contains("TOPSECRET") && !run.stderr.contains("TOPSECRET"));
}

// ---------------------------------------------------------------------------------------
// verify (catalogue row 80)
// ---------------------------------------------------------------------------------------

#[test]
fn verify_accepts_a_fresh_token_minted_by_the_provider() {
    for alg in ALGS {
        let key = keygen(alg);
        let token = fresh(&key);
        let run = verify(&token, &key);
        run.expect_code(0);
        assert_no_key(&run, &key.pem);
        let claims: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(claims["aud"], AUD);
        assert_eq!(claims["iss"], ISS);
        assert_eq!(claims["sub"], "octocat");
        assert_eq!(claims["jti"], "run-7-1-api-admin");
        assert_eq!(claims["role"], "admin");

        // From stdin, and without --issuer.
        let cli = Cli::new(&["verify", "-", "--jwks", "j.json", "--audience", AUD])
            .stdin(format!("{token}\n"));
        cli.file("j.json", &key.jwks);
        cli.run().expect_code(0);
    }
}

#[test]
fn verify_prints_untrusted_claims_without_workflow_commands() {
    let key = keygen("ed25519");
    let reason = "fix\n::add-mask::x\n::set-output name=granted::true ##[error]boom %0A";
    let token = mint_with_reason(&key, Utc::now(), reason);
    let run = verify(&token, &key);
    run.expect_code(0);
    run.assert_no_injected_commands(&[]);
}

#[test]
fn verify_accepts_tokens_of_both_key_types_from_one_jwks() {
    let (ed, ec) = (keygen("ed25519"), keygen("p256"));
    let both = json!({ "keys": [ed.jwk, ec.jwk] }).to_string();
    verify_with(&fresh(&ed), &both, AUD).expect_code(0);
    verify_with(&fresh(&ec), &both, AUD).expect_code(0);
}

#[test]
fn verify_refuses_an_expired_token() {
    for alg in ALGS {
        let key = keygen(alg);
        let token = mint(&key, Utc::now() - chrono::Duration::hours(2));
        refused(&verify(&token, &key), "jwt.expired");
    }
}

#[test]
fn verify_refuses_a_token_not_yet_valid() {
    let key = keygen("ed25519");
    let token = mint(&key, Utc::now() + chrono::Duration::minutes(10));
    refused(&verify(&token, &key), "jwt.not_yet_valid");
}

#[test]
fn verify_refuses_the_wrong_audience_and_issuer() {
    for alg in ALGS {
        let key = keygen(alg);
        let token = fresh(&key);
        refused(
            &verify_with(&token, &key.jwks, "billing-api"),
            "jwt.audience",
        );
        let cli = Cli::new(&[
            "verify",
            &token,
            "--jwks",
            "j.json",
            "--audience",
            AUD,
            "--issuer",
            "https://evil.example",
        ]);
        cli.file("j.json", &key.jwks);
        refused(&cli.run(), "jwt.issuer");
    }
}

#[test]
fn verify_refuses_alg_none() {
    for alg in ALGS {
        let key = keygen(alg);
        let (mut h, p, _) = segments(&fresh(&key));
        for none in ["none", "None", "NONE", "nOnE", ""] {
            h.insert("alg".into(), none.into());
            let token = format!("{}.{}.", enc(&h), enc(&p));
            refused(&verify(&token, &key), "jwt.alg");
        }
    }
}

#[test]
fn verify_refuses_hs256_keyed_with_the_public_key() {
    for alg in ALGS {
        let key = keygen(alg);
        let (mut h, p, _) = segments(&fresh(&key));
        h.insert("alg".into(), "HS256".into());
        let x = URL_SAFE_NO_PAD
            .decode(key.jwk["x"].as_str().unwrap())
            .unwrap();
        let mut raw_point = x.clone();
        if let Some(y) = key.jwk["y"].as_str() {
            raw_point = [vec![0x04], x.clone(), URL_SAFE_NO_PAD.decode(y).unwrap()].concat();
        }
        let candidates: Vec<Vec<u8>> = vec![
            x,
            raw_point,
            key.jwk["x"].as_str().unwrap().as_bytes().to_vec(),
            key.jwk.to_string().into_bytes(),
            key.jwks.clone().into_bytes(),
        ];
        for secret in candidates {
            refused(&verify(&hs256(&h, &p, &secret), &key), "jwt.alg");
        }
    }
}

#[test]
fn verify_refuses_a_tampered_payload() {
    for alg in ALGS {
        let key = keygen(alg);
        let (h, mut p, sig) = segments(&fresh(&key));
        p.insert("role".into(), "root".into());
        let token = format!("{}.{}.{sig}", enc(&h), enc(&p));
        refused(&verify(&token, &key), "jwt.signature");

        // A longer life, same signature.
        let (h, mut p, sig) = segments(&fresh(&key));
        let exp = p["exp"].as_i64().unwrap();
        p.insert("exp".into(), (exp + 86_400).into());
        let token = format!("{}.{}.{sig}", enc(&h), enc(&p));
        refused(&verify(&token, &key), "jwt.signature");

        // No signature at all.
        let (h, p, _) = segments(&fresh(&key));
        refused(
            &verify(&format!("{}.{}.", enc(&h), enc(&p)), &key),
            "jwt.signature",
        );
    }
}

#[test]
fn verify_refuses_an_unknown_kid() {
    for alg in ALGS {
        let key = keygen(alg);
        let other = keygen(alg);
        // Signed by a real key that this JWKS does not publish.
        refused(&verify(&fresh(&other), &key), "jwt.kid_unknown");
        // A real signature under a kid that is not in the set.
        let (mut h, p, sig) = segments(&fresh(&key));
        h.insert("kid".into(), "no-such-key".into());
        refused(
            &verify(&format!("{}.{}.{sig}", enc(&h), enc(&p)), &key),
            "jwt.kid_unknown",
        );
        // No kid at all.
        let (mut h, p, sig) = segments(&fresh(&key));
        h.remove("kid");
        refused(
            &verify(&format!("{}.{}.{sig}", enc(&h), enc(&p)), &key),
            "jwt.kid_missing",
        );
    }
}

#[test]
fn verify_refuses_an_alg_that_does_not_match_the_key_type() {
    let (ed, ec) = (keygen("ed25519"), keygen("p256"));
    let both = json!({ "keys": [ed.jwk, ec.jwk] }).to_string();
    for (signer, claimed) in [(&ed, "ES256"), (&ec, "EdDSA")] {
        let (mut h, p, sig) = segments(&fresh(signer));
        h.insert("alg".into(), claimed.into());
        refused(
            &verify_with(&format!("{}.{}.{sig}", enc(&h), enc(&p)), &both, AUD),
            "jwt.alg",
        );
    }
}

#[test]
fn verify_refuses_header_keys_that_would_be_trusted() {
    let key = keygen("ed25519");
    for (name, value) in [
        ("jku", json!("https://evil.example/jwks")),
        ("jwk", key.jwk.clone()),
        ("x5u", json!("https://evil.example/cert")),
        ("crit", json!(["exp"])),
    ] {
        let (mut h, p, sig) = segments(&fresh(&key));
        h.insert(name.into(), value);
        refused(
            &verify(&format!("{}.{}.{sig}", enc(&h), enc(&p)), &key),
            "jwt.header",
        );
    }
}

#[test]
fn verify_refuses_garbage_without_panicking() {
    let key = keygen("ed25519");
    for token in [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "..",
        "!!.!!.!!",
        "e30.e30.",
        "e30=.e30.x",
    ] {
        let run = verify(token, &key);
        assert!(run.code == 1 || run.code == 2, "{token:?}: {}", run.code);
        assert!(run.stdout.is_empty());
    }
    let huge = "a".repeat(20_000);
    refused(
        &verify(&format!("{huge}.{huge}.{huge}"), &key),
        "jwt.malformed",
    );
}

#[test]
fn verify_refuses_a_bad_jwks_as_a_config_error() {
    let key = keygen("ed25519");
    let token = fresh(&key);
    for jwks in [
        "not json".to_string(),
        r#"{"keys": []}"#.to_string(),
        r#"{"nokeys": true}"#.to_string(),
        // A small-order Ed25519 key (the identity), which would accept a forged signature.
        json!({ "keys": [ { "kty": "OKP", "crv": "Ed25519", "kid": key.kid,
            "x": URL_SAFE_NO_PAD.encode({ let mut i = [0u8; 32]; i[0] = 1; i }) } ] })
        .to_string(),
        // Private key material published by mistake.
        json!({ "keys": [ { "kty": "OKP", "crv": "Ed25519", "x": key.jwk["x"], "d": "AAAA", "kid": key.kid } ] }).to_string(),
        // The same kid twice.
        json!({ "keys": [key.jwk, key.jwk] }).to_string(),
    ] {
        verify_with(&token, &jwks, AUD).expect_code(2);
    }
    // A missing file.
    let run = Cli::new(&["verify", &token, "--jwks", "nope.json", "--audience", AUD]).run();
    run.expect_code(2);
}

#[test]
fn minted_key_file_works_with_the_path_helper() {
    // A key generated by keygen round-trips through `jwks --key` at an absolute path.
    let key = keygen("p256");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pem");
    std::fs::write(&path, &key.pem).unwrap();
    let run = Cli::new(&["jwks", "--key", path_str(&path)]).run();
    run.expect_code(0);
    assert_eq!(run.stdout, key.jwks);
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
