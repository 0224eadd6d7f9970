//! The stub container's two streaming paths, answered once the front end
//! has let a request through (docs/emulator.md). They exist so that a
//! client in between (`runiam proxy`) can be shown to pass streams on:
//!
//! - `/stream`: a server-sent event stream (`text/event-stream`) with one
//!   `data:` event per chunk of the request body, sent as soon as that chunk
//!   arrives, then `event: end`. A client that waits for each event before
//!   it sends its next chunk hangs unless both directions stream;
//! - `/ws`: a WebSocket (RFC 6455) that echoes every data frame, answers a
//!   ping with a pong and a close with a close.
//!
//! Every other path gets the JSON stub of `frontend`. The frame codec is
//! public so that tests can speak WebSocket to these paths.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Response, StatusCode, header};
use base64::Engine;
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const STREAM_PATH: &str = "/stream";
pub const WS_PATH: &str = "/ws";
/// RFC 6455's key suffix for `Sec-WebSocket-Accept`.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Frames larger than this end the connection (the echo is for tests).
const MAX_PAYLOAD: u64 = 1 << 20;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The answer of a streaming path; `None` for any other path.
pub(crate) fn serve(parts: &mut Parts, body: Body) -> Option<Response<Body>> {
    match parts.uri.path() {
        STREAM_PATH => Some(events(body)),
        WS_PATH => Some(websocket(parts)),
        _ => None,
    }
}

/// One event per request-body chunk, as each arrives, then `event: end`.
fn events(body: Body) -> Response<Body> {
    let chunks = body.into_data_stream().filter_map(|chunk| async move {
        match chunk {
            Ok(b) if b.is_empty() => None,
            other => Some(other.map(|b| event(&b))),
        }
    });
    let end = futures::stream::once(async { Ok(Bytes::from_static(b"event: end\ndata: \n\n")) });
    let mut response = Response::new(Body::from_stream(chunks.chain(end)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `data: LINE` for each line of `chunk`, and the blank line that ends an event.
fn event(chunk: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(chunk);
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.lines() {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Whether `name` lists `token` (comma-separated, any case).
fn lists(parts: &Parts, name: header::HeaderName, token: &str) -> bool {
    parts
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The handshake's 101, the echo spawned on the upgraded connection.
fn websocket(parts: &mut Parts) -> Response<Body> {
    let key = parts.headers.get("sec-websocket-key").map(|k| k.as_bytes().to_vec());
    let handshake = lists(parts, header::UPGRADE, "websocket") && lists(parts, header::CONNECTION, "upgrade");
    let (Some(key), true) = (key, handshake) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs Upgrade: websocket, Connection: Upgrade and Sec-WebSocket-Key\n",
        );
    };
    let Some(upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return plain(StatusCode::BAD_REQUEST, "this connection cannot be upgraded\n");
    };
    tokio::spawn(async move {
        if let Ok(io) = upgrade.await
            && let Err(e) = echo(TokioIo::new(io)).await
        {
            tracing::debug!("websocket echo: {e}");
        }
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = r.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept_key(&key)) {
        headers.insert("sec-websocket-accept", v);
    }
    r
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut input = key.to_vec();
    input.extend_from_slice(WS_GUID.as_bytes());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Echoes data frames until a close, which is answered, or the peer leaves.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut io: S) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut read = [0u8; 8192];
    loop {
        while let Some((frame, used)) = decode(&buf).map_err(std::io::Error::other)? {
            buf.drain(..used);
            let reply = match frame.opcode {
                OP_PING => encode(true, OP_PONG, &frame.payload, None),
                OP_PONG => continue,
                OP_CLOSE => {
                    io.write_all(&encode(true, OP_CLOSE, &frame.payload, None)).await?;
                    return io.shutdown().await;
                }
                op => encode(frame.fin, op, &frame.payload, None),
            };
            io.write_all(&reply).await?;
        }
        let n = io.read(&mut read).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&read[..n]);
    }
}

/// One WebSocket frame, its payload unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// What RFC 6455 (or this echo's size limit) does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a WebSocket frame sets reserved bits or uses a reserved opcode")]
    Reserved,
    #[error("a WebSocket frame's payload is larger than 1 MiB")]
    TooLarge,
}

/// A frame with `payload`; clients must mask theirs with `mask`.
pub fn encode(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | (opcode & 0x0F));
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(masked | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(masked | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(masked | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// The frame at the start of `buf` and the bytes it took; `None` while
/// more bytes are needed.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let [first, second, ..] = buf else { return Ok(None) };
    let opcode = first & 0x0F;
    if first & 0x70 != 0 || !matches!(opcode, 0x0..=0x2 | 0x8..=0xA) {
        return Err(FrameError::Reserved);
    }
    let mut at = 2;
    let len = match second & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else { return Ok(None) };
            at = 4;
            u64::from(u16::from_be_bytes([b[0], b[1]]))
        }
        127 => {
            let Some(b) = buf.get(2..10) else { return Ok(None) };
            at = 10;
            let mut n = [0u8; 8];
            n.copy_from_slice(b);
            u64::from_be_bytes(n)
        }
        n => u64::from(n),
    };
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLarge);
    }
    let mask = if second & 0x80 != 0 {
        let Some(m) = buf.get(at..at + 4) else { return Ok(None) };
        at += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    // At most 1 MiB, so it fits in usize.
    let end = at + len as usize;
    let Some(data) = buf.get(at..end) else { return Ok(None) };
    let payload = match mask {
        Some(m) => data.iter().enumerate().map(|(i, b)| b ^ m[i % 4]).collect(),
        None => data.to_vec(),
    };
    Ok(Some((Frame { fin: first & 0x80 != 0, opcode, payload }, end)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_rfc_example_key_is_accepted() {
        // RFC 6455, section 1.3.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn events_quote_each_line() {
        assert_eq!(&event(b"a")[..], b"data: a\n\n");
        assert_eq!(&event(b"a\nb\n")[..], b"data: a\ndata: b\n\n");
    }

    #[test]
    fn frames_need_all_their_bytes() {
        let frame = encode(true, OP_TEXT, b"hello", Some([1, 2, 3, 4]));
        for cut in 0..frame.len() {
            assert_eq!(decode(&frame[..cut]), Ok(None), "{cut}");
        }
        assert_eq!(decode(&[0x81 | 0x40, 0]), Err(FrameError::Reserved));
        assert_eq!(decode(&[0x83, 0]), Err(FrameError::Reserved));
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(decode(&huge), Err(FrameError::TooLarge));
    }

    proptest! {
        #[test]
        fn frames_round_trip(fin: bool, op in prop::sample::select(vec![0u8, 1, 2, 8, 9, 10]),
                             payload in prop::collection::vec(any::<u8>(), 0..70_000), mask: Option<[u8; 4]>) {
            let bytes = encode(fin, op, &payload, mask);
            let (frame, used) = decode(&bytes).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(frame, Frame { fin, opcode: op, payload });
        }

        #[test]
        fn decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
