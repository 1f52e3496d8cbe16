//! A JWK Set: the usable signing keys for a profile's algorithms.
//!
//! Lenient per key, strict per document. A key of another type, curve, use or algorithm,
//! without a `kid`, or with a bad component is skipped, never fatal (an issuer may publish
//! keys we do not use). The document is refused when it is not a JSON object with a `keys`
//! array, repeats a JSON key, is larger than [`MAX_JWKS_BYTES`], holds private key material
//! (`d`), names two usable keys with one `kid`, or holds a weak Ed25519 key.

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

use super::{Alg, is_b64url, parse_object_strict, quote_str};

/// Longest JWK Set document accepted.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// A JWK Set that cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwksError(pub String);

/// The public components of one key, base64url as published.
#[derive(Clone, PartialEq, Eq)]
enum Material {
    Rsa { n: String, e: String },
    Okp { x: String },
    Ec { x: String, y: String },
}

/// One usable key: a `kid`, the one algorithm it verifies, its public components.
#[derive(Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: String,
    pub alg: Alg,
    material: Material,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The usable keys of a JWK Set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<Jwk>,
    skipped: usize,
}

impl Jwks {
    /// Parses a JWK Set, keeping the keys of `algs` (see the module doc for the rules).
    pub fn parse(bytes: &[u8], algs: &[Alg]) -> Result<Self, JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError(format!(
                "the JWK Set is {} bytes, more than the {MAX_JWKS_BYTES} accepted",
                bytes.len()
            )));
        }
        let doc =
            parse_object_strict(bytes).map_err(|e| JwksError(format!("not a JWK Set: {e}")))?;
        let Some(Value::Array(keys)) = doc.get("keys") else {
            return Err(JwksError("not a JWK Set: no `keys` array".into()));
        };
        let mut set = Jwks::default();
        let mut kids = HashSet::new();
        for key in keys {
            let Some(obj) = key.as_object() else {
                set.skipped += 1;
                continue;
            };
            // SECURITY: a published private key is a leak, not a key set to trust.
            if obj.contains_key("d") {
                return Err(JwksError(
                    "the JWK Set holds private key material (`d`): publish public keys only \
                     (`prod-access jwks` output)"
                        .into(),
                ));
            }
            let Some(k) = Jwk::from_object(obj, algs) else {
                set.skipped += 1;
                continue;
            };
            // SECURITY: a small-order Ed25519 key accepts forged signatures.
            if k.is_weak() {
                return Err(JwksError(format!(
                    "the JWK Set key {} is a small-order Ed25519 point, which accepts forged \
                     signatures: the key set is broken or tampered with",
                    quote_str(&k.kid)
                )));
            }
            // SECURITY: two keys under one kid would make the key a token gets depend on
            // the order of the set.
            if !kids.insert(k.kid.clone()) {
                return Err(JwksError(format!(
                    "the JWK Set has two keys with kid {}",
                    quote_str(&k.kid)
                )));
            }
            set.keys.push(k);
        }
        Ok(set)
    }

    /// A set holding the given RSA keys (for tests and the loopback issuer).
    pub fn from_rsa_components<I, K, N, E>(keys: I) -> Self
    where
        I: IntoIterator<Item = (K, N, E)>,
        K: Into<String>,
        N: Into<String>,
        E: Into<String>,
    {
        Self {
            keys: keys
                .into_iter()
                .map(|(kid, n, e)| Jwk {
                    kid: kid.into(),
                    alg: Alg::Rs256,
                    material: Material::Rsa {
                        n: n.into(),
                        e: e.into(),
                    },
                })
                .collect(),
            skipped: 0,
        }
    }

    /// The `kid`s of the usable keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many entries were skipped while parsing.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The key named `kid`. SECURITY: the kid is only ever compared with the keys we hold;
    /// it is never a path, a URL or a query.
    pub(super) fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

impl Jwk {
    fn from_object(o: &Map<String, Value>, algs: &[Alg]) -> Option<Self> {
        let kty = o.get("kty")?.as_str()?;
        let crv = o.get("crv").and_then(Value::as_str);
        let alg = *algs
            .iter()
            .find(|a| a.kty() == kty && (a.crv().is_none() || a.crv() == crv))?;
        // A key published for encryption or for another algorithm is not a signing key
        // for this one.
        if let Some(u) = o.get("use")
            && u.as_str() != Some("sig")
        {
            return None;
        }
        if let Some(a) = o.get("alg")
            && a.as_str() != Some(alg.name())
        {
            return None;
        }
        let kid = o.get("kid")?.as_str()?;
        if kid.is_empty() {
            return None;
        }
        let component = |name: &str, len: Option<usize>| -> Option<String> {
            let s = o.get(name)?.as_str()?;
            if !is_b64url(s) {
                return None;
            }
            let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
            let ok = match len {
                Some(len) => bytes.len() == len,
                None => !bytes.is_empty(),
            };
            ok.then(|| s.to_string())
        };
        let material = match alg {
            Alg::Rs256 => Material::Rsa {
                n: component("n", None)?,
                e: component("e", None)?,
            },
            Alg::EdDsa => Material::Okp {
                x: component("x", Some(32))?,
            },
            Alg::Es256 => Material::Ec {
                x: component("x", Some(32))?,
                y: component("y", Some(32))?,
            },
        };
        Some(Self {
            kid: kid.to_string(),
            alg,
            material,
        })
    }

    /// SECURITY: an Ed25519 public key of small order (or a non-canonical encoding) makes
    /// aws-lc accept a trivial signature for any message (`R` = identity, `S` = 0: checked
    /// in the tests). P-256 points off the curve are refused by aws-lc itself, and RSA keys
    /// too short to be safe by aws-lc at verification.
    fn is_weak(&self) -> bool {
        let Material::Okp { x } = &self.material else {
            return false;
        };
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(x) else {
            return true;
        };
        ed25519_small_order_or_noncanonical(&bytes)
    }

    /// The key for `jsonwebtoken`, or `None` when its components do not make one.
    pub(super) fn decoding_key(&self) -> Option<DecodingKey> {
        match &self.material {
            Material::Rsa { n, e } => DecodingKey::from_rsa_components(n, e).ok(),
            Material::Okp { x } => DecodingKey::from_ed_components(x).ok(),
            Material::Ec { x, y } => DecodingKey::from_ec_components(x, y).ok(),
        }
    }
}

/// The canonical `y` encodings (sign bit clear) of the eight small-order points of
/// edwards25519: orders 1, 2, 4 and 8 (libsodium's blocklist, recomputed from the curve).
const ED25519_SMALL_ORDER_Y: [[u8; 32]; 5] = [
    // y = 1: the identity (order 1).
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    // y = -1 (order 2).
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // y = 0 (order 4).
    [0; 32],
    // Order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // Order 8.
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// A 32-byte Ed25519 public key that is a small-order point, whatever its sign bit, or whose
/// `y` is not reduced (`y >= p = 2^255 - 19`).
fn ed25519_small_order_or_noncanonical(key: &[u8]) -> bool {
    let Ok(key) = <[u8; 32]>::try_from(key) else {
        return true;
    };
    let mut y = key;
    y[31] &= 0x7f;
    let noncanonical = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    noncanonical || ED25519_SMALL_ORDER_Y.contains(&y)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MINTED: &[Alg] = &[Alg::EdDsa, Alg::Es256];

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn small_order_ed25519_keys_are_refused() {
        use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
        // Why: with a small-order key, R = identity and S = 0 verifies for some message
        // among a few, so a key set holding one would accept forged tokens.
        let mut trivial = [0u8; 64];
        trivial[0] = 1;
        for y in ED25519_SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut key = y;
                key[31] |= sign;
                let forged = (0..64u8).any(|i| {
                    UnparsedPublicKey::new(&ED25519, &key)
                        .verify(&[i], &trivial)
                        .is_ok()
                });
                // Sign bit set on x = 0 points is non-canonical; aws-lc may reject those.
                if sign == 0 {
                    assert!(forged, "{key:02x?} is not a small-order point");
                }
                assert!(ed25519_small_order_or_noncanonical(&key));
                let doc = json!({ "keys": [{
                    "kty": "OKP", "crv": "Ed25519", "kid": "weak", "x": b64(&key),
                }]});
                let err = Jwks::parse(doc.to_string().as_bytes(), MINTED).unwrap_err();
                assert!(err.0.contains("small-order"), "{err}");
            }
        }
        let mut p_plus_1 = [0xff; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        assert!(ed25519_small_order_or_noncanonical(&p_plus_1));
        // A real key is not weak.
        let pair = Ed25519KeyPair::generate().unwrap();
        assert!(!ed25519_small_order_or_noncanonical(
            pair.public_key().as_ref()
        ));
    }

    #[test]
    fn keys_of_other_types_are_skipped() {
        let one = b64(&[1u8; 32]);
        let set = Jwks::parse(
            json!({ "keys": [
                { "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r" },
                { "kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384" },
                { "kty": "OKP", "crv": "Ed25519", "x": "short", "kid": "bad-x" },
                { "kty": "OKP", "crv": "Ed25519", "x": one, "kid": "enc", "use": "enc" },
                { "kty": "OKP", "crv": "Ed25519", "x": one, "kid": "wrong-alg", "alg": "ES256" },
                { "kty": "OKP", "crv": "Ed25519", "x": one },
                { "kty": "OKP", "crv": "Ed25519", "x": one, "kid": "ok" },
            ]})
            .to_string()
            .as_bytes(),
            MINTED,
        )
        .unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["ok"]);
        assert_eq!(set.skipped(), 6);
    }

    #[test]
    fn the_algorithms_choose_the_keys() {
        let one = b64(&[1u8; 32]);
        let doc = json!({ "keys": [
            { "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r" },
            { "kty": "OKP", "crv": "Ed25519", "x": one, "kid": "ed" },
            { "kty": "EC", "crv": "P-256", "x": one, "y": one, "kid": "ec" },
        ]})
        .to_string();
        let kids = |algs: &[Alg]| -> Vec<String> {
            Jwks::parse(doc.as_bytes(), algs)
                .unwrap()
                .kids()
                .map(str::to_string)
                .collect()
        };
        assert_eq!(kids(&[Alg::Rs256]), ["r"]);
        assert_eq!(kids(MINTED), ["ed", "ec"]);
        assert_eq!(kids(&[Alg::Es256]), ["ec"]);
    }

    #[test]
    fn documents_that_are_refused() {
        let one = b64(&[1u8; 32]);
        let ed = json!({ "kty": "OKP", "crv": "Ed25519", "x": one, "kid": "k" });
        for (doc, why) in [
            (json!({ "keys": [ed, ed] }).to_string(), "two keys"),
            (
                json!({ "keys": [{ "kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB", "kid": "r" }] })
                    .to_string(),
                "private key",
            ),
            (r#"{"keys": [], "keys": []}"#.to_string(), "not valid JSON"),
            ("[]".to_string(), "not a JSON object"),
            (r#"{"keys": {}}"#.to_string(), "no `keys` array"),
            (
                format!(r#"{{"keys": [], "pad": "{}"}}"#, "a".repeat(MAX_JWKS_BYTES)),
                "bytes",
            ),
        ] {
            let err = Jwks::parse(doc.as_bytes(), &[Alg::Rs256, Alg::EdDsa]).unwrap_err();
            assert!(err.0.contains(why), "{err}");
        }
    }
}
