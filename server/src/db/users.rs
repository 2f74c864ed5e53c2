//! The `users` table.

use deadpool_postgres::GenericClient;

use super::Client;

/// What `/authenticate` needs to check a password.
pub struct StoredUser {
    pub id: i64,
    pub password_hash: String,
}

/// Creates a user; `None` when the name is taken.
pub async fn insert(
    client: &Client,
    username: &str,
    password_hash: &str,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO users (username, password_hash) VALUES ($1, $2)
             ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&username, &password_hash])
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn find(
    client: &Client,
    username: &str,
) -> Result<Option<StoredUser>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached("SELECT id, password_hash FROM users WHERE username = $1")
        .await?;
    let row = client.query_opt(&stmt, &[&username]).await?;
    Ok(row.map(|r| StoredUser {
        id: r.get(0),
        password_hash: r.get(1),
    }))
}

/// Replaces a user's password hash with one of the same password under the
/// current settings, unless it changed meanwhile; whether it was replaced.
pub async fn upgrade_password_hash(
    client: &Client,
    id: i64,
    old_hash: &str,
    new_hash: &str,
) -> Result<bool, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
        .await?;
    Ok(client.execute(&stmt, &[&id, &old_hash, &new_hash]).await? == 1)
}

/// A user's id and password hash, by id.
pub async fn password_hash(
    client: &Client,
    id: i64,
) -> Result<Option<String>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached("SELECT password_hash FROM users WHERE id = $1")
        .await?;
    Ok(client.query_opt(&stmt, &[&id]).await?.map(|r| r.get(0)))
}

/// Sets a new password hash unless the password changed since `old_hash`
/// was read; whether it was set. Run inside the transaction that also
/// revokes the user's other tokens (`live::notify::revoke_all_but`).
pub async fn replace_password_hash(
    tx: &impl GenericClient,
    id: i64,
    old_hash: &str,
    new_hash: &str,
) -> Result<bool, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
        .await?;
    Ok(tx.execute(&stmt, &[&id, &old_hash, &new_hash]).await? == 1)
}

/// The user's password hash, row locked until the transaction ends (a
/// concurrent password change or deletion waits).
pub async fn lock(
    tx: &impl GenericClient,
    id: i64,
) -> Result<Option<String>, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached("SELECT password_hash FROM users WHERE id = $1 FOR UPDATE")
        .await?;
    Ok(tx.query_opt(&stmt, &[&id]).await?.map(|r| r.get(0)))
}

/// Deletes the user's history and the user (their idempotency keys, and any
/// tokens left, go by cascade). Run inside the transaction that revoked the
/// tokens with a notice first.
pub async fn delete_with_history(
    tx: &impl GenericClient,
    id: i64,
) -> Result<(), tokio_postgres::Error> {
    tx.execute("DELETE FROM history WHERE user_id = $1", &[&id])
        .await?;
    tx.execute("DELETE FROM users WHERE id = $1", &[&id])
        .await?;
    Ok(())
}
