//! The strop HTTP API against a real PostgreSQL: one integration test binary,
//! each test with its own server on port 0 and its own fresh database, so
//! they run in parallel. `binary` runs the real `strop-server` executable
//! (and `observability` reads its logs and metrics).
// A test reads as one scenario; the 80-line rule (clippy.toml) is for the
// product's code.
#![allow(clippy::too_many_lines)]

mod accounts;
mod attacks;
mod auth;
mod balancer;
mod binary;
mod bounds;
mod deletion;
mod errors;
pub(crate) mod events;
mod export;
mod hardening;
mod history;
mod idempotency;
mod invariants;
mod limits;
mod listener;
mod observability;
mod openapi;
mod ops;
mod seed;
mod servers;
mod sessions;
mod strop;
mod support;
mod tokens;
mod writer;
