//! The filter tree: path first, then method, then headers, token and body.
//!
//! Each route matches its path before anything else, so for any request at
//! most one route gets past the path: its rejection (405, 401, 415, ...) is
//! the only one besides warp's "not found" from the others, and the rejection
//! handler can tell them apart. Handler errors never become rejections at
//! all: [`respond`] turns them into responses on the spot.

use std::convert::Infallible;
use std::time::Duration;

use bytes::{Buf, BufMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use strop_common::{HistoryQuery, MAX_BODY_BYTES, StropRequest, paths};
use warp::filters::BoxedFilter;
use warp::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use warp::http::{HeaderMap, Method};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::AppState;
use crate::auth::{self, User};
use crate::error::{self, ApiError, respond};
use crate::events;
use crate::handlers;
use crate::openapi;

/// The whole application: every route, every failure as SPEC JSON, and one
/// log line per request.
pub fn build(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let s = state;
    let api = root()
        .or(register(s.clone()))
        .unify()
        .or(authenticate(s.clone()))
        .unify()
        .or(strop(s.clone(), paths::REVERSE))
        .unify()
        .or(strop(s.clone(), paths::PIGLATIN))
        .unify()
        .or(history(s.clone()))
        .unify()
        .or(events(s.clone()))
        .unify()
        .or(logout(s.clone()))
        .unify()
        .or(whoami(s.clone()))
        .unify()
        .or(healthz())
        .unify()
        .or(readyz(s))
        .unify()
        .or(openapi_json())
        .unify();
    api.recover(error::handle_rejection)
        .unify()
        .with(warp::log::custom(log_request))
}

fn log_request(info: warp::log::Info<'_>) {
    let latency: Duration = info.elapsed();
    // Path only: the query may hold a search string, and headers a token.
    // Plain &str and integers: nothing to format or allocate before the
    // subscriber writes the line.
    tracing::info!(
        target: "strop_server::access",
        method = info.method().as_str(),
        path = info.path(),
        status = info.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
}

/// Exactly this path (no trailing segments).
fn at(path: &'static str) -> BoxedFilter<()> {
    let segment = path.trim_start_matches('/');
    if segment.is_empty() {
        warp::path::end().boxed()
    } else {
        warp::path(segment).and(warp::path::end()).boxed()
    }
}

/// This method, or a 405 naming it. (warp's own method filters report 404
/// once routes are combined, so the check is ours.)
fn only(method: Method) -> BoxedFilter<()> {
    warp::method()
        .and_then(move |got: Method| {
            let want = method.clone();
            async move {
                // HEAD is GET without the body (hyper drops it), as in HTTP.
                if got == want || (want == Method::GET && got == Method::HEAD) {
                    Ok(())
                } else if want == Method::GET {
                    Err(warp::reject::custom(ApiError::MethodNotAllowed(
                        "GET, HEAD",
                    )))
                } else {
                    Err(warp::reject::custom(ApiError::MethodNotAllowed("POST")))
                }
            }
        })
        .untuple_one()
        .boxed()
}

fn get(path: &'static str) -> BoxedFilter<()> {
    at(path).and(only(Method::GET)).boxed()
}

fn post(path: &'static str) -> BoxedFilter<()> {
    at(path).and(only(Method::POST)).boxed()
}

/// Content-Type and Content-Length checks, done before any database work.
fn json_headers() -> BoxedFilter<()> {
    warp::header::headers_cloned()
        .and_then(|headers: HeaderMap| async move {
            check_json_headers(&headers).map_err(warp::reject::custom)
        })
        .untuple_one()
        .boxed()
}

/// A missing Content-Type is read as JSON (the seed's clients may omit it);
/// anything else must be `application/json` or `application/*+json`.
fn check_json_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(value) = headers.get(CONTENT_TYPE) {
        let essence = value
            .to_str()
            .map_err(|_| ApiError::UnsupportedMediaType)?
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    if let Some(len) = headers.get(CONTENT_LENGTH) {
        let len: u64 = len
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| ApiError::invalid("The Content-Length header is not a number."))?;
        if len > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
    }
    Ok(())
}

/// The body as `T`, read up to [`MAX_BODY_BYTES`] (also when it is chunked).
fn json_body<T: DeserializeOwned + Send + 'static>() -> BoxedFilter<(T,)> {
    warp::body::stream()
        .and_then(|body| async move { read_json(body).await.map_err(warp::reject::custom) })
        .boxed()
}

async fn read_json<T, S, B>(body: S) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid("The request body could not be read."))?;
        if (bytes.len() + chunk.remaining()) as u64 > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        bytes.put(chunk);
    }
    parse_json(&bytes)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde fills a struct from an array too, in declaration order, which
    // once made a password a username: only a JSON object is a body.
    match bytes.iter().find(|b| !b" \t\r\n".contains(b)) {
        Some(b'{') => {}
        None => {
            return Err(ApiError::invalid(
                "The request body is empty; it must be a JSON object.",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid("The request body must be a JSON object."));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::invalid(format!(
                "The request body has a missing or mistyped field: {e}."
            )),
            _ => ApiError::invalid(format!("The request body is not valid JSON: {e}.")),
        }
    })
}

/// The query string as a [`HistoryQuery`]; a bad value is a 400.
fn history_query() -> BoxedFilter<(HistoryQuery,)> {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and_then(|raw: String| async move {
            serde_urlencoded::from_str::<HistoryQuery>(&raw).map_err(|e| {
                warp::reject::custom(ApiError::invalid(format!(
                    "The query string is not valid: {e}."
                )))
            })
        })
        .boxed()
}

fn user(state: &AppState) -> BoxedFilter<(User,)> {
    auth::user(state.clone()).boxed()
}

fn with_state(state: AppState) -> BoxedFilter<(AppState,)> {
    warp::any().map(move || state.clone()).boxed()
}

fn root() -> BoxedFilter<(Response,)> {
    get(paths::ROOT)
        .then(|| async { respond(handlers::root().await) })
        .boxed()
}

fn register(state: AppState) -> BoxedFilter<(Response,)> {
    post(paths::REGISTER)
        .and(json_headers())
        .and(with_state(state))
        .and(json_body())
        .then(
            |state: AppState, body| async move { respond(handlers::register(&state, body).await) },
        )
        .boxed()
}

fn authenticate(state: AppState) -> BoxedFilter<(Response,)> {
    post(paths::AUTHENTICATE)
        .and(json_headers())
        .and(with_state(state))
        .and(json_body())
        .then(|state: AppState, body| {
            async move { respond(handlers::authenticate(&state, body).await) }
        })
        .boxed()
}

fn strop(state: AppState, path: &'static str) -> BoxedFilter<(Response,)> {
    post(path)
        .and(json_headers())
        .and(user(&state))
        .and(with_state(state))
        .and(json_body::<StropRequest>())
        .then(move |user, state: AppState, body| async move {
            let result = if path == paths::REVERSE {
                handlers::reverse(&state, user, body).await
            } else {
                handlers::piglatin(&state, user, body).await
            };
            respond(result)
        })
        .boxed()
}

fn history(state: AppState) -> BoxedFilter<(Response,)> {
    get(paths::HISTORY)
        .and(user(&state))
        .and(history_query())
        .and(with_state(state))
        .then(|user, query, state: AppState| async move {
            respond(handlers::history(&state, user, query).await)
        })
        .boxed()
}

fn events(state: AppState) -> BoxedFilter<(Response,)> {
    get(paths::EVENTS)
        .and(user(&state))
        .and(events::last_event_id())
        .and(with_state(state))
        .map(|user, last, state| events::stream(state, user, last))
        .boxed()
}

fn logout(state: AppState) -> BoxedFilter<(Response,)> {
    post(paths::LOGOUT)
        .and(user(&state))
        .and(with_state(state))
        .then(|user, state: AppState| async move { respond(handlers::logout(&state, user).await) })
        .boxed()
}

fn whoami(state: AppState) -> BoxedFilter<(Response,)> {
    get(paths::WHOAMI)
        .and(user(&state))
        .then(|user| async move { respond(handlers::whoami(user).await) })
        .boxed()
}

fn healthz() -> BoxedFilter<(Response,)> {
    get(paths::HEALTHZ)
        .then(|| async { respond(handlers::healthz().await) })
        .boxed()
}

fn readyz(state: AppState) -> BoxedFilter<(Response,)> {
    get(paths::READYZ)
        .and(with_state(state))
        .then(|state: AppState| async move { respond(handlers::readyz(&state).await) })
        .boxed()
}

fn openapi_json() -> BoxedFilter<(Response,)> {
    get(paths::OPENAPI)
        .map(|| warp::reply::json(openapi::document()).into_response())
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn content_types() {
        assert!(check_json_headers(&headers(&[])).is_ok());
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(
                check_json_headers(&headers(&[("content-type", ok)])).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "",
            "json",
        ] {
            assert_eq!(
                check_json_headers(&headers(&[("content-type", bad)])),
                Err(ApiError::UnsupportedMediaType),
                "{bad}"
            );
        }
    }

    #[test]
    fn declared_length_over_the_limit_is_413() {
        let over = (MAX_BODY_BYTES + 1).to_string();
        assert_eq!(
            check_json_headers(&headers(&[("content-length", &over)])),
            Err(ApiError::PayloadTooLarge)
        );
        let exact = MAX_BODY_BYTES.to_string();
        assert!(check_json_headers(&headers(&[("content-length", &exact)])).is_ok());
    }

    #[test]
    fn json_errors_are_invalid_request() {
        for body in [
            &b""[..],
            b"  ",
            b"{",
            b"[]",
            b"{\"input\": 5}",
            b"{}",
            b"null",
            b"[\"x\"]",
            b"[\"arruser\", \"Arr-Secret-Pw-1\"]",
            b"\"x\"",
            b"5",
        ] {
            let err = parse_json::<StropRequest>(body).unwrap_err();
            assert!(matches!(err, ApiError::InvalidRequest(_)), "{body:?}");
        }
        let ok: StropRequest = parse_json(br#"{"input": "", "extra": 1}"#).unwrap();
        assert_eq!(ok.input, "");
    }
}
