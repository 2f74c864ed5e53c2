//! What belongs to no one screen: the keyring, the stored token and its
//! check at start-up, log-out and expiry, and the connection (probing
//! `/healthz` while offline until the server answers again).

use std::time::Duration;

use tui_input::Input;

use super::{Effect, Failure, FailureKind, Msg, history, note_failure, note_online};
use crate::app::state::*;
use crate::session::{ENV_TOKEN_REFUSED, Stored, same_secret};

/// First probe delay while offline; it doubles up to [`PROBE_MAX`].
const PROBE_FIRST: Duration = Duration::from_millis(250);
/// A return is noticed within this (issue 17: every transition within 2 s).
const PROBE_MAX: Duration = Duration::from_secs(2);

pub(super) fn update(s: &mut State, msg: Msg, fx: &mut Vec<Effect>) {
    match msg {
        Msg::KeyringOpened(result) => keyring_opened(s, result, fx),
        Msg::TokenLoaded { result } => {
            s.finish(Activity::LoadToken);
            match (result, s.last_user.clone()) {
                (Ok(Some(token)), Some(user)) => {
                    s.start(Activity::VerifySession);
                    fx.push(Effect::VerifySession {
                        session: Session {
                            server: s.server.clone(),
                            user,
                            token,
                            source: TokenSource::Keyring,
                        },
                    });
                }
                (Ok(_), _) => to_login(s, None, fx),
                (Err(reason), _) => to_login(s, Some(reason), fx),
            }
        }
        Msg::SessionVerified { session, result } => verified(s, session, result, fx),
        Msg::TokenStored(Err(reason)) => {
            s.last_error = Some(format!(
                "{reason} You stay logged in until you quit; set STROP_TOKEN to skip the login next time."
            ));
        }
        Msg::TokenDeleted(Err(reason)) | Msg::SettingsSaved(Err(reason)) => {
            s.last_error = Some(reason);
        }
        Msg::LoggedOut(result) => logged_out(s, result, fx),
        Msg::NewerToken { refused, found } => newer_token(s, refused, found, fx),
        Msg::Probed(result) => probed(s, result, fx),
        // Routed elsewhere by `update`.
        _ => {}
    }
}

fn keyring_opened(s: &mut State, result: Result<String, String>, fx: &mut Vec<Effect>) {
    s.finish(Activity::OpenKeyring);
    match result {
        Ok(backend) => {
            s.keyring = Keyring::Ready(backend);
            // Logged in through the form before the keyring opened: store now.
            if let Some(session) = s.session()
                && session.source == TokenSource::Keyring
            {
                fx.push(Effect::StoreToken {
                    server: session.server.clone(),
                    user: session.user.clone(),
                    token: session.token.clone(),
                });
            }
            if matches!(s.screen, Screen::Connecting) {
                match s.last_user.clone() {
                    Some(user) if !s.server.is_empty() => {
                        s.start(Activity::LoadToken);
                        fx.push(Effect::LoadToken {
                            server: s.server.clone(),
                            user,
                        });
                    }
                    _ => to_login(s, None, fx),
                }
            }
        }
        Err(reason) => {
            s.keyring = Keyring::Unavailable(reason.clone());
            s.last_error = Some(reason);
            if matches!(s.screen, Screen::Connecting) {
                to_login(s, None, fx);
            }
        }
    }
}

fn verified(
    s: &mut State,
    mut session: Session,
    result: Result<String, Failure>,
    fx: &mut Vec<Effect>,
) {
    s.finish(Activity::VerifySession);
    // A check of a session that is gone (logged out meanwhile) changes nothing.
    let current = match &s.screen {
        Screen::Connecting => true,
        Screen::Main(now) => same_secret(&now.token, &session.token),
        _ => false,
    };
    let adopting = matches!(&s.screen, Screen::Main(now) if s.adopting.as_ref().is_some_and(|a| same_secret(a, &now.token)));
    if adopting {
        s.adopting = None;
        return adopted(s, session, result, fx);
    }
    if !current {
        return;
    }
    match result {
        Ok(user) => {
            note_online(s, fx);
            session.user = user;
            enter_main(s, session, fx);
        }
        Err(f) if f.kind == FailureKind::Auth => session_expired(s, fx),
        Err(f) => {
            // The server is down or odd: we cannot check the token, so keep
            // it and land in main; the status bar says what is wrong, and the
            // probe checks again once the server answers.
            note_failure(s, &f, fx);
            if matches!(s.screen, Screen::Connecting) {
                enter_main(s, session, fx);
            }
        }
    }
}

/// Main screen for `session`, history from the newest page.
pub(super) fn enter_main(s: &mut State, session: Session, fx: &mut Vec<Effect>) {
    let fresh = !s.screen.is_main();
    s.screen = Screen::Main(session);
    if fresh {
        s.main.focus = Focus::Input;
        history::reload(s, fx);
        super::live::follow(s, Duration::ZERO, fx);
    }
}

pub(super) fn to_login(s: &mut State, error: Option<String>, fx: &mut Vec<Effect>) {
    s.screen = Screen::Login;
    s.login.error = error;
    if s.conn == Conn::Unknown && !s.server.is_empty() {
        s.start(Activity::CheckServer);
        fx.push(Effect::CheckServer {
            server: s.server.clone(),
        });
    }
}

/// A token was refused. First (the session rules, `session`): a login
/// elsewhere on this machine may have replaced it; only when the keyring
/// holds nothing newer is the session over.
pub(super) fn session_expired(s: &mut State, fx: &mut Vec<Effect>) {
    if let Screen::Main(session) = &s.screen
        && session.source == TokenSource::Keyring
        && !session.user.is_empty()
        && matches!(s.keyring, Keyring::Ready(_))
    {
        if s.adopting
            .as_ref()
            .is_some_and(|a| same_secret(a, &session.token))
        {
            // Already looking (the run and the stream were both refused).
            return;
        }
        s.adopting = Some(session.token.clone());
        fx.push(Effect::FindNewerToken {
            server: session.server.clone(),
            user: session.user.clone(),
            refused: session.token.clone(),
        });
        return;
    }
    session_over(s, fx);
}

fn newer_token(
    s: &mut State,
    refused: SecretString,
    found: Result<Stored, String>,
    fx: &mut Vec<Effect>,
) {
    if !s
        .adopting
        .as_ref()
        .is_some_and(|a| same_secret(a, &refused))
    {
        return;
    }
    match (found, s.session().cloned()) {
        (Ok(Stored::Newer(token)), Some(session)) => {
            s.start(Activity::VerifySession);
            fx.push(Effect::VerifySession {
                session: Session { token, ..session },
            });
        }
        // Nothing newer (or the entry is gone): whichever sibling strop
        // read the keyring first, all of them say the same.
        _ => {
            s.adopting = None;
            session_over(s, fx);
        }
    }
}

/// The keyring's newer token was checked: carry on with it, or end.
fn adopted(s: &mut State, session: Session, result: Result<String, Failure>, fx: &mut Vec<Effect>) {
    match result {
        Err(f) if f.kind == FailureKind::Auth => session_over(s, fx),
        result => {
            match result {
                Ok(_) => note_online(s, fx),
                Err(f) => note_failure(s, &f, fx),
            }
            s.screen = Screen::Main(session);
            s.notice = Some(ADOPTED.into());
            s.live.failures = 0;
            super::live::follow(s, Duration::ZERO, fx);
            history::reload(s, fx);
        }
    }
}

/// Said when a login elsewhere on this machine replaced our token.
pub const ADOPTED: &str =
    "You logged in again elsewhere on this machine; this window now uses that session.";

/// The session is over: drop the token (and its keyring entry) and ask to log in.
fn session_over(s: &mut State, fx: &mut Vec<Effect>) {
    let env = match &s.screen {
        Screen::Main(session) => session.source == TokenSource::Env,
        _ => matches!(s.keyring, Keyring::Overridden),
    };
    // The CLI's sentences: one cause, one wording, wherever it is met.
    let why = if env {
        ENV_TOKEN_REFUSED
    } else {
        SESSION_EXPIRED
    };
    session_over_because(s, why, fx);
}

/// [`session_over`], saying `why` on the login form.
fn session_over_because(s: &mut State, why: &str, fx: &mut Vec<Effect>) {
    note_online(s, fx);
    let session = std::mem::replace(&mut s.screen, Screen::Login);
    let user = match &session {
        Screen::Main(session) if !session.user.is_empty() => Some(session.user.clone()),
        _ => s.last_user.clone(),
    };
    if let Screen::Main(session) = &session {
        forget_token(s, session, fx);
    } else if let Some(user) = &user {
        // Refused at start-up: the keyring entry we read is stale.
        if !matches!(s.keyring, Keyring::Overridden) {
            forget_stored(s, &s.server.clone(), user, fx);
        }
    }
    if let Some(user) = &user {
        s.login.username = Input::new(user.clone());
        s.login.focus = LoginField::Password;
    }
    s.overlay = None;
    s.login.error = Some(why.into());
    s.last_error = None;
    clear_session_view(s, fx);
}

fn forget_token(s: &State, session: &Session, fx: &mut Vec<Effect>) {
    if session.source == TokenSource::Keyring && !session.user.is_empty() {
        forget_stored(s, &session.server, &session.user, fx);
    }
}

fn forget_stored(s: &State, server: &str, user: &str, fx: &mut Vec<Effect>) {
    if matches!(s.keyring, Keyring::Ready(_)) && !server.is_empty() {
        fx.push(Effect::DeleteToken {
            server: server.to_string(),
            user: user.to_string(),
        });
    }
}

/// Log-out confirmed: tell the server (the answer is `LoggedOut`).
pub(super) fn log_out(s: &mut State, fx: &mut Vec<Effect>) {
    if let Some(session) = s.session() {
        let (server, token) = (session.server.clone(), session.token.clone());
        // Close the stream first: its end on revocation is no expiry.
        s.live = Live {
            stream: s.live.stream + 1,
            ..Live::default()
        };
        fx.push(Effect::Unfollow);
        s.start(Activity::LogOut);
        fx.push(Effect::Logout { server, token });
    }
}

fn logged_out(s: &mut State, result: Result<(), Failure>, fx: &mut Vec<Effect>) {
    s.finish(Activity::LogOut);
    let Screen::Main(session) = std::mem::replace(&mut s.screen, Screen::Login) else {
        return;
    };
    if let Err(f) = &result
        && f.kind != FailureKind::Auth
    {
        note_failure(s, f, fx);
    }
    forget_token(s, &session, fx);
    let notice = match result {
        Ok(()) => "Logged out.",
        Err(f) if f.kind == FailureKind::Auth => "Logged out.",
        Err(_) => "Logged out here; the server could not be told.",
    };
    s.notice = Some(notice.to_string());
    s.login = LoginForm {
        username: Input::new(session.user),
        focus: LoginField::Password,
        ..LoginForm::default()
    };
    clear_session_view(s, fx);
}

fn clear_session_view(s: &mut State, fx: &mut Vec<Effect>) {
    history::forget_refusal(s);
    s.overlay = None;
    s.live = Live {
        stream: s.live.stream + 1,
        ..Live::default()
    };
    fx.push(Effect::Unfollow);
    let function = s.main.function;
    s.main = MainPane {
        function,
        ..MainPane::default()
    };
    s.history = History {
        generation: s.history.generation + 1,
        next_local_id: -1,
        ..History::default()
    };
}

/// Offline: schedule a probe unless one is already scheduled.
pub(super) fn went_offline(s: &mut State, fx: &mut Vec<Effect>) {
    s.conn = Conn::Offline;
    if s.probe.is_none() && !s.server.is_empty() {
        s.probe = Some(0);
        fx.push(Effect::Probe {
            server: s.server.clone(),
            after: probe_delay(0),
        });
    }
}

/// The live stream dropped (or went silent): probe now, and say
/// "reconnecting" until the probe tells online from offline. Already
/// offline stays offline.
pub(super) fn reconnecting(s: &mut State, fx: &mut Vec<Effect>) {
    if s.conn != Conn::Offline {
        s.conn = Conn::Reconnecting;
    }
    if s.probe.is_none() && !s.server.is_empty() {
        s.probe = Some(0);
        fx.push(Effect::Probe {
            server: s.server.clone(),
            after: Duration::ZERO,
        });
    }
}

/// Back online after being offline (whichever answer told us): redo what
/// failed while we were away.
pub(super) fn back_online(s: &mut State, fx: &mut Vec<Effect>) {
    s.last_error = None;
    // "Cannot reach the server" is no longer true.
    if let Some(Outcome::Failed { offline: true, .. }) = s.main.output {
        s.main.output = None;
    }
    if s.session().is_some() && !s.live.open {
        s.live.failures = 0;
        super::live::follow(s, Duration::ZERO, fx);
    }
    match &s.screen {
        Screen::Main(session) => {
            if session.user.is_empty() {
                let session = session.clone();
                s.start(Activity::VerifySession);
                fx.push(Effect::VerifySession { session });
            }
            if s.history.error.is_some() {
                history::reload(s, fx);
            }
        }
        Screen::Login => s.login.error = None,
        Screen::Server => s.server_error = None,
        Screen::Connecting => {}
    }
}

/// How the status bar's offline notice starts (cleared when back).
pub const OFFLINE_PREFIX: &str = "Offline:";

/// What a key that needs the server says while offline.
pub fn offline_notice(server: &str) -> String {
    format!(
        "{OFFLINE_PREFIX} {server} does not answer; strop checks again every {} s and \
         carries on by itself once it is back.",
        PROBE_MAX.as_secs()
    )
}

/// 0.25 s, 0.5 s, 1 s, then every 2 s.
pub fn probe_delay(failures: u32) -> Duration {
    PROBE_FIRST
        .saturating_mul(1 << failures.min(6))
        .min(PROBE_MAX)
}

fn probed(s: &mut State, result: Result<(), Failure>, fx: &mut Vec<Effect>) {
    let Some(failures) = s.probe else {
        // Back online by another answer meanwhile.
        return;
    };
    match result {
        Err(_) => {
            s.conn = Conn::Offline;
            s.probe = Some(failures + 1);
            fx.push(Effect::Probe {
                server: s.server.clone(),
                after: probe_delay(failures + 1),
            });
        }
        Ok(()) => note_online(s, fx),
    }
}
