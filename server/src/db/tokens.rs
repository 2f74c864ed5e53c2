//! The `tokens` table: SHA-256 hashes of live tokens and when they expire.
//!
//! Servers cache token owners (`live/token_cache.rs`), so a live token is
//! deleted only through `live::notify::revoke_token`, which tells every
//! server in the same transaction; expired rows need not, every cache checks
//! expiry itself.

use std::time::{Duration, SystemTime};

use super::Client;

/// The user a live token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub user_id: i64,
    pub username: String,
}

/// Stores a new token hash for `user_id`, valid for `ttl`, logged in with
/// `user_agent`; the user's expired tokens are pruned in the same statement
/// so the table does not grow forever.
pub async fn insert(
    client: &Client,
    user_id: i64,
    token_hash: &[u8],
    ttl: Duration,
    user_agent: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH pruned AS (
                 DELETE FROM tokens WHERE user_id = $1 AND expires_at <= now()
             )
             INSERT INTO tokens (token_hash, user_id, expires_at, user_agent)
             VALUES ($2, $1, now() + make_interval(secs => $3), $4)",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[&user_id, &token_hash, &ttl.as_secs_f64(), &user_agent],
        )
        .await?;
    Ok(())
}

/// When a live token expires, RFC 3339 UTC with milliseconds (the history
/// `timestamp` format); `None` when it is unknown, revoked or expired.
pub async fn expires(
    client: &Client,
    token_hash: &[u8],
) -> Result<Option<String>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
             FROM tokens WHERE token_hash = $1 AND expires_at > now()",
        )
        .await?;
    let row = client.query_opt(&stmt, &[&token_hash]).await?;
    Ok(row.map(|r| r.get(0)))
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

/// One live token of a user, as `/sessions` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub token_hash: Vec<u8>,
    pub created_at: SystemTime,
    /// Truncated to the minute.
    pub last_used_at: SystemTime,
    pub expires_at: SystemTime,
    pub user_agent: Option<String>,
}

/// The user's live tokens, oldest first.
pub async fn sessions(
    client: &Client,
    user_id: i64,
) -> Result<Vec<Session>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT id, token_hash, created_at, date_trunc('minute', last_used_at),
                    expires_at, user_agent
             FROM tokens WHERE user_id = $1 AND expires_at > now() ORDER BY id",
        )
        .await?;
    let rows = client.query(&stmt, &[&user_id]).await?;
    Ok(rows
        .iter()
        .map(|r| Session {
            id: r.get(0),
            token_hash: r.get(1),
            created_at: r.get(2),
            last_used_at: r.get(3),
            expires_at: r.get(4),
            user_agent: r.get(5),
        })
        .collect())
}

/// Records that the token was used now, unless it already was this minute:
/// `/sessions` shows `last_used` to the minute, so that is all it costs.
pub async fn touch(client: &Client, token_hash: &[u8]) -> Result<(), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "UPDATE tokens SET last_used_at = now()
             WHERE token_hash = $1 AND last_used_at < date_trunc('minute', now())",
        )
        .await?;
    client.execute(&stmt, &[&token_hash]).await?;
    Ok(())
}
