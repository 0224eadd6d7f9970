//! The HTTP layer and the typed clients against a local HTTP server:
//! retries and Retry-After, no retry on client errors, the typed error of a
//! google.rpc.Status body, and the exact requests each client method sends.
//! (Tokens in `--verbose` traces: tests/verbose_redaction.rs, alone in its
//! binary because it installs the process-wide tracing subscriber.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use runiam_core::api::Clients;
use runiam_core::auth::{Secret, TokenSource};
use runiam_core::config::{Config, Env, Flags, GcloudProperties};
use runiam_core::http::{ApiError, Http, HttpOptions};
use runiam_core::model::{Binding, Expr, Policy, ServiceRef};
use serde_json::{Value, json};

/// What the fake server saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    auth: Option<String>,
    body: Value,
}

type Responder = Arc<dyn Fn(usize, &Seen) -> Response + Send + Sync>;

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn fake(responder: Responder) -> Fake {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        let responder = responder.clone();
        async move {
            let s = Seen {
                method: method.to_string(),
                target: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                auth: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            };
            let n = {
                let mut l = log.lock().unwrap();
                l.push(s.clone());
                l.len()
            };
            responder(n, &s)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { url, seen }
}

fn options() -> HttpOptions {
    HttpOptions { base_delay: Duration::from_millis(5), max_attempts: 4, seed: Some(7), ..HttpOptions::default() }
}

fn http_for(fake: &Fake, token: Option<&str>) -> (Config, Arc<Http>) {
    let env = Env::from_pairs([
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", fake.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER", fake.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM", fake.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS", fake.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING", fake.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_NETWORKMANAGEMENT", fake.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDASSET", fake.url.as_str()),
    ]);
    let config = Config::resolve(&Flags::default(), &env, &GcloudProperties::default()).unwrap();
    let source = match token {
        Some(t) => TokenSource::Static(Secret::new(t)),
        None => TokenSource::None,
    };
    let http = Http::new(&config, source, options()).unwrap();
    (config, http)
}

fn status_body(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

fn reply(code: u16, body: Value) -> Response {
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn svc() -> ServiceRef {
    ServiceRef::new("acme-prod", "europe-west1", "hello")
}

#[tokio::test]
async fn retries_transient_errors_then_succeeds() {
    let f = fake(Arc::new(|n, _| {
        if n <= 3 {
            let code = [503, 500, 502][n - 1];
            reply(code, status_body(code, "UNAVAILABLE", "try again"))
        } else {
            reply(200, json!({"name": "projects/acme-prod/locations/europe-west1/services/hello"}))
        }
    }))
    .await;
    let (config, http) = http_for(&f, None);
    let s = Clients::new(&config, http.clone()).run_v2.get_service(&svc()).await.unwrap();
    assert_eq!(s.name, "projects/acme-prod/locations/europe-west1/services/hello");
    assert_eq!(f.seen.lock().unwrap().len(), 4);
    assert_eq!(http.calls(), 4);
}

#[tokio::test]
async fn honours_retry_after() {
    let f = fake(Arc::new(|n, _| {
        if n == 1 {
            let mut r = reply(429, status_body(429, "RESOURCE_EXHAUSTED", "quota"));
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            r
        } else {
            reply(200, json!({"etag": "ACAB"}))
        }
    }))
    .await;
    let (config, http) = http_for(&f, None);
    let started = Instant::now();
    let p = Clients::new(&config, http).run_v2.get_iam_policy(&svc()).await.unwrap();
    assert_eq!(p.etag.as_deref(), Some("ACAB"));
    // The backoff alone would be ~5 ms; only Retry-After explains a full second.
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
}

#[tokio::test]
async fn paces_each_api_and_counts_its_calls_and_429s() {
    let f = fake(Arc::new(|n, s| {
        if n == 1 {
            return reply(429, status_body(429, "RESOURCE_EXHAUSTED", "quota"));
        }
        if s.target.contains("searchAll") { reply(200, json!({})) } else { reply(200, json!({"etag": "ACAB"})) }
    }))
    .await;
    let env = Env::from_pairs([
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", f.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDASSET", f.url.as_str()),
    ]);
    let config = Config::resolve(&Flags::default(), &env, &GcloudProperties::default()).unwrap();
    // 600 a minute: one call every 100 ms for Cloud Asset; Run at its default.
    let rates = [(runiam_core::config::Api::CloudAsset, 600.0)].into_iter().collect();
    let http = Http::new(&config, TokenSource::None, HttpOptions { rates, ..options() }).unwrap();
    let clients = Clients::new(&config, http.clone());
    let started = Instant::now();
    let search = runiam_core::api::asset::Search::default();
    for _ in 0..4 {
        clients.cloud_asset.search_all_resources("organizations/1", &search).await.unwrap().read().unwrap();
    }
    // 5 calls (the first answered 429 and retried): 4 gaps of 100 ms at least.
    assert!(started.elapsed() >= Duration::from_millis(390), "{:?}", started.elapsed());
    clients.run_v2.get_iam_policy(&svc()).await.unwrap();
    let counts: Vec<(String, u64, u64)> =
        http.calls_by_api().iter().map(|(a, c)| (a.host_label().to_owned(), c.calls, c.exhausted)).collect();
    assert_eq!(counts, [("run".to_owned(), 1, 0), ("cloudasset".to_owned(), 5, 1)]);
}

#[tokio::test]
async fn a_search_page_gives_its_token_before_its_results_are_read() {
    let f = fake(Arc::new(|_, s| {
        if s.target.contains("pageToken=t2") {
            reply(200, json!({"results": 5}))
        } else {
            reply(200, json!({"results": [{"name": "//run.googleapis.com/x", "assetType": "run.googleapis.com/Service"}], "nextPageToken": "t2"}))
        }
    }))
    .await;
    let (config, http) = http_for(&f, None);
    let clients = Clients::new(&config, http);
    let search = runiam_core::api::asset::Search::default();
    let first = clients.cloud_asset.search_all_resources("organizations/1", &search).await.unwrap();
    assert_eq!(first.next_page_token.as_deref(), Some("t2"));
    assert_eq!(first.read().unwrap().results[0].name, "//run.googleapis.com/x");
    // A page whose results are not a list is an error when read.
    let search = runiam_core::api::asset::Search { page_token: Some("t2"), ..search };
    let bad = clients.cloud_asset.search_all_resources("organizations/1", &search).await.unwrap();
    let e = bad.read().unwrap_err();
    assert!(matches!(&e, ApiError::Decode { detail, .. } if detail.contains("expected a sequence")), "{e:?}");
}

#[tokio::test]
async fn gives_up_after_the_attempt_budget() {
    let f = fake(Arc::new(|_, _| reply(503, status_body(503, "UNAVAILABLE", "down")))).await;
    let (config, http) = http_for(&f, None);
    let e = Clients::new(&config, http).run_v2.get_service(&svc()).await.unwrap_err();
    assert_eq!(e.status().unwrap().status, "UNAVAILABLE");
    assert_eq!(f.seen.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn never_retries_client_errors() {
    for (code, status) in [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"), (409, "ABORTED")]
    {
        let f = fake(Arc::new(move |_, _| reply(code, status_body(code, status, "no")))).await;
        let (config, http) = http_for(&f, None);
        let e = Clients::new(&config, http).run_v2.get_service(&svc()).await.unwrap_err();
        let s = e.status().unwrap();
        assert_eq!((s.http, s.status.as_str()), (code, status));
        assert_eq!(f.seen.lock().unwrap().len(), 1, "{code} was retried");
        assert_eq!(e.is_not_found(), code == 404);
    }
}

#[tokio::test]
async fn typed_error_from_a_real_status_body() {
    let body = json!({"error": {
        "code": 403,
        "message": "Permission 'run.services.getIamPolicy' denied on resource 'projects/acme-prod/locations/europe-west1/services/hello' (or resource may not exist).",
        "status": "PERMISSION_DENIED",
        "errors": [{"message": "legacy", "domain": "global", "reason": "forbidden"}],
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
             "metadata": {"permission": "run.services.getIamPolicy", "resource": "projects/acme-prod/locations/europe-west1/services/hello"}},
            {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "req-8f3a"}
        ]
    }});
    let f = fake(Arc::new(move |_, _| reply(403, body.clone()))).await;
    let (config, http) = http_for(&f, None);
    let e = Clients::new(&config, http).run_v2.get_iam_policy(&svc()).await.unwrap_err();
    let s = e.status().unwrap().clone();
    assert_eq!(s.status, "PERMISSION_DENIED");
    assert_eq!(s.reason.as_deref(), Some("IAM_PERMISSION_DENIED"));
    assert_eq!(s.domain.as_deref(), Some("iam.googleapis.com"));
    assert_eq!(s.metadata["permission"], "run.services.getIamPolicy");
    assert_eq!(s.request_id.as_deref(), Some("req-8f3a"));
    let err = runiam_core::CommandError::from(e);
    assert_eq!(err.exit, runiam_core::Exit::Api);
    let text = err.render("runiam-export").replace(&f.url, "http://FAKE/");
    assert_eq!(
        text,
        "runiam-export: error: GET http://FAKE/v2/projects/acme-prod/locations/europe-west1/services/hello:getIamPolicy?options.requestedPolicyVersion=3 answered 403 PERMISSION_DENIED: Permission 'run.services.getIamPolicy' denied on resource 'projects/acme-prod/locations/europe-west1/services/hello' (or resource may not exist). (request id req-8f3a)\n\nhint: the credentials in use lack run.services.getIamPolicy; the predefined role roles/run.viewer carries it\n"
    );
}

#[tokio::test]
async fn clients_send_the_discovery_documents_requests() {
    let f = fake(Arc::new(|_, s| {
        let t = s.target.as_str();
        let body = if t.starts_with("/v2/projects/acme-prod/locations/europe-west1/services?") {
            if t.contains("pageToken=p2") {
                json!({"services": [{"name": "projects/acme-prod/locations/europe-west1/services/b"}]})
            } else {
                json!({"services": [{"name": "projects/acme-prod/locations/europe-west1/services/a"}], "nextPageToken": "p2"})
            }
        } else if t.contains(":setIamPolicy") {
            json!({"version": 3, "etag": "BwY2", "bindings": s.body["policy"]["bindings"].clone()})
        } else if t.contains(":testIamPermissions") {
            json!({"permissions": ["run.routes.invoke"]})
        } else if t.starts_with("/v1/projects/acme-prod/locations?") || t == "/v1/projects/acme-prod/locations" {
            json!({"locations": [{"name": "projects/acme-prod/locations/europe-west1", "locationId": "europe-west1"}]})
        } else if t.starts_with("/v1/projects/acme-prod/locations/-/services") {
            if t.contains("continue=c2") {
                json!({"items": [{"metadata": {"name": "b", "labels": {"cloud.googleapis.com/location": "us-central1"}}}], "metadata": {}})
            } else {
                json!({"items": [{"metadata": {"name": "a", "labels": {"cloud.googleapis.com/location": "europe-west1"}}}], "metadata": {"continue": "c2"}, "unreachable": ["asia-east1"]})
            }
        } else if t.starts_with("/v1/projects/acme-prod:getAncestry") {
            json!({"ancestor": [
                {"resourceId": {"type": "project", "id": "acme-prod"}},
                {"resourceId": {"type": "folder", "id": "200000000001"}},
                {"resourceId": {"type": "organization", "id": "123456789012"}}]})
        } else if t.starts_with("/v3/projects/acme-prod") && !t.contains(':') {
            json!({"name": "projects/100000000001", "projectId": "acme-prod", "parent": "folders/200000000001", "state": "ACTIVE"})
        } else if t.starts_with("/v1/roles/run.invoker") {
            json!({"name": "roles/run.invoker", "includedPermissions": ["run.routes.invoke"]})
        } else if t.starts_with("/v1/projects/-/serviceAccounts/sched@acme-prod.iam.gserviceaccount.com") && !t.contains(':') {
            json!({"name": "projects/acme-prod/serviceAccounts/sched@acme-prod.iam.gserviceaccount.com", "email": "sched@acme-prod.iam.gserviceaccount.com", "disabled": true})
        } else {
            json!({"etag": "ACAB"})
        };
        reply(200, body)
    }))
    .await;
    let (config, http) = http_for(&f, None);
    let c = Clients::new(&config, http);

    let names: Vec<String> =
        c.run_v2.list_services("acme-prod", "europe-west1").await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "projects/acme-prod/locations/europe-west1/services/a",
            "projects/acme-prod/locations/europe-west1/services/b"
        ]
    );

    let conditional = Policy {
        version: 1,
        etag: Some("BwY1".into()),
        bindings: vec![Binding {
            role: "roles/run.invoker".into(),
            members: vec!["user:alice@acme.example".into()],
            condition: Some(Expr {
                expression: "request.time < timestamp(\"2027-01-01T00:00:00Z\")".into(),
                ..Expr::default()
            }),
            ..Binding::default()
        }],
        ..Policy::default()
    };
    let written = c.run_v2.set_iam_policy(&svc(), &conditional).await.unwrap();
    assert_eq!(written.etag.as_deref(), Some("BwY2"));
    assert_eq!(
        c.run_v2.test_iam_permissions(&svc(), &["run.routes.invoke", "run.services.get"]).await.unwrap(),
        ["run.routes.invoke"]
    );
    assert_eq!(c.run_v1.list_locations("acme-prod").await.unwrap()[0].location_id, "europe-west1");
    let listing = c.run_v1.list_services_all_regions("acme-prod").await.unwrap();
    assert_eq!(
        listing.services.iter().map(|s| s.region().unwrap()).collect::<Vec<_>>(),
        ["europe-west1", "us-central1"]
    );
    assert_eq!(listing.unreachable, ["asia-east1"]);
    let ancestry = c.resource_manager.get_ancestry("acme-prod").await.unwrap();
    assert_eq!(
        ancestry.iter().map(|a| a.resource()).collect::<Vec<_>>(),
        ["projects/acme-prod", "folders/200000000001", "organizations/123456789012"]
    );
    assert_eq!(c.resource_manager.get_project("acme-prod").await.unwrap().number(), "100000000001");
    c.resource_manager.get_iam_policy("folders/200000000001").await.unwrap();
    assert_eq!(c.iam.get_role("roles/run.invoker").await.unwrap().included_permissions, ["run.routes.invoke"]);
    assert!(c.iam.get_service_account("sched@acme-prod.iam.gserviceaccount.com").await.unwrap().disabled);
    c.iam.get_service_account_iam_policy("sched@acme-prod.iam.gserviceaccount.com").await.unwrap();

    let seen = f.seen.lock().unwrap().clone();
    let lines: Vec<String> = seen.iter().map(|s| format!("{} {}", s.method, s.target)).collect();
    assert_eq!(
        lines,
        [
            "GET /v2/projects/acme-prod/locations/europe-west1/services?pageSize=500",
            "GET /v2/projects/acme-prod/locations/europe-west1/services?pageSize=500&pageToken=p2",
            "POST /v2/projects/acme-prod/locations/europe-west1/services/hello:setIamPolicy",
            "POST /v2/projects/acme-prod/locations/europe-west1/services/hello:testIamPermissions",
            "GET /v1/projects/acme-prod/locations",
            "GET /v1/projects/acme-prod/locations/-/services?limit=500",
            "GET /v1/projects/acme-prod/locations/-/services?limit=500&continue=c2",
            "POST /v1/projects/acme-prod:getAncestry",
            "GET /v3/projects/acme-prod",
            "POST /v3/folders/200000000001:getIamPolicy",
            "GET /v1/roles/run.invoker",
            "GET /v1/projects/-/serviceAccounts/sched@acme-prod.iam.gserviceaccount.com",
            "POST /v1/projects/-/serviceAccounts/sched@acme-prod.iam.gserviceaccount.com:getIamPolicy?options.requestedPolicyVersion=3",
        ]
    );
    // A conditional policy is written at version 3 with its etag untouched.
    assert_eq!(seen[2].body["policy"]["version"], 3);
    assert_eq!(seen[2].body["policy"]["etag"], "BwY1");
    assert_eq!(seen[9].body, json!({"options": {"requestedPolicyVersion": 3}}));
    assert_eq!(seen[3].body, json!({"permissions": ["run.routes.invoke", "run.services.get"]}));
}

#[tokio::test]
async fn impersonation_mints_a_token_through_iam_credentials() {
    let f = fake(Arc::new(|_, s| {
        if s.target.contains(":generateAccessToken") {
            reply(200, json!({"accessToken": "ya29.impersonated", "expireTime": "2099-11-28T12:00:00Z"}))
        } else {
            reply(200, json!({"etag": "ACAB"}))
        }
    }))
    .await;
    let env = Env::from_pairs([
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", f.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS", f.url.as_str()),
        ("CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "deployer@acme-prod.iam.gserviceaccount.com"),
    ]);
    let config = Config::resolve(&Flags::default(), &env, &GcloudProperties::default()).unwrap();
    let http = Http::new(&config, TokenSource::Static(Secret::new("ya29.base")), options()).unwrap();
    let c = Clients::new(&config, http);
    c.run_v2.get_iam_policy(&svc()).await.unwrap();
    c.run_v2.get_iam_policy(&svc()).await.unwrap();
    let seen = f.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "the impersonated token is cached: {seen:?}");
    assert_eq!(
        seen[0].target,
        "/v1/projects/-/serviceAccounts/deployer@acme-prod.iam.gserviceaccount.com:generateAccessToken"
    );
    assert_eq!(seen[0].auth.as_deref(), Some("Bearer ya29.base"));
    assert_eq!(seen[0].body["scope"], json!(["https://www.googleapis.com/auth/cloud-platform"]));
    assert_eq!(seen[1].auth.as_deref(), Some("Bearer ya29.impersonated"));
    assert_eq!(seen[2].auth.as_deref(), Some("Bearer ya29.impersonated"));
}

#[tokio::test]
async fn unreachable_endpoints_are_transport_errors() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = Env::from_pairs(
        [("RUNIAM_EMULATOR_HOST", format!("127.0.0.1:{port}")).clone()].iter().map(|(k, v)| (*k, v.as_str())),
    );
    let config = Config::resolve(&Flags::default(), &env, &GcloudProperties::default()).unwrap();
    let http = Http::new(&config, TokenSource::None, options()).unwrap();
    let e = Clients::new(&config, http).run_v2.get_service(&svc()).await.unwrap_err();
    assert!(matches!(e, ApiError::Transport { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot reach run.googleapis.com at http://127.0.0.1:{port}/v2/projects/acme-prod/locations/europe-west1/services/hello"
        )
    );
}

/// Cloud Tasks (v2) and Workflows (v1) are listed in every location their
/// own `locations.list` answers, through their endpoint overrides; a
/// location that fails is named with its error, never read as empty.
#[tokio::test]
async fn queues_and_workflows_are_listed_in_every_location() {
    let f = fake(Arc::new(|_, s| {
        let t = s.target.as_str();
        if t.starts_with("/v2/projects/acme-prod/locations?") || t.starts_with("/v1/projects/acme-prod/locations?") {
            reply(200, json!({"locations": [{"locationId": "europe-west1"}, {"locationId": "us-east1"}]}))
        } else if t.starts_with("/v2/projects/acme-prod/locations/europe-west1/queues?") {
            reply(200, json!({"queues": [{"name": "projects/acme-prod/locations/europe-west1/queues/q", "state": "RUNNING",
                "httpTarget": {"uriOverride": {"host": "api.run.app", "port": "443"}, "oidcToken": {"serviceAccountEmail": "t@p"}}}]}))
        } else if t.starts_with("/v2/projects/acme-prod/locations/us-east1/queues?") {
            reply(403, json!({"error": {"code": 403, "message": "Permission 'cloudtasks.queues.list' denied", "status": "PERMISSION_DENIED"}}))
        } else if t.starts_with("/v1/projects/acme-prod/locations/us-east1/workflows?") {
            reply(200, json!({"workflows": [{"name": "projects/acme-prod/locations/us-east1/workflows/w", "sourceContents": "main: {}"}]}))
        } else {
            reply(200, json!({}))
        }
    }))
    .await;
    let env = Env::from_pairs([
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS", f.url.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_WORKFLOWS", f.url.as_str()),
    ]);
    let config = Config::resolve(&Flags::default(), &env, &GcloudProperties::default()).unwrap();
    let c = Clients::new(&config, Http::new(&config, TokenSource::None, options()).unwrap());

    let queues = c.callers.queues_everywhere("acme-prod").await;
    assert_eq!(queues.locations, 1);
    assert_eq!(queues.items.len(), 1);
    assert_eq!(queues.items[0].target_url().as_deref(), Some("https://api.run.app"));
    assert_eq!(queues.failed.len(), 1);
    assert_eq!(queues.failed[0].0, "projects/acme-prod/locations/us-east1");
    assert_eq!(queues.failed[0].1.status().unwrap().http, 403);

    let workflows = c.callers.workflows_everywhere("acme-prod").await;
    assert_eq!((workflows.locations, workflows.failed.len()), (2, 0));
    assert_eq!(workflows.items[0].source_contents, "main: {}");

    let lines: Vec<String> = f.seen.lock().unwrap().iter().map(|s| format!("{} {}", s.method, s.target)).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "GET /v1/projects/acme-prod/locations/europe-west1/workflows?pageSize=1000",
            "GET /v1/projects/acme-prod/locations/us-east1/workflows?pageSize=1000",
            "GET /v1/projects/acme-prod/locations?pageSize=1000",
            "GET /v2/projects/acme-prod/locations/europe-west1/queues?pageSize=1000",
            "GET /v2/projects/acme-prod/locations/us-east1/queues?pageSize=1000",
            "GET /v2/projects/acme-prod/locations?pageSize=1000",
        ]
    );
}

#[tokio::test]
async fn monitoring_alert_policies_follow_the_discovery_document() {
    let f = fake(Arc::new(|_, s| {
        let t = s.target.as_str();
        let body = if t.starts_with("/v3/projects/acme-prod/alertPolicies?") && t.contains("pageToken=n2") {
            json!({"alertPolicies": [{"name": "projects/acme-prod/alertPolicies/2", "displayName": "b"}]})
        } else if t.starts_with("/v3/projects/acme-prod/alertPolicies?") {
            json!({"alertPolicies": [{"name": "projects/acme-prod/alertPolicies/1", "displayName": "a",
                "userLabels": {"runiam": "verify"}, "combiner": "OR"}], "nextPageToken": "n2"})
        } else if s.method == "POST" {
            let mut made = s.body.clone();
            made["name"] = json!("projects/acme-prod/alertPolicies/3");
            made
        } else {
            json!({})
        };
        reply(200, body)
    }))
    .await;
    let (config, http) = http_for(&f, None);
    let m = Clients::new(&config, http).monitoring;
    let all = m.list_alert_policies("acme-prod").await.unwrap();
    assert_eq!(all.iter().map(|p| p.display_name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(all[0].user_labels["runiam"], "verify");
    assert_eq!(all[0].extra["combiner"], "OR");
    let wanted = runiam_core::api::monitoring::AlertPolicy { display_name: "c".into(), ..Default::default() };
    assert_eq!(m.create_alert_policy("acme-prod", &wanted).await.unwrap().name, "projects/acme-prod/alertPolicies/3");
    m.get_alert_policy("projects/acme-prod/alertPolicies/3").await.unwrap();
    m.delete_alert_policy("projects/acme-prod/alertPolicies/3").await.unwrap();
    let seen = f.seen.lock().unwrap().clone();
    let lines: Vec<String> = seen.iter().map(|s| format!("{} {}", s.method, s.target)).collect();
    assert_eq!(
        lines,
        [
            "GET /v3/projects/acme-prod/alertPolicies?pageSize=1000",
            "GET /v3/projects/acme-prod/alertPolicies?pageSize=1000&pageToken=n2",
            "POST /v3/projects/acme-prod/alertPolicies",
            "GET /v3/projects/acme-prod/alertPolicies/3",
            "DELETE /v3/projects/acme-prod/alertPolicies/3",
        ]
    );
    // The name is Monitoring's to give: a create sends none.
    assert_eq!(seen[2].body, json!({"displayName": "c"}));
}

/// Network Management v1: create answers an operation, which is polled
/// until done; the test is read and deleted, at the discovery document's
/// paths (`v1/{+parent}/connectivityTests?testId=`, `v1/{+name}`).
#[tokio::test]
async fn connectivity_tests_follow_the_discovery_document() {
    const OP: &str = "projects/acme-prod/locations/global/operations/op-1";
    const TEST: &str = "projects/acme-prod/locations/global/connectivityTests/t1";
    let f = fake(Arc::new(|n, s| {
        let body = match (s.method.as_str(), n) {
            ("POST", _) | ("DELETE", _) => json!({"name": OP, "done": false}),
            // The first poll finds it still running, the second done.
            ("GET", 2) => json!({"name": OP, "done": false}),
            ("GET", 3) => json!({"name": OP, "done": true, "response": {"name": TEST,
                "reachabilityDetails": {"result": "REACHABLE", "traces": [{"steps": [{"state": "SERVERLESS_EXTERNAL_CONNECTION"}]}]}}}),
            _ => json!({"name": TEST}),
        };
        reply(200, body)
    }))
    .await;
    let (config, http) = http_for(&f, None);
    let nm = Clients::new(&config, http).network_management;
    let test =
        runiam_core::api::network_management::ConnectivityTest { protocol: Some("TCP".into()), ..Default::default() };
    let op = nm.create_test("acme-prod", "t1", &test).await.unwrap();
    let mut ticks = 0;
    let done = nm.wait(op, Duration::from_secs(30), |_| ticks += 1).await.unwrap();
    assert!(done.done && ticks == 2, "{done:?} after {ticks} polls");
    let made = runiam_core::api::network_management::parse_test(done.response.as_ref().unwrap()).unwrap();
    assert_eq!(made.reachability_details.unwrap().result.as_deref(), Some("REACHABLE"));
    assert_eq!(nm.get_test(TEST).await.unwrap().name, TEST);
    nm.delete_test(TEST).await.unwrap();
    let lines: Vec<String> = f.seen.lock().unwrap().iter().map(|s| format!("{} {}", s.method, s.target)).collect();
    assert_eq!(
        lines,
        [
            "POST /v1/projects/acme-prod/locations/global/connectivityTests?testId=t1",
            "GET /v1/projects/acme-prod/locations/global/operations/op-1",
            "GET /v1/projects/acme-prod/locations/global/operations/op-1",
            "GET /v1/projects/acme-prod/locations/global/connectivityTests/t1",
            "DELETE /v1/projects/acme-prod/locations/global/connectivityTests/t1",
        ]
    );
    assert_eq!(f.seen.lock().unwrap()[0].body, json!({"source": {}, "destination": {}, "protocol": "TCP"}));
}
