//! The main screen: the input (multi-line, recall), runs and their output,
//! copying, the mouse; the history list has its own module.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use strop_common::{Function, HistoryEntry};
use tui_input::{Input, InputRequest};

use super::{Effect, Failure, FailureKind, account, history, note_failure, note_online};
use crate::app::keymap::Action;
use crate::app::state::*;

pub(super) fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    use Action::*;
    let offline =
        s.conn == Conn::Offline && matches!(action, Submit | Rerun | Refresh | CycleFilter);
    act(s, action, fx);
    // Tried anyway (the probe may be between beats), but never silently.
    if offline {
        s.last_error = Some(account::offline_notice(&s.server));
    }
}

fn act(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    use Action::*;
    match action {
        Submit => run_current(s, fx),
        Newline => {
            s.main.recall = None;
            s.main.input.handle(InputRequest::InsertChar('\n'));
        }
        RecallOlder => recall(s, 1),
        RecallNewer => {
            if s.main.recall.is_some() {
                recall(s, -1);
            } else {
                s.main.focus = Focus::History;
            }
        }
        SwitchFunction => {
            s.main.function = match s.main.function {
                Function::Reverse => Function::Piglatin,
                Function::Piglatin => Function::Reverse,
            };
            fx.push(Effect::SaveFunction(s.main.function));
        }
        FocusNext => {
            s.main.focus = match s.main.focus {
                Focus::Input | Focus::Output => Focus::History,
                Focus::History => Focus::Search,
                Focus::Search => Focus::Input,
            };
        }
        FocusPrev => {
            s.main.focus = match s.main.focus {
                Focus::Input | Focus::Output => Focus::Search,
                Focus::History => Focus::Input,
                Focus::Search => Focus::History,
            };
        }
        FocusOutput => s.main.focus = Focus::Output,
        ToggleTimes => s.relative_times = !s.relative_times,
        Up | Down | PageUp | PageDown | Top | Bottom if s.main.focus == Focus::Output => {
            scroll_output(s, action)
        }
        FocusInput => s.main.focus = Focus::Input,
        FocusHistory => s.main.focus = Focus::History,
        Logout => s.overlay = Some(Overlay::ConfirmLogout),
        OpenSessions => super::sessions::open(s, fx),
        OpenDetail => {
            if let Some(entry) = s.history.selected_entry() {
                s.overlay = Some(Overlay::Detail(Detail::new(entry.clone())));
            }
        }
        CopyOutput if s.main.focus != Focus::History => match &s.main.output {
            Some(Outcome::Done(out)) => copy(s, "the output", out.output.clone(), fx),
            _ => s.notice = Some("No output to copy yet.".into()),
        },
        // From the list, `r` only fills the input (Enter runs it): a letter
        // typed into the wrong pane never runs anything.
        Rerun => {
            let draft = recall_draft(&s.main);
            if let Some(entry) = s.history.selected_entry().cloned() {
                take_entry(s, &entry, fx);
                keep_draft(s, draft, &entry.input);
                s.notice = Some(format!(
                    "The entry is in the input; {} runs it.",
                    crate::app::keymap::first_key(crate::app::keymap::Context::Input, Submit)
                ));
            }
        }
        Delete => {
            let entry = s.history.selected_entry().cloned();
            super::deletion::ask(s, entry);
        }
        CopyInput | CopyOutput => {
            if let Some(entry) = s.history.selected_entry().cloned() {
                entry_action(s, &entry, action, fx);
            }
        }
        _ => history::on_action(s, action, fx),
    }
}

/// Lines a page key scrolls the output.
const OUTPUT_PAGE: u16 = 5;

pub(super) fn scroll_output(s: &mut State, action: Action) {
    let max = s.main.output_max.get();
    let at = s.main.output_scroll;
    s.main.output_scroll = match action {
        Action::Up => at.saturating_sub(1),
        Action::Down => at.saturating_add(1),
        Action::PageUp => at.saturating_sub(OUTPUT_PAGE),
        Action::PageDown => at.saturating_add(OUTPUT_PAGE),
        Action::Top => 0,
        _ => max,
    }
    .min(max);
}

/// Re-run or copy a history entry (from the list or its detail view).
pub(super) fn entry_action(
    s: &mut State,
    entry: &HistoryEntry,
    action: Action,
    fx: &mut Vec<Effect>,
) {
    match action {
        Action::Rerun => {
            take_entry(s, entry, fx);
            s.overlay = None;
            run_current(s, fx);
        }
        Action::CopyInput => copy(s, "the entry's input", entry.input.clone(), fx),
        Action::CopyOutput => copy(s, "the entry's output", entry.output.clone(), fx),
        _ => {}
    }
}

/// The entry's input and function become the current ones (the function is
/// remembered for the next start, as F2 does: issue 17, 7).
fn take_entry(s: &mut State, entry: &HistoryEntry, fx: &mut Vec<Effect>) {
    s.main.input = Input::new(entry.input.clone());
    if s.main.function != entry.function {
        s.main.function = entry.function;
        fx.push(Effect::SaveFunction(entry.function));
    }
    s.main.focus = Focus::Input;
    s.main.recall = None;
}

fn copy(s: &mut State, what: &'static str, text: String, fx: &mut Vec<Effect>) {
    s.last_error = None;
    fx.push(Effect::Copy { what, text });
}

pub(super) fn edit(s: &mut State, req: InputRequest, fx: &mut Vec<Effect>) {
    match s.main.focus {
        Focus::Input => {
            // Typing mostly appends: one copy instead of tui-input's walk to
            // the cursor (5,000 keys cost 0.9 s in a debug build that way).
            if let InputRequest::InsertChar(c) = req
                && s.main.input.cursor() == s.main.input.value().chars().count()
            {
                let value = s.main.input.value();
                let mut grown = String::with_capacity(value.len() + c.len_utf8());
                grown.push_str(value);
                grown.push(c);
                s.main.input = Input::new(grown);
                s.main.recall = None;
            } else if s.main.input.handle(req).is_some_and(|c| c.value) {
                s.main.recall = None;
            }
        }
        Focus::Search => history::edit_search(
            s,
            |input| {
                input.handle(req);
            },
            fx,
        ),
        // Letters are commands in the list (j, k, r, f, ...); search
        // has its own box (/ or Ctrl+F).
        Focus::History | Focus::Output => {}
    }
}

/// Earlier inputs, newest first, each once: what ↑ walks through.
fn earlier_inputs(h: &History) -> impl Iterator<Item = &str> {
    let mut last: Option<&str> = None;
    h.entries.iter().filter_map(move |e| {
        let input = e.input.as_str();
        (last.replace(input) != Some(input)).then_some(input)
    })
}

/// What ↓ past the newest gives back: the draft of a walk under way, else
/// the input as it is.
fn recall_draft(s: &MainPane) -> String {
    match &s.recall {
        Some((_, draft)) => draft.clone(),
        None => s.input.value().to_string(),
    }
}

/// An entry taken from the list counts as recalled, as ↑ would: the draft
/// it replaced comes back with ↓ past the newest.
fn keep_draft(s: &mut State, draft: String, input: &str) {
    let at = earlier_inputs(&s.history).position(|i| i == input);
    s.main.recall = Some((at.unwrap_or(0), draft));
}

/// Moves `step` inputs back (1, older) or forward (-1, newer). Past the
/// newest the draft typed before the walk comes back.
fn recall(s: &mut State, step: isize) {
    let (at, draft) = match s.main.recall.take() {
        Some((at, draft)) => (at as isize + step, draft),
        None if step > 0 => (0, s.main.input.value().to_string()),
        None => return,
    };
    if at < 0 {
        s.main.input = Input::new(draft);
        return;
    }
    let inputs: Vec<&str> = earlier_inputs(&s.history).collect();
    let at = (at as usize).min(inputs.len().saturating_sub(1));
    match inputs.get(at) {
        Some(text) => {
            s.main.input = Input::new(text.to_string());
            s.main.recall = Some((at, draft));
        }
        None => s.main.input = Input::new(draft),
    }
}

/// Said when Enter comes again for a text that is still running.
pub const ALREADY_RUNNING: &str = "Already running this input; its answer is on the way.";

pub(super) fn run_current(s: &mut State, fx: &mut Vec<Effect>) {
    let Some(session) = s.session() else {
        return;
    };
    let (server, token) = (session.server.clone(), session.token.clone());
    let function = s.main.function;
    let input = s.main.input.value().to_string();
    if let Some(why) = crate::run_input::refusal(&input) {
        s.main.output = Some(Outcome::Failed {
            function,
            input,
            message: why,
            offline: false,
        });
        return;
    }
    if s.main
        .in_flight
        .iter()
        .any(|(f, i)| *f == function && *i == input)
    {
        s.notice = Some(ALREADY_RUNNING.into());
        return;
    }
    s.main.running += 1;
    s.main.in_flight.push((function, input.clone()));
    s.start(Activity::Run(function));
    fx.push(Effect::Run {
        server,
        token,
        function,
        input,
    });
}

pub(super) fn ran(
    s: &mut State,
    function: Function,
    input: String,
    result: Result<String, Failure>,
    at: (String, String),
    fx: &mut Vec<Effect>,
) {
    s.finish(Activity::Run(function));
    s.main.running = s.main.running.saturating_sub(1);
    if let Some(i) = s
        .main
        .in_flight
        .iter()
        .position(|(f, i)| *f == function && *i == input)
    {
        s.main.in_flight.remove(i);
    }
    if !s.screen.is_main() {
        return;
    }
    match result {
        Ok(output) => {
            note_online(s, fx);
            s.last_error = None;
            s.notice = None;
            // The server's copy may have come live before this answer.
            let arrived = s.history.entries.first().is_some_and(|e| {
                e.id > 0
                    && s.history.fresh.contains(&e.id)
                    && e.function == function
                    && e.input == input
                    && e.output == output
            });
            if !arrived && s.history.admits(function, &input, &output) {
                history::add_local_entry(s, function, &input, &output, at);
            }
            // Done: the box is free for the next input (↑ brings this one back).
            if s.main.input.value() == input {
                s.main.input.reset();
                s.main.recall = None;
            }
            s.main.output = Some(Outcome::Done(Output {
                function,
                input,
                output,
            }));
            s.main.output_scroll = 0;
            // Fetch the newest page so the local row gets its real id.
            history::load(s, None, false, fx);
        }
        Err(f) if f.kind == FailureKind::Auth => account::session_expired(s, fx),
        Err(f) => {
            note_failure(s, &f, fx);
            s.main.output = Some(Outcome::Failed {
                function,
                input,
                message: f.message,
                offline: f.kind == FailureKind::Unreachable,
            });
        }
    }
}

fn inside(area: Rect, col: u16, row: u16) -> bool {
    area.contains(Position::new(col, row))
}

/// Wheel: scrolls the list or the detail view. Click: focuses the pane
/// under it and selects the row clicked.
pub(super) fn on_mouse(s: &mut State, ev: MouseEvent, fx: &mut Vec<Effect>) {
    if !s.screen.is_main() {
        return;
    }
    let (col, row) = (ev.column, ev.row);
    let wheel = match ev.kind {
        MouseEventKind::ScrollUp => Some(Action::Up),
        MouseEventKind::ScrollDown => Some(Action::Down),
        _ => None,
    };
    match &s.overlay {
        Some(Overlay::Detail(_)) | Some(Overlay::Help { .. }) => {
            if let Some(action) = wheel {
                for _ in 0..WHEEL_LINES {
                    super::scroll_overlay(s, action);
                }
            }
            return;
        }
        Some(_) => return,
        None => {}
    }
    if let Some(action) = wheel {
        if inside(s.areas.output.get(), col, row) {
            for _ in 0..WHEEL_LINES {
                scroll_output(s, action);
            }
        } else {
            history::move_selection(s, action, fx);
        }
        return;
    }
    if ev.kind != MouseEventKind::Down(MouseButton::Left) {
        return;
    }
    let areas = &s.areas;
    if inside(areas.output.get(), col, row) {
        s.main.focus = Focus::Output;
    } else if inside(areas.input.get(), col, row) {
        s.main.focus = Focus::Input;
    } else if inside(areas.search.get(), col, row) {
        s.main.focus = Focus::Search;
    } else if inside(areas.rows.get(), col, row) {
        let index = s.history.offset.get() + usize::from(row - areas.rows.get().y);
        s.main.focus = Focus::History;
        if index < s.history.entries.len() {
            s.history.selected = index;
            history::maybe_prefetch(s, fx);
        }
    }
}

/// Lines one wheel notch scrolls the detail view.
const WHEEL_LINES: usize = 3;
