//! The `postgres` credential against a real PostgreSQL (catalogue rows 75-77, 85).
//!
//! Each test gets a server from [`PgServer::shared`]: `initdb` in a temp dir as the
//! `postgres` OS user, `postgres` on a free loopback port in its own process group, an
//! `admin` superuser, a table `t` and a role `app_readonly` with `SELECT` on it. Tests that
//! overlap share one server; it stops (process group killed) when the last one drops it.
//! The sweep test has a server of its own. A test that cannot start a server FAILS.
//! `scripts/setup` installs the distribution's `postgresql-<major>` when none is installed;
//! [`pg_bin`] finds the installed major (the newest if several), or `PROD_ACCESS_PG_BIN`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound as _, Utc};
use prod_access::credential::postgres::{PgProvider, RoleComment, role_name, role_stem};
use prod_access::credential::{
    GrantContext, GrantId, Minted, Provider, RevokeHandle, RevokeOutcome,
};
use prod_access::policy::{ApprovalRules, CredentialSpec, PostgresProvider, Scope};
use prod_access::secret::Secret;

const ADMIN_PASSWORD: &str = "Adm1n-s3cret-'\"-pw";
const DSN_ENV: &str = "PROD_ACCESS_PG_ADMIN_DSN";

/// The folder of `initdb`, `postgres`, `pg_isready` and `psql`: `PROD_ACCESS_PG_BIN` if set,
/// else the newest `/usr/lib/postgresql/<major>/bin` that holds `postgres` (Debian and Ubuntu
/// install each major there; the major differs between releases).
fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROD_ACCESS_PG_BIN") {
        return PathBuf::from(dir);
    }
    let majors = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let newest = majors
        .into_iter()
        .filter(|m| Path::new(&format!("/usr/lib/postgresql/{m}/bin/postgres")).exists())
        .max();
    match newest {
        Some(m) => PathBuf::from(format!("/usr/lib/postgresql/{m}/bin")),
        None => panic!("no PostgreSQL under /usr/lib/postgresql/*/bin: run scripts/setup"),
    }
}

/// A throwaway PostgreSQL server.
struct PgServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    /// The test CA that signed the server's certificate (for `localhost` only).
    ca: rustls::pki_types::CertificateDer<'static>,
}

static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());

impl PgServer {
    /// The server the currently running tests share (started if there is none).
    fn shared() -> Arc<PgServer> {
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slot.upgrade() {
            return s;
        }
        let s = Arc::new(PgServer::start());
        *slot = Arc::downgrade(&s);
        s
    }

    fn start() -> PgServer {
        let started = Instant::now();
        let bin = pg_bin();
        assert!(
            bin.join("postgres").exists(),
            "{} has no `postgres`: run scripts/setup",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("pa-pg-")
            .tempdir()
            .expect("temp dir");
        let pg_uid = id_of("-u");
        let pg_gid = id_of("-g");
        std::os::unix::fs::chown(dir.path(), Some(pg_uid), Some(pg_gid)).expect("chown");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, format!("{ADMIN_PASSWORD}\n")).unwrap();
        std::os::unix::fs::chown(&pwfile, Some(pg_uid), Some(pg_gid)).unwrap();
        let data = dir.path().join("data");
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "scram-sha-256",
                "-U",
                "admin",
                "-N",
                "--no-instructions",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&pwfile).unwrap();
        let ca = write_tls_files(dir.path(), pg_uid, pg_gid);
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .arg("-p")
            .arg(port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "log_statement=all", "-c", "log_connections=on"])
            .args(["-c", "ssl=on"])
            .arg("-c")
            .arg(format!(
                "ssl_cert_file={}",
                dir.path().join("server.crt").display()
            ))
            .arg("-c")
            .arg(format!(
                "ssl_key_file={}",
                dir.path().join("server.key").display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start postgres");
        let server = PgServer {
            dir,
            port,
            child,
            ca,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(pg_bin().join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server.psql(
            "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); \
             CREATE ROLE app_readonly NOLOGIN; GRANT SELECT ON t TO app_readonly;",
        );
        eprintln!("postgres on port {port} ready in {:?}", started.elapsed());
        server
    }

    fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    fn psql_in(&self, db: &str, sql: &str) -> String {
        let out = Command::new(pg_bin().join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "admin", "-d", db, "-c", sql])
            .env("PGPASSWORD", ADMIN_PASSWORD)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn dsn(&self) -> Secret {
        Secret::new(format!(
            "host=127.0.0.1 port={} user=admin dbname=postgres password='{}'",
            self.port,
            ADMIN_PASSWORD.replace('\\', "\\\\").replace('\'', "\\'")
        ))
    }

    fn provider(&self) -> PgProvider {
        PgProvider::with_dsn(&self.policy_provider(), &self.dsn()).unwrap()
    }

    fn policy_provider(&self) -> PostgresProvider {
        PostgresProvider {
            admin_dsn_env: DSN_ENV.into(),
            host: "127.0.0.1".into(),
            port: self.port,
            database: "postgres".into(),
        }
    }

    fn role_exists(&self, role: &str) -> bool {
        self.psql(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
            role.replace('\'', "''")
        )) == "1"
    }

    fn roles_like(&self, stem: &str) -> Vec<String> {
        let out = self.psql(&format!(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, '{stem}') ORDER BY 1"
        ));
        out.lines().map(str::to_string).collect()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Immediate shutdown of the whole group (runuser and postgres with its children).
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-QUIT", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for `localhost` signed by it, written as `server.crt` and
/// `server.key` (0600, owned by the postgres user). Returns the CA certificate.
fn write_tls_files(dir: &Path, uid: u32, gid: u32) -> rustls::pki_types::CertificateDer<'static> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "prod-access test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let crt = dir.join("server.crt");
    let keyfile = dir.join("server.key");
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&keyfile, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    for f in [&crt, &keyfile] {
        std::os::unix::fs::chown(f, Some(uid), Some(gid)).unwrap();
    }
    ca.der().clone()
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .unwrap();
    assert!(out.status.success(), "no `postgres` OS user");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a [`GrantContext`] borrows.
struct Grant {
    id: GrantId,
    scope: Scope,
    requester: String,
    reason: String,
    approvers: Vec<String>,
    ttl: Duration,
    now: DateTime<Utc>,
}

impl Grant {
    fn new(id: &str, grant_role: &str) -> Self {
        Grant {
            id: GrantId::new(id).unwrap(),
            scope: Scope {
                name: "db-read".into(),
                credential: CredentialSpec::Postgres {
                    grant_role: grant_role.into(),
                    connection_limit: 3,
                    database: None,
                },
                ttl: Duration::from_secs(900),
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
            },
            requester: "octocat".into(),
            reason: "INC-1 read the ledger".into(),
            approvers: vec!["alice".into()],
            ttl: Duration::from_secs(900),
            now: Utc::now(),
        }
    }

    fn ctx(&self) -> GrantContext<'_> {
        GrantContext {
            grant_id: &self.id,
            scope: &self.scope,
            requester: &self.requester,
            reason: &self.reason,
            approvers: &self.approvers,
            repository: "acme/payments",
            run_url: "https://github.com/acme/payments/actions/runs/42",
            ttl: self.ttl,
            now: self.now,
        }
    }
}

fn env_of<'a>(m: &'a Minted, name: &str) -> &'a str {
    m.public_env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .or_else(|| {
            m.env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.expose())
        })
        .unwrap_or_else(|| panic!("{name} not in the minted env"))
}

/// Logs in as a client would, from `PGHOST`.. `PGPASSWORD`.
async fn login(m: &Minted) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(env_of(m, "PGHOST"))
        .port(env_of(m, "PGPORT").parse().unwrap())
        .dbname(env_of(m, "PGDATABASE"))
        .user(env_of(m, "PGUSER"))
        .password(env_of(m, "PGPASSWORD"))
        .connect_timeout(Duration::from_secs(5));
    connect(&cfg).await
}

/// Logs in from `DATABASE_URL`.
async fn login_url(m: &Minted) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let cfg: tokio_postgres::Config = env_of(m, "DATABASE_URL").parse().unwrap();
    connect(&cfg).await
}

async fn connect(
    cfg: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_default()
}

/// Everything printable about a mint, to search for secrets in.
fn printable(m: &Minted) -> String {
    format!(
        "{m:?} {} {:?} {}",
        m.handle.to_state().unwrap(),
        m.audit,
        m.fingerprint
    )
}

#[tokio::test]
async fn credential_logs_in_can_select_but_not_write_or_create() {
    let pg = PgServer::shared();
    let p = pg.provider();
    let g = Grant::new("run-100-1-db-read", "app_readonly");
    let m = p.mint(&g.ctx()).await.unwrap();

    let role = env_of(&m, "PGUSER").to_string();
    assert!(role.starts_with("pa_run_100_1_db_read_"), "{role}");
    assert!(role.len() <= 63);
    assert_eq!(m.handle.data.get("role"), Some(&role));
    assert_eq!(m.handle.data.len(), 1);
    assert_eq!(env_of(&m, "PGHOST"), "127.0.0.1");
    assert_eq!(env_of(&m, "PGPORT"), pg.port.to_string());
    assert_eq!(env_of(&m, "PGDATABASE"), "postgres");
    let password = env_of(&m, "PGPASSWORD").to_string();
    assert!(password.len() >= 22, "at least 128 bits");
    assert_eq!(m.fingerprint, Secret::new(password.clone()).fingerprint());
    assert!(
        m.mask_forms
            .iter()
            .any(|f| f.expose() == env_of(&m, "DATABASE_URL"))
    );
    assert!(m.mask_forms.iter().any(|f| f.expose() == password));
    assert!(m.audit.contains(&("role".into(), role.clone())));
    assert!(
        m.audit
            .contains(&("grant_role".into(), "app_readonly".into()))
    );
    assert!(m.audit.iter().any(|(k, _)| k == "expires_at"));
    assert!(!printable(&m).contains(&password));
    // The server's statement log (log_statement=all) never saw the password.
    assert!(!pg.log().contains(&password));

    for client in [login(&m).await.unwrap(), login_url(&m).await.unwrap()] {
        let who: String = client
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(who, role);
        let n: i64 = client
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 2, "SELECT works without SET ROLE");
        let e = client
            .batch_execute("INSERT INTO t VALUES (3)")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "42501", "{e}");
        let e = client
            .batch_execute("CREATE TABLE mine (x int)")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "42501", "{e}");
        let e = client.batch_execute("CREATE ROLE evil").await.unwrap_err();
        assert_eq!(code(&e), "42501", "{e}");
    }
    let attrs = pg.psql(&format!(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, \
                rolinherit, rolcanlogin, rolconnlimit, rolvaliduntil IS NOT NULL \
         FROM pg_roles WHERE rolname = '{role}'"
    ));
    assert_eq!(attrs, "f|f|f|f|f|t|t|3|t");

    assert_eq!(p.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
}

#[tokio::test]
async fn revoke_ends_open_sessions_and_blocks_logins_and_twice_is_a_no_op() {
    let pg = PgServer::shared();
    let p = pg.provider();
    let g = Grant::new("run-101-1-db-read", "app_readonly");
    let m = p.mint(&g.ctx()).await.unwrap();
    let role = m.handle.data["role"].clone();
    let open = login(&m).await.unwrap();
    open.simple_query("SELECT 1").await.unwrap();

    assert_eq!(p.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
    assert!(!pg.role_exists(&role));
    assert!(
        open.simple_query("SELECT 1").await.is_err(),
        "a session opened before revoke must be gone"
    );
    let e = login(&m).await.unwrap_err();
    assert_eq!(code(&e), "28P01", "{e}");

    // Catalogue row 85: twice, and from state read back, is a no-op.
    let state = m.handle.to_state().unwrap();
    let back = RevokeHandle::from_state(&state).unwrap();
    assert_eq!(
        p.revoke(&back).await.unwrap(),
        RevokeOutcome::NothingToRevoke
    );
    assert_eq!(
        p.revoke(&m.handle).await.unwrap(),
        RevokeOutcome::NothingToRevoke
    );
}

/// Objects the credential made do not outlive it. SECURITY: handing them to the admin
/// (`REASSIGN OWNED ... TO` a superuser) would turn a `SECURITY DEFINER` function, a view or
/// a rule the job wrote into code that runs as superuser for whoever may call it.
#[tokio::test]
async fn objects_the_credential_made_are_dropped_not_handed_to_the_admin() {
    let pg = PgServer::shared();
    pg.psql("CREATE SCHEMA scratch; CREATE ROLE scratch_writer NOLOGIN;");
    pg.psql("GRANT USAGE, CREATE ON SCHEMA scratch TO scratch_writer");
    let p = pg.provider();
    let g = Grant::new("run-102-1-scratch", "scratch_writer");
    let m = p.mint(&g.ctx()).await.unwrap();
    let client = login(&m).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE scratch.made_by_pa (x int); \
             GRANT ALL ON scratch.made_by_pa TO PUBLIC; \
             CREATE FUNCTION scratch.escalate() RETURNS text LANGUAGE sql SECURITY DEFINER \
               AS $$ SELECT current_user::text $$; \
             CREATE VIEW scratch.v AS SELECT 1 AS one; GRANT SELECT ON scratch.v TO PUBLIC;",
        )
        .await
        .unwrap();
    let as_role: String = client
        .query_one("SELECT scratch.escalate()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(as_role, m.handle.data["role"]);
    drop(client);
    assert_eq!(p.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
    assert_eq!(
        pg.psql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'scratch'"
        ),
        "0"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_proc WHERE proname = 'escalate'"),
        "0"
    );
}

/// A scope's `database` other than the admin's: what the credential made there goes too.
#[tokio::test]
async fn objects_in_another_database_are_dropped_too() {
    let pg = PgServer::shared();
    pg.psql("CREATE DATABASE other");
    pg.psql("CREATE ROLE other_writer NOLOGIN");
    pg.psql_in(
        "other",
        "CREATE SCHEMA s2; GRANT USAGE, CREATE ON SCHEMA s2 TO other_writer;",
    );
    let p = pg.provider();
    let mut g = Grant::new("run-112-1-other", "other_writer");
    g.scope.credential = CredentialSpec::Postgres {
        grant_role: "other_writer".into(),
        connection_limit: 2,
        database: Some("other".into()),
    };
    let m = p.mint(&g.ctx()).await.unwrap();
    assert_eq!(env_of(&m, "PGDATABASE"), "other");
    let client = login(&m).await.unwrap();
    client
        .batch_execute("CREATE TABLE s2.kept_by_nobody (x int)")
        .await
        .unwrap();
    drop(client);
    assert_eq!(p.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
    assert!(!pg.role_exists(&m.handle.data["role"]));
    assert_eq!(
        pg.psql_in(
            "other",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'kept_by_nobody'"
        ),
        "0"
    );

    // A grant option held only in the scope's database is seen too.
    pg.psql("CREATE ROLE other_grantopt NOLOGIN");
    pg.psql_in(
        "other",
        "CREATE TABLE s2.t2 (x int); GRANT SELECT ON s2.t2 TO other_grantopt WITH GRANT OPTION;",
    );
    g.scope.credential = CredentialSpec::Postgres {
        grant_role: "other_grantopt".into(),
        connection_limit: 2,
        database: Some("other".into()),
    };
    g.id = GrantId::new("run-112-2-other").unwrap();
    let e = p.mint(&g.ctx()).await.unwrap_err();
    assert_eq!(e.id(), "config.grant_role_privileged", "{e}");
    assert!(e.to_string().contains("WITH GRANT OPTION"), "{e}");
}

#[tokio::test]
async fn an_expired_role_cannot_log_in() {
    let pg = PgServer::shared();
    let p = pg.provider();
    // Test hook: a grant decided an hour ago with a one-minute ttl: VALID UNTIL is past.
    let mut g = Grant::new("run-103-1-db-read", "app_readonly");
    g.now = Utc::now() - chrono::Duration::hours(1);
    g.ttl = Duration::from_secs(60);
    let m = p.mint(&g.ctx()).await.unwrap();
    let e = login(&m).await.unwrap_err();
    assert_eq!(code(&e), "28P01", "{e}");

    // A live six-second grant (room for a loaded machine to log in first): works now,
    // refused once VALID UNTIL has passed.
    let mut g = Grant::new("run-103-2-db-read", "app_readonly");
    g.now = Utc::now().trunc_subsecs(0);
    g.ttl = Duration::from_secs(6);
    let live = p.mint(&g.ctx()).await.unwrap();
    login(&live).await.unwrap();
    let wait = (live.expires_at - Utc::now()).to_std().unwrap_or_default();
    assert!(wait <= Duration::from_secs(6));
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    let e = login(&live).await.unwrap_err();
    assert_eq!(code(&e), "28P01", "{e}");

    for h in [&m.handle, &live.handle] {
        assert_eq!(p.revoke(h).await.unwrap(), RevokeOutcome::Revoked);
    }
}

#[tokio::test]
async fn sweep_drops_only_expired_pa_roles_and_ends_their_sessions() {
    // Its own server: a sweep sees every pa_ role, and other tests make some.
    let pg = PgServer::start();
    let p = pg.provider();

    // Expires in ~6 s with a session open (row 75: the session must not survive).
    let mut g = Grant::new("run-104-1-db-read", "app_readonly");
    g.now = Utc::now().trunc_subsecs(0);
    g.ttl = Duration::from_secs(6);
    let expiring = p.mint(&g.ctx()).await.unwrap();
    let session = login(&expiring).await.unwrap();
    // Expired an hour ago (a job killed before its revoke).
    let mut g = Grant::new("run-104-2-db-read", "app_readonly");
    g.now = Utc::now() - chrono::Duration::hours(1);
    g.ttl = Duration::from_secs(60);
    let expired = p.mint(&g.ctx()).await.unwrap();
    // Live.
    let g = Grant::new("run-104-3-db-read", "app_readonly");
    let live = p.mint(&g.ctx()).await.unwrap();
    // Not ours: a role without the prefix, and one under it without our comment.
    pg.psql(
        "CREATE ROLE keep_me LOGIN VALID UNTIL '2001-01-01'; \
         CREATE ROLE pa_manual_0123456789abcdef LOGIN VALID UNTIL '2001-01-01'",
    );

    let wait = (expiring.expires_at - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    let report = p.sweep(Utc::now()).await.unwrap();
    let mut want = vec![
        expiring.handle.data["role"].clone(),
        expired.handle.data["role"].clone(),
    ];
    want.sort();
    let mut got = report.removed.clone();
    got.sort();
    assert_eq!(got, want, "{report:?}");
    assert_eq!(report.kept, 1);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("pa_manual_0123456789abcdef")),
        "{report:?}"
    );
    assert!(session.simple_query("SELECT 1").await.is_err());
    assert!(pg.role_exists("keep_me"));
    assert!(pg.role_exists("pa_manual_0123456789abcdef"));
    assert!(pg.role_exists(&live.handle.data["role"]));
    login(&live).await.unwrap();

    // Revoke after a sweep is a no-op; a second sweep removes nothing.
    assert_eq!(
        p.revoke(&expired.handle).await.unwrap(),
        RevokeOutcome::NothingToRevoke
    );
    assert!(p.sweep(Utc::now()).await.unwrap().removed.is_empty());
}

#[tokio::test]
async fn an_existing_role_fails_the_mint_and_keeps_its_password() {
    let pg = PgServer::shared();
    let id = GrantId::new("run-105-1-db-read").unwrap();
    let suffix = "00000000deadbeef";
    let name = role_name(&id, suffix);
    // Row 76: someone made the role first, with a password they know.
    pg.psql(&format!(
        "CREATE ROLE {name} LOGIN PASSWORD 'attacker-known'"
    ));
    let p = pg.provider().with_fixed_suffix(suffix).unwrap();
    let g = Grant::new("run-105-1-db-read", "app_readonly");
    let e = p.mint(&g.ctx()).await.unwrap_err();
    assert_eq!(e.id(), "postgres.role_exists", "{e}");
    assert_eq!(e.exit_class().code(), 3);
    // Password unchanged, no membership granted, no comment written.
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(pg.port)
        .dbname("postgres")
        .user(&name)
        .password("attacker-known");
    let c = connect(&cfg).await.unwrap();
    let e = c.batch_execute("SELECT * FROM t").await.unwrap_err();
    assert_eq!(code(&e), "42501");
    assert_eq!(
        pg.psql(&format!(
            "SELECT coalesce(shobj_description(oid, 'pg_authid'), '-') FROM pg_roles \
             WHERE rolname = '{name}'"
        )),
        "-"
    );
    // And revoke of that name refuses to touch it: the comment is not ours.
    let handle = RevokeHandle {
        kind: "postgres".into(),
        grant_id: id.clone(),
        expires_at: Utc::now(),
        data: [("role".to_string(), name.clone())].into_iter().collect(),
    };
    let e = p.revoke(&handle).await.unwrap_err();
    assert_eq!(e.id(), "postgres.handle_forged", "{e}");
    assert!(pg.role_exists(&name));
}

#[tokio::test]
async fn privileged_or_missing_grant_roles_are_config_errors() {
    let pg = PgServer::shared();
    pg.psql(
        "CREATE ROLE g_super SUPERUSER NOLOGIN; \
         CREATE ROLE g_createrole CREATEROLE NOLOGIN; \
         CREATE ROLE g_createdb CREATEDB NOLOGIN; \
         CREATE ROLE g_replication REPLICATION NOLOGIN; \
         CREATE ROLE g_bypassrls BYPASSRLS NOLOGIN; \
         CREATE ROLE g_indirect NOLOGIN; \
         GRANT g_super TO g_indirect; \
         CREATE ROLE g_files NOLOGIN; \
         GRANT pg_read_server_files TO g_files; \
         CREATE ROLE g_owner NOLOGIN; CREATE TABLE owned_by_g (x int); \
         ALTER TABLE owned_by_g OWNER TO g_owner; \
         CREATE ROLE g_grantopt NOLOGIN; GRANT SELECT ON t TO g_grantopt WITH GRANT OPTION; \
         CREATE ROLE g_owner_indirect NOLOGIN; GRANT g_owner TO g_owner_indirect; \
         CREATE ROLE g_admin NOLOGIN; GRANT app_readonly TO g_admin WITH ADMIN OPTION;",
    );
    let p = pg.provider();
    for (i, grant_role) in [
        "g_super",
        "g_createrole",
        "g_createdb",
        "g_replication",
        "g_bypassrls",
        "g_indirect",
        "g_files",
        "g_owner",
        "g_grantopt",
        "g_owner_indirect",
        "g_admin",
        "admin",
        "pg_execute_server_program",
    ]
    .into_iter()
    .enumerate()
    {
        let g = Grant::new(&format!("run-106-{i}-x"), grant_role);
        let e = p.mint(&g.ctx()).await.unwrap_err();
        assert_eq!(e.id(), "config.grant_role_privileged", "{grant_role}: {e}");
        assert_eq!(e.exit_class().code(), 2);
        assert!(pg.roles_like(&role_stem(&g.id)).is_empty(), "{grant_role}");
    }
    for (grant_role, why) in [
        ("g_owner", "owns 1 object"),
        ("g_owner_indirect", "owns 1 object"),
        ("g_grantopt", "WITH GRANT OPTION"),
        ("g_admin", "WITH ADMIN OPTION"),
        ("g_indirect", "SUPERUSER through membership in \"g_super\""),
    ] {
        let g = Grant::new("run-106-98-x", grant_role);
        let e = p.mint(&g.ctx()).await.unwrap_err();
        assert!(e.to_string().contains(why), "{grant_role}: {e}");
    }
    let g = Grant::new("run-106-99-x", "no_such_role");
    let e = p.mint(&g.ctx()).await.unwrap_err();
    assert_eq!(e.id(), "config.grant_role_missing", "{e}");
    assert_eq!(e.exit_class().code(), 2);
}

#[tokio::test]
async fn hostile_text_only_reaches_the_comment_and_round_trips() {
    let pg = PgServer::shared();
    let weird = "we\"ird'; DROP ROLE admin; --";
    pg.psql(&format!(
        "DO $x$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {lit}) THEN \
         EXECUTE format('CREATE ROLE %I NOLOGIN', {lit}); \
         EXECUTE format('GRANT SELECT ON t TO %I', {lit}); END IF; END $x$",
        lit = "'we\"ird''; DROP ROLE admin; --'"
    ));
    let p = pg.provider();
    let mut g = Grant::new("run-107-1-db-read", weird);
    let hostile = "'; DROP ROLE admin; -- \" $$ $x$ \\ \\' \\\\ E'\\x41' é 漢字 🎉 \n\t\u{7f}";
    g.requester = hostile.into();
    g.reason = format!("reason {hostile}");
    g.scope.name = format!("scope {hostile}");
    let m = p.mint(&g.ctx()).await.unwrap();
    assert!(pg.role_exists("admin"));
    let role = m.handle.data["role"].clone();
    let comment = pg.psql(&format!(
        "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = '{role}'"
    ));
    let c = RoleComment::parse(Some(&comment)).unwrap();
    assert_eq!(c.requester, hostile);
    assert_eq!(c.reason, format!("reason {hostile}"));
    assert_eq!(c.scope, format!("scope {hostile}"));
    assert_eq!(c.grant_id, "run-107-1-db-read");
    let client = login(&m).await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    drop(client);
    assert_eq!(p.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
    assert!(pg.role_exists(weird));
}

#[tokio::test]
async fn forged_handles_are_refused_and_nothing_is_dropped() {
    let pg = PgServer::shared();
    let p = pg.provider();
    let g = Grant::new("run-108-1-db-read", "app_readonly");
    let m = p.mint(&g.ctx()).await.unwrap();
    let role = m.handle.data["role"].clone();
    let other = GrantId::new("run-108-2-db-read").unwrap();
    let handle = |grant_id: &GrantId, data: &[(&str, &str)]| RevokeHandle {
        kind: "postgres".into(),
        grant_id: grant_id.clone(),
        expires_at: m.expires_at,
        data: data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    // A role the name pattern does not allow, ours under another grant id, extra fields.
    for (h, id) in [
        (
            handle(&g.id, &[("role", "admin")]),
            "postgres.handle_forged",
        ),
        (
            handle(&g.id, &[("role", "app_readonly")]),
            "postgres.handle_forged",
        ),
        (handle(&other, &[("role", &role)]), "postgres.handle_forged"),
        (
            handle(&g.id, &[("role", &role), ("x", "y")]),
            "postgres.handle_forged",
        ),
        (handle(&g.id, &[]), "postgres.handle_forged"),
        (
            RevokeHandle {
                kind: "jwt".into(),
                ..m.handle.clone()
            },
            "credential.kind_mismatch",
        ),
    ] {
        let e = p.revoke(&h).await.unwrap_err();
        assert_eq!(e.id(), id, "{h:?}: {e}");
        assert_eq!(e.exit_class().code(), 2);
    }
    // A role of the right shape for `other` whose comment names a different grant.
    let name = role_name(&other, "0123456789abcdef");
    pg.psql(&format!(
        "CREATE ROLE {name} NOLOGIN; COMMENT ON ROLE {name} IS \
         '{{\"issuer\":\"prod-access\",\"grant_id\":\"run-108-1-db-read\",\"requester\":\"x\",\
         \"scope\":\"s\",\"expires_at\":\"2001-01-01T00:00:00Z\",\"database\":\"postgres\",\
         \"repository\":\"r\",\"run_url\":\"u\",\"reason\":\"\"}}'"
    ));
    let e = p
        .revoke(&handle(&other, &[("role", &name)]))
        .await
        .unwrap_err();
    assert_eq!(e.id(), "postgres.handle_forged", "{e}");
    assert!(pg.role_exists(&name));
    assert!(pg.role_exists("admin"));
    assert!(pg.role_exists("app_readonly"));
    login(&m).await.unwrap();
    assert_eq!(p.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
}

#[tokio::test]
async fn the_admin_dsn_and_passwords_never_reach_errors_or_debug() {
    let pg = PgServer::shared();
    let policy = pg.policy_provider();
    // Wrong admin password: the connect error names the variable, not the DSN.
    let wrong = Secret::new(format!(
        "postgresql://admin:Wr0ngSecretPw@127.0.0.1:{}/postgres",
        pg.port
    ));
    let p = PgProvider::with_dsn(&policy, &wrong).unwrap();
    let g = Grant::new("run-109-1-db-read", "app_readonly");
    let e = p.mint(&g.ctx()).await.unwrap_err();
    assert_eq!(e.id(), "postgres.connect_failed");
    assert_eq!(e.exit_class().code(), 3);
    let shown = format!("{e} {e:?} {p:?}");
    assert!(shown.contains(DSN_ENV), "{shown}");
    assert!(!shown.contains("Wr0ngSecretPw"), "{shown}");
    // Nothing listening.
    let down = Secret::new(format!(
        "host=127.0.0.1 port={} user=admin password=D0wnSecretPw connect_timeout=2",
        free_port()
    ));
    let p = PgProvider::with_dsn(&policy, &down).unwrap();
    // Row 86: the provider is down during revoke: exit 3, not a silent success.
    let handle = RevokeHandle {
        kind: "postgres".into(),
        grant_id: g.id.clone(),
        expires_at: Utc::now(),
        data: [("role".to_string(), role_name(&g.id, "0123456789abcdef"))]
            .into_iter()
            .collect(),
    };
    for e in [
        p.mint(&g.ctx()).await.unwrap_err(),
        p.revoke(&handle).await.unwrap_err(),
        p.sweep(Utc::now()).await.unwrap_err(),
    ] {
        assert_eq!(e.id(), "postgres.connect_failed");
        assert_eq!(e.exit_class().code(), 3);
        assert!(!format!("{e} {e:?} {p:?}").contains("D0wnSecretPw"));
    }
    // The good provider: Debug shows no admin password; a failing mint (a missing role)
    // shows neither the DSN nor the admin password.
    let p = pg.provider();
    let debug = format!("{p:?}");
    assert!(!debug.contains(ADMIN_PASSWORD), "{debug}");
    assert!(!debug.contains(pg.dsn().expose()));
    let g = Grant::new("run-109-2-db-read", "no_such_role");
    let e = p.mint(&g.ctx()).await.unwrap_err();
    assert!(!format!("{e} {e:?}").contains(ADMIN_PASSWORD));
    // A minted credential: its password is in no Debug, state or audit output.
    let g = Grant::new("run-109-3-db-read", "app_readonly");
    let m = p.mint(&g.ctx()).await.unwrap();
    let pw = env_of(&m, "PGPASSWORD").to_string();
    assert!(!printable(&m).contains(&pw));
    assert!(!pg.log().contains(&pw));
    assert!(!pg.log().contains(ADMIN_PASSWORD));
    assert_eq!(p.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
}

#[tokio::test]
async fn any_provider_builds_the_postgres_kind_from_the_policy() {
    use prod_access::credential::AnyProvider;
    let pg = PgServer::shared();
    let yaml = format!(
        "version: 1\nscopes:\n  db-read:\n    credential: {{ kind: postgres, grant_role: app_readonly, connection_limit: 2 }}\n    ttl: 15m\n    approvals: {{ required: 1 }}\nproviders:\n  postgres: {{ admin_dsn_env: {DSN_ENV}, host: 127.0.0.1, port: {}, database: postgres }}\n",
        pg.port
    );
    let policy = prod_access::policy::load_policy(&yaml).unwrap();
    let scope = &policy.scopes["db-read"];
    let dsn = pg.dsn();
    let any = AnyProvider::for_scope(&policy, scope, &|k| {
        (k == DSN_ENV).then(|| dsn.expose().to_string())
    })
    .unwrap();
    assert_eq!(any.kind(), "postgres");
    let err = AnyProvider::for_scope(&policy, scope, &|_| None).unwrap_err();
    assert_eq!(err.id(), "config.pg_admin_dsn_missing");
    let mut g = Grant::new("run-110-1-db-read", "app_readonly");
    g.scope = scope.clone();
    let m = any.mint(&g.ctx()).await.unwrap();
    login(&m).await.unwrap();
    assert_eq!(any.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
}

#[tokio::test]
async fn the_admin_connection_uses_verified_tls_when_asked() {
    let pg = PgServer::shared();
    let policy = pg.policy_provider();
    let dsn = |host: &str| {
        Secret::new(format!(
            "host={host} port={} user=admin dbname=postgres sslmode=require password='{}'",
            pg.port,
            ADMIN_PASSWORD.replace('\'', "\\'")
        ))
    };
    // Trusting the test CA: mint and revoke over TLS.
    let p = PgProvider::with_dsn(&policy, &dsn("localhost"))
        .unwrap()
        .with_extra_roots(std::slice::from_ref(&pg.ca))
        .unwrap();
    assert!(p.uses_tls());
    let g = Grant::new("run-111-1-db-read", "app_readonly");
    let m = p.mint(&g.ctx()).await.unwrap();
    login(&m).await.unwrap();
    assert_eq!(p.revoke(&m.handle).await.unwrap(), RevokeOutcome::Revoked);
    assert!(
        pg.log()
            .lines()
            .any(|l| l.contains("user=admin")
                && l.contains("application_name=prod-access SSL enabled")),
        "the admin connection was not TLS"
    );
    // The pinned roots alone do not know the test CA: refused, nothing minted.
    let p = PgProvider::with_dsn(&policy, &dsn("localhost")).unwrap();
    let g = Grant::new("run-111-2-db-read", "app_readonly");
    let e = p.mint(&g.ctx()).await.unwrap_err();
    assert_eq!(e.id(), "postgres.connect_failed", "{e}");
    assert!(pg.roles_like(&role_stem(&g.id)).is_empty());
    // The certificate names `localhost`, not 127.0.0.1: refused.
    let p = PgProvider::with_dsn(&policy, &dsn("127.0.0.1"))
        .unwrap()
        .with_extra_roots(std::slice::from_ref(&pg.ca))
        .unwrap();
    let g = Grant::new("run-111-3-db-read", "app_readonly");
    let e = p.mint(&g.ctx()).await.unwrap_err();
    assert_eq!(e.id(), "postgres.connect_failed", "{e}");
    assert!(!format!("{e} {e:?}").contains(ADMIN_PASSWORD));
    assert!(pg.roles_like(&role_stem(&g.id)).is_empty());
}

/// The demo story with a `db-read` postgres scope on `pg` (label `db-access`).
async fn pg_story(pg: &PgServer) -> prod_access::sim::story::Story {
    use prod_access::sim::story::{self, Story};
    let story = Story::start().await.unwrap();
    story.approve();
    let policy = story::policy(story.issuer.issuer())
        .replace(
            "labels: { prod-access: api-read, host-access: host-shell }",
            "labels: { prod-access: api-read, host-access: host-shell, db-access: db-read }",
        )
        .replace(
            "providers:\n",
            "  db-read:\n    credential: { kind: postgres, grant_role: app_readonly, connection_limit: 2 }\n    \
             ttl: 15m\n    approvals: { required: 1, from: [\"@acme/sre\"] }\n    environments: [production]\n\
             providers:\n",
        )
        + &format!(
            "  postgres: {{ admin_dsn_env: {DSN_ENV}, host: 127.0.0.1, port: {}, database: postgres }}\n",
            pg.port
        );
    story.forge.with(|st| {
        st.repo(story::REPO)
            .files
            .entry("main".into())
            .or_default()
            .insert(".github/prod-access.yml".into(), policy);
    });
    story.relabel("db-access");
    story
}

/// Runs the binary in `dir` with `env`, off the async runtime.
async fn binary(
    args: Vec<String>,
    env: std::collections::BTreeMap<String, String>,
) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_prod-access"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `grant` through the binary: the six variables in GITHUB_ENV, the password and the URL
/// masked; then the server goes down before the post step: `revoke` is exit 3 and the audit
/// comment says the revoke failed and when the role expires (row 86).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_writes_the_pg_variables_and_a_failed_revoke_is_exit_3_and_says_so() {
    use prod_access::emit::files::parse_runner_file;
    let pg = PgServer::start();
    let story = pg_story(&pg).await;
    let dir = story.step_dir("pg-grant").unwrap();
    let mut env = story.env(&dir);
    env.insert(DSN_ENV.into(), pg.dsn().expose().to_string());
    let out = binary(vec!["grant".into()], env.clone()).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vars: std::collections::BTreeMap<String, String> =
        parse_runner_file(&std::fs::read_to_string(dir.join("env")).unwrap(), false)
            .unwrap()
            .into_iter()
            .collect();
    for name in [
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "DATABASE_URL",
    ] {
        assert!(vars.contains_key(name), "GITHUB_ENV lacks {name}");
    }
    for secret in [&vars["PGPASSWORD"], &vars["DATABASE_URL"]] {
        assert!(
            stdout.contains(&format!("::add-mask::{secret}")),
            "unmasked"
        );
        let elsewhere = stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::") && l.contains(secret.as_str()))
            .count();
        assert_eq!(elsewhere, 0);
    }
    assert!(pg.role_exists(&vars["PGUSER"]));
    // One `pa_` prefix on the role, and each distinct value masked once.
    assert!(
        vars["PGUSER"].starts_with("pa_9000000001_1_"),
        "{}",
        vars["PGUSER"]
    );
    let masks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::add-mask::"))
        .collect();
    let distinct: std::collections::BTreeSet<&&str> = masks.iter().collect();
    assert_eq!(
        masks.len(),
        distinct.len(),
        "a value masked twice: {masks:#?}"
    );

    // The post step with the database down.
    let state: Vec<(String, String)> =
        parse_runner_file(&std::fs::read_to_string(dir.join("state")).unwrap(), false).unwrap();
    let pg_dsn = pg.dsn().expose().to_string();
    drop(pg);
    let post = story.step_dir("pg-revoke").unwrap();
    let mut env = story.env(&post);
    env.insert(DSN_ENV.into(), pg_dsn);
    for (k, v) in state {
        env.insert(format!("STATE_{k}"), v);
    }
    let out = binary(vec!["revoke".into()], env).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let comment = story.comments().last().unwrap().clone();
    assert!(
        comment.contains("**Status:** revoke failed, expires at"),
        "{comment}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(ADMIN_PASSWORD));
}

/// `exec` through the real binary (the story of `prod-access demo`, with a postgres scope):
/// psql runs with the minted role from its environment, and the role is gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_psql_with_the_credential_then_drops_the_role() {
    let pg = PgServer::shared();
    let story = pg_story(&pg).await;
    let dir = story.step_dir("pg-exec").unwrap();
    let mut env = story.env(&dir);
    env.insert(DSN_ENV.into(), pg.dsn().expose().to_string());
    let psql = pg_bin().join("psql").display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_prod-access"))
            .args([
                "exec",
                "--",
                &psql,
                "-X",
                "-A",
                "-t",
                "-c",
                "SELECT 'rows:' || count(*) FROM t",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("rows:"),
        "psql did not run with the role:\n{stdout}"
    );
    assert!(
        pg.roles_like("pa_pa_9000000001").is_empty(),
        "the role outlived the command"
    );
    // The password is masked before use and shows nowhere else.
    for line in stdout.lines().filter(|l| l.starts_with("::add-mask::")) {
        let value = &line["::add-mask::".len()..];
        let elsewhere = stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| !l.starts_with("::add-mask::") && l.contains(value))
            .count();
        assert_eq!(elsewhere, 0, "a masked value shows in the log");
    }
    assert!(
        stdout.contains("revoked") || stdout.contains("Revoked"),
        "{stdout}"
    );
}

/// SIGTERM while the audit comment POST hangs (after the mint): the login role is dropped
/// before the process exits 143, and nothing reaches GITHUB_ENV (issue 11, item 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_after_the_mint_drops_the_login_role_before_exit() {
    use prod_access::sim::forge::{Fault, FaultKind};
    let pg = PgServer::shared();
    let story = pg_story(&pg).await;
    story.forge.add_fault(Fault::new(
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
        FaultKind::Delay(Duration::from_secs(30)),
    ));
    let dir = story.step_dir("pg-sigterm").unwrap();
    let mut env = story.env(&dir);
    env.insert(DSN_ENV.into(), pg.dsn().expose().to_string());
    let child = Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .arg("grant")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The mint happened (a pa_ role of this run exists) and the comment POST is in flight.
    let started = Instant::now();
    let stem = "pa_9000000001_1_";
    while story
        .forge
        .hits("POST /repos/{owner}/{repo}/issues/{issue_number}/comments")
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no comment POST"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pg.roles_like(stem).len(), 1, "the role was not minted");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(143),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        pg.roles_like(stem).is_empty(),
        "the login role outlived the signal"
    );
    assert!(stdout.contains("revoked"), "{stdout}");
    assert!(
        std::fs::read_to_string(dir.join("env")).unwrap().is_empty(),
        "GITHUB_ENV was written"
    );
}
