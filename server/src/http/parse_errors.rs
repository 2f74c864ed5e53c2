//! hyper's own answers, as SPEC JSON.
//!
//! A request hyper cannot parse (a malformed request line or header, a URL
//! over 64 KiB, too many or too large headers) never reaches the service:
//! hyper writes a bare `400`/`414`/`431` head itself and closes. hyper has no
//! hook for that answer, so the connection's writer recognises it (a status
//! head with no body and no `x-request-id`, which every answer of ours has)
//! and writes the JSON error in its place.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use strop_common::ErrorBody;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::error::ApiError;
use crate::http::request_id::{self, RequestId};

/// A connection whose writer replaces hyper's bodiless error answers.
pub struct JsonParseErrors<S> {
    io: S,
    /// The replacement answer and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonParseErrors<S> {
    pub fn new(io: S) -> Self {
        JsonParseErrors { io, pending: None }
    }
}

impl<S: AsyncWrite + Unpin> JsonParseErrors<S> {
    /// Writes what is left of the replacement, if any.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` in place of hyper's answer when it is one.
    fn replace(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<io::Result<usize>> {
        let status = hypers_own_answer(buf)?;
        self.pending = Some((json_answer(status), 0));
        // Whatever is not written now is written by the flush hyper does next.
        match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Some(Err(e)),
            _ => Some(Ok(buf.len())),
        }
    }
}

/// The status of a head hyper wrote on its own: a whole head (no body
/// follows) with status 400, 414 or 431, `content-length: 0`, and no request
/// id.
fn hypers_own_answer(buf: &[u8]) -> Option<u16> {
    let head = buf.strip_prefix(b"HTTP/1.1 ")?;
    if !head.ends_with(b"\r\n\r\n") || head.len() > 1024 {
        return None;
    }
    let status: u16 = std::str::from_utf8(head.get(..3)?).ok()?.parse().ok()?;
    let lower = head.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    let ours = has(request_id::HEADER.as_str().as_bytes());
    (matches!(status, 400 | 414 | 431) && has(b"\r\ncontent-length: 0\r\n") && !ours)
        .then_some(status)
}

fn json_answer(status: u16) -> Vec<u8> {
    let err = match status {
        414 => ApiError::UriTooLong,
        431 => ApiError::HeadersTooLarge,
        _ => ApiError::invalid("The request line or a header is malformed."),
    };
    let id = RequestId::generate();
    tracing::info_span!("request", request_id = id.as_str()).in_scope(|| {
        tracing::info!(
            target: "strop_server::access",
            status,
            "request answered before routing: it could not be parsed"
        );
    });
    let body = serde_json::to_string(&ErrorBody {
        error: err.code(),
        message: err.message(),
    })
    .unwrap_or_default();
    let reason = err.status().canonical_reason().unwrap_or("");
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{}: {}\r\nconnection: close\r\n\r\n{body}",
        body.len(),
        request_id::HEADER,
        id.as_str(),
    )
    .into_bytes()
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(done) = this.replace(cx, buf) {
            return Poll::Ready(done);
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && let Some(done) = this.replace(cx, only)
        {
            return Poll::Ready(done);
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_hypers_bare_error_heads() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 12:00:00 GMT\r\n\r\n";
        assert_eq!(hypers_own_answer(bare), Some(431));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: abc\r\n\r\n";
        assert_eq!(hypers_own_answer(ours), None);
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(hypers_own_answer(with_body), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hypers_own_answer(ok), None);
    }

    #[test]
    fn the_replacement_is_spec_json() {
        let answer = String::from_utf8(json_answer(414)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let parsed: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.error.status(), 414);
    }
}
