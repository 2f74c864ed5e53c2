//! The history browser: search box, then a table of the loaded entries. Only
//! the visible rows are built, so 10,000 loaded entries cost what 20 do.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};
use unicode_width::UnicodeWidthStr;

use super::chrome::field;
use super::text::{fit, highlighted, one_line};
use super::{Theme, spinner};
use crate::app::state::{Focus, History, State};

/// `2026-11-30 21:05:03 +09:00`.
const TIME_W: u16 = 26;
const FUNC_W: u16 = 8;
/// Below this width the time column gives way to the texts.
const TIME_MIN_WIDTH: u16 = 70;
/// A relative time's column ("just now", "12m ago") and the width from
/// which it is shown.
const AGO_W: u16 = 8;
const AGO_MIN_WIDTH: u16 = 36;

/// The title, as long as it fits: where the selection is among the loaded
/// rows, whether older pages exist, the filter, and a loading spinner.
fn title(s: &State, room: usize) -> String {
    let h = &s.history;
    let filter = h.filter.map_or("all", |f| f.as_str());
    let m = h.entries.len();
    let n = if m == 0 { 0 } else { h.selected + 1 };
    let more = h.next_before.is_some();
    let loading = if h.loading {
        format!(" {} loading", spinner(s))
    } else {
        String::new()
    };
    let below = if more { " · more below" } else { "" };
    let plus = if more { "+" } else { "" };
    let candidates = [
        format!(" History · filter: {filter} · row {n} of {m} loaded{below}{loading} "),
        format!(" History · filter: {filter} · row {n} of {m} loaded{below} "),
        format!(" History · {filter} · row {n} of {m}{plus} "),
        format!(" History · {n}/{m}{plus} "),
        " History ".to_string(),
    ];
    let last = candidates[candidates.len() - 1].clone();
    candidates
        .into_iter()
        .find(|c| c.width() <= room)
        .unwrap_or_else(|| fit(&last, room, false))
}

pub fn draw(frame: &mut Frame, area: Rect, s: &State, theme: &Theme, typing: bool) {
    let h = &s.history;
    let focused = matches!(s.main.focus, Focus::History | Focus::Search);
    let mark = super::focus_mark(focused);
    let block = Block::bordered()
        .title(Span::styled(
            format!(
                "{mark}{}",
                title(s, area.width.saturating_sub(2 + mark.len() as u16) as usize)
            ),
            theme.heading(),
        ))
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        s.areas.search.set(Rect::default());
        s.areas.rows.set(Rect::default());
        return;
    }
    // Very short: the rows before an empty, unfocused search box (issue 17:
    // no rows at all at 40x10).
    let search_h = u16::from(
        inner.height >= 4 || s.main.focus == Focus::Search || !h.search.value().is_empty(),
    );
    let [search, table] =
        Layout::vertical([Constraint::Length(search_h), Constraint::Min(0)]).areas(inner);
    s.areas.search.set(search);
    field(
        frame,
        search,
        "Search",
        &h.search,
        false,
        s.main.focus == Focus::Search,
        typing,
        theme,
    );
    draw_table(frame, table, s, s.main.focus == Focus::History, theme);
}

/// Moves the window so `selected` is inside it, and returns its first row.
fn window(h: &History, rows: usize) -> usize {
    let mut offset = h.offset.get();
    if h.selected < offset {
        offset = h.selected;
    } else if rows > 0 && h.selected >= offset + rows {
        offset = h.selected + 1 - rows;
    }
    offset = offset.min(h.entries.len().saturating_sub(rows));
    h.offset.set(offset);
    offset
}

fn draw_table(frame: &mut Frame, area: Rect, s: &State, focused: bool, theme: &Theme) {
    let h = &s.history;
    // The header only when there is room for a row under it.
    let header_h = u16::from(area.height >= 3);
    let visible = area.height.saturating_sub(header_h) as usize;
    s.areas.rows.set(Rect {
        y: area.y + header_h,
        height: area.height.saturating_sub(header_h),
        ..area
    });
    if h.entries.is_empty() {
        let (msg, style) = empty_message(s, theme);
        // As much as the rows hold, ending after a word with "…" (40x10).
        let msg = super::clip_words(&msg, area.width as usize, area.height as usize);
        frame.render_widget(
            Paragraph::new(Span::styled(msg, style)).wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    // Relative times are short ("5m ago"): they keep a column down to
    // narrow widths, so F4 shows there too.
    let relative = s.relative_times && s.now.is_some();
    let (time_w, min_w) = if relative {
        (AGO_W, AGO_MIN_WIDTH)
    } else {
        (TIME_W, TIME_MIN_WIDTH)
    };
    let with_time = area.width >= min_w;
    let fixed = FUNC_W + 1 + if with_time { time_w + 1 } else { 0 };
    // Two text columns share what the time and function leave.
    let text_w = (area.width.saturating_sub(fixed + 1) / 2) as usize;
    let offset = window(h, visible);
    let end = (offset + visible).min(h.entries.len());
    let needle = h.applied_query.as_str();
    let rows = h.entries[offset..end].iter().map(|e| {
        let mut cells = Vec::with_capacity(4);
        if with_time {
            let shown = match s.now {
                Some(now) if s.relative_times => crate::local_time::ago(&e.timestamp, now),
                _ => None,
            };
            cells.push(Cell::from(Span::styled(
                shown.unwrap_or_else(|| s.clock.show(&e.timestamp)),
                theme.dim(),
            )));
        }
        cells.push(Cell::from(e.function.as_str()));
        for text in [&e.input, &e.output] {
            cells.push(Cell::from(Line::from(highlighted(
                one_line(text, text_w),
                needle,
                Style::new(),
                theme.matched(),
            ))));
        }
        let row = Row::new(cells);
        if h.fresh.contains(&e.id) {
            row.style(theme.fresh())
        } else {
            row
        }
    });
    let mut header = vec!["Function", "Input", "Output"];
    let mut widths = vec![
        Constraint::Length(FUNC_W),
        Constraint::Length(text_w as u16),
        Constraint::Fill(1),
    ];
    if with_time {
        header.insert(0, "Time");
        widths.insert(0, Constraint::Length(time_w));
    }
    let mut table = Table::new(rows, widths).column_spacing(1);
    if header_h > 0 {
        table = table.header(Row::new(header).style(theme.heading()));
    }
    let table = table.row_highlight_style(theme.selected(focused));
    let mut state = TableState::default().with_selected(Some(h.selected - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

/// Why the list is empty, as a sentence.
fn empty_message(s: &State, theme: &Theme) -> (String, Style) {
    let h = &s.history;
    if let Some(e) = h.error.as_ref().filter(|_| h.refused) {
        (
            format!("{e} Change the search to see entries."),
            theme.error(),
        )
    } else if let Some(e) = &h.error {
        (
            format!(
                "The history could not be loaded: {e} It loads by itself once the server answers."
            ),
            theme.error(),
        )
    } else if !h.loaded {
        ("Loading history…".to_string(), theme.dim())
    } else if !h.applied_query.is_empty() {
        (
            format!("Nothing matches \"{}\".", h.applied_query),
            theme.dim(),
        )
    } else if h.filter.is_some() {
        ("No entries for this function yet.".to_string(), theme.dim())
    } else {
        (
            "No history yet: run something above.".to_string(),
            theme.dim(),
        )
    }
}
