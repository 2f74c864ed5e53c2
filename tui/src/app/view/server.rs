//! The server-address screen, and the brief "checking your session" screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::chrome::field;
use super::{Theme, centered, spinner};
use crate::app::keymap::{Action, Context, keys_for};
use crate::app::state::{Activity, Keyring, State};

pub fn draw(frame: &mut Frame, area: Rect, s: &State, theme: &Theme, typing: bool) {
    let rect = centered(area, 72, 11);
    let block = Block::bordered()
        .title(Span::styled(" strop · which server? ", theme.accent()))
        .border_style(theme.border(true));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [intro, _, input, _, message, _, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(inner.inner(ratatui::layout::Margin::new(1, 0)));
    frame.render_widget(
        Paragraph::new("The address of the strop server to use (saved for next time)."),
        intro,
    );
    field(
        frame,
        input,
        "Server",
        &s.server_input,
        false,
        true,
        typing,
        theme,
    );
    let msg = if s.activities.contains(&Activity::CheckServer) {
        Line::styled(
            format!("{} Contacting the server…", spinner(s)),
            theme.accent(),
        )
    } else if let Some(err) = &s.server_error {
        Line::styled(err.clone(), theme.error())
    } else {
        Line::from("")
    };
    frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), message);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(keys_for(Context::Server, Action::Submit), theme.heading()),
            Span::raw(" connect   "),
            Span::styled(keys_for(Context::Server, Action::Back), theme.heading()),
            Span::raw(" back   "),
            Span::styled(keys_for(Context::Global, Action::Quit), theme.heading()),
            Span::raw(" quit"),
        ])),
        hints,
    );
}

pub fn draw_connecting(frame: &mut Frame, area: Rect, s: &State, theme: &Theme) {
    let rect = centered(area, 72, 5);
    let block = Block::bordered()
        .title(Span::styled(" strop ", theme.accent()))
        .border_style(theme.border(true));
    let who = match (&s.last_user, &s.keyring) {
        (_, Keyring::Overridden) => "The token in STROP_TOKEN",
        (Some(user), _) => user.as_str(),
        (None, _) => "Your saved session",
    };
    let what = s.waiting_for().unwrap_or_else(|| "Starting…".to_string());
    let text = vec![
        Line::from(vec![Span::styled(
            format!("{} {what}", spinner(s)),
            theme.accent(),
        )]),
        Line::from(format!("{who} on {}", s.server)),
    ];
    frame.render_widget(
        Paragraph::new(text)
            .block(block)
            .centered()
            .wrap(Wrap { trim: true }),
        rect,
    );
}
