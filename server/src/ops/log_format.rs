//! The text log line without colours, written mostly as plain string copies.
//!
//! tracing-subscriber's `Full` format makes a formatting call for each piece
//! of a line (timestamp parts, padded level, span name, braces, target, each
//! field's name, `=` and value), and that was the largest single cost of a
//! `GET /` (bench/run, "GET / by part": the access line). [`TextLine`] and
//! [`TextFields`] write the same bytes (a test compares them line by line
//! with `Full`'s), copying what needs no formatting and leaving the rest to
//! tracing-subscriber's own field visitor. At a terminal, with colours, the
//! `Full` format is used as it is.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// `Full`'s line: `2026-12-03T19:46:51.436024Z  INFO span{fields}: target: fields`.
pub struct TextLine;

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // A `log` crate record's own target, as `Full` shows it.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        // tracing-subscriber's own clock text (and its fallback), only not
        // through `Full`'s padding and colour checks.
        if SystemTime.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_char(' ')?;
        // Right-aligned in five, as `Full` pads it.
        let level = meta.level().as_str();
        for _ in level.len()..5 {
            writer.write_char(' ')?;
        }
        writer.write_str(level)?;
        writer.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// `DefaultFields`' output: plain strings, integers and booleans copied,
/// everything else (the message, escapes, errors, `?` and `%` values) by
/// tracing-subscriber's own [`DefaultVisitor`].
#[derive(Debug, Default)]
pub struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Fields {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Fields<'w> {
    writer: Writer<'w>,
    is_empty: bool,
    result: fmt::Result,
}

impl Fields<'_> {
    /// `name=` after a separating space, if the field is one `DefaultFields`
    /// writes the same way (not the message, not a raw identifier, not the
    /// `log.` metadata it skips).
    fn plain_name(&mut self, field: &Field) -> bool {
        let name = field.name();
        if self.result.is_err()
            || name == "message"
            || name.starts_with("r#")
            || name.starts_with("log.")
        {
            return false;
        }
        self.result = self.pad().and_then(|()| {
            self.writer.write_str(name)?;
            self.writer.write_char('=')
        });
        true
    }

    fn pad(&mut self) -> fmt::Result {
        if std::mem::take(&mut self.is_empty) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    /// The field as `DefaultFields` writes it.
    fn default(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        // It writes every field but the `log.` metadata.
        self.is_empty &= field.name().starts_with("log.");
    }

    fn display(&mut self, value: impl fmt::Display) {
        self.result = self.result.and_then(|()| write!(self.writer, "{value}"));
    }
}

/// Whether `{:?}` of `value` is `value` in double quotes.
fn needs_no_escape(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if needs_no_escape(value) && self.plain_name(field) {
            self.result = self.result.and_then(|()| {
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            });
        } else {
            self.default(field, |v| v.record_str(field, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.plain_name(field) {
            self.display(value);
        } else {
            self.default(field, |v| v.record_u64(field, value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.plain_name(field) {
            self.display(value);
        } else {
            self.default(field, |v| v.record_i64(field, value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.plain_name(field) {
            self.display(value);
        } else {
            self.default(field, |v| v.record_bool(field, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.default(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.default(field, |v| v.record_debug(field, value));
    }
}

#[cfg(test)]
mod tests {
    use tracing::level_filters::LevelFilter;

    use super::*;
    use crate::ops::logging::tests::Kept;

    /// An error with a source, as tokio-postgres gives them.
    #[derive(Debug)]
    struct Failed(std::io::Error);
    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("db error")
        }
    }
    impl std::error::Error for Failed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// Lines of every kind strop writes, and the odd ones a library may.
    fn emit() {
        tracing::info!(addr = "127.0.0.1:8000", "listening");
        let request = tracing::info_span!("request", request_id = "9f1c2e");
        let _in_request = request.enter();
        tracing::info!(
            target: "strop_server::access",
            method = "GET",
            path = "/history/3",
            status = 200u16,
            latency_us = 17u64,
            "request"
        );
        tracing::info!(
            path = "/q?x=\"quoted\"\\",
            weird = "a\nb\t\x1b[31m",
            text = "ünïcode",
            "escapes"
        );
        let inner = tracing::info_span!("inner", n = 5, label = "say \"hi\"");
        let _in_inner = inner.enter();
        let bare = tracing::info_span!("bare");
        let _in_bare = bare.enter();
        let err = Failed(std::io::Error::other("connection \"refused\""));
        tracing::warn!(
            error = &err as &(dyn std::error::Error + 'static),
            "with a source"
        );
        tracing::error!(cause = %"db error: \x1b[2Jgone", shown = ?Some(3), "overloaded {}", 7);
        tracing::debug!(
            ok = true,
            neg = -4i64,
            float = 1.5f64,
            big = u128::MAX,
            "numbers"
        );
        tracing::trace!(r#type = "raw", r#fn = 3, "raw names");
        tracing::info!(log.target = "meta", real = 1, "log metadata skipped");
        tracing::info!(log.target = "meta", after_skipped = "first");
        tracing::info!(message = "a message field", after = 2);
        tracing::info!(only = "fields", count = 0u64, empty = "");
        let later = tracing::info_span!("later", id = tracing::field::Empty, kept = "k");
        later.record("id", 42);
        later.record("id", "again");
        later.in_scope(|| tracing::info!("fields recorded after the span began"));
        // A library logging through the `log` crate, as tokio-postgres does.
        log::warn!(target: "tokio_postgres::connection", "notice: {}", "relation \"x\" exists");
    }

    fn written(full: bool) -> Vec<String> {
        // `log` records become events of the current subscriber (once per
        // process; a second call only fails).
        let _ = tracing_log::LogTracer::init();
        let kept = Kept::default();
        let writer = {
            let kept = kept.clone();
            move || kept.clone()
        };
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(LevelFilter::TRACE)
            .with_writer(writer);
        if full {
            tracing::subscriber::with_default(builder.finish(), emit);
        } else {
            let ours = builder.fmt_fields(TextFields).event_format(TextLine);
            tracing::subscriber::with_default(ours.finish(), emit);
        }
        let text = String::from_utf8(kept.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn lines_are_those_of_the_full_format_byte_for_byte() {
        let (full, ours) = (written(true), written(false));
        assert_eq!(full.len(), 13, "{full:#?}");
        assert_eq!(ours.len(), full.len(), "{ours:#?}");
        for (theirs, ours) in full.iter().zip(&ours) {
            // The time differs by the microseconds between the runs; its
            // format does not.
            let (their_time, their_rest) = theirs.split_at(27);
            let (our_time, our_rest) = ours.split_at(27);
            assert_eq!(our_rest, their_rest);
            for time in [their_time, our_time] {
                assert!(humantime::parse_rfc3339(time).is_ok(), "{time}");
            }
        }
        assert!(
            ours.iter()
                .any(|l| l.contains(": tokio_postgres::connection: notice: relation")),
            "{ours:#?}"
        );
        assert!(
            ours.iter().any(|l| l.ends_with(
                r#"request{request_id="9f1c2e"}: strop_server::access: request method="GET" path="/history/3" status=200 latency_us=17"#
            )),
            "{ours:#?}"
        );
    }
}
