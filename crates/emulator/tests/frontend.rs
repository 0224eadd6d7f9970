//! The Cloud Run front end, in process, on tests/data/frontend-world.yaml:
//! one case per rule of Cloud Run's front end (docs/emulator.md), each asserting the status,
//! the exact body and the request-log entry written (or its absence).

use std::path::Path;

use runiam_emulator::world::hash_url;
use runiam_emulator::{Emulator, Options, load_world, start};
use serde_json::{Value, json};

const HELLO: &str = "hello-100000000009.europe-west1.run.app";
const HELLO_URL: &str = "https://hello-100000000009.europe-west1.run.app";
const CANARY: &str = "canary---hello-100000000009.europe-west1.run.app";
const LOG_401: &str = "The request was not authorized to invoke this service. The access token could not be verified.";
const LOG_403: &str = "The request was not authenticated. Either allow unauthenticated invocations or set the proper Authorization header. Read more at https://cloud.google.com/run/docs/securing/authenticating Additional troubleshooting documentation can be found at: https://cloud.google.com/run/docs/troubleshooting#unauthorized-client";

fn sa(name: &str) -> String {
    format!("{name}@front-proj.iam.gserviceaccount.com")
}

fn forbidden(path: &str) -> String {
    format!(
        "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>403 Forbidden</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Forbidden</h1>\n<h2>Your client does not have permission to get URL <code>{path}</code> from this server.</h2>\n<h2></h2>\n</body></html>\n"
    )
}

fn unauthorized(path: &str) -> String {
    format!(
        "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>401 Unauthorized</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Unauthorized</h1>\n<h2>Your client does not have permission to the requested URL <code>{path}</code>.</h2>\n<h2></h2>\n</body></html>\n"
    )
}

fn not_found(path: &str) -> String {
    format!(
        "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>404 Page not found</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Page not found</h1>\n<h2>The requested URL <code>{path}</code> was not found on this server.</h2>\n<h2></h2>\n</body></html>\n"
    )
}

struct Front {
    emu: Emulator,
    http: reqwest::Client,
}

/// What one request produced: status, body, and the log entry it wrote.
#[derive(Debug)]
struct Seen {
    status: u16,
    body: String,
    log: Option<Value>,
}

impl Front {
    async fn new() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/frontend-world.yaml");
        let world = load_world(&path).expect("the front-end world loads");
        let emu = start(world, Options::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        Self { emu, http: reqwest::Client::new() }
    }

    /// A token from the `/emulator/v1/idTokens` knob.
    async fn token(&self, body: Value) -> String {
        runiam_emulator::client::Client::new(&self.emu.url()).mint(body).await.expect("the knob mints a token")
    }

    async fn for_caller(&self, name: &str, audience: &str) -> String {
        self.token(json!({"email": sa(name), "audience": audience})).await
    }

    async fn get(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Seen {
        let logs = self.emu.state().lock().unwrap().logs.len();
        let mut req = self.http.get(format!("{}{path}", self.emu.url())).header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let body = resp.text().await.unwrap();
        if status != 200 && status != 400 {
            assert_eq!(content_type.as_deref(), Some("text/html; charset=UTF-8"), "{body}");
        }
        let state = self.emu.state();
        let state = state.lock().unwrap();
        assert!(state.logs.len() <= logs + 1, "one request, one entry at most");
        let log = state.logs.get(logs).map(|r| r.to_value().into_owned()).map(normalise);
        Seen { status, body, log }
    }
}

/// Ids, times, sizes and the client's address vary; the rest is asserted.
fn normalise(mut entry: Value) -> Value {
    let o = entry.as_object_mut().unwrap();
    for k in ["insertId", "timestamp", "receiveTimestamp", "spanId"] {
        assert!(o.remove(k).is_some_and(|v| v.is_string()), "{k}");
    }
    let trace = o.remove("trace").unwrap();
    assert!(trace.as_str().unwrap().starts_with("projects/front-proj/traces/"), "{trace}");
    assert_eq!(trace.as_str().unwrap().len(), "projects/front-proj/traces/".len() + 32);
    let http = o["httpRequest"].as_object_mut().unwrap();
    assert_eq!(http.remove("remoteIp"), Some(json!("127.0.0.1")));
    assert!(http.remove("responseSize").is_some());
    if http["latency"] != "0s" {
        http.insert("latency".into(), json!("LATENCY"));
    }
    entry
}

fn entry(service: &str, url: &str, status: u16, text: Option<&str>) -> Value {
    let mut e = serde_json::Map::new();
    if let Some(t) = text {
        e.insert("textPayload".into(), json!(t));
    }
    e.insert(
        "httpRequest".into(),
        json!({"requestMethod": "GET", "requestUrl": url, "status": status,
               "latency": if status == 200 { "LATENCY" } else { "0s" }, "protocol": "HTTP/1.1"}),
    );
    e.insert(
        "resource".into(),
        json!({"type": "cloud_run_revision", "labels": {
        "location": "europe-west1", "configuration_name": service, "project_id": "front-proj",
        "service_name": service, "revision_name": "REVISION"}}),
    );
    e.insert("severity".into(), json!(if status >= 400 { "WARNING" } else { "INFO" }));
    e.insert("logName".into(), json!("projects/front-proj/logs/run.googleapis.com%2Frequests"));
    e.insert("traceSampled".into(), json!(true));
    Value::Object(e)
}

/// The entry with the revision name checked and masked.
fn masked(seen: &Seen, service: &str) -> Value {
    let mut log = seen.log.clone().expect("a request log entry");
    let labels = &mut log["resource"]["labels"];
    let revision = labels["revision_name"].as_str().unwrap().to_owned();
    assert!(revision.starts_with(&format!("{service}-00001-")), "{revision}");
    labels["revision_name"] = json!("REVISION");
    log
}

fn allowed(seen: &Seen, service: &str, caller: Option<&str>, path: &str) {
    assert_eq!(seen.status, 200, "{}", seen.body);
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body, json!({"service": service, "caller": caller, "path": path}));
}

fn denied_401(seen: &Seen, path: &str) {
    assert_eq!((seen.status, seen.body.as_str()), (401, unauthorized(path).as_str()));
    assert_eq!(seen.log.as_ref().unwrap()["textPayload"], LOG_401);
    assert_eq!(seen.log.as_ref().unwrap()["httpRequest"]["status"], 401);
}

#[tokio::test]
async fn hosts_and_ingress_answer_404_without_a_log() {
    let f = Front::new().await;
    let unknown = f.get("nope-100000000009.europe-west1.run.app", "/x", &[]).await;
    assert_eq!((unknown.status, unknown.body.as_str(), unknown.log.is_none()), (404, not_found("/x").as_str(), true));
    let disabled = f.get("no-default-url-100000000009.europe-west1.run.app", "/", &[]).await;
    assert_eq!((disabled.status, disabled.body.as_str(), disabled.log.is_none()), (404, not_found("/").as_str(), true));
    let internal = "internal-100000000009.europe-west1.run.app";
    for origin in [None, Some("external"), Some("load-balancer")] {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("x-emulator-origin", o)).into_iter().collect();
        let seen = f.get(internal, "/", &headers).await;
        assert_eq!((seen.status, seen.log.is_none()), (404, true), "{origin:?}");
    }
    let inside = f.get(internal, "/", &[("x-emulator-origin", "internal")]).await;
    allowed(&inside, "internal", None, "/");
    let lb = "behind-lb-100000000009.europe-west1.run.app";
    let outside = f.get(lb, "/", &[]).await;
    assert_eq!((outside.status, outside.log.is_none()), (404, true));
    for origin in ["internal", "load-balancer"] {
        allowed(&f.get(lb, "/", &[("x-emulator-origin", origin)]).await, "behind-lb", None, "/");
    }
    let odd = f.get(lb, "/", &[("x-emulator-origin", "mars")]).await;
    assert_eq!((odd.status, odd.log.is_none()), (400, true));
}

#[tokio::test]
async fn missing_token_is_403_with_the_not_authenticated_log() {
    let f = Front::new().await;
    let seen = f.get(HELLO, "/report?day=1", &[]).await;
    assert_eq!((seen.status, seen.body.as_str()), (403, forbidden("/report?day=1").as_str()));
    assert_eq!(masked(&seen, "hello"), entry("hello", &format!("{HELLO_URL}/report?day=1"), 403, Some(LOG_403)));
    let empty = f.get(HELLO, "/", &[("authorization", "Bearer ")]).await;
    assert_eq!(empty.status, 403);
}

#[tokio::test]
async fn every_token_defect_is_401() {
    let f = Front::new().await;
    let good = f.for_caller("sched", HELLO_URL).await;
    let (head, sig) = good.rsplit_once('.').unwrap();
    // Change a character well inside the signature so its bytes change.
    let mut sig = sig.as_bytes().to_vec();
    sig[20] = if sig[20] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}.{}", String::from_utf8(sig).unwrap());
    let wrong_issuer = f
        .token(json!({"email": sa("sched"), "audience": HELLO_URL, "issuer": "https://securetoken.google.com/acme"}))
        .await;
    let expired = f.token(json!({"email": sa("sched"), "audience": HELLO_URL, "expiresInSeconds": -60})).await;
    let with_path = f.for_caller("sched", &format!("{HELLO_URL}/report")).await;
    let other_service = f.for_caller("sched", "https://open-100000000009.europe-west1.run.app").await;
    let cases = [
        ("signature", format!("Bearer {tampered}")),
        ("not a JWT", "Bearer ya29.a0AfH6SMBexample".to_owned()),
        ("issuer", format!("Bearer {wrong_issuer}")),
        ("expired", format!("Bearer {expired}")),
        ("audience with a path", format!("Bearer {with_path}")),
        ("audience of another service", format!("Bearer {other_service}")),
        ("several tokens", format!("Bearer {good} {good}")),
        ("not bearer", format!("Basic {good}")),
    ];
    for (why, header) in &cases {
        let seen = f.get(HELLO, "/", &[("authorization", header)]).await;
        assert_eq!(seen.status, 401, "{why}");
        denied_401(&seen, "/");
        assert_eq!(masked(&seen, "hello"), entry("hello", &format!("{HELLO_URL}/"), 401, Some(LOG_401)), "{why}");
    }
    let bearer = format!("Bearer {good}");
    let two = f.get(HELLO, "/", &[("authorization", &bearer), ("authorization", &bearer)]).await;
    denied_401(&two, "/");
    // The same token alone is fine.
    allowed(&f.get(HELLO, "/", &[("authorization", &bearer)]).await, "hello", Some(&sa("sched")), "/");
}

#[tokio::test]
async fn iam_decides_with_a_valid_token() {
    let f = Front::new().await;
    for (caller, why) in [("nobody", "no grant"), ("cond", "condition false"), ("denied", "deny policy")] {
        let t = format!("Bearer {}", f.for_caller(caller, HELLO_URL).await);
        let seen = f.get(HELLO, "/", &[("authorization", &t)]).await;
        assert_eq!((seen.status, seen.body.as_str()), (403, forbidden("/").as_str()), "{why}");
        assert_eq!(masked(&seen, "hello"), entry("hello", &format!("{HELLO_URL}/"), 403, Some(LOG_403)), "{why}");
    }
    for (caller, why) in
        [("sched", "service"), ("project-caller", "project"), ("folder-caller", "folder"), ("group-member", "group")]
    {
        let t = format!("Bearer {}", f.for_caller(caller, HELLO_URL).await);
        let seen = f.get(HELLO, "/run", &[("authorization", &t)]).await;
        allowed(&seen, "hello", Some(&sa(caller)), "/run");
        assert_eq!(masked(&seen, "hello"), entry("hello", &format!("{HELLO_URL}/run"), 200, None), "{why}");
    }
    // A second request takes the caches and answers the same.
    let t = format!("Bearer {}", f.for_caller("sched", HELLO_URL).await);
    allowed(&f.get(HELLO, "/", &[("authorization", &t)]).await, "hello", Some(&sa("sched")), "/");
    allowed(&f.get(HELLO, "/", &[("authorization", &t)]).await, "hello", Some(&sa("sched")), "/");
}

#[tokio::test]
async fn user_tokens_of_gcloud_and_adc_pass_to_iam() {
    let f = Front::new().await;
    for aud in runiam_core::api::run::USER_TOKEN_AUDIENCES {
        // A user's token: authenticated, then IAM decides (no grant: 403).
        let user = format!("Bearer {}", f.token(json!({"email": "alice@acme.example", "audience": aud})).await);
        let seen = f.get(HELLO, "/", &[("authorization", &user)]).await;
        assert_eq!((seen.status, seen.body.as_str()), (403, forbidden("/").as_str()), "{aud}");
        // A service account's token with that audience is refused.
        denied_401(
            &f.get(HELLO, "/", &[("authorization", &format!("Bearer {}", f.for_caller("sched", aud).await))]).await,
            "/",
        );
    }
    let other = f.token(json!({"email": "alice@acme.example", "audience": "1-x.apps.googleusercontent.com"})).await;
    denied_401(&f.get(HELLO, "/", &[("authorization", &format!("Bearer {other}"))]).await, "/");
}

#[tokio::test]
async fn public_and_unchecked_services_let_anyone_through() {
    let f = Front::new().await;
    let open = f.get("open-100000000009.europe-west1.run.app", "/", &[]).await;
    allowed(&open, "open", None, "/");
    assert_eq!(masked(&open, "open"), entry("open", "https://open-100000000009.europe-west1.run.app/", 200, None));
    let public =
        f.get("public-100000000009.europe-west1.run.app", "/", &[("authorization", "Bearer app-session")]).await;
    allowed(&public, "public", None, "/");
    // A services.patch that turns the invoker check off shows at once.
    assert_eq!(f.get(HELLO, "/", &[]).await.status, 403);
    {
        let state = f.emu.state();
        let mut state = state.lock().unwrap();
        let hello = state.world.projects[0].services.iter_mut().find(|s| s.name == "hello").unwrap();
        hello.invoker_iam_disabled = true;
        state.service_changed();
    }
    allowed(&f.get(HELLO, "/", &[]).await, "hello", None, "/");
    let iap = f.get("guarded-100000000009.europe-west1.run.app", "/", &[]).await;
    assert_eq!((iap.status, iap.body.as_str()), (401, "Invalid IAP credentials: empty token\n"));
    let log = masked(&iap, "guarded");
    assert!(log.get("textPayload").is_none());
    assert_eq!(log["httpRequest"]["status"], 401);
}

#[tokio::test]
async fn serverless_header_wins_and_audiences_follow_the_rule() {
    let f = Front::new().await;
    let good = format!("Bearer {}", f.for_caller("sched", HELLO_URL).await);
    let seen = f.get(HELLO, "/", &[("x-serverless-authorization", &good), ("authorization", "Bearer app-token")]).await;
    allowed(&seen, "hello", Some(&sa("sched")), "/");
    let seen = f.get(HELLO, "/", &[("x-serverless-authorization", "Bearer app-token"), ("authorization", &good)]).await;
    denied_401(&seen, "/");
    let slash = format!("Bearer {}", f.for_caller("sched", &format!("{HELLO_URL}/")).await);
    allowed(&f.get(HELLO, "/", &[("authorization", &slash)]).await, "hello", Some(&sa("sched")), "/");
    let custom = format!("Bearer {}", f.for_caller("sched", "https://hello.acme.example").await);
    allowed(&f.get(HELLO, "/", &[("authorization", &custom)]).await, "hello", Some(&sa("sched")), "/");
    // Tag URL: as host, and as audience on the main URL.
    let tag = format!("Bearer {}", f.for_caller("sched", &format!("https://{CANARY}")).await);
    let seen = f.get(CANARY, "/", &[("authorization", &tag)]).await;
    allowed(&seen, "hello", Some(&sa("sched")), "/");
    assert_eq!(masked(&seen, "hello")["httpRequest"]["requestUrl"], format!("https://{CANARY}/"));
    allowed(&f.get(HELLO, "/", &[("authorization", &tag)]).await, "hello", Some(&sa("sched")), "/");
    // The hash URL is the same service; its host may carry a port.
    let hash = hash_url("front-proj", "hello", "europe-west1");
    let hash_host = format!("{}:443", hash.strip_prefix("https://").unwrap());
    allowed(&f.get(&hash_host, "/", &[("authorization", &good)]).await, "hello", Some(&sa("sched")), "/");
}

#[tokio::test]
async fn tokens_from_iam_credentials_and_the_metadata_server() {
    let f = Front::new().await;
    let url = f.emu.url();
    let http = &f.http;
    let generate = |account: &str, verb: &str| format!("{url}/v1/projects/-/serviceAccounts/{account}:{verb}");
    let r = http
        .post(generate(&sa("sched"), "generateIdToken"))
        .json(&json!({"audience": HELLO_URL, "includeEmail": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let minted = claims(&token);
    assert_eq!(minted["email"], sa("sched"));
    assert_eq!(minted["email_verified"], true);
    assert_eq!(minted["iss"], "https://accounts.google.com");
    assert_eq!(minted["aud"], HELLO_URL);
    let seen = f.get(HELLO, "/", &[("authorization", &format!("Bearer {token}"))]).await;
    allowed(&seen, "hello", Some(&sa("sched")), "/");

    // Without email the caller is found by its unique id (`sub`).
    let r = http
        .post(generate(&sa("sched"), "generateIdToken"))
        .json(&json!({"audience": HELLO_URL}))
        .send()
        .await
        .unwrap();
    let bare = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    assert!(claims(&bare).get("email").is_none());
    assert_eq!(f.get(HELLO, "/", &[("authorization", &format!("Bearer {bare}"))]).await.status, 200);

    let status = |account: String, verb: &'static str, body: Value| {
        let req = http.post(generate(&account, verb)).json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (code, body) = status(sa("ghost"), "generateIdToken", json!({"audience": "x"})).await;
    assert_eq!((code, body["error"]["status"].as_str()), (404, Some("NOT_FOUND")));
    let (code, _) = status(sa("retired"), "generateIdToken", json!({"audience": "x"})).await;
    assert_eq!(code, 400);
    let (code, body) =
        status("outsider@other-proj.iam.gserviceaccount.com".into(), "generateIdToken", json!({"audience": "x"})).await;
    assert_eq!(code, 403);
    assert_eq!(
        body["error"]["message"],
        "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist)."
    );
    assert_eq!(body["error"]["details"][0]["reason"], "IAM_PERMISSION_DENIED");
    let (code, body) = status(
        sa("sched"),
        "generateAccessToken",
        json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "600s"}),
    )
    .await;
    assert_eq!(code, 200);
    assert!(body["accessToken"].as_str().unwrap().starts_with("ya29."));
    assert!(body["expireTime"].as_str().unwrap().ends_with('Z'));
    // An access token is not an ID token.
    let access = format!("Bearer {}", body["accessToken"].as_str().unwrap());
    denied_401(&f.get(HELLO, "/", &[("authorization", &access)]).await, "/");

    // The metadata server.
    let md = |path: &str, flavor: bool| {
        let mut req = http.get(format!("{url}/computeMetadata/v1/{path}"));
        if flavor {
            req = req.header("Metadata-Flavor", "Google");
        }
        async move {
            let r = req.send().await.unwrap();
            let flavor = r.headers().get("metadata-flavor").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), flavor, r.text().await.unwrap())
        }
    };
    let path = format!("instance/service-accounts/default/identity?audience={HELLO_URL}&format=full");
    assert_eq!(md(&path, false).await.0, 403);
    let (code, flavor, token) = md(&path, true).await;
    assert_eq!((code, flavor.as_deref()), (200, Some("Google")));
    assert_eq!(claims(&token)["email"], sa("sched"));
    allowed(
        &f.get(HELLO, "/", &[("authorization", &format!("Bearer {token}"))]).await,
        "hello",
        Some(&sa("sched")),
        "/",
    );
    let (_, _, listing) = md("instance/service-accounts/default/?recursive=true", true).await;
    assert_eq!(
        serde_json::from_str::<Value>(&listing).unwrap(),
        json!({"aliases": ["default"], "email": sa("sched"), "scopes": ["https://www.googleapis.com/auth/cloud-platform"]})
    );
    assert_eq!(md("project/project-id", true).await.2, "front-proj");
    let (_, _, access) = md("instance/service-accounts/default/token", true).await;
    assert_eq!(serde_json::from_str::<Value>(&access).unwrap()["token_type"], "Bearer");
    assert_eq!(md("instance/service-accounts/default/identity", true).await.0, 400);
    let jwks: Value = http.get(format!("{url}/oauth2/v3/certs")).send().await.unwrap().json().await.unwrap();
    let kid = header(&token)["kid"].clone();
    assert_eq!(jwks["keys"][0]["kid"], kid);
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
}

fn part(token: &str, i: usize) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(i).unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn claims(token: &str) -> Value {
    part(token, 1)
}

fn header(token: &str) -> Value {
    part(token, 0)
}
