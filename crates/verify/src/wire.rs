//! The smoke load's own HTTP/1.1 for plain-HTTP targets, built as wrk is:
//! one thread per core, each with its own event loop and its share of the
//! connections, one connection per load worker, the request's bytes built
//! once and written whole, answers parsed in place. A pooled client hands
//! every request to a connection task and back across threads; at tens of
//! thousands of requests a second it spent six times wrk's CPU per request,
//! taken from the server it measured, and reported latencies 1.3 to 2.4
//! times wrk's.
//!
//! Used for `http://` targets (the emulator, a local proxy) when no proxy is
//! configured; HTTPS and proxied targets keep reqwest, whose TLS and proxy
//! handling matter there and whose cost is small beside a network round trip.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderValue;
use runiam_core::redact::redact;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::answer::{Answer, USER_AGENT, classify, reads_body};

/// How much of a body is kept for [`classify`]; the rest is read and dropped.
const BODY_KEPT: usize = 4096;
/// The largest status line and headers accepted.
const HEAD_LIMIT: usize = 64 * 1024;
/// Headers parsed per answer.
const HEADERS: usize = 64;

/// Proxy variables reqwest honours for `http://` URLs: with any of them
/// set, the load goes through reqwest so that it takes the same path.
const PROXY_VARIABLES: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];

/// How many requests of a load have been sent, for its progress bar: the
/// counters the load's workers already take request numbers from, each
/// with its share, so counting costs the requests nothing.
#[derive(Debug, Default)]
pub struct Sent {
    counters: std::sync::Mutex<Vec<(Arc<AtomicU64>, u64)>>,
}

impl Sent {
    /// A new counter for `share` requests, counted from now on.
    pub fn track(&self, share: u64) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        if let Ok(mut c) = self.counters.lock() {
            c.push((Arc::clone(&counter), share));
        }
        counter
    }

    /// Requests handed out so far (a worker takes one number past its share to stop).
    pub fn count(&self) -> u64 {
        self.counters
            .lock()
            .map(|c| c.iter().map(|(n, share)| n.load(Ordering::Relaxed).min(*share)).sum())
            .unwrap_or(0)
    }
}

/// One request, as every load worker sends it.
#[derive(Debug)]
pub struct Plain {
    host: String,
    port: u16,
    /// The whole request, token included: written as is, never shown.
    request: Vec<u8>,
    head: bool,
    timeout: Duration,
}

impl Plain {
    /// The request to `send_to` with `host_header` as its Host; `None`
    /// when `send_to` is not plain HTTP or a proxy is configured.
    pub fn new(
        send_to: &Url,
        host_header: Option<&HeaderValue>,
        method: &Method,
        auth: Option<&HeaderValue>,
        timeout: Duration,
    ) -> Option<Self> {
        if send_to.scheme() != "http"
            || PROXY_VARIABLES.iter().any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
        {
            return None;
        }
        let host = send_to.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = send_to.port_or_known_default()?;
        let authority = &send_to[url::Position::BeforeHost..url::Position::AfterPort];
        let target = &send_to[url::Position::BeforePath..url::Position::AfterQuery];
        let mut request = format!("{method} {target} HTTP/1.1\r\nHost: ").into_bytes();
        request.extend_from_slice(host_header.map_or(authority.as_bytes(), HeaderValue::as_bytes));
        request.extend_from_slice(format!("\r\nUser-Agent: {USER_AGENT}\r\n").as_bytes());
        if let Some(a) = auth {
            request.extend_from_slice(b"Authorization: ");
            request.extend_from_slice(a.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        // Front ends answer 411 to a POST without a length.
        if !matches!(*method, Method::GET | Method::HEAD) {
            request.extend_from_slice(b"Content-Length: 0\r\n");
        }
        request.extend_from_slice(b"\r\n");
        Some(Self { host, port, request, head: *method == Method::HEAD, timeout })
    }

    /// `requests` calls from `concurrency` connections spread over one
    /// thread per core, each answer with its latency from before the
    /// request is written to the end of its body.
    pub async fn load(self, requests: u64, concurrency: usize, sent: &Sent) -> Vec<(Answer, Duration)> {
        let plain = Arc::new(self);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = cores.min(concurrency).max(1);
        let mut waiting = Vec::with_capacity(threads);
        for t in 0..threads {
            let workers = concurrency / threads + usize::from(t < concurrency % threads);
            // Each thread its own share: one counter for all would bounce
            // its cache line between the cores on every request.
            let share = requests / threads as u64 + u64::from((t as u64) < requests % threads as u64);
            let plain = Arc::clone(&plain);
            let next = sent.track(share);
            let (done, result) = tokio::sync::oneshot::channel();
            let spawned = std::thread::Builder::new().name(format!("load-{t}")).spawn(move || {
                let _ = done.send(plain.thread(&next, share, workers));
            });
            if let Err(e) = spawned {
                return vec![(Answer::Transport { error: format!("cannot start a load thread: {e}") }, Duration::ZERO)];
            }
            waiting.push(result);
        }
        let mut answers = Vec::with_capacity(usize::try_from(requests).unwrap_or(0).min(1 << 24));
        for result in waiting {
            match result.await {
                Ok(a) => answers.extend(a),
                Err(_) => {
                    answers.push((Answer::Transport { error: "a load thread stopped".to_owned() }, Duration::ZERO))
                }
            }
        }
        answers
    }

    /// One load thread: its own event loop, `workers` connections and
    /// `requests` requests.
    fn thread(self: &Arc<Self>, next: &Arc<AtomicU64>, requests: u64, workers: usize) -> Vec<(Answer, Duration)> {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                return vec![(Answer::Transport { error: format!("cannot start an event loop: {e}") }, Duration::ZERO)];
            }
        };
        runtime.block_on(async {
            let tasks: Vec<_> = (0..workers)
                .map(|_| {
                    let (plain, next) = (Arc::clone(self), Arc::clone(next));
                    tokio::spawn(async move { plain.worker(&next, requests, workers).await })
                })
                .collect();
            let mut out = Vec::with_capacity(usize::try_from(requests).unwrap_or(0).min(1 << 24));
            for t in tasks {
                match t.await {
                    Ok(a) => out.extend(a),
                    Err(e) => {
                        out.push((Answer::Transport { error: format!("a load worker stopped: {e}") }, Duration::ZERO))
                    }
                }
            }
            out
        })
    }

    /// One connection's requests while `next` hands out numbers below
    /// `requests` (shared by `workers`), reconnecting whenever the
    /// connection is lost or closed.
    async fn worker(&self, next: &AtomicU64, requests: u64, workers: usize) -> Vec<(Answer, Duration)> {
        let mut out =
            Vec::with_capacity(usize::try_from(requests / workers.max(1) as u64 + 1).unwrap_or(0).min(1 << 20));
        let mut link: Option<Link> = None;
        // One timer per worker, pushed later before each request: moving a
        // deadline later is cheap where a timer per request costs a wheel
        // insertion and removal each time.
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        while next.fetch_add(1, Ordering::Relaxed) < requests {
            let started = Instant::now();
            deadline.as_mut().reset(tokio::time::Instant::from_std(started) + self.timeout);
            let answer = tokio::select! {
                biased;
                answered = self.exchange(&mut link) => match answered {
                    Ok(answer) => answer,
                    Err(error) => {
                        link = None;
                        Answer::Transport { error: redact(&error.to_string()) }
                    }
                },
                () = &mut deadline => {
                    link = None;
                    Answer::Transport { error: format!("no answer within {} s", self.timeout.as_secs()) }
                }
            };
            out.push((answer, started.elapsed()));
        }
        out
    }

    /// One request and its answer. A kept-alive connection the server has
    /// closed in the meantime is reopened once without counting a failure.
    async fn exchange(&self, link: &mut Option<Link>) -> Result<Answer, Lost> {
        let reused = link.is_some();
        match self.exchange_on(link).await {
            Err(Lost::BeforeAnswer(_)) if reused => {
                *link = None;
                self.exchange_on(link).await
            }
            answered => answered,
        }
    }

    async fn exchange_on(&self, link: &mut Option<Link>) -> Result<Answer, Lost> {
        if link.is_none() {
            let stream = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| Lost::Other(format!("cannot connect to {}:{}: {e}", self.host, self.port)))?;
            let _ = stream.set_nodelay(true);
            *link = Some(Link { stream, buf: Vec::with_capacity(8192), pos: 0 });
        }
        let Some(l) = link.as_mut() else {
            return Err(Lost::Other("no connection".to_owned()));
        };
        l.buf.drain(..l.pos);
        l.pos = 0;
        l.stream.write_all(&self.request).await.map_err(|e| Lost::BeforeAnswer(e.to_string()))?;
        let head = loop {
            let head = match parse_head(&l.buf[l.pos..], self.head) {
                Ok(Some(h)) => h,
                Ok(None) if l.buf.len() - l.pos > HEAD_LIMIT => {
                    return Err(Lost::Other(format!("the answer's headers exceed {HEAD_LIMIT} bytes")));
                }
                Ok(None) => {
                    let first = l.buf.len() == l.pos;
                    if l.fill().await.map_err(|e| Lost::BeforeAnswer(e.to_string()))? == 0 {
                        let gone = "the server closed the connection".to_owned();
                        return Err(if first { Lost::BeforeAnswer(gone) } else { Lost::Other(gone) });
                    }
                    continue;
                }
                Err(e) => return Err(Lost::Other(e)),
            };
            l.pos += head.len;
            // Interim answers (100 Continue) precede the real one.
            if !(100..200).contains(&head.status) || head.status == 101 {
                break head;
            }
        };
        let mut kept = Kept { bytes: Vec::new(), limit: if reads_body(head.status) { BODY_KEPT } else { 0 } };
        let close = match head.framing {
            Framing::Empty => head.close,
            Framing::Length(n) => {
                l.take(n, &mut kept).await?;
                head.close
            }
            Framing::Chunked => {
                l.chunked(&mut kept).await?;
                head.close
            }
            Framing::UntilClose => {
                l.take(u64::MAX, &mut kept).await?;
                true
            }
        };
        if close {
            *link = None;
        }
        Ok(classify(head.status, &kept.bytes))
    }
}

/// How an exchange failed: before any byte of the answer (a kept-alive
/// connection the server dropped, worth one retry) or otherwise.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum Lost {
    #[error("{0}")]
    BeforeAnswer(String),
    #[error("{0}")]
    Other(String),
}

/// The start of a body, as much of it as [`classify`] reads.
struct Kept {
    bytes: Vec<u8>,
    limit: usize,
}

/// A worker's connection and the bytes read but not yet used.
struct Link {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Link {
    /// Reads more bytes; 0 at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8192);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// Consumes `n` body bytes (`u64::MAX`: up to the end of the stream),
    /// keeping the first `kept.limit`.
    async fn take(&mut self, mut n: u64, kept: &mut Kept) -> Result<(), Lost> {
        while n > 0 {
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
                if self.fill().await.map_err(|e| Lost::Other(e.to_string()))? == 0 {
                    return if n == u64::MAX {
                        Ok(())
                    } else {
                        Err(Lost::Other("the answer ended mid-body".to_owned()))
                    };
                }
            }
            let available = &self.buf[self.pos..];
            let used = usize::try_from(n).map_or(available.len(), |n| n.min(available.len()));
            let room = kept.limit.saturating_sub(kept.bytes.len()).min(used);
            kept.bytes.extend_from_slice(&available[..room]);
            self.pos += used;
            if n != u64::MAX {
                n -= used as u64;
            }
        }
        Ok(())
    }

    /// A chunked body: chunks until the last, then trailers until a blank line.
    async fn chunked(&mut self, kept: &mut Kept) -> Result<(), Lost> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf[self.pos..]) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.pos += used;
                        break size;
                    }
                    Ok(httparse::Status::Partial) => self.more().await?,
                    Err(_) => return Err(Lost::Other("a malformed chunk size in the answer".to_owned())),
                }
            };
            if size == 0 {
                return self.trailers().await;
            }
            self.take(size, kept).await?;
            while self.buf.len() - self.pos < 2 {
                self.more().await?;
            }
            if &self.buf[self.pos..self.pos + 2] != b"\r\n" {
                return Err(Lost::Other("a chunk of the answer does not end with CRLF".to_owned()));
            }
            self.pos += 2;
        }
    }

    /// Trailer lines after the last chunk, up to and including the blank line.
    async fn trailers(&mut self) -> Result<(), Lost> {
        loop {
            match self.buf[self.pos..].windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.pos += 2;
                    return Ok(());
                }
                Some(end) => self.pos += end + 2,
                None if self.buf.len() - self.pos > HEAD_LIMIT => {
                    return Err(Lost::Other(format!("the answer's trailers exceed {HEAD_LIMIT} bytes")));
                }
                None => self.more().await?,
            }
        }
    }

    /// Reads more bytes mid-answer: the stream may not end here.
    async fn more(&mut self) -> Result<(), Lost> {
        match self.fill().await {
            Ok(0) => Err(Lost::Other("the answer ended mid-body".to_owned())),
            Ok(_) => Ok(()),
            Err(e) => Err(Lost::Other(e.to_string())),
        }
    }
}

/// How the body of an answer is delimited (RFC 9112 §6.3).
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed status line and headers.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    /// Bytes the head took.
    len: usize,
    framing: Framing,
    /// The server closes the connection after this answer.
    close: bool,
}

/// The head of an answer at the start of `bytes`: `None` until complete.
/// `head_request`: the answer to HEAD has no body whatever it says.
fn parse_head(bytes: &[u8], head_request: bool) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not an HTTP/1 answer: {e}")),
    };
    let status = response.code.unwrap_or_default();
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let (mut close, mut keep_alive) = (false, false);
    // Only the framing headers are read; the value of any other is never decoded.
    fn text(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap_or_default().trim()
    }
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let value = text(h.value);
            let n =
                value.parse::<u64>().map_err(|_| format!("the answer's Content-Length '{value}' is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err("the answer has two different Content-Length headers".to_owned());
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = text(h.value);
            chunked = Some(value.rsplit(',').next().is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked")));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let value = text(h.value);
            close |= value.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"));
            keep_alive |= value.split(',').any(|t| t.trim().eq_ignore_ascii_case("keep-alive"));
        }
    }
    // HTTP/1.0 closes unless asked to keep the connection.
    close |= response.version == Some(0) && !keep_alive;
    let framing = if head_request || matches!(status, 100..=199 | 204 | 304) {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::UntilClose,
        }
    };
    Ok(Some(Head { status, len, framing, close }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_say_how_the_body_ends() {
        let head = |s: &str| parse_head(s.as_bytes(), false);
        assert_eq!(
            head("HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{}"),
            Ok(Some(Head { status: 200, len: 39, framing: Framing::Length(12), close: false }))
        );
        assert_eq!(head("HTTP/1.1 403 Forbidden\r\ncontent-le"), Ok(None));
        let chunked =
            head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n").unwrap().unwrap();
        assert_eq!((chunked.framing, chunked.close), (Framing::Chunked, true));
        let old = head("HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!((old.framing, old.close), (Framing::UntilClose, true));
        let kept = head("HTTP/1.0 204 No Content\r\nConnection: Keep-Alive\r\n\r\n").unwrap().unwrap();
        assert_eq!((kept.framing, kept.close), (Framing::Empty, false));
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).unwrap().unwrap().framing,
            Framing::Empty
        );
        assert!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
                .unwrap_err()
                .contains("two different")
        );
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").unwrap_err().contains("'-1'"));
        assert!(head("SSH-2.0-OpenSSH\r\n\r\n").unwrap_err().starts_with("not an HTTP/1 answer"));
    }

    #[test]
    fn requests_carry_host_token_and_length() {
        let url = Url::parse("http://127.0.0.1:8080/p?q=1").unwrap();
        let host = HeaderValue::from_static("hello-1.europe-west1.run.app");
        let auth = HeaderValue::from_static("Bearer a.b.c");
        let get = Plain::new(&url, Some(&host), &Method::GET, Some(&auth), Duration::from_secs(1)).unwrap();
        assert_eq!(
            String::from_utf8(get.request).unwrap(),
            format!(
                "GET /p?q=1 HTTP/1.1\r\nHost: hello-1.europe-west1.run.app\r\nUser-Agent: {USER_AGENT}\r\nAuthorization: Bearer a.b.c\r\n\r\n"
            )
        );
        let post = Plain::new(&url, None, &Method::POST, None, Duration::from_secs(1)).unwrap();
        assert_eq!(
            String::from_utf8(post.request).unwrap(),
            format!(
                "POST /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: {USER_AGENT}\r\nContent-Length: 0\r\n\r\n"
            )
        );
        let https = Url::parse("https://hello-1.europe-west1.run.app/").unwrap();
        assert!(Plain::new(&https, None, &Method::GET, None, Duration::from_secs(1)).is_none());
    }

    /// A server that answers each request with the next of `answers`, as
    /// raw bytes in pieces, so that framing is read across reads.
    async fn serve(answers: Vec<Vec<u8>>) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            let mut answers = answers.into_iter().peekable();
            'connections: while let Ok((mut socket, _)) = listener.accept().await {
                // The pieces are small: Nagle would hold each for an ACK.
                let _ = socket.set_nodelay(true);
                loop {
                    let mut request = Vec::new();
                    while !request.ends_with(b"\r\n\r\n") {
                        let mut byte = [0u8; 1024];
                        match socket.read(&mut byte).await {
                            Ok(0) | Err(_) => continue 'connections,
                            Ok(n) => request.extend_from_slice(&byte[..n]),
                        }
                    }
                    let Some(answer) = answers.next() else { return };
                    for piece in answer.chunks(7) {
                        let _ = socket.write_all(piece).await;
                        tokio::task::yield_now().await;
                    }
                    let closes = answer.starts_with(b"HTTP/1.0")
                        || answer.windows(17).any(|w| w.eq_ignore_ascii_case(b"connection: close"));
                    if closes || answers.peek().is_none() {
                        continue 'connections;
                    }
                }
            }
        });
        url
    }

    #[tokio::test]
    async fn answers_are_read_whatever_their_framing() {
        let page =
            "<html><h1>Error: Forbidden</h1><h2>Your client does not have permission to get URL <code>/</code></h2>";
        let forbidden = format!("HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{page}", page.len());
        let answers: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\n",
            forbidden.as_bytes(),
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
        ];
        let url = serve(answers.iter().map(|a| a.to_vec()).collect()).await;
        let plain = Plain::new(&url, None, &Method::GET, None, Duration::from_secs(5)).unwrap();
        let mut link = None;
        let mut answers = Vec::new();
        for _ in 0..6 {
            let answer = tokio::time::timeout(Duration::from_secs(10), plain.exchange(&mut link)).await;
            answers.push(answer.expect("each answer is read to its end"));
        }
        let keys: Vec<_> = answers.iter().map(|a| a.as_ref().map(Answer::key).map_err(Lost::to_string)).collect();
        let ok = |s: &str| Ok(s.to_owned());
        assert_eq!(keys[..5], [ok("200"), ok("500"), ok("403"), ok("204"), ok("200")]);
        assert!(matches!(answers[2], Ok(Answer::CloudRun { status: 403, .. })), "{:?}", answers[2]);
        assert_eq!(answers[5].as_ref().map_err(Lost::to_string), Err("the answer ended mid-body".to_owned()));
    }

    #[tokio::test]
    async fn a_load_counts_every_request_once() {
        // A server that answers every request on every connection, and counts them.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&served);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(n @ 1..) = socket.read(&mut chunk).await {
                        pending.extend_from_slice(&chunk[..n]);
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            pending.drain(..end + 4);
                            counter.fetch_add(1, Ordering::Relaxed);
                            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await;
                        }
                    }
                });
            }
        });
        let plain = Plain::new(&url, None, &Method::GET, None, Duration::from_secs(5)).unwrap();
        // Shares that do not divide evenly, over more workers than threads.
        let sent = Sent::default();
        let answers = plain.load(301, 3, &sent).await;
        assert_eq!(sent.count(), 301);
        assert_eq!(answers.len(), 301);
        assert!(answers.iter().all(|(a, _)| *a == Answer::Container { status: 200 }));
        assert_eq!(served.load(Ordering::Relaxed), 301);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever a server sends after a plausible head, the exchange
        /// ends in an answer or an error, never a panic or a hang.
        #[test]
        fn any_answer_bytes_end_cleanly(
            head in proptest::sample::select(vec![
                "",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 40\r\n\r\n",
                "HTTP/1.0 404 Not Found\r\n\r\n",
            ]),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut answer = head.as_bytes().to_vec();
                answer.extend_from_slice(&tail);
                let url = serve(vec![answer]).await;
                let plain = Plain::new(&url, None, &Method::GET, None, Duration::from_secs(5)).unwrap();
                let mut link = None;
                let ended = tokio::time::timeout(Duration::from_secs(5), plain.exchange(&mut link)).await;
                assert!(ended.is_ok(), "the exchange hung");
            });
        }
    }

    proptest::proptest! {
        #[test]
        fn heads_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400), head in proptest::bool::ANY) {
            let _ = parse_head(&bytes, head);
        }

        #[test]
        fn printable_heads_never_panic(text in "HTTP/1\\.[01] [0-9]{3} [ -~]{0,10}\r\n([A-Za-z-]{1,16}: [ -~]{0,20}\r\n){0,6}\r\n") {
            let _ = parse_head(text.as_bytes(), false);
        }
    }
}
