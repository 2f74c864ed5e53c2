//! Issue 17: `update` under random sequences of keys, pastes, resizes, task
//! results and connection events, with the invariants checked after every
//! step: no panic; at most one run per message and never two in flight with
//! the same text; the status bar says what the last connection event
//! implies; the focused pane is drawn as focused; a deleted entry (live
//! event or answered delete) is never listed, and the selection stays in
//! the list; a question (delete, log out) is only confirmed by the key
//! pressed right after it opened.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use strop_common::{Function, HistoryEntry, HistoryResponse};

use super::*;
use crate::app::view::{self, Theme};

const SERVER: &str = "http://127.0.0.1:5000";

#[derive(Debug, Clone)]
enum Step {
    Key(KeyCode, KeyModifiers),
    Paste(String),
    Resize(u16, u16),
    /// Answer the oldest run in flight (Ok or unreachable).
    Answer(bool),
    /// Answer the history page request.
    Page,
    StreamOpen,
    StreamDropped,
    ProbeOk,
    ProbeFailed,
    /// A `delete` event: these ids, or all up to one.
    LiveDeleted(Vec<i64>, Option<i64>),
    /// Answer the oldest delete sent: deleted, gone already, or refused.
    DeleteAnswered(u8),
}

fn step() -> impl Strategy<Value = Step> {
    let keys = prop_oneof![
        Just(KeyCode::Enter),
        Just(KeyCode::Tab),
        Just(KeyCode::BackTab),
        Just(KeyCode::Esc),
        Just(KeyCode::Up),
        Just(KeyCode::Down),
        Just(KeyCode::PageDown),
        Just(KeyCode::F(1)),
        Just(KeyCode::F(2)),
        Just(KeyCode::F(3)),
        Just(KeyCode::F(5)),
        Just(KeyCode::F(6)),
        Just(KeyCode::F(7)),
        Just(KeyCode::Backspace),
        // Letters the list knows and some it does not.
        prop::sample::select(vec![
            'r', 'q', 'y', 'n', 'j', 'k', 'f', 'i', '/', 'a', ' ', 's', 'd', 'L', 'o'
        ])
        .prop_map(KeyCode::Char),
    ];
    let mods = prop_oneof![
        8 => Just(KeyModifiers::NONE),
        1 => Just(KeyModifiers::ALT),
        1 => Just(KeyModifiers::CONTROL),
    ];
    prop_oneof![
        12 => (keys, mods).prop_map(|(k, m)| Step::Key(k, m)),
        1 => "[a-z ]{0,12}".prop_map(Step::Paste),
        1 => (40u16..130, 10u16..40).prop_map(|(w, h)| Step::Resize(w, h)),
        3 => any::<bool>().prop_map(Step::Answer),
        1 => Just(Step::Page),
        1 => Just(Step::StreamOpen),
        1 => Just(Step::StreamDropped),
        1 => Just(Step::ProbeOk),
        1 => Just(Step::ProbeFailed),
        1 => (prop::collection::vec(1i64..7, 0..3), prop::option::of(1i64..7))
            .prop_map(|(ids, up_to)| Step::LiveDeleted(ids, up_to)),
        2 => (0u8..3).prop_map(Step::DeleteAnswered),
    ]
}

fn unreachable() -> Failure {
    Failure::new(FailureKind::Unreachable, "Cannot reach the server.")
}

fn logged_in() -> State {
    let (mut s, _) = init(Start {
        server: Some(SERVER.into()),
        ..Start::default()
    });
    update(&mut s, Msg::KeyringOpened(Ok("test".into())));
    update(
        &mut s,
        Msg::ServerChecked {
            input: SERVER.into(),
            result: Ok(SERVER.into()),
        },
    );
    for c in "alice".chars() {
        update(
            &mut s,
            Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        );
    }
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)),
    );
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE)),
    );
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    update(
        &mut s,
        Msg::Credentials {
            mode: CredentialsMode::Login,
            username: "alice".into(),
            result: Ok(Granted::Token(SecretString::from("token"))),
        },
    );
    assert!(s.screen.is_main());
    s
}

fn page() -> HistoryResponse {
    let history = (1..=5)
        .map(|id| HistoryEntry {
            id,
            function: if id % 2 == 0 {
                Function::Piglatin
            } else {
                Function::Reverse
            },
            input: format!("input {id}"),
            output: format!("output {id}"),
            time: "Thu, 03 Dec 2026 09:00:00 GMT".into(),
            timestamp: "2026-12-03T09:00:00.000Z".into(),
            user: "alice".into(),
        })
        .collect();
    HistoryResponse {
        history,
        next_before: Some(None),
    }
}

fn screen_text(s: &State, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| view::draw(f, s, &Theme::default())).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// What the status bar must say after a connection event.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Live,
    Online,
    Reconnecting,
    Offline,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn update_keeps_its_invariants(steps in prop::collection::vec(step(), 1..120)) {
        let mut s = logged_in();
        let (mut w, mut h) = (80u16, 24u16);
        let mut in_flight: Vec<(Function, String)> = Vec::new();
        let mut deleting: Vec<i64> = Vec::new();
        // Keys since the open question opened (`None`: no question).
        let mut keys_asked: Option<u32> = None;
        for st in steps {
            let asking = question(&s).is_some();
            let first_key = keys_asked == Some(0);
            let mut gone: Option<strop_common::DeleteEvent> = None;
            let was_main = s.screen.is_main();
            let mut expect = None;
            let fx = match st.clone() {
                Step::Key(code, mods) => update(&mut s, Msg::Key(KeyEvent::new(code, mods))),
                Step::Paste(text) => update(&mut s, Msg::Paste(text)),
                Step::Resize(nw, nh) => {
                    (w, h) = (nw, nh);
                    Vec::new()
                }
                Step::Answer(ok) => {
                    if in_flight.is_empty() {
                        continue;
                    }
                    let (function, input) = in_flight.remove(0);
                    let result = if ok { Ok(input.chars().rev().collect()) } else { Err(unreachable()) };
                    update(&mut s, Msg::Ran { function, input, result, at: strop_common::wire_times(std::time::SystemTime::now()) })
                }
                Step::Page => {
                    let generation = s.history.generation;
                    update(&mut s, Msg::HistoryLoaded { generation, before: None, result: Ok(page()) })
                }
                Step::StreamOpen => {
                    if was_main {
                        expect = Some(Expect::Live);
                    }
                    let stream = s.live.stream;
                    update(&mut s, Msg::LiveOpened { stream })
                }
                Step::StreamDropped => {
                    if was_main {
                        expect = Some(if s.conn == Conn::Offline { Expect::Offline } else { Expect::Reconnecting });
                    }
                    let stream = s.live.stream;
                    update(&mut s, Msg::LiveDropped { stream, failure: unreachable() })
                }
                Step::ProbeOk => {
                    if s.probe.is_some() {
                        expect = Some(if s.live.open { Expect::Live } else { Expect::Online });
                    }
                    update(&mut s, Msg::Probed(Ok(())))
                }
                Step::ProbeFailed => {
                    if s.probe.is_some() {
                        expect = Some(Expect::Offline);
                    }
                    update(&mut s, Msg::Probed(Err(unreachable())))
                }
                Step::LiveDeleted(ids, up_to) => {
                    let event = strop_common::DeleteEvent { ids, up_to };
                    gone = Some(event.clone());
                    let stream = s.live.stream;
                    update(&mut s, Msg::LiveDeleted { stream, gone: event })
                }
                Step::DeleteAnswered(how) => {
                    if deleting.is_empty() {
                        continue;
                    }
                    let id = deleting.remove(0);
                    let result = match how {
                        0 => Ok(true),
                        1 => Ok(false),
                        _ => Err(Failure::new(FailureKind::Refused, "Too many writes.")),
                    };
                    if how < 2 {
                        gone = Some(strop_common::DeleteEvent { ids: vec![id], up_to: None });
                    }
                    update(&mut s, Msg::EntryDeleted { id, result })
                }
            };
            // A question is only confirmed by the key pressed right after
            // it opened (a word typed into the list never confirms).
            let yes = fx.iter().any(|f| matches!(f, Effect::DeleteEntry { .. } | Effect::Logout { .. } | Effect::RevokeSessions { .. }));
            if yes {
                prop_assert!(matches!(st, Step::Key(..)) && first_key, "{st:?} confirmed, first key: {first_key}");
            }
            keys_asked = match (question(&s).is_some(), asking) {
                (false, _) => None,
                (true, false) => Some(0),
                (true, true) if matches!(st, Step::Key(..)) => keys_asked.map(|k| k + 1),
                (true, true) => keys_asked,
            };
            if s.quit {
                break;
            }
            // At most one run per message, and never one already in flight.
            let runs: Vec<(Function, String)> = fx.iter().filter_map(|f| match f {
                Effect::Run { function, input, .. } => Some((*function, input.clone())),
                _ => None,
            }).collect();
            prop_assert!(runs.len() <= 1, "{st:?} gave {runs:?}");
            for run in runs {
                prop_assert!(!in_flight.contains(&run), "{run:?} sent twice while in flight");
                in_flight.push(run);
            }
            // At most one delete per message, only of a row the server has.
            let sent: Vec<i64> = fx.iter().filter_map(|f| match f {
                Effect::DeleteEntry { id, .. } => Some(*id),
                _ => None,
            }).collect();
            prop_assert!(sent.len() <= 1, "{st:?} gave deletes {sent:?}");
            for id in sent {
                prop_assert!(id > 0, "a delete of local row {id}");
                deleting.push(id);
            }
            if !s.screen.is_main() {
                // Logged out (Ctrl+O, Enter): answers to the old session are dropped.
                in_flight.clear();
                deleting.clear();
                continue;
            }
            if let Some(gone) = &gone {
                prop_assert!(
                    !s.history.entries.iter().any(|e| e.id > 0 && gone.covers(e.id)),
                    "{gone:?} still listed"
                );
            }
            let len = s.history.entries.len();
            prop_assert!(s.history.selected < len.max(1), "selected {} of {len}", s.history.selected);
            let text = screen_text(&s, w, h);
            let status = text.lines().last().unwrap_or_default().to_string();
            if let Some(expect) = expect {
                let word = match expect {
                    Expect::Live => "● live",
                    Expect::Online => "● online",
                    Expect::Reconnecting => "◌ reconnecting",
                    Expect::Offline => "○ offline",
                };
                prop_assert!(status.contains(word), "after {st:?} expected {word:?}: {status:?}");
            }
            if s.overlay.is_none() {
                let (pane, name) = match s.main.focus {
                    Focus::Input => ("▸ Input", "▸ input"),
                    Focus::History => ("▸ History", "▸ list"),
                    Focus::Search => ("▸ History", "▸ search"),
                    Focus::Output => ("▸ Output", "▸ output"),
                };
                prop_assert!(text.contains(pane), "{pane:?} not drawn at {w}x{h}:\n{text}");
                prop_assert!(status.contains(name), "{name:?} not in {status:?}");
            }
        }
    }
}
