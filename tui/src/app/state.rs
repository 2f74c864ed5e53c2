//! Everything the screen shows, and nothing else: no handles, no I/O.

use std::cell::Cell;

use strop_common::{Function, HistoryEntry, HistoryQuery};
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
pub const SESSION_EXPIRED: &str = "Your session expired or was revoked; please log in again.";

/// A token: kept out of `Debug` output so it never lands in a log or panic.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Which full screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Checking a stored or given token before deciding where to land.
    Connecting,
    /// Asking for the server address (first run, or the user asked to change it).
    Server,
    /// Log in or register.
    Login,
    /// Input, output and history.
    Main,
}

/// A window drawn over the screen; it takes the keys while it is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help { scroll: u16 },
    Detail(Detail),
    ConfirmLogout,
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
    (super::keymap::KEYMAP.len() + 2 * contexts.len() + 1) as u16
}

/// What we know about reaching the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    Unknown,
    Online,
    Offline,
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

/// Log in with an existing account, or create one first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMode {
    Login,
    Register,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginField {
    Username,
    Password,
}

#[derive(Debug, Clone)]
pub struct LoginForm {
    pub username: Input,
    /// Drawn masked; cleared as soon as it has been used.
    pub password: Input,
    pub focus: LoginField,
    pub mode: LoginMode,
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
            focus: LoginField::Username,
            mode: LoginMode::Login,
            error: None,
            busy: false,
        }
    }
}

/// Which part of the main screen gets typed keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Input,
    History,
    Search,
}

/// The last operation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub function: Function,
    pub input: String,
    pub output: String,
}

#[derive(Debug, Clone)]
pub struct MainPane {
    pub input: Input,
    pub function: Function,
    pub output: Option<Output>,
    pub focus: Focus,
    /// Operations sent and not yet answered.
    pub running: usize,
}

impl Default for MainPane {
    fn default() -> Self {
        Self {
            input: Input::default(),
            function: Function::Reverse,
            output: None,
            focus: Focus::Input,
            running: 0,
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

    /// Whether an entry belongs in the current filtered and searched view.
    pub fn admits(&self, function: Function, input: &str, output: &str) -> bool {
        if self.filter.is_some_and(|f| f != function) {
            return false;
        }
        let q = &self.applied_query;
        q.is_empty() || contains_ignore_case(input, q) || contains_ignore_case(output, q)
    }

    pub fn selected_entry(&self) -> Option<&HistoryEntry> {
        self.entries.get(self.selected)
    }
}

/// Byte ranges of `needle` in `hay`, compared case-insensitively char by char
/// (the server's `q` is a case-insensitive substring too).
pub fn match_ranges(hay: &str, needle: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    if needle.is_empty() {
        return out;
    }
    let n: Vec<char> = needle.chars().collect();
    let mut skip_until = 0;
    for (start, _) in hay.char_indices() {
        if start < skip_until {
            continue;
        }
        let mut hay_chars = hay[start..].char_indices();
        let mut end = start;
        let mut ok = true;
        for nc in &n {
            match hay_chars.next() {
                Some((i, hc)) if same_ignore_case(hc, *nc) => end = start + i + hc.len_utf8(),
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            out.push(start..end);
            skip_until = end;
        }
    }
    out
}

pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    needle.is_empty() || !match_ranges(hay, needle).is_empty()
}

fn same_ignore_case(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
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
    pub user: Option<String>,
    pub token: Option<Secret>,
    /// The token came from `STROP_TOKEN`: never stored, never deleted.
    pub token_from_env: bool,
    /// Settings' last user: whose token to look for at start-up.
    pub last_user: Option<String>,
    pub keyring: Keyring,
    pub conn: Conn,
    /// Requests in flight, oldest first; the spinner turns while any is.
    pub activities: Vec<Activity>,
    /// The last thing that went wrong, in plain words.
    pub last_error: Option<String>,
    /// The last thing worth telling that is not an error.
    pub notice: Option<String>,
    pub login: LoginForm,
    pub main: MainPane,
    pub history: History,
    /// Spinner frame; advanced by the tick only while something is in flight.
    pub spinner: usize,
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
            user: None,
            token: None,
            token_from_env: false,
            last_user: None,
            keyring: Keyring::Opening,
            conn: Conn::Unknown,
            activities: Vec::new(),
            last_error: None,
            notice: None,
            login: LoginForm::default(),
            main: MainPane::default(),
            history: History {
                next_local_id: -1,
                ..History::default()
            },
            spinner: 0,
            quit: false,
        }
    }

    pub fn busy(&self) -> bool {
        !self.activities.is_empty()
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
        assert!(!format!("{:?}", Secret("abc".into())).contains("abc"));
    }
}
