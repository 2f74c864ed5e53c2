//! The accept loop: one hyper connection per TCP connection, each serving the
//! warp filter, with graceful shutdown.
//!
//! warp 0.4's own `Server::run` future cannot be proven `Send` (its runner is
//! an `async fn` in a trait), so it could not be spawned onto a multi-threaded
//! runtime, which the tests do. This loop is the same few hyper-util calls
//! with concrete types, plus what warp cannot see from inside a filter: the
//! peer address, the request id and its span, protocol checks on the whole
//! request, the connection cap and hyper's own answers to unparsable requests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower_service::Service;
use tracing::Instrument;
use warp::http::header::{AUTHORIZATION, CONTENT_TYPE, EXPECT, HOST};
use warp::http::{Request, Version};
use warp::{Filter, Reply};

use crate::http::error::ApiError;
use crate::http::parse_errors::JsonParseErrors;
use crate::http::request_id::{self, RequestId};
use crate::http::route::{self, Route};
use crate::ops::metrics;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections over the cap that are still served (health checks and a 503
/// for the rest); beyond these, new connections are closed at once.
const OVERFLOW_CONNECTIONS: usize = 64;
/// Connections a separate `/metrics` listener serves at once.
pub const METRICS_CONNECTIONS: usize = 16;

/// The socket peer of the connection a request came in on.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// A request the connection layer has already refused; the filter tree
/// answers it (so it is logged and shaped like every other failure).
#[derive(Debug, Clone)]
pub struct Refused(pub ApiError);
/// How long a write may wait for a client that does not read (a stalled
/// stream) before its connection is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `filter` on `listener` until `shutdown` resolves, then closes the
/// listener and waits (up to `grace`) for open connections to finish their
/// in-flight requests. Idle keep-alive connections are closed at once.
/// At most `max_connections` are served normally at a time.
pub async fn run<F, R>(
    filter: F,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
    max_connections: usize,
) where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
    R: Reply + Send,
{
    let graceful = GracefulShutdown::new();
    let normal = Arc::new(Semaphore::new(max_connections));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %crate::ops::logging::Chain(&e), "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (permit, over_cap) = match normal.clone().try_acquire_owned() {
            Ok(permit) => (permit, false),
            Err(_) => match overflow.clone().try_acquire_owned() {
                Ok(permit) => (permit, true),
                Err(_) => {
                    tracing::warn!(%peer, "connection limit reached; closing a new connection");
                    continue;
                }
            },
        };
        let warp_service = warp::service(filter.clone());
        let service = service_fn(move |req| handle(warp_service.clone(), req, peer, over_cap));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // A client that opens a connection and never finishes its headers
            // (slowloris) is dropped instead of holding a task forever.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                // One request per connection over the cap, so it frees soon.
                .keep_alive(!over_cap);
            let mut stream = TimeoutStream::new(stream);
            stream.set_write_timeout(Some(WRITE_TIMEOUT));
            let io = TokioIo::new(JsonParseErrors::new(Box::pin(stream)));
            let conn = builder.serve_connection(io, service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %crate::ops::logging::Chain(&*e), "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down; letting in-flight requests finish");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests did not finish in time; closing anyway");
    }
}

/// One request: its id and span, the checks warp cannot make, the filter
/// tree, the id on the answer, and the request metrics.
fn handle<S>(
    mut warp_service: S,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    over_cap: bool,
) -> impl std::future::Future<Output = Result<S::Response, Infallible>> + Send + 'static
where
    S: Service<Request<Incoming>, Response = warp::reply::Response, Error = Infallible> + Clone,
    S::Future: Send + 'static,
{
    let id = RequestId::for_request(req.headers());
    let span = tracing::info_span!("request", request_id = id.as_str());
    let route = Route::of_path(req.uri().path());
    let refused = protocol_error(&req).or_else(|| {
        (over_cap && !route.is_some_and(Route::is_health_check)).then_some(ApiError::Overloaded)
    });
    req.extensions_mut().insert(Peer(peer));
    if let Some(err) = refused {
        req.extensions_mut().insert(Refused(err));
    }
    let started = Instant::now();
    let answer = span.in_scope(|| warp_service.call(req));
    async move {
        let mut res = answer.await?;
        res.headers_mut()
            .insert(request_id::HEADER, id.header_value());
        metrics::record_request(
            route::label_of(route),
            res.status().as_u16(),
            started.elapsed(),
        );
        Ok(res)
    }
    .instrument(span)
}

/// What HTTP itself forbids, checked on the whole request before routing.
fn protocol_error<B>(req: &Request<B>) -> Option<ApiError> {
    let headers = req.headers();
    let count = |name| headers.get_all(name).iter().count();
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host.
    if req.version() == Version::HTTP_11 && count(HOST) != 1 {
        return Some(ApiError::invalid(
            "An HTTP/1.1 request needs exactly one Host header.",
        ));
    }
    for name in [CONTENT_TYPE, AUTHORIZATION] {
        if count(name.clone()) > 1 {
            return Some(ApiError::invalid(format!(
                "The {name} header is given more than once."
            )));
        }
    }
    // hyper answers `100-continue` itself; no other expectation is met.
    if let Some(expect) = headers.get(EXPECT)
        && !expect.as_bytes().eq_ignore_ascii_case(b"100-continue")
    {
        return Some(ApiError::ExpectationFailed);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("/").version(version);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn host_is_required_once_in_http_1_1_only() {
        assert!(protocol_error(&request(Version::HTTP_11, &[("host", "a")])).is_none());
        assert!(protocol_error(&request(Version::HTTP_10, &[])).is_none());
        assert!(protocol_error(&request(Version::HTTP_11, &[])).is_some());
        assert!(
            protocol_error(&request(Version::HTTP_11, &[("host", "a"), ("host", "b")])).is_some()
        );
    }

    #[test]
    fn duplicate_headers_and_expectations() {
        let one = |extra: &[(&str, &str)]| {
            let mut h = vec![("host", "a")];
            h.extend_from_slice(extra);
            protocol_error(&request(Version::HTTP_11, &h))
        };
        assert!(one(&[("content-type", "application/json")]).is_none());
        assert!(
            one(&[
                ("content-type", "application/json"),
                ("content-type", "text/plain")
            ])
            .is_some()
        );
        assert!(one(&[("authorization", "a"), ("authorization", "b")]).is_some());
        assert!(one(&[("expect", "100-Continue")]).is_none());
        assert_eq!(one(&[("expect", "foo")]), Some(ApiError::ExpectationFailed));
    }
}
