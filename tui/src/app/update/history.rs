//! The history list: pages, search, filter, selection.

use std::time::Duration;

use strop_common::{Function, HistoryEntry, HistoryResponse};
use tui_input::Input;

use super::{Effect, Failure, FailureKind, PAGE_ROWS, account, note_failure, note_online};
use crate::app::keymap::Action;
use crate::app::state::*;

pub(super) fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    use Action::*;
    match action {
        Search => s.main.focus = Focus::Search,
        ClearSearch => {
            forget_refusal(s);
            s.main.focus = Focus::History;
            if !s.history.search.value().is_empty() {
                s.history.search.reset();
                s.history.search_ticket += 1;
                if !s.history.applied_query.is_empty() {
                    s.history.applied_query.clear();
                    reload(s, fx);
                }
            }
        }
        CycleFilter => {
            s.history.filter = match s.history.filter {
                None => Some(Function::Reverse),
                Some(Function::Reverse) => Some(Function::Piglatin),
                Some(Function::Piglatin) => None,
            };
            reload(s, fx);
        }
        Refresh => {
            s.last_error = None;
            reload(s, fx);
        }
        Up | Down | PageUp | PageDown | Top | Bottom => move_selection(s, action, fx),
        _ => {}
    }
}

/// Said while End walks to the oldest entry, page by page.
pub const TO_OLDEST: &str =
    "Loading older entries: the selection moves to the oldest as they arrive.";

/// Edits the search box; a change (re)starts the debounce.
pub(super) fn edit_search(s: &mut State, edit: impl FnOnce(&mut Input), fx: &mut Vec<Effect>) {
    let before = s.history.search.value().to_string();
    edit(&mut s.history.search);
    if s.history.search.value() != before {
        forget_refusal(s);
        s.history.search_ticket += 1;
        fx.push(Effect::Debounce {
            ticket: s.history.search_ticket,
            after: Duration::from_millis(SEARCH_DEBOUNCE_MS),
        });
    }
}

pub(super) fn search_due(s: &mut State, ticket: u64, fx: &mut Vec<Effect>) {
    if ticket == s.history.search_ticket && s.screen.is_main() {
        let q = s.history.search.value().to_string();
        if q != s.history.applied_query {
            s.history.applied_query = q;
            reload(s, fx);
        }
    }
}

pub(super) fn move_selection(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let h = &mut s.history;
    h.to_oldest = action == Action::Bottom && h.next_before.is_some();
    if h.to_oldest {
        s.notice = Some(TO_OLDEST.into());
    }
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

pub(super) fn loaded(
    s: &mut State,
    generation: u64,
    before: Option<i64>,
    result: Result<HistoryResponse, Failure>,
    fx: &mut Vec<Effect>,
) {
    s.finish(Activity::LoadHistory);
    if generation != s.history.generation || !s.screen.is_main() {
        return;
    }
    s.history.loading = false;
    match result {
        Ok(page) => {
            s.history.error = None;
            s.history.refused = false;
            note_online(s, fx);
            // Unfiltered, the newest row is where a reopened stream resumes.
            if s.history.filter.is_none() && s.history.applied_query.is_empty() {
                let newest = page.history.iter().map(|e| e.id).max();
                s.live.last_id = s.live.last_id.max(newest);
            }
            merge_page(&mut s.history, before, page);
            let h = &mut s.history;
            if h.to_oldest {
                h.selected = h.entries.len().saturating_sub(1);
                h.to_oldest = h.next_before.is_some();
                if !h.to_oldest && s.notice.as_deref() == Some(TO_OLDEST) {
                    s.notice = None;
                }
            }
            maybe_prefetch(s, fx);
        }
        Err(f) if f.kind == FailureKind::Auth => account::session_expired(s, fx),
        Err(f) => {
            note_failure(s, &f, fx);
            // A refused search: no rows, rather than the rows of no search.
            let refused = f.kind == FailureKind::Refused
                && before.is_none()
                && !s.history.applied_query.is_empty();
            if refused {
                let h = &mut s.history;
                h.entries.clear();
                h.fresh.clear();
                h.selected = 0;
                h.offset.set(0);
                h.next_before = None;
            }
            s.history.refused = refused;
            s.history.error = Some(f.message);
        }
    }
}

/// A refused search's sentence is about that search: it goes once the
/// search changes or ends, or the list is loaded again.
pub(super) fn forget_refusal(s: &mut State) {
    if s.history.refused && s.last_error.is_some() && s.last_error == s.history.error {
        s.last_error = None;
    }
}

/// The query changed (or a refresh): start over from the newest page.
pub(super) fn reload(s: &mut State, fx: &mut Vec<Effect>) {
    forget_refusal(s);
    s.history.to_oldest = false;
    s.history.generation += 1;
    s.history.loading = false;
    s.history.loaded = false;
    load(s, None, true, fx);
}

pub(super) fn load(s: &mut State, before: Option<i64>, mark_loading: bool, fx: &mut Vec<Effect>) {
    let Some(session) = s.session() else {
        return;
    };
    let (server, token) = (session.server.clone(), session.token.clone());
    if mark_loading {
        s.history.loading = true;
    }
    s.start(Activity::LoadHistory);
    fx.push(Effect::LoadHistory {
        server,
        token,
        generation: s.history.generation,
        query: s.history.query(before),
    });
}

/// Older pages load as the selection comes near the end of what is loaded.
pub(super) fn maybe_prefetch(s: &mut State, fx: &mut Vec<Effect>) {
    let h = &s.history;
    if h.loading || !h.loaded {
        return;
    }
    if let Some(before) = h.next_before
        && h.selected + PREFETCH_MARGIN >= h.entries.len()
    {
        load(s, Some(before), true, fx);
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

pub(super) fn add_local_entry(
    s: &mut State,
    function: Function,
    input: &str,
    output: &str,
    at: (String, String),
) {
    let id = s.history.next_local_id;
    s.history.next_local_id -= 1;
    let user = s.session().map(|x| x.user.clone()).unwrap_or_default();
    s.history.entries.insert(
        0,
        HistoryEntry {
            function,
            id,
            input: input.to_string(),
            output: output.to_string(),
            time: at.0,
            timestamp: at.1,
            user,
        },
    );
    // Keep the same row selected, unless that was the newest: then the new
    // row is.
    if s.history.selected > 0 {
        s.history.selected += 1;
    }
}
