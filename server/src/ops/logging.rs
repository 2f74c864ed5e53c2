//! Log output off the request path: a formatted line is appended to a
//! bounded in-memory batch (one short lock, no allocation once warm), and
//! one thread writes the batch to stdout every [`INTERVAL`], or sooner when
//! it is half full. Nothing wakes that thread per line: with a queue a
//! thread must wait on, every line was a wake-up and a write, and that cost
//! more than formatting it. When the batch is full (stdout blocked or too
//! slow) a line is dropped and counted; a request never waits.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;
use crate::ops::log_format::{TextFields, TextLine};

/// Bytes a batch may hold (about 8,000 access lines) before lines are dropped.
pub const BATCH_BYTES: usize = 2 << 20;
/// Capacity a batch buffer keeps between batches: 50 ms of a busy server's
/// access lines (about 65,000 lines/s of ~150 bytes).
const KEPT_BYTES: usize = 1 << 20;
/// Longest a line waits before it is written.
pub const INTERVAL: Duration = Duration::from_millis(50);
/// How often a growing count of dropped lines is reported.
const REPORT_EVERY: Duration = Duration::from_secs(10);

struct Shared {
    state: Mutex<State>,
    /// Signalled when a batch is half full or at shutdown.
    wake: Condvar,
    dropped: AtomicUsize,
}

struct State {
    batch: Vec<u8>,
    stopping: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The [`MakeWriter`] the subscriber formats into: each event is one
/// `write` of a whole line, appended to the batch or dropped.
#[derive(Clone)]
pub struct BatchWriter(Arc<Shared>);

impl Write for BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.lock();
        if state.batch.len() + line.len() > BATCH_BYTES {
            drop(state);
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        let before = state.batch.len();
        state.batch.extend_from_slice(line);
        let half = BATCH_BYTES / 2;
        let crossed = before < half && state.batch.len() >= half;
        drop(state);
        if crossed {
            self.0.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps the writer thread; dropping it writes out what is batched.
pub struct Logging {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Logging {
    /// Lines dropped so far because the batch was full.
    pub fn dropped_lines(&self) -> usize {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Logs, every [`REPORT_EVERY`], how many lines were dropped since the last report.
    pub fn report_dropped(&self) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            let mut reported = 0;
            let mut tick = tokio::time::interval(REPORT_EVERY);
            loop {
                tick.tick().await;
                let now = shared.dropped.load(Ordering::Relaxed);
                if now > reported {
                    tracing::warn!(
                        dropped = now - reported,
                        total = now,
                        "log lines dropped: stdout could not keep up"
                    );
                    reported = now;
                }
            }
        }
    }
}

/// Longest an exit waits for the last batch to be written (a stalled stdout
/// must not keep a stopped server alive).
const LAST_WRITE: Duration = Duration::from_secs(1);

impl Drop for Logging {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + LAST_WRITE;
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// A batching writer over `out` and the guard that owns its thread.
pub fn batched<W: Write + Send + 'static>(out: W) -> (BatchWriter, Logging) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            batch: Vec::with_capacity(64 * 1024),
            stopping: false,
        }),
        wake: Condvar::new(),
        dropped: AtomicUsize::new(0),
    });
    let thread = std::thread::Builder::new()
        .name("strop-log".into())
        .spawn({
            let shared = shared.clone();
            move || write_batches(&shared, out)
        })
        .expect("cannot start the log writer thread");
    (
        BatchWriter(shared.clone()),
        Logging {
            shared,
            thread: Some(thread),
        },
    )
}

fn write_batches(shared: &Shared, mut out: impl Write) {
    let mut spare = Vec::with_capacity(64 * 1024);
    loop {
        let mut state = shared.lock();
        if !state.stopping && state.batch.len() < BATCH_BYTES / 2 {
            state = shared
                .wake
                .wait_timeout(state, INTERVAL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let stopping = state.stopping;
        std::mem::swap(&mut state.batch, &mut spare);
        drop(state);
        if !spare.is_empty() {
            // Nowhere to report a failing stdout; the lines are lost either way.
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
            // Kept at a busy interval's size (re-growing it every time cost
            // more than the copying); only a burst's excess goes back.
            spare.shrink_to(KEPT_BYTES);
        }
        if stopping {
            return;
        }
    }
}

/// Installs the global subscriber: levels from `RUST_LOG` (default info),
/// to stdout through [`batched`].
pub fn init(format: LogFormat) -> Logging {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into files or collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, logging) = batched(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text if ansi => builder.init(),
        LogFormat::Text => builder.fmt_fields(TextFields).event_format(TextLine).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    logging
}

/// An error and every source below it, joined with ": ", for a log field
/// (`error = %Chain(&e)`): tokio-postgres's own message is only "db error",
/// the server's sentence is in its source.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(err) = next {
            let text = err.to_string();
            // Some errors repeat their source in their own message.
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            next = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// A sink that accepts nothing until told to, like a stdout nobody reads.
    struct Stuck(mpsc::Receiver<()>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A sink that keeps what it is given (also `log_format`'s tests').
    #[derive(Clone, Default)]
    pub(crate) struct Kept(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_stdout_drops_and_counts_lines_instead_of_blocking() {
        let (release, stuck) = mpsc::channel();
        let (writer, logging) = batched(Stuck(stuck));
        let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
        let lines = 100_000;
        // Returns at all only because nothing waits for the sink.
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..lines {
                tracing::info!(i, "request");
            }
        });
        let dropped = logging.dropped_lines();
        assert!(dropped > lines / 2, "{dropped}");
        assert!(dropped < lines, "{dropped}");
        drop(release);
        drop(logging);
    }

    #[test]
    fn every_line_is_written_soon_and_all_of_them_at_the_end() {
        let kept = Kept::default();
        let (writer, logging) = batched(kept.clone());
        let subscriber = || {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(writer.clone())
                .finish()
        };
        tracing::subscriber::with_default(subscriber(), || tracing::info!("first"));
        let waited = Instant::now();
        while !String::from_utf8_lossy(&kept.0.lock().unwrap()).contains("first") {
            assert!(waited.elapsed() < Duration::from_secs(5), "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        tracing::subscriber::with_default(subscriber(), || {
            for i in 0..1000 {
                tracing::info!(i, "line");
            }
        });
        drop(logging);
        let out = String::from_utf8(kept.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1001);
        let last = out.lines().last().unwrap();
        assert!(last.ends_with("line i=999"), "{last:?}");
    }
}
