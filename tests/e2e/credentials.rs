//! Real credentials through the real binaries: the emulator reached the way
//! Google is (endpoint overrides, a bearer token, no RUNIAM_EMULATOR_HOST),
//! a fake `gcloud` on PATH that logs its arguments, a forward proxy, a fake
//! metadata server, and a TLS server whose CA the system does not trust.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Emulator, cmd, path_with, run, script};

/// The APIs export and verify read, as gcloud names their overrides.
const APIS: [&str; 6] = ["RUN", "CLOUDRESOURCEMANAGER", "IAM", "IAMCREDENTIALS", "LOGGING", "CLOUDASSET"];

/// A world of `n` services in one project.
fn many_services(dir: &Path, n: usize) -> std::path::PathBuf {
    let services: Vec<Value> =
        (0..n).map(|i| json!({"name": format!("svc-{i:02}"), "region": "europe-west1"})).collect();
    let world = json!({"projects": [{"id": "many-proj", "number": "500000000001", "services": services}]});
    let path = dir.join("world.yaml");
    std::fs::write(&path, serde_saphyr::to_string(&world).unwrap()).unwrap();
    path
}

/// A gcloud configuration with a logged-in user, and a fake gcloud in
/// `bin/` answering config-helper with `token` (expiring in an hour) and
/// logging each run's arguments to `gcloud.log`.
fn gcloud_home(home: &Path, account: &str, token: &str, impersonated: Option<&str>) {
    let cfg = home.join("gcloud/configurations");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(home.join("gcloud/active_config"), "default").unwrap();
    std::fs::write(cfg.join("config_default"), format!("[core]\naccount = {account}\nproject = many-proj\n")).unwrap();
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let expiry = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let mut answer = json!({
        "configuration": {"active_configuration": "default", "properties": {"core": {"account": account, "project": "many-proj"}}},
        "credential": {"access_token": token, "token_expiry": expiry.to_string(), "id_token": null},
    });
    if let Some(sa) = impersonated {
        answer["configuration"]["properties"]["auth"] = json!({"impersonate_service_account": sa});
    }
    std::fs::write(home.join("answer.json"), answer.to_string()).unwrap();
    script(
        &home.join("bin/gcloud"),
        &format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\ncat '{}'\n",
            home.join("gcloud.log").display(),
            home.join("answer.json").display()
        ),
    );
}

/// A plain-HTTP forward proxy: logs each request line and relays the
/// request to `upstream` (host:port), whatever host it names.
fn forward_proxy(upstream: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (upstream, seen) = (upstream.clone(), seen.clone());
            std::thread::spawn(move || relay(conn, &upstream, &seen));
        }
    });
    (format!("http://{addr}"), log)
}

/// One proxied request: the absolute-form request line is logged and
/// rewritten to origin form; the answer is copied back, one request a
/// connection.
fn relay(client: TcpStream, upstream: &str, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    seen.lock().unwrap().push(line.trim().to_owned());
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
    let path = target.splitn(4, '/').nth(3).map_or("/".to_owned(), |p| format!("/{p}"));
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") && !lower.starts_with("proxy-") && !lower.starts_with("host:") {
            head.push_str(&h);
        }
    }
    head.push_str(&format!("Host: {upstream}\r\nConnection: close\r\n\r\n"));
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let Ok(mut up) = TcpStream::connect(upstream) else { return };
    let _ = up.write_all(head.as_bytes()).and_then(|_| up.write_all(&body));
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer);
    let mut client = client;
    let _ = client.write_all(&answer);
}

/// A metadata server: logs each request line and answers the token call.
fn metadata_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut flavor = false;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                flavor |= h.to_ascii_lowercase().starts_with("metadata-flavor: google");
            }
            seen.lock().unwrap().push(line.trim().to_owned());
            let body = if line.contains("/token") && flavor {
                r#"{"access_token":"ya29.from-metadata","expires_in":3599,"token_type":"Bearer"}"#
            } else {
                "runtime@many-proj.iam.gserviceaccount.com"
            };
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nMetadata-Flavor: Google\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, log)
}

/// runiam-export of every service of `world`, against the emulator at
/// the overridden endpoints (so credentials are really used).
fn export_cmd(home: &Path, base: &str) -> Command {
    let mut c = cmd("runiam-export", home);
    for api in APIS {
        c.env(format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}"), base);
    }
    c.args(["--all", "--project", "many-proj", "-o", "json"]);
    c
}

/// One gcloud run for a 40-service export, and `--verbose` names the
/// source, the account, the quota project and the configuration file —
/// never the token.
#[test]
fn a_forty_service_export_runs_gcloud_once() {
    let home = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&many_services(home.path(), 40), &[]);
    gcloud_home(home.path(), "ops@acme.example", "ya29.gcloud-user-token", None);
    let mut c = export_cmd(home.path(), &format!("{}/", emu.url));
    c.env("PATH", path_with(&home.path().join("bin"))).arg("--verbose");
    let started = Instant::now();
    let (out, text) = run(c, "");
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 40);
    let runs = std::fs::read_to_string(home.path().join("gcloud.log")).unwrap();
    assert_eq!(
        runs.lines().collect::<Vec<_>>(),
        vec!["config config-helper --format=json --min-expiry=300s --quiet --account=ops@acme.example"]
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("credentials")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("config-helper"), "{line}");
    assert!(line.contains("account=ops@acme.example"), "{line}");
    assert!(line.contains("quota_project=many-proj"), "{line}");
    assert!(
        line.contains(&format!("gcloud_config={}", home.path().join("gcloud/configurations/config_default").display())),
        "{line}"
    );
    assert!(!err.contains("ya29.gcloud-user-token"), "{err}");
}

/// With gcloud impersonating (here through the environment, which gcloud
/// reads itself), runiam sends gcloud's token as is and `--verbose` says
/// gcloud impersonates; no quota project goes with a service account's token.
#[test]
fn gcloud_impersonation_is_named_and_not_repeated() {
    let home = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&many_services(home.path(), 3), &[]);
    let sa = "deployer@many-proj.iam.gserviceaccount.com";
    gcloud_home(home.path(), "ops@acme.example", "ya29.gcloud-sa-token", Some(sa));
    let mut c = export_cmd(home.path(), &format!("{}/", emu.url));
    c.env("PATH", path_with(&home.path().join("bin")))
        .env("CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", sa)
        .arg("--verbose");
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("credentials")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(&format!("impersonating={sa} (by gcloud)")), "{line}");
    assert!(line.contains("quota_project=-"), "{line}");
    assert!(!err.contains("generateAccessToken"), "{err}");
    let runs = std::fs::read_to_string(home.path().join("gcloud.log")).unwrap();
    assert_eq!(runs.lines().count(), 1, "{runs}");
}

/// Google APIs go through HTTP(S)_PROXY; the metadata server never does.
/// The API host does not resolve: only the proxy can reach it.
#[test]
fn apis_go_through_the_proxy_and_the_metadata_server_never() {
    let home = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&many_services(home.path(), 2), &[]);
    let (proxy, proxied) = forward_proxy(emu.host().to_owned());
    let (metadata, asked) = metadata_server();
    let mut c = export_cmd(home.path(), "http://run.googleapis.invalid/");
    c.env("HTTP_PROXY", &proxy).env("HTTPS_PROXY", &proxy).env("GCE_METADATA_HOST", &metadata);
    // No gcloud account and no ADC file: the metadata server is the credential.
    c.env("PATH", "/nonexistent");
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let proxied = proxied.lock().unwrap().clone();
    assert!(!proxied.is_empty());
    assert!(proxied.iter().all(|l| l.contains("http://run.googleapis.invalid/")), "{proxied:?}");
    assert!(!proxied.iter().any(|l| l.contains("computeMetadata")), "{proxied:?}");
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked, vec!["GET /computeMetadata/v1/instance/service-accounts/default/token HTTP/1.1"]);
}

/// A test CA, and a server certificate for `san` it signed (openssl).
fn test_ca(dir: &Path, san: &str) {
    let sh = format!(
        "set -e; cd '{}'
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=runiam-test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=runiam-test-server 2>/dev/null
printf 'subjectAltName={san}\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext 2>/dev/null",
        dir.display()
    );
    let st = Command::new("sh").arg("-c").arg(sh).status().unwrap();
    assert!(st.success(), "openssl could not make the test CA");
}

/// `openssl s_server` with the test certificate, stopped on drop.
struct TlsServer(Child, u16);

impl TlsServer {
    fn start(dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept", &port.to_string(), "-cert", "srv.pem", "-key", "srv.key"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child, port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An untrusted CA is named as such, with the setting that fixes it; with
/// gcloud's custom CA file set the TLS handshake succeeds; a CA file that
/// is not PEM is bad input.
#[test]
fn custom_ca_file_is_honoured_and_tls_failures_say_so() {
    let home = tempfile::tempdir().unwrap();
    test_ca(home.path(), "IP:127.0.0.1");
    let server = TlsServer::start(home.path());
    let base = format!("https://127.0.0.1:{}/", server.1);
    let mut c = export_cmd(home.path(), &base);
    c.env("CLOUDSDK_AUTH_ACCESS_TOKEN", "ya29.test");
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("hint: the server's TLS certificate is not trusted: behind a TLS-inspecting proxy, set CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE"), "{text}");

    let mut c = export_cmd(home.path(), &base);
    c.env("CLOUDSDK_AUTH_ACCESS_TOKEN", "ya29.test")
        .env("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", home.path().join("ca.pem"));
    let (out, text) = run(c, "");
    // The handshake is trusted; s_server's status page is no API answer.
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("certificate"), "{text}");

    let mut c = export_cmd(home.path(), &base);
    c.env("CLOUDSDK_AUTH_ACCESS_TOKEN", "ya29.test").env("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", home.path().join("ext"));
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("environment variable CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE"), "{text}");

    // PEM, but no certificate the TLS backend can read: refused where the client is built.
    let unreadable = home.path().join("unreadable.pem");
    std::fs::write(&unreadable, "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let mut c = export_cmd(home.path(), &base);
    c.env("CLOUDSDK_AUTH_ACCESS_TOKEN", "ya29.test").env("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", &unreadable);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("unreadable.pem (environment variable CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE) is refused"),
        "{text}"
    );
}

/// A load longer than its ID token's life renews the token between rounds.
#[test]
fn verify_renews_an_expiring_id_token_during_a_load() {
    let home = tempfile::tempdir().unwrap();
    let emu = Emulator::start(&many_services(home.path(), 1), &[]);
    let log = home.path().join("minted.log");
    // A JWT that expires in two minutes: inside the five-minute renewal window.
    let exp = chrono::Utc::now().timestamp() + 120;
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let jwt = format!("{}.{}.c2ln", b64(&json!({"alg": "RS256"})), b64(&json!({"exp": exp, "email": "a@b.example"})));
    let mint = format!("echo minted >> '{}'; echo {jwt}", log.display());
    let mut c = cmd("runiam", home.path());
    c.env("RUNIAM_EMULATOR_HOST", emu.host()).args([
        "verify",
        "svc-00",
        "--project",
        "many-proj",
        "--region",
        "europe-west1",
        "--as",
        "serviceAccount:a@many-proj.iam.gserviceaccount.com",
        "--id-token-cmd",
        &mint,
        "--requests",
        "30",
        "--concurrency",
        "1",
        "-o",
        "json",
    ]);
    let (_, text) = run(c, "");
    let minted = std::fs::read_to_string(&log).unwrap().lines().count();
    // The probe's token, then one before each of the load's two rounds.
    assert_eq!(minted, 3, "{text}");
}

/// What the fake Google front saw: the CONNECT target, then each request
/// inside the tunnel with the headers that matter.
#[derive(Clone, Debug)]
struct Tunnelled {
    connect: String,
    request: String,
    authorization: Option<String>,
    user_project: Option<String>,
}

/// An HTTPS proxy that is Google: it accepts `CONNECT host:443`, answers
/// TLS with the test certificate for `*.googleapis.com`, plays the OAuth
/// token endpoint for oauth2.googleapis.com, and relays API calls to the
/// emulator. One request a tunnel (it answers `Connection: close`).
fn google_behind_a_proxy(dir: &Path, emulator: String) -> (String, Arc<Mutex<Vec<Tunnelled>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join("srv.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("srv.key")).unwrap();
    let tls = tokio_rustls::rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let log: Arc<Mutex<Vec<Tunnelled>>> = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let upstream = reqwest::Client::builder().no_proxy().build().unwrap();
            while let Ok((sock, _)) = listener.accept().await {
                let (acceptor, seen, upstream, emulator) = (acceptor.clone(), seen.clone(), upstream.clone(), emulator.clone());
                tokio::spawn(async move {
                    let mut sock = tokio::io::BufReader::new(sock);
                    let mut connect = String::new();
                    sock.read_line(&mut connect).await.unwrap();
                    loop {
                        let mut h = String::new();
                        if sock.read_line(&mut h).await.unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    sock.get_mut().write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await.unwrap();
                    let Ok(tls) = acceptor.accept(sock.into_inner()).await else { return };
                    let mut tls = tokio::io::BufReader::new(tls);
                    let mut request = String::new();
                    tls.read_line(&mut request).await.unwrap();
                    let (mut length, mut authorization, mut user_project) = (0usize, None, None);
                    loop {
                        let mut h = String::new();
                        if tls.read_line(&mut h).await.unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        let (k, v) = h.split_once(':').map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned())).unwrap_or_default();
                        match k.as_str() {
                            "content-length" => length = v.parse().unwrap_or(0),
                            "authorization" => authorization = Some(v),
                            "x-goog-user-project" => user_project = Some(v),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    tls.read_exact(&mut body).await.unwrap();
                    let connect = connect.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    seen.lock().unwrap().push(Tunnelled {
                        connect: connect.clone(),
                        request: request.trim().to_owned(),
                        authorization: authorization.clone(),
                        user_project,
                    });
                    let mut words = request.split_whitespace();
                    let (method, target) = (words.next().unwrap_or("GET"), words.next().unwrap_or("/"));
                    let (status, answer) = if connect == "oauth2.googleapis.com:443" {
                        oauth(&emulator, &body).await
                    } else {
                        let mut req = upstream
                            .request(method.parse().unwrap(), format!("{emulator}{target}"))
                            .header("content-type", "application/json");
                        // A service URL: the emulator's front end serves it by Host.
                        if let Some(host) = connect.strip_suffix(":443").filter(|h| h.ends_with(".run.app")) {
                            req = req.header("host", host);
                        }
                        if let Some(a) = &authorization {
                            req = req.header("authorization", a);
                        }
                        let resp = req.body(body).send().await.unwrap();
                        (resp.status().as_u16(), resp.text().await.unwrap())
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        answer.len()
                    );
                    let tls = tls.get_mut();
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    (proxy, log)
}

/// Google's token endpoint: a refresh gets an access token; a service
/// account's signed assertion for a `target_audience` gets an ID token,
/// minted by the emulator for that account and audience.
async fn oauth(emulator: &str, form: &[u8]) -> (u16, String) {
    use base64::Engine;
    let form = String::from_utf8_lossy(form);
    let Some(assertion) = form.split('&').find_map(|kv| kv.strip_prefix("assertion=")) else {
        return (
            200,
            json!({"access_token": "ya29.via-proxy", "expires_in": 3599, "token_type": "Bearer"}).to_string(),
        );
    };
    let payload = assertion.split('.').nth(1).unwrap_or_default();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let mint = json!({"email": claims["iss"], "audience": claims["target_audience"]});
    let minted = runiam_emulator::client::Client::new(emulator).mint(mint).await.unwrap();
    (200, json!({"id_token": minted}).to_string())
}

/// Google's real host names behind HTTPS_PROXY, trusted through a test CA
/// (gcloud's custom CA file for runiam's client, SSL_CERT_FILE for
/// google-cloud-auth's): the ADC refresh at oauth2.googleapis.com, then
/// the API calls with that token and the file's quota project. No
/// endpoint override and no test-only code path.
#[test]
fn real_host_names_behind_an_https_proxy_with_a_test_ca() {
    let home = tempfile::tempdir().unwrap();
    test_ca(home.path(), "DNS:*.googleapis.com");
    let emu = Emulator::start(&many_services(home.path(), 2), &[]);
    let (proxy, seen) = google_behind_a_proxy(home.path(), emu.url.clone());
    std::fs::create_dir_all(home.path().join("gcloud")).unwrap();
    let adc = json!({
        "type": "authorized_user",
        "client_id": "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
        "client_secret": "test-secret",
        "refresh_token": "1//test-refresh",
        "quota_project_id": "adc-quota",
    });
    std::fs::write(home.path().join("gcloud/application_default_credentials.json"), adc.to_string()).unwrap();
    let ca = home.path().join("ca.pem");
    let mut c = cmd("runiam-export", home.path());
    c.args(["--all", "--project", "many-proj", "-o", "json"])
        .env("PATH", "/nonexistent")
        .env("HTTPS_PROXY", &proxy)
        .env("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .env("GCE_METADATA_HOST", "127.0.0.1:9");
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let seen = seen.lock().unwrap().clone();
    let token_calls: Vec<_> = seen.iter().filter(|t| t.connect == "oauth2.googleapis.com:443").collect();
    assert_eq!(token_calls.len(), 1, "{seen:?}");
    assert_eq!(token_calls[0].request, "POST /token HTTP/1.1");
    let api: Vec<_> = seen.iter().filter(|t| t.connect != "oauth2.googleapis.com:443").collect();
    assert!(!api.is_empty());
    for t in api {
        assert!(t.connect.ends_with(".googleapis.com:443"), "{t:?}");
        assert_eq!(t.authorization.as_deref(), Some("Bearer ya29.via-proxy"), "{t:?}");
        assert_eq!(t.user_project.as_deref(), Some("adc-quota"), "{t:?}");
    }
}

/// Without --as, verify calls as the credential's own identity: a service
/// account key's ID token made by google-cloud-auth at Google's token
/// endpoint, behind the proxy, and accepted by the service.
#[test]
fn verify_without_as_uses_the_key_files_own_id_token() {
    let home = tempfile::tempdir().unwrap();
    test_ca(home.path(), "DNS:*.googleapis.com,DNS:*.europe-west1.run.app,DNS:*.a.run.app");
    let runtime = "runtime@many-proj.iam.gserviceaccount.com";
    let world = json!({"projects": [{"id": "many-proj", "number": "500000000001", "services": [{
        "name": "svc-00", "region": "europe-west1",
        "iamPolicy": {"bindings": [{"role": "roles/run.invoker", "members": [format!("serviceAccount:{runtime}")]}]},
    }]}]});
    std::fs::write(home.path().join("world.yaml"), serde_saphyr::to_string(&world).unwrap()).unwrap();
    let emu = Emulator::start(&home.path().join("world.yaml"), &[]);
    let (proxy, seen) = google_behind_a_proxy(home.path(), emu.url.clone());
    let key = json!({
        "type": "service_account",
        "project_id": "many-proj",
        "private_key_id": "test-key",
        "private_key": std::fs::read_to_string(home.path().join("srv.key")).unwrap(),
        "client_email": runtime,
        "client_id": "100000000000000000001",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    std::fs::write(home.path().join("key.json"), key.to_string()).unwrap();
    let ca = home.path().join("ca.pem");
    let mut c = cmd("runiam", home.path());
    c.args(["verify", "svc-00", "--project", "many-proj", "--region", "europe-west1", "-o", "json"])
        .env("PATH", "/nonexistent")
        .env("GOOGLE_APPLICATION_CREDENTIALS", home.path().join("key.json"))
        .env("HTTPS_PROXY", &proxy)
        .env("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", &ca)
        .env("SSL_CERT_FILE", &ca);
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["as"], format!("serviceAccount:{runtime}"), "{report:#}");
    let seen = seen.lock().unwrap().clone();
    let minted: Vec<_> = seen.iter().filter(|t| t.connect == "oauth2.googleapis.com:443").collect();
    assert_eq!(minted.len(), 1, "{seen:?}");
    assert!(seen.iter().any(|t| t.connect == "svc-00-500000000001.europe-west1.run.app:443"), "{seen:?}");
}
