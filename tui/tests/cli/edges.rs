//! The scripting CLI at its edges: a server that is down (exit 4, not "not
//! logged in"), logout while it is down, completions, the man page, typos,
//! and `--help` naming the settings.

use std::process::Command;

use crate::support::{TestServer, config_dir, free_port, run_with_stdin, strop_command};
use crate::{Ctx, fails, ok, stderr};

/// Tester's finding 6: `strop` alone with no terminal said "No such device
/// or address (os error 6)"; it says what to do instead, exit 2.
#[test]
fn strop_alone_without_a_terminal_says_to_use_a_subcommand() {
    let config = config_dir();
    let cmd = strop_command(config.path(), TestServer::shared().url());
    let line = fails(&run_with_stdin(cmd, None), 2);
    assert_eq!(
        line,
        "strop: strop needs a terminal for the interactive client; use a subcommand (strop --help) in scripts."
    );
}

#[test]
fn an_unreachable_server_is_exit_4_even_without_a_login() {
    let config = config_dir();
    let down = format!("127.0.0.1:{}", free_port());
    for args in [
        &["reverse", "x"][..],
        &["whoami"][..],
        &["history"][..],
        &["piglatin", "x"][..],
    ] {
        // --server as typed by a person, with no token anywhere.
        let mut cmd = strop_command(config.path(), "http://unused.invalid");
        cmd.env_remove("STROP_SERVER")
            .arg("--server")
            .arg(&down)
            .args(args);
        let line = fails(&run_with_stdin(cmd, None), 4);
        assert_eq!(
            line,
            format!(
                "strop: Cannot reach the server at http://{down}: connection refused. Is strop-server running?"
            ),
            "{args:?}"
        );
    }
}

#[test]
fn logout_with_the_server_down_forgets_the_token_here_and_says_so() {
    let mut own = TestServer::start();
    let ctx = Ctx {
        server: own.url().to_string(),
        config: config_dir(),
        user: crate::support::unique_user("logout-down"),
    };
    ctx.register_and_login();
    let token = ctx.stored_token().expect("logged in");
    own.stop();

    let line = fails(&ctx.run(&["logout"]), 4);
    assert!(line.contains("Logged out on this machine"), "{line}");
    assert!(line.contains("the server could not be told"), "{line}");
    assert!(
        line.contains("stays valid there until it expires"),
        "{line}"
    );
    assert!(
        line.contains(&format!("Cannot reach the server at {}", ctx.server)),
        "{line}"
    );
    assert_eq!(ctx.stored_token(), None, "the keyring entry is gone");
    // Logged out for good here: nothing left to do, and commands say so.
    assert_eq!(
        ok(&ctx.run(&["logout"])),
        format!("Not logged in to {}; nothing to do.\n", ctx.server)
    );
    // With a token from STROP_TOKEN there is nothing to forget; still exit 4.
    let line = fails(
        &ctx.run_with(&["logout"], None, &[("STROP_TOKEN", &token)]),
        4,
    );
    assert!(line.contains("STROP_TOKEN"), "{line}");
}

#[test]
fn completions_for_every_shell_and_bash_parses_them() {
    let config = config_dir();
    let run = |args: &[&str]| {
        let mut cmd = strop_command(config.path(), "http://unused.invalid");
        cmd.args(args);
        run_with_stdin(cmd, None)
    };
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = ok(&run(&["completions", shell]));
        // fish names long options without dashes (`-l tz`).
        for word in ["history", "piglatin", "completions", "tz", "theme"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strop.bash");
    std::fs::write(&file, ok(&run(&["completions", "bash"]))).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // And it completes: load it, ask for `strop hi<TAB>`.
    let probe = format!(
        r#"source {}; COMP_WORDS=(strop hi); COMP_CWORD=1; COMP_LINE="strop hi"; COMP_POINT=8; _strop strop hi strop; printf '%s\n' "${{COMPREPLY[@]}}""#,
        file.display()
    );
    let out = Command::new("bash").arg("-c").arg(&probe).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "history");

    fails(&run(&["completions", "tcsh"]), 2);
}

#[test]
fn the_man_page_renders_with_man() {
    let config = config_dir();
    let mut cmd = strop_command(config.path(), "http://unused.invalid");
    cmd.arg("man");
    let page = ok(&run_with_stdin(cmd, None));
    assert!(
        page.starts_with(".ie") || page.contains(".TH strop"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strop.1");
    std::fs::write(&file, page).unwrap();
    let out = Command::new("man")
        .arg("--warnings")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man is installed (.ci/run installs man-db and groff-base)");
    let text = String::from_utf8_lossy(&out.stdout);
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "man -l: {warnings}");
    assert_eq!(warnings, "", "groff had nothing to warn about");
    for word in [
        "NAME",
        "SYNOPSIS",
        "strop",
        "history",
        "completions",
        "--tz",
        "Exit codes",
    ] {
        assert!(text.contains(word), "the rendered page has {word}: {text}");
    }
    assert!(
        !text.contains(".TH"),
        "roff was rendered, not shown: {text}"
    );
    // Issue 17, 11: every subcommand is on this page (no strop-register(1)
    // that does not exist), and the TUI's keys from the one key table.
    assert!(!text.contains("strop-register"), "{text}");
    for word in [
        "COMMANDS",
        "strop register",
        "--password-stdin",
        "strop history",
        "--follow",
        "KEYS",
        "Show or hide this help",
        "Alt+Enter, Shift+Enter, Ctrl+J",
    ] {
        assert!(text.contains(word), "the rendered page has {word}: {text}");
    }
    // New-user test: the synopsis named no values ("[--tz]"), no STROP_*
    // variable was listed, and the editing keys were missing.
    let synopsis: String = text
        .lines()
        .skip_while(|l| !l.starts_with("SYNOPSIS"))
        .take_while(|l| !l.starts_with("DESCRIPTION"))
        .collect();
    for word in ["--tz ZONE", "--server URL", "--user USER", "--theme THEME"] {
        assert!(
            synopsis.contains(word),
            "the synopsis has {word}: {synopsis}"
        );
    }
    for (name, _) in strop_tui::cli::ENVIRONMENT {
        assert!(text.contains(name), "the page lists {name}: {text}");
    }
    for word in [
        "ENVIRONMENT",
        "STROP_USER",
        "STROP_TOKEN",
        "Editing text",
        "Ctrl+W, Alt+Backspace",
    ] {
        assert!(text.contains(word), "the rendered page has {word}: {text}");
    }
    // The --help epilogue keeps its layout: one settings key per line.
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("mouse = true")),
        "{text}"
    );
}

#[test]
fn a_mistyped_subcommand_keeps_the_did_you_mean_hint() {
    let config = config_dir();
    let run = |args: &[&str]| {
        let mut cmd = strop_command(config.path(), "http://unused.invalid");
        cmd.args(args);
        run_with_stdin(cmd, None)
    };
    let line = fails(&run(&["histroy"]), 2);
    assert!(line.contains("'histroy'"), "{line}");
    assert!(
        line.contains("a similar subcommand exists: 'history'"),
        "{line}"
    );
    let line = fails(&run(&["history", "--limt", "3"]), 2);
    assert!(
        line.contains("a similar argument exists: '--limit'"),
        "{line}"
    );
}

#[test]
fn help_describes_the_settings_and_display_flags() {
    let config = config_dir();
    let mut cmd = strop_command(config.path(), "http://unused.invalid");
    cmd.arg("--help");
    let out = run_with_stdin(cmd, None);
    let help = ok(&out);
    assert_eq!(stderr(&out), "");
    for word in [
        "--tz <ZONE>",
        "--no-mouse",
        "--theme <THEME>",
        "high-contrast",
        "settings.toml",
        "tz = ",
        "mouse = ",
        "theme = ",
        "function = ",
        "NO_COLOR",
        "completions",
        "man",
        "Exit codes:",
        "logout",
    ] {
        assert!(help.contains(word), "--help mentions {word}: {help}");
    }
}

#[test]
fn a_broken_settings_file_is_left_alone_and_login_still_works() {
    let ctx = Ctx::new("brokenset");
    let settings = ctx.config.path().join("settings.toml");
    std::fs::write(&settings, "mouse = true\nserver = [\n").unwrap();
    ok(&ctx.run_with(
        &["register", &ctx.user, "--password-stdin"],
        Some(crate::PASSWORD),
        &[],
    ));
    let out = ctx.run_with(
        &["login", &ctx.user, "--password-stdin"],
        Some(crate::PASSWORD),
        &[],
    );
    assert!(ok(&out).starts_with("Logged in to "), "{}", stderr(&out));
    let err = stderr(&out);
    let path = settings.display().to_string();
    assert!(
        err.lines().all(|l| l.starts_with("strop: warning: ")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "The settings file {path} is not valid TOML (line 2"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("-u {}", ctx.user)), "{err}");
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        "mouse = true\nserver = [\n",
        "not overwritten"
    );
    assert!(ctx.stored_token().is_some());
    let me = ctx.run(&["-u", &ctx.user, "whoami"]);
    assert_eq!(ok(&me), format!("{}\n", ctx.user));
    // Ctx's drop cannot find the user in these settings: log out here.
    ok(&ctx.run(&["-u", &ctx.user, "logout"]));
    assert_eq!(ctx.stored_token(), None);
}

/// New-user test: `--tz +25:00` was taken (jiff allows offsets to 25:59);
/// it is refused with the accepted range, as a usage error.
#[test]
fn an_offset_past_23_59_is_refused() {
    let config = config_dir();
    let mut cmd = strop_command(config.path(), "http://unused.invalid");
    cmd.args(["--tz", "+25:00", "history"]);
    let line = fails(&run_with_stdin(cmd, None), 2);
    assert!(line.contains("-23:59 to +23:59"), "{line}");
}

/// New-user finding 8: a 70,000-character search made reqwest refuse the
/// URL, told as "Cannot reach the server … Is strop-server running?" (exit
/// 4). Nothing is sent: a sentence about the input, exit 2. A token that
/// is no header value is the input's fault the same way.
#[test]
fn a_request_that_cannot_be_built_blames_the_input_not_the_server() {
    let config = config_dir();
    let down = format!("http://127.0.0.1:{}", free_port());
    let long = "a".repeat(70_000);
    let mut cmd = strop_command(config.path(), &down);
    cmd.env("STROP_TOKEN", "t")
        .args(["history", "--search", &long]);
    let line = fails(&run_with_stdin(cmd, None), 2);
    assert!(line.contains("too long to send"), "{line}");
    assert!(!line.contains("server at"), "{line}");

    let mut cmd = strop_command(config.path(), &down);
    cmd.env("STROP_TOKEN", "bad\u{7f}token").args(["whoami"]);
    let line = fails(&run_with_stdin(cmd, None), 2);
    assert!(line.contains("cannot be sent as given"), "{line}");
}
