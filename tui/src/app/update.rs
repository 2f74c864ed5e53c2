//! (state, message) -> state changes + effects. No I/O here: the runtime runs
//! the effects and sends their results back as messages.
//!
//! The messages and effects are in [`super::message`], start-up in
//! [`super::start`]. This module routes a message to the part it concerns,
//! one sub-update per screen: [`server`] (the address screen), [`login`], [`main_screen`] (input,
//! runs, output) with [`history`] (the list, search, paging), and [`account`]
//! for what is no screen's own: the keyring, the session, the
//! connection.

mod account;
mod deletion;
mod history;
mod live;
mod login;
mod main_screen;
mod server;
mod sessions;

use crossterm::event::{KeyEvent, KeyEventKind};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::keymap::{self, Action, Context};
use super::state::*;

pub use super::message::{Effect, Failure, FailureKind, Msg};
pub use super::start::{Start, init};
pub use account::ADOPTED;
pub use live::{FRESH_FOR, LIVE_CAPPED};

/// Ticks (of the runtime's 100 ms) a notice stays: 5 s.
pub const NOTICE_TICKS: u32 = 50;

/// Ticks (of 100 ms) without a key before the notice's `i` counts: 0.3 s.
pub const STRAY_PAUSE_TICKS: u32 = 3;

/// How the notice for letters typed into the list starts.
pub const STRAY_NOTICE: &str = "The list has focus: letters are its commands.";

/// Applies one message.
pub fn update(s: &mut State, msg: Msg) -> Vec<Effect> {
    let notice = s.notice.clone();
    let (focus, main) = (s.main.focus, s.screen.is_main());
    let overlay = s.overlay.is_some();
    let fx = apply(s, msg);
    if s.overlay.is_some() && !overlay {
        // Another screen over the list: the list still says why it is empty.
        history::forget_refusal(s);
    }
    if s.notice != notice {
        s.notice_age = 0;
    } else if s.screen.is_main() != main {
        // A notice is about the screen it was said on.
        s.notice = None;
    }
    if s.main.focus != focus
        && s.notice
            .as_deref()
            .is_some_and(|n| n.starts_with(STRAY_NOTICE))
    {
        s.notice = None;
    }
    fx
}

fn apply(s: &mut State, msg: Msg) -> Vec<Effect> {
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
            s.keys_idle = s.keys_idle.saturating_add(1);
            if s.busy() {
                s.spinner = s.spinner.wrapping_add(1);
            }
            if s.notice.is_some() {
                s.notice_age += 1;
                if s.notice_age >= NOTICE_TICKS {
                    s.notice = None;
                }
            }
        }
        Msg::ServerChecked { input, result } => server::checked(s, input, result, &mut fx),
        Msg::Credentials {
            mode,
            username,
            result,
        } => login::answered(s, mode, username, result, &mut fx),
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
        Msg::LiveOpened { stream } => live::opened(s, stream, &mut fx),
        Msg::LiveEntry { stream, entry } => live::arrived(s, stream, entry, &mut fx),
        Msg::LiveDropped { stream, failure } => live::dropped(s, stream, failure, &mut fx),
        Msg::LiveDeleted { stream, gone } => live::deleted(s, stream, &gone),
        Msg::Unmark(id) => live::unmark(s, id),
        Msg::EntryDeleted { id, result } => deletion::answered(s, id, result, &mut fx),
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
        (Some(Overlay::Sessions(v)), _) if v.asking.is_some() => {
            vec![Context::ConfirmRevoke, Context::Global]
        }
        (Some(Overlay::Sessions(_)), _) => vec![Context::Sessions, Context::Global],
        (Some(Overlay::ConfirmQuit), _) => vec![Context::ConfirmQuit, Context::Global],
        (Some(Overlay::ConfirmDelete(_)), _) => vec![Context::ConfirmDelete, Context::Global],
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

/// The yes/no question up, if one is.
fn question(s: &State) -> Option<Context> {
    match &s.overlay {
        Some(Overlay::ConfirmQuit) => Some(Context::ConfirmQuit),
        Some(Overlay::ConfirmDelete(_)) => Some(Context::ConfirmDelete),
        Some(Overlay::ConfirmLogout) => Some(Context::ConfirmLogout),
        Some(Overlay::Sessions(v)) if v.asking.is_some() => Some(Context::ConfirmRevoke),
        _ => None,
    }
}

/// What a question's status line says after a key that was no answer.
pub const NOT_ANSWERED: &str =
    "Nothing done: that key was no answer, so the question was cancelled";

/// A question takes its answers and nothing else: any other key cancels
/// it, so only the key pressed right after it opened can say yes (a word
/// typed into the list, `daily`, must not delete by its `y`).
fn answer(s: &mut State, ctx: Context, key: KeyEvent, fx: &mut Vec<Effect>) {
    match keymap::lookup(&[ctx], &key) {
        Some(a @ (Action::Confirm | Action::Cancel)) => on_action(s, a, fx),
        // Ctrl+C still quits (under ./run, by its own question).
        _ if keymap::lookup(&[Context::Global], &key) == Some(Action::Quit) => {
            on_action(s, Action::Quit, fx)
        }
        _ => {
            on_action(s, Action::Cancel, fx);
            s.notice = Some(format!(
                "{NOT_ANSWERED} ({} is yes).",
                keymap::keys_for(ctx, Action::Confirm)
            ));
            // The rest of the word does nothing either.
            s.stray_typing = matches!(key.code, crossterm::event::KeyCode::Char(_));
        }
    }
}

fn on_key(s: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    if let Some(ctx) = question(s) {
        return answer(s, ctx, key, fx);
    }
    // Letters typed into the list (meant for the input) are not commands:
    // the first unknown one stops the rest until another kind of key.
    let letter = matches!(key.code, crossterm::event::KeyCode::Char(_))
        && !key.modifiers.intersects(
            crossterm::event::KeyModifiers::CONTROL | crossterm::event::KeyModifiers::ALT,
        );
    let in_list = s.overlay.is_none()
        && s.screen.is_main()
        && matches!(s.main.focus, Focus::History | Focus::Output);
    let action = keymap::lookup(&contexts(s), &key);
    let paused = std::mem::take(&mut s.keys_idle) >= STRAY_PAUSE_TICKS;
    if !(letter && in_list) {
        s.stray_typing = false;
    } else if s.stray_typing && !(paused && action == Some(Action::FocusInput)) {
        // The notice says the way back to typing; that key works after a
        // pause (an `i` inside the word typed on is one more letter).
        return;
    }
    match action {
        Some(action) => on_action(s, action, fx),
        None if letter && in_list => {
            s.stray_typing = true;
            s.notice = Some(format!(
                "{STRAY_NOTICE} {} goes back to typing.",
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
        Close | Cancel if matches!(s.overlay, Some(Overlay::ConfirmDelete(_))) => deletion::kept(s),
        Close | Cancel => s.overlay = None,
        Confirm if s.overlay == Some(Overlay::ConfirmQuit) => {
            s.quit = true;
            fx.push(Effect::Quit);
        }
        Confirm => match s.overlay.take() {
            Some(Overlay::ConfirmDelete(entry)) => deletion::confirmed(s, &entry, fx),
            _ => account::log_out(s, fx),
        },
        Delete => {
            if let Some(Overlay::Detail(d)) = &s.overlay {
                let entry = d.entry.clone();
                deletion::ask(s, Some(entry));
            }
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
        Some(Overlay::Help { scroll: sc }) => {
            let max = s.areas.help_max.get().unwrap_or_else(help_len);
            *sc = scroll(*sc, action).min(max);
        }
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
        // Clamped by the caller to what there is to scroll.
        Action::Bottom => u16::MAX,
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
