//! The filters routes are made of: path and method from the [`Route`] list,
//! JSON headers and bodies, the query, the token's user, the client's
//! address. `routes.rs` and `accounts.rs` build their trees from these.

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Buf, BufMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use strop_common::{HistoryQuery, MAX_BODY_BYTES};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use warp::http::{HeaderMap, Method};

use crate::AppState;
use crate::http::auth::{self, User};
use crate::http::conn::Peer;
use crate::http::error::ApiError;
use crate::http::route::Route;

/// A template path whose last segment is a parameter (`/sessions/{id}`):
/// the parameter's text. A path that [`Route::of_path`] gives to another
/// route (`/history/export` is not `/history/{id}`) is not this one, so
/// that route's own answer (a 405) stands.
pub fn at_with_param(route: Route) -> BoxedFilter<(String,)> {
    let path = route.path();
    let (prefix, last) = path.rsplit_once('/').unwrap_or(("", path));
    debug_assert!(last.starts_with('{'), "{path} has no parameter");
    prefix
        .split('/')
        .filter(|segment| !segment.is_empty())
        .fold(warp::any().boxed(), |f, segment| {
            f.and(warp::path(segment)).boxed()
        })
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::path::full())
        .and_then(
            move |param: String, full: warp::path::FullPath| async move {
                let path = full.as_str();
                if Route::dispatch(Route::of_path(path), path) == Some(route) {
                    Ok(param)
                } else {
                    Err(warp::reject::not_found())
                }
            },
        )
        .boxed()
}

/// One of the route's methods (HEAD counting as GET), else a 405 listing
/// them. (warp's own method filters report 404 once routes are combined, so
/// the check is ours.)
pub fn method_of(route: Route) -> BoxedFilter<(Method,)> {
    warp::method()
        .and_then(move |got: Method| async move {
            // HEAD is GET without the body (hyper drops it), as in HTTP.
            let seen = if got == Method::HEAD {
                Method::GET
            } else {
                got
            };
            if route.methods().contains(&seen) {
                Ok(seen)
            } else {
                Err(warp::reject::custom(ApiError::MethodNotAllowed(
                    route.allow(),
                )))
            }
        })
        .boxed()
}

/// One of the route's methods; the path was matched by the dispatch
/// ([`crate::http::routes::Router`]), so it is not looked at again.
pub fn on(route: Route) -> BoxedFilter<()> {
    method_of(route).map(|_| ()).untuple_one().boxed()
}

/// Content-Type, Content-Encoding and Content-Length checks, done before any
/// database work.
pub fn json_headers() -> BoxedFilter<()> {
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
pub fn json_body<T: DeserializeOwned + Send + 'static>(timeout: Duration) -> BoxedFilter<(T,)> {
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
pub fn history_query() -> BoxedFilter<(HistoryQuery,)> {
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
pub fn client(state: &AppState) -> BoxedFilter<(IpAddr,)> {
    let state = state.clone();
    warp::ext::get::<Peer>()
        .and(warp::header::headers_cloned())
        .map(move |Peer(peer), headers: HeaderMap| state.login_limiter.client(peer, &headers))
        .boxed()
}

pub fn user(state: &AppState) -> BoxedFilter<(User,)> {
    auth::user(state.clone()).boxed()
}

/// Who a write is by (its token perhaps checked only by the write).
pub fn writer(state: &AppState) -> BoxedFilter<(auth::Writer,)> {
    auth::writer_filter(state.clone()).boxed()
}

pub fn with_state(state: AppState) -> BoxedFilter<(AppState,)> {
    warp::any().map(move || state.clone()).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strop_common::StropRequest;
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
