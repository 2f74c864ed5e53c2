//! Holds `/events` streams open and measures delivery: for each `entry`
//! event, the time it reached this process minus the entry's `timestamp`
//! (its row's `created_at`, taken when the writing transaction started, so
//! the figure includes the commit itself).
//!
//!     events URL --tokens FILE --streams 100 --duration 20
//!
//! Stream i sends token i (mod their number). Prints `open N` once every
//! stream has its answer's head, then one JSON object: opened, non_2xx,
//! errors, events, p50_ms, p99_ms, max_ms.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

struct Args {
    host: String,
    path: String,
    tokens: Vec<String>,
    streams: usize,
    duration: Duration,
}

#[derive(Default)]
struct Tally {
    opened: u64,
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
        tokens: Vec::new(),
        streams: 100,
        duration: Duration::from_secs(10),
    };
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--streams" => args.streams = value()?.parse().map_err(|e| format!("{e}"))?,
            "--duration" | "-d" => {
                args.duration =
                    Duration::from_secs_f64(value()?.parse().map_err(|e| format!("{e}"))?);
            }
            "--tokens" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                args.tokens = text.lines().map(str::to_owned).collect();
            }
            _ if url.is_none() => url = Some(a),
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    if args.tokens.is_empty() {
        return Err("--tokens FILE (one token a line) is required".into());
    }
    let url = url.ok_or("usage: events URL --tokens FILE [options]")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    args.host = host.to_owned();
    args.path = if path.is_empty() { "/" } else { path }.to_owned();
    Ok(args)
}

/// One SSE line: an `entry` event's data gives a delivery latency; an
/// `error` event counts as an error.
fn take_line(line: &str, event: &mut String, tally: &mut Tally) {
    if let Some(name) = line.strip_prefix("event:") {
        name.trim().clone_into(event);
        if event == "error" {
            tally.errors += 1;
        }
    } else if let Some(data) = line.strip_prefix("data:") {
        if event != "entry" {
            return;
        }
        let stamp = serde_json::from_str::<serde_json::Value>(data.trim())
            .ok()
            .and_then(|v| v.get("timestamp")?.as_str().map(str::to_owned))
            .and_then(|t| humantime::parse_rfc3339(&t).ok());
        match stamp {
            Some(t) => {
                let waited = SystemTime::now().duration_since(t).unwrap_or_default();
                tally
                    .latencies_us
                    .push(u32::try_from(waited.as_micros()).unwrap_or(u32::MAX));
            }
            None => tally.errors += 1,
        }
    } else if line.is_empty() {
        event.clear();
    }
}

async fn one_stream(
    args: &Args,
    index: usize,
    deadline: tokio::time::Instant,
    open: oneshot::Sender<()>,
) -> Tally {
    let mut tally = Tally::default();
    let answered = async {
        let stream = TcpStream::connect(&args.host).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(conn);
        let req = Request::builder()
            .uri(&args.path)
            .header(hyper::header::HOST, &args.host)
            .header(
                hyper::header::AUTHORIZATION,
                &args.tokens[index % args.tokens.len()],
            )
            .body(Empty::<Bytes>::new())
            .ok()?;
        sender.send_request(req).await.ok()
    }
    .await;
    let _ = open.send(());
    let Some(res) = answered else {
        tally.errors += 1;
        return tally;
    };
    if !res.status().is_success() {
        tally.non_2xx += 1;
        return tally;
    }
    tally.opened += 1;
    let mut body = res.into_body();
    let mut pending = Vec::new();
    let mut event = String::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => break,
            Ok(Some(Ok(frame))) => frame,
            Ok(_) => {
                // The stream ended before the run did.
                tally.errors += 1;
                break;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            take_line(line.trim_end_matches(['\r', '\n']), &mut event, &mut tally);
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
            eprintln!("events: {e}");
            std::process::exit(2);
        }
    };
    let deadline = tokio::time::Instant::from_std(Instant::now() + args.duration);
    let mut opens = Vec::new();
    let tasks: Vec<_> = (0..args.streams)
        .map(|index| {
            let args = args.clone();
            let (open, opened) = oneshot::channel();
            opens.push(opened);
            tokio::spawn(async move { one_stream(&args, index, deadline, open).await })
        })
        .collect();
    for opened in opens {
        let _ = opened.await;
    }
    println!("open {}", args.streams);
    let _ = std::io::stdout().flush();
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.expect("stream task");
        all.opened += t.opened;
        all.non_2xx += t.non_2xx;
        all.errors += t.errors;
        all.latencies_us.extend(t.latencies_us);
    }
    all.latencies_us.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "opened": all.opened,
            "non_2xx": all.non_2xx,
            "errors": all.errors,
            "events": all.latencies_us.len(),
            "p50_ms": percentile_ms(&all.latencies_us, 0.50),
            "p99_ms": percentile_ms(&all.latencies_us, 0.99),
            "max_ms": f64::from(all.latencies_us.last().copied().unwrap_or(0)) / 1000.0,
        })
    );
}
