//! The history browser: search box, then a table of the loaded entries. Only
//! the visible rows are built, so 10,000 loaded entries cost what 20 do.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use super::chrome::field;
use super::text::{highlighted, one_line, short_time};
use super::{Theme, spinner};
use crate::app::state::{Focus, History, State};

const TIME_W: u16 = 16;
const FUNC_W: u16 = 8;

pub fn draw(frame: &mut Frame, area: Rect, s: &State, theme: &Theme, typing: bool) {
    let h = &s.history;
    let focused = matches!(s.main.focus, Focus::History | Focus::Search);
    let filter = h.filter.map_or("all", |f| f.as_str());
    let mut title = vec![
        Span::styled(" History ", theme.heading()),
        Span::styled(format!("· filter: {filter} "), theme.dim()),
        Span::styled(format!("· {} loaded", h.entries.len()), theme.dim()),
    ];
    if h.next_before.is_some() {
        title.push(Span::styled(" (more below)", theme.dim()));
    }
    title.push(Span::raw(" "));
    if h.loading {
        title.push(Span::styled(
            format!("{} loading ", spinner(s)),
            theme.accent(),
        ));
    }
    let block = Block::bordered()
        .title(Line::from(title))
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [search, table] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
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
    draw_table(frame, table, h, s.main.focus == Focus::History, theme);
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

fn draw_table(frame: &mut Frame, area: Rect, h: &History, focused: bool, theme: &Theme) {
    let visible = area.height.saturating_sub(1) as usize;
    if h.entries.is_empty() {
        let msg = if !h.loaded {
            "Loading history…".to_string()
        } else if !h.applied_query.is_empty() {
            format!("Nothing matches \"{}\".", h.applied_query)
        } else if h.filter.is_some() {
            "No entries for this function yet.".to_string()
        } else {
            "No history yet: run something above.".to_string()
        };
        frame.render_widget(Paragraph::new(Span::styled(msg, theme.dim())), area);
        return;
    }
    // Two text columns share what the time and function leave.
    let text_w = area.width.saturating_sub(TIME_W + FUNC_W + 3) / 2;
    let cap = text_w as usize + 4;
    let offset = window(h, visible);
    let end = (offset + visible).min(h.entries.len());
    let needle = h.applied_query.as_str();
    let rows = h.entries[offset..end].iter().map(|e| {
        let time = short_time(&e.timestamp, &e.time);
        Row::new(vec![
            Cell::from(Span::styled(time, theme.dim())),
            Cell::from(e.function.as_str()),
            Cell::from(Line::from(highlighted(
                one_line(&e.input, cap),
                needle,
                Style::new(),
                theme.matched(),
            ))),
            Cell::from(Line::from(highlighted(
                one_line(&e.output, cap),
                needle,
                Style::new(),
                theme.matched(),
            ))),
        ])
    });
    let header = Row::new(["Time (UTC)", "Function", "Input", "Output"]).style(theme.heading());
    let table = Table::new(
        rows,
        [
            Constraint::Length(TIME_W),
            Constraint::Length(FUNC_W),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ],
    )
    .header(header)
    .column_spacing(1)
    .row_highlight_style(theme.selected(focused));
    let mut state = TableState::default().with_selected(Some(h.selected - offset));
    frame.render_stateful_widget(table, area, &mut state);
}
