//! Small text helpers shared by the screens.
//!
//! Everything a person typed goes through [`display`] before it is drawn:
//! terminals disagree on how wide an emoji sequence is (tmux draws a ZWJ
//! family as three wide glyphs where ratatui counts one), and a screen drawn
//! with the wrong widths leaves stray glyphs behind until a full redraw. So
//! sequences are split into parts every terminal draws alike.

use ratatui::style::Style;
use ratatui::text::Span;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::app::state::word_ranges;

const ZWJ: char = '\u{200d}';

/// `text` with every grapheme cluster made of parts whose width all
/// terminals agree on: ZWJ sequences split into their emoji, flags
/// (regional-indicator pairs) shown as their two letters, variation
/// selectors, skin-tone modifiers and other zero-width format characters
/// dropped. Combining accents stay (every terminal puts them on their base).
pub fn display(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for g in text.graphemes(true) {
        if g.chars().nth(1).is_none() {
            let c = g.chars().next().unwrap_or(' ');
            push_char(&mut out, c);
            continue;
        }
        let simple = g
            .chars()
            .skip(1)
            .all(|c| c.width() == Some(0) && !is_format(c));
        if simple && !g.chars().any(is_regional) {
            out.push_str(g);
            continue;
        }
        for c in g.chars() {
            push_char(&mut out, c);
        }
    }
    out
}

fn push_char(out: &mut String, c: char) {
    if is_regional(c) {
        out.push(char::from(b'A' + (c as u32 - 0x1F1E6) as u8));
    } else if !is_format(c) {
        out.push(c);
    }
}

fn is_regional(c: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)
}

/// Zero-width characters that change how neighbours are drawn: joiners,
/// variation selectors, emoji modifiers, direction marks, BOM.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
        | '\u{feff}' | '\u{fe00}'..='\u{fe0f}' | '\u{1f3fb}'..='\u{1f3ff}'
        | '\u{e0020}'..='\u{e007f}')
        || c == ZWJ
}

/// One line for a table cell, at most `width` columns: newlines shown as
/// `⏎`, other control characters as spaces, and `…` where it was cut. Only
/// the start of a long text is looked at, so a 64 KiB input costs what a
/// short one does.
pub fn one_line(s: &str, width: usize) -> String {
    let mut flat = String::with_capacity(width.min(s.len()) + 4);
    // Four bytes per column is more than any cell can show.
    let head = match s.char_indices().nth(width.saturating_mul(4) + 8) {
        Some((i, _)) => &s[..i],
        None => s,
    };
    for ch in head.chars() {
        match ch {
            '\n' => flat.push('⏎'),
            '\r' => {}
            c if c.is_control() => flat.push(' '),
            c => flat.push(c),
        }
    }
    let cut = head.len() < s.len();
    fit(&display(&flat), width, cut)
}

/// `text` cut to `width` columns, ending in `…` when anything was left out
/// (or `more` says there is more than `text`).
pub fn fit(text: &str, width: usize, more: bool) -> String {
    if !more && text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = g.width();
        if used + w > width - 1 {
            break;
        }
        out.push_str(g);
        used += w;
    }
    out.push('…');
    out
}

/// `text` split into spans with every case-insensitive match of any word of
/// `query` in `hit` style.
pub fn highlighted(text: String, query: &str, base: Style, hit: Style) -> Vec<Span<'static>> {
    let ranges = word_ranges(&text, query);
    if ranges.is_empty() {
        return vec![Span::styled(text, base)];
    }
    let mut spans = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut at = 0;
    for r in ranges {
        if r.start > at {
            spans.push(Span::styled(text[at..r.start].to_string(), base));
        }
        spans.push(Span::styled(text[r.clone()].to_string(), hit));
        at = r.end;
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), base));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_folds_newlines_and_ends_cut_text_in_an_ellipsis() {
        assert_eq!(one_line("a\r\nb\tc", 10), "a⏎b c");
        assert_eq!(one_line("abcdef", 3), "ab…");
        assert_eq!(one_line("abc", 3), "abc");
        assert_eq!(one_line(&"x".repeat(70_000), 5), "xxxx…");
        assert_eq!(one_line("日本語", 4), "日…");
    }

    #[test]
    fn highlighted_marks_every_word() {
        let spans = highlighted(
            "alpha then bulk".into(),
            "bulk ALPHA",
            Style::new(),
            Style::new(),
        );
        let parts: Vec<&str> = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(parts, ["alpha", " then ", "bulk"]);
    }

    /// What a terminal that knows no grapheme clusters draws: each char at
    /// its own width. After `display`, that is what ratatui counts too.
    fn per_char_width(s: &str) -> usize {
        s.chars().map(|c| c.width().unwrap_or(0)).sum()
    }

    #[test]
    fn emoji_sequences_become_parts_every_terminal_draws_alike() {
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        let flag = "\u{1F1EF}\u{1F1F5}";
        let heart = "\u{2764}\u{FE0F}";
        let thumbs = "\u{1F44D}\u{1F3FD}";
        for raw in [family, flag, heart, thumbs, "e\u{301}", "a\u{200b}b"] {
            let shown = display(raw);
            assert_eq!(
                shown.width(),
                per_char_width(&shown),
                "{raw:?} -> {shown:?}"
            );
        }
        assert_eq!(display(family), "\u{1F468}\u{1F469}\u{1F467}");
        assert_eq!(display(flag), "JP");
        assert_eq!(display(heart), "\u{2764}");
        assert_eq!(display("e\u{301}"), "e\u{301}", "accents stay");
        assert_eq!(display("plain text"), "plain text");
    }
}
