//! The `users` table.

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
