//! Deleting history entries: `d` in the list or the detail view asks first
//! (the delete question), then `DELETE /history/{id}`; the row goes when
//! the server says it is gone. A `delete` event from the live stream (this
//! client's own delete, or another client's) removes rows the same way.

use strop_common::{DeleteEvent, HistoryEntry};

use super::{Effect, Failure, FailureKind, account, note_failure, note_online};
use crate::app::state::*;

/// `d`: the question for `entry`. A row still waiting for the server's copy
/// (a negative id) has nothing to delete yet.
pub(super) fn ask(s: &mut State, entry: Option<HistoryEntry>) {
    match entry {
        Some(entry) if entry.id > 0 => {
            s.delete_from = match s.overlay.take() {
                Some(Overlay::Detail(d)) => Some(d),
                _ => None,
            };
            s.overlay = Some(Overlay::ConfirmDelete(entry));
        }
        Some(_) => {
            s.notice =
                Some("This entry is not saved on the server yet; try again in a moment.".into())
        }
        None => s.notice = Some("No entry to delete.".into()),
    }
}

/// The question was answered yes.
pub(super) fn confirmed(s: &mut State, entry: &HistoryEntry, fx: &mut Vec<Effect>) {
    s.overlay = None;
    s.delete_from = None;
    let Some(session) = s.session() else {
        return;
    };
    let (server, token) = (session.server.clone(), session.token.clone());
    if s.conn == Conn::Offline {
        s.last_error = Some(account::offline_notice(&s.server));
    }
    fx.push(Effect::DeleteEntry {
        server,
        token,
        id: entry.id,
    });
}

/// The question was answered no: back where it was asked.
pub(super) fn kept(s: &mut State) {
    s.overlay = s.delete_from.take().map(Overlay::Detail);
}

/// The server answered the delete of `id`.
pub(super) fn answered(
    s: &mut State,
    id: i64,
    result: Result<bool, Failure>,
    fx: &mut Vec<Effect>,
) {
    if !s.screen.is_main() {
        return;
    }
    match result {
        Ok(deleted) => {
            note_online(s, fx);
            remove(
                s,
                &DeleteEvent {
                    ids: vec![id],
                    up_to: None,
                },
            );
            s.notice = Some(if deleted {
                format!("Entry {id} deleted.")
            } else {
                format!("Entry {id} was already deleted.")
            });
        }
        Err(f) if f.kind == FailureKind::Auth => account::session_expired(s, fx),
        Err(f) => note_failure(s, &f, fx),
    }
}

/// Entries deleted, as the live stream tells.
pub(super) fn heard(s: &mut State, gone: &DeleteEvent) {
    let shown = match &s.overlay {
        Some(Overlay::Detail(d)) => Some(d.entry.id),
        Some(Overlay::ConfirmDelete(entry)) => Some(entry.id),
        _ => None,
    };
    if let Some(id) = shown
        && gone.covers(id)
    {
        s.overlay = None;
        s.delete_from = None;
        s.notice = Some(format!(
            "Entry {id} was deleted (by this or another client)."
        ));
    }
    remove(s, gone);
}

/// Takes the rows `gone` names out of the list; the selection stays on the
/// same row if it is still there, else on the row that took its place.
pub(super) fn remove(s: &mut State, gone: &DeleteEvent) {
    let h = &mut s.history;
    let before_selected = h
        .entries
        .iter()
        .take(h.selected)
        .filter(|e| e.id > 0 && gone.covers(e.id))
        .count();
    let before_offset = h
        .entries
        .iter()
        .take(h.offset.get())
        .filter(|e| e.id > 0 && gone.covers(e.id))
        .count();
    h.entries.retain(|e| e.id <= 0 || !gone.covers(e.id));
    h.fresh.retain(|id| !gone.covers(*id));
    h.selected = h
        .selected
        .saturating_sub(before_selected)
        .min(h.entries.len().saturating_sub(1));
    h.offset.set(h.offset.get().saturating_sub(before_offset));
}
