//! What the app hears ([`Msg`]) and what it asks the runtime to do
//! ([`Effect`]): the vocabulary between `update` (pure) and `runtime` (I/O).

use std::time::Duration;

use crossterm::event::{KeyEvent, MouseEvent};
use strop_common::{
    DeleteEvent, Function, HistoryEntry, HistoryQuery, HistoryResponse, SessionsResponse,
};

use super::state::{SecretString, Session};
use crate::session::{CredentialsMode, Granted};

/// Why a request failed, already a sentence, plus what kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub kind: FailureKind,
    /// A 429: the server asks this caller to wait this long (Retry-After).
    pub wait: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The token is missing, unknown, revoked or expired.
    Auth,
    /// No answer: down, unreachable, timed out.
    Unreachable,
    /// Wrong username or password.
    Credentials,
    /// The server answered and refused.
    Refused,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            kind,
            wait: None,
        }
    }
}

/// Everything that can happen to the app. Anything that produces these (the
/// terminal, a task, a timer, later a live stream) feeds the same `update`.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    /// Animation clock; only the spinner cares.
    Tick,
    /// What start-up found: the keyring is opened separately (it may block).
    KeyringOpened(Result<String, String>),
    /// `input` as typed; the normalized address on success.
    ServerChecked {
        input: String,
        result: Result<String, Failure>,
    },
    TokenLoaded {
        result: Result<Option<SecretString>, String>,
    },
    /// The session that was checked, and whose it is on success.
    SessionVerified {
        session: Session,
        result: Result<String, Failure>,
    },
    /// The server answered the credentials sent in `mode`.
    Credentials {
        mode: CredentialsMode,
        username: String,
        result: Result<Granted, Failure>,
    },
    TokenStored(Result<(), String>),
    /// What the keyring holds now for a session whose token was refused.
    NewerToken {
        refused: SecretString,
        found: Result<crate::session::Stored, String>,
    },
    TokenDeleted(Result<(), String>),
    SettingsSaved(Result<(), String>),
    Ran {
        function: Function,
        input: String,
        result: Result<String, Failure>,
        /// When the answer arrived: RFC 1123 and RFC 3339, for the row shown
        /// until the server's copy replaces it.
        at: (String, String),
    },
    HistoryLoaded {
        generation: u64,
        before: Option<i64>,
        result: Result<HistoryResponse, Failure>,
    },
    SearchDue(u64),
    LoggedOut(Result<(), Failure>),
    /// `GET /sessions` answered.
    SessionsLoaded(Result<SessionsResponse, Failure>),
    /// A revocation answered with the server's sentence.
    SessionsRevoked(Result<String, Failure>),
    /// A `/healthz` probe while offline answered (or did not).
    Probed(Result<(), Failure>),
    /// The live history stream number `stream` opened (the wire's
    /// [`crate::client::LiveEvent`]s arrive as the next three).
    LiveOpened {
        stream: u64,
    },
    /// An entry committed for this user, from stream number `stream`.
    LiveEntry {
        stream: u64,
        entry: HistoryEntry,
    },
    /// Entries deleted (by this client or another), from stream number `stream`.
    LiveDeleted {
        stream: u64,
        gone: DeleteEvent,
    },
    /// Stream number `stream` ended or could not open; it is reopened
    /// after a pause, unless the token was refused.
    LiveDropped {
        stream: u64,
        failure: Failure,
    },
    /// An entry that arrived live is no longer new.
    Unmark(i64),
    /// `DELETE /history/{id}` answered: `Ok(true)` deleted, `Ok(false)` it
    /// was gone already (a 404: deleted elsewhere).
    EntryDeleted {
        id: i64,
        result: Result<bool, Failure>,
    },
    /// The clipboard sequence was written (or not).
    Copied {
        what: &'static str,
        chars: usize,
        result: Result<(), String>,
    },
}

/// Work for the runtime. Each runs as a task and answers with a `Msg`.
/// Tokens and passwords are [`SecretString`]s, so effects compare only in
/// tests ([`test_eq`]).
#[derive(Debug, Clone)]
pub enum Effect {
    OpenKeyring,
    /// `server` as typed or saved; the runtime normalizes it.
    CheckServer {
        server: String,
    },
    LoadToken {
        server: String,
        user: String,
    },
    /// Ask the server whose token this is; answers `SessionVerified`.
    VerifySession {
        session: Session,
    },
    /// Register or log in; answers `Credentials`.
    Credentials {
        mode: CredentialsMode,
        server: String,
        username: String,
        password: SecretString,
    },
    StoreToken {
        server: String,
        user: String,
        token: SecretString,
    },
    DeleteToken {
        server: String,
        user: String,
    },
    /// The server refused `refused`: read the keyring for a newer token
    /// (`session::newer_token`); answers `NewerToken`.
    FindNewerToken {
        server: String,
        user: String,
        refused: SecretString,
    },
    /// Remember the server and its last user; other settings stay as they are.
    SaveSettings {
        server: String,
        last_user: Option<String>,
    },
    /// Remember the chosen function for the next start.
    SaveFunction(Function),
    Run {
        server: String,
        token: SecretString,
        function: Function,
        input: String,
    },
    LoadHistory {
        server: String,
        token: SecretString,
        generation: u64,
        query: HistoryQuery,
    },
    /// Send `Msg::SearchDue(ticket)` after `after`.
    Debounce {
        ticket: u64,
        after: Duration,
    },
    Logout {
        server: String,
        token: SecretString,
    },
    LoadSessions {
        server: String,
        token: SecretString,
    },
    /// Revoke session `id`, or with `None` every session but this one.
    RevokeSessions {
        server: String,
        token: SecretString,
        id: Option<i64>,
    },
    /// Delete history entry `id`; answers `EntryDeleted`.
    DeleteEntry {
        server: String,
        token: SecretString,
        id: i64,
    },
    /// After `after`, ask `/healthz`; answers `Probed`.
    Probe {
        server: String,
        after: Duration,
    },
    /// After `after`, open the live stream number `stream` (closing any
    /// other), resuming after `last_id`; answers `Live` messages.
    Follow {
        stream: u64,
        server: String,
        token: SecretString,
        last_id: Option<i64>,
        after: Duration,
    },
    /// Close the live stream.
    Unfollow,
    /// Send `Msg::Unmark(id)` after `after`.
    Unmark {
        id: i64,
        after: Duration,
    },
    /// Put `text` on the clipboard (OSC 52); answers `Copied`.
    Copy {
        what: &'static str,
        text: String,
    },
    Quit,
}

#[cfg(test)]
mod test_eq;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::session::TokenSource;

    #[test]
    fn no_debug_shows_a_token_or_password() {
        let token = || SecretString::from("tok-0123456789");
        let shown = format!(
            "{:?} {:?} {:?} {:?}",
            Effect::Credentials {
                mode: CredentialsMode::Login,
                server: "http://h:1".into(),
                username: "ann".into(),
                password: SecretString::from("pw-hunter2"),
            },
            Effect::VerifySession {
                session: Session {
                    server: "http://h:1".into(),
                    user: "ann".into(),
                    token: token(),
                    source: TokenSource::Keyring,
                },
            },
            Msg::Credentials {
                mode: CredentialsMode::Login,
                username: "ann".into(),
                result: Ok(Granted::Token(token())),
            },
            Client::new("http://h:1").unwrap().with_token(Some(token())),
        );
        assert!(!shown.contains("tok-0123456789"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
