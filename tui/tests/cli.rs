//! The scripting commands, end to end: the real `strop` binary against a real
//! `strop-server` (real PostgreSQL), tokens in a real OS keyring read back
//! from outside (`keyctl` for the kernel keyring, or `secret-tool` for a
//! Secret Service under `STROP_KEYRING=secret-service`; see `support`).
#![cfg(target_os = "linux")]
// A test reads as one scenario; the 80-line rule (clippy.toml) is for the
// product's code.
#![allow(clippy::too_many_lines)]

#[path = "cli/accounts.rs"]
mod accounts;
#[path = "cli/client_errors.rs"]
mod client_errors;
#[path = "cli/deletion.rs"]
mod deletion;
#[path = "cli/edges.rs"]
mod edges;
#[path = "cli/follow.rs"]
mod follow;
#[path = "cli/history_time.rs"]
mod history_time;
#[path = "cli/search.rs"]
mod search;
mod support;

use std::path::Path;
use std::process::Output;

use strop_common::api::{Function, HistoryResponse, StropResponse, WhoAmIResponse};
use support::{TestServer, config_dir, free_port, run_with_stdin, strop_command};

const PASSWORD: &str = "correct horse battery staple";

/// One test's view: a server, its own config dir, its own user.
struct Ctx {
    server: String,
    config: tempfile::TempDir,
    user: String,
}

impl Ctx {
    fn new(tag: &str) -> Ctx {
        Ctx {
            server: TestServer::shared().url().to_string(),
            config: config_dir(),
            user: support::unique_user(tag),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None, &[])
    }

    fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut cmd = strop_command(self.config.path(), &self.server);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_with_stdin(cmd, stdin)
    }

    fn register_and_login(&self) {
        ok(&self.run_with(
            &["register", &self.user, "--password-stdin"],
            Some(PASSWORD),
            &[],
        ));
        ok(&self.run_with(
            &["login", &self.user, "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
            &[],
        ));
    }

    fn stored_token(&self) -> Option<String> {
        support::stored_token(&self.server, &self.user)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // Leave no tokens behind in the machine's keyring.
        let _ = self.run(&["logout"]);
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success; returns stdout.
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Asserts failure with `code` and exactly one line `strop: <sentence>` on
/// stderr; returns that line.
fn fails(out: &Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        stdout(out)
    );
    assert_eq!(err.lines().count(), 1, "one line on stderr, got: {err:?}");
    assert!(err.starts_with("strop: "), "{err:?}");
    assert!(err.trim_end().ends_with(['.', '?']), "a sentence: {err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    err.trim_end().to_string()
}

fn settings_text(config: &Path) -> String {
    std::fs::read_to_string(config.join("settings.toml")).unwrap_or_default()
}

#[test]
fn register_login_whoami_logout() {
    let ctx = Ctx::new("life");
    let out = ctx.run_with(
        &["register", &ctx.user, "--password-stdin"],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(
        ok(&out),
        format!("User \"{}\" registered succesfully.\n", ctx.user)
    );
    assert_eq!(ctx.stored_token(), None, "register does not log in");

    let out = ctx.run_with(
        &["login", &ctx.user, "--password-stdin"],
        Some(PASSWORD),
        &[],
    );
    let said = ok(&out);
    assert!(said.contains(support::keyring().name()), "{said}");
    let token = ctx
        .stored_token()
        .expect("login leaves the token in the keyring");
    assert_eq!(token.len(), 32, "{token:?}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token:?}");
    let settings = settings_text(ctx.config.path());
    assert!(settings.contains(&ctx.server), "{settings}");
    assert!(settings.contains(&ctx.user), "{settings}");
    assert!(
        !settings.contains(&token),
        "never a token in the settings file"
    );

    // The last user and server come from the settings now.
    assert_eq!(ok(&ctx.run(&["whoami"])), format!("{}\n", ctx.user));
    let json: WhoAmIResponse = serde_json::from_str(&ok(&ctx.run(&["whoami", "--json"]))).unwrap();
    assert_eq!(json.user, ctx.user);
    // Issue 17: the server says when the token expires.
    assert!(
        json.expires.as_deref().is_some_and(|e| e.ends_with('Z')),
        "{json:?}"
    );

    assert_eq!(ok(&ctx.run(&["logout"])), "Logged out.\n");
    assert_eq!(ctx.stored_token(), None, "logout deletes the keyring entry");
    let line = fails(&ctx.run(&["whoami"]), 3);
    assert!(line.contains("not logged in"), "{line}");
    // And the server revoked the token itself.
    let line = fails(
        &ctx.run_with(&["whoami"], None, &[("STROP_TOKEN", &token)]),
        3,
    );
    assert!(line.contains("expired or was revoked"), "{line}");
    // Logging out twice is not an error.
    ok(&ctx.run(&["logout"]));
}

#[test]
fn a_second_login_replaces_and_revokes_the_first_token() {
    let ctx = Ctx::new("relog");
    ctx.register_and_login();
    let first = ctx.stored_token().unwrap();
    ok(&ctx.run_with(
        &["login", &ctx.user, "--password-stdin"],
        Some(PASSWORD),
        &[],
    ));
    let second = ctx.stored_token().unwrap();
    assert_ne!(first, second);
    fails(
        &ctx.run_with(&["whoami"], None, &[("STROP_TOKEN", &first)]),
        3,
    );
    ok(&ctx.run_with(&["whoami"], None, &[("STROP_TOKEN", &second)]));
}

#[test]
fn reverse_and_piglatin_from_arguments_and_stdin() {
    let ctx = Ctx::new("ops");
    ctx.register_and_login();
    let seed = "This is my string to reverse";
    assert_eq!(
        ok(&ctx.run(&["reverse", seed])),
        "esrever ot gnirts ym si sihT\n"
    );
    // Several words are joined like echo does.
    assert_eq!(
        ok(&ctx.run(&["reverse", "This", "is", "my", "string", "to", "reverse"])),
        "esrever ot gnirts ym si sihT\n"
    );
    assert_eq!(
        ok(&ctx.run_with(&["reverse", "-"], Some(&format!("{seed}\n")), &[])),
        "esrever ot gnirts ym si sihT\n"
    );
    assert_eq!(
        ok(&ctx.run(&["piglatin", "This is my string to convert to piglatin"])),
        "Isthay isway myay ingstray otay onvertcay otay iglatinpay\n"
    );
    assert_eq!(
        ok(&ctx.run_with(&["piglatin", "-"], Some("Hello, world!"), &[])),
        "Ellohay, orldway!\n"
    );
    // Inner newlines from stdin survive; only the last one is dropped.
    assert_eq!(
        ok(&ctx.run_with(&["reverse", "-"], Some("ab\ncd\n"), &[])),
        "dc\nba\n"
    );
    let json: StropResponse =
        serde_json::from_str(&ok(&ctx.run(&["piglatin", "--json", "string"]))).unwrap();
    assert_eq!(json.output, "ingstray");
}

/// Issue 17, 8: one empty-input rule for both front ends: nothing is sent,
/// the TUI's sentence, a usage exit; the history stays empty.
#[test]
fn an_empty_input_is_refused_like_the_tui_does() {
    let ctx = Ctx::new("empty");
    ctx.register_and_login();
    for args in [&["reverse", ""][..], &["piglatin", " ", ""][..]] {
        let line = fails(&ctx.run(args), 2);
        assert_eq!(
            line,
            format!("strop: {}", strop_tui::client::EMPTY_INPUT),
            "{args:?}"
        );
    }
    let line = fails(&ctx.run_with(&["reverse", "-"], Some("\n"), &[]), 2);
    assert!(line.contains("the input is empty"), "{line}");
    // New-user test: stdin over the API's body limit was sent and came back
    // as the server's 413; it is refused here with the TUI's sentence.
    let big = "x".repeat(strop_common::MAX_BODY_BYTES as usize + 10);
    let line = fails(&ctx.run_with(&["reverse", "-"], Some(&big), &[]), 2);
    assert!(line.contains("the server takes at most 64 KiB"), "{line}");
    let json: HistoryResponse =
        serde_json::from_str(&ok(&ctx.run(&["history", "--json"]))).unwrap();
    assert!(json.history.is_empty(), "{:?}", json.history);
}

#[test]
fn history_plain_json_and_filters() {
    let ctx = Ctx::new("hist");
    ctx.register_and_login();
    let empty = ctx.run(&["history"]);
    assert_eq!(ok(&empty), "", "a pipe gets rows only");
    assert_eq!(stderr(&empty), "strop: no history entries yet.\n");

    ok(&ctx.run(&["reverse", "This is my string to reverse"]));
    ok(&ctx.run(&["piglatin", "Hello, world!"]));
    ok(&ctx.run(&["reverse", "abc"]));
    ok(&ctx.run(&["piglatin", "my STRING"]));

    let all: HistoryResponse = serde_json::from_str(&ok(&ctx.run(&["history", "--json"])))
        .expect("history --json parses as HistoryResponse");
    let inputs: Vec<&str> = all.history.iter().map(|e| e.input.as_str()).collect();
    assert_eq!(
        inputs,
        [
            "This is my string to reverse",
            "Hello, world!",
            "abc",
            "my STRING"
        ]
    );
    assert!(all.history.iter().all(|e| e.user == ctx.user));
    assert_eq!(all.history[1].function, Function::Piglatin);
    assert_eq!(all.history[1].output, "Ellohay, orldway!");

    // Piped: one tab-separated row per entry, oldest first, no header.
    let plain = ok(&ctx.run(&["history"]));
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines.len(), 4, "{plain}");
    assert_eq!(
        lines[0].split_once('\t').map(|(_, rest)| rest),
        Some("reverse\tThis is my string to reverse\tesrever ot gnirts ym si sihT"),
        "{plain}"
    );
    assert_eq!(
        lines[1].split_once('\t').map(|(_, rest)| rest),
        Some("piglatin\tHello, world!\tEllohay, orldway!"),
        "{plain}"
    );

    // --function
    let only: HistoryResponse = serde_json::from_str(&ok(&ctx.run(&[
        "history",
        "--json",
        "--function",
        "piglatin",
    ])))
    .unwrap();
    assert_eq!(only.history.len(), 2);
    assert!(
        only.history
            .iter()
            .all(|e| e.function == Function::Piglatin)
    );

    // --search: any case, input or output.
    let found: HistoryResponse =
        serde_json::from_str(&ok(&ctx.run(&["history", "--json", "--search", "string"]))).unwrap();
    let inputs: Vec<&str> = found.history.iter().map(|e| e.input.as_str()).collect();
    assert_eq!(inputs, ["This is my string to reverse", "my STRING"]);
    // -q, as the API names it, is the same (a new user reached for it).
    let short: HistoryResponse =
        serde_json::from_str(&ok(&ctx.run(&["history", "--json", "-q", "string"]))).unwrap();
    assert_eq!(short.history, found.history);
    let plain = ctx.run(&["history", "--search", "nothing-like-this"]);
    assert_eq!(ok(&plain), "");
    assert_eq!(stderr(&plain), "strop: no history entries match.\n");

    // --limit: the newest N, oldest first, and where to continue.
    let page: HistoryResponse =
        serde_json::from_str(&ok(&ctx.run(&["history", "--json", "--limit", "2"]))).unwrap();
    let inputs: Vec<&str> = page.history.iter().map(|e| e.input.as_str()).collect();
    assert_eq!(inputs, ["abc", "my STRING"]);
    let older = page.older_page().expect("older entries exist");
    let out = ctx.run(&["history", "--limit", "2"]);
    assert_eq!(ok(&out).lines().count(), 2);
    assert!(
        stderr(&out).contains(&format!("--before {older}")),
        "{}",
        stderr(&out)
    );
    let rest: HistoryResponse = serde_json::from_str(&ok(&ctx.run(&[
        "history",
        "--json",
        "--limit",
        "2",
        "--before",
        &older.to_string(),
    ])))
    .unwrap();
    let inputs: Vec<&str> = rest.history.iter().map(|e| e.input.as_str()).collect();
    assert_eq!(inputs, ["This is my string to reverse", "Hello, world!"]);
    assert_eq!(rest.older_page(), None);

    // Out-of-range values are usage errors, caught before any request.
    fails(&ctx.run(&["history", "--limit", "0"]), 2);
    fails(&ctx.run(&["history", "--limit", "1001"]), 2);
    fails(&ctx.run(&["history", "--function", "shout"]), 2);
}

#[test]
fn strop_token_overrides_the_keyring() {
    let ctx = Ctx::new("envtok");
    ok(&ctx.run_with(
        &["register", &ctx.user, "--password-stdin"],
        Some(PASSWORD),
        &[],
    ));
    let token = ok(&ctx.run_with(
        &["login", &ctx.user, "--print-token", "--password-stdin"],
        Some(PASSWORD),
        &[],
    ));
    let token = token.trim();
    assert_eq!(token.len(), 32);
    assert_eq!(
        ctx.stored_token(),
        None,
        "--print-token keeps the keyring out"
    );

    let env = [("STROP_TOKEN", token)];
    assert_eq!(
        ok(&ctx.run_with(&["whoami"], None, &env)),
        format!("{}\n", ctx.user)
    );
    assert_eq!(ok(&ctx.run_with(&["reverse", "abc"], None, &env)), "cba\n");
    // STROP_TOKEN wins over a keyring entry of another user.
    let other = Ctx::new("envtok-other");
    other.register_and_login();
    let mixed = other.run_with(&["whoami"], None, &env);
    assert_eq!(ok(&mixed), format!("{}\n", ctx.user));

    let line = fails(
        &ctx.run_with(
            &["whoami"],
            None,
            &[("STROP_TOKEN", "0123456789abcdef0123456789abcdef")],
        ),
        3,
    );
    assert!(line.contains("STROP_TOKEN"), "{line}");
    // Logging out with STROP_TOKEN revokes it and leaves the keyring alone.
    ok(&other.run_with(&["logout"], None, &env));
    assert!(other.stored_token().is_some());
    fails(&ctx.run_with(&["whoami"], None, &env), 3);
}

#[test]
fn wrong_password_and_taken_username() {
    let ctx = Ctx::new("wrong");
    ok(&ctx.run_with(
        &["register", &ctx.user, "--password-stdin"],
        Some(PASSWORD),
        &[],
    ));
    let line = fails(
        &ctx.run_with(&["login", &ctx.user, "--password-stdin"], Some("nope"), &[]),
        3,
    );
    assert_eq!(line, "strop: Wrong username or password.");
    assert_eq!(ctx.stored_token(), None);
    let line = fails(
        &ctx.run_with(
            &["login", "no-such-user-at-all", "--password-stdin"],
            Some("x"),
            &[],
        ),
        3,
    );
    assert_eq!(line, "strop: Wrong username or password.");

    let line = fails(
        &ctx.run_with(
            &["register", &ctx.user, "--password-stdin"],
            Some(PASSWORD),
            &[],
        ),
        1,
    );
    assert_eq!(line, "strop: That username is taken.");
    let line = fails(
        &ctx.run_with(&["register", &ctx.user, "--password-stdin"], Some(""), &[]),
        2,
    );
    assert!(line.contains("password is empty"), "{line}");
}

#[test]
fn not_logged_in_and_no_terminal() {
    let ctx = Ctx::new("nologin");
    let line = fails(&ctx.run(&["reverse", "abc"]), 3);
    assert!(line.contains("not logged in"), "{line}");
    assert!(line.contains(&ctx.server), "{line}");
    // No terminal to prompt on: say how to pass the password instead.
    let line = fails(&ctx.run(&["login", &ctx.user]), 2);
    assert!(line.contains("--password-stdin"), "{line}");
    let line = fails(
        &ctx.run_with(&["login", "--password-stdin"], Some("x"), &[]),
        2,
    );
    assert!(line.contains("strop login USER"), "{line}");
}

#[test]
fn server_down_is_exit_code_4_and_one_sentence() {
    let down = format!("http://127.0.0.1:{}", free_port());
    let config = config_dir();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = strop_command(config.path(), &down);
        cmd.args(args)
            .env("STROP_TOKEN", "0123456789abcdef0123456789abcdef");
        run_with_stdin(cmd, stdin)
    };
    for (args, stdin) in [
        (&["whoami"][..], None),
        (&["reverse", "abc"][..], None),
        (&["history"][..], None),
        (&["login", "someone", "--password-stdin"][..], Some("pw")),
    ] {
        let line = fails(&run(args, stdin), 4);
        assert_eq!(
            line,
            format!(
                "strop: Cannot reach the server at {down}: connection refused. Is strop-server running?"
            ),
            "{args:?}"
        );
    }
}

#[test]
fn usage_errors_and_version() {
    let ctx = Ctx::new("usage");
    let version = ok(&ctx.run(&["--version"]));
    assert_eq!(version, format!("strop {}\n", env!("CARGO_PKG_VERSION")));
    let help = ok(&ctx.run(&["--help"]));
    assert!(help.contains("Exit codes:"), "{help}");
    fails(&ctx.run(&["reverse"]), 2);
    fails(&ctx.run(&["--no-such-flag"]), 2);
    let line = fails(
        &ctx.run_with(&["whoami"], None, &[("STROP_SERVER", "ftp://x")]),
        2,
    );
    assert!(line.contains("not a server address"), "{line}");
}

/// Runs `sh -c script` inside a private D-Bus session with an unlocked
/// gnome-keyring Secret Service; `None` (and a note) when this machine has
/// no such tools, except under CI (`CI` set), where that fails the test.
fn in_secret_service_session(ctx: &Ctx, script: &str, args: &[&str]) -> Option<Output> {
    let tools = ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"];
    let missing: Vec<&str> = tools
        .into_iter()
        .filter(|tool| {
            !std::process::Command::new("sh")
                .args(["-c", "command -v \"$0\" >/dev/null", tool])
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if !missing.is_empty() {
        // CI installs them (.ci/run): there a missing tool is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "the Secret Service test needs {missing:?} installed"
        );
        eprintln!("SKIPPED: the Secret Service test needs {missing:?} installed");
        return None;
    }
    // gnome-keyring keeps its files under XDG_DATA_HOME: a throwaway one.
    let data_home = tempfile::tempdir().unwrap();
    // strop's environment, applied to the session that runs the script.
    let mut cmd = strop_command(ctx.config.path(), &ctx.server);
    cmd.env_remove("STROP_KEYRING")
        .env("XDG_DATA_HOME", data_home.path())
        .env("STROP", support::strop_bin());
    let mut session = std::process::Command::new("dbus-run-session");
    session.args(["--", "sh", "-c", script, "secret-service-test"]);
    session.args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => session.env(k, v),
            None => session.env_remove(k),
        };
    }
    Some(run_with_stdin(session, None))
}

#[test]
fn secret_service_is_used_when_the_session_bus_offers_one() {
    let ctx = Ctx::new("secsvc");
    ok(&ctx.run_with(
        &["register", &ctx.user, "--password-stdin"],
        Some(PASSWORD),
        &[],
    ));
    let script = r#"
user="$1"; password="$2"
printf unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || exit 90
printf '%s' "$password" | "$STROP" login "$user" --password-stdin || exit 91
printf 'token='; secret-tool lookup service "strop:$STROP_SERVER" username "$user" || exit 92
echo
printf 'whoami='; "$STROP" whoami || exit 93
"$STROP" logout >/dev/null || exit 94
secret-tool lookup service "strop:$STROP_SERVER" username "$user" && exit 95
exit 0
"#;
    let Some(out) = in_secret_service_session(&ctx, script, &[&ctx.user, PASSWORD]) else {
        return;
    };
    let said = ok(&out);
    assert!(
        said.contains("the token is in the Secret Service"),
        "{said}"
    );
    let token = said
        .lines()
        .find_map(|l| l.strip_prefix("token="))
        .unwrap_or_default();
    assert_eq!(token.len(), 32, "secret-tool read the token back: {said}");
    assert!(said.contains(&format!("whoami={}\n", ctx.user)), "{said}");
    // Nothing went to the keyring the other tests use (the kernel keyring,
    // or the Secret Service of the session these tests run in).
    assert_eq!(ctx.stored_token(), None);
}

/// The prompts a person meets on a terminal: username, masked password (twice
/// for a new account). Runs `strop` in a real pseudo-terminal.
#[test]
fn prompts_on_a_terminal_mask_the_password() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let ctx = Ctx::new("prompt");
    let run = |args: &[&str], answers: &[(&str, &str)]| -> (String, u32) {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: 24,
                cols: 100,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(support::strop_bin());
        cmd.args(args);
        for var in support::callers_strop_vars() {
            cmd.env_remove(var);
        }
        cmd.env("STROP_CONFIG_DIR", ctx.config.path());
        cmd.env("STROP_SERVER", &ctx.server);
        cmd.env("STROP_KEYRING", support::keyring().env_value());
        let mut child = pty.slave.spawn_command(cmd).expect("spawn strop in a pty");
        drop(pty.slave);
        let seen = Arc::new(Mutex::new(String::new()));
        let mut reader = pty.master.try_clone_reader().unwrap();
        let feed = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut writer = pty.master.take_writer().unwrap();
        let wait_for = |text: &str, from: usize| -> usize {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let screen = seen.lock().unwrap().clone();
                if let Some(at) = screen[from..].find(text) {
                    return from + at + text.len();
                }
                assert!(Instant::now() < deadline, "no {text:?} on: {screen:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let mut at = 0;
        for (prompt, answer) in answers {
            at = wait_for(prompt, at);
            if prompt.contains("assword") {
                // rpassword prints the prompt, then turns echo off: typing
                // in between would echo (a race, not a leak). Wait for it.
                let deadline = Instant::now() + Duration::from_secs(20);
                while pty
                    .master
                    .get_termios()
                    .is_none_or(|t| t.local_flags.contains(nix::sys::termios::LocalFlags::ECHO))
                {
                    assert!(Instant::now() < deadline, "echo never went off");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            writer.write_all(format!("{answer}\r").as_bytes()).unwrap();
            writer.flush().unwrap();
        }
        let status = child.wait().unwrap();
        // Let the reader drain what was written before the exit.
        std::thread::sleep(Duration::from_millis(200));
        let screen = seen.lock().unwrap().clone();
        (screen, status.exit_code())
    };

    let secret = "pty-secret-1234";
    let (screen, code) = run(
        &["register"],
        &[
            ("Username: ", ctx.user.as_str()),
            ("Password: ", secret),
            ("Repeat the password: ", secret),
        ],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains(&format!("User \"{}\" registered succesfully.", ctx.user)),
        "{screen}"
    );
    assert!(
        !screen.contains(secret),
        "the password was echoed: {screen}"
    );

    let (screen, code) = run(&["login", &ctx.user], &[("Password: ", "not-the-password")]);
    assert_eq!(code, 3, "{screen}");
    assert!(
        screen.contains("strop: Wrong username or password."),
        "{screen}"
    );

    let (screen, code) = run(&["login", &ctx.user], &[("Password: ", secret)]);
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains(secret),
        "the password was echoed: {screen}"
    );
    assert!(ctx.stored_token().is_some());
}

#[test]
fn no_working_keyring_says_how_to_use_strop_token() {
    let ctx = Ctx::new("nokeyring");
    ok(&ctx.run_with(
        &["register", &ctx.user, "--password-stdin"],
        Some(PASSWORD),
        &[],
    ));
    // A session bus that is not there, and the Secret Service forced.
    let env = [
        ("STROP_KEYRING", "secret-service"),
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
    ];
    let line = fails(
        &ctx.run_with(
            &["login", &ctx.user, "--password-stdin"],
            Some(PASSWORD),
            &env,
        ),
        1,
    );
    assert!(
        line.starts_with("strop: No OS keyring is available"),
        "{line}"
    );
    assert!(line.contains("STROP_TOKEN"), "{line}");
    assert!(line.contains("--print-token"), "{line}");
    assert_eq!(ctx.stored_token(), None);
    // The way out it names works.
    let token = ok(&ctx.run_with(
        &["login", &ctx.user, "--print-token", "--password-stdin"],
        Some(PASSWORD),
        &env,
    ));
    let out = ctx.run_with(&["whoami"], None, &[("STROP_TOKEN", token.trim())]);
    assert_eq!(ok(&out), format!("{}\n", ctx.user));
}
