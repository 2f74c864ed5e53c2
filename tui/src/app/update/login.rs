//! The log-in / register form.

use tui_input::{Input, InputRequest};

use super::{Effect, Failure, FailureKind, account, note_failure, note_online};
use crate::app::keymap::Action;
use crate::app::state::*;

pub(super) fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Submit => submit(s, fx),
        Action::NextField | Action::PrevField => {
            let fields = fields(s.login.mode);
            let at = fields.iter().position(|f| *f == s.login.focus).unwrap_or(0);
            let step = if action == Action::NextField {
                1
            } else {
                fields.len() - 1
            };
            s.login.focus = fields[(at + step) % fields.len()];
        }
        Action::ToggleMode => {
            s.login.mode = match s.login.mode {
                LoginMode::Login => LoginMode::Register,
                LoginMode::Register => LoginMode::Login,
            };
            s.login.confirm.reset();
            if s.login.focus == LoginField::Confirm {
                s.login.focus = LoginField::Password;
            }
            s.login.error = None;
        }
        Action::ChangeServer => {
            s.screen = Screen::Server;
            s.server_input = Input::new(if s.server.is_empty() {
                DEFAULT_SERVER.into()
            } else {
                s.server.clone()
            });
            s.server_error = None;
        }
        _ => {}
    }
}

/// The form's fields in Tab order.
fn fields(mode: LoginMode) -> &'static [LoginField] {
    match mode {
        LoginMode::Login => &[LoginField::Username, LoginField::Password],
        LoginMode::Register => &[
            LoginField::Username,
            LoginField::Password,
            LoginField::Confirm,
        ],
    }
}

pub(super) fn edit(s: &mut State, req: InputRequest) {
    if s.login.busy {
        return;
    }
    match s.login.focus {
        LoginField::Username => s.login.username.handle(req),
        LoginField::Password => s.login.password.handle(req),
        LoginField::Confirm => s.login.confirm.handle(req),
    };
}

fn submit(s: &mut State, fx: &mut Vec<Effect>) {
    if s.login.busy {
        return;
    }
    let username = s.login.username.value().to_string();
    let password = s.login.password.value().to_string();
    if s.login.focus == LoginField::Username && password.is_empty() {
        s.login.focus = LoginField::Password;
        return;
    }
    if username.is_empty() {
        s.login.error = Some("Enter a username.".into());
        s.login.focus = LoginField::Username;
        return;
    }
    if password.is_empty() {
        s.login.error = Some("Enter a password.".into());
        s.login.focus = LoginField::Password;
        return;
    }
    if s.login.mode == LoginMode::Register {
        // A new password is typed twice (masked, a typo would lock you out).
        let confirm = s.login.confirm.value();
        if confirm.is_empty() {
            s.login.focus = LoginField::Confirm;
            return;
        }
        if confirm != password {
            s.login.error = Some("The passwords do not match; type it again.".into());
            s.login.confirm.reset();
            s.login.focus = LoginField::Confirm;
            return;
        }
    }
    s.login.error = None;
    s.login.busy = true;
    s.notice = None;
    let server = s.server.clone();
    let password = SecretString::from(password);
    match s.login.mode {
        LoginMode::Login => {
            s.start(Activity::LogIn);
            fx.push(Effect::Authenticate {
                server,
                username,
                password,
            });
        }
        LoginMode::Register => {
            s.start(Activity::Register);
            fx.push(Effect::Register {
                server,
                username,
                password,
            });
        }
    }
}

pub(super) fn registered(
    s: &mut State,
    username: String,
    result: Result<(), Failure>,
    fx: &mut Vec<Effect>,
) {
    s.finish(Activity::Register);
    match result {
        Ok(()) => {
            note_online(s, fx);
            s.notice = Some(format!("Registered \"{username}\"."));
            // Log straight in with the same password.
            let password = SecretString::from(s.login.password.value());
            s.start(Activity::LogIn);
            fx.push(Effect::Authenticate {
                server: s.server.clone(),
                username,
                password,
            });
        }
        Err(f) => {
            s.login.busy = false;
            note_failure(s, &f, fx);
            s.login.error = Some(f.message);
        }
    }
}

pub(super) fn authenticated(
    s: &mut State,
    username: String,
    result: Result<SecretString, Failure>,
    fx: &mut Vec<Effect>,
) {
    s.finish(Activity::LogIn);
    s.login.busy = false;
    match result {
        Ok(token) => {
            note_online(s, fx);
            s.login.password.reset();
            s.login.confirm.reset();
            s.login.error = None;
            s.login.mode = LoginMode::Login;
            s.last_user = Some(username.clone());
            s.last_error = None;
            // Opening: stored once it opens (see `account::keyring_opened`).
            if matches!(s.keyring, Keyring::Ready(_)) {
                fx.push(Effect::StoreToken {
                    server: s.server.clone(),
                    user: username.clone(),
                    token: token.clone(),
                });
            }
            fx.push(Effect::SaveSettings {
                server: s.server.clone(),
                last_user: Some(username.clone()),
            });
            let session = Session {
                server: s.server.clone(),
                user: username,
                token,
                source: TokenSource::Keyring,
            };
            account::enter_main(s, session, fx);
        }
        Err(f) => {
            note_failure(s, &f, fx);
            // A refused password is of no further use: type it afresh.
            if f.kind == FailureKind::Credentials {
                s.login.password.reset();
                s.login.focus = LoginField::Password;
            }
            s.login.error = Some(f.message);
        }
    }
}
