//! The connection pool every request borrows from.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// How long a request waits for a connection before answering 503.
const WAIT: Duration = Duration::from_secs(10);
/// How long opening one connection may take before it counts as unreachable.
const CONNECT: Duration = Duration::from_secs(5);

/// A pool of at most `size` connections to `pg`; connections open lazily.
/// Every statement on them is cancelled after `statement_timeout`, so a
/// costly search cannot hold a connection for long.
pub fn create(
    mut pg: tokio_postgres::Config,
    size: u32,
    statement_timeout: Duration,
) -> Result<Pool, deadpool_postgres::BuildError> {
    let timeout = format!(
        "-c statement_timeout={}",
        statement_timeout.as_millis().max(1)
    );
    let options = match pg.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {timeout}"),
        _ => timeout,
    };
    pg.options(&options);
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(CONNECT);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("strop-server");
    }
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            // Verified recycling costs a round trip per request; a broken
            // connection is noticed on use and replaced then instead.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size as usize)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(CONNECT))
        .recycle_timeout(Some(CONNECT))
        .build()
}
