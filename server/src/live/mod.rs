//! The live machinery: the process's `LISTEN` connection and its fence, the
//! token cache kept exact by it, the group-committing history writer, and
//! the `/events` streams.

pub mod events;
pub mod history_writer;
pub mod listener;
pub mod notify;
pub mod token_cache;
