//! The `idempotency_keys` table (migration V6): answers of requests sent
//! with an `Idempotency-Key`, written in the same transaction as the work
//! they answer, so a stored answer always means a committed write.
//!
//! "In flight" is a transaction-scoped advisory lock on (scope, key), held
//! by the one request doing the work. PostgreSQL drops it on commit, on
//! rollback and when the holder's connection goes (a replica stopped or
//! killed mid-request), so a key is never left blocked and needs no lease.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Client;
use super::history::{NewEntry, Saved};

/// Advisory lock class of idempotency keys ('idem'); distinct from the
/// history writer's per-user class.
const LOCK_CLASS: i32 = 0x6964_656d;

/// How often expired keys are deleted.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// What became of a keyed request.
#[derive(Debug)]
pub enum Outcome<T> {
    /// This request did the work (committed with its key).
    Done(T),
    /// The key was used before (within 24 h): whether with this same
    /// request, the user it belongs to, and the answer then given.
    Seen {
        same: bool,
        user_id: Option<i64>,
        answer: String,
    },
    /// Another request with this key is being answered right now.
    InFlight,
}

/// Begins the key's transaction: takes the key's lock, and looks for an
/// earlier answer. `Ok(None)` means: go ahead, in `tx`.
async fn claim<T>(
    tx: &deadpool_postgres::Transaction<'_>,
    scope: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Option<Outcome<T>>, tokio_postgres::Error> {
    let locked: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2 || E'\\n' || $3))",
            &[&LOCK_CLASS, &scope, &key],
        )
        .await?
        .get(0);
    if !locked {
        return Ok(Some(Outcome::InFlight));
    }
    let seen = tx
        .query_opt(
            "SELECT request_hash, user_id, answer FROM idempotency_keys
             WHERE scope = $1 AND key = $2 AND created_at > now() - interval '24 hours'",
            &[&scope, &key],
        )
        .await?;
    Ok(seen.map(|r| Outcome::Seen {
        same: r.get::<_, Vec<u8>>(0) == request_hash,
        user_id: r.get(1),
        answer: r.get(2),
    }))
}

/// Stores the key's answer in `tx` (replacing an expired row).
async fn remember(
    tx: &deadpool_postgres::Transaction<'_>,
    scope: &str,
    key: &str,
    user_id: i64,
    request_hash: &[u8],
    answer: &str,
    history_id: Option<i64>,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO idempotency_keys (scope, key, user_id, request_hash, answer, history_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (scope, key) DO UPDATE SET user_id = EXCLUDED.user_id,
             request_hash = EXCLUDED.request_hash, answer = EXCLUDED.answer,
             history_id = EXCLUDED.history_id, created_at = now()",
        &[&scope, &key, &user_id, &request_hash, &answer, &history_id],
    )
    .await?;
    Ok(())
}

/// Records `entry` under the key, unless the key was used before or is in
/// flight: the history row and the key's answer commit together.
pub async fn record_history(
    client: &mut Client,
    scope: &str,
    key: &str,
    request_hash: &[u8],
    entry: &NewEntry,
    answer: &str,
) -> Result<Outcome<Saved>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    if let Some(earlier) = claim(&tx, scope, key, request_hash).await? {
        return Ok(earlier);
    }
    // The same function as the group commit: the user's lock keeps their
    // ids committing in id order, which live streams rely on.
    let row = tx
        .query_one(
            "SELECT saved_id, saved_at FROM strop_insert_history(
                 ARRAY[$1::bigint], ARRAY[$2::text], ARRAY[$3::text], ARRAY[$4::text])",
            &[
                &entry.user_id,
                &entry.function.as_str(),
                &entry.input,
                &entry.output,
            ],
        )
        .await?;
    let saved = Saved {
        id: row.get(0),
        created_at: row.get(1),
    };
    remember(
        &tx,
        scope,
        key,
        entry.user_id,
        request_hash,
        answer,
        Some(saved.id),
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Done(saved))
}

/// Creates the user under the key, unless the key was used before or is in
/// flight; `Done(None)` when the name is taken (nothing is stored then, so
/// a retry asks again).
pub async fn register(
    client: &mut Client,
    key: &str,
    request_hash: &[u8],
    username: &str,
    password_hash: &str,
    answer: &str,
) -> Result<Outcome<Option<i64>>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    if let Some(earlier) = claim(&tx, "register", key, request_hash).await? {
        return Ok(earlier);
    }
    let created = tx
        .query_opt(
            "INSERT INTO users (username, password_hash) VALUES ($1, $2)
             ON CONFLICT (username) DO NOTHING RETURNING id",
            &[&username, &password_hash],
        )
        .await?;
    let Some(id) = created.map(|r| r.get::<_, i64>(0)) else {
        return Ok(Outcome::Done(None));
    };
    remember(&tx, "register", key, id, request_hash, answer, None).await?;
    tx.commit().await?;
    Ok(Outcome::Done(Some(id)))
}

/// Deletes keys older than 24 hours; how many.
pub async fn delete_expired(client: &Client) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "DELETE FROM idempotency_keys WHERE created_at <= now() - interval '24 hours'",
            &[],
        )
        .await
}

/// Deletes expired keys now and every hour until `stop`. (Lookups ignore
/// expired keys anyway; this only keeps the table small.)
pub fn spawn_cleanup(pool: deadpool_postgres::Pool, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let swept = async {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                delete_expired(&client).await.map_err(|e| e.to_string())
            };
            match swept.await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "deleted expired idempotency keys"),
                Err(e) => tracing::warn!(error = %e, "could not delete expired idempotency keys"),
            }
            tokio::select! {
                () = tokio::time::sleep(CLEANUP_EVERY) => {}
                () = stop.cancelled() => return,
            }
        }
    });
}
