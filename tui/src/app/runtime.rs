//! The loop: terminal events, a tick and task results in; effects out as
//! tokio tasks (keyring calls on the blocking pool); one redraw per drained
//! batch of messages.

use std::collections::HashMap;
use std::io::stdout;
use std::time::{Duration, SystemTime};

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event, EventStream};
use crossterm::execute;
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::Options;
use super::state::Secret;
use super::update::{self, Effect, Failure, FailureKind, Msg, Start};
use super::view::{self, Theme};
use crate::client::{Client, ClientError, normalize_server};
use crate::settings::Settings;
use crate::token_store::TokenStore;

/// Spinner speed; the tick only runs while something is in flight.
const TICK: Duration = Duration::from_millis(100);

/// What start-up reads before the first frame: the settings file (small and
/// local) and the options. Nothing here waits on the network or the keyring.
pub fn start_from(opts: &Options) -> Start {
    let (settings, settings_error) = Settings::load();
    let settings_error = settings_error.map(|e| e.to_string());
    let mut start = Start {
        settings_error,
        env_token: opts.token.clone().filter(|t| !t.trim().is_empty()),
        ..Start::default()
    };
    let chosen = opts.server.clone().or(settings.server.clone());
    if let Some(raw) = chosen {
        match normalize_server(&raw) {
            Ok(server) => {
                start.last_user = settings.last_user_for(&server).map(str::to_string);
                start.server = Some(server);
            }
            Err(e) => start.server_error = Some(e.to_string()),
        }
    }
    start
}

/// Restores the terminal when dropped, so `?` and early returns are safe;
/// ratatui's panic hook covers panics.
struct Term {
    terminal: DefaultTerminal,
}

impl Term {
    fn enter() -> std::io::Result<Term> {
        // Alternate screen, no inline viewport: nothing asks the terminal for
        // the cursor position (ptys in tests do not answer that).
        let terminal = ratatui::try_init()?;
        execute!(stdout(), EnableBracketedPaste)?;
        Ok(Term { terminal })
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = execute!(stdout(), DisableBracketedPaste);
        ratatui::restore();
    }
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let (mut state, effects) = update::init(start_from(&opts));
    let theme = Theme::from_env();
    let mut term = Term::enter()?;
    term.terminal.draw(|f| view::draw(f, &state, &theme))?;

    let (tx, mut rx) = unbounded_channel::<Msg>();
    let mut runner = Runner::new(tx);
    for fx in effects {
        runner.spawn(fx);
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = stop_signal();
    tokio::pin!(stop);

    loop {
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(key))) => Some(Msg::Key(key)),
                Some(Ok(Event::Paste(text))) => Some(Msg::Paste(text)),
                // A resize only needs a redraw; ratatui picks up the new size.
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(msg) = rx.recv() => Some(msg),
            _ = tick.tick(), if state.busy() => Some(Msg::Tick),
            // SIGTERM/SIGHUP: leave the normal way, so the terminal is restored.
            () = &mut stop => break,
        };
        if let Some(msg) = msg {
            for fx in update::update(&mut state, msg) {
                runner.spawn(fx);
            }
        }
        // Apply everything already queued before paying for a frame.
        while let Ok(msg) = rx.try_recv() {
            for fx in update::update(&mut state, msg) {
                runner.spawn(fx);
            }
        }
        if state.quit {
            break;
        }
        term.terminal.draw(|f| view::draw(f, &state, &theme))?;
    }
    drop(term);
    // A token or settings write queued just before quitting still lands.
    runner.worker.finish(Duration::from_secs(5));
    Ok(())
}

/// Resolves on SIGTERM or SIGHUP (a closed terminal); never elsewhere.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(mut term), Ok(mut hup)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

/// Runs effects as tasks; every task answers on the channel.
struct Runner {
    tx: UnboundedSender<Msg>,
    /// One HTTP client (and connection pool) per server.
    clients: HashMap<String, Client>,
    /// The keyring and settings worker (see [`Worker`]).
    worker: Worker,
}

type Job = Box<dyn FnOnce(&mut Option<TokenStore>) -> Msg + Send>;

/// One thread for every keyring and settings call, in order.
///
/// Off the async runtime, because a locked Secret Service collection can
/// block. One thread rather than the blocking pool, because the Linux kernel
/// keyring is reached through the *calling thread's* session keyring: a
/// token stored from one pool thread may not be found from another. One
/// queue also keeps "store, then delete" in order.
struct Worker {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    fn start(tx: UnboundedSender<Msg>) -> Worker {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("strop-keyring".into())
            .spawn(move || {
                let mut store = None;
                for job in queue {
                    let _ = tx.send(job(&mut store));
                }
            })
            .expect("start the keyring thread");
        Worker {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    fn run(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    /// Lets queued work (a token being stored, settings being saved) finish,
    /// but never hangs the exit on a keyring that does not answer.
    fn finish(mut self, patience: Duration) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let deadline = std::time::Instant::now() + patience;
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Runner {
    fn new(tx: UnboundedSender<Msg>) -> Self {
        Runner {
            worker: Worker::start(tx.clone()),
            tx,
            clients: HashMap::new(),
        }
    }

    fn client(&mut self, server: &str, token: Option<&Secret>) -> Result<Client, Failure> {
        let client = match self.clients.get(server) {
            Some(c) => c.clone(),
            None => {
                let c = Client::new(server).map_err(|e| failure(&e))?;
                self.clients.insert(server.to_string(), c.clone());
                c
            }
        };
        Ok(client.with_token(token.map(|t| t.0.clone())))
    }

    /// Runs one client call as a task and answers with `reply(result)`; a
    /// bad server address answers at once.
    fn http<T, Fut>(
        &mut self,
        server: &str,
        token: Option<&Secret>,
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

    fn spawn(&mut self, fx: Effect) {
        match fx {
            Effect::Quit => {}
            Effect::OpenKeyring => self.worker.run(Box::new(|slot| {
                let result = TokenStore::open().map(|store| {
                    let name = store.backend().to_string();
                    *slot = Some(store);
                    name
                });
                Msg::KeyringOpened(result.map_err(|e| e.to_string()))
            })),
            Effect::CheckServer { server } => {
                let input = server.clone();
                self.http(
                    &server,
                    None,
                    |c| async move { c.health().await.map(|()| c.server().to_string()) },
                    |result| Msg::ServerChecked { input, result },
                );
            }
            Effect::LoadToken { server, user } => self.keyring(move |store| Msg::TokenLoaded {
                result: match store {
                    Some(st) => st
                        .get(&server, &user)
                        .map(|t| t.map(Secret))
                        .map_err(|e| e.to_string()),
                    None => Err(NO_KEYRING.into()),
                },
            }),
            Effect::StoreToken {
                server,
                user,
                token,
            } => self.keyring(move |store| {
                Msg::TokenStored(match store {
                    Some(st) => st.set(&server, &user, &token.0).map_err(|e| e.to_string()),
                    None => Err(NO_KEYRING.into()),
                })
            }),
            Effect::DeleteToken { server, user } => self.keyring(move |store| {
                Msg::TokenDeleted(match store {
                    Some(st) => st.delete(&server, &user).map_err(|e| e.to_string()),
                    None => Ok(()),
                })
            }),
            Effect::SaveSettings { server, last_user } => self.worker.run(Box::new(|_| {
                let result = Settings::update(|s| {
                    s.server = Some(server);
                    s.last_user = last_user;
                })
                .map_err(|e| e.to_string());
                Msg::SettingsSaved(result)
            })),
            Effect::VerifySession { server, token } => self.http(
                &server,
                Some(&token),
                |c| async move { c.whoami().await },
                |result| Msg::SessionVerified { result },
            ),
            Effect::Register {
                server,
                username,
                password,
            } => {
                let name = username.clone();
                self.http(
                    &server,
                    None,
                    |c| async move { c.register(&name, &password.0).await.map(drop) },
                    |result| Msg::Registered { username, result },
                )
            }
            Effect::Authenticate {
                server,
                username,
                password,
            } => {
                let name = username.clone();
                self.http(
                    &server,
                    None,
                    |c| async move { c.authenticate(&name, &password.0).await.map(Secret) },
                    |result| Msg::Authenticated { username, result },
                )
            }
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
            Effect::Debounce { ticket, after } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = tx.send(Msg::SearchDue(ticket));
                });
            }
            Effect::Logout { server, token } => self.http(
                &server,
                Some(&token),
                |c| async move { c.logout().await },
                Msg::LoggedOut,
            ),
        }
    }
}

const NO_KEYRING: &str = "No OS keyring is available; set STROP_TOKEN to skip the login.";

fn failure(e: &ClientError) -> Failure {
    let kind = if e.is_auth_failure() {
        FailureKind::Auth
    } else if e.is_unreachable() {
        FailureKind::Unreachable
    } else {
        FailureKind::Refused
    };
    Failure::new(kind, e.to_string())
}
