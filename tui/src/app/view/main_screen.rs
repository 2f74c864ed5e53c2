//! The main screen: input (a few lines, then scrolling) with the function
//! switch, the output, and the history browser below (or beside, on wide
//! terminals). On a short terminal the history shrinks first, then the
//! output; the input line stays.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Paragraph, Wrap};
use strop_common::Function;
use unicode_width::UnicodeWidthStr;

use super::text::display;
use super::{Theme, history, spinner};
use crate::app::keymap::{Action, Context, keys_for};
use crate::app::state::{Focus, INPUT_MAX_LINES, Outcome, Output, State};

/// From this width on, the history sits beside the input and output.
const WIDE: u16 = 140;

pub fn draw(frame: &mut Frame, area: Rect, s: &State, theme: &Theme, typing: bool) {
    let input_h = (input_lines(s.main.input.value()) + 2).min(area.height);
    if area.width >= WIDE {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                .areas(area);
        let [input, output] =
            Layout::vertical([Constraint::Length(input_h), Constraint::Min(0)]).areas(left);
        input_box(frame, input, s, theme, typing);
        output_box(frame, output, s, theme);
        history::draw(frame, right, s, theme, typing);
    } else {
        // Output lines (borders included) as the height allows: 4 lines at
        // 80x24, 6 at 120x35, and the list still shows 10 rows at 80x24.
        let mut out_pref = match area.height {
            34.. => 8,
            22.. => 6,
            16.. => 4,
            _ => 3,
        };
        // A failure gets the lines its sentence needs (up to a few).
        if s.main.running == 0
            && let Some(Outcome::Failed { message, .. }) = &s.main.output
        {
            let width = area.width.saturating_sub(2).max(1) as usize;
            let lines = message.width().div_ceil(width).clamp(1, 4) as u16;
            out_pref = out_pref.max(lines + 2);
        }
        let rest = area.height - input_h;
        // The focused pane keeps its title row, however small the screen;
        // a search keeps its box and at least one row of results (40x10),
        // before an output too short to show a line.
        let keep = match s.main.focus {
            Focus::Search => 4,
            Focus::History => 2,
            _ => 0,
        };
        let mut out_h = out_pref.min(rest.saturating_sub(keep));
        if out_h < 3 && keep == 4 {
            out_h = 0;
        }
        let [input, output, hist] = Layout::vertical([
            Constraint::Length(input_h),
            Constraint::Length(out_h),
            Constraint::Length(rest - out_h),
        ])
        .areas(area);
        input_box(frame, input, s, theme, typing);
        output_box(frame, output, s, theme);
        history::draw(frame, hist, s, theme, typing);
    }
}

/// Lines the input box shows: one per line of input, up to the maximum.
fn input_lines(value: &str) -> u16 {
    let lines = value.bytes().filter(|b| *b == b'\n').count() + 1;
    (lines as u16).min(INPUT_MAX_LINES)
}

/// The function switch for the input's title, as much as `room` allows:
/// both functions and the key, both, or the chosen one alone.
fn switch<'a>(s: &State, theme: &Theme, room: usize) -> Line<'a> {
    let key = format!("{} ", keys_for(Context::Main, Action::SwitchFunction));
    let mut both = vec![Span::raw(" ")];
    for f in Function::ALL {
        let style = if f == s.main.function {
            theme.selected(true)
        } else {
            theme.dim()
        };
        both.push(Span::styled(format!(" {f} "), style));
        both.push(Span::raw(" "));
    }
    let width = |spans: &[Span]| spans.iter().map(|x| x.width()).sum::<usize>();
    if width(&both) + key.width() <= room {
        both.push(Span::styled(key, theme.dim()));
        Line::from(both)
    } else if width(&both) <= room {
        Line::from(both)
    } else {
        Line::from(Span::styled(
            format!(" {} ", s.main.function),
            theme.selected(true),
        ))
    }
}

fn input_box(frame: &mut Frame, area: Rect, s: &State, theme: &Theme, typing: bool) {
    s.areas.input.set(area);
    let focused = s.main.focus == Focus::Input;
    let title = if focused { "▸ Input " } else { " Input " };
    let room = (area.width as usize).saturating_sub(2 + title.len() + 1);
    let block = Block::bordered()
        .title(Span::styled(title, theme.heading()))
        .title(switch(s, theme, room).right_aligned())
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let input = &s.main.input;
    if input.value().is_empty() && !focused {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "Tab here and type text to transform",
                theme.dim(),
            )),
            inner,
        );
        return;
    }
    let full = input.value();
    let cursor_byte = full
        .char_indices()
        .nth(input.cursor())
        .map_or(full.len(), |(i, _)| i);
    // One long line: only the part around the cursor can show, so only
    // that part is measured and segmented (a 5,000-character line cost
    // 13 ms a frame in a debug build otherwise).
    let reach = 4 * inner.width as usize + 16;
    let (value, cursor_byte) = if !full.contains('\n') && full.len() > 2 * reach {
        let from = floor_char(full, cursor_byte.saturating_sub(reach));
        let to = floor_char(full, (cursor_byte + reach).min(full.len()));
        (&full[from..to], cursor_byte - from)
    } else {
        (full, cursor_byte)
    };
    // Where the cursor is: which line, and how many columns into it.
    let before = &value[..cursor_byte];
    let cursor_line = before.bytes().filter(|b| *b == b'\n').count();
    let col = display(before.rsplit('\n').next().unwrap_or("")).width();
    let rows = inner.height as usize;
    let top = (cursor_line + 1).saturating_sub(rows);
    let width = inner.width as usize;
    let hscroll = (col + 1).saturating_sub(width);
    // Only the lines and columns that show are built: a 64 KiB paste costs
    // one pass, not one per cell.
    let lines: Vec<Line> = value
        .split('\n')
        .skip(top)
        .take(rows)
        .map(|line| Line::from(columns(line, hscroll, width)))
        .collect();
    frame.render_widget(Paragraph::new(Text::from(lines)), inner);
    let total = value.split('\n').count();
    more_marker(frame, area, top > 0, top + rows < total, theme);
    if focused && typing {
        let x = (col - hscroll) as u16;
        let y = (cursor_line - top) as u16;
        frame.set_cursor_position((inner.x + x.min(inner.width - 1), inner.y + y));
    }
}

/// "↑ more" on the input's bottom border when lines are out of sight, as
/// the output pane says it.
fn more_marker(frame: &mut Frame, area: Rect, above: bool, below: bool, theme: &Theme) {
    let marker = match (above, below) {
        (true, true) => " ↑↓ more ",
        (false, true) => " ↓ more ",
        (true, false) => " ↑ more ",
        (false, false) => return,
    };
    let w = marker.chars().count() as u16;
    if area.height < 2 || area.width < w + 2 {
        return;
    }
    let at = Rect {
        x: area.x + area.width - 1 - w,
        y: area.y + area.height - 1,
        width: w,
        height: 1,
    };
    frame.render_widget(Paragraph::new(Span::styled(marker, theme.accent())), at);
}

/// The char boundary at or before `at`.
fn floor_char(s: &str, mut at: usize) -> usize {
    while at > 0 && !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Columns `from..from + width` of one input line, as drawn.
fn columns(line: &str, from: usize, width: usize) -> String {
    use unicode_segmentation::UnicodeSegmentation;
    let shown = display(line);
    let mut at = 0;
    let mut out = String::new();
    for g in shown.graphemes(true) {
        let w = g.width();
        if at >= from && at + w <= from + width {
            out.push_str(g);
        }
        at += w;
        if at >= from + width {
            break;
        }
    }
    out
}

fn output_box(frame: &mut Frame, area: Rect, s: &State, theme: &Theme) {
    s.areas.output.set(area);
    let focused = s.main.focus == Focus::Output;
    let title = if focused { "▸ Output " } else { " Output " };
    let mut block = Block::bordered()
        .title(Span::styled(title, theme.heading()))
        .border_style(theme.border(focused));
    let mut scroll = 0;
    let text: Text = if s.main.running > 0 {
        Line::styled(
            format!("{} Running {}…", spinner(s), s.main.function),
            theme.accent(),
        )
        .into()
    } else {
        match &s.main.output {
            Some(Outcome::Done(out)) => {
                let (text, top) = done_output(s, out, area, theme, &mut block);
                scroll = top;
                text
            }
            Some(Outcome::Failed { message, .. }) => {
                let (text, top) = failed_output(s, message, area, theme, &mut block);
                scroll = top;
                text
            }
            None => Line::styled(
                format!(
                    "Type text above and press {}; the answer shows here.",
                    keys_for(Context::Input, Action::Submit)
                ),
                theme.dim(),
            )
            .into(),
        }
    };
    frame.render_widget(
        Paragraph::new(text)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

/// A failed run's sentence, wrapped at words as measured, so a pane too
/// short for it says "↓ more" and scrolls (F6) like an answer.
fn failed_output<'a>(
    s: &State,
    message: &str,
    area: Rect,
    theme: &Theme,
    block: &mut Block<'a>,
) -> (Text<'a>, u16) {
    let rows = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2).max(1) as usize;
    let lines = super::wrap_words(message, width);
    let max = lines.len().saturating_sub(rows).min(u16::MAX as usize) as u16;
    s.main.output_max.set(max);
    let scroll = s.main.output_scroll.min(max);
    mark_more(block, scroll, max, theme);
    let text = lines
        .into_iter()
        .map(|l| Line::styled(l, theme.error()))
        .collect::<Vec<_>>();
    (Text::from(text), scroll)
}

/// "↑ more" / "↓ more" on the output's bottom border.
fn mark_more(block: &mut Block<'_>, scroll: u16, max: u16, theme: &Theme) {
    let marker = match (scroll > 0, scroll < max) {
        (true, true) => " ↑↓ more ",
        (false, true) => " ↓ more ",
        (true, false) => " ↑ more ",
        _ => return,
    };
    *block =
        std::mem::take(block).title_bottom(Line::styled(marker, theme.accent()).right_aligned());
}

/// A finished run's answer, wrapped and scrolled to `output_scroll` (only the
/// lines up to the bottom of the view are built), with a "more" marker on the
/// block; returns the text and the scroll it was drawn at.
fn done_output<'a>(
    s: &State,
    out: &'a Output,
    area: Rect,
    theme: &Theme,
    block: &mut Block<'a>,
) -> (Text<'a>, u16) {
    *block = std::mem::take(block)
        .title(Line::styled(format!(" {} ", out.function), theme.dim()).right_aligned());
    // Wrapped, scrolled to `output_scroll`; only the lines up to
    // the bottom of the view are built.
    let rows = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2).max(1) as usize;
    let lines: Vec<&str> = out
        .output
        .split('\n')
        .map(|l| l.char_indices().nth(4096).map_or(l, |(i, _)| &l[..i]))
        .collect();
    let total: usize = lines
        .iter()
        .map(|l| super::wrapped_lines(&display(l), width))
        .sum();
    let max = total.saturating_sub(rows).min(u16::MAX as usize) as u16;
    s.main.output_max.set(max);
    let scroll = s.main.output_scroll.min(max);
    let mut shown = 0;
    let mut head = Vec::new();
    for l in lines {
        if shown > scroll as usize + rows {
            break;
        }
        let l = display(l);
        shown += super::wrapped_lines(&l, width);
        head.push(Line::from(l));
    }
    // Say there is more, and where (issue 17: 4 of 7 lines showed, silently).
    mark_more(block, scroll, max, theme);
    (Text::from(head), scroll)
}
