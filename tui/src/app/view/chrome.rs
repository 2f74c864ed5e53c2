//! What frames every screen: the status bar, and the log-out question.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{Theme, centered, spinner};
use crate::app::keymap::{Action, Context, keys_for};
use crate::app::state::{Conn, Focus, Overlay, State};

/// Server, user, connection, then what we wait for or the last notice
/// (errors get their own lines above, see `view::draw`).
pub fn status_bar(frame: &mut Frame, area: Rect, s: &State, theme: &Theme) {
    let help = format!(" {} help ", keys_for(Context::Global, Action::Help));
    let [left, right] = Layout::horizontal([
        Constraint::Min(1),
        Constraint::Length(help.chars().count() as u16),
    ])
    .areas(area);
    // The scheme only costs columns unless it is https.
    let server = if s.server.is_empty() {
        "no server"
    } else {
        s.server.strip_prefix("http://").unwrap_or(&s.server)
    };
    let user = match s.session() {
        Some(session) if session.user.is_empty() => "STROP_TOKEN user",
        Some(session) => session.user.as_str(),
        None => "not logged in",
    };
    let (conn, conn_style) = conn_label(s, theme);
    let sep = Span::styled(" │ ", theme.dim());
    // The connection and the focus always show whole; the user and then the
    // server give way on a narrow terminal (issue 17: "● liv" at 40x10).
    let focus = focus_name(s);
    let room = left.width as usize;
    // A notice too long for the bar has a line of its own above it.
    let notice = s.notice.as_ref().filter(|_| !notice_above(s, area.width));
    // What we wait for or the last notice is worth more than the names.
    let tail = s
        .waiting_for()
        .map(|w| w.chars().count() + 2)
        .or_else(|| notice.map(|n| n.chars().count()))
        .unwrap_or(0);
    let fixed = 1 + conn.chars().count() + 3 + focus.map_or(0, |f| f.chars().count() + 3) + tail;
    let with_user = fixed + user.chars().count() + 3;
    let with_server = with_user + server.chars().count() + 3;
    let mut spans = vec![Span::raw(" ")];
    if with_server <= room {
        spans.push(Span::raw(server.to_string()));
        spans.push(sep.clone());
    }
    if with_user <= room {
        spans.push(Span::styled(user.to_string(), theme.heading()));
        spans.push(sep.clone());
    }
    spans.push(Span::styled(conn, conn_style));
    spans.push(sep.clone());
    if let Some(focus) = focus {
        spans.push(Span::styled(focus, theme.accent()));
        spans.push(sep);
    }
    if let Some(waiting) = s.waiting_for() {
        spans.push(Span::styled(
            format!("{} {waiting}", spinner(s)),
            theme.accent(),
        ));
    } else if let Some(notice) = notice {
        spans.push(Span::raw(notice.clone()));
    } else {
        let used: usize = spans.iter().map(|x| x.width()).sum();
        spans.extend(hints(s, theme, room.saturating_sub(used)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), left);
    frame.render_widget(
        Paragraph::new(Span::styled(help, theme.selected(true))),
        right,
    );
}

/// Whether the notice is drawn on its own line above the status bar: it
/// does not fit beside the connection and the focus even once the server
/// and user names give way (a sentence is never cut there).
pub fn notice_above(s: &State, width: u16) -> bool {
    let Some(notice) = &s.notice else {
        return false;
    };
    if s.waiting_for().is_some() {
        return false;
    }
    let help = keys_for(Context::Global, Action::Help).chars().count() + 7;
    let conn = conn_label(s, &Theme::default()).0.chars().count();
    let focus = focus_name(s).map_or(0, |f| f.chars().count() + 3);
    1 + conn + 3 + focus + notice.chars().count() + help > width as usize
}

/// The connection as the status bar says it: one word per state.
pub fn conn_label(s: &State, theme: &Theme) -> (&'static str, ratatui::style::Style) {
    match s.conn {
        Conn::Online if s.live.open => ("● live", theme.ok()),
        Conn::Online => ("● online", theme.ok()),
        Conn::Reconnecting => ("◌ reconnecting", theme.accent()),
        Conn::Offline => ("○ offline", theme.error()),
        Conn::Unknown => ("◌ not checked", theme.dim()),
    }
}

/// Which pane takes typed keys, named in the status bar.
fn focus_name(s: &State) -> Option<&'static str> {
    if !s.screen.is_main() {
        return None;
    }
    Some(match s.overlay {
        Some(crate::app::state::Overlay::Help { .. }) => "▸ help",
        Some(crate::app::state::Overlay::Detail(_)) => "▸ detail",
        Some(crate::app::state::Overlay::Sessions(_)) => "▸ sessions",
        Some(_) => "▸ question",
        None => match s.main.focus {
            Focus::Input => "▸ input",
            Focus::History => "▸ list",
            Focus::Search => "▸ search",
            Focus::Output => "▸ output",
        },
    })
}

/// The few keys that matter where the focus is (all of them: F1).
fn hints(s: &State, theme: &Theme, room: usize) -> Vec<Span<'static>> {
    use crate::app::keymap::first_key;
    let pairs: &[(Context, Action, &str)] = match (s.screen.is_main(), s.main.focus) {
        // An overlay's own keys, not those of the pane under it.
        _ if matches!(s.overlay, Some(Overlay::Detail(_))) => &[
            (Context::Detail, Action::Rerun, "re-run"),
            (Context::Detail, Action::CopyOutput, "copy"),
            (Context::Detail, Action::Delete, "delete"),
            (Context::Detail, Action::Close, "close"),
        ],
        _ if s.overlay.is_some() => &[],
        (true, Focus::Input) => &[
            (Context::Input, Action::Submit, "run"),
            (Context::Main, Action::SwitchFunction, "switch"),
            (Context::Input, Action::RecallOlder, "recall"),
        ],
        (true, Focus::History) => &[
            (Context::History, Action::OpenDetail, "detail"),
            (Context::History, Action::Rerun, "re-run"),
            (Context::History, Action::CopyOutput, "copy"),
            (Context::History, Action::Delete, "delete"),
        ],
        (true, Focus::Search) => &[
            (Context::Search, Action::FocusHistory, "list"),
            (Context::Search, Action::ClearSearch, "clear"),
        ],
        // Scroll the way there is more to see, if any.
        (true, Focus::Output) if s.main.output_max.get() == 0 => {
            &[(Context::Output, Action::FocusInput, "input")]
        }
        (true, Focus::Output) if s.main.output_scroll >= s.main.output_max.get() => &[
            (Context::Output, Action::Up, "scroll"),
            (Context::Output, Action::FocusInput, "input"),
        ],
        (true, Focus::Output) => &[
            (Context::Output, Action::Down, "scroll"),
            (Context::Output, Action::FocusInput, "input"),
        ],
        _ => &[],
    };
    let mut spans = Vec::new();
    let mut used = 0;
    for (ctx, action, what) in pairs {
        // Whole hints only: "↑" without "recall" says nothing.
        let key = first_key(*ctx, *action);
        let w = key.chars().count() + 1 + what.chars().count() + 2;
        if used + w > room {
            break;
        }
        used += w;
        spans.push(Span::styled(key, theme.heading()));
        spans.push(Span::styled(format!(" {what}"), theme.dim()));
        spans.push(Span::raw("  "));
    }
    spans
}

pub fn confirm_logout(frame: &mut Frame, area: Rect, s: &State, theme: &Theme) {
    let rect = centered(area, 60, 8);
    frame.render_widget(Clear, rect);
    let who = s.session().map_or("this session", |x| x.user.as_str());
    let text = vec![
        Line::from(vec![
            Span::raw("Log out "),
            Span::styled(who.to_string(), theme.heading()),
            Span::raw(" from "),
            Span::raw(s.server.clone()),
            Span::raw("?"),
        ]),
        Line::from(""),
        Line::styled(
            "The token is revoked on the server and removed from the keyring.",
            theme.dim(),
        ),
        Line::from(""),
        Line::from(vec![
            Span::styled(
                keys_for(Context::ConfirmLogout, Action::Confirm),
                theme.heading(),
            ),
            Span::raw(" log out   "),
            Span::styled(
                keys_for(Context::ConfirmLogout, Action::Cancel),
                theme.heading(),
            ),
            Span::raw(" stay"),
        ]),
    ];
    let block = Block::bordered()
        .title(" Log out ")
        .border_style(theme.border(true));
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        rect,
    );
}

pub fn confirm_quit(frame: &mut Frame, area: Rect, s: &State, theme: &Theme) {
    let rect = centered(area, 60, 8);
    frame.render_widget(Clear, rect);
    let why = if s.stops_server {
        "The strop-server that ./run started stops with it."
    } else {
        "Your session stays: the next start goes straight in."
    };
    let text = vec![
        Line::from("Quit strop?"),
        Line::from(""),
        Line::styled(why, theme.dim()),
        Line::from(""),
        Line::from(vec![
            Span::styled(
                keys_for(Context::ConfirmQuit, Action::Confirm),
                theme.heading(),
            ),
            Span::raw(" quit   "),
            Span::styled(
                keys_for(Context::ConfirmQuit, Action::Cancel),
                theme.heading(),
            ),
            Span::raw(" stay"),
        ]),
    ];
    let block = Block::bordered()
        .title(" Quit ")
        .border_style(theme.border(true));
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        rect,
    );
}

pub fn confirm_delete(
    frame: &mut Frame,
    area: Rect,
    entry: &strop_common::HistoryEntry,
    theme: &Theme,
) {
    let rect = centered(area, 60, 8);
    frame.render_widget(Clear, rect);
    let room = usize::from(rect.width.saturating_sub(4));
    let what = super::text::one_line(&format!("{}: {}", entry.function, entry.input), room);
    let text = vec![
        Line::from(format!("Delete entry {}?", entry.id)),
        Line::styled(what, theme.dim()),
        Line::styled(
            "It is deleted on the server, for every client.",
            theme.dim(),
        ),
        Line::from(""),
        Line::from(vec![
            Span::styled(
                keys_for(Context::ConfirmDelete, Action::Confirm),
                theme.heading(),
            ),
            Span::raw(" delete   "),
            Span::styled(
                keys_for(Context::ConfirmDelete, Action::Cancel),
                theme.heading(),
            ),
            Span::raw(" keep"),
        ]),
    ];
    let block = Block::bordered()
        .title(" Delete ")
        .border_style(theme.border(true));
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        rect,
    );
}

/// The `width` columns of `text` from column `skip`, padded with spaces:
/// only what shows is laid out, however long a paste made the text (a
/// format width or a `u16` scroll would overflow past 65,535 columns).
fn visible(text: &str, skip: usize, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::with_capacity(width);
    let (mut column, mut shown) = (0, 0);
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if column >= skip && shown + w <= width {
            out.push(c);
            shown += w;
        } else if column >= skip {
            break;
        }
        column += w;
    }
    out.extend(std::iter::repeat_n(' ', width - shown));
    out
}

/// A one-line text field: `label` then the value (dots when `masked`), with
/// the terminal cursor in it when it has focus.
#[allow(clippy::too_many_arguments)]
pub fn field(
    frame: &mut Frame,
    area: Rect,
    label: &str,
    input: &tui_input::Input,
    masked: bool,
    focused: bool,
    typing: bool,
    theme: &Theme,
) {
    let label_w = 11u16.min(area.width);
    let [label_area, value_area] =
        Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(area);
    let marker = if focused { "▸ " } else { "  " };
    let label_style = if focused {
        theme.accent()
    } else {
        theme.heading()
    };
    frame.render_widget(
        Paragraph::new(Span::styled(format!("{marker}{label}"), label_style)),
        label_area,
    );
    let width = value_area.width.max(1) as usize;
    let (shown, cursor) = if masked {
        let n = input.value().chars().count();
        ("•".repeat(n), input.cursor())
    } else {
        (input.value().to_string(), input.visual_cursor())
    };
    // Keep the cursor inside the field: scroll the text left when needed.
    let scroll = (cursor + 1).saturating_sub(width);
    let style = if focused {
        theme.selected(false)
    } else {
        ratatui::style::Style::new().add_modifier(ratatui::style::Modifier::UNDERLINED)
    };
    frame.render_widget(
        Paragraph::new(Span::styled(visible(&shown, scroll, width), style)),
        value_area,
    );
    if focused && typing {
        frame.set_cursor_position((value_area.x + (cursor - scroll) as u16, value_area.y));
    }
}
