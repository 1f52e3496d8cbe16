//! The `ssh` credential against a real OpenSSH server: each test that logs in starts its own
//! `/usr/sbin/sshd -D` on a free loopback port, trusting a throwaway CA
//! (`TrustedUserCAKeys`), mapping `root` to the principal `deploy`
//! (`AuthorizedPrincipalsFile`), and logs in with the real `ssh` client. A test that cannot
//! start sshd fails; it never skips (`scripts/setup` installs openssh-server).
//!
//! Catalogue rows: 78 (principal), 79 (revoke says "not revocable", KRL line), 85 (revoke
//! twice), 88 (symlink / existing path, umask 000), 89 (no file left after revoke).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prod_access::credential::ssh::{self, CaKey, SshCa};
use prod_access::credential::{
    AnyProvider, GrantContext, GrantId, Minted, Provider, RevokeOutcome,
};
use prod_access::error::ExitClass;
use prod_access::policy::{ApprovalRules, CredentialSpec, Scope, load_policy};
use prod_access::secret::Secret;

const SSHD: &str = "/usr/sbin/sshd";
const REQUESTER: &str = "octocat";

// ---------------------------------------------------------------------------------------
// Keys and sshd

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `ssh-keygen -t TYPE` into `dir/name`; returns (private key text, public key path).
fn keygen(dir: &Path, name: &str, args: &[&str]) -> (String, PathBuf) {
    let path = dir.join(name);
    ok(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .args(args));
    (
        std::fs::read_to_string(&path).unwrap(),
        path.with_extension("pub"),
    )
}

/// A CA made by `ssh-keygen`: its private key text and public key file.
struct Ca {
    text: String,
    public: PathBuf,
}

fn new_ca(dir: &Path, name: &str, args: &[&str]) -> Ca {
    let (text, public) = keygen(dir, name, args);
    // The private key stays only in memory (as it would in the env variable).
    std::fs::remove_file(dir.join(name)).unwrap();
    Ca { text, public }
}

fn ed25519_ca(dir: &Path, name: &str) -> Ca {
    new_ca(dir, name, &["-t", "ed25519"])
}

/// A running sshd; killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sshd {
    /// sshd trusting `ca_pub`, `root` accepting the principal `deploy`, plus `extra` lines.
    fn start(ca_pub: &Path, extra: &str) -> Self {
        // The privilege separation directory sshd insists on.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(d, "host_key", &["-t", "ed25519"]);
        std::fs::create_dir(d.join("principals")).unwrap();
        std::fs::write(d.join("principals/root"), "deploy\n").unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = d.join("sshd.log");
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1:{port}\n\
                 HostKey {d}/host_key\n\
                 PidFile {d}/sshd.pid\n\
                 TrustedUserCAKeys {ca}\n\
                 AuthorizedPrincipalsFile {d}/principals/%u\n\
                 AuthorizedKeysFile none\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PermitRootLogin prohibit-password\n\
                 LogLevel VERBOSE\n\
                 {extra}\n",
                d = d.display(),
                ca = ca_pub.display(),
            ),
        )
        .unwrap();
        let mut child = Command::new(SSHD)
            .args(["-D", "-f"])
            .arg(&config)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {SSHD} (run scripts/setup to install openssh-server): {e}")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("sshd exited at start ({status}): {log}");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// The real `ssh` client with the minted key and certificate.
    fn ssh(&self, minted: &Minted, extra: &[&str], command: &str) -> Output {
        let key = env_of(minted, ssh::KEY_ENV);
        let cert = env_of(minted, ssh::CERT_ENV);
        run(Command::new("ssh")
            .arg("-i")
            .arg(key)
            .arg("-o")
            .arg(format!("CertificateFile={cert}"))
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                "-F",
                "/dev/null",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(extra)
            .arg("root@127.0.0.1")
            .arg(command)
            .stdin(Stdio::null()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_of(minted: &Minted, name: &str) -> String {
    minted
        .public_env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{name} not in public_env"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------
// Minting

fn scope(
    principals: &[&str],
    force_command: Option<&str>,
    source_address: &[&str],
    extensions: &[&str],
) -> Scope {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Scope {
        name: "host-shell".into(),
        credential: CredentialSpec::Ssh {
            principals: strings(principals),
            force_command: force_command.map(str::to_string),
            source_address: strings(source_address),
            extensions: strings(extensions),
        },
        ttl: Duration::from_secs(600),
        max_ttl: Duration::from_secs(3600),
        approvals: ApprovalRules {
            required: 1,
            from: vec![],
            fresh: true,
            strict: false,
        },
        requesters: vec![],
        environments: vec![],
        break_glass: false,
        allow_forks: false,
    }
}

fn deploy() -> Scope {
    scope(&["deploy"], None, &[], &[])
}

fn provider(ca: &Ca, runner_temp: &Path) -> SshCa {
    let key = CaKey::from_openssh(&Secret::new(ca.text.clone())).unwrap();
    SshCa::new("PROD_ACCESS_SSH_CA_KEY", key, runner_temp.to_path_buf()).unwrap()
}

fn ctx<'a>(
    id: &'a GrantId,
    scope: &'a Scope,
    now: DateTime<Utc>,
    ttl: Duration,
) -> GrantContext<'a> {
    GrantContext {
        grant_id: id,
        scope,
        requester: REQUESTER,
        reason: "INC-1 hotfix",
        approvers: &[],
        repository: "acme/payments",
        run_url: "https://github.com/acme/payments/actions/runs/1",
        ttl,
        now,
    }
}

async fn mint_at(p: &SshCa, id: &str, scope: &Scope, now: DateTime<Utc>, ttl: Duration) -> Minted {
    let id = GrantId::new(id).unwrap();
    let m = p.mint(&ctx(&id, scope, now, ttl)).await.unwrap();
    m.write_files().unwrap();
    m
}

async fn mint(p: &SshCa, id: &str, scope: &Scope) -> Minted {
    mint_at(p, id, scope, Utc::now(), Duration::from_secs(600)).await
}

fn audit<'a>(m: &'a Minted, key: &str) -> &'a str {
    m.audit
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("audit has no {key}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Every entry under `dir`, recursively (symlinks not followed).
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            out.extend(tree(&path));
        }
        out.push(path);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Logging in

#[tokio::test]
async fn certificate_logs_in_and_runs_a_command() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let sshd = Sshd::start(&ca.public, "");
    let m = mint(&provider(&ca, temp.path()), "g-login", &deploy()).await;
    let out = sshd.ssh(&m, &[], "echo logged-in-as-$(id -un)");
    assert!(out.status.success(), "{}\n{}", stderr(&out), sshd.log());
    assert_eq!(stdout(&out).trim(), "logged-in-as-root");
    // sshd logs the key id, serial and the certified key's fingerprint as the audit names them.
    let log = sshd.log();
    assert!(
        log.contains(&format!("ID prod-access:g-login:{REQUESTER}")),
        "{log}"
    );
    assert!(
        log.contains(&format!("serial {}", audit(&m, "serial"))),
        "{log}"
    );
    assert!(log.contains(&m.fingerprint), "{log}");
}

#[tokio::test]
async fn an_ecdsa_p256_ca_signs_a_working_certificate() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = new_ca(keys.path(), "ca", &["-t", "ecdsa", "-b", "256"]);
    let sshd = Sshd::start(&ca.public, "");
    let p = provider(&ca, temp.path());
    assert_eq!(p.ca().alg(), "ecdsa-sha2-nistp256");
    // Several certificates: the ECDSA signature encoding (mpint r, s) varies in length.
    for i in 0..4 {
        let m = mint(&p, &format!("g-ecdsa-{i}"), &deploy()).await;
        let out = sshd.ssh(&m, &[], "echo ok");
        assert!(out.status.success(), "{}\n{}", stderr(&out), sshd.log());
        assert_eq!(stdout(&out).trim(), "ok");
    }
}

#[tokio::test]
async fn a_principal_the_host_does_not_map_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let sshd = Sshd::start(&ca.public, "");
    let m = mint(
        &provider(&ca, temp.path()),
        "g-wrong",
        &scope(&["admin"], None, &[], &[]),
    )
    .await;
    let out = sshd.ssh(&m, &[], "echo in");
    assert_eq!(out.status.code(), Some(255), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let sshd = Sshd::start(&ca.public, "");
    let then = Utc::now() - chrono::Duration::hours(2);
    let m = mint_at(
        &provider(&ca, temp.path()),
        "g-expired",
        &deploy(),
        then,
        Duration::from_secs(600),
    )
    .await;
    let out = sshd.ssh(&m, &[], "echo in");
    assert_eq!(out.status.code(), Some(255));
    assert!(stdout(&out).is_empty());
    assert!(sshd.log().contains("expired"), "{}", sshd.log());
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let trusted = ed25519_ca(keys.path(), "ca");
    let other = ed25519_ca(keys.path(), "other-ca");
    let sshd = Sshd::start(&trusted.public, "");
    let m = mint(&provider(&other, temp.path()), "g-other", &deploy()).await;
    let out = sshd.ssh(&m, &[], "echo in");
    assert_eq!(out.status.code(), Some(255));
    assert!(stdout(&out).is_empty());
}

#[tokio::test]
async fn force_command_runs_whatever_the_client_asks() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let sshd = Sshd::start(&ca.public, "");
    let s = scope(&["deploy"], Some("echo forced-command"), &[], &[]);
    let m = mint(&provider(&ca, temp.path()), "g-force", &s).await;
    let out = sshd.ssh(&m, &[], "echo asked-for; id");
    assert!(out.status.success(), "{}\n{}", stderr(&out), sshd.log());
    assert_eq!(stdout(&out).trim(), "forced-command");
}

#[tokio::test]
async fn source_address_is_enforced() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let sshd = Sshd::start(&ca.public, "");
    let p = provider(&ca, temp.path());

    let elsewhere = scope(&["deploy"], None, &["10.0.0.0/8", "192.0.2.7"], &[]);
    let m = mint(&p, "g-src-no", &elsewhere).await;
    let out = sshd.ssh(&m, &[], "echo in");
    assert_eq!(out.status.code(), Some(255));
    assert!(stdout(&out).is_empty());

    let here = scope(&["deploy"], None, &["10.0.0.0/8", "127.0.0.1/32"], &[]);
    let m = mint(&p, "g-src-yes", &here).await;
    let out = sshd.ssh(&m, &[], "echo in");
    assert!(out.status.success(), "{}\n{}", stderr(&out), sshd.log());
}

#[tokio::test]
async fn no_extensions_means_no_pty_and_permit_pty_allows_one() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let sshd = Sshd::start(&ca.public, "");
    let p = provider(&ca, temp.path());

    let m = mint(&p, "g-nopty", &deploy()).await;
    let out = sshd.ssh(&m, &["-tt"], "tty");
    assert!(
        stderr(&out).contains("PTY allocation request failed"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("/dev/pts/"), "{}", stdout(&out));

    let m = mint(&p, "g-pty", &scope(&["deploy"], None, &[], &["permit-pty"])).await;
    let out = sshd.ssh(&m, &["-tt"], "tty");
    assert!(out.status.success(), "{}\n{}", stderr(&out), sshd.log());
    assert!(!stderr(&out).contains("PTY allocation request failed"));
    assert!(stdout(&out).contains("/dev/pts/"), "{}", stdout(&out));
}

// ---------------------------------------------------------------------------------------
// The certificate's fields

#[tokio::test]
async fn ssh_keygen_shows_exactly_the_specified_fields() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let id = GrantId::new("g-fields").unwrap();

    // Without options: no critical options, no extensions at all.
    let plain = deploy();
    let m = p
        .mint(&ctx(&id, &plain, now, Duration::from_secs(900)))
        .await
        .unwrap();
    m.write_files().unwrap();
    let cert = env_of(&m, ssh::CERT_ENV);
    let shown = ok(Command::new("ssh-keygen")
        .env("TZ", "UTC")
        .args(["-L", "-f", &cert]));
    let serial: u64 = audit(&m, "serial").parse().unwrap();
    assert_ne!(serial, 0);
    let fields: Vec<&str> = shown.lines().map(str::trim).collect();
    let want_valid = format!(
        "Valid: from {} to {}",
        (now - chrono::Duration::seconds(60)).format("%Y-%m-%dT%H:%M:%S"),
        (now + chrono::Duration::seconds(900)).format("%Y-%m-%dT%H:%M:%S"),
    );
    for want in [
        "Type: ssh-ed25519-cert-v01@openssh.com user certificate",
        &format!("Public key: ED25519-CERT {}", m.fingerprint),
        &format!("Key ID: \"prod-access:g-fields:{REQUESTER}\""),
        &format!("Serial: {serial}"),
        &want_valid,
    ] {
        assert!(fields.contains(&want), "missing `{want}` in\n{shown}");
    }
    let after = |header: &str| -> Vec<&str> {
        let start = fields.iter().position(|l| *l == header).unwrap() + 1;
        fields[start..]
            .iter()
            .take_while(|l| {
                !l.ends_with(':') && !l.starts_with("Critical") && !l.starts_with("Extensions")
            })
            .copied()
            .collect()
    };
    assert_eq!(after("Principals:"), ["deploy"], "{shown}");
    assert!(fields.contains(&"Critical Options: (none)"), "{shown}");
    assert!(fields.contains(&"Extensions: (none)"), "{shown}");
    // The CA that signed it.
    let ca_fp = ok(Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(&ca.public));
    let ca_fp = ca_fp.split_whitespace().nth(1).unwrap();
    assert!(
        fields.contains(&format!("Signing CA: ED25519 {ca_fp} (using ssh-ed25519)").as_str()),
        "{shown}"
    );
    assert_eq!(audit(&m, "ca_fingerprint"), ca_fp);
    assert_eq!(
        audit(&m, "key_id"),
        format!("prod-access:g-fields:{REQUESTER}")
    );
    assert_eq!(audit(&m, "principals"), "deploy");
    assert_eq!(
        audit(&m, "valid_before"),
        m.expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );

    // With every option: exactly those named.
    let id = GrantId::new("g-fields-2").unwrap();
    let full = scope(
        &["deploy", "ops.team_1"],
        Some("/usr/local/bin/hotfix --safe"),
        &["10.0.0.0/8", "192.0.2.7"],
        &["permit-pty", "permit-agent-forwarding"],
    );
    let m = p
        .mint(&ctx(&id, &full, now, Duration::from_secs(900)))
        .await
        .unwrap();
    m.write_files().unwrap();
    let cert = env_of(&m, ssh::CERT_ENV);
    let shown = ok(Command::new("ssh-keygen")
        .env("TZ", "UTC")
        .args(["-L", "-f", &cert]));
    let fields: Vec<&str> = shown.lines().map(str::trim).collect();
    let after = |header: &str| -> Vec<&str> {
        let start = fields.iter().position(|l| l.starts_with(header)).unwrap() + 1;
        fields[start..]
            .iter()
            .take_while(|l| !l.starts_with("Critical") && !l.starts_with("Extensions"))
            .copied()
            .collect()
    };
    assert_eq!(after("Principals:"), ["deploy", "ops.team_1"], "{shown}");
    assert_eq!(
        after("Critical Options:"),
        [
            "force-command /usr/local/bin/hotfix --safe",
            "source-address 10.0.0.0/8,192.0.2.7"
        ],
        "{shown}"
    );
    assert_eq!(
        after("Extensions:"),
        ["permit-agent-forwarding", "permit-pty"],
        "{shown}"
    );
}

#[tokio::test]
async fn the_audit_fingerprint_is_what_ssh_keygen_l_prints() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let m = mint(&provider(&ca, temp.path()), "g-fp", &deploy()).await;
    for file in [ssh::KEY_ENV, ssh::CERT_ENV] {
        let out = ok(Command::new("ssh-keygen").args(["-l", "-f", &env_of(&m, file)]));
        let fp = out.split_whitespace().nth(1).unwrap();
        assert_eq!(fp, m.fingerprint, "{out}");
        assert_eq!(audit(&m, "fingerprint"), m.fingerprint);
        assert_eq!(m.handle.data["fingerprint"], m.fingerprint);
    }
    assert!(m.fingerprint.starts_with("SHA256:"));
}

#[tokio::test]
async fn serials_are_random_and_non_zero() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..8 {
        let m = mint(&p, &format!("g-serial-{i}"), &deploy()).await;
        let serial: u64 = audit(&m, "serial").parse().unwrap();
        assert_ne!(serial, 0);
        assert_eq!(m.handle.data["serial"], serial.to_string());
        assert!(seen.insert(serial));
    }
}

// ---------------------------------------------------------------------------------------
// Files (catalogue 88, 89)

#[tokio::test]
async fn files_are_where_the_contract_says() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let m = mint(&provider(&ca, temp.path()), "g-files", &deploy()).await;
    let dir = temp.path().join("prod-access-g-files");
    assert_eq!(
        env_of(&m, ssh::KEY_ENV),
        dir.join("id_ed25519").display().to_string()
    );
    assert_eq!(
        env_of(&m, ssh::CERT_ENV),
        dir.join("id_ed25519-cert.pub").display().to_string()
    );
    assert!(Path::new(&env_of(&m, ssh::KEY_ENV)).is_absolute());
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("id_ed25519")), 0o600);
    assert_eq!(mode(&dir.join("id_ed25519-cert.pub")), 0o600);
    // The private key's text is in mask_forms only, never an env value for GITHUB_ENV.
    assert!(m.env.is_empty());
    let key_text = std::fs::read_to_string(dir.join("id_ed25519")).unwrap();
    assert!(key_text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(m.mask_forms.len(), 1);
    assert_eq!(m.mask_forms[0].expose(), key_text);
    for (_, v) in &m.public_env {
        assert!(!key_text.contains(v.as_str()));
    }
}

/// Runs in a child process of this test binary (umask is per process).
#[tokio::test]
async fn modes_hold_under_umask_000() {
    if std::env::var_os("PROD_ACCESS_UMASK_CHILD").is_none() {
        let out = run(Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "modes_hold_under_umask_000",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PROD_ACCESS_UMASK_CHILD", "1"));
        assert!(
            out.status.success() && stdout(&out).contains("umask-child-ran"),
            "{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        return;
    }
    rustix::process::umask(rustix::fs::Mode::empty());
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    // RUNNER_TEMP itself is the runner's (0755 on GitHub's runners); under umask 000 a new
    // folder is 0777, which the provider refuses (others could swap the key folder).
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let m = mint(&provider(&ca, temp.path()), "g-umask", &deploy()).await;
    let dir = temp.path().join("prod-access-g-umask");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(Path::new(&env_of(&m, ssh::KEY_ENV))), 0o600);
    assert_eq!(mode(Path::new(&env_of(&m, ssh::CERT_ENV))), 0o600);
    // Control: the umask really is 000 here.
    std::fs::write(temp.path().join("probe"), "x").unwrap();
    assert_eq!(mode(&temp.path().join("probe")), 0o666);
    println!("umask-child-ran");
}

#[tokio::test]
async fn an_existing_path_or_symlink_is_refused_and_nothing_is_written() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    let elsewhere = tempfile::tempdir().unwrap();
    let s = deploy();

    // A symlink to a folder the attacker can read.
    let link = temp.path().join("prod-access-g-link");
    std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();
    // A dangling symlink.
    let dangling = temp.path().join("prod-access-g-dangling");
    std::os::unix::fs::symlink(elsewhere.path().join("later"), &dangling).unwrap();
    // An existing folder and an existing file.
    std::fs::create_dir(temp.path().join("prod-access-g-dir")).unwrap();
    std::fs::write(temp.path().join("prod-access-g-file"), "x").unwrap();

    let before = tree(temp.path());
    for id in ["g-link", "g-dangling", "g-dir", "g-file"] {
        let gid = GrantId::new(id).unwrap();
        let err = p
            .mint(&ctx(&gid, &s, Utc::now(), Duration::from_secs(600)))
            .await
            .unwrap_err();
        assert_eq!(err.exit_class(), ExitClass::Upstream, "{id}: {err}");
        assert_eq!(err.id(), "ssh.key_path_exists", "{id}: {err}");
    }
    assert_eq!(tree(temp.path()), before, "nothing new under RUNNER_TEMP");
    assert!(
        tree(elsewhere.path()).is_empty(),
        "nothing written through a symlink"
    );
    assert!(
        std::fs::read_dir(temp.path().join("prod-access-g-dir"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn a_runner_temp_other_users_can_write_is_refused_and_nothing_is_written() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let id = GrantId::new("g-open").unwrap();
    let s = deploy();
    let err = p
        .mint(&ctx(&id, &s, Utc::now(), Duration::from_secs(600)))
        .await
        .unwrap_err();
    assert_eq!(err.id(), "config.runner_temp_invalid", "{err}");
    assert_eq!(err.exit_class(), ExitClass::Config);
    assert!(tree(temp.path()).is_empty());
    // With the sticky bit (like /tmp) others cannot rename the folder: accepted.
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let m = p
        .mint(&ctx(&id, &s, Utc::now(), Duration::from_secs(600)))
        .await
        .unwrap();
    assert_eq!(mode(&temp.path().join("prod-access-g-open")), 0o700);
    p.revoke(&m.handle).await.unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn a_handle_of_another_kind_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    let m = mint(&p, "g-kind", &deploy()).await;
    let mut jwt = m.handle.clone();
    jwt.kind = "jwt".into();
    let err = p.revoke(&jwt).await.unwrap_err();
    assert_eq!(err.id(), "credential.kind_mismatch");
    assert!(
        Path::new(&env_of(&m, ssh::KEY_ENV)).exists(),
        "nothing deleted"
    );
    // A handle whose serial was tampered with still removes the files, then says so.
    let mut bad = m.handle.clone();
    bad.data.insert("serial".into(), "0".into());
    let err = p.revoke(&bad).await.unwrap_err();
    assert_eq!(err.id(), "credential.state_invalid");
    assert!(tree(temp.path()).is_empty());
}

#[tokio::test]
async fn revoke_leaves_no_credential_file_and_is_idempotent() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    let m = mint(&p, "g-revoke", &deploy()).await;
    // The job may add its own files to the folder (e.g. the public key).
    std::fs::write(temp.path().join("prod-access-g-revoke/id_ed25519.pub"), "x").unwrap();
    let first = p.revoke(&m.handle).await.unwrap();
    assert!(tree(temp.path()).is_empty(), "{:?}", tree(temp.path()));
    let second = p.revoke(&m.handle).await.unwrap();
    assert_eq!(first, second);
    assert!(tree(temp.path()).is_empty());

    // Revoke for a grant whose folder never existed: fine, a no-op.
    let mut never = m.handle.clone();
    never.grant_id = GrantId::new("g-never").unwrap();
    assert!(matches!(
        p.revoke(&never).await.unwrap(),
        RevokeOutcome::NotRevocable { .. }
    ));
}

#[tokio::test]
async fn revoke_deletes_only_the_grants_own_folder() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    let m = mint(&p, "g-own", &deploy()).await;
    let other = mint(&p, "g-other", &deploy()).await;
    std::fs::write(temp.path().join("keep.txt"), "x").unwrap();
    p.revoke(&m.handle).await.unwrap();
    assert!(!temp.path().join("prod-access-g-own").exists());
    assert!(Path::new(&env_of(&other, ssh::KEY_ENV)).exists());
    assert!(temp.path().join("keep.txt").exists());

    // A symlink where the folder was is refused, not followed (its target is untouched).
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("precious"), "x").unwrap();
    std::os::unix::fs::symlink(victim.path(), temp.path().join("prod-access-g-own")).unwrap();
    let err = p.revoke(&m.handle).await.unwrap_err();
    assert_eq!(err.exit_class(), ExitClass::Upstream);
    assert!(victim.path().join("precious").exists());

    // A forged handle: the grant id is checked when the state is read back.
    let forged = r#"{"kind":"ssh","grant_id":"../..","expires_at":"2030-01-01T00:00:00Z","data":{"serial":"1"}}"#;
    assert!(prod_access::credential::RevokeHandle::from_state(forged).is_err());
}

// ---------------------------------------------------------------------------------------
// Revoke's truth (catalogue 79) and a KRL

#[tokio::test]
async fn revoke_says_not_revocable_and_its_serial_line_feeds_a_krl_that_sshd_honours() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    let m = mint(&p, "g-krl", &deploy()).await;
    // Keep a copy of the key and certificate (as a thief would) before revoke removes them.
    let stolen = tempfile::tempdir().unwrap();
    let key = stolen.path().join("id_ed25519");
    let cert = stolen.path().join("id_ed25519-cert.pub");
    std::fs::copy(env_of(&m, ssh::KEY_ENV), &key).unwrap();
    std::fs::copy(env_of(&m, ssh::CERT_ENV), &cert).unwrap();
    let copy = Minted {
        public_env: vec![
            (ssh::KEY_ENV.into(), key.display().to_string()),
            (ssh::CERT_ENV.into(), cert.display().to_string()),
        ],
        env: vec![],
        mask_forms: vec![],
        fingerprint: m.fingerprint.clone(),
        expires_at: m.expires_at,
        audit: vec![],
        handle: m.handle.clone(),
        files: vec![],
    };

    let outcome = p.revoke(&m.handle).await.unwrap();
    let text = outcome.describe();
    let t = m
        .expires_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        text.starts_with(&format!("not revocable; expires at {t} (")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "hosts without a KRL listing serial {} accept the certificate until {t}",
            audit(&m, "serial")
        )),
        "{text}"
    );
    let serial = audit(&m, "serial");
    let line = text.lines().last().unwrap();
    assert_eq!(line, format!("serial: {serial}"));

    // The stolen certificate still works on a host without a KRL ...
    let plain = Sshd::start(&ca.public, "");
    let out = plain.ssh(&copy, &[], "echo still-valid");
    assert!(out.status.success(), "{}\n{}", stderr(&out), plain.log());

    // ... and the printed line is a valid `ssh-keygen -k` input; with that KRL sshd refuses.
    let spec = stolen.path().join("krl.txt");
    std::fs::write(&spec, format!("{line}\n")).unwrap();
    let krl = keys.path().join("revoked.krl");
    ok(Command::new("ssh-keygen")
        .arg("-k")
        .arg("-s")
        .arg(&ca.public)
        .arg("-f")
        .arg(&krl)
        .arg(&spec));
    let out = run(Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(&krl)
        .arg(&cert));
    assert!(
        stdout(&out).contains("REVOKED"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let guarded = Sshd::start(&ca.public, &format!("RevokedKeys {}", krl.display()));
    let out = guarded.ssh(&copy, &[], "echo in");
    assert_eq!(out.status.code(), Some(255), "{}", stdout(&out));
    assert!(stdout(&out).is_empty());
    assert!(guarded.log().contains("revoked"), "{}", guarded.log());
}

// ---------------------------------------------------------------------------------------
// Configuration and secrets

#[tokio::test]
async fn the_private_key_and_ca_key_never_appear_in_debug_or_errors() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    let m = mint(&p, "g-debug", &deploy()).await;
    let key_text = std::fs::read_to_string(env_of(&m, ssh::KEY_ENV)).unwrap();
    let secret_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 8)
            .map(str::to_string)
            .collect()
    };
    let mut lines = secret_lines(&key_text);
    lines.extend(secret_lines(&ca.text));
    assert!(lines.len() >= 6);

    let mut shown = vec![
        format!("{p:?}"),
        format!("{p:#?}"),
        format!("{m:?}"),
        format!("{m:#?}"),
        format!("{:?}", p.ca()),
        m.handle.to_state().unwrap(),
        p.revoke(&m.handle).await.unwrap().describe(),
    ];
    // Errors built around bad keys.
    let spec = prod_access::policy::SshProvider {
        ca_key_env: "CA".into(),
    };
    let env_with = |ca_text: String| {
        move |k: &str| match k {
            "CA" => Some(ca_text.clone()),
            "RUNNER_TEMP" => Some("/tmp".to_string()),
            _ => None,
        }
    };
    let truncated: String = ca.text.lines().take(3).collect::<Vec<_>>().join("\n");
    let flipped = ca.text.replacen('A', "B", 1);
    for bad in [
        truncated,
        flipped.clone(),
        format!("{}junk", ca.text),
        key_text.replace("OPENSSH", "RSA"),
    ] {
        let err = SshCa::from_env(&spec, &env_with(bad)).unwrap_err();
        assert_eq!(err.exit_class(), ExitClass::Config);
        shown.push(format!("{err} {err:?}"));
    }
    for text in &shown {
        for line in &lines {
            // Compare on a 16-char window: a partial leak counts.
            for window in line.as_bytes().chunks(16).filter(|c| c.len() == 16) {
                let window = std::str::from_utf8(window).unwrap();
                assert!(!text.contains(window), "secret text leaked into: {text}");
            }
        }
    }
}

#[test]
fn unsupported_or_encrypted_ca_keys_and_missing_env_are_config_errors() {
    let keys = tempfile::tempdir().unwrap();
    let spec = prod_access::policy::SshProvider {
        ca_key_env: "PROD_ACCESS_SSH_CA_KEY".into(),
    };
    let env = |ca: Option<String>, temp: Option<&'static str>| {
        move |k: &str| match k {
            "PROD_ACCESS_SSH_CA_KEY" => ca.clone(),
            "RUNNER_TEMP" => temp.map(str::to_string),
            _ => None,
        }
    };
    let cases: Vec<(Option<String>, Option<&'static str>, &str, &str)> = vec![
        (
            None,
            Some("/tmp"),
            "config.ssh_ca_key_missing",
            "PROD_ACCESS_SSH_CA_KEY",
        ),
        (
            Some(" \n".into()),
            Some("/tmp"),
            "config.ssh_ca_key_missing",
            "PROD_ACCESS_SSH_CA_KEY",
        ),
        (
            Some(keygen(keys.path(), "rsa", &["-t", "rsa", "-b", "2048"]).0),
            Some("/tmp"),
            "config.ssh_ca_key_invalid",
            "not supported",
        ),
        (
            Some(keygen(keys.path(), "p384", &["-t", "ecdsa", "-b", "384"]).0),
            Some("/tmp"),
            "config.ssh_ca_key_invalid",
            "not supported",
        ),
        (
            Some({
                let path = keys.path().join("enc");
                ok(Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "correct horse", "-f"])
                    .arg(&path));
                std::fs::read_to_string(&path).unwrap()
            }),
            Some("/tmp"),
            "config.ssh_ca_key_invalid",
            "encrypted",
        ),
        (
            Some(
                "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIF\n-----END PRIVATE KEY-----\n"
                    .into(),
            ),
            Some("/tmp"),
            "config.ssh_ca_key_invalid",
            "not an OpenSSH private key",
        ),
        (
            Some(ed25519_ca(keys.path(), "ca").text),
            None,
            "config.runner_temp_missing",
            "RUNNER_TEMP",
        ),
        (
            Some(ed25519_ca(keys.path(), "ca2").text),
            Some("relative/dir"),
            "config.runner_temp_invalid",
            "absolute",
        ),
    ];
    for (ca, temp, id, says) in cases {
        let err = SshCa::from_env(&spec, &env(ca, temp)).unwrap_err();
        assert_eq!(err.exit_class(), ExitClass::Config, "{err}");
        assert_eq!(err.id(), id, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[tokio::test]
async fn a_bad_principal_is_never_signed() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let p = provider(&ca, temp.path());
    for principals in [
        &[][..],
        &["a,b"][..],
        &["de ploy"][..],
        &[""][..],
        &["ok", "x\ny"][..],
    ] {
        let s = scope(principals, None, &[], &[]);
        let id = GrantId::new("g-principal").unwrap();
        let err = p
            .mint(&ctx(&id, &s, Utc::now(), Duration::from_secs(600)))
            .await
            .unwrap_err();
        assert_eq!(err.id(), "ssh.principal_invalid", "{principals:?}");
        assert_eq!(err.exit_class(), ExitClass::Config);
    }
    assert!(tree(temp.path()).is_empty());
}

#[tokio::test]
async fn the_policy_wires_the_ssh_provider() {
    let keys = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let ca = ed25519_ca(keys.path(), "ca");
    let yaml = "version: 1\nscopes:\n  host-shell:\n    credential: { kind: ssh, principals: [deploy], extensions: [permit-pty] }\n    ttl: 10m\n    approvals: { required: 1 }\nproviders:\n  ssh: { ca_key_env: PROD_ACCESS_SSH_CA_KEY }\n";
    let policy = load_policy(yaml).unwrap();
    let scope = policy.scopes["host-shell"].clone();
    let runner_temp = temp.path().display().to_string();
    let env = |k: &str| match k {
        "PROD_ACCESS_SSH_CA_KEY" => Some(ca.text.clone()),
        "RUNNER_TEMP" => Some(runner_temp.clone()),
        _ => None,
    };
    let p = AnyProvider::for_scope(&policy, &scope, &env).unwrap();
    assert_eq!(p.kind(), "ssh");
    let id = GrantId::new("g-policy").unwrap();
    let m = p
        .mint(&ctx(&id, &scope, Utc::now(), Duration::from_secs(600)))
        .await
        .unwrap();
    assert_eq!(m.handle.kind, "ssh");
    let state = m.handle.to_state().unwrap();
    let back = prod_access::credential::RevokeHandle::from_state(&state).unwrap();
    assert!(matches!(
        p.revoke(&back).await.unwrap(),
        RevokeOutcome::NotRevocable { .. }
    ));
    assert!(tree(temp.path()).is_empty());
    let report = p.sweep(Utc::now()).await.unwrap();
    assert!(report.removed.is_empty() && !report.notes.is_empty());
}
