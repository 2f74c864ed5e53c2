//! Accounts people manage themselves: their sessions (live tokens), their
//! password, the account itself, and an export of their whole history.
//! Every revocation goes through `strop_tokens` (db/tokens.rs), so each
//! server refuses a revoked token from its next request.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use strop_common::{
    AccountDeletion, ErrorBody, MAX_PASSWORD_BYTES, MessageResponse, PasswordChange, SessionInfo,
    SessionsResponse,
};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use warp::filters::BoxedFilter;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE, USER_AGENT};
use warp::http::{HeaderMap, HeaderValue, Method};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::AppState;
use crate::db;
use crate::http::auth::User;
use crate::http::error::{ApiError, respond};
use crate::http::filters::{
    at_with_param, client, json_body, json_headers, method_of, on, user, with_state,
};
use crate::http::query;
use crate::http::route::Route;
use crate::limits::{SLOW_READER, StreamGuard};
use crate::live::notify;

/// Rows per export page, and about how many bytes of text one may hold:
/// the most the export keeps in memory at once, whatever the history's size.
pub const EXPORT_PAGE_ROWS: i64 = 500;
pub const EXPORT_PAGE_BYTES: i64 = 256 * 1024;
/// Pages encoded ahead of the client: a slow reader holds this much at most.
const EXPORT_AHEAD: usize = 1;

/// The filter of one of this module's routes (others: none matches).
pub fn route(route: Route, state: AppState) -> BoxedFilter<(Response,)> {
    match route {
        Route::Sessions => sessions(state),
        Route::Session => session(state),
        Route::Password => password(state),
        Route::Account => account(state),
        _ => export(state),
    }
}

/// The raw query string, empty when there is none.
fn raw_query() -> BoxedFilter<(String,)> {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .boxed()
}

/// The request's `User-Agent`, if it is text.
pub fn user_agent() -> BoxedFilter<(Option<String>,)> {
    warp::header::headers_cloned()
        .map(|h: HeaderMap| {
            h.get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .boxed()
}

fn sessions(state: AppState) -> BoxedFilter<(Response,)> {
    method_of(Route::Sessions)
        .and(user(&state))
        .and(raw_query())
        .and(with_state(state))
        .then(
            |method: Method, user: User, raw: String, state: AppState| async move {
                if method == Method::DELETE {
                    respond(revoke_others(&state, user, &raw).await)
                } else {
                    respond(list_sessions(&state, user).await)
                }
            },
        )
        .boxed()
}

fn session(state: AppState) -> BoxedFilter<(Response,)> {
    at_with_param(Route::Session)
        .and(method_of(Route::Session))
        .and(user(&state))
        .and(with_state(state))
        .then(
            |id: String, _: Method, user: User, state: AppState| async move {
                respond(revoke_session(&state, user, &id).await)
            },
        )
        .boxed()
}

fn password(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Password)
        .and(json_headers())
        .and(user(&state))
        .and(client(&state))
        .and(json_body::<PasswordChange>(state.body_timeout))
        .and(with_state(state))
        .then(
            |user: User, from: IpAddr, body: PasswordChange, state: AppState| async move {
                respond(change_password(&state, user, from, body).await)
            },
        )
        .boxed()
}

fn account(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Account)
        .and(json_headers())
        .and(user(&state))
        .and(client(&state))
        .and(json_body::<AccountDeletion>(state.body_timeout))
        .and(with_state(state))
        .then(
            |user: User, from: IpAddr, body: AccountDeletion, state: AppState| async move {
                respond(delete_account(&state, user, from, body).await)
            },
        )
        .boxed()
}

fn export(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::HistoryExport)
        .and(user(&state))
        .and(with_state(state))
        .map(
            |user: User, state: AppState| match state.limits.open_export(user.id) {
                Ok(open) => export_stream(state, user, open),
                Err(refusal) => ApiError::from(refusal).into_response(),
            },
        )
        .boxed()
}

fn rfc3339(t: SystemTime) -> String {
    strop_common::wire_times(t).1
}

#[utoipa::path(get, path = "/sessions", tag = "accounts", security(("token" = [])),
    responses(
        (status = 200, description = "The caller's live sessions (tokens), oldest first; \
            never a token value", body = SessionsResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
pub async fn list_sessions(state: &AppState, user: User) -> Result<SessionsResponse, ApiError> {
    let client = state.pool.get().await?;
    let rows = db::tokens::sessions(&client, user.id).await?;
    Ok(SessionsResponse {
        sessions: rows
            .into_iter()
            .map(|s| SessionInfo {
                created: rfc3339(s.created_at),
                current: s.token_hash == user.token_hash,
                expires: rfc3339(s.expires_at),
                id: s.id,
                last_used: rfc3339(s.last_used_at),
                user_agent: s.user_agent,
            })
            .collect(),
    })
}

#[utoipa::path(delete, path = "/sessions/{id}", tag = "accounts", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1, description = "A session id from GET /sessions: digits only, from 1")),
    responses(
        (status = 200, description = "The session is revoked on every server", body = MessageResponse),
        (status = 400, description = "The id is not a whole number from 1", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "The caller has no such session (another user's id \
            included)", body = ErrorBody),
    ))]
pub async fn revoke_session(
    state: &AppState,
    user: User,
    id: &str,
) -> Result<MessageResponse, ApiError> {
    let id = query::path_id("session", id)?;
    // Any id that is not one of ours is a 404, like another user's.
    let no_such = || ApiError::NoSuch(format!("You have no session {id}."));
    let client = state.pool.get().await?;
    if notify::revoke_session(&client, user.id, id).await? {
        Ok(MessageResponse {
            message: format!("Session {id} revoked."),
        })
    } else {
        Err(no_such())
    }
}

#[utoipa::path(delete, path = "/sessions", tag = "accounts", security(("token" = [])),
    params(("others" = String, Query, pattern = "^true$", description = "Must be `true`: \
        revokes every session but the one making this request (\"log out everywhere else\")")),
    responses(
        (status = 200, description = "Every other session is revoked on every server",
            body = MessageResponse),
        (status = 400, description = "others=true is missing", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
pub async fn revoke_others(
    state: &AppState,
    user: User,
    raw_query: &str,
) -> Result<MessageResponse, ApiError> {
    let mut others = false;
    for (name, value) in query::pairs(raw_query)? {
        if name == "others" {
            others = query::flag("others", &value)?;
        }
    }
    if !others {
        return Err(ApiError::invalid(
            "DELETE /sessions needs the query parameter others=true: it revokes every \
             session but this one.",
        ));
    }
    let client = state.pool.get().await?;
    let n = notify::revoke_all_but(&client, user.id, Some(&user.token_hash)).await?;
    Ok(MessageResponse {
        message: format!(
            "{n} other session{} revoked.",
            if n == 1 { "" } else { "s" }
        ),
    })
}

/// Checks `password` against the user's stored hash, within the login
/// limiter's budgets (a wrong password is a failed attempt like a wrong
/// login); the hash it matched.
async fn check_password(
    state: &AppState,
    user: &User,
    from: IpAddr,
    password: String,
) -> Result<String, ApiError> {
    let attempt = state.login_limiter.attempt(from, &user.name).await?;
    let stored = {
        let client = state.pool.get().await?;
        db::users::password_hash(&client, user.id).await?
    };
    // The user went away under a live token (deleted meanwhile).
    let Some(hash) = stored else {
        attempt.succeeded();
        return Err(ApiError::InvalidToken);
    };
    if state.passwords.verify(password, hash.clone()).await? {
        attempt.signed_in();
        Ok(hash)
    } else {
        attempt.failed();
        Err(ApiError::InvalidCredentials)
    }
}

#[utoipa::path(put, path = "/password", tag = "accounts", request_body = PasswordChange,
    security(("token" = [])),
    responses(
        (status = 200, description = "The password is changed and every other session of \
            the user revoked on every server", body = MessageResponse),
        (status = 400, description = "The new password is empty or over 1024 bytes", body = ErrorBody),
        (status = 401, description = "Missing or invalid token, or a wrong current password",
            body = ErrorBody),
        (status = 429, description = "Too many attempts for this username", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn change_password(
    state: &AppState,
    user: User,
    from: IpAddr,
    body: PasswordChange,
) -> Result<MessageResponse, ApiError> {
    if body.new_password.is_empty() {
        return Err(ApiError::invalid("The new password must not be empty."));
    }
    if body.new_password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid(format!(
            "The new password must be at most {MAX_PASSWORD_BYTES} bytes."
        )));
    }
    let old_hash = check_password(state, &user, from, body.current_password).await?;
    let new_hash = state.passwords.hash(body.new_password).await?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    if !db::users::replace_password_hash(&tx, user.id, &old_hash, &new_hash).await? {
        // Changed by another request between the check and now.
        return Err(ApiError::InvalidCredentials);
    }
    notify::revoke_all_but(&tx, user.id, Some(&user.token_hash)).await?;
    tx.commit().await?;
    tracing::info!(user = %user.name, "password changed");
    Ok(MessageResponse {
        message: "Password changed; every other session is logged out.".into(),
    })
}

#[utoipa::path(delete, path = "/account", tag = "accounts", request_body = AccountDeletion,
    security(("token" = [])),
    responses(
        (status = 200, description = "The user, their history and every token are deleted in \
            one transaction; open streams end; the name can be registered again",
            body = MessageResponse),
        (status = 401, description = "Missing or invalid token, or a wrong password", body = ErrorBody),
        (status = 429, description = "Too many attempts for this username", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn delete_account(
    state: &AppState,
    user: User,
    from: IpAddr,
    body: AccountDeletion,
) -> Result<MessageResponse, ApiError> {
    let hash = check_password(state, &user, from, body.password).await?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    if db::users::lock(&tx, user.id).await?.as_deref() != Some(hash.as_str()) {
        // The password changed (or the account went) since the check.
        return Err(ApiError::InvalidCredentials);
    }
    // Every token first, each with its notice: open streams end, and every
    // server refuses them once this commits.
    notify::revoke_all_but(&tx, user.id, None).await?;
    db::users::delete_with_history(&tx, user.id).await?;
    tx.commit().await?;
    tracing::info!(user = %user.name, "account deleted");
    Ok(MessageResponse {
        message: format!("User \"{}\" deleted.", user.name),
    })
}

/// Why an export ended early: the body is cut, the client sees an error.
#[derive(Debug, thiserror::Error)]
#[error("the export failed: {0}")]
struct ExportFailed(String);

/// The export body: a task reads page after page (keyset on id) and hands
/// each page, encoded, to the body through a channel one page deep, so a
/// slow client holds the task back instead of growing a buffer.
#[utoipa::path(get, path = "/history/export", tag = "strop", security(("token" = [])),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = String,
            description = "Every entry of the caller, oldest first, one history entry JSON \
                (as /get-history returns it) per line. Streamed page by page: the server holds \
                one page at a time whatever the history's size. A failure after the first \
                line cuts the response short (no final chunk), so a truncated export is \
                never mistaken for a whole one."),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 429, description = "As many exports of this user are running as they may \
            (STROP_STREAMS_PER_USER); Retry-After says when to try again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
fn export_stream(state: AppState, user: User, open: StreamGuard) -> Response {
    let (tx, mut rx) = mpsc::channel::<ExportChunk>(EXPORT_AHEAD);
    let whole = Arc::new(AtomicBool::new(false));
    tokio::spawn(export_pages(state, user, tx, whole.clone(), open));
    // A chunk's memory is held until the body asks for the next one: by
    // then hyper has taken it on its way to the socket.
    let mut sent: Option<OwnedSemaphorePermit> = None;
    let body = futures_util::stream::poll_fn(move |cx| {
        drop(sent.take());
        rx.poll_recv(cx).map(|chunk| match chunk {
            Some(Ok((bytes, held))) => {
                drop(sent.replace(held));
                Some(Ok(bytes))
            }
            Some(Err(failed)) => Some(Err(failed)),
            None if whole.load(Ordering::Acquire) => None,
            // Given up without a word: still no final chunk.
            None => Some(Err(ExportFailed("the export was given up".into()))),
        })
    });
    let mut res = warp::reply::stream(body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// One encoded page and its share of the memory budget, or why the export ended.
type ExportChunk = Result<(Bytes, OwnedSemaphorePermit), ExportFailed>;

/// Reads and encodes page after page, each within the memory budget, and
/// hands them to the body; gives up on a client that reads nothing for
/// [`SLOW_READER`], and on a budget that stays full as long.
async fn export_pages(
    state: AppState,
    user: User,
    tx: mpsc::Sender<ExportChunk>,
    whole: Arc<AtomicBool>,
    _open: StreamGuard,
) {
    let limits = state.limits.clone();
    let mut after = 0;
    loop {
        let page = async {
            let mut held = limits
                .memory(2 * EXPORT_PAGE_BYTES as usize, SLOW_READER)
                .await
                .ok_or("the memory budget stayed full")?;
            let client = state.pool.get().await.map_err(|e| e.to_string())?;
            let rows = db::history::export_page(
                &client,
                user.id,
                after,
                EXPORT_PAGE_ROWS,
                EXPORT_PAGE_BYTES,
            )
            .await
            .map_err(|e| crate::ops::logging::Chain(&e).to_string())?;
            drop(client);
            let Some(last) = rows.last().map(|r| r.id) else {
                return Ok(None);
            };
            let chunk = export_chunk(rows, &user)?;
            limits
                .resize(&mut held, chunk.len())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(Some((last, Bytes::from(chunk), held)))
        };
        let chunk = match page.await {
            Ok(Some((last, chunk, held))) => {
                after = last;
                Ok((chunk, held))
            }
            Ok(None) => {
                whole.store(true, Ordering::Release);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "export cut short");
                Err(ExportFailed(e))
            }
        };
        let failed = chunk.is_err();
        match tokio::time::timeout(SLOW_READER, tx.send(chunk)).await {
            Ok(Ok(())) if !failed => {}
            Ok(_) => return,
            Err(_) => {
                tracing::info!(user = %user.name, "the client read nothing of its export; cut short");
                return;
            }
        }
    }
}

/// A page of rows as NDJSON lines.
fn export_chunk(rows: Vec<db::history::Record>, user: &User) -> Result<Vec<u8>, String> {
    let mut chunk = Vec::new();
    for row in rows {
        let entry = row.into_entry(user.name.clone());
        serde_json::to_writer(&mut chunk, &entry)
            .map_err(|_| "an entry could not be encoded".to_string())?;
        chunk.push(b'\n');
    }
    Ok(chunk)
}
