//! Forwarding one local request: its headers minus the hop-by-hop ones,
//! the caller's token in `Authorization` (or `X-Serverless-Authorization`
//! with `--keep-auth`), its body streamed to the service and the answer's
//! streamed back. A `101 Switching Protocols` (WebSocket) splices the two
//! upgraded connections. Only a small 401/403/404 is read whole, because
//! Cloud Run's front end is told from the container by its page
//! (`runiam_verify::answer::classify`, docs/cloud-run.md).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{AUTHORIZATION, CONNECTION, HOST, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use runiam_core::CommandError;
use runiam_core::auth::Secret;
use runiam_core::config::Config;
use runiam_core::redact::redact;
use runiam_verify::answer::{Answer, classify, reads_body};
use url::Url;

use crate::access::Log;
use crate::explain::Explainer;
use crate::token::Keeper;

/// Cloud Run's header for the caller's token when `Authorization` is the app's.
pub const SERVERLESS_AUTHORIZATION: HeaderName = HeaderName::from_static("x-serverless-authorization");
/// Cloud Run's own pages are a few hundred bytes; longer answers are the container's.
const MAX_PAGE: u64 = 64 * 1024;
/// Headers that belong to one connection, never forwarded (RFC 9110, section 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Where requests go.
pub struct Upstream {
    client: reqwest::Client,
    /// The service's (or tag's) URL, or the emulator's base URL.
    base: Url,
    /// Against the emulator, the service's Host.
    host: Option<HeaderValue>,
}

impl Upstream {
    pub fn new(service_url: &str, emulator: Option<&Url>, config: &Config) -> Result<Self, CommandError> {
        let url = Url::parse(service_url)
            .map_err(|e| CommandError::usage(format!("the service URL '{service_url}' is not a URL: {e}")))?;
        let (base, host) = match emulator {
            Some(e) => {
                let host = HeaderValue::from_str(url.host_str().unwrap_or_default())
                    .map_err(|_| CommandError::usage(format!("the service URL '{service_url}' has no usable host")))?;
                (e.clone(), Some(host))
            }
            None => (url, None),
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A redirect is the client's to follow, through the proxy again.
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_merge(runiam_core::http::tls_roots(config)?)
            .build()
            .map_err(|e| CommandError::api(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { client, base, host })
    }

    fn url(&self, path: &str, query: Option<&str>) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url.set_query(query);
        url
    }
}

/// Everything a request needs.
pub struct Proxy {
    pub upstream: Upstream,
    pub keeper: Keeper,
    pub keep_auth: bool,
    pub explainer: Explainer,
    pub log: Option<Log>,
}

/// Serves HTTP/1.1 (upgrades included) on `listener` until `stop` resolves.
pub async fn serve(listener: tokio::net::TcpListener, proxy: Arc<Proxy>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    eprintln!("runiam proxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let _ = stream.set_nodelay(true);
        let proxy = Arc::clone(&proxy);
        let service = hyper::service::service_fn(move |req| {
            let proxy = Arc::clone(&proxy);
            async move { Ok::<_, Infallible>(forward(&proxy, req).await) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// The protocol a request asks to upgrade to (`Connection: upgrade` with `Upgrade`).
fn upgrade_to(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(UPGRADE).cloned()).flatten()
}

/// Removes the hop-by-hop headers, and those `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain([&UPGRADE]) {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The request's headers as the service gets them: the caller's token in,
/// the client's Authorization out unless `keep_auth`.
pub fn upstream_headers(
    mut headers: HeaderMap,
    bearer: HeaderValue,
    keep_auth: bool,
    host: Option<&HeaderValue>,
    upgrade: Option<&HeaderValue>,
) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    headers.remove(HOST);
    // Cloud Run reads X-Serverless-Authorization first: the client's own must not win.
    headers.remove(SERVERLESS_AUTHORIZATION);
    if keep_auth {
        headers.insert(SERVERLESS_AUTHORIZATION, bearer);
    } else {
        headers.insert(AUTHORIZATION, bearer);
    }
    if let Some(h) = host {
        headers.insert(HOST, h.clone());
    }
    if let Some(protocol) = upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, protocol.clone());
    }
    headers
}

async fn forward(proxy: &Arc<Proxy>, mut req: Request<Incoming>) -> Response<reqwest::Body> {
    let started = Instant::now();
    let upgrade = upgrade_to(req.headers());
    let client_side = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
    let bearer = proxy.keeper.bearer();
    let headers = upstream_headers(
        parts.headers,
        bearer.clone(),
        proxy.keep_auth,
        proxy.upstream.host.as_ref(),
        upgrade.as_ref(),
    );
    let mut request = reqwest::Request::new(method.clone(), proxy.upstream.url(&path, parts.uri.query()));
    *request.headers_mut() = headers;
    if !body.is_end_stream() {
        *request.body_mut() = Some(reqwest::Body::wrap(body));
    }
    if upgrade.is_some() {
        *request.version_mut() = Version::HTTP_11;
    }
    let answered = match proxy.upstream.client.execute(request).await {
        Ok(r) => r,
        Err(e) => return no_answer(proxy, &method, &path, started, &e),
    };
    let status = answered.status();
    let (response, answer) = match client_side {
        Some(client_side) if status == StatusCode::SWITCHING_PROTOCOLS => (splice(answered, client_side), None),
        _ if reads_body(status.as_u16()) && answered.content_length().is_some_and(|n| n <= MAX_PAGE) => {
            page(answered).await
        }
        _ => {
            let mut r: Response<reqwest::Body> = answered.into();
            strip_hop_by_hop(r.headers_mut());
            (r, None)
        }
    };
    let latency = started.elapsed();
    let by = match &answer {
        Some(Answer::CloudRun { .. }) => "cloud-run",
        _ => "container",
    };
    if let Some(log) = &proxy.log {
        log.write(method.as_str(), &path, status.as_u16(), latency, by);
    }
    if let Some(answer @ Answer::CloudRun { .. }) = answer {
        let sent = bearer.to_str().ok().and_then(|b| b.strip_prefix("Bearer ")).map(Secret::new);
        let proxy = Arc::clone(proxy);
        tokio::spawn(async move { proxy.explainer.refused(method.as_str(), &path, &answer, sent).await });
    }
    response
}

/// A small 401/403/404, read whole to tell Cloud Run's page from the container's answer.
async fn page(answered: reqwest::Response) -> (Response<reqwest::Body>, Option<Answer>) {
    let status = answered.status();
    let mut headers = answered.headers().clone();
    strip_hop_by_hop(&mut headers);
    let (body, answer) = match answered.bytes().await {
        Ok(bytes) => {
            let answer = classify(status.as_u16(), &bytes);
            (reqwest::Body::from(bytes), Some(answer))
        }
        Err(e) => {
            (reqwest::Body::from(format!("runiam proxy: the answer broke off: {}\n", redact(&e.to_string()))), None)
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    (r, answer)
}

/// The 101 as the service sent it, and both upgraded connections spliced
/// once the client has it.
fn splice(answered: reqwest::Response, client_side: hyper::upgrade::OnUpgrade) -> Response<reqwest::Body> {
    let mut r = Response::new(reqwest::Body::from(Vec::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *r.headers_mut() = answered.headers().clone();
    tokio::spawn(async move {
        let (service_side, client_side) = tokio::join!(answered.upgrade(), client_side);
        match (service_side, client_side) {
            (Ok(mut service_side), Ok(client_side)) => {
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client_side), &mut service_side).await;
            }
            (Err(e), _) => {
                eprintln!("runiam proxy: the service's upgraded connection failed: {}", redact(&e.to_string()))
            }
            (_, Err(e)) => eprintln!("runiam proxy: the client's upgraded connection failed: {e}"),
        }
    });
    r
}

/// 502 with the reason, when the service gave no answer.
fn no_answer(
    proxy: &Proxy,
    method: &Method,
    path: &str,
    started: Instant,
    e: &reqwest::Error,
) -> Response<reqwest::Body> {
    // Against the emulator the URL is its port, which says nothing to the user.
    let why = redact(&format!("{}", DisplayChain(e)));
    eprintln!("runiam proxy: {method} {path}: no answer from the service: {why}");
    if let Some(log) = &proxy.log {
        log.write(method.as_str(), path, 502, started.elapsed(), "none");
    }
    let mut r = Response::new(reqwest::Body::from(format!("runiam proxy: no answer from the service: {why}\n")));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// An error and its causes, `: `-separated.
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cur = self.0.source();
        while let Some(e) = cur {
            write!(f, ": {e}")?;
            cur = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_token_replaces_the_clients_authorization() {
        let client = headers(&[
            ("authorization", "Bearer app"),
            ("x-serverless-authorization", "Bearer other"),
            ("host", "127.0.0.1:8080"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("accept", "text/event-stream"),
        ]);
        let token = HeaderValue::from_static("Bearer id");
        let host = HeaderValue::from_static("api-1.europe-west1.run.app");
        let h = upstream_headers(client.clone(), token.clone(), false, Some(&host), None);
        assert_eq!(h.get("authorization").unwrap(), "Bearer id");
        assert!(h.get("x-serverless-authorization").is_none());
        assert_eq!(h.get("host").unwrap(), "api-1.europe-west1.run.app");
        for gone in ["connection", "x-hop", "keep-alive"] {
            assert!(h.get(gone).is_none(), "{gone}");
        }
        assert_eq!(h.get("accept").unwrap(), "text/event-stream");

        // --keep-auth: the app's header through, the token beside it.
        let h = upstream_headers(client, token, true, None, None);
        assert_eq!(h.get("authorization").unwrap(), "Bearer app");
        assert_eq!(h.get_all("x-serverless-authorization").iter().collect::<Vec<_>>(), ["Bearer id"]);
        assert!(h.get("host").is_none());
    }

    #[test]
    fn upgrades_are_asked_for_and_passed_on() {
        let ws = headers(&[("connection", "keep-alive, Upgrade"), ("upgrade", "websocket")]);
        let protocol = upgrade_to(&ws).unwrap();
        assert_eq!(protocol, "websocket");
        let h = upstream_headers(ws, HeaderValue::from_static("Bearer id"), false, None, Some(&protocol));
        assert_eq!(h.get("connection").unwrap(), "upgrade");
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(upgrade_to(&headers(&[("upgrade", "websocket")])), None);
    }

    proptest::proptest! {
        #[test]
        fn any_client_headers_are_forwarded_without_panic(
            pairs in proptest::collection::vec(("[a-z-]{1,12}|connection|upgrade", proptest::collection::vec(proptest::num::u8::ANY, 0..40)), 0..8)
        ) {
            let mut h = HeaderMap::new();
            for (k, v) in &pairs {
                if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_bytes(v)) {
                    h.append(k, v);
                }
            }
            let upgrade = upgrade_to(&h);
            let out = upstream_headers(h, HeaderValue::from_static("Bearer id"), false, None, upgrade.as_ref());
            proptest::prop_assert_eq!(out.get_all(AUTHORIZATION).iter().count(), 1);
        }
    }
}
