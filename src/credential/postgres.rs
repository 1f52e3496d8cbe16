//! The `postgres` credential: a PostgreSQL login role that expires, is revoked for real and
//! is swept when a cancelled job skipped its revoke (contract §7, catalogue rows 75-77, 85).
//!
//! Mint, in one transaction on the admin connection (the DSN is in the environment variable
//! `providers.postgres.admin_dsn_env` names):
//!
//! 1. `grant_role` must exist, must not be a `pa_` role, and neither it nor any role it is a
//!    member of (directly or not: membership allows `SET ROLE`) may have `SUPERUSER`,
//!    `CREATEROLE`, `CREATEDB`, `REPLICATION` or `BYPASSRLS`, or be one of the predefined
//!    roles that reach the server's files or programs, own objects, or hold privileges `WITH
//!    GRANT OPTION` (grants made with them would outlive the credential): else exit 2
//!    `config.grant_role_privileged` (`config.grant_role_missing` if it does not exist).
//! 2. `CREATE ROLE pa_<grant id>_<16 random hex> LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
//!    NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT n VALID UNTIL '<expiry>' PASSWORD
//!    '<SCRAM-SHA-256 verifier>'`. Never `ALTER`: a role that already exists makes the
//!    `CREATE` fail (exit 3 `postgres.role_exists`) and keeps its password (row 76).
//! 3. `GRANT grant_role TO role`; `COMMENT ON ROLE` with a JSON record (marker, grant id,
//!    requester, scope, expiry, database, reason) that revoke and sweep read back.
//!
//! SECURITY: the password is 192 random bits (`aws_lc_rs::rand`), URL-safe base64. Only its
//! SCRAM-SHA-256 verifier (`postgres_protocol::password::scram_sha_256`, the construction
//! libpq uses for `psql`'s `\password`) is sent in the `CREATE ROLE`, so a statement log
//! (`log_statement`, or the failing statement logged at `log_min_error_statement`) never
//! holds the password itself.
//!
//! SECURITY: `CREATE ROLE`, `GRANT` and `COMMENT` cannot take bind parameters: every
//! identifier goes through [`quote_ident`] and every value through [`quote_literal`]
//! (`postgres_protocol::escape`, libpq's `PQescapeInternal`, after our own checks); all
//! other queries bind their values. User text (requester, reason, scope) only ever reaches
//! the server inside the JSON comment literal.
//!
//! Revoke takes the role name from `GITHUB_STATE` (untrusted): it must be exactly
//! `pa_<the handle's grant id, mapped>_<16 hex>` and the role's comment must name that grant
//! id; then `ALTER ROLE .. NOLOGIN`, `pg_terminate_backend` for every session of the role
//! (`VALID UNTIL` and `NOLOGIN` only stop new logins), `DROP OWNED BY ..`, `DROP ROLE ..`,
//! and the sessions are killed once more after the drop.
//!
//! SECURITY: objects the role made are dropped, never reassigned. `REASSIGN OWNED .. TO`
//! the admin (usually a superuser) would turn a `SECURITY DEFINER` function, a view or a
//! rule the job wrote into code that runs with the admin's rights for whoever may call it,
//! and keep tables the job granted to `PUBLIC` readable. A job that must keep data writes it
//! into tables it does not own.
//! A role that is not there is [`RevokeOutcome::NothingToRevoke`].
//!
//! SECURITY (transport): to any host that is not loopback (`localhost`, `127.0.0.0/8`,
//! `::1`) or a Unix socket, the admin connection is TLS only ([`super::pg_tls`]: rustls
//! with aws-lc-rs, pinned roots, certificate and host name always verified); an
//! `sslmode=disable` DSN for such a host is refused (exit 2 `config.pg_admin_tls_required`).
//! A loopback DSN uses TLS if it says `sslmode=require`, else none.
//!
//! `DROP OWNED` runs in every database where `pg_shdepend` records an object or a privilege
//! of the role, each over its own admin connection, before `DROP ROLE`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;

use super::{
    CredentialError, GrantContext, GrantId, Minted, Provider, RevokeHandle, RevokeOutcome,
    SweepReport,
};
use crate::policy::{CredentialSpec, PostgresProvider};
use crate::secret::Secret;

/// Every role this provider creates starts with this prefix.
pub const ROLE_PREFIX: &str = "pa_";
/// Random bytes in a password (192 bits), URL-safe base64 without padding: 32 characters.
pub const PASSWORD_BYTES: usize = 24;
/// Hex digits of the random role-name suffix (64 bits).
pub const SUFFIX_HEX: usize = 16;
/// PostgreSQL's identifier limit (`NAMEDATALEN - 1`); longer names are truncated silently.
pub const MAX_IDENT_BYTES: usize = 63;
/// Longest reason kept in the role comment, in characters.
pub const MAX_COMMENT_REASON_CHARS: usize = 256;
/// The marker in the role comment that says prod-access made the role.
pub const COMMENT_MARKER: &str = "prod-access";
/// The key of the role name in [`RevokeHandle::data`].
pub const HANDLE_ROLE_KEY: &str = "role";

/// Predefined roles that reach the server's files or programs: never granted, even
/// through a `grant_role` that is a member of one of them.
pub const FORBIDDEN_MEMBERSHIPS: &[&str] = &[
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
];

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STATEMENT_TIMEOUT: &str = "30s";
const LOCK_TIMEOUT: &str = "10s";
/// How long `pg_terminate_backend` waits for each session to end, in milliseconds.
const TERMINATE_WAIT_MS: i64 = 5000;

/// The `postgres` provider: the admin connection settings and where credentials point.
pub struct PgProvider {
    admin_dsn_env: String,
    /// Every form of the admin secrets, scrubbed from error text.
    scrub: Vec<Secret>,
    admin: tokio_postgres::Config,
    host: String,
    port: u16,
    database: String,
    /// `None`: loopback without TLS.
    tls: Option<super::pg_tls::MakeRustlsConnect>,
    fixed_suffix: Option<String>,
}

impl fmt::Debug for PgProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgProvider")
            .field("admin_dsn_env", &self.admin_dsn_env)
            .field("admin_dsn", &"***")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// What a role comment holds (JSON). Written at mint, read by revoke and sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleComment {
    pub issuer: String,
    pub grant_id: String,
    pub requester: String,
    pub scope: String,
    pub expires_at: String,
    pub database: String,
    pub repository: String,
    pub run_url: String,
    pub reason: String,
}

impl RoleComment {
    /// The comment of a role this provider made for `grant_id`, if `text` is one.
    pub fn parse(text: Option<&str>) -> Option<Self> {
        let c: RoleComment = serde_json::from_str(text?).ok()?;
        (c.issuer == COMMENT_MARKER).then_some(c)
    }

    fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.expires_at)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

impl PgProvider {
    /// Reads and checks the admin DSN now, so a missing or unusable one fails before
    /// anything is minted. SECURITY: errors name the variable, never its content.
    pub fn from_env(
        provider: &PostgresProvider,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialError> {
        let var = &provider.admin_dsn_env;
        let Some(dsn) = env(var).filter(|v| !v.trim().is_empty()).map(Secret::new) else {
            return Err(CredentialError::config(
                "config.pg_admin_dsn_missing",
                format!(
                    "environment variable {var} (providers.postgres.admin_dsn_env) is not set \
                     or empty; it must hold the admin connection string"
                ),
            ));
        };
        Self::with_dsn(provider, &dsn)
    }

    /// A provider around an admin DSN (a `postgresql://` URL or `key=value` pairs).
    pub fn with_dsn(provider: &PostgresProvider, dsn: &Secret) -> Result<Self, CredentialError> {
        let var = &provider.admin_dsn_env;
        let invalid = |why: &str| {
            CredentialError::config(
                "config.pg_admin_dsn_invalid",
                format!("environment variable {var} (providers.postgres.admin_dsn_env): {why}"),
            )
        };
        // SECURITY: the parser's message may quote the DSN; it is not passed on.
        let mut admin = tokio_postgres::Config::from_str(dsn.expose())
            .map_err(|_| invalid("not a PostgreSQL connection string"))?;
        if admin.get_hosts().is_empty() {
            return Err(invalid("names no host"));
        }
        if admin.get_user().is_none() {
            return Err(invalid("names no user"));
        }
        let local_hosts = admin.get_hosts().iter().all(|h| match h {
            Host::Tcp(name) => crate::url_rules::is_loopback(name),
            Host::Unix(_) => true,
        });
        let local_addrs = admin.get_hostaddrs().iter().all(|a| a.is_loopback());
        let local = local_hosts && local_addrs;
        let tls = match (local, admin.get_ssl_mode()) {
            (true, SslMode::Require) => true,
            (true, _) => {
                admin.ssl_mode(SslMode::Disable);
                false
            }
            (false, SslMode::Disable) => {
                return Err(CredentialError::config(
                    "config.pg_admin_tls_required",
                    format!(
                        "environment variable {var} (providers.postgres.admin_dsn_env) says \
                         sslmode=disable for a host that is not loopback; the admin login is \
                         never sent in clear text over a network"
                    ),
                ));
            }
            (false, _) => {
                admin.ssl_mode(SslMode::Require);
                true
            }
        };
        let tls = if tls {
            Some(
                super::pg_tls::MakeRustlsConnect::new(&[])
                    .map_err(|e| CredentialError::config("config.pg_admin_tls_invalid", e))?,
            )
        } else {
            None
        };
        if admin.get_dbname().is_none() {
            admin.dbname(&provider.database);
        }
        if admin.get_connect_timeout().is_none() {
            admin.connect_timeout(CONNECT_TIMEOUT);
        }
        admin.application_name("prod-access");
        let mut scrub = vec![dsn.clone()];
        if let Some(pw) = admin.get_password() {
            let pw = String::from_utf8_lossy(pw).into_owned();
            if !pw.is_empty() {
                scrub.push(Secret::new(percent_encode_all(&pw)));
                scrub.push(Secret::new(pw));
            }
        }
        Ok(Self {
            admin_dsn_env: var.clone(),
            scrub,
            admin,
            host: provider.host.clone(),
            port: provider.port,
            database: provider.database.clone(),
            tls,
            fixed_suffix: None,
        })
    }

    /// Whether the admin connection uses TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// TEST HOOK: trust these roots (DER) besides the pinned set, for a test server's own
    /// CA. A provider without TLS stays without.
    #[doc(hidden)]
    pub fn with_extra_roots(
        mut self,
        roots: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<Self, CredentialError> {
        if self.tls.is_some() {
            self.tls = Some(
                super::pg_tls::MakeRustlsConnect::new(roots)
                    .map_err(|e| CredentialError::config("config.pg_admin_tls_invalid", e))?,
            );
        }
        Ok(self)
    }

    /// TEST HOOK: use this role-name suffix instead of a random one (to stage a role that
    /// already exists, catalogue row 76). It must be [`SUFFIX_HEX`] lower-case hex digits.
    #[doc(hidden)]
    pub fn with_fixed_suffix(mut self, suffix: &str) -> Result<Self, CredentialError> {
        if !is_suffix(suffix) {
            return Err(CredentialError::config(
                "credential.suffix_invalid",
                "a role suffix is 16 lower-case hex digits",
            ));
        }
        self.fixed_suffix = Some(suffix.to_string());
        Ok(self)
    }

    /// Removes every admin secret (and `extra` secrets) from a message.
    fn scrubbed(&self, text: &str, extra: &[&Secret]) -> String {
        let mut out = text.to_string();
        for s in self.scrub.iter().chain(extra.iter().copied()) {
            if !s.expose().is_empty() {
                out = out.replace(s.expose(), "***");
            }
        }
        out
    }

    fn upstream(
        &self,
        id: &'static str,
        what: &str,
        e: &tokio_postgres::Error,
        extra: &[&Secret],
    ) -> CredentialError {
        let why = match e.as_db_error() {
            Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
            None => e.to_string(),
        };
        CredentialError::upstream(id, self.scrubbed(&format!("{what}: {why}"), extra))
    }

    /// Opens the admin connection; the connection task ends with the returned guard.
    async fn connect(&self) -> Result<Admin, CredentialError> {
        self.connect_with(&self.admin).await
    }

    async fn connect_with(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<Admin, CredentialError> {
        let failed = |e: tokio_postgres::Error| {
            let mut err = self.upstream(
                "postgres.connect_failed",
                "cannot connect with the admin DSN",
                &e,
                &[],
            );
            if let CredentialError::Upstream { detail, .. } = &mut err {
                detail.push_str(&format!(" (from {})", self.admin_dsn_env));
            }
            err
        };
        // The connection task ends with the returned guard; its error, if any, also
        // reaches the client's next call.
        let (client, task) = match &self.tls {
            Some(tls) => {
                let (client, connection) = self.admin.connect(tls.clone()).await.map_err(failed)?;
                let task = tokio::spawn(async move {
                    let _ = connection.await;
                });
                (client, task)
            }
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(failed)?;
                let task = tokio::spawn(async move {
                    let _ = connection.await;
                });
                (client, task)
            }
        };
        Ok(Admin { client, task })
    }

    fn suffix(&self) -> String {
        if let Some(s) = &self.fixed_suffix {
            return s.clone();
        }
        let mut bytes = [0u8; SUFFIX_HEX / 2];
        // aws-lc's RNG does not fail in practice; a zero suffix would still be unique
        // enough to fail closed (CREATE ROLE refuses a name in use).
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        hex(&bytes)
    }

    /// Checks `grant_role` on the admin connection (inside the mint transaction).
    async fn check_grant_role(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        grant_role: &str,
        database: &str,
    ) -> Result<(), CredentialError> {
        let exists = tx
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&grant_role])
            .await
            .map_err(|e| {
                self.upstream("postgres.query_failed", "looking up grant_role", &e, &[])
            })?;
        if exists.is_none() {
            return Err(CredentialError::config(
                "config.grant_role_missing",
                format!(
                    "grant_role {} does not exist on the server",
                    crate::emit::escape::quote_untrusted(grant_role, 80)
                ),
            ));
        }
        let privileged = |why: String| {
            CredentialError::config(
                "config.grant_role_privileged",
                format!(
                    "grant_role {} {why}; a temporary credential must not carry it",
                    crate::emit::escape::quote_untrusted(grant_role, 80)
                ),
            )
        };
        if grant_role.starts_with(ROLE_PREFIX) {
            return Err(privileged(format!(
                "is under the prefix `{ROLE_PREFIX}` of the roles prod-access makes"
            )));
        }
        // Every role grant_role is a member of, itself included (pg_has_role follows
        // memberships whatever their INHERIT flag: SET ROLE reaches them all).
        let rows = tx
            .query(
                "SELECT r.rolname::text, r.rolsuper, r.rolcreaterole, r.rolcreatedb, \
                        r.rolreplication, r.rolbypassrls \
                 FROM pg_roles r \
                 WHERE pg_has_role($1::text::name, r.oid, 'MEMBER') \
                 ORDER BY r.rolname",
                &[&grant_role],
            )
            .await
            .map_err(|e| {
                self.upstream(
                    "postgres.query_failed",
                    "reading grant_role's memberships",
                    &e,
                    &[],
                )
            })?;
        for row in rows {
            let name: String = row.get(0);
            let attrs = [
                ("SUPERUSER", row.get::<_, bool>(1)),
                ("CREATEROLE", row.get::<_, bool>(2)),
                ("CREATEDB", row.get::<_, bool>(3)),
                ("REPLICATION", row.get::<_, bool>(4)),
                ("BYPASSRLS", row.get::<_, bool>(5)),
            ];
            let held: Vec<&str> = attrs.iter().filter(|a| a.1).map(|a| a.0).collect();
            let via = if name == grant_role {
                String::new()
            } else {
                format!(
                    " through membership in {}",
                    crate::emit::escape::quote_untrusted(&name, 80)
                )
            };
            if !held.is_empty() {
                return Err(privileged(format!("has {}{via}", held.join(", "))));
            }
            if FORBIDDEN_MEMBERSHIPS.contains(&name.as_str()) {
                return Err(privileged(format!("is a member of {name}")));
            }
        }
        // SECURITY: what grant_role may grant, the credential may grant too, and such a
        // grant outlives the revoke (its grantor is grant_role, not the dropped role):
        // owners' rights are inherited, and so are grant options. Ownership is read from
        // pg_shdepend (every database) and pg_database; grant options from the ACLs of this
        // database's tables, columns, schemas, functions, types, languages and databases.
        let row = tx
            .query_one(GRANT_ROLE_REACH_SQL, &[&grant_role])
            .await
            .map_err(|e| {
                self.upstream(
                    "postgres.query_failed",
                    "reading what grant_role owns and may grant",
                    &e,
                    &[],
                )
            })?;
        let (owned, mut grantable): (i64, i64) = (row.get(0), row.get(1));
        // The scope's own database has ACLs of its own.
        if self.admin.get_dbname() != Some(database) {
            let mut config = self.admin.clone();
            config.dbname(database);
            let other = self.connect_with(&config).await?;
            let row = other
                .client
                .query_one(GRANT_ROLE_REACH_SQL, &[&grant_role])
                .await
                .map_err(|e| {
                    self.upstream(
                        "postgres.query_failed",
                        &format!("reading what grant_role may grant in database {database}"),
                        &e,
                        &[],
                    )
                })?;
            grantable += row.get::<_, i64>(1);
        }
        if owned > 0 {
            return Err(privileged(format!(
                "(or a role it is a member of) owns {owned} object(s): an owner's rights, \
                 including GRANT to others that outlives the credential"
            )));
        }
        if grantable > 0 {
            return Err(privileged(format!(
                "(or a role it is a member of) holds {grantable} privilege set(s) WITH GRANT \
                 OPTION or role(s) WITH ADMIN OPTION: grants to others would outlive the \
                 credential"
            )));
        }
        Ok(())
    }

    /// Ends a role: `NOLOGIN`, sessions killed, its objects and privileges dropped, role
    /// dropped, sessions killed once more. `Ok(false)` if the role vanished meanwhile.
    async fn drop_role(&self, admin: &mut Admin, role: &str) -> Result<bool, CredentialError> {
        let ident = quote_ident(role)?;
        let gone = |e: &tokio_postgres::Error| e.code() == Some(&SqlState::UNDEFINED_OBJECT);
        let oid: Option<u32> = admin
            .client
            .query_opt("SELECT oid FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .map_err(|e| self.upstream("postgres.query_failed", "looking up the role", &e, &[]))?
            .map(|r| r.get(0));
        let Some(oid) = oid else {
            return Ok(false);
        };
        match admin
            .client
            .batch_execute(&format!("ALTER ROLE {ident} NOLOGIN"))
            .await
        {
            Ok(()) => {}
            Err(e) if gone(&e) => return Ok(false),
            Err(e) => {
                return Err(self.upstream(
                    "postgres.revoke_failed",
                    &format!("ALTER ROLE {ident} NOLOGIN"),
                    &e,
                    &[],
                ));
            }
        }
        self.terminate_sessions(admin, oid, role).await?;
        self.drop_owned_elsewhere(admin, oid, role, &ident).await?;
        let tx = admin
            .client
            .transaction()
            .await
            .map_err(|e| self.upstream("postgres.revoke_failed", "BEGIN", &e, &[]))?;
        let drop = format!(
            "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; \
             SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'; \
             DROP OWNED BY {ident}; \
             DROP ROLE {ident}"
        );
        match tx.batch_execute(&drop).await {
            Ok(()) => {}
            Err(e) if gone(&e) => return Ok(false),
            Err(e) => {
                return Err(self.upstream(
                    "postgres.revoke_failed",
                    &format!(
                        "role {role} is NOLOGIN and its sessions were ended, but dropping it \
                         failed (objects in another database?)"
                    ),
                    &e,
                    &[],
                ));
            }
        }
        tx.commit()
            .await
            .map_err(|e| self.upstream("postgres.revoke_failed", "COMMIT", &e, &[]))?;
        // A session that authenticated just before NOLOGIN may have registered late.
        self.terminate_sessions(admin, oid, role).await?;
        Ok(true)
    }

    /// `DROP OWNED` in every other database where the role owns something or is named in
    /// an ACL (`pg_shdepend` knows them all), over a connection to each with the admin's
    /// settings. The admin connection's own database is done with `DROP ROLE`.
    async fn drop_owned_elsewhere(
        &self,
        admin: &Admin,
        oid: u32,
        role: &str,
        ident: &str,
    ) -> Result<(), CredentialError> {
        let rows = admin
            .client
            .query(
                "SELECT DISTINCT d.datname::text FROM pg_shdepend s \
                 JOIN pg_database d ON d.oid = s.dbid \
                 WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1 \
                   AND d.datname <> current_database() ORDER BY 1",
                &[&oid],
            )
            .await
            .map_err(|e| {
                self.upstream(
                    "postgres.revoke_failed",
                    &format!("listing the databases where {role} owns objects"),
                    &e,
                    &[],
                )
            })?;
        for row in rows {
            let db: String = row.get(0);
            let mut config = self.admin.clone();
            config.dbname(&db);
            let other = self.connect_with(&config).await?;
            other
                .client
                .batch_execute(&format!(
                    "SET statement_timeout = '{STATEMENT_TIMEOUT}'; \
                     SET lock_timeout = '{LOCK_TIMEOUT}'; \
                     DROP OWNED BY {ident}"
                ))
                .await
                .map_err(|e| {
                    self.upstream(
                        "postgres.revoke_failed",
                        &format!(
                            "role {role} is NOLOGIN and its sessions were ended, but DROP OWNED \
                             in database {db} failed"
                        ),
                        &e,
                        &[],
                    )
                })?;
        }
        Ok(())
    }

    async fn terminate_sessions(
        &self,
        admin: &mut Admin,
        oid: u32,
        role: &str,
    ) -> Result<(), CredentialError> {
        let failed = |e: tokio_postgres::Error| {
            self.upstream(
                "postgres.revoke_failed",
                &format!("ending the sessions of {role}"),
                &e,
                &[],
            )
        };
        // pg_terminate_backend waits up to TERMINATE_WAIT_MS for each; its result is not
        // trusted (a session that ended by itself meanwhile answers false): count again.
        admin
            .client
            .query(
                "SELECT pg_terminate_backend(pid, $2) FROM pg_stat_activity \
                 WHERE usesysid = $1 AND pid <> pg_backend_pid()",
                &[&oid, &TERMINATE_WAIT_MS],
            )
            .await
            .map_err(failed)?;
        let left: i64 = admin
            .client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE usesysid = $1 AND pid <> pg_backend_pid()",
                &[&oid],
            )
            .await
            .map_err(failed)?
            .get(0);
        if left > 0 {
            return Err(CredentialError::upstream(
                "postgres.revoke_failed",
                format!("{left} session(s) of role {role} did not end in time"),
            ));
        }
        Ok(())
    }

    /// The role and its comment, if the role exists.
    async fn lookup(
        &self,
        admin: &Admin,
        role: &str,
    ) -> Result<Option<Option<String>>, CredentialError> {
        let row = admin
            .client
            .query_opt(
                "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
                &[&role],
            )
            .await
            .map_err(|e| self.upstream("postgres.query_failed", "looking up the role", &e, &[]))?;
        Ok(row.map(|r| r.get(0)))
    }
}

struct Admin {
    client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What `$1` (grant_role) and the roles it is a member of own (every database, from
/// `pg_shdepend`, and databases) and may grant (grant options in this database's ACLs, and
/// `ADMIN OPTION` on roles): two counts.
const GRANT_ROLE_REACH_SQL: &str = "WITH m AS (SELECT r.oid FROM pg_roles r \
        WHERE pg_has_role($1::text::name, r.oid, 'MEMBER')), \
     acl AS ( \
       SELECT relacl AS a FROM pg_class UNION ALL \
       SELECT attacl FROM pg_attribute WHERE attacl IS NOT NULL UNION ALL \
       SELECT nspacl FROM pg_namespace UNION ALL \
       SELECT proacl FROM pg_proc UNION ALL \
       SELECT typacl FROM pg_type UNION ALL \
       SELECT lanacl FROM pg_language UNION ALL \
       SELECT datacl FROM pg_database) \
     SELECT \
       (SELECT count(*) FROM pg_shdepend d \
         WHERE d.refclassid = 'pg_authid'::regclass AND d.deptype = 'o' \
           AND d.refobjid IN (SELECT oid FROM m)) \
       + (SELECT count(*) FROM pg_database WHERE datdba IN (SELECT oid FROM m)), \
       (SELECT count(*) FROM acl, aclexplode(acl.a) e \
         WHERE acl.a IS NOT NULL AND e.is_grantable \
           AND e.grantee IN (SELECT oid FROM m)) \
       + (SELECT count(*) FROM pg_auth_members \
           WHERE admin_option AND member IN (SELECT oid FROM m))";

/// Whole-operation limits: a stalled server or network must not hang the job (the
/// server-side `statement_timeout` cannot help with a dead connection).
pub const MINT_TIMEOUT: Duration = Duration::from_secs(60);
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(60);
pub const SWEEP_TIMEOUT: Duration = Duration::from_secs(300);

fn timed_out(what: &str, limit: Duration) -> CredentialError {
    CredentialError::upstream(
        "postgres.timeout",
        format!("{what} did not finish within {} s", limit.as_secs()),
    )
}

impl Provider for PgProvider {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    /// SECURITY: a timeout after `COMMIT` was sent can leave a role behind; it expires at
    /// its `VALID UNTIL` and `sweep` drops it.
    async fn mint(&self, ctx: &GrantContext<'_>) -> Result<Minted, CredentialError> {
        tokio::time::timeout(MINT_TIMEOUT, self.mint_now(ctx))
            .await
            .map_err(|_| timed_out("mint", MINT_TIMEOUT))?
    }

    async fn revoke(&self, handle: &RevokeHandle) -> Result<RevokeOutcome, CredentialError> {
        tokio::time::timeout(REVOKE_TIMEOUT, self.revoke_now(handle))
            .await
            .map_err(|_| timed_out("revoke", REVOKE_TIMEOUT))?
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, CredentialError> {
        tokio::time::timeout(SWEEP_TIMEOUT, self.sweep_now(now))
            .await
            .map_err(|_| timed_out("sweep", SWEEP_TIMEOUT))?
    }
}

impl PgProvider {
    async fn mint_now(&self, ctx: &GrantContext<'_>) -> Result<Minted, CredentialError> {
        let CredentialSpec::Postgres {
            grant_role,
            connection_limit,
            database,
        } = &ctx.scope.credential
        else {
            return Err(CredentialError::config(
                "credential.kind_mismatch",
                format!(
                    "scope `{}` mints a {} credential, not postgres",
                    ctx.scope.name,
                    ctx.scope.credential.kind()
                ),
            ));
        };
        let expires_at = ctx.expires_at()?;
        let limit = i32::try_from(*connection_limit)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                CredentialError::config(
                    "config.pg_connection_limit_invalid",
                    format!("connection_limit {connection_limit} is not a positive number"),
                )
            })?;
        let grant_ident = quote_ident(grant_role).map_err(|_| {
            CredentialError::config(
                "config.grant_role_invalid",
                format!(
                    "grant_role {} is not a usable role name",
                    crate::emit::escape::quote_untrusted(grant_role, 80)
                ),
            )
        })?;
        let database = database.clone().unwrap_or_else(|| self.database.clone());
        let role = role_name(ctx.grant_id, &self.suffix());
        let role_ident = quote_ident(&role)?;
        let password = new_password()?;
        let verifier = scram_sha256_verifier(&password);
        let expiry_text = crate::text::rfc3339(expires_at);
        let reason: String = ctx.reason.chars().take(MAX_COMMENT_REASON_CHARS).collect();
        let comment = RoleComment {
            issuer: COMMENT_MARKER.into(),
            grant_id: ctx.grant_id.as_str().into(),
            requester: ctx.requester.into(),
            scope: ctx.scope.name.clone(),
            expires_at: expiry_text.clone(),
            database: database.clone(),
            repository: ctx.repository.into(),
            run_url: ctx.run_url.into(),
            reason,
        };
        let comment_json = serde_json::to_string(&comment).map_err(|e| {
            CredentialError::config("postgres.comment_invalid", format!("cannot serialise: {e}"))
        })?;
        let comment_lit = quote_literal(&comment_json).map_err(|_| {
            CredentialError::config(
                "postgres.comment_invalid",
                "the role comment holds a NUL character",
            )
        })?;
        let create = format!(
            "CREATE ROLE {role_ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
             NOBYPASSRLS INHERIT CONNECTION LIMIT {limit} VALID UNTIL {} PASSWORD {}",
            quote_literal(&expiry_text)?,
            quote_literal(verifier.expose())?
        );
        // Everything that can fail without the server is done before the role exists.
        let url = database_url(&self.host, self.port, &database, &role, &password)?;
        let secrets = [&password, &verifier];

        let mut admin = self.connect().await?;
        let tx = admin
            .client
            .transaction()
            .await
            .map_err(|e| self.upstream("postgres.mint_failed", "BEGIN", &e, &[]))?;
        tx.batch_execute(&format!(
            "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; \
             SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"
        ))
        .await
        .map_err(|e| self.upstream("postgres.mint_failed", "setting timeouts", &e, &[]))?;
        self.check_grant_role(&tx, grant_role, &database).await?;
        tx.batch_execute(&create).await.map_err(|e| {
            if e.code() == Some(&SqlState::DUPLICATE_OBJECT) {
                // SECURITY: never ALTER an existing role (its password stays as it is).
                CredentialError::upstream(
                    "postgres.role_exists",
                    format!("role {role} already exists; it was left untouched"),
                )
            } else {
                self.upstream(
                    "postgres.mint_failed",
                    &format!("CREATE ROLE {role}"),
                    &e,
                    &secrets,
                )
            }
        })?;
        tx.batch_execute(&format!("GRANT {grant_ident} TO {role_ident}"))
            .await
            .map_err(|e| {
                self.upstream(
                    "postgres.mint_failed",
                    &format!("GRANT {grant_role} TO {role}"),
                    &e,
                    &secrets,
                )
            })?;
        tx.batch_execute(&format!("COMMENT ON ROLE {role_ident} IS {comment_lit}"))
            .await
            .map_err(|e| {
                self.upstream(
                    "postgres.mint_failed",
                    &format!("COMMENT ON ROLE {role}"),
                    &e,
                    &secrets,
                )
            })?;
        tx.commit()
            .await
            .map_err(|e| self.upstream("postgres.mint_failed", "COMMIT", &e, &secrets))?;
        drop(admin);

        let encoded_password = Secret::new(percent_encode_all(password.expose()));
        let fingerprint = password.fingerprint();
        let handle = RevokeHandle {
            kind: "postgres".into(),
            grant_id: ctx.grant_id.clone(),
            expires_at,
            data: [(HANDLE_ROLE_KEY.to_string(), role.clone())]
                .into_iter()
                .collect(),
        };
        let mut mask_forms = vec![encoded_password, url.clone()];
        if let Some(p) = url_password_form(&url) {
            mask_forms.push(p);
        }
        Ok(Minted {
            files: Vec::new(),
            env: vec![
                ("PGPASSWORD".to_string(), password),
                ("DATABASE_URL".to_string(), url),
            ],
            mask_forms,
            public_env: vec![
                ("PGHOST".to_string(), self.host.clone()),
                ("PGPORT".to_string(), self.port.to_string()),
                ("PGDATABASE".to_string(), database),
                ("PGUSER".to_string(), role.clone()),
            ],
            fingerprint,
            expires_at,
            audit: vec![
                ("role".into(), role),
                ("grant_role".into(), grant_role.clone()),
                ("expires_at".into(), expiry_text),
            ],
            handle,
        })
    }

    async fn revoke_now(&self, handle: &RevokeHandle) -> Result<RevokeOutcome, CredentialError> {
        let forged = |why: &str| {
            CredentialError::config(
                "postgres.handle_forged",
                format!("the saved state does not name a role of this grant: {why}"),
            )
        };
        if handle.kind != "postgres" {
            return Err(CredentialError::config(
                "credential.kind_mismatch",
                "the saved state is not for a postgres credential",
            ));
        }
        if handle.data.len() != 1 {
            return Err(forged("unexpected fields"));
        }
        let Some(role) = handle.data.get(HANDLE_ROLE_KEY) else {
            return Err(forged("no role name"));
        };
        if !is_role_of(&handle.grant_id, role) {
            return Err(forged(&format!(
                "{} is not a role name prod-access makes for grant {}",
                crate::emit::escape::quote_untrusted(role, 80),
                handle.grant_id
            )));
        }
        let mut admin = self.connect().await?;
        let Some(comment) = self.lookup(&admin, role).await? else {
            return Ok(RevokeOutcome::NothingToRevoke);
        };
        match RoleComment::parse(comment.as_deref()) {
            Some(c) if c.grant_id == handle.grant_id.as_str() => {}
            _ => {
                return Err(forged(&format!(
                    "role {role} exists but its comment does not name grant {}; left untouched",
                    handle.grant_id
                )));
            }
        }
        if self.drop_role(&mut admin, role).await? {
            Ok(RevokeOutcome::Revoked)
        } else {
            Ok(RevokeOutcome::NothingToRevoke)
        }
    }

    async fn sweep_now(&self, now: DateTime<Utc>) -> Result<SweepReport, CredentialError> {
        let mut admin = self.connect().await?;
        let rows = admin
            .client
            .query(
                "SELECT rolname::text, \
                        CASE WHEN rolvaliduntil IS NULL OR NOT isfinite(rolvaliduntil) THEN NULL \
                             ELSE floor(extract(epoch FROM rolvaliduntil) * 1000)::bigint END, \
                        shobj_description(oid, 'pg_authid') \
                 FROM pg_roles WHERE left(rolname, 3) = $1 ORDER BY rolname",
                &[&ROLE_PREFIX],
            )
            .await
            .map_err(|e| self.upstream("postgres.query_failed", "listing roles", &e, &[]))?;
        let mut report = SweepReport::default();
        let mut failed = Vec::new();
        for row in rows {
            let role: String = row.get(0);
            let valid_until: Option<i64> = row.get(1);
            let comment: Option<String> = row.get(2);
            let ours = RoleComment::parse(comment.as_deref()).filter(|c| {
                GrantId::new(&c.grant_id)
                    .map(|g| is_role_of(&g, &role))
                    .unwrap_or(false)
            });
            let Some(comment) = ours else {
                report.notes.push(format!(
                    "{}: under the prefix but not made by prod-access; left alone",
                    crate::emit::escape::quote_untrusted(&role, 80)
                ));
                continue;
            };
            // Expired: both the server's VALID UNTIL (ms) and the comment's expiry are past.
            let role_expired = valid_until.is_some_and(|t| t <= now.timestamp_millis());
            let comment_expired = comment.expires_at().is_some_and(|t| t <= now);
            if !(role_expired && comment_expired) {
                report.kept += 1;
                continue;
            }
            match self.drop_role(&mut admin, &role).await {
                Ok(_) => report.removed.push(role),
                Err(e) => failed.push(format!("{role}: {e}")),
            }
        }
        if !failed.is_empty() {
            return Err(CredentialError::upstream(
                "postgres.sweep_failed",
                format!(
                    "removed [{}]; could not remove: {}",
                    report.removed.join(", "),
                    failed.join("; ")
                ),
            ));
        }
        Ok(report)
    }
}

/// `"ident"`: an SQL identifier, quoted (`"` doubled) by `postgres_protocol`. SECURITY:
/// refuses an empty name, a NUL and more than [`MAX_IDENT_BYTES`] bytes first (PostgreSQL
/// would silently truncate it and so name a different role; the crate checks none of these).
pub fn quote_ident(ident: &str) -> Result<String, CredentialError> {
    if ident.is_empty() || ident.len() > MAX_IDENT_BYTES || ident.contains('\0') {
        return Err(CredentialError::config(
            "postgres.identifier_invalid",
            format!(
                "{} is not a usable identifier (1-{MAX_IDENT_BYTES} bytes, no NUL)",
                crate::emit::escape::quote_untrusted(ident, 80)
            ),
        ));
    }
    Ok(postgres_protocol::escape::escape_identifier(ident))
}

/// `'value'`: an SQL string literal, by `postgres_protocol` (libpq's `PQescapeLiteral`):
/// `'` doubled, and with any backslash present, backslashes doubled and the ` E'...'` form
/// (after a space), which reads the same whatever `standard_conforming_strings` says.
/// SECURITY: refuses NUL first (text cannot hold it, and the crate passes it through).
pub fn quote_literal(value: &str) -> Result<String, CredentialError> {
    if value.contains('\0') {
        return Err(CredentialError::config(
            "postgres.literal_invalid",
            "a value for the server holds a NUL character",
        ));
    }
    Ok(postgres_protocol::escape::escape_literal(value))
}

/// `pa_<grant id, lower-cased, `.`/`-` as `_`, at most 43 characters>`: the part of a role
/// name fixed by the grant id.
pub fn role_stem(grant_id: &GrantId) -> String {
    let max = MAX_IDENT_BYTES - ROLE_PREFIX.len() - 1 - SUFFIX_HEX;
    // Grant ids begin `pa-` already: one prefix, `pa_<run>_...`, not `pa_pa_<run>_...`.
    let id = grant_id.as_str();
    let id = id.strip_prefix("pa-").unwrap_or(id);
    let mapped: String = id
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' => c,
            _ => '_',
        })
        .take(max)
        .collect();
    format!("{ROLE_PREFIX}{mapped}")
}

/// The role name for a grant and a suffix of [`SUFFIX_HEX`] hex digits.
pub fn role_name(grant_id: &GrantId, suffix: &str) -> String {
    format!("{}_{suffix}", role_stem(grant_id))
}

/// Whether `role` is exactly a name [`role_name`] gives for `grant_id`.
pub fn is_role_of(grant_id: &GrantId, role: &str) -> bool {
    role.len() <= MAX_IDENT_BYTES
        && role
            .strip_prefix(&role_stem(grant_id))
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(is_suffix)
}

fn is_suffix(s: &str) -> bool {
    s.len() == SUFFIX_HEX && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh password: [`PASSWORD_BYTES`] random bytes, URL-safe base64 without padding.
pub fn new_password() -> Result<Secret, CredentialError> {
    let mut bytes = zeroize::Zeroizing::new([0u8; PASSWORD_BYTES]);
    aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| {
        CredentialError::upstream("postgres.random_failed", "the system RNG failed")
    })?;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    ))
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, SASLprep,
/// 16-byte random salt, 4096 iterations): `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
pub fn scram_sha256_verifier(password: &Secret) -> Secret {
    Secret::new(postgres_protocol::password::scram_sha_256(
        password.expose().as_bytes(),
    ))
}

/// Every byte outside `[A-Za-z0-9-._~]` as `%XX`.
fn percent_encode_all(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `postgresql://role:password@host:port/database`, each part percent-encoded.
fn database_url(
    host: &str,
    port: u16,
    database: &str,
    role: &str,
    password: &Secret,
) -> Result<Secret, CredentialError> {
    let bad = |what: &str| {
        CredentialError::config(
            "config.pg_host_invalid",
            format!(
                "cannot build DATABASE_URL: {what} {}",
                crate::emit::escape::quote_untrusted(host, 80)
            ),
        )
    };
    let host_part = if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let mut url =
        url::Url::parse(&format!("postgresql://{host_part}:{port}/")).map_err(|_| bad("host"))?;
    if url.host_str().is_none() || url.port() != Some(port) {
        return Err(bad("host"));
    }
    url.set_username(role).map_err(|_| bad("user for host"))?;
    url.set_password(Some(&percent_encode_all(password.expose())))
        .map_err(|_| bad("password for host"))?;
    url.set_path(&format!("/{}", percent_encode_all(database)));
    Ok(Secret::new(url.to_string()))
}

/// The password as it appears inside the URL (if the URL encoder wrote it differently).
fn url_password_form(url: &Secret) -> Option<Secret> {
    url::Url::parse(url.expose())
        .ok()
        .and_then(|u| u.password().map(Secret::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_doubles_quotes_and_refuses_bad_names() {
        assert_eq!(quote_ident("app_readonly").unwrap(), "\"app_readonly\"");
        assert_eq!(quote_ident("Mixed Case").unwrap(), "\"Mixed Case\"");
        assert_eq!(quote_ident("a\"b").unwrap(), "\"a\"\"b\"");
        assert_eq!(
            quote_ident("x\"; DROP ROLE admin; --").unwrap(),
            "\"x\"\"; DROP ROLE admin; --\""
        );
        assert_eq!(quote_ident("é").unwrap(), "\"é\"");
        assert_eq!(quote_ident(&"a".repeat(63)).unwrap().len(), 65);
        for bad in ["", "a\0b", &"a".repeat(64), &"é".repeat(32)] {
            assert_eq!(
                quote_ident(bad).unwrap_err().id(),
                "postgres.identifier_invalid"
            );
        }
    }

    #[test]
    fn quote_literal_is_safe_with_and_without_backslashes() {
        assert_eq!(quote_literal("abc").unwrap(), "'abc'");
        assert_eq!(quote_literal("").unwrap(), "''");
        assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
        assert_eq!(
            quote_literal("'; DROP ROLE admin; --").unwrap(),
            "'''; DROP ROLE admin; --'"
        );
        // With a backslash: the escape-string form, after a space so that it can never run
        // into a preceding identifier.
        assert_eq!(quote_literal("a\\b").unwrap(), " E'a\\\\b'");
        assert_eq!(quote_literal("\\'").unwrap(), " E'\\\\'''");
        assert_eq!(quote_literal("$$ \" é").unwrap(), "'$$ \" é'");
        assert!(quote_literal("a\0").is_err());
    }

    #[test]
    fn role_names_are_derived_from_the_grant_id() {
        let g = GrantId::new("Run-42.1_api").unwrap();
        let suffix = "0123456789abcdef";
        let name = role_name(&g, suffix);
        assert_eq!(name, "pa_run_42_1_api_0123456789abcdef");
        assert!(is_role_of(&g, &name));
        let long = GrantId::new(&"x".repeat(64)).unwrap();
        let name = role_name(&long, suffix);
        assert_eq!(name.len(), 63);
        assert!(is_role_of(&long, &name));
        for bad in [
            "pa_run_42_1_api_0123456789ABCDEF",
            "pa_run_42_1_api_0123456789abcde",
            "pa_run_42_1_api_0123456789abcdef0",
            "pa_run_42_1_api0123456789abcdef",
            "pa_other_0123456789abcdef",
            "postgres",
            "pa_run_42_1_api_x_0123456789abcdef",
        ] {
            assert!(!is_role_of(&g, bad), "{bad}");
        }
    }

    #[test]
    fn a_grant_id_gives_one_pa_prefix() {
        let g = GrantId::new("pa-9000000001-1-d7476312").unwrap();
        let name = role_name(&g, "0123456789abcdef");
        assert_eq!(name, "pa_9000000001_1_d7476312_0123456789abcdef");
        assert!(is_role_of(&g, &name));
        assert!(!is_role_of(
            &g,
            "pa_pa_9000000001_1_d7476312_0123456789abcdef"
        ));
    }

    #[test]
    fn passwords_are_long_and_url_safe() {
        let a = new_password().unwrap();
        let b = new_password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 32);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let v = scram_sha256_verifier(&a);
        assert!(v.expose().starts_with("SCRAM-SHA-256$4096:"));
        assert!(!v.expose().contains(a.expose()));
        assert_ne!(v, scram_sha256_verifier(&a), "a fresh salt each time");
    }

    #[test]
    fn scram_verifier_is_rfc_7677() {
        // postgres-protocol's verifier, checked by recomputing StoredKey/ServerKey from its
        // salt with aws-lc-rs (an independent PBKDF2, HMAC and SHA-256).
        use aws_lc_rs::{digest, hmac, pbkdf2};
        let pw = Secret::new("pencil");
        let v = scram_sha256_verifier(&pw);
        let (head, keys) = v
            .expose()
            .split_once('$')
            .and_then(|(_, r)| r.split_once('$'))
            .unwrap();
        let salt = base64::engine::general_purpose::STANDARD
            .decode(head.split_once(':').unwrap().1)
            .unwrap();
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(4096).unwrap(),
            &salt,
            b"pencil",
            &mut salted,
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let stored = digest::digest(&digest::SHA256, hmac::sign(&key, b"Client Key").as_ref());
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            keys,
            format!(
                "{}:{}",
                b64.encode(stored.as_ref()),
                b64.encode(hmac::sign(&key, b"Server Key").as_ref())
            )
        );
    }

    fn provider() -> PostgresProvider {
        PostgresProvider {
            admin_dsn_env: "PROD_ACCESS_PG_ADMIN_DSN".into(),
            host: "db.acme.internal".into(),
            port: 5432,
            database: "app".into(),
        }
    }

    #[test]
    fn admin_dsn_is_checked_without_echoing_it() {
        let p = provider();
        let err = PgProvider::from_env(&p, &|_| None).unwrap_err();
        assert_eq!(err.id(), "config.pg_admin_dsn_missing");
        assert_eq!(err.exit_class().code(), 2);
        for (dsn, id) in [
            (
                "postgresql://admin:TOPSECRET@db.acme.internal/app?sslmode=disable",
                "config.pg_admin_tls_required",
            ),
            (
                "host=10.0.0.1 user=admin password=TOPSECRET sslmode=disable",
                "config.pg_admin_tls_required",
            ),
            (
                "host=localhost hostaddr=10.0.0.1 user=admin password=TOPSECRET sslmode=disable",
                "config.pg_admin_tls_required",
            ),
            (
                "postgresql://admin:TOPSECRET@localhost:notaport/app",
                "config.pg_admin_dsn_invalid",
            ),
            (
                "password=TOPSECRET user=admin",
                "config.pg_admin_dsn_invalid",
            ),
            (
                "host=localhost user=admin sslmode=allow password=TOPSECRET",
                "config.pg_admin_dsn_invalid",
            ),
        ] {
            let err = PgProvider::from_env(&p, &|_| Some(dsn.into())).unwrap_err();
            assert_eq!(err.id(), id, "{dsn}");
            assert!(!format!("{err} {err:?}").contains("TOPSECRET"));
            assert!(err.to_string().contains("PROD_ACCESS_PG_ADMIN_DSN"));
        }
        // Remote hosts: TLS, whatever the DSN says (prefer is made require).
        for remote in [
            "postgresql://admin:TOPSECRET@db.acme.internal/app",
            "host=10.0.0.1 user=admin password=TOPSECRET sslmode=prefer",
            "host=db.acme.internal user=admin password=TOPSECRET sslmode=require",
        ] {
            let pg = PgProvider::from_env(&p, &|_| Some(remote.into())).unwrap();
            assert!(pg.uses_tls(), "{remote}");
            assert_eq!(pg.admin.get_ssl_mode(), SslMode::Require);
        }
        let pg = PgProvider::from_env(&p, &|_| {
            Some("host=localhost user=admin password=TOPSECRET sslmode=require".into())
        })
        .unwrap();
        assert!(pg.uses_tls());
        for ok in [
            "postgresql://admin:TOPSECRET@127.0.0.1:5432/app",
            "postgresql://admin:TOPSECRET@[::1]:5432/app",
            "host=localhost user=admin password=TOPSECRET",
            "host=/var/run/postgresql user=admin password=TOPSECRET",
        ] {
            let pg = PgProvider::from_env(&p, &|_| Some(ok.into())).unwrap();
            assert!(!pg.uses_tls(), "{ok}");
            assert!(!format!("{pg:?}").contains("TOPSECRET"), "{ok}");
            assert_eq!(pg.scrubbed("x TOPSECRET y", &[]), "x *** y");
        }
    }

    #[test]
    fn database_url_encodes_every_part() {
        let pw = Secret::new("a-b_c");
        let url = database_url("db.acme.internal", 5432, "app db", "pa_x_00", &pw).unwrap();
        assert_eq!(
            url.expose(),
            "postgresql://pa_x_00:a-b_c@db.acme.internal:5432/app%20db"
        );
        let url = database_url("::1", 5433, "app", "pa_x", &Secret::new("p@ss/:")).unwrap();
        assert_eq!(
            url.expose(),
            "postgresql://pa_x:p%40ss%2F%3A@[::1]:5433/app"
        );
        assert!(database_url("bad host/x", 1, "d", "r", &pw).is_err());
    }
}
