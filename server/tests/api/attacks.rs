//! The ways outside probes took the server down, each replayed
//! against the real executable on loopback: connections that send nothing,
//! one token holding every stream, stream catch-up over large entries,
//! large /get-history answers, large runs from many connections, exports
//! that read nothing, kept-alive connections filling the cap, HTTP/2 answers
//! a client never lets through, and request heads that never end. During and after each, `/healthz` and an
//! authenticated request from another address answer within a second, and
//! the process's peak memory stays under the bound docs/server.md states.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use serde_json::{Value, json};
use strop_embedded_pg::testing::fresh_database;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary::{ServerProcess, command, key_value};

/// The client the attack is not: another loopback address.
const LEGIT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// Where an attack in a test comes from, apart from the legitimate client.
const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66));

async fn start(settings: &[(&str, &str)]) -> ServerProcess {
    let pg = fresh_database().await;
    let mut cmd = command();
    cmd.env("DATABASE_URL", key_value(&pg, "unused"));
    for (k, v) in settings {
        cmd.env(k, v);
    }
    ServerProcess::start(cmd).await
}

fn addr(server: &ServerProcess) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

fn client_from(ip: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Registers `user` and returns a token, on connections that close with
/// their answer: an idle keep-alive one would hold a place the attack's
/// counts in some tests rely on being free.
async fn token(server: &ServerProcess, user: &str) -> String {
    let http = reqwest::Client::builder()
        .local_address(LEGIT)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    crate::binary::register(&http, server, user, "pw").await;
    let token = crate::binary::login(&http, server, user, "pw").await;
    // The server drops a closed connection's place just after answering.
    tokio::time::sleep(Duration::from_millis(100)).await;
    token
}

/// `/healthz` and `/whoami` from another address, each on a new connection,
/// both answered 200 within a second. Timed on a thread of its own, so the
/// test's own work (reading the attack's answers) does not count.
async fn assert_answers(server: &ServerProcess, token: &str, when: &str) {
    let (base, token, when) = (server.base.clone(), token.to_string(), when.to_string());
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(probe(&base, &token, &when));
    })
    .await
    .unwrap();
}

async fn probe(base: &str, token: &str, when: &str) {
    let http = client_from(LEGIT);
    let started = Instant::now();
    let res = http.get(format!("{base}/healthz")).send().await;
    let health = res.map(|r| r.status().as_u16());
    let res = http
        .get(format!("{base}/whoami"))
        .header("authorization", token)
        .send()
        .await;
    let whoami = res.map(|r| r.status().as_u16());
    let took = started.elapsed();
    assert!(
        matches!((&health, &whoami), (Ok(200), Ok(200))),
        "{when}: /healthz {health:?}, /whoami {whoami:?}"
    );
    assert!(took < Duration::from_secs(1), "{when}: took {took:?}");
}

/// VmHWM (peak) of the process, in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib >> 10
}

/// docs/server.md's bound with default settings but `stream_memory_mib`:
/// 96 MiB + STROP_STREAM_MEMORY + (STROP_MAX_CONNECTIONS + 64) × 96 KiB
/// + STROP_HASH_CONCURRENCY × 9 MiB.
fn bound_mib(stream_memory_mib: u64, max_connections: u64) -> u64 {
    96 + stream_memory_mib + (max_connections + 64) * 96 / 1024 + 2 * 9
}

fn assert_within_bound(server: &ServerProcess, bound: u64, attack: &str) {
    let peak = peak_mib(server.pid());
    println!("{attack}: peak RSS {peak} MiB (bound {bound} MiB)");
    assert!(
        peak < bound,
        "{attack}: peak RSS {peak} MiB over {bound} MiB"
    );
}

/// The open-file limit of this process raised to its hard limit.
fn raise_open_files() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    hard
}

#[tokio::test]
async fn eleven_hundred_connections_that_send_nothing_lock_no_one_out() {
    let hard = raise_open_files();
    if hard < 3000 {
        eprintln!("skipped: the open-file hard limit is {hard}, too low for 1,100 connections");
        return;
    }
    let server = start(&[]).await;
    let token = token(&server, "alice").await;
    let target = addr(&server);
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(TcpStream::connect(target).await.unwrap());
    }
    // Through the first-request deadline (10 s) and past it.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        assert_answers(&server, &token, "during").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The server has closed every one of them.
    let closed = join_all(idle.iter_mut().map(|s| async move {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }))
    .await;
    let closed = closed.into_iter().filter(|c| *c).count();
    assert_eq!(closed, 1100, "connections that sent nothing still open");
    assert_answers(&server, &token, "after").await;
    assert_within_bound(&server, bound_mib(64, 1000), "idle connections");
    server.terminate().await;
}

/// The status line of a raw `/events` request on `stream`.
async fn open_events(stream: &mut TcpStream, token: &str) -> u16 {
    let request = format!(
        "GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut b)).await {
            Ok(Ok(1)) => head.push(b[0]),
            other => panic!("no status line: {other:?}"),
        }
    }
    let line = String::from_utf8_lossy(&head);
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn one_token_cannot_take_every_connection_or_stream() {
    raise_open_files();
    let server = start(&[]).await;
    let token = token(&server, "hog").await;
    let other = self::token(&server, "bystander").await;
    let target = addr(&server);
    let mut streams = Vec::new();
    let mut statuses = Vec::new();
    // Fewer than the per-address cap (256), so each is answered, not 503.
    for _ in 0..250 {
        let mut s = TcpStream::connect(target).await.unwrap();
        statuses.push(open_events(&mut s, &token).await);
        streams.push(s);
    }
    let open = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((open, limited), (4, 246), "{statuses:?}");
    // Another user still gets a stream, and everyone else an answer.
    let res = client_from(LEGIT)
        .get(server.url("/events"))
        .header("authorization", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_answers(&server, &token, "with 250 stream attempts of one token").await;
    drop(streams);
    assert_within_bound(&server, bound_mib(64, 1000), "one token's streams");
    server.terminate().await;

    // Over HTTP/2 every stream beyond a connection's first is counted like
    // a connection: with a cap of 4, one connection carries at most 4.
    let server = start(&[("STROP_MAX_CONNECTIONS", "4")]).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(self::token(&server, &format!("h2user{i}")).await);
    }
    let (statuses, held) = h2_streams(&server, LEGIT, &tokens).await;
    assert_eq!(statuses, [200, 200, 200, 200, 503, 503, 503, 503]);
    // Health checks still answer over the cap.
    let res = client_from(LEGIT)
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(held);
    server.terminate().await;

    // An address's streams count against its own cap too, so one address
    // cannot fill the server's cap with streams: another still gets in.
    let server = start(&[
        ("STROP_MAX_CONNECTIONS", "100"),
        ("STROP_MAX_CONNECTIONS_PER_ADDRESS", "4"),
    ])
    .await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(self::token(&server, &format!("h2addr{i}")).await);
    }
    let (statuses, held) = h2_streams(&server, ATTACKER, &tokens).await;
    assert_eq!(statuses, [200, 200, 200, 200, 503, 503, 503, 503]);
    assert_answers(&server, &tokens[0], "one address's streams at its cap").await;
    drop(held);
    server.terminate().await;
}

/// One `/events` stream per token, all on one HTTP/2 connection from
/// `from`: their statuses (sorted) and the answers, held open.
async fn h2_streams(
    server: &ServerProcess,
    from: IpAddr,
    tokens: &[String],
) -> (Vec<u16>, Vec<reqwest::Response>) {
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .local_address(from)
        .build()
        .unwrap();
    let answers = join_all(tokens.iter().map(|t| {
        h2.get(server.url("/events"))
            .header("authorization", t)
            .send()
    }))
    .await;
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    for res in answers {
        let res = res.unwrap();
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        statuses.push(res.status().as_u16());
        held.push(res);
    }
    statuses.sort_unstable();
    (statuses, held)
}

/// `count` entries of `input` for `token`, eight writes at a time.
async fn write_entries(server: &ServerProcess, token: &str, input: &str, count: usize) {
    let http = client_from(LEGIT);
    let body = json!({ "input": input });
    futures_util::stream::iter(0..count)
        .for_each_concurrent(8, |_| {
            let http = &http;
            let body = &body;
            async move {
                let res = http
                    .post(server.url("/reverse"))
                    .header("authorization", token)
                    .json(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
        })
        .await;
}

#[tokio::test]
async fn catch_up_over_large_entries_is_held_within_the_byte_budget() {
    let server = start(&[]).await;
    let token = token(&server, "big").await;
    // 400 entries of 60 KB in and 60 KB out: 48 MB of history.
    let entries = 400;
    write_entries(&server, &token, &"x".repeat(60_000), entries).await;
    let target = addr(&server);
    // Ten slow readers that never read, resuming from the start.
    let mut slow = Vec::new();
    for _ in 0..10 {
        let mut s = TcpStream::connect(target).await.unwrap();
        let request = format!(
            "GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\nLast-Event-ID: 0\r\n\r\n"
        );
        s.write_all(request.as_bytes()).await.unwrap();
        slow.push(s);
    }
    // Ten readers that read everything: all of it arrives, in order.
    // (Per user four streams at once: the others are refused and retry.)
    let readers = (0..10).map(|_| {
        let server = &server;
        let token = token.clone();
        async move {
            let http = reqwest::Client::new();
            loop {
                let res = http
                    .get(server.url("/events"))
                    .header("authorization", &token)
                    .header("last-event-id", "0")
                    .send()
                    .await
                    .unwrap();
                if res.status() == 429 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                assert_eq!(res.status(), 200);
                let mut body = res.bytes_stream();
                let mut seen = 0;
                let mut tail = String::new();
                while seen < entries {
                    let chunk = body.next().await.expect("the stream ended early").unwrap();
                    tail.push_str(&String::from_utf8_lossy(&chunk));
                    seen += tail.matches("event:entry").count();
                    tail = tail.rsplit("event:entry").next().unwrap().to_string();
                }
                return seen;
            }
        }
    });
    let probing = async {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            assert_answers(&server, &token, "during catch-up").await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let (seen, ()) = tokio::join!(join_all(readers), probing);
    assert!(seen.iter().all(|n| *n >= entries), "{seen:?}");
    assert_answers(&server, &token, "after catch-up").await;
    drop(slow);
    assert_within_bound(&server, bound_mib(64, 1000), "catch-up over large entries");
    server.terminate().await;
}

#[tokio::test]
async fn large_history_answers_are_cut_by_bytes_and_paged() {
    let server = start(&[]).await;
    let token = token(&server, "hoarder").await;
    // Control characters: every one is six bytes of JSON, so the answer is
    // six times what the rows hold.
    let entries = 600;
    write_entries(&server, &token, &"\u{1}".repeat(10_000), entries).await;
    // Answers of tens of MB take this test a while to read.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let fetch = |before: Option<i64>| {
        let http = &http;
        let token = &token;
        let server = &server;
        async move {
            let mut url = server.url("/get-history");
            if let Some(b) = before {
                url = format!("{url}?before={b}");
            }
            http.get(url)
                .header("authorization", token)
                .send()
                .await
                .unwrap()
        }
    };
    let attack = async {
        for _ in 0..5 {
            let answers = join_all((0..4).map(|_| fetch(None))).await;
            for res in answers {
                let status = res.status().as_u16();
                assert!(status == 200 || status == 503, "{status}");
                if status == 200 {
                    let page: Value = res.json().await.unwrap();
                    let n = page["history"].as_array().unwrap().len();
                    assert!(n < entries, "a whole history of {n} in one answer");
                    assert!(page["next_before"].as_i64().is_some());
                }
            }
        }
    };
    let probing = async {
        for _ in 0..10 {
            assert_answers(&server, &token, "during large answers").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    tokio::join!(attack, probing);
    // next_before pages through every entry.
    let mut total = 0;
    let mut before = None;
    loop {
        let res = fetch(before).await;
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        total += page["history"].as_array().unwrap().len();
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    assert_eq!(total, entries);
    assert_answers(&server, &token, "after large answers").await;
    assert_within_bound(&server, bound_mib(64, 1000), "large history answers");
    server.terminate().await;
}

/// POSTs `input` to `path` from `connections` connections at once, `each`
/// times per connection; the statuses seen.
async fn run_from_many(
    server: &ServerProcess,
    token: &str,
    path: &str,
    input: &str,
    connections: usize,
    each: usize,
) -> Vec<u16> {
    let http = reqwest::Client::builder()
        .local_address(ATTACKER)
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let body = json!({ "input": input });
    futures_util::stream::iter(0..connections * each)
        .map(|_| {
            let (http, body) = (&http, &body);
            async move {
                let res = http
                    .post(server.url(path))
                    .header("authorization", token)
                    .json(body)
                    .send()
                    .await
                    .unwrap();
                res.status().as_u16()
            }
        })
        .buffer_unordered(connections)
        .collect::<Vec<_>>()
        .await
}

#[tokio::test]
async fn large_writes_from_many_connections_are_held_within_the_memory_budget() {
    raise_open_files();
    let settings = [("STROP_STREAM_MEMORY", "16MiB")];
    let server = start(&settings).await;
    let token = token(&server, "writer").await;
    let other = self::token(&server, "bystander").await;
    // 64,000 bytes in, 160,000 out ("a" -> "away"), from 250 connections.
    let input = "a ".repeat(32_000);
    let attack = run_from_many(&server, &token, "/piglatin", &input, 250, 3);
    // Another user's small rows go on meanwhile, never in a failed batch.
    let small = async {
        let mut statuses = Vec::new();
        for _ in 0..20 {
            let res = client_from(LEGIT)
                .post(server.url("/reverse"))
                .header("authorization", &other)
                .json(&json!({ "input": "small" }))
                .send()
                .await
                .unwrap();
            statuses.push(res.status().as_u16());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        statuses
    };
    let (statuses, small) = tokio::join!(attack, small);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let shared = statuses.iter().filter(|s| **s == 429).count();
    println!(
        "large writes: {ok} of {} answered 200, {shared} 429",
        statuses.len()
    );
    // Waiting for room is fine, a 429 (the user's share) or 503 (the
    // budget) after 5 s is fine; a failed batch is not.
    assert!(
        statuses.iter().all(|s| [200, 429, 503].contains(s)),
        "{:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    assert!(ok > 0, "no large write went through");
    assert!(small.iter().all(|s| *s == 200), "{small:?}");
    assert_answers(&server, &other, "after large writes").await;
    assert_within_bound(&server, bound_mib(16, 1000), "large writes");
    server.terminate().await;
}

#[tokio::test]
async fn exports_that_read_nothing_are_held_within_the_memory_budget() {
    raise_open_files();
    let settings = [
        ("STROP_STREAM_MEMORY", "16MiB"),
        ("STROP_MAX_CONNECTIONS_PER_ADDRESS", "1000"),
    ];
    let server = start(&settings).await;
    let token = token(&server, "exporter").await;
    // 12 MB of history: many export pages.
    write_entries(&server, &token, &"x".repeat(60_000), 100).await;
    let target = addr(&server);
    let request =
        format!("GET /history/export HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n");
    let mut idle = Vec::new();
    for _ in 0..300 {
        // A small receive window: the exports wait on their clients, not
        // on the kernel's buffers.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket.connect(target).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        idle.push(s);
    }
    // Another user exports the whole of theirs meanwhile.
    let reader = self::token(&server, "reader").await;
    write_entries(&server, &reader, &"y".repeat(60_000), 20).await;
    assert_eq!(export_lines(&server, &reader).await, 20);
    // While they are held, and after they are given up.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(14) {
        assert_answers(&server, &token, "during idle exports").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Given up: the exporter's own export is whole again.
    assert_eq!(export_lines(&server, &token).await, 100);
    drop(idle);
    assert_within_bound(&server, bound_mib(16, 1000), "exports that read nothing");
    server.terminate().await;
}

/// The lines of a whole export of `token`'s history, read to its end.
async fn export_lines(server: &ServerProcess, token: &str) -> usize {
    let res = client_from(LEGIT)
        .get(server.url("/history/export"))
        .header("authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("the whole export");
    text.lines().count()
}

/// A kept-alive connection from `from` that has made one request.
async fn kept_alive(target: SocketAddr, from: IpAddr) -> Option<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut s = socket.connect(target).await.ok()?;
    refresh(&mut s).await.then_some(s)
}

/// One `/healthz` on `s`, its answer read; whether it came.
async fn refresh(s: &mut TcpStream) -> bool {
    let sent = s
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
    sent.is_ok() && matches!(read, Ok(Ok(n)) if n > 0)
}

#[tokio::test]
async fn connections_kept_alive_from_a_few_addresses_lock_no_one_out() {
    raise_open_files();
    // Three addresses at their cap fill the server's.
    let settings = [
        ("STROP_MAX_CONNECTIONS", "48"),
        ("STROP_MAX_CONNECTIONS_PER_ADDRESS", "16"),
    ];
    let server = start(&settings).await;
    let token = token(&server, "alice").await;
    let target = addr(&server);
    let mut held = Vec::new();
    for last in [66, 67, 68] {
        for _ in 0..16 {
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
            held.extend(kept_alive(target, from).await);
        }
    }
    assert_eq!(held.len(), 48, "the attack did not fill the cap");
    // They keep themselves alive, well within the idle timeout, and reopen
    // what is closed.
    let stop = tokio_util::sync::CancellationToken::new();
    let attack = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                for (i, s) in held.iter_mut().enumerate() {
                    if !refresh(s).await {
                        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66 + (i / 16) as u8));
                        if let Some(again) = kept_alive(target, from).await {
                            *s = again;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        assert_answers(&server, &token, "during kept-alive connections").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.cancel();
    attack.await.unwrap();
    assert_within_bound(&server, bound_mib(64, 48), "kept-alive connections");
    server.terminate().await;
}

#[tokio::test]
async fn http2_answers_the_client_never_lets_through_are_closed_not_held() {
    // The stall allowance is the body timeout + 15 s: 16 s here.
    let server = start(&[("STROP_BODY_TIMEOUT", "1s")]).await;
    let token = token(&server, "watcher").await;
    // A stream window of zero, never opened: no answer body can be sent,
    // and the socket itself never stalls.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .http2_initial_stream_window_size(0)
        .local_address(ATTACKER)
        .build()
        .unwrap();
    let answers = join_all((0..8).map(|_| h2.get(server.url("/healthz")).send())).await;
    let started = Instant::now();
    let mut held: Vec<reqwest::Response> = answers.into_iter().map(Result::unwrap).collect();
    assert!(held.iter().all(|r| r.status() == 200));
    let body = tokio::time::timeout(Duration::from_secs(30), held[0].chunk()).await;
    let waited = started.elapsed();
    assert!(
        matches!(body, Ok(Err(_))),
        "the stalled connection was not closed: {body:?}"
    );
    assert!(waited >= Duration::from_secs(15), "closed after {waited:?}");
    assert_answers(&server, &token, "after the stalled connection").await;
    server.terminate().await;
}

#[tokio::test]
async fn a_request_head_is_held_to_80_kib_not_400() {
    let server = start(&[]).await;
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    // 100 KB of one header, never finished.
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        .await
        .unwrap();
    let _ = s.write_all(&vec![b'a'; 100_000]).await;
    let mut head = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut head)).await;
    assert!(
        matches!(read, Ok(Ok(_))) && head.starts_with(b"HTTP/1.1 431"),
        "{read:?} {:?}",
        String::from_utf8_lossy(&head)
    );
    server.terminate().await;
}
