//! Live history (`GET /events`): entries made elsewhere arrive at the top
//! without moving the selection or the scroll, marked new for a moment. The
//! stream is one more source of messages; it is (re)opened with back-off and
//! `Last-Event-ID` after a drop.

use std::time::Duration;

use strop_common::HistoryEntry;

use super::{Effect, Failure, FailureKind, account};
use crate::app::state::*;

/// How long an arrived entry stays marked new.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// Said while the server refuses the stream with 429.
pub const LIVE_CAPPED: &str = "Too many live views are open for this user; showing the \
     history without live updates until one closes.";

/// The longest pause between two asks while the stream cap refuses us.
const CAPPED_MAX_WAIT: Duration = Duration::from_secs(30);

/// Opens (or reopens after `after`) the stream for the current session.
pub(super) fn follow(s: &mut State, after: Duration, fx: &mut Vec<Effect>) {
    let Some(session) = s.session() else {
        return;
    };
    let (server, token) = (session.server.clone(), session.token.clone());
    s.live.stream += 1;
    s.live.open = false;
    fx.push(Effect::Follow {
        stream: s.live.stream,
        server,
        token,
        last_id: s.live.last_id,
        after,
    });
}

/// Whether a message from stream number `stream` still counts: an older
/// stream's, or one arriving off the main screen, is ignored.
fn current(s: &State, stream: u64) -> bool {
    stream == s.live.stream && s.screen.is_main()
}

/// The server accepted the stream.
pub(super) fn opened(s: &mut State, stream: u64, fx: &mut Vec<Effect>) {
    if !current(s, stream) {
        return;
    }
    s.live.open = true;
    s.live.failures = 0;
    if std::mem::take(&mut s.live.capped) && s.last_error.as_deref() == Some(LIVE_CAPPED) {
        s.last_error = None;
    }
    super::note_online(s, fx);
    // Deletions made while no stream was open are not replayed: what is
    // shown is read again (live/mod.rs, guarantee 4).
    if std::mem::take(&mut s.live.missed) && s.history.loaded {
        super::history::reload(s, fx);
    }
}

/// The stream ended or could not open: an expiry, or it is reopened after
/// a pause.
pub(super) fn dropped(s: &mut State, stream: u64, f: Failure, fx: &mut Vec<Effect>) {
    if !current(s, stream) {
        return;
    }
    if f.kind == FailureKind::Auth {
        return account::session_expired(s, fx);
    }
    s.live.open = false;
    s.live.missed = true;
    if let Some(wait) = f.wait {
        // The per-user stream cap (429): the server is fine; say why nothing
        // is live and ask again as told, slower each time.
        super::note_online(s, fx);
        s.live.capped = true;
        s.last_error = Some(LIVE_CAPPED.into());
        let wait = wait
            .saturating_mul(s.live.failures.min(5) + 1)
            .min(CAPPED_MAX_WAIT);
        s.live.failures += 1;
        return follow(s, wait, fx);
    }
    if f.kind == FailureKind::Unreachable {
        account::reconnecting(s, fx);
    }
    let wait = account::probe_delay(s.live.failures);
    s.live.failures += 1;
    follow(s, wait, fx);
}

/// An entry committed elsewhere (or our own, from the server).
pub(super) fn arrived(s: &mut State, stream: u64, entry: HistoryEntry, fx: &mut Vec<Effect>) {
    if !current(s, stream) {
        return;
    }
    s.live.last_id = Some(s.live.last_id.map_or(entry.id, |id| id.max(entry.id)));
    let h = &mut s.history;
    if h.entries.iter().any(|e| e.id == entry.id) {
        return;
    }
    // Our own run, shown before the server's copy: the copy takes its place.
    if let Some(local) = h.entries.iter_mut().find(|e| {
        e.id < 0
            && e.function == entry.function
            && e.input == entry.input
            && e.output == entry.output
    }) {
        *local = entry;
        return;
    }
    if !h.loaded || !h.admits(entry.function, &entry.input, &entry.output) {
        return;
    }
    // Our own run, arriving before its answer: it goes on top as the
    // answer's local row would (the newest stays selected if it was).
    let ours = s
        .main
        .in_flight
        .iter()
        .any(|(f, i)| *f == entry.function && *i == entry.input);
    // Newer than everything loaded (ids grow): it goes on top, and the rows
    // the person looks at stay where they are.
    let id = entry.id;
    h.entries.insert(0, entry);
    if h.entries.len() > 1 && !(ours && h.selected == 0) {
        h.selected += 1;
        if h.offset.get() > 0 {
            h.offset.set(h.offset.get() + 1);
        }
    }
    h.fresh.push(id);
    fx.push(Effect::Unmark {
        id,
        after: FRESH_FOR,
    });
}

/// Entries deleted, by this client or another.
pub(super) fn deleted(s: &mut State, stream: u64, gone: &strop_common::DeleteEvent) {
    if current(s, stream) {
        super::deletion::heard(s, gone);
    }
}

pub(super) fn unmark(s: &mut State, id: i64) {
    s.history.fresh.retain(|x| *x != id);
}
