//! Start-up: what is known before any I/O ([`Start`], from the same
//! [`Launch`] the scripting commands use) and the first state with the
//! effects that get things going ([`init`]).

use strop_common::Function;
use tui_input::Input;

use super::message::Effect;
use super::state::*;
use crate::session::Launch;

/// What start-up knows before any I/O.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// Normalized server from the flag, the environment or the settings.
    pub server: Option<String>,
    /// Why the flag/env server was not usable, if it was not.
    pub server_error: Option<String>,
    /// Whose token to look for: `--user`/`STROP_USER`, else the last user
    /// saved for that server.
    pub last_user: Option<String>,
    /// `STROP_TOKEN`.
    pub env_token: Option<SecretString>,
    /// A problem with the settings file, worth telling.
    pub settings_error: Option<String>,
    /// The function chosen last time.
    pub function: Option<Function>,
    /// Mouse reports are on.
    pub mouse: bool,
}

impl Start {
    /// The TUI's start, from the same [`Launch`] the scripting commands use:
    /// one precedence for server, user and token.
    pub fn from_launch(launch: &Launch) -> Start {
        let mut start = Start {
            settings_error: launch.settings_error.as_ref().map(ToString::to_string),
            env_token: launch.env_token.clone(),
            ..Start::default()
        };
        match launch.server() {
            // Nothing named a server: the first run asks for one.
            Ok((_, crate::session::ServerSource::Default)) => {}
            Ok((server, _)) => {
                start.last_user = launch.user_for(&server);
                start.server = Some(server);
            }
            Err(e) => start.server_error = Some(e.to_string()),
        }
        if start.server.is_none() {
            start.last_user = launch.user_arg.clone();
        }
        start
    }
}

/// The first state and the effects that get things going.
pub fn init(start: Start) -> (State, Vec<Effect>) {
    let mut s = State::new();
    s.last_user = start.last_user.clone();
    s.last_error = start.settings_error;
    s.mouse = start.mouse;
    if let Some(f) = start.function {
        s.main.function = f;
    }
    let mut fx = Vec::new();
    if start.env_token.is_some() {
        s.keyring = Keyring::Overridden;
    } else {
        s.start(Activity::OpenKeyring);
        fx.push(Effect::OpenKeyring);
    }
    if let Some(name) = &start.last_user {
        s.login.username = Input::new(name.clone());
        s.login.focus = LoginField::Password;
    }
    let Some(server) = start.server else {
        s.screen = Screen::Server;
        s.server_error = start.server_error;
        return (s, fx);
    };
    s.server = server.clone();
    s.server_input = Input::new(server.clone());
    if let Some(token) = start.env_token {
        s.screen = Screen::Connecting;
        s.start(Activity::VerifySession);
        fx.push(Effect::VerifySession {
            session: Session {
                server,
                user: start.last_user.unwrap_or_default(),
                token,
                source: TokenSource::Env,
            },
        });
    } else if start.last_user.is_some() {
        // Wait for the keyring to open, then look the token up.
        s.screen = Screen::Connecting;
    } else {
        s.screen = Screen::Login;
        s.start(Activity::CheckServer);
        fx.push(Effect::CheckServer { server });
    }
    (s, fx)
}
