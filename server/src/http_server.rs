//! The accept loop: one hyper connection per TCP connection, each serving the
//! warp filter, with graceful shutdown.
//!
//! warp 0.4's own `Server::run` future cannot be proven `Send` (its runner is
//! an `async fn` in a trait), so it could not be spawned onto a multi-threaded
//! runtime, which the tests do. This loop is the same few hyper-util calls
//! with concrete types.

use std::convert::Infallible;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_io_timeout::TimeoutStream;
use warp::{Filter, Reply};

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may wait for a client that does not read (a stalled
/// stream) before its connection is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `filter` on `listener` until `shutdown` resolves, then closes the
/// listener and waits (up to `grace`) for open connections to finish their
/// in-flight requests. Idle keep-alive connections are closed at once.
pub async fn run<F, R>(
    filter: F,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
    R: Reply + Send,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(warp::service(filter.clone()));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // A client that opens a connection and never finishes its headers
            // (slowloris) is dropped instead of holding a task forever.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let mut stream = TimeoutStream::new(stream);
            stream.set_write_timeout(Some(WRITE_TIMEOUT));
            let conn = builder.serve_connection(TokioIo::new(Box::pin(stream)), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended with an error");
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
