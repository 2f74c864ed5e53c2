//! The strop wire contract: every request and response body, the error shape
//! and the route paths. Both binaries and their tests speak only these types.

pub mod api;

pub use api::*;
