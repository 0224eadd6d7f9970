//! The one HTTP layer every Google API call goes through.
//!
//! It adds the access token (and impersonates when asked), bounds
//! concurrency, spaces calls per API, retries 429/500/502/503/504 with
//! jittered exponential backoff honouring `Retry-After` (and
//! `google.rpc.RetryInfo`), and turns `google.rpc.Status` envelopes into
//! `ApiError::Status`. `--verbose` traces each call (method, URL, status,
//! latency, request id) at debug level; headers and bodies are never traced,
//! and every server text is redacted before it is shown.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

use crate::auth::{AuthError, AuthOptions, Secret, TokenSource, chain_text, tls_hint};
use crate::config::{Api, Config, QuotaProject};
use crate::error::{CommandError, Exit};
use crate::redact::redact;

/// Tuning of retries, concurrency and pacing.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Cap on one backoff sleep, and on a server's Retry-After.
    pub max_delay: Duration,
    /// Calls in flight at once, across all APIs.
    pub concurrency: usize,
    /// Calls started per minute, for the APIs named; the others run at
    /// [`default_per_minute`] against Google and unpaced on the emulator.
    pub rates: BTreeMap<Api, f64>,
    pub timeout: Duration,
    /// Seed for the backoff jitter (tests pin it).
    pub seed: Option<u64>,
    /// Deadlines of credential fetches (impersonation included).
    pub auth: AuthOptions,
    /// CA certificates trusted besides the system's (`tls_roots`).
    pub roots: Vec<reqwest::Certificate>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            // Sized so a 30% failure rate (the emulator's fault injection in
            // CI) still completes every call: a call fails for good with
            // probability 0.3^10 ≈ 5.9e-6, so a 20-call export flakes about
            // once in 8,000 runs and a 1,000-call one once in 170.
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            concurrency: 16,
            rates: BTreeMap::new(),
            timeout: Duration::from_secs(60),
            seed: None,
            auth: AuthOptions::default(),
            roots: Vec::new(),
        }
    }
}

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with a google.rpc.Status error.
    #[error(transparent)]
    Status(Box<Status>),
    /// The request never got an HTTP answer.
    #[error("cannot reach {api} at {url}")]
    Transport {
        api: Api,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not the JSON the method promises.
    #[error("{api} answered {method} {url} with a body runiam cannot read: {detail}")]
    Decode { api: Api, method: String, url: String, detail: String },
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// A google.rpc.Status error, with what a user needs to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub api: Api,
    pub method: String,
    pub url: String,
    /// The HTTP status code.
    pub http: u16,
    /// The google.rpc.Code name (`PERMISSION_DENIED`, `ABORTED`, ...).
    pub status: String,
    pub message: String,
    /// `ErrorInfo.reason` (`IAM_PERMISSION_DENIED`, `SERVICE_DISABLED`, ...).
    pub reason: Option<String>,
    pub domain: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub request_id: Option<String>,
    /// Every detail, verbatim (`PreconditionFailure`, `BadRequest`, ...).
    pub details: Vec<Value>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} answered {} {}: {}", self.method, self.url, self.http, self.status, redact(&self.message))?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Status {}

/// google.rpc.Code names by HTTP status, for bodies that carry none.
fn code_name(http: u16) -> &'static str {
    match http {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

impl Status {
    /// Reads a google.rpc.Status envelope; falls back to the raw text for
    /// bodies that are not one (an HTML page from a proxy).
    pub fn parse(api: Api, method: &str, url: &str, http: u16, header_request_id: Option<String>, body: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let err = v.get("error").filter(|e| e.is_object());
        let text = |k: &str| err.and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_owned);
        let details: Vec<Value> =
            err.and_then(|e| e.get("details")).and_then(Value::as_array).cloned().unwrap_or_default();
        let detail_of = |ty: &str| details.iter().find(|d| d.get("@type").and_then(Value::as_str) == Some(ty));
        let info = detail_of("type.googleapis.com/google.rpc.ErrorInfo");
        let metadata = info
            .and_then(|i| i.get("metadata"))
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default();
        let request_id = header_request_id.or_else(|| {
            detail_of("type.googleapis.com/google.rpc.RequestInfo")
                .and_then(|d| d.get("requestId"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let message = text("message").unwrap_or_else(|| {
            let raw = String::from_utf8_lossy(body);
            let raw = raw.trim();
            if raw.is_empty() { format!("HTTP {http} with an empty body") } else { raw.chars().take(300).collect() }
        });
        Self {
            api,
            method: method.to_owned(),
            url: url.to_owned(),
            http,
            status: text("status").unwrap_or_else(|| code_name(http).to_owned()),
            message,
            reason: info.and_then(|i| i.get("reason")).and_then(Value::as_str).map(str::to_owned),
            domain: info.and_then(|i| i.get("domain")).and_then(Value::as_str).map(str::to_owned),
            metadata,
            request_id,
            details,
        }
    }

    /// What the user can do about it.
    pub fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        match self.reason.as_deref() {
            Some("SERVICE_DISABLED") => {
                let service = self.metadata.get("service").cloned().unwrap_or_else(|| self.api.service_name());
                let project = self
                    .metadata
                    .get("consumer")
                    .map(|c| c.trim_start_matches("projects/").to_owned())
                    .unwrap_or_else(|| "PROJECT".to_owned());
                hints.push(format!("enable the API: gcloud services enable {service} --project {project}"));
            }
            Some("IAM_PERMISSION_DENIED") | None if self.http == 403 => {
                if let Some(permission) = self.denied_permission() {
                    let role = crate::roles::smallest_role_with(&permission)
                        .map(|r| format!("; the predefined role {r} carries it"))
                        .unwrap_or_default();
                    hints.push(format!("the credentials in use lack {permission}{role}"));
                }
            }
            _ => {}
        }
        if self.http == 401 {
            hints.push(
                "the access token was refused: renew the credential in use (`gcloud auth login` for gcloud's account, `gcloud auth application-default login` for an ADC file) or the token you passed".to_owned(),
            );
        }
        hints
    }

    /// The permission an IAM denial names, from ErrorInfo or the message.
    pub fn denied_permission(&self) -> Option<String> {
        if let Some(p) = self.metadata.get("permission") {
            return Some(p.clone());
        }
        let rest = self.message.split("Permission '").nth(1)?;
        Some(rest.split('\'').next()?.to_owned())
    }

    pub fn is(&self, status: &str) -> bool {
        self.status == status
    }
}

impl ApiError {
    /// The Status, when the API answered with one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            ApiError::Status(s) => Some(s),
            _ => None,
        }
    }

    /// True for 404 NOT_FOUND.
    pub fn is_not_found(&self) -> bool {
        self.status().is_some_and(|s| s.http == 404)
    }
}

impl From<ApiError> for CommandError {
    fn from(e: ApiError) -> Self {
        let hints = match &e {
            ApiError::Status(s) => s.hints(),
            ApiError::Auth(a) => vec![a.hint()],
            ApiError::Transport { url, source, .. } => {
                let host = Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
                vec![tls_hint(&chain_text(source)).unwrap_or_else(|| format!(
                    "nothing answered at {host}: check the network, HTTPS_PROXY/NO_PROXY, CLOUDSDK_API_ENDPOINT_OVERRIDES_*, or, for runiam-emulator, that it runs where RUNIAM_EMULATOR_HOST says"
                ))]
            }
            ApiError::Decode { .. } => Vec::new(),
        };
        let exit = match &e {
            ApiError::Auth(a) => a.exit(),
            _ => Exit::Api,
        };
        let mut err = CommandError::new(exit, e);
        err.hints = hints;
        err
    }
}

/// Whether a status is worth another attempt.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// `google.rpc.RetryInfo.retryDelay` ("1.5s") from an error body.
fn retry_info(body: &[u8]) -> Option<Duration> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let details = v.get("error")?.get("details")?.as_array()?;
    let d = details
        .iter()
        .find(|d| d.get("@type").and_then(Value::as_str) == Some("type.googleapis.com/google.rpc.RetryInfo"))?;
    let secs: f64 = d.get("retryDelay")?.as_str()?.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// The CA certificates runiam trusts besides the system's: gcloud's
/// `core/custom_ca_certs_file`, else `SSL_CERT_FILE` (a PEM bundle).
pub fn tls_roots(config: &Config) -> Result<Vec<reqwest::Certificate>, CommandError> {
    let Some(file) = &config.custom_ca_certs_file else { return Ok(Vec::new()) };
    let path = file.value.display();
    let bad = |why: String| {
        CommandError::usage(format!("the CA file {path} ({}) {why}", file.source))
            .hinted(format!("point {} at a PEM bundle of the CA certificates to trust", file.source))
    };
    let pem = std::fs::read(&file.value).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(format!("is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("holds no certificate".to_owned()));
    }
    // The TLS backend checks them where the client is built ([`Http::new`]).
    Ok(certs)
}

/// Why the HTTP client could not be built: the CA file, if one is named.
fn client_refused(config: &Config, e: &reqwest::Error) -> CommandError {
    match &config.custom_ca_certs_file {
        Some(file) => {
            CommandError::usage(format!("the CA file {} ({}) is refused: {e}", file.value.display(), file.source))
                .hinted(format!("point {} at a PEM bundle of the CA certificates to trust", file.source))
        }
        None => CommandError::api(format!("cannot build an HTTP client: {e}")),
    }
}

/// An answer's JSON as `T` (an empty answer as `{}`), or the error naming the call.
pub(crate) fn decode<T: DeserializeOwned>(api: Api, method: &Method, url: &Url, bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| ApiError::Decode {
        api,
        method: method.to_string(),
        url: url.to_string(),
        detail: e.to_string(),
    })
}

/// The credential sent with one call: the token and the quota project.
struct Auth {
    token: Secret,
    quota_project: Option<String>,
}

/// The client shared by every typed API client of a command.
pub struct Http {
    client: reqwest::Client,
    source: TokenSource,
    /// The service accounts to impersonate: delegates first, the target last.
    impersonate: Option<Vec<String>>,
    impersonated: Mutex<Option<(Secret, Instant)>>,
    quota_project: QuotaProject,
    gcloud_config: Option<std::path::PathBuf>,
    described: AtomicBool,
    iamcredentials: Url,
    options: HttpOptions,
    permits: Semaphore,
    next_slot: Mutex<HashMap<Api, Instant>>,
    rng: std::sync::Mutex<StdRng>,
    calls: AtomicU64,
    default_rates: bool,
    /// Calls and 429 answers per API, retries included (`--verbose`).
    by_api: std::sync::Mutex<BTreeMap<Api, ApiCalls>>,
}

/// What one API was asked and how often it answered 429.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiCalls {
    pub calls: u64,
    pub exhausted: u64,
}

/// Calls a minute runiam allows itself per API against Google by default:
/// under each API's published per-minute quota, with a tenth to spare for
/// other clients of the same project (docs/fleet.md lists the sources).
pub fn default_per_minute(api: Api) -> f64 {
    match api {
        // SearchAllIamPolicies and SearchAllResources: 400 a minute per
        // consumer project each (3,000 and 1,500 per organization); one pace
        // for both keeps either under 400.
        Api::CloudAsset => 350.0,
        // Cloud Run Admin API reads, per project and region: as low as 600
        // a minute (ReadPerMinutePerProjectRegion); one pace for all regions.
        Api::Run => 540.0,
        // Resource Manager: v3 lists and v1 reads, 600 a minute (10 a second) each.
        Api::CloudResourceManager => 540.0,
        _ => 6000.0,
    }
}

impl Http {
    /// The HTTP layer; a CA file (`tls_roots`) the TLS backend refuses is
    /// exit 2 naming it. One client is built per process: loading the
    /// system's roots is most of a command's start-up.
    pub fn new(config: &Config, source: TokenSource, options: HttpOptions) -> Result<Arc<Self>, CommandError> {
        // Default pacing protects Google's quotas; the emulator enforces
        // only the limits a test asks for, so only explicit rates apply there.
        let default_rates = config.emulator.is_none();
        // HTTPS_PROXY/NO_PROXY are honoured (reqwest reads them); the
        // metadata server has its own client that never uses a proxy.
        let client = reqwest::Client::builder()
            .user_agent(concat!("runiam/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.auth.connect)
            .tls_certs_merge(options.roots.iter().cloned())
            .build()
            .map_err(|e| client_refused(config, &e))?;
        let rng = match options.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Ok(Arc::new(Self {
            client,
            // Impersonation is meaningless against the emulator, which takes
            // no credentials; with gcloud as the source, gcloud impersonates.
            impersonate: config
                .impersonate_service_account
                .as_ref()
                .map(|r| r.value.split(',').map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect())
                .or_else(|| source.impersonation_chain())
                .filter(|_| config.emulator.is_none() && !matches!(source, TokenSource::Gcloud(_))),
            impersonated: Mutex::new(None),
            quota_project: config.quota_project.clone(),
            gcloud_config: config.gcloud_config.clone(),
            described: AtomicBool::new(false),
            iamcredentials: config.endpoint(Api::IamCredentials).clone(),
            permits: Semaphore::new(options.concurrency.max(1)),
            next_slot: Mutex::new(HashMap::new()),
            rng: std::sync::Mutex::new(rng),
            calls: AtomicU64::new(0),
            default_rates,
            by_api: std::sync::Mutex::new(BTreeMap::new()),
            source,
            options,
        }))
    }

    /// The base credential (verify asks it for the ambient ID token).
    pub fn source(&self) -> &TokenSource {
        &self.source
    }

    /// HTTP requests sent so far, retries included (for benchmarks).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Sends a JSON request and decodes the JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        api: Api,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let bytes = self.answer(api, method.clone(), &url, body).await?;
        decode(api, &method, &url, &bytes)
    }

    /// Sends a JSON request and returns its answer's JSON undecoded, for
    /// a caller that decodes it in parts ([`decode`] each).
    pub(crate) async fn answer(
        &self,
        api: Api,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let auth = self.token().await?;
        self.send(api, method, url, body, auth.as_ref()).await
    }

    /// The credential for API calls: the base one, or the impersonated one.
    async fn token(&self) -> Result<Option<Auth>, ApiError> {
        let Some(base) = self.source.token().await? else { return Ok(None) };
        let chain = self.impersonate.as_ref().filter(|_| !base.impersonated);
        let quota_project =
            self.quota_project.for_credential(base.quota_project.as_deref(), base.user && chain.is_none());
        self.describe(chain, quota_project.as_deref()).await;
        let base = Auth { token: base.secret, quota_project };
        let Some((target, delegates)) = chain.and_then(|c| c.split_last()) else { return Ok(Some(base)) };
        let mut cached = self.impersonated.lock().await;
        if let Some((tok, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(Some(Auth {
                token: tok.clone(),
                quota_project: self.quota_project.for_credential(None, false),
            }));
        }
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| {
            ApiError::Auth(AuthError::Impersonation { account: target.clone(), source })
        };
        let url = api_url(
            &self.iamcredentials,
            &["v1", "projects", "-", "serviceAccounts", &format!("{target}:generateAccessToken")],
        );
        let mut body = serde_json::json!({
            "scope": ["https://www.googleapis.com/auth/cloud-platform"],
            "lifetime": "3600s",
        });
        if !delegates.is_empty() {
            body["delegates"] = delegates.iter().map(|d| format!("projects/-/serviceAccounts/{d}")).collect();
        }
        // runiam's own client rather than google-cloud-auth's impersonated
        // credentials, which always call iamcredentials.googleapis.com and
        // so would ignore CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS.
        let deadline = self.options.auth.total;
        let sent = tokio::time::timeout(
            deadline,
            self.send(Api::IamCredentials, Method::POST, &url, Some(&body), Some(&base)),
        )
        .await
        .map_err(|_| AuthError::Deadline {
            what: format!("IAM Credentials at {}", self.iamcredentials),
            after: deadline,
        })?;
        let bytes = sent.map_err(|e| failed(Box::new(e)))?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let tok = v
            .get("accessToken")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("the answer carried no accessToken".into()))?;
        let secret = Secret::new(tok);
        // Renew a minute before Google's expiry; 45 minutes when it names none.
        let left = v
            .get("expireTime")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok())
            .map(|d| d.saturating_sub(Duration::from_secs(60)))
            .unwrap_or(Duration::from_secs(45 * 60));
        *cached = Some((secret.clone(), Instant::now() + left));
        Ok(Some(Auth { token: secret, quota_project: self.quota_project.for_credential(None, false) }))
    }

    /// Says once, under `--verbose`, which credential and configuration are
    /// in use (never the token).
    async fn describe(&self, chain: Option<&Vec<String>>, quota_project: Option<&str>) {
        if !tracing::enabled!(tracing::Level::DEBUG) || self.described.swap(true, Ordering::Relaxed) {
            return;
        }
        let account = match &self.source {
            TokenSource::Gcloud(g) => g.account().await,
            TokenSource::Metadata(m) => m.email().await.ok(),
            _ => None,
        };
        let impersonating = match (&self.source, chain) {
            (_, Some(c)) => c.join(","),
            (TokenSource::Gcloud(g), None) => {
                g.impersonated().await.map_or_else(|| "-".to_owned(), |a| format!("{a} (by gcloud)"))
            }
            _ => "-".to_owned(),
        };
        tracing::debug!(
            source = %self.source.describe(),
            account = %account.as_deref().unwrap_or("-"),
            quota_project = %quota_project.unwrap_or("-"),
            gcloud_config = %self.gcloud_config.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".to_owned()),
            impersonating = %impersonating,
            "credentials"
        );
    }

    /// Calls and 429 answers per API so far, in `Api::ALL` order.
    pub fn calls_by_api(&self) -> Vec<(Api, ApiCalls)> {
        let by = self.by_api.lock().expect("call counts lock");
        Api::ALL.iter().filter_map(|a| by.get(a).map(|c| (*a, *c))).collect()
    }

    fn count(&self, api: Api, status: StatusCode) {
        let mut by = self.by_api.lock().expect("call counts lock");
        let c = by.entry(api).or_default();
        c.calls += 1;
        c.exhausted += u64::from(status == StatusCode::TOO_MANY_REQUESTS);
    }

    /// Waits for this API's next slot under its per-minute rate.
    async fn pace(&self, api: Api) {
        let per_minute = match self.options.rates.get(&api) {
            Some(r) => *r,
            None if self.default_rates => default_per_minute(api),
            None => return,
        };
        if !per_minute.is_finite() || per_minute <= 0.0 {
            return;
        }
        let gap = Duration::from_secs_f64(60.0 / per_minute);
        let wait = {
            let mut slots = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = slots.get(&api).copied().unwrap_or(now).max(now);
            slots.insert(api, slot + gap);
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Jittered exponential backoff before attempt `attempt + 1`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.options.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.options.max_delay);
        let half = cap / 2;
        let jitter = self.rng.lock().expect("rng lock").random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }

    /// Sends with retries; returns the body of a 2xx answer.
    async fn send(
        &self,
        api: Api,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        auth: Option<&Auth>,
    ) -> Result<Vec<u8>, ApiError> {
        let _permit = self.permits.acquire().await.expect("semaphore never closed");
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace(api).await;
            let mut req = self.client.request(method.clone(), url.clone());
            if let Some(a) = auth {
                req = req.bearer_auth(a.token.expose());
                if let Some(q) = &a.quota_project {
                    req = req.header("x-goog-user-project", q);
                }
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let started = Instant::now();
            self.calls.fetch_add(1, Ordering::Relaxed);
            let resp = req.send().await;
            let latency = started.elapsed();
            let resp = match resp {
                Ok(r) => r,
                Err(source) => {
                    tracing::debug!(%api, %method, %url, attempt, latency_ms = latency.as_millis() as u64, error = %redact(&source.to_string()), "call failed");
                    if source.is_timeout() && attempt < self.options.max_attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(ApiError::Transport { api, url: url.to_string(), source });
                }
            };
            let status = resp.status();
            self.count(api, status);
            let headers = resp.headers().clone();
            let request_id = headers
                .get("x-goog-request-id")
                .or_else(|| headers.get("x-request-id"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = match resp.bytes().await {
                // Without a copy when the body came in one piece (megabytes, for a search page).
                Ok(b) => Vec::from(b),
                Err(source) => return Err(ApiError::Transport { api, url: url.to_string(), source }),
            };
            tracing::debug!(
                %api, %method, %url, status = status.as_u16(), attempt,
                latency_ms = latency.as_millis() as u64,
                request_id = request_id.as_deref().unwrap_or("-"),
                "call"
            );
            if status.is_success() {
                return Ok(bytes);
            }
            if retryable(status) && attempt < self.options.max_attempts {
                let wait = retry_after(&headers)
                    .or_else(|| retry_info(&bytes))
                    .map(|d| d.min(self.options.max_delay))
                    .unwrap_or_else(|| self.backoff(attempt));
                tracing::debug!(%api, %url, status = status.as_u16(), wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(ApiError::Status(Box::new(Status::parse(
                api,
                method.as_str(),
                url.as_str(),
                status.as_u16(),
                request_id,
                &bytes,
            ))));
        }
    }
}

/// Appends `segments` (each one path segment, `:` kept as is) to a base URL.
///
/// `Url::join("svc:getIamPolicy")` would read `svc:` as a scheme, so paths
/// are always built segment by segment.
pub fn api_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut().expect("http(s) base").pop_if_empty().extend(segments.iter().flat_map(|s| s.split('/')));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_with_error_info() {
        let body = br#"{"error":{"code":403,"message":"Permission 'run.services.getIamPolicy' denied on resource 'projects/p/locations/r/services/s' (or resource may not exist).","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED","domain":"iam.googleapis.com","metadata":{"permission":"run.services.getIamPolicy"}},{"@type":"type.googleapis.com/google.rpc.RequestInfo","requestId":"abc123"}]}}"#;
        let s = Status::parse(Api::Run, "GET", "https://run.googleapis.com/x", 403, None, body);
        assert_eq!(s.status, "PERMISSION_DENIED");
        assert_eq!(s.reason.as_deref(), Some("IAM_PERMISSION_DENIED"));
        assert_eq!(s.request_id.as_deref(), Some("abc123"));
        assert_eq!(s.denied_permission().as_deref(), Some("run.services.getIamPolicy"));
        let hints = s.hints();
        assert_eq!(hints.len(), 1);
        assert!(
            hints[0].starts_with("the credentials in use lack run.services.getIamPolicy; the predefined role roles/"),
            "{hints:?}"
        );
    }

    #[test]
    fn service_disabled_hint_names_the_api() {
        let body = br#"{"error":{"code":403,"message":"Cloud Run Admin API has not been used in project 123 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com","metadata":{"service":"run.googleapis.com","consumer":"projects/123"}}]}}"#;
        let s = Status::parse(Api::Run, "GET", "u", 403, None, body);
        assert_eq!(
            s.hints(),
            vec!["enable the API: gcloud services enable run.googleapis.com --project 123".to_owned()]
        );
    }

    #[test]
    fn non_json_bodies_still_make_a_status() {
        let s = Status::parse(Api::Run, "GET", "u", 502, None, b"<html>Bad Gateway</html>");
        assert_eq!(s.status, "UNKNOWN");
        assert_eq!(s.message, "<html>Bad Gateway</html>");
        let s = Status::parse(Api::Run, "GET", "u", 404, None, b"");
        assert_eq!((s.status.as_str(), s.message.as_str()), ("NOT_FOUND", "HTTP 404 with an empty body"));
    }

    #[test]
    fn urls_keep_verbs() {
        let base = Url::parse("http://127.0.0.1:9/").unwrap();
        let u = api_url(&base, &["v2", "projects/p/locations/r/services/s:getIamPolicy"]);
        assert_eq!(u.as_str(), "http://127.0.0.1:9/v2/projects/p/locations/r/services/s:getIamPolicy");
    }

    proptest::proptest! {
        #[test]
        fn status_parse_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400), http in 400u16..600) {
            let _ = Status::parse(Api::Run, "GET", "u", http, None, &body);
        }

        #[test]
        fn status_parse_never_panics_on_json(msg in ".*", reason in proptest::option::of("[A-Z_]{0,20}")) {
            let body = serde_json::json!({"error": {"code": 403, "message": msg, "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "metadata": {"permission": 5}}]}});
            let s = Status::parse(Api::Run, "GET", "u", 403, None, body.to_string().as_bytes());
            let _ = s.hints();
        }
    }
}
