//! `strop history` as aligned columns: TIME, FUNCTION, INPUT, OUTPUT.

use strop_common::api::HistoryEntry;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

const GAP: &str = "  ";
const HEADERS: [&str; 4] = ["TIME", "FUNCTION", "INPUT", "OUTPUT"];
/// Narrowest the input column gets when fitting a terminal.
const MIN_INPUT: usize = 12;

/// The table, one line per entry after a header. `width`: the terminal's,
/// to cut long cells with "…"; `None` (a pipe) keeps cells whole.
pub(super) fn render(entries: &[HistoryEntry], width: Option<usize>, filtered: bool) -> String {
    if entries.is_empty() {
        return if filtered {
            "No history entries match.\n".into()
        } else {
            "No history yet.\n".into()
        };
    }
    let rows: Vec<[String; 4]> = entries
        .iter()
        .map(|e| {
            [
                e.time.clone(),
                e.function.to_string(),
                visible(&e.input),
                visible(&e.output),
            ]
        })
        .collect();
    let widest = |col: usize| {
        rows.iter()
            .map(|r| r[col].width())
            .chain([HEADERS[col].width()])
            .max()
            .unwrap_or(0)
    };
    let (time_w, function_w) = (widest(0), widest(1));
    let mut input_w = widest(2);
    let mut output_w = None;
    if let Some(total) = width {
        // Split what the fixed columns leave between input and output.
        let room = total.saturating_sub(time_w + function_w + 3 * GAP.len());
        let half = (room / 2).max(MIN_INPUT);
        input_w = input_w.min(half);
        output_w = Some(room.saturating_sub(input_w + GAP.len()).max(MIN_INPUT));
    }

    let mut out = String::new();
    let header = HEADERS.map(str::to_string);
    for row in std::iter::once(&header).chain(&rows) {
        out.push_str(&pad(&row[0], time_w));
        out.push_str(GAP);
        out.push_str(&pad(&row[1], function_w));
        out.push_str(GAP);
        out.push_str(&pad(&fit(&row[2], input_w), input_w));
        out.push_str(GAP);
        match output_w {
            Some(w) => out.push_str(&fit(&row[3], w)),
            None => out.push_str(&row[3]),
        }
        // Keep no trailing spaces when the output cell is empty.
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    }
    out
}

/// Control characters would break the one-line-per-entry layout: show them
/// escaped (`\n`, `\t`, `\u{1b}`).
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// Cut to `width` display columns, ending in "…" when cut.
fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

fn pad(s: &str, width: usize) -> String {
    let fill = width.saturating_sub(s.width());
    format!("{s}{}", " ".repeat(fill))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strop_common::api::Function;

    fn entry(id: i64, function: Function, input: &str, output: &str) -> HistoryEntry {
        HistoryEntry {
            function,
            id,
            input: input.into(),
            output: output.into(),
            time: "Sat, 10 Apr 2021 19:59:53 GMT".into(),
            timestamp: "2021-04-10T19:59:53.123Z".into(),
            user: "wonsun".into(),
        }
    }

    #[test]
    fn columns_align_under_the_header() {
        let table = render(
            &[
                entry(1, Function::Reverse, "abc", "cba"),
                entry(2, Function::Piglatin, "Hello, world!", "Ellohay, orldway!"),
            ],
            None,
            false,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = |line: &str, word: &str| line.find(word).unwrap();
        assert_eq!(col(lines[0], "INPUT"), col(lines[2], "Hello"));
        assert_eq!(col(lines[0], "OUTPUT"), col(lines[1], "cba"));
        assert_eq!(col(lines[0], "OUTPUT"), col(lines[2], "Ellohay"));
        assert!(lines[1].starts_with("Sat, 10 Apr 2021 19:59:53 GMT  reverse "));
    }

    #[test]
    fn newlines_are_escaped_and_long_cells_cut_on_terminals() {
        let long = "x".repeat(200);
        let table = render(
            &[entry(1, Function::Reverse, "a\nb", &long)],
            Some(80),
            false,
        );
        for line in table.lines() {
            assert!(line.width() <= 80, "{line:?} is {} wide", line.width());
        }
        assert!(table.contains("a\\nb"));
        assert!(table.contains('…'));
        // A pipe gets whole cells.
        assert!(render(&[entry(1, Function::Reverse, "a", &long)], None, false).contains(&long));
    }

    #[test]
    fn empty_history_says_so() {
        assert_eq!(render(&[], None, false), "No history yet.\n");
        assert_eq!(render(&[], None, true), "No history entries match.\n");
    }
}
