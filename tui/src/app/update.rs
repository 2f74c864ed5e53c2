//! (state, message) -> state changes + effects. No I/O here: the runtime runs
//! the effects and sends their results back as messages.
//!
//! This module routes a message to the part it concerns, one sub-update per
//! screen: [`server`] (the address screen), [`login`], [`main_screen`] (input,
//! runs, output) with [`history`] (the list, search, paging), and [`account`]
//! for what is no screen's own: start-up, the keyring, the session, the
//! connection.

mod account;
mod history;
mod live;
mod login;
mod main_screen;
mod server;
mod sessions;

use std::time::Duration;

use crossterm::event::{KeyEvent, KeyEventKind, MouseEvent};
use strop_common::{Function, HistoryQuery, HistoryResponse, SessionsResponse};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::keymap::{self, Action, Context};
use super::state::*;
use crate::session::Launch;

pub use live::{FRESH_FOR, LiveEvent};

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
    /// From the live history stream number `stream`.
    Live {
        stream: u64,
        event: LiveEvent,
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

/// What start-up knows before any I/O.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// Normalized server from the flag, the environment or the settings.
    pub server: Option<String>,
    /// Why the flag/env server was not usable, if it was not.
    pub server_error: Option<String>,
    /// Whose token to look for: `--user`/`STROP_USER`, else the last user
    /// saved for that server.
    pub last_user: Option<String>,
    /// `STROP_TOKEN`.
    pub env_token: Option<Secret>,
    /// A problem with the settings file, worth telling.
    pub settings_error: Option<String>,
    /// The function chosen last time.
    pub function: Option<Function>,
    /// Mouse reports are on.
    pub mouse: bool,
}

impl Start {
    /// The TUI's start, from the same [`Launch`] the scripting commands use:
    /// one precedence for server, user and token.
    pub fn from_launch(launch: &Launch) -> Start {
        let mut start = Start {
            settings_error: launch.settings_error.as_ref().map(ToString::to_string),
            env_token: launch.env_token.clone().map(Secret::new),
            ..Start::default()
        };
        match launch.server() {
            // Nothing named a server: the first run asks for one.
            Ok((_, crate::session::ServerSource::Default)) => {}
            Ok((server, _)) => {
                start.last_user = launch.user_for(&server);
                start.server = Some(server);
            }
            Err(e) => start.server_error = Some(e.to_string()),
        }
        if start.server.is_none() {
            start.last_user = launch.user_arg.clone();
        }
        start
    }
}

/// The first state and the effects that get things going.
pub fn init(start: Start) -> (State, Vec<Effect>) {
    let mut s = State::new();
    s.last_user = start.last_user.clone();
    s.last_error = start.settings_error;
    s.mouse = start.mouse;
    if let Some(f) = start.function {
        s.main.function = f;
    }
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
        s.screen = Screen::Connecting;
        s.start(Activity::VerifySession);
        fx.push(Effect::VerifySession {
            session: Session {
                server,
                user: start.last_user.unwrap_or_default(),
                token,
                source: TokenSource::Env,
            },
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
        Msg::Mouse(ev) => {
            if s.mouse {
                main_screen::on_mouse(s, ev, &mut fx);
            }
        }
        Msg::Tick => {
            if s.busy() {
                s.spinner = s.spinner.wrapping_add(1);
            }
        }
        Msg::ServerChecked { input, result } => server::checked(s, input, result, &mut fx),
        Msg::Registered { username, result } => login::registered(s, username, result, &mut fx),
        Msg::Authenticated { username, result } => {
            login::authenticated(s, username, result, &mut fx)
        }
        Msg::Ran {
            function,
            input,
            result,
            at,
        } => main_screen::ran(s, function, input, result, at, &mut fx),
        Msg::HistoryLoaded {
            generation,
            before,
            result,
        } => history::loaded(s, generation, before, result, &mut fx),
        Msg::SearchDue(ticket) => history::search_due(s, ticket, &mut fx),
        Msg::Live { stream, event } => live::event(s, stream, event, &mut fx),
        Msg::Unmark(id) => live::unmark(s, id),
        Msg::SessionsLoaded(result) => sessions::loaded(s, result, &mut fx),
        Msg::SessionsRevoked(result) => sessions::revoked(s, result, &mut fx),
        Msg::Copied {
            what,
            chars,
            result,
        } => match result {
            Ok(()) => {
                s.notice = Some(format!(
                    "Copied {what} ({chars} characters) to the clipboard."
                ))
            }
            Err(reason) => s.last_error = Some(format!("Could not copy {what}: {reason}.")),
        },
        other => account::update(s, other, &mut fx),
    }
    fx
}

/// Where keys are looked up, most specific first.
fn contexts(s: &State) -> Vec<Context> {
    match (&s.overlay, &s.screen) {
        (Some(Overlay::Help { .. }), _) => vec![Context::Help, Context::Global],
        (Some(Overlay::Detail(_)), _) => vec![Context::Detail, Context::Global],
        (Some(Overlay::ConfirmLogout), _) => vec![Context::ConfirmLogout, Context::Global],
        (Some(Overlay::Sessions(_)), _) => vec![Context::Sessions, Context::Global],
        (Some(Overlay::ConfirmQuit), _) => vec![Context::ConfirmQuit, Context::Global],
        (None, Screen::Connecting) => vec![Context::Global],
        (None, Screen::Server) => vec![Context::Server, Context::Global],
        (None, Screen::Login) => vec![Context::Login, Context::Global],
        (None, Screen::Main(_)) => {
            let focus = match s.main.focus {
                Focus::Input => Context::Input,
                Focus::History => Context::History,
                Focus::Search => Context::Search,
                Focus::Output => Context::Output,
            };
            vec![focus, Context::Main, Context::Global]
        }
    }
}

fn on_key(s: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    // Letters typed into the list (meant for the input) are not commands:
    // the first unknown one stops the rest until another kind of key.
    let letter = matches!(key.code, crossterm::event::KeyCode::Char(_))
        && !key.modifiers.intersects(
            crossterm::event::KeyModifiers::CONTROL | crossterm::event::KeyModifiers::ALT,
        );
    let in_list = s.overlay.is_none()
        && s.screen.is_main()
        && matches!(s.main.focus, Focus::History | Focus::Output);
    if !(letter && in_list) {
        s.stray_typing = false;
    } else if s.stray_typing {
        return;
    }
    match keymap::lookup(&contexts(s), &key) {
        Some(action) => on_action(s, action, fx),
        None if letter && in_list => {
            s.stray_typing = true;
            s.notice = Some(format!(
                "The list has focus: letters are its commands. {} goes back to typing.",
                keymap::first_key(Context::History, Action::FocusInput)
            ));
        }
        None => {
            // Unbound keys edit whichever text field has focus.
            if let Some(req) = to_input_request(&crossterm::event::Event::Key(key)) {
                edit_focused(s, req, fx);
            }
        }
    }
}

fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Quit if s.stops_server && s.overlay != Some(Overlay::ConfirmQuit) => {
            s.overlay = Some(Overlay::ConfirmQuit);
        }
        Action::Quit => {
            s.quit = true;
            fx.push(Effect::Quit);
        }
        Action::AskQuit => s.overlay = Some(Overlay::ConfirmQuit),
        Action::Help => {
            s.overlay = match s.overlay {
                Some(Overlay::Help { .. }) => None,
                _ => Some(Overlay::Help { scroll: 0 }),
            };
        }
        _ if s.overlay.is_some() => on_overlay_action(s, action, fx),
        _ => match s.screen {
            Screen::Server => server::on_action(s, action, fx),
            Screen::Login => login::on_action(s, action, fx),
            Screen::Main(_) => main_screen::on_action(s, action, fx),
            Screen::Connecting => {}
        },
    }
}

/// Keys while an overlay is up: it takes them all.
fn on_overlay_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    use Action::*;
    if matches!(s.overlay, Some(Overlay::Sessions(_))) {
        return sessions::on_action(s, action, fx);
    }
    match action {
        Close | Cancel => s.overlay = None,
        Confirm if s.overlay == Some(Overlay::ConfirmQuit) => {
            s.quit = true;
            fx.push(Effect::Quit);
        }
        Confirm => {
            s.overlay = None;
            account::log_out(s, fx);
        }
        Up | Down | PageUp | PageDown | Top | Bottom => scroll_overlay(s, action),
        Rerun | CopyInput | CopyOutput => {
            if let Some(Overlay::Detail(d)) = &s.overlay {
                let entry = d.entry.clone();
                main_screen::entry_action(s, &entry, action, fx);
            }
        }
        _ => {}
    }
}

/// Rows a page key moves; the list is at least this tall at 80x24.
const PAGE_ROWS: usize = 10;

fn scroll_overlay(s: &mut State, action: Action) {
    match &mut s.overlay {
        Some(Overlay::Detail(d)) => d.scroll = scroll(d.scroll, action).min(d.max_scroll.get()),
        Some(Overlay::Help { scroll: sc }) => *sc = scroll(*sc, action).min(help_len()),
        _ => {}
    }
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

/// A paste arrives whole (bracketed paste): inserted in one go, so 70 KB
/// costs one copy, not one per character. Only the main input keeps
/// newlines; one-line fields get spaces.
fn on_paste(s: &mut State, text: &str, fx: &mut Vec<Effect>) {
    if s.overlay.is_some() {
        return;
    }
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    match s.screen {
        Screen::Main(_) if s.main.focus == Focus::Input => {
            s.main.recall = None;
            s.main.input = insert_str(&s.main.input, &text);
        }
        _ => {
            let flat = text.replace(['\n', '\t'], " ");
            match (&s.screen, s.main.focus) {
                (Screen::Main(_), Focus::History) => {
                    s.main.focus = Focus::Search;
                    history::edit_search(s, |input| *input = insert_str(input, &flat), fx);
                }
                (Screen::Main(_), _) => {
                    history::edit_search(s, |input| *input = insert_str(input, &flat), fx)
                }
                (Screen::Server, _) => s.server_input = insert_str(&s.server_input, &flat),
                (Screen::Login, _) if !s.login.busy => {
                    let field = match s.login.focus {
                        LoginField::Username => &mut s.login.username,
                        LoginField::Password => &mut s.login.password,
                        LoginField::Confirm => &mut s.login.confirm,
                    };
                    *field = insert_str(field, &flat);
                }
                _ => {}
            }
        }
    }
}

/// `text` inserted at the cursor, in time linear in the result.
pub fn insert_str(input: &Input, text: &str) -> Input {
    let value = input.value();
    let cursor = input.cursor();
    let byte = value
        .char_indices()
        .nth(cursor)
        .map_or(value.len(), |(i, _)| i);
    let mut joined = String::with_capacity(value.len() + text.len());
    joined.push_str(&value[..byte]);
    joined.push_str(text);
    joined.push_str(&value[byte..]);
    Input::new(joined).with_cursor(cursor + text.chars().count())
}

fn edit_focused(s: &mut State, req: InputRequest, fx: &mut Vec<Effect>) {
    if s.overlay.is_some() {
        return;
    }
    match s.screen {
        Screen::Server => {
            s.server_input.handle(req);
        }
        Screen::Login => login::edit(s, req),
        Screen::Main(_) => main_screen::edit(s, req, fx),
        Screen::Connecting => {}
    }
}

/// Records a failure: the sentence for the status bar, and the connection
/// state it implies. Going offline starts the probe that brings us back.
fn note_failure(s: &mut State, f: &Failure, fx: &mut Vec<Effect>) {
    if f.kind == FailureKind::Unreachable {
        // The key that was tried offline already said why; keep that.
        let told = s.conn == Conn::Offline
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with(account::OFFLINE_PREFIX));
        account::went_offline(s, fx);
        if told {
            return;
        }
    } else {
        note_online(s, fx);
    }
    s.last_error = Some(f.message.clone());
}

/// The server answered something: we are online, and need no probe. If we
/// were offline, what failed meanwhile is redone, whichever answer (probe,
/// live stream, a request) came first.
fn note_online(s: &mut State, fx: &mut Vec<Effect>) {
    let was = std::mem::replace(&mut s.conn, Conn::Online);
    let probing = s.probe.take().is_some();
    if probing || matches!(was, Conn::Offline | Conn::Reconnecting) {
        account::back_online(s, fx);
    }
}

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
