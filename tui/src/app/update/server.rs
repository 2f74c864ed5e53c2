//! The server-address screen.

use tui_input::Input;

use super::{Effect, Failure, note_failure, note_online};
use crate::app::keymap::Action;
use crate::app::state::*;

pub(super) fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Submit => {
            let server = s.server_input.value().trim().to_string();
            s.server_input = Input::new(server.clone());
            s.server_error = None;
            s.start(Activity::CheckServer);
            fx.push(Effect::CheckServer { server });
        }
        // Back to the log-in form of the server we had, unchanged.
        Action::Back if !s.server.is_empty() => {
            s.server_error = None;
            // The state shown was the typed server's: check the one kept.
            s.conn = Conn::Unknown;
            let error = s.login.error.take();
            super::account::to_login(s, error, fx);
        }
        _ => {}
    }
}

pub(super) fn checked(
    s: &mut State,
    input: String,
    result: Result<String, Failure>,
    fx: &mut Vec<Effect>,
) {
    s.finish(Activity::CheckServer);
    let asked_here = matches!(s.screen, Screen::Server) && s.server_input.value().trim() == input;
    match result {
        Ok(server) => {
            note_online(s, fx);
            if asked_here {
                if server != s.server {
                    s.last_user = None;
                }
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
            if asked_here {
                // A probe would check the old server; this one is not chosen.
                s.conn = if f.kind == super::FailureKind::Unreachable {
                    Conn::Offline
                } else {
                    Conn::Online
                };
                s.server_error = Some(f.message);
            } else {
                note_failure(s, &f, fx);
            }
        }
    }
}
