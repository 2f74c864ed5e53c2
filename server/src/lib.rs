//! strop-server: the strop HTTP API on warp and PostgreSQL.
//!
//! [`run`] is the whole server (database resolution, embedded cluster,
//! migrations, HTTP, graceful shutdown); [`serve`] is the part after the
//! database is chosen, which the integration tests drive on port 0 with a
//! fresh database each.

pub mod accounts;
pub mod config;
pub mod db;
pub mod http;
pub mod limits;
pub mod live;
pub mod ops;
pub mod strops;

use accounts::{limiter, passwords, usernames};
use http::{accept as http_server, auth, routes};
use live::{history_writer, listener, token_cache};
use ops::metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, DatabaseSource, ServeOptions};
pub use http::routes::build;

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long start-up waits for an external database to accept connections.
const DATABASE_PATIENCE: Duration = Duration::from_secs(30);

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub pool: deadpool_postgres::Pool,
    /// Where `/reverse` and `/piglatin` record their rows (group commit).
    pub history: history_writer::HistoryWriter,
    pub token_ttl: Duration,
    /// Live tokens per user; a login beyond it revokes the oldest.
    pub sessions_per_user: u32,
    /// Argon2id within its memory budget.
    pub passwords: passwords::Passwords,
    /// A real argon2id hash of nothing in particular, verified against when a
    /// username is unknown so that such a request costs as much as a real one.
    pub dummy_hash: Arc<str>,
    pub login_limiter: Arc<limiter::LoginLimiter>,
    /// How long a request body may stall.
    pub body_timeout: Duration,
    /// Live history and token revocations from every process on the database.
    pub listener: listener::Listener,
    /// Token owners, kept exact by the listener's revocation notices.
    pub tokens: Arc<token_cache::TokenCache>,
    /// `off`: [`tokens`](Self::tokens) is never asked, nor are writes'
    /// tokens checked in the insert (`--token-cache`).
    pub token_cache: config::TokenCacheMode,
    /// Owners of tokens this process has seen live: who a write is by
    /// (a token never changes owner), never whether its token is live.
    pub token_owners: Arc<quick_cache::sync::Cache<[u8; 32], i64>>,
    /// Cancelled when shutdown begins, so long-lived responses (streams) end.
    pub stopping: CancellationToken,
    /// Memory, streams, writes and searches: what no one user may exceed.
    pub limits: Arc<limits::Limits>,
}

impl AppState {
    pub async fn new(
        pool: deadpool_postgres::Pool,
        options: &ServeOptions,
        history: history_writer::HistoryWriter,
        listener: listener::Listener,
        stopping: CancellationToken,
    ) -> Result<Self, StartError> {
        let passwords = passwords::Passwords::new(options.hash_concurrency);
        tracing::info!(
            at_once = options.hash_concurrency,
            memory_mib = passwords.budget_bytes() >> 20,
            "password hashing budget"
        );
        let dummy_hash = passwords
            .hash(auth::mint_token())
            .await
            .map_err(|_| StartError::Internal("cannot compute a password hash"))?;
        Ok(AppState {
            pool,
            history,
            token_ttl: options.token_ttl,
            sessions_per_user: options.sessions_per_user,
            passwords,
            dummy_hash: dummy_hash.into(),
            tokens: Arc::new(token_cache::TokenCache::new(
                listener.tokens(),
                listener.listening(),
                listener.fence(),
            )),
            token_cache: options.token_cache,
            token_owners: Arc::new(quick_cache::sync::Cache::new(token_cache::CAPACITY)),
            listener,
            stopping,
            login_limiter: Arc::new(limiter::LoginLimiter::new(
                limiter::LoginLimits {
                    per_username: options.login_limit,
                    per_address: options.login_address_limit,
                    successes: options.login_success_limit,
                },
                options.trusted_proxy_header.clone(),
            )),
            body_timeout: options.body_timeout,
            limits: Arc::new(limits::Limits::new(options)),
        })
    }
}

/// A shutdown signal that any number of waiters can share.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Wraps any future as a [`Shutdown`].
pub fn shutdown_on(signal: impl Future<Output = ()> + Send + 'static) -> Shutdown {
    signal.boxed().shared()
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::BadDatabaseUrl),
    #[error(transparent)]
    Embedded(#[from] strop_embedded_pg::EmbeddedError),
    #[error(transparent)]
    Migrate(#[from] db::migrations::MigrateError),
    #[error("cannot build the database pool: {0}")]
    Pool(#[from] deadpool_postgres::BuildError),
    #[error("cannot check the existing usernames: {0}")]
    Usernames(#[source] deadpool_postgres::PoolError),
    #[error("cannot listen for /metrics on {addr}: {source}")]
    MetricsBind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Runs the server on `listener` until `shutdown` resolves: chooses the
/// database (starting the embedded cluster if none is configured), migrates,
/// serves, drains in-flight requests, and stops the embedded cluster.
pub async fn run(
    config: &Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let options = config.serve_options();
    match config.database()? {
        DatabaseSource::External(pg) => {
            tracing::info!(database = %config::describe_pg(&pg), "using the configured PostgreSQL");
            serve(*pg, options, listener, shutdown).await
        }
        DatabaseSource::Embedded(data_dir) => {
            tracing::info!(
                data_dir = %data_dir.display(),
                "no database configured; starting the embedded PostgreSQL"
            );
            let cluster = strop_embedded_pg::EmbeddedPostgres::start(&data_dir).await?;
            let result = serve(cluster.pg_config("strop"), options, listener, shutdown).await;
            tracing::info!("stopping the embedded PostgreSQL");
            if let Err(e) = cluster.stop().await {
                tracing::error!(error = %ops::logging::Chain(&e), "could not stop the embedded PostgreSQL");
            }
            result
        }
    }
}

/// Migrates `pg` and serves the API on `listener` until `shutdown`, then
/// lets in-flight requests finish (a 200 means its history row is committed).
pub async fn serve(
    pg: tokio_postgres::Config,
    options: ServeOptions,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    // A stop request while the database is still coming up ends the wait.
    let applied = tokio::select! {
        applied = db::migrations::migrate_with_retry(&pg, DATABASE_PATIENCE) => applied?,
        () = shutdown.clone() => {
            tracing::info!("stopped before the database was ready");
            return Ok(());
        }
    };
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "schema migrated");
    }
    let pool = db::pool::create(pg.clone(), options.pool_size, options.statement_timeout)?;
    usernames::check_existing(&pool)
        .await
        .map_err(StartError::Usernames)?;
    // The LISTEN connection outlives the requests still draining at shutdown.
    let unlisten = CancellationToken::new();
    let (notices, listening) = listener::Listener::spawn(pg, pool.clone(), unlisten.clone());
    let unlisten = unlisten.drop_guard();
    let (history, history_drain) =
        history_writer::HistoryWriter::start(pool.clone(), options.history_queue);
    let stopping = CancellationToken::new();
    db::idempotency::spawn_cleanup(pool.clone(), stopping.clone());
    let state = AppState::new(pool.clone(), &options, history, notices, stopping.clone()).await?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    if options.metrics != config::MetricsEndpoint::Off {
        // Before the first request, so every request is counted.
        metrics::install();
    }
    let metrics_server = match options.metrics {
        config::MetricsEndpoint::Separate(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::MetricsBind { addr, source })?;
            tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "serving /metrics");
            Some(tokio::spawn(http_server::run(
                routes::metrics_only(state.clone()),
                listener,
                shutdown.clone(),
                SHUTDOWN_GRACE,
                http_server::ConnectionLimits::with_max(http_server::METRICS_CONNECTIONS),
            )))
        }
        config::MetricsEndpoint::Main | config::MetricsEndpoint::Off => None,
    };
    let shutdown = async move {
        shutdown.await;
        stopping.cancel();
    };
    http_server::run(
        build(state, options.metrics == config::MetricsEndpoint::Main),
        listener,
        shutdown,
        SHUTDOWN_GRACE,
        http_server::ConnectionLimits::from_options(&options),
    )
    .await;
    if let Some(task) = metrics_server {
        let _ = task.await;
    }
    // Rows still queued (only if the grace ran out) are committed or failed,
    // and their requests answered, before the pool goes.
    history_drain.finish().await;
    drop(unlisten);
    let _ = listening.await;
    pool.close();
    tracing::info!("server stopped");
    Ok(())
}
