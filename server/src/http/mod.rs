//! The HTTP edge: the accept loop and its deadlines, hyper's own errors as
//! JSON, request ids, the filter tree, the handlers, the token filter,
//! `/openapi.json`, and the one mapping of every failure to an answer.

pub mod accept;
pub mod accounts;
pub mod auth;
pub mod conn;
pub mod deletion;
pub mod error;
pub mod filters;
pub mod handlers;
pub mod idempotency;
pub mod openapi;
pub mod parse_errors;
pub mod query;
pub mod request_id;
pub mod route;
pub mod routes;
