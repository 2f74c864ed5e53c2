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

/// Lines the main screen needs before an error may take more: the input
/// (3) and the history with its search box and one row (4).
const MAIN_LEAST: usize = 7;

/// The last error, then a notice too long for the status bar: lines of
/// their own above it, wrapped, so the whole sentence is readable even at 80
/// columns. Each with its style and height.
fn lines_above(s: &State, theme: &Theme, area: Rect) -> Vec<(String, Style, u16)> {
    // As many lines as the wrapped sentence takes (issue 17: the settings
    // warning was cut mid-list), up to a third of the screen, and never so
    // many that the main screen loses its input and a history row (40x10);
    // a longer one ends after a whole word with "…".
    let most = (area.height as usize / 3)
        .min((area.height as usize).saturating_sub(1 + MAIN_LEAST))
        .max(1);
    // Each line is indented by one column.
    let width = area.width.saturating_sub(1).max(1) as usize;
    // The error, then a notice too long for the status bar, each wrapped.
    let mut above: Vec<(String, Style)> = Vec::new();
    if let Some(e) = &s.last_error {
        above.push((e.clone(), theme.error()));
    }
    if chrome::notice_above(s, area.width)
        && let Some(n) = &s.notice
    {
        above.push((n.clone(), Style::new()));
    }
    let mut left = most;
    above
        .into_iter()
        .filter_map(|(text, style)| {
            let lines = wrap_words(&text, width).len().min(left);
            if lines == 0 {
                return None;
            }
            left -= lines;
            Some((clip_words(&text, width, lines), style, lines as u16))
        })
        .collect()
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, s: &State, theme: &Theme) {
    let area = frame.area();
    let above = lines_above(s, theme, area);
    let err_h = above.iter().map(|(_, _, h)| h).sum();
    let [body, error, status] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(err_h),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut y = error.y;
    for (text, style, h) in above {
        let rect = Rect {
            y,
            height: h,
            ..error
        };
        y += h;
        // Drawn as measured: ratatui's own wrapping breaks elsewhere and
        // lost the "…" at 30 columns.
        let width = error.width.saturating_sub(1).max(1) as usize;
        let lines: Vec<ratatui::text::Line> = wrap_words(&text, width)
            .into_iter()
            .map(|l| ratatui::text::Line::styled(format!(" {l}"), style))
            .collect();
        frame.render_widget(ratatui::widgets::Paragraph::new(lines), rect);
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
        Some(Overlay::Help { scroll }) => {
            help::draw(frame, body, *scroll, &s.areas.help_max, theme)
        }
        Some(Overlay::Detail(d)) => detail::draw(frame, body, d, &s.clock, theme),
        Some(Overlay::ConfirmLogout) => chrome::confirm_logout(frame, body, s, theme),
        Some(Overlay::Sessions(v)) => {
            let times = sessions::Times {
                clock: &s.clock,
                relative_to: s.now.filter(|_| s.relative_times),
            };
            sessions::draw(frame, body, v, &times, theme)
        }
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

/// `text` broken into lines of at most `width` columns at spaces (a word
/// longer than a line is split).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let width = width.max(1);
    let mut lines = vec![String::new()];
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let line = lines.last_mut().expect("one line at least");
        if line.is_empty() && word.width() <= width {
            line.push_str(word);
        } else if !line.is_empty() && line.width() + 1 + word.width() <= width {
            line.push(' ');
            line.push_str(word);
        } else {
            let mut rest = word;
            if !line.is_empty() {
                lines.push(String::new());
            }
            while rest.width() > width {
                let cut = rest
                    .char_indices()
                    .map(|(i, _)| i)
                    .take_while(|i| rest[..*i].width() <= width)
                    .last()
                    .filter(|i| *i > 0)
                    .unwrap_or(rest.len());
                lines.last_mut().expect("a line").push_str(&rest[..cut]);
                lines.push(String::new());
                rest = &rest[cut..];
            }
            lines.last_mut().expect("a line").push_str(rest);
        }
    }
    lines
}

/// `text` in at most `lines` lines of `width` columns: whole when it fits,
/// else cut after the last word that fits, marked with "…".
pub fn clip_words(text: &str, width: usize, lines: usize) -> String {
    if wrap_words(text, width).len() <= lines {
        return text.to_string();
    }
    let words: Vec<&str> = text.split(' ').collect();
    for n in (1..words.len()).rev() {
        let cut = format!(
            "{}…",
            words[..n].join(" ").trim_end_matches([',', ';', ':'])
        );
        if wrap_words(&cut, width).len() <= lines {
            return cut;
        }
    }
    // Not even one word: its start, marked.
    let mut first: String = text.chars().take(width.saturating_sub(1)).collect();
    first.push('…');
    first
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
