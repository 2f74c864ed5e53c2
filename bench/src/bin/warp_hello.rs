//! The framework's reference for `GET /`: a bare warp server with one route
//! and strop's root body, no logging, no request id, no metrics, and
//! strop-server's allocator, so that what strop adds is its own code. strop's
//! `GET /` (warp too) is not expected to beat it; the harness prints both
//! against the hyper hello.
//!
//!     warp_hello 127.0.0.1:5102

use std::net::SocketAddr;

use warp::Filter;
use warp::http::header::CONTENT_TYPE;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODY: &str = r#"{"message":"System online."}"#;

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5102".to_owned())
        .parse()
        .expect("usage: warp_hello HOST:PORT");
    let root = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::with_header(BODY, CONTENT_TYPE, "application/json"));
    warp::serve(root).run(addr).await;
}
