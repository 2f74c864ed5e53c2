//! Equality for effects and sessions, in tests only: they hold
//! [`SecretString`]s, which have no `PartialEq` (on purpose). Two compare
//! equal when their `Debug` (secrets redacted) and their exposed secrets
//! are the same.

use secrecy::{ExposeSecret, SecretString};

use super::Effect;
use crate::session::Session;

fn exposed(secret: &SecretString) -> &str {
    secret.expose_secret()
}

impl PartialEq for Session {
    fn eq(&self, other: &Session) -> bool {
        format!("{self:?}") == format!("{other:?}") && exposed(&self.token) == exposed(&other.token)
    }
}

impl Eq for Session {}

impl Effect {
    /// The secrets this effect carries, in field order.
    fn secrets(&self) -> Vec<&str> {
        match self {
            Effect::VerifySession { session } => vec![exposed(&session.token)],
            Effect::Credentials { password, .. } => vec![exposed(password)],
            Effect::FindNewerToken { refused, .. } => vec![exposed(refused)],
            Effect::StoreToken { token, .. }
            | Effect::Run { token, .. }
            | Effect::LoadHistory { token, .. }
            | Effect::Logout { token, .. }
            | Effect::LoadSessions { token, .. }
            | Effect::RevokeSessions { token, .. }
            | Effect::DeleteEntry { token, .. }
            | Effect::Follow { token, .. } => vec![exposed(token)],
            _ => Vec::new(),
        }
    }
}

impl PartialEq for Effect {
    fn eq(&self, other: &Effect) -> bool {
        format!("{self:?}") == format!("{other:?}") && self.secrets() == other.secrets()
    }
}

impl Eq for Effect {}
