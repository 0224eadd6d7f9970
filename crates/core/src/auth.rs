//! Where the credentials for API calls come from, as a gcloud user expects.
//!
//! First match wins (README.md, "Authentication"):
//!
//! 1. a token file (`--access-token-file`, `CLOUDSDK_AUTH_ACCESS_TOKEN_FILE`,
//!    `auth/access_token_file`) or `CLOUDSDK_AUTH_ACCESS_TOKEN`;
//! 2. `GOOGLE_APPLICATION_CREDENTIALS` (any ADC file type);
//! 3. gcloud's active account, through ONE `gcloud config config-helper`
//!    run cached until the token's expiry (an explicit `--account` asks for
//!    this source even when `GOOGLE_APPLICATION_CREDENTIALS` is set);
//! 4. the ADC well-known file under `$CLOUDSDK_CONFIG` or `~/.config/gcloud`;
//! 5. the metadata server, probed with a short deadline.
//!
//! Impersonation is applied once, on top, by the HTTP client
//! (`crate::http`), except when gcloud is the source: gcloud then
//! impersonates itself (its own setting, or runiam's flag handed over).
//!
//! Every fetch has a deadline, and every failure keeps its cause chain and
//! carries the one hint that repairs it. Tokens live in `Secret`, whose Debug
//! never shows the value and which has no Display.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use google_cloud_auth::credentials::{CacheableResource, Credentials, idtoken};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use crate::config::{Config, Env, Source};
use crate::error::Exit;
use crate::redact::redact;

/// A credential value. Debug prints `[REDACTED]`; there is no Display.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for an Authorization header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Deadlines of credential fetches.
#[derive(Clone, Debug)]
pub struct AuthOptions {
    /// Connecting to a token endpoint (IAM Credentials, the ADC token URI).
    pub connect: Duration,
    /// One token fetch, retries included.
    pub total: Duration,
    /// The metadata server: off Google Cloud nothing answers, so it is a probe.
    pub metadata: Duration,
    /// One `gcloud config config-helper` run (it may refresh the token).
    pub gcloud: Duration,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            total: Duration::from_secs(30),
            // Google's client libraries give the metadata server 3 s too.
            metadata: Duration::from_secs(3),
            gcloud: Duration::from_secs(60),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a file given as a token file really holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misfiled {
    /// A JSON credentials file of this `type` (`service_account`, ...).
    CredentialsFile(&'static str),
    /// A JWT: an ID token, or a self-signed assertion.
    Jwt,
}

impl fmt::Display for Misfiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfiled::CredentialsFile("service_account") => f.write_str("a service account key"),
            Misfiled::CredentialsFile("authorized_user") => f.write_str("an Application Default Credentials file"),
            Misfiled::CredentialsFile(t) => write!(f, "a credentials file of type {t}"),
            Misfiled::Jwt => f.write_str("a JWT (an ID token?)"),
        }
    }
}

/// Why no credential could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the access token file {path} ({origin})")]
    TokenFile {
        path: PathBuf,
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the access token file {path} ({origin}) is empty")]
    EmptyTokenFile { path: PathBuf, origin: String },
    #[error("the access token file {path} ({origin}) holds {what}, not an OAuth access token")]
    NotAToken { path: PathBuf, origin: String, what: Misfiled },
    #[error("cannot read the credentials file {path} ({origin})")]
    CredentialsFile {
        path: PathBuf,
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the credentials file {path} ({origin}) cannot be used: {why}")]
    BadCredentialsFile { path: PathBuf, origin: String, why: String },
    #[error("the Application Default Credentials in {path} ({origin}, type {kind}) gave no token")]
    Adc {
        path: PathBuf,
        origin: String,
        kind: String,
        #[source]
        source: BoxError,
    },
    #[error("--account {0} needs gcloud, and no gcloud is on PATH")]
    AccountWithoutGcloud(String),
    #[error("`gcloud config config-helper` failed: {0}")]
    Gcloud(String),
    #[error("no credentials found (tried: {tried})")]
    NoCredentials {
        tried: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("the metadata server at {base} answered {status} for {path}")]
    Metadata { base: String, path: String, status: u16 },
    #[error("{what} did not answer within {}s", after.as_secs_f64())]
    Deadline { what: String, after: Duration },
    #[error("cannot impersonate {account}")]
    Impersonation {
        account: String,
        #[source]
        source: BoxError,
    },
    #[error("no ID token can be had from {origin}: {why}")]
    NoIdToken { origin: String, why: String },
}

/// Every message of `e`'s cause chain, for recognising a failure by its text.
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cur = Some(e);
    while let Some(e) = cur {
        out.push_str(&e.to_string());
        out.push('\n');
        cur = e.source();
    }
    out
}

/// The hint for a TLS failure, when `text` (a cause chain) is one.
pub fn tls_hint(text: &str) -> Option<String> {
    let t = text.to_ascii_lowercase();
    (t.contains("certificate") || t.contains("unknownissuer") || t.contains("tls handshake")).then(|| {
        "the server's TLS certificate is not trusted: behind a TLS-inspecting proxy, set \
         CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE (or `gcloud config set core/custom_ca_certs_file FILE`) \
         or SSL_CERT_FILE to its CA bundle"
            .to_owned()
    })
}

const LOGIN_HINT: &str = "run `gcloud auth login` (runiam uses gcloud's active account) or `gcloud auth application-default login`; \
     in CI set GOOGLE_APPLICATION_CREDENTIALS or CLOUDSDK_AUTH_ACCESS_TOKEN, or pass --access-token-file";

impl AuthError {
    /// Bad input (a wrong file, a flag that cannot work) exits 2; the rest 3.
    pub fn exit(&self) -> Exit {
        match self {
            AuthError::EmptyTokenFile { .. }
            | AuthError::NotAToken { .. }
            | AuthError::CredentialsFile { .. }
            | AuthError::BadCredentialsFile { .. }
            | AuthError::AccountWithoutGcloud(_) => Exit::Usage,
            _ => Exit::Api,
        }
    }

    /// The one thing that repairs it.
    pub fn hint(&self) -> String {
        let text = chain_text(self);
        if let Some(tls) = tls_hint(&text) {
            return tls;
        }
        match self {
            AuthError::TokenFile { path, origin, .. } | AuthError::EmptyTokenFile { path, origin } => format!(
                "write an access token to {} (`gcloud auth print-access-token > {}`), or unset {origin}",
                path.display(),
                path.display()
            ),
            AuthError::NotAToken { path, origin, what: Misfiled::CredentialsFile(_) } => format!(
                "a credentials file is not a token: unset {origin} and set GOOGLE_APPLICATION_CREDENTIALS={}",
                path.display()
            ),
            AuthError::NotAToken { path, .. } => format!(
                "Google APIs take an OAuth access token, not a JWT: write `gcloud auth print-access-token` to {}",
                path.display()
            ),
            AuthError::CredentialsFile { origin, .. } | AuthError::BadCredentialsFile { origin, .. } => {
                format!("point {origin} at a valid credentials file, or unset it")
            }
            AuthError::Adc { path, origin, kind, .. } => {
                let expired = ["invalid_grant", "invalid_rapt", "reauth"].iter().any(|k| text.contains(k));
                let login = if kind == "authorized_user" || expired {
                    "run `gcloud auth application-default login`".to_owned()
                } else {
                    format!("replace {} with a working credentials file", path.display())
                };
                if origin.contains("GOOGLE_APPLICATION_CREDENTIALS") {
                    format!("{login} and point GOOGLE_APPLICATION_CREDENTIALS at the new file, or unset it")
                } else {
                    login
                }
            }
            AuthError::AccountWithoutGcloud(_) => {
                "install the Google Cloud CLI, or drop --account and use another credential".to_owned()
            }
            AuthError::Gcloud(detail) if detail.contains("active account") || detail.contains("not logged") => {
                "run `gcloud auth login`, or pass --account EMAIL of an account `gcloud auth list` shows".to_owned()
            }
            AuthError::Gcloud(_) => {
                "run `gcloud auth login` (the gcloud login has expired or needs reauthentication)".to_owned()
            }
            AuthError::NoCredentials { .. } => LOGIN_HINT.to_owned(),
            AuthError::Metadata { .. } => {
                "the metadata server refused: check the runtime's service account, or use another credential".to_owned()
            }
            AuthError::Deadline { .. } => {
                "check the network, HTTPS_PROXY/NO_PROXY, and that the endpoint named is reachable".to_owned()
            }
            AuthError::Impersonation { account, .. } => format!(
                "the credentials in use need roles/iam.serviceAccountTokenCreator on {account}; \
                 or drop --impersonate-service-account / CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT"
            ),
            AuthError::NoIdToken { .. } => {
                "name the caller with --as serviceAccount:EMAIL, or pass --id-token-cmd CMD".to_owned()
            }
        }
    }
}

/// A base credential, with what the HTTP layer needs to use it right.
#[derive(Clone, Debug)]
pub struct Token {
    pub secret: Secret,
    /// The quota project the credential itself names (an ADC file's `quota_project_id`).
    pub quota_project: Option<String>,
    /// A person's own credential: gcloud bills its quota project to these only.
    pub user: bool,
    /// gcloud already impersonated: runiam must not impersonate again.
    pub impersonated: bool,
}

/// An ID token and whom it names.
#[derive(Clone, Debug)]
pub struct IdToken {
    pub secret: Secret,
    /// The `email` claim.
    pub email: Option<String>,
    /// When it expires (the `exp` claim), for re-minting during long loads.
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    /// Where it came from, in words.
    pub source: String,
}

/// The base credential, before any impersonation.
#[derive(Clone, Debug)]
pub enum TokenSource {
    /// The emulator: no Authorization header at all.
    None,
    /// `CLOUDSDK_AUTH_ACCESS_TOKEN`.
    Static(Secret),
    /// A file holding a token, read on each use (gcloud reads it per call too).
    File { path: PathBuf, origin: String },
    /// An ADC file, through google-cloud-auth.
    Adc(Arc<Adc>),
    /// gcloud's active account.
    Gcloud(Arc<Gcloud>),
    /// The metadata server of Google's runtimes.
    Metadata(Arc<Metadata>),
}

impl TokenSource {
    /// Chooses the source from the resolved configuration (see the module doc).
    pub fn from_config(config: &Config, env: &Env, options: &AuthOptions) -> Result<Self, AuthError> {
        if config.emulator.is_some() {
            return Ok(Self::None);
        }
        if let Some(file) = &config.access_token_file {
            return Ok(Self::File { path: file.value.clone(), origin: file.source.to_string() });
        }
        if let Some(token) = env.get("CLOUDSDK_AUTH_ACCESS_TOKEN") {
            return Ok(Self::Static(Secret::new(token.trim())));
        }
        let gcloud = gcloud_program(env);
        let mut tried = Vec::new();
        let explicit_account = config.account.as_ref().filter(|a| matches!(a.source, Source::Flag(_)));
        if let (Some(a), None) = (explicit_account, &gcloud) {
            return Err(AuthError::AccountWithoutGcloud(a.value.clone()));
        }
        if explicit_account.is_none() {
            if let Some(path) = env.get("GOOGLE_APPLICATION_CREDENTIALS") {
                let origin = "environment variable GOOGLE_APPLICATION_CREDENTIALS";
                return Adc::load(Path::new(path), origin, options).map(|a| Self::Adc(Arc::new(a)));
            }
            tried.push("GOOGLE_APPLICATION_CREDENTIALS (unset)".to_owned());
        }
        match (&gcloud, &config.account) {
            (Some(program), Some(account)) => {
                // gcloud reads its own environment and properties; only
                // runiam's own flag has to be handed over.
                let impersonate = config
                    .impersonate_service_account
                    .as_ref()
                    .filter(|r| matches!(r.source, Source::Flag(_)))
                    .map(|r| r.value.clone());
                return Ok(Self::Gcloud(Arc::new(Gcloud::new(
                    program.clone(),
                    Some(account.value.clone()),
                    impersonate,
                    options,
                ))));
            }
            (None, _) => tried.push("gcloud (not on PATH)".to_owned()),
            (Some(_), None) => tried.push("gcloud (no active account)".to_owned()),
        }
        if let Some(dir) = &config.gcloud_dir {
            let path = dir.join("application_default_credentials.json");
            if path.exists() {
                let origin = "the Application Default Credentials file";
                return Adc::load(&path, origin, options).map(|a| Self::Adc(Arc::new(a)));
            }
            tried.push(format!("{} (absent)", path.display()));
        }
        let metadata = Metadata::from_env(env, options)?;
        tried.push(format!("the metadata server at {}", metadata.base));
        Ok(Self::Metadata(Arc::new(Metadata { tried: tried.join(", "), ..metadata })))
    }

    /// Where the credential comes from, in words (for `--verbose`; never the token).
    pub fn describe(&self) -> String {
        match self {
            Self::None => "none (the emulator)".to_owned(),
            Self::Static(_) => "environment variable CLOUDSDK_AUTH_ACCESS_TOKEN".to_owned(),
            Self::File { path, origin } => format!("access token file {} ({origin})", path.display()),
            Self::Adc(a) => format!("{} {} (type {})", a.origin, a.path.display(), a.kind),
            Self::Gcloud(g) => format!("gcloud ({}) config-helper", g.program.display()),
            Self::Metadata(m) => format!("the metadata server at {}", m.base),
        }
    }

    /// The service accounts an ADC file of type `impersonated_service_account`
    /// names: delegates first, the target last.
    pub fn impersonation_chain(&self) -> Option<Vec<String>> {
        match self {
            Self::Adc(a) => a.impersonate.clone(),
            _ => None,
        }
    }

    /// A token for API calls, or None for the emulator.
    pub async fn token(&self) -> Result<Option<Token>, AuthError> {
        let plain = |secret| Token { secret, quota_project: None, user: false, impersonated: false };
        match self {
            Self::None => Ok(None),
            Self::Static(s) => Ok(Some(plain(s.clone()))),
            Self::File { path, origin } => read_token_file(path, origin).await.map(|s| Some(plain(s))),
            Self::Adc(a) => a.token().await.map(Some),
            Self::Gcloud(g) => g.token().await.map(Some),
            Self::Metadata(m) => m.token().await.map(Some),
        }
    }

    /// The ambient identity's own ID token for `audience`, with the email claim.
    pub async fn id_token(&self, audience: &str) -> Result<IdToken, AuthError> {
        match self {
            Self::Adc(a) => a.id_token(audience).await,
            Self::Gcloud(g) => g.id_token().await,
            Self::Metadata(m) => m.id_token(audience).await,
            other => Err(AuthError::NoIdToken {
                origin: other.describe(),
                why: "an access token cannot be turned into an ID token".to_owned(),
            }),
        }
    }
}

/// The absolute path of `gcloud` on `PATH`.
fn gcloud_program(env: &Env) -> Option<PathBuf> {
    std::env::split_paths(env.get("PATH")?).map(|d| d.join("gcloud")).find(|p| p.is_file())
}

/// What a token file holds, when it is a credential of another kind.
pub fn misfiled(text: &str) -> Option<Misfiled> {
    let t = text.trim();
    if t.starts_with('{') {
        let kind = serde_json::from_str::<Value>(t).ok()?.get("type")?.as_str()?.to_owned();
        let known = ["service_account", "authorized_user", "external_account", "impersonated_service_account"];
        return Some(Misfiled::CredentialsFile(known.into_iter().find(|k| *k == kind).unwrap_or("unknown")));
    }
    jwt_claims(t).map(|_| Misfiled::Jwt)
}

/// The claims of a JWT, unverified (its `exp` and `email` are all runiam
/// reads; Google verifies the signature).
pub fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !token.starts_with("eyJ") {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object)
}

fn id_token_from_jwt(raw: String, source: String) -> IdToken {
    let claims = jwt_claims(&raw);
    let claim = |k: &str| claims.as_ref().and_then(|c| c.get(k).cloned());
    IdToken {
        email: claim("email").and_then(|v| v.as_str().map(str::to_owned)),
        expires: claim("exp").and_then(|v| v.as_i64()).and_then(|s| chrono::DateTime::from_timestamp(s, 0)),
        secret: Secret::new(raw),
        source,
    }
}

async fn read_token_file(path: &Path, origin: &str) -> Result<Secret, AuthError> {
    let text = tokio::fs::read_to_string(path).await.map_err(|source| AuthError::TokenFile {
        path: path.to_owned(),
        origin: origin.to_owned(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(AuthError::EmptyTokenFile { path: path.to_owned(), origin: origin.to_owned() });
    }
    if let Some(what) = misfiled(token) {
        return Err(AuthError::NotAToken { path: path.to_owned(), origin: origin.to_owned(), what });
    }
    Ok(Secret::new(token))
}

/// Runs `fut` under `after`, naming `what` when it runs out.
async fn deadline<T>(
    what: impl FnOnce() -> String,
    after: Duration,
    fut: impl Future<Output = Result<T, AuthError>>,
) -> Result<T, AuthError> {
    tokio::time::timeout(after, fut).await.unwrap_or_else(|_| Err(AuthError::Deadline { what: what(), after }))
}

/// An ADC file: google-cloud-auth makes the tokens (`headers()`, so the
/// file's quota project comes along).
#[derive(Debug)]
pub struct Adc {
    path: PathBuf,
    origin: String,
    kind: String,
    json: Value,
    creds: Credentials,
    impersonate: Option<Vec<String>>,
    total: Duration,
}

impl Adc {
    fn load(path: &Path, origin: &str, options: &AuthOptions) -> Result<Self, AuthError> {
        let bad = |why: String| AuthError::BadCredentialsFile { path: path.to_owned(), origin: origin.to_owned(), why };
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::CredentialsFile {
            path: path.to_owned(),
            origin: origin.to_owned(),
            source,
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|e| bad(format!("it is not JSON ({e})")))?;
        let kind = json.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        // google-cloud-auth's impersonated credentials always call
        // iamcredentials.googleapis.com, ignoring
        // CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS; so runiam builds the
        // source credential and impersonates with its own client (crate::http).
        let (creds_json, impersonate) = if kind == "impersonated_service_account" {
            let source = json.get("source_credentials").cloned().ok_or_else(|| bad("no source_credentials".into()))?;
            (source, Some(impersonation_chain(&json).map_err(bad)?))
        } else {
            (json.clone(), None)
        };
        let creds = build_credentials(&creds_json).map_err(bad)?;
        Ok(Self {
            path: path.to_owned(),
            origin: origin.to_owned(),
            kind,
            json,
            creds,
            impersonate,
            total: options.total,
        })
    }

    fn user(&self) -> bool {
        self.kind == "authorized_user"
    }

    async fn token(&self) -> Result<Token, AuthError> {
        let fail = |source: BoxError| AuthError::Adc {
            path: self.path.clone(),
            origin: self.origin.clone(),
            kind: self.kind.clone(),
            source,
        };
        let what = || format!("the token endpoint of {}", self.path.display());
        let headers = deadline(what, self.total, async {
            self.creds.headers(http::Extensions::new()).await.map_err(|e| fail(Box::new(e)))
        })
        .await?;
        let CacheableResource::New { data, .. } = headers else {
            return Err(fail("google-cloud-auth answered NotModified to a request without an entity tag".into()));
        };
        let header = |k: &str| data.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let secret = header("authorization")
            .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
            .ok_or_else(|| fail("the credentials gave no bearer token".into()))?;
        Ok(Token {
            secret: Secret::new(secret),
            quota_project: header("x-goog-user-project"),
            user: self.user() && self.impersonate.is_none(),
            impersonated: false,
        })
    }

    async fn id_token(&self, audience: &str) -> Result<IdToken, AuthError> {
        let fail = |source: BoxError| AuthError::Adc {
            path: self.path.clone(),
            origin: self.origin.clone(),
            kind: self.kind.clone(),
            source,
        };
        let built = match self.kind.as_str() {
            "service_account" => idtoken::service_account::Builder::new(audience, self.json.clone()).build(),
            "authorized_user" => {
                let mut b = idtoken::user_account::Builder::new(self.json.clone());
                if let Some(uri) = self.json.get("token_uri").and_then(Value::as_str) {
                    b = b.with_token_uri(uri);
                }
                b.build()
            }
            "impersonated_service_account" => {
                idtoken::impersonated::Builder::new(audience, self.json.clone()).with_include_email().build()
            }
            // The generic builder reads GOOGLE_APPLICATION_CREDENTIALS itself.
            "external_account" if self.origin.contains("GOOGLE_APPLICATION_CREDENTIALS") => {
                idtoken::Builder::new(audience).with_include_email().build()
            }
            other => {
                return Err(AuthError::NoIdToken {
                    origin: format!("{} {}", self.origin, self.path.display()),
                    why: format!("google-cloud-auth makes no ID token from a {other} file found there"),
                });
            }
        }
        .map_err(|e| fail(Box::new(e)))?;
        let what = || format!("the ID token endpoint for {}", self.path.display());
        let raw = deadline(what, self.total, async { built.id_token().await.map_err(|e| fail(Box::new(e))) }).await?;
        Ok(id_token_from_jwt(raw, format!("{} {}", self.origin, self.path.display())))
    }
}

fn build_credentials(json: &Value) -> Result<Credentials, String> {
    use google_cloud_auth::credentials::{external_account, service_account, user_account};
    let kind = json.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "authorized_user" => user_account::Builder::new(json.clone()).build(),
        "service_account" => service_account::Builder::new(json.clone()).build(),
        "external_account" => external_account::Builder::new(json.clone()).build(),
        "" => return Err("it has no \"type\"".to_owned()),
        other => {
            return Err(format!(
                "type {other} is not supported (authorized_user, service_account, external_account, impersonated_service_account)"
            ));
        }
    }
    .map_err(|e| redact(&e.to_string()))
}

/// Delegates then target, from an `impersonated_service_account` file.
fn impersonation_chain(json: &Value) -> Result<Vec<String>, String> {
    let url = json.get("service_account_impersonation_url").and_then(Value::as_str).unwrap_or_default();
    let target = url
        .rsplit('/')
        .next()
        .and_then(|last| last.strip_suffix(":generateAccessToken"))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("service_account_impersonation_url '{url}' names no service account"))?;
    let mut chain: Vec<String> = json
        .get("delegates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|d| d.rsplit('/').next().unwrap_or(d).to_owned())
        .collect();
    chain.push(target.to_owned());
    Ok(chain)
}

/// gcloud's active account: one `gcloud config config-helper --format=json`
/// run, its token kept until it expires.
#[derive(Debug)]
pub struct Gcloud {
    program: PathBuf,
    account: Option<String>,
    impersonate: Option<String>,
    timeout: Duration,
    state: Mutex<Option<GcloudState>>,
    runs: AtomicU32,
}

#[derive(Clone, Debug)]
struct GcloudState {
    token: Secret,
    id_token: Option<Secret>,
    expires: Instant,
    account: Option<String>,
    impersonated: Option<String>,
}

/// Tokens are renewed this long before gcloud says they expire.
const EARLY: Duration = Duration::from_secs(60);

impl Gcloud {
    pub fn new(program: PathBuf, account: Option<String>, impersonate: Option<String>, options: &AuthOptions) -> Self {
        Self {
            program,
            account,
            impersonate,
            timeout: options.gcloud,
            state: Mutex::new(None),
            runs: AtomicU32::new(0),
        }
    }

    /// The same gcloud for another of its credentialed accounts (`gcloud
    /// auth list`), without impersonation.
    pub fn for_account(&self, account: &str) -> Self {
        Self {
            program: self.program.clone(),
            account: Some(account.to_owned()),
            impersonate: None,
            timeout: self.timeout,
            state: Mutex::new(None),
            runs: AtomicU32::new(0),
        }
    }

    /// How many times gcloud has run.
    pub fn runs(&self) -> u32 {
        self.runs.load(Ordering::Relaxed)
    }

    async fn state(&self) -> Result<GcloudState, AuthError> {
        let mut state = self.state.lock().await;
        if let Some(s) = state.as_ref()
            && Instant::now() < s.expires
        {
            return Ok(s.clone());
        }
        let fresh = self.run().await?;
        tracing::debug!(
            account = fresh.account.as_deref().unwrap_or("-"),
            impersonated = fresh.impersonated.as_deref().unwrap_or("-"),
            "gcloud config-helper gave a token"
        );
        *state = Some(fresh.clone());
        Ok(fresh)
    }

    async fn run(&self) -> Result<GcloudState, AuthError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        // A token good for five more minutes, so one run serves a whole command.
        cmd.args(["config", "config-helper", "--format=json", "--min-expiry=300s", "--quiet"]);
        if let Some(a) = &self.account {
            cmd.arg(format!("--account={a}"));
        }
        if let Some(sa) = &self.impersonate {
            cmd.arg(format!("--impersonate-service-account={sa}"));
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        self.runs.fetch_add(1, Ordering::Relaxed);
        let what = || format!("`{} config config-helper`", self.program.display());
        let out = deadline(what, self.timeout, async {
            cmd.output().await.map_err(|e| AuthError::Gcloud(format!("cannot run {}: {e}", self.program.display())))
        })
        .await?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(AuthError::Gcloud(redact(err.trim())));
        }
        parse_config_helper(&out.stdout, Instant::now())
    }

    async fn token(&self) -> Result<Token, AuthError> {
        let s = self.state().await?;
        let user =
            s.impersonated.is_none() && !s.account.as_deref().unwrap_or_default().ends_with(".gserviceaccount.com");
        Ok(Token { secret: s.token, quota_project: None, user, impersonated: s.impersonated.is_some() })
    }

    /// The identity token gcloud holds for its active account (renewed
    /// with the access token when it has expired).
    pub async fn id_token(&self) -> Result<IdToken, AuthError> {
        let mut s = self.state().await?;
        let stale = |s: &GcloudState| {
            s.id_token
                .as_ref()
                .and_then(|t| id_token_from_jwt(t.expose().to_owned(), String::new()).expires)
                .is_some_and(|exp| exp - chrono::Duration::from_std(EARLY).unwrap_or_default() <= chrono::Utc::now())
        };
        if stale(&s) {
            let fresh = self.run().await?;
            *self.state.lock().await = Some(fresh.clone());
            s = fresh;
        }
        let raw = s.id_token.ok_or_else(|| AuthError::NoIdToken {
            origin: "gcloud".to_owned(),
            why: "config-helper printed no credential.id_token for the active account".to_owned(),
        })?;
        let account = s.account.as_deref().unwrap_or("the active account");
        Ok(id_token_from_jwt(raw.expose().to_owned(), format!("gcloud's identity token for {account}")))
    }

    /// The service account gcloud impersonates, once it has run.
    pub async fn impersonated(&self) -> Option<String> {
        self.state.lock().await.as_ref().and_then(|s| s.impersonated.clone())
    }

    /// The account gcloud reported, once it has run.
    pub async fn account(&self) -> Option<String> {
        self.state.lock().await.as_ref().and_then(|s| s.account.clone()).or_else(|| self.account.clone())
    }
}

/// Reads `gcloud config config-helper --format=json`.
fn parse_config_helper(stdout: &[u8], now: Instant) -> Result<GcloudState, AuthError> {
    let v: Value = serde_json::from_slice(stdout)
        .map_err(|e| AuthError::Gcloud(format!("config-helper printed no JSON ({e})")))?;
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let token = s("/credential/access_token")
        .ok_or_else(|| AuthError::Gcloud("config-helper printed no credential.access_token".to_owned()))?;
    let until = s("/credential/token_expiry")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .and_then(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok())
        .map(|left| left.saturating_sub(EARLY))
        // Without an expiry, ask again in five minutes.
        .unwrap_or(Duration::from_secs(300));
    Ok(GcloudState {
        token: Secret::new(token),
        id_token: s("/credential/id_token").map(Secret::new),
        expires: now + until,
        account: s("/configuration/properties/core/account"),
        impersonated: s("/configuration/properties/auth/impersonate_service_account"),
    })
}

/// The metadata server, reached directly (never through a proxy: its
/// tokens must not cross one, and it is link-local anyway).
#[derive(Debug)]
pub struct Metadata {
    pub base: Url,
    client: reqwest::Client,
    tried: String,
    after: Duration,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl Metadata {
    /// `GCE_METADATA_HOST`, or `metadata.google.internal`.
    pub fn from_env(env: &Env, options: &AuthOptions) -> Result<Self, AuthError> {
        let host = env.get("GCE_METADATA_HOST").unwrap_or("metadata.google.internal");
        let raw = if host.contains("://") { host.to_owned() } else { format!("http://{host}") };
        let base = Url::parse(&raw).map_err(|e| AuthError::BadCredentialsFile {
            path: PathBuf::from(host),
            origin: "environment variable GCE_METADATA_HOST".to_owned(),
            why: format!("it is not host:port ({e})"),
        })?;
        Ok(Self::at(base, options))
    }

    /// The metadata server at `base` (the emulator serves one).
    pub fn at(base: Url, options: &AuthOptions) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(options.metadata)
            .timeout(options.metadata)
            .build()
            .expect("the HTTP client builds");
        Self { base, client, tried: String::new(), after: options.metadata, cached: Mutex::new(None) }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<String, AuthError> {
        let mut url = self.base.clone();
        url.set_path(&format!("/computeMetadata/v1/instance/service-accounts/default/{path}"));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        // Off Google Cloud nothing answers here: that is "no credentials",
        // with the probe's own failure as the cause.
        let unreachable = |source: reqwest::Error| {
            let tried = if self.tried.is_empty() {
                format!("the metadata server at {}", self.base)
            } else {
                self.tried.clone()
            };
            let cause: BoxError = if source.is_timeout() {
                Box::new(AuthError::Deadline {
                    what: format!("the metadata server at {}", self.base),
                    after: self.after,
                })
            } else {
                Box::new(source.without_url())
            };
            AuthError::NoCredentials { tried, source: Some(cause) }
        };
        let resp = self.client.get(url).header("Metadata-Flavor", "Google").send().await.map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(AuthError::Metadata {
                base: self.base.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
            });
        }
        Ok(text.trim().to_owned())
    }

    async fn token(&self) -> Result<Token, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(Token { secret: t.clone(), quota_project: None, user: false, impersonated: false });
        }
        let text = self.get("token", &[]).await?;
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        let token = v.get("access_token").and_then(Value::as_str).ok_or_else(|| AuthError::Metadata {
            base: self.base.to_string(),
            path: "token (no access_token in the answer)".to_owned(),
            status: 200,
        })?;
        let left = Duration::from_secs(v.get("expires_in").and_then(Value::as_u64).unwrap_or(300));
        let secret = Secret::new(token);
        *cached = Some((secret.clone(), Instant::now() + left.saturating_sub(EARLY)));
        Ok(Token { secret, quota_project: None, user: false, impersonated: false })
    }

    /// The runtime's service account.
    pub async fn email(&self) -> Result<String, AuthError> {
        self.get("email", &[]).await
    }

    /// An ID token for `audience`, with the email claim (`format=full`).
    pub async fn id_token(&self, audience: &str) -> Result<IdToken, AuthError> {
        let raw = self.get("identity", &[("audience", audience), ("format", "full")]).await?;
        let mut t = id_token_from_jwt(raw, format!("the metadata server ({})", self.base));
        if t.email.is_none() {
            t.email = Some(self.email().await?);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Flags, GcloudProperties};

    fn source(env: &[(&str, &str)], flags: Flags) -> Result<TokenSource, AuthError> {
        let env = Env::from_pairs(env.iter().copied());
        let config = Config::resolve(&flags, &env, &GcloudProperties::default()).unwrap();
        TokenSource::from_config(&config, &env, &AuthOptions::default())
    }

    #[test]
    fn emulator_needs_no_credentials() {
        let s =
            source(&[("RUNIAM_EMULATOR_HOST", "127.0.0.1:1"), ("CLOUDSDK_AUTH_ACCESS_TOKEN", "x")], Flags::default());
        assert!(matches!(s.unwrap(), TokenSource::None));
    }

    #[tokio::test]
    async fn token_file_beats_env_token() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "from-file\n").unwrap();
        let flags = Flags { access_token_file: Some(f), ..Flags::default() };
        let s = source(&[("CLOUDSDK_AUTH_ACCESS_TOKEN", "from-env")], flags).unwrap();
        assert_eq!(s.token().await.unwrap().unwrap().secret.expose(), "from-file");
        let s = source(&[("CLOUDSDK_AUTH_ACCESS_TOKEN", "from-env")], Flags::default()).unwrap();
        assert_eq!(s.token().await.unwrap().unwrap().secret.expose(), "from-env");
        assert_eq!(format!("{:?}", Secret::new("from-env")), "Secret([REDACTED])");
    }

    #[test]
    fn account_flag_without_gcloud_is_a_usage_error() {
        let flags = Flags { account: Some("me@acme.example".into()), ..Flags::default() };
        let e = source(&[("PATH", "/nonexistent")], flags).unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        assert_eq!(e.to_string(), "--account me@acme.example needs gcloud, and no gcloud is on PATH");
    }

    #[test]
    fn missing_google_application_credentials_is_bad_input() {
        let e = source(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")], Flags::default()).unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        assert_eq!(
            e.to_string(),
            "cannot read the credentials file /nonexistent/key.json (environment variable GOOGLE_APPLICATION_CREDENTIALS)"
        );
        assert_eq!(
            e.hint(),
            "point environment variable GOOGLE_APPLICATION_CREDENTIALS at a valid credentials file, or unset it"
        );
    }

    #[test]
    fn misfiled_tokens_are_recognised() {
        assert_eq!(
            misfiled(r#"{"type":"service_account","private_key":"x"}"#),
            Some(Misfiled::CredentialsFile("service_account"))
        );
        assert_eq!(misfiled(r#"{"type":"authorized_user"}"#), Some(Misfiled::CredentialsFile("authorized_user")));
        assert_eq!(misfiled("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c2ln"), Some(Misfiled::Jwt));
        assert_eq!(misfiled("ya29.a0AfH6SM"), None);
    }

    #[test]
    fn config_helper_output_is_read() {
        let out = br#"{"configuration":{"active_configuration":"default","properties":{"core":{"account":"sa@p.iam.gserviceaccount.com"},"auth":{"impersonate_service_account":"deployer@p.iam.gserviceaccount.com"}}},"credential":{"access_token":"ya29.x","token_expiry":"2999-01-01T00:00:00Z"}}"#;
        let now = Instant::now();
        let s = parse_config_helper(out, now).unwrap();
        assert_eq!(s.token.expose(), "ya29.x");
        assert_eq!(s.impersonated.as_deref(), Some("deployer@p.iam.gserviceaccount.com"));
        assert!(s.expires > now + Duration::from_secs(3600 * 24 * 365));
        assert!(matches!(parse_config_helper(b"{}", now), Err(AuthError::Gcloud(_))));
    }

    #[test]
    fn impersonated_adc_files_name_their_chain() {
        let json = serde_json::json!({
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/target@p.iam.gserviceaccount.com:generateAccessToken",
            "delegates": ["projects/-/serviceAccounts/hop@p.iam.gserviceaccount.com"],
        });
        assert_eq!(
            impersonation_chain(&json).unwrap(),
            vec!["hop@p.iam.gserviceaccount.com".to_owned(), "target@p.iam.gserviceaccount.com".to_owned()]
        );
        assert!(impersonation_chain(&serde_json::json!({})).is_err());
    }

    proptest::proptest! {
        #[test]
        fn token_file_and_jwt_parsers_never_panic(text in ".{0,200}", b in "[A-Za-z0-9_=.-]{0,80}") {
            let _ = misfiled(&text);
            let _ = jwt_claims(&format!("eyJ{b}"));
            let _ = parse_config_helper(text.as_bytes(), Instant::now());
            let _ = impersonation_chain(&serde_json::json!({"service_account_impersonation_url": text, "delegates": [b]}));
        }
    }
}
