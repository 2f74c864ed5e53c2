//! The `history` table: every string operation a user ran.
//!
//! Pages are read newest first along the `(user_id, id)` (or
//! `(user_id, function, id)`) index and stop after `limit + 1` rows, so a page
//! costs the same whatever the size of the table or of the user's history.

use std::fmt::Write as _;
use std::time::SystemTime;

use strop_common::{Function, HistoryEntry};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::Client;

/// One stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: i64,
    pub function: Function,
    pub input: String,
    pub output: String,
    pub created_at: SystemTime,
}

impl Record {
    /// The wire form `/get-history` and `/events` send, for `user`'s row.
    pub fn into_entry(self, user: String) -> HistoryEntry {
        let (time, timestamp) = strop_common::wire_times(self.created_at);
        HistoryEntry {
            function: self.function,
            id: self.id,
            input: self.input,
            output: self.output,
            time,
            timestamp,
            user,
        }
    }

    /// From the columns `id, function, input, output, created_at`, in that order.
    fn from_row(r: &Row) -> Self {
        let function: &str = r.get(1);
        Record {
            id: r.get(0),
            // The table's CHECK constraint admits only these two names.
            function: function.parse().unwrap_or(Function::Reverse),
            input: r.get(2),
            output: r.get(3),
            created_at: r.get(4),
        }
    }
}

/// A row as live history fans it out: whose it is, and its wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEntry {
    pub user_id: i64,
    pub entry: HistoryEntry,
}

/// Which of a user's rows a page may hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only rows with an id below this one.
    pub before: Option<i64>,
    pub function: Option<Function>,
    /// Case-insensitive substring of input or output.
    pub contains: Option<String>,
}

/// Records one operation. Returns once the row is committed.
pub async fn insert(
    client: &Client,
    user_id: i64,
    function: Function,
    input: &str,
    output: &str,
) -> Result<i64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO history (user_id, function, input, output)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .await?;
    let row = client
        .query_one(&stmt, &[&user_id, &function.as_str(), &input, &output])
        .await?;
    Ok(row.get(0))
}

/// Escapes LIKE's wildcards so `q` matches literally.
fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The SQL of a page for the filters that are set: only present conditions
/// appear, so each combination gets its own well-planned cached statement.
fn page_sql(filter: &Filter) -> String {
    let mut sql = String::from(
        "SELECT id, function, input, output, created_at FROM history WHERE user_id = $1",
    );
    let mut n = 1;
    if filter.before.is_some() {
        n += 1;
        let _ = write!(sql, " AND id < ${n}");
    }
    if filter.function.is_some() {
        n += 1;
        let _ = write!(sql, " AND function = ${n}");
    }
    if filter.contains.is_some() {
        n += 1;
        let _ = write!(sql, " AND (input ILIKE ${n} OR output ILIKE ${n})");
    }
    n += 1;
    let _ = write!(sql, " ORDER BY id DESC LIMIT ${n}");
    sql
}

/// Up to `count` of the user's newest rows matching `filter`, newest first.
pub async fn newest(
    client: &Client,
    user_id: i64,
    filter: &Filter,
    count: i64,
) -> Result<Vec<Record>, tokio_postgres::Error> {
    let function = filter.function.map(Function::as_str);
    let pattern = filter.contains.as_deref().map(like_pattern);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&user_id];
    if let Some(before) = &filter.before {
        params.push(before);
    }
    if let Some(function) = &function {
        params.push(function);
    }
    if let Some(pattern) = &pattern {
        params.push(pattern);
    }
    params.push(&count);
    let stmt = client.prepare_cached(&page_sql(filter)).await?;
    let rows = client.query(&stmt, &params).await?;
    Ok(rows.iter().map(Record::from_row).collect())
}

/// The rows with these ids (of any user), in id order: what one
/// `strop_history` notification announces, read once per process.
pub async fn by_ids(
    client: &Client,
    ids: &[i64],
) -> Result<Vec<OwnedEntry>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT h.id, h.function, h.input, h.output, h.created_at, h.user_id, u.username
             FROM history h JOIN users u ON u.id = h.user_id
             WHERE h.id = ANY($1) ORDER BY h.id",
        )
        .await?;
    let rows = client.query(&stmt, &[&ids]).await?;
    Ok(rows
        .iter()
        .map(|r| OwnedEntry {
            user_id: r.get(5),
            entry: Record::from_row(r).into_entry(r.get(6)),
        })
        .collect())
}

/// Up to `count` of the user's rows with an id above `after`, oldest first:
/// one page of a stream's catch-up.
pub async fn after(
    client: &Client,
    user_id: i64,
    after: i64,
    count: i64,
) -> Result<Vec<Record>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT id, function, input, output, created_at FROM history
             WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .await?;
    let rows = client.query(&stmt, &[&user_id, &after, &count]).await?;
    Ok(rows.iter().map(Record::from_row).collect())
}

/// The SQL and parameters [`newest`] would run, for EXPLAIN in the benchmark.
pub fn explain_sql(filter: &Filter) -> String {
    page_sql(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(like_pattern(""), "%%");
    }

    #[test]
    fn sql_numbers_only_present_parameters() {
        let all = Filter {
            before: Some(5),
            function: Some(Function::Piglatin),
            contains: Some("x".into()),
        };
        assert_eq!(
            page_sql(&all),
            "SELECT id, function, input, output, created_at FROM history WHERE user_id = $1 \
             AND id < $2 AND function = $3 AND (input ILIKE $4 OR output ILIKE $4) \
             ORDER BY id DESC LIMIT $5"
        );
        let some = Filter {
            contains: Some("x".into()),
            ..Filter::default()
        };
        assert!(
            page_sql(&some)
                .ends_with("(input ILIKE $2 OR output ILIKE $2) ORDER BY id DESC LIMIT $3")
        );
    }
}
