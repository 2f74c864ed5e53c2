//! Every message type, driven as the runtime would drive it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use std::time::Duration;

use crate::session::Stored;
use strop_common::{Function, HistoryEntry, HistoryQuery, HistoryResponse};

const SERVER: &str = "http://127.0.0.1:5000";

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn type_str(s: &mut State, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(s, ch(c))).collect()
}

fn tok() -> SecretString {
    SecretString::from("0123456789abcdef0123456789abcdef")
}

/// alice's session, token from the keyring.
fn alice() -> Session {
    Session {
        server: SERVER.into(),
        user: "alice".into(),
        token: tok(),
        source: TokenSource::Keyring,
    }
}

fn user_of(s: &State) -> Option<&str> {
    s.session().map(|x| x.user.as_str())
}

fn output_of(s: &State) -> &str {
    match &s.main.output {
        Some(Outcome::Done(out)) => &out.output,
        other => panic!("no output: {other:?}"),
    }
}

fn entry(id: i64, function: Function, input: &str, output: &str) -> HistoryEntry {
    HistoryEntry {
        function,
        id,
        input: input.into(),
        output: output.into(),
        time: "Sat, 10 Apr 2021 19:59:53 GMT".into(),
        timestamp: "2021-04-10T19:59:53.123Z".into(),
        user: "alice".into(),
    }
}

/// Ids `lo..=hi`, oldest first, as the server sends them.
fn page(lo: i64, hi: i64, next_before: Option<i64>) -> HistoryResponse {
    HistoryResponse {
        history: (lo..=hi)
            .map(|i| {
                entry(
                    i,
                    Function::Reverse,
                    &format!("in {i}"),
                    &format!("out {i}"),
                )
            })
            .collect(),
        next_before: Some(next_before),
    }
}

fn stamps() -> (String, String) {
    (
        "Sun, 22 Nov 2026 16:00:00 GMT".into(),
        "2026-11-22T16:00:00.000Z".into(),
    )
}

/// Logged in on the main screen, first history page not yet answered.
fn logged_in() -> State {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    update(
        &mut s,
        Msg::ServerChecked {
            input: SERVER.into(),
            result: Ok(SERVER.into()),
        },
    );
    update(&mut s, ch('a'));
    type_str(&mut s, "lice");
    update(&mut s, key(KeyCode::Tab));
    type_str(&mut s, "pw");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Login,
            username: "alice".into(),
            result: Ok(Granted::Token(tok())),
        },
    );
    assert!(s.screen.is_main());
    s
}

fn history_loads(fx: &[Effect]) -> Vec<HistoryQuery> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::LoadHistory { query, .. } => Some(query.clone()),
            _ => None,
        })
        .collect()
}

fn answer_history(s: &mut State, before: Option<i64>, resp: HistoryResponse) -> Vec<Effect> {
    let generation = s.history.generation;
    update(
        s,
        Msg::HistoryLoaded {
            generation,
            before,
            result: Ok(resp),
        },
    )
}

fn unreachable() -> Failure {
    Failure::new(
        FailureKind::Unreachable,
        "Cannot reach the server at http://127.0.0.1:5000: connection refused. Is strop-server running?",
    )
}

/// New-user test: a fifth live view of one user is refused with 429 (the
/// per-user stream cap). The status says why nothing is live, the stream is
/// asked for again after Retry-After (longer each time), and the sentence
/// goes once a stream opens.
#[test]
fn a_stream_refused_by_the_per_user_cap_says_so_and_retries_with_back_off() {
    let mut s = logged_in();
    let capped = || Failure {
        wait: Some(Duration::from_secs(5)),
        ..Failure::new(FailureKind::Refused, "Too many open event streams.")
    };
    let mut waits = Vec::new();
    for _ in 0..2 {
        let stream = s.live.stream;
        let fx = update(
            &mut s,
            Msg::LiveDropped {
                stream,
                failure: capped(),
            },
        );
        let Some(Effect::Follow { after, .. }) =
            fx.iter().find(|f| matches!(f, Effect::Follow { .. }))
        else {
            panic!("no retry: {fx:?}")
        };
        waits.push(*after);
    }
    assert_eq!(s.last_error.as_deref(), Some(live::LIVE_CAPPED));
    assert_eq!(s.conn, Conn::Online, "a 429 is no outage");
    assert_eq!(waits[0], Duration::from_secs(5));
    assert!(waits[1] > waits[0], "{waits:?}");
    let stream = s.live.stream;
    update(&mut s, Msg::LiveOpened { stream });
    assert_eq!(s.last_error, None);
    assert!(s.live.open);
}

fn auth() -> Failure {
    Failure::new(FailureKind::Auth, "token refused")
}

#[test]
fn first_run_asks_for_the_server_and_opens_the_keyring() {
    let (s, fx) = init(Start::default());
    assert_eq!(s.screen, Screen::Server);
    assert_eq!(s.server_input.value(), DEFAULT_SERVER);
    assert_eq!(fx, vec![Effect::OpenKeyring]);
    assert!(s.busy());
}

#[test]
fn server_screen_checks_then_goes_to_login_and_saves() {
    let (mut s, _) = init(Start::default());
    update(&mut s, ctrl('u'));
    type_str(&mut s, "localhost:5000");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::CheckServer {
            server: "localhost:5000".into()
        }]
    );
    // A failure stays on the screen, as a sentence.
    update(
        &mut s,
        Msg::ServerChecked {
            input: "localhost:5000".into(),
            result: Err(unreachable()),
        },
    );
    assert_eq!(s.screen, Screen::Server);
    assert!(
        s.server_error
            .as_deref()
            .unwrap()
            .contains("connection refused")
    );
    assert_eq!(s.conn, Conn::Offline);

    update(&mut s, key(KeyCode::Enter));
    let fx = update(
        &mut s,
        Msg::ServerChecked {
            input: "localhost:5000".into(),
            result: Ok("http://localhost:5000".into()),
        },
    );
    assert_eq!(s.screen, Screen::Login);
    assert_eq!(s.server, "http://localhost:5000");
    assert_eq!(s.conn, Conn::Online);
    assert_eq!(
        fx,
        vec![Effect::SaveSettings {
            server: "http://localhost:5000".into(),
            last_user: None
        }]
    );
}

#[test]
fn stored_token_is_verified_and_lands_in_main() {
    let (mut s, fx) = init(Start {
        server: Some(SERVER.into()),
        last_user: Some("alice".into()),
        ..Start::default()
    });
    assert_eq!(s.screen, Screen::Connecting);
    assert_eq!(fx, vec![Effect::OpenKeyring]);
    let fx = update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    assert_eq!(
        fx,
        vec![Effect::LoadToken {
            server: SERVER.into(),
            user: "alice".into()
        }]
    );
    let fx = update(
        &mut s,
        Msg::TokenLoaded {
            result: Ok(Some(tok())),
        },
    );
    assert_eq!(fx, vec![Effect::VerifySession { session: alice() }]);
    let fx = update(
        &mut s,
        Msg::SessionVerified {
            session: alice(),
            result: Ok("alice".into()),
        },
    );
    assert!(s.screen.is_main());
    assert_eq!(user_of(&s), Some("alice"));
    let loads = history_loads(&fx);
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].limit, Some(PAGE_SIZE));
    assert_eq!(loads[0].before, None);
    assert!(s.history.loading);
}

#[test]
fn refused_token_goes_to_login_with_the_reason_and_is_forgotten() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        last_user: Some("alice".into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    update(
        &mut s,
        Msg::TokenLoaded {
            result: Ok(Some(tok())),
        },
    );
    let fx = update(
        &mut s,
        Msg::SessionVerified {
            session: alice(),
            result: Err(auth()),
        },
    );
    assert_eq!(s.screen, Screen::Login);
    assert_eq!(s.login.error.as_deref(), Some(SESSION_EXPIRED));
    assert_eq!(s.login.username.value(), "alice");
    assert_eq!(s.login.focus, LoginField::Password);
    assert!(s.session().is_none());
    assert!(fx.contains(&Effect::DeleteToken {
        server: SERVER.into(),
        user: "alice".into()
    }));
}

#[test]
fn unverifiable_token_lands_in_main_offline() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        last_user: Some("alice".into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    update(
        &mut s,
        Msg::TokenLoaded {
            result: Ok(Some(tok())),
        },
    );
    update(
        &mut s,
        Msg::SessionVerified {
            session: alice(),
            result: Err(unreachable()),
        },
    );
    assert!(s.screen.is_main());
    assert_eq!(s.conn, Conn::Offline);
    assert_eq!(user_of(&s), Some("alice"));
    assert!(s.last_error.as_deref().unwrap().contains("Cannot reach"));
}

#[test]
fn no_stored_token_or_unreadable_keyring_goes_to_login() {
    let start = Start {
        server: Some(SERVER.into()),
        last_user: Some("alice".into()),
        ..Start::default()
    };
    let (mut s, _) = init(start.clone());
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    let fx = update(&mut s, Msg::TokenLoaded { result: Ok(None) });
    assert_eq!(s.screen, Screen::Login);
    assert_eq!(s.login.username.value(), "alice");
    assert_eq!(
        fx,
        vec![Effect::CheckServer {
            server: SERVER.into()
        }]
    );

    let (mut s, _) = init(start.clone());
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    update(
        &mut s,
        Msg::TokenLoaded {
            result: Err("The kernel keyring refused to read the token: denied.".into()),
        },
    );
    assert_eq!(s.screen, Screen::Login);
    assert!(
        s.login
            .error
            .as_deref()
            .unwrap()
            .contains("refused to read")
    );

    let (mut s, _) = init(start);
    update(
        &mut s,
        Msg::KeyringOpened(Err("No OS keyring is available (x); set STROP_TOKEN".into())),
    );
    assert_eq!(s.screen, Screen::Login);
    assert!(matches!(s.keyring, Keyring::Unavailable(_)));
    assert!(s.last_error.as_deref().unwrap().contains("STROP_TOKEN"));
}

#[test]
fn env_token_skips_the_keyring() {
    let (mut s, fx) = init(Start {
        server: Some(SERVER.into()),
        env_token: Some(tok()),
        ..Start::default()
    });
    assert_eq!(s.keyring, Keyring::Overridden);
    let env = Session {
        user: String::new(),
        source: TokenSource::Env,
        ..alice()
    };
    assert_eq!(
        fx,
        vec![Effect::VerifySession {
            session: env.clone()
        }]
    );
    update(
        &mut s,
        Msg::SessionVerified {
            session: env,
            result: Ok("bob".into()),
        },
    );
    assert!(s.screen.is_main());
    // A refused env token is never deleted from the keyring.
    let fx = update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "x".into(),
            result: Err(auth()),
            at: stamps(),
        },
    );
    assert_eq!(s.screen, Screen::Login);
    assert!(!fx.iter().any(|f| matches!(f, Effect::DeleteToken { .. })));
}

#[test]
fn login_form_moves_between_fields_and_submits() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    assert_eq!(s.screen, Screen::Login);
    type_str(&mut s, "alice");
    // Enter on the username with no password yet moves on.
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(s.login.focus, LoginField::Password);
    type_str(&mut s, "hunter2");
    update(&mut s, key(KeyCode::BackTab));
    assert_eq!(s.login.focus, LoginField::Username);
    let fx = update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Credentials {
            mode: CredentialsMode::Login,
            server: SERVER.into(),
            username: "alice".into(),
            password: SecretString::from("hunter2")
        }]
    );
    assert!(s.login.busy);
    // Typing while busy changes nothing.
    type_str(&mut s, "zz");
    assert_eq!(s.login.username.value(), "alice");

    let fx = update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Login,
            username: "alice".into(),
            result: Ok(Granted::Token(tok())),
        },
    );
    assert!(s.screen.is_main());
    assert_eq!(s.login.password.value(), "");
    assert!(fx.contains(&Effect::StoreToken {
        server: SERVER.into(),
        user: "alice".into(),
        token: tok()
    }));
    assert!(fx.contains(&Effect::SaveSettings {
        server: SERVER.into(),
        last_user: Some("alice".into())
    }));
    assert_eq!(history_loads(&fx).len(), 1);
}

#[test]
fn login_errors_show_inline() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    update(&mut s, key(KeyCode::Tab));
    type_str(&mut s, "pw");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.login.error.as_deref(), Some("Enter a username."));
    type_str(&mut s, "alice");
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Login,
            username: "alice".into(),
            result: Err(Failure::new(
                FailureKind::Refused,
                "Wrong username or password.",
            )),
        },
    );
    assert_eq!(s.screen, Screen::Login);
    assert!(!s.login.busy);
    assert_eq!(
        s.login.error.as_deref(),
        Some("Wrong username or password.")
    );
}

#[test]
fn register_then_logs_straight_in() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    update(&mut s, key(KeyCode::F(2)));
    assert_eq!(s.login.mode, CredentialsMode::Register);
    type_str(&mut s, "bob");
    update(&mut s, key(KeyCode::Tab));
    type_str(&mut s, "pw");
    // Enter on the password asks for it again; a different one is refused.
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(s.login.focus, LoginField::Confirm);
    type_str(&mut s, "pX");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(
        s.login.error.as_deref(),
        Some("The passwords do not match; type it again.")
    );
    assert_eq!(s.login.confirm.value(), "");
    assert_eq!(s.login.focus, LoginField::Confirm);
    type_str(&mut s, "pw");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(
        matches!(&fx[..], [Effect::Credentials { mode: CredentialsMode::Register, username, .. }] if username == "bob")
    );

    let fx = update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Register,
            username: "bob".into(),
            result: Err(Failure::new(
                FailureKind::Refused,
                "That username is taken.",
            )),
        },
    );
    assert!(fx.is_empty());
    assert_eq!(s.login.error.as_deref(), Some("That username is taken."));

    update(&mut s, key(KeyCode::Enter));
    let fx = update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Register,
            username: "bob".into(),
            result: Ok(Granted::Registered("Account created.".into())),
        },
    );
    assert_eq!(
        fx,
        vec![Effect::Credentials {
            mode: CredentialsMode::Login,
            server: SERVER.into(),
            username: "bob".into(),
            password: SecretString::from("pw")
        }]
    );
    // Ctrl+T toggles back.
    update(&mut s, ctrl('t'));
    assert_eq!(s.login.mode, CredentialsMode::Login);
}

#[test]
fn esc_on_login_changes_server() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::Server);
    assert_eq!(s.server_input.value(), SERVER);
}

/// New-user finding 3: a typed server that did not answer made the status
/// say "offline"; back on the form of the server kept (which runs), the
/// state is that server's: unknown, and checked again.
#[test]
fn back_from_an_unreachable_server_checks_the_one_kept() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    update(
        &mut s,
        Msg::ServerChecked {
            input: SERVER.into(),
            result: Ok(SERVER.into()),
        },
    );
    assert_eq!(s.conn, Conn::Online);
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ctrl('u'));
    type_str(&mut s, "http://127.0.0.1:1");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::ServerChecked {
            input: "http://127.0.0.1:1".into(),
            result: Err(unreachable()),
        },
    );
    assert_eq!(s.conn, Conn::Offline);
    let fx = update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::Login);
    assert_ne!(s.conn, Conn::Offline);
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::CheckServer { server } if server == SERVER)),
        "{fx:?}"
    );
    update(
        &mut s,
        Msg::ServerChecked {
            input: SERVER.into(),
            result: Ok(SERVER.into()),
        },
    );
    assert_eq!(s.conn, Conn::Online);
}

#[test]
fn keyring_and_settings_failures_are_told() {
    let mut s = logged_in();
    update(
        &mut s,
        Msg::TokenStored(Err(
            "The kernel keyring refused to save the token: quota.".into()
        )),
    );
    assert!(s.last_error.as_deref().unwrap().contains("STROP_TOKEN"));
    update(&mut s, Msg::TokenDeleted(Err("cannot delete".into())));
    assert_eq!(s.last_error.as_deref(), Some("cannot delete"));
    update(
        &mut s,
        Msg::SettingsSaved(Err("Cannot save the settings file x: denied.".into())),
    );
    assert!(s.last_error.as_deref().unwrap().starts_with("Cannot save"));
    update(&mut s, Msg::TokenStored(Ok(())));
    update(&mut s, Msg::SettingsSaved(Ok(())));
    assert!(s.last_error.as_deref().unwrap().starts_with("Cannot save"));
}

#[test]
fn run_shows_output_and_the_row_at_once() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    assert_eq!(s.history.entries.len(), 3);
    type_str(&mut s, "Hello");
    update(&mut s, key(KeyCode::F(2)));
    assert_eq!(s.main.function, Function::Piglatin);
    let fx = update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Run {
            server: SERVER.into(),
            token: tok(),
            function: Function::Piglatin,
            input: "Hello".into()
        }]
    );
    assert_eq!(s.main.running, 1);
    let fx = update(
        &mut s,
        Msg::Ran {
            function: Function::Piglatin,
            input: "Hello".into(),
            result: Ok("Ellohay".into()),
            at: stamps(),
        },
    );
    assert_eq!(s.main.running, 0);
    assert_eq!(output_of(&s), "Ellohay");
    let top = &s.history.entries[0];
    assert_eq!((top.id < 0, top.output.as_str()), (true, "Ellohay"));
    assert_eq!(s.history.entries.len(), 4);
    // The newest page is fetched so the row gets its real id.
    let loads = history_loads(&fx);
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].before, None);
    let mut newest = page(1, 3, None);
    newest
        .history
        .push(entry(4, Function::Piglatin, "Hello", "Ellohay"));
    answer_history(&mut s, None, newest);
    let ids: Vec<i64> = s.history.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, [4, 3, 2, 1]);
}

#[test]
fn run_failures_are_sentences_and_401_logs_out() {
    let mut s = logged_in();
    type_str(&mut s, "x");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "x".into(),
            result: Err(unreachable()),
            at: stamps(),
        },
    );
    assert!(s.screen.is_main());
    assert_eq!(s.conn, Conn::Offline);
    assert!(s.last_error.as_deref().unwrap().contains("Cannot reach"));
    assert!(s.history.entries.is_empty());

    update(&mut s, key(KeyCode::Enter));
    let fx = update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "x".into(),
            result: Err(auth()),
            at: stamps(),
        },
    );
    let fx = nothing_newer(&mut s, fx);
    assert_eq!(s.screen, Screen::Login);
    assert_eq!(s.login.error.as_deref(), Some(SESSION_EXPIRED));
    assert!(fx.contains(&Effect::DeleteToken {
        server: SERVER.into(),
        user: "alice".into()
    }));
}

#[test]
fn a_run_outside_the_filter_is_not_listed() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 2, None));
    update(&mut s, key(KeyCode::F(3)));
    update(&mut s, key(KeyCode::F(3)));
    assert_eq!(s.history.filter, Some(Function::Piglatin));
    answer_history(
        &mut s,
        None,
        HistoryResponse {
            history: vec![],
            next_before: Some(None),
        },
    );
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "".into(),
            result: Ok("".into()),
            at: stamps(),
        },
    );
    assert!(s.history.entries.is_empty());
}

/// New-user finding 9: End stopped at the last loaded row, silently; it
/// goes on to the oldest entry as the older pages arrive, and says so.
#[test]
fn end_walks_to_the_oldest_entry_page_by_page() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(201, 300, Some(201)));
    update(&mut s, key(KeyCode::Tab));
    let fx = update(&mut s, key(KeyCode::End));
    assert_eq!(history_loads(&fx)[0].before, Some(201));
    assert_eq!(s.notice.as_deref(), Some(history::TO_OLDEST));
    let fx = answer_history(&mut s, Some(201), page(101, 200, Some(101)));
    assert_eq!(s.history.selected, 199);
    assert_eq!(history_loads(&fx)[0].before, Some(101));
    answer_history(&mut s, Some(101), page(1, 100, None));
    assert_eq!(s.history.selected, 299);
    assert_eq!(s.history.selected_entry().unwrap().id, 1);
    assert_eq!(s.notice, None);
    // Another move stops the walk.
    let mut s = logged_in();
    answer_history(&mut s, None, page(201, 300, Some(201)));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::End));
    update(&mut s, ch('g'));
    answer_history(&mut s, Some(201), page(101, 200, Some(101)));
    assert_eq!(s.history.selected, 0);
}

#[test]
fn older_pages_load_as_the_selection_nears_the_end() {
    let mut s = logged_in();
    let fx = answer_history(&mut s, None, page(101, 200, Some(101)));
    assert!(history_loads(&fx).is_empty(), "selection is at the top");
    assert_eq!(s.history.entries[0].id, 200);
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.main.focus, Focus::History);
    let mut loads = Vec::new();
    for _ in 0..85 {
        loads.extend(history_loads(&update(&mut s, key(KeyCode::Down))));
    }
    assert_eq!(loads.len(), 1, "one page at a time");
    assert_eq!(loads[0].before, Some(101));
    assert_eq!(loads[0].limit, Some(PAGE_SIZE));
    // A late answer to an older generation is ignored.
    let old = s.history.generation - 1;
    update(
        &mut s,
        Msg::HistoryLoaded {
            generation: old,
            before: Some(101),
            result: Ok(page(1, 100, None)),
        },
    );
    assert_eq!(s.history.entries.len(), 100);
    answer_history(&mut s, Some(101), page(1, 100, None));
    assert_eq!(s.history.entries.len(), 200);
    assert_eq!(s.history.entries[199].id, 1);
    assert_eq!(s.history.next_before, None);
    // End: the oldest loaded; nothing more to load.
    let fx = update(&mut s, key(KeyCode::End));
    assert_eq!(s.history.selected, 199);
    assert!(history_loads(&fx).is_empty());
    update(&mut s, ch('g'));
    assert_eq!(s.history.selected, 0);
    update(&mut s, key(KeyCode::PageDown));
    assert_eq!(s.history.selected, 10);
    update(&mut s, key(KeyCode::PageUp));
    update(&mut s, ch('k'));
    assert_eq!(s.history.selected, 0);
}

#[test]
fn history_failure_is_told_and_401_logs_out() {
    let mut s = logged_in();
    let g = s.history.generation;
    update(
        &mut s,
        Msg::HistoryLoaded {
            generation: g,
            before: None,
            result: Err(unreachable()),
        },
    );
    assert_eq!(s.conn, Conn::Offline);
    assert!(!s.history.loading);
    let fx = update(&mut s, key(KeyCode::F(5)));
    assert_eq!(history_loads(&fx).len(), 1);
    // Tried, and (issue 17) F5 while offline says so.
    assert!(s.last_error.as_deref().unwrap().contains("does not answer"));
    let g = s.history.generation;
    let fx = update(
        &mut s,
        Msg::HistoryLoaded {
            generation: g,
            before: None,
            result: Err(auth()),
        },
    );
    nothing_newer(&mut s, fx);
    assert_eq!(s.screen, Screen::Login);
}

#[test]
fn search_is_debounced_and_sent_as_q() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 5, None));
    update(&mut s, ctrl('f'));
    assert_eq!(s.main.focus, Focus::Search);
    let fx = type_str(&mut s, "ab");
    assert_eq!(
        fx,
        vec![
            Effect::Debounce {
                ticket: 1,
                after: Duration::from_millis(SEARCH_DEBOUNCE_MS)
            },
            Effect::Debounce {
                ticket: 2,
                after: Duration::from_millis(SEARCH_DEBOUNCE_MS)
            },
        ]
    );
    // Only the last keystroke's timer counts.
    assert!(update(&mut s, Msg::SearchDue(1)).is_empty());
    let fx = update(&mut s, Msg::SearchDue(2));
    let loads = history_loads(&fx);
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].q.as_deref(), Some("ab"));
    assert_eq!(s.history.applied_query, "ab");
    // Enter keeps the search and moves to the list.
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.main.focus, Focus::History);
    // Esc in the search box clears it and reloads everything.
    update(&mut s, ch('/'));
    let fx = update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.history.search.value(), "");
    assert_eq!(history_loads(&fx)[0].q, None);
}

#[test]
fn unbound_letters_in_the_list_do_nothing() {
    let mut s = logged_in();
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.main.focus, Focus::History);
    let fx = update(&mut s, ch('z'));
    assert!(fx.is_empty());
    assert_eq!(s.main.focus, Focus::History);
    assert_eq!(s.history.search.value(), "");
    assert_eq!(s.main.input.value(), "");
}

#[test]
fn filter_cycles_all_reverse_piglatin() {
    let mut s = logged_in();
    update(&mut s, key(KeyCode::Tab));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let fx = update(&mut s, ch('f'));
        seen.push(history_loads(&fx)[0].function);
    }
    assert_eq!(
        seen,
        [Some(Function::Reverse), Some(Function::Piglatin), None]
    );
}

#[test]
fn detail_opens_scrolls_reruns_and_closes() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Enter));
    let Some(Overlay::Detail(d)) = &s.overlay else {
        panic!("no detail: {:?}", s.overlay)
    };
    assert_eq!(d.entry.id, 2);
    update(&mut s, ch('j'));
    update(&mut s, key(KeyCode::PageDown));
    assert!(matches!(&s.overlay, Some(Overlay::Detail(d)) if d.scroll == 11));
    // Keys go to the overlay, not to the list below.
    assert_eq!(s.history.selected, 1);
    update(&mut s, key(KeyCode::Esc));
    assert!(s.overlay.is_none());

    update(&mut s, key(KeyCode::Enter));
    let fx = update(&mut s, ch('r'));
    assert!(s.overlay.is_none());
    assert_eq!(s.main.input.value(), "in 2");
    assert_eq!(s.main.focus, Focus::Input);
    assert!(
        matches!(&fx[..], [Effect::Run { input, function: Function::Reverse, .. }] if input == "in 2")
    );
}

#[test]
fn rerun_from_the_list() {
    let mut s = logged_in();
    let mut resp = page(1, 1, None);
    resp.history[0].function = Function::Piglatin;
    answer_history(&mut s, None, resp);
    update(&mut s, key(KeyCode::Tab));
    // Issue 17: `r` in the list fills the input (and remembers the
    // function, 7); Enter runs it.
    let fx = update(&mut s, ch('r'));
    assert_eq!(s.main.function, Function::Piglatin);
    assert_eq!(fx, vec![Effect::SaveFunction(Function::Piglatin)]);
    assert_eq!(s.main.focus, Focus::Input);
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(matches!(
        &fx[..],
        [Effect::Run {
            function: Function::Piglatin,
            ..
        }]
    ));
}

/// Issue 17, 6: "small screen" typed while the list has focus runs
/// nothing, quits nothing and types nothing.
#[test]
fn letters_typed_into_the_list_are_not_commands() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.main.focus, Focus::History);
    let mut fx = Vec::new();
    for c in "small screen; quit? run it: rq".chars() {
        fx.extend(update(&mut s, ch(c)));
    }
    assert!(fx.is_empty(), "{fx:?}");
    assert!(!s.quit);
    assert_eq!(s.overlay, None);
    assert_eq!(s.main.input.value(), "");
    assert!(
        s.notice
            .as_deref()
            .unwrap()
            .contains("letters are its commands")
    );
    // Another kind of key, and the list's letters work again.
    update(&mut s, key(KeyCode::Down));
    update(&mut s, ch('q'));
    assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
    update(&mut s, ch('y'));
    assert!(!s.quit, "only Enter confirms");
    // y was no answer: the question is gone, and Enter opens the entry.
    assert_eq!(s.overlay, None);
    update(&mut s, key(KeyCode::Down));
    update(&mut s, ch('q'));
    update(&mut s, key(KeyCode::Enter));
    assert!(s.quit);
}

fn pause(s: &mut State) {
    for _ in 0..STRAY_PAUSE_TICKS {
        update(s, Msg::Tick);
    }
}

/// New-user finding 1: the notice says "i goes back to typing", so `i`
/// (pressed after reading it) works even after a stray letter silenced the
/// list, and what follows is typed into the input.
#[test]
fn i_goes_back_to_typing_after_stray_letters() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    update(&mut s, key(KeyCode::Tab));
    type_str(&mut s, "hello");
    let notice = s.notice.clone().unwrap();
    assert!(notice.ends_with("i goes back to typing."), "{notice}");
    pause(&mut s);
    update(&mut s, ch('i'));
    assert_eq!(s.main.focus, Focus::Input);
    type_str(&mut s, "abc");
    assert_eq!(s.main.input.value(), "abc");
    // The same from the output pane.
    update(&mut s, key(KeyCode::F(6)));
    type_str(&mut s, "x");
    pause(&mut s);
    update(&mut s, ch('i'));
    assert_eq!(s.main.focus, Focus::Input);
}

/// An `i` inside a word typed on into the list stays one more letter: the
/// rest of the line is not typed into the input, and Enter runs nothing.
#[test]
fn an_i_typed_on_in_a_word_does_not_switch_to_the_input() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    update(&mut s, key(KeyCode::Tab));
    pause(&mut s);
    let fx = typed(&mut s, "ship it\n");
    assert!(
        !fx.iter().any(|f| matches!(f, Effect::Run { .. })),
        "{fx:?}"
    );
    assert_eq!(s.main.input.value(), "");
}

/// New-user finding 2: `r` in the list keeps the unsent draft as ↑ does:
/// ↓ past the newest brings it back.
#[test]
fn rerun_from_the_list_keeps_the_draft() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    type_str(&mut s, "my draft");
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Down));
    update(&mut s, ch('r'));
    assert_eq!(s.main.input.value(), "in 2");
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.main.input.value(), "in 3");
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.main.input.value(), "my draft");
    // Twice from the list: still the first draft, not the first entry.
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('r'));
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('r'));
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.main.input.value(), "my draft");
}

fn typed(s: &mut State, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| match c {
            '\n' => update(s, key(KeyCode::Enter)),
            c => update(s, ch(c)),
        })
        .collect()
}

/// Tester's finding 1: words typed into the list confirmed the question
/// their first letter opened (`daily`: d asks, y says yes). A key that is
/// no answer cancels the question and the status says so.
#[test]
fn words_typed_into_the_list_delete_log_out_or_quit_nothing() {
    for word in [
        "daily", "Lazy", "Lovely", "quit\n", "do it\n", "qx\n", "Lo\n",
    ] {
        let mut s = logged_in();
        answer_history(&mut s, None, page(1, 3, None));
        update(&mut s, key(KeyCode::Tab));
        assert_eq!(s.main.focus, Focus::History);
        let fx = typed(&mut s, word);
        assert!(
            !fx.iter().any(|f| matches!(
                f,
                Effect::DeleteEntry { .. } | Effect::Logout { .. } | Effect::Quit
            )),
            "{word:?}: {fx:?}"
        );
        assert!(!s.quit, "{word:?}");
        assert!(s.session().is_some(), "{word:?}");
        assert!(
            !matches!(
                s.overlay,
                Some(Overlay::ConfirmDelete(_) | Overlay::ConfirmLogout | Overlay::ConfirmQuit)
            ),
            "{word:?}: {:?}",
            s.overlay
        );
        assert_eq!(s.history.entries.len(), 3);
    }
    // The status says why nothing happened.
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, ch('d'));
    update(&mut s, ch('a'));
    assert_eq!(s.overlay, None);
    assert!(s.notice.as_deref().unwrap().starts_with(NOT_ANSWERED));
    // The answer right after the question still works.
    update(&mut s, key(KeyCode::Down));
    update(&mut s, ch('d'));
    assert_eq!(deletes(&update(&mut s, ch('y'))), [2]);
}

/// The sessions overlay's d and o: a stray word cannot log sessions out.
#[test]
fn words_typed_into_the_sessions_overlay_log_nothing_out() {
    let mut s = logged_in();
    update(&mut s, key(KeyCode::F(7)));
    let row = |id, current| strop_common::SessionInfo {
        created: "2021-04-10T19:00:53.123Z".into(),
        current,
        expires: "2021-05-10T19:00:53.123Z".into(),
        id,
        last_used: "2021-04-10T19:59:00.000Z".into(),
        user_agent: None,
    };
    update(
        &mut s,
        Msg::SessionsLoaded(Ok(strop_common::SessionsResponse {
            sessions: vec![row(3, false), row(7, true)],
        })),
    );
    let fx = typed(&mut s, "done, okay yes\n");
    assert!(
        !fx.iter()
            .any(|f| matches!(f, Effect::RevokeSessions { .. })),
        "{fx:?}"
    );
    assert!(matches!(&s.overlay, Some(Overlay::Sessions(v)) if v.asking.is_none()));
}

/// Under `./run` the server stops with strop: Ctrl+C asks first, and a
/// second Ctrl+C (or Enter) quits.
#[test]
fn quitting_asks_when_the_server_stops_too() {
    let mut s = logged_in();
    s.stops_server = true;
    assert!(update(&mut s, ctrl('c')).is_empty());
    assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.overlay, None);
    update(&mut s, ctrl('c'));
    assert_eq!(update(&mut s, ctrl('c')), vec![Effect::Quit]);
}

#[test]
fn help_toggles_from_anywhere_and_scrolls() {
    let mut s = logged_in();
    update(&mut s, key(KeyCode::F(1)));
    assert_eq!(s.overlay, Some(Overlay::Help { scroll: 0 }));
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.overlay, Some(Overlay::Help { scroll: 1 }));
    update(&mut s, key(KeyCode::F(1)));
    assert_eq!(s.overlay, None);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, ch('?'));
    assert!(matches!(s.overlay, Some(Overlay::Help { .. })));
    update(&mut s, ch('q'));
    assert_eq!(s.overlay, None);
    assert!(!s.quit, "q closes the help, it does not quit");
}

#[test]
fn logout_asks_then_revokes_and_forgets() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    update(&mut s, ctrl('o'));
    assert_eq!(s.overlay, Some(Overlay::ConfirmLogout));
    update(&mut s, ch('n'));
    assert_eq!(s.overlay, None);
    update(&mut s, ctrl('o'));
    let stream = s.live.stream;
    let fx = update(&mut s, ch('y'));
    assert_eq!(
        fx,
        vec![
            Effect::Unfollow,
            Effect::Logout {
                server: SERVER.into(),
                token: tok()
            }
        ]
    );
    // The stream's end on revocation is not taken for an expiry.
    update(
        &mut s,
        Msg::LiveDropped {
            stream,
            failure: auth(),
        },
    );
    assert!(s.screen.is_main());
    let fx = update(&mut s, Msg::LoggedOut(Ok(())));
    assert_eq!(
        fx,
        vec![
            Effect::DeleteToken {
                server: SERVER.into(),
                user: "alice".into()
            },
            Effect::Unfollow
        ]
    );
    assert_eq!(s.screen, Screen::Login);
    assert!(s.session().is_none());
    assert!(s.history.entries.is_empty());
    assert_eq!(s.notice.as_deref(), Some("Logged out."));
    assert_eq!(s.login.username.value(), "alice");
}

#[test]
fn logout_with_the_server_down_still_forgets_locally() {
    let mut s = logged_in();
    update(&mut s, ctrl('o'));
    update(&mut s, key(KeyCode::Enter));
    let fx = update(&mut s, Msg::LoggedOut(Err(unreachable())));
    assert!(fx.contains(&Effect::DeleteToken {
        server: SERVER.into(),
        user: "alice".into()
    }));
    assert_eq!(s.screen, Screen::Login);
    assert!(s.notice.as_deref().unwrap().contains("could not be told"));
    assert!(s.last_error.as_deref().unwrap().contains("Cannot reach"));
}

#[test]
fn tick_turns_the_spinner_only_while_busy() {
    let mut s = logged_in();
    assert!(s.busy(), "first page is loading");
    update(&mut s, Msg::Tick);
    assert_eq!(s.spinner, 1);
    answer_history(&mut s, None, page(1, 1, None));
    // The keyring store/settings effects are fire-and-forget; nothing else is out.
    assert!(!s.busy(), "{:?}", s.activities);
    update(&mut s, Msg::Tick);
    assert_eq!(s.spinner, 1);
}

#[test]
fn paste_keeps_newlines_in_the_input_and_flattens_one_line_fields() {
    let mut s = logged_in();
    update(&mut s, Msg::Paste("two\r\nlines\rthree".into()));
    assert_eq!(s.main.input.value(), "two\nlines\nthree");
    update(&mut s, ctrl('f'));
    update(&mut s, Msg::Paste("a\nb".into()));
    assert_eq!(s.history.search.value(), "a b");
}

#[test]
fn quit_keys() {
    let mut s = logged_in();
    assert_eq!(update(&mut s, ctrl('c')), vec![Effect::Quit]);
    assert!(s.quit);
    let mut s = logged_in();
    type_str(&mut s, "q");
    assert!(!s.quit, "q types into the input");
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, ch('q'));
    // Issue 17: `q` in the list asks first.
    assert!(!s.quit);
    assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
    update(&mut s, key(KeyCode::Enter));
    assert!(s.quit);
}

/// New-user test: Home and End did nothing in the detail view; they go to
/// its first and last line, as in the output pane (g and G too).
#[test]
fn home_and_end_go_to_the_ends_of_the_detail_view() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 1, None));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Enter));
    if let Some(Overlay::Detail(d)) = &s.overlay {
        d.max_scroll.set(7);
    }
    let at = |s: &State| match &s.overlay {
        Some(Overlay::Detail(d)) => d.scroll,
        other => panic!("{other:?}"),
    };
    update(&mut s, key(KeyCode::End));
    assert_eq!(at(&s), 7);
    update(&mut s, key(KeyCode::Home));
    assert_eq!(at(&s), 0);
    update(&mut s, ch('G'));
    assert_eq!(at(&s), 7);
    update(&mut s, ch('g'));
    assert_eq!(at(&s), 0);
}

#[test]
fn key_releases_are_ignored() {
    let mut s = logged_in();
    let mut ev = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
    ev.kind = KeyEventKind::Release;
    update(&mut s, Msg::Key(ev));
    assert_eq!(s.main.input.value(), "");
}

#[test]
fn overlay_scrolling_stops_at_the_end() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 1, None));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Enter));
    // The view reports how far the drawn text can scroll.
    if let Some(Overlay::Detail(d)) = &s.overlay {
        d.max_scroll.set(3);
    }
    update(&mut s, key(KeyCode::PageDown));
    update(&mut s, key(KeyCode::PageDown));
    assert!(matches!(&s.overlay, Some(Overlay::Detail(d)) if d.scroll == 3));
    update(&mut s, key(KeyCode::Up));
    assert!(matches!(&s.overlay, Some(Overlay::Detail(d)) if d.scroll == 2));
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::F(1)));
    for _ in 0..50 {
        update(&mut s, key(KeyCode::PageDown));
    }
    assert!(matches!(s.overlay, Some(Overlay::Help { scroll }) if scroll == help_len()));
}

#[test]
fn a_login_before_the_keyring_opens_is_stored_once_it_does() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    assert_eq!(s.keyring, Keyring::Opening);
    type_str(&mut s, "alice");
    update(&mut s, key(KeyCode::Tab));
    type_str(&mut s, "pw");
    update(&mut s, key(KeyCode::Enter));
    let fx = update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Login,
            username: "alice".into(),
            result: Ok(Granted::Token(tok())),
        },
    );
    assert!(!fx.iter().any(|f| matches!(f, Effect::StoreToken { .. })));
    let fx = update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    assert_eq!(
        fx,
        vec![Effect::StoreToken {
            server: SERVER.into(),
            user: "alice".into(),
            token: tok()
        }]
    );
}

fn launch(user_arg: Option<&str>, saved_user: Option<&str>) -> crate::session::Launch {
    crate::session::Launch {
        server_arg: None,
        user_arg: user_arg.map(str::to_string),
        env_token: None,
        settings: crate::settings::Settings {
            server: Some(SERVER.into()),
            last_user: saved_user.map(str::to_string),
            ..Default::default()
        },
        settings_error: None,
    }
}

#[test]
fn start_follows_the_same_launch_as_the_cli() {
    // The last user by default; --user / STROP_USER wins over it.
    let start = Start::from_launch(&launch(None, Some("bob")));
    assert_eq!(start.server.as_deref(), Some(SERVER));
    assert_eq!(start.last_user.as_deref(), Some("bob"));
    let start = Start::from_launch(&launch(Some("alice"), Some("bob")));
    assert_eq!(start.last_user.as_deref(), Some("alice"));
    let (mut s, _) = init(start);
    let fx = update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    assert_eq!(
        fx,
        vec![Effect::LoadToken {
            server: SERVER.into(),
            user: "alice".into()
        }]
    );
    // No token for alice: her name is in the form, not bob's.
    update(&mut s, Msg::TokenLoaded { result: Ok(None) });
    assert_eq!(s.login.username.value(), "alice");
}

fn probes(fx: &[Effect]) -> Vec<Duration> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Probe { after, .. } => Some(*after),
            _ => None,
        })
        .collect()
}

#[test]
fn offline_start_says_why_then_probes_and_reloads_by_itself() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        last_user: Some("alice".into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    update(
        &mut s,
        Msg::TokenLoaded {
            result: Ok(Some(tok())),
        },
    );
    let fx = update(
        &mut s,
        Msg::SessionVerified {
            session: alice(),
            result: Err(unreachable()),
        },
    );
    assert!(s.screen.is_main());
    assert_eq!(probes(&fx).len(), 1, "one probe scheduled: {fx:?}");
    let generation = s.history.generation;
    let fx = update(
        &mut s,
        Msg::HistoryLoaded {
            generation,
            before: None,
            result: Err(unreachable()),
        },
    );
    assert!(probes(&fx).is_empty(), "no second probe while one is out");
    assert!(s.history.error.as_deref().unwrap().contains("Cannot reach"));
    // Each failed probe waits longer, up to 2 s.
    let mut waits = Vec::new();
    for _ in 0..8 {
        let fx = update(&mut s, Msg::Probed(Err(unreachable())));
        waits.extend(probes(&fx));
    }
    assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
    assert_eq!(*waits.last().unwrap(), Duration::from_secs(2));
    assert_eq!(s.conn, Conn::Offline);
    // The server answers: online, and the history loads without a key.
    let fx = update(&mut s, Msg::Probed(Ok(())));
    assert_eq!(s.conn, Conn::Online);
    assert_eq!(s.probe, None);
    assert_eq!(history_loads(&fx).len(), 1);
    answer_history(&mut s, None, page(1, 2, None));
    assert_eq!(s.history.entries.len(), 2);
    assert_eq!(s.history.error, None);
    // A late probe answer changes nothing.
    assert!(update(&mut s, Msg::Probed(Ok(()))).is_empty());
}

#[test]
fn a_run_clears_the_input_and_up_recalls_earlier_inputs() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    type_str(&mut s, "draft");
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.main.input.value(), "in 3", "newest first");
    update(&mut s, key(KeyCode::Up));
    update(&mut s, key(KeyCode::Up));
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.main.input.value(), "in 1", "stops at the oldest");
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.main.input.value(), "in 2");
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.main.input.value(), "draft", "past the newest: the draft");
    assert_eq!(s.main.focus, Focus::Input);
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.main.focus, Focus::History, "↓ without a walk: the list");

    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.main.focus, Focus::Input);
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "draft".into(),
            result: Ok("tfard".into()),
            at: stamps(),
        },
    );
    assert_eq!(s.main.input.value(), "", "cleared after a success");
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.main.input.value(), "draft", "the last input comes back");
}

#[test]
fn a_failed_run_replaces_the_output_with_the_reason() {
    let mut s = logged_in();
    type_str(&mut s, "a");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "a".into(),
            result: Ok("a".into()),
            at: stamps(),
        },
    );
    type_str(&mut s, "b");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "b".into(),
            result: Err(Failure::new(
                FailureKind::Unreachable,
                "The server did not answer within 10 s.",
            )),
            at: stamps(),
        },
    );
    assert!(matches!(
        &s.main.output,
        Some(Outcome::Failed { input, message, .. })
            if input == "b" && message.contains("did not answer")
    ));
    assert_eq!(s.main.input.value(), "b", "kept for another try");
}

#[test]
fn empty_or_over_long_input_is_not_sent() {
    let mut s = logged_in();
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(
        matches!(&s.main.output, Some(Outcome::Failed { message, .. }) if message.contains("empty"))
    );
    update(&mut s, Msg::Paste("z".repeat(70_000)));
    assert_eq!(s.main.input.value().len(), 70_000);
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(
        matches!(&s.main.output, Some(Outcome::Failed { message, .. }) if message.contains("70,000"))
    );
}

#[test]
fn alt_enter_shift_enter_and_ctrl_j_add_a_line() {
    let mut s = logged_in();
    type_str(&mut s, "a");
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)),
    );
    type_str(&mut s, "b");
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT)),
    );
    type_str(&mut s, "c");
    update(&mut s, ctrl('j'));
    type_str(&mut s, "d");
    assert_eq!(s.main.input.value(), "a\nb\nc\nd");
}

#[test]
fn ctrl_r_jumps_to_the_search() {
    let mut s = logged_in();
    update(&mut s, ctrl('r'));
    assert_eq!(s.main.focus, Focus::Search);
}

#[test]
fn copy_asks_for_osc52_and_confirms() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 2, None));
    update(&mut s, ctrl('y'));
    assert_eq!(s.notice.as_deref(), Some("No output to copy yet."));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(
        update(&mut s, ch('Y')),
        vec![Effect::Copy {
            what: "the entry's input",
            text: "in 2".into()
        }]
    );
    update(
        &mut s,
        Msg::Copied {
            what: "the entry's input",
            chars: 4,
            result: Ok(()),
        },
    );
    assert_eq!(
        s.notice.as_deref(),
        Some("Copied the entry's input (4 characters) to the clipboard.")
    );
}

#[test]
fn mouse_wheel_scrolls_and_click_selects_unless_turned_off() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    use ratatui::layout::Rect;
    let mouse = |kind, column, row| {
        Msg::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let mut s = logged_in();
    s.mouse = true;
    answer_history(&mut s, None, page(1, 30, None));
    // What the view recorded when it drew.
    s.areas.rows.set(Rect::new(1, 9, 78, 12));
    s.areas.input.set(Rect::new(0, 0, 80, 3));
    update(&mut s, mouse(MouseEventKind::ScrollDown, 5, 12));
    update(&mut s, mouse(MouseEventKind::ScrollDown, 5, 12));
    assert_eq!(s.history.selected, 2);
    update(&mut s, mouse(MouseEventKind::ScrollUp, 5, 12));
    assert_eq!(s.history.selected, 1);
    update(
        &mut s,
        mouse(MouseEventKind::Down(MouseButton::Left), 5, 14),
    );
    assert_eq!((s.history.selected, s.main.focus), (5, Focus::History));
    update(&mut s, mouse(MouseEventKind::Down(MouseButton::Left), 5, 1));
    assert_eq!(s.main.focus, Focus::Input);
    s.mouse = false;
    update(&mut s, mouse(MouseEventKind::ScrollDown, 5, 12));
    assert_eq!(s.history.selected, 5);
}

#[test]
fn wrong_password_is_cleared_and_esc_leaves_the_server_screen() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    type_str(&mut s, "alice");
    update(&mut s, key(KeyCode::Tab));
    type_str(&mut s, "wrong");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Login,
            username: "alice".into(),
            result: Err(Failure::new(
                FailureKind::Credentials,
                "Wrong username or password.",
            )),
        },
    );
    assert_eq!(s.login.password.value(), "");
    assert_eq!(s.login.focus, LoginField::Password);
    assert_eq!(s.login.username.value(), "alice");

    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::Server);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::Login);
    assert_eq!(s.server, SERVER);
}

#[test]
fn the_chosen_function_is_remembered() {
    let mut s = logged_in();
    let fx = update(&mut s, key(KeyCode::F(2)));
    assert_eq!(fx, vec![Effect::SaveFunction(Function::Piglatin)]);
    let (s, _) = init(Start {
        function: Some(Function::Piglatin),
        ..Start::default()
    });
    assert_eq!(s.main.function, Function::Piglatin);
}

fn follows(fx: &[Effect]) -> Vec<(u64, Option<i64>, Duration)> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Follow {
                stream,
                last_id,
                after,
                ..
            } => Some((*stream, *last_id, *after)),
            _ => None,
        })
        .collect()
}

fn live_open(s: &mut State) -> Vec<Effect> {
    let stream = s.live.stream;
    update(s, Msg::LiveOpened { stream })
}

fn live_dropped(s: &mut State, failure: Failure) -> Vec<Effect> {
    let stream = s.live.stream;
    update(s, Msg::LiveDropped { stream, failure })
}

fn live_entry(s: &mut State, entry: HistoryEntry) -> Vec<Effect> {
    let stream = s.live.stream;
    update(s, Msg::LiveEntry { stream, entry })
}

#[test]
fn live_entries_arrive_on_top_without_moving_the_selection() {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("kernel keyring".into())));
    type_str(&mut s, "alice");
    update(&mut s, key(KeyCode::Tab));
    type_str(&mut s, "pw");
    update(&mut s, key(KeyCode::Enter));
    let fx = update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Login,
            username: "alice".into(),
            result: Ok(Granted::Token(tok())),
        },
    );
    // Entering the main screen opens the stream.
    assert_eq!(follows(&fx), vec![(1, None, Duration::ZERO)]);
    answer_history(&mut s, None, page(1, 40, None));
    assert_eq!(s.live.last_id, Some(40));
    live_open(&mut s);
    assert!(s.live.open);

    // The person looks at entry 35, scrolled down a little.
    update(&mut s, key(KeyCode::Tab));
    for _ in 0..5 {
        update(&mut s, key(KeyCode::Down));
    }
    s.history.offset.set(2);
    let fx = live_entry(&mut s, entry(41, Function::Reverse, "from elsewhere", "x"));
    assert_eq!(s.history.entries[0].id, 41);
    assert_eq!(
        s.history.selected_entry().unwrap().id,
        35,
        "same entry selected"
    );
    assert_eq!(s.history.offset.get(), 3, "same rows on screen");
    assert_eq!(s.history.fresh, vec![41]);
    assert_eq!(
        fx,
        vec![Effect::Unmark {
            id: 41,
            after: FRESH_FOR
        }]
    );
    update(&mut s, Msg::Unmark(41));
    assert!(s.history.fresh.is_empty());
    // Seen already: nothing changes.
    live_entry(&mut s, entry(41, Function::Reverse, "from elsewhere", "x"));
    assert_eq!(s.history.entries.len(), 41);

    // A filter applies to live entries too.
    update(&mut s, ch('f'));
    update(&mut s, ch('f'));
    answer_history(&mut s, None, page(1, 0, None));
    live_entry(&mut s, entry(42, Function::Reverse, "not piglatin", "x"));
    assert!(s.history.entries.iter().all(|e| e.id != 42));
    assert_eq!(s.live.last_id, Some(42));
}

#[test]
fn a_dropped_stream_reopens_with_back_off_and_last_event_id() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    live_open(&mut s);
    let fx = live_dropped(&mut s, unreachable());
    assert!(!s.live.open);
    let f = follows(&fx);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].1, Some(3), "resumes after the newest seen");
    let first = f[0].2;
    let fx = live_dropped(&mut s, unreachable());
    assert!(follows(&fx)[0].2 > first, "waits longer each time");
    // Messages from an older stream are ignored.
    let old = s.live.stream - 1;
    update(&mut s, Msg::LiveOpened { stream: old });
    assert!(!s.live.open);
    // A revoked token ends the session.
    let fx = live_dropped(&mut s, auth());
    let fx = nothing_newer(&mut s, fx);
    assert_eq!(s.screen, Screen::Login);
    assert!(fx.contains(&Effect::Unfollow));
}

#[test]
fn our_own_run_arriving_live_replaces_the_local_row() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 2, None));
    type_str(&mut s, "mine");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "mine".into(),
            result: Ok("enim".into()),
            at: stamps(),
        },
    );
    assert!(s.history.entries[0].id < 0);
    live_entry(&mut s, entry(3, Function::Reverse, "mine", "enim"));
    let ids: Vec<i64> = s.history.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, [3, 2, 1]);
    assert!(s.history.fresh.is_empty(), "not someone else's");
}

#[test]
fn the_live_stream_coming_back_first_also_reloads_what_failed() {
    let mut s = logged_in();
    let generation = s.history.generation;
    update(
        &mut s,
        Msg::HistoryLoaded {
            generation,
            before: None,
            result: Err(unreachable()),
        },
    );
    assert!(s.probe.is_some());
    // The stream reopens before the probe answers.
    let fx = live_open(&mut s);
    assert_eq!(history_loads(&fx).len(), 1, "{fx:?}");
    assert_eq!(s.probe, None);
    assert!(update(&mut s, Msg::Probed(Ok(()))).is_empty());
}

#[test]
fn sessions_overlay_lists_and_revokes_but_not_this_session() {
    let mut s = logged_in();
    s.main.focus = Focus::History;
    let fx = update(&mut s, key(KeyCode::F(7)));
    assert!(matches!(&fx[..], [Effect::LoadSessions { .. }]), "{fx:?}");
    assert!(matches!(&s.overlay, Some(Overlay::Sessions(v)) if v.list.is_none()));
    let row = |id, current| strop_common::SessionInfo {
        created: "2021-04-10T19:00:53.123Z".into(),
        current,
        expires: "2021-05-10T19:00:53.123Z".into(),
        id,
        last_used: "2021-04-10T19:59:00.000Z".into(),
        user_agent: None,
    };
    update(
        &mut s,
        Msg::SessionsLoaded(Ok(strop_common::SessionsResponse {
            sessions: vec![row(3, false), row(7, true)],
        })),
    );
    // The current one is not revoked from here.
    update(&mut s, key(KeyCode::Down));
    assert!(update(&mut s, key(KeyCode::Char('d'))).is_empty());
    assert!(matches!(&s.overlay, Some(Overlay::Sessions(v)) if v.error.is_some()));
    update(&mut s, key(KeyCode::Up));
    // d and o ask; y (or Enter) right after is the only yes.
    assert!(update(&mut s, key(KeyCode::Char('d'))).is_empty());
    let fx = update(&mut s, key(KeyCode::Char('y')));
    assert!(
        matches!(&fx[..], [Effect::RevokeSessions { id: Some(3), .. }]),
        "{fx:?}"
    );
    assert!(update(&mut s, key(KeyCode::Char('o'))).is_empty());
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(
        matches!(&fx[..], [Effect::RevokeSessions { id: None, .. }]),
        "{fx:?}"
    );
    let fx = update(
        &mut s,
        Msg::SessionsRevoked(Ok("Session 3 revoked.".into())),
    );
    assert!(matches!(&fx[..], [Effect::LoadSessions { .. }]), "{fx:?}");
    assert!(
        matches!(&s.overlay, Some(Overlay::Sessions(v)) if v.message.as_deref() == Some("Session 3 revoked."))
    );
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.overlay, None);
}

/// Issue 17, 3 and 4: one state machine. A dropped stream is
/// "reconnecting" and probes at once; a failed probe is "offline"; an
/// answer is "online", reopens the stream at once and clears what was
/// wrong while away.
#[test]
fn connection_states_follow_the_stream_and_the_probe() {
    let mut s = logged_in();
    let stream = s.live.stream;
    update(&mut s, Msg::LiveOpened { stream });
    assert_eq!((s.conn, s.live.open), (Conn::Online, true));
    let fx = update(
        &mut s,
        Msg::LiveDropped {
            stream,
            failure: unreachable(),
        },
    );
    assert_eq!((s.conn, s.live.open), (Conn::Reconnecting, false));
    assert_eq!(probes(&fx), vec![Duration::ZERO]);
    // A run while away fails with a sentence in the output pane.
    type_str(&mut s, "away");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "away".into(),
            result: Err(unreachable()),
            at: stamps(),
        },
    );
    assert_eq!(s.conn, Conn::Offline);
    let fx = update(&mut s, Msg::Probed(Err(unreachable())));
    assert_eq!(s.conn, Conn::Offline);
    assert_eq!(probes(&fx).len(), 1);
    // F5 while offline says so.
    update(&mut s, key(KeyCode::F(5)));
    assert!(s.last_error.as_deref().unwrap().contains("does not answer"));
    let fx = update(&mut s, Msg::Probed(Ok(())));
    assert_eq!(s.conn, Conn::Online);
    let waits: Vec<Duration> = follows(&fx).into_iter().map(|f| f.2).collect();
    assert_eq!(waits, vec![Duration::ZERO], "the stream reopens at once");
    assert_eq!(s.last_error, None);
    assert_eq!(s.main.output, None, "the old 'Cannot reach' is gone");
    let stream = s.live.stream;
    update(&mut s, Msg::LiveOpened { stream });
    assert_eq!((s.conn, s.live.open), (Conn::Online, true));
}

/// Issue 17, 2: Enter pressed three times before the answer sends once.
#[test]
fn enter_never_sends_a_text_already_in_flight() {
    let mut s = logged_in();
    type_str(&mut s, "once");
    let mut runs = 0;
    for _ in 0..3 {
        runs += update(&mut s, key(KeyCode::Enter))
            .iter()
            .filter(|f| matches!(f, Effect::Run { .. }))
            .count();
    }
    assert_eq!(runs, 1);
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "once".into(),
            result: Ok("ecno".into()),
            at: stamps(),
        },
    );
    assert!(s.main.in_flight.is_empty());
}

/// A refused token first sends the keyring looking for a newer one (the
/// session rules); this answers "nothing newer" and returns what follows.
fn nothing_newer(s: &mut State, fx: Vec<Effect>) -> Vec<Effect> {
    assert!(
        fx.contains(&Effect::FindNewerToken {
            server: SERVER.into(),
            user: "alice".into(),
            refused: tok(),
        }),
        "{fx:?}"
    );
    update(
        s,
        Msg::NewerToken {
            refused: tok(),
            found: Ok(Stored::Same),
        },
    )
}

/// New-user findings: a log-out, a "log out all others" or an account
/// deletion elsewhere; sibling strops here race to the keyring, and the one
/// that finds the token still there and those that find it gone say one
/// sentence, true of every cause.
#[test]
fn siblings_refused_one_token_all_say_the_session_ended() {
    for found in [Stored::Same, Stored::Nothing] {
        let mut s = logged_in();
        update(
            &mut s,
            Msg::Ran {
                function: Function::Reverse,
                input: "x".into(),
                result: Err(auth()),
                at: stamps(),
            },
        );
        update(
            &mut s,
            Msg::NewerToken {
                refused: tok(),
                found: Ok(found),
            },
        );
        assert_eq!(
            s.login.error.as_deref(),
            Some(crate::session::SESSION_ENDED)
        );
    }
    let ended = crate::session::SESSION_ENDED;
    assert!(ended.contains("log out all others") && ended.contains("expired"));
}

/// New-user finding 9: a bogus STROP_TOKEN is told as the CLI tells it.
#[test]
fn a_refused_env_token_is_named_as_the_cli_names_it() {
    let env = Session {
        user: String::new(),
        source: TokenSource::Env,
        ..alice()
    };
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        env_token: Some(tok()),
        ..Start::default()
    });
    update(
        &mut s,
        Msg::SessionVerified {
            session: env.clone(),
            result: Err(auth()),
        },
    );
    assert_eq!(s.screen, Screen::Login);
    assert_eq!(
        s.login.error.as_deref(),
        Some(crate::session::ENV_TOKEN_REFUSED)
    );
    // Refused later, on the main screen: the same.
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        env_token: Some(tok()),
        ..Start::default()
    });
    update(
        &mut s,
        Msg::SessionVerified {
            session: env,
            result: Ok("bob".into()),
        },
    );
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "x".into(),
            result: Err(auth()),
            at: stamps(),
        },
    );
    assert_eq!(
        s.login.error.as_deref(),
        Some(crate::session::ENV_TOKEN_REFUSED)
    );
}

/// New-user test: a log-out (or account deletion) by another strop here
/// emptied the keyring entry; the login form says the session ended.
#[test]
fn a_token_whose_keyring_entry_is_gone_says_logged_out_elsewhere() {
    let mut s = logged_in();
    let fx = update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "x".into(),
            result: Err(auth()),
            at: stamps(),
        },
    );
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::FindNewerToken { .. }))
    );
    update(
        &mut s,
        Msg::NewerToken {
            refused: tok(),
            found: Ok(Stored::Nothing),
        },
    );
    assert!(matches!(s.screen, Screen::Login));
    assert_eq!(
        s.login.error.as_deref(),
        Some(crate::session::SESSION_ENDED)
    );
    assert_eq!(s.login.username.value(), "alice");
}

/// Issue 17, 5: a CLI login on this machine revoked the TUI's token; the
/// TUI finds the new one in the keyring, checks it and carries on.
#[test]
fn a_token_replaced_by_another_login_here_is_adopted() {
    let mut s = logged_in();
    let fx = update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "x".into(),
            result: Err(auth()),
            at: stamps(),
        },
    );
    assert!(s.screen.is_main());
    // The stream's end on the same revocation does not ask twice.
    let stream = s.live.stream;
    let again = update(
        &mut s,
        Msg::LiveDropped {
            stream,
            failure: auth(),
        },
    );
    assert!(
        !again
            .iter()
            .any(|f| matches!(f, Effect::FindNewerToken { .. }))
    );
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::FindNewerToken { .. }))
    );
    let newer = SecretString::from("newer-token");
    let fx = update(
        &mut s,
        Msg::NewerToken {
            refused: tok(),
            found: Ok(Stored::Newer(newer.clone())),
        },
    );
    let Some(Effect::VerifySession { session }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert_eq!(session.token.expose_secret(), newer.expose_secret());
    let session = session.clone();
    let fx = update(
        &mut s,
        Msg::SessionVerified {
            session,
            result: Ok("alice".into()),
        },
    );
    assert_eq!(
        s.session().unwrap().token.expose_secret(),
        newer.expose_secret()
    );
    assert_eq!(s.notice.as_deref(), Some(account::ADOPTED));
    assert!(
        fx.iter()
            .any(|f| matches!(f, Effect::Follow { token, .. } if token.expose_secret() == newer.expose_secret()))
    );
    assert!(!fx.iter().any(|f| matches!(f, Effect::DeleteToken { .. })));
}

/// Our own run's row may come live before the run's answer: one row, and
/// the newest stays selected.
#[test]
fn our_own_run_arriving_live_before_its_answer_is_one_row() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    assert_eq!(s.history.selected, 0);
    type_str(&mut s, "mine");
    update(&mut s, key(KeyCode::Enter));
    let stream = s.live.stream;
    update(
        &mut s,
        Msg::LiveEntry {
            stream,
            entry: entry(4, Function::Reverse, "mine", "enim"),
        },
    );
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "mine".into(),
            result: Ok("enim".into()),
            at: stamps(),
        },
    );
    assert_eq!(s.history.entries.len(), 4);
    assert_eq!(s.history.entries[0].id, 4);
    assert_eq!(s.history.selected, 0);
}

fn deletes(fx: &[Effect]) -> Vec<i64> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::DeleteEntry { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn ids_shown(s: &State) -> Vec<i64> {
    s.history.entries.iter().map(|e| e.id).collect()
}

#[test]
fn d_asks_then_deletes_and_the_row_goes_when_the_server_says_so() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 5, None));
    s.main.focus = Focus::History;
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.history.selected_entry().unwrap().id, 4);
    // The question; n and Esc keep the entry and send nothing.
    for cancel in [ch('n'), key(KeyCode::Esc)] {
        assert!(update(&mut s, ch('d')).is_empty());
        assert!(matches!(&s.overlay, Some(Overlay::ConfirmDelete(e)) if e.id == 4));
        assert!(update(&mut s, cancel).is_empty());
        assert_eq!(s.overlay, None);
    }
    // Enter (or y) deletes: one request, the row stays until the answer.
    update(&mut s, ch('d'));
    let fx = update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::DeleteEntry {
            server: SERVER.into(),
            token: tok(),
            id: 4
        }]
    );
    assert_eq!(s.overlay, None);
    assert_eq!(ids_shown(&s), [5, 4, 3, 2, 1]);
    update(
        &mut s,
        Msg::EntryDeleted {
            id: 4,
            result: Ok(true),
        },
    );
    assert_eq!(ids_shown(&s), [5, 3, 2, 1]);
    assert_eq!(s.history.selected_entry().unwrap().id, 3, "the next row");
    assert_eq!(s.notice.as_deref(), Some("Entry 4 deleted."));
    // y works too; a 404 (deleted elsewhere meanwhile) removes the row as well.
    update(&mut s, ch('d'));
    assert_eq!(deletes(&update(&mut s, ch('y'))), [3]);
    update(
        &mut s,
        Msg::EntryDeleted {
            id: 3,
            result: Ok(false),
        },
    );
    assert_eq!(ids_shown(&s), [5, 2, 1]);
    assert!(s.notice.as_deref().unwrap().contains("already deleted"));
}

/// Tester's finding 2: `d` in the detail view, then no (n, Esc, or a key
/// that is no answer), goes back to the detail view, not to the list.
#[test]
fn no_to_the_delete_question_goes_back_to_the_detail_view() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    s.main.focus = Focus::History;
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, key(KeyCode::PageDown));
    for no in [ch('n'), key(KeyCode::Esc), ch('x')] {
        update(&mut s, ch('d'));
        assert!(matches!(&s.overlay, Some(Overlay::ConfirmDelete(e)) if e.id == 2));
        assert!(update(&mut s, no).is_empty());
        assert!(
            matches!(&s.overlay, Some(Overlay::Detail(d)) if d.entry.id == 2 && d.scroll == 10),
            "{:?}",
            s.overlay
        );
    }
    // From the list, no goes back to the list.
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('d'));
    update(&mut s, ch('n'));
    assert_eq!(s.overlay, None);
    // A yes from the detail view closes both.
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, ch('d'));
    assert_eq!(deletes(&update(&mut s, ch('y'))), [2]);
    assert_eq!(s.overlay, None);
}

#[test]
fn d_in_the_detail_view_asks_and_a_failed_delete_keeps_the_row() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    s.main.focus = Focus::History;
    update(&mut s, key(KeyCode::Enter));
    assert!(matches!(s.overlay, Some(Overlay::Detail(_))));
    update(&mut s, ch('d'));
    assert!(matches!(&s.overlay, Some(Overlay::ConfirmDelete(e)) if e.id == 3));
    assert_eq!(deletes(&update(&mut s, key(KeyCode::Enter))), [3]);
    update(
        &mut s,
        Msg::EntryDeleted {
            id: 3,
            result: Err(Failure::new(
                FailureKind::Refused,
                "Too many writes for this account; try again in 1 second.",
            )),
        },
    );
    assert_eq!(ids_shown(&s), [3, 2, 1]);
    assert!(s.last_error.as_deref().unwrap().contains("Too many writes"));
    // A refused token ends the session, as anywhere.
    update(&mut s, ch('d'));
    update(&mut s, key(KeyCode::Enter));
    let fx = update(
        &mut s,
        Msg::EntryDeleted {
            id: 3,
            result: Err(auth()),
        },
    );
    let _ = nothing_newer(&mut s, fx);
    assert_eq!(s.screen, Screen::Login);
}

#[test]
fn a_row_not_yet_on_the_server_or_an_empty_list_has_nothing_to_delete() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 0, None));
    s.main.focus = Focus::History;
    assert!(update(&mut s, ch('d')).is_empty());
    assert_eq!(s.overlay, None);
    assert!(s.notice.as_deref().unwrap().contains("No entry"));
    s.main.focus = Focus::Input;
    type_str(&mut s, "mine");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Msg::Ran {
            function: Function::Reverse,
            input: "mine".into(),
            result: Ok("enim".into()),
            at: stamps(),
        },
    );
    s.main.focus = Focus::History;
    assert!(update(&mut s, ch('d')).is_empty());
    assert_eq!(s.overlay, None);
    assert!(s.notice.as_deref().unwrap().contains("not saved"));
}

#[test]
fn a_live_delete_removes_rows_keeps_the_selection_and_closes_their_detail() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 10, None));
    live_open(&mut s);
    s.main.focus = Focus::History;
    for _ in 0..5 {
        update(&mut s, key(KeyCode::Down));
    }
    s.history.offset.set(3);
    assert_eq!(s.history.selected_entry().unwrap().id, 5);
    let stream = s.live.stream;
    let gone = |ids: Vec<i64>, up_to| Msg::LiveDeleted {
        stream,
        gone: strop_common::DeleteEvent { ids, up_to },
    };
    // Rows above the selection go: the same entry stays selected and on screen.
    assert!(update(&mut s, gone(vec![9, 8], None)).is_empty());
    assert_eq!(ids_shown(&s), [10, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(s.history.selected_entry().unwrap().id, 5);
    assert_eq!(s.history.offset.get(), 1);
    // Unknown ids change nothing; an older stream's event is ignored.
    update(&mut s, gone(vec![99], None));
    update(
        &mut s,
        Msg::LiveDeleted {
            stream: stream - 1,
            gone: strop_common::DeleteEvent {
                ids: vec![10],
                up_to: None,
            },
        },
    );
    assert_eq!(s.history.entries.len(), 8);
    // The entry open in the detail view is deleted elsewhere: the view closes.
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, gone(vec![5], None));
    assert_eq!(s.overlay, None);
    assert!(s.notice.as_deref().unwrap().contains("Entry 5 was deleted"));
    assert_eq!(s.history.selected_entry().unwrap().id, 4);
    // All history deleted (up to 7): only what came after stays.
    update(&mut s, gone(vec![], Some(7)));
    assert_eq!(ids_shown(&s), [10]);
    assert_eq!(s.history.selected, 0);
}

#[test]
fn a_stream_reopened_after_a_drop_reloads_the_first_page() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    // The first open reloads nothing.
    assert!(history_loads(&live_open(&mut s)).is_empty());
    live_dropped(&mut s, unreachable());
    // Deletions made while it was away are not replayed: the page is read again.
    let fx = live_open(&mut s);
    assert_eq!(history_loads(&fx).len(), 1, "{fx:?}");
    answer_history(&mut s, None, page(1, 2, None));
    assert_eq!(ids_shown(&s), [2, 1]);
    // Only once per drop.
    assert!(history_loads(&live_open(&mut s)).is_empty());
}

/// Tester's finding 3: "Entry 52 deleted." stayed for ten minutes, across
/// search, F7 and the login screen. A notice goes after `NOTICE_TICKS`
/// ticks, or with the screen it was said on.
#[test]
fn a_notice_goes_after_a_few_seconds_or_with_its_screen() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 3, None));
    update(
        &mut s,
        Msg::EntryDeleted {
            id: 3,
            result: Ok(true),
        },
    );
    assert_eq!(s.notice.as_deref(), Some("Entry 3 deleted."));
    assert!(s.ticking(), "the runtime ticks while a notice shows");
    for _ in 1..NOTICE_TICKS {
        update(&mut s, Msg::Tick);
    }
    assert_eq!(s.notice.as_deref(), Some("Entry 3 deleted."));
    // A new notice starts its own time.
    update(
        &mut s,
        Msg::EntryDeleted {
            id: 2,
            result: Ok(true),
        },
    );
    update(&mut s, Msg::Tick);
    assert_eq!(s.notice.as_deref(), Some("Entry 2 deleted."));
    for _ in 1..NOTICE_TICKS {
        update(&mut s, Msg::Tick);
    }
    assert_eq!(s.notice, None);
    assert!(!s.ticking());

    // Leaving the main screen takes its notice along.
    update(
        &mut s,
        Msg::EntryDeleted {
            id: 1,
            result: Ok(true),
        },
    );
    let g = s.history.generation;
    let fx = update(
        &mut s,
        Msg::HistoryLoaded {
            generation: g,
            before: None,
            result: Err(auth()),
        },
    );
    nothing_newer(&mut s, fx);
    assert_eq!(s.screen, Screen::Login);
    assert_ne!(s.notice.as_deref(), Some("Entry 1 deleted."));
}

/// Tester's finding 3: after a stray letter in the list, Esc went back to
/// the input but the status still said the list had focus.
#[test]
fn the_stray_letter_notice_goes_when_the_focus_moves() {
    let mut s = logged_in();
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, ch('z'));
    assert!(s.notice.as_deref().unwrap().starts_with(STRAY_NOTICE));
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.main.focus, Focus::Input);
    assert_eq!(s.notice, None);
}

/// Tester's finding 7: a search the server refuses (more than 8 words)
/// left the unfiltered list showing under it; now no rows, and the sentence.
#[test]
fn a_refused_search_shows_no_rows_and_the_sentence() {
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 5, None));
    update(&mut s, ctrl('f'));
    let fx = type_str(&mut s, "a b c d e f g h i");
    let Some(Effect::Debounce { ticket, .. }) = fx.last() else {
        panic!("{fx:?}")
    };
    let fx = update(&mut s, Msg::SearchDue(*ticket));
    assert_eq!(history_loads(&fx).len(), 1);
    let generation = s.history.generation;
    let sentence = "A search can have at most 8 words.";
    update(
        &mut s,
        Msg::HistoryLoaded {
            generation,
            before: None,
            result: Err(Failure::new(FailureKind::Refused, sentence)),
        },
    );
    assert!(s.history.entries.is_empty(), "{:?}", s.history.entries);
    assert_eq!(s.history.error.as_deref(), Some(sentence));
    assert!(s.history.refused);
    assert_eq!(s.last_error.as_deref(), Some(sentence));
    // A search it takes brings rows back.
    update(&mut s, key(KeyCode::Esc));
    answer_history(&mut s, None, page(1, 5, None));
    assert_eq!(s.history.entries.len(), 5);
    assert!(!s.history.refused);
}

/// New-user finding 4: the refused search's sentence stayed in the status
/// bar through Esc, a new search and a reload; it is about that search.
#[test]
fn a_refused_search_sentence_goes_with_the_search() {
    let sentence = "A search can have at most 8 words.";
    let refused = |s: &mut State| {
        update(s, ctrl('f'));
        let fx = type_str(s, " a b c d e f g h i");
        let Some(Effect::Debounce { ticket, .. }) = fx.last() else {
            panic!("{fx:?}")
        };
        update(s, Msg::SearchDue(*ticket));
        let generation = s.history.generation;
        update(
            s,
            Msg::HistoryLoaded {
                generation,
                before: None,
                result: Err(Failure::new(FailureKind::Refused, sentence)),
            },
        );
        assert_eq!(s.last_error.as_deref(), Some(sentence));
    };
    let mut s = logged_in();
    answer_history(&mut s, None, page(1, 5, None));
    refused(&mut s);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.last_error, None, "Esc ends the search");

    refused(&mut s);
    update(&mut s, key(KeyCode::Backspace));
    assert_eq!(s.last_error, None, "the search changed");

    refused(&mut s);
    update(&mut s, key(KeyCode::F(1)));
    assert_eq!(s.last_error, None, "another screen (the help)");
    assert!(s.history.refused, "the list still says why it is empty");
    update(&mut s, key(KeyCode::F(1)));

    refused(&mut s);
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, key(KeyCode::F(3)));
    assert_eq!(s.last_error, None, "another filter: another search");

    // Another error is not the search's to clear.
    refused(&mut s);
    s.last_error = Some("Could not copy the output: no clipboard.".into());
    update(&mut s, key(KeyCode::Esc));
    assert!(s.last_error.is_some());
}
