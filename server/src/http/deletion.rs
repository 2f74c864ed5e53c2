//! Deleting history: one entry (`DELETE /history/{id}`) or all of the
//! caller's (`DELETE /history?all=true`). Each delete sends its notice in
//! the deleting statement ([`notify::delete_entry`], [`notify::delete_all`]),
//! so every server's open streams of that user get an `event: delete` once
//! it commits. A delete counts as a write against the user's write limit;
//! it takes no Idempotency-Key: repeating it changes nothing (the second
//! answer is a 404, or `deleted: 0`).

use strop_common::{DELETE_ALL_PARAM, ErrorBody, HistoryDeleted};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::Method;
use warp::reply::Response;

use crate::AppState;
use crate::http::auth::User;
use crate::http::error::{ApiError, respond};
use crate::http::filters::{at_with_param, method_of, on, user, with_state};
use crate::http::query;
use crate::http::route::Route;
use crate::live::notify;

/// The filter of one of this module's routes (others: none matches).
pub fn route(route: Route, state: AppState) -> BoxedFilter<(Response,)> {
    match route {
        Route::HistoryEntry => entry(state),
        _ => all(state),
    }
}

fn entry(state: AppState) -> BoxedFilter<(Response,)> {
    at_with_param(Route::HistoryEntry)
        .and(method_of(Route::HistoryEntry))
        .and(user(&state))
        .and(with_state(state))
        .then(
            |id: String, _: Method, user: User, state: AppState| async move {
                respond(delete_entry(&state, user, &id).await)
            },
        )
        .boxed()
}

fn all(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::HistoryAll)
        .and(user(&state))
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(with_state(state))
        .then(|user: User, raw: String, state: AppState| async move {
            respond(delete_all(&state, user, &raw).await)
        })
        .boxed()
}

#[utoipa::path(delete, path = "/history/{id}", tag = "strop", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1, description = "An entry id (`id` of a history entry): digits only, from 1")),
    responses(
        (status = 200, description = "The entry is deleted; the caller's open streams on \
            every server get an `event: delete` naming it", body = HistoryDeleted),
        (status = 400, description = "The id is not a whole number from 1", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "The caller has no such entry (another user's id \
            included)", body = ErrorBody),
        (status = 429, description = "Too many writes for this account; Retry-After says when \
            to try again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn delete_entry(
    state: &AppState,
    user: User,
    id: &str,
) -> Result<HistoryDeleted, ApiError> {
    let id = crate::http::query::path_id("entry", id)?;
    state.limits.write(user.id)?;
    let client = state.pool.get().await?;
    if notify::delete_entry(&client, user.id, id).await? {
        tracing::info!(user = %user.name, id, "history entry deleted");
        Ok(HistoryDeleted {
            deleted: 1,
            message: format!("Entry {id} deleted."),
        })
    } else {
        // Another user's entry is answered exactly like a missing one.
        Err(ApiError::NoSuch(format!("You have no history entry {id}.")))
    }
}

#[utoipa::path(delete, path = "/history", tag = "strop", security(("token" = [])),
    params(("all" = String, Query, pattern = "^true$", description = "Must be `true`: the \
        explicit confirmation that every entry of the caller is to be deleted")),
    responses(
        (status = 200, description = "Every entry of the caller is deleted (`deleted` says \
            how many; 0 when there were none); the caller's open streams on every server get \
            an `event: delete` with `up_to` the highest id deleted", body = HistoryDeleted),
        (status = 400, description = "all=true is missing: nothing is deleted", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 429, description = "Too many writes for this account; Retry-After says when \
            to try again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn delete_all(
    state: &AppState,
    user: User,
    raw_query: &str,
) -> Result<HistoryDeleted, ApiError> {
    let mut confirmed = false;
    for (name, value) in query::pairs(raw_query)? {
        if name == DELETE_ALL_PARAM {
            confirmed = query::flag(DELETE_ALL_PARAM, &value)?;
        }
    }
    if !confirmed {
        return Err(ApiError::invalid(format!(
            "DELETE /history needs the query parameter {DELETE_ALL_PARAM}=true: it deletes \
             all of your history. Nothing was deleted."
        )));
    }
    state.limits.write(user.id)?;
    let client = state.pool.get().await?;
    let n = notify::delete_all(&client, user.id).await?;
    tracing::info!(user = %user.name, deleted = n, "all history deleted");
    Ok(HistoryDeleted {
        deleted: n,
        message: format!(
            "{n} history entr{} deleted.",
            if n == 1 { "y" } else { "ies" }
        ),
    })
}
