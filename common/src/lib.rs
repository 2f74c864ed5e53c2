//! The strop wire contract: every request and response body, the error shape
//! and the route paths. Both binaries and their tests speak only these types.

pub mod api;
pub mod time;

pub use api::*;
pub use time::wire_times;
