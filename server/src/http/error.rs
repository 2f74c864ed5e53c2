//! Every failure as the SPEC's JSON: `{"error": "code", "message": "sentence"}`.
//!
//! Handlers return [`ApiError`]; filters reject with it; [`handle_rejection`]
//! turns whatever is left (including warp's own rejections) into a response.
//! A server-side failure carries its [`Cause`] and is logged once, with the
//! whole cause chain, when it becomes a response (inside the request's span);
//! the client only ever sees the sentence.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use strop_common::{ErrorBody, ErrorCode};
use warp::http::StatusCode;
use warp::http::header::{self, HeaderValue};
use warp::reply::Response;
use warp::{Rejection, Reply};

/// Why a request failed on the server's side: the source error, kept for the
/// log. Shared so that a rejection can be cloned out of warp.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause(Arc::new(err))
    }

    /// A cause that is only a sentence (no error value to keep).
    pub fn msg(text: impl Into<String>) -> Self {
        #[derive(Debug)]
        struct Msg(String);
        impl fmt::Display for Msg {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::error::Error for Msg {}
        Cause::new(Msg(text.into()))
    }

    /// The error and every source below it, joined with ": ".
    pub fn chain(&self) -> String {
        crate::ops::logging::Chain(&*self.0).to_string()
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain())
    }
}

/// Causes never decide equality: two 500s are the same answer.
impl PartialEq for Cause {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Cause {}

/// A failure the client is told about. Internal details stay in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    InvalidRequest(String),
    InvalidCredentials,
    MissingToken,
    InvalidToken,
    NotFound,
    /// 404 for a thing the route names (a session id): this sentence.
    NoSuch(String),
    /// The route exists; these are the methods it takes.
    MethodNotAllowed(&'static str),
    UserExists(String),
    /// The `Idempotency-Key`'s first request is still being answered.
    IdempotencyInFlight,
    /// The `Idempotency-Key` came first with another body.
    IdempotencyMismatch,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// A `Content-Encoding` (named) on a body: none is supported.
    UnsupportedEncoding(String),
    /// The body stopped arriving for this long.
    RequestTimeout(std::time::Duration),
    UriTooLong,
    HeadersTooLarge,
    ExpectationFailed,
    /// A limit was met (`what` names it: "failed logins for this username");
    /// try again in this many seconds.
    RateLimited {
        retry_after_secs: u64,
        what: &'static str,
    },
    /// A database statement ran past the statement timeout.
    StatementTimeout,
    /// The connection came in over the connection cap.
    Overloaded,
    Unavailable(Cause),
    Internal(Cause),
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest(message.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::InvalidCredentials => ErrorCode::InvalidCredentials,
            ApiError::MissingToken => ErrorCode::MissingToken,
            ApiError::InvalidToken => ErrorCode::InvalidToken,
            ApiError::NotFound | ApiError::NoSuch(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            ApiError::UserExists(_) => ErrorCode::UserExists,
            ApiError::IdempotencyInFlight => ErrorCode::IdempotencyInFlight,
            ApiError::IdempotencyMismatch => ErrorCode::IdempotencyMismatch,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedEncoding(_) => {
                ErrorCode::UnsupportedMediaType
            }
            ApiError::RequestTimeout(_) => ErrorCode::RequestTimeout,
            ApiError::UriTooLong => ErrorCode::UriTooLong,
            ApiError::HeadersTooLarge => ErrorCode::HeadersTooLarge,
            ApiError::ExpectationFailed => ErrorCode::ExpectationFailed,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Unavailable(_) | ApiError::Overloaded | ApiError::StatementTimeout => {
                ErrorCode::Unavailable
            }
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::InvalidRequest(m) => m.clone(),
            ApiError::InvalidCredentials => "Wrong username or password.".into(),
            ApiError::MissingToken => {
                "This endpoint needs a token in the Authorization header; get one from /authenticate."
                    .into()
            }
            ApiError::InvalidToken => {
                "The token is unknown, revoked or expired; authenticate again.".into()
            }
            ApiError::NotFound => "There is no such endpoint.".into(),
            ApiError::NoSuch(m) => m.clone(),
            ApiError::MethodNotAllowed("") => "This endpoint does not take that method.".into(),
            ApiError::MethodNotAllowed(allowed) => {
                format!("This endpoint does not take that method; use {allowed}.")
            }
            ApiError::UserExists(name) => format!("User \"{name}\" already exists."),
            ApiError::IdempotencyInFlight => {
                "A request with this Idempotency-Key is still being answered; retry in a moment."
                    .into()
            }
            ApiError::IdempotencyMismatch => {
                "This Idempotency-Key was already used with a different request body.".into()
            }
            ApiError::PayloadTooLarge => format!(
                "The request body is larger than the limit of {} bytes.",
                strop_common::MAX_BODY_BYTES
            ),
            ApiError::UnsupportedMediaType => {
                "The request body must be JSON in UTF-8 (Content-Type: application/json).".into()
            }
            ApiError::UnsupportedEncoding(coding) => format!(
                "The request body must not be encoded (Content-Encoding: {coding} is not supported)."
            ),
            ApiError::RequestTimeout(idle) => format!(
                "The request body stopped arriving for {} s; the request was dropped.",
                idle.as_secs_f64()
            ),
            ApiError::UriTooLong => "The URL is too long.".into(),
            ApiError::HeadersTooLarge => "The request headers are too many or too large.".into(),
            ApiError::ExpectationFailed => {
                "The only expectation this server meets is Expect: 100-continue.".into()
            }
            ApiError::RateLimited {
                retry_after_secs,
                what,
            } => format!(
                "Too many {what}; try again in {retry_after_secs} second{}.",
                if *retry_after_secs == 1 { "" } else { "s" }
            ),
            ApiError::StatementTimeout => "The query took longer than the server allows; \
                narrow it (fewer or longer search words, a limit) and try again."
                .into(),
            ApiError::Overloaded => {
                "The server is at its connection or memory limit; try again in a moment.".into()
            }
            ApiError::Unavailable(_) => {
                "The database is unavailable; try again in a moment.".into()
            }
            ApiError::Internal(_) => "Something went wrong on the server.".into(),
        }
    }

    /// An internal failure caused by `err`.
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Cause::new(err))
    }

    /// Logs a server-side failure with its cause chain; client errors are
    /// only in the access line.
    fn log(&self) {
        match self {
            ApiError::Unavailable(cause) => {
                tracing::warn!(cause = cause.chain(), "database unavailable");
            }
            ApiError::Internal(cause) => {
                tracing::error!(cause = cause.chain(), "internal error");
            }
            _ => {}
        }
    }

    /// The SPEC JSON answer; the one place a failure is logged.
    pub fn into_response(self) -> Response {
        self.log();
        let body = ErrorBody {
            error: self.code(),
            message: self.message(),
        };
        let mut res =
            warp::reply::with_status(warp::reply::json(&body), self.status()).into_response();
        let headers = res.headers_mut();
        match self {
            ApiError::MethodNotAllowed(allowed) if !allowed.is_empty() => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allowed));
            }
            // RFC 6750 §3: the scheme the client should use.
            ApiError::InvalidCredentials | ApiError::MissingToken | ApiError::InvalidToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::Overloaded | ApiError::StatementTimeout => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res
    }
}

/// SQLSTATE classes meaning "the database is not there right now".
fn is_unavailable(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.code() {
        Some(code) => {
            let c = code.code();
            // 08: connection exception; 57P0x: shutdown / cannot connect now;
            // 3D000: the database itself is gone.
            c.starts_with("08") || c.starts_with("57P") || c == "3D000" || c == "53300"
        }
        // No SQLSTATE: an I/O or protocol failure on the connection, unless
        // it is a row this server cannot read.
        None => !std::error::Error::source(err)
            .is_some_and(|s| s.is::<crate::db::history::UnknownFunction>()),
    }
}

impl From<crate::accounts::usernames::InvalidUsername> for ApiError {
    fn from(err: crate::accounts::usernames::InvalidUsername) -> Self {
        ApiError::InvalidRequest(err.to_string())
    }
}

impl From<crate::accounts::passwords::PasswordError> for ApiError {
    fn from(err: crate::accounts::passwords::PasswordError) -> Self {
        ApiError::internal(err)
    }
}

impl From<crate::live::history_writer::WriteError> for ApiError {
    fn from(err: crate::live::history_writer::WriteError) -> Self {
        use crate::live::history_writer::WriteError;
        use deadpool_postgres::PoolError;
        let unavailable = match &err {
            WriteError::Stopped => true,
            WriteError::Database(e) => is_unavailable(e),
            WriteError::Pool(e) => match &**e {
                PoolError::Backend(e) => is_unavailable(e),
                _ => true,
            },
            WriteError::NoAnswer | WriteError::Miscounted { .. } => false,
            // The token's account is gone: as for any token of a deleted user.
            WriteError::UserGone | WriteError::TokenGone => return ApiError::InvalidToken,
        };
        if unavailable {
            ApiError::Unavailable(Cause::new(err))
        } else {
            ApiError::internal(err)
        }
    }
}

impl From<crate::limits::Refusal> for ApiError {
    fn from(refusal: crate::limits::Refusal) -> Self {
        use crate::limits::Refusal;
        match refusal {
            Refusal::RateLimited {
                retry_after_secs,
                what,
            } => ApiError::RateLimited {
                retry_after_secs,
                what,
            },
            Refusal::Busy => ApiError::Overloaded,
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(err: tokio_postgres::Error) -> Self {
        // 57014: cancelled by statement_timeout (db::pool sets it).
        if err.code().map(|c| c.code()) == Some("57014") {
            tracing::warn!(error = %crate::ops::logging::Chain(&err), "a statement ran past the statement timeout");
            ApiError::StatementTimeout
        } else if is_unavailable(&err) {
            ApiError::Unavailable(Cause::new(err))
        } else {
            ApiError::internal(err)
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match err {
            PoolError::Backend(e) => e.into(),
            // A timeout, a closed pool, a failed hook: no connection to be had.
            other => ApiError::Unavailable(Cause::new(other)),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ApiError::internal(err)
    }
}

/// Handler results become responses here, so handler errors never reach
/// warp's `or` chain (which would retry every other route).
pub fn respond<T: serde::Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(body) => warp::reply::json(&body).into_response(),
        Err(err) => err.into_response(),
    }
}

/// The one rejection handler: whatever rejected, the client gets SPEC JSON.
pub async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    Ok(classify(&rejection).into_response())
}

fn classify(rejection: &Rejection) -> ApiError {
    use warp::reject;
    if rejection.is_not_found() {
        return ApiError::NotFound;
    }
    if let Some(err) = rejection.find::<ApiError>() {
        return err.clone();
    }
    if rejection.find::<reject::PayloadTooLarge>().is_some() {
        return ApiError::PayloadTooLarge;
    }
    if rejection.find::<reject::UnsupportedMediaType>().is_some() {
        return ApiError::UnsupportedMediaType;
    }
    if rejection.find::<reject::MethodNotAllowed>().is_some() {
        return ApiError::MethodNotAllowed("");
    }
    if let Some(err) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        return ApiError::invalid(format!("The request body is not valid: {err}"));
    }
    if rejection.find::<reject::InvalidQuery>().is_some() {
        return ApiError::invalid("The query string is not valid.");
    }
    if rejection.find::<reject::InvalidHeader>().is_some()
        || rejection.find::<reject::MissingHeader>().is_some()
        || rejection.find::<reject::LengthRequired>().is_some()
    {
        return ApiError::invalid("A request header is missing or not valid.");
    }
    ApiError::Internal(Cause::msg(format!("unhandled rejection: {rejection:?}")))
}
