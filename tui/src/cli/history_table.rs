//! `strop history` for a person (aligned columns cut to the terminal) or for
//! a program (one plain line per entry, fields separated by tabs).

use strop_common::api::HistoryEntry;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::local_time::Clock;

const GAP: &str = "  ";
const HEADERS: [&str; 4] = ["TIME", "FUNCTION", "INPUT", "OUTPUT"];
/// Narrowest the input and output columns get when fitting a terminal.
const MIN_TEXT: usize = 12;
/// Below that, on a narrow terminal: "ab…" still says where text was cut.
const MIN_NARROW: usize = 3;
/// `2021-04-10 19:59`: the time without seconds and offset, when the full
/// one leaves too little room (the header then names the zone).
const SHORT_TIME: usize = 16;

/// Where the history goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// A terminal this many columns wide: a header and aligned columns, long
    /// cells cut with "…".
    Table { width: usize },
    /// A pipe or file: `TIME<tab>FUNCTION<tab>INPUT<tab>OUTPUT` per entry, no
    /// header, no padding, cells whole (tabs, newlines and other control
    /// characters escaped as `\t`, `\n`, `\u{1b}`).
    Plain,
}

/// The history as `layout` wants it; times in `clock`'s zone. An empty
/// history is a sentence on a terminal and nothing at all in a pipe.
pub(super) fn render(
    entries: &[HistoryEntry],
    layout: Layout,
    clock: &Clock,
    filtered: bool,
) -> String {
    let rows = entries.iter().map(|e| {
        [
            clock.show(&e.timestamp),
            e.function.to_string(),
            visible(&e.input),
            visible(&e.output),
        ]
    });
    match layout {
        Layout::Plain => rows.map(|row| row.join("\t") + "\n").collect(),
        Layout::Table { .. } if entries.is_empty() => {
            if filtered {
                "No history entries match.\n".into()
            } else {
                "No history yet.\n".into()
            }
        }
        Layout::Table { width } => table(&rows.collect::<Vec<_>>(), width, clock),
    }
}

/// Aligned columns no wider than `width` (a terminal wraps a longer line
/// into the next row): the input and output cut with "…" first, then the
/// time shortened to the minute, and as a last resort each line cut.
fn table(rows: &[[String; 4]], width: usize, clock: &Clock) -> String {
    let widest = |rows: &[[String; 4]], col: usize| {
        rows.iter()
            .map(|r| r[col].width())
            .chain([HEADERS[col].width()])
            .max()
            .unwrap_or(0)
    };
    let function_w = widest(rows, 1);
    let fixed = |time_w: usize| time_w + function_w + 3 * GAP.len();
    let mut header = HEADERS.map(str::to_string);
    let mut rows = rows.to_vec();
    if width < fixed(widest(&rows, 0)) + 2 * MIN_TEXT {
        for row in &mut rows {
            let short: String = row[0].chars().take(SHORT_TIME).collect();
            row[0] = short;
        }
        header[0] = format!("TIME ({})", clock.label());
    }
    let time_w = widest(&rows, 0).max(header[0].width());
    // Split what the fixed columns leave between input and output.
    let room = width.saturating_sub(fixed(time_w));
    let least = if room >= 2 * MIN_TEXT {
        MIN_TEXT
    } else {
        MIN_NARROW
    };
    let input_w = widest(&rows, 2).min((room / 2).max(least));
    let output_w = room.saturating_sub(input_w).max(least);

    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        line.push_str(&pad(&row[0], time_w));
        line.push_str(GAP);
        line.push_str(&pad(&row[1], function_w));
        line.push_str(GAP);
        line.push_str(&pad(&fit(&row[2], input_w), input_w));
        line.push_str(GAP);
        line.push_str(&fit(&row[3], output_w));
        // No trailing spaces when the output cell is empty; never wider
        // than the terminal.
        out.push_str(&fit(line.trim_end_matches(' '), width));
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

    fn utc() -> Clock {
        Clock::new(&crate::local_time::Zone::Utc)
    }

    #[test]
    fn columns_align_under_the_header() {
        let table = render(
            &[
                entry(1, Function::Reverse, "abc", "cba"),
                entry(2, Function::Piglatin, "Hello, world!", "Ellohay, orldway!"),
            ],
            Layout::Table { width: 200 },
            &utc(),
            false,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = |line: &str, word: &str| line.find(word).unwrap();
        assert_eq!(col(lines[0], "INPUT"), col(lines[2], "Hello"));
        assert_eq!(col(lines[0], "OUTPUT"), col(lines[1], "cba"));
        assert_eq!(col(lines[0], "OUTPUT"), col(lines[2], "Ellohay"));
        assert!(
            lines[1].starts_with("2021-04-10 19:59:53 +00:00  reverse "),
            "{table}"
        );
    }

    #[test]
    fn newlines_are_escaped_and_long_cells_cut_on_terminals() {
        let long = "x".repeat(200);
        let table = render(
            &[entry(1, Function::Reverse, "a\nb", &long)],
            Layout::Table { width: 80 },
            &utc(),
            false,
        );
        for line in table.lines() {
            assert!(line.width() <= 80, "{line:?} is {} wide", line.width());
        }
        assert!(table.contains("a\\nb"));
        assert!(table.contains('…'));
    }

    /// New-user test: under ~64 columns every row wrapped. At 40 and 30
    /// columns each line fits, cut cells end in "…", and the header names
    /// the zone of the shortened times.
    #[test]
    fn narrow_terminals_get_rows_that_fit() {
        let entries = [
            entry(
                1,
                Function::Reverse,
                "The quick brown fox",
                "xof nworb kciuq ehT",
            ),
            entry(2, Function::Piglatin, "abc", "abcay"),
        ];
        for width in [64, 50, 40, 30] {
            let table = render(&entries, Layout::Table { width }, &utc(), false);
            let lines: Vec<&str> = table.lines().collect();
            assert_eq!(lines.len(), 3, "{table}");
            for line in &lines {
                assert!(
                    line.width() <= width,
                    "{width}: {line:?} is {} wide",
                    line.width()
                );
            }
            assert!(lines[1].contains('…'), "{width}: {table}");
        }
        let table = render(&entries, Layout::Table { width: 50 }, &utc(), false);
        assert!(table.starts_with("TIME (UTC)"), "{table}");
        assert!(table.contains("2021-04-10 19:59  reverse"), "{table}");
        assert!(
            table.contains("The quic"),
            "the input keeps what fits: {table}"
        );
    }

    #[test]
    fn a_pipe_gets_unpadded_tab_separated_rows() {
        let long = "y".repeat(2000);
        let plain = render(
            &[
                entry(1, Function::Reverse, &long, "short"),
                entry(2, Function::Piglatin, "a\tb\nc", "x"),
            ],
            Layout::Plain,
            &utc(),
            false,
        );
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(
            lines,
            [
                format!("2021-04-10 19:59:53 +00:00\treverse\t{long}\tshort"),
                "2021-04-10 19:59:53 +00:00\tpiglatin\ta\\tb\\nc\tx".to_string(),
            ]
        );
    }

    #[test]
    fn empty_history_says_so_on_a_terminal_only() {
        let term = Layout::Table { width: 80 };
        assert_eq!(render(&[], term, &utc(), false), "No history yet.\n");
        assert_eq!(
            render(&[], term, &utc(), true),
            "No history entries match.\n"
        );
        assert_eq!(render(&[], Layout::Plain, &utc(), false), "");
    }
}
