//! The filter tree: path first, then method, then headers, token and body.
//!
//! Each route matches its path before anything else, so for any request at
//! most one route gets past the path: its rejection (405, 401, 415, ...) is
//! the only one besides warp's "not found" from the others, and the rejection
//! handler can tell them apart. Handler errors never become rejections at
//! all: [`respond`] turns them into responses on the spot.

use std::convert::Infallible;
use std::net::IpAddr;
use std::time::Duration;

use bytes::{Buf, BufMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use strop_common::{Function, HistoryQuery, MAX_BODY_BYTES, StropRequest};
use warp::filters::BoxedFilter;
use warp::http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use warp::http::{HeaderMap, HeaderValue, Method};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::AppState;
use crate::http::accept::{Peer, Refused};
use crate::http::auth::{self, User};
use crate::http::error::{self, ApiError, respond};
use crate::http::handlers;
use crate::http::openapi;
use crate::http::route::Route;
use crate::live::events;
use crate::ops::metrics;

/// The whole application: every route (`/metrics` too when
/// `with_metrics`), every failure as SPEC JSON, and one log line per request.
pub fn build(
    state: AppState,
    with_metrics: bool,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let s = state;
    let metrics_route = if with_metrics {
        metrics_text(s.clone())
    } else {
        warp::any()
            .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
            .boxed()
    };
    let api = root()
        .or(register(s.clone()))
        .unify()
        .or(authenticate(s.clone()))
        .unify()
        .or(strop(s.clone()))
        .unify()
        .or(history(s.clone()))
        .unify()
        .or(events(s.clone()))
        .unify()
        .or(logout(s.clone()))
        .unify()
        .or(whoami(s.clone()))
        .unify()
        .or(crate::http::accounts::routes(s.clone()))
        .unify()
        .or(healthz())
        .unify()
        .or(readyz(s))
        .unify()
        .or(openapi_json())
        .unify()
        .or(metrics_route)
        .unify();
    refused()
        .and(api)
        .recover(error::handle_rejection)
        .unify()
        .with(warp::log::custom(log_request))
}

/// Only `GET /metrics`, for a listener of its own.
pub fn metrics_only(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    refused()
        .and(metrics_text(state))
        .recover(error::handle_rejection)
        .unify()
        .with(warp::log::custom(log_request))
}

/// Fails with what the connection layer refused (see `http_server`), if anything.
fn refused() -> BoxedFilter<()> {
    warp::ext::optional::<Refused>()
        .and_then(|refused: Option<Refused>| async move {
            match refused {
                Some(Refused(err)) => Err(warp::reject::custom(err)),
                None => Ok(()),
            }
        })
        .untuple_one()
        .boxed()
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
pub(crate) fn at(path: &'static str) -> BoxedFilter<()> {
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

/// The route's path, then its one method.
fn on(route: Route) -> BoxedFilter<()> {
    at(route.path())
        .and(only(route.methods()[0].clone()))
        .boxed()
}

/// Content-Type, Content-Encoding and Content-Length checks, done before any
/// database work.
pub(crate) fn json_headers() -> BoxedFilter<()> {
    warp::header::headers_cloned()
        .and_then(|headers: HeaderMap| async move {
            check_json_headers(&headers).map_err(warp::reject::custom)
        })
        .untuple_one()
        .boxed()
}

/// A missing Content-Type is read as JSON (the seed's clients may omit it);
/// anything else must be `application/json` or `application/*+json`, with no
/// charset but UTF-8 (RFC 8259 §8.1). Bodies are never decoded: any
/// Content-Encoding but `identity` is refused.
fn check_json_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(value) = headers.get(CONTENT_TYPE) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::UnsupportedMediaType)?
            .to_ascii_lowercase();
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or("").trim();
        let json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        let utf8 = parts.all(|param| match param.split_once('=') {
            Some((name, charset)) if name.trim() == "charset" => {
                matches!(charset.trim().trim_matches('"'), "utf-8" | "utf8")
            }
            _ => true,
        });
        if !json || !utf8 {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    for coding in headers.get_all(CONTENT_ENCODING) {
        let coding = String::from_utf8_lossy(coding.as_bytes())
            .trim()
            .to_string();
        if !coding.eq_ignore_ascii_case("identity") {
            return Err(ApiError::UnsupportedEncoding(coding));
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

/// The body as `T`, read up to [`MAX_BODY_BYTES`] (also when it is chunked)
/// and within `timeout` (a stalled body is a 408, not a held connection).
pub(crate) fn json_body<T: DeserializeOwned + Send + 'static>(
    timeout: Duration,
) -> BoxedFilter<(T,)> {
    warp::body::stream()
        .and_then(move |body| async move {
            tokio::time::timeout(timeout, read_json(body))
                .await
                .unwrap_or(Err(ApiError::RequestTimeout(timeout)))
                .map_err(warp::reject::custom)
        })
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
        .and_then(|raw: String| async move { parse_query(&raw).map_err(warp::reject::custom) })
        .boxed()
}

fn parse_query(raw: &str) -> Result<HistoryQuery, ApiError> {
    crate::http::query::history(raw)
}

/// The client's address, for the login limiter.
pub(crate) fn client(state: &AppState) -> BoxedFilter<(IpAddr,)> {
    let state = state.clone();
    warp::ext::get::<Peer>()
        .and(warp::header::headers_cloned())
        .map(move |Peer(peer), headers: HeaderMap| state.login_limiter.client(peer, &headers))
        .boxed()
}

pub(crate) fn user(state: &AppState) -> BoxedFilter<(User,)> {
    auth::user(state.clone()).boxed()
}

pub(crate) fn with_state(state: AppState) -> BoxedFilter<(AppState,)> {
    warp::any().map(move || state.clone()).boxed()
}

fn root() -> BoxedFilter<(Response,)> {
    on(Route::Root)
        .then(|| async { respond(handlers::root().await) })
        .boxed()
}

fn register(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Register)
        .and(json_headers())
        .and(client(&state))
        .and(crate::http::idempotency::key())
        .and(json_body(state.body_timeout))
        .and(with_state(state))
        .then(|client, key, body, state: AppState| async move {
            respond(handlers::register(&state, client, body, key).await)
        })
        .boxed()
}

fn authenticate(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Authenticate)
        .and(json_headers())
        .and(client(&state))
        .and(json_body(state.body_timeout))
        .and(crate::http::accounts::user_agent())
        .and(with_state(state))
        .then(
            |client, body, agent: Option<String>, state: AppState| async move {
                let mut res = respond(handlers::authenticate(&state, client, body, agent).await);
                // RFC 6749 §5.1: a token must not be cached.
                res.headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            },
        )
        .boxed()
}

/// `/reverse` and `/piglatin`: one route, the operation named by the path.
fn strop(state: AppState) -> BoxedFilter<(Response,)> {
    warp::path::param::<Function>()
        .and(warp::path::end())
        .and(only(Method::POST))
        .and(json_headers())
        .and(user(&state))
        .and(crate::http::idempotency::key())
        .and(json_body::<StropRequest>(state.body_timeout))
        .and(with_state(state))
        .then(|function, user, key, body, state: AppState| async move {
            respond(handlers::run_strop(&state, user, function, body, key).await)
        })
        .boxed()
}

fn history(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::History)
        .and(user(&state))
        .and(history_query())
        .and(with_state(state))
        .then(|user, query, state: AppState| async move {
            match handlers::history_response(&state, user, query).await {
                Ok(res) => res,
                Err(err) => err.into_response(),
            }
        })
        .boxed()
}

fn events(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Events)
        .and(user(&state))
        .and(events::last_event_id())
        .and(with_state(state))
        .map(|user, last, state| events::stream(state, user, last))
        .boxed()
}

fn logout(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Logout)
        .and(user(&state))
        .and(with_state(state))
        .then(|user, state: AppState| async move { respond(handlers::logout(&state, user).await) })
        .boxed()
}

fn whoami(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Whoami)
        .and(user(&state))
        .then(|user| async move { respond(handlers::whoami(user).await) })
        .boxed()
}

fn healthz() -> BoxedFilter<(Response,)> {
    on(Route::Healthz)
        .then(|| async { respond(handlers::healthz().await) })
        .boxed()
}

fn readyz(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Readyz)
        .and(with_state(state))
        .then(|state: AppState| async move { respond(handlers::readyz(&state).await) })
        .boxed()
}

fn metrics_text(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Metrics)
        .and(with_state(state))
        .map(|state: AppState| {
            let mut res = metrics::render(&state).into_response();
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            res
        })
        .boxed()
}

fn openapi_json() -> BoxedFilter<(Response,)> {
    on(Route::OpenApi)
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
            "application/json; charset=latin1",
            "application/json; charset=utf-16",
        ] {
            assert_eq!(
                check_json_headers(&headers(&[("content-type", bad)])),
                Err(ApiError::UnsupportedMediaType),
                "{bad}"
            );
        }
    }

    #[test]
    fn encoded_bodies_are_415_naming_the_coding() {
        assert!(check_json_headers(&headers(&[("content-encoding", "identity")])).is_ok());
        assert_eq!(
            check_json_headers(&headers(&[("content-encoding", "gzip")])),
            Err(ApiError::UnsupportedEncoding("gzip".into()))
        );
        assert!(
            ApiError::UnsupportedEncoding("br".into())
                .message()
                .contains("br")
        );
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
