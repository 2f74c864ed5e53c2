//! Three real `strop-server` processes on one database behind real HAProxy, run with
//! the repository's deploy/haproxy/haproxy.cfg: the file the compose profile `scale`
//! mounts, filled here with three loopback addresses instead of Docker's DNS.
//!
//! HAProxy must be installed (Debian: `apt-get install haproxy`); without it these tests
//! fail and say so.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use strop_common::ErrorCode;
use strop_embedded_pg::testing::fresh_database;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::binary::{ServerProcess, command, database_url};
use crate::events::Stream;
use crate::seed;
use crate::support::{assert_error, connect};

const HAPROXY_CFG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/haproxy/haproxy.cfg");

/// The balancer and the replicas behind it, all on one fresh database.
struct Balanced {
    pg: tokio_postgres::Config,
    /// `None` while a replica is stopped.
    replicas: Vec<Option<ServerProcess>>,
    /// host:port of each replica, fixed in the balancer's config.
    addrs: Vec<String>,
    haproxy: Child,
    haproxy_logs: Arc<Mutex<Vec<String>>>,
    /// The balancer's base URL.
    base: String,
}

/// Debian installs HAProxy in /usr/sbin, which is not on every user's PATH.
fn haproxy_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("haproxy"))
        .find(|bin| bin.is_file())
        .unwrap_or_else(|| {
            panic!(
                "HAProxy is not installed: the three-replica tests run the real balancer \
                 (Debian: apt-get install haproxy; .ci/run installs it)"
            )
        })
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

impl Balanced {
    async fn start() -> Balanced {
        let haproxy_bin = haproxy_binary();
        let pg = fresh_database().await;
        let mut replicas = Vec::new();
        for _ in 0..3 {
            replicas.push(Some(start_replica(&pg, "127.0.0.1:0").await));
        }
        let addrs: Vec<String> = replicas
            .iter()
            .map(|r| {
                let r = r.as_ref().unwrap();
                r.base.trim_start_matches("http://").to_string()
            })
            .collect();

        let bind = free_addr();
        let mut cmd = Command::new(haproxy_bin);
        cmd.arg("-f")
            .arg(HAPROXY_CFG)
            .arg("-db")
            .env("STROP_LB_BIND", &bind)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (i, addr) in addrs.iter().enumerate() {
            cmd.env(format!("STROP_REPLICA_{}", i + 1), addr);
        }
        let mut haproxy = cmd.spawn().expect("start haproxy");
        let haproxy_logs = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(haproxy.stdout.take().unwrap())
                as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box::new(haproxy.stderr.take().unwrap()),
        ] {
            let sink = haproxy_logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        let mut lb = Balanced {
            pg,
            replicas,
            addrs,
            haproxy,
            haproxy_logs,
            base: format!("http://{bind}"),
        };
        lb.wait_until_all_serve().await;
        lb
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn replica(&self, i: usize) -> &ServerProcess {
        self.replicas[i].as_ref().expect("replica running")
    }

    fn haproxy_log(&self) -> String {
        self.haproxy_logs.lock().unwrap().join("\n")
    }

    /// Until a request through the balancer has reached every running replica.
    async fn wait_until_all_serve(&mut self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        // A marker path per wait; 404s are fine, the access log records them (in
        // batches: a line shows up to 50 ms after its request, so a later round
        // may find an earlier one's).
        let marker = format!("/probe-{}", crate::support::unique_name("p"));
        loop {
            if let Ok(Some(status)) = self.haproxy.try_wait() {
                panic!("haproxy exited ({status}):\n{}", self.haproxy_log());
            }
            for _ in 0..6 {
                let _ = http.get(self.url(&marker)).send().await;
            }
            let reached = self
                .replicas
                .iter()
                .flatten()
                .all(|r| served(r, &marker) > 0);
            if reached {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the balancer did not reach every replica:\n{}",
                self.haproxy_log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn start_replica(pg: &tokio_postgres::Config, addr: &str) -> ServerProcess {
    let mut cmd = command();
    cmd.env("DATABASE_URL", database_url(pg))
        .env("STROP_ADDR", addr);
    ServerProcess::start(cmd).await
}

/// How many requests for `path` this replica's access log shows.
/// Requests for `path` in the replica's access log, as soon as one shows (the
/// log is written in 50 ms batches), or 0 after 2 s.
async fn served_soon(replica: &ServerProcess, paths: &[&str]) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let n = paths.iter().map(|p| served(replica, p)).sum();
        if n > 0 || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn served(replica: &ServerProcess, path: &str) -> usize {
    replica
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request" && v["path"] == path)
        .count()
}

async fn register_and_login(http: &reqwest::Client, base: &str, user: &str) -> String {
    let creds = json!({"username": user, "password": "pw"});
    let res = http
        .post(format!("{base}/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    login(http, base, user).await
}

async fn login(http: &reqwest::Client, base: &str, user: &str) -> String {
    let res = http
        .post(format!("{base}/authenticate"))
        .json(&json!({"username": user, "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn whoami(http: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    http.get(format!("{base}/whoami"))
        .header("Authorization", token)
        .send()
        .await
        .unwrap()
}

const SEED_PATHS: [&str; 6] = [
    "/",
    "/register",
    "/authenticate",
    "/reverse",
    "/piglatin",
    "/get-history",
];

#[tokio::test]
async fn seed_session_and_tokens_work_across_three_replicas() {
    let lb = Balanced::start().await;

    // The seed session through the balancer: round robin puts its seven requests on
    // all three replicas, so each step may be answered by another process.
    seed::replay(&lb.base).await;
    for (i, replica) in lb.replicas.iter().flatten().enumerate() {
        let seed_requests = served_soon(replica, &SEED_PATHS).await;
        assert!(
            seed_requests > 0,
            "replica {i} served none of the seed session"
        );
    }

    // A token issued by replica A works on B and C: tokens live in the database.
    let http = reqwest::Client::new();
    let (a, b, c) = (
        &lb.replica(0).base,
        &lb.replica(1).base,
        &lb.replica(2).base,
    );
    let token = register_and_login(&http, a, "ana").await;
    for base in [b, c, &lb.base] {
        let res = whoami(&http, base, &token).await;
        assert_eq!(res.status(), StatusCode::OK, "{base}");
        let me = res.json::<Value>().await.unwrap();
        assert_eq!(me["user"], json!("ana"), "{base}");
        assert!(me["expires"].is_string(), "{me}");
    }

    // Revoked on A: refused by B and C on their very next request (each fences
    // its token cache on its LISTEN connection before answering from it).
    let res = http
        .post(format!("{a}/logout"))
        .header("Authorization", &token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for base in [b, c, &lb.base] {
        assert_error(
            whoami(&http, base, &token).await,
            401,
            ErrorCode::InvalidToken,
        )
        .await;
    }
}

#[tokio::test]
async fn an_entry_written_through_one_replica_streams_from_another_within_a_second() {
    let lb = Balanced::start().await;
    let http = reqwest::Client::new();
    let token = register_and_login(&http, &lb.base, "live").await;
    let (a, c) = (&lb.replica(0).base, &lb.replica(2).base);
    // One stream held by replica C itself, one through the balancer (whichever replica
    // it lands on): HAProxy must pass each event on as it comes, not buffer it.
    let mut on_c = Stream::open_at(&http, &format!("{c}/events"), &token, None).await;
    let mut balanced = Stream::open_at(&http, &lb.url("/events"), &token, None).await;

    for (i, writer) in [a, &lb.base].into_iter().enumerate() {
        let input = format!("live {i}");
        let res = http
            .post(format!("{writer}/reverse"))
            .header("Authorization", &token)
            .json(&json!({"input": input}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let committed = Instant::now();
        for stream in [&mut on_c, &mut balanced] {
            let left = Duration::from_secs(1).saturating_sub(committed.elapsed());
            let entry = stream.entry(left).await;
            assert_eq!(entry["input"], input.as_str());
        }
        eprintln!(
            "entry {i} on both streams {:?} after its 200",
            committed.elapsed()
        );
    }
}

#[tokio::test]
async fn sigterm_to_one_replica_mid_load_loses_no_request() {
    sigterm_mid_load(false).await;
}

/// The same, with a client following the history on the replica that stops.
#[tokio::test]
async fn a_stream_follower_misses_nothing_when_its_replica_stops() {
    sigterm_mid_load(true).await;
}

async fn sigterm_mid_load(follow: bool) {
    let mut lb = Balanced::start().await;
    let http = reqwest::Client::new();
    let token = register_and_login(&http, &lb.base, "load").await;

    // A client following the history on replica B, which is about to stop: when its
    // stream ends it reconnects through the balancer with Last-Event-ID, as the TUI and
    // `strop history --follow` do, and must miss nothing and get nothing twice.
    let follower = follow.then(|| {
        let (http, token) = (http.clone(), token.clone());
        let (on_b, balanced) = (lb.replica(1).url("/events"), lb.url("/events"));
        tokio::spawn(async move {
            let (mut inputs, mut streams) = (Vec::new(), 0);
            // From the start of this user's history: nothing written yet can be missed.
            let mut last = Some(0);
            loop {
                let url = if streams == 0 { &on_b } else { &balanced };
                let mut stream = Stream::open_at(&http, url, &token, last).await;
                streams += 1;
                while let Some(event) = stream.next(Duration::from_secs(30)).await {
                    assert_eq!(event.event, "entry", "{event:?}");
                    let entry: Value = serde_json::from_str(&event.data).unwrap();
                    // The last id seen, as EventSource sends it (ids of concurrent
                    // commits may arrive out of order).
                    last = Some(entry["id"].as_i64().unwrap());
                    match entry["input"].as_str().unwrap() {
                        "the end" => return (inputs, streams),
                        input => inputs.push(input.to_string()),
                    }
                }
            }
        })
    });

    // Eight clients write through the balancer without pause; every input is unique,
    // so each 200 can be matched to its row.
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (stop, token, url) = (stop.clone(), token.clone(), lb.url("/reverse"));
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut outcomes: Vec<(String, Result<u16, String>)> = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let input = format!("w{w}-{i}");
                i += 1;
                let res = http
                    .post(&url)
                    .header("Authorization", &token)
                    .json(&json!({"input": input}))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let outcome = match res {
                    Ok(r) => Ok(r.status().as_u16()),
                    Err(e) => Err(e.to_string()),
                };
                outcomes.push((input, outcome));
            }
            outcomes
        }));
    }

    // Under load, replica B gets SIGTERM (what `docker stop` sends), finishes what it
    // was serving and exits; the balancer sends the rest elsewhere. It is stopped once
    // it is serving (a fixed sleep was too short on a loaded machine).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while served(lb.replica(1), "/reverse") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica B got no requests under load:\n{}",
            lb.haproxy_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = lb.replicas[1].take().unwrap();
    let b_addr = lb.addrs[1].clone();
    let (status, b_log) = b.terminate().await;
    assert!(status.success(), "replica B exited with {status}");
    let b_served = b_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request" && v["path"] == "/reverse" && v["status"] == 200)
        .count();
    assert!(b_served > 0, "replica B served no load before its SIGTERM");

    // Load goes on against two replicas, then B comes back on its address (a rolling
    // restart) and must be given requests again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    lb.replicas[1] = Some(start_replica(&lb.pg, &b_addr).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while served(lb.replica(1), "/reverse") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted replica got no requests back:\n{}",
            lb.haproxy_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);

    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.unwrap());
    }
    let failed: Vec<_> = outcomes.iter().filter(|(_, o)| *o != Ok(200)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed, e.g. {:?}\n{}",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(5)],
        lb.haproxy_log()
    );

    // A last entry: the follower's end marker.
    let res = http
        .post(lb.url("/reverse"))
        .header("Authorization", &token)
        .json(&json!({"input": "the end"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    if let Some(follower) = follower {
        check_follower(follower, &outcomes).await;
    }

    // Every 200 has its row, and no row was written twice (no retried commit).
    let db = connect(&lb.pg).await;
    let rows = db
        .query("SELECT input, count(*) FROM history GROUP BY input", &[])
        .await
        .unwrap();
    let counts: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        counts.len(),
        outcomes.len() + 1,
        "rows vs 200s (and the end marker)"
    );
    for (input, _) in &outcomes {
        assert_eq!(counts.get(input), Some(&1), "rows for {input}");
    }
    eprintln!(
        "{} requests through the balancer, all 200, replica B served {b_served} before SIGTERM",
        outcomes.len()
    );
}

/// The follower got every entry exactly once, across a replica change.
async fn check_follower(
    follower: tokio::task::JoinHandle<(Vec<String>, usize)>,
    outcomes: &[(String, Result<u16, String>)],
) {
    let (mut streamed, streams) = tokio::time::timeout(Duration::from_secs(30), follower)
        .await
        .expect("the follower saw the last entry")
        .unwrap();
    assert!(streams >= 2, "the stream on B did not end with B");
    eprintln!("the follower used {streams} streams");
    let mut answered: Vec<String> = outcomes.iter().map(|(i, _)| i.clone()).collect();
    streamed.sort_unstable();
    answered.sort_unstable();
    let missing: Vec<_> = answered
        .iter()
        .filter(|i| streamed.binary_search(i).is_err())
        .collect();
    let twice: Vec<_> = streamed
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    assert!(
        streamed == answered,
        "the follower missed {} entries (e.g. {:?}) and got {} twice (e.g. {:?})",
        missing.len(),
        &missing[..missing.len().min(5)],
        twice.len(),
        &twice[..twice.len().min(5)]
    );
}
