//! Memory of a real `strop-server` process holding 1,000 idle `/events`
//! streams, one slow reader and one client that never reads, while entries
//! are written.
//!
//!     cargo build --release -p strop-server
//!     cargo run --release -p strop-server --example events_rss [-- STREAMS WRITES]
//!
//! Starts target/release/strop-server on a fresh database (DATABASE_URL's
//! server, or the shared embedded test cluster), samples its VmRSS from
//! /proc, and prints figures, not assertions. Needs about STREAMS + 100 open
//! files in this process and in the server (`ulimit -n`).

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strop_embedded_pg::testing::fresh_database;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

/// The slow reader takes this many bytes ...
const SLOW_BYTES: usize = 1024;
/// ... this often.
const SLOW_EVERY: Duration = Duration::from_millis(100);
const INPUT_BYTES: usize = 4096;
const WRITERS: usize = 8;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn key_value(pg: &tokio_postgres::Config) -> String {
    let host = match &pg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let password = pg
        .get_password()
        .map(|p| format!(" password={}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!(
        "host={host} port={} user={} dbname={}{password}",
        pg.get_ports().first().copied().unwrap_or(5432),
        pg.get_user().unwrap_or("postgres"),
        pg.get_dbname().unwrap_or("postgres"),
    )
}

async fn post(http: &reqwest::Client, url: String, body: Value, token: Option<&str>) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    let res = req.send().await.expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.expect("json")
}

async fn user(http: &reqwest::Client, base: &str, name: &str) -> String {
    let creds = json!({"username": name, "password": "pw"});
    post(http, format!("{base}/register"), creds.clone(), None).await;
    let v = post(http, format!("{base}/authenticate"), creds, None).await;
    v["token"].as_str().unwrap().to_string()
}

/// A raw `/events` connection whose response headers have been read.
async fn open_stream(addr: &str, token: &str) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET /events HTTP/1.1\r\nHost: bench\r\nAuthorization: {token}\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).await.expect("response head");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    conn
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let streams: usize = args.next().map_or(1000, |a| a.parse().expect("STREAMS"));
    let writes: usize = args.next().map_or(3000, |a| a.parse().expect("WRITES"));
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("strop-server");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p strop-server",
        bin.display()
    );

    let (_pg, mut server, addr, base) = start_server(&bin).await;
    let pid = server.id().unwrap();
    let http = reqwest::Client::new();
    let idle_token = user(&http, &base, "idle").await;
    let writer_token = user(&http, &base, "writer").await;
    // Warm the pool and the statement caches the way the run will.
    post(
        &http,
        format!("{base}/reverse"),
        json!({"input": "warm"}),
        Some(&writer_token),
    )
    .await;
    let started = rss_kib(pid);
    println!("strop-server {} (release), pid {pid}", bin.display());
    println!("started, no streams:          {}", mib(started));

    let mut idle = Vec::with_capacity(streams);
    for _ in 0..streams {
        idle.push(open_stream(&addr, &idle_token).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_idle = rss_kib(pid);
    println!(
        "{streams} idle streams:           {}  (+{:.1} KiB per stream)",
        mib(with_idle),
        (with_idle.saturating_sub(started)) as f64 / streams as f64
    );

    // One client reading 1 KiB per 100 ms, one that never reads.
    let slow = open_stream(&addr, &writer_token).await;
    let _never = open_stream(&addr, &writer_token).await;
    let (slow_task, slow_bytes, slow_ended) = read_slowly(slow);

    let write_started = Instant::now();
    let (peak, samples) = write_and_sample(&http, &base, &writer_token, writes, pid).await;
    let write_time = write_started.elapsed();
    let after_writes = rss_kib(pid);
    println!(
        "while writing {writes} entries of {INPUT_BYTES} B ({:.1} s, {:.0}/s): peak {}, last {}",
        write_time.as_secs_f64(),
        writes as f64 / write_time.as_secs_f64(),
        mib(peak),
        mib(after_writes)
    );
    let quarter = samples.len() / 4;
    if quarter > 0 {
        let avg = |s: &[u64]| s.iter().sum::<u64>() / s.len() as u64;
        println!(
            "  RSS in the first and last quarter of the writes: {} / {}",
            mib(avg(&samples[..quarter])),
            mib(avg(&samples[samples.len() - quarter..]))
        );
    }
    // Long enough for the never-reader to be given up on.
    tokio::time::sleep(Duration::from_secs(15)).await;
    println!(
        "15 s later:                    {}; slow reader got {} KiB{}",
        mib(rss_kib(pid)),
        slow_bytes.load(Ordering::Relaxed) / 1024,
        if slow_ended.load(Ordering::Relaxed) {
            ", its stream was ended (it would reconnect with Last-Event-ID)"
        } else {
            ", still streaming"
        }
    );
    slow_task.abort();
    drop(idle);
    let _ = server.start_kill();
    let _ = server.wait().await;
}

/// A fresh database and a release strop-server on a free port: the
/// database, the process, its address and base URL.
async fn start_server(
    bin: &std::path::Path,
) -> (
    tokio_postgres::Config,
    tokio::process::Child,
    String,
    String,
) {
    let pg = fresh_database().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let server = Command::new(bin)
        .env("DATABASE_URL", key_value(&pg))
        .env("STROP_ADDR", &addr)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start strop-server");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (pg, server, addr, base)
}

/// Reads `slow` 1 KiB per 100 ms in a task: the task, the bytes read, and
/// whether the server ended the stream.
fn read_slowly(
    mut slow: TcpStream,
) -> (
    tokio::task::JoinHandle<()>,
    Arc<AtomicUsize>,
    Arc<AtomicBool>,
) {
    let slow_bytes = Arc::new(AtomicUsize::new(0));
    let slow_ended = Arc::new(AtomicBool::new(false));
    let slow_task = {
        let (bytes, ended) = (slow_bytes.clone(), slow_ended.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; SLOW_BYTES];
            loop {
                match slow.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        bytes.fetch_add(n, Ordering::Relaxed);
                        if buf[..n].ends_with(b"0\r\n\r\n") {
                            break;
                        }
                    }
                }
                tokio::time::sleep(SLOW_EVERY).await;
            }
            ended.store(true, Ordering::Relaxed);
        })
    };

    (slow_task, slow_bytes, slow_ended)
}

/// `writes` entries from `WRITERS` writers at once, RSS sampled every
/// 250 ms meanwhile: the peak and the samples.
async fn write_and_sample(
    http: &reqwest::Client,
    base: &str,
    writer_token: &str,
    writes: usize,
    pid: u32,
) -> (u64, Vec<u64>) {
    let input = "x".repeat(INPUT_BYTES);
    let next = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (http, base, token, input, next) = (
                http.clone(),
                base.to_string(),
                writer_token.to_string(),
                input.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < writes {
                    post(
                        &http,
                        format!("{base}/reverse"),
                        json!({"input": &input}),
                        Some(&token),
                    )
                    .await;
                }
            })
        })
        .collect();
    let mut peak = 0;
    let mut samples = Vec::new();
    while writers.iter().any(|w| !w.is_finished()) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss_kib(pid);
        peak = peak.max(now);
        samples.push(now);
    }
    (peak, samples)
}
