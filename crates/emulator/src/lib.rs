//! runiam-emulator: a local stand-in for the Google APIs runiam calls
//! (docs/emulator.md), served over plain HTTP on loopback.
//!
//! - `world`: the world file (docs/emulator.md), checked and completed at load;
//! - `client`: a client of the knobs and of what tests read and write behind
//!   a command's back (minted tokens, policies, faults, reset);
//! - `state`: policies, etags and the write counter behind one mutex;
//! - `control`: the REST control plane (Run v2 and v1, Resource Manager
//!   v3 and v1, IAM v1), dispatched by path;
//! - `errors`: google.rpc.Status envelopes; `faults`: latency, seeded
//!   failures, the concurrent writer and commit-then-fail;
//! - `authz`: the operator's permissions, checked through runiam-core's
//!   evaluator; `control::logging`: the log store's `entries.list` and its filters;
//! - `tokens`: the ID-token issuer (JWKS at `/oauth2/v3/certs`), IAM
//!   Credentials and the metadata server (`/computeMetadata/v1/...`);
//! - `frontend`: the Cloud Run front end, for every Host ending in `.run.app`;
//!   `container`: the stub container's streaming paths behind it.
//!
//! Test knobs Google does not have live under `/emulator/`:
//!
//! - `GET /emulator/v1/faults` shows the fault settings;
//!   `POST /emulator/v1/faults` with `{"latencyMs", "failRate",
//!   "failCodes", "raceRate", "commitThenFail", "propagationDelayMs",
//!   "idTokenSeconds"}` changes the fields given (the flags of the same
//!   names set them at start); `propagationDelayMs` makes IAM and
//!   invoker-check changes reach the front end that late, while the control
//!   plane shows them at once; `idTokenSeconds` shortens minted ID tokens;
//! - `POST /emulator/v1/idTokens` with `{"email", "audience", "issuer",
//!   "expiresInSeconds"}` mints any ID token the emulator signs, expired or
//!   from another issuer included;
//! - the request header `X-Emulator-Caller: //run.googleapis.com/projects/P/...`
//!   names who sends a front-end request (a service, VM or product of the
//!   world), whose settings give its origin for ingress (`network`);
//!   `X-Emulator-Origin: load-balancer|internal|external` stands for a
//!   caller the world cannot hold; neither is the internet;
//! - `POST /emulator/v1/reset` puts policies, etags, the write counter and
//!   the log store back as the world file declares them;
//! - `GET /emulator/v1/checks` lists the API requests served and the
//!   permissions each checked (`checks`).
//!
//! Knobs are never subject to latency or injected failures.
//!
//! The binary prints its base URL as its only stdout line and logs each
//! request to stderr. Tests and `runiam demo` embed it through [`start`].

pub mod access_policy;
pub mod acm;
pub mod authz;
pub mod checks;
pub mod client;
pub mod container;
pub mod control;
pub mod errors;
pub mod estate;
pub mod faults;
pub mod frontend;
pub mod logstore;
pub mod metrics;
pub mod network;
pub mod quota;
pub mod state;
pub mod tokens;
pub mod vpc;
pub mod world;

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use clap::Parser;
use runiam_core::{CommandError, Exit};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use control::{ApiRequest, Reply, dispatch};
pub use state::State;
pub use world::{World, load_world};

use crate::errors::ApiError;
use crate::faults::{FAULT_CODES, FaultSettings, Faults, RETRY_AFTER_SECONDS};

const PROGRAM: &str = "runiam-emulator";

/// The largest request body accepted (policies are far smaller).
const MAX_BODY: usize = 4 << 20;

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # The example estate on the default port; prints its URL
  runiam-emulator --world examples/acme-world.yaml

  # Point runiam at it, with 50 ms of latency on every API answer
  runiam-emulator --world examples/acme-world.yaml --latency 50ms &
  export RUNIAM_EMULATOR_HOST=127.0.0.1:8785";

/// Serve a local stand-in for the Google APIs runiam calls.
///
/// Prints exactly one line on stdout, the base URL (http://127.0.0.1:PORT),
/// logs requests to stderr, and serves until SIGINT or SIGTERM. Point
/// clients at it with RUNIAM_EMULATOR_HOST=127.0.0.1:PORT, or Google's
/// Python clients with client_options={"api_endpoint": URL}.
#[derive(Parser, Debug, Clone)]
#[command(name = "runiam-emulator", version, after_long_help = EXAMPLES)]
pub struct EmulatorArgs {
    /// The world file (YAML): organization, folders, projects, services, policies.
    #[arg(long, value_name = "FILE")]
    pub world: PathBuf,
    /// Address to listen on; port 0 picks a free port (the printed URL shows it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8785")]
    pub listen: SocketAddr,
    /// Seed of every random choice (fault injection), for reproducible runs.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// How long every control-plane answer takes, e.g. 50ms or 1s: each leaves no sooner than this after its request.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0ms")]
    pub latency: Duration,
    /// Share of control-plane requests answered with one of --fail-codes (0 to 1).
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// HTTP codes injected failures answer with: 409, 429, 500, 502, 503, 504.
    #[arg(long, value_name = "CODES", value_delimiter = ',', value_parser = parse_fault_code, default_value = "503")]
    pub fail_codes: Vec<u16>,
    /// Chance (0 to 1) that a concurrent writer adds a binding to a service's
    /// policy right after a getIamPolicy, so the client's etag goes stale.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value_t = 0.0)]
    pub race_rate: f64,
    /// Chance (0 to 1) that a setIamPolicy commits and then answers 503.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value_t = 0.0)]
    pub commit_then_fail: f64,
    /// How late IAM and invoker-check changes reach the Cloud Run front end, e.g. 7s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0")]
    pub propagation_delay: Duration,
}

/// runiam-core's one duration syntax (`50ms`, `2s`, `7m`, `0`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    runiam_core::duration::parse(s).map_err(|e| e.to_string())
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{s}' is not a rate between 0 and 1")),
    }
}

fn parse_fault_code(s: &str) -> Result<u16, String> {
    let known = FAULT_CODES.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>().join(", ");
    match s.trim().parse::<u16>() {
        Ok(c) if faults::code_for(c).is_some() => Ok(c),
        _ => Err(format!("'{s}' is not one of {known}")),
    }
}

/// The emulator's clap definition (help, man page, completions).
pub fn command() -> clap::Command {
    <EmulatorArgs as clap::CommandFactory>::command()
}

/// Fault injection and determinism settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub seed: u64,
    /// How long every control-plane answer takes (it leaves no sooner than this after its request).
    pub latency: Duration,
    /// Share of requests (0 to 1) answered with one of `fail_codes`.
    pub fail_rate: f64,
    pub fail_codes: Vec<u16>,
    /// Chance that a concurrent writer strikes after a service getIamPolicy.
    pub race_rate: f64,
    /// Chance that a setIamPolicy commits and then answers 503.
    pub commit_then_fail: f64,
    /// How late IAM and invoker-check changes reach the front end.
    pub propagation_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 0,
            latency: Duration::ZERO,
            fail_rate: 0.0,
            fail_codes: vec![503],
            race_rate: 0.0,
            commit_then_fail: 0.0,
            propagation_delay: Duration::ZERO,
        }
    }
}

impl Options {
    fn fault_settings(&self) -> FaultSettings {
        FaultSettings {
            latency_ms: u64::try_from(self.latency.as_millis()).unwrap_or(u64::MAX),
            fail_rate: self.fail_rate,
            fail_codes: self.fail_codes.clone(),
            race_rate: self.race_rate,
            commit_then_fail: self.commit_then_fail,
            propagation_delay_ms: u64::try_from(self.propagation_delay.as_millis()).unwrap_or(u64::MAX),
            ..FaultSettings::default()
        }
    }
}

/// A running emulator. Dropping it stops the server; [`Emulator::shutdown`]
/// also waits for it to finish.
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// `http://ADDR:PORT`, the base URL clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state, for tests that look behind the API.
    pub fn state(&self) -> Arc<Mutex<State>> {
        Arc::clone(&self.state)
    }

    /// Stops accepting, lets requests in flight finish, and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct App {
    state: Arc<Mutex<State>>,
    issuer: tokens::Issuer,
    frontend: frontend::Frontend,
}

/// An answer that is not a JSON API reply: front-end pages, metadata text.
pub(crate) struct Raw {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// Binds `listen` and serves `world` on the current Tokio runtime.
pub async fn start(world: World, options: Options, listen: SocketAddr) -> std::io::Result<Emulator> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let issuer = tokens::Issuer::new(options.seed).map_err(std::io::Error::other)?;
    let frontend = frontend::Frontend::new(&world, options.seed);
    let mut initial = State::new(world);
    initial.faults = Faults::new(options.seed, options.fault_settings());
    // Before listening, so no search page waits for its services' rendering.
    control::asset::prerender(&mut initial);
    let state = Arc::new(Mutex::new(initial));
    let app = Arc::new(App { state: Arc::clone(&state), issuer, frontend });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(accept(listener, app, stopped));
    Ok(Emulator { addr, state, stop: Some(stop), task: Some(task) })
}

/// Serves each connection as HTTP/1.1 (every Google client here speaks it
/// over REST) straight to [`handle`]: no router, no protocol sniffing, as
/// the front end's hot path pays for every layer. On `stopped`, stops
/// accepting and lets the connections finish what they are answering.
async fn accept(listener: tokio::net::TcpListener, app: Arc<App>, mut stopped: oneshot::Receiver<()>) {
    // hyper-util's GracefulShutdown cannot watch an upgradeable connection:
    // a watch channel tells each one to finish, and the set waits for them.
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::error!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        while connections.try_join_next().is_some() {}
        // Answers are written whole; Nagle would only hold them back.
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let app = Arc::clone(&app);
            async move { Ok::<_, std::convert::Infallible>(handle(&app, req.map(Body::new), remote).await) }
        });
        // Upgrades: the stub container's WebSocket path.
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .with_upgrades();
        let mut closed = closed.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let done = tokio::select! {
                done = connection.as_mut() => done,
                () = async { drop(closed.wait_for(|c| *c).await) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = done {
                tracing::debug!("connection from {remote}: {e}");
            }
        });
    }
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

async fn handle(app: &App, req: Request<Body>, remote: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let (mut parts, body) = req.into_parts();
    // gcloud's proxy mode sends absolute-form targets; their authority is the Host.
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or_default();
    let front = frontend::run_app_host(host).is_some();
    if let Some(raw) = serve_raw(app, &parts, host, remote) {
        // A request the front end let through may be for a streaming path.
        if front
            && raw.status == 200
            && let Some(streamed) = container::serve(&mut parts, body)
        {
            return streamed;
        }
        return raw_response(raw);
    }
    let host = host.to_owned();
    let request = ApiRequest {
        method: parts.method.as_str().to_owned(),
        host,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        body: Vec::new(),
        user_agent: parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    let reply = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(_) => {
            Reply::error(&ApiError::invalid(format!("The request body is larger than {MAX_BODY} bytes or unreadable.")))
        }
        Ok(bytes) => {
            let knob = request.path.starts_with("/emulator/");
            // The latency is how long an answer takes: it leaves no sooner
            // than that after its request came in, whatever the emulator
            // spent on it (as the benchmarks' lower bounds assume).
            let answer_at = answer_at(started, lock(&app.state).faults.latency());
            let fault = if knob { None } else { lock(&app.state).faults.roll() };
            let reply = match fault {
                Some(fault) => {
                    let mut r = Reply::error(&fault);
                    if matches!(r.status, 429 | 503) {
                        r.headers.push(("retry-after", RETRY_AFTER_SECONDS.to_string()));
                    }
                    r
                }
                None => {
                    let full = ApiRequest { body: bytes.to_vec(), ..request.clone() };
                    tokens::knob(&app.state, &app.issuer, &full)
                        .or_else(|| tokens::iam_credentials(&app.state, &app.issuer, &full))
                        .unwrap_or_else(|| dispatch(&app.state, &full))
                }
            };
            if !knob {
                tokio::time::sleep_until(answer_at).await;
            }
            reply
        }
    };
    tracing::info!(
        method = %request.method,
        host = %request.host,
        path = %request.path,
        status = reply.status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    // Google's system parameter: indented JSON unless `prettyPrint=false`.
    let pretty = !url::form_urlencoded::parse(request.query.as_bytes())
        .any(|(k, v)| k == "prettyPrint" && v.eq_ignore_ascii_case("false"));
    to_response(reply, pretty)
}

/// When an answer may leave: `latency` after its request came in, at most
/// a day (a `latencyMs` knob near `u64::MAX` would overflow the clock).
fn answer_at(started: Instant, latency: Duration) -> tokio::time::Instant {
    tokio::time::Instant::from_std(started) + latency.min(Duration::from_secs(86_400))
}

/// The front end, the metadata server and the JWKS: answered before the
/// body is read and never subject to injected faults.
fn serve_raw(app: &App, parts: &axum::http::request::Parts, host: &str, remote: SocketAddr) -> Option<Raw> {
    let path = parts.uri.path();
    if let Some(run_host) = frontend::run_app_host(host) {
        let incoming = frontend::Incoming {
            method: parts.method.as_str(),
            host: &run_host,
            path,
            query: parts.uri.query(),
            headers: &parts.headers,
            remote: Some(remote),
            // The server speaks HTTP/1 only.
            protocol: if parts.version == axum::http::Version::HTTP_10 { "HTTP/1.0" } else { "HTTP/1.1" },
        };
        let raw = app.frontend.serve(&app.state, &app.issuer, &incoming);
        // Debug only: the request log already records it, and this is the hot path.
        tracing::debug!(method = %parts.method, host = %run_host, path, status = raw.status, "front end");
        return Some(raw);
    }
    if path == tokens::JWKS_PATH && parts.method == axum::http::Method::GET {
        let body = app.issuer.jwks().to_string().into_bytes();
        return Some(Raw { status: 200, content_type: "application/json; charset=UTF-8", body, headers: Vec::new() });
    }
    let flavor = parts.headers.get("metadata-flavor").and_then(|v| v.to_str().ok());
    tokens::metadata(&app.state, &app.issuer, path, parts.uri.query().unwrap_or_default(), flavor)
}

fn raw_response(raw: Raw) -> Response<Body> {
    let mut response = Response::new(Body::from(raw.body));
    *response.status_mut() = StatusCode::from_u16(raw.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(raw.content_type));
    for (name, value) in raw.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn to_response(reply: Reply, pretty: bool) -> Response<Body> {
    let body = match reply.written {
        Some(mut json) if !pretty => {
            json.push(b'\n');
            json
        }
        // Indented, a written body is the same tree as any other.
        Some(json) => tree_bytes(&serde_json::from_slice(&json).unwrap_or_default(), pretty),
        None => tree_bytes(&reply.body, pretty),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

/// A tree as the body of an answer, indented or not, and a newline.
fn tree_bytes(tree: &serde_json::Value, pretty: bool) -> Vec<u8> {
    // Room for a large answer at once: growing a buffer to megabytes by
    // doubling costs more in the allocator than the writing.
    let mut body = Vec::with_capacity(1 << 20);
    let written =
        if pretty { serde_json::to_writer_pretty(&mut body, tree) } else { serde_json::to_writer(&mut body, tree) };
    if written.is_err() {
        body.clear();
    }
    body.push(b'\n');
    body
}

/// The binary's body: parse `args`, load the world, serve until a signal.
pub fn run(args: Vec<OsString>) -> Exit {
    let args = match EmulatorArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage } else { Exit::Ok };
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNIAM_EMULATOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => return CommandError::new(Exit::Api, e).context("cannot start the async runtime").report(PROGRAM),
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => Exit::Ok,
        Err(e) => e.report(PROGRAM),
    }
}

async fn serve(args: EmulatorArgs) -> Result<(), CommandError> {
    let world = load_world(&args.world)?;
    let options = Options {
        seed: args.seed,
        latency: args.latency,
        fail_rate: args.fail_rate,
        fail_codes: args.fail_codes,
        race_rate: args.race_rate,
        commit_then_fail: args.commit_then_fail,
        propagation_delay: args.propagation_delay,
    };
    let emulator = start(world, options, args.listen)
        .await
        .map_err(|e| CommandError::new(Exit::Api, e).context(format!("cannot listen on {}", args.listen)))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", emulator.url())?;
    stdout.flush()?;
    drop(stdout);
    tracing::info!("serving {} from {}", emulator.url(), args.world.display());
    wait_for_signal().await?;
    tracing::info!("stopping");
    emulator.shutdown().await;
    Ok(())
}

/// SIGINT or SIGTERM.
async fn wait_for_signal() -> Result<(), CommandError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CommandError::new(Exit::Api, e).context("cannot watch SIGTERM"))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| CommandError::new(Exit::Api, e).context("cannot watch SIGINT")),
        _ = term.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        command().debug_assert();
        let a = EmulatorArgs::try_parse_from([
            "e",
            "--world",
            "w.yaml",
            "--latency",
            "50ms",
            "--fail-rate",
            "0.2",
            "--fail-codes",
            "503,429",
        ])
        .unwrap();
        assert_eq!((a.latency, a.fail_rate, a.fail_codes), (Duration::from_millis(50), 0.2, vec![503, 429]));
        assert!(EmulatorArgs::try_parse_from(["e", "--world", "w", "--fail-codes", "404"]).is_err());
        assert!(EmulatorArgs::try_parse_from(["e", "--world", "w", "--fail-rate", "2"]).is_err());
        assert!(EmulatorArgs::try_parse_from(["e", "--world", "w", "--latency", "5x"]).is_err());
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
    }

    fn example() -> World {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme-world.yaml");
        load_world(&path).unwrap()
    }

    /// One raw HTTP/1.1 exchange, so the exact request target is ours.
    async fn raw(addr: SocketAddr, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn absolute_form_targets_take_the_region_from_their_authority() {
        let emu = start(example(), Options::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        assert!(emu.url().starts_with("http://127.0.0.1:") && !emu.url().ends_with(":0"));
        let list = "/apis/serving.knative.dev/v1/namespaces/acme-prod/services";
        let regional = raw(
            emu.addr(),
            &format!("GET http://us-central1-runiam-emulator{list} HTTP/1.1\r\nHost: runiam-emulator\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(regional.starts_with("HTTP/1.1 200"), "{regional}");
        assert!(regional.contains("\"checkout\"") && !regional.contains("\"orders\""), "{regional}");
        let global =
            raw(emu.addr(), &format!("GET {list} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")).await;
        assert!(global.contains("\"checkout\"") && global.contains("\"orders\""));
        let state = emu.state();
        emu.shutdown().await;
        assert_eq!(state.lock().unwrap().writes(), 0);
    }

    #[tokio::test]
    async fn faults_answer_with_retry_after_and_latency() {
        let options = Options {
            seed: 3,
            latency: Duration::from_millis(30),
            fail_rate: 1.0,
            fail_codes: vec![429],
            ..Options::default()
        };
        let emu = start(example(), options, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let started = Instant::now();
        let got = raw(emu.addr(), "GET /v3/projects/acme-prod HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(got.starts_with("HTTP/1.1 429"), "{got}");
        assert!(got.to_ascii_lowercase().contains("retry-after: 1"), "{got}");
        assert!(got.contains("RESOURCE_EXHAUSTED"));
        drop(emu);
    }

    #[test]
    fn any_latency_the_knob_takes_has_an_answer_time() {
        let now = Instant::now();
        assert_eq!(answer_at(now, Duration::from_millis(u64::MAX)), answer_at(now, Duration::from_secs(86_400)));
        assert_eq!(
            answer_at(now, Duration::from_millis(50)),
            tokio::time::Instant::from_std(now + Duration::from_millis(50))
        );
    }

    #[tokio::test]
    async fn latency_counts_from_the_request_not_from_the_emulators_work() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let options = Options { latency: Duration::from_millis(600), ..Options::default() };
        let emu = start(example(), options, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
        let started = Instant::now();
        let body = r#"{"policy": {"bindings": []}}"#;
        let head = format!(
            "POST /v2/projects/acme-prod/locations/europe-west1/services/hello:getIamPolicy HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // The request is in; its body is half the latency late.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut got = String::new();
        stream.read_to_string(&mut got).await.unwrap();
        let took = started.elapsed();
        assert!(got.starts_with("HTTP/1.1 "), "{got}");
        // Counted from the request: 600 ms, not 300 ms of body and 600 more.
        assert!(took >= Duration::from_millis(600) && took < Duration::from_millis(850), "{took:?}");
        drop(emu);
    }

    #[tokio::test]
    async fn answers_are_indented_unless_pretty_print_is_false() {
        let emu = start(example(), Options::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let ask =
            |query: &str| format!("GET /v3/projects/acme-prod{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let indented = raw(emu.addr(), &ask("")).await;
        assert!(indented.contains("{\n  \""), "{indented}");
        let compact = raw(emu.addr(), &ask("?prettyPrint=false")).await;
        assert!(compact.contains("\r\n\r\n{\"") && !compact.contains("{\n"), "{compact}");
        // A search page is written compact; indented, it is the same tree.
        let search = |pretty: &str| {
            format!(
                "GET /v1/organizations/123456789012:searchAllResources?readMask=*{pretty} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
        };
        let body = |answer: String| answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap();
        let indented = body(raw(emu.addr(), &search("")).await);
        let compact = body(raw(emu.addr(), &search("&prettyPrint=false")).await);
        let tree: serde_json::Value = serde_json::from_str(&compact).unwrap();
        assert!(tree["results"][5]["versionedResources"][1]["version"] == "v2", "{compact}");
        assert_eq!(indented, format!("{}\n", serde_json::to_string_pretty(&tree).unwrap()));
        drop(emu);
    }

    #[test]
    fn bad_world_is_exit_2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.yaml");
        std::fs::write(&path, "projects:\n  - id: acme-one\n    services: [{name: hello}]\n").unwrap();
        let e = load_world(&path).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.to_string().ends_with("projects[0].services[0].region: missing field `region`"), "{e}");
        let code = run(vec!["runiam-emulator".into(), "--world".into(), path.into_os_string()]);
        assert_eq!(code, Exit::Usage);
    }
}
