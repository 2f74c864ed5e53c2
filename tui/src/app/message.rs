//! What the app hears ([`Msg`]) and what it asks the runtime to do
//! ([`Effect`]): the vocabulary between `update` (pure) and `runtime` (I/O).

use std::time::Duration;

use crossterm::event::{KeyEvent, MouseEvent};
use strop_common::{Function, HistoryEntry, HistoryQuery, HistoryResponse, SessionsResponse};

use super::state::{Secret, Session};

/// Why a request failed, already a sentence, plus what kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub kind: FailureKind,
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
        result: Result<Option<Secret>, String>,
    },
    /// The session that was checked, and whose it is on success.
    SessionVerified {
        session: Session,
        result: Result<String, Failure>,
    },
    Registered {
        username: String,
        result: Result<(), Failure>,
    },
    Authenticated {
        username: String,
        result: Result<Secret, Failure>,
    },
    TokenStored(Result<(), String>),
    /// What the keyring holds now for a session whose token was refused.
    NewerToken {
        refused: Secret,
        found: Result<Option<Secret>, String>,
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
    /// [`crate::client::LiveEvent`]s arrive as the next two).
    LiveOpened {
        stream: u64,
    },
    /// An entry committed for this user, from stream number `stream`.
    LiveEntry {
        stream: u64,
        entry: HistoryEntry,
    },
    /// Stream number `stream` ended or could not open; it is reopened
    /// after a pause, unless the token was refused.
    LiveDropped {
        stream: u64,
        failure: Failure,
    },
    /// An entry that arrived live is no longer new.
    Unmark(i64),
    /// The clipboard sequence was written (or not).
    Copied {
        what: &'static str,
        chars: usize,
        result: Result<(), String>,
    },
}

/// Work for the runtime. Each runs as a task and answers with a `Msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    Register {
        server: String,
        username: String,
        password: Secret,
    },
    Authenticate {
        server: String,
        username: String,
        password: Secret,
    },
    StoreToken {
        server: String,
        user: String,
        token: Secret,
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
        refused: Secret,
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
        token: Secret,
        function: Function,
        input: String,
    },
    LoadHistory {
        server: String,
        token: Secret,
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
        token: Secret,
    },
    LoadSessions {
        server: String,
        token: Secret,
    },
    /// Revoke session `id`, or with `None` every session but this one.
    RevokeSessions {
        server: String,
        token: Secret,
        id: Option<i64>,
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
        token: Secret,
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
