//! `strop sessions`, `strop password`, `strop account delete` and
//! `strop history --export / --import`, against the real server.

use strop_common::api::{HistoryEntry, SessionsResponse};

use super::{Ctx, PASSWORD, fails, ok};

fn sessions(ctx: &Ctx) -> SessionsResponse {
    serde_json::from_str(&ok(&ctx.run(&["sessions", "--json"]))).unwrap()
}

#[test]
fn sessions_list_and_revoke_one_or_every_other() {
    let ctx = Ctx::new("sess");
    ctx.register_and_login();
    // Two more logins elsewhere (tokens printed, not kept here).
    let login = |_: u8| {
        ok(&ctx.run_with(
            &["login", &ctx.user, "--password-stdin", "--print-token"],
            Some(PASSWORD),
            &[],
        ))
        .trim()
        .to_string()
    };
    let (a, b) = (login(1), login(2));
    let table = ok(&ctx.run(&["sessions"]));
    assert_eq!(table.lines().count(), 1 + 3 + 1, "{table}");
    assert!(table.contains(" *"), "{table}");
    assert!(table.contains("strop/"), "the user agent: {table}");
    assert!(!table.contains(&a) && !table.contains(&b), "no token shown");
    let list = sessions(&ctx);
    let other = list.sessions.iter().find(|s| !s.current).unwrap().id;
    let out = ok(&ctx.run(&["sessions", "revoke", &other.to_string()]));
    assert!(out.contains(&format!("Session {other} revoked.")), "{out}");
    assert_eq!(sessions(&ctx).sessions.len(), 2);
    // Someone else's (or a gone) id: one sentence, exit 1.
    let err = fails(&ctx.run(&["sessions", "revoke", &other.to_string()]), 1);
    assert!(err.contains(&format!("no session {other}")), "{err}");
    let out = ok(&ctx.run(&["sessions", "revoke", "--others"]));
    assert!(out.contains("1 other session revoked."), "{out}");
    let left = sessions(&ctx);
    assert_eq!(left.sessions.len(), 1);
    assert!(left.sessions[0].current);
    for token in [&a, &b] {
        let out = ctx.run_with(&["whoami"], None, &[("STROP_TOKEN", token)]);
        fails(&out, 3);
    }
    fails(&ctx.run(&["sessions", "revoke"]), 2);
}

#[test]
fn password_change_asks_for_both_and_logs_out_the_rest() {
    let ctx = Ctx::new("pwchg");
    ctx.register_and_login();
    let other = ok(&ctx.run_with(
        &["login", &ctx.user, "--password-stdin", "--print-token"],
        Some(PASSWORD),
        &[],
    ))
    .trim()
    .to_string();
    let err = fails(
        &ctx.run_with(
            &["password", "--password-stdin"],
            Some("only one line\n"),
            &[],
        ),
        2,
    );
    assert!(err.contains("two lines"), "{err}");
    let err = fails(
        &ctx.run_with(
            &["password", "--password-stdin"],
            Some("wrong\nnew-pw\n"),
            &[],
        ),
        3,
    );
    assert!(err.contains("Wrong"), "{err}");
    let out = ok(&ctx.run_with(
        &["password", "--password-stdin"],
        Some(&format!("{PASSWORD}\nnew-pw\n")),
        &[],
    ));
    assert!(out.contains("Password changed"), "{out}");
    // This session goes on; the other is out; the new password logs in.
    ok(&ctx.run(&["whoami"]));
    fails(
        &ctx.run_with(&["whoami"], None, &[("STROP_TOKEN", &other)]),
        3,
    );
    ok(&ctx.run_with(
        &["login", &ctx.user, "--password-stdin", "--print-token"],
        Some("new-pw"),
        &[],
    ));
    // Without a terminal there is nothing to prompt on.
    fails(&ctx.run(&["password"]), 2);
}

#[test]
fn account_delete_needs_the_username_and_password_and_frees_the_name() {
    let ctx = Ctx::new("gone");
    ctx.register_and_login();
    ok(&ctx.run(&["reverse", "soon gone"]));
    let err = fails(
        &ctx.run_with(
            &["account", "delete", "--password-stdin"],
            Some(PASSWORD),
            &[],
        ),
        2,
    );
    assert!(err.contains(&format!("--confirm {}", ctx.user)), "{err}");
    let err = fails(
        &ctx.run_with(
            &[
                "account",
                "delete",
                "--password-stdin",
                "--confirm",
                "someone",
            ],
            Some(PASSWORD),
            &[],
        ),
        2,
    );
    assert!(err.contains("nothing was deleted"), "{err}");
    fails(
        &ctx.run_with(
            &[
                "account",
                "delete",
                "--password-stdin",
                "--confirm",
                &ctx.user,
            ],
            Some("wrong"),
            &[],
        ),
        3,
    );
    let out = ok(&ctx.run_with(
        &[
            "account",
            "delete",
            "--password-stdin",
            "--confirm",
            &ctx.user,
        ],
        Some(PASSWORD),
        &[],
    ));
    assert!(out.contains("deleted"), "{out}");
    assert_eq!(ctx.stored_token(), None, "the keyring entry is gone");
    // The next start must not offer the deleted user.
    let settings = std::fs::read_to_string(ctx.config.path().join("settings.toml")).unwrap();
    assert!(
        !settings.contains(&format!("last_user = \"{}\"", ctx.user)),
        "{settings}"
    );
    // The name can be registered again.
    ok(&ctx.run_with(
        &["register", &ctx.user, "--password-stdin"],
        Some(PASSWORD),
        &[],
    ));
}

#[test]
fn export_then_import_twice_writes_each_entry_once() {
    let from = Ctx::new("expo");
    from.register_and_login();
    for text in ["first one", "second one", "third one"] {
        ok(&from.run(&["reverse", text]));
    }
    ok(&from.run(&["piglatin", "last of all"]));
    let export = ok(&from.run(&["history", "--export"]));
    let entries: Vec<HistoryEntry> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        entries.iter().map(|e| e.input.as_str()).collect::<Vec<_>>(),
        ["first one", "second one", "third one", "last of all"]
    );
    let file = from.config.path().join("export.ndjson");
    std::fs::write(&file, &export).unwrap();

    let to = Ctx::new("impo");
    to.register_and_login();
    let path = file.to_str().unwrap();
    for _ in 0..2 {
        let out = to.run(&["history", "--import", path]);
        ok(&out);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("imported 4 entries"),
            "{out:?}"
        );
    }
    let imported = ok(&to.run(&["history", "--export"]));
    let got: Vec<HistoryEntry> = imported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 4, "twice imported, once written: {imported}");
    for (a, b) in got.iter().zip(&entries) {
        assert_eq!(
            (a.function, &a.input, &a.output),
            (b.function, &b.input, &b.output)
        );
        assert_eq!(a.user, to.user);
    }
    // A line that is no entry stops the import with its line number.
    std::fs::write(
        &file,
        format!("{}\nnot json\n", export.lines().next().unwrap()),
    )
    .unwrap();
    let err = fails(&to.run(&["history", "--import", path]), 2);
    assert!(err.contains("line 2"), "{err}");
    fails(&to.run(&["history", "--export", "--limit", "3"]), 2);
}

/// A forwarder that loses the server's first answer: the request gets
/// through and is done, but the client's connection is cut when the answer
/// starts to come back. Later connections are forwarded whole.
fn answer_losing_proxy(target: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(target) else {
                return;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_in, &mut s_out);
                let _ = s_out.shutdown(Shutdown::Write);
            });
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                if n == 0 {
                    let mut first = [0u8; 1];
                    let _ = s_in.read(&mut first);
                    let _ = c_out.shutdown(Shutdown::Both);
                    return;
                }
                let mut buf = [0u8; 8192];
                while let Ok(k) = s_in.read(&mut buf) {
                    if k == 0 || c_out.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
                let _ = c_out.shutdown(Shutdown::Write);
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_lost_answer_is_retried_with_the_same_key_and_written_once() {
    let ctx = Ctx::new("retry");
    ctx.register_and_login();
    let token = ctx.stored_token().expect("a token in the keyring");
    let target = super::support::TestServer::shared().addr();
    let proxy = answer_losing_proxy(target);
    let out = ctx.run_with(
        &["--server", &proxy, "reverse", "written once"],
        None,
        &[("STROP_TOKEN", &token)],
    );
    assert_eq!(ok(&out), "ecno nettirw\n");
    let export = ok(&ctx.run(&["history", "--export"]));
    let rows = export
        .lines()
        .filter(|l| l.contains("\"written once\""))
        .count();
    assert_eq!(
        rows, 1,
        "the retry was answered from the first write: {export}"
    );
}
