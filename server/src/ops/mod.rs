//! Operations: metrics, logging, and the container health check.

pub mod fd_limit;
pub mod healthcheck;
pub mod log_format;
pub mod logging;
pub mod metrics;
