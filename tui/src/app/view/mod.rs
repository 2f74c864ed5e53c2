//! Pure rendering: a `State` in, a frame out. One module per screen.

mod chrome;
mod detail;
mod help;
mod history;
mod login;
mod main_screen;
mod server;
mod sessions;
pub mod text;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};

use super::state::{Overlay, Screen, State};

/// The styles of one palette (`settings::Theme`): `Default` colours,
/// `NoColor` (also `NO_COLOR`) where selection and emphasis still show
/// through reverse video, bold and underline, and `HighContrast`: bright
/// foregrounds, selections on a solid background.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Theme {
    pub palette: Palette,
}

pub use crate::settings::Theme as Palette;

impl Theme {
    pub fn new(palette: Palette) -> Theme {
        Theme { palette }
    }

    fn color(&self) -> bool {
        self.palette != Palette::NoColor
    }

    fn high(&self) -> bool {
        self.palette == Palette::HighContrast
    }

    fn fg(&self, c: Color) -> Style {
        if self.color() {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn selected(&self, focused: bool) -> Style {
        match (self.high(), focused) {
            (true, true) => Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            (true, false) => Style::new()
                .fg(Color::White)
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            (false, true) => Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            (false, false) => Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        }
    }

    pub fn error(&self) -> Style {
        self.fg(Color::LightRed).add_modifier(Modifier::BOLD)
    }

    pub fn ok(&self) -> Style {
        self.fg(if self.high() {
            Color::LightGreen
        } else {
            Color::Green
        })
    }

    pub fn dim(&self) -> Style {
        match self.palette {
            Palette::Default => Style::new().fg(Color::DarkGray),
            Palette::NoColor => Style::new(),
            // Nothing faint: secondary text is plain white.
            Palette::HighContrast => Style::new().fg(Color::White),
        }
    }

    pub fn accent(&self) -> Style {
        self.fg(if self.high() {
            Color::LightYellow
        } else {
            Color::Cyan
        })
        .add_modifier(Modifier::BOLD)
    }

    /// A row that arrived live a moment ago.
    pub fn fresh(&self) -> Style {
        self.ok().add_modifier(Modifier::BOLD)
    }

    pub fn heading(&self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.high() { s.fg(Color::White) } else { s }
    }

    pub fn matched(&self) -> Style {
        match self.palette {
            Palette::Default => Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            Palette::NoColor => Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            Palette::HighContrast => Style::new()
                .fg(Color::Black)
                .bg(Color::LightCyan)
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(if self.high() {
                Color::LightYellow
            } else {
                Color::Cyan
            })
            .add_modifier(Modifier::BOLD)
        } else if self.high() {
            Style::new().fg(Color::White)
        } else {
            self.dim()
        }
    }
}

/// Spinner frames; the tick advances `State::spinner`, so snapshots (frame 0)
/// are stable.
const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

pub fn spinner(s: &State) -> &'static str {
    SPINNER[s.spinner % SPINNER.len()]
}

/// What starts the focused pane's title, so focus shows without colour.
pub fn focus_mark(focused: bool) -> &'static str {
    if focused { "▸" } else { "" }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, s: &State, theme: &Theme) {
    // The last error gets lines of its own above the status bar, wrapped, so
    // the whole sentence is readable even at 80 columns.
    let area = frame.area();
    // As many lines as the wrapped sentence takes (issue 17: the settings
    // warning was cut mid-list), up to a third of the screen.
    let err_h = s.last_error.as_ref().map_or(0, |e| {
        let lines = wrapped_lines(&format!(" {e}"), area.width.max(1) as usize);
        lines.clamp(1, (area.height as usize / 3).max(1)) as u16
    });
    let [body, error, status] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(err_h),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some(e) = &s.last_error {
        frame.render_widget(
            ratatui::widgets::Paragraph::new(ratatui::text::Span::styled(
                format!(" {e}"),
                theme.error(),
            ))
            .wrap(ratatui::widgets::Wrap { trim: false }),
            error,
        );
    }
    let typing = s.overlay.is_none();
    match s.screen {
        Screen::Connecting => server::draw_connecting(frame, body, s, theme),
        Screen::Server => server::draw(frame, body, s, theme, typing),
        Screen::Login => login::draw(frame, body, s, theme, typing),
        Screen::Main(_) => main_screen::draw(frame, body, s, theme, typing),
    }
    chrome::status_bar(frame, status, s, theme);
    match &s.overlay {
        Some(Overlay::Help { scroll }) => help::draw(frame, body, *scroll, theme),
        Some(Overlay::Detail(d)) => detail::draw(frame, body, d, &s.clock, theme),
        Some(Overlay::ConfirmLogout) => chrome::confirm_logout(frame, body, s, theme),
        Some(Overlay::Sessions(v)) => sessions::draw(frame, body, v, &s.clock, theme),
        Some(Overlay::ConfirmQuit) => chrome::confirm_quit(frame, body, s, theme),
        Some(Overlay::ConfirmDelete(entry)) => chrome::confirm_delete(frame, body, entry, theme),
        None => {}
    }
}

/// Lines `text` takes when word-wrapped at `width` columns (as `Wrap`
/// does, near enough: words longer than a line are split).
pub fn wrapped_lines(text: &str, width: usize) -> usize {
    use unicode_width::UnicodeWidthStr;
    let mut lines = 1;
    let mut used = 0;
    for word in text.split(' ') {
        let w = word.width();
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= width {
            used = need;
        } else if w <= width {
            lines += 1;
            used = w;
        } else {
            // Split across lines.
            let rest = if used == 0 {
                w
            } else {
                w.saturating_sub(width - used - 1)
            };
            lines += rest.div_ceil(width).max(1) - usize::from(used == 0);
            used = rest % width;
        }
    }
    lines
}

/// A box of at most `w` x `h` in the middle of `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

#[cfg(test)]
mod tests;
