//! A loopback OIDC issuer that behaves like GitHub Actions' token service.
//!
//! [`OidcIssuer::start`] binds `127.0.0.1:0` and serves:
//!
//! | path | what |
//! | --- | --- |
//! | `/.well-known/openid-configuration` | discovery: `issuer`, `jwks_uri` |
//! | `/.well-known/jwks` | the key set (GitHub's layout) |
//! | `/jwks` | the RSA public key under [`IssuerKeys::kid`], plus an EC P-256 key (a type the verifier must skip) |
//! | `/token?api-version=2.0&audience=...` | the job-token endpoint behind `ACTIONS_ID_TOKEN_REQUEST_URL`: checks `Authorization: Bearer <request token>`, answers `{"value": "<jwt>"}` for the configured claims with `aud` from the query |
//!
//! [`IssuerKeys`] (usable without the server) mints any token an attack needs: arbitrary
//! header and claims signed with the real key, with a key outside the set, with ES256, as
//! HS256 keyed with the public key in any encoding, or unsigned. [`Faults`] breaks the
//! endpoints on purpose, and every request is counted per path.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::oidc::verify::Jwks;

/// Size of the body the `token_huge_body` fault streams: 10 MiB (catalogue row 20).
pub const HUGE_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// The frame size the huge body is streamed in.
pub const HUGE_FRAME_BYTES: usize = 8 * 1024;

/// Failures of the simulator itself (key generation, binding a port).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulated OIDC issuer: {0}")]
    Crypto(&'static str),
    #[error("simulated OIDC issuer: {0}")]
    Io(#[from] std::io::Error),
}

/// The issuer's keys, and the minting of well-formed and hostile tokens.
pub struct IssuerKeys {
    rsa: RsaKeyPair,
    kid: String,
    n: String,
    e: String,
    /// An RSA key that is not in the key set, made on first use.
    other: std::sync::OnceLock<RsaKeyPair>,
    /// An EC P-256 key, published in the key set (and so to be skipped by the verifier).
    ec: EcdsaKeyPair,
    ec_kid: String,
    ec_x: String,
    ec_y: String,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("kid", &self.kid)
            .field("ec_kid", &self.ec_kid)
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// Generates a fresh RSA-2048 issuer key and an EC key (a second RSA key, outside the
    /// set, is made when first used).
    pub fn generate() -> Result<Self, SimError> {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| SimError::Crypto("RSA key generation failed"))?;
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| SimError::Crypto("EC key generation failed"))?;
        let (n, e) = rsa_public_components(rsa.public_key().as_ref())
            .ok_or(SimError::Crypto("cannot read the RSA public key"))?;
        let point = ec.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(SimError::Crypto("unexpected EC public key encoding"));
        }
        let kid = format!("sim-rsa-{}", random_hex(8)?);
        let ec_kid = format!("sim-ec-{}", random_hex(8)?);
        Ok(Self {
            kid,
            n: URL_SAFE_NO_PAD.encode(n),
            e: URL_SAFE_NO_PAD.encode(e),
            ec_x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            ec_y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            rsa,
            other: std::sync::OnceLock::new(),
            ec,
            ec_kid,
        })
    }

    /// The `kid` of the real RSA signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The `kid` of the EC key in the set.
    pub fn ec_kid(&self) -> &str {
        &self.ec_kid
    }

    /// The RSA modulus as published in the key set (base64url).
    pub fn modulus_b64(&self) -> &str {
        &self.n
    }

    /// The RSA public key as PKCS#1 `RSAPublicKey` DER.
    pub fn public_key_pkcs1_der(&self) -> Vec<u8> {
        self.rsa.public_key().as_ref().to_vec()
    }

    /// The RSA public key as X.509 `SubjectPublicKeyInfo` DER.
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>, SimError> {
        self.rsa
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| SimError::Crypto("cannot encode the public key"))
    }

    /// The RSA public key as a `PUBLIC KEY` PEM, as a confused verifier would load it.
    pub fn public_key_pem(&self) -> Result<String, SimError> {
        let b64 = STANDARD.encode(self.public_key_spki_der()?);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Ok(pem)
    }

    /// The key set as served at `/jwks`: the RSA key, then the EC key.
    pub fn jwks_json(&self) -> Value {
        json!({
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kid,
                    "n": self.n,
                    "e": self.e,
                },
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "alg": "ES256",
                    "use": "sig",
                    "kid": self.ec_kid,
                    "x": self.ec_x,
                    "y": self.ec_y,
                }
            ]
        })
    }

    /// The key set, parsed as the verifier parses it.
    pub fn jwks(&self) -> Jwks {
        Jwks::from_rsa_components([(self.kid.clone(), self.n.clone(), self.e.clone())])
    }

    /// The header GitHub puts on its tokens, with this issuer's `kid`.
    pub fn header(&self) -> Value {
        json!({ "typ": "JWT", "alg": "RS256", "x5t": "c2ltLXg1dA", "kid": self.kid })
    }

    /// `header.claims.signature`, RS256 with the real key, whatever the header says.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, SimError> {
        sign_rsa(&self.rsa, header, claims)
    }

    /// An RS256 (PKCS#1 v1.5, SHA-256) signature of exact bytes with the real key, for
    /// tokens whose JSON a `Value` cannot express (repeated keys).
    pub fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, SimError> {
        let mut sig = vec![0u8; self.rsa.public_modulus_len()];
        self.rsa
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| SimError::Crypto("RSA signing failed"))?;
        Ok(sig)
    }

    /// RS256 with an RSA key that is not in the key set (the header may name a real `kid`).
    pub fn sign_with_other_key(&self, header: &Value, claims: &Value) -> Result<String, SimError> {
        if self.other.get().is_none() {
            let key = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| SimError::Crypto("RSA key generation failed"))?;
            let _ = self.other.set(key);
        }
        let other = self
            .other
            .get()
            .ok_or(SimError::Crypto("RSA key generation failed"))?;
        sign_rsa(other, header, claims)
    }

    /// ES256 with the EC key of the set.
    pub fn sign_es256(&self, header: &Value, claims: &Value) -> Result<String, SimError> {
        let input = signing_input(header, claims)?;
        let sig = self
            .ec
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| SimError::Crypto("EC signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// HS256 keyed with arbitrary bytes (the public key as PEM, DER or `n`: the classic
    /// algorithm-confusion forgery).
    pub fn sign_hs256(header: &Value, claims: &Value, key: &[u8]) -> Result<String, SimError> {
        let input = signing_input(header, claims)?;
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())))
    }

    /// `header.claims.` with an empty signature (`alg: none` tokens).
    pub fn unsigned(header: &Value, claims: &Value) -> Result<String, SimError> {
        Ok(format!("{}.", signing_input(header, claims)?))
    }
}

fn signing_input(header: &Value, claims: &Value) -> Result<String, SimError> {
    let h = serde_json::to_vec(header).map_err(|_| SimError::Crypto("header is not JSON"))?;
    let c = serde_json::to_vec(claims).map_err(|_| SimError::Crypto("claims are not JSON"))?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h),
        URL_SAFE_NO_PAD.encode(c)
    ))
}

fn sign_rsa(key: &RsaKeyPair, header: &Value, claims: &Value) -> Result<String, SimError> {
    let input = signing_input(header, claims)?;
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| SimError::Crypto("RSA signing failed"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Reads `n` and `e` (big-endian, no leading zero) from a PKCS#1 `RSAPublicKey` DER.
fn rsa_public_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = input.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..count] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[count..];
            len
        };
        if rest.len() < len {
            return None;
        }
        Some((&rest[..len], &rest[len..]))
    }
    fn strip(int: &[u8]) -> Vec<u8> {
        let start = int.iter().position(|&b| b != 0).unwrap_or(int.len());
        int[start..].to_vec()
    }
    let (seq, _) = tlv(der, 0x30)?;
    let (n, rest) = tlv(seq, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    Some((strip(n), strip(e)))
}

fn random_hex(bytes: usize) -> Result<String, SimError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| SimError::Crypto("no randomness"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The claims of a GitHub Actions job token (see
/// <https://docs.github.com/en/actions/reference/security/oidc>): a `workflow_dispatch` run
/// of `acme/payments` on `main`, in the `production` environment. Ids are decimal strings,
/// as GitHub sends them. Times follow GitHub's tokens: `nbf` 10 min before `iat`, `exp`
/// 5 min after.
pub fn github_claims(issuer: &str, audience: &str, now: i64) -> Map<String, Value> {
    let sha = "3f786850e387550fdab836ed7e6dc881de23001b";
    let workflow_ref = "acme/payments/.github/workflows/prod-access.yml@refs/heads/main";
    let claims = json!({
        "jti": "6f7c0e0e-8b47-4c55-9d0c-3b3a3a4f1c2d",
        "sub": "repo:acme/payments:environment:production",
        "aud": audience,
        "ref": "refs/heads/main",
        "sha": sha,
        "repository": "acme/payments",
        "repository_owner": "acme",
        "repository_owner_id": "1001",
        "repository_visibility": "private",
        "repository_id": "2002",
        "run_id": "9000000001",
        "run_number": "42",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "actor": "octocat",
        "actor_id": "583231",
        "workflow": "prod-access",
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
        "head_ref": "",
        "base_ref": "",
        "event_name": "workflow_dispatch",
        "ref_type": "branch",
        "ref_protected": "true",
        "environment": "production",
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": sha,
        "iss": issuer,
        "nbf": now - 600,
        "exp": now + 300,
        "iat": now,
    });
    match claims {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Ways to break the issuer on purpose. All off by default.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The token endpoint answers this status with an empty JSON object.
    pub token_status: Option<u16>,
    /// The token endpoint streams [`HUGE_BODY_BYTES`] of `{"value":"aaaa...` without a
    /// `Content-Length`.
    pub token_huge_body: bool,
    /// The token endpoint answers 200 with `{"count": 1}` (no `value`).
    pub token_missing_value: bool,
    /// The token endpoint answers with exactly this token.
    pub token_value: Option<String>,
    /// The key set answers this status.
    pub jwks_status: Option<u16>,
    /// The key set answers after this delay.
    pub jwks_delay: Option<Duration>,
    /// The key set answers with this document instead of the real one.
    pub jwks_body: Option<Value>,
    /// Discovery names this `jwks_uri`.
    pub discovery_jwks_uri: Option<String>,
    /// Discovery names this `issuer`.
    pub discovery_issuer: Option<String>,
    /// Discovery answers this status.
    pub discovery_status: Option<u16>,
}

struct Shared {
    keys: IssuerKeys,
    issuer: String,
    request_token: String,
    /// Edits to [`github_claims`] for tokens from the token endpoint.
    edits: Mutex<ClaimEdits>,
    faults: Mutex<Faults>,
    hits: Mutex<BTreeMap<String, usize>>,
    last_token_query: Mutex<Option<String>>,
    huge_sent: AtomicU64,
    huge_finished: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running loopback issuer. Dropping it stops accepting connections.
pub struct OidcIssuer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    wire: Arc<super::Wire>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for OidcIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcIssuer")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl Drop for OidcIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OidcIssuer {
    /// Generates keys, binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start() -> Result<Self, SimError> {
        let keys = IssuerKeys::generate()?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            keys,
            issuer: format!("http://{addr}"),
            request_token: format!("sim-request-token-{}", random_hex(16)?),
            edits: Mutex::new(ClaimEdits::default()),
            faults: Mutex::new(Faults::default()),
            hits: Mutex::new(BTreeMap::new()),
            last_token_query: Mutex::new(None),
            huge_sent: AtomicU64::new(0),
            huge_finished: AtomicBool::new(false),
        });
        let wire = Arc::new(super::Wire::default());
        let task = super::serve(
            listener,
            Arc::clone(&shared),
            Arc::clone(&wire),
            |shared, req| async move { handle(&shared, req).await },
        );
        Ok(Self {
            addr,
            shared,
            wire,
            task,
        })
    }

    /// The issuer URL (`http://127.0.0.1:PORT`), as `iss` and the policy name it.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The latency and timeline of this simulator's answers.
    pub fn wire(&self) -> &super::Wire {
        &self.wire
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL`: it already has a query, as GitHub's does.
    pub fn request_url(&self) -> String {
        format!("{}/token?api-version=2.0", self.shared.issuer)
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub fn request_token(&self) -> &str {
        &self.shared.request_token
    }

    /// The two runner variables a job with `id-token: write` has.
    pub fn runner_env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL".to_string(),
                self.request_url(),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".to_string(),
                self.shared.request_token.clone(),
            ),
        ])
    }

    /// The keys, to mint tokens directly.
    pub fn keys(&self) -> &IssuerKeys {
        &self.shared.keys
    }

    /// GitHub's claims for this issuer and `audience` at `now`.
    pub fn claims(&self, audience: &str, now: i64) -> Map<String, Value> {
        github_claims(&self.shared.issuer, audience, now)
    }

    /// Merges these claims over the defaults of every token the endpoint issues from now on.
    pub fn set_claims(&self, overrides: Map<String, Value>) {
        let mut edits = lock(&self.shared.edits);
        for name in overrides.keys() {
            edits.remove.retain(|r| r != name);
        }
        edits.set.extend(overrides);
    }

    /// Drops a claim from the tokens the endpoint issues from now on.
    pub fn remove_claim(&self, name: &str) {
        let mut edits = lock(&self.shared.edits);
        edits.set.remove(name);
        edits.remove.push(name.to_string());
    }

    /// Changes the faults.
    pub fn set_faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut lock(&self.shared.faults));
    }

    /// How many requests reached `path` (query excluded).
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.shared.hits).get(path).copied().unwrap_or(0)
    }

    /// Requests per path, for assertions on "no call at all".
    pub fn all_hits(&self) -> BTreeMap<String, usize> {
        lock(&self.shared.hits).clone()
    }

    /// The raw query of the last token request.
    pub fn last_token_query(&self) -> Option<String> {
        lock(&self.shared.last_token_query).clone()
    }

    /// Bytes of the huge body handed to the connection so far, and whether all were.
    pub fn huge_body_progress(&self) -> (u64, bool) {
        (
            self.shared.huge_sent.load(Ordering::SeqCst),
            self.shared.huge_finished.load(Ordering::SeqCst),
        )
    }

    /// A token as the endpoint would issue it for `audience` now, with `overrides` merged.
    pub fn mint(&self, audience: &str, overrides: &Map<String, Value>) -> Result<String, SimError> {
        let mut claims = self.claims(audience, unix_now());
        lock(&self.shared.edits).apply(&mut claims);
        claims.extend(overrides.clone());
        self.shared
            .keys
            .sign(&self.shared.keys.header(), &Value::Object(claims))
    }
}

/// Claims set or removed on the tokens the endpoint issues.
#[derive(Debug, Default)]
struct ClaimEdits {
    set: Map<String, Value>,
    remove: Vec<String>,
}

impl ClaimEdits {
    fn apply(&self, claims: &mut Map<String, Value>) {
        claims.extend(self.set.clone());
        for name in &self.remove {
            claims.remove(name);
        }
    }
}

/// A response body: whole, or the endless-looking 10 MiB stream.
enum SimBody {
    Full(Option<Bytes>),
    Huge {
        remaining: u64,
        shared: Arc<Shared>,
        started: bool,
    },
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            SimBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Huge {
                remaining,
                shared,
                started,
            } => {
                if *remaining == 0 {
                    shared.huge_finished.store(true, Ordering::SeqCst);
                    return Poll::Ready(None);
                }
                let n = usize::try_from(*remaining)
                    .unwrap_or(HUGE_FRAME_BYTES)
                    .min(HUGE_FRAME_BYTES);
                let mut chunk = vec![b'a'; n];
                if !*started {
                    let prefix = br#"{"value":""#;
                    chunk[..prefix.len()].copy_from_slice(prefix);
                    *started = true;
                }
                *remaining -= n as u64;
                shared.huge_sent.fetch_add(n as u64, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SimBody::Full(b) => b.is_none(),
            SimBody::Huge { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            SimBody::Full(None) => SizeHint::with_exact(0),
            // Unknown length: the response goes out chunked, with no Content-Length to
            // refuse up front, so the client's incremental cap is what stops it.
            SimBody::Huge { .. } => SizeHint::default(),
        }
    }
}

fn respond(status: u16, body: Value) -> Response<SimBody> {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = Response::new(SimBody::Full(Some(Bytes::from(bytes))));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<SimBody> {
    let path = req.uri().path().to_string();
    *lock(&shared.hits).entry(path.clone()).or_insert(0) += 1;
    let faults = lock(&shared.faults).clone();
    if req.method() != hyper::Method::GET {
        return not_implemented(req.method().as_str(), &path);
    }
    match path.as_str() {
        "/.well-known/openid-configuration" => {
            if let Some(status) = faults.discovery_status {
                return respond(status, json!({"message": "simulated failure"}));
            }
            let issuer = faults
                .discovery_issuer
                .clone()
                .unwrap_or_else(|| shared.issuer.clone());
            let jwks_uri = faults
                .discovery_jwks_uri
                .clone()
                .unwrap_or_else(|| format!("{}/.well-known/jwks", shared.issuer));
            respond(
                200,
                json!({
                    "issuer": issuer,
                    "jwks_uri": jwks_uri,
                    "subject_types_supported": ["public", "pairwise"],
                    "response_types_supported": ["id_token"],
                    "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref",
                        "repository", "repository_id", "repository_owner", "repository_owner_id",
                        "run_id", "run_number", "run_attempt", "actor", "actor_id", "workflow",
                        "workflow_ref", "head_ref", "base_ref", "event_name", "ref_type",
                        "environment", "job_workflow_ref", "runner_environment"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid"],
                }),
            )
        }
        // GitHub's layout: the key set beside the discovery document.
        "/.well-known/jwks" => {
            if let Some(delay) = faults.jwks_delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(status) = faults.jwks_status {
                return respond(status, json!({"message": "simulated failure"}));
            }
            respond(
                200,
                faults
                    .jwks_body
                    .clone()
                    .unwrap_or_else(|| shared.keys.jwks_json()),
            )
        }
        "/token" => token_endpoint(shared, &req, &faults),
        _ => not_implemented("GET", &path),
    }
}

fn not_implemented(method: &str, path: &str) -> Response<SimBody> {
    respond(
        501,
        json!({ "message": format!("{method} {path} not implemented") }),
    )
}

fn token_endpoint(
    shared: &Arc<Shared>,
    req: &Request<Incoming>,
    faults: &Faults,
) -> Response<SimBody> {
    let query = req.uri().query().unwrap_or("").to_string();
    *lock(&shared.last_token_query) = Some(query.clone());
    let authorized = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && token == shared.request_token
        });
    if !authorized {
        return respond(401, json!({"message": "bad request token"}));
    }
    if let Some(status) = faults.token_status {
        return respond(status, json!({}));
    }
    if faults.token_huge_body {
        shared.huge_sent.store(0, Ordering::SeqCst);
        shared.huge_finished.store(false, Ordering::SeqCst);
        let mut resp = Response::new(SimBody::Huge {
            remaining: HUGE_BODY_BYTES,
            shared: Arc::clone(shared),
            started: false,
        });
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        return resp;
    }
    if faults.token_missing_value {
        return respond(200, json!({"count": 1}));
    }
    if let Some(token) = &faults.token_value {
        return respond(200, json!({ "value": token }));
    }
    // GitHub's default audience is the URL of the repository owner.
    let audience = ::url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "audience")
        .map(|(_, v)| v.into_owned())
        .last()
        .unwrap_or_else(|| "https://github.com/acme".to_string());
    let mut claims = github_claims(&shared.issuer, &audience, unix_now());
    lock(&shared.edits).apply(&mut claims);
    match shared
        .keys
        .sign(&shared.keys.header(), &Value::Object(claims))
    {
        Ok(token) => respond(200, json!({ "value": token })),
        Err(_) => respond(500, json!({"message": "signing failed"})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_components_round_trip() {
        let keys = IssuerKeys::generate().unwrap();
        let n = URL_SAFE_NO_PAD.decode(keys.modulus_b64()).unwrap();
        assert_eq!(n.len(), 256);
        assert_eq!(keys.e, "AQAB");
        assert!(
            keys.public_key_pem()
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
    }
}
