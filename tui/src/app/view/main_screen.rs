//! The main screen: input line with the function switch, the output, and the
//! history browser below (or beside, on wide terminals).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use strop_common::Function;

use super::{Theme, history, spinner};
use crate::app::keymap::{Action, Context, keys_for};
use crate::app::state::{Focus, State};

/// From this width on, the history sits beside the input and output.
const WIDE: u16 = 140;

pub fn draw(frame: &mut Frame, area: Rect, s: &State, theme: &Theme, typing: bool) {
    if area.width >= WIDE {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                .areas(area);
        let [input, output] =
            Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(left);
        input_box(frame, input, s, theme, typing);
        output_box(frame, output, s, theme);
        history::draw(frame, right, s, theme, typing);
    } else {
        let out_h = if area.height >= 34 { 6 } else { 3 };
        let [input, output, hist] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Length(out_h),
            Constraint::Min(5),
        ])
        .areas(area);
        input_box(frame, input, s, theme, typing);
        output_box(frame, output, s, theme);
        history::draw(frame, hist, s, theme, typing);
    }
}

fn input_box(frame: &mut Frame, area: Rect, s: &State, theme: &Theme, typing: bool) {
    let focused = s.main.focus == Focus::Input;
    let mut switch = vec![Span::raw(" ")];
    for f in Function::ALL {
        let style = if f == s.main.function {
            theme.selected(true)
        } else {
            theme.dim()
        };
        switch.push(Span::styled(format!(" {f} "), style));
        switch.push(Span::raw(" "));
    }
    switch.push(Span::styled(
        format!("{} ", keys_for(Context::Main, Action::SwitchFunction)),
        theme.dim(),
    ));
    let block = Block::bordered()
        .title(Span::styled(" Input ", theme.heading()))
        .title(Line::from(switch).right_aligned())
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let input = &s.main.input;
    let width = inner.width.max(1) as usize;
    let scroll = input.visual_scroll(width);
    if input.value().is_empty() && !focused {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "Tab here and type text to transform",
                theme.dim(),
            )),
            inner,
        );
    } else {
        frame.render_widget(
            Paragraph::new(input.value()).scroll((0, scroll as u16)),
            inner,
        );
    }
    if focused && typing {
        let x = (input.visual_cursor().saturating_sub(scroll)) as u16;
        frame.set_cursor_position((inner.x + x.min(inner.width.saturating_sub(1)), inner.y));
    }
}

fn output_box(frame: &mut Frame, area: Rect, s: &State, theme: &Theme) {
    let mut block = Block::bordered()
        .title(Span::styled(" Output ", theme.heading()))
        .border_style(theme.border(false));
    let text = if s.main.running > 0 {
        Line::styled(
            format!("{} Running {}…", spinner(s), s.main.function),
            theme.accent(),
        )
        .into()
    } else if let Some(out) = &s.main.output {
        block =
            block.title(Line::styled(format!(" {} ", out.function), theme.dim()).right_aligned());
        ratatui::text::Text::from(out.output.as_str())
    } else {
        Line::styled(
            format!(
                "Type text above and press {}; the answer shows here.",
                keys_for(Context::Input, Action::Submit)
            ),
            theme.dim(),
        )
        .into()
    };
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        area,
    );
}
