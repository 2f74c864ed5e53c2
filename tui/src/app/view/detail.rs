//! One history entry in full: long input and output wrapped, scrollable.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::Theme;
use super::text::display;
use crate::app::keymap::{Action, Context, keys_for};
use crate::app::state::Detail;
use crate::local_time::Clock;

pub fn draw(frame: &mut Frame, area: Rect, d: &Detail, clock: &Clock, theme: &Theme) {
    let rect = Rect {
        x: area.x + area.width / 20,
        y: area.y + area.height / 20,
        width: area.width - area.width / 10,
        height: area.height - area.height / 10,
    };
    frame.render_widget(Clear, rect);
    let e = &d.entry;
    let id = if e.id > 0 {
        format!(" Entry #{} ", e.id)
    } else {
        " Entry (just run) ".to_string()
    };
    let block = Block::bordered()
        .title(Span::styled(id, theme.accent()))
        .border_style(theme.border(true));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [body, hints] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);

    let text = entry_text(e, clock, theme);
    // Clamp the scroll here, where the wrapped height is known.
    let width = body.width.max(1) as usize;
    let total: usize = text
        .lines
        .iter()
        .map(|l| l.width().div_ceil(width).max(1))
        .sum();
    let max = total
        .saturating_sub(body.height as usize)
        .min(u16::MAX as usize) as u16;
    d.max_scroll.set(max);
    let scroll = d.scroll.min(max);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        body,
    );
    frame.render_widget(hint_line(scroll < max, theme), hints);
}

/// The entry's function and time, then its input and output line by line.
fn entry_text(e: &strop_common::HistoryEntry, clock: &Clock, theme: &Theme) -> Text<'static> {
    let mut text = Text::default();
    text.push_line(Line::from(vec![
        Span::styled(e.function.as_str(), theme.heading()),
        Span::styled(format!(" · {}", clock.show(&e.timestamp)), theme.dim()),
    ]));
    text.push_line(Line::from(""));
    text.push_line(Line::styled(
        format!("Input ({} characters)", e.input.chars().count()),
        theme.heading(),
    ));
    for line in e.input.split('\n') {
        text.push_line(Line::from(display(line.trim_end_matches('\r'))));
    }
    text.push_line(Line::from(""));
    text.push_line(Line::styled(
        format!("Output ({} characters)", e.output.chars().count()),
        theme.heading(),
    ));
    for line in e.output.split('\n') {
        text.push_line(Line::from(display(line.trim_end_matches('\r'))));
    }
    text
}

/// The view's keys, after a mark when there is more below.
fn hint_line(more_below: bool, theme: &Theme) -> Paragraph<'static> {
    let more = if more_below { "more below · " } else { "" };
    Paragraph::new(Line::from(vec![
        Span::styled(more, theme.dim()),
        Span::styled(keys_for(Context::Detail, Action::Down), theme.heading()),
        Span::raw(" scroll  "),
        Span::styled(keys_for(Context::Detail, Action::Rerun), theme.heading()),
        Span::raw(" re-run  "),
        Span::styled(
            keys_for(Context::Detail, Action::CopyOutput),
            theme.heading(),
        ),
        Span::raw(" copy  "),
        Span::styled(keys_for(Context::Detail, Action::Delete), theme.heading()),
        Span::raw(" delete  "),
        Span::styled(keys_for(Context::Detail, Action::Close), theme.heading()),
        Span::raw(" close"),
    ]))
}
