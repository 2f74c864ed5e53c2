//! The one key table: `update` looks keys up here and the help overlay lists
//! it, so the two cannot drift apart.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. Lookups try the most specific context first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere, overlays included.
    Global,
    Server,
    Login,
    /// Anywhere on the main screen, whatever has focus.
    Main,
    /// Main screen, the input line has focus.
    Input,
    /// Main screen, the history list has focus.
    History,
    /// Main screen, the search box has focus.
    Search,
    /// Main screen, the output pane has focus.
    Output,
    Detail,
    Help,
    ConfirmLogout,
    Sessions,
    ConfirmQuit,
    ConfirmDelete,
    /// The sessions overlay asks before logging sessions out.
    ConfirmRevoke,
    /// Any text field (input, search, forms): the editing keys tui-input
    /// handles. Listed for the help and the man page only: never looked
    /// up, so they cannot shadow a binding (a test checks each one edits
    /// and is not taken by another context first).
    Editing,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Server => "Server address",
            Context::Login => "Log in / register",
            Context::Main => "Main screen",
            Context::Input => "Main: input line",
            Context::History => "Main: history list",
            Context::Search => "Main: search box",
            Context::Output => "Main: output pane",
            Context::Detail => "Entry detail",
            Context::Help => "This help",
            Context::ConfirmLogout => "Log-out question",
            Context::Sessions => "Your sessions",
            Context::ConfirmQuit => "Quit question",
            Context::ConfirmDelete => "Delete question",
            Context::ConfirmRevoke => "Sessions: log-out question",
            Context::Editing => "Editing text (input, search, forms)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Quit, after a question (a letter in the list could be a typo).
    AskQuit,
    Help,
    Submit,
    NextField,
    PrevField,
    ToggleMode,
    ChangeServer,
    SwitchFunction,
    FocusNext,
    FocusPrev,
    FocusInput,
    FocusHistory,
    FocusOutput,
    /// History times: absolute / relative.
    ToggleTimes,
    Search,
    ClearSearch,
    CycleFilter,
    Refresh,
    Logout,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    OpenDetail,
    Rerun,
    Close,
    Confirm,
    Cancel,
    /// Server screen: back to the log-in form, server unchanged.
    Back,
    /// Input: a newline instead of running.
    Newline,
    /// Input: the previous (older) earlier input.
    RecallOlder,
    /// Input: the next (newer) earlier input; past the newest, the list.
    RecallNewer,
    /// Copy the output (or the selected entry's output) to the clipboard.
    CopyOutput,
    /// Copy the selected entry's input to the clipboard.
    CopyInput,
    /// Open the list of your sessions.
    OpenSessions,
    /// Sessions: log out the selected one.
    RevokeSelected,
    /// Sessions: log out every one but this.
    RevokeOthers,
    /// Delete the selected (or shown) history entry, after a question.
    Delete,
    /// What tui-input does with the key in the focused field (`Editing`).
    Edit,
}

/// A key as the table spells it. Shift is folded into the character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn k(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn c(ch: char) -> Key {
    Key {
        code: KeyCode::Char(ch),
        mods: KeyModifiers::NONE,
    }
}

const fn with(code: KeyCode, mods: KeyModifiers) -> Key {
    Key { code, mods }
}

const fn ctrl(ch: char) -> Key {
    Key {
        code: KeyCode::Char(ch),
        mods: KeyModifiers::CONTROL,
    }
}

impl Key {
    /// The table's form of a terminal key event.
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mut mods =
            ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match ev.code {
            // Terminals differ on whether Shift comes with an upper-case
            // letter or a BackTab; the code already says it.
            KeyCode::Char(ch) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                })
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(ch) => ch.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift+Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            // Ctrl+W, but Ctrl+Delete.
            let base = match self.code {
                KeyCode::Char(_) => base.to_uppercase(),
                _ => base,
            };
            format!("Ctrl+{base}")
        } else if self.mods.contains(KeyModifiers::ALT) {
            format!("Alt+{base}")
        } else if self.mods.contains(KeyModifiers::SHIFT) {
            format!("Shift+{base}")
        } else {
            base
        }
    }
}

/// The help's key column; longer key lists get a line of their own.
pub const HELP_KEY_W: usize = 18;

/// A binding's keys as the help and the man page list them.
pub fn key_list(b: &Binding) -> String {
    let keys: Vec<String> = b.keys.iter().map(|k| k.label()).collect();
    keys.join(", ")
}

/// Lines a binding takes in the help.
pub fn help_rows(b: &Binding) -> usize {
    if key_list(b).chars().count() >= HELP_KEY_W {
        2
    } else {
        1
    }
}

pub struct Binding {
    pub context: Context,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn b(context: Context, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding {
        context,
        keys,
        action,
        help,
    }
}

use Action as A;
use Context as C;

/// Every key the TUI knows, in the order the help lists them.
pub static KEYMAP: &[Binding] = &[
    b(C::Global, &[ctrl('c'), ctrl('q')], A::Quit, "Quit"),
    b(
        C::Global,
        &[k(KeyCode::F(1))],
        A::Help,
        "Show or hide this help",
    ),
    b(
        C::Server,
        &[k(KeyCode::Enter)],
        A::Submit,
        "Connect to this server",
    ),
    b(
        C::Server,
        &[k(KeyCode::Esc)],
        A::Back,
        "Back to the log-in form (server unchanged)",
    ),
    b(
        C::Login,
        &[k(KeyCode::Enter)],
        A::Submit,
        "Log in or register (from the username: next field)",
    ),
    b(
        C::Login,
        &[k(KeyCode::Tab), k(KeyCode::Down)],
        A::NextField,
        "Next field",
    ),
    b(
        C::Login,
        &[k(KeyCode::BackTab), k(KeyCode::Up)],
        A::PrevField,
        "Previous field",
    ),
    b(
        C::Login,
        &[k(KeyCode::F(2)), ctrl('t')],
        A::ToggleMode,
        "Switch between log in and register",
    ),
    b(
        C::Login,
        &[k(KeyCode::Esc)],
        A::ChangeServer,
        "Change the server address",
    ),
    b(
        C::Main,
        &[k(KeyCode::F(2)), ctrl('t')],
        A::SwitchFunction,
        "Switch function: reverse / piglatin",
    ),
    b(
        C::Main,
        &[k(KeyCode::F(3))],
        A::CycleFilter,
        "Filter history: all / reverse / piglatin",
    ),
    b(
        C::Main,
        &[k(KeyCode::F(5))],
        A::Refresh,
        "Reload the history",
    ),
    b(
        C::Main,
        &[ctrl('f'), ctrl('r')],
        A::Search,
        "Search the history",
    ),
    b(
        C::Main,
        &[ctrl('y')],
        A::CopyOutput,
        "Copy the output (in the list: the entry's) to the clipboard",
    ),
    b(C::Main, &[ctrl('o')], A::Logout, "Log out (asks first)"),
    b(
        C::Main,
        &[k(KeyCode::F(7))],
        A::OpenSessions,
        "Your sessions: where you are logged in; log others out",
    ),
    b(
        C::Main,
        &[k(KeyCode::F(4))],
        A::ToggleTimes,
        "History times: date and time / relative (\"5m ago\")",
    ),
    b(
        C::Main,
        &[k(KeyCode::F(6))],
        A::FocusOutput,
        "Focus the output pane (to scroll a long answer)",
    ),
    b(
        C::Main,
        &[k(KeyCode::Tab)],
        A::FocusNext,
        "Focus: input / history / search",
    ),
    b(
        C::Main,
        &[k(KeyCode::BackTab)],
        A::FocusPrev,
        "Focus, the other way round",
    ),
    b(
        C::Input,
        &[k(KeyCode::Enter)],
        A::Submit,
        "Run the function on the input",
    ),
    b(
        C::Input,
        &[
            with(KeyCode::Enter, KeyModifiers::ALT),
            with(KeyCode::Enter, KeyModifiers::SHIFT),
            ctrl('j'),
        ],
        A::Newline,
        "New line in the input",
    ),
    b(
        C::Input,
        &[k(KeyCode::Up)],
        A::RecallOlder,
        "Earlier input (from the history, newest first)",
    ),
    b(
        C::Input,
        &[k(KeyCode::Down)],
        A::RecallNewer,
        "Later input; past the newest: the history list",
    ),
    b(
        C::Input,
        &[k(KeyCode::Esc)],
        A::FocusHistory,
        "Go to the history list",
    ),
    b(
        C::History,
        &[k(KeyCode::Up), c('k')],
        A::Up,
        "Previous (newer) entry",
    ),
    b(
        C::History,
        &[k(KeyCode::Down), c('j')],
        A::Down,
        "Next (older) entry; older pages load as you go",
    ),
    b(C::History, &[k(KeyCode::PageUp)], A::PageUp, "One page up"),
    b(
        C::History,
        &[k(KeyCode::PageDown)],
        A::PageDown,
        "One page down",
    ),
    b(
        C::History,
        &[k(KeyCode::Home), c('g')],
        A::Top,
        "Newest entry",
    ),
    b(
        C::History,
        &[k(KeyCode::End), c('G')],
        A::Bottom,
        "Oldest entry (older pages load on the way)",
    ),
    b(
        C::History,
        &[k(KeyCode::Enter)],
        A::OpenDetail,
        "Show the entry in full",
    ),
    b(
        C::History,
        &[c('r')],
        A::Rerun,
        "Put the entry (input and function) in the input; Enter runs it",
    ),
    b(C::History, &[c('/')], A::Search, "Search the history"),
    b(
        C::History,
        &[c('y')],
        A::CopyOutput,
        "Copy the entry's output to the clipboard",
    ),
    b(
        C::History,
        &[c('Y')],
        A::CopyInput,
        "Copy the entry's input to the clipboard",
    ),
    b(
        C::History,
        &[c('f')],
        A::CycleFilter,
        "Filter history: all / reverse / piglatin",
    ),
    b(C::History, &[c('R')], A::Refresh, "Reload the history"),
    b(
        C::History,
        &[c('d')],
        A::Delete,
        "Delete the entry (asks first)",
    ),
    b(
        C::History,
        &[c('t')],
        A::SwitchFunction,
        "Switch function: reverse / piglatin",
    ),
    b(
        C::History,
        &[c('i'), k(KeyCode::Esc)],
        A::FocusInput,
        "Go to the input line",
    ),
    b(C::History, &[c('L')], A::Logout, "Log out (asks first)"),
    b(C::History, &[c('?')], A::Help, "Show this help"),
    b(C::History, &[c('q')], A::AskQuit, "Quit (asks first)"),
    b(
        C::Search,
        &[k(KeyCode::Enter)],
        A::FocusHistory,
        "Keep the search, go to the list",
    ),
    b(
        C::Search,
        &[k(KeyCode::Esc)],
        A::ClearSearch,
        "Clear the search, go to the list",
    ),
    b(C::Search, &[k(KeyCode::Up)], A::Up, "Previous entry"),
    b(C::Search, &[k(KeyCode::Down)], A::Down, "Next entry"),
    b(
        C::Sessions,
        &[k(KeyCode::Up), c('k')],
        A::Up,
        "Previous session",
    ),
    b(
        C::Sessions,
        &[k(KeyCode::Down), c('j')],
        A::Down,
        "Next session",
    ),
    b(
        C::Sessions,
        &[c('d'), k(KeyCode::Delete)],
        A::RevokeSelected,
        "Log out the selected session, on every server (asks first)",
    ),
    b(
        C::Sessions,
        &[c('o')],
        A::RevokeOthers,
        "Log out every session but this one (asks first)",
    ),
    b(
        C::Sessions,
        &[k(KeyCode::F(5)), c('R')],
        A::Refresh,
        "Reload the list",
    ),
    b(C::Sessions, &[k(KeyCode::Esc), c('q')], A::Close, "Close"),
    b(C::Output, &[k(KeyCode::Up), c('k')], A::Up, "Scroll up"),
    b(
        C::Output,
        &[k(KeyCode::Down), c('j')],
        A::Down,
        "Scroll down",
    ),
    b(
        C::Output,
        &[k(KeyCode::PageUp)],
        A::PageUp,
        "Scroll a page up",
    ),
    b(
        C::Output,
        &[k(KeyCode::PageDown), c(' ')],
        A::PageDown,
        "Scroll a page down",
    ),
    b(C::Output, &[k(KeyCode::Home), c('g')], A::Top, "First line"),
    b(
        C::Output,
        &[k(KeyCode::End), c('G')],
        A::Bottom,
        "Last line",
    ),
    b(
        C::Output,
        &[k(KeyCode::Esc), c('i')],
        A::FocusInput,
        "Back to the input",
    ),
    b(C::Detail, &[k(KeyCode::Up), c('k')], A::Up, "Scroll up"),
    b(
        C::Detail,
        &[k(KeyCode::Down), c('j')],
        A::Down,
        "Scroll down",
    ),
    b(
        C::Detail,
        &[k(KeyCode::PageUp)],
        A::PageUp,
        "Scroll a page up",
    ),
    b(
        C::Detail,
        &[k(KeyCode::PageDown), c(' ')],
        A::PageDown,
        "Scroll a page down",
    ),
    b(C::Detail, &[k(KeyCode::Home), c('g')], A::Top, "First line"),
    b(
        C::Detail,
        &[k(KeyCode::End), c('G')],
        A::Bottom,
        "Last line",
    ),
    b(C::Detail, &[c('r')], A::Rerun, "Re-run this entry"),
    b(C::Detail, &[c('y')], A::CopyOutput, "Copy the output"),
    b(C::Detail, &[c('Y')], A::CopyInput, "Copy the input"),
    b(
        C::Detail,
        &[c('d')],
        A::Delete,
        "Delete this entry (asks first)",
    ),
    b(
        C::Detail,
        &[k(KeyCode::Esc), k(KeyCode::Enter), c('q')],
        A::Close,
        "Close",
    ),
    b(C::Help, &[k(KeyCode::Up), c('k')], A::Up, "Scroll up"),
    b(C::Help, &[k(KeyCode::Down), c('j')], A::Down, "Scroll down"),
    b(
        C::Help,
        &[k(KeyCode::PageUp)],
        A::PageUp,
        "Scroll a page up",
    ),
    b(
        C::Help,
        &[k(KeyCode::PageDown), c(' ')],
        A::PageDown,
        "Scroll a page down",
    ),
    b(
        C::Help,
        &[k(KeyCode::Esc), c('q'), c('?')],
        A::Close,
        "Close",
    ),
    b(
        C::ConfirmQuit,
        &[k(KeyCode::Enter)],
        A::Confirm,
        "Yes, quit",
    ),
    b(
        C::ConfirmQuit,
        &[c('n'), k(KeyCode::Esc)],
        A::Cancel,
        "No, stay",
    ),
    b(
        C::ConfirmDelete,
        &[k(KeyCode::Enter), c('y')],
        A::Confirm,
        "Yes, delete it",
    ),
    b(
        C::ConfirmDelete,
        &[c('n'), k(KeyCode::Esc)],
        A::Cancel,
        "No, keep it",
    ),
    b(
        C::ConfirmLogout,
        &[c('y'), k(KeyCode::Enter)],
        A::Confirm,
        "Yes, log out",
    ),
    b(
        C::ConfirmLogout,
        &[c('n'), k(KeyCode::Esc)],
        A::Cancel,
        "No, stay",
    ),
    b(
        C::ConfirmRevoke,
        &[c('y'), k(KeyCode::Enter)],
        A::Confirm,
        "Yes, log it out",
    ),
    b(
        C::ConfirmRevoke,
        &[c('n'), k(KeyCode::Esc)],
        A::Cancel,
        "No, keep it",
    ),
    b(
        C::Editing,
        &[k(KeyCode::Left), k(KeyCode::Right)],
        A::Edit,
        "Move one character",
    ),
    b(
        C::Editing,
        &[
            with(KeyCode::Left, KeyModifiers::CONTROL),
            with(KeyCode::Right, KeyModifiers::CONTROL),
        ],
        A::Edit,
        "Move one word",
    ),
    b(
        C::Editing,
        &[k(KeyCode::Home), ctrl('a')],
        A::Edit,
        "To the start",
    ),
    b(
        C::Editing,
        &[k(KeyCode::End), ctrl('e')],
        A::Edit,
        "To the end",
    ),
    b(
        C::Editing,
        &[k(KeyCode::Backspace), ctrl('h')],
        A::Edit,
        "Delete the character before the cursor",
    ),
    b(
        C::Editing,
        &[k(KeyCode::Delete)],
        A::Edit,
        "Delete the character at the cursor",
    ),
    b(
        C::Editing,
        &[ctrl('w'), with(KeyCode::Backspace, KeyModifiers::ALT)],
        A::Edit,
        "Delete the word before the cursor",
    ),
    b(
        C::Editing,
        &[with(KeyCode::Delete, KeyModifiers::CONTROL)],
        A::Edit,
        "Delete the word after the cursor",
    ),
    b(
        C::Editing,
        &[ctrl('k')],
        A::Edit,
        "Delete to the end of the line",
    ),
    b(C::Editing, &[ctrl('u')], A::Edit, "Delete the whole line"),
];

/// The action bound to `key`, trying `contexts` in order.
pub fn lookup(contexts: &[Context], ev: &KeyEvent) -> Option<Action> {
    let key = Key::from_event(ev);
    contexts.iter().find_map(|ctx| {
        KEYMAP
            .iter()
            .find(|bd| bd.context == *ctx && bd.keys.contains(&key))
            .map(|bd| bd.action)
    })
}

/// The keys bound to `action` in `context`, for hints ("F2/Ctrl+T").
pub fn keys_for(context: Context, action: Action) -> String {
    KEYMAP
        .iter()
        .filter(|bd| bd.context == context && bd.action == action)
        .flat_map(|bd| bd.keys.iter().map(Key::label))
        .collect::<Vec<_>>()
        .join("/")
}

/// The first key bound to `action` in `context`, for short hints.
pub fn first_key(context: Context, action: Action) -> String {
    KEYMAP
        .iter()
        .find(|bd| bd.context == context && bd.action == action)
        .and_then(|bd| bd.keys.first())
        .map(Key::label)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn shift_is_folded_into_the_character() {
        let got = lookup(
            &[Context::History],
            &ev(KeyCode::Char('R'), KeyModifiers::SHIFT),
        );
        assert_eq!(got, Some(Action::Refresh));
        let got = lookup(
            &[Context::History],
            &ev(KeyCode::Char('r'), KeyModifiers::NONE),
        );
        assert_eq!(got, Some(Action::Rerun));
        let got = lookup(
            &[Context::Login],
            &ev(KeyCode::BackTab, KeyModifiers::SHIFT),
        );
        assert_eq!(got, Some(Action::PrevField));
    }

    #[test]
    fn specific_context_wins_over_general() {
        let enter = ev(KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(
            lookup(&[Context::History, Context::Main, Context::Global], &enter),
            Some(Action::OpenDetail)
        );
        assert_eq!(
            lookup(&[Context::Input, Context::Main, Context::Global], &enter),
            Some(Action::Submit)
        );
        let ctrl_c = ev(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            lookup(&[Context::Input, Context::Global], &ctrl_c),
            Some(Action::Quit)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in KEYMAP.iter().enumerate() {
            for bd in &KEYMAP[i + 1..] {
                if a.context == bd.context {
                    for key in a.keys {
                        assert!(!bd.keys.contains(key), "{key:?} twice in {:?}", a.context);
                    }
                }
            }
        }
    }

    /// The editing rows are documentation of what tui-input does: each key
    /// must edit, and no context of a text field may take it first.
    #[test]
    fn every_editing_key_edits_and_is_not_taken_by_a_binding() {
        use tui_input::backend::crossterm::to_input_request;
        let fields: [&[Context]; 4] = [
            &[Context::Input, Context::Main, Context::Global],
            &[Context::Search, Context::Main, Context::Global],
            &[Context::Login, Context::Global],
            &[Context::Server, Context::Global],
        ];
        let editing: Vec<&Binding> = KEYMAP
            .iter()
            .filter(|b| b.context == Context::Editing)
            .collect();
        assert!(editing.len() >= 8);
        for b in editing {
            assert_eq!(b.action, Action::Edit);
            for key in b.keys {
                let event = crossterm::event::Event::Key(ev(key.code, key.mods));
                assert!(to_input_request(&event).is_some(), "{key:?} does not edit");
                for contexts in fields {
                    let KeyEvent {
                        code, modifiers, ..
                    } = ev(key.code, key.mods);
                    let taken = lookup(contexts, &ev(code, modifiers));
                    assert_eq!(taken, None, "{key:?} is taken in {contexts:?}");
                }
            }
        }
    }

    #[test]
    fn labels_read_like_the_keyboard() {
        assert_eq!(keys_for(Context::Main, Action::SwitchFunction), "F2/Ctrl+T");
        assert_eq!(keys_for(Context::Global, Action::Quit), "Ctrl+C/Ctrl+Q");
        let word_after = KEYMAP
            .iter()
            .find(|b| b.help == "Delete the word after the cursor")
            .unwrap();
        assert_eq!(key_list(word_after), "Ctrl+Delete");
    }
}
