//! Accounts: usernames (PRECIS), password hashing within a memory budget,
//! and the login limiter.

pub mod limiter;
pub mod passwords;
pub mod usernames;
