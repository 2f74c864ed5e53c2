//! Operations: metrics, logging, and the container health check.

pub mod healthcheck;
pub mod logging;
pub mod metrics;
