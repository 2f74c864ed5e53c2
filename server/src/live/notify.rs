//! The NOTIFY protocol between server processes, whole: its three channels,
//! their payloads, and every statement that sends on them. Whatever changes
//! what another process must hear goes through here.
//!
//! - [`HISTORY_CHANNEL`]: the comma-separated ids of the history rows one
//!   transaction committed ([`announce_history`]), sent after that commit.
//! - [`DELETED_CHANNEL`]: `USER:ID` (that user's entry `ID` is gone) or
//!   `USER:..ID` (every entry of that user up to `ID` is gone), sent in the
//!   deleting statement itself ([`delete_entry`], [`delete_all`]). It is
//!   read by the same task as [`HISTORY_CHANNEL`], in arrival order, so a
//!   stream never hears of a row's deletion before the row.
//! - [`TOKENS_CHANNEL`]: the lowercase hex SHA-256 of a revoked token, sent
//!   in the revoking transaction itself ([`revoke_token`]), or [`FLUSH_ALL`]
//!   for "forget every token".

use deadpool_postgres::GenericClient;

use crate::db::Client;

pub const HISTORY_CHANNEL: &str = "strop_history";
pub const TOKENS_CHANNEL: &str = "strop_tokens";
pub const DELETED_CHANNEL: &str = "strop_history_deleted";
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

/// What [`DELETED_CHANNEL`] said: which of whose entries are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub user_id: i64,
    pub gone: strop_common::DeleteEvent,
}

pub fn parse_deleted(payload: &str) -> Option<Deletion> {
    let (user, what) = payload.split_once(':')?;
    let user_id = user.parse().ok()?;
    let gone = match what.strip_prefix("..") {
        Some(top) => strop_common::DeleteEvent {
            ids: Vec::new(),
            up_to: Some(top.parse().ok()?),
        },
        None => strop_common::DeleteEvent {
            ids: vec![what.parse().ok()?],
            up_to: None,
        },
    };
    Some(Deletion { user_id, gone })
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
    // A batch whose every row was refused committed nothing to tell.
    if ids.is_empty() {
        return Ok(());
    }
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

/// Revokes the user's sessions beyond the newest `keep`, notifying every
/// server of each; how many went.
pub async fn revoke_oldest_beyond(
    client: &Client,
    user_id: i64,
    keep: u32,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH kept AS (SELECT id FROM tokens WHERE user_id = $1 ORDER BY id DESC LIMIT $2),
                  gone AS (DELETE FROM tokens WHERE user_id = $1 AND id NOT IN (SELECT id FROM kept)
                           RETURNING token_hash)
             SELECT pg_notify($3, encode(token_hash, 'hex')) FROM gone",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&user_id, &i64::from(keep), &TOKENS_CHANNEL])
        .await?;
    Ok(rows.len() as u64)
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

/// Deletes the user's history entry `id` and, in the same statement (so
/// the same transaction), tells every server; false when the user has no
/// such entry (another user's id included).
pub async fn delete_entry(
    client: &Client,
    user_id: i64,
    id: i64,
) -> Result<bool, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH gone AS (DELETE FROM history WHERE user_id = $1 AND id = $2 RETURNING user_id, id)
             SELECT pg_notify($3, user_id::text || ':' || id::text) FROM gone",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&user_id, &id, &DELETED_CHANNEL])
        .await?;
    Ok(!rows.is_empty())
}

/// Deletes every history entry of the user and, in the same statement,
/// tells every server (nothing is sent when there was nothing); how many
/// went. Each user's rows commit in id order (migration V3), so every row
/// up to the highest one deleted was visible to the delete: the notice
/// says "up to that id".
pub async fn delete_all(client: &Client, user_id: i64) -> Result<u64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "WITH gone AS (DELETE FROM history WHERE user_id = $1 RETURNING id),
                  summary AS (SELECT count(*) AS n, max(id) AS top FROM gone)
             SELECT n FROM summary,
                  LATERAL (SELECT pg_notify($2, $1::bigint::text || ':..' || top::text)
                           WHERE top IS NOT NULL) AS sent",
        )
        .await?;
    let rows = client.query(&stmt, &[&user_id, &DELETED_CHANNEL]).await?;
    Ok(rows
        .first()
        .map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
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
        // What `delete_entry` and `delete_all` send.
        let one = parse_deleted("7:42").unwrap();
        assert_eq!(
            (one.user_id, one.gone.ids, one.gone.up_to),
            (7, vec![42], None)
        );
        let all = parse_deleted("7:..42").unwrap();
        assert_eq!(
            (all.user_id, all.gone.ids, all.gone.up_to),
            (7, vec![], Some(42))
        );
        for bad in ["", "7", "7:", "x:1", "7:..", "7:..x", "7:1,2"] {
            assert_eq!(parse_deleted(bad), None, "{bad}");
        }
    }
}
