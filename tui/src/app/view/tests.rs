//! Every screen drawn on a TestBackend and compared with a snapshot (the
//! `.snap` files under `snapshots/`). Fixed times, spinner frame 0.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use strop_common::{Function, HistoryEntry};
use tui_input::Input;

use super::*;
use crate::app::state::*;

const SERVER: &str = "http://127.0.0.1:5000";

fn render(s: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, s, &Theme::default())).unwrap();
    t
}

macro_rules! snap {
    ($name:expr, $state:expr) => {
        snap!($name, $state, 80, 24)
    };
    ($name:expr, $state:expr, $w:expr, $h:expr) => {{
        let t = render(&$state, $w, $h);
        insta::assert_snapshot!($name, t.backend());
    }};
}

fn entry(id: i64, function: Function, input: &str, output: &str) -> HistoryEntry {
    let minute = id % 60;
    HistoryEntry {
        function,
        id,
        input: input.into(),
        output: output.into(),
        time: format!("Sat, 10 Apr 2021 19:{minute:02}:53 GMT"),
        timestamp: format!("2021-04-10T19:{minute:02}:53.123Z"),
        user: "alice".into(),
    }
}

fn sample_history() -> Vec<HistoryEntry> {
    let mut v = vec![
        entry(
            30,
            Function::Piglatin,
            "This is my string to convert to piglatin",
            "Isthay isway myay ingstray otay onvertcay otay iglatinpay",
        ),
        entry(
            29,
            Function::Reverse,
            "This is my string to reverse",
            "esrever ot gnirts ym si sihT",
        ),
        entry(28, Function::Piglatin, "Hello, world!", "Ellohay, orldway!"),
        entry(27, Function::Reverse, "two\nlines", "senil\nowt"),
    ];
    for id in (1..27).rev() {
        v.push(entry(
            id,
            Function::Reverse,
            &format!("input {id}"),
            &format!("{id} tupni"),
        ));
    }
    v
}

fn main_state() -> State {
    let mut s = State::new();
    s.screen = Screen::Main(Session {
        server: SERVER.into(),
        user: "alice".into(),
        token: SecretString::from("t"),
        source: TokenSource::Keyring,
    });
    s.server = SERVER.into();
    s.keyring = Keyring::Ready("kernel keyring".into());
    s.conn = Conn::Online;
    s.history.entries = sample_history();
    s.history.loaded = true;
    s.history.next_before = Some(1);
    s.main.input = Input::new("Hello, world!".into());
    s.main.function = Function::Piglatin;
    s.main.output = Some(Outcome::Done(Output {
        function: Function::Piglatin,
        input: "Hello, world!".into(),
        output: "Ellohay, orldway!".into(),
    }));
    s
}

fn login_state() -> State {
    let mut s = State::new();
    s.screen = Screen::Login;
    s.server = SERVER.into();
    s.keyring = Keyring::Ready("kernel keyring".into());
    s.conn = Conn::Online;
    s.login.username = Input::new("alice".into());
    s.login.password = Input::new("hunter2".into());
    s.login.focus = LoginField::Password;
    s
}

#[test]
fn server_first_run() {
    let s = State::new();
    snap!("server_first_run", s);
}

#[test]
fn server_unreachable() {
    let mut s = State::new();
    s.keyring = Keyring::Ready("kernel keyring".into());
    s.conn = Conn::Offline;
    s.server_error = Some(
        "Cannot reach the server at http://127.0.0.1:5000: connection refused. Is strop-server running?"
            .into(),
    );
    snap!("server_unreachable", s);
}

#[test]
fn connecting_with_a_stored_token() {
    let mut s = State::new();
    s.screen = Screen::Connecting;
    s.server = SERVER.into();
    s.last_user = Some("alice".into());
    s.start(Activity::VerifySession);
    snap!("connecting", s);
}

#[test]
fn login_form() {
    snap!("login", login_state());
}

#[test]
fn login_wide() {
    snap!("login_wide", login_state(), 160, 40);
}

#[test]
fn login_session_expired() {
    let mut s = login_state();
    s.login.password = Input::default();
    s.login.error = Some(SESSION_EXPIRED.into());
    snap!("login_session_expired", s);
}

#[test]
fn register_busy() {
    let mut s = login_state();
    s.login.mode = CredentialsMode::Register;
    s.login.confirm = Input::new("hunter2".into());
    s.login.busy = true;
    s.start(Activity::Register);
    snap!("register_busy", s);
}

#[test]
fn login_without_a_keyring() {
    let mut s = login_state();
    s.keyring = Keyring::Unavailable("No OS keyring is available (kernel keyring: denied).".into());
    s.last_error = Some("No OS keyring is available (kernel keyring: denied).".into());
    snap!("login_no_keyring", s);
}

#[test]
fn main_with_history() {
    snap!("main", main_state());
}

#[test]
fn main_wide() {
    snap!("main_wide", main_state(), 160, 40);
}

#[test]
fn main_empty_history_loading() {
    let mut s = main_state();
    s.history = History::default();
    s.history.loading = true;
    s.main.output = None;
    s.main.input = Input::default();
    s.start(Activity::LoadHistory);
    snap!("main_loading", s);
}

#[test]
fn main_history_focused_scrolled() {
    let mut s = main_state();
    s.main.focus = Focus::History;
    s.history.selected = 20;
    snap!("main_history_scrolled", s);
}

#[test]
fn main_search_highlights_matches() {
    let mut s = main_state();
    s.main.focus = Focus::Search;
    s.history.search = Input::new("is".into());
    s.history.applied_query = "is".into();
    s.history.entries.truncate(2);
    s.history.next_before = None;
    snap!("main_search", s);
    // The matches carry the highlight style; plain text does not.
    let t = render(&s, 80, 24);
    let buf = t.backend().buffer();
    let hit = Theme::default().matched();
    let styled: String = buf
        .content()
        .iter()
        .filter(|c| c.bg == hit.bg.unwrap())
        .map(|c| c.symbol())
        .collect();
    assert!(styled.starts_with("is"), "{styled:?}");
    assert_eq!(styled.len() % 2, 0, "{styled:?}");
}

#[test]
fn main_offline_running() {
    let mut s = main_state();
    s.conn = Conn::Offline;
    s.main.running = 1;
    s.start(Activity::Run(Function::Piglatin));
    snap!("main_running", s);
    s.activities.clear();
    s.main.running = 0;
    s.last_error = Some(
        "Cannot reach the server at http://127.0.0.1:5000: connection refused. Is strop-server running?"
            .into(),
    );
    snap!("main_offline", s);
}

#[test]
fn detail_overlay() {
    let mut s = main_state();
    let long = "All work and no play makes Jack a dull boy. ".repeat(12);
    s.overlay = Some(Overlay::Detail(Detail::new(entry(
        42,
        Function::Reverse,
        &long,
        &long.chars().rev().collect::<String>(),
    ))));
    snap!("detail", s);
    let Some(Overlay::Detail(d)) = &s.overlay else {
        unreachable!()
    };
    // Drawing tells the state how far scrolling can go.
    assert!(d.max_scroll.get() > 0 && d.max_scroll.get() < 20, "{d:?}");
    let mut d = Detail::new(entry(42, Function::Reverse, &long, "short"));
    d.scroll = 500;
    s.overlay = Some(Overlay::Detail(d));
    snap!("detail_short_text_does_not_scroll", s);
    let Some(Overlay::Detail(d)) = &s.overlay else {
        unreachable!()
    };
    assert_eq!(d.max_scroll.get(), 0);
}

#[test]
fn help_overlay() {
    let mut s = main_state();
    s.overlay = Some(Overlay::Help { scroll: 0 });
    snap!("help", s);
    snap!("help_wide", s, 160, 60);
}

#[test]
fn help_lists_every_binding() {
    let text: Vec<String> = help::lines(&Theme::new(Palette::NoColor), 200)
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(text.len(), help_len() as usize);
    for bd in crate::app::keymap::KEYMAP {
        assert!(
            text.iter().any(|l| l.contains(bd.help)),
            "help lacks {:?}",
            bd.help
        );
    }
}

#[test]
fn confirm_logout_overlay() {
    let mut s = main_state();
    s.overlay = Some(Overlay::ConfirmLogout);
    snap!("confirm_logout", s);
}

#[test]
fn confirm_delete_overlay() {
    let mut s = main_state();
    let entry = s.history.entries[0].clone();
    s.overlay = Some(Overlay::ConfirmDelete(entry));
    snap!("confirm_delete", s);
}

#[test]
fn no_color_keeps_reverse_video_for_the_selection() {
    let mut s = main_state();
    s.main.focus = Focus::History;
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| draw(f, &s, &Theme::new(Palette::NoColor)))
        .unwrap();
    let buf = t.backend().buffer();
    assert!(
        buf.content()
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset),
        "NO_COLOR must draw no colours"
    );
    let reversed = buf
        .content()
        .iter()
        .filter(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED))
        .count();
    assert!(
        reversed >= 78,
        "the selected row is reverse video ({reversed} cells)"
    );
    s.main.focus = Focus::Input;
}

#[test]
fn tiny_terminal_does_not_panic() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10)] {
        for mut s in [State::new(), login_state(), main_state()] {
            render(&s, w, h);
            s.overlay = Some(Overlay::Help { scroll: 3 });
            render(&s, w, h);
        }
    }
}

#[test]
fn forty_by_ten_keeps_input_and_output() {
    let mut s = main_state();
    snap!("main_40x10", s, 40, 10);
    // Even with an error taking lines above the status bar.
    s.last_error = Some("Cannot reach the server at http://127.0.0.1:5000.".into());
    let t = render(&s, 40, 10);
    let text = format!("{}", t.backend());
    assert!(text.contains("Input"), "{text}");
    assert!(text.contains("Hello, world!"), "{text}");
}

#[test]
fn thirty_columns_shorten_titles_without_overlap() {
    let s = main_state();
    let t = render(&s, 30, 24);
    let rows: Vec<String> = (0..24)
        .map(|y| {
            (0..30)
                .map(|x| t.backend().buffer()[(x, y)].symbol().to_string())
                .collect()
        })
        .collect();
    assert!(rows[0].starts_with("┌▸ Input "), "{}", rows[0]);
    assert!(rows[0].contains(" piglatin "), "{}", rows[0]);
    assert!(rows[9].starts_with("┌ History "), "{}", rows[9]);
    snap!("main_30_columns", s, 30, 24);
}

#[test]
fn multi_line_input_grows_then_scrolls() {
    let mut s = main_state();
    s.main.input = Input::new("one\ntwo\nthree".into());
    snap!("main_multi_line_input", s);
    s.main.input = Input::new(
        (1..=9)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let t = render(&s, 80, 24);
    let text = format!("{}", t.backend());
    assert!(text.contains("line 9"), "the cursor's line shows");
    assert!(!text.contains("line 4"), "at most five lines: {text}");
}

#[test]
fn history_that_could_not_load_says_why() {
    let mut s = main_state();
    s.history.entries.clear();
    s.history.loaded = false;
    s.history.error =
        Some("Cannot reach the server at http://127.0.0.1:5000: connection refused.".into());
    s.conn = Conn::Offline;
    snap!("main_history_error", s);
}

#[test]
fn a_failed_run_shows_in_the_output() {
    let mut s = main_state();
    s.main.output = Some(Outcome::Failed {
        offline: false,
        function: Function::Reverse,
        input: "x".into(),
        message: "The server did not answer within 10 s; it may be overloaded. Try again.".into(),
    });
    snap!("main_run_failed", s);
}

#[test]
fn high_contrast_draws_selection_on_a_solid_background() {
    let mut s = main_state();
    s.main.focus = Focus::History;
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| draw(f, &s, &Theme::new(Palette::HighContrast)))
        .unwrap();
    let buf = t.backend().buffer();
    let solid = buf
        .content()
        .iter()
        .filter(|c| c.bg == ratatui::style::Color::Yellow)
        .count();
    assert!(solid >= 78, "the selected row on yellow ({solid} cells)");
    assert!(
        !buf.content()
            .iter()
            .any(|c| c.fg == ratatui::style::Color::DarkGray),
        "nothing faint"
    );
    s.main.focus = Focus::Input;
}

#[test]
fn sessions_overlay() {
    let mut s = main_state();
    let row = |id, current, agent: &str| strop_common::SessionInfo {
        created: "2021-04-10T19:00:53.123Z".into(),
        current,
        expires: "2021-05-10T19:00:53.123Z".into(),
        id,
        last_used: "2021-04-10T19:59:00.000Z".into(),
        user_agent: Some(agent.into()),
    };
    s.overlay = Some(crate::app::state::Overlay::Sessions(
        crate::app::state::SessionsView {
            list: Some(vec![
                row(3, false, "curl/8.5.0"),
                row(7, true, "strop/0.1.0"),
            ]),
            selected: 0,
            message: Some("1 other session revoked.".into()),
            error: None,
            asking: None,
        },
    ));
    snap!("sessions_overlay", s);
    // o asks first, in the overlay.
    if let Some(crate::app::state::Overlay::Sessions(v)) = &mut s.overlay {
        v.asking = Some(crate::app::state::Revoke::Others);
    }
    snap!("sessions_overlay_asking", s);
}

/// New-user finding 5: the sessions list says when each one expires, in
/// the time style chosen (F4), fitting the width.
#[test]
fn sessions_show_when_they_expire() {
    let mut s = main_state();
    let row = |id, current| strop_common::SessionInfo {
        created: "2021-04-10T19:00:53.123Z".into(),
        current,
        expires: "2021-05-10T19:00:53.123Z".into(),
        id,
        last_used: "2021-04-10T19:59:00.000Z".into(),
        user_agent: Some("strop/0.1.0".into()),
    };
    s.overlay = Some(crate::app::state::Overlay::Sessions(
        crate::app::state::SessionsView {
            list: Some(vec![row(3, false), row(7, true)]),
            selected: 0,
            message: None,
            error: None,
            asking: None,
        },
    ));
    let text = format!("{}", render(&s, 80, 24).backend());
    assert!(text.contains("EXPIRES"), "{text}");
    assert!(text.contains("2021-05-10 19:00"), "{text}");
    assert!(text.contains("← this session"), "{text}");
    let text = format!("{}", render(&s, 120, 24).backend());
    assert!(text.contains("2021-05-10 19:00:53 +00:00"), "{text}");
    let text = format!("{}", render(&s, 40, 12).backend());
    assert!(text.contains("2021-05-10"), "{text}");
    s.now = Some("2021-04-10T20:00:00Z".parse().unwrap());
    s.relative_times = true;
    let text = format!("{}", render(&s, 80, 24).backend());
    assert!(text.contains("1m ago") && text.contains("in 4w"), "{text}");
}

/// New-user finding 9: an 8-line input showed lines 4-8 with no sign of
/// lines 1-3; its border says "↑ more" as the output's does.
#[test]
fn a_tall_input_says_lines_are_above() {
    let mut s = main_state();
    let text: Vec<String> = (1..=8).map(|i| format!("line {i}")).collect();
    s.main.input = Input::new(text.join("\n"));
    s.main.focus = Focus::Input;
    let shown = format!("{}", render(&s, 80, 24).backend());
    assert!(!shown.contains("line 1 "), "{shown}");
    assert!(shown.contains("line 8"), "{shown}");
    let input_rows: Vec<&str> = shown
        .lines()
        .take_while(|l| !l.contains("Output"))
        .collect();
    assert!(input_rows.iter().any(|l| l.contains("↑ more")), "{shown}");
    // At the top of the text: the rest is below.
    s.main.input = Input::new(text.join("\n")).with_cursor(0);
    let shown = format!("{}", render(&s, 80, 24).backend());
    let input_rows: Vec<&str> = shown
        .lines()
        .take_while(|l| !l.contains("Output"))
        .collect();
    assert!(input_rows.iter().any(|l| l.contains("↓ more")), "{shown}");
}

/// New-user finding 9: "↓ scroll" showed with the output at its bottom.
#[test]
fn the_output_hint_scrolls_the_way_there_is_more() {
    use crate::app::update::{Msg, update};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut s = main_state();
    s.main.output = Some(Outcome::Done(Output {
        function: Function::Reverse,
        input: "x".into(),
        output: (1..=7)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }));
    let key = |code| Msg::Key(KeyEvent::new(code, KeyModifiers::NONE));
    update(&mut s, key(KeyCode::F(6)));
    let status = |s: &State| {
        // The second frame knows how far the output scrolls.
        render(s, 80, 24);
        let t = format!("{}", render(s, 80, 24).backend());
        t.lines().last().unwrap().to_string()
    };
    assert!(status(&s).contains("↓ scroll"), "{}", status(&s));
    update(&mut s, key(KeyCode::End));
    let at_end = status(&s);
    assert!(!at_end.contains("↓ scroll"), "{at_end}");
    assert!(at_end.contains("↑ scroll"), "{at_end}");
}

/// Issue 17, 9: a 7-line answer in a 4-line pane says there is more, and
/// scrolls (F6 focuses the pane, ↓ and End move it).
#[test]
fn a_long_output_says_more_and_scrolls() {
    use crate::app::update::{Msg, update};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut s = main_state();
    s.main.output = Some(Outcome::Done(Output {
        function: Function::Reverse,
        input: "x".into(),
        output: (1..=7)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }));
    let text = format!("{}", render(&s, 80, 24).backend());
    assert!(text.contains("line 1"), "{text}");
    // Tester's finding 4: four lines of output at 80x24 (it was one), six
    // at 120x35 (it was four), and the list keeps ten rows.
    assert!(text.contains("line 4"), "{text}");
    assert!(!text.contains("line 5"), "{text}");
    assert!(!text.contains("line 7"), "{text}");
    assert!(s.areas.rows.get().height >= 10, "{:?}", s.areas.rows.get());
    assert!(text.contains("↓ more"), "{text}");
    let key = |code| Msg::Key(KeyEvent::new(code, KeyModifiers::NONE));
    update(&mut s, key(KeyCode::F(6)));
    assert_eq!(s.main.focus, Focus::Output);
    update(&mut s, key(KeyCode::End));
    let text = format!("{}", render(&s, 80, 24).backend());
    assert!(text.contains("line 7"), "{text}");
    assert!(!text.contains("line 1 "), "{text}");
    assert!(text.contains("↑ more"), "{text}");
    assert!(text.contains("▸ Output"), "{text}");
    update(&mut s, key(KeyCode::Home));
    let wide = format!("{}", render(&s, 120, 35).backend());
    assert!(wide.contains("line 6"), "{wide}");
}

/// Issue 17: relative times in the list (F4 switches), absolute by default.
#[test]
fn relative_times_show_as_ago() {
    use crate::app::update::{Msg, update};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut s = main_state();
    let stamp = s.history.entries[0].timestamp.clone();
    let entry_time: jiff::Timestamp = stamp.parse().unwrap();
    s.now = Some(entry_time + jiff::SignedDuration::from_secs(300));
    let text = format!("{}", render(&s, 100, 24).backend());
    assert!(!text.contains("5m ago"), "{text}");
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::F(4), KeyModifiers::NONE)),
    );
    let text = format!("{}", render(&s, 100, 24).backend());
    assert!(text.contains("5m ago"), "{text}");
}

/// New-user finding 6: at 60 columns the time column gave way, so F4 did
/// nothing visible; relative times are short and keep a column.
#[test]
fn relative_times_show_at_narrow_widths() {
    let mut s = main_state();
    let stamp = s.history.entries[0].timestamp.clone();
    let entry_time: jiff::Timestamp = stamp.parse().unwrap();
    s.now = Some(entry_time + jiff::SignedDuration::from_secs(300));
    s.relative_times = true;
    for w in [60, 40] {
        let text = format!("{}", render(&s, w, 24).backend());
        assert!(text.contains("5m ago"), "{w}: {text}");
    }
    snap!("main_relative_60", s, 60, 16);
}

/// Issue 17, 10: a long warning (the settings file's) is shown whole, not
/// cut after three lines.
#[test]
fn a_long_warning_is_shown_whole() {
    let mut s = main_state();
    s.last_error = Some(
        "/home/someone/.config/strop/settings.toml:3: unknown key \"colour\" (known: tz, times, \
         mouse, theme, server, last_user, function); that key takes its default. \
         /home/someone/.config/strop/settings.toml:4: mouse must be true or false; that key \
         takes its default."
            .into(),
    );
    let text = format!("{}", render(&s, 80, 24).backend());
    assert!(text.contains("last_user, function);"), "{text}");
    assert!(text.contains("takes its default."), "{text}");
    let text = format!("{}", render(&s, 120, 35).backend());
    assert!(
        text.contains("function); that key takes its default."),
        "{text}"
    );
}

/// Tester's finding 7: a refused search shows the server's sentence where
/// the rows would be, not "loads by itself once the server answers".
#[test]
fn a_refused_search_says_why_in_the_list() {
    let mut s = main_state();
    s.history.entries.clear();
    s.history.applied_query = "a b c d e f g h i".into();
    s.history.error = Some("A search can have at most 8 words.".into());
    s.history.refused = true;
    let text = format!("{}", render(&s, 80, 24).backend());
    assert!(
        text.contains("A search can have at most 8 words."),
        "{text}"
    );
    assert!(!text.contains("loads by itself"), "{text}");
}

/// New-user test at 40x10 and 30 columns: the help wraps its sentences at
/// words (nothing cut mid-word), its bottom hint fits the border.
#[test]
fn narrow_help_wraps_at_words() {
    let mut s = main_state();
    s.overlay = Some(Overlay::Help { scroll: 0 });
    snap!("help_40x10", s, 40, 10);
    snap!("help_30x10", s, 30, 10);
    let text = format!("{}", render(&s, 40, 10).backend());
    assert!(!text.contains("Connect to this se"), "{text}");
    // Every description is there whole, however narrow.
    for width in [40usize, 28] {
        let lines: Vec<String> = help::lines(&Theme::new(Palette::NoColor), width)
            .iter()
            .map(|l| l.to_string())
            .collect();
        let joined = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        for bd in crate::app::keymap::KEYMAP {
            assert!(joined.contains(bd.help), "{width}: {:?}", bd.help);
        }
        for l in &lines {
            assert!(
                unicode_width::UnicodeWidthStr::width(l.as_str()) <= width,
                "{width}: {l:?}"
            );
        }
    }
}

/// New-user test at 40x10: searching kept no history row on screen (the
/// output took the lines); the search box and rows win over the output.
#[test]
fn searching_at_40x10_keeps_a_history_row() {
    let mut s = main_state();
    s.main.focus = Focus::Search;
    s.history.search = Input::new("is".into());
    s.history.applied_query = "is".into();
    snap!("main_search_40x10", s, 40, 10);
    let text = format!("{}", render(&s, 40, 10).backend());
    assert!(text.contains("│piglatin This is"), "{text}");
    // With a long error above the status bar too: the error is cut after
    // a word and marked, and a row stays.
    s.last_error = Some(crate::app::update::LIVE_CAPPED.into());
    snap!("main_search_40x10_error", s, 40, 10);
    let text = format!("{}", render(&s, 40, 10).backend());
    assert!(text.contains("│piglatin This is"), "{text}");
    assert!(text.contains("live…"), "{text}");
    assert!(!text.contains("until one closes"), "{text}");
}

/// New-user test at 40 columns: a notice longer than the status bar's room
/// ended mid-word ("You logg"); it gets lines of its own above the bar.
#[test]
fn a_long_notice_in_a_narrow_status_bar_ends_after_a_word() {
    let mut s = main_state();
    s.notice = Some(crate::app::update::ADOPTED.into());
    snap!("main_notice_40x10", s, 40, 10);
    let text = format!("{}", render(&s, 40, 10).backend());
    assert!(
        text.contains(" You logged in again elsewhere on this"),
        "{text}"
    );
    assert!(
        text.contains("machine; this window now uses that"),
        "{text}"
    );
    assert!(!text.contains("You logg\u{20}"), "{text}");
}

/// New-user test at 40x10: a refused search's sentence lost its rows to the
/// output and was cut mid-word; it shows whole, or ends after a word, marked.
#[test]
fn a_refused_search_at_40x10_ends_after_a_word() {
    let mut s = main_state();
    s.main.focus = Focus::Search;
    s.history.entries.clear();
    s.history.search = Input::new("a b c d e f g h i".into());
    s.history.applied_query = "a b c d e f g h i".into();
    s.history.error = Some("A search can have at most 8 words.".into());
    s.history.refused = true;
    snap!("main_search_refused_40x10", s, 40, 10);
    let text = format!("{}", render(&s, 40, 10).backend());
    assert!(
        text.contains("│Change the search to see entries."),
        "{text}"
    );
    // 30 columns and one row fewer: it ends after a word, marked.
    let text = format!("{}", render(&s, 30, 9).backend());
    assert!(text.contains("│A search can have at most 8"), "{text}");
    assert!(text.contains("…"), "{text}");
    assert!(!text.contains("see entries"), "{text}");
}

/// Lines drawn between the last box and the status bar: the error and
/// notice lines.
fn lines_above_status(text: &str) -> Vec<String> {
    let rows: Vec<&str> = text.lines().collect();
    let status = rows.len() - 1;
    let first = rows[..status]
        .iter()
        .rposition(|l| l.trim_start_matches('"').starts_with(['┌', '│', '└']))
        .map_or(0, |i| i + 1);
    rows[first..status].iter().map(|l| l.to_string()).collect()
}

/// New-user finding 10: at 40x10 and 30x12 the settings warning and the
/// offline sentence were cut mid-sentence without "…" (ratatui wrapped
/// them elsewhere than they were measured).
#[test]
fn narrow_warnings_end_whole_or_with_an_ellipsis() {
    let mut s = main_state();
    let sentences = [
        "/home/someone/.config/strop/settings.toml:3: unknown key \"colour\" (known: tz, \
         times, mouse, theme, server, last_user, function); that key takes its default.",
        "Offline: http://127.0.0.1:5000 does not answer; strop checks again every 2 s and \
         carries on by itself once it is back.",
    ];
    for sentence in sentences {
        s.last_error = Some(sentence.into());
        for (w, h) in [(40, 10), (30, 12)] {
            let text = format!("{}", render(&s, w, h).backend());
            let above = lines_above_status(&text);
            let last = above.last().expect("a line for the error");
            let end = last.trim_end_matches('"').trim_end();
            assert!(end.ends_with('…') || end.ends_with('.'), "{w}x{h}: {text}");
        }
    }
}

/// New-user finding 10: a failed run's sentence taller than the output pane
/// says "↓ more" and F6 scrolls it to its end.
#[test]
fn a_long_output_error_says_more_and_scrolls() {
    use crate::app::update::{Msg, update};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut s = main_state();
    s.main.output = Some(Outcome::Failed {
        function: Function::Reverse,
        input: "x".into(),
        message: "The server at http://127.0.0.1:5000 did not answer within 10 s, twice \
                  (the run was asked again with the same key); it may be overloaded."
            .into(),
        offline: false,
    });
    let text = format!("{}", render(&s, 30, 12).backend());
    assert!(text.contains("↓ more"), "{text}");
    assert!(!text.contains("overloaded."), "{text}");
    let key = |code| Msg::Key(KeyEvent::new(code, KeyModifiers::NONE));
    update(&mut s, key(KeyCode::F(6)));
    update(&mut s, key(KeyCode::End));
    let text = format!("{}", render(&s, 30, 12).backend());
    assert!(text.contains("overloaded."), "{text}");
    assert!(text.contains("↑ more"), "{text}");
}

/// New-user test: 66,000 characters pasted into the search field panicked
/// ("Formatting argument out of range") and, under `./run`, stopped the
/// server with the client. The field shows the columns around the cursor.
#[test]
fn a_paste_of_any_length_into_a_one_line_field_shows_its_end() {
    let mut s = main_state();
    s.main.focus = Focus::Search;
    let long = format!("{}END", "x".repeat(70_000));
    s.history.search = Input::new(long);
    let text = format!("{}", render(&s, 80, 24).backend());
    assert!(text.contains("xxxEND"), "{text}");
}
