//! `keygen`, `jwks` and `verify`: the tooling around the `jwt` credential (contract §1).
//!
//! None of them needs a runner environment. Private keys never reach stdout or stderr: only
//! the public JWKS and verified claims are printed, through [`Console`].

use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::cli::{JwksArgs, KeygenArgs, VerifyArgs};
use crate::credential::jwt_keys::{self, KeyAlg, SigningKey};
use crate::credential::jwt_verify::{self, Expectations};
use crate::emit::Console;
use crate::error::{Error, ExitClass};
use crate::secret::Secret;

/// `keygen --alg ed25519|p256 --out FILE`: a fresh key, written 0600 to a path that must not
/// exist (catalogue row 81), then its public JWKS on stdout.
pub fn keygen(args: &KeygenArgs, console: &mut Console) -> Result<ExitClass, Error> {
    let Some(alg) = KeyAlg::parse(&args.alg) else {
        return Err(Error::Usage(format!(
            "--alg must be ed25519 or p256, got {}",
            crate::emit::escape::quote_untrusted(&args.alg, 32)
        )));
    };
    let (key, pem) = SigningKey::generate(alg).map_err(|e| Error::Config {
        id: "config.keygen_failed",
        detail: e.to_string(),
    })?;
    let shown = args.out.display().to_string();
    // Both paths are checked before anything is written: a second run refuses whole.
    for path in std::iter::once(&args.out).chain(args.jwks_out.as_ref()) {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(path_exists(path, args.jwks_out.is_none()));
        }
    }
    jwt_keys::write_new_private_file(&args.out, pem.expose().as_bytes()).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            path_exists(&args.out, args.jwks_out.is_none())
        } else {
            Error::Io {
                path: shown.clone(),
                source,
            }
        }
    })?;
    drop(pem);
    let jwks = jwks_text(&key)?;
    match &args.jwks_out {
        None => {
            console.say(&jwks);
            console.error(&format!(
                "wrote the {} private key (mode 0600) to {}; kid {}; the public JWKS is on stdout",
                alg.jws_alg(),
                crate::emit::escape::quote_untrusted(&shown, 200),
                key.kid()
            ));
        }
        Some(path) => {
            if let Err(e) = write_new_public_file(path, &jwks) {
                // The pair is made whole or not at all: the key just written goes again.
                let _ = std::fs::remove_file(&args.out);
                return Err(match e.kind() {
                    std::io::ErrorKind::AlreadyExists => path_exists(path, false),
                    _ => Error::Io {
                        path: path.display().to_string(),
                        source: e,
                    },
                });
            }
            console.error(&format!(
                "wrote the {} private key (mode 0600) to {} and its public JWKS to {}; kid {}",
                alg.jws_alg(),
                crate::emit::escape::quote_untrusted(&shown, 200),
                crate::emit::escape::quote_untrusted(&path.display().to_string(), 200),
                key.kid()
            ));
        }
    }
    Ok(ExitClass::Ok)
}

/// `jwks [--key FILE | --key-env NAME]`: the public JWKS of a private key.
pub fn jwks(
    args: &JwksArgs,
    console: &mut Console,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExitClass, Error> {
    let (pem, source) = match &args.key {
        Some(path) => (read_key_file(path)?, format!("key file {}", path.display())),
        None => {
            let var = &args.key_env;
            let pem = env(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Error::Config {
                    id: "config.jwt_key_missing",
                    detail: format!(
                        "environment variable {} is not set or empty; pass --key FILE or --key-env NAME",
                        crate::emit::escape::quote_untrusted(var, 64)
                    ),
                })?;
            (
                Secret::new(pem),
                format!(
                    "environment variable {}",
                    crate::emit::escape::quote_untrusted(var, 64)
                ),
            )
        }
    };
    // SECURITY: the error names where the key came from, never its content.
    let key = SigningKey::from_pem(&pem).map_err(|e| Error::Config {
        id: "config.jwt_key_invalid",
        detail: format!("{source}: {e}"),
    })?;
    print_jwks(console, &key)?;
    Ok(ExitClass::Ok)
}

/// `verify TOKEN --jwks FILE --audience A [--issuer I]`: exit 0 and the claims on stdout for
/// a valid token, exit 1 with the reason otherwise (catalogue row 80).
pub fn verify(args: &VerifyArgs, console: &mut Console) -> Result<ExitClass, Error> {
    let token = if args.token == "-" {
        read_stdin_token()?
    } else {
        Zeroizing::new(args.token.trim().to_string())
    };
    let jwks_bytes = super::read_file_capped(&args.jwks, jwt_verify::MAX_JWKS_BYTES)?;
    refuse_private_key(&args.jwks, &jwks_bytes)?;
    let keys = jwt_verify::parse_jwks(&jwks_bytes).map_err(|e| Error::Config {
        id: "config.jwks_invalid",
        detail: format!("{}: {e}", args.jwks.display()),
    })?;
    if keys.is_empty() {
        return Err(Error::Config {
            id: "config.jwks_invalid",
            detail: format!(
                "{}: no Ed25519 or P-256 signing key with a kid",
                args.jwks.display()
            ),
        });
    }
    let expect = Expectations::for_audience(args.audience.clone(), args.issuer.clone());
    let now = chrono::Utc::now().timestamp();
    let claims =
        jwt_verify::verify_token(&token, &keys, &expect, now).map_err(|e| Error::TokenRefused {
            id: e.id(),
            detail: e.detail,
        })?;
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(claims)).map_err(|e| {
        Error::Config {
            id: "config.output",
            detail: e.to_string(),
        }
    })?;
    console.say(&text);
    Ok(ExitClass::Ok)
}

fn print_jwks(console: &mut Console, key: &SigningKey) -> Result<(), Error> {
    console.say(&jwks_text(key)?);
    Ok(())
}

fn jwks_text(key: &SigningKey) -> Result<String, Error> {
    let doc = jwt_keys::jwks_document(std::slice::from_ref(key.public_jwk()));
    serde_json::to_string_pretty(&doc).map_err(|e| Error::Config {
        id: "config.output",
        detail: e.to_string(),
    })
}

/// The public JWKS, to a path that must not exist (never through a link).
fn write_new_public_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// The refusal of a path that exists. With the JWKS on stdout, a shell redirect
/// (`> jwks.json`) has already emptied its file before keygen ran: say so, and how to get
/// that JWKS back.
fn path_exists(path: &Path, jwks_on_stdout: bool) -> Error {
    let mut detail = format!(
        "{}: the path already exists (a file, a directory or a symlink, even a dangling one); \
         keygen never overwrites or follows a link, and wrote nothing",
        crate::emit::escape::quote_untrusted(&path.display().to_string(), 200)
    );
    if jwks_on_stdout && stdout_is_empty_file() {
        detail.push_str(
            "; stdout is a file the shell emptied before keygen started: if it held the JWKS \
             of an existing key, print it again with `prod-access jwks --key KEY.pem > FILE`, \
             and prefer `keygen --out KEY.pem --jwks-out FILE`, which checks both paths first",
        );
    }
    Error::Config {
        id: "config.keygen_path_exists",
        detail,
    }
}

/// Whether stdout is a regular file of length 0 (a fresh `>` redirect).
fn stdout_is_empty_file() -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
            return false;
        };
        std::fs::File::from(fd)
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() == 0)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// SECURITY: a private key given where the public JWKS belongs is named as such (and never
/// echoed): the service must get the public half only.
fn refuse_private_key(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
        return Err(Error::Config {
            id: "config.jwks_is_private_key",
            detail: format!(
                "{} is a PEM private key, not a JWKS: give `--jwks` the public key set \
                 (`prod-access jwks --key {} > jwks.json`), and keep the private key away from \
                 the service",
                path.display(),
                path.display()
            ),
        });
    }
    Ok(())
}

fn read_key_file(path: &Path) -> Result<Secret, Error> {
    let bytes = super::read_file_capped(path, jwt_keys::MAX_PEM_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::Config {
        id: "config.jwt_key_invalid",
        detail: format!("key file {}: not UTF-8 text (PEM)", path.display()),
    })?;
    Ok(Secret::new(text))
}

fn read_stdin_token() -> Result<Zeroizing<String>, Error> {
    let mut buf = Zeroizing::new(Vec::new());
    std::io::stdin()
        .take(jwt_verify::MAX_TOKEN_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|source| Error::Io {
            path: "stdin".into(),
            source,
        })?;
    let text = String::from_utf8_lossy(&buf);
    Ok(Zeroizing::new(text.trim().to_string()))
}
