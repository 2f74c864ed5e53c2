//! The terminal's events, read on a thread of their own.
//!
//! crossterm's default (mio, edge-triggered) source reads one 1 KiB chunk per
//! readiness edge: keys typed faster than that stayed in the tty until the
//! next key arrived (issue 17: the screen lagged the keyboard by
//! kilobytes). With `use-dev-tty` the source polls level-triggered and reads
//! until the tty is empty; a blocking `read` on a thread of its own hands
//! every event over as soon as it is parsed, and the loop drains them all
//! before drawing.

use crossterm::event::Event;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::app::update::Msg;

/// Starts the reader; the channel closes if the terminal goes away.
pub fn spawn_reader() -> UnboundedReceiver<std::io::Result<Event>> {
    let (tx, rx) = unbounded_channel();
    // Not joined: at exit it is blocked in `read`, and ends with the process.
    let _ = std::thread::Builder::new()
        .name("strop-keys".into())
        .spawn(move || {
            loop {
                let ev = crossterm::event::read();
                let failed = ev.is_err();
                if tx.send(ev).is_err() || failed {
                    break;
                }
            }
        });
    rx
}

/// The message for one terminal event; `None` for a resize (ratatui picks
/// up the new size on the next frame, which the loop draws anyway).
pub fn message(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(key) => Some(Msg::Key(key)),
        Event::Paste(text) => Some(Msg::Paste(text)),
        Event::Mouse(ev) => Some(Msg::Mouse(ev)),
        _ => None,
    }
}
