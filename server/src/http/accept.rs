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
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;
use tracing::Instrument;
use warp::http::header::{AUTHORIZATION, CONTENT_TYPE, EXPECT, HOST};
use warp::http::{Request, Response, Version};
use warp::{Filter, Reply};

use crate::http::conn::{
    AddressGuard, ConnState, GuardedBody, Open, OpenGuard, Overflow, OverflowGuard, Peer,
    PerAddress, Refused, Timeouts,
};
use crate::http::error::ApiError;
use crate::http::parse_errors::JsonParseErrors;
use crate::http::request_id::{self, RequestId};
use crate::http::route::{self, Route};
use crate::http::routes::Router;
use crate::limits::HeldMemory;
use crate::ops::metrics;

/// How long a client may take to send a request's headers (HTTP/1, every
/// request; the first one is also bounded by [`ConnectionLimits::first_request`]).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections over the cap that are still served (health checks and a 503
/// for the rest); a new one takes the place of the oldest that sent nothing.
const OVERFLOW_CONNECTIONS: usize = 64;
/// Connections a separate `/metrics` listener serves at once.
pub const METRICS_CONNECTIONS: usize = 16;
/// How long an idle connection told to close may take to go before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How long a write may wait for a client that does not read (a stalled
/// stream) before its connection is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Beyond the request body's deadline, how long a connection with open
/// requests may go without any answer moving on before it is closed.
const STALL_MARGIN: Duration = Duration::from_secs(15);
/// What hyper may buffer of one connection's request: the head (an URL up
/// to the 64 KiB of a 414 fits) and, over HTTP/2, each stream's and the
/// connection's unread body (the protocol's own 65,535, not hyper's 1 MiB):
/// the memory bound counts about this much per connection.
const HTTP1_MAX_BUF: usize = 80 * 1024;
const HTTP2_WINDOW: u32 = 65_535;

/// What one listener allows its connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections (and extra HTTP/2 streams) served normally at once.
    pub max_connections: usize,
    /// Normal connections of one client address.
    pub per_address: usize,
    /// Accept to first complete request, and idle between requests.
    pub timeouts: Timeouts,
    /// Streams one HTTP/2 connection may have open.
    pub http2_max_streams: u32,
}

impl ConnectionLimits {
    /// What the configuration allows the API's connections.
    pub fn from_options(o: &crate::ServeOptions) -> Self {
        ConnectionLimits {
            max_connections: o.max_connections,
            per_address: o.max_connections_per_address,
            timeouts: Timeouts {
                first_request: o.first_request_timeout,
                idle: o.idle_timeout,
                stalled: o.body_timeout + STALL_MARGIN,
            },
            http2_max_streams: o.http2_max_streams,
        }
    }

    /// The defaults of the configuration with `max` connections.
    pub fn with_max(max: usize) -> Self {
        ConnectionLimits {
            max_connections: max,
            ..Self::from_options(&crate::ServeOptions::default())
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then closes the
/// listener and waits (up to `grace`) for open connections to finish their
/// in-flight requests. Idle keep-alive connections are closed at once.
pub async fn run<F, R>(
    router: Router<F>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
    limits: ConnectionLimits,
) where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
    R: Reply + Send,
{
    // One warp service per route, shared by every connection.
    let services = Arc::new(router.map(|filter| warp::service(filter.clone())));
    let closing = CancellationToken::new();
    let tasks = TaskTracker::new();
    let overflow = Overflow::new(OVERFLOW_CONNECTIONS);
    let streams = Arc::new(Budget::new(&limits));
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
        let conn = ConnState::new();
        let place = match Place::take(&streams, &overflow, &conn, peer) {
            Taken::Now(place) => Ok(place),
            Taken::Freeing(waiting) => Err(waiting),
            Taken::Closed => continue,
        };
        let (services, budget, overflow) = (services.clone(), streams.clone(), overflow.clone());
        let closing = closing.clone();
        tasks.spawn(async move {
            let place = match place {
                Ok(place) => place,
                Err(waiting) => {
                    match Place::freed(&budget, &overflow, &conn, peer, waiting).await {
                        Some(place) => place,
                        None => return,
                    }
                }
            };
            let over_cap = matches!(place, Place::Overflow(_));
            let evicted = place.evicted();
            let state = conn.clone();
            let service = service_fn(move |req| {
                handle(
                    &services,
                    req,
                    peer,
                    over_cap,
                    state.clone(),
                    budget.clone(),
                )
            });
            serve(stream, service, place, conn, limits, closing, evicted).await;
        });
    }
    drop(listener);
    tracing::info!("shutting down; letting in-flight requests finish");
    closing.cancel();
    tasks.close();
    if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
        tracing::warn!("some requests did not finish in time; closing anyway");
    }
}

/// Serves one accepted connection until it ends, holding its place.
async fn serve<S, B>(
    stream: tokio::net::TcpStream,
    service: S,
    place: Place,
    conn: Arc<ConnState>,
    limits: ConnectionLimits,
    closing: CancellationToken,
    evicted: CancellationToken,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let over_cap = matches!(place, Place::Overflow(_));
    let _place = place;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that opens a connection and never finishes its headers
    // (slowloris) is dropped instead of holding a task forever.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(HTTP1_MAX_BUF)
        // One request per connection over the cap, so it frees soon.
        .keep_alive(!over_cap);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(if over_cap {
            1
        } else {
            limits.http2_max_streams
        })
        .initial_stream_window_size(HTTP2_WINDOW)
        .initial_connection_window_size(HTTP2_WINDOW)
        .adaptive_window(false)
        .keep_alive_interval(Some(HTTP2_PING))
        .keep_alive_timeout(HTTP2_PING);
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let io = TokioIo::new(JsonParseErrors::new(Box::pin(stream)));
    let served = builder.serve_connection(io, service);
    watch(served, &conn, &limits.timeouts, &closing, &evicted).await;
}

/// How often an HTTP/2 connection is pinged, and how long the answer may take.
const HTTP2_PING: Duration = Duration::from_secs(20);

/// What an extra HTTP/2 stream is counted against: the server's connection
/// budget and its address's cap.
struct Budget {
    budget: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
    cap: usize,
    /// The connections in normal places.
    open: Arc<Open>,
    /// New connections waiting for the place an idle one is freeing.
    freeing: Arc<Semaphore>,
}

impl Budget {
    fn new(limits: &ConnectionLimits) -> Self {
        Budget {
            budget: Arc::new(Semaphore::new(limits.max_connections)),
            per_address: Arc::default(),
            cap: limits.per_address,
            open: Arc::default(),
            freeing: Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS)),
        }
    }
}

/// How long a new connection waits for the place of the idle connection
/// it closed, before it takes an overflow place instead.
const FREEING_WAIT: Duration = Duration::from_secs(1);

/// What [`Place::take`] found.
enum Taken {
    Now(Place),
    /// At the cap: an idle connection is closing for this one, which waits
    /// for its place ([`Place::freed`]) holding one of the waiting places.
    Freeing(OwnedSemaphorePermit),
    /// No place: the connection is closed at once.
    Closed,
}

/// Where a connection is counted.
enum Place {
    Normal {
        _permit: OwnedSemaphorePermit,
        _address: AddressGuard,
        open: OpenGuard,
    },
    Overflow(OverflowGuard),
}

impl Place {
    /// A normal place if the server and the peer's address have room; at
    /// the server's cap, the place of an idle connection closed for it;
    /// else an overflow place.
    fn take(
        normal: &Budget,
        overflow: &Arc<Overflow>,
        conn: &Arc<ConnState>,
        peer: SocketAddr,
    ) -> Taken {
        if normal.budget.available_permits() == 0
            && normal.per_address.count(peer.ip()) < normal.cap
            && let Ok(waiting) = normal.freeing.clone().try_acquire_owned()
            && normal.open.close_idlest()
        {
            return Taken::Freeing(waiting);
        }
        match Place::now(normal, overflow, conn, peer) {
            Some(place) => Taken::Now(place),
            None => Taken::Closed,
        }
    }

    /// The place an idle connection freed (the budget is fair: it goes to
    /// the longest waiter), else an overflow place.
    async fn freed(
        normal: &Budget,
        overflow: &Arc<Overflow>,
        conn: &Arc<ConnState>,
        peer: SocketAddr,
        _waiting: OwnedSemaphorePermit,
    ) -> Option<Place> {
        let permit = tokio::time::timeout(FREEING_WAIT, normal.budget.clone().acquire_owned());
        if let Ok(Ok(permit)) = permit.await
            && let Some(address) = normal.per_address.admit(peer.ip(), normal.cap)
        {
            return Some(Place::Normal {
                _permit: permit,
                _address: address,
                open: normal.open.register(peer.ip(), conn),
            });
        }
        Place::now(normal, overflow, conn, peer)
    }

    /// Cancelled when the connection must close for another's sake.
    fn evicted(&self) -> CancellationToken {
        match self {
            Place::Overflow(slot) => slot.evicted(),
            Place::Normal { open, .. } => open.evicted(),
        }
    }

    fn now(
        normal: &Budget,
        overflow: &Arc<Overflow>,
        conn: &Arc<ConnState>,
        peer: SocketAddr,
    ) -> Option<Place> {
        let permit = normal.budget.clone().try_acquire_owned();
        let address = permit
            .as_ref()
            .ok()
            .and_then(|_| normal.per_address.admit(peer.ip(), normal.cap));
        match (permit, address) {
            (Ok(permit), Some(address)) => Some(Place::Normal {
                _permit: permit,
                _address: address,
                open: normal.open.register(peer.ip(), conn),
            }),
            (Ok(_), None) => overflow.admit(conn).map(Place::Overflow),
            (Err(_), _) => {
                let slot = overflow.admit(conn).map(Place::Overflow);
                if slot.is_none() {
                    tracing::warn!(%peer, "connection limit reached; closing a new connection");
                }
                slot
            }
        }
    }
}

/// Drives one connection until it ends, closing it when a deadline of
/// [`Timeouts`] passes with no request open, when the server stops (after
/// its requests finish), or when a newer connection took its place.
async fn watch<C>(
    served: C,
    conn: &ConnState,
    timeouts: &Timeouts,
    closing: &CancellationToken,
    evicted: &CancellationToken,
) where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut served = std::pin::pin!(served);
    let mut told_to_close = false;
    loop {
        let check = conn
            .deadline(timeouts)
            .map(|d| {
                if told_to_close {
                    d.min(Instant::now() + CLOSE_GRACE)
                } else {
                    d
                }
            })
            .into_iter()
            .chain(conn.stall_at(timeouts))
            .min()
            .unwrap_or_else(|| Instant::now() + timeouts.idle);
        tokio::select! {
            ended = served.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = closing.cancelled(), if !told_to_close => {
                served.as_mut().graceful_shutdown();
                told_to_close = true;
            }
            () = evicted.cancelled() => return,
            () = tokio::time::sleep_until(check) => {
                if conn.stalled(timeouts) {
                    tracing::info!(stalled_s = timeouts.stalled.as_secs(), "closing a connection whose answers did not move on (the client lets nothing through)");
                    return;
                }
                let Some(deadline) = conn.deadline(timeouts) else { continue };
                if told_to_close {
                    // Told to close and still idle: it is not going by itself.
                    return;
                }
                if deadline > Instant::now() {
                    continue;
                }
                if !conn.served() {
                    tracing::debug!("closing a connection that sent no request in time");
                    return;
                }
                served.as_mut().graceful_shutdown();
                told_to_close = true;
            }
        }
    }
}

/// One request: its id and span, the checks warp cannot make, its route's
/// filter, the id on the answer, and the request metrics. The request stays
/// open on its connection until its answer's body is done.
fn handle<S, B>(
    services: &Router<S>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    over_cap: bool,
    conn: Arc<ConnState>,
    budget: Arc<Budget>,
) -> impl std::future::Future<Output = Result<Response<GuardedBody<B>>, Infallible>>
+ Send
+ 'static
+ use<S, B>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    let id = RequestId::for_request(req.headers());
    let span = tracing::info_span!("request", request_id = id.as_str());
    // The path is parsed here once: for the metrics label, admission over
    // the cap, and which route's filter answers.
    let route = Route::of_path(req.uri().path());
    let mut warp_service = services
        .get(Route::dispatch(route, req.uri().path()))
        .clone();
    let (mut guard, others) = conn.begin();
    // Every stream beyond a connection's first is counted like a connection,
    // in the server's budget and in its address's.
    let mut over_budget = false;
    if others > 0 && !over_cap {
        let extra = budget
            .budget
            .clone()
            .try_acquire_owned()
            .ok()
            .and_then(|permit| {
                let address = budget.per_address.admit(peer.ip(), budget.cap)?;
                Some((permit, address))
            });
        match extra {
            Some((permit, address)) => guard.hold(permit, address),
            None => over_budget = true,
        }
    }
    let refused = protocol_error(&req).or_else(|| {
        ((over_cap || over_budget) && !route.is_some_and(Route::is_health_check))
            .then_some(ApiError::Overloaded)
    });
    req.extensions_mut().insert(Peer(peer));
    if let Some(err) = refused {
        req.extensions_mut().insert(Refused(err));
    }
    let started = std::time::Instant::now();
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
        if let Some(held) = res.extensions_mut().remove::<HeldMemory>() {
            guard.hold_memory(held.take());
        }
        Ok(res.map(|body| GuardedBody::new(body, guard)))
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
