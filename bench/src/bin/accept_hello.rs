//! The bare `GET /` of `warp_hello.rs` served through strop's own connection
//! layer (`strop_server::http::accept`: deadlines, connection caps, protocol
//! checks, request ids, hyper's errors as JSON), with no route filters, no
//! log and no metrics. The harness prices that layer as its distance from
//! `warp_hello` (same filter, same allocator), and strop's filters, metrics
//! and log as strop's distance from it.
//!
//!     accept_hello 127.0.0.1:5103

use std::convert::Infallible;
use std::time::Duration;

use strop_server::http::accept::{self, ConnectionLimits};
use strop_server::http::routes::Router;
use tokio::net::TcpListener;
use warp::http::StatusCode;
use warp::http::header::CONTENT_TYPE;
use warp::{Filter, Reply};

// strop-server's allocator, as warp_hello's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODY: &str = r#"{"message":"System online."}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5103".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    // warp_hello's filter; the connection layer wants one that never rejects.
    let root = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::with_header(BODY, CONTENT_TYPE, "application/json").into_response())
        .recover(|_| async { Ok::<_, Infallible>(StatusCode::NOT_FOUND.into_response()) })
        .unify();
    // The bench's connections come from one address: strop's server-wide cap.
    let limits = ConnectionLimits {
        per_address: 4000,
        ..ConnectionLimits::with_max(4000)
    };
    accept::run(
        Router::uniform(root),
        listener,
        std::future::pending::<()>(),
        Duration::from_secs(1),
        limits,
    )
    .await;
    Ok(())
}
