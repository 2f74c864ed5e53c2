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
