//! The Cloud Run front end: every request whose Host ends in `.run.app`
//! (docs/emulator.md; Cloud Run's documented answers and request-log
//! texts), checked in this order:
//!
//! 1. host: a service's deterministic, hash or tag URL; an unknown host,
//!    or any default URL of a service with `defaultUriDisabled`, gets the
//!    404 page and no request log;
//! 2. VPC Service Controls: an enforced perimeter that restricts
//!    run.googleapis.com, holds the service, and admits neither the caller's
//!    project nor its identity → 403 (ingress `all`) or 404, no request log,
//!    a Policy Denied audit entry instead (crate::acm);
//! 3. ingress against where the request comes from: the `X-Emulator-Caller`
//!    test header names the calling service, VM or product (a full resource
//!    name) and the origin is derived from its settings (crate::network);
//!    `X-Emulator-Origin: load-balancer|internal|external` stands for a
//!    caller the world does not hold (a load balancer); neither is a client
//!    on the internet. Not admitted → 404, no log;
//! 4. IAP: the emulator issues no IAP credentials, so IAP refuses every
//!    request as it refuses one without them (401, "Invalid IAP
//!    credentials: empty token"). The request log has no `textPayload`, as
//!    Cloud Run's wording for it is unknown;
//! 5. `invokerIamDisabled`, or `allUsers` holding the permission (decided by
//!    the evaluator for an anonymous caller): through to the container,
//!    whatever credential came along (public services often receive their
//!    own app's tokens in `Authorization`);
//! 6. the credential: `X-Serverless-Authorization` when present, else
//!    `Authorization`; none → 403; several headers, several tokens, not
//!    `Bearer`, not a JWT signed by the emulator, wrong issuer, expired, or
//!    an audience not accepted → 401;
//! 7. `run.routes.invoke` for the token's `email` (or, without one, the
//!    account whose unique id is `sub`) through the shared evaluator. Its
//!    UNKNOWN counts as a denial: Google's own check has no unknowns, and
//!    the emulator knows every group, so what remains unknown is a condition
//!    it cannot evaluate, which Google would not let grant.
//!
//! Allowed requests get a stub container's 200 JSON. Every request past
//! steps 1 to 3 is written to the log store as a `run.googleapis.com/requests`
//! LogEntry. Verified tokens and decisions are cached (decisions per caller,
//! service and state generation, and only when no condition is involved,
//! since conditions depend on the time), so the hot path takes no RSA
//! verification and no evaluation. IAM changes apply at once: no
//! propagation delay is emulated.

use std::borrow::Cow;
/// The front end's maps are probed on every request with keys as long as a
/// JWT: foldhash hashes them several times faster than SipHash, and their
/// keys come from our own world and signatures, not from an attacker who
/// could aim for collisions.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use runiam_core::api::run::token_audience_accepted;
use runiam_core::doc::Verdict;
use runiam_core::eval::{Facts, evaluate};
use runiam_core::ingress::{Ingress, Origin};
use runiam_core::model::Principal;
use runiam_core::perimeter::{Fence, denial_status};

use crate::control::run_v2::derived;
use crate::logstore::{LogRecord, RequestLog, ServiceLabels, splitmix};
use crate::state::{State, service_key};
use crate::tokens::{Claims, ISSUER, Issuer, now_seconds};
use crate::world::{World, tag_url};
use crate::{Raw, authz};

/// The permission the front end checks.
pub const INVOKE: &str = "run.routes.invoke";
/// The test header that says where a request comes from.
pub const ORIGIN_HEADER: &str = "x-emulator-origin";
/// The test header that names the caller, whose settings say where it comes from.
pub const CALLER_HEADER: &str = "x-emulator-caller";
const SERVERLESS_AUTHORIZATION: &str = "x-serverless-authorization";

/// Request-log text of every front-end 401 (Cloud Run's documented text).
pub const LOG_401: &str =
    "The request was not authorized to invoke this service. The access token could not be verified.";
/// Request-log text of every front-end 403, with or without a token (docs/cloud-run.md).
pub const LOG_403: &str = "The request was not authenticated. Either allow unauthenticated invocations or set the proper Authorization header. Read more at https://cloud.google.com/run/docs/securing/authenticating Additional troubleshooting documentation can be found at: https://cloud.google.com/run/docs/troubleshooting#unauthorized-client";
/// IAP's answer to a request without IAP credentials.
pub const IAP_BODY: &str = "Invalid IAP credentials: empty token\n";

/// Issuer spellings accepted (facts Q4: Google's verifiers take both).
const ISSUERS: [&str; 2] = [ISSUER, "accounts.google.com"];
/// Caches are cleared when they reach this many entries.
const CACHE_LIMIT: usize = 100_000;

/// One service as the front end sees it: names and URLs fixed at start,
/// settings refreshed when the state's generation moves.
#[derive(Debug)]
struct Target {
    /// Shared with every request log of the service.
    labels: Arc<ServiceLabels>,
    name: String,
    key: String,
    /// Every URL of the service (deterministic, hash, tags), no trailing `/`.
    urls: Vec<String>,
    custom_audiences: Vec<String>,
    ingress: Ingress,
    invoker_iam_disabled: bool,
    default_uri_disabled: bool,
    iap_enabled: bool,
}

/// Where a request comes from: derived from the caller `X-Emulator-Caller`
/// names, else `X-Emulator-Origin`, else the internet. `Err` is the 400's text.
fn origin(state: &Mutex<State>, headers: &HeaderMap, target_project: &str) -> Result<Origin, String> {
    match (headers.get(CALLER_HEADER), headers.get(ORIGIN_HEADER).map(|v| v.as_bytes())) {
        (Some(_), Some(_)) => Err("send X-Emulator-Caller or X-Emulator-Origin, not both.".to_owned()),
        (Some(caller), None) => {
            let caller = caller.to_str().map_err(|_| "X-Emulator-Caller is not ASCII.".to_owned())?;
            let path = crate::network::caller_path(&lock(state).world, caller, target_project)
                .map_err(|why| format!("X-Emulator-Caller: {why}."))?;
            path.origin().ok_or_else(|| format!("X-Emulator-Caller: the world leaves {caller}'s path open: {path:?}."))
        }
        (None, None | Some(b"external")) => Ok(Origin::External),
        (None, Some(b"internal")) => Ok(Origin::Internal),
        (None, Some(b"load-balancer")) => Ok(Origin::LoadBalancer),
        (None, Some(_)) => Err("X-Emulator-Origin must be external, internal or load-balancer.".to_owned()),
    }
}

/// The host part of a Host header or authority: lowercased, without port
/// or trailing dot. `None` when it is not a `*.run.app` name.
pub fn run_app_host(raw: &str) -> Option<Cow<'_, str>> {
    let host = match raw.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => raw,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    // Hosts are almost always lowercase already: copy only when not.
    let host: Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    (host.ends_with(".run.app") && host.len() > ".run.app".len()).then_some(host)
}

/// What the front end needs of one request.
pub(crate) struct Incoming<'a> {
    pub method: &'a str,
    /// Already reduced by [`run_app_host`].
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub remote: Option<SocketAddr>,
    pub protocol: &'static str,
}

/// A credential defect: the request gets a 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Defect {
    SeveralHeaders,
    NotBearer,
    SeveralTokens,
    Token,
}

/// What the checks concluded.
#[derive(Debug, PartialEq)]
enum Outcome {
    Iap,
    NoCredential,
    Unauthorized(Defect),
    Forbidden,
    /// Through to the container; the caller's email when a valid token named one.
    Allowed(Option<String>),
}

/// (caller, target) of a cached decision; the value is (state generation
/// when decided, allowed).
type DecisionKey = (Option<String>, usize);

/// The front end: host table, caches, and the request counter behind log ids.
pub struct Frontend {
    hosts: HashMap<String, usize>,
    /// (state generation, settings), index-aligned with `hosts`' values.
    targets: RwLock<(u64, Arc<Vec<Target>>)>,
    verified: Mutex<HashMap<String, Arc<Claims>>>,
    decisions: Mutex<HashMap<DecisionKey, (u64, bool)>>,
    requests: AtomicU64,
    seed: u64,
}

impl Frontend {
    /// The host table of `world`; `seed` makes trace and insert ids reproducible.
    pub fn new(world: &World, seed: u64) -> Self {
        let (hosts, targets) = table(world);
        Self {
            hosts,
            targets: RwLock::new((0, Arc::new(targets))),
            verified: Mutex::default(),
            decisions: Mutex::default(),
            requests: AtomicU64::new(0),
            seed,
        }
    }

    /// The services' settings as the state has them now: rebuilt when the
    /// state's generation moves (services.patch, reset), else shared.
    fn targets(&self, state: &Mutex<State>) -> (u64, Arc<Vec<Target>>) {
        let state = lock(state);
        // A delayed view is rebuilt every time: what it shows moves with the clock.
        if let Some(view) = state.frontend_view() {
            return (NO_CACHE, Arc::new(table(&view.world).1));
        }
        let generation = state.generation();
        {
            let current = self.targets.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if current.0 == generation {
                return (generation, Arc::clone(&current.1));
            }
        }
        let fresh = Arc::new(table(&state.world).1);
        *self.targets.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = (generation, Arc::clone(&fresh));
        (generation, fresh)
    }

    /// Answers one request to a `*.run.app` host.
    pub(crate) fn serve(&self, state: &Mutex<State>, issuer: &Issuer, req: &Incoming) -> Raw {
        let started = std::time::Instant::now();
        let Some(&index) = self.hosts.get(req.host) else {
            return page(404, req);
        };
        // One snapshot of the state's generation serves the whole request.
        let (generation, targets) = self.targets(state);
        let Some(target) = targets.get(index) else {
            return page(404, req);
        };
        let origin = match origin(state, req.headers, &target.labels.project_id) {
            Ok(o) => o,
            Err(why) => {
                return Raw {
                    status: 400,
                    content_type: "text/plain; charset=utf-8",
                    body: format!("{why}\n").into(),
                    headers: Vec::new(),
                };
            }
        };
        if target.default_uri_disabled {
            return page(404, req);
        }
        if let Some(refused) = self.fenced(state, issuer, target, req) {
            return refused;
        }
        if !target.ingress.admits(origin) {
            return page(404, req);
        }
        let outcome = self.decide(state, issuer, (target, index, generation), req.headers);
        let (raw, text, latency) = match &outcome {
            Outcome::Iap => (
                Raw {
                    status: 401,
                    content_type: "text/html; charset=UTF-8",
                    body: IAP_BODY.into(),
                    headers: Vec::new(),
                },
                None,
                Duration::ZERO,
            ),
            Outcome::NoCredential | Outcome::Forbidden => (page(403, req), Some(LOG_403), Duration::ZERO),
            Outcome::Unauthorized(_) => (page(401, req), Some(LOG_401), Duration::ZERO),
            Outcome::Allowed(caller) => {
                let raw = Raw {
                    status: 200,
                    content_type: "application/json",
                    body: container_body(&target.name, caller.as_deref(), req.path),
                    headers: Vec::new(),
                };
                (raw, None, started.elapsed())
            }
        };
        let record = self.log_record(target, req, &raw, text, latency);
        state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push_record(record);
        raw
    }

    fn decide(
        &self,
        state: &Mutex<State>,
        issuer: &Issuer,
        (target, index, generation): (&Target, usize, u64),
        headers: &HeaderMap,
    ) -> Outcome {
        if target.iap_enabled {
            return Outcome::Iap;
        }
        let credential = credential(headers);
        // Only a token that passes every check names the caller.
        let valid = match credential {
            Ok(Some(token)) => self.claims(issuer, token).filter(|c| check_claims(c, target).is_ok()),
            _ => None,
        };
        if target.invoker_iam_disabled {
            return Outcome::Allowed(valid.and_then(|c| c.email.clone()));
        }
        // The usual request, a granted caller with a good token, needs one
        // decision; anonymous access (allUsers) is asked only when it fails.
        let caller = valid.as_deref().and_then(|c| self.principal(state, c));
        if let Some(caller) = &caller
            && self.allowed(state, (target, index, generation), Some(caller))
        {
            return Outcome::Allowed(caller.email().map(str::to_owned));
        }
        if self.allowed(state, (target, index, generation), None) {
            return Outcome::Allowed(valid.and_then(|c| c.email.clone()));
        }
        match credential {
            Ok(None) => return Outcome::NoCredential,
            Err(d) => return Outcome::Unauthorized(d),
            Ok(Some(_)) => {}
        }
        if valid.is_none() {
            return Outcome::Unauthorized(Defect::Token);
        }
        // A good token whose caller is unknown or not granted.
        Outcome::Forbidden
    }

    /// VPC Service Controls (crate::acm): when an enforced perimeter fences
    /// the service and admits neither the caller's project (named by
    /// `X-Emulator-Caller`; none is the internet) nor its token's identity,
    /// the front end's 403 or 404 and a Policy Denied audit entry instead
    /// of a request log. A rule the emulator cannot evaluate (an access
    /// level) admits no one, as Google's check has no unknowns.
    fn fenced(&self, state: &Mutex<State>, issuer: &Issuer, target: &Target, req: &Incoming) -> Option<Raw> {
        if lock(state).world.access_policies.is_empty() {
            return None;
        }
        let identity = match credential(req.headers) {
            Ok(Some(token)) => self
                .claims(issuer, token)
                .filter(|c| check_claims(c, target).is_ok())
                .and_then(|c| self.principal(state, &c))
                .map(|p| p.to_string()),
            _ => None,
        };
        let caller = req.headers.get(CALLER_HEADER).and_then(|v| v.to_str().ok()).and_then(crate::acm::caller_project);
        let mut state = lock(state);
        let project = &target.labels.project_id;
        let (perimeter, reason) = match crate::acm::fence(&state.world, caller.as_deref(), project, identity.as_deref())
        {
            Fence::Denied { perimeter, reason } => (perimeter, reason),
            Fence::Unsure { perimeter, .. } => (perimeter, "NO_MATCHING_ACCESS_LEVEL"),
            _ => return None,
        };
        let labels = &target.labels;
        let id = format!("{:016x}", splitmix(self.seed ^ self.requests.fetch_add(1, Ordering::Relaxed)));
        let entry = crate::acm::denial_entry(
            &state.world,
            (&labels.project_id, &labels.region, &labels.name),
            &perimeter,
            reason,
            identity.as_deref(),
            (&id, chrono::Utc::now()),
        );
        state.push_log(entry);
        Some(page(denial_status(target.ingress), req))
    }

    /// The claims of a token whose signature holds, cached by token.
    fn claims(&self, issuer: &Issuer, token: &str) -> Option<Arc<Claims>> {
        if let Some(c) = lock(&self.verified).get(token) {
            return Some(Arc::clone(c));
        }
        let claims = Arc::new(issuer.verify(token).ok()?);
        let mut cache = lock(&self.verified);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(token.to_owned(), Arc::clone(&claims));
        Some(claims)
    }

    /// The caller named by the token: its `email`, else the account whose
    /// unique id is `sub` (facts Q8).
    fn principal(&self, state: &Mutex<State>, claims: &Claims) -> Option<Principal> {
        if let Some(email) = &claims.email {
            return Some(if email.ends_with(".gserviceaccount.com") {
                Principal::ServiceAccount(email.clone())
            } else {
                Principal::User(email.clone())
            });
        }
        let sub = claims.sub.as_deref()?;
        let state = lock(state);
        state.world.service_account(sub).map(|(_, a)| Principal::ServiceAccount(a.email.clone()))
    }

    /// Does the evaluator say ALLOWED for `caller` (`None`: anonymous)? A
    /// decision made at the request's `generation` is reused without
    /// touching the state; a miss reads the state and evaluates.
    fn allowed(
        &self,
        state: &Mutex<State>,
        (target, index, generation): (&Target, usize, u64),
        caller: Option<&Principal>,
    ) -> bool {
        let key = (caller.map(ToString::to_string), index);
        if generation != NO_CACHE
            && let Some((at, allowed)) = lock(&self.decisions).get(&key)
            && *at == generation
        {
            return *allowed;
        }
        let (at, facts) = {
            let state = lock(state);
            match state.frontend_view() {
                Some(view) => (NO_CACHE, authz::facts(&view, &target.key, caller.cloned(), chrono::Utc::now())),
                None => (state.generation(), authz::facts(&state, &target.key, caller.cloned(), chrono::Utc::now())),
            }
        };
        let allowed = evaluate(&facts, INVOKE).verdict == Verdict::Allowed;
        if at != NO_CACHE && !has_conditions(&facts) {
            let mut cache = lock(&self.decisions);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, (at, allowed));
        }
        allowed
    }

    /// The compact request log of one request (rendered when read).
    fn log_record(
        &self,
        t: &Target,
        req: &Incoming,
        raw: &Raw,
        text: Option<&'static str>,
        latency: Duration,
    ) -> LogRecord {
        let mut url = format!("https://{}{}", req.host, req.path);
        if let Some(q) = req.query {
            url.push('?');
            url.push_str(q);
        }
        LogRecord::Request(Box::new(RequestLog {
            service: Arc::clone(&t.labels),
            seed: self.seed,
            counter: self.requests.fetch_add(1, Ordering::Relaxed),
            time: chrono::Utc::now(),
            method: match req.method {
                "GET" => Cow::Borrowed("GET"),
                "POST" => Cow::Borrowed("POST"),
                "HEAD" => Cow::Borrowed("HEAD"),
                other => Cow::Owned(other.to_owned()),
            },
            url,
            status: raw.status,
            response_size: raw.body.len(),
            user_agent: req.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
            remote_ip: req.remote.map(|r| r.ip()),
            latency,
            protocol: req.protocol,
            text,
        }))
    }
}

/// The generation of a delayed view: never cached, never matched.
const NO_CACHE: u64 = u64::MAX;

/// Host → index, and every service's settings, in the world's order
/// (services are patched, never added or removed, so indexes hold).
fn table(world: &World) -> (HashMap<String, usize>, Vec<Target>) {
    let mut hosts = HashMap::default();
    let mut targets = Vec::new();
    for p in &world.projects {
        for s in &p.services {
            let d = derived(p, s);
            let mut urls = d.urls.clone();
            urls.extend(
                s.traffic.iter().filter_map(|t| t.tag.as_ref()).map(|tag| tag_url(tag, &s.name, &p.number, &s.region)),
            );
            for u in &urls {
                if let Some(h) = u.strip_prefix("https://") {
                    hosts.insert(h.to_owned(), targets.len());
                }
            }
            targets.push(Target {
                labels: Arc::new(ServiceLabels {
                    project_id: p.id.clone(),
                    region: s.region.clone(),
                    name: s.name.clone(),
                    revision: d.revision.clone(),
                }),
                name: s.name.clone(),
                key: service_key(&p.id, &s.region, &s.name),
                urls,
                custom_audiences: s.custom_audiences.clone(),
                ingress: s.ingress(),
                invoker_iam_disabled: s.invoker_iam_disabled,
                default_uri_disabled: s.default_uri_disabled,
                iap_enabled: s.iap_enabled,
            });
        }
    }
    (hosts, targets)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The bearer token of a request: `Ok(None)` when there is none.
fn credential(headers: &HeaderMap) -> Result<Option<&str>, Defect> {
    let serverless: Vec<_> = headers.get_all(SERVERLESS_AUTHORIZATION).iter().collect();
    let values = if serverless.is_empty() { headers.get_all(AUTHORIZATION).iter().collect() } else { serverless };
    match values.as_slice() {
        [] => Ok(None),
        [one] => bearer(one.as_bytes()),
        _ => Err(Defect::SeveralHeaders),
    }
}

/// `Bearer TOKEN`: an empty value carries no credential; any other scheme,
/// or several tokens in one value, is a defect.
fn bearer(value: &[u8]) -> Result<Option<&str>, Defect> {
    let value = std::str::from_utf8(value).map_err(|_| Defect::NotBearer)?.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Defect::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Ok(None);
    }
    if separates_tokens(token) {
        return Err(Defect::SeveralTokens);
    }
    Ok(Some(token))
}

/// Whitespace or a comma: `token` holds several. Tokens are ASCII, and a
/// JWT is about a kilobyte scanned on every request: folds over fixed
/// chunks compile to SIMD, where decoding chars one by one cost the front
/// end a tenth of its time.
fn separates_tokens(token: &str) -> bool {
    if token.is_ascii() {
        // `\t \n \v \f \r` are 9 to 13.
        let hit = |b: &u8| (*b == b' ') | (*b == b',') | (b.wrapping_sub(9) < 5);
        let mut chunks = token.as_bytes().chunks_exact(32);
        chunks.any(|c| c.iter().fold(0u8, |n, b| n | u8::from(hit(b))) != 0) || chunks.remainder().iter().any(hit)
    } else {
        token.contains(|c: char| c.is_whitespace() || c == ',')
    }
}

/// Issuer, expiry and audience of a token whose signature holds.
fn check_claims(c: &Claims, t: &Target) -> Result<(), Defect> {
    let issuer_ok = c.iss.as_deref().is_some_and(|i| ISSUERS.contains(&i));
    let fresh = c.exp.is_some_and(|e| e > now_seconds());
    let audience_ok =
        c.aud.as_deref().is_some_and(|a| token_audience_accepted(a, c.email.as_deref(), &t.urls, &t.custom_audiences));
    if issuer_ok && fresh && audience_ok { Ok(()) } else { Err(Defect::Token) }
}

fn has_conditions(facts: &Facts) -> bool {
    facts.allow.iter().any(|a| a.policy.as_ref().is_some_and(|p| p.has_conditions()))
        || facts
            .deny
            .iter()
            .flat_map(|d| d.policies.iter().flatten())
            .any(|p| p.rules.iter().any(|r| r.deny_rule.as_ref().is_some_and(|d| d.denial_condition.is_some())))
}

/// The stub container's answer, `{"service","caller","path"}`, written
/// straight into one buffer: every allowed request builds one.
fn container_body(service: &str, caller: Option<&str>, path: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(48 + service.len() + caller.map_or(4, str::len) + path.len());
    let mut field = |name: &str, value: Option<&str>| {
        body.extend_from_slice(name.as_bytes());
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut body, &value);
    };
    field("{\"service\":", Some(service));
    field(",\"caller\":", caller);
    field(",\"path\":", Some(path));
    body.push(b'}');
    body
}

/// Cloud Run's error pages (docs/cloud-run.md), the path and query in `<code>`.
/// The 404 page is not documented (Q12); it follows the same template.
fn page(status: u16, req: &Incoming) -> Raw {
    let mut target = req.path.to_owned();
    if let Some(q) = req.query {
        target.push('?');
        target.push_str(q);
    }
    let code = escape(&target);
    let (title, h1, h2) = match status {
        401 => (
            "401 Unauthorized",
            "Error: Unauthorized",
            format!("Your client does not have permission to the requested URL <code>{code}</code>."),
        ),
        403 => (
            "403 Forbidden",
            "Error: Forbidden",
            format!("Your client does not have permission to get URL <code>{code}</code> from this server."),
        ),
        _ => (
            "404 Page not found",
            "Error: Page not found",
            format!("The requested URL <code>{code}</code> was not found on this server."),
        ),
    };
    let body = format!(
        "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>{title}</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>{h1}</h1>\n<h2>{h2}</h2>\n<h2></h2>\n</body></html>\n"
    );
    Raw { status, content_type: "text/html; charset=UTF-8", body: body.into_bytes(), headers: Vec::new() }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;
    use runiam_core::api::run::audience_accepted;

    #[test]
    fn hosts_lose_port_case_and_dot() {
        assert_eq!(run_app_host("Hello-1.europe-west1.RUN.app:443").as_deref(), Some("hello-1.europe-west1.run.app"));
        assert_eq!(run_app_host("a.run.app.").as_deref(), Some("a.run.app"));
        assert_eq!(run_app_host(".run.app"), None);
        assert_eq!(run_app_host("127.0.0.1:8785"), None);
        assert_eq!(run_app_host("run.app.example"), None);
    }

    #[test]
    fn audiences() {
        let urls = vec!["https://a-1.r.run.app".to_owned()];
        let custom = vec!["https://api.example/".to_owned()];
        assert!(audience_accepted("https://a-1.r.run.app", &urls, &custom));
        assert!(audience_accepted("https://a-1.r.run.app/", &urls, &custom));
        assert!(audience_accepted("https://api.example/", &urls, &custom));
        assert!(!audience_accepted("https://api.example", &urls, &custom));
        assert!(!audience_accepted("https://a-1.r.run.app/tasks", &urls, &custom));
        assert!(!audience_accepted("https://a-1.r.run.app//", &urls, &custom));
    }

    #[test]
    fn credentials() {
        let mut h = HeaderMap::new();
        assert_eq!(credential(&h), Ok(None));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
        assert_eq!(credential(&h), Ok(Some("a.b.c")));
        h.insert(SERVERLESS_AUTHORIZATION, HeaderValue::from_static("bearer x.y.z"));
        assert_eq!(credential(&h), Ok(Some("x.y.z")));
        h.append(SERVERLESS_AUTHORIZATION, HeaderValue::from_static("bearer x.y.z"));
        assert_eq!(credential(&h), Err(Defect::SeveralHeaders));
        assert_eq!(bearer(b"Basic abc"), Err(Defect::NotBearer));
        assert_eq!(bearer(b"Bearer a.b.c d.e.f"), Err(Defect::SeveralTokens));
        assert_eq!(bearer(b"Bearer a.b.c,d.e.f"), Err(Defect::SeveralTokens));
        assert_eq!(bearer(b"Bearer "), Ok(None));
        assert_eq!(bearer(b"\xff"), Err(Defect::NotBearer));
    }

    #[test]
    fn container_answers_name_service_caller_and_path() {
        let body = container_body("hello", Some("a@p.iam.gserviceaccount.com"), "/x\"y");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"service":"hello","caller":"a@p.iam.gserviceaccount.com","path":"/x\"y"}"#
        );
        assert_eq!(container_body("hello", None, "/").as_slice(), br#"{"service":"hello","caller":null,"path":"/"}"#);
    }

    proptest! {
        #[test]
        fn token_separation_agrees_with_chars(token in "[a-zA-Z0-9._\\-, \t\u{b}\u{c}\u{a0}\u{2003}é]{0,40}") {
            prop_assert_eq!(separates_tokens(&token), token.contains(|c: char| c.is_whitespace() || c == ','));
        }

        #[test]
        fn host_parser_never_panics(raw in ".{0,80}") {
            if let Some(h) = run_app_host(&raw) {
                prop_assert!(h.ends_with(".run.app"));
            }
        }

        #[test]
        fn header_values_never_panic(values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4)) {
            let mut h = HeaderMap::new();
            for v in &values {
                if let Ok(v) = HeaderValue::from_bytes(v) {
                    h.append(AUTHORIZATION, v);
                }
            }
            let _ = credential(&h);
        }
    }
}
