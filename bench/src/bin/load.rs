//! An HTTP/1.1 load generator that accounts for every request exactly: each
//! connection sends requests back to back until the deadline and always waits
//! for the answer of the one in flight, so "answered 200" can be compared
//! with rows in the database afterwards (wrk abandons in-flight requests).
//!
//!     load URL --connections 32 --duration 10 [--method POST] [--body JSON]
//!          [--header 'Name: value']... [--tokens FILE [--per-request]]
//!
//! With `--tokens` (one token a line) each request carries one of them as its
//! `Authorization`: connection i always sends token i (mod their number), or
//! with `--per-request` each request picks one at random, so a run writes as
//! many users side by side.
//!
//! Prints one JSON object: requests, ok (2xx), non_2xx, errors, rps, p50_ms,
//! p99_ms.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

struct Args {
    host: String,
    path: String,
    method: Method,
    body: Bytes,
    headers: Vec<(String, String)>,
    connections: usize,
    duration: Duration,
    tokens: Vec<String>,
    per_request: bool,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    non_2xx: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut url = None;
    let mut args = Args {
        host: String::new(),
        path: String::new(),
        method: Method::GET,
        body: Bytes::new(),
        headers: Vec::new(),
        connections: 32,
        duration: Duration::from_secs(10),
        tokens: Vec::new(),
        per_request: false,
    };
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--connections" | "-c" => {
                args.connections = value()?.parse().map_err(|e| format!("{e}"))?;
            }
            "--duration" | "-d" => {
                args.duration =
                    Duration::from_secs_f64(value()?.parse().map_err(|e| format!("{e}"))?);
            }
            "--method" => args.method = value()?.parse().map_err(|e| format!("{e}"))?,
            "--body" => args.body = Bytes::from(value()?),
            "--header" | "-H" => {
                let h = value()?;
                let (name, v) = h.split_once(':').ok_or("a header is 'Name: value'")?;
                args.headers
                    .push((name.trim().to_owned(), v.trim().to_owned()));
            }
            "--tokens" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                args.tokens = text.lines().map(str::to_owned).collect();
                if args.tokens.is_empty() {
                    return Err(format!("{path} holds no token"));
                }
            }
            "--per-request" => args.per_request = true,
            _ if url.is_none() => url = Some(a),
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    let url = url.ok_or("usage: load URL [options]")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    args.host = host.to_owned();
    args.path = path.to_owned();
    Ok(args)
}

async fn connect(host: &str) -> std::io::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

/// xorshift64: the per-request token pick, no quality needed beyond spread.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn one_connection(args: &Args, index: usize, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    let mut random = 0x9E37_79B9_7F4A_7C15_u64 ^ (index as u64 + 1);
    while Instant::now() < deadline {
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(&args.host).await {
                Ok(s) => sender.insert(s),
                Err(_) => {
                    tally.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let mut req = Request::builder()
            .method(args.method.clone())
            .uri(&args.path)
            .header(hyper::header::HOST, &args.host);
        if !args.body.is_empty() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in &args.headers {
            req = req.header(name, value);
        }
        if !args.tokens.is_empty() {
            let i = if args.per_request {
                (next_random(&mut random) % args.tokens.len() as u64) as usize
            } else {
                index % args.tokens.len()
            };
            req = req.header(hyper::header::AUTHORIZATION, &args.tokens[i]);
        }
        let req = req.body(Full::new(args.body.clone())).expect("request");
        let started = Instant::now();
        let answered = match s.send_request(req).await {
            Ok(res) => {
                let status = res.status();
                res.into_body().collect().await.map(|_| status).ok()
            }
            Err(_) => None,
        };
        match answered {
            Some(status) => {
                let us = started.elapsed().as_micros();
                tally
                    .latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
                if status.is_success() {
                    tally.ok += 1;
                } else {
                    tally.non_2xx += 1;
                }
            }
            None => {
                tally.errors += 1;
                sender = None;
            }
        }
    }
    tally
}

fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => std::sync::Arc::new(a),
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let deadline = started + args.duration;
    let tasks: Vec<_> = (0..args.connections)
        .map(|index| {
            let args = args.clone();
            tokio::spawn(async move { one_connection(&args, index, deadline).await })
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.expect("connection task");
        all.ok += t.ok;
        all.non_2xx += t.non_2xx;
        all.errors += t.errors;
        all.latencies_us.extend(t.latencies_us);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let answered = all.ok + all.non_2xx;
    println!(
        "{}",
        serde_json::json!({
            "requests": answered,
            "ok": all.ok,
            "non_2xx": all.non_2xx,
            "errors": all.errors,
            "rps": answered as f64 / elapsed,
            "p50_ms": percentile_ms(&all.latencies_us, 0.50),
            "p99_ms": percentile_ms(&all.latencies_us, 0.99),
        })
    );
}
