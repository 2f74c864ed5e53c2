//! The sessions overlay: one row per login (never its token), this one
//! marked, with the keys to log others out.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{Theme, centered};
use crate::app::keymap::{Action, Context, first_key, keys_for};
use crate::app::state::{Revoke, SessionsView};
use crate::local_time::Clock;

/// How times are shown: the clock's zone, or relative to `now` (F4).
pub struct Times<'a> {
    pub clock: &'a Clock,
    pub relative_to: Option<jiff::Timestamp>,
}

pub fn draw(frame: &mut Frame, area: Rect, v: &SessionsView, times: &Times, theme: &Theme) {
    let rect = centered(area, 96, 18);
    frame.render_widget(Clear, rect);
    // Times to the minute carry no offset: the title names the zone.
    let title = match time_style(times, rect.width.saturating_sub(2)) {
        When::Minute(c) | When::Date(c) => format!(" Your sessions · times in {} ", c.label()),
        _ => " Your sessions ".to_string(),
    };
    let block = Block::bordered()
        .title(Span::styled(title, theme.accent()))
        .border_style(theme.border(true));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [list, message, hints] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(2),
        Constraint::Length(2),
    ])
    .areas(inner);

    frame.render_widget(Paragraph::new(rows(v, list, times, theme)), list);
    let msg = message_line(v, theme);
    frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), message);
    draw_hints(frame, hints, v, theme);
}

/// The table of sessions, the selected row kept in view.
fn rows(v: &SessionsView, list: Rect, times: &Times, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match &v.list {
        None => lines.push(Line::styled("Loading…", theme.dim())),
        Some(rows) if rows.is_empty() => lines.push(Line::from("No sessions.")),
        Some(rows) => {
            let when = time_style(times, list.width);
            let w = when.width();
            lines.push(Line::styled(
                format!(
                    "  {:<6}  {:<w$}  {:<w$}  CLIENT",
                    "ID", "LAST USED", "EXPIRES"
                ),
                theme.heading(),
            ));
            // Keep the selected row in view in a short window.
            let room = usize::from(list.height.saturating_sub(1)).max(1);
            let first = v.selected.saturating_sub(room - 1);
            for (i, row) in rows.iter().enumerate().skip(first).take(room) {
                let marker = if row.current { "← this session" } else { "" };
                let text = format!(
                    "{} {:<6}  {:<w$}  {:<w$}  {} {}",
                    if i == v.selected { "▸" } else { " " },
                    row.id,
                    when.past(&row.last_used),
                    when.future(&row.expires),
                    row.user_agent.as_deref().unwrap_or("-"),
                    marker
                );
                let style = if i == v.selected {
                    theme.selected(true)
                } else {
                    ratatui::style::Style::default()
                };
                lines.push(Line::styled(text, style));
            }
        }
    }
    lines
}

/// The two time columns' form: whole (with the zone's offset), to the
/// minute, the date alone as the width shrinks; or relative ("5m ago",
/// "in 6d") when F4 chose that.
enum When<'a> {
    Relative(jiff::Timestamp),
    Whole(&'a Clock),
    Minute(&'a Clock),
    Date(&'a Clock),
}

fn time_style<'a>(times: &Times<'a>, width: u16) -> When<'a> {
    match times.relative_to {
        Some(now) => When::Relative(now),
        // ID, two times and room for a client of about 28 characters.
        None if width >= 94 => When::Whole(times.clock),
        None if width >= 60 => When::Minute(times.clock),
        None => When::Date(times.clock),
    }
}

impl When<'_> {
    fn width(&self) -> usize {
        match self {
            When::Relative(_) => 9,
            When::Whole(_) => 26,
            When::Minute(_) => 16,
            When::Date(_) => 10,
        }
    }

    /// Also what a relative time falls back to when unreadable.
    fn absolute(&self, ts: &str) -> String {
        match self {
            When::Whole(c) => c.show(ts),
            When::Minute(c) => c.minute(ts),
            When::Date(c) => c.minute(ts).chars().take(10).collect(),
            When::Relative(_) => ts.to_string(),
        }
    }

    fn past(&self, ts: &str) -> String {
        match self {
            When::Relative(now) => crate::local_time::ago(ts, *now),
            _ => None,
        }
        .unwrap_or_else(|| self.absolute(ts))
    }

    fn future(&self, ts: &str) -> String {
        match self {
            When::Relative(now) => crate::local_time::until(ts, *now),
            _ => None,
        }
        .unwrap_or_else(|| self.absolute(ts))
    }
}

/// The question asked, else the last error or message, else what revoking does.
fn message_line(v: &SessionsView, theme: &Theme) -> Line<'static> {
    if let Some(asked) = v.asking {
        let what = match asked {
            Revoke::One(id) => format!("Log out session {id}, on every server?"),
            Revoke::Others => "Log out every session but this one, on every server?".into(),
        };
        Line::styled(what, theme.heading())
    } else if let Some(e) = &v.error {
        Line::styled(e.clone(), theme.error())
    } else if let Some(m) = &v.message {
        Line::styled(m.clone(), theme.ok())
    } else {
        Line::styled(
            "Logging a session out works on every server at once.",
            theme.dim(),
        )
    }
}

/// The keys of the question, or of the screen.
fn draw_hints(frame: &mut Frame, hints: Rect, v: &SessionsView, theme: &Theme) {
    if v.asking.is_some() {
        let spans = vec![
            Span::styled(
                keys_for(Context::ConfirmRevoke, Action::Confirm),
                theme.heading(),
            ),
            Span::raw(" log out   "),
            Span::styled(
                keys_for(Context::ConfirmRevoke, Action::Cancel),
                theme.heading(),
            ),
            Span::raw(" (or any other key) keep"),
        ];
        frame.render_widget(
            Paragraph::new(Line::from(spans)).wrap(Wrap { trim: true }),
            hints,
        );
        return;
    }
    let hint = |action, what: &str| {
        vec![
            Span::styled(first_key(Context::Sessions, action), theme.heading()),
            Span::raw(format!(" {what}  ")),
        ]
    };
    let mut spans = hint(Action::RevokeSelected, "log out selected");
    spans.extend(hint(Action::RevokeOthers, "log out all others"));
    spans.extend(hint(Action::Refresh, "reload"));
    spans.extend(hint(Action::Close, "close"));
    frame.render_widget(
        Paragraph::new(Line::from(spans)).wrap(Wrap { trim: true }),
        hints,
    );
}
