//! The sessions overlay (F7): where this user is logged in, and logging
//! the others out. The server revokes on every replica at once.

use super::{Effect, Failure, note_failure, note_online};
use crate::app::keymap::Action;
use crate::app::state::*;

/// Opens the overlay and asks for the list.
pub(super) fn open(s: &mut State, fx: &mut Vec<Effect>) {
    s.overlay = Some(Overlay::Sessions(SessionsView::default()));
    load(s, fx);
}

fn load(s: &State, fx: &mut Vec<Effect>) {
    if let Some(session) = s.session() {
        fx.push(Effect::LoadSessions {
            server: session.server.clone(),
            token: session.token.clone(),
        });
    }
}

fn view(s: &mut State) -> Option<&mut SessionsView> {
    match &mut s.overlay {
        Some(Overlay::Sessions(v)) => Some(v),
        _ => None,
    }
}

pub(super) fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let Some(v) = view(s) else { return };
    let len = v.list.as_ref().map_or(0, Vec::len);
    if let Some(asked) = v.asking.take() {
        // The question: only its yes logs anything out.
        if action == Action::Confirm {
            v.error = None;
            revoke(s, asked, fx);
        }
        return;
    }
    match action {
        Action::Close | Action::Cancel => s.overlay = None,
        Action::Up => v.selected = v.selected.saturating_sub(1),
        Action::Down => v.selected = (v.selected + 1).min(len.saturating_sub(1)),
        Action::Refresh => {
            v.message = None;
            v.error = None;
            load(s, fx);
        }
        Action::RevokeSelected => {
            let Some(row) = v.list.as_ref().and_then(|l| l.get(v.selected)) else {
                return;
            };
            if row.current {
                v.error = Some("That is this session; log out with Ctrl+O instead.".into());
                return;
            }
            v.asking = Some(Revoke::One(row.id));
        }
        Action::RevokeOthers => v.asking = Some(Revoke::Others),
        _ => {}
    }
}

fn revoke(s: &State, asked: Revoke, fx: &mut Vec<Effect>) {
    let id = match asked {
        Revoke::One(id) => Some(id),
        Revoke::Others => None,
    };
    if let Some(session) = s.session() {
        fx.push(Effect::RevokeSessions {
            server: session.server.clone(),
            token: session.token.clone(),
            id,
        });
    }
}

pub(super) fn loaded(
    s: &mut State,
    result: Result<strop_common::SessionsResponse, Failure>,
    fx: &mut Vec<Effect>,
) {
    match result {
        Ok(list) => {
            note_online(s, fx);
            if let Some(v) = view(s) {
                v.selected = v.selected.min(list.sessions.len().saturating_sub(1));
                v.list = Some(list.sessions);
            }
        }
        Err(f) => failed(s, f, fx),
    }
}

pub(super) fn revoked(s: &mut State, result: Result<String, Failure>, fx: &mut Vec<Effect>) {
    match result {
        Ok(message) => {
            note_online(s, fx);
            if let Some(v) = view(s) {
                v.message = Some(message);
            }
            // The list as it is now.
            load(s, fx);
        }
        Err(f) => failed(s, f, fx),
    }
}

fn failed(s: &mut State, f: Failure, fx: &mut Vec<Effect>) {
    if f.kind == super::FailureKind::Auth {
        // This session itself is gone: the usual way back to the login.
        s.overlay = None;
        return super::account::session_expired(s, fx);
    }
    note_failure(s, &f, fx);
    if let Some(v) = view(s) {
        v.error = Some(f.message);
    }
}
