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

pub fn draw(frame: &mut Frame, area: Rect, v: &SessionsView, clock: &Clock, theme: &Theme) {
    let rect = centered(area, 96, 18);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(Span::styled(" Your sessions ", theme.accent()))
        .border_style(theme.border(true));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [list, message, hints] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(2),
        Constraint::Length(2),
    ])
    .areas(inner);

    frame.render_widget(Paragraph::new(rows(v, list, clock, theme)), list);
    let msg = message_line(v, theme);
    frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), message);
    draw_hints(frame, hints, v, theme);
}

/// The table of sessions, the selected row kept in view.
fn rows(v: &SessionsView, list: Rect, clock: &Clock, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match &v.list {
        None => lines.push(Line::styled("Loading…", theme.dim())),
        Some(rows) if rows.is_empty() => lines.push(Line::from("No sessions.")),
        Some(rows) => {
            lines.push(Line::styled(
                "  ID      LAST USED                   CLIENT",
                theme.heading(),
            ));
            // Keep the selected row in view in a short window.
            let room = usize::from(list.height.saturating_sub(1)).max(1);
            let first = v.selected.saturating_sub(room - 1);
            for (i, row) in rows.iter().enumerate().skip(first).take(room) {
                let marker = if row.current { "← this session" } else { "" };
                let text = format!(
                    "{} {:<6}  {:<26}  {} {}",
                    if i == v.selected { "▸" } else { " " },
                    row.id,
                    clock.show(&row.last_used),
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
