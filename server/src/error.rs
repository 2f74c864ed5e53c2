//! Every failure as the SPEC's JSON: `{"error": "code", "message": "sentence"}`.
//!
//! Handlers return [`ApiError`]; filters reject with it; [`handle_rejection`]
//! turns whatever is left (including warp's own rejections) into a response.

use std::convert::Infallible;

use strop_common::{ErrorBody, ErrorCode};
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Rejection, Reply};

/// A failure the client is told about. Internal details stay in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    InvalidRequest(String),
    InvalidCredentials,
    MissingToken,
    InvalidToken,
    NotFound,
    /// The route exists; these are the methods it takes.
    MethodNotAllowed(&'static str),
    UserExists(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    Unavailable,
    Internal,
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
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            ApiError::UserExists(_) => ErrorCode::UserExists,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::Unavailable => ErrorCode::Unavailable,
            ApiError::Internal => ErrorCode::Internal,
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
            ApiError::MethodNotAllowed("") => "This endpoint does not take that method.".into(),
            ApiError::MethodNotAllowed(allowed) => {
                format!("This endpoint does not take that method; use {allowed}.")
            }
            ApiError::UserExists(name) => format!("User \"{name}\" already exists."),
            ApiError::PayloadTooLarge => format!(
                "The request body is larger than the limit of {} bytes.",
                strop_common::MAX_BODY_BYTES
            ),
            ApiError::UnsupportedMediaType => {
                "The request body must be JSON (Content-Type: application/json).".into()
            }
            ApiError::Unavailable => {
                "The database is unavailable; try again in a moment.".into()
            }
            ApiError::Internal => "Something went wrong on the server.".into(),
        }
    }

    pub fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            message: self.message(),
        };
        let mut res =
            warp::reply::with_status(warp::reply::json(&body), self.status()).into_response();
        if let ApiError::MethodNotAllowed(allowed) = self
            && !allowed.is_empty()
        {
            res.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allowed));
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
        // No SQLSTATE: an I/O or protocol failure on the connection.
        None => true,
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(err: tokio_postgres::Error) -> Self {
        if is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            ApiError::Unavailable
        } else {
            tracing::error!(error = %err, "database error");
            ApiError::Internal
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match err {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) => {
                tracing::warn!(error = %err, "no database connection in time");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "database pool error");
                ApiError::Unavailable
            }
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        tracing::error!(error = %err, "blocking task failed");
        ApiError::Internal
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
    tracing::error!(?rejection, "unhandled rejection");
    ApiError::Internal
}
