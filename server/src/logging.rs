//! Log output off the request path: lines go into a bounded queue that one
//! thread writes to stdout in batches. When the queue is full (stdout
//! blocked or too slow) a line is dropped and counted; a request never waits.

use std::io::{BufWriter, Write};
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines queued at most (about 200 bytes each) before new ones are dropped.
pub const QUEUED_LINES: usize = 8192;
/// How often a growing count of dropped lines is reported.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Keeps the writer thread alive; dropping it writes out what is queued.
pub struct Logging {
    _guard: WorkerGuard,
    dropped: ErrorCounter,
}

impl Logging {
    /// Lines dropped so far because the queue was full.
    pub fn dropped_lines(&self) -> usize {
        self.dropped.dropped_lines()
    }

    /// Logs, every [`REPORT_EVERY`], how many lines were dropped since the last report.
    pub fn report_dropped(&self) -> impl Future<Output = ()> + Send + 'static {
        let dropped = self.dropped.clone();
        async move {
            let mut reported = 0;
            let mut tick = tokio::time::interval(REPORT_EVERY);
            loop {
                tick.tick().await;
                let now = dropped.dropped_lines();
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

/// A lossy, bounded, non-blocking writer over `out`, written in batches.
pub fn non_blocking<W: Write + Send + 'static>(out: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("strop-log")
        // The writer thread flushes whenever the queue runs empty.
        .finish(BufWriter::new(out))
}

/// Installs the global subscriber: levels from `RUST_LOG` (default info),
/// to stdout through [`non_blocking`].
pub fn init(format: LogFormat) -> Logging {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into files or collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) = non_blocking(std::io::stdout());
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Logging {
        _guard: guard,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

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

    #[test]
    fn a_stuck_stdout_drops_and_counts_lines_instead_of_blocking() {
        let (release, stuck) = mpsc::channel();
        let (writer, guard) = non_blocking(Stuck(stuck));
        let dropped = writer.error_counter();
        let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
        let lines = QUEUED_LINES * 3;
        // Returns at all only because nothing waits for the sink.
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..lines {
                tracing::info!(i, "request");
            }
        });
        let dropped = dropped.dropped_lines();
        assert!(dropped >= lines - QUEUED_LINES - 256, "{dropped}");
        assert!(dropped < lines, "{dropped}");
        drop(release);
        drop(guard);
    }
}
