//! The strop wire contract: every request and response body, the error shape
//! and the route paths, and the defaults (address, version) both binaries share. Both binaries and their tests speak only these types.

pub mod api;
pub mod defaults;
pub mod search;
pub mod time;

pub use api::*;
pub use defaults::{DEFAULT_ADDR, DEFAULT_PORT, DEFAULT_SERVER_URL, VERSION};
pub use time::wire_times;
