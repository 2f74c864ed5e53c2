//! The `history` table: every string operation a user ran.
//!
//! Pages are read newest first along the `(user_id, id)` (or
//! `(user_id, function, id)`) index and stop after `limit + 1` rows, so a page
//! costs the same whatever the size of the table or of the user's history.

use std::fmt::Write as _;
use std::time::SystemTime;

use strop_common::{Function, HistoryEntry};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql, Type};

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

    /// From the columns `id, function, input, output, created_at`, in that
    /// order. A function name this server does not know is an error, never
    /// a guess.
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        let DbFunction(function) = r.try_get(1)?;
        Ok(Record {
            id: r.get(0),
            function,
            input: r.get(2),
            output: r.get(3),
            created_at: r.get(4),
        })
    }
}

/// The `function` column: `text` holding a [`Function`]'s name.
struct DbFunction(Function);

/// A row names a function this server does not know (a newer schema's).
#[derive(Debug, thiserror::Error)]
#[error("unknown function {0:?} in a history row")]
pub struct UnknownFunction(pub String);

impl<'a> FromSql<'a> for DbFunction {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let name = <&str as FromSql>::from_sql(ty, raw)?;
        name.parse()
            .map(DbFunction)
            .map_err(|_| UnknownFunction(name.to_string()).into())
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

/// A row as live history fans it out: whose it is, the id of that user's
/// row before it (0 for none), and its wire form. Each user's rows commit
/// in id order (migration V3), so the row before is committed too, and a
/// stream can send every row only after the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEntry {
    pub user_id: i64,
    pub prev_id: i64,
    pub entry: HistoryEntry,
}

/// Which of a user's rows a page may hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only rows with an id below this one.
    pub before: Option<i64>,
    pub function: Option<Function>,
    /// Words that must each be a case-insensitive substring of input or
    /// output, in any order; none means no search.
    pub words: Vec<String>,
}

impl Filter {
    /// The search words of `q`: split at whitespace, repeats dropped.
    pub fn words_of(q: &str) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        for w in q.split_whitespace() {
            if !words.iter().any(|seen| seen == w) {
                words.push(w.to_owned());
            }
        }
        words
    }
}

/// A row to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub user_id: i64,
    pub function: Function,
    pub input: String,
    pub output: String,
}

impl NewEntry {
    /// The bytes of text the row carries.
    pub fn bytes(&self) -> usize {
        self.input.len() + self.output.len()
    }
}

/// What the database gave a committed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub id: i64,
    pub created_at: SystemTime,
}

/// One statement for any batch size, so one round trip and (in autocommit)
/// one commit: `strop_insert_history` (migration V3) locks the batch's users,
/// draws ids in queue order and inserts; rows come back in the order given,
/// matched by position, not by the order RETURNING happens to use. The user
/// locks make each user's ids commit in id order on every replica, which
/// `Last-Event-ID` resumption relies on.
const INSERT_BATCH: &str = "SELECT saved_id, saved_at FROM strop_insert_history($1::bigint[], $2::text[], $3::text[], $4::text[])";

/// Records `entries` in one transaction; returns their ids and times in the
/// order given, once committed: `None` for an entry whose user no longer
/// exists (deleted meanwhile), which is skipped without failing the rest.
pub async fn insert_batch(
    client: &Client,
    entries: &[NewEntry],
) -> Result<Vec<Option<Saved>>, tokio_postgres::Error> {
    let user_ids: Vec<i64> = entries.iter().map(|e| e.user_id).collect();
    let functions: Vec<&str> = entries.iter().map(|e| e.function.as_str()).collect();
    let inputs: Vec<&str> = entries.iter().map(|e| e.input.as_str()).collect();
    let outputs: Vec<&str> = entries.iter().map(|e| e.output.as_str()).collect();
    let stmt = client.prepare_cached(INSERT_BATCH).await?;
    let rows = client
        .query(&stmt, &[&user_ids, &functions, &inputs, &outputs])
        .await?;
    Ok(rows.iter().map(saved).collect())
}

/// [`INSERT_BATCH`] with each row's token checked in the same statement
/// (migration V12): a row whose token is given is inserted only while that
/// token is live and its user's.
const INSERT_BATCH_CHECKED: &str = "SELECT saved_id, saved_at FROM strop_insert_history_checked($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::text[])";

/// As [`insert_batch`], each entry with the SHA-256 of the token it is
/// written with, or `None` when that token was checked already: `None` in
/// the answer also for an entry whose token is unknown, revoked or expired
/// by the time of the insert.
pub async fn insert_batch_checked(
    client: &Client,
    entries: &[NewEntry],
    tokens: &[Option<[u8; 32]>],
) -> Result<Vec<Option<Saved>>, tokio_postgres::Error> {
    let user_ids: Vec<i64> = entries.iter().map(|e| e.user_id).collect();
    let tokens: Vec<Option<&[u8]>> = tokens.iter().map(|t| t.as_ref().map(|t| &t[..])).collect();
    let functions: Vec<&str> = entries.iter().map(|e| e.function.as_str()).collect();
    let inputs: Vec<&str> = entries.iter().map(|e| e.input.as_str()).collect();
    let outputs: Vec<&str> = entries.iter().map(|e| e.output.as_str()).collect();
    let stmt = client.prepare_cached(INSERT_BATCH_CHECKED).await?;
    let rows = client
        .query(&stmt, &[&user_ids, &tokens, &functions, &inputs, &outputs])
        .await?;
    Ok(rows.iter().map(saved).collect())
}

fn saved(r: &Row) -> Option<Saved> {
    let id: Option<i64> = r.get(0);
    id.map(|id| Saved {
        id,
        created_at: r.get(1),
    })
}

/// What `q` searches: input and output as one text, exactly the expression
/// of the trigram index `history_text_trgm_idx`.
const SEARCHED: &str = "(input || E'\\n' || output)";

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
/// [`newest`] runs it; public so its plan can be examined.
pub fn page_sql(filter: &Filter) -> String {
    if filter.words.is_empty() {
        return plain_page_sql(filter);
    }
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
    // One condition per word on the expression of the trigram index
    // (migration V4): a word holds no whitespace, so it cannot match across
    // the newline, and the index intersects all the words in one scan.
    for _ in &filter.words {
        n += 1;
        let _ = write!(sql, " AND {SEARCHED} ILIKE ${n}");
    }
    n += 1;
    let _ = write!(sql, " ORDER BY id DESC LIMIT ${n}");
    sql
}

/// A page without search words, as a range of the user's own index:
/// `(user_id, id)`, or `(user_id, function, id)` with a function. With
/// `user_id = $1` PostgreSQL treats the user as a constant and may walk the
/// primary key backwards instead, past every newer row of other users (a
/// user holding most of the table: 56 ms instead of 0.1 ms); a row
/// comparison is a range only that index serves, in its order.
fn plain_page_sql(filter: &Filter) -> String {
    let mut n = 1;
    let before = if filter.before.is_some() {
        n += 1;
        format!("${n}")
    } else {
        i64::MAX.to_string()
    };
    let (columns, low, high) = if filter.function.is_some() {
        n += 1;
        (
            "user_id, function, id",
            format!("$1, ${n}, 0"),
            format!("$1, ${n}, {before}"),
        )
    } else {
        ("user_id, id", "$1, 0".to_string(), format!("$1, {before}"))
    };
    let order = columns.replace(',', " DESC,");
    n += 1;
    format!(
        "SELECT id, function, input, output, created_at FROM history \
         WHERE ({columns}) > ({low}) AND ({columns}) < ({high}) \
         ORDER BY {order} DESC LIMIT ${n}"
    )
}

/// Wraps a page query (`id, function, input, output, created_at`, ordered
/// by id `order`) so that only rows starting within `$max` bytes of input and
/// output come back whole; the first row beyond comes back empty, marked
/// (`within` false), to tell that the page was cut. PostgreSQL reads the
/// page; this process holds at most `$max` bytes plus one row.
fn within_bytes(page: &str, order: &str, max: usize) -> String {
    format!(
        "SELECT id, function,
                CASE WHEN start < ${max} THEN input ELSE '' END,
                CASE WHEN start < ${max} THEN output ELSE '' END,
                created_at, start < ${max}
         FROM (SELECT *, lag(start, 1, 0) OVER (ORDER BY id {order}) AS prev_start
               FROM (SELECT *, sum(octet_length(input) + octet_length(output))
                                 OVER (ORDER BY id {order})
                               - (octet_length(input) + octet_length(output)) AS start
                     FROM ({page}) page) sized) marked
         WHERE prev_start < ${max} ORDER BY id {order}"
    )
}

/// A page cut by bytes: its rows, and whether rows were left out for size.
fn split_cut(rows: &[Row]) -> Result<(Vec<Record>, bool), tokio_postgres::Error> {
    let mut cut = false;
    let mut records = Vec::with_capacity(rows.len());
    for r in rows {
        if r.get::<_, bool>(5) {
            records.push(Record::from_row(r)?);
        } else {
            cut = true;
        }
    }
    Ok((records, cut))
}

/// Up to `count` of the user's newest rows matching `filter`, newest first.
pub async fn newest(
    client: &Client,
    user_id: i64,
    filter: &Filter,
    count: i64,
) -> Result<Vec<Record>, tokio_postgres::Error> {
    Ok(newest_within(client, user_id, filter, count, i64::MAX)
        .await?
        .0)
}

/// [`newest`], holding at most about `max_bytes` of input and output (always
/// at least one row); `true` when rows were left out for size.
pub async fn newest_within(
    client: &Client,
    user_id: i64,
    filter: &Filter,
    count: i64,
    max_bytes: i64,
) -> Result<(Vec<Record>, bool), tokio_postgres::Error> {
    let function = filter.function.map(Function::as_str);
    let patterns: Vec<String> = filter.words.iter().map(|w| like_pattern(w)).collect();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&user_id];
    if let Some(before) = &filter.before {
        params.push(before);
    }
    if let Some(function) = &function {
        params.push(function);
    }
    for pattern in &patterns {
        params.push(pattern);
    }
    params.push(&count);
    params.push(&max_bytes);
    let sql = within_bytes(&page_sql(filter), "DESC", params.len());
    // A search is planned for its own user and words each time: a cached
    // generic plan intersected the trigram index with the user's index,
    // reading all of it for a user holding half the table (52 ms, against
    // 6 ms planned for that user; p99 234 ms against 30 ms in bench/run).
    let stmt = if filter.words.is_empty() {
        client.prepare_cached(&sql).await?
    } else {
        client.prepare(&sql).await?
    };
    let rows = client.query(&stmt, &params).await?;
    split_cut(&rows)
}

/// The rows with these ids (of any user), in id order, each with its
/// user's row before it: what one `strop_history` notification announces,
/// read once per process.
pub async fn by_ids(
    client: &Client,
    ids: &[i64],
) -> Result<Vec<OwnedEntry>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT h.id, h.function, h.input, h.output, h.created_at, h.user_id, u.username,
                    COALESCE((SELECT max(p.id) FROM history p
                              WHERE p.user_id = h.user_id AND p.id < h.id), 0)
             FROM history h JOIN users u ON u.id = h.user_id
             WHERE h.id = ANY($1) ORDER BY h.id",
        )
        .await?;
    let rows = client.query(&stmt, &[&ids]).await?;
    rows.iter()
        .map(|r| {
            Ok(OwnedEntry {
                user_id: r.get(5),
                prev_id: r.get(7),
                entry: Record::from_row(r)?.into_entry(r.get(6)),
            })
        })
        .collect()
}

/// The id of the user's newest row, if any.
pub async fn newest_id(
    client: &Client,
    user_id: i64,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached("SELECT max(id) FROM history WHERE user_id = $1")
        .await?;
    Ok(client.query_one(&stmt, &[&user_id]).await?.get(0))
}

/// The user's rows after `$2`, oldest first, as a range of `(user_id, id)`
/// (see [`plain_page_sql`]: a forward walk of the primary key would pass
/// every other user's rows).
const USERS_ROWS_AFTER: &str = "history WHERE (user_id, id) > ($1, $2) \
     AND (user_id, id) < ($1, 9223372036854775807) ORDER BY user_id, id";

/// Up to `count` of the user's rows with an id above `after`, oldest first,
/// holding at most about `max_bytes` of input and output (at least one row):
/// one page of a stream's catch-up; `true` when rows were left out for size.
pub async fn after(
    client: &Client,
    user_id: i64,
    after: i64,
    count: i64,
    max_bytes: i64,
) -> Result<(Vec<Record>, bool), tokio_postgres::Error> {
    let sql = within_bytes(
        &format!("SELECT id, function, input, output, created_at FROM {USERS_ROWS_AFTER} LIMIT $3"),
        "ASC",
        4,
    );
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client
        .query(&stmt, &[&user_id, &after, &count, &max_bytes])
        .await?;
    split_cut(&rows)
}

/// The next page of an export: the user's rows after `after`, oldest first,
/// at most `count` of them and no more than about `bytes` of text (always
/// at least one row), so a page's memory is bounded however long the
/// entries are.
pub async fn export_page(
    client: &Client,
    user_id: i64,
    after: i64,
    count: i64,
    bytes: i64,
) -> Result<Vec<Record>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT id, function, input, output, created_at FROM (
                 SELECT id, function, input, output, created_at,
                        sum(octet_length(input) + octet_length(output)) OVER (ORDER BY id)
                          - (octet_length(input) + octet_length(output)) AS before_it
                 FROM (SELECT * FROM {USERS_ROWS_AFTER} LIMIT $3) AS page
             ) AS sized
             WHERE before_it < $4 ORDER BY id",
        ))
        .await?;
    let rows = client
        .query(&stmt, &[&user_id, &after, &count, &bytes])
        .await?;
    rows.iter().map(Record::from_row).collect()
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
            words: vec!["x".into()],
        };
        assert_eq!(
            page_sql(&all),
            "SELECT id, function, input, output, created_at FROM history WHERE user_id = $1 \
             AND id < $2 AND function = $3 AND (input || E'\\n' || output) ILIKE $4 \
             ORDER BY id DESC LIMIT $5"
        );
        let some = Filter {
            words: vec!["x".into()],
            ..Filter::default()
        };
        assert!(
            page_sql(&some)
                .ends_with("(input || E'\\n' || output) ILIKE $2 ORDER BY id DESC LIMIT $3")
        );
        let two = Filter {
            words: vec!["x".into(), "y".into()],
            ..Filter::default()
        };
        assert!(page_sql(&two).ends_with(
            "AND (input || E'\\n' || output) ILIKE $2 \
             AND (input || E'\\n' || output) ILIKE $3 ORDER BY id DESC LIMIT $4"
        ));
    }

    #[test]
    fn words_split_at_whitespace_without_repeats() {
        assert_eq!(Filter::words_of("bulk  alpha\tbulk"), ["bulk", "alpha"]);
        assert_eq!(Filter::words_of("Bulk bulk"), ["Bulk", "bulk"]);
        assert!(Filter::words_of(" \n ").is_empty());
        assert!(Filter::words_of("").is_empty());
    }
}
