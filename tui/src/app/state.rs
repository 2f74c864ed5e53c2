//! Everything the screen shows, and nothing else: no handles, no I/O.

use std::cell::Cell;

use ratatui::layout::Rect;
use strop_common::{Function, HistoryEntry, HistoryQuery, SessionInfo};
use tui_input::Input;

/// Rows asked for per history page.
pub const PAGE_SIZE: u32 = 100;
/// Load the next older page once the selection is this close to the end.
pub const PREFETCH_MARGIN: usize = 20;
/// Quiet time after the last keystroke before a search goes to the server.
pub const SEARCH_DEBOUNCE_MS: u64 = 250;
/// Offered on the server screen when nothing else is known.
pub const DEFAULT_SERVER: &str = strop_common::DEFAULT_SERVER_URL;
/// Shown on the login form when a stored or given token is refused.
pub const SESSION_EXPIRED: &str = crate::session::SESSION_ENDED;

pub use crate::local_time::{Clock, Zone};
pub use crate::session::{CredentialsMode, Granted, Session, TokenSource};
/// Tokens and passwords: redacted in `Debug`, zeroed when dropped.
pub use secrecy::{ExposeSecret, SecretString};

/// Which full screen is up. Comparable in tests only: `Main` holds a token
/// (see `message::test_eq`).
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq, Eq))]
pub enum Screen {
    /// Checking a stored or given token before deciding where to land.
    Connecting,
    /// Asking for the server address (first run, or the user asked to change it).
    Server,
    /// Log in or register.
    Login,
    /// Input, output and history: only with someone logged in.
    Main(Session),
}

impl Screen {
    pub fn is_main(&self) -> bool {
        matches!(self, Screen::Main(_))
    }
}

/// A window drawn over the screen; it takes the keys while it is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Detail(Detail),
    ConfirmLogout,
    /// The user's sessions (logins), to log others out.
    Sessions(SessionsView),
    /// Quit? (from `q` in the list, or whenever `./run`'s server stops too)
    ConfirmQuit,
    /// Delete this entry? (from `d` in the list or the detail view)
    ConfirmDelete(HistoryEntry),
}

/// The sessions overlay: the list (`None` while it loads), the selected
/// row, and the last answer or failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionsView {
    pub list: Option<Vec<SessionInfo>>,
    pub selected: usize,
    pub message: Option<String>,
    pub error: Option<String>,
    /// `d` or `o` was pressed: the question, answered by the next key.
    pub asking: Option<Revoke>,
}

/// Which sessions the sessions overlay's question would log out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke {
    One(i64),
    /// Every session but this one.
    Others,
}

/// One history entry shown in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub entry: HistoryEntry,
    pub scroll: u16,
    /// Largest useful scroll, known once drawn (wrapping depends on the
    /// width); layout memory, hence the `Cell`.
    pub max_scroll: Cell<u16>,
}

impl Detail {
    pub fn new(entry: HistoryEntry) -> Detail {
        Detail {
            entry,
            scroll: 0,
            max_scroll: Cell::new(u16::MAX),
        }
    }
}

/// Lines in the help overlay: every binding, a title and a gap per
/// context, and the closing note. Bounds its scrolling.
pub fn help_len() -> u16 {
    let mut contexts = Vec::new();
    for bd in super::keymap::KEYMAP {
        if !contexts.contains(&bd.context) {
            contexts.push(bd.context);
        }
    }
    let rows: usize = super::keymap::KEYMAP
        .iter()
        .map(super::keymap::help_rows)
        .sum();
    (rows + 2 * contexts.len() + 1) as u16
}

/// What we know about reaching the server: one state machine (see
/// `update::note_online`, `account::went_offline`, `account::reconnecting`).
/// "live" is `Online` with the history stream open (`Live::open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    Unknown,
    /// The server answers.
    Online,
    /// The live stream dropped or went silent for two heartbeats; a
    /// `/healthz` probe is deciding between online and offline.
    Reconnecting,
    /// Refused or timed out; probed with back-off until it answers.
    Offline,
}

/// The live history stream (`GET /events`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    /// Bumped per (re)open; messages of older streams are dropped.
    pub stream: u64,
    /// The server accepted the current stream: the status bar says live.
    pub open: bool,
    /// Failed opens in a row, for the back-off.
    pub failures: u32,
    /// The newest id seen, sent as `Last-Event-ID` on a reopen.
    pub last_id: Option<i64>,
    /// A stream dropped since the last open: deletions made meanwhile are
    /// not replayed, so the next open reloads the first page.
    pub missed: bool,
    /// The server refused the stream with 429 (the user's streams are all
    /// open elsewhere): the history shows without live updates meanwhile.
    pub capped: bool,
}

/// Whether tokens can be kept in the OS keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyring {
    /// Still opening it (off the UI thread; a locked collection can block).
    Opening,
    /// Works; holds the store's name ("kernel keyutils", "Secret Service", ...).
    Ready(String),
    /// No store works; the sentence says why.
    Unavailable(String),
    /// `STROP_TOKEN` is set, so the keyring is neither read nor written.
    Overridden,
}

/// Something in flight, named so the status bar can say what we wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    CheckServer,
    OpenKeyring,
    LoadToken,
    VerifySession,
    Register,
    LogIn,
    Run(Function),
    LoadHistory,
    LogOut,
}

impl Activity {
    pub fn label(self) -> String {
        match self {
            Activity::CheckServer => "Contacting the server…".into(),
            Activity::OpenKeyring => "Opening the keyring…".into(),
            Activity::LoadToken => "Reading the keyring…".into(),
            Activity::VerifySession => "Checking your session…".into(),
            Activity::Register => "Registering…".into(),
            Activity::LogIn => "Logging in…".into(),
            Activity::Run(f) => format!("Running {f}…"),
            Activity::LoadHistory => "Loading history…".into(),
            Activity::LogOut => "Logging out…".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginField {
    Username,
    Password,
    /// The password again: only on the register form.
    Confirm,
}

#[derive(Debug, Clone)]
pub struct LoginForm {
    pub username: Input,
    /// Drawn masked; cleared as soon as it has been used.
    pub password: Input,
    /// The password typed again (register only), masked too.
    pub confirm: Input,
    pub focus: LoginField,
    pub mode: CredentialsMode,
    /// The last failure, shown under the fields.
    pub error: Option<String>,
    /// A request is out; Enter does nothing until it answers.
    pub busy: bool,
}

impl Default for LoginForm {
    fn default() -> Self {
        Self {
            username: Input::default(),
            password: Input::default(),
            confirm: Input::default(),
            focus: LoginField::Username,
            mode: CredentialsMode::Login,
            error: None,
            busy: false,
        }
    }
}

/// Where the main screen's parts were last drawn, so a mouse click can be
/// mapped to what is under it (layout memory, like `History::offset`).
#[derive(Debug, Default)]
pub struct Areas {
    pub input: Cell<Rect>,
    pub output: Cell<Rect>,
    pub search: Cell<Rect>,
    /// The history rows, header excluded.
    pub rows: Cell<Rect>,
    /// How far the help can scroll as last drawn (its lines wrap with the
    /// width); `None` before the first drawing.
    pub help_max: Cell<Option<u16>>,
}

/// Which part of the main screen gets typed keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Input,
    History,
    Search,
    /// The output pane, to scroll a long answer.
    Output,
}

/// The last operation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub function: Function,
    pub input: String,
    pub output: String,
}

/// What the Output pane shows: the last answer, or why the last run failed
/// (never an older answer under a newer input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(Output),
    Failed {
        function: Function,
        input: String,
        message: String,
        /// The server could not be reached: the sentence goes once it is back.
        offline: bool,
    },
}

/// Lines the input box grows to before it scrolls.
pub const INPUT_MAX_LINES: u16 = 5;

#[derive(Debug, Clone)]
pub struct MainPane {
    /// May hold newlines (paste, Alt+Enter).
    pub input: Input,
    pub function: Function,
    pub output: Option<Outcome>,
    pub focus: Focus,
    /// Operations sent and not yet answered.
    pub running: usize,
    /// First line of the output shown (it scrolls when it has focus).
    pub output_scroll: u16,
    /// Largest useful `output_scroll`, known once drawn (layout memory).
    pub output_max: Cell<u16>,
    /// What those operations are: the same text is never sent twice while
    /// it is in flight (Enter pressed three times in one read is one run).
    pub in_flight: Vec<(Function, String)>,
    /// Walking back through earlier inputs with ↑/↓: which one (0 = newest)
    /// and what was typed before the walk began.
    pub recall: Option<(usize, String)>,
}

impl Default for MainPane {
    fn default() -> Self {
        Self {
            input: Input::default(),
            function: Function::Reverse,
            output: None,
            focus: Focus::Input,
            running: 0,
            output_scroll: 0,
            output_max: Cell::new(0),
            in_flight: Vec::new(),
            recall: None,
        }
    }
}

/// The history browser: the loaded part of the user's history, newest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Newest first; the server sends pages oldest first and we flip them.
    pub entries: Vec<HistoryEntry>,
    pub selected: usize,
    /// First visible row. The view keeps it so the selection stays on screen;
    /// it is layout memory, not data, hence the `Cell`.
    pub offset: Cell<usize>,
    /// `before` for the next older page; `None` when all is loaded.
    pub next_before: Option<i64>,
    /// A page request is out for the current generation.
    pub loading: bool,
    /// At least one page of the current generation has arrived.
    pub loaded: bool,
    /// Bumped whenever the query changes, so late answers to an old query are dropped.
    pub generation: u64,
    /// What the user is typing in the search box.
    pub search: Input,
    /// The search the shown entries answer (it lags `search` by the debounce).
    pub applied_query: String,
    /// Bumped on each search keystroke; only the last debounce timer fires a load.
    pub search_ticket: u64,
    pub filter: Option<Function>,
    /// Ids for rows added locally before the server's copy arrives (negative).
    pub next_local_id: i64,
    /// Why the last page request failed: shown in the pane until a page
    /// arrives (the list would otherwise say "Loading" forever).
    pub error: Option<String>,
    /// The server refused the search itself (too many words, too long):
    /// the list is empty rather than showing rows the search does not match.
    pub refused: bool,
    /// Ids that arrived live a moment ago, drawn marked as new.
    pub fresh: Vec<i64>,
    /// End was pressed with older pages still on the server: each page
    /// that arrives moves the selection on, down to the oldest entry.
    pub to_oldest: bool,
}

impl History {
    /// The query for a page of the current generation.
    pub fn query(&self, before: Option<i64>) -> HistoryQuery {
        HistoryQuery {
            before,
            function: self.filter,
            limit: Some(PAGE_SIZE),
            q: (!self.applied_query.is_empty()).then(|| self.applied_query.clone()),
        }
    }

    /// Whether an entry belongs in the current filtered and searched view:
    /// as the server's `q`, every word must occur in the input or the output.
    pub fn admits(&self, function: Function, input: &str, output: &str) -> bool {
        if self.filter.is_some_and(|f| f != function) {
            return false;
        }
        strop_common::search::matches(&self.applied_query, input, output)
    }

    pub fn selected_entry(&self) -> Option<&HistoryEntry> {
        self.entries.get(self.selected)
    }
}

/// Byte ranges of `needle` in `hay`, compared case-insensitively char by char
/// (the server's `q` is a case-insensitive substring too).
pub fn match_ranges(hay: &str, needle: &str) -> Vec<std::ops::Range<usize>> {
    strop_common::search::ranges(hay, needle)
}

/// The words of a search, as the server splits `q`.
pub fn words(query: &str) -> impl Iterator<Item = &str> {
    strop_common::search::words(query)
}

/// Byte ranges of every word of `query` in `hay`, sorted, overlaps merged.
pub fn word_ranges(hay: &str, query: &str) -> Vec<std::ops::Range<usize>> {
    let mut all: Vec<_> = words(query).flat_map(|w| match_ranges(hay, w)).collect();
    all.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<std::ops::Range<usize>> = Vec::with_capacity(all.len());
    for r in all {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    strop_common::search::contains(hay, needle)
}

/// The whole screen's state.
#[derive(Debug)]
pub struct State {
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    /// The server in use; empty until one is chosen.
    pub server: String,
    pub server_input: Input,
    pub server_error: Option<String>,
    /// Whose token to look for at start-up (`--user`, else the settings'
    /// last user), then the last one logged in.
    pub last_user: Option<String>,
    pub keyring: Keyring,
    pub conn: Conn,
    /// Failed `/healthz` probes in a row while offline; `None` when no
    /// probe is scheduled.
    pub probe: Option<u32>,
    /// Mouse reports are on (wheel and clicks are ours).
    pub mouse: bool,
    pub live: Live,
    /// Where things were drawn, for mouse clicks.
    pub areas: Areas,
    /// Shows entry times in the chosen zone (UTC unless told otherwise).
    pub clock: Clock,
    /// The history list shows "5m ago" instead of the date (F4 switches).
    pub relative_times: bool,
    /// The time of the frame being drawn (set by the runtime; relative
    /// times need it and the view reads no clock itself).
    pub now: Option<jiff::Timestamp>,
    /// Requests in flight, oldest first; the spinner turns while any is.
    pub activities: Vec<Activity>,
    /// The last thing that went wrong, in plain words.
    pub last_error: Option<String>,
    /// The last thing worth telling that is not an error.
    pub notice: Option<String>,
    /// Ticks since `notice` last changed: it goes after `NOTICE_TICKS`.
    pub notice_age: u32,
    pub login: LoginForm,
    pub main: MainPane,
    pub history: History,
    /// Spinner frame; advanced by the tick only while something is in flight.
    pub spinner: usize,
    /// The server refused this token: looking in the keyring for the one
    /// a login elsewhere on this machine replaced it with.
    pub adopting: Option<SecretString>,
    /// `./run` started the server and stops it when strop ends
    /// (`STROP_RUN_OWNS_SERVER`): quitting asks first.
    pub stops_server: bool,
    /// A letter the list does not know came in: the person is typing into
    /// the wrong pane, so letters do nothing until another key comes.
    pub stray_typing: bool,
    /// Ticks since the last key: a pause tells a key pressed on purpose
    /// (the notice's `i`) from one more letter of a word typed on.
    pub keys_idle: u32,
    /// The detail view the delete question was asked from: a no goes back
    /// to it.
    pub delete_from: Option<Detail>,
    pub quit: bool,
}

impl State {
    pub fn new() -> Self {
        Self {
            screen: Screen::Server,
            overlay: None,
            server: String::new(),
            server_input: Input::new(DEFAULT_SERVER.into()),
            server_error: None,
            last_user: None,
            keyring: Keyring::Opening,
            conn: Conn::Unknown,
            probe: None,
            mouse: false,
            live: Live::default(),
            areas: Areas::default(),
            clock: Clock::new(&Zone::Utc),
            relative_times: false,
            now: None,
            activities: Vec::new(),
            last_error: None,
            notice: None,
            notice_age: 0,
            login: LoginForm::default(),
            main: MainPane::default(),
            history: History {
                next_local_id: -1,
                ..History::default()
            },
            spinner: 0,
            adopting: None,
            stops_server: false,
            stray_typing: false,
            keys_idle: 0,
            delete_from: None,
            quit: false,
        }
    }

    /// Who is logged in, if anyone.
    pub fn session(&self) -> Option<&Session> {
        match &self.screen {
            Screen::Main(session) => Some(session),
            _ => None,
        }
    }

    pub fn busy(&self) -> bool {
        !self.activities.is_empty()
    }

    /// The runtime's tick is needed: the spinner turns, or a notice ages.
    pub fn ticking(&self) -> bool {
        self.busy() || self.notice.is_some()
    }

    pub fn start(&mut self, a: Activity) {
        self.activities.push(a);
    }

    /// Marks one `a` as answered (whatever the answer was).
    pub fn finish(&mut self, a: Activity) {
        if let Some(i) = self.activities.iter().position(|x| *x == a) {
            self.activities.remove(i);
        }
    }

    /// What the status bar says we are waiting for, newest first.
    pub fn waiting_for(&self) -> Option<String> {
        self.activities.last().map(|a| a.label())
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_ranges_is_case_insensitive_and_non_overlapping() {
        assert_eq!(match_ranges("Hello hello", "HEL"), vec![0..3, 6..9]);
        assert_eq!(match_ranges("aaaa", "aa"), vec![0..2, 2..4]);
        assert_eq!(
            match_ranges("abc", ""),
            Vec::<std::ops::Range<usize>>::new()
        );
        assert_eq!(match_ranges("ÄÖü x", "äö"), vec![0..4]);
        assert!(match_ranges("abc", "abcd").is_empty());
    }

    #[test]
    fn admits_follows_filter_and_query() {
        let mut h = History::default();
        assert!(h.admits(Function::Reverse, "a", "b"));
        h.filter = Some(Function::Piglatin);
        assert!(!h.admits(Function::Reverse, "a", "b"));
        h.filter = None;
        h.applied_query = "XY".into();
        assert!(h.admits(Function::Reverse, "wxyz", "b"));
        assert!(h.admits(Function::Reverse, "a", "xy"));
        assert!(!h.admits(Function::Reverse, "a", "b"));
    }

    #[test]
    fn secret_is_redacted() {
        assert!(!format!("{:?}", SecretString::from("abc")).contains("abc"));
    }

    #[test]
    fn every_word_must_match_in_any_order() {
        let h = History {
            applied_query: "bulk  ALPHA".into(),
            ..History::default()
        };
        assert!(h.admits(Function::Reverse, "alpha then bulk", "x"));
        assert!(h.admits(Function::Reverse, "alpha", "bulk"));
        assert!(!h.admits(Function::Reverse, "alpha", "x"));
        assert_eq!(
            word_ranges("alpha bulk alp", "bulk al"),
            vec![0..2, 6..10, 11..13]
        );
        assert_eq!(word_ranges("abcd", "abc bcd"), vec![0..4]);
    }
}
