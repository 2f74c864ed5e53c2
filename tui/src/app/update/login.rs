//! The log-in / register form: one path for both ([`CredentialsMode`]),
//! from the fields to the answer.

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
                CredentialsMode::Login => CredentialsMode::Register,
                CredentialsMode::Register => CredentialsMode::Login,
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
fn fields(mode: CredentialsMode) -> &'static [LoginField] {
    match mode {
        CredentialsMode::Login => &[LoginField::Username, LoginField::Password],
        CredentialsMode::Register => &[
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
    if s.login.mode == CredentialsMode::Register {
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
    let mode = s.login.mode;
    send(s, mode, username, SecretString::from(password), fx);
}

/// The one way credentials leave the form, registering or logging in.
fn send(
    s: &mut State,
    mode: CredentialsMode,
    username: String,
    password: SecretString,
    fx: &mut Vec<Effect>,
) {
    s.start(activity(mode));
    fx.push(Effect::Credentials {
        mode,
        server: s.server.clone(),
        username,
        password,
    });
}

fn activity(mode: CredentialsMode) -> Activity {
    match mode {
        CredentialsMode::Login => Activity::LogIn,
        CredentialsMode::Register => Activity::Register,
    }
}

/// The server answered the form's credentials.
pub(super) fn answered(
    s: &mut State,
    mode: CredentialsMode,
    username: String,
    result: Result<Granted, Failure>,
    fx: &mut Vec<Effect>,
) {
    s.finish(activity(mode));
    match result {
        Ok(Granted::Registered(_)) => {
            note_online(s, fx);
            s.notice = Some(format!("Registered \"{username}\"."));
            // Log straight in with the same password.
            let password = SecretString::from(s.login.password.value());
            send(s, CredentialsMode::Login, username, password, fx);
        }
        Ok(Granted::Token(token)) => logged_in(s, username, token, fx),
        Err(f) => {
            s.login.busy = false;
            note_failure(s, &f, fx);
            // A refused password is of no further use: type it afresh.
            if mode == CredentialsMode::Login && f.kind == FailureKind::Credentials {
                s.login.password.reset();
                s.login.focus = LoginField::Password;
            }
            s.login.error = Some(f.message);
        }
    }
}

/// A login succeeded: the token is kept and the main screen opens.
fn logged_in(s: &mut State, username: String, token: SecretString, fx: &mut Vec<Effect>) {
    s.login.busy = false;
    note_online(s, fx);
    s.login.password.reset();
    s.login.confirm.reset();
    s.login.error = None;
    s.login.mode = CredentialsMode::Login;
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
