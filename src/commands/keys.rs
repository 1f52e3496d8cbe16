//! `keygen`, `jwks` and `verify`: the tooling around the `jwt` credential (contract §1).
//!
//! None of them needs a runner environment. Private keys never reach stdout or stderr: only
//! the public JWKS and verified claims are printed, through [`Console`].

use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::cli::{JwksArgs, KeygenArgs, VerifyArgs};
use crate::credential::jwt_keys::{self, KeyAlg, SigningKey};
use crate::credential::jwt_verify::{self, PublicKeySet, TokenExpectations};
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
    jwt_keys::write_new_private_file(&args.out, pem.expose().as_bytes()).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Config {
                id: "config.keygen_path_exists",
                detail: format!(
                    "{}: the path already exists (a file, a directory or a symlink, even a \
                     dangling one); keygen never overwrites or follows a link",
                    crate::emit::escape::quote_untrusted(&shown, 200)
                ),
            }
        } else {
            Error::Io {
                path: shown.clone(),
                source,
            }
        }
    })?;
    drop(pem);
    print_jwks(console, &key)?;
    console.error(&format!(
        "wrote the {} private key (mode 0600) to {}; kid {}; the public JWKS is on stdout",
        alg.jws_alg(),
        crate::emit::escape::quote_untrusted(&shown, 200),
        key.kid()
    ));
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
    let jwks_bytes = read_capped(&args.jwks, jwt_verify::MAX_JWKS_BYTES)?;
    let keys = PublicKeySet::parse(&jwks_bytes).map_err(|e| Error::Config {
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
    let expect = TokenExpectations::new(args.audience.clone(), args.issuer.clone());
    let now = chrono::Utc::now().timestamp();
    let claims =
        jwt_verify::verify_token(&token, &keys, &expect, now).map_err(|e| Error::TokenRefused {
            id: e.id,
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
    let doc = jwt_keys::jwks_document(std::slice::from_ref(key.public_jwk()));
    let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Config {
        id: "config.output",
        detail: e.to_string(),
    })?;
    console.say(&text);
    Ok(())
}

fn read_key_file(path: &Path) -> Result<Secret, Error> {
    let bytes = read_capped(path, jwt_keys::MAX_PEM_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::Config {
        id: "config.jwt_key_invalid",
        detail: format!("key file {}: not UTF-8 text (PEM)", path.display()),
    })?;
    Ok(Secret::new(text))
}

/// Reads at most `cap` bytes; a larger file is refused (no unbounded reads of a path the
/// caller names, e.g. `/dev/zero`).
fn read_capped(path: &Path, cap: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut buf = Zeroizing::new(Vec::new());
    file.take(cap as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() > cap {
        return Err(Error::Config {
            id: "config.file_too_large",
            detail: format!("{}: more than {cap} bytes", path.display()),
        });
    }
    Ok(buf)
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
