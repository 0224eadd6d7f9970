//! `runiam proxy` against the emulator: a granted caller gets through and
//! an ungranted one gets Cloud Run's 403 explained with troubleshoot's
//! finding; a short-lived token is renewed under a running session without
//! a failed request; a server-sent event stream (both directions at once)
//! and a WebSocket pass through; a non-loopback bind is refused; and no
//! token reaches stderr or the --log file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use runiam_emulator::container::{OP_CLOSE, OP_TEXT, decode, encode};
use serde_json::{Value, json};

use crate::common::{Emulator, cmd, faults, root, runiam};

const SVC: &str = "projects/prx-proj/locations/europe-west1/services/api";

fn sa(name: &str) -> String {
    format!("serviceAccount:{name}@prx-proj.iam.gserviceaccount.com")
}

fn world() -> PathBuf {
    root().join("tests/e2e/data/proxy-world.yaml")
}

/// A running `runiam proxy` on a free loopback port, killed on drop.
struct Proxy {
    child: Child,
    /// `http://127.0.0.1:PORT`, as it printed it.
    url: String,
    stderr: PathBuf,
}

impl Proxy {
    fn start(emu: &Emulator, dir: &Path, args: &[&str]) -> Self {
        use std::io::BufRead;
        let stderr = dir.join(format!("proxy-{}.stderr", args.join("_").replace(['/', ':', '@'], "-")));
        let mut c = cmd("runiam", dir);
        c.current_dir(dir)
            .env("RUNIAM_EMULATOR_HOST", emu.host())
            .args(["proxy", SVC, "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = c.spawn().expect("runiam proxy starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "proxy printed {url:?}: {}",
            std::fs::read_to_string(&stderr).unwrap()
        );
        Self { child, url, stderr }
    }

    fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// What it printed on stderr so far; never a token.
    fn stderr(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap();
        assert!(!text.contains("eyJ"), "a token leaked:\n{text}");
        text
    }

    /// Waits up to 30 s for stderr to hold `needle`.
    fn await_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.stderr();
            if text.contains(needle) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request through the proxy: (status, body).
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

#[test]
fn granted_gets_through_and_the_ungranted_403_is_explained() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.log");
    let granted = Proxy::start(&emu, dir.path(), &["--as", &sa("granted"), "--log", log.to_str().unwrap()]);

    // The client's own Authorization is replaced by the caller's token.
    let (status, body) = get(&format!("{}/hello?x=1", granted.url), &[("authorization", "Bearer not-a-token")]);
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body, json!({"service": "api", "caller": "granted@prx-proj.iam.gserviceaccount.com", "path": "/hello"}));
    let logged = std::fs::read_to_string(&log).unwrap();
    let line = logged.lines().next().unwrap_or_default();
    assert!(line.contains(" GET /hello 200 ") && line.ends_with(" container"), "{logged}");
    assert!(!logged.contains("x=1") && !logged.contains("eyJ"), "{logged}");

    let stranger = Proxy::start(&emu, dir.path(), &["--as", &sa("stranger")]);
    let (status, body) = get(&format!("{}/private", stranger.url), &[]);
    assert_eq!(status, 403);
    assert!(body.contains("<h1>Error: Forbidden</h1>"), "Cloud Run's page passes through: {body}");
    let err = stranger.await_stderr("next:");
    let line = err.lines().find(|l| l.contains("GET /private")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("Cloud Run's front end answered 403: [iam.no-grant]"), "{line}");
    assert!(line.ends_with(&format!("next: runiam grant-invoker {SVC} --member {} --apply", sa("stranger"))), "{line}");
}

#[test]
fn keep_auth_passes_the_clients_header_and_sends_the_token_beside_it() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&emu, dir.path(), &["--as", &sa("granted"), "--keep-auth", "--tag", "blue"]);
    // Cloud Run judges X-Serverless-Authorization first: the app's own
    // (not a token Cloud Run would take) reaches the container untouched.
    let (status, body) = get(&format!("{}/", proxy.url), &[("authorization", "Basic YXBwOmFwcA==")]);
    assert_eq!(status, 200, "{body}");
    assert!(proxy.stderr().contains("https://blue---api-700000000001.europe-west1.run.app"), "{}", proxy.stderr());
}

#[test]
fn a_short_lived_token_is_renewed_without_a_failed_request() {
    let emu = Emulator::start(&world(), &[]);
    faults(&emu, json!({"idTokenSeconds": 3}));
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&emu, dir.path(), &["--as", &sa("granted")]);
    // Eight seconds of requests: well past two lifetimes of the first token.
    let started = Instant::now();
    let mut statuses = Vec::new();
    while started.elapsed() < Duration::from_secs(8) {
        statuses.push(get(&format!("{}/tick", proxy.url), &[]).0);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(statuses.len() > 20 && statuses.iter().all(|s| *s == 200), "{statuses:?}\n{}", proxy.stderr());
    let renewals = proxy.stderr().matches("renewed the ID token").count();
    assert!(renewals >= 2, "{}", proxy.stderr());
}

/// Reads from `s` until what was read holds `needle`; all of it.
fn read_until(s: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) -> String {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = s
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}; read {:?}", String::from_utf8_lossy(seen)));
        assert!(n > 0, "closed before {needle:?}: {:?}", String::from_utf8_lossy(seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(seen).into_owned()
}

#[test]
fn event_streams_and_websockets_pass_through() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&emu, dir.path(), &["--as", &sa("granted")]);

    // Each event answers a chunk sent after the previous event arrived: a
    // proxy that held back either direction would hang here.
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n").unwrap();
    let mut seen = Vec::new();
    let head = read_until(&mut s, &mut seen, "data: first\n\n");
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("text/event-stream"), "{head}");
    assert!(!head.contains("second"));
    s.write_all(b"6\r\nsecond\r\n").unwrap();
    read_until(&mut s, &mut seen, "data: second\n\n");
    s.write_all(b"0\r\n\r\n").unwrap();
    read_until(&mut s, &mut seen, "event: end");

    // A WebSocket: the handshake's answer is the container's, frames echo.
    let mut ws = TcpStream::connect(proxy.addr()).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    ws.write_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let head = read_until(&mut ws, &mut seen, "\r\n\r\n").to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    let mut buf = seen.split_off(head.find("\r\n\r\n").unwrap() + 4);
    for message in ["hello through the proxy", "and again"] {
        ws.write_all(&encode(true, OP_TEXT, message.as_bytes(), Some([7, 1, 9, 3]))).unwrap();
        let frame = loop {
            if let Some((frame, used)) = decode(&buf).unwrap() {
                buf.drain(..used);
                break frame;
            }
            let mut chunk = [0u8; 1024];
            let n = ws.read(&mut chunk).unwrap();
            assert!(n > 0, "the WebSocket closed");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert_eq!((frame.opcode, frame.payload.as_slice()), (OP_TEXT, message.as_bytes()));
    }
    ws.write_all(&encode(true, OP_CLOSE, b"", Some([1, 2, 3, 4]))).unwrap();
}

#[test]
fn a_non_loopback_bind_is_refused() {
    let emu = Emulator::start(&world(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = runiam(&emu, dir.path(), &["proxy", SVC, "--as", &sa("granted"), "--bind", "0.0.0.0"], "");
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("--bind 0.0.0.0 is not a loopback address"), "{err}");
    assert!(err.contains("--allow-remote"), "{err}");
}
