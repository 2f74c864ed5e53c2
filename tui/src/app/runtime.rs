//! The loop: terminal events, a tick and task results in; effects out as
//! tokio tasks (keyring calls on the blocking pool); one redraw per drained
//! batch of messages.

use std::collections::HashMap;
use std::io::stdout;
use std::time::{Duration, SystemTime};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
#[cfg(not(windows))]
use crossterm::event::{
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::execute;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::state::{Clock, SecretString};
use super::update::{self, Effect, Failure, FailureKind, Msg, Start};
use super::view::{self, Theme};
use crate::client::{Client, ClientError};
use crate::session::Launch;
use crate::settings::{Choices, Settings};
use crate::token_store::TokenStore;

mod input;
mod live;
mod worker;

use worker::Worker;

/// Spinner speed; the tick only runs while something is in flight.
const TICK: Duration = Duration::from_millis(100);
/// Set by `./run`: its server stops when strop ends, so quitting asks.
pub const OWNS_SERVER_ENV: &str = "STROP_RUN_OWNS_SERVER";
/// How long a `/healthz` probe waits before calling the server offline.
const PROBE_PATIENCE: Duration = Duration::from_secs(2);
/// Longest a frame waits while messages keep arriving.
const FRAME_BUDGET: Duration = Duration::from_millis(40);

/// Restores the terminal when dropped, so `?` and early returns are safe;
/// ratatui's panic hook covers panics.
struct Term {
    terminal: DefaultTerminal,
    mouse: bool,
}

impl Term {
    fn enter(mouse: bool) -> std::io::Result<Term> {
        // Alternate screen, no inline viewport: nothing asks the terminal for
        // the cursor position (ptys in tests do not answer that).
        let terminal = ratatui::try_init()?;
        execute!(stdout(), EnableBracketedPaste)?;
        // Terminals that speak the kitty keyboard protocol then tell
        // Shift+Enter from Enter; the others ignore the request.
        #[cfg(not(windows))]
        let _ = execute!(
            stdout(),
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        );
        if mouse {
            execute!(stdout(), EnableMouseCapture)?;
        }
        Ok(Term { terminal, mouse })
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if self.mouse {
            let _ = execute!(stdout(), DisableMouseCapture);
        }
        #[cfg(not(windows))]
        let _ = execute!(stdout(), PopKeyboardEnhancementFlags);
        let _ = execute!(stdout(), DisableBracketedPaste);
        ratatui::restore();
    }
}

/// Runs the TUI for what `main` resolved: the same [`Launch`] the scripting
/// commands use, and the display choices.
/// The first state from what was launched and chosen, and its effects.
fn first_state(launch: &Launch, choices: &Choices) -> (super::state::State, Vec<Effect>) {
    let mut start = Start::from_launch(launch);
    start.mouse = choices.mouse;
    start.function = launch.settings.function;
    let (mut state, effects) = update::init(start);
    state.clock = Clock::new(&choices.zone);
    state.relative_times = choices.relative_times;
    state.stops_server = std::env::var_os(OWNS_SERVER_ENV).is_some_and(|v| !v.is_empty());
    (state, effects)
}

pub async fn run(launch: Launch, choices: Choices) -> anyhow::Result<()> {
    // First: a SIGTERM from here on leaves the normal way.
    let stop = stop_signal();
    tokio::pin!(stop);
    let (mut state, effects) = first_state(&launch, &choices);
    let theme = Theme::new(choices.theme);
    let mut term = Term::enter(choices.mouse)?;
    state.now = Some(jiff::Timestamp::now());
    term.terminal.draw(|f| view::draw(f, &state, &theme))?;

    let (tx, mut rx) = unbounded_channel::<Msg>();
    let mut runner = Runner::new(tx);
    for fx in effects {
        runner.spawn(fx);
    }
    let mut keys = input::spawn_reader();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Relative times ("5m ago") age between messages: a frame a second.
    let mut aging = tokio::time::interval(Duration::from_secs(1));
    aging.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    loop {
        let first = tokio::select! {
            ev = keys.recv() => match ev {
                Some(Ok(ev)) => input::message(ev),
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(msg) = rx.recv() => Some(msg),
            _ = tick.tick(), if state.ticking() => Some(Msg::Tick),
            _ = aging.tick(), if state.relative_times => None,
            // SIGTERM/SIGHUP: leave the normal way, so the terminal is restored.
            () = &mut stop => break,
        };
        let mut apply = |msg: Msg, state: &mut super::state::State| {
            for fx in update::update(state, msg) {
                runner.spawn(fx);
            }
        };
        if let Some(msg) = first {
            apply(msg, &mut state);
        }
        // Everything already read (keys typed faster than frames, task
        // answers) is applied before the next frame, but a frame is never
        // owed longer than FRAME_BUDGET while input keeps coming.
        let deadline = std::time::Instant::now() + FRAME_BUDGET;
        let mut ended = false;
        while !state.quit && std::time::Instant::now() < deadline {
            let msg = match keys.try_recv() {
                Ok(Ok(ev)) => input::message(ev),
                Ok(Err(e)) => return Err(e.into()),
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    ended = true;
                    break;
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => match rx.try_recv() {
                    Ok(msg) => Some(msg),
                    Err(_) => break,
                },
            };
            if let Some(msg) = msg {
                apply(msg, &mut state);
            }
        }
        if state.quit || ended {
            break;
        }
        state.now = Some(jiff::Timestamp::now());
        term.terminal.draw(|f| view::draw(f, &state, &theme))?;
    }
    drop(term);
    // A token or settings write queued just before quitting still lands.
    runner.worker.finish(Duration::from_secs(5));
    Ok(())
}

/// Resolves on SIGTERM or SIGHUP (a closed terminal); never elsewhere. The
/// handlers are installed by this call, not at the first poll: a signal
/// before the loop first waits still ends it the normal way.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        )
    };
    async move {
        #[cfg(unix)]
        if let (Ok(mut term), Ok(mut hup)) = handlers {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// Runs effects as tasks; every task answers on the channel.
struct Runner {
    tx: UnboundedSender<Msg>,
    /// The live history stream's task, if one is open or opening.
    follow: Option<tokio::task::JoinHandle<()>>,
    /// One HTTP client (and connection pool) per server.
    clients: HashMap<String, Client>,
    /// The keyring and settings worker (see [`Worker`]).
    worker: Worker,
}

impl Runner {
    fn new(tx: UnboundedSender<Msg>) -> Self {
        Runner {
            worker: Worker::start(tx.clone()),
            follow: None,
            tx,
            clients: HashMap::new(),
        }
    }

    fn client(&mut self, server: &str, token: Option<&SecretString>) -> Result<Client, Failure> {
        let client = match self.clients.get(server) {
            Some(c) => c.clone(),
            None => {
                let c = Client::new(server).map_err(|e| failure(&e))?;
                self.clients.insert(server.to_string(), c.clone());
                c
            }
        };
        Ok(client.with_token(token.cloned()))
    }

    /// Runs one client call as a task and answers with `reply(result)`; a
    /// bad server address answers at once.
    fn http<T, Fut>(
        &mut self,
        server: &str,
        token: Option<&SecretString>,
        call: impl FnOnce(Client) -> Fut,
        reply: impl FnOnce(Result<T, Failure>) -> Msg + Send + 'static,
    ) where
        T: Send + 'static,
        Fut: std::future::Future<Output = Result<T, ClientError>> + Send + 'static,
    {
        let call = self.client(server, token).map(call);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = match call {
                Ok(fut) => fut.await.map_err(|e| failure(&e)),
                Err(f) => Err(f),
            };
            let _ = tx.send(reply(result));
        });
    }

    /// Queues a keyring call on the worker thread.
    fn keyring<F>(&self, f: F)
    where
        F: FnOnce(Option<&TokenStore>) -> Msg + Send + 'static,
    {
        self.worker.run(Box::new(move |store| f(store.as_ref())));
    }

    /// Runs one effect with the part that does its kind of work; each part
    /// passes on what is not its own.
    fn spawn(&mut self, fx: Effect) {
        let Some(fx) = self.terminal(fx) else { return };
        let Some(fx) = self.timers(fx) else { return };
        let Some(fx) = self.live(fx) else { return };
        let Some(fx) = self.storage(fx) else { return };
        let Some(fx) = self.accounts(fx) else { return };
        self.requests(fx);
    }

    /// The terminal itself: quitting, the clipboard.
    fn terminal(&mut self, fx: Effect) -> Option<Effect> {
        match fx {
            Effect::Quit => {}
            Effect::Copy { what, text } => {
                let chars = text.chars().count();
                let result = copy_osc52(&text).map_err(|e| crate::settings::io_reason(&e));
                let _ = self.tx.send(Msg::Copied {
                    what,
                    chars,
                    result,
                });
            }
            other => return Some(other),
        }
        None
    }

    /// Messages sent to the loop later.
    fn timers(&mut self, fx: Effect) -> Option<Effect> {
        match fx {
            Effect::Unmark { id, after } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = tx.send(Msg::Unmark(id));
                });
            }
            Effect::Debounce { ticket, after } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = tx.send(Msg::SearchDue(ticket));
                });
            }
            Effect::Probe { server, after } => {
                let client = self.client(&server, None);
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let result = match client {
                        // A hung server (SIGSTOP) counts as offline quickly.
                        Ok(c) => match tokio::time::timeout(PROBE_PATIENCE, c.health()).await {
                            Ok(answer) => answer.map_err(|e| failure(&e)),
                            Err(_) => Err(Failure::new(
                                FailureKind::Unreachable,
                                format!(
                                    "{} did not answer within {} s.",
                                    c.server(),
                                    PROBE_PATIENCE.as_secs()
                                ),
                            )),
                        },
                        Err(f) => Err(f),
                    };
                    let _ = tx.send(Msg::Probed(result));
                });
            }
            other => return Some(other),
        }
        None
    }

    /// The live history stream: one task at a time.
    fn live(&mut self, fx: Effect) -> Option<Effect> {
        match fx {
            Effect::Follow {
                stream,
                server,
                token,
                last_id,
                after,
            } => {
                if let Some(old) = self.follow.take() {
                    old.abort();
                }
                let client = self.client(&server, Some(&token));
                let tx = self.tx.clone();
                self.follow = Some(tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let send = |msg| {
                        let _ = tx.send(msg);
                    };
                    let failure = match client {
                        Ok(c) => live::follow(c, stream, last_id, &send).await,
                        Err(f) => f,
                    };
                    send(Msg::LiveDropped { stream, failure });
                }));
            }
            Effect::Unfollow => {
                if let Some(old) = self.follow.take() {
                    old.abort();
                }
            }
            other => return Some(other),
        }
        None
    }

    /// The session rules (`session`): store the token, and revoke what it
    /// replaced (the revocation runs on the async runtime, not the worker).
    fn store_token(&mut self, server: String, user: String, token: SecretString) {
        let client = self.client(&server, None).ok();
        let handle = tokio::runtime::Handle::current();
        self.keyring(move |store| {
            let stored = match store {
                Some(st) => crate::session::store_token(st, &server, &user, &token)
                    .map_err(|e| e.to_string()),
                None => Err(NO_KEYRING.into()),
            };
            if let (Ok(Some(old)), Some(client)) = (&stored, client) {
                let old = old.clone();
                handle.spawn(
                    async move { crate::session::revoke_replaced(&client, Some(old)).await },
                );
            }
            Msg::TokenStored(stored.map(drop))
        })
    }

    /// The keyring and the settings file, on the worker thread.
    fn storage(&mut self, fx: Effect) -> Option<Effect> {
        match fx {
            Effect::SaveFunction(function) => self.worker.run(Box::new(move |_| {
                let result = Settings::update(|s| s.function = Some(function));
                Msg::SettingsSaved(result.map_err(|e| e.to_string()))
            })),
            Effect::OpenKeyring => self.worker.run(Box::new(|slot| {
                let result = TokenStore::open().map(|store| {
                    let name = store.backend().to_string();
                    *slot = Some(store);
                    name
                });
                Msg::KeyringOpened(result.map_err(|e| e.to_string()))
            })),
            Effect::LoadToken { server, user } => self.keyring(move |store| Msg::TokenLoaded {
                result: match store {
                    Some(st) => st.get(&server, &user).map_err(|e| e.to_string()),
                    None => Err(NO_KEYRING.into()),
                },
            }),
            Effect::StoreToken {
                server,
                user,
                token,
            } => self.store_token(server, user, token),
            Effect::FindNewerToken {
                server,
                user,
                refused,
            } => self.keyring(move |store| Msg::NewerToken {
                found: match store {
                    Some(st) => crate::session::newer_token(st, &server, &user, &refused)
                        .map_err(|e| e.to_string()),
                    // No keyring to ask: nothing more is known.
                    None => Ok(crate::session::Stored::Same),
                },
                refused,
            }),
            Effect::DeleteToken { server, user } => self.keyring(move |store| {
                Msg::TokenDeleted(match store {
                    Some(st) => {
                        crate::session::forget_token(st, &server, &user).map_err(|e| e.to_string())
                    }
                    None => Ok(()),
                })
            }),
            // Only these keys change: the person's choices in the file stay.
            Effect::SaveSettings { server, last_user } => self.worker.run(Box::new(|_| {
                let result = Settings::update(|s| {
                    s.server = Some(server);
                    s.last_user = last_user;
                })
                .map_err(|e| e.to_string());
                Msg::SettingsSaved(result)
            })),
            other => return Some(other),
        }
        None
    }

    /// The server calls about who is logged in, each a task answering with
    /// its message.
    fn accounts(&mut self, fx: Effect) -> Option<Effect> {
        match fx {
            Effect::CheckServer { server } => {
                let input = server.clone();
                self.http(
                    &server,
                    None,
                    |c| async move { c.health().await.map(|()| c.server().to_string()) },
                    |result| Msg::ServerChecked { input, result },
                );
            }
            Effect::VerifySession { session } => {
                let (server, token) = (session.server.clone(), session.token.clone());
                self.http(
                    &server,
                    Some(&token),
                    |c| async move { c.whoami().await },
                    |result| Msg::SessionVerified { session, result },
                )
            }
            Effect::Credentials {
                mode,
                server,
                username,
                password,
            } => {
                let name = username.clone();
                self.http(
                    &server,
                    None,
                    move |c| async move {
                        crate::session::send_credentials(&c, mode, &name, &password).await
                    },
                    move |result| Msg::Credentials {
                        mode,
                        username,
                        result,
                    },
                )
            }
            Effect::Logout { server, token } => self.http(
                &server,
                Some(&token),
                |c| async move { c.logout().await },
                Msg::LoggedOut,
            ),
            Effect::LoadSessions { server, token } => self.http(
                &server,
                Some(&token),
                |c| async move { c.sessions().await },
                Msg::SessionsLoaded,
            ),
            Effect::DeleteEntry { server, token, id } => self.http(
                &server,
                Some(&token),
                move |c| delete_if_there(c, id),
                move |result| Msg::EntryDeleted { id, result },
            ),
            Effect::RevokeSessions { server, token, id } => self.http(
                &server,
                Some(&token),
                move |c| async move {
                    match id {
                        Some(id) => c.revoke_session(id).await,
                        None => c.revoke_other_sessions().await,
                    }
                },
                Msg::SessionsRevoked,
            ),
            other => return Some(other),
        }
        None
    }

    /// The server calls that do the work: runs and history pages.
    fn requests(&mut self, fx: Effect) {
        match fx {
            Effect::Run {
                server,
                token,
                function,
                input,
            } => {
                let text = input.clone();
                self.http(
                    &server,
                    Some(&token),
                    move |c| async move { c.run(function, &text).await },
                    move |result| Msg::Ran {
                        function,
                        input,
                        result,
                        at: strop_common::wire_times(SystemTime::now()),
                    },
                )
            }
            Effect::LoadHistory {
                server,
                token,
                generation,
                query,
            } => {
                let before = query.before;
                self.http(
                    &server,
                    Some(&token),
                    |c| async move { c.history(&query).await },
                    move |result| Msg::HistoryLoaded {
                        generation,
                        before,
                        result,
                    },
                )
            }
            other => debug_assert!(false, "no runner takes {other:?}"),
        }
    }
}

const NO_KEYRING: &str = "No OS keyring is available; set STROP_TOKEN to skip the login.";

/// Puts `text` on the clipboard through the terminal: OSC 52, which works
/// over SSH and in tmux (`set-clipboard on`). BEL-terminated, the form
/// xterm, kitty, iTerm2, WezTerm and tmux all accept.
fn copy_osc52(text: &str) -> std::io::Result<()> {
    use base64::Engine;
    use std::io::Write;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = stdout().lock();
    write!(out, "\x1b]52;c;{encoded}\x07")?;
    out.flush()
}

pub(super) fn failure(e: &ClientError) -> Failure {
    let kind = if e.is_auth_failure() {
        FailureKind::Auth
    } else if e.code() == Some(strop_common::ErrorCode::InvalidCredentials) {
        FailureKind::Credentials
    } else if e.is_unreachable() {
        FailureKind::Unreachable
    } else {
        FailureKind::Refused
    };
    Failure {
        // The server's own wait, else a cautious one: a 429 is no outage.
        wait: e
            .is_rate_limited()
            .then(|| e.retry_after().unwrap_or(std::time::Duration::from_secs(5))),
        ..Failure::new(kind, e.to_string())
    }
}

/// Deletes entry `id`; `false` if it was gone already (deleted elsewhere:
/// the row goes all the same).
async fn delete_if_there(c: Client, id: i64) -> Result<bool, ClientError> {
    match c.delete_entry(id).await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some(strop_common::ErrorCode::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}
