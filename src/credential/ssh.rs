//! The `ssh` credential: a fresh Ed25519 key and an OpenSSH user certificate signed by the
//! provider's CA key (contract §7, "The ssh credential").
//!
//! - The CA key is OpenSSH private key text (unencrypted, Ed25519 or ECDSA P-256) in the
//!   environment variable `providers.ssh.ca_key_env` names. It is parsed by the `ssh-key`
//!   crate (encodings only: no `ed25519`/`p256`/`rsa` features) and loaded into an
//!   aws-lc-rs key pair, which is the only thing that signs ([`CaKey`]). Errors name the
//!   variable, never its content; the CA key is never written anywhere.
//! - The certificate: a user certificate for a fresh aws-lc-rs Ed25519 key, a random non-zero
//!   64-bit serial, key id `prod-access:<grant id>:<requester>`, `valid_after` 60 s before the
//!   grant ([`VALID_AFTER_SKEW`]), `valid_before` its expiry, the scope's principals, the
//!   critical options `force-command` and `source-address` only where the scope names them,
//!   and only the extensions the scope lists (none by default: no pty, no forwarding).
//! - Files: `RUNNER_TEMP/prod-access-<grant id>/id_ed25519` (private key, OpenSSH format) and
//!   `id_ed25519-cert.pub`; the folder is made with `mkdir` (refuses anything already there,
//!   symlinks included), checked to be the directory we made and set to 0700 through its
//!   open handle; the files are `O_CREAT|O_EXCL` 0600 (`write_new_private_file`, called by
//!   the grant flow through `Minted::write_files` after the masks), whatever
//!   the umask. Anything already at the folder's path is refused (exit 3).
//!
//! SECURITY, masking order (contract §6): `mint` makes and checks the empty folder and returns
//! the key and certificate in [`Minted::files`]; the caller masks every line of the key
//! ([`Minted::mask_forms`]: the key text travels only there, never in `env`, so it never
//! reaches `GITHUB_ENV`) and only then writes the files ([`Minted::write_files`]).
//!
//! A certificate cannot be recalled from hosts that only trust the CA: [`Provider::revoke`]
//! deletes the grant's folder and says truthfully that hosts without a KRL listing the
//! serial accept the certificate until it expires; its outcome ends with the line
//! `serial: N`, an input line for `ssh-keygen -k -s CA.pub`.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsBigEndian as _;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, UnparsedPublicKey,
};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ssh_key::certificate::{Builder, CertType, Certificate};
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, Ed25519PrivateKey, KeypairData};
use ssh_key::public::{Ed25519PublicKey, KeyData};
use ssh_key::{Algorithm, EcdsaCurve, LineEnding, Mpint, PrivateKey, Signature};
use zeroize::Zeroizing;

use super::{
    CredentialError, GrantContext, GrantId, Minted, Provider, RevokeHandle, RevokeOutcome,
    SweepReport,
};
use crate::policy::{CredentialSpec, SshProvider};
use crate::secret::Secret;
use crate::text::rfc3339;

/// The variable holding the absolute path of the private key file (contract §6).
pub const KEY_ENV: &str = "PROD_ACCESS_SSH_KEY";
/// The variable holding the absolute path of the certificate file (contract §6).
pub const CERT_ENV: &str = "PROD_ACCESS_SSH_CERT";
/// The runner's per-job temp folder.
pub const RUNNER_TEMP_ENV: &str = "RUNNER_TEMP";
/// File name of the private key inside the grant's folder.
pub const KEY_FILE: &str = "id_ed25519";
/// File name of the certificate inside the grant's folder.
pub const CERT_FILE: &str = "id_ed25519-cert.pub";
/// `valid_after` is this many seconds before the grant (clock skew between runner and host).
pub const VALID_AFTER_SKEW: i64 = 60;
/// Longest CA key text accepted (an Ed25519 or P-256 OpenSSH key is under 700 bytes).
const MAX_CA_KEY_BYTES: usize = 16 * 1024;

/// Revoking needs no CA key: the grant's key files are deleted and the serial is reported for
/// hosts that keep a KRL. The post step may run without the CA secret.
pub fn revoke_files(
    runner_temp: &Path,
    handle: &RevokeHandle,
) -> Result<RevokeOutcome, CredentialError> {
    if handle.kind != "ssh" {
        return Err(CredentialError::config(
            "credential.kind_mismatch",
            "the saved state is not for an ssh credential",
        ));
    }
    // SECURITY: the folder comes from RUNNER_TEMP and the checked grant id only, never
    // from a path in the (untrusted) state.
    let dir = grant_dir(runner_temp, &handle.grant_id);
    remove_grant_dir(&dir).map_err(|e| {
        CredentialError::upstream("ssh.revoke_failed", format!("{}: {e}", dir.display()))
    })?;
    let serial = handle
        .data
        .get("serial")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s != 0)
        .ok_or_else(|| {
            CredentialError::config(
                "credential.state_invalid",
                "the saved ssh state has no valid serial (the key files were removed)",
            )
        })?;
    let until = rfc3339(handle.expires_at);
    Ok(RevokeOutcome::NotRevocable {
        expires_at: handle.expires_at,
        note: format!(
            "key files removed; a certificate cannot be recalled: hosts without a KRL \
             listing serial {serial} accept the certificate until {until}; KRL line \
             (`ssh-keygen -k -s CA.pub`) below\n{}",
            krl_line(serial)
        ),
    })
}

/// The folder of a grant: `RUNNER_TEMP/prod-access-<grant id>`. The grant id is checked
/// ([`GrantId`]), so the name can hold no `/` and no `..`.
pub fn grant_dir(runner_temp: &Path, grant_id: &GrantId) -> PathBuf {
    runner_temp.join(format!("prod-access-{grant_id}"))
}

/// The key id of a grant's certificate: `prod-access:<grant id>:<requester login>`.
pub fn key_id(grant_id: &GrantId, requester: &str) -> String {
    format!("prod-access:{grant_id}:{requester}")
}

/// The KRL specification line for a serial (`ssh-keygen -k -s CA.pub -f KRL FILE`).
pub fn krl_line(serial: u64) -> String {
    format!("serial: {serial}")
}

/// `SHA256:<base64, no padding>` of a public key, as `ssh-keygen -l` and sshd's log show it
/// (computed with aws-lc-rs).
pub fn fingerprint(key: &KeyData) -> Result<String, CredentialError> {
    use ssh_encoding::Encode as _;
    let mut blob = Vec::new();
    key.encode(&mut blob)
        .map_err(|_| CredentialError::config("ssh.encoding", "cannot encode a public key blob"))?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &blob);
    Ok(format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref())
    ))
}

/// The CA's signing key, held by aws-lc-rs. `Debug` shows the algorithm and fingerprint only.
pub struct CaKey {
    signer: CaSigner,
    public: KeyData,
    fingerprint: String,
}

enum CaSigner {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKey")
            .field("alg", &self.alg())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Why a CA key was refused. The message never quotes the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CaKeyError(String);

impl CaKey {
    /// Reads OpenSSH private key text (`-----BEGIN OPENSSH PRIVATE KEY-----`), unencrypted,
    /// Ed25519 or ECDSA P-256. The private and public halves must agree (aws-lc-rs checks).
    pub fn from_openssh(text: &Secret) -> Result<Self, CaKeyError> {
        let text = text.expose().trim();
        if text.len() > MAX_CA_KEY_BYTES {
            return Err(CaKeyError(format!(
                "the key text is longer than {MAX_CA_KEY_BYTES} bytes"
            )));
        }
        if !text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return Err(CaKeyError(
                "not an OpenSSH private key (expected `-----BEGIN OPENSSH PRIVATE KEY-----`, as \
                 `ssh-keygen -t ed25519` writes)"
                    .into(),
            ));
        }
        // SECURITY: the parser's error is replaced by a fixed message (no key bytes).
        let key = PrivateKey::from_openssh(text)
            .map_err(|_| CaKeyError("the OpenSSH private key cannot be parsed".into()))?;
        if key.is_encrypted() {
            return Err(CaKeyError(
                "the OpenSSH private key is encrypted; give it unencrypted (the variable is the \
                 secret)"
                    .into(),
            ));
        }
        let public = key.public_key().key_data().clone();
        let rejected = |_| CaKeyError("the key's private and public halves do not match".into());
        let signer = match key.key_data() {
            KeypairData::Ed25519(pair) => CaSigner::Ed25519(
                Ed25519KeyPair::from_seed_and_public_key(pair.private.as_ref(), &pair.public.0)
                    .map_err(rejected)?,
            ),
            KeypairData::Ecdsa(EcdsaKeypair::NistP256 { public, private }) => CaSigner::P256(
                EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    private.as_slice(),
                    public.as_bytes(),
                )
                .map_err(rejected)?,
            ),
            _ => {
                return Err(CaKeyError(format!(
                    "a {} CA key is not supported; use Ed25519 or ECDSA P-256",
                    key.algorithm().as_str()
                )));
            }
        };
        let fingerprint = fingerprint(&public).map_err(|e| CaKeyError(e.to_string()))?;
        Ok(Self {
            signer,
            public,
            fingerprint,
        })
    }

    /// `ssh-ed25519` or `ecdsa-sha2-nistp256`.
    pub fn alg(&self) -> &'static str {
        match self.signer {
            CaSigner::Ed25519(_) => "ssh-ed25519",
            CaSigner::P256(_) => "ecdsa-sha2-nistp256",
        }
    }

    /// The CA's public key data.
    pub fn public(&self) -> &KeyData {
        &self.public
    }

    /// `SHA256:...` of the CA's public key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The CA's public key as one `authorized_keys`/`TrustedUserCAKeys` line.
    pub fn public_openssh(&self) -> Result<String, CredentialError> {
        ssh_key::PublicKey::new(self.public.clone(), "prod-access CA")
            .to_openssh()
            .map_err(|_| CredentialError::config("ssh.encoding", "cannot encode the CA key"))
    }

    /// Checks `signature` over `message` with aws-lc-rs (the certificate's self-check).
    fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        match &self.signer {
            CaSigner::Ed25519(pair) => UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref())
                .verify(message, signature.as_bytes())
                .is_ok(),
            CaSigner::P256(pair) => {
                let Some(fixed) = ecdsa_fixed_from_ssh(signature.as_bytes()) else {
                    return false;
                };
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
                    .verify(message, &fixed)
                    .is_ok()
            }
        }
    }
}

impl signature::Signer<Signature> for CaKey {
    fn try_sign(&self, message: &[u8]) -> Result<Signature, signature::Error> {
        match &self.signer {
            CaSigner::Ed25519(pair) => {
                let sig = pair.sign(message);
                Signature::new(Algorithm::Ed25519, sig.as_ref().to_vec())
                    .map_err(|_| signature::Error::new())
            }
            CaSigner::P256(pair) => {
                let sig = pair
                    .sign(&SystemRandom::new(), message)
                    .map_err(|_| signature::Error::new())?;
                // RFC 5656 §3.1.2: the blob is mpint r, mpint s.
                let (r, s) = sig.as_ref().split_at(32);
                let mut data = Vec::with_capacity(74);
                for half in [r, s] {
                    let n =
                        Mpint::from_positive_bytes(half).map_err(|_| signature::Error::new())?;
                    ssh_encoding::Encode::encode(&n, &mut data)
                        .map_err(|_| signature::Error::new())?;
                }
                Signature::new(
                    Algorithm::Ecdsa {
                        curve: EcdsaCurve::NistP256,
                    },
                    data,
                )
                .map_err(|_| signature::Error::new())
            }
        }
    }
}

impl From<&CaKey> for KeyData {
    fn from(key: &CaKey) -> Self {
        key.public.clone()
    }
}

/// `mpint r, mpint s` back to the fixed `r || s` form aws-lc-rs verifies.
fn ecdsa_fixed_from_ssh(blob: &[u8]) -> Option<[u8; 64]> {
    use ssh_encoding::Decode as _;
    let mut reader = blob;
    let mut out = [0u8; 64];
    for half in out.chunks_mut(32) {
        let n = Mpint::decode(&mut reader).ok()?;
        let bytes = n.as_positive_bytes()?;
        if bytes.len() > 32 {
            return None;
        }
        half[32 - bytes.len()..].copy_from_slice(bytes);
    }
    reader.is_empty().then_some(out)
}

/// The `ssh` provider: the CA key and the job's `RUNNER_TEMP`.
#[derive(Debug)]
pub struct SshCa {
    ca_key_env: String,
    ca: CaKey,
    runner_temp: PathBuf,
}

/// A certificate made for a grant, before anything is written.
#[derive(Debug)]
pub struct Issued {
    pub certificate: Certificate,
    /// The user key in OpenSSH private key format.
    pub private_key: Secret,
}

impl SshCa {
    /// Loads the CA key from the variable `provider.ca_key_env` names and the job's temp
    /// folder from `RUNNER_TEMP`. SECURITY: errors name the variable, never its content.
    pub fn from_env(
        provider: &SshProvider,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialError> {
        let var = &provider.ca_key_env;
        let Some(text) = env(var).filter(|v| !v.trim().is_empty()).map(Secret::new) else {
            return Err(CredentialError::config(
                "config.ssh_ca_key_missing",
                format!(
                    "environment variable {var} (providers.ssh.ca_key_env) is not set or empty; \
                     it must hold the CA's OpenSSH private key (Ed25519 or ECDSA P-256, \
                     unencrypted)"
                ),
            ));
        };
        let Some(runner_temp) = env(RUNNER_TEMP_ENV).filter(|v| !v.is_empty()) else {
            return Err(CredentialError::config(
                "config.runner_temp_missing",
                format!(
                    "environment variable {RUNNER_TEMP_ENV} is not set; the ssh credential's \
                     files are written under it"
                ),
            ));
        };
        let ca = CaKey::from_openssh(&text).map_err(|e| {
            CredentialError::config(
                "config.ssh_ca_key_invalid",
                format!("environment variable {var} (providers.ssh.ca_key_env): {e}"),
            )
        })?;
        Self::new(var, ca, PathBuf::from(runner_temp))
    }

    /// A provider around an already loaded CA key. `runner_temp` must be absolute.
    pub fn new(ca_key_env: &str, ca: CaKey, runner_temp: PathBuf) -> Result<Self, CredentialError> {
        if !runner_temp.is_absolute() {
            return Err(CredentialError::config(
                "config.runner_temp_invalid",
                format!("{RUNNER_TEMP_ENV} must be an absolute path"),
            ));
        }
        Ok(Self {
            ca_key_env: ca_key_env.to_string(),
            ca,
            runner_temp,
        })
    }

    pub fn ca(&self) -> &CaKey {
        &self.ca
    }

    pub fn runner_temp(&self) -> &Path {
        &self.runner_temp
    }

    /// A fresh Ed25519 key and its certificate for `ctx` (no I/O).
    pub fn issue(
        &self,
        ctx: &GrantContext<'_>,
        expires_at: DateTime<Utc>,
        serial: u64,
    ) -> Result<Issued, CredentialError> {
        let CredentialSpec::Ssh {
            principals,
            force_command,
            source_address,
            extensions,
        } = &ctx.scope.credential
        else {
            return Err(CredentialError::config(
                "credential.kind_mismatch",
                format!(
                    "scope `{}` mints a {} credential, not ssh",
                    ctx.scope.name,
                    ctx.scope.credential.kind()
                ),
            ));
        };
        check_principals(principals)?;
        check_requester(ctx.requester)?;
        if serial == 0 {
            return Err(CredentialError::config(
                "ssh.serial_invalid",
                "a serial of 0 is not used",
            ));
        }
        let valid_after = ctx
            .now
            .timestamp()
            .checked_sub(VALID_AFTER_SKEW)
            .and_then(|t| u64::try_from(t).ok());
        let valid_before = u64::try_from(expires_at.timestamp()).ok();
        let (Some(valid_after), Some(valid_before)) = (valid_after, valid_before) else {
            return Err(CredentialError::config(
                "credential.ttl_invalid",
                "the validity window is before 1970",
            ));
        };

        let rng = SystemRandom::new();
        let rng_err = |_| CredentialError::upstream("ssh.random", "the system RNG failed");
        let user = Ed25519KeyPair::generate().map_err(rng_err)?;
        let seed = user.seed().and_then(|s| s.as_be_bytes()).map_err(rng_err)?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.as_ref()
                .try_into()
                .map_err(|_| CredentialError::upstream("ssh.keygen", "unexpected seed size"))?,
        );
        let public: [u8; 32] = user
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| CredentialError::upstream("ssh.keygen", "unexpected key size"))?;
        let pair = Ed25519Keypair {
            public: Ed25519PublicKey(public),
            private: Ed25519PrivateKey::from_bytes(&seed),
        };
        let encoding = |_| CredentialError::config("ssh.encoding", "cannot encode the key");
        let private = PrivateKey::new(
            KeypairData::Ed25519(pair),
            key_id(ctx.grant_id, ctx.requester),
        )
        .map_err(encoding)?;
        let private_text = private.to_openssh(LineEnding::LF).map_err(encoding)?;

        let mut nonce = [0u8; 32];
        rng.fill(&mut nonce).map_err(rng_err)?;
        let build = |_| CredentialError::config("ssh.certificate", "cannot build the certificate");
        let mut builder = Builder::new(
            nonce.to_vec(),
            private.public_key().key_data().clone(),
            valid_after,
            valid_before,
        )
        .map_err(build)?;
        builder
            .serial(serial)
            .map_err(build)?
            .cert_type(CertType::User)
            .map_err(build)?
            .key_id(key_id(ctx.grant_id, ctx.requester))
            .map_err(build)?
            .comment(key_id(ctx.grant_id, ctx.requester))
            .map_err(build)?;
        for principal in principals {
            builder.valid_principal(principal.clone()).map_err(build)?;
        }
        if let Some(command) = force_command {
            builder
                .critical_option("force-command", command.clone())
                .map_err(build)?;
        }
        if !source_address.is_empty() {
            builder
                .critical_option("source-address", source_address.join(","))
                .map_err(build)?;
        }
        for extension in extensions {
            builder.extension(extension.clone(), "").map_err(build)?;
        }
        let certificate = builder.sign(&self.ca).map_err(|_| {
            CredentialError::config(
                "config.ssh_ca_key_invalid",
                format!("environment variable {}: signing failed", self.ca_key_env),
            )
        })?;
        self.self_check(&certificate)?;
        Ok(Issued {
            certificate,
            private_key: Secret::new(private_text.as_str()),
        })
    }

    /// SECURITY: verifies the certificate's signature with aws-lc-rs before it is handed out
    /// (the `ssh-key` crate cannot verify without its own curve crates).
    fn self_check(&self, certificate: &Certificate) -> Result<(), CredentialError> {
        let bad =
            || CredentialError::config("ssh.certificate", "the signed certificate does not verify");
        let bytes = certificate.to_bytes().map_err(|_| bad())?;
        let signature = certificate.signature();
        let alg = signature.algorithm();
        // The certificate ends with string(string(alg) || string(signature data)).
        let trailer = 4 + 4 + alg.as_str().len() + 4 + signature.as_bytes().len();
        let tbs = bytes
            .len()
            .checked_sub(trailer)
            .and_then(|n| bytes.get(..n))
            .ok_or_else(bad)?;
        if certificate.signature_key() != self.ca.public() || !self.ca.verify(tbs, signature) {
            return Err(bad());
        }
        Ok(())
    }

    /// Makes the grant's folder: `mkdir` 0700 refuses an existing path or symlink; the made
    /// folder is checked to be a directory (not a link swapped in) and set to 0700 through
    /// its open handle, whatever the umask.
    fn make_grant_dir(&self, dir: &Path) -> Result<(), CredentialError> {
        check_runner_temp(&self.runner_temp)?;
        let shown = dir.display();
        DirBuilder::new().mode(0o700).create(dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CredentialError::upstream(
                    "ssh.key_path_exists",
                    format!(
                        "{shown}: the path already exists (a file, folder or symlink); refusing \
                         to reuse it"
                    ),
                )
            } else {
                CredentialError::upstream(
                    "ssh.key_write_failed",
                    format!("{shown}: cannot create it: {e}"),
                )
            }
        })?;
        let check = || -> std::io::Result<bool> {
            let link = std::fs::symlink_metadata(dir)?;
            if !link.file_type().is_dir() {
                return Ok(false);
            }
            let handle = std::fs::File::open(dir)?;
            let opened = handle.metadata()?;
            if !opened.is_dir() || opened.dev() != link.dev() || opened.ino() != link.ino() {
                return Ok(false);
            }
            handle.set_permissions(std::fs::Permissions::from_mode(0o700))?;
            Ok(true)
        };
        match check() {
            Ok(true) => Ok(()),
            Ok(false) => Err(CredentialError::upstream(
                "ssh.key_path_exists",
                format!("{shown}: was replaced while it was being made; refusing it"),
            )),
            Err(e) => {
                let _ = std::fs::remove_dir(dir);
                Err(CredentialError::upstream(
                    "ssh.key_write_failed",
                    format!("{shown}: {e}"),
                ))
            }
        }
    }
}

/// SECURITY: the grant's folder must not be renameable by other users: `RUNNER_TEMP` must be
/// a directory that no group or other user can write to, unless it has the sticky bit (as
/// `/tmp` does), where only the owner of an entry can rename or delete it.
fn check_runner_temp(runner_temp: &Path) -> Result<(), CredentialError> {
    let meta = std::fs::metadata(runner_temp).map_err(|e| {
        CredentialError::config(
            "config.runner_temp_invalid",
            format!("{RUNNER_TEMP_ENV} ({}): {e}", runner_temp.display()),
        )
    })?;
    let mode = meta.permissions().mode();
    if !meta.is_dir() {
        return Err(CredentialError::config(
            "config.runner_temp_invalid",
            format!(
                "{RUNNER_TEMP_ENV} ({}) is not a directory",
                runner_temp.display()
            ),
        ));
    }
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(CredentialError::config(
            "config.runner_temp_invalid",
            format!(
                "{RUNNER_TEMP_ENV} ({}) is writable by other users (mode {:o}) without the \
                 sticky bit; the key folder could be swapped",
                runner_temp.display(),
                mode & 0o7777
            ),
        ));
    }
    Ok(())
}

/// A random non-zero 64-bit serial from the system RNG.
pub fn random_serial() -> Result<u64, CredentialError> {
    let rng = SystemRandom::new();
    loop {
        let mut bytes = [0u8; 8];
        rng.fill(&mut bytes)
            .map_err(|_| CredentialError::upstream("ssh.random", "the system RNG failed"))?;
        let serial = u64::from_be_bytes(bytes);
        if serial != 0 {
            return Ok(serial);
        }
    }
}

/// SECURITY: the policy compiler checks principals already; a certificate with no principal,
/// or one holding `,` or whitespace, must still never be signed (catalogue 78).
fn check_principals(principals: &[String]) -> Result<(), CredentialError> {
    if principals.is_empty() {
        return Err(CredentialError::config(
            "ssh.principal_invalid",
            "no principals: a certificate without principals is valid for every account",
        ));
    }
    for p in principals {
        let ok = !p.is_empty()
            && p.len() <= 256
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return Err(CredentialError::config(
                "ssh.principal_invalid",
                format!(
                    "{} is not a principal: 1-256 characters of [A-Za-z0-9._-]",
                    crate::emit::escape::quote_untrusted(p, 64)
                ),
            ));
        }
    }
    Ok(())
}

/// The requester goes into the key id that sshd logs: a GitHub login (bots end in `[bot]`).
fn check_requester(requester: &str) -> Result<(), CredentialError> {
    let ok = !requester.is_empty()
        && requester.len() <= 64
        && requester
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.[]".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CredentialError::config(
            "ssh.requester_invalid",
            format!(
                "{} is not a login that can go into a key id",
                crate::emit::escape::quote_untrusted(requester, 64)
            ),
        ))
    }
}

impl Provider for SshCa {
    fn kind(&self) -> &'static str {
        "ssh"
    }

    async fn mint(&self, ctx: &GrantContext<'_>) -> Result<Minted, CredentialError> {
        let expires_at = ctx.expires_at()?;
        let serial = random_serial()?;
        let issued = self.issue(ctx, expires_at, serial)?;
        let cert = &issued.certificate;
        let fingerprint = fingerprint(cert.public_key())?;
        let cert_text = cert.to_openssh().map_err(|_| {
            CredentialError::config("ssh.encoding", "cannot encode the certificate")
        })?;

        let dir = grant_dir(&self.runner_temp, ctx.grant_id);
        self.make_grant_dir(&dir)?;
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        // SECURITY: the files are written by the caller after the masks (Minted::files);
        // the folder is made and checked here, empty.
        let files = vec![
            (key_path.clone(), issued.private_key.clone()),
            (cert_path.clone(), Secret::new(format!("{cert_text}\n"))),
        ];

        let principals = cert.valid_principals().join(",");
        let handle = RevokeHandle {
            kind: "ssh".into(),
            grant_id: ctx.grant_id.clone(),
            expires_at,
            data: [
                ("serial".to_string(), serial.to_string()),
                ("fingerprint".to_string(), fingerprint.clone()),
            ]
            .into_iter()
            .collect(),
        };
        Ok(Minted {
            env: Vec::new(),
            // SECURITY: the private key text is masked line by line by the caller; it is never
            // an env value (the job gets the file's path).
            mask_forms: vec![issued.private_key],
            files,
            public_env: vec![
                (KEY_ENV.to_string(), key_path.display().to_string()),
                (CERT_ENV.to_string(), cert_path.display().to_string()),
            ],
            fingerprint: fingerprint.clone(),
            expires_at,
            audit: vec![
                ("serial".into(), serial.to_string()),
                ("key_id".into(), cert.key_id().to_string()),
                ("principals".into(), principals),
                (
                    "valid_after".into(),
                    rfc3339(ctx.now - chrono::Duration::seconds(VALID_AFTER_SKEW)),
                ),
                ("valid_before".into(), rfc3339(expires_at)),
                ("fingerprint".into(), fingerprint),
                ("ca_fingerprint".into(), self.ca.fingerprint().to_string()),
            ],
            handle,
        })
    }

    async fn revoke(&self, handle: &RevokeHandle) -> Result<RevokeOutcome, CredentialError> {
        revoke_files(&self.runner_temp, handle)
    }

    async fn sweep(&self, _now: DateTime<Utc>) -> Result<SweepReport, CredentialError> {
        Ok(SweepReport {
            notes: vec![
                "ssh: no server holds the certificates (each ends at its valid_before); the \
                 key files live under the job's RUNNER_TEMP, removed by revoke and by the \
                 runner; nothing to sweep"
                    .into(),
            ],
            ..SweepReport::default()
        })
    }
}

/// Removes a grant's folder and what is in it. A missing folder is fine (idempotent). A
/// symlink or anything else that is not a directory is refused, never followed.
fn remove_grant_dir(dir: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_dir() {
        return Err(std::io::Error::other(
            "not a folder prod-access made (a symlink or file); left alone",
        ));
    }
    for name in [KEY_FILE, CERT_FILE] {
        let path = dir.join(name);
        match std::fs::symlink_metadata(&path) {
            // `remove_file` unlinks the entry itself, never a symlink's target.
            Ok(_) => std::fs::remove_file(&path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    // Anything else the job put in the grant's own folder (e.g. `id_ed25519.pub`) goes too;
    // `remove_dir_all` does not follow symlinks.
    std::fs::remove_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed25519_ca_text() -> Secret {
        let pair = Ed25519KeyPair::generate().unwrap();
        let seed = pair.seed().unwrap().as_be_bytes().unwrap();
        let keypair = Ed25519Keypair {
            public: Ed25519PublicKey(pair.public_key().as_ref().try_into().unwrap()),
            private: Ed25519PrivateKey::from_bytes(seed.as_ref().try_into().unwrap()),
        };
        let key = PrivateKey::new(KeypairData::Ed25519(keypair), "ca").unwrap();
        Secret::new(key.to_openssh(LineEnding::LF).unwrap().as_str())
    }

    #[test]
    fn fingerprint_matches_the_ssh_key_crates() {
        let ca = CaKey::from_openssh(&ed25519_ca_text()).unwrap();
        assert_eq!(
            ca.fingerprint(),
            ca.public()
                .fingerprint(ssh_key::HashAlg::Sha256)
                .to_string()
        );
        assert!(ca.public_openssh().unwrap().starts_with("ssh-ed25519 AAAA"));
        assert!(!format!("{ca:?}").contains("private"));
    }

    #[test]
    fn a_ca_key_whose_halves_disagree_is_refused() {
        let a = PrivateKey::from_openssh(ed25519_ca_text().expose()).unwrap();
        let b = PrivateKey::from_openssh(ed25519_ca_text().expose()).unwrap();
        let (KeypairData::Ed25519(a), KeypairData::Ed25519(b)) = (a.key_data(), b.key_data())
        else {
            panic!("not ed25519");
        };
        let mixed = Ed25519Keypair {
            public: b.public,
            private: a.private.clone(),
        };
        let text = PrivateKey::new(KeypairData::Ed25519(mixed), "x")
            .unwrap()
            .to_openssh(LineEnding::LF)
            .unwrap();
        let err = CaKey::from_openssh(&Secret::new(text.as_str())).unwrap_err();
        assert!(err.0.contains("do not match"), "{err}");
    }

    #[test]
    fn ecdsa_signatures_round_trip_between_ssh_and_fixed_forms() {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let public =
            ssh_key::public::EcdsaPublicKey::from_sec1_bytes(pair.public_key().as_ref()).unwrap();
        let ca = CaKey {
            signer: CaSigner::P256(pair),
            public: KeyData::Ecdsa(public),
            fingerprint: String::new(),
        };
        // Enough signatures that some r or s has a leading zero byte or a high bit set.
        for i in 0..64u32 {
            let msg = i.to_be_bytes();
            let sig = signature::Signer::<Signature>::try_sign(&ca, &msg).unwrap();
            assert!(ca.verify(&msg, &sig));
            assert!(!ca.verify(b"other", &sig));
        }
        assert!(ecdsa_fixed_from_ssh(&[0, 0, 0, 1]).is_none());
    }

    #[test]
    fn revoke_text_ends_with_a_krl_line() {
        let out = RevokeOutcome::NotRevocable {
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            note: format!("hosts without a KRL accept it\n{}", krl_line(42)),
        };
        assert_eq!(
            out.describe(),
            "not revocable; expires at 2027-01-15T08:00:00Z (hosts without a KRL accept it)\n\
             serial: 42"
        );
    }

    #[test]
    fn a_runner_temp_others_can_write_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let set = |mode| {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o700);
        assert!(check_runner_temp(dir.path()).is_ok());
        set(0o777);
        let err = check_runner_temp(dir.path()).unwrap_err();
        assert_eq!(err.id(), "config.runner_temp_invalid");
        set(0o1777);
        assert!(check_runner_temp(dir.path()).is_ok());
        set(0o770);
        assert!(check_runner_temp(dir.path()).is_err());
        set(0o700);
        assert!(check_runner_temp(&dir.path().join("missing")).is_err());
    }
}
