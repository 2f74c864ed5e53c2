//! One async fn per endpoint: typed request in, typed body or [`ApiError`]
//! out. No HTTP plumbing here; `routes` does that. The `utoipa::path`
//! attributes feed `/openapi.json`.

use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use warp::Reply;

use strop_common::{
    Credentials, ErrorBody, Function, HISTORY_CAP, HistoryQuery, HistoryResponse,
    MAX_HISTORY_LIMIT, MAX_PASSWORD_BYTES, MessageResponse, StatusResponse, StropRequest,
    StropResponse, TokenResponse, WhoAmIResponse,
};

use crate::AppState;
use crate::accounts::usernames;
use crate::db;
use crate::http::auth::{self, User};
use crate::http::error::{ApiError, Cause};
use crate::http::idempotency;
use crate::live::history_writer::WriteError;
use crate::strops;

/// Most characters of a User-Agent kept for `/sessions`.
const MAX_USER_AGENT_CHARS: usize = 256;

/// How long `/readyz` waits for the database before calling it down.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

#[utoipa::path(get, path = "/", tag = "strop",
    responses((status = 200, description = "The service is up", body = MessageResponse)))]
pub async fn root() -> Result<MessageResponse, ApiError> {
    Ok(MessageResponse {
        message: "System online.".into(),
    })
}

#[utoipa::path(post, path = "/register", tag = "auth", request_body = Credentials,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
        pattern = "^[!-~]+$", description = "Makes the request safe to retry: 1-255 visible ASCII characters, a \
            fresh one (a UUID) per user action. The same key with the same body within 24 h \
            answers as the first time did and writes nothing more.")),
    responses(
        (status = 200, description = "User created", body = MessageResponse),
        (status = 400, description = "Missing, empty or invalid username or password", body = ErrorBody),
        (status = 409, description = "The username (in its RFC 8265 canonical form) is taken \
            (`user_exists`), or a request with this Idempotency-Key is still in flight \
            (`idempotency_in_flight`)", body = ErrorBody),
        (status = 422, description = "This Idempotency-Key was used with another username or \
            password (`idempotency_mismatch`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts for this username or from this \
            address, or too many successes from this address; the message says which, the \
            Retry-After header how many seconds to wait", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn register(
    state: &AppState,
    client: IpAddr,
    body: Credentials,
    key: Option<String>,
) -> Result<MessageResponse, ApiError> {
    let Credentials { username, password } = validate_credentials(body)?;
    let attempt = state.login_limiter.attempt(client, &username).await?;
    let answer = MessageResponse {
        // The seed's spelling, kept for its clients.
        message: format!("User \"{username}\" registered succesfully."),
    };
    let hash = state.passwords.hash(password.clone()).await?;
    let mut client = state.pool.get().await?;
    let Some(key) = key else {
        return match db::users::insert(&client, &username, &hash).await? {
            Some(_) => {
                attempt.signed_in();
                tracing::info!(user = %username, "registered");
                Ok(answer)
            }
            None => {
                attempt.failed();
                Err(ApiError::UserExists(username))
            }
        };
    };
    // The password is no part of the hash (that would store a fast hash of
    // it); a replay checks it against the account the key created instead.
    let request_hash = idempotency::request_hash(&["register", &username]);
    let text = serde_json::to_string(&answer).map_err(ApiError::internal)?;
    match db::idempotency::register(&mut client, &key, &request_hash, &username, &hash, &text)
        .await?
    {
        db::idempotency::Outcome::Done(Some(_)) => {
            attempt.signed_in();
            tracing::info!(user = %username, "registered");
            Ok(answer)
        }
        db::idempotency::Outcome::Done(None) => {
            attempt.failed();
            Err(ApiError::UserExists(username))
        }
        db::idempotency::Outcome::InFlight => {
            // Not a wrong password: only the hash it cost counts.
            attempt.succeeded();
            Err(ApiError::IdempotencyInFlight)
        }
        db::idempotency::Outcome::Seen {
            same,
            user_id,
            answer,
        } => {
            let stored = match (same, user_id) {
                (true, Some(id)) => db::users::password_hash(&client, id).await?,
                _ => None,
            };
            drop(client);
            let matches = match stored {
                Some(stored) => state.passwords.verify(password, stored).await?,
                None => false,
            };
            if !matches {
                attempt.failed();
                return Err(ApiError::IdempotencyMismatch);
            }
            attempt.signed_in();
            serde_json::from_str(&answer).map_err(ApiError::internal)
        }
    }
}

#[utoipa::path(post, path = "/authenticate", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "A new token", body = TokenResponse),
        (status = 400, description = "Missing or empty username or password", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 429, description = "Too many failed attempts for this username or from this \
            address, or too many successes from this address; the message says which, the \
            Retry-After header how many seconds to wait", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn authenticate(
    state: &AppState,
    client: IpAddr,
    body: Credentials,
    user_agent: Option<String>,
) -> Result<TokenResponse, ApiError> {
    let Credentials { username, password } = validate_credentials(body)?;
    // Before anything that costs a password hash or a query.
    let attempt = state.login_limiter.attempt(client, &username).await?;
    let stored = {
        let client = state.pool.get().await?;
        db::users::find(&client, &username).await?
    };
    // An unknown user still costs one verification, so timing does not tell
    // which names exist.
    let (user_id, hash) = match stored {
        Some(u) => (Some(u.id), u.password_hash),
        None => (None, state.dummy_hash.to_string()),
    };
    let outdated = state.passwords.is_outdated(&hash);
    let matches = state
        .passwords
        .verify(password.clone(), hash.clone())
        .await?;
    let (Some(user_id), true) = (user_id, matches) else {
        attempt.failed();
        return Err(ApiError::InvalidCredentials);
    };
    attempt.signed_in();
    let client = state.pool.get().await?;
    if outdated {
        // Stored under older settings (19 MiB): once replaced, this account
        // verifies in the budgeted memory and time, like an unknown name does.
        let upgraded = async {
            let new_hash = state.passwords.hash(password).await?;
            db::users::upgrade_password_hash(&client, user_id, &hash, &new_hash).await?;
            Ok::<_, ApiError>(())
        };
        if let Err(e) = upgraded.await {
            tracing::warn!(error = ?e, "could not upgrade a password hash; kept the old one");
        }
    }
    let token = auth::mint_token();
    // Shown in `/sessions`; bounded so a client cannot store a novel there.
    let user_agent = user_agent.map(|a| a.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    db::tokens::insert(
        &client,
        user_id,
        &auth::hash_token(&token),
        state.token_ttl,
        user_agent.as_deref(),
    )
    .await?;
    // A bounded number of sessions, so that `/sessions` and the table stay
    // small whatever a client does; the oldest goes, on every server.
    let dropped =
        crate::live::notify::revoke_oldest_beyond(&client, user_id, state.sessions_per_user)
            .await?;
    if dropped > 0 {
        tracing::info!(
            dropped,
            "a login beyond the sessions per user logged out the oldest"
        );
    }
    Ok(TokenResponse { token })
}

/// Runs one operation and records it; answers only once the row is committed.
/// `/reverse` and `/piglatin` are one route (`routes::strop`), documented as
/// `/reverse` here; `openapi.rs` derives `/piglatin` from it.
#[utoipa::path(post, path = "/reverse", tag = "strop", request_body = StropRequest,
    operation_id = "reverse", security(("token" = [])),
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
        pattern = "^[!-~]+$", description = "Makes the request safe to retry: 1-255 visible ASCII characters, a \
            fresh one (a UUID) per user action. The same key with the same body within 24 h \
            answers as the first time did and writes nothing more.")),
    responses(
        (status = 409, description = "A request with this Idempotency-Key is still in flight \
            (`idempotency_in_flight`)", body = ErrorBody),
        (status = 422, description = "This Idempotency-Key was used with another body \
            (`idempotency_mismatch`)", body = ErrorBody),
        (status = 200, description = "The input reversed by grapheme clusters", body = StropResponse),
        (status = 400, description = "Missing or non-string input", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 429, description = "Too many writes for this account, or too many large runs of it at once (each \
            holds server memory until answered); Retry-After says when \
            to try again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn run_strop(
    state: &AppState,
    writer: auth::Writer,
    function: Function,
    body: StropRequest,
    key: Option<String>,
) -> Result<(StropResponse, OwnedSemaphorePermit), ApiError> {
    let refused = match state.limits.write(writer.user_id()) {
        Err(refusal) => Some(ApiError::from(refusal)),
        // PostgreSQL text cannot hold NUL, so such input could not be recorded.
        Ok(()) if body.input.contains('\0') => Some(ApiError::invalid(
            "The input must not contain NUL characters.",
        )),
        Ok(()) => None,
    };
    if let Some(refused) = refused {
        // A dead token is a 401 first, also when the write would not check it.
        writer.confirm(state).await?;
        return Err(refused);
    }
    // The run's texts are held in the memory budget until its answer is
    // sent: a burst of large runs waits for room (or is 503) instead of
    // growing the process, first within its user's share, so that it waits
    // behind itself and not in front of other users.
    let estimate = run_bytes(body.input.len(), 4 * body.input.len());
    let _share = state.limits.run_share(writer.user_id(), estimate).await?;
    let mut held = state.limits.answer_memory(estimate).await?;
    let output = match function {
        Function::Reverse => strops::reverse(&body.input),
        Function::Piglatin => strops::piglatin(&body.input),
    };
    let needed = run_bytes(body.input.len(), output.len());
    state.limits.resize(&mut held, needed).await?;
    let entry = db::history::NewEntry {
        user_id: writer.user_id(),
        function,
        input: body.input,
        output: output.clone(),
    };
    let Some(key) = key else {
        let saved = match state
            .history
            .record_checked(entry, writer.unchecked_token())
            .await
        {
            Ok(saved) => saved,
            Err(err) => {
                if matches!(err, WriteError::TokenGone) {
                    writer.forget(state);
                }
                return Err(err.into());
            }
        };
        writer.used(state);
        tracing::debug!(id = saved.id, "history row committed");
        return Ok((StropResponse { output }, held));
    };
    // The keyed transaction is the user's own: its token checked first.
    let user = writer.confirm(state).await?;
    let answer = record_keyed(state, &user, &key, entry, StropResponse { output }).await?;
    Ok((answer, held))
}

/// Records a run under its Idempotency-Key: the first time, its row and
/// the answer commit with the key, in a transaction of its own (not the
/// group commit: the key's lock must be held until that commit); again with
/// the same body, the first answer.
async fn record_keyed(
    state: &AppState,
    user: &User,
    key: &str,
    entry: db::history::NewEntry,
    answer: StropResponse,
) -> Result<StropResponse, ApiError> {
    let text = serde_json::to_string(&answer).map_err(ApiError::internal)?;
    let request_hash = idempotency::request_hash(&[entry.function.as_str(), &entry.input]);
    let scope = idempotency::user_scope(user.id);
    let mut client = state.pool.get().await?;
    match db::idempotency::record_history(&mut client, &scope, key, &request_hash, &entry, &text)
        .await?
    {
        db::idempotency::Outcome::Done(saved) => {
            tracing::debug!(id = saved.id, "history row committed with its key");
            if let Err(e) = crate::live::notify::announce_history(&client, &[saved.id]).await {
                tracing::warn!(error = %crate::ops::logging::Chain(&e), "could not announce a new history row");
            }
            Ok(answer)
        }
        db::idempotency::Outcome::Seen {
            same: true, answer, ..
        } => serde_json::from_str(&answer).map_err(ApiError::internal),
        db::idempotency::Outcome::Seen { same: false, .. } => Err(ApiError::IdempotencyMismatch),
        db::idempotency::Outcome::InFlight => Err(ApiError::IdempotencyInFlight),
    }
}

#[utoipa::path(get, path = "/get-history", tag = "strop", params(HistoryQuery),
    security(("token" = [])),
    responses(
        (status = 200, description = "The caller's history, oldest first; at most the page \
            byte budget of input and output (STROP_PAGE_BYTES), then `next_before`", body = HistoryResponse),
        (status = 400, description = "A query value out of range, or `q` too long or of too many words", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 503, description = "The search ran past the statement timeout, or the \
            database is unavailable", body = ErrorBody),
    ))]
pub async fn history(
    state: &AppState,
    user: User,
    query: HistoryQuery,
) -> Result<(HistoryResponse, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let filter = history_filter(&state.limits, &query)?;
    let limits = &state.limits;
    let wanted = i64::from(query.limit.unwrap_or(HISTORY_CAP));
    // One extra row tells whether older matches exist.
    // The rows are held within the page byte budget; what did not fit is
    // the next page.
    let page_bytes = i64::try_from(limits.page_bytes).unwrap_or(i64::MAX);
    // A search waits for one of a few places; a plain page never does. Its
    // page share is taken after the place: searches waiting for a place
    // must not hold the budget that other users' pages need.
    let _searching = match filter.words.is_empty() {
        true => None,
        false => Some(limits.search().await?),
    };
    let rows_held = limits.answer_memory(limits.page_bytes).await?;
    let (mut rows, cut) = {
        let client = state.pool.get().await?;
        db::history::newest_within(&client, user.id, &filter, wanted + 1, page_bytes).await?
    };
    let more = rows.len() as i64 > wanted || cut;
    rows.truncate(wanted as usize);
    rows.reverse();
    let oldest = rows.first().map(|r| r.id);
    let next_before = match (query.limit, more) {
        (Some(_), true) => Some(oldest),
        (Some(_), false) => Some(None),
        // The seed's plain form has no such key unless the cap cut something.
        (None, true) => Some(oldest),
        (None, false) => None,
    };
    let history = rows
        .into_iter()
        .map(|r| r.into_entry(user.name.clone()))
        .collect();
    Ok((
        HistoryResponse {
            history,
            next_before,
        },
        rows_held,
    ))
}

/// The page's filter from the query, or 400 for a value out of range.
fn history_filter(
    limits: &crate::limits::Limits,
    query: &HistoryQuery,
) -> Result<db::history::Filter, ApiError> {
    if let Some(limit) = query.limit
        && !(1..=MAX_HISTORY_LIMIT).contains(&limit)
    {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_HISTORY_LIMIT}."
        )));
    }
    if let Some(before) = query.before
        && before < 1
    {
        return Err(ApiError::invalid("before must be a positive entry id."));
    }
    if query.q.as_deref().is_some_and(|q| q.contains('\0')) {
        return Err(ApiError::invalid("q must not contain NUL characters."));
    }
    if let Some(q) = query.q.as_deref() {
        if q.len() > limits.max_search_bytes {
            return Err(ApiError::invalid(format!(
                "A search can be at most {} bytes long.",
                limits.max_search_bytes
            )));
        }
        if q.split_whitespace().count() > limits.max_search_words {
            return Err(ApiError::invalid(format!(
                "A search can have at most {} words.",
                limits.max_search_words
            )));
        }
    }
    Ok(db::history::Filter {
        before: query.before,
        function: query.function,
        words: query
            .q
            .as_deref()
            .map(db::history::Filter::words_of)
            .unwrap_or_default(),
    })
}

/// [`history`] as a response whose bytes are held in the memory budget
/// (taken before the rows are read) until they are sent.
pub async fn history_response(
    state: &AppState,
    user: User,
    query: HistoryQuery,
) -> Result<warp::reply::Response, ApiError> {
    let limits = &state.limits;
    // The rows hold their page of the budget until the text is written;
    // the text (JSON escaping can make it several times their size) takes
    // its own share as it grows, or the answer is 503.
    let (body, mut rows_held) = history(state, user, query).await?;
    // The rows keep what they take; the rest of their share starts the
    // text. Waiting for fresh room here, while every page holds a full
    // share, left 16 pages at once waiting on each other until 503.
    let rows_bytes = body.history.iter().map(held_bytes).sum::<usize>().max(1);
    let spare = rows_held.num_permits().saturating_sub(rows_bytes);
    let text_held = match rows_held.split(spare).filter(|_| spare > 0) {
        Some(held) => held,
        None => limits.answer_memory(0).await?,
    };
    // Off the async workers: a large answer takes a while to write.
    let writer = limits.clone();
    let written = tokio::task::spawn_blocking(move || {
        let written = writer.json_within(&body, text_held);
        drop((body, rows_held));
        written
    })
    .await?;
    let (json, held) = written.ok_or_else(|| {
        tracing::warn!("the memory budget is full; refusing a history answer");
        ApiError::Overloaded
    })?;
    let mut res = warp::reply::Response::new(bytes::Bytes::from(json).into());
    res.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    res.extensions_mut()
        .insert(crate::limits::HeldMemory::new(held));
    Ok(res)
}

/// The bytes a run holds until answered: the input as read and as sent to
/// PostgreSQL; the output as answered, as the row's copy, as sent, and as
/// JSON text (escaping can take 6 bytes per byte).
fn run_bytes(input: usize, output: usize) -> usize {
    crate::limits::ROW_OVERHEAD + 2 * input + 9 * output
}

/// A body answered as JSON, the memory it holds released once it is sent.
pub fn held_answer<T: serde::Serialize>(
    result: Result<(T, OwnedSemaphorePermit), ApiError>,
) -> warp::reply::Response {
    match result {
        Ok((body, held)) => {
            let mut res = warp::reply::json(&body).into_response();
            res.extensions_mut()
                .insert(crate::limits::HeldMemory::new(held));
            res
        }
        Err(err) => err.into_response(),
    }
}

/// The bytes one entry of an answer holds: its strings' buffers and the
/// struct itself.
fn held_bytes(e: &strop_common::HistoryEntry) -> usize {
    std::mem::size_of::<strop_common::HistoryEntry>()
        + [&e.input, &e.output, &e.time, &e.timestamp, &e.user]
            .iter()
            .map(|s| s.capacity())
            .sum::<usize>()
}

#[utoipa::path(post, path = "/logout", tag = "auth", security(("token" = [])),
    responses(
        (status = 200, description = "The token is revoked", body = MessageResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
pub async fn logout(state: &AppState, user: User) -> Result<MessageResponse, ApiError> {
    let client = state.pool.get().await?;
    // Every server is notified at commit; each fences its cache before it
    // next answers from it, so the token is refused everywhere from now on.
    crate::live::notify::revoke_token(&client, &user.token_hash).await?;
    Ok(MessageResponse {
        message: "Logged out.".into(),
    })
}

#[utoipa::path(get, path = "/whoami", tag = "auth", security(("token" = [])),
    responses(
        (status = 200, description = "The token's user, and when the token expires", body = WhoAmIResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
pub async fn whoami(state: &AppState, user: User) -> Result<WhoAmIResponse, ApiError> {
    let client = state.pool.get().await?;
    let expires = crate::db::tokens::expires(&client, &user.token_hash).await?;
    Ok(WhoAmIResponse {
        user: user.name,
        expires,
    })
}

#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is alive", body = StatusResponse)))]
pub async fn healthz() -> Result<StatusResponse, ApiError> {
    Ok(StatusResponse {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "The database answers", body = StatusResponse),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub async fn readyz(state: &AppState) -> Result<StatusResponse, ApiError> {
    let ping = async {
        let client = state.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok::<_, ApiError>(())
    };
    match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(())) => Ok(StatusResponse {
            status: "ready".into(),
        }),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(ApiError::Unavailable(Cause::msg(format!(
            "no answer from the database within {READY_TIMEOUT:?}"
        )))),
    }
}

/// The credentials with the username in its canonical form.
fn validate_credentials(c: Credentials) -> Result<Credentials, ApiError> {
    let username = usernames::canonical(&c.username)?;
    if c.password.is_empty() {
        return Err(ApiError::invalid("The password must not be empty."));
    }
    if c.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid(format!(
            "The password must be at most {MAX_PASSWORD_BYTES} bytes."
        )));
    }
    Ok(Credentials {
        username,
        password: c.password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        let c = |p: &str| Credentials {
            username: "u".into(),
            password: p.into(),
        };
        assert!(validate_credentials(c("x")).is_ok());
        assert!(validate_credentials(c(&"x".repeat(1024))).is_ok());
        assert!(validate_credentials(c(&"x".repeat(1025))).is_err());
        assert!(validate_credentials(c("")).is_err());
        assert!(validate_credentials(c("with space and ünicode")).is_ok());
    }
}
