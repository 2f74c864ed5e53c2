//! The `tokens` table: SHA-256 hashes of live tokens and when they expire.
//!
//! Servers cache token owners (`live/token_cache.rs`), so a live token is
//! deleted only through `live::notify::revoke_token`, which tells every
//! server in the same transaction; expired rows need not, every cache checks
//! expiry itself.

use std::time::Duration;

use super::Client;

/// The user a live token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub user_id: i64,
    pub username: String,
}

/// Stores a new token hash for `user_id`, valid for `ttl`; the user's expired
/// tokens are pruned in the same statement so the table does not grow forever.
pub async fn insert(
    client: &Client,
    user_id: i64,
    token_hash: &[u8],
    ttl: Duration,
) -> Result<(), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH pruned AS (
                 DELETE FROM tokens WHERE user_id = $1 AND expires_at <= now()
             )
             INSERT INTO tokens (token_hash, user_id, expires_at)
             VALUES ($2, $1, now() + make_interval(secs => $3))",
        )
        .await?;
    client
        .execute(&stmt, &[&user_id, &token_hash, &ttl.as_secs_f64()])
        .await?;
    Ok(())
}

/// The owner of a token that is neither unknown, revoked nor expired, and
/// how long it still lives (by the database's clock, so no clock skew).
pub async fn owner(
    client: &Client,
    token_hash: &[u8],
) -> Result<Option<(TokenOwner, Duration)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT u.id, u.username, extract(epoch FROM t.expires_at - now())::float8
             FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.expires_at > now()",
        )
        .await?;
    let row = client.query_opt(&stmt, &[&token_hash]).await?;
    Ok(row.map(|r| {
        let owner = TokenOwner {
            user_id: r.get(0),
            username: r.get(1),
        };
        let remaining = Duration::try_from_secs_f64(r.get(2)).unwrap_or(Duration::ZERO);
        (owner, remaining)
    }))
}
