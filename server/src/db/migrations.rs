//! The embedded schema migrations (`server/migrations/*.sql`), applied at
//! start-up under a PostgreSQL advisory lock so that servers starting at the
//! same time on one database take turns instead of racing.

use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

refinery::embed_migrations!("migrations");

/// Advisory lock key ("strop" in ASCII); advisory locks are per database.
const LOCK_KEY: i64 = 0x73_74_72_6f_70;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot connect to PostgreSQL ({target}): {source}")]
    Connect {
        target: String,
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL failed while migrating the schema: {0}")]
    Sql(#[from] tokio_postgres::Error),
    #[error("schema migration failed: {0}")]
    Migration(#[from] refinery::Error),
}

/// Applies every pending migration; returns the names of those it applied.
pub async fn migrate(pg: &tokio_postgres::Config) -> Result<Vec<String>, MigrateError> {
    let (mut client, connection) =
        pg.connect(NoTls)
            .await
            .map_err(|source| MigrateError::Connect {
                target: crate::config::describe_pg(pg),
                source,
            })?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %crate::ops::logging::Chain(&e), "migration connection ended");
        }
    });
    // Session-level lock: released by the unlock below, or by the server
    // when this connection closes if anything in between fails.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let report = migrations::runner().run_async(&mut client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    drop(client);
    let _ = driver.await;
    let report = report?;
    unlocked?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}

/// [`migrate`], retrying while the database is not reachable yet (a server
/// started beside its database, as in docker compose), up to `patience`.
pub async fn migrate_with_retry(
    pg: &tokio_postgres::Config,
    patience: Duration,
) -> Result<Vec<String>, MigrateError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match migrate(pg).await {
            Err(MigrateError::Connect { target, source })
                if started.elapsed() + delay < patience =>
            {
                tracing::warn!(%target, error = %crate::ops::logging::Chain(&source), "database not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}
