//! `strop history --follow` against a real server's `GET /events`: entries
//! made by another client arrive within a second; a dropped connection
//! resumes without loss (`Last-Event-ID`); a server that stays away ends it
//! with exit 4; a revoked token ends it with exit 3; a restart of the
//! follower's own server, with entries made meanwhile through another
//! server on the same database, loses none.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strop_common::api::{HistoryEntry, StropRequest};

use crate::support::{TestServer, config_dir, free_port, strop_command, unique_user};
use crate::{Ctx, PASSWORD, ok};

/// How late a live entry may be printed (issue 8). Measured at a few tens
/// of ms on a 2-core machine under load 6; the delay is printed.
const LIVE_BOUND: Duration = Duration::from_secs(1);

/// A TCP relay on a fixed port in front of the server: `cut` drops the
/// port and every connection through it (the server is gone, as far as the
/// client can tell); `mend` listens again on the same port.
struct Relay {
    port: u16,
    target: std::net::SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: std::net::SocketAddr) -> Relay {
        let relay = Relay {
            port: free_port(),
            target,
            open: Arc::new(AtomicBool::new(false)),
            conns: Arc::default(),
        };
        relay.mend();
        relay
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn mend(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the relay port");
        listener.set_nonblocking(true).unwrap();
        self.open.store(true, Ordering::SeqCst);
        let (open, conns, target) = (self.open.clone(), self.conns.clone(), self.target);
        std::thread::spawn(move || {
            while open.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(target) else {
                            continue;
                        };
                        let mut all = conns.lock().unwrap();
                        all.push(client.try_clone().unwrap());
                        all.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            // The listener drops here: the port refuses connections.
        });
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
        // Let the accept loop see the flag and drop the listener.
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// `strop history --follow ...` running, its stdout as lines.
struct Follower {
    child: Child,
    lines: Receiver<String>,
}

impl Follower {
    fn start(ctx: &Ctx, server: &str, args: &[&str], env: &[(&str, &str)]) -> Follower {
        let mut cmd = strop_command(ctx.config.path(), server);
        cmd.envs(env.iter().copied());
        cmd.args(["history", "--follow"])
            .args(args)
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn strop history --follow");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// The next line within `wait`.
    fn next(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    fn entry(&self, wait: Duration, what: &str) -> HistoryEntry {
        let line = self
            .next(wait)
            .unwrap_or_else(|| panic!("no line for {what:?} within {wait:?}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Waits for the exit; (code, stderr).
    fn wait(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
                return (status.code(), err);
            }
            assert!(Instant::now() < deadline, "strop --follow did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Follower {
    /// Stops it; its stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
        err
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn follow_prints_new_entries_within_a_second_and_resumes_without_loss() {
    let ctx = Ctx::new("follow");
    ctx.register_and_login();
    ok(&ctx.run(&["reverse", "before follow"]));
    let relay = Relay::start(TestServer::shared().addr());
    // The keyring token is filed under the server's own address.
    let token = ctx.stored_token().unwrap();
    let follower = Follower::start(&ctx, &relay.url(), &["--json"], &[("STROP_TOKEN", &token)]);
    // The history first, as lines.
    assert_eq!(
        follower
            .entry(Duration::from_secs(10), "before follow")
            .input,
        "before follow"
    );

    // Made by another client, straight on the server.
    let started = Instant::now();
    ok(&ctx.run(&["piglatin", "live one"]));
    let live = follower.entry(Duration::from_secs(5), "live one");
    assert_eq!(
        (live.input.as_str(), live.output.as_str()),
        ("live one", "ivelay oneway")
    );
    let took = started.elapsed();
    // The `strop piglatin` process itself is part of that time.
    assert!(took < Duration::from_secs(2), "{took:?}");

    // The link drops; entries are made meanwhile; the link comes back.
    relay.cut();
    ok(&ctx.run(&["reverse", "while away 1"]));
    ok(&ctx.run(&["reverse", "while away 2"]));
    std::thread::sleep(Duration::from_secs(1));
    relay.mend();
    let a = follower.entry(Duration::from_secs(15), "while away 1");
    let b = follower.entry(Duration::from_secs(5), "while away 2");
    assert_eq!(
        (a.input.as_str(), b.input.as_str()),
        ("while away 1", "while away 2")
    );
    ok(&ctx.run(&["reverse", "after"]));
    assert_eq!(
        follower.entry(Duration::from_secs(5), "after").input,
        "after"
    );
    assert_eq!(
        follower.next(Duration::from_millis(500)),
        None,
        "nothing twice"
    );

    // Gone for good: exit 4 with the sentence, after the give-up time.
    relay.cut();
    let (code, err) = follower.wait(Duration::from_secs(60));
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.starts_with("strop: Cannot reach the server at"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn follow_applies_filters_prints_plain_rows_and_stops_when_the_token_is_revoked() {
    let ctx = Ctx::new("follow-plain");
    ctx.register_and_login();
    let server = TestServer::shared().url().to_string();
    let follower = Follower::start(
        &ctx,
        &server,
        &["--function", "reverse", "--search", "keep"],
        &[],
    );
    // Give the stream a moment to open, then make a matching and two other entries.
    std::thread::sleep(Duration::from_millis(500));
    ok(&ctx.run(&["piglatin", "keep me not"]));
    ok(&ctx.run(&["reverse", "drop this"]));
    ok(&ctx.run(&["reverse", "Keep this"]));
    let line = follower
        .next(Duration::from_secs(5))
        .expect("the matching entry");
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields[1..], ["reverse", "Keep this", "siht peeK"], "{line}");
    assert!(fields[0].ends_with(" +00:00"), "TZ=UTC: {line}");

    // Another login's logout does not matter; this token's does.
    ok(&ctx.run_with(&["logout"], None, &[]));
    let (code, err) = follower.wait(Duration::from_secs(30));
    assert_eq!(code, Some(3), "{err}");
    // The keyring entry went with the logout: the TUI's sentence.
    assert!(err.contains("Your session has ended"), "{err}");
    assert!(err.contains("'log out all others'"), "{err}");
}

/// Tester's finding 5: a second `strop login` of the same user on this
/// machine revokes the token `--follow` was using; `--follow` finds the new
/// one in the keyring, says so in one line, and keeps printing.
#[test]
fn follow_carries_on_with_the_token_of_a_newer_login_here() {
    let ctx = Ctx::new("follow-relogin");
    ctx.register_and_login();
    let before = ctx.stored_token().unwrap();
    let server = TestServer::shared().url().to_string();
    let follower = Follower::start(&ctx, &server, &["--json"], &[]);
    std::thread::sleep(Duration::from_millis(500));
    ok(&ctx.run(&["reverse", "first"]));
    assert_eq!(
        follower.entry(Duration::from_secs(5), "first").input,
        "first"
    );
    ok(&ctx.run_with(
        &["login", &ctx.user, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
        &[],
    ));
    assert_ne!(ctx.stored_token().unwrap(), before, "a new token");
    // Time for the server to end the old token's stream.
    std::thread::sleep(Duration::from_secs(1));
    // The old token is refused from now on; the stream goes on regardless.
    ok(&ctx.run(&["reverse", "after the new login"]));
    assert_eq!(
        follower
            .entry(Duration::from_secs(10), "after the new login")
            .input,
        "after the new login"
    );
    ok(&ctx.run(&["reverse", "and another"]));
    assert_eq!(
        follower.entry(Duration::from_secs(5), "and another").input,
        "and another"
    );
    let err = follower.stop();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("newer login"), "{err}");
}

/// A `GET /events` held open by hand (a raw socket, read up to the status
/// line), as another window of the same user would hold one.
fn hold_stream(server: &str, token: &str) -> TcpStream {
    let addr = server.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(s.try_clone().unwrap())
        .read_line(&mut status)
        .unwrap();
    assert!(status.contains(" 200 "), "{status}");
    s
}

/// New-user test: with the user's four streams already open, the server
/// refuses a fifth with 429; `--follow` says so once, waits the answer's
/// Retry-After and tries again, and prints entries once a stream is free.
#[test]
fn follow_waits_out_the_per_user_stream_cap() {
    let ctx = Ctx::new("follow-cap");
    ctx.register_and_login();
    let token = ctx.stored_token().unwrap();
    let server = TestServer::shared().url().to_string();
    let mut held: Vec<TcpStream> = (0..4).map(|_| hold_stream(&server, &token)).collect();
    let follower = Follower::start(&ctx, &server, &["--json"], &[]);
    std::thread::sleep(Duration::from_millis(1500));
    // One window closes: the next try gets a stream.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(200));
    post_reverse(&server, &token, "once a stream is free");
    let entry = follower.entry(Duration::from_secs(15), "after the cap");
    assert_eq!(entry.input, "once a stream is free");
    let err = follower.stop();
    assert!(err.contains("Too many live views"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// One `POST /reverse` as another client would make it; returns at its 200.
fn post_reverse(server: &str, token: &str, input: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{server}/reverse"))
            .bearer_auth(token)
            .json(&StropRequest {
                input: input.into(),
            })
            .send()
            .await
            .expect("POST /reverse");
        let status = response.status();
        assert_eq!(status, 200, "{:?}", response.text().await);
    });
}

/// Issue 8 across processes: the follower's server and another server on
/// the same database. An entry written through the other one reaches the
/// follower promptly; the follower's server is stopped with SIGTERM, entries
/// are made meanwhile through the other server, and once its server is back
/// on the same address the follower prints each of them once.
#[test]
fn follow_prints_entries_from_another_server_and_resumes_after_a_restart() {
    let other = TestServer::start();
    let mut own = other.share();
    let ctx = Ctx {
        server: own.url().to_string(),
        config: config_dir(),
        user: unique_user("follow-restart"),
    };
    ctx.register_and_login();
    let token = ctx.stored_token().expect("a token");
    post_reverse(other.url(), &token, "before follow");
    let follower = Follower::start(&ctx, own.url(), &["--json"], &[]);
    let first = follower.entry(Duration::from_secs(10), "before follow");
    assert_eq!(first.input, "before follow");
    // Let the stream open.
    std::thread::sleep(Duration::from_millis(500));

    post_reverse(other.url(), &token, "live one");
    let answered = Instant::now();
    let live = follower.entry(Duration::from_secs(5), "live one");
    let took = answered.elapsed();
    println!("200 on the other server -> printed by the follower: {took:?}");
    assert_eq!(
        (live.input.as_str(), live.output.as_str()),
        ("live one", "eno evil")
    );
    assert!(took < LIVE_BOUND, "{took:?}");

    own.stop();
    post_reverse(other.url(), &token, "while restarting 1");
    post_reverse(other.url(), &token, "while restarting 2");
    own.start_again();
    let a = follower.entry(Duration::from_secs(20), "while restarting 1");
    let b = follower.entry(Duration::from_secs(5), "while restarting 2");
    assert_eq!(
        (a.input.as_str(), b.input.as_str()),
        ("while restarting 1", "while restarting 2")
    );
    post_reverse(own.url(), &token, "after");
    let after = follower.entry(Duration::from_secs(5), "after");
    assert_eq!(after.input, "after");
    let ids = [first.id, live.id, a.id, b.id, after.id];
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(
        follower.next(Duration::from_millis(500)),
        None,
        "nothing twice"
    );
    drop(follower);
    drop(ctx);
}
