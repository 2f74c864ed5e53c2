//! Everything that talks to PostgreSQL: the pool, the schema, and one module per
//! table (plain async fns over a pooled client). The embedded cluster is the
//! `strop-embedded-pg` crate.

pub mod history;
pub mod idempotency;
pub mod migrations;
pub mod pool;
pub mod tokens;
pub mod users;

/// A pooled connection; its statement cache makes repeated queries one round trip.
pub type Client = deadpool_postgres::ClientWrapper;
