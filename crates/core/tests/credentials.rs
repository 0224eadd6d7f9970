//! Real credential paths against fake Google endpoints on loopback (OAuth
//! token URI, IAM Credentials, metadata server, an API) and a fake `gcloud`
//! that logs its arguments and answers as `gcloud config config-helper
//! --format=json` does. One test per defect of issue 15: the calls made
//! (count, path, headers) and the error text, hint and exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use runiam_core::auth::{AuthOptions, TokenSource};
use runiam_core::config::{Api, Config, Env, Flags, GcloudProperties};
use runiam_core::error::{CommandError, Exit};
use runiam_core::http::{ApiError, Http, HttpOptions};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Seen {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).map(String::as_str)
    }
}

type Responder = Arc<dyn Fn(&Seen) -> Response + Send + Sync>;

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn fake(responder: impl Fn(&Seen) -> Response + Send + Sync + 'static) -> Fake {
    let responder: Responder = Arc::new(responder);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        let responder = responder.clone();
        async move {
            let s = Seen {
                method: method.to_string(),
                target: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                    .collect(),
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            log.lock().unwrap().push(s.clone());
            responder(&s)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { url, seen }
}

fn reply(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

/// A server that accepts connections and never answers.
async fn silent() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    url
}

async fn api() -> Fake {
    fake(|_| reply(200, json!({}))).await
}

async fn oauth(access_token: &'static str) -> Fake {
    fake(move |_| reply(200, json!({"access_token": access_token, "expires_in": 3600, "token_type": "Bearer"}))).await
}

async fn iam() -> Fake {
    fake(|_| reply(200, json!({"accessToken": "ya29.impersonated", "expireTime": "2099-01-01T00:00:00Z"}))).await
}

/// A gcloud configuration directory, HOME and a bin directory.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::create_dir_all(gcloud.join("configurations")).unwrap();
        std::fs::write(gcloud.join("active_config"), "default").unwrap();
        std::fs::write(gcloud.join("configurations/config_default"), config).unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A fake gcloud: logs its arguments, one run a line, to `gcloud.log`,
    /// and prints `answer` (or fails with `stderr` when exit is not 0).
    fn gcloud(&self, answer: &Value, exit: i32, stderr: &str) {
        use std::os::unix::fs::PermissionsExt;
        let answer_file = self.path("answer.json");
        std::fs::write(&answer_file, answer.to_string()).unwrap();
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> '{log}'\nif [ {exit} -ne 0 ]; then echo '{stderr}' >&2; exit {exit}; fi\ncat '{answer}'\n",
            log = self.path("gcloud.log").display(),
            answer = answer_file.display(),
        );
        let bin = self.path("bin/gcloud");
        std::fs::write(&bin, script).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn gcloud_runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("gcloud.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn adc(&self, json: &Value) -> PathBuf {
        let p = self.path("gcloud/application_default_credentials.json");
        std::fs::write(&p, json.to_string()).unwrap();
        p
    }
}

fn config_helper(token: &str, account: &str, impersonated: Option<&str>, expiry: &str) -> Value {
    let mut props = json!({"core": {"account": account, "project": "acme-prod"}});
    if let Some(sa) = impersonated {
        props["auth"] = json!({"impersonate_service_account": sa});
    }
    json!({
        "configuration": {"active_configuration": "default", "properties": props},
        "credential": {"access_token": token, "token_expiry": expiry, "id_token": null},
        "sentinels": {"config_sentinel": "/x/config_sentinel"}
    })
}

fn user_adc(token_uri: &str, quota: Option<&str>) -> Value {
    let mut v = json!({
        "type": "authorized_user",
        "client_id": "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
        "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
        "refresh_token": "1//refresh",
        "token_uri": token_uri,
    });
    if let Some(q) = quota {
        v["quota_project_id"] = json!(q);
    }
    v
}

fn options(auth: AuthOptions) -> HttpOptions {
    HttpOptions { base_delay: Duration::from_millis(5), max_attempts: 2, seed: Some(7), auth, ..HttpOptions::default() }
}

/// Resolves like a command does, with `home` as HOME and CLOUDSDK_CONFIG
/// and its bin directory as PATH, and every API pointed at `api`/`iam`.
fn http(
    home: &Home,
    flags: Flags,
    extra: &[(&str, &str)],
    api: &Fake,
    iam: Option<&Fake>,
    auth: AuthOptions,
) -> Result<Arc<Http>, CommandError> {
    let h = home.dir.path().display().to_string();
    let cfg = home.path("gcloud").display().to_string();
    let bin = home.path("bin").display().to_string();
    let iam_url = iam.map_or(api.url.as_str(), |f| f.url.as_str());
    let mut pairs: Vec<(&str, &str)> = vec![
        ("HOME", &h),
        ("CLOUDSDK_CONFIG", &cfg),
        ("PATH", &bin),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", &api.url),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS", iam_url),
        // Off Google Cloud: nothing listens here.
        ("GCE_METADATA_HOST", "127.0.0.1:9"),
    ];
    pairs.extend_from_slice(extra);
    let env = Env::from_pairs(pairs);
    let config = Config::resolve(&flags, &env, &GcloudProperties::load(&env))?;
    let source = TokenSource::from_config(&config, &env, &auth).map_err(|e| {
        let hint = e.hint();
        CommandError::new(e.exit(), e).hinted(hint)
    })?;
    Ok(Http::new(&config, source, options(auth)).unwrap())
}

async fn get(http: &Http, api: &Fake) -> Result<Value, ApiError> {
    let url = url::Url::parse(&format!("{}v2/projects/acme-prod/locations/r/services", api.url)).unwrap();
    http.json(Api::Run, reqwest::Method::GET, url, None).await
}

const USER_CONFIG: &str = "[core]\naccount = me@acme.example\nproject = acme-prod\n";
const FAR: &str = "2099-01-01T00:00:00Z";

/// gcloud impersonating (its auth/impersonate_service_account) returns the
/// service account's token: runiam sends it as is, never calls
/// generateAccessToken with it, and runs gcloud once for 40 calls.
#[tokio::test]
async fn gcloud_impersonation_is_not_done_again() {
    let home = Home::new(&format!(
        "{USER_CONFIG}[auth]\nimpersonate_service_account = deployer@acme-prod.iam.gserviceaccount.com\n"
    ));
    home.gcloud(
        &config_helper("ya29.gcloud-sa", "me@acme.example", Some("deployer@acme-prod.iam.gserviceaccount.com"), FAR),
        0,
        "",
    );
    let (api, iam) = (api().await, iam().await);
    let http = http(&home, Flags::default(), &[], &api, Some(&iam), AuthOptions::default()).unwrap();
    let calls: Vec<_> = (0..40).map(|_| get(&http, &api)).collect();
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(iam.seen().len(), 0, "no generateAccessToken over gcloud's impersonation");
    assert_eq!(
        home.gcloud_runs(),
        vec!["config config-helper --format=json --min-expiry=300s --quiet --account=me@acme.example"]
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 40);
    assert!(seen.iter().all(|s| s.header("authorization") == Some("Bearer ya29.gcloud-sa")));
    // An impersonated token is not a user's: gcloud's CURRENT_PROJECT default does not apply.
    assert!(seen.iter().all(|s| s.header("x-goog-user-project").is_none()), "{seen:?}");
}

/// runiam's own --impersonate-service-account is handed to gcloud, which
/// impersonates; runiam does not add a second generateAccessToken.
#[tokio::test]
async fn impersonation_flag_goes_to_gcloud() {
    let home = Home::new(USER_CONFIG);
    let sa = "deployer@acme-prod.iam.gserviceaccount.com";
    home.gcloud(&config_helper("ya29.gcloud-sa", "me@acme.example", Some(sa), FAR), 0, "");
    let (api, iam) = (api().await, iam().await);
    let flags = Flags { impersonate_service_account: Some(sa.into()), ..Flags::default() };
    let http = http(&home, flags, &[], &api, Some(&iam), AuthOptions::default()).unwrap();
    get(&http, &api).await.unwrap();
    assert_eq!(iam.seen().len(), 0);
    assert_eq!(
        home.gcloud_runs(),
        vec![format!(
            "config config-helper --format=json --min-expiry=300s --quiet --account=me@acme.example --impersonate-service-account={sa}"
        )]
    );
}

/// A gcloud user bills the current project (gcloud's CURRENT_PROJECT
/// default); --billing-project replaces it; a service account gets none.
#[tokio::test]
async fn gcloud_quota_project_parity() {
    let home = Home::new(USER_CONFIG);
    home.gcloud(&config_helper("ya29.user", "me@acme.example", None, FAR), 0, "");
    let api = api().await;
    let http1 = http(&home, Flags::default(), &[], &api, None, AuthOptions::default()).unwrap();
    get(&http1, &api).await.unwrap();
    let flags = Flags { billing_project: Some("billing-proj".into()), ..Flags::default() };
    let http2 = http(&home, flags, &[], &api, None, AuthOptions::default()).unwrap();
    get(&http2, &api).await.unwrap();
    let robot = Home::new("[core]\naccount = ci@acme-prod.iam.gserviceaccount.com\nproject = acme-prod\n");
    robot.gcloud(&config_helper("ya29.robot", "ci@acme-prod.iam.gserviceaccount.com", None, FAR), 0, "");
    let http3 = http(&robot, Flags::default(), &[], &api, None, AuthOptions::default()).unwrap();
    get(&http3, &api).await.unwrap();
    let seen = api.seen();
    let quota: Vec<_> =
        seen.iter().map(|s| (s.header("authorization").unwrap(), s.header("x-goog-user-project"))).collect();
    assert_eq!(
        quota,
        vec![
            ("Bearer ya29.user", Some("acme-prod")),
            ("Bearer ya29.user", Some("billing-proj")),
            ("Bearer ya29.robot", None)
        ]
    );
}

/// gcloud runs again only when its token is about to expire.
#[tokio::test]
async fn gcloud_token_is_cached_until_expiry() {
    let home = Home::new(USER_CONFIG);
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    home.gcloud(&config_helper("ya29.short", "me@acme.example", None, &soon), 0, "");
    let api = api().await;
    let http = http(&home, Flags::default(), &[], &api, None, AuthOptions::default()).unwrap();
    get(&http, &api).await.unwrap();
    get(&http, &api).await.unwrap();
    assert_eq!(home.gcloud_runs().len(), 2, "a token expiring within a minute is renewed");
}

/// The ADC file under $CLOUDSDK_CONFIG is found; its quota_project_id is
/// sent; impersonation on top is one generateAccessToken for many calls,
/// with a comma-separated chain split into delegates and target.
#[tokio::test]
async fn adc_under_cloudsdk_config_with_quota_and_delegation_chain() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let (api, iam, oauth) = (api().await, iam().await, oauth("ya29.from-refresh").await);
    home.adc(&user_adc(&format!("{}token", oauth.url), Some("adc-quota")));
    let plain = http(&home, Flags::default(), &[], &api, Some(&iam), AuthOptions::default()).unwrap();
    get(&plain, &api).await.unwrap();
    let flags = Flags {
        impersonate_service_account: Some(
            "hop@acme-prod.iam.gserviceaccount.com, target@acme-prod.iam.gserviceaccount.com".into(),
        ),
        ..Flags::default()
    };
    let imp = http(&home, flags, &[], &api, Some(&iam), AuthOptions::default()).unwrap();
    for _ in 0..20 {
        get(&imp, &api).await.unwrap();
    }
    let seen = api.seen();
    assert_eq!(seen[0].header("authorization"), Some("Bearer ya29.from-refresh"));
    assert_eq!(seen[0].header("x-goog-user-project"), Some("adc-quota"));
    assert!(seen[1..].iter().all(|s| s.header("authorization") == Some("Bearer ya29.impersonated")));
    assert!(seen[1..].iter().all(|s| s.header("x-goog-user-project").is_none()));
    let minted = iam.seen();
    assert_eq!(minted.len(), 1, "one generateAccessToken for 20 calls");
    assert_eq!(minted[0].method, "POST");
    assert_eq!(
        minted[0].target,
        "/v1/projects/-/serviceAccounts/target@acme-prod.iam.gserviceaccount.com:generateAccessToken"
    );
    let body: Value = serde_json::from_str(&minted[0].body).unwrap();
    assert_eq!(body["delegates"], json!(["projects/-/serviceAccounts/hop@acme-prod.iam.gserviceaccount.com"]));
    assert_eq!(minted[0].header("authorization"), Some("Bearer ya29.from-refresh"));
    assert_eq!(oauth.seen().len(), 2, "one refresh per process (two clients here)");
}

/// A working gcloud login beats the ADC well-known file, and --account
/// beats GOOGLE_APPLICATION_CREDENTIALS.
#[tokio::test]
async fn gcloud_login_beats_the_adc_file_and_account_flag_beats_gac() {
    let home = Home::new(USER_CONFIG);
    home.gcloud(&config_helper("ya29.gcloud", "me@acme.example", None, FAR), 0, "");
    let (api, oauth) = (api().await, oauth("ya29.adc").await);
    let adc = home.adc(&user_adc(&format!("{}token", oauth.url), None));
    let http1 = http(&home, Flags::default(), &[], &api, None, AuthOptions::default()).unwrap();
    get(&http1, &api).await.unwrap();
    let gac = adc.display().to_string();
    let flags = Flags { account: Some("other@acme.example".into()), ..Flags::default() };
    let http2 =
        http(&home, flags, &[("GOOGLE_APPLICATION_CREDENTIALS", &gac)], &api, None, AuthOptions::default()).unwrap();
    get(&http2, &api).await.unwrap();
    let http3 =
        http(&home, Flags::default(), &[("GOOGLE_APPLICATION_CREDENTIALS", &gac)], &api, None, AuthOptions::default())
            .unwrap();
    get(&http3, &api).await.unwrap();
    let auth: Vec<_> = api.seen().iter().map(|s| s.header("authorization").unwrap().to_owned()).collect();
    assert_eq!(auth, vec!["Bearer ya29.gcloud", "Bearer ya29.gcloud", "Bearer ya29.adc"]);
    assert!(home.gcloud_runs()[1].ends_with("--account=other@acme.example"), "{:?}", home.gcloud_runs());
}

fn rendered(e: ApiError) -> (Exit, String) {
    let e = CommandError::from(e);
    (e.exit, e.render("runiam-export"))
}

/// An expired ADC refresh token shows Google's own reason in the cause
/// chain and the hint that repairs ADC (not `gcloud auth login`).
#[tokio::test]
async fn expired_adc_shows_the_cause_and_the_adc_hint() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let api = api().await;
    let oauth = fake(|_| {
        reply(400, json!({"error": "invalid_grant", "error_description": "reauth related error (invalid_rapt)"}))
    })
    .await;
    let adc = home.adc(&user_adc(&format!("{}token", oauth.url), None));
    let http1 = http(&home, Flags::default(), &[], &api, None, AuthOptions::default()).unwrap();
    let (exit, text) = rendered(get(&http1, &api).await.unwrap_err());
    assert_eq!(exit, Exit::Api);
    assert!(text.contains("Application Default Credentials in"), "{text}");
    assert!(text.contains("Caused by:") && text.contains("invalid_rapt"), "{text}");
    assert!(text.ends_with("hint: run `gcloud auth application-default login`\n"), "{text}");
    assert!(!text.contains("future attempts may succeed"), "{text}");
    let gac = adc.display().to_string();
    let http2 =
        http(&home, Flags::default(), &[("GOOGLE_APPLICATION_CREDENTIALS", &gac)], &api, None, AuthOptions::default())
            .unwrap();
    let (_, text) = rendered(get(&http2, &api).await.unwrap_err());
    assert!(
        text.contains("hint: run `gcloud auth application-default login` and point GOOGLE_APPLICATION_CREDENTIALS at the new file, or unset it"),
        "{text}"
    );
    assert!(api.seen().is_empty());
}

/// A token endpoint that accepts and never answers fails within the deadline.
#[tokio::test]
async fn stalled_token_endpoint_fails_within_the_deadline() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let api = api().await;
    home.adc(&user_adc(&format!("{}token", silent().await), None));
    let auth = AuthOptions { total: Duration::from_secs(1), ..AuthOptions::default() };
    let http = http(&home, Flags::default(), &[], &api, None, auth).unwrap();
    let started = Instant::now();
    let (exit, text) = rendered(get(&http, &api).await.unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(exit, Exit::Api);
    assert!(text.contains("did not answer within 1s"), "{text}");
    assert!(text.contains("hint: check the network, HTTPS_PROXY/NO_PROXY"), "{text}");
}

/// No credential anywhere and a metadata server that never answers: a
/// clear "no credentials" within the probe deadline, naming what was tried.
#[tokio::test]
async fn silent_metadata_server_means_no_credentials_within_the_probe() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let api = api().await;
    let md = silent().await;
    let md_host = md.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let auth = AuthOptions { metadata: Duration::from_millis(500), ..AuthOptions::default() };
    let http = http(&home, Flags::default(), &[("GCE_METADATA_HOST", &md_host)], &api, None, auth).unwrap();
    let started = Instant::now();
    let (exit, text) = rendered(get(&http, &api).await.unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(exit, Exit::Api);
    assert!(text.starts_with("runiam-export: error: no credentials found (tried: GOOGLE_APPLICATION_CREDENTIALS (unset), gcloud (not on PATH), "), "{text}");
    assert!(text.contains("did not answer within 0.5s"), "{text}");
    assert!(text.contains("hint: run `gcloud auth login` (runiam uses gcloud's active account)"), "{text}");
}

/// The metadata server gives the token on Google's runtimes.
#[tokio::test]
async fn metadata_server_token_is_used_and_cached() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let api = api().await;
    let md = fake(|s| {
        assert_eq!(s.header("metadata-flavor"), Some("Google"));
        reply(200, json!({"access_token": "ya29.metadata", "expires_in": 3599, "token_type": "Bearer"}))
    })
    .await;
    let host = md.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let http =
        http(&home, Flags::default(), &[("GCE_METADATA_HOST", &host)], &api, None, AuthOptions::default()).unwrap();
    get(&http, &api).await.unwrap();
    get(&http, &api).await.unwrap();
    assert_eq!(md.seen().len(), 1);
    assert_eq!(md.seen()[0].target, "/computeMetadata/v1/instance/service-accounts/default/token");
    assert!(api.seen().iter().all(|s| s.header("authorization") == Some("Bearer ya29.metadata")));
}

/// A service account key given where a token file goes is bad input (exit
/// 2) with the setting that takes it; so is a JWT.
#[tokio::test]
async fn key_file_as_token_file_is_recognised() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let api = api().await;
    let key = home.path("key.json");
    std::fs::write(
        &key,
        json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com", "private_key": "x"})
            .to_string(),
    )
    .unwrap();
    let flags = Flags { access_token_file: Some(key.clone()), ..Flags::default() };
    let http1 = http(&home, flags, &[], &api, None, AuthOptions::default()).unwrap();
    let (exit, text) = rendered(get(&http1, &api).await.unwrap_err());
    assert_eq!(exit, Exit::Usage);
    let k = key.display();
    assert_eq!(
        text,
        format!(
            "runiam-export: error: the access token file {k} (flag --access-token-file) holds a service account key, not an OAuth access token\n\nhint: a credentials file is not a token: unset flag --access-token-file and set GOOGLE_APPLICATION_CREDENTIALS={k}\n"
        )
    );
    std::fs::write(&key, "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln\n").unwrap();
    let flags = Flags { access_token_file: Some(key.clone()), ..Flags::default() };
    let http2 = http(&home, flags, &[], &api, None, AuthOptions::default()).unwrap();
    let (exit, text) = rendered(get(&http2, &api).await.unwrap_err());
    assert_eq!(exit, Exit::Usage);
    assert!(text.contains("holds a JWT (an ID token?), not an OAuth access token"), "{text}");
    assert!(api.seen().is_empty());
}

/// gcloud's own failure is shown (redacted) with `gcloud auth login`.
#[tokio::test]
async fn gcloud_reauth_failure_says_gcloud_auth_login() {
    let home = Home::new(USER_CONFIG);
    home.gcloud(
        &json!({}),
        1,
        "ERROR: (gcloud.config.config-helper) Reauthentication failed. cannot prompt during non-interactive execution.",
    );
    let api = api().await;
    let http = http(&home, Flags::default(), &[], &api, None, AuthOptions::default()).unwrap();
    let (exit, text) = rendered(get(&http, &api).await.unwrap_err());
    assert_eq!(exit, Exit::Api);
    assert!(
        text.contains(
            "`gcloud config config-helper` failed: ERROR: (gcloud.config.config-helper) Reauthentication failed."
        ),
        "{text}"
    );
    assert!(
        text.ends_with("hint: run `gcloud auth login` (the gcloud login has expired or needs reauthentication)\n"),
        "{text}"
    );
}

/// A 403 from generateAccessToken (runiam's own impersonation) keeps the
/// API's answer in the cause chain and names the role.
#[tokio::test]
async fn refused_impersonation_names_the_role_and_keeps_the_cause() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let api = api().await;
    let iam = fake(|_| reply(403, json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "Permission 'iam.serviceAccounts.getAccessToken' denied"}}))).await;
    let flags =
        Flags { impersonate_service_account: Some("t@acme-prod.iam.gserviceaccount.com".into()), ..Flags::default() };
    let http =
        http(&home, flags, &[("CLOUDSDK_AUTH_ACCESS_TOKEN", "ya29.base")], &api, Some(&iam), AuthOptions::default())
            .unwrap();
    let (exit, text) = rendered(get(&http, &api).await.unwrap_err());
    assert_eq!(exit, Exit::Api);
    assert!(
        text.starts_with(
            "runiam-export: error: cannot impersonate t@acme-prod.iam.gserviceaccount.com\n\nCaused by:\n  1: POST "
        ),
        "{text}"
    );
    assert!(text.contains("403 PERMISSION_DENIED"), "{text}");
    assert!(text.contains("hint: the credentials in use need roles/iam.serviceAccountTokenCreator on t@acme-prod.iam.gserviceaccount.com"), "{text}");
    assert!(!text.contains("ya29.base"));
}

/// An impersonated-service-account ADC file (`gcloud auth
/// application-default login --impersonate-service-account`): its source
/// credential refreshes at the file's token URI, and runiam's own client
/// impersonates at the IAMCREDENTIALS override with the file's delegates.
#[tokio::test]
async fn impersonated_adc_file_honours_the_iamcredentials_override() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let (api, iam, oauth) = (api().await, iam().await, oauth("ya29.source").await);
    home.adc(&json!({
        "type": "impersonated_service_account",
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/target@acme-prod.iam.gserviceaccount.com:generateAccessToken",
        "delegates": ["hop@acme-prod.iam.gserviceaccount.com"],
        "source_credentials": user_adc(&format!("{}token", oauth.url), None),
    }));
    let http = http(&home, Flags::default(), &[], &api, Some(&iam), AuthOptions::default()).unwrap();
    get(&http, &api).await.unwrap();
    get(&http, &api).await.unwrap();
    let minted = iam.seen();
    assert_eq!(minted.len(), 1);
    assert_eq!(
        minted[0].target,
        "/v1/projects/-/serviceAccounts/target@acme-prod.iam.gserviceaccount.com:generateAccessToken"
    );
    assert_eq!(minted[0].header("authorization"), Some("Bearer ya29.source"));
    let body: Value = serde_json::from_str(&minted[0].body).unwrap();
    assert_eq!(body["delegates"], json!(["projects/-/serviceAccounts/hop@acme-prod.iam.gserviceaccount.com"]));
    assert!(api.seen().iter().all(|s| s.header("authorization") == Some("Bearer ya29.impersonated")));
}

/// A gcloud that hangs is stopped at the deadline, with a clear error.
#[tokio::test]
async fn hanging_gcloud_fails_within_the_deadline() {
    let home = Home::new(USER_CONFIG);
    home.gcloud(&json!({}), 0, "");
    let bin = home.path("bin/gcloud");
    std::fs::write(&bin, "#!/bin/sh\nsleep 30\n").unwrap();
    let api = api().await;
    let auth = AuthOptions { gcloud: Duration::from_secs(1), ..AuthOptions::default() };
    let http = http(&home, Flags::default(), &[], &api, None, auth).unwrap();
    let started = Instant::now();
    let (exit, text) = rendered(get(&http, &api).await.unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(exit, Exit::Api);
    assert!(text.contains("config config-helper` did not answer within 1s"), "{text}");
}

/// Workload identity federation (an external_account file): the subject
/// token goes to the file's STS token URL, and the federated token is
/// exchanged for the service account's at the file's impersonation URL —
/// one exchange and one generateAccessToken for many calls.
#[tokio::test]
async fn external_account_exchanges_at_sts_then_impersonates() {
    let home = Home::new("[core]\nproject = acme-prod\n");
    let api = api().await;
    let sts = fake(|_| {
        reply(
            200,
            json!({"access_token": "ya29.federated", "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600}),
        )
    })
    .await;
    let iam = fake(|_| reply(200, json!({"accessToken": "ya29.wif-sa", "expireTime": "2099-01-01T00:00:00Z"}))).await;
    let subject = home.path("subject-token");
    std::fs::write(&subject, "ci-oidc-subject-token").unwrap();
    let file = home.path("wif.json");
    std::fs::write(
        &file,
        json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/providers/gh",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{}v1/token", sts.url),
            "service_account_impersonation_url": format!("{}v1/projects/-/serviceAccounts/ci@acme-prod.iam.gserviceaccount.com:generateAccessToken", iam.url),
            "credential_source": {"file": subject},
        })
        .to_string(),
    )
    .unwrap();
    let gac = file.display().to_string();
    let http =
        http(&home, Flags::default(), &[("GOOGLE_APPLICATION_CREDENTIALS", &gac)], &api, None, AuthOptions::default())
            .unwrap();
    for _ in 0..5 {
        get(&http, &api).await.unwrap();
    }
    let exchanged = sts.seen();
    assert_eq!(exchanged.len(), 1);
    assert!(exchanged[0].body.contains("subject_token=ci-oidc-subject-token"), "{:?}", exchanged[0].body);
    let minted = iam.seen();
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0].header("authorization"), Some("Bearer ya29.federated"));
    let seen = api.seen();
    assert!(seen.iter().all(|s| s.header("authorization") == Some("Bearer ya29.wif-sa")), "{seen:?}");
    // Not a person's credential: the CURRENT_PROJECT default does not apply.
    assert!(seen.iter().all(|s| s.header("x-goog-user-project").is_none()), "{seen:?}");
}
