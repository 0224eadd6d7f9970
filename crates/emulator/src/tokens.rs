//! The emulator's token issuer: Google-like RS256 ID tokens signed by a key
//! generated in process, its JWKS, IAM Credentials v1
//! (`generateIdToken`, `generateAccessToken`), the metadata server's token
//! paths, and the `/emulator/v1/idTokens` test knob.
//!
//! - JWKS: `GET /oauth2/v3/certs`, the path Google serves its own keys at
//!   (`https://www.googleapis.com/oauth2/v3/certs`), so verifiers only swap
//!   the host.
//! - Issuer `https://accounts.google.com`; claims in Google's order (`aud`,
//!   `azp`, `email`, `email_verified`, `exp`, `iat`, `iss`, `sub`), `sub` and
//!   `azp` the account's unique id; `email` only when asked for
//!   (`includeEmail`, metadata `format=full`).
//! - The key pair is generated once per process and shared by every
//!   emulator in it: RSA key generation is slow in unoptimised builds, and
//!   Google, too, signs every token with one key set.
//! - Metadata server (docs/cloud-run.md): every path needs
//!   `Metadata-Flavor: Google` (else 403, as GCE answers) and every answer
//!   carries that header, which google-auth's ping checks. It speaks for the
//!   world's `metadataIdentity`; without one there is no service account (404).
//! - IAM Credentials checks, when the world names an `operator`, that it
//!   holds `iam.serviceAccounts.getOpenIdToken` / `getAccessToken` on the
//!   account, through the shared evaluator. Delegates must exist; their
//!   chain of permissions is not checked.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::percent_decode_str;
use runiam_core::jwt::{self, Jwks};
use serde_json::{Map, Value, json};

use crate::control::{ApiRequest, Reply};
use crate::errors::{ApiError, Code};
use crate::state::State;
use crate::world::{Project, ServiceAccount, World, derive_unique_id, sha256};
use crate::{Raw, authz};

/// The `iss` of every token minted here.
pub const ISSUER: &str = "https://accounts.google.com";
/// The path of the JWKS, as on www.googleapis.com.
pub const JWKS_PATH: &str = "/oauth2/v3/certs";
/// The test knob that mints any token.
pub const KNOB_PATH: &str = "/emulator/v1/idTokens";
pub use crate::faults::TOKEN_SECONDS;
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The process's signing key, its id and its JWKS.
struct Keys {
    pair: RsaKeyPair,
    kid: String,
    jwks: Value,
    /// The JWKS as runiam-core's verifier reads it.
    verifier: Jwks,
}

static KEYS: OnceLock<Result<Keys, SigningError>> = OnceLock::new();

/// The issuer's keys could not be made, or a token signed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot generate an RSA key: {0}")]
    KeyGeneration(String),
    #[error("cannot sign a token: {0}")]
    Sign(String),
}

fn keys() -> Result<&'static Keys, SigningError> {
    KEYS.get_or_init(|| {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| SigningError::KeyGeneration(e.to_string()))?;
        let public: RsaPublicKeyComponents<Vec<u8>> = pair.public_key().into();
        // Google's key ids are 40 hex digits; derive ours from the modulus.
        let kid: String = sha256(&public.n)[..20].iter().map(|b| format!("{b:02x}")).collect();
        let jwks = json!({"keys": [{
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(&public.n),
            "e": URL_SAFE_NO_PAD.encode(&public.e),
        }]});
        let verifier = Jwks::from_json(&jwks);
        Ok(Keys { pair, kid, jwks, verifier })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The claims the front end reads from a token whose signature holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claims {
    pub iss: Option<String>,
    /// `None` also when `aud` is not a string (Google never mints arrays).
    pub aud: Option<String>,
    pub email: Option<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
}

/// Why a token is not a Google-signed JWT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts with JSON header and payload objects.
    NotJwt,
    /// Not RS256, or signed with another key.
    Algorithm,
    Signature,
}

/// Mints and verifies tokens; one per emulator.
pub struct Issuer {
    keys: &'static Keys,
    seed: u64,
    minted: AtomicU64,
}

/// Seconds since the epoch.
pub fn now_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// `seconds` since the epoch as RFC 3339 (`2024-05-02T12:00:00Z`).
fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Issuer {
    /// `seed` makes access tokens reproducible.
    pub fn new(seed: u64) -> Result<Self, SigningError> {
        Ok(Self { keys: keys()?, seed, minted: AtomicU64::new(0) })
    }

    pub fn kid(&self) -> &str {
        &self.keys.kid
    }

    /// `{"keys": [...]}` as Google serves it.
    pub fn jwks(&self) -> &Value {
        &self.keys.jwks
    }

    /// Signs `claims` (a JSON object) as an RS256 JWT.
    pub fn sign(&self, claims: &Value) -> Result<String, SigningError> {
        let header = json!({"alg": "RS256", "kid": self.keys.kid, "typ": "JWT"});
        let message =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0u8; self.keys.pair.public_modulus_len()];
        self.keys
            .pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message.as_bytes(), &mut signature)
            .map_err(|e| SigningError::Sign(e.to_string()))?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Checks form and signature and reads the claims; issuer, expiry and
    /// audience are the caller's to judge.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let jwt = jwt::decode(token).map_err(|_| TokenError::NotJwt)?;
        if jwt.header.get("alg").and_then(Value::as_str) != Some("RS256")
            || jwt.kid().is_some_and(|k| k != self.keys.kid)
        {
            return Err(TokenError::Algorithm);
        }
        if !jwt.verifies(&self.keys.verifier) {
            return Err(TokenError::Signature);
        }
        let text = |k: &str| jwt.text(k).map(str::to_owned);
        Ok(Claims { iss: text("iss"), aud: text("aud"), email: text("email"), sub: text("sub"), exp: jwt.time("exp") })
    }

    /// Google's ID-token claims for an account.
    pub fn id_token(&self, who: &Minted, audience: &str) -> Result<String, SigningError> {
        let mut claims = Map::new();
        claims.insert("aud".into(), json!(audience));
        claims.insert("azp".into(), json!(who.sub));
        if let Some(e) = &who.email {
            claims.insert("email".into(), json!(e));
            claims.insert("email_verified".into(), json!(true));
        }
        claims.insert("exp".into(), json!(who.iat + who.lifetime));
        claims.insert("iat".into(), json!(who.iat));
        claims.insert("iss".into(), json!(who.issuer));
        claims.insert("sub".into(), json!(who.sub));
        self.sign(&Value::Object(claims))
    }

    /// An opaque access token (`ya29.`...), reproducible for a seed.
    pub fn access_token(&self, email: &str) -> String {
        let n = self.minted.fetch_add(1, Ordering::Relaxed);
        let d = sha256(format!("access-token:{}:{n}:{email}", self.seed).as_bytes());
        format!("ya29.emulator-{}", URL_SAFE_NO_PAD.encode(d))
    }
}

/// Whom and how long an ID token is minted for.
pub struct Minted {
    pub sub: String,
    pub email: Option<String>,
    pub issuer: String,
    pub iat: i64,
    pub lifetime: i64,
}

impl Minted {
    fn account(a: &ServiceAccount, include_email: bool, lifetime: i64) -> Self {
        Self {
            sub: a.unique_id.clone(),
            email: include_email.then(|| a.email.clone()),
            issuer: ISSUER.to_owned(),
            iat: now_seconds(),
            lifetime,
        }
    }
}

fn body_json(request: &ApiRequest) -> Result<Map<String, Value>, ApiError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&request.body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(ApiError::invalid("Invalid JSON payload received. The body must be a JSON object.")),
    }
}

fn reply(answer: Result<Value, ApiError>) -> Reply {
    match answer {
        Ok(v) => Reply::ok(v),
        Err(e) => Reply::error(&e),
    }
}

/// IAM Credentials v1 on `projects/-/serviceAccounts/SA:generateIdToken`
/// and `:generateAccessToken`; `None` for any other request.
pub(crate) fn iam_credentials(state: &std::sync::Mutex<State>, issuer: &Issuer, request: &ApiRequest) -> Option<Reply> {
    let rest = request.path.strip_prefix("/v1/projects/")?;
    let (project, rest) = rest.split_once("/serviceAccounts/")?;
    let (account, verb) = rest.rsplit_once(':')?;
    if !matches!(verb, "generateIdToken" | "generateAccessToken") || request.method != "POST" || account.contains('/') {
        return None;
    }
    let account = percent_decode_str(account).decode_utf8_lossy().into_owned();
    let state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Some(reply(generate(&state, issuer, request, project, &account, verb)))
}

fn generate(
    state: &State,
    issuer: &Issuer,
    request: &ApiRequest,
    project: &str,
    account: &str,
    verb: &str,
) -> Result<Value, ApiError> {
    if project != "-" {
        return Err(ApiError::invalid_field(
            "name",
            "The project of a service account name must be the wildcard '-': projects/-/serviceAccounts/ACCOUNT.",
        ));
    }
    let body = body_json(request)?;
    let world = &state.world;
    let (proj, sa) = find_account(world, account)?;
    let permission = if verb == "generateIdToken" {
        "iam.serviceAccounts.getOpenIdToken"
    } else {
        "iam.serviceAccounts.getAccessToken"
    };
    check_operator(state, proj, sa, permission)?;
    if sa.disabled {
        return Err(ApiError::new(Code::FailedPrecondition, format!("The service account {} is disabled.", sa.email)));
    }
    let delegates = body.get("delegates").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, d) in delegates.iter().enumerate() {
        let name = d.as_str().unwrap_or_default();
        let email = name.strip_prefix("projects/-/serviceAccounts/").ok_or_else(|| {
            ApiError::invalid_field(
                &format!("delegates[{i}]"),
                format!("Invalid delegate '{name}'; use projects/-/serviceAccounts/EMAIL."),
            )
        })?;
        find_account(world, email)?;
    }
    if verb == "generateIdToken" {
        let audience = body
            .get("audience")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ApiError::invalid_field("audience", "The audience of an ID token must not be empty."))?;
        let include_email = body.get("includeEmail").and_then(Value::as_bool).unwrap_or(false);
        let token = issuer
            .id_token(&Minted::account(sa, include_email, state.faults.settings().id_token_seconds), audience)
            .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;
        return Ok(json!({ "token": token }));
    }
    let scopes = body.get("scope").and_then(Value::as_array).map(Vec::len).unwrap_or_default();
    if scopes == 0 {
        return Err(ApiError::invalid_field("scope", "At least one scope must be requested."));
    }
    let lifetime = match body.get("lifetime").and_then(Value::as_str) {
        None => TOKEN_SECONDS,
        Some(l) => l
            .strip_suffix('s')
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|n| (1.0..=TOKEN_SECONDS as f64).contains(n))
            .map(|n| n as i64)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "lifetime",
                    format!("Invalid lifetime '{l}'; use seconds such as 3600s, at most 3600s."),
                )
            })?,
    };
    Ok(json!({"accessToken": issuer.access_token(&sa.email), "expireTime": rfc3339(now_seconds() + lifetime)}))
}

fn find_account<'w>(world: &'w World, account: &str) -> Result<(&'w Project, &'w ServiceAccount), ApiError> {
    world.service_account(account).ok_or_else(|| {
        ApiError::not_found(format!("Unknown service account: projects/-/serviceAccounts/{account}")).with_reason(
            "RESOURCE_NOT_FOUND",
            "iam.googleapis.com",
            json!({}),
        )
    })
}

/// When the world names an operator, it must hold `permission` on the
/// account (authz, through the shared evaluator). The message is the one
/// observed from IAM Credentials (docs/cloud-run.md).
fn check_operator(state: &State, proj: &Project, sa: &ServiceAccount, permission: &str) -> Result<(), ApiError> {
    let key = format!("projects/{}/serviceAccounts/{}", proj.id, sa.email);
    if authz::operator_holds(state, &key, permission) {
        return Ok(());
    }
    Err(ApiError::new(
        Code::PermissionDenied,
        format!("Permission '{permission}' denied on resource (or it may not exist)."),
    )
    .with_reason("IAM_PERMISSION_DENIED", "iam.googleapis.com", json!({ "permission": permission })))
}

/// `POST /emulator/v1/idTokens` `{email, audience, issuer, expiresInSeconds}`
/// → `{token}`: any token this issuer signs, including expired ones and
/// ones from another issuer.
pub(crate) fn knob(state: &std::sync::Mutex<State>, issuer: &Issuer, request: &ApiRequest) -> Option<Reply> {
    if request.path != KNOB_PATH {
        return None;
    }
    if request.method != "POST" {
        return Some(Reply::error(&ApiError::no_such_method(&request.method, &request.path)));
    }
    let answer = body_json(request).and_then(|body| {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let email = text("email");
        let sub = {
            let state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match email.as_deref().and_then(|e| state.world.service_account(e)) {
                Some((_, a)) => a.unique_id.clone(),
                None => derive_unique_id(email.as_deref().unwrap_or("anonymous")),
            }
        };
        let lifetime = match body.get("expiresInSeconds") {
            None | Some(Value::Null) => TOKEN_SECONDS,
            Some(v) => v.as_i64().filter(|n| n.unsigned_abs() <= 10 * 365 * 24 * 3600).ok_or_else(|| {
                ApiError::invalid_field("expiresInSeconds", "expiresInSeconds must be an integer of at most ten years.")
            })?,
        };
        let who = Minted {
            sub,
            email,
            issuer: text("issuer").unwrap_or_else(|| ISSUER.to_owned()),
            iat: now_seconds(),
            lifetime,
        };
        let token = issuer
            .id_token(&who, &text("audience").unwrap_or_default())
            .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;
        Ok(json!({ "token": token }))
    });
    Some(reply(answer))
}

/// The metadata server: `/` (google-auth's ping) and `/computeMetadata/v1/...`.
/// `None` for paths it does not own.
pub(crate) fn metadata(
    state: &std::sync::Mutex<State>,
    issuer: &Issuer,
    path: &str,
    query: &str,
    flavor: Option<&str>,
) -> Option<Raw> {
    let google = flavor == Some("Google");
    if path == "/" {
        // Without the header, `/` belongs to the control plane.
        return google.then(|| metadata_raw(200, "text/html", "computeMetadata/\n".into()));
    }
    let rest = path.strip_prefix("/computeMetadata/v1/").or_else(|| (path == "/computeMetadata/v1").then_some(""))?;
    if !google {
        return Some(metadata_raw(403, "text/html", "Missing Metadata-Flavor:Google header.\n".into()));
    }
    let state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let world = &state.world;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let recursive = param("recursive") == Some("true");
    let identity = world.metadata_identity.as_deref();
    let project = metadata_project(world, identity);
    let text = |s: String| Some(metadata_raw(200, "application/text", s));
    match rest.trim_end_matches('/') {
        "project/project-id" => return text(project.map(|p| p.id.clone()).unwrap_or_default()),
        "project/numeric-project-id" => return text(project.map(|p| p.number.clone()).unwrap_or_default()),
        "universe/universe-domain" => return text("googleapis.com".into()),
        "instance/service-accounts" => {
            return match identity {
                Some(e) if recursive => Some(metadata_json(json!({ "default": account_json(e), e: account_json(e) }))),
                Some(e) => text(format!("default/\n{e}/\n")),
                None => text(String::new()),
            };
        }
        _ => {}
    }
    let Some(account_path) = rest.strip_prefix("instance/service-accounts/") else {
        return Some(not_found());
    };
    let (alias, leaf) = account_path.split_once('/').unwrap_or((account_path, ""));
    let Some(email) = identity.filter(|e| alias == "default" || alias == *e) else {
        return Some(not_found());
    };
    match leaf.trim_end_matches('/') {
        "" if recursive => Some(metadata_json(account_json(email))),
        "" => text("aliases\nemail\nidentity\nscopes\ntoken\n".into()),
        "email" => text(email.to_owned()),
        "aliases" => text("default\n".into()),
        "scopes" => text(format!("{CLOUD_PLATFORM}\n")),
        "token" => Some(metadata_json(json!({
            "access_token": issuer.access_token(email),
            "expires_in": TOKEN_SECONDS - 1,
            "token_type": "Bearer",
        }))),
        "identity" => {
            let Some(audience) = param("audience").filter(|a| !a.is_empty()) else {
                return Some(metadata_raw(400, "text/html", "non-empty audience parameter required\n".into()));
            };
            let full = param("format") == Some("full");
            let sub = world
                .service_account(email)
                .map(|(_, a)| a.unique_id.clone())
                .unwrap_or_else(|| derive_unique_id(email));
            let who = Minted {
                sub,
                email: full.then(|| email.to_owned()),
                issuer: ISSUER.to_owned(),
                iat: now_seconds(),
                lifetime: state.faults.settings().id_token_seconds,
            };
            match issuer.id_token(&who, audience) {
                Ok(t) => text(t),
                Err(e) => Some(metadata_raw(500, "text/html", format!("{e}\n"))),
            }
        }
        _ => Some(not_found()),
    }
}

/// The project the metadata identity lives in: the account's, the project
/// whose default compute account it is, else the first one.
fn metadata_project<'w>(world: &'w World, identity: Option<&str>) -> Option<&'w Project> {
    identity
        .and_then(|e| {
            world
                .service_account(e)
                .map(|(p, _)| p)
                .or_else(|| world.projects.iter().find(|p| p.default_compute_account() == e))
        })
        .or_else(|| world.projects.first())
}

fn account_json(email: &str) -> Value {
    json!({"aliases": ["default"], "email": email, "scopes": [CLOUD_PLATFORM]})
}

fn not_found() -> Raw {
    metadata_raw(404, "text/html", "Not Found\n".into())
}

fn metadata_raw(status: u16, content_type: &'static str, body: String) -> Raw {
    Raw { status, content_type, body: body.into_bytes(), headers: vec![("metadata-flavor", "Google".to_owned())] }
}

fn metadata_json(v: Value) -> Raw {
    metadata_raw(200, "application/json", v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn issuer() -> Issuer {
        Issuer::new(7).unwrap()
    }

    #[test]
    fn minted_tokens_verify_and_tampered_ones_do_not() {
        let i = issuer();
        let who = Minted {
            sub: "1".into(),
            email: Some("a@p.iam.gserviceaccount.com".into()),
            issuer: ISSUER.into(),
            iat: 100,
            lifetime: 3600,
        };
        let t = i.id_token(&who, "https://x.run.app").unwrap();
        let c = i.verify(&t).unwrap();
        assert_eq!(c.aud.as_deref(), Some("https://x.run.app"));
        assert_eq!(
            (c.exp, c.email.as_deref(), c.iss.as_deref()),
            (Some(3700), Some("a@p.iam.gserviceaccount.com"), Some(ISSUER))
        );
        let (head, sig) = t.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        bytes[10] ^= 1;
        assert_eq!(i.verify(&format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes))), Err(TokenError::Signature));
        assert_eq!(i.verify("ya29.abc"), Err(TokenError::NotJwt));
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode("{}"));
        assert_eq!(i.verify(&none), Err(TokenError::Algorithm));
        assert_eq!(i.jwks()["keys"][0]["kid"], i.kid());
    }

    proptest! {
        #[test]
        fn verify_never_panics(token in ".{0,300}", parts in prop::collection::vec("[A-Za-z0-9_=+/-]{0,40}", 0..5)) {
            let i = issuer();
            let _ = i.verify(&token);
            let _ = i.verify(&parts.join("."));
        }
    }
}
