//! The NOTIFY protocol between server processes, whole: its two channels,
//! their payloads, and every statement that sends on them. Whatever changes
//! what another process must hear goes through here.
//!
//! - [`HISTORY_CHANNEL`]: the comma-separated ids of the history rows one
//!   transaction committed ([`announce_history`]), sent after that commit.
//! - [`TOKENS_CHANNEL`]: the lowercase hex SHA-256 of a revoked token, sent
//!   in the revoking transaction itself ([`revoke_token`]), or [`FLUSH_ALL`]
//!   for "forget every token".

use deadpool_postgres::GenericClient;

use crate::db::Client;

pub const HISTORY_CHANNEL: &str = "strop_history";
pub const TOKENS_CHANNEL: &str = "strop_tokens";
/// The [`TOKENS_CHANNEL`] payload that revokes every cached token.
pub const FLUSH_ALL: &str = "*";

/// What [`TOKENS_CHANNEL`] said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenNotice {
    /// The token with this SHA-256 is revoked.
    Revoked([u8; 32]),
    /// Any token may have been revoked (`*`, or the connection dropped and
    /// notices may have been missed).
    Flush,
}

/// The [`HISTORY_CHANNEL`] payload for the rows one transaction committed.
pub fn history_payload(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

pub fn parse_history(payload: &str) -> Option<Vec<i64>> {
    payload
        .split(',')
        .map(|id| id.trim().parse().ok())
        .collect()
}

pub fn parse_token(payload: &str) -> Option<TokenNotice> {
    if payload == FLUSH_ALL {
        return Some(TokenNotice::Flush);
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(payload, &mut hash).ok()?;
    Some(TokenNotice::Revoked(hash))
}

/// Announces committed rows (`ids`, ascending) to every process.
///
/// Its own transaction, after the rows' commit: PostgreSQL serialises every
/// committing transaction that has sent a NOTIFY, fsync included, so a NOTIFY
/// inside the insert would make concurrent batches commit one after another.
/// This one need not be durable (notifications are not WAL-logged anyway),
/// so it commits without waiting for a flush and holds that lock briefly.
pub async fn announce_history(client: &Client, ids: &[i64]) -> Result<(), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)")
        .await?;
    client
        .execute(&stmt, &[&HISTORY_CHANNEL, &history_payload(ids)])
        .await?;
    Ok(())
}

/// Revokes a token and, in the same statement (so the same transaction),
/// tells every server; true if it existed. Expired rows need no notice:
/// every cache checks expiry itself.
pub async fn revoke_token(
    client: &Client,
    token_hash: &[u8],
) -> Result<bool, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH gone AS (DELETE FROM tokens WHERE token_hash = $1 RETURNING token_hash)
             SELECT pg_notify($2, encode(token_hash, 'hex')) FROM gone",
        )
        .await?;
    let rows = client.query(&stmt, &[&token_hash, &TOKENS_CHANNEL]).await?;
    Ok(!rows.is_empty())
}

/// Revokes the user's session `id` and notifies every server, in one
/// statement; false when the user has no such session (another user's id
/// included).
pub async fn revoke_session(
    client: &Client,
    user_id: i64,
    id: i64,
) -> Result<bool, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH gone AS (DELETE FROM tokens WHERE user_id = $1 AND id = $2
                           RETURNING token_hash, expires_at)
             SELECT pg_notify($3, encode(token_hash, 'hex')), expires_at > now() FROM gone",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&user_id, &id, &TOKENS_CHANNEL])
        .await?;
    // An expired row is gone now, but it was no live session.
    Ok(rows.iter().any(|r| r.get::<_, bool>(1)))
}

/// Revokes every token of the user but `keep` (none: every one), notifying
/// every server of each; how many live ones went. Run it inside the
/// caller's transaction to make it part of a larger change.
pub async fn revoke_all_but(
    client: &impl GenericClient,
    user_id: i64,
    keep: Option<&[u8]>,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH gone AS (DELETE FROM tokens
                           WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)
                           RETURNING token_hash, expires_at)
             SELECT pg_notify($3, encode(token_hash, 'hex')), expires_at > now() FROM gone",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&user_id, &keep, &TOKENS_CHANNEL])
        .await?;
    Ok(rows.iter().filter(|r| r.get::<_, bool>(1)).count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        assert_eq!(history_payload(&[7]), "7");
        assert_eq!(history_payload(&[1, 22, 333]), "1,22,333");
        assert_eq!(parse_history("1,22,333"), Some(vec![1, 22, 333]));
        assert_eq!(parse_history("1,x"), None);
        assert_eq!(parse_history(""), None);
        // What `encode(token_hash, 'hex')` sends.
        let hash = [0xabu8; 32];
        assert_eq!(
            parse_token(&hex::encode(hash)),
            Some(TokenNotice::Revoked(hash))
        );
        assert_eq!(parse_token("*"), Some(TokenNotice::Flush));
        assert_eq!(parse_token("abc"), None);
    }
}
