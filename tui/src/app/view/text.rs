//! Small text helpers shared by the screens.

use ratatui::style::Style;
use ratatui::text::Span;

use crate::app::state::match_ranges;

/// One line for a table cell: newlines shown as `⏎`, other control
/// characters as spaces, and at most `max_chars` characters (the cell cuts
/// the rest anyway; this keeps a 64 KiB input from costing per frame).
pub fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(max_chars.min(s.len()));
    for ch in s.chars().take(max_chars) {
        match ch {
            '\n' => out.push('⏎'),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `text` split into spans with every case-insensitive match of `needle`
/// in `hit` style.
pub fn highlighted(text: String, needle: &str, base: Style, hit: Style) -> Vec<Span<'static>> {
    let ranges = match_ranges(&text, needle);
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

/// `2021-04-10T19:59:53.123Z` -> `2021-04-10 19:59` (UTC); anything else is
/// shown as sent.
pub fn short_time(timestamp: &str, fallback: &str) -> String {
    let b = timestamp.as_bytes();
    if b.len() >= 16 && b[10] == b'T' && timestamp.is_char_boundary(16) {
        format!("{} {}", &timestamp[..10], &timestamp[11..16])
    } else {
        fallback.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_folds_newlines_and_caps_length() {
        assert_eq!(one_line("a\r\nb\tc", 10), "a⏎b c");
        assert_eq!(one_line("abcdef", 3), "abc");
    }

    #[test]
    fn highlighted_splits_around_matches() {
        let spans = highlighted("Hello hello".into(), "LL", Style::new(), Style::new());
        let parts: Vec<&str> = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(parts, ["He", "ll", "o he", "ll", "o"]);
    }

    #[test]
    fn short_time_reads_rfc3339() {
        assert_eq!(
            short_time("2021-04-10T19:59:53.123Z", "x"),
            "2021-04-10 19:59"
        );
        assert_eq!(short_time("bad", "fallback"), "fallback");
    }
}
