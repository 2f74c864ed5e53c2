//! The help overlay: the key table itself, grouped by where keys apply.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::Theme;
use crate::app::keymap::{Context, KEYMAP};

/// Every binding, one line each, under its context's title.
pub fn lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut seen: Vec<Context> = Vec::new();
    let key_w = crate::app::keymap::HELP_KEY_W;
    for bd in KEYMAP {
        if seen.contains(&bd.context) {
            continue;
        }
        seen.push(bd.context);
        if !out.is_empty() {
            out.push(Line::from(""));
        }
        out.push(Line::styled(bd.context.title(), theme.accent()));
        for b in KEYMAP.iter().filter(|b| b.context == bd.context) {
            let keys = key_list(b);
            // A long key list gets a line of its own: never run into the text.
            let keys = if keys.chars().count() >= key_w {
                out.push(Line::styled(format!("  {keys}"), theme.heading()));
                String::new()
            } else {
                keys
            };
            out.push(Line::from(vec![
                Span::styled(format!("  {keys:<key_w$}"), theme.heading()),
                Span::raw(b.help),
            ]));
        }
    }
    out.push(Line::from(""));
    out.push(Line::styled(
        "Other keys type into the focused field.",
        theme.dim(),
    ));
    out
}

pub use crate::app::keymap::key_list;

pub fn draw(frame: &mut Frame, area: Rect, scroll: u16, theme: &Theme) {
    // Narrow terminals get the full width: the descriptions are long.
    let margin = if area.width >= 100 {
        area.width / 10
    } else {
        0
    };
    let rect = Rect {
        x: area.x + margin,
        y: area.y,
        width: area.width - 2 * margin,
        height: area.height,
    };
    frame.render_widget(Clear, rect);
    let text = lines(theme);
    let visible = rect.height.saturating_sub(2) as usize;
    let max = text.len().saturating_sub(visible) as u16;
    let scroll = scroll.min(max);
    let more = if scroll < max { " ↓ more " } else { "" };
    let block = Block::bordered()
        .title(Span::styled(" Keys ", theme.accent()))
        .title_bottom(
            Line::from(vec![
                Span::styled(more, theme.dim()),
                Span::styled(" ↑/↓ scroll · Esc close ", theme.dim()),
            ])
            .right_aligned(),
        )
        .border_style(theme.border(true));
    frame.render_widget(Paragraph::new(text).block(block).scroll((scroll, 0)), rect);
}
