//! (state, message) -> state changes + effects. No I/O here: the runtime runs
//! the effects and sends their results back as messages.

use std::time::Duration;

use crossterm::event::{KeyEvent, KeyEventKind};
use strop_common::{Function, HistoryEntry, HistoryQuery, HistoryResponse};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::keymap::{self, Action, Context};
use super::state::*;

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

/// Everything that can happen to the app.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
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
    SessionVerified {
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
    VerifySession {
        server: String,
        token: Secret,
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
    SaveSettings {
        server: String,
        last_user: Option<String>,
    },
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
    Quit,
}

/// What start-up knows before any I/O.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// Normalized server from the flag, the environment or the settings.
    pub server: Option<String>,
    /// Why the flag/env server was not usable, if it was not.
    pub server_error: Option<String>,
    pub last_user: Option<String>,
    /// `STROP_TOKEN`.
    pub env_token: Option<String>,
    /// A problem with the settings file, worth telling.
    pub settings_error: Option<String>,
}

/// The first state and the effects that get things going.
pub fn init(start: Start) -> (State, Vec<Effect>) {
    let mut s = State::new();
    s.last_user = start.last_user.clone();
    s.last_error = start.settings_error;
    let mut fx = Vec::new();
    if start.env_token.is_some() {
        s.keyring = Keyring::Overridden;
    } else {
        s.start(Activity::OpenKeyring);
        fx.push(Effect::OpenKeyring);
    }
    if let Some(name) = &start.last_user {
        s.login.username = Input::new(name.clone());
        s.login.focus = LoginField::Password;
    }
    let Some(server) = start.server else {
        s.screen = Screen::Server;
        s.server_error = start.server_error;
        return (s, fx);
    };
    s.server = server.clone();
    s.server_input = Input::new(server.clone());
    if let Some(token) = start.env_token {
        s.token_from_env = true;
        s.screen = Screen::Connecting;
        s.start(Activity::VerifySession);
        fx.push(Effect::VerifySession {
            server,
            token: Secret(token),
        });
    } else if start.last_user.is_some() {
        // Wait for the keyring to open, then look the token up.
        s.screen = Screen::Connecting;
    } else {
        s.screen = Screen::Login;
        s.start(Activity::CheckServer);
        fx.push(Effect::CheckServer { server });
    }
    (s, fx)
}

/// Applies one message.
pub fn update(s: &mut State, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(key) => {
            // Windows also reports releases; a press is what counts.
            if key.kind != KeyEventKind::Release {
                on_key(s, key, &mut fx);
            }
        }
        Msg::Paste(text) => on_paste(s, &text, &mut fx),
        Msg::Tick => {
            if s.busy() {
                s.spinner = s.spinner.wrapping_add(1);
            }
        }
        Msg::KeyringOpened(result) => {
            s.finish(Activity::OpenKeyring);
            match result {
                Ok(backend) => {
                    s.keyring = Keyring::Ready(backend);
                    // Logged in before the keyring opened: store the token now.
                    if let (Screen::Main, Some(token), Some(user), false) =
                        (s.screen, &s.token, &s.user, s.token_from_env)
                    {
                        fx.push(Effect::StoreToken {
                            server: s.server.clone(),
                            user: user.clone(),
                            token: token.clone(),
                        });
                    }
                    if s.screen == Screen::Connecting && !s.token_from_env {
                        match s.last_user.clone() {
                            Some(user) if !s.server.is_empty() => {
                                s.start(Activity::LoadToken);
                                fx.push(Effect::LoadToken {
                                    server: s.server.clone(),
                                    user,
                                });
                            }
                            _ => to_login(s, None, &mut fx),
                        }
                    }
                }
                Err(reason) => {
                    s.keyring = Keyring::Unavailable(reason.clone());
                    s.last_error = Some(reason);
                    if s.screen == Screen::Connecting && !s.token_from_env {
                        to_login(s, None, &mut fx);
                    }
                }
            }
        }
        Msg::ServerChecked { input, result } => {
            s.finish(Activity::CheckServer);
            match result {
                Ok(server) => {
                    s.conn = Conn::Online;
                    if s.screen == Screen::Server && s.server_input.value().trim() == input {
                        s.server = server.clone();
                        s.server_error = None;
                        s.screen = Screen::Login;
                        s.login.error = None;
                        fx.push(Effect::SaveSettings {
                            server,
                            last_user: s.last_user.clone(),
                        });
                    }
                }
                Err(f) => {
                    note_failure(s, &f);
                    if s.screen == Screen::Server && s.server_input.value().trim() == input {
                        s.server_error = Some(f.message);
                    }
                }
            }
        }
        Msg::TokenLoaded { result } => {
            s.finish(Activity::LoadToken);
            match result {
                Ok(Some(token)) => {
                    s.token = Some(token.clone());
                    s.start(Activity::VerifySession);
                    fx.push(Effect::VerifySession {
                        server: s.server.clone(),
                        token,
                    });
                }
                Ok(None) => to_login(s, None, &mut fx),
                Err(reason) => to_login(s, Some(reason), &mut fx),
            }
        }
        Msg::SessionVerified { result } => {
            s.finish(Activity::VerifySession);
            match result {
                Ok(user) => {
                    s.conn = Conn::Online;
                    s.user = Some(user);
                    enter_main(s, &mut fx);
                }
                Err(f) if f.kind == FailureKind::Auth => session_expired(s, &mut fx),
                Err(f) => {
                    // The server is down or odd: we cannot check the token, so
                    // keep it and land in main; the status bar says what is wrong.
                    note_failure(s, &f);
                    if s.user.is_none() {
                        s.user = s.last_user.clone().filter(|_| !s.token_from_env);
                    }
                    enter_main(s, &mut fx);
                }
            }
        }
        Msg::Registered { username, result } => {
            s.finish(Activity::Register);
            match result {
                Ok(()) => {
                    s.conn = Conn::Online;
                    s.notice = Some(format!("Registered \"{username}\"."));
                    // Log straight in with the same password.
                    let password = Secret(s.login.password.value().to_string());
                    s.start(Activity::LogIn);
                    fx.push(Effect::Authenticate {
                        server: s.server.clone(),
                        username,
                        password,
                    });
                }
                Err(f) => {
                    s.login.busy = false;
                    note_failure(s, &f);
                    s.login.error = Some(f.message);
                }
            }
        }
        Msg::Authenticated { username, result } => {
            s.finish(Activity::LogIn);
            s.login.busy = false;
            match result {
                Ok(token) => {
                    s.conn = Conn::Online;
                    s.login.password.reset();
                    s.login.error = None;
                    s.login.mode = LoginMode::Login;
                    s.token = Some(token.clone());
                    s.token_from_env = false;
                    s.user = Some(username.clone());
                    s.last_user = Some(username.clone());
                    s.last_error = None;
                    // Opening: stored once it opens (see KeyringOpened).
                    if matches!(s.keyring, Keyring::Ready(_)) {
                        fx.push(Effect::StoreToken {
                            server: s.server.clone(),
                            user: username.clone(),
                            token,
                        });
                    }
                    fx.push(Effect::SaveSettings {
                        server: s.server.clone(),
                        last_user: Some(username),
                    });
                    enter_main(s, &mut fx);
                }
                Err(f) => {
                    note_failure(s, &f);
                    s.login.error = Some(f.message);
                }
            }
        }
        Msg::TokenStored(result) => {
            if let Err(reason) = result {
                s.last_error = Some(format!(
                    "{reason} You stay logged in until you quit; set STROP_TOKEN to skip the login next time."
                ));
            }
        }
        Msg::TokenDeleted(result) | Msg::SettingsSaved(result) => {
            if let Err(reason) = result {
                s.last_error = Some(reason);
            }
        }
        Msg::Ran {
            function,
            input,
            result,
            at,
        } => {
            s.finish(Activity::Run(function));
            s.main.running = s.main.running.saturating_sub(1);
            match result {
                Ok(output) => {
                    s.conn = Conn::Online;
                    s.last_error = None;
                    s.notice = None;
                    if s.history.admits(function, &input, &output) {
                        add_local_entry(s, function, &input, &output, at);
                    }
                    s.main.output = Some(Output {
                        function,
                        input,
                        output,
                    });
                    // Fetch the newest page so the local row gets its real id.
                    load_history(s, None, false, &mut fx);
                }
                Err(f) if f.kind == FailureKind::Auth => session_expired(s, &mut fx),
                Err(f) => note_failure(s, &f),
            }
        }
        Msg::HistoryLoaded {
            generation,
            before,
            result,
        } => {
            s.finish(Activity::LoadHistory);
            if generation != s.history.generation || s.screen != Screen::Main {
                return fx;
            }
            s.history.loading = false;
            match result {
                Ok(page) => {
                    s.conn = Conn::Online;
                    merge_page(&mut s.history, before, page);
                    maybe_prefetch(s, &mut fx);
                }
                Err(f) if f.kind == FailureKind::Auth => session_expired(s, &mut fx),
                Err(f) => note_failure(s, &f),
            }
        }
        Msg::SearchDue(ticket) => {
            if ticket == s.history.search_ticket && s.screen == Screen::Main {
                let q = s.history.search.value().to_string();
                if q != s.history.applied_query {
                    s.history.applied_query = q;
                    reload_history(s, &mut fx);
                }
            }
        }
        Msg::LoggedOut(result) => {
            s.finish(Activity::LogOut);
            let user = s.user.take();
            if let Err(f) = &result
                && f.kind != FailureKind::Auth
            {
                note_failure(s, f);
            }
            if let Some(user) = &user {
                forget_token(s, user.clone(), &mut fx);
            }
            s.token = None;
            s.token_from_env = false;
            let notice = match result {
                Ok(()) => "Logged out.".to_string(),
                Err(f) if f.kind == FailureKind::Auth => "Logged out.".to_string(),
                Err(_) => "Logged out here; the server could not be told.".to_string(),
            };
            s.notice = Some(notice);
            s.screen = Screen::Login;
            s.login = LoginForm {
                username: Input::new(user.unwrap_or_default()),
                focus: LoginField::Password,
                ..LoginForm::default()
            };
            clear_session_view(s);
        }
    }
    fx
}

fn note_failure(s: &mut State, f: &Failure) {
    if f.kind == FailureKind::Unreachable {
        s.conn = Conn::Offline;
    } else {
        s.conn = Conn::Online;
    }
    s.last_error = Some(f.message.clone());
}

fn to_login(s: &mut State, error: Option<String>, fx: &mut Vec<Effect>) {
    s.screen = Screen::Login;
    s.login.error = error;
    if s.conn == Conn::Unknown && !s.server.is_empty() {
        s.start(Activity::CheckServer);
        fx.push(Effect::CheckServer {
            server: s.server.clone(),
        });
    }
}

/// A token was refused: drop it (and its keyring entry) and ask to log in.
fn session_expired(s: &mut State, fx: &mut Vec<Effect>) {
    s.conn = Conn::Online;
    let user = s.user.take().or_else(|| s.last_user.clone());
    if let Some(user) = &user {
        forget_token(s, user.clone(), fx);
        s.login.username = Input::new(user.clone());
        s.login.focus = LoginField::Password;
    }
    s.token = None;
    s.token_from_env = false;
    s.overlay = None;
    s.screen = Screen::Login;
    s.login.error = Some(SESSION_EXPIRED.into());
    s.last_error = None;
    clear_session_view(s);
}

fn forget_token(s: &State, user: String, fx: &mut Vec<Effect>) {
    if !s.token_from_env && matches!(s.keyring, Keyring::Ready(_)) && !s.server.is_empty() {
        fx.push(Effect::DeleteToken {
            server: s.server.clone(),
            user,
        });
    }
}

fn clear_session_view(s: &mut State) {
    s.overlay = None;
    s.main = MainPane::default();
    s.history = History {
        generation: s.history.generation + 1,
        next_local_id: -1,
        ..History::default()
    };
}

fn enter_main(s: &mut State, fx: &mut Vec<Effect>) {
    s.screen = Screen::Main;
    s.main.focus = Focus::Input;
    reload_history(s, fx);
}

/// The query changed (or a refresh): start over from the newest page.
fn reload_history(s: &mut State, fx: &mut Vec<Effect>) {
    s.history.generation += 1;
    s.history.loading = false;
    s.history.loaded = false;
    load_history(s, None, true, fx);
}

fn load_history(s: &mut State, before: Option<i64>, mark_loading: bool, fx: &mut Vec<Effect>) {
    let Some(token) = s.token.clone() else {
        return;
    };
    if mark_loading {
        s.history.loading = true;
    }
    s.start(Activity::LoadHistory);
    fx.push(Effect::LoadHistory {
        server: s.server.clone(),
        token,
        generation: s.history.generation,
        query: s.history.query(before),
    });
}

/// Older pages load as the selection comes near the end of what is loaded.
fn maybe_prefetch(s: &mut State, fx: &mut Vec<Effect>) {
    let h = &s.history;
    if h.loading || !h.loaded {
        return;
    }
    if let Some(before) = h.next_before
        && h.selected + PREFETCH_MARGIN >= h.entries.len()
    {
        load_history(s, Some(before), true, fx);
    }
}

/// Folds a page (oldest first) into the newest-first list.
fn merge_page(h: &mut History, before: Option<i64>, page: HistoryResponse) {
    let next_before = page.older_page();
    let mut rows: Vec<HistoryEntry> = page.history;
    rows.reverse();
    match before {
        Some(_) => {
            // An older page: append what is older than what we have.
            let oldest = h.entries.iter().filter(|e| e.id > 0).map(|e| e.id).min();
            rows.retain(|e| oldest.is_none_or(|o| e.id < o));
            h.entries.extend(rows);
            h.next_before = next_before;
        }
        None if !h.loaded => {
            h.entries = rows;
            h.next_before = next_before;
            h.selected = 0;
            h.offset.set(0);
        }
        None => {
            // The newest page again (after a run): it replaces everything at
            // least as new as its oldest row, local rows included; older rows stay.
            let selected_id = h.selected_entry().map(|e| e.id);
            let floor = rows.last().map(|e| e.id);
            let keep: Vec<HistoryEntry> = match (floor, next_before) {
                (Some(floor), Some(_)) => h
                    .entries
                    .drain(..)
                    .filter(|e| e.id > 0 && e.id < floor)
                    .collect(),
                _ => Vec::new(),
            };
            if keep.is_empty() {
                h.next_before = next_before;
            }
            rows.extend(keep);
            h.entries = rows;
            h.selected = match selected_id {
                Some(id) if id > 0 => h.entries.iter().position(|e| e.id == id).unwrap_or(0),
                _ => 0,
            };
        }
    }
    h.loaded = true;
    if h.selected >= h.entries.len() {
        h.selected = h.entries.len().saturating_sub(1);
    }
}

fn add_local_entry(
    s: &mut State,
    function: Function,
    input: &str,
    output: &str,
    at: (String, String),
) {
    let id = s.history.next_local_id;
    s.history.next_local_id -= 1;
    s.history.entries.insert(
        0,
        HistoryEntry {
            function,
            id,
            input: input.to_string(),
            output: output.to_string(),
            time: at.0,
            timestamp: at.1,
            user: s.user.clone().unwrap_or_default(),
        },
    );
    // Keep the same row selected, unless that was the newest: then the new
    // row is.
    if s.history.selected > 0 {
        s.history.selected += 1;
    }
}

fn run_current(s: &mut State, fx: &mut Vec<Effect>) {
    let Some(token) = s.token.clone() else {
        s.last_error = Some("You are not logged in; please log in first.".into());
        return;
    };
    let function = s.main.function;
    let input = s.main.input.value().to_string();
    s.main.running += 1;
    s.start(Activity::Run(function));
    fx.push(Effect::Run {
        server: s.server.clone(),
        token,
        function,
        input,
    });
}

fn rerun(s: &mut State, entry: &HistoryEntry, fx: &mut Vec<Effect>) {
    s.main.input = Input::new(entry.input.clone());
    s.main.function = entry.function;
    s.main.focus = Focus::Input;
    s.overlay = None;
    run_current(s, fx);
}

fn contexts(s: &State) -> Vec<Context> {
    match (&s.overlay, s.screen) {
        (Some(Overlay::Help { .. }), _) => vec![Context::Help, Context::Global],
        (Some(Overlay::Detail(_)), _) => vec![Context::Detail, Context::Global],
        (Some(Overlay::ConfirmLogout), _) => vec![Context::ConfirmLogout, Context::Global],
        (None, Screen::Connecting) => vec![Context::Global],
        (None, Screen::Server) => vec![Context::Server, Context::Global],
        (None, Screen::Login) => vec![Context::Login, Context::Global],
        (None, Screen::Main) => {
            let focus = match s.main.focus {
                Focus::Input => Context::Input,
                Focus::History => Context::History,
                Focus::Search => Context::Search,
            };
            vec![focus, Context::Main, Context::Global]
        }
    }
}

fn on_key(s: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    match keymap::lookup(&contexts(s), &key) {
        Some(action) => on_action(s, action, fx),
        None => {
            // Unbound keys edit whichever text field has focus.
            if let Some(req) = to_input_request(&crossterm::event::Event::Key(key)) {
                edit_focused(s, req, fx);
            }
        }
    }
}

fn on_paste(s: &mut State, text: &str, fx: &mut Vec<Effect>) {
    // Fields are one line: newlines in a paste become spaces.
    for ch in text.chars() {
        let ch = if ch == '\n' || ch == '\r' { ' ' } else { ch };
        edit_focused(s, InputRequest::InsertChar(ch), fx);
    }
}

fn edit_focused(s: &mut State, req: InputRequest, fx: &mut Vec<Effect>) {
    if s.overlay.is_some() {
        return;
    }
    match s.screen {
        Screen::Server => {
            s.server_input.handle(req);
        }
        Screen::Login if !s.login.busy => match s.login.focus {
            LoginField::Username => {
                s.login.username.handle(req);
            }
            LoginField::Password => {
                s.login.password.handle(req);
            }
        },
        Screen::Main => match s.main.focus {
            Focus::Input => {
                s.main.input.handle(req);
            }
            Focus::Search => {
                let changed = s.history.search.handle(req).is_some_and(|c| c.value);
                if changed {
                    s.history.search_ticket += 1;
                    fx.push(Effect::Debounce {
                        ticket: s.history.search_ticket,
                        after: Duration::from_millis(SEARCH_DEBOUNCE_MS),
                    });
                }
            }
            // Letters are commands in the list (j, k, r, f, ...); search
            // has its own box (/ or Ctrl+F).
            Focus::History => {}
        },
        _ => {}
    }
}

fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    use Action::*;
    match action {
        Quit => {
            s.quit = true;
            fx.push(Effect::Quit);
        }
        Help => {
            s.overlay = match s.overlay {
                Some(Overlay::Help { .. }) => None,
                _ => Some(Overlay::Help { scroll: 0 }),
            };
        }
        Close | Cancel => s.overlay = None,
        Confirm => {
            s.overlay = None;
            match s.token.clone() {
                Some(token) => {
                    s.start(Activity::LogOut);
                    fx.push(Effect::Logout {
                        server: s.server.clone(),
                        token,
                    });
                }
                None => {
                    let fake = Ok(());
                    fx.extend(update(s, Msg::LoggedOut(fake)));
                }
            }
        }
        Submit => submit(s, fx),
        NextField | PrevField => {
            s.login.focus = match s.login.focus {
                LoginField::Username => LoginField::Password,
                LoginField::Password => LoginField::Username,
            };
        }
        ToggleMode => {
            s.login.mode = match s.login.mode {
                LoginMode::Login => LoginMode::Register,
                LoginMode::Register => LoginMode::Login,
            };
            s.login.error = None;
        }
        ChangeServer => {
            s.screen = Screen::Server;
            s.server_input = Input::new(if s.server.is_empty() {
                DEFAULT_SERVER.into()
            } else {
                s.server.clone()
            });
            s.server_error = None;
        }
        SwitchFunction => {
            s.main.function = match s.main.function {
                Function::Reverse => Function::Piglatin,
                Function::Piglatin => Function::Reverse,
            };
        }
        FocusNext => {
            s.main.focus = match s.main.focus {
                Focus::Input => Focus::History,
                Focus::History => Focus::Search,
                Focus::Search => Focus::Input,
            };
        }
        FocusPrev => {
            s.main.focus = match s.main.focus {
                Focus::Input => Focus::Search,
                Focus::History => Focus::Input,
                Focus::Search => Focus::History,
            };
        }
        FocusInput => s.main.focus = Focus::Input,
        FocusHistory => s.main.focus = Focus::History,
        Search => s.main.focus = Focus::Search,
        ClearSearch => {
            s.main.focus = Focus::History;
            if !s.history.search.value().is_empty() {
                s.history.search.reset();
                s.history.search_ticket += 1;
                if !s.history.applied_query.is_empty() {
                    s.history.applied_query.clear();
                    reload_history(s, fx);
                }
            }
        }
        CycleFilter => {
            s.history.filter = match s.history.filter {
                None => Some(Function::Reverse),
                Some(Function::Reverse) => Some(Function::Piglatin),
                Some(Function::Piglatin) => None,
            };
            reload_history(s, fx);
        }
        Refresh => {
            s.last_error = None;
            reload_history(s, fx);
        }
        Logout => s.overlay = Some(Overlay::ConfirmLogout),
        Up | Down | PageUp | PageDown | Top | Bottom => move_selection(s, action, fx),
        OpenDetail => {
            if let Some(entry) = s.history.selected_entry() {
                s.overlay = Some(Overlay::Detail(Detail::new(entry.clone())));
            }
        }
        Rerun => {
            let entry = match &s.overlay {
                Some(Overlay::Detail(d)) => Some(d.entry.clone()),
                _ => s.history.selected_entry().cloned(),
            };
            if let Some(entry) = entry {
                rerun(s, &entry, fx);
            }
        }
    }
}

/// Rows a page key moves; the list is at least this tall at 80x24.
const PAGE_ROWS: usize = 10;

fn move_selection(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    match &mut s.overlay {
        Some(Overlay::Detail(d)) => {
            d.scroll = scroll(d.scroll, action).min(d.max_scroll.get());
            return;
        }
        Some(Overlay::Help { scroll: sc }) => {
            *sc = scroll(*sc, action).min(help_len());
            return;
        }
        _ => {}
    }
    let h = &mut s.history;
    let last = h.entries.len().saturating_sub(1);
    h.selected = match action {
        Action::Up => h.selected.saturating_sub(1),
        Action::Down => (h.selected + 1).min(last),
        Action::PageUp => h.selected.saturating_sub(PAGE_ROWS),
        Action::PageDown => (h.selected + PAGE_ROWS).min(last),
        Action::Top => 0,
        _ => last,
    };
    maybe_prefetch(s, fx);
}

fn scroll(at: u16, action: Action) -> u16 {
    match action {
        Action::Up => at.saturating_sub(1),
        Action::Down => at.saturating_add(1),
        Action::PageUp => at.saturating_sub(PAGE_ROWS as u16),
        Action::PageDown => at.saturating_add(PAGE_ROWS as u16),
        Action::Top => 0,
        _ => at,
    }
}

fn submit(s: &mut State, fx: &mut Vec<Effect>) {
    match s.screen {
        Screen::Server => {
            let server = s.server_input.value().trim().to_string();
            s.server_input = Input::new(server.clone());
            s.server_error = None;
            s.start(Activity::CheckServer);
            fx.push(Effect::CheckServer { server });
        }
        Screen::Login => {
            if s.login.busy {
                return;
            }
            let username = s.login.username.value().to_string();
            let password = s.login.password.value().to_string();
            if s.login.focus == LoginField::Username && password.is_empty() {
                s.login.focus = LoginField::Password;
                return;
            }
            if username.is_empty() {
                s.login.error = Some("Enter a username.".into());
                s.login.focus = LoginField::Username;
                return;
            }
            if password.is_empty() {
                s.login.error = Some("Enter a password.".into());
                s.login.focus = LoginField::Password;
                return;
            }
            s.login.error = None;
            s.login.busy = true;
            s.notice = None;
            let server = s.server.clone();
            let password = Secret(password);
            match s.login.mode {
                LoginMode::Login => {
                    s.start(Activity::LogIn);
                    fx.push(Effect::Authenticate {
                        server,
                        username,
                        password,
                    });
                }
                LoginMode::Register => {
                    s.start(Activity::Register);
                    fx.push(Effect::Register {
                        server,
                        username,
                        password,
                    });
                }
            }
        }
        Screen::Main => run_current(s, fx),
        Screen::Connecting => {}
    }
}

#[cfg(test)]
mod tests;
