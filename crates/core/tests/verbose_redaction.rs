//! Tokens never reach `--verbose` traces or errors, even when a hostile
//! server echoes them back. Alone in its test binary: it installs the
//! process-wide tracing subscriber, as the binaries do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use runiam_core::api::Clients;
use runiam_core::auth::{Secret, TokenSource};
use runiam_core::config::{Config, Env, Flags, GcloudProperties};
use runiam_core::http::{Http, HttpOptions};
use runiam_core::model::ServiceRef;
use serde_json::json;

/// A writer for the tracing subscriber that keeps what was traced.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_never_reach_verbose_output_or_errors() {
    // Shaped like an access token (so `redact` must catch it), but short and fake.
    const TOKEN: &str = "ya29.SECRET-fake";
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn,runiam=debug"))
        .with_ansi(false)
        .init();

    // A hostile server that echoes the credential back in its error.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let log = log.clone();
        async move {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let n = {
                let mut l = log.lock().unwrap();
                l.push(auth.clone());
                l.len()
            };
            let (code, status, msg) = if n == 1 {
                (503, "UNAVAILABLE", format!("busy for {auth}"))
            } else {
                (401, "UNAUTHENTICATED", format!("bad credential {auth}"))
            };
            let body = json!({"error": {"code": code, "message": msg, "status": status}});
            (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let env = Env::from_pairs([("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", url.as_str())]);
    let config = Config::resolve(&Flags::default(), &env, &GcloudProperties::default()).unwrap();
    let options =
        HttpOptions { base_delay: Duration::from_millis(5), max_attempts: 4, seed: Some(7), ..HttpOptions::default() };
    let http = Http::new(&config, TokenSource::Static(Secret::new(TOKEN)), options).unwrap();
    let svc = ServiceRef::new("acme-prod", "europe-west1", "hello");
    let e = Clients::new(&config, http).run_v2.get_service(&svc).await.unwrap_err();
    let rendered = runiam_core::CommandError::from(e).render("runiam-export");
    let traced = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();

    // The token was really sent, so its absence below means something.
    assert_eq!(seen.lock().unwrap()[0], format!("Bearer {TOKEN}"));
    assert!(traced.contains("status=503") && traced.contains("status=401"), "{traced}");
    assert!(traced.contains("/v2/projects/acme-prod/locations/europe-west1/services/hello"), "{traced}");
    assert!(!traced.contains("SECRET"), "token in trace:\n{traced}");
    assert!(!rendered.contains("SECRET"), "token in error:\n{rendered}");
    assert!(rendered.contains("bad credential Bearer [REDACTED]"), "{rendered}");
}
