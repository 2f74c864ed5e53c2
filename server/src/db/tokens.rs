//! The `tokens` table: SHA-256 hashes of live tokens and when they expire.

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

/// The owner of a token that is neither unknown, revoked nor expired.
pub async fn owner(
    client: &Client,
    token_hash: &[u8],
) -> Result<Option<TokenOwner>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT u.id, u.username FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.expires_at > now()",
        )
        .await?;
    let row = client.query_opt(&stmt, &[&token_hash]).await?;
    Ok(row.map(|r| TokenOwner {
        user_id: r.get(0),
        username: r.get(1),
    }))
}

/// Revokes a token; true if it existed.
pub async fn revoke(client: &Client, token_hash: &[u8]) -> Result<bool, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached("DELETE FROM tokens WHERE token_hash = $1")
        .await?;
    Ok(client.execute(&stmt, &[&token_hash]).await? > 0)
}
