//! The help overlay: the key table itself, grouped by where keys apply.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::Theme;
use crate::app::keymap::{Context, KEYMAP};

/// Every binding under its context's title, for a box `width` columns wide
/// inside: one line each where it fits; otherwise the description wraps at
/// word boundaries under its own column (or, very narrow, under the keys),
/// never cut mid-word.
pub fn lines(theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut seen: Vec<Context> = Vec::new();
    let key_w = crate::app::keymap::HELP_KEY_W;
    // Descriptions narrower than this read badly beside the keys.
    let beside = width.saturating_sub(2 + key_w) >= 16;
    for bd in KEYMAP {
        if seen.contains(&bd.context) {
            continue;
        }
        seen.push(bd.context);
        if !out.is_empty() {
            out.push(Line::from(""));
        }
        for part in super::wrap_words(bd.context.title(), width) {
            out.push(Line::styled(part, theme.accent()));
        }
        for b in KEYMAP.iter().filter(|b| b.context == bd.context) {
            let keys = key_list(b);
            // A long key list (or a narrow box) puts the keys on a line of
            // their own: never run into the text.
            let (keys, indent) = if keys.chars().count() >= key_w || !beside {
                for part in super::wrap_words(&keys, width.saturating_sub(2)) {
                    out.push(Line::styled(format!("  {part}"), theme.heading()));
                }
                (String::new(), if beside { 2 + key_w } else { 4 })
            } else {
                (keys, 2 + key_w)
            };
            let room = width.saturating_sub(indent).max(1);
            for (i, part) in super::wrap_words(b.help, room).into_iter().enumerate() {
                let head = if i == 0 && indent == 2 + key_w {
                    format!("  {keys:<key_w$}")
                } else {
                    " ".repeat(indent)
                };
                out.push(Line::from(vec![
                    Span::styled(head, theme.heading()),
                    Span::raw(part),
                ]));
            }
        }
    }
    out.push(Line::from(""));
    out.extend(
        super::wrap_words("Other keys type into the focused field.", width.max(1))
            .into_iter()
            .map(|l| Line::styled(l, theme.dim())),
    );
    out
}

pub use crate::app::keymap::key_list;

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    scroll: u16,
    help_max: &std::cell::Cell<Option<u16>>,
    theme: &Theme,
) {
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
    let text = lines(theme, rect.width.saturating_sub(2) as usize);
    let visible = rect.height.saturating_sub(2) as usize;
    let max = text.len().saturating_sub(visible) as u16;
    // Scrolling stops where this drawing ends (the lines depend on the width).
    help_max.set(Some(max));
    let scroll = scroll.min(max);
    let more = if scroll < max { " ↓ more " } else { "" };
    // The longest hint that fits the bottom border.
    let room = rect.width.saturating_sub(2) as usize;
    let hint = [
        format!("{more} ↑/↓ scroll · Esc close "),
        format!("{more} Esc close "),
        " Esc close ".to_string(),
    ]
    .into_iter()
    .find(|h| h.chars().count() <= room)
    .unwrap_or_default();
    let block = Block::bordered()
        .title(Span::styled(" Keys ", theme.accent()))
        .title_bottom(Line::from(Span::styled(hint, theme.dim())).right_aligned())
        .border_style(theme.border(true));
    frame.render_widget(Paragraph::new(text).block(block).scroll((scroll, 0)), rect);
}
