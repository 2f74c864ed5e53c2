//! Log in or register: username, masked password, errors inline.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::chrome::field;
use super::{Theme, centered, spinner};
use crate::app::keymap::{Action, Context, first_key};
use crate::app::state::{CredentialsMode, Keyring, LoginField, State};

pub fn draw(frame: &mut Frame, area: Rect, s: &State, theme: &Theme, typing: bool) {
    let f = &s.login;
    let (title, verb, other) = match f.mode {
        CredentialsMode::Login => (" strop · log in ", "log in", "register instead"),
        CredentialsMode::Register => (" strop · register ", "register", "log in instead"),
    };
    let rect = centered(area, 72, 15);
    let block = Block::bordered()
        .title(Span::styled(title, theme.accent()))
        .border_style(theme.border(true));
    let inner = block.inner(rect).inner(Margin::new(1, 0));
    frame.render_widget(block, rect);
    let [server, _, user, pass, confirm, message, keyring, _, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(2),
        Constraint::Min(0),
        Constraint::Length(2),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("  Server     ", theme.heading()),
            Span::raw(s.server.clone()),
        ])),
        server,
    );
    fields(frame, [user, pass, confirm], s, theme, typing);
    frame.render_widget(
        Paragraph::new(message_line(s, theme)).wrap(Wrap { trim: true }),
        message,
    );
    frame.render_widget(
        Paragraph::new(keyring_line(s, theme)).wrap(Wrap { trim: true }),
        keyring,
    );

    let hint = |ctx, action, what: &str| {
        vec![
            Span::styled(first_key(ctx, action), theme.heading()),
            Span::raw(format!(" {what}  ")),
        ]
    };
    let mut spans = hint(Context::Login, Action::Submit, verb);
    spans.extend(hint(Context::Login, Action::NextField, "next field"));
    spans.extend(hint(Context::Login, Action::ToggleMode, other));
    spans.extend(hint(Context::Login, Action::ChangeServer, "server"));
    frame.render_widget(
        Paragraph::new(Line::from(spans)).wrap(Wrap { trim: true }),
        hints,
    );
}

/// The form's fields: username, password, and (registering) the password again.
fn fields(
    frame: &mut Frame,
    [user, pass, confirm]: [Rect; 3],
    s: &State,
    theme: &Theme,
    typing: bool,
) {
    let f = &s.login;
    let on_user = f.focus == LoginField::Username;
    let on_pass = f.focus == LoginField::Password;
    field(
        frame,
        user,
        "Username",
        &f.username,
        false,
        on_user,
        typing,
        theme,
    );
    field(
        frame,
        pass,
        "Password",
        &f.password,
        true,
        on_pass,
        typing,
        theme,
    );
    if f.mode == CredentialsMode::Register {
        field(
            frame,
            confirm,
            "Repeat",
            &f.confirm,
            true,
            f.focus == LoginField::Confirm,
            typing,
            theme,
        );
    }
}

/// Working, the last error, or a notice.
fn message_line(s: &State, theme: &Theme) -> Line<'static> {
    let f = &s.login;
    if f.busy {
        Line::styled(
            format!("{} {}", spinner(s), s.waiting_for().unwrap_or_default()),
            theme.accent(),
        )
    } else if let Some(err) = &f.error {
        Line::styled(err.clone(), theme.error())
    } else if let Some(notice) = &s.notice {
        Line::from(notice.clone())
    } else {
        Line::from("")
    }
}

/// Where the login will be kept.
fn keyring_line(s: &State, theme: &Theme) -> Line<'static> {
    match &s.keyring {
        Keyring::Ready(name) => {
            Line::styled(format!("Your login is kept in the {name}."), theme.dim())
        }
        Keyring::Opening => Line::styled("Opening the OS keyring…", theme.dim()),
        Keyring::Overridden => Line::styled(
            "Using STROP_TOKEN; the keyring is not touched.",
            theme.dim(),
        ),
        Keyring::Unavailable(_) => Line::styled(
            "No OS keyring works here: you stay logged in until you quit. To skip the login, \
             set STROP_TOKEN (`strop login --print-token` prints one).",
            theme.error(),
        ),
    }
}
